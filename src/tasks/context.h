// Uploaded build contexts (in the blob store, shared by every server) and
// the per-run work directories (<data>/runs/<id>/) they are unpacked into.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "base/result.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::tasks::internal {

// Uploaded build contexts, kept in the blob store so that every server
// (and every agent, through any server) reads the same bytes. Each upload
// is a blob link in the internal repository "_contexts/<id>" (no client can
// name it: repository names never start with "_"), which also keeps GC off
// it until Release. `cache_dir` holds local copies for extraction.
class ContextStore {
 public:
  ContextStore(storage::BlobStore& blobs, storage::MetadataStore& meta,
               std::filesystem::path cache_dir, uint64_t max_bytes)
      : blobs_(blobs), meta_(meta), cache_dir_(std::move(cache_dir)), max_bytes_(max_bytes) {}
  Status Init();

  // Streams an upload into the blob store; returns its id.
  Result<std::string> Store(const std::function<Result<size_t>(char*, size_t)>& read);
  // Moves uploads an older version kept as files in the cache dir into the
  // stores (claimed ones stay claimed), so runs queued before an upgrade
  // still find their context.
  Status ImportFiles();

  // Gives the upload `id` to a run: no other run can use it and the expiry
  // sweep leaves it alone until Release when the run ends (every attempt of
  // the run reads it). kNotFound when the upload does not exist (never did,
  // expired, or was already used).
  Status Claim(const std::string& id);
  // A local copy of a claimed upload (fetched from the blob store when this
  // server has none yet); "" for a malformed id.
  Result<std::filesystem::path> ClaimedPath(const std::string& id);
  // The sha256 of upload `id`'s tarball, recorded when it was stored.
  Result<oci::Digest> UploadDigest(const std::string& id);
  void Release(const std::string& id);

  // Removes uploads not claimed within `ttl`, claimed uploads older than
  // `ttl` whose id is not in `live` (their runs ended while a process was
  // gone), and local copies of uploads that are gone.
  void RemoveUnused(const std::set<std::string>& live, std::chrono::seconds ttl);

 private:
  Status StoreAs(const std::string& id, const std::function<Result<size_t>(char*, size_t)>& read);
  // The upload's blob and when it was stored; kNotFound when there is none.
  Result<std::pair<oci::Digest, int64_t>> Find(const std::string& id);
  std::filesystem::path CachePath(const std::string& id) const;

  storage::BlobStore& blobs_;
  storage::MetadataStore& meta_;
  std::filesystem::path cache_dir_;
  uint64_t max_bytes_;
};

// A run's scratch directory, created empty and removed with everything in
// it when the run is done.
class WorkDir {
 public:
  static Result<WorkDir> Create(const std::filesystem::path& path);
  WorkDir(WorkDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit WorkDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace drydock::tasks::internal
