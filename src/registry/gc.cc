// Garbage collection: mark from tags (and everything younger than the
// grace period), sweep untagged manifests when asked, then blob links no
// manifest needs, then blob files no repository links, then abandoned
// uploads. Every deletion re-checks its condition in the same transaction
// or under the commit lock, so it cannot race a concurrent push.
#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "registry/impl.h"

namespace drydock::registry {
namespace {

// Manifests to keep: tagged or young ones, what they reference, and their
// referrers. A referrer (a signature, an SBOM) is part of its subject: it
// lives while the subject does and goes with it, untagged manifests kept or
// not; only the grace period spares one pushed before its subject.
std::set<oci::Digest> MarkManifests(const storage::RepoGraph& g, const GcOptions& o,
                                    int64_t cutoff) {
  std::set<oci::Digest> kept;
  for (const auto& m : g.manifests) {
    bool untagged_kept = !o.delete_untagged && !m.subject;
    if (untagged_kept || m.tagged || m.created >= cutoff) kept.insert(m.digest);
  }
  std::map<oci::Digest, const storage::RepoGraph::Node*> by_digest;
  for (const auto& m : g.manifests) by_digest[m.digest] = &m;
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& m : g.manifests) {
      if (kept.count(m.digest)) {
        for (const auto& child : m.children) {
          if (by_digest.count(child) && kept.insert(child).second) grew = true;
        }
      } else if (m.subject && kept.count(*m.subject)) {
        kept.insert(m.digest);
        grew = true;
      }
    }
  }
  return kept;
}

class Collector {
 public:
  Collector(storage::BlobStore& b, storage::MetadataStore& m, const GcOptions& o,
            std::shared_mutex& mu)
      : blobs_(b), meta_(m), o_(o), mu_(mu), now_(static_cast<int64_t>(::time(nullptr))) {}

  Result<GcReport> Run() {
    auto repos = meta_.AllRepositories();
    if (!repos.ok()) return repos.status();
    for (const auto& repo : *repos) {
      // Internal repositories ("_contexts/…": never a valid name) hold
      // links their owners release; their blobs stay while linked.
      if (repo.starts_with('_')) continue;
      DD_RETURN_IF_ERROR(SweepRepo(repo));
    }
    DD_RETURN_IF_ERROR(SweepBlobs());
    DD_RETURN_IF_ERROR(SweepUploads());
    return report_;
  }

  std::vector<std::string> removed_uploads;

 private:
  int64_t cutoff() const { return now_ - o_.grace_seconds; }

  Status SweepRepo(const std::string& repo) {
    auto g = meta_.LoadRepoGraph(repo);
    if (!g.ok()) return g.status();
    auto kept = MarkManifests(*g, o_, cutoff());
    std::set<oci::Digest> doomed;
    for (const auto& m : g->manifests) {
      if (!kept.count(m.digest)) doomed.insert(m.digest);
    }
    // Parents go before children (an index pins its children), so repeat until no progress.
    for (bool progress = true; progress && !doomed.empty();) {
      progress = false;
      for (auto it = doomed.begin(); it != doomed.end();) {
        bool gone = o_.dry_run;
        if (!o_.dry_run) {
          auto r = meta_.DeleteManifestIfUnreferenced(repo, *it);
          if (!r.ok()) return r.status();
          gone = *r;
        }
        if (gone) {
          report_.manifests_deleted++;
          report_.actions.push_back("delete manifest " + repo + "@" + it->str());
          it = doomed.erase(it);
          progress = true;
        } else {
          ++it;
        }
      }
    }
    std::set<oci::Digest> needed;
    for (const auto& m : g->manifests) {
      if (!kept.count(m.digest)) continue;
      needed.insert(m.children.begin(), m.children.end());
    }
    for (const auto& [digest, linked_at] : g->links) {
      if (needed.count(digest) || linked_at >= cutoff()) {
        still_linked_.insert(digest);
        continue;
      }
      bool gone = o_.dry_run;
      if (!o_.dry_run) {
        auto r = meta_.UnlinkBlobIfUnreferenced(repo, digest, cutoff());
        if (!r.ok()) return r.status();
        gone = *r;
      }
      if (gone) {
        report_.links_removed++;
        report_.actions.push_back("unlink blob " + repo + "@" + digest.str());
        unlinked_.insert(digest);
      } else {
        still_linked_.insert(digest);
      }
    }
    return Status::Ok();
  }

  Status SweepBlobs() {
    std::vector<std::pair<oci::Digest, storage::BlobInfo>> candidates;
    DD_RETURN_IF_ERROR(blobs_.ForEachBlob([&](const oci::Digest& d, const storage::BlobInfo& info) {
      ++report_.blobs_kept;
      report_.bytes_kept += info.size;
      if (info.mtime < cutoff()) candidates.emplace_back(d, info);
    }));
    for (const auto& [d, info] : candidates) {
      std::unique_lock lock(mu_);
      if (o_.dry_run) {
        auto linked = meta_.AnyLink(d);
        if (!linked.ok()) return linked.status();
        // Links this pass would have removed do not count, but a blob
        // another repository keeps linked stays.
        if (*linked && !(unlinked_.count(d) && !still_linked_.count(d))) continue;
      } else {
        // The store arbitrates with pushes on every server: claimed only
        // while unlinked, and no link is made while claimed.
        auto claimed = meta_.BeginBlobDelete(d, static_cast<int64_t>(::time(nullptr)));
        if (!claimed.ok()) return claimed.status();
        if (!*claimed) continue;
      }
      auto fresh = blobs_.Stat(d);
      Status deleted = Status::Ok();
      bool doomed = fresh.ok() && fresh->mtime < cutoff();  // not just pushed again
      if (doomed && !o_.dry_run) deleted = blobs_.Delete(d);
      if (!o_.dry_run) DD_RETURN_IF_ERROR(meta_.EndBlobDelete(d));
      DD_RETURN_IF_ERROR(deleted);
      if (!doomed) continue;
      report_.blobs_deleted++;
      report_.bytes_freed += fresh->size;
      if (!o_.dry_run) {
        --report_.blobs_kept;
        report_.bytes_kept -= std::min<uint64_t>(report_.bytes_kept, fresh->size);
      }
      report_.actions.push_back("delete blob " + d.str() + " (" + std::to_string(fresh->size) +
                                " bytes)");
    }
    return Status::Ok();
  }

  Status SweepUploads() {
    auto records = meta_.ListUploads();
    if (!records.ok()) return records.status();
    std::set<std::string> live;
    for (const auto& u : *records) live.insert(u.id);
    std::vector<std::string> stale;
    std::set<std::string> files;
    DD_RETURN_IF_ERROR(blobs_.ForEachUpload([&](const std::string& id, int64_t mtime) {
      files.insert(id);
      // Idle past the TTL (every write touches the file), or a staging file
      // whose session record never got written (the server died in between).
      if (mtime < now_ - o_.upload_ttl_seconds || (!live.count(id) && mtime < cutoff()))
        stale.push_back(id);
    }));
    for (const auto& u : *records) {
      if (!files.count(u.id) && u.created < cutoff())
        stale.push_back(u.id);  // record without bytes
    }
    for (const auto& id : stale) {
      if (!o_.dry_run) {
        // Either half left behind is found again by the next collection.
        (void)blobs_.DeleteUpload(id);
        (void)meta_.DeleteUpload(id);
      }
      removed_uploads.push_back(id);
      report_.uploads_removed++;
      report_.actions.push_back("remove abandoned upload " + id);
    }
    return Status::Ok();
  }

  storage::BlobStore& blobs_;
  storage::MetadataStore& meta_;
  const GcOptions& o_;
  std::shared_mutex& mu_;
  int64_t now_;
  GcReport report_;
  std::set<oci::Digest> unlinked_;
  std::set<oci::Digest> still_linked_;  // linked in some repository after its sweep
};

}  // namespace

Result<GcReport> Registry::CollectGarbage(const GcOptions& options) {
  Collector c(impl_->blobs, impl_->meta, options, impl_->gc_mu);
  auto report = c.Run();
  std::lock_guard lock(impl_->uploads_mu);
  for (const auto& id : c.removed_uploads) impl_->uploads.erase(id);
  return report;
}

Result<GcReport> CollectGarbage(storage::BlobStore& blobs, storage::MetadataStore& meta,
                                const GcOptions& options) {
  std::shared_mutex mu;
  return Collector(blobs, meta, options, mu).Run();
}

}  // namespace drydock::registry

namespace drydock::registry {

// Longer than any StartUpload takes between writing an upload's record and
// creating its bytes.
constexpr int64_t kUploadStartSeconds = 60;
// Longer than a monolithic upload goes without writing a byte.
constexpr int64_t kUnrecordedUploadSeconds = 600;

Result<int64_t> RecoverUploads(storage::BlobStore& blobs, storage::MetadataStore& meta) {
  auto records = meta.ListUploads();
  if (!records.ok()) return records.status();
  std::set<std::string> live, files, idle;
  for (const auto& u : *records) live.insert(u.id);
  // Bytes without a record are a crash's leftovers, or a monolithic upload
  // another server is writing right now (it has no record): only those
  // untouched for a while go.
  int64_t quiet = static_cast<int64_t>(::time(nullptr)) - kUnrecordedUploadSeconds;
  DD_RETURN_IF_ERROR(blobs.ForEachUpload([&](const std::string& id, int64_t mtime) {
    files.insert(id);
    if (mtime < quiet) idle.insert(id);
  }));
  int64_t removed = 0;
  for (const auto& id : idle) {
    if (!live.count(id)) {
      (void)blobs.DeleteUpload(id);  // retried by the next collection
      ++removed;
    }
  }
  // A record is written before its bytes (StartUpload): a young one may be
  // another server's upload being started.
  int64_t settled = static_cast<int64_t>(::time(nullptr)) - kUploadStartSeconds;
  for (const auto& u : *records) {
    if (!files.count(u.id) && u.created < settled) {
      (void)meta.DeleteUpload(u.id);  // retried by the next collection
      ++removed;
    }
  }
  return removed;
}

}  // namespace drydock::registry
