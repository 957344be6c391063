// Runs a process in a container under runc, and owns the overlayfs mounts
// that make container root filesystems. Everything acquired here (mounts,
// processes, runc state, bundle dirs) is released by destructors, also on
// timeout and cancellation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::runtime {

// An overlayfs mount at `target` (lowers listed top-most first); unmounted
// on destruction. With no lowers, `upper` alone becomes the root.
class OverlayMount {
 public:
  static Result<OverlayMount> Mount(const std::vector<std::filesystem::path>& lowers,
                                    const std::filesystem::path& upper,
                                    const std::filesystem::path& work,
                                    const std::filesystem::path& target);
  OverlayMount(OverlayMount&& o) noexcept : target_(std::exchange(o.target_, {})) {}
  OverlayMount& operator=(OverlayMount&&) = delete;
  OverlayMount(const OverlayMount&) = delete;
  ~OverlayMount();
  const std::filesystem::path& target() const { return target_; }

 private:
  explicit OverlayMount(std::filesystem::path t) : target_(std::move(t)) {}
  std::filesystem::path target_;
};

struct BindMount {
  std::filesystem::path source;
  std::string destination;
  bool readonly = false;
};

struct TmpfsMount {
  std::string destination;
  uint64_t size_bytes = 0;  // 0: the kernel's default (half of RAM)
};

enum class Network { kHost, kNone };

struct ContainerSpec {
  std::filesystem::path rootfs;  // mounted already (e.g. an OverlayMount)
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  Network network = Network::kHost;
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  std::string hostname = "drydock";
};

struct RunOptions {
  std::filesystem::path state_dir;  // scratch space for the bundle and runc's state
  std::chrono::seconds timeout{3600};
  const std::atomic<bool>* cancel = nullptr;     // polled while the container runs
  std::function<void(std::string_view)> output;  // stdout and stderr, interleaved
};

struct RunResult {
  int exit_code = 0;
  bool timed_out = false;
  bool canceled = false;
};

// Runs the container to completion. Errors are for failing to run at all;
// a non-zero exit code is a result, not an error.
Result<RunResult> Run(const ContainerSpec& spec, const RunOptions& options);

// The OCI runtime spec (config.json) runc gets; exposed for tests.
std::string RuntimeSpecJson(const ContainerSpec& spec, const std::filesystem::path& hosts,
                            const std::filesystem::path& resolv);

}  // namespace drydock::runtime
