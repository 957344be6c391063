// Uploaded build contexts (<data>/contexts/) and the per-run work
// directories (<data>/runs/<id>/) they are unpacked into.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "base/result.h"

namespace drydock::tasks::internal {

class ContextStore {
 public:
  ContextStore(std::filesystem::path dir, uint64_t max_bytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  Status Init();

  // Streams an upload to <id>.tar, .tar.gz or .tar.zst (named after what
  // its first bytes look like; the extractor checks the content anyway).
  Result<std::string> Store(const std::function<Result<size_t>(char*, size_t)>& read);

  // Gives the upload `id` to a run: it moves aside, so no other run can
  // use it and the expiry sweep leaves it alone, until Release when the run
  // ends (every attempt of the run reads it). kNotFound when the upload
  // does not exist (never did, expired, or was already used).
  Status Claim(const std::string& id);
  bool Exists(const std::string& id) const;
  std::filesystem::path ClaimedPath(const std::string& id) const;  // "" for a malformed id
  void Release(const std::string& id);

  // Removes uploads (and partial ones) not claimed within `ttl`.
  void RemoveExpired(std::chrono::seconds ttl);
  // Removes claimed uploads whose id is not in `live` (their runs ended
  // while a process was gone).
  void RemoveClaimedExcept(const std::set<std::string>& live);

 private:
  std::filesystem::path UploadPath(const std::string& id) const;

  std::filesystem::path dir_;
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
