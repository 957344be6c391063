// PostgreSQL implementation of MetadataStore, shared by any number of
// servers. Every multi-statement change is one serializable transaction
// (retried on serialization failures), so what SQLite's single writer gives
// the embedded store, PostgreSQL's conflict detection gives here; queue
// claims use FOR UPDATE SKIP LOCKED so agents on different servers never
// wait on, or take, the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "storage/metadata_rows.h"
#include "storage/metadata_store.h"
#include "storage/pg_db.h"

namespace drydock::storage {
namespace {

using internal::CommaSet;
using internal::EmulatedSet;
using internal::Isolation;
using internal::NativeSet;
using internal::PgConnection;
using internal::PgPool;
using internal::PgRows;
using internal::PgValue;
using internal::RegistryEvent;
using internal::RunEvent;
using Row = std::vector<PgValue>;

// Names compare byte-wise ("C"), as in SQLite, whatever the database's
// locale: tag and repository paging depends on it.
constexpr const char* kMigrations[] = {
    // 1: everything the SQLite store has at its version 8.
    R"sql(
CREATE TABLE repositories(name TEXT COLLATE "C" PRIMARY KEY, created BIGINT NOT NULL);
CREATE TABLE blob_links(
  repo TEXT COLLATE "C" NOT NULL, digest TEXT NOT NULL, size BIGINT NOT NULL,
  created BIGINT NOT NULL, PRIMARY KEY(repo, digest));
CREATE INDEX blob_links_digest ON blob_links(digest);
CREATE TABLE manifests(
  repo TEXT COLLATE "C" NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
  content BYTEA NOT NULL, subject TEXT, artifact_type TEXT NOT NULL DEFAULT '',
  annotations TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL, PRIMARY KEY(repo, digest));
CREATE INDEX manifests_subject ON manifests(repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs(
  repo TEXT COLLATE "C" NOT NULL, parent TEXT NOT NULL, child TEXT NOT NULL,
  PRIMARY KEY(repo, parent, child));
CREATE INDEX manifest_refs_child ON manifest_refs(repo, child);
CREATE TABLE tags(
  repo TEXT COLLATE "C" NOT NULL, tag TEXT COLLATE "C" NOT NULL, digest TEXT NOT NULL,
  updated BIGINT NOT NULL, PRIMARY KEY(repo, tag));
CREATE INDEX tags_digest ON tags(repo, digest);
CREATE TABLE uploads(
  id TEXT PRIMARY KEY, repo TEXT NOT NULL, created BIGINT NOT NULL,
  checkpoint TEXT NOT NULL DEFAULT '');
CREATE TABLE users(
  name TEXT COLLATE "C" PRIMARY KEY, password_hash TEXT NOT NULL,
  admin BOOLEAN NOT NULL DEFAULT false, disabled BOOLEAN NOT NULL DEFAULT false,
  credentials_changed BIGINT NOT NULL DEFAULT 0);
CREATE TABLE grants(
  username TEXT NOT NULL, prefix TEXT NOT NULL, actions TEXT NOT NULL,
  PRIMARY KEY(username, prefix));
CREATE TABLE api_tokens(
  id TEXT COLLATE "C" PRIMARY KEY, username TEXT NOT NULL, secret_hash TEXT NOT NULL,
  created BIGINT NOT NULL, expires BIGINT NOT NULL, description TEXT NOT NULL);
CREATE INDEX api_tokens_user ON api_tokens(username);
CREATE SEQUENCE events_id;
CREATE TABLE events(
  id BIGINT PRIMARY KEY, action TEXT NOT NULL, repo TEXT NOT NULL, tag TEXT NOT NULL,
  digest TEXT NOT NULL, media_type TEXT NOT NULL, actor TEXT NOT NULL, time BIGINT NOT NULL,
  size BIGINT NOT NULL DEFAULT 0, run TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '');
CREATE INDEX events_time ON events(time);
CREATE TABLE cursors(consumer TEXT PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE SEQUENCE runs_seq;
CREATE TABLE runs(
  seq BIGINT PRIMARY KEY, id TEXT UNIQUE NOT NULL, status TEXT NOT NULL, type TEXT NOT NULL,
  task TEXT NOT NULL, create_time BIGINT NOT NULL, start_time BIGINT NOT NULL,
  finish_time BIGINT NOT NULL, request TEXT NOT NULL, result TEXT NOT NULL, error TEXT NOT NULL,
  output_images TEXT NOT NULL, cause TEXT UNIQUE, pool TEXT NOT NULL DEFAULT '',
  platform TEXT NOT NULL DEFAULT '', agent TEXT NOT NULL DEFAULT '',
  attempt BIGINT NOT NULL DEFAULT 0, lease_expires BIGINT NOT NULL DEFAULT 0,
  not_before BIGINT NOT NULL DEFAULT 0, cancel_requested BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX runs_status ON runs(status, seq);
CREATE INDEX runs_queue ON runs(pool, seq) WHERE status='Queued';
CREATE INDEX runs_leases ON runs(lease_expires) WHERE status IN ('Started','Running');
CREATE TABLE agents(
  name TEXT COLLATE "C" PRIMARY KEY, pool TEXT NOT NULL, platforms TEXT NOT NULL,
  version TEXT NOT NULL, last_seen BIGINT NOT NULL);
CREATE TABLE tasks(
  name TEXT COLLATE "C" PRIMARY KEY, definition TEXT NOT NULL, state TEXT NOT NULL,
  create_time BIGINT NOT NULL, update_time BIGINT NOT NULL);
CREATE TABLE task_dependencies(
  task TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL,
  registry TEXT COLLATE "C" NOT NULL, repository TEXT COLLATE "C" NOT NULL,
  tag TEXT COLLATE "C" NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY(task, kind, registry, repository, tag));
CREATE INDEX task_dependencies_image ON task_dependencies(registry, repository, tag);
CREATE TABLE run_logs(
  run TEXT NOT NULL, at BIGINT NOT NULL, size BIGINT NOT NULL, data BYTEA NOT NULL,
  PRIMARY KEY(run, at));
CREATE TABLE leases(name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires BIGINT NOT NULL);
CREATE TABLE blob_deletions(digest TEXT PRIMARY KEY, since BIGINT NOT NULL);
)sql",
    // 2: what queued each run (SQLite's version 9); runs already there are
    // read from their request, always JSON here.
    R"sql(
ALTER TABLE runs ADD COLUMN trigger_name TEXT NOT NULL DEFAULT '';
UPDATE runs SET trigger_name = CASE
  WHEN request::jsonb #>> '{trigger,source,event_type}' = 'pullrequest' THEN 'Pull Request'
  WHEN jsonb_typeof(request::jsonb #> '{trigger,source}') = 'object' THEN 'Commit'
  WHEN jsonb_array_length(COALESCE(request::jsonb #> '{trigger,image_update}', '[]')) > 0
    THEN 'Image Update'
  WHEN jsonb_typeof(request::jsonb #> '{trigger,timer}') = 'object' THEN 'Timer'
  ELSE 'Manual' END;
)sql",
    // 3: the packages SBOMs list (SQLite's version 10).
    R"sql(
CREATE TABLE image_packages(
  repo TEXT COLLATE "C" NOT NULL, sbom TEXT NOT NULL, image TEXT NOT NULL, name TEXT NOT NULL,
  version TEXT COLLATE "C" NOT NULL, purl TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY(repo, sbom, name, version, purl));
CREATE INDEX image_packages_name ON image_packages(name, version);
)sql",
    // 4: a row per platform of a base (SQLite's version 11).
    R"sql(
ALTER TABLE task_dependencies ADD COLUMN platform TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE task_dependencies ADD COLUMN manifest TEXT NOT NULL DEFAULT '';
ALTER TABLE task_dependencies DROP CONSTRAINT task_dependencies_pkey;
ALTER TABLE task_dependencies ADD PRIMARY KEY(task, kind, registry, repository, tag, platform);
)sql",
};
constexpr int64_t kSchemaVersion = std::size(kMigrations);

// Held (per session) while migrating, so that servers starting together
// apply each migration once; and (per transaction) while writing an event,
// so that event ids commit in the order they were assigned and a consumer
// reading past id N never later finds a smaller id it skipped.
constexpr const char* kMigrationLock = "4242000001";
constexpr const char* kEventLock = "4242000002";

// LISTEN/NOTIFY channels: a run was queued (or queued again); an event was
// written.
constexpr const char* kRunsChannel = "drydock_runs";
constexpr const char* kEventsChannel = "drydock_events";

// Bounds what one request can cost the database: a stuck statement or a
// transaction left open by a hung server ends instead of holding locks.
constexpr const char* kSessionSetup =
    "SET statement_timeout = '30s'; SET idle_in_transaction_session_timeout = '60s'";

int64_t Now() { return internal::NowSeconds(); }

PgValue Int(int64_t v) { return std::to_string(v); }
// LIMIT NULL is no limit; -1 means that in the interface.
PgValue Limit(int64_t v) { return v < 0 ? PgValue() : Int(v); }
const std::string& Text(const Row& r, size_t i) {
  static const std::string kEmpty;
  return r[i] ? *r[i] : kEmpty;
}
int64_t Int(const Row& r, size_t i) { return r[i] ? std::stoll(*r[i]) : 0; }
bool Bool(const Row& r, size_t i) { return r[i] && *r[i] == "t"; }

// bytea in and out in PostgreSQL's hex text form ("\x6869").
std::string ToBytea(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}
std::string FromBytea(const std::string& text) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  if (text.size() < 2) return out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i + 1 < text.size(); i += 2)
    out.push_back(static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

RunRow ReadRun(const Row& r) {
  RunRow run;
  run.id = Text(r, 0);
  run.seq = Int(r, 1);
  run.status = Text(r, 2);
  run.type = Text(r, 3);
  run.task = Text(r, 4);
  run.create_time_ms = Int(r, 5);
  run.start_time_ms = Int(r, 6);
  run.finish_time_ms = Int(r, 7);
  run.request_json = Text(r, 8);
  run.result_json = Text(r, 9);
  run.error = Text(r, 10);
  run.output_images = Text(r, 11);
  run.cause = Text(r, 12);
  run.pool = Text(r, 13);
  run.platform = Text(r, 14);
  run.agent = Text(r, 15);
  run.attempt = Int(r, 16);
  run.lease_expires_ms = Int(r, 17);
  run.not_before_ms = Int(r, 18);
  run.cancel_requested = Bool(r, 19);
  run.trigger = Text(r, 20);
  return run;
}

std::vector<RunRow> ReadRuns(const PgRows& rows) {
  std::vector<RunRow> out;
  for (const auto& r : rows.rows) out.push_back(ReadRun(r));
  return out;
}

std::vector<std::string> Column(const PgRows& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows.rows) out.push_back(Text(r, 0));
  return out;
}

std::vector<DependencyRow> ReadDependencies(const PgRows& rows) {
  std::vector<DependencyRow> out;
  for (const auto& r : rows.rows)
    out.push_back({Text(r, 0), Text(r, 1), Text(r, 2), Text(r, 3), Text(r, 4), Text(r, 5),
                   Text(r, 6), Text(r, 7)});
  return out;
}

User ReadUser(const Row& r) {
  return User{Text(r, 0), Text(r, 1), Bool(r, 2), Bool(r, 3), Int(r, 4)};
}

ApiTokenRecord ReadToken(const Row& r) {
  return ApiTokenRecord{Text(r, 0), Text(r, 1), Text(r, 2), Int(r, 3), Int(r, 4), Text(r, 5)};
}

// One row of the event log in the caller's transaction (the outbox); call
// it last, as it serializes event writers until commit.
Status InsertEvent(PgConnection& c, const Event& e) {
  DD_RETURN_IF_ERROR(
      c.Exec(std::string("SELECT pg_advisory_xact_lock(") + kEventLock + ")").status());
  // Delivered at commit (and only then) to every listening server.
  DD_RETURN_IF_ERROR(
      c.Exec(std::string("SELECT pg_notify('") + kEventsChannel + "', '')").status());
  if (e.action == "run" && e.status == "Queued")
    DD_RETURN_IF_ERROR(
        c.Exec(std::string("SELECT pg_notify('") + kRunsChannel + "', '')").status());
  return c
      .Exec(
          "INSERT INTO events(id,action,repo,tag,digest,media_type,actor,time,size,run,status) "
          "VALUES(nextval('events_id'),$1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
          {e.action, e.repo, e.tag, e.digest, e.media_type, e.actor, Int(e.time), Int(e.size),
           e.run, e.status})
      .status();
}

Status EnsureRepo(PgConnection& c, const std::string& repo) {
  return c
      .Exec("INSERT INTO repositories(name,created) VALUES($1,$2) ON CONFLICT DO NOTHING",
            {repo, Int(Now())})
      .status();
}

// Returns how many manifests rows went (0 or 1).
Result<int64_t> DeleteManifestRows(PgConnection& c, const std::string& repo, const oci::Digest& d) {
  DD_RETURN_IF_ERROR(
      c.Exec("DELETE FROM tags WHERE repo=$1 AND digest=$2", {repo, d.str()}).status());
  DD_RETURN_IF_ERROR(
      c.Exec("DELETE FROM manifest_refs WHERE repo=$1 AND parent=$2", {repo, d.str()}).status());
  DD_RETURN_IF_ERROR(
      c.Exec("DELETE FROM image_packages WHERE repo=$1 AND sbom=$2", {repo, d.str()}).status());
  DD_ASSIGN_OR_RETURN(gone,
                      c.Exec("DELETE FROM manifests WHERE repo=$1 AND digest=$2", {repo, d.str()}));
  return gone.affected;
}

class PgMetadataStore final : public MetadataStore {
 public:
  explicit PgMetadataStore(std::string url) : url_(url), pool_(std::move(url), 16, kSessionSetup) {}

  ~PgMetadataStore() override {
    stop_ = true;
    if (listener_.joinable()) listener_.join();
  }

  void OnChange(std::function<void(Change)> fn) override {
    stop_ = true;
    if (listener_.joinable()) listener_.join();
    stop_ = false;
    if (fn) listener_ = std::thread([this, fn = std::move(fn)] { Listen(fn); });
  }

  Status Init() {
    return WithConnection([](PgConnection& c) -> Status {
      std::string lock = std::string("SELECT pg_advisory_lock(") + kMigrationLock + ")";
      DD_RETURN_IF_ERROR(c.Exec(lock).status());
      Status s = Migrate(c);
      auto unlock = c.Exec(std::string("SELECT pg_advisory_unlock(") + kMigrationLock + ")");
      DD_RETURN_IF_ERROR(s);
      return unlock.status();
    });
  }

  Status LinkBlob(const std::string& repo, const oci::Digest& d, uint64_t size) override {
    return Tx([&](PgConnection& c) -> Status {
      // Serializable: against a concurrent BeginBlobDelete, one of the two
      // fails and runs again, seeing the other's row.
      DD_ASSIGN_OR_RETURN(deleting,
                          c.Exec("SELECT 1 FROM blob_deletions WHERE digest=$1 AND since>$2",
                                 {d.str(), Int(Now() - kBlobDeleteClaimSeconds)}));
      if (!deleting.rows.empty()) return internal::BlobBeingDeleted(d);
      DD_RETURN_IF_ERROR(EnsureRepo(c, repo));
      return c
          .Exec(
              "INSERT INTO blob_links(repo,digest,size,created) VALUES($1,$2,$3,$4) "
              "ON CONFLICT(repo,digest) DO UPDATE SET created=excluded.created",
              {repo, d.str(), Int(static_cast<int64_t>(size)), Int(Now())})
          .status();
    });
  }

  Result<std::optional<uint64_t>> LinkedBlobSize(const std::string& repo,
                                                 const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT size FROM blob_links WHERE repo=$1 AND digest=$2", {repo, d.str()}));
    if (r.rows.empty()) return std::optional<uint64_t>();
    return std::optional<uint64_t>(static_cast<uint64_t>(Int(r.rows[0], 0)));
  }

  Status UnlinkBlob(const std::string& repo, const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("DELETE FROM blob_links WHERE repo=$1 AND digest=$2", {repo, d.str()}));
    if (r.affected == 0) return NotFound("blob " + d.str() + " is not in repository " + repo);
    return Status::Ok();
  }

  Result<bool> AnyLink(const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT 1 FROM blob_links WHERE digest=$1 LIMIT 1", {d.str()}));
    return !r.rows.empty();
  }

  Result<TagChange> PutManifest(const ManifestPut& put) override {
    const auto& m = put.record;
    TagChange change;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      change = {};
      for (const auto& b : put.blobs) {
        DD_ASSIGN_OR_RETURN(
            r, c.Exec("SELECT 1 FROM blob_links WHERE repo=$1 AND digest=$2", {m.repo, b.str()}));
        if (r.rows.empty())
          return NotFound("blob " + b.str() + " referenced by the manifest is not in repository " +
                          m.repo);
      }
      for (const auto& child : put.manifests) {
        DD_ASSIGN_OR_RETURN(r, c.Exec("SELECT 1 FROM manifests WHERE repo=$1 AND digest=$2",
                                      {m.repo, child.str()}));
        if (r.rows.empty())
          return NotFound("manifest " + child.str() +
                          " referenced by the index is not in repository " + m.repo);
      }
      DD_RETURN_IF_ERROR(EnsureRepo(c, m.repo));
      DD_RETURN_IF_ERROR(
          c.Exec("INSERT INTO manifests(repo,digest,media_type,content,subject,artifact_type,"
                 "annotations,created) VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
                 {m.repo, m.digest.str(), m.media_type, ToBytea(m.content),
                  m.subject ? PgValue(m.subject->str()) : PgValue(), m.artifact_type,
                  m.annotations_json, Int(Now())})
              .status());
      std::set<std::string> children;
      for (const auto& b : put.blobs) children.insert(b.str());
      for (const auto& x : put.manifests) children.insert(x.str());
      for (const auto& child : children) {
        DD_RETURN_IF_ERROR(c.Exec("INSERT INTO manifest_refs(repo,parent,child) VALUES($1,$2,$3) "
                                  "ON CONFLICT DO NOTHING",
                                  {m.repo, m.digest.str(), child})
                               .status());
      }
      for (const auto& p : put.packages) {
        if (!m.subject) break;
        DD_RETURN_IF_ERROR(
            c.Exec("INSERT INTO image_packages(repo,sbom,image,name,version,purl) "
                   "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
                   {m.repo, m.digest.str(), m.subject->str(), p.name, p.version, p.purl})
                .status());
      }
      if (put.tag) {
        DD_ASSIGN_OR_RETURN(
            had, c.Exec("SELECT digest FROM tags WHERE repo=$1 AND tag=$2", {m.repo, *put.tag}));
        if (!had.rows.empty()) change.previous = *oci::Digest::Parse(Text(had.rows[0], 0));
        DD_RETURN_IF_ERROR(c.Exec("INSERT INTO tags(repo,tag,digest,updated) VALUES($1,$2,$3,$4) "
                                  "ON CONFLICT(repo,tag) DO UPDATE SET "
                                  "digest=excluded.digest, updated=excluded.updated",
                                  {m.repo, *put.tag, m.digest.str(), Int(Now())})
                               .status());
      }
      return InsertEvent(
          c, RegistryEvent("push", m.repo, put.tag.value_or(""), m.digest.str(), m.media_type,
                           put.actor, static_cast<int64_t>(m.content.size())));
    }));
    return change;
  }

  Result<ManifestRecord> GetManifest(const std::string& repo, const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT media_type, content, subject, artifact_type, "
                                 "annotations, created FROM manifests WHERE repo=$1 AND digest=$2",
                                 {repo, d.str()}));
    if (r.rows.empty()) return NotFound("manifest " + d.str() + " not found in " + repo);
    const Row& row = r.rows[0];
    ManifestRecord m;
    m.repo = repo;
    m.digest = d;
    m.media_type = Text(row, 0);
    m.content = FromBytea(Text(row, 1));
    if (row[2]) m.subject = *oci::Digest::Parse(*row[2]);
    m.artifact_type = Text(row, 3);
    m.annotations_json = Text(row, 4);
    m.created = Int(row, 5);
    return m;
  }

  Result<oci::Digest> ResolveTag(const std::string& repo, const std::string& tag) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT digest FROM tags WHERE repo=$1 AND tag=$2", {repo, tag}));
    if (r.rows.empty()) return NotFound("tag " + tag + " not found in " + repo);
    return oci::Digest::Parse(Text(r.rows[0], 0));
  }

  Result<std::vector<std::string>> DeleteManifest(const std::string& repo, const oci::Digest& d,
                                                  const std::string& actor) override {
    std::vector<std::string> tags;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(t, c.Exec("SELECT tag FROM tags WHERE repo=$1 AND digest=$2 ORDER BY tag",
                                    {repo, d.str()}));
      tags = Column(t);
      DD_ASSIGN_OR_RETURN(gone, DeleteManifestRows(c, repo, d));
      if (gone == 0) return NotFound("manifest " + d.str() + " not found in " + repo);
      DD_RETURN_IF_ERROR(InsertEvent(c, RegistryEvent("delete", repo, "", d.str(), "", actor)));
      for (const auto& tag : tags)
        DD_RETURN_IF_ERROR(InsertEvent(c, RegistryEvent("delete", repo, tag, d.str(), "", actor)));
      return Status::Ok();
    }));
    return tags;
  }

  Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag,
                                const std::string& actor) override {
    std::string digest;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(
          r, c.Exec("DELETE FROM tags WHERE repo=$1 AND tag=$2 RETURNING digest", {repo, tag}));
      if (r.rows.empty()) return NotFound("tag " + tag + " not found in " + repo);
      digest = Text(r.rows[0], 0);
      return InsertEvent(c, RegistryEvent("delete", repo, tag, digest, "", actor));
    }));
    return oci::Digest::Parse(digest);
  }

  Result<std::vector<std::string>> ListTags(const std::string& repo, const Page& page) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT tag FROM tags WHERE repo=$1 AND tag>$2 ORDER BY tag "
                                 "LIMIT $3::bigint",
                                 {repo, page.last, Limit(page.limit)}));
    return Column(r);
  }

  Result<bool> RepositoryExists(const std::string& repo) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT 1 FROM repositories WHERE name=$1", {repo}));
    return !r.rows.empty();
  }

  Result<std::vector<std::string>> ListRepositories(const Page& page) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT name FROM repositories WHERE name>$1 ORDER BY name LIMIT $2::bigint",
                 {page.last, Limit(page.limit)}));
    return Column(r);
  }

  Result<std::vector<std::string>> ListRepositoriesWithManifests(const Page& page) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT name FROM repositories r WHERE name>$1 AND EXISTS "
                                 "(SELECT 1 FROM manifests m WHERE m.repo=r.name) "
                                 "ORDER BY name LIMIT $2::bigint",
                                 {page.last, Limit(page.limit)}));
    return Column(r);
  }

  Result<bool> HasManifests(const std::string& repo) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT 1 FROM manifests WHERE repo=$1 LIMIT 1", {repo}));
    return !r.rows.empty();
  }

  Result<std::vector<PackageMatch>> FindPackage(const std::string& name, const std::string& version,
                                                int64_t limit) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT p.repo, p.image, min(p.sbom), p.name, p.version, p.purl "
                 "FROM image_packages p WHERE p.name=$1 AND ($2='' OR p.version=$2) "
                 "AND EXISTS(SELECT 1 FROM manifests m WHERE m.repo=p.repo AND m.digest=p.image) "
                 "GROUP BY p.repo, p.image, p.name, p.version, p.purl "
                 "ORDER BY p.repo, p.image, p.version, p.purl LIMIT $3",
                 {name, version, Limit(limit)}));
    std::vector<PackageMatch> out;
    for (const auto& row : r.rows) {
      PackageMatch match{Text(row, 0),
                         *oci::Digest::Parse(Text(row, 1)),
                         *oci::Digest::Parse(Text(row, 2)),
                         PackageRecord{Text(row, 3), Text(row, 4), Text(row, 5)},
                         {}};
      DD_ASSIGN_OR_RETURN(tags, Query("SELECT tag FROM tags WHERE repo=$1 AND digest=$2 "
                                      "ORDER BY tag COLLATE \"C\"",
                                      {match.repo, match.image.str()}));
      for (const auto& t : tags.rows) match.tags.push_back(Text(t, 0));
      out.push_back(std::move(match));
    }
    return out;
  }

  Result<std::vector<Referrer>> ListReferrers(const std::string& repo,
                                              const oci::Digest& subject) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT digest, media_type, octet_length(content), artifact_type, annotations "
                 "FROM manifests WHERE repo=$1 AND subject=$2 ORDER BY created, digest",
                 {repo, subject.str()}));
    std::vector<Referrer> out;
    for (const auto& row : r.rows)
      out.push_back(Referrer{*oci::Digest::Parse(Text(row, 0)), Text(row, 1), Int(row, 2),
                             Text(row, 3), Text(row, 4)});
    return out;
  }

  Status CreateUpload(const UploadRecord& u) override {
    return Query("INSERT INTO uploads(id,repo,created,checkpoint) VALUES($1,$2,$3,$4)",
                 {u.id, u.repo, Int(u.created), u.checkpoint})
        .status();
  }

  Result<UploadRecord> GetUpload(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(r,
                        Query("SELECT repo, created, checkpoint FROM uploads WHERE id=$1", {id}));
    if (r.rows.empty()) return NotFound("upload " + id + " not found");
    return UploadRecord{id, Text(r.rows[0], 0), Int(r.rows[0], 1), Text(r.rows[0], 2)};
  }

  Result<bool> AdvanceUpload(const std::string& id, const std::string& from,
                             const std::string& to) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("UPDATE uploads SET checkpoint=$3 WHERE id=$1 AND checkpoint=$2", {id, from, to}));
    if (r.affected == 1) return true;
    DD_ASSIGN_OR_RETURN(exists, Query("SELECT 1 FROM uploads WHERE id=$1", {id}));
    if (exists.rows.empty()) return NotFound("upload " + id + " not found");
    return false;
  }

  Status DeleteUpload(const std::string& id) override {
    return Query("DELETE FROM uploads WHERE id=$1", {id}).status();
  }

  Result<std::vector<UploadRecord>> ListUploads() override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT id, repo, created, checkpoint FROM uploads"));
    std::vector<UploadRecord> out;
    for (const auto& row : r.rows)
      out.push_back(UploadRecord{Text(row, 0), Text(row, 1), Int(row, 2), Text(row, 3)});
    return out;
  }

  Status PutUser(const User& u) override {
    return Query(
               "INSERT INTO users(name,password_hash,admin,disabled,credentials_changed) "
               "VALUES($1,$2,$3,$4,$5) ON CONFLICT(name) DO UPDATE SET "
               "password_hash=excluded.password_hash, admin=excluded.admin, "
               "disabled=excluded.disabled, credentials_changed=excluded.credentials_changed",
               {u.name, u.password_hash, u.admin ? "t" : "f", u.disabled ? "t" : "f",
                Int(u.credentials_changed)})
        .status();
  }

  Result<User> GetUser(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT name, password_hash, admin, disabled, "
                                 "credentials_changed FROM users WHERE name=$1",
                                 {name}));
    if (r.rows.empty()) return NotFound("user " + name + " not found");
    return ReadUser(r.rows[0]);
  }

  Result<std::vector<User>> ListUsers() override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT name, password_hash, admin, disabled, "
                                 "credentials_changed FROM users ORDER BY name"));
    std::vector<User> out;
    for (const auto& row : r.rows) out.push_back(ReadUser(row));
    return out;
  }

  Status DeleteUser(const std::string& name) override {
    return Tx([&](PgConnection& c) -> Status {
      DD_RETURN_IF_ERROR(c.Exec("DELETE FROM grants WHERE username=$1", {name}).status());
      DD_RETURN_IF_ERROR(c.Exec("DELETE FROM api_tokens WHERE username=$1", {name}).status());
      DD_ASSIGN_OR_RETURN(r, c.Exec("DELETE FROM users WHERE name=$1", {name}));
      if (r.affected == 0) return NotFound("user " + name + " not found");
      return Status::Ok();
    });
  }

  Status PutApiToken(const ApiTokenRecord& t) override {
    return Query(
               "INSERT INTO api_tokens(id,username,secret_hash,created,expires,description) "
               "VALUES($1,$2,$3,$4,$5,$6)",
               {t.id, t.user, t.secret_hash, Int(t.created), Int(t.expires), t.description})
        .status();
  }

  Result<ApiTokenRecord> GetApiToken(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT id, username, secret_hash, created, expires, description "
                                 "FROM api_tokens WHERE id=$1",
                                 {id}));
    if (r.rows.empty()) return NotFound("API token " + id + " not found");
    return ReadToken(r.rows[0]);
  }

  Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT id, username, secret_hash, created, expires, description "
                                 "FROM api_tokens WHERE $1='' OR username=$1 ORDER BY created, id",
                                 {user}));
    std::vector<ApiTokenRecord> out;
    for (const auto& row : r.rows) out.push_back(ReadToken(row));
    return out;
  }

  Status DeleteApiToken(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(r, Query("DELETE FROM api_tokens WHERE id=$1", {id}));
    if (r.affected == 0) return NotFound("API token " + id + " not found");
    return Status::Ok();
  }

  Result<int64_t> DeleteApiTokensOf(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(r, Query("DELETE FROM api_tokens WHERE username=$1", {user}));
    return r.affected;
  }

  Result<int64_t> CountUsers() override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT count(*) FROM users"));
    return Int(r.rows.at(0), 0);
  }

  Status SetGrants(const std::string& user, const std::vector<Grant>& grants) override {
    return Tx([&](PgConnection& c) -> Status {
      DD_RETURN_IF_ERROR(c.Exec("DELETE FROM grants WHERE username=$1", {user}).status());
      for (const auto& g : grants) {
        DD_RETURN_IF_ERROR(c.Exec("INSERT INTO grants(username,prefix,actions) VALUES($1,$2,$3) "
                                  "ON CONFLICT(username,prefix) DO UPDATE SET "
                                  "actions=excluded.actions",
                                  {user, g.prefix, g.actions})
                               .status());
      }
      return Status::Ok();
    });
  }

  Result<std::vector<Grant>> GetGrants(const std::string& user) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT prefix, actions FROM grants WHERE username=$1", {user}));
    std::vector<Grant> out;
    for (const auto& row : r.rows) out.push_back(Grant{Text(row, 0), Text(row, 1)});
    return out;
  }

  Result<std::vector<Event>> EventsAfter(int64_t id, int64_t limit) override {
    return ReadEvents(
        "SELECT id,action,repo,tag,digest,media_type,actor,time,size,run,status FROM events "
        "WHERE id>$1 ORDER BY id LIMIT $2::bigint",
        {Int(id), Limit(limit)});
  }

  Result<std::vector<Event>> NewestEvents(int64_t limit) override {
    return ReadEvents(
        "SELECT * FROM (SELECT id,action,repo,tag,digest,media_type,actor,time,size,run,status "
        "FROM events ORDER BY id DESC LIMIT $1::bigint) newest ORDER BY id",
        {Limit(limit)});
  }

  Result<std::vector<Event>> ReadEvents(const char* sql, const std::vector<PgValue>& params) {
    DD_ASSIGN_OR_RETURN(r, Query(sql, params));
    std::vector<Event> out;
    for (const auto& row : r.rows)
      out.push_back(Event{Int(row, 0), Text(row, 1), Text(row, 2), Text(row, 3), Text(row, 4),
                          Text(row, 5), Text(row, 6), Int(row, 7), Int(row, 8), Text(row, 9),
                          Text(row, 10)});
    return out;
  }

  Result<int64_t> PruneEvents(int64_t before, int64_t keep) override {
    // Ids have gaps (a rolled-back transaction's ids are not reused), so
    // "the newest `keep`" is counted, not computed from the largest id.
    DD_ASSIGN_OR_RETURN(
        r, Query("DELETE FROM events WHERE time<$1 AND id<=(SELECT id FROM events ORDER BY id "
                 "DESC OFFSET $2::bigint LIMIT 1)",
                 {Int(before), Int(keep)}));
    return r.affected;
  }

  Result<int64_t> InitCursor(const std::string& consumer) override {
    DD_RETURN_IF_ERROR(Query("INSERT INTO cursors(consumer,position) VALUES($1,"
                             "(SELECT coalesce(max(id),0) FROM events)) ON CONFLICT DO NOTHING",
                             {consumer})
                           .status());
    DD_ASSIGN_OR_RETURN(r, Query("SELECT position FROM cursors WHERE consumer=$1", {consumer}));
    if (r.rows.empty()) return Internal("cursor " + consumer + " vanished");
    return Int(r.rows[0], 0);
  }

  Status AdvanceCursor(const std::string& consumer, int64_t position) override {
    return Query(
               "INSERT INTO cursors(consumer,position) VALUES($1,$2) ON CONFLICT(consumer) DO "
               "UPDATE SET position=GREATEST(cursors.position, excluded.position)",
               {consumer, Int(position)})
        .status();
  }

  Result<std::optional<std::string>> GetSetting(const std::string& key) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT value FROM settings WHERE key=$1", {key}));
    if (r.rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(Text(r.rows[0], 0));
  }

  Result<std::string> InitSetting(const std::string& key, const std::string& value) override {
    DD_RETURN_IF_ERROR(
        Query("INSERT INTO settings(key,value) VALUES($1,$2) ON CONFLICT DO NOTHING", {key, value})
            .status());
    DD_ASSIGN_OR_RETURN(v, GetSetting(key));
    if (!v) return Internal("setting " + key + " vanished");
    return *v;
  }

  Result<CreatedRun> CreateRun(const std::string& cause,
                               const std::function<RunRow(int64_t)>& make_row) override {
    CreatedRun created;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      if (!cause.empty()) {
        DD_ASSIGN_OR_RETURN(found, c.Exec("SELECT seq FROM runs WHERE cause=$1", {cause}));
        if (!found.rows.empty()) {
          created = CreatedRun{Int(found.rows[0], 0), false};
          return Status::Ok();
        }
      }
      DD_ASSIGN_OR_RETURN(next, c.Exec("SELECT nextval('runs_seq')"));
      int64_t seq = Int(next.rows.at(0), 0);
      RunRow row = make_row(seq);
      DD_RETURN_IF_ERROR(
          c.Exec("INSERT INTO runs(seq,id,status,type,task,create_time,start_time,finish_time,"
                 "request,result,error,output_images,cause,pool,platform,trigger_name) "
                 "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
                 {Int(seq), row.id, row.status, row.type, row.task, Int(row.create_time_ms),
                  Int(row.start_time_ms), Int(row.finish_time_ms), row.request_json,
                  row.result_json, row.error, row.output_images,
                  cause.empty() ? PgValue() : PgValue(cause), row.pool, row.platform, row.trigger})
              .status());
      created = CreatedRun{seq, true};
      return InsertEvent(c, RunEvent(row.id, row.status));
    }));
    return created;
  }

  Result<bool> UpdateRun(const RunRow& row, const std::vector<std::string>& if_status) override {
    return Update(row, if_status, 0);
  }

  Result<bool> UpdateClaimedRun(const RunRow& row, int64_t attempt) override {
    if (attempt < 1) return Invalid("attempt " + std::to_string(attempt) + " never holds a run");
    return Update(row, {}, attempt);
  }

  // The run's platforms (a comma list) all in `set` (",a,b,").
#define DD_ALL_PLATFORMS_IN(set)                      \
  "string_to_array(replace(platform,' ',''),',') <@ " \
  "string_to_array(trim(both ',' from " set "),',')"
  Result<std::optional<RunRow>> ClaimRun(const RunClaimFilter& f, int64_t now_ms,
                                         int64_t lease_ms) override {
    std::optional<RunRow> claimed;
    DD_RETURN_IF_ERROR(Tx(
        [&](PgConnection& c) -> Status {
          claimed.reset();
          DD_ASSIGN_OR_RETURN(
              r, c.Exec("UPDATE runs SET status='Started', agent=$3, attempt=attempt+1, "
                        "lease_expires=$4::bigint, cancel_requested=false, "
                        "start_time=CASE WHEN start_time=0 THEN $2::bigint ELSE start_time END "
                        "WHERE seq=(SELECT seq FROM runs WHERE status='Queued' AND pool=$1 AND "
                        "not_before<=$2::bigint AND ($5='' OR " DD_ALL_PLATFORMS_IN(
                            "$5") " OR "
                                  "($6<>'' AND create_time<=$7::bigint AND " DD_ALL_PLATFORMS_IN(
                                      "$6") ")) "
                                            "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
                                            "AND status='Queued' RETURNING " DD_RUN_COLUMNS,
                        {f.pool, Int(now_ms), f.agent, Int(now_ms + lease_ms), NativeSet(f),
                         EmulatedSet(f), Int(now_ms - f.emulated_after_ms)}));
          if (r.rows.empty()) return Status::Ok();
          claimed = ReadRun(r.rows[0]);
          return InsertEvent(c, RunEvent(claimed->id, "Started"));
        },
        Isolation::kReadCommitted));
    return claimed;
  }
#undef DD_ALL_PLATFORMS_IN

  Result<bool> RenewRunLease(const std::string& id, int64_t attempt, int64_t now_ms,
                             int64_t lease_ms) override {
    DD_ASSIGN_OR_RETURN(r, Query("UPDATE runs SET lease_expires=$3 WHERE id=$1 AND attempt=$2 AND "
                                 "status IN ('Started','Running') RETURNING cancel_requested",
                                 {id, Int(attempt), Int(now_ms + lease_ms)}));
    if (r.rows.empty())
      return Conflict("attempt " + std::to_string(attempt) + " of run " + id +
                      " no longer holds it (its lease expired, or the run ended)");
    return Bool(r.rows[0], 0);
  }

  Result<bool> RequestRunCancel(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(r, Query("UPDATE runs SET cancel_requested=true WHERE id=$1 AND "
                                 "status IN ('Started','Running')",
                                 {id}));
    return r.affected > 0;
  }

  Status TouchAgent(const AgentRow& a) override {
    return Query(
               "INSERT INTO agents(name,pool,platforms,version,last_seen) VALUES($1,$2,$3,$4,$5) "
               "ON CONFLICT(name) DO UPDATE SET pool=excluded.pool, "
               "platforms=excluded.platforms, version=excluded.version, "
               "last_seen=GREATEST(agents.last_seen, excluded.last_seen)",
               {a.name, a.pool, a.platforms, a.version, Int(a.last_seen_ms)})
        .status();
  }

  Result<std::vector<AgentRow>> ListAgents() override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT name,pool,platforms,version,last_seen FROM agents ORDER BY name"));
    std::vector<AgentRow> out;
    for (const auto& row : r.rows)
      out.push_back({Text(row, 0), Text(row, 1), Text(row, 2), Text(row, 3), Int(row, 4)});
    return out;
  }

  Status DeleteAgent(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(r, Query("DELETE FROM agents WHERE name=$1", {name}));
    if (r.affected == 0) return NotFound("agent " + name + " does not exist");
    return Status::Ok();
  }

  Result<std::vector<RunRow>> ExpiredRunLeases(int64_t now_ms) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT " DD_RUN_COLUMNS " FROM runs WHERE "
                                 "status IN ('Started','Running') AND lease_expires<$1 "
                                 "ORDER BY seq",
                                 {Int(now_ms)}));
    return ReadRuns(r);
  }

  Result<RunRow> GetRun(const std::string& id) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT " DD_RUN_COLUMNS " FROM runs WHERE id=$1", {id}));
    if (r.rows.empty()) return NotFound("run " + id + " does not exist");
    return ReadRun(r.rows[0]);
  }

  Result<std::vector<RunRow>> ListRuns(const RunQuery& q) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("SELECT " DD_RUN_COLUMNS " FROM runs "
                 "WHERE ($1='' OR status=$1) AND ($2='' OR task=$2) AND "
                 "($3='' OR strpos(output_images, $3)>0) AND "
                 "($5='' OR trigger_name=$5) AND create_time>=$6::bigint "
                 "ORDER BY seq DESC LIMIT $4::bigint",
                 {q.status, q.task, q.image, Limit(q.top), q.trigger, Int(q.created_after_ms)}));
    return ReadRuns(r);
  }

  Result<std::vector<RunRow>> RunsWithStatus(const std::vector<std::string>& statuses,
                                             int64_t limit) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT " DD_RUN_COLUMNS " FROM runs WHERE "
                                 "strpos($1, ','||status||',')>0 ORDER BY seq LIMIT $2::bigint",
                                 {CommaSet(statuses), Limit(limit)}));
    return ReadRuns(r);
  }

  Status CreateTask(const TaskRow& row) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("INSERT INTO tasks(name,definition,state,create_time,update_time) "
                 "VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
                 {row.name, row.definition_json, row.state_json.empty() ? "{}" : row.state_json,
                  Int(row.create_time_ms), Int(row.update_time_ms)}));
    if (r.affected == 0) return Conflict("task " + row.name + " already exists");
    return Status::Ok();
  }

  Status UpdateTask(const TaskRow& row) override {
    DD_ASSIGN_OR_RETURN(r, Query("UPDATE tasks SET definition=$1, update_time=$2 WHERE name=$3",
                                 {row.definition_json, Int(row.update_time_ms), row.name}));
    if (r.affected == 0) return NotFound("task " + row.name + " does not exist");
    return Status::Ok();
  }

  Result<bool> SwapTaskState(const std::string& name, const std::string& from,
                             const std::string& to) override {
    DD_ASSIGN_OR_RETURN(
        r, Query("UPDATE tasks SET state=$1 WHERE name=$2 AND state=$3", {to, name, from}));
    if (r.affected == 1) return true;
    DD_ASSIGN_OR_RETURN(exists, Query("SELECT 1 FROM tasks WHERE name=$1", {name}));
    if (exists.rows.empty()) return NotFound("task " + name + " does not exist");
    return false;
  }

  Result<TaskRow> GetTask(const std::string& name) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT name,definition,state,create_time,update_time "
                                 "FROM tasks WHERE name=$1",
                                 {name}));
    if (r.rows.empty()) return NotFound("task " + name + " does not exist");
    const Row& row = r.rows[0];
    return TaskRow{Text(row, 0), Text(row, 1), Text(row, 2), Int(row, 3), Int(row, 4)};
  }

  Result<std::vector<TaskRow>> ListTasks() override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT name,definition,state,create_time,update_time "
                                 "FROM tasks ORDER BY name"));
    std::vector<TaskRow> out;
    for (const auto& row : r.rows)
      out.push_back(TaskRow{Text(row, 0), Text(row, 1), Text(row, 2), Int(row, 3), Int(row, 4)});
    return out;
  }

  Status DeleteTask(const std::string& name) override {
    return Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(r, c.Exec("DELETE FROM tasks WHERE name=$1", {name}));
      if (r.affected == 0) return NotFound("task " + name + " does not exist");
      return c.Exec("DELETE FROM task_dependencies WHERE task=$1", {name}).status();
    });
  }

  Status SetDependencies(const std::string& task, const std::vector<DependencyRow>& rows) override {
    return Tx([&](PgConnection& c) -> Status {
      DD_RETURN_IF_ERROR(c.Exec("DELETE FROM task_dependencies WHERE task=$1", {task}).status());
      for (const auto& r : rows) {
        DD_RETURN_IF_ERROR(
            c.Exec(
                 "INSERT INTO task_dependencies(task,kind,registry,repository,tag,digest,"
                 "platform,manifest) VALUES($1,$2,$3,$4,$5,$6,$7,$8) "
                 "ON CONFLICT(task,kind,registry,repository,tag,platform) DO "
                 "UPDATE SET digest=excluded.digest, manifest=excluded.manifest",
                 {task, r.kind, r.registry, r.repository, r.tag, r.digest, r.platform, r.manifest})
                .status());
      }
      return Status::Ok();
    });
  }

  Result<std::vector<DependencyRow>> Dependencies(const std::string& task) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT task,kind,registry,repository,tag,digest,platform,"
                                 "manifest FROM task_dependencies WHERE $1='' OR task=$1 "
                                 "ORDER BY task, kind DESC, registry, repository, tag, platform",
                                 {task}));
    return ReadDependencies(r);
  }

  Result<std::vector<DependencyRow>> Dependents(const std::string& registry,
                                                const std::string& repository,
                                                const std::string& tag) override {
    DD_ASSIGN_OR_RETURN(r, Query("SELECT task,kind,registry,repository,tag,digest,platform,"
                                 "manifest FROM task_dependencies WHERE registry=$1 AND "
                                 "repository=$2 AND tag=$3 ORDER BY task, kind DESC, platform",
                                 {registry, repository, tag}));
    return ReadDependencies(r);
  }

  Result<uint64_t> AppendLog(const std::string& run, std::optional<uint64_t> offset,
                             std::string_view data) override {
    uint64_t end = 0;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      // The run's newest chunk, locked: appends to one log take turns.
      DD_ASSIGN_OR_RETURN(last, c.Exec("SELECT at+size FROM run_logs WHERE run=$1 ORDER BY at "
                                       "DESC LIMIT 1 FOR UPDATE",
                                       {run}));
      uint64_t size = last.rows.empty() ? 0 : static_cast<uint64_t>(Int(last.rows[0], 0));
      if (offset && *offset > size)
        return Conflict("the log of run " + run + " has " + std::to_string(size) +
                        " bytes: an append at " + std::to_string(*offset) + " would leave a gap");
      std::string_view rest = data;
      if (offset) rest.remove_prefix(std::min<uint64_t>(size - *offset, rest.size()));
      end = size + rest.size();
      if (rest.empty()) return Status::Ok();
      return c
          .Exec("INSERT INTO run_logs(run,at,size,data) VALUES($1,$2,$3,$4)",
                {run, Int(static_cast<int64_t>(size)), Int(static_cast<int64_t>(rest.size())),
                 ToBytea(std::string(rest))})
          .status();
    }));
    return end;
  }

  Result<LogSlice> ReadLog(const std::string& run, uint64_t offset, size_t max_bytes) override {
    LogSlice slice;
    DD_ASSIGN_OR_RETURN(
        last, Query("SELECT at+size FROM run_logs WHERE run=$1 ORDER BY at DESC LIMIT 1", {run}));
    slice.size = last.rows.empty() ? 0 : static_cast<uint64_t>(Int(last.rows[0], 0));
    if (offset >= slice.size) return slice;
    size_t want = std::min<uint64_t>(max_bytes, slice.size - offset);
    // Logs only grow: chunks past the size read above are left out. The
    // chunks needed are those from `offset` up to offset + want.
    DD_ASSIGN_OR_RETURN(
        chunks,
        Query("SELECT at, data FROM run_logs WHERE run=$1 AND at+size>$2 AND at<$3 "
              "ORDER BY at",
              {run, Int(static_cast<int64_t>(offset)), Int(static_cast<int64_t>(offset + want))}));
    for (const auto& row : chunks.rows) {
      if (slice.data.size() >= want) break;
      uint64_t at = static_cast<uint64_t>(Int(row, 0));
      std::string chunk = FromBytea(Text(row, 1));
      size_t skip = offset > at ? static_cast<size_t>(offset - at) : 0;
      if (skip < chunk.size()) slice.data.append(chunk, skip, want - slice.data.size());
    }
    return slice;
  }

  Result<bool> TakeLease(const std::string& name, const std::string& holder, int64_t now_ms,
                         int64_t ttl_ms) override {
    DD_ASSIGN_OR_RETURN(r, Query("INSERT INTO leases(name,holder,expires) VALUES($1,$2,$3) "
                                 "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, "
                                 "expires=excluded.expires WHERE leases.holder=excluded.holder OR "
                                 "leases.expires<$4::bigint",
                                 {name, holder, Int(now_ms + ttl_ms), Int(now_ms)}));
    return r.affected > 0;
  }

  Status DropLease(const std::string& name, const std::string& holder) override {
    return Query("DELETE FROM leases WHERE name=$1 AND holder=$2", {name, holder}).status();
  }

  Result<std::vector<std::string>> AllRepositories() override { return ListRepositories(Page{}); }

  Result<RepoGraph> LoadRepoGraph(const std::string& repo) override {
    RepoGraph g;
    // One snapshot for the three reads, so the graph is consistent.
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      g = {};
      std::map<std::string, size_t> index;
      DD_ASSIGN_OR_RETURN(m, c.Exec("SELECT digest, created, subject, EXISTS(SELECT 1 FROM tags t "
                                    "WHERE t.repo=m.repo AND t.digest=m.digest) "
                                    "FROM manifests m WHERE repo=$1",
                                    {repo}));
      for (const auto& row : m.rows) {
        RepoGraph::Node n;
        n.digest = *oci::Digest::Parse(Text(row, 0));
        n.created = Int(row, 1);
        if (row[2]) n.subject = *oci::Digest::Parse(*row[2]);
        n.tagged = Bool(row, 3);
        index[Text(row, 0)] = g.manifests.size();
        g.manifests.push_back(std::move(n));
      }
      DD_ASSIGN_OR_RETURN(refs,
                          c.Exec("SELECT parent, child FROM manifest_refs WHERE repo=$1", {repo}));
      for (const auto& row : refs.rows) {
        auto it = index.find(Text(row, 0));
        if (it != index.end())
          g.manifests[it->second].children.push_back(*oci::Digest::Parse(Text(row, 1)));
      }
      DD_ASSIGN_OR_RETURN(links,
                          c.Exec("SELECT digest, created FROM blob_links WHERE repo=$1", {repo}));
      for (const auto& row : links.rows)
        g.links.emplace_back(*oci::Digest::Parse(Text(row, 0)), Int(row, 1));
      return Status::Ok();
    }));
    return g;
  }

  Result<bool> DeleteManifestIfUnreferenced(const std::string& repo,
                                            const oci::Digest& d) override {
    bool deleted = false;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(r,
                          c.Exec("SELECT EXISTS(SELECT 1 FROM tags WHERE repo=$1 AND digest=$2) OR "
                                 "EXISTS(SELECT 1 FROM manifest_refs WHERE repo=$1 AND child=$2)",
                                 {repo, d.str()}));
      deleted = !Bool(r.rows.at(0), 0);
      if (!deleted) return Status::Ok();
      return DeleteManifestRows(c, repo, d).status();
    }));
    return deleted;
  }

  Result<bool> BeginBlobDelete(const oci::Digest& d, int64_t now) override {
    bool claimed = false;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(linked,
                          c.Exec("SELECT 1 FROM blob_links WHERE digest=$1 LIMIT 1", {d.str()}));
      claimed = linked.rows.empty();
      if (!claimed) return Status::Ok();
      return c
          .Exec(
              "INSERT INTO blob_deletions(digest,since) VALUES($1,$2) ON CONFLICT(digest) DO "
              "UPDATE SET since=excluded.since",
              {d.str(), Int(now)})
          .status();
    }));
    return claimed;
  }

  Status EndBlobDelete(const oci::Digest& d) override {
    return Query("DELETE FROM blob_deletions WHERE digest=$1", {d.str()}).status();
  }

  Result<bool> UnlinkBlobIfUnreferenced(const std::string& repo, const oci::Digest& d,
                                        int64_t linked_before) override {
    // Serializable: a manifest put committing a reference to this blob
    // concurrently makes one of the two fail and retry, never both succeed.
    int64_t gone = 0;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(
          r, c.Exec("DELETE FROM blob_links WHERE repo=$1 AND digest=$2 AND created<$3 AND NOT "
                    "EXISTS(SELECT 1 FROM manifest_refs WHERE repo=$1 AND child=$2)",
                    {repo, d.str(), Int(linked_before)}));
      gone = r.affected;
      return Status::Ok();
    }));
    return gone > 0;
  }

 private:
  static Status Migrate(PgConnection& c) {
    DD_RETURN_IF_ERROR(
        c.Exec("CREATE TABLE IF NOT EXISTS drydock_schema(version BIGINT NOT NULL)").status());
    DD_ASSIGN_OR_RETURN(r, c.Exec("SELECT version FROM drydock_schema"));
    int64_t version = r.rows.empty() ? 0 : Int(r.rows[0], 0);
    if (version > kSchemaVersion)
      return Invalid("the PostgreSQL database's schema is version " + std::to_string(version) +
                     ", newer than this drydock understands (" + std::to_string(kSchemaVersion) +
                     "): upgrade drydock");
    if (r.rows.empty()) DD_RETURN_IF_ERROR(c.Exec("INSERT INTO drydock_schema VALUES(0)").status());
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      DD_RETURN_IF_ERROR(internal::InTransaction(c, [&](PgConnection& t) -> Status {
        DD_RETURN_IF_ERROR(t.Exec(kMigrations[v]).status());
        return t.Exec("UPDATE drydock_schema SET version=$1", {Int(v + 1)}).status();
      }));
    }
    return Status::Ok();
  }

  // Runs `fn` on a pooled connection. A connection that a database restart
  // left broken fails its first statement; nothing was applied then, so
  // `fn` runs once more on a new connection instead of failing the request.
  Status WithConnection(const std::function<Status(PgConnection&)>& fn) {
    for (int attempt = 0;; ++attempt) {
      DD_ASSIGN_OR_RETURN(c, pool_.Acquire());
      int64_t before = c->successes();
      Status s = fn(*c);
      if (s.ok() || attempt > 0 || !c->broken() || c->successes() != before) return s;
      pool_.DropIdle();
    }
  }

  Status Tx(const std::function<Status(PgConnection&)>& fn,
            Isolation isolation = Isolation::kSerializable) {
    return WithConnection(
        [&](PgConnection& c) { return internal::InTransaction(c, fn, isolation); });
  }

  Result<PgRows> Query(const std::string& sql, const std::vector<PgValue>& params = {}) {
    PgRows rows;
    DD_RETURN_IF_ERROR(WithConnection([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(r, c.Exec(sql, params));
      rows = std::move(r);
      return Status::Ok();
    }));
    return rows;
  }

  // UpdateRun (attempt 0) and UpdateClaimedRun (attempt > 0: only while
  // that attempt holds the run; leaving Started/Running releases it).
  Result<bool> Update(const RunRow& row, const std::vector<std::string>& if_status,
                      int64_t attempt) {
    bool changed = false;
    DD_RETURN_IF_ERROR(Tx([&](PgConnection& c) -> Status {
      DD_ASSIGN_OR_RETURN(b, c.Exec("SELECT status FROM runs WHERE id=$1", {row.id}));
      if (b.rows.empty()) return NotFound("run " + row.id + " does not exist");
      std::string before = Text(b.rows[0], 0);
      DD_ASSIGN_OR_RETURN(
          r,
          c.Exec("UPDATE runs SET status=$2, type=$3, task=$4, start_time=$5, finish_time=$6, "
                 "request=$7, result=$8, error=$9, output_images=$10, "
                 "lease_expires=CASE WHEN $12::bigint>0 AND $2 NOT IN ('Started','Running') "
                 "THEN 0 ELSE lease_expires END, "
                 "not_before=CASE WHEN $12::bigint>0 THEN $13::bigint ELSE not_before END "
                 "WHERE id=$1 AND ($11='' OR strpos($11, ','||status||',')>0) AND "
                 "($12::bigint=0 OR (attempt=$12::bigint AND status IN ('Started','Running')))",
                 {row.id, row.status, row.type, row.task, Int(row.start_time_ms),
                  Int(row.finish_time_ms), row.request_json, row.result_json, row.error,
                  row.output_images, CommaSet(if_status), Int(attempt), Int(row.not_before_ms)}));
      changed = r.affected > 0;
      if (!changed || row.status == before) return Status::Ok();
      return InsertEvent(c, RunEvent(row.id, row.status));
    }));
    return changed;
  }

  // The listener's own connection (LISTEN holds it), reopened when lost.
  void Listen(const std::function<void(Change)>& fn) {
    std::unique_ptr<PgConnection> c;
    while (!stop_) {
      if (!c || c->broken()) {
        c.reset();
        auto opened = PgConnection::Connect(url_);
        if (!opened.ok() || !(*opened)->Exec(std::string("LISTEN ") + kRunsChannel).ok() ||
            !(*opened)->Exec(std::string("LISTEN ") + kEventsChannel).ok()) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;
        }
        c = std::move(*opened);
        // What happened while not listening is found by the servers' polls;
        // wake them now so they look at once.
        fn(Change::kRunQueued);
        fn(Change::kEvent);
      }
      auto heard = c->WaitForNotifications(200);
      if (!heard.ok()) continue;  // broken: reconnect
      bool runs = false, events = false;
      for (const auto& channel : *heard) {
        runs = runs || channel == kRunsChannel;
        events = events || channel == kEventsChannel;
      }
      if (runs) fn(Change::kRunQueued);
      if (events) fn(Change::kEvent);
    }
  }

  const std::string url_;
  PgPool pool_;
  std::atomic<bool> stop_ = false;
  std::thread listener_;
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenPostgresMetadataStore(const std::string& url) {
  auto store = std::make_unique<PgMetadataStore>(url);
  DD_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace drydock::storage
