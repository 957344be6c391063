// SQLite implementation of MetadataStore. Each public method is a single
// statement or one IMMEDIATE transaction, which is what makes a kill -9 safe.
#include <algorithm>
#include <ctime>
#include <iterator>
#include <map>
#include <set>

#include "storage/metadata_rows.h"
#include "storage/metadata_store.h"
#include "storage/sqlite_db.h"

namespace drydock::storage {
namespace {

using internal::BlobBeingDeleted;
using internal::CommaSet;
using internal::EmulatedSet;
using internal::NativeSet;
using internal::RegistryEvent;
using internal::RunEvent;
using sqlite::Pool;
using sqlite::Transaction;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS repositories(
  name TEXT PRIMARY KEY, created INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_links(
  repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY(repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_links_digest ON blob_links(digest);
CREATE TABLE IF NOT EXISTS manifests(
  repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, content BLOB NOT NULL,
  subject TEXT, artifact_type TEXT NOT NULL DEFAULT '', annotations TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL, PRIMARY KEY(repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifest_refs(
  repo TEXT NOT NULL, parent TEXT NOT NULL, child TEXT NOT NULL,
  PRIMARY KEY(repo, parent, child)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs(repo, child);
CREATE TABLE IF NOT EXISTS tags(
  repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, updated INTEGER NOT NULL,
  PRIMARY KEY(repo, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_digest ON tags(repo, digest);
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY, repo TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants(
  user TEXT NOT NULL, prefix TEXT NOT NULL, actions TEXT NOT NULL, PRIMARY KEY(user, prefix)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, repo TEXT NOT NULL, tag TEXT NOT NULL,
  digest TEXT NOT NULL, media_type TEXT NOT NULL, actor TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, status TEXT NOT NULL, type TEXT NOT NULL,
  task TEXT NOT NULL, create_time INTEGER NOT NULL, start_time INTEGER NOT NULL,
  finish_time INTEGER NOT NULL, request TEXT NOT NULL, result TEXT NOT NULL, error TEXT NOT NULL,
  output_images TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE TABLE IF NOT EXISTS tasks(
  name TEXT PRIMARY KEY, definition TEXT NOT NULL, state TEXT NOT NULL,
  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_dependencies(
  task TEXT NOT NULL, kind TEXT NOT NULL, registry TEXT NOT NULL, repository TEXT NOT NULL,
  tag TEXT NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY(task, kind, registry, repository, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_dependencies_image ON task_dependencies(registry, repository, tag);
)sql";

// Schema versions after the first, in order; PRAGMA user_version counts the
// ones applied (0 and 1 both mean kSchema, which is idempotent).
constexpr const char* kMigrations[] = {
    // 2: disabled users, password changes that void tokens, revocable API tokens.
    R"sql(
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN credentials_changed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE api_tokens(
  id TEXT PRIMARY KEY, user TEXT NOT NULL, secret_hash TEXT NOT NULL, created INTEGER NOT NULL,
  expires INTEGER NOT NULL, description TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX api_tokens_user ON api_tokens(user);
-- `drydock user add` before the first `serve` used to store a fixed
-- placeholder as the token signing key: anyone could have signed tokens.
UPDATE settings SET value=lower(hex(randomblob(32)))
  WHERE key='token_signing_key' AND value='unused-until-serve';
)sql",
    // 3: the event log's consumers (cursors), manifest sizes in events, runs
    // keyed by their cause (one run per base-image update, webhook delivery, …).
    R"sql(
ALTER TABLE events ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
CREATE TABLE cursors(consumer TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN cause TEXT;
CREATE UNIQUE INDEX runs_cause ON runs(cause) WHERE cause IS NOT NULL;
)sql",
    // 4: webhook deliveries are deduplicated by their runs' causes.
    R"sql(
DROP TABLE IF EXISTS seen_keys;
)sql",
    // 5: runs' status changes in the event log.
    R"sql(
ALTER TABLE events ADD COLUMN run TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN status TEXT NOT NULL DEFAULT '';
)sql",
    // 6: the leased run queue: pools, platforms, holders, attempts, leases,
    // backoff and cancel requests. Runs an older version left Started or
    // Running get lease 0: expired, so they are requeued or ended.
    R"sql(
ALTER TABLE runs ADD COLUMN pool TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN platform TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_expires INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_queue ON runs(pool, seq) WHERE status='Queued';
CREATE INDEX runs_leases ON runs(lease_expires) WHERE status IN ('Started','Running');
CREATE INDEX runs_agent ON runs(agent) WHERE status IN ('Started','Running');
CREATE TABLE agents(
  name TEXT PRIMARY KEY, pool TEXT NOT NULL, platforms TEXT NOT NULL, version TEXT NOT NULL,
  last_seen INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // 7: an upload's checkpoint in the blob store, so a server holding it in
    // memory sees that another server (sharing the stores) took a chunk since.
    R"sql(
ALTER TABLE uploads ADD COLUMN checkpoint TEXT NOT NULL DEFAULT '';
)sql",
    // 8: run logs in the store (they were files in <data>/logs, which only
    // the server that wrote them could read), and leases.
    R"sql(
CREATE TABLE run_logs(
  run TEXT NOT NULL, at INTEGER NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY(run, at)) WITHOUT ROWID;
CREATE TABLE leases(name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE blob_deletions(digest TEXT PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // 9: what queued each run, so that runs can be listed by trigger; the
    // runs already there are read from their request (as TriggerName does).
    R"sql(
ALTER TABLE runs ADD COLUMN trigger_name TEXT NOT NULL DEFAULT '';
UPDATE runs SET trigger_name = CASE
  WHEN json_extract(request, '$.trigger.source.event_type') = 'pullrequest' THEN 'Pull Request'
  WHEN json_type(request, '$.trigger.source') = 'object' THEN 'Commit'
  WHEN json_array_length(request, '$.trigger.image_update') > 0 THEN 'Image Update'
  WHEN json_type(request, '$.trigger.timer') = 'object' THEN 'Timer'
  ELSE 'Manual' END
WHERE json_valid(request);
)sql",
    // 10: the packages SBOMs list, for "which images contain X". SBOMs
    // pushed before are not indexed (their bytes are in the blob store).
    R"sql(
CREATE TABLE image_packages(
  repo TEXT NOT NULL, sbom TEXT NOT NULL, image TEXT NOT NULL, name TEXT NOT NULL,
  version TEXT NOT NULL, purl TEXT NOT NULL,
  PRIMARY KEY(repo, sbom, name, version, purl)) WITHOUT ROWID;
CREATE INDEX image_packages_name ON image_packages(name, version);
)sql",
    // 11: a row per platform of a base (its manifest for that platform), so
    // that an index whose arm64 entry changed triggers only arm64 builds.
    R"sql(
CREATE TABLE task_dependencies_11(
  task TEXT NOT NULL, kind TEXT NOT NULL, registry TEXT NOT NULL, repository TEXT NOT NULL,
  tag TEXT NOT NULL, platform TEXT NOT NULL, digest TEXT NOT NULL, manifest TEXT NOT NULL,
  PRIMARY KEY(task, kind, registry, repository, tag, platform)) WITHOUT ROWID;
INSERT INTO task_dependencies_11
  SELECT task, kind, registry, repository, tag, '', digest, '' FROM task_dependencies;
DROP TABLE task_dependencies;
ALTER TABLE task_dependencies_11 RENAME TO task_dependencies;
CREATE INDEX task_dependencies_image ON task_dependencies(registry, repository, tag);
)sql",
};
constexpr int64_t kSchemaVersion = 1 + std::size(kMigrations);

int64_t Now() { return internal::NowSeconds(); }

// The oldest queued run of pool ?1 due by ?2 whose every platform (one, or
// several for a multi-platform build: "linux/amd64,linux/arm64") is in the
// agent's native set ?3 (",a,b,"; "" takes any), or in its set ?4 with
// the platforms it emulates when queued by ?5. The list is split through
// JSON (platforms are [a-z0-9/._-] only, checked when queued; a row that is
// not is never claimable by platform, and cannot make the query fail).
#define DD_PLATFORMS_JSON "'[\"'||replace(replace(platform,' ',''),',','\",\"')||'\"]'"
#define DD_ALL_PLATFORMS_IN(set)                                                \
  "NOT EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(" DD_PLATFORMS_JSON \
  ") THEN " DD_PLATFORMS_JSON " ELSE '[\"?\"]' END) WHERE instr(" set ", ','||value||',')=0)"
constexpr char kClaimableSql[] =
    "SELECT id FROM runs WHERE status='Queued' AND pool=?1 AND not_before<=?2 AND (?3='' "
    "OR " DD_ALL_PLATFORMS_IN("?3") " OR (?4<>'' AND create_time<=?5 AND " DD_ALL_PLATFORMS_IN(
        "?4") ")) ORDER BY seq LIMIT 1";
#undef DD_ALL_PLATFORMS_IN
#undef DD_PLATFORMS_JSON

class SqliteMetadataStore final : public MetadataStore {
 public:
  explicit SqliteMetadataStore(std::string path) : pool_(std::move(path)) {}

  Status Init() {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    DD_ASSIGN_OR_RETURN(q, c->Prepare("PRAGMA user_version"));
    DD_ASSIGN_OR_RETURN(row, q->Step());
    int64_t version = row ? q->Int(0) : 0;
    q.reset();
    if (version > kSchemaVersion) {
      return Invalid("the database's schema is version " + std::to_string(version) +
                     ", newer than this drydock understands (" + std::to_string(kSchemaVersion) +
                     "): upgrade drydock");
    }
    if (version < 1) DD_RETURN_IF_ERROR(c->Exec(kSchema));
    for (int64_t v = std::max<int64_t>(version, 1); v < kSchemaVersion; ++v)
      DD_RETURN_IF_ERROR(c->Exec(kMigrations[v - 1]));
    if (version != kSchemaVersion) {
      std::string set = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
      DD_RETURN_IF_ERROR(c->Exec(set.c_str()));
    }
    return tx.Commit();
  }

  Status LinkBlob(const std::string& repo, const oci::Digest& d, uint64_t size) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    {
      DD_ASSIGN_OR_RETURN(q, c->Prepare("SELECT 1 FROM blob_deletions WHERE digest=? AND since>?"));
      q->Bind(1, d.str()).Bind(2, Now() - kBlobDeleteClaimSeconds);
      DD_ASSIGN_OR_RETURN(deleting, q->Step());
      if (deleting) return BlobBeingDeleted(d);
    }
    DD_RETURN_IF_ERROR(EnsureRepo(*c, repo));
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("INSERT INTO blob_links(repo,digest,size,created) VALUES(?,?,?,?) "
                      "ON CONFLICT(repo,digest) DO UPDATE SET created=excluded.created"));
    DD_RETURN_IF_ERROR(
        s->Bind(1, repo).Bind(2, d.str()).Bind(3, static_cast<int64_t>(size)).Bind(4, Now()).Run());
    return tx.Commit();
  }

  Result<std::optional<uint64_t>> LinkedBlobSize(const std::string& repo,
                                                 const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT size FROM blob_links WHERE repo=? AND digest=?"));
    s->Bind(1, repo).Bind(2, d.str());
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return std::optional<uint64_t>();
    return std::optional<uint64_t>(static_cast<uint64_t>(s->Int(0)));
  }

  Status UnlinkBlob(const std::string& repo, const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM blob_links WHERE repo=? AND digest=?"));
    DD_RETURN_IF_ERROR(s->Bind(1, repo).Bind(2, d.str()).Run());
    if (c->Changes() == 0) return NotFound("blob " + d.str() + " is not in repository " + repo);
    return Status::Ok();
  }

  Result<bool> AnyLink(const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT 1 FROM blob_links WHERE digest=? LIMIT 1"));
    s->Bind(1, d.str());
    return s->Step();
  }

  Result<TagChange> PutManifest(const ManifestPut& put) override {
    const auto& m = put.record;
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    for (const auto& b : put.blobs) {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT 1 FROM blob_links WHERE repo=? AND digest=?"));
      s->Bind(1, m.repo).Bind(2, b.str());
      DD_ASSIGN_OR_RETURN(found, s->Step());
      if (!found)
        return NotFound("blob " + b.str() + " referenced by the manifest is not in repository " +
                        m.repo);
    }
    for (const auto& child : put.manifests) {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT 1 FROM manifests WHERE repo=? AND digest=?"));
      s->Bind(1, m.repo).Bind(2, child.str());
      DD_ASSIGN_OR_RETURN(found, s->Step());
      if (!found)
        return NotFound("manifest " + child.str() +
                        " referenced by the index is not in repository " + m.repo);
    }
    DD_RETURN_IF_ERROR(EnsureRepo(*c, m.repo));
    {
      DD_ASSIGN_OR_RETURN(
          s,
          c->Prepare(
              "INSERT INTO "
              "manifests(repo,digest,media_type,content,subject,artifact_type,annotations,created) "
              "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(repo,digest) DO NOTHING"));
      s->Bind(1, m.repo).Bind(2, m.digest.str()).Bind(3, m.media_type).BindBlob(4, m.content);
      if (m.subject)
        s->Bind(5, m.subject->str());
      else
        s->BindNull(5);
      s->Bind(6, m.artifact_type).Bind(7, m.annotations_json).Bind(8, Now());
      DD_RETURN_IF_ERROR(s->Run());
    }
    std::set<std::string> children;
    for (const auto& b : put.blobs) children.insert(b.str());
    for (const auto& x : put.manifests) children.insert(x.str());
    for (const auto& child : children) {
      DD_ASSIGN_OR_RETURN(
          s, c->Prepare("INSERT OR IGNORE INTO manifest_refs(repo,parent,child) VALUES(?,?,?)"));
      DD_RETURN_IF_ERROR(s->Bind(1, m.repo).Bind(2, m.digest.str()).Bind(3, child).Run());
    }
    for (const auto& p : put.packages) {
      if (!m.subject) break;
      DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR IGNORE INTO "
                                        "image_packages(repo,sbom,image,name,version,purl) "
                                        "VALUES(?,?,?,?,?,?)"));
      s->Bind(1, m.repo).Bind(2, m.digest.str()).Bind(3, m.subject->str());
      DD_RETURN_IF_ERROR(s->Bind(4, p.name).Bind(5, p.version).Bind(6, p.purl).Run());
    }
    TagChange change;
    if (put.tag) {
      DD_ASSIGN_OR_RETURN(q, c->Prepare("SELECT digest FROM tags WHERE repo=? AND tag=?"));
      q->Bind(1, m.repo).Bind(2, *put.tag);
      DD_ASSIGN_OR_RETURN(had, q->Step());
      if (had) change.previous = *oci::Digest::Parse(q->Text(0));
      DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT INTO tags(repo,tag,digest,updated) VALUES(?,?,?,?) "
                                        "ON CONFLICT(repo,tag) DO UPDATE SET "
                                        "digest=excluded.digest, updated=excluded.updated"));
      DD_RETURN_IF_ERROR(
          s->Bind(1, m.repo).Bind(2, *put.tag).Bind(3, m.digest.str()).Bind(4, Now()).Run());
    }
    DD_RETURN_IF_ERROR(InsertEvent(
        *c, RegistryEvent("push", m.repo, put.tag.value_or(""), m.digest.str(), m.media_type,
                          put.actor, static_cast<int64_t>(m.content.size()))));
    DD_RETURN_IF_ERROR(tx.Commit());
    return change;
  }

  Result<ManifestRecord> GetManifest(const std::string& repo, const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT media_type, content, subject, artifact_type, "
                                      "annotations, created FROM manifests "
                                      "WHERE repo=? AND digest=?"));
    s->Bind(1, repo).Bind(2, d.str());
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("manifest " + d.str() + " not found in " + repo);
    ManifestRecord m;
    m.repo = repo;
    m.digest = d;
    m.media_type = s->Text(0);
    m.content = s->Blob(1);
    if (!s->IsNull(2)) m.subject = *oci::Digest::Parse(s->Text(2));
    m.artifact_type = s->Text(3);
    m.annotations_json = s->Text(4);
    m.created = s->Int(5);
    return m;
  }

  Result<oci::Digest> ResolveTag(const std::string& repo, const std::string& tag) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT digest FROM tags WHERE repo=? AND tag=?"));
    s->Bind(1, repo).Bind(2, tag);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("tag " + tag + " not found in " + repo);
    return oci::Digest::Parse(s->Text(0));
  }

  Result<std::vector<std::string>> DeleteManifest(const std::string& repo, const oci::Digest& d,
                                                  const std::string& actor) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    std::vector<std::string> tags;
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT tag FROM tags WHERE repo=? AND digest=?"));
      s->Bind(1, repo).Bind(2, d.str());
      while (true) {
        DD_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) break;
        tags.push_back(s->Text(0));
      }
    }
    DD_RETURN_IF_ERROR(DeleteManifestRows(*c, repo, d));
    if (c->Changes() == 0) return NotFound("manifest " + d.str() + " not found in " + repo);
    DD_RETURN_IF_ERROR(InsertEvent(*c, RegistryEvent("delete", repo, "", d.str(), "", actor)));
    for (const auto& t : tags)
      DD_RETURN_IF_ERROR(InsertEvent(*c, RegistryEvent("delete", repo, t, d.str(), "", actor)));
    DD_RETURN_IF_ERROR(tx.Commit());
    return tags;
  }

  Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag,
                                const std::string& actor) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    std::string digest;
    {
      DD_ASSIGN_OR_RETURN(s,
                          c->Prepare("DELETE FROM tags WHERE repo=? AND tag=? RETURNING digest"));
      s->Bind(1, repo).Bind(2, tag);
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) return NotFound("tag " + tag + " not found in " + repo);
      digest = s->Text(0);
      DD_RETURN_IF_ERROR(s->Run());
    }
    DD_RETURN_IF_ERROR(InsertEvent(*c, RegistryEvent("delete", repo, tag, digest, "", actor)));
    DD_RETURN_IF_ERROR(tx.Commit());
    return oci::Digest::Parse(digest);
  }

  Result<std::vector<std::string>> ListTags(const std::string& repo, const Page& page) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("SELECT tag FROM tags WHERE repo=? AND tag>? ORDER BY tag LIMIT ?"));
    s->Bind(1, repo).Bind(2, page.last).Bind(3, page.limit);
    return Column(*s);
  }

  Result<bool> RepositoryExists(const std::string& repo) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT 1 FROM repositories WHERE name=?"));
    s->Bind(1, repo);
    return s->Step();
  }

  Result<std::vector<std::string>> ListRepositories(const Page& page) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("SELECT name FROM repositories WHERE name>? ORDER BY name LIMIT ?"));
    s->Bind(1, page.last).Bind(2, page.limit);
    return Column(*s);
  }

  Result<std::vector<std::string>> ListRepositoriesWithManifests(const Page& page) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT name FROM repositories r WHERE name>? AND EXISTS "
                                      "(SELECT 1 FROM manifests m WHERE m.repo=r.name) "
                                      "ORDER BY name LIMIT ?"));
    s->Bind(1, page.last).Bind(2, page.limit);
    return Column(*s);
  }

  Result<bool> HasManifests(const std::string& repo) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT 1 FROM manifests WHERE repo=? LIMIT 1"));
    s->Bind(1, repo);
    return s->Step();
  }

  Result<std::vector<PackageMatch>> FindPackage(const std::string& name, const std::string& version,
                                                int64_t limit) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("SELECT p.repo, p.image, min(p.sbom), p.name, p.version, p.purl "
                      "FROM image_packages p WHERE p.name=? AND (?='' OR p.version=?) "
                      "AND EXISTS(SELECT 1 FROM manifests m WHERE m.repo=p.repo "
                      "AND m.digest=p.image) GROUP BY p.repo, p.image, p.name, p.version, p.purl "
                      "ORDER BY p.repo, p.image, p.version, p.purl LIMIT ?"));
    s->Bind(1, name).Bind(2, version).Bind(3, version).Bind(4, limit);
    std::vector<PackageMatch> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(PackageMatch{s->Text(0),
                                 *oci::Digest::Parse(s->Text(1)),
                                 *oci::Digest::Parse(s->Text(2)),
                                 PackageRecord{s->Text(3), s->Text(4), s->Text(5)},
                                 {}});
    }
    for (auto& match : out) {
      DD_ASSIGN_OR_RETURN(
          q, c->Prepare("SELECT tag FROM tags WHERE repo=? AND digest=? ORDER BY tag"));
      q->Bind(1, match.repo).Bind(2, match.image.str());
      while (true) {
        DD_ASSIGN_OR_RETURN(row, q->Step());
        if (!row) break;
        match.tags.push_back(q->Text(0));
      }
    }
    return out;
  }

  Result<std::vector<Referrer>> ListReferrers(const std::string& repo,
                                              const oci::Digest& subject) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s,
        c->Prepare(
            "SELECT digest, media_type, length(content), artifact_type, annotations FROM manifests "
            "WHERE repo=? AND subject=? ORDER BY created, digest"));
    s->Bind(1, repo).Bind(2, subject.str());
    std::vector<Referrer> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(
          Referrer{*oci::Digest::Parse(s->Text(0)), s->Text(1), s->Int(2), s->Text(3), s->Text(4)});
    }
    return out;
  }

  Status CreateUpload(const UploadRecord& u) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("INSERT INTO uploads(id,repo,created,checkpoint) VALUES(?,?,?,?)"));
    return s->Bind(1, u.id).Bind(2, u.repo).Bind(3, u.created).Bind(4, u.checkpoint).Run();
  }

  Result<UploadRecord> GetUpload(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT repo, created, checkpoint FROM uploads WHERE id=?"));
    s->Bind(1, id);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("upload " + id + " not found");
    return UploadRecord{id, s->Text(0), s->Int(1), s->Text(2)};
  }

  Result<bool> AdvanceUpload(const std::string& id, const std::string& from,
                             const std::string& to) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("UPDATE uploads SET checkpoint=?3 WHERE id=?1 AND checkpoint=?2"));
    DD_RETURN_IF_ERROR(s->Bind(1, id).Bind(2, from).Bind(3, to).Run());
    if (c->Changes() == 1) return true;
    DD_ASSIGN_OR_RETURN(q, c->Prepare("SELECT 1 FROM uploads WHERE id=?"));
    q->Bind(1, id);
    DD_ASSIGN_OR_RETURN(exists, q->Step());
    if (!exists) return NotFound("upload " + id + " not found");
    return false;
  }

  Status DeleteUpload(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM uploads WHERE id=?"));
    return s->Bind(1, id).Run();
  }

  Result<std::vector<UploadRecord>> ListUploads() override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT id, repo, created, checkpoint FROM uploads"));
    std::vector<UploadRecord> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(UploadRecord{s->Text(0), s->Text(1), s->Int(2), s->Text(3)});
    }
    return out;
  }

  Status PutUser(const User& u) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s,
        c->Prepare("INSERT INTO users(name,password_hash,admin,disabled,credentials_changed) "
                   "VALUES(?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                   "password_hash=excluded.password_hash, admin=excluded.admin, "
                   "disabled=excluded.disabled, credentials_changed=excluded.credentials_changed"));
    return s->Bind(1, u.name)
        .Bind(2, u.password_hash)
        .Bind(3, int64_t{u.admin})
        .Bind(4, int64_t{u.disabled})
        .Bind(5, u.credentials_changed)
        .Run();
  }

  static User ReadUser(const sqlite::Stmt& s) {
    return User{s.Text(0), s.Text(1), s.Int(2) != 0, s.Int(3) != 0, s.Int(4)};
  }

  Result<User> GetUser(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT name, password_hash, admin, disabled, "
                                      "credentials_changed FROM users WHERE name=?"));
    s->Bind(1, name);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("user " + name + " not found");
    return ReadUser(*s);
  }

  Result<std::vector<User>> ListUsers() override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT name, password_hash, admin, disabled, "
                                      "credentials_changed FROM users ORDER BY name"));
    std::vector<User> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(ReadUser(*s));
    }
    return out;
  }

  Status DeleteUser(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    for (const char* sql :
         {"DELETE FROM grants WHERE user=?", "DELETE FROM api_tokens WHERE user=?"}) {
      DD_ASSIGN_OR_RETURN(s, c->Prepare(sql));
      DD_RETURN_IF_ERROR(s->Bind(1, name).Run());
    }
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM users WHERE name=? RETURNING name"));
    s->Bind(1, name);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("user " + name + " not found");
    s.reset();
    return tx.Commit();
  }

  Status PutApiToken(const ApiTokenRecord& t) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT INTO api_tokens(id,user,secret_hash,created,expires,"
                                      "description) VALUES(?,?,?,?,?,?)"));
    return s->Bind(1, t.id)
        .Bind(2, t.user)
        .Bind(3, t.secret_hash)
        .Bind(4, t.created)
        .Bind(5, t.expires)
        .Bind(6, t.description)
        .Run();
  }

  static ApiTokenRecord ReadToken(const sqlite::Stmt& s) {
    return ApiTokenRecord{s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Text(5)};
  }

  Result<ApiTokenRecord> GetApiToken(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT id, user, secret_hash, created, expires, description "
                                      "FROM api_tokens WHERE id=?"));
    s->Bind(1, id);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("API token " + id + " not found");
    return ReadToken(*s);
  }

  Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s,
                        c->Prepare("SELECT id, user, secret_hash, created, expires, description "
                                   "FROM api_tokens WHERE ?1='' OR user=?1 ORDER BY created, id"));
    s->Bind(1, user);
    std::vector<ApiTokenRecord> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(ReadToken(*s));
    }
    return out;
  }

  Status DeleteApiToken(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM api_tokens WHERE id=? RETURNING id"));
    s->Bind(1, id);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("API token " + id + " not found");
    return Status::Ok();
  }

  Result<int64_t> DeleteApiTokensOf(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM api_tokens WHERE user=?"));
    DD_RETURN_IF_ERROR(s->Bind(1, user).Run());
    return c->Changes();
  }

  Result<int64_t> CountUsers() override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT count(*) FROM users"));
    DD_ASSIGN_OR_RETURN(row, s->Step());
    (void)row;  // an aggregate always yields one row
    return s->Int(0);
  }

  Status SetGrants(const std::string& user, const std::vector<Grant>& grants) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM grants WHERE user=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, user).Run());
    }
    for (const auto& g : grants) {
      DD_ASSIGN_OR_RETURN(
          s, c->Prepare("INSERT OR REPLACE INTO grants(user,prefix,actions) VALUES(?,?,?)"));
      DD_RETURN_IF_ERROR(s->Bind(1, user).Bind(2, g.prefix).Bind(3, g.actions).Run());
    }
    return tx.Commit();
  }

  Result<std::vector<Grant>> GetGrants(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT prefix, actions FROM grants WHERE user=?"));
    s->Bind(1, user);
    std::vector<Grant> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(Grant{s->Text(0), s->Text(1)});
    }
    return out;
  }

  Result<std::vector<Event>> EventsAfter(int64_t id, int64_t limit) override {
    return ReadEvents(
        "SELECT id,action,repo,tag,digest,media_type,actor,time,size,run,status FROM events "
        "WHERE id>? ORDER BY id LIMIT ?",
        id, limit);
  }

  Result<std::vector<Event>> NewestEvents(int64_t limit) override {
    return ReadEvents(
        "SELECT * FROM (SELECT id,action,repo,tag,digest,media_type,actor,time,size,run,status "
        "FROM events WHERE id>? ORDER BY id DESC LIMIT ?) ORDER BY id",
        0, limit);
  }

  // Events from `sql` with two parameters.
  Result<std::vector<Event>> ReadEvents(const char* sql, int64_t a, int64_t b) {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare(sql));
    s->Bind(1, a).Bind(2, b);
    std::vector<Event> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(Event{s->Int(0), s->Text(1), s->Text(2), s->Text(3), s->Text(4), s->Text(5),
                          s->Text(6), s->Int(7), s->Int(8), s->Text(9), s->Text(10)});
    }
    return out;
  }

  Result<int64_t> PruneEvents(int64_t before, int64_t keep) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM events WHERE time<? AND id<=(SELECT "
                                      "coalesce(max(id),0) FROM events)-?"));
    DD_RETURN_IF_ERROR(s->Bind(1, before).Bind(2, keep).Run());
    return c->Changes();
  }

  Result<int64_t> InitCursor(const std::string& consumer) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR IGNORE INTO cursors(consumer,position) "
                                        "VALUES(?,(SELECT coalesce(max(id),0) FROM events))"));
      DD_RETURN_IF_ERROR(s->Bind(1, consumer).Run());
    }
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT position FROM cursors WHERE consumer=?"));
    s->Bind(1, consumer);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return Internal("cursor " + consumer + " vanished");
    return s->Int(0);
  }

  Status AdvanceCursor(const std::string& consumer, int64_t position) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT INTO cursors(consumer,position) VALUES(?,?) "
                                      "ON CONFLICT(consumer) DO UPDATE SET "
                                      "position=max(position, excluded.position)"));
    return s->Bind(1, consumer).Bind(2, position).Run();
  }

  Result<std::optional<std::string>> GetSetting(const std::string& key) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT value FROM settings WHERE key=?"));
    s->Bind(1, key);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(s->Text(0));
  }

  Result<std::string> InitSetting(const std::string& key, const std::string& value) override {
    {
      DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
      DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR IGNORE INTO settings(key,value) VALUES(?,?)"));
      DD_RETURN_IF_ERROR(s->Bind(1, key).Bind(2, value).Run());
    }
    DD_ASSIGN_OR_RETURN(v, GetSetting(key));
    return *v;
  }

  Result<CreatedRun> CreateRun(const std::string& cause,
                               const std::function<RunRow(int64_t)>& make_row) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    if (!cause.empty()) {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT seq FROM runs WHERE cause=?"));
      s->Bind(1, cause);
      DD_ASSIGN_OR_RETURN(found, s->Step());
      if (found) return CreatedRun{s->Int(0), false};
    }
    int64_t seq = 0;
    {
      // A placeholder that takes the seq; the transaction fills it in.
      DD_ASSIGN_OR_RETURN(
          s, c->Prepare("INSERT INTO runs(status,type,task,create_time,start_time,finish_time,"
                        "request,result,error,output_images) VALUES('','','',0,0,0,'','','','') "
                        "RETURNING seq"));
      DD_ASSIGN_OR_RETURN(got, s->Step());
      if (!got) return Internal("run insert returned no seq");
      seq = s->Int(0);
      DD_RETURN_IF_ERROR(s->Run());
    }
    RunRow row = make_row(seq);
    {
      DD_ASSIGN_OR_RETURN(
          s, c->Prepare("UPDATE runs SET id=?2, status=?3, type=?4, task=?5, create_time=?6, "
                        "start_time=?7, finish_time=?8, request=?9, result=?10, error=?11, "
                        "output_images=?12, cause=?13, pool=?14, platform=?15, trigger_name=?16 "
                        "WHERE seq=?1"));
      s->Bind(1, seq)
          .Bind(2, row.id)
          .Bind(3, row.status)
          .Bind(4, row.type)
          .Bind(5, row.task)
          .Bind(6, row.create_time_ms)
          .Bind(7, row.start_time_ms)
          .Bind(8, row.finish_time_ms)
          .Bind(9, row.request_json)
          .Bind(10, row.result_json)
          .Bind(11, row.error)
          .Bind(12, row.output_images)
          .Bind(14, row.pool)
          .Bind(15, row.platform)
          .Bind(16, row.trigger);
      if (cause.empty())
        s->BindNull(13);
      else
        s->Bind(13, cause);
      DD_RETURN_IF_ERROR(s->Run());
    }
    DD_RETURN_IF_ERROR(InsertEvent(*c, RunEvent(row.id, row.status)));
    DD_RETURN_IF_ERROR(tx.Commit());
    return CreatedRun{seq, true};
  }

  Result<bool> UpdateRun(const RunRow& row, const std::vector<std::string>& if_status) override {
    return Update(row, if_status, 0);
  }

  Result<bool> UpdateClaimedRun(const RunRow& row, int64_t attempt) override {
    if (attempt < 1) return Invalid("attempt " + std::to_string(attempt) + " never holds a run");
    return Update(row, {}, attempt);
  }

  Result<std::optional<RunRow>> ClaimRun(const RunClaimFilter& f, int64_t now_ms,
                                         int64_t lease_ms) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    std::string id;
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare(kClaimableSql));
      s->Bind(1, f.pool).Bind(2, now_ms).Bind(3, NativeSet(f)).Bind(4, EmulatedSet(f));
      s->Bind(5, now_ms - f.emulated_after_ms);
      DD_ASSIGN_OR_RETURN(found, s->Step());
      if (!found) return std::optional<RunRow>();
      id = s->Text(0);
    }
    {
      DD_ASSIGN_OR_RETURN(
          s,
          c->Prepare("UPDATE runs SET status='Started', agent=?2, attempt=attempt+1, "
                     "lease_expires=?3, cancel_requested=0, "
                     "start_time=CASE WHEN start_time=0 THEN ?4 ELSE start_time END WHERE id=?1"));
      DD_RETURN_IF_ERROR(
          s->Bind(1, id).Bind(2, f.agent).Bind(3, now_ms + lease_ms).Bind(4, now_ms).Run());
    }
    DD_RETURN_IF_ERROR(InsertEvent(*c, RunEvent(id, "Started")));
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT " DD_RUN_COLUMNS " FROM runs WHERE id=?"));
    s->Bind(1, id);
    DD_ASSIGN_OR_RETURN(found, s->Step());
    if (!found) return Internal("claimed run " + id + " vanished");
    RunRow row = ReadRun(*s);
    s.reset();
    DD_RETURN_IF_ERROR(tx.Commit());
    return std::optional<RunRow>(std::move(row));
  }

  Result<bool> RenewRunLease(const std::string& id, int64_t attempt, int64_t now_ms,
                             int64_t lease_ms) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("UPDATE runs SET lease_expires=?3 WHERE id=?1 AND attempt=?2 AND "
                      "status IN ('Started','Running') RETURNING cancel_requested"));
    s->Bind(1, id).Bind(2, attempt).Bind(3, now_ms + lease_ms);
    DD_ASSIGN_OR_RETURN(held, s->Step());
    if (!held)
      return Conflict("attempt " + std::to_string(attempt) + " of run " + id +
                      " no longer holds it (its lease expired, or the run ended)");
    bool cancel = s->Int(0) != 0;
    DD_RETURN_IF_ERROR(s->Run());
    return cancel;
  }

  Result<bool> RequestRunCancel(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("UPDATE runs SET cancel_requested=1 WHERE id=? AND "
                                      "status IN ('Started','Running')"));
    DD_RETURN_IF_ERROR(s->Bind(1, id).Run());
    return c->Changes() > 0;
  }

  Status TouchAgent(const AgentRow& a) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("INSERT INTO agents(name,pool,platforms,version,last_seen) VALUES(?,?,?,?,?) "
                      "ON CONFLICT(name) DO UPDATE SET pool=excluded.pool, "
                      "platforms=excluded.platforms, version=excluded.version, "
                      "last_seen=max(last_seen, excluded.last_seen)"));
    return s->Bind(1, a.name)
        .Bind(2, a.pool)
        .Bind(3, a.platforms)
        .Bind(4, a.version)
        .Bind(5, a.last_seen_ms)
        .Run();
  }

  Result<std::vector<AgentRow>> ListAgents() override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("SELECT name,pool,platforms,version,last_seen FROM agents ORDER BY name"));
    std::vector<AgentRow> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back({s->Text(0), s->Text(1), s->Text(2), s->Text(3), s->Int(4)});
    }
    return out;
  }

  Status DeleteAgent(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM agents WHERE name=?"));
    DD_RETURN_IF_ERROR(s->Bind(1, name).Run());
    if (c->Changes() == 0) return NotFound("agent " + name + " does not exist");
    return Status::Ok();
  }

  Result<std::vector<RunRow>> ExpiredRunLeases(int64_t now_ms) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT " DD_RUN_COLUMNS " FROM runs WHERE "
                                      "status IN ('Started','Running') AND lease_expires<? "
                                      "ORDER BY seq"));
    s->Bind(1, now_ms);
    return ReadRuns(*s);
  }

  Result<RunRow> GetRun(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT " DD_RUN_COLUMNS " FROM runs WHERE id=?"));
    s->Bind(1, id);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("run " + id + " does not exist");
    return ReadRun(*s);
  }

  Result<std::vector<RunRow>> ListRuns(const RunQuery& q) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT " DD_RUN_COLUMNS " FROM runs "
                                      "WHERE (?1='' OR status=?1) AND (?2='' OR task=?2) AND "
                                      "(?3='' OR instr(output_images, ?3)>0) AND "
                                      "(?5='' OR trigger_name=?5) AND create_time>=?6 "
                                      "ORDER BY seq DESC LIMIT ?4"));
    s->Bind(1, q.status)
        .Bind(2, q.task)
        .Bind(3, q.image)
        .Bind(4, q.top)
        .Bind(5, q.trigger)
        .Bind(6, q.created_after_ms);
    return ReadRuns(*s);
  }

  Result<std::vector<RunRow>> RunsWithStatus(const std::vector<std::string>& statuses,
                                             int64_t limit) override {
    // One indexed query per status, merged: the set is small (a queue).
    std::vector<RunRow> out;
    for (const auto& status : statuses) {
      DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
      DD_ASSIGN_OR_RETURN(
          s, c->Prepare("SELECT " DD_RUN_COLUMNS " FROM runs WHERE status=? ORDER BY seq LIMIT ?"));
      s->Bind(1, status).Bind(2, limit);
      DD_ASSIGN_OR_RETURN(rows, ReadRuns(*s));
      for (auto& r : rows) out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(),
              [](const RunRow& a, const RunRow& b) { return a.seq < b.seq; });
    if (limit >= 0 && out.size() > static_cast<size_t>(limit))
      out.resize(static_cast<size_t>(limit));
    return out;
  }

  Status CreateTask(const TaskRow& row) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR IGNORE INTO tasks(name,definition,state,"
                                      "create_time,update_time) VALUES(?,?,?,?,?)"));
    s->Bind(1, row.name)
        .Bind(2, row.definition_json)
        .Bind(3, row.state_json.empty() ? std::string("{}") : row.state_json)
        .Bind(4, row.create_time_ms)
        .Bind(5, row.update_time_ms);
    DD_RETURN_IF_ERROR(s->Run());
    if (c->Changes() == 0) return Conflict("task " + row.name + " already exists");
    return Status::Ok();
  }

  Status UpdateTask(const TaskRow& row) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("UPDATE tasks SET definition=?, update_time=? WHERE name=?"));
    DD_RETURN_IF_ERROR(
        s->Bind(1, row.definition_json).Bind(2, row.update_time_ms).Bind(3, row.name).Run());
    if (c->Changes() == 0) return NotFound("task " + row.name + " does not exist");
    return Status::Ok();
  }

  Result<bool> SwapTaskState(const std::string& name, const std::string& from,
                             const std::string& to) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("UPDATE tasks SET state=? WHERE name=? AND state=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, to).Bind(2, name).Bind(3, from).Run());
    }
    if (c->Changes() == 1) return true;
    DD_ASSIGN_OR_RETURN(q, c->Prepare("SELECT 1 FROM tasks WHERE name=?"));
    q->Bind(1, name);
    DD_ASSIGN_OR_RETURN(exists, q->Step());
    if (!exists) return NotFound("task " + name + " does not exist");
    return false;
  }

  Result<TaskRow> GetTask(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT name,definition,state,create_time,update_time "
                                      "FROM tasks WHERE name=?"));
    s->Bind(1, name);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    if (!row) return NotFound("task " + name + " does not exist");
    return TaskRow{s->Text(0), s->Text(1), s->Text(2), s->Int(3), s->Int(4)};
  }

  Result<std::vector<TaskRow>> ListTasks() override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT name,definition,state,create_time,update_time "
                                      "FROM tasks ORDER BY name"));
    std::vector<TaskRow> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      out.push_back(TaskRow{s->Text(0), s->Text(1), s->Text(2), s->Int(3), s->Int(4)});
    }
    return out;
  }

  Status DeleteTask(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM tasks WHERE name=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, name).Run());
      if (c->Changes() == 0) return NotFound("task " + name + " does not exist");
    }
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM task_dependencies WHERE task=?"));
    DD_RETURN_IF_ERROR(s->Bind(1, name).Run());
    return tx.Commit();
  }

  Status SetDependencies(const std::string& task, const std::vector<DependencyRow>& rows) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM task_dependencies WHERE task=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, task).Run());
    }
    for (const auto& r : rows) {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR REPLACE INTO task_dependencies(task,kind,"
                                        "registry,repository,tag,digest,platform,manifest) "
                                        "VALUES(?,?,?,?,?,?,?,?)"));
      s->Bind(1, task).Bind(2, r.kind).Bind(3, r.registry).Bind(4, r.repository).Bind(5, r.tag);
      DD_RETURN_IF_ERROR(s->Bind(6, r.digest).Bind(7, r.platform).Bind(8, r.manifest).Run());
    }
    return tx.Commit();
  }

  Result<std::vector<DependencyRow>> Dependencies(const std::string& task) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT task,kind,registry,repository,tag,digest,platform,"
                                      "manifest FROM task_dependencies WHERE ?1='' OR task=?1 "
                                      "ORDER BY task, kind DESC, registry, repository, tag, "
                                      "platform"));
    s->Bind(1, task);
    return ReadDependencies(*s);
  }

  Result<std::vector<DependencyRow>> Dependents(const std::string& registry,
                                                const std::string& repository,
                                                const std::string& tag) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT task,kind,registry,repository,tag,digest,platform,"
                                      "manifest FROM task_dependencies WHERE registry=? AND "
                                      "repository=? AND tag=? ORDER BY task, kind DESC, platform"));
    s->Bind(1, registry).Bind(2, repository).Bind(3, tag);
    return ReadDependencies(*s);
  }

  Result<uint64_t> AppendLog(const std::string& run, std::optional<uint64_t> offset,
                             std::string_view data) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    DD_ASSIGN_OR_RETURN(size, LogSize(*c, run));
    if (offset && *offset > size)
      return Conflict("the log of run " + run + " has " + std::to_string(size) +
                      " bytes: an append at " + std::to_string(*offset) + " would leave a gap");
    if (offset) data.remove_prefix(std::min<uint64_t>(size - *offset, data.size()));
    if (data.empty()) return size;
    DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT INTO run_logs(run,at,size,data) VALUES(?,?,?,?)"));
    s->Bind(1, run).Bind(2, static_cast<int64_t>(size)).Bind(3, static_cast<int64_t>(data.size()));
    DD_RETURN_IF_ERROR(s->BindBlob(4, data).Run());
    DD_RETURN_IF_ERROR(tx.Commit());
    return size + data.size();
  }

  Result<LogSlice> ReadLog(const std::string& run, uint64_t offset, size_t max_bytes) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    // Logs only grow: chunks appended after the size was read lie past it
    // and are left out, so the slice and its size agree without a snapshot.
    LogSlice slice;
    DD_ASSIGN_OR_RETURN(size, LogSize(*c, run));
    slice.size = size;
    if (offset >= size) return slice;
    DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT at, data FROM run_logs WHERE run=? AND at+size>? "
                                      "ORDER BY at"));
    s->Bind(1, run).Bind(2, static_cast<int64_t>(offset));
    size_t want = std::min<uint64_t>(max_bytes, size - offset);
    while (slice.data.size() < want) {
      DD_ASSIGN_OR_RETURN(row, s->Step());
      if (!row) break;
      uint64_t at = static_cast<uint64_t>(s->Int(0));
      std::string chunk = s->Blob(1);
      size_t skip = offset > at ? static_cast<size_t>(offset - at) : 0;
      slice.data.append(chunk, skip, want - slice.data.size());
    }
    return slice;
  }

  Result<bool> TakeLease(const std::string& name, const std::string& holder, int64_t now_ms,
                         int64_t ttl_ms) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("INSERT INTO leases(name,holder,expires) VALUES(?1,?2,?3) "
                      "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, "
                      "expires=excluded.expires WHERE holder=excluded.holder OR expires<?4"));
    DD_RETURN_IF_ERROR(
        s->Bind(1, name).Bind(2, holder).Bind(3, now_ms + ttl_ms).Bind(4, now_ms).Run());
    return c->Changes() > 0;
  }

  Status DropLease(const std::string& name, const std::string& holder) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM leases WHERE name=? AND holder=?"));
    return s->Bind(1, name).Bind(2, holder).Run();
  }

  Result<std::vector<std::string>> AllRepositories() override { return ListRepositories(Page{}); }

  Result<RepoGraph> LoadRepoGraph(const std::string& repo) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    RepoGraph g;
    std::map<std::string, size_t> index;
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT digest, created, subject, EXISTS(SELECT 1 FROM "
                                        "tags t WHERE t.repo=m.repo AND t.digest=m.digest) "
                                        "FROM manifests m WHERE repo=?"));
      s->Bind(1, repo);
      while (true) {
        DD_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) break;
        RepoGraph::Node n;
        n.digest = *oci::Digest::Parse(s->Text(0));
        n.created = s->Int(1);
        if (!s->IsNull(2)) n.subject = *oci::Digest::Parse(s->Text(2));
        n.tagged = s->Int(3) != 0;
        index[s->Text(0)] = g.manifests.size();
        g.manifests.push_back(std::move(n));
      }
    }
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT parent, child FROM manifest_refs WHERE repo=?"));
      s->Bind(1, repo);
      while (true) {
        DD_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) break;
        auto it = index.find(s->Text(0));
        if (it != index.end())
          g.manifests[it->second].children.push_back(*oci::Digest::Parse(s->Text(1)));
      }
    }
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT digest, created FROM blob_links WHERE repo=?"));
      s->Bind(1, repo);
      while (true) {
        DD_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) break;
        g.links.emplace_back(*oci::Digest::Parse(s->Text(0)), s->Int(1));
      }
    }
    return g;
  }

  Result<bool> DeleteManifestIfUnreferenced(const std::string& repo,
                                            const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare("SELECT EXISTS(SELECT 1 FROM tags WHERE repo=?1 AND digest=?2) OR "
                      "EXISTS(SELECT 1 FROM manifest_refs WHERE repo=?1 AND child=?2)"));
    s->Bind(1, repo).Bind(2, d.str());
    DD_ASSIGN_OR_RETURN(row, s->Step());
    (void)row;  // an aggregate always yields one row
    if (s->Int(0) != 0) return false;
    DD_RETURN_IF_ERROR(DeleteManifestRows(*c, repo, d));
    DD_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  Result<bool> BeginBlobDelete(const oci::Digest& d, int64_t now) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    {
      DD_ASSIGN_OR_RETURN(q, c->Prepare("SELECT 1 FROM blob_links WHERE digest=? LIMIT 1"));
      q->Bind(1, d.str());
      DD_ASSIGN_OR_RETURN(linked, q->Step());
      if (linked) return false;
    }
    DD_ASSIGN_OR_RETURN(s, c->Prepare("INSERT OR REPLACE INTO blob_deletions(digest,since) "
                                      "VALUES(?,?)"));
    DD_RETURN_IF_ERROR(s->Bind(1, d.str()).Bind(2, now).Run());
    DD_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  Status EndBlobDelete(const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(s, c->Prepare("DELETE FROM blob_deletions WHERE digest=?"));
    return s->Bind(1, d.str()).Run();
  }

  Result<bool> UnlinkBlobIfUnreferenced(const std::string& repo, const oci::Digest& d,
                                        int64_t linked_before) override {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    DD_ASSIGN_OR_RETURN(
        s, c->Prepare(
               "DELETE FROM blob_links WHERE repo=?1 AND digest=?2 AND created<?3 AND NOT EXISTS("
               "SELECT 1 FROM manifest_refs WHERE repo=?1 AND child=?2)"));
    DD_RETURN_IF_ERROR(s->Bind(1, repo).Bind(2, d.str()).Bind(3, linked_before).Run());
    return c->Changes() > 0;
  }

 private:
  static Result<uint64_t> LogSize(sqlite::Connection& c, const std::string& run) {
    DD_ASSIGN_OR_RETURN(
        s, c.Prepare("SELECT at+size FROM run_logs WHERE run=? ORDER BY at DESC LIMIT 1"));
    s->Bind(1, run);
    DD_ASSIGN_OR_RETURN(row, s->Step());
    return row ? static_cast<uint64_t>(s->Int(0)) : 0;
  }

  static Result<std::vector<std::string>> Column(sqlite::Stmt& s) {
    std::vector<std::string> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s.Step());
      if (!row) break;
      out.push_back(s.Text(0));
    }
    return out;
  }

  // UpdateRun (attempt 0) and UpdateClaimedRun (attempt > 0: only while
  // that attempt holds the run; leaving Started/Running releases it).
  Result<bool> Update(const RunRow& row, const std::vector<std::string>& if_status,
                      int64_t attempt) {
    DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
    Transaction tx(*c);
    DD_RETURN_IF_ERROR(tx.status());
    std::string before;
    {
      DD_ASSIGN_OR_RETURN(s, c->Prepare("SELECT status FROM runs WHERE id=?"));
      s->Bind(1, row.id);
      DD_ASSIGN_OR_RETURN(exists, s->Step());
      if (!exists) return NotFound("run " + row.id + " does not exist");
      before = s->Text(0);
    }
    {
      DD_ASSIGN_OR_RETURN(
          s,
          c->Prepare("UPDATE runs SET status=?2, type=?3, task=?4, start_time=?5, finish_time=?6, "
                     "request=?7, result=?8, error=?9, output_images=?10, "
                     "lease_expires=CASE WHEN ?12>0 AND ?2 NOT IN ('Started','Running') THEN 0 "
                     "ELSE lease_expires END, "
                     "not_before=CASE WHEN ?12>0 THEN ?13 ELSE not_before END "
                     "WHERE id=?1 AND (?11='' OR instr(?11, ','||status||',')>0) AND "
                     "(?12=0 OR (attempt=?12 AND status IN ('Started','Running')))"));
      s->Bind(1, row.id)
          .Bind(2, row.status)
          .Bind(3, row.type)
          .Bind(4, row.task)
          .Bind(5, row.start_time_ms)
          .Bind(6, row.finish_time_ms)
          .Bind(7, row.request_json)
          .Bind(8, row.result_json)
          .Bind(9, row.error)
          .Bind(10, row.output_images)
          .Bind(11, CommaSet(if_status))
          .Bind(12, attempt)
          .Bind(13, row.not_before_ms);
      DD_RETURN_IF_ERROR(s->Run());
    }
    if (c->Changes() == 0) return false;  // refused by its condition
    if (row.status != before) DD_RETURN_IF_ERROR(InsertEvent(*c, RunEvent(row.id, row.status)));
    DD_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  static RunRow ReadRun(const sqlite::Stmt& s) {
    RunRow r;
    r.id = s.Text(0);
    r.seq = s.Int(1);
    r.status = s.Text(2);
    r.type = s.Text(3);
    r.task = s.Text(4);
    r.create_time_ms = s.Int(5);
    r.start_time_ms = s.Int(6);
    r.finish_time_ms = s.Int(7);
    r.request_json = s.Text(8);
    r.result_json = s.Text(9);
    r.error = s.Text(10);
    r.output_images = s.Text(11);
    if (!s.IsNull(12)) r.cause = s.Text(12);
    r.pool = s.Text(13);
    r.platform = s.Text(14);
    r.agent = s.Text(15);
    r.attempt = s.Int(16);
    r.lease_expires_ms = s.Int(17);
    r.not_before_ms = s.Int(18);
    r.cancel_requested = s.Int(19) != 0;
    r.trigger = s.Text(20);
    return r;
  }

  static Result<std::vector<RunRow>> ReadRuns(sqlite::Stmt& s) {
    std::vector<RunRow> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s.Step());
      if (!row) break;
      out.push_back(ReadRun(s));
    }
    return out;
  }

  static Result<std::vector<DependencyRow>> ReadDependencies(sqlite::Stmt& s) {
    std::vector<DependencyRow> out;
    while (true) {
      DD_ASSIGN_OR_RETURN(row, s.Step());
      if (!row) break;
      out.push_back(DependencyRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5),
                                  s.Text(6), s.Text(7)});
    }
    return out;
  }

  static Status EnsureRepo(sqlite::Connection& c, const std::string& repo) {
    DD_ASSIGN_OR_RETURN(s,
                        c.Prepare("INSERT OR IGNORE INTO repositories(name,created) VALUES(?,?)"));
    return s->Bind(1, repo).Bind(2, Now()).Run();
  }

  // One row of the event log, in the caller's transaction (the outbox).
  static Status InsertEvent(sqlite::Connection& c, const Event& e) {
    DD_ASSIGN_OR_RETURN(
        s, c.Prepare("INSERT INTO events(action,repo,tag,digest,media_type,actor,time,size,run,"
                     "status) VALUES(?,?,?,?,?,?,?,?,?,?)"));
    return s->Bind(1, e.action)
        .Bind(2, e.repo)
        .Bind(3, e.tag)
        .Bind(4, e.digest)
        .Bind(5, e.media_type)
        .Bind(6, e.actor)
        .Bind(7, e.time)
        .Bind(8, e.size)
        .Bind(9, e.run)
        .Bind(10, e.status)
        .Run();
  }

  // Leaves Changes() reporting the manifests row deletion.
  static Status DeleteManifestRows(sqlite::Connection& c, const std::string& repo,
                                   const oci::Digest& d) {
    {
      DD_ASSIGN_OR_RETURN(s, c.Prepare("DELETE FROM tags WHERE repo=? AND digest=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, repo).Bind(2, d.str()).Run());
    }
    {
      DD_ASSIGN_OR_RETURN(s, c.Prepare("DELETE FROM manifest_refs WHERE repo=? AND parent=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, repo).Bind(2, d.str()).Run());
    }
    {
      DD_ASSIGN_OR_RETURN(s, c.Prepare("DELETE FROM image_packages WHERE repo=? AND sbom=?"));
      DD_RETURN_IF_ERROR(s->Bind(1, repo).Bind(2, d.str()).Run());
    }
    DD_ASSIGN_OR_RETURN(s, c.Prepare("DELETE FROM manifests WHERE repo=? AND digest=?"));
    return s->Bind(1, repo).Bind(2, d.str()).Run();
  }

  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path) {
  auto store = std::make_unique<SqliteMetadataStore>(path);
  DD_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace drydock::storage
