// Turns a run's source ("context:<id>", a git URL, a tarball URL,
// "oci://…" or "/dev/null") into a directory the builder can use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "oci/reference.h"
#include "remote/client.h"
#include "source/source.h"
#include "tasks/tasks.h"

namespace drydock::tasks::internal {

enum class SourceKind { kUpload, kGit, kTarball, kOci, kNone };

struct SourceSpec {
  SourceKind kind = SourceKind::kNone;
  std::string upload_id;        // kUpload
  source::GitSource git;        // kGit
  std::string url;              // kTarball
  oci::ImageReference oci_ref;  // kOci
};

// What kind of source `text` is; kInvalid naming it when none fits.
// file:// git URLs read the server's own disk, so they need `allow_local_git`.
Result<SourceSpec> ClassifySource(const std::string& text, bool allow_local_git);

struct FetchOptions {
  std::filesystem::path upload;  // the claimed upload, for kUpload
  std::string git_token;
  bool allow_local_git = false;
  bool allow_private = false;  // see source::IsPrivateAddress
  uint64_t max_download_bytes = 0;
  uint64_t max_extracted_bytes = 0;
  remote::ClientOptions registry;  // for oci:// sources
  std::chrono::seconds timeout{3600};
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view)> log;  // one line per call
  // Where git checkouts are kept for later runs (see git_cache.cc); "" = none.
  std::filesystem::path checkout_cache;
};

struct FetchedSource {
  std::filesystem::path context;  // inside work_dir
  SourceInfo info;
};

// Fetches the source below `work_dir` (which must exist and be empty).
Result<FetchedSource> FetchSource(const SourceSpec& spec, const std::string& text,
                                  const std::filesystem::path& work_dir,
                                  const FetchOptions& options);

// The checkout of `git` at `commit` kept by an earlier run, hard-linked into
// work_dir/git; nullopt when there is none (or it vanished meanwhile).
std::optional<FetchedSource> CachedCheckout(const source::GitSource& git, const std::string& commit,
                                            const std::filesystem::path& work_dir,
                                            const FetchOptions& options);
// Keeps a fresh checkout (its root `checkout_root`) for later runs.
void KeepCheckout(const source::GitSource& git, const FetchedSource& fetched,
                  const std::filesystem::path& checkout_root, const FetchOptions& options);

// Pulls the artifact `ref` into `context` (created): every layer that is an
// archive is extracted there, a plain file with a title annotation is
// written under that name (as ORAS does). `scratch` holds the blobs.
Status PullOciContext(const oci::ImageReference& ref, const std::filesystem::path& context,
                      const std::filesystem::path& scratch, const FetchOptions& options);

// `path` (relative to `context`) as a path inside it; kInvalid when it is
// absolute or climbs out (also through symlinks), kNotFound when missing.
// `what` names it in errors ("Dockerfile", "task file").
Result<std::filesystem::path> FileIn(const std::filesystem::path& context, const std::string& path,
                                     const std::string& what = "Dockerfile");

}  // namespace drydock::tasks::internal
