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
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

// kHost: the host's network. kNone: a network namespace with only loopback.
// kJoin: ContainerSpec::network_namespace, shared with other containers.
enum class Network { kHost, kNone, kJoin };

// A network namespace of its own with loopback up, for the containers of one
// multi-step run: they reach each other on 127.0.0.1 (by the names in
// ContainerSpec::extra_hosts) and nothing else. Kept alive by a bind mount
// at `path`, which the destructor removes (and with it the namespace, once
// no container is left in it).
class NetworkNamespace {
 public:
  static Result<NetworkNamespace> Create(const std::filesystem::path& path);
  NetworkNamespace(NetworkNamespace&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  NetworkNamespace& operator=(NetworkNamespace&&) = delete;
  NetworkNamespace(const NetworkNamespace&) = delete;
  ~NetworkNamespace();
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit NetworkNamespace(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

struct ContainerSpec {
  std::filesystem::path rootfs;  // mounted already (e.g. an OverlayMount)
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  Network network = Network::kHost;
  std::filesystem::path network_namespace;  // for kJoin
  // Extra /etc/hosts lines, e.g. "127.0.0.1\twebapp" for a step id.
  std::vector<std::string> extra_hosts;
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  std::string hostname = "drydock";
  // Docker's --privileged: every capability, /proc and /sys writable and
  // unmasked. The namespaces stay (a step never gets the host's pid space).
  bool privileged = false;
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

// A container running in the background (a detached step): its output goes
// to RunOptions::output from a thread of its own. Stop() (and the destructor)
// kill it and release everything Run would.
class Detached {
 public:
  static std::unique_ptr<Detached> Start(ContainerSpec spec, RunOptions options);
  ~Detached();
  Detached(const Detached&) = delete;
  Detached& operator=(const Detached&) = delete;
  bool running() const { return !done_.load(); }
  // Kills the container if it still runs and waits for it; its result.
  Result<RunResult> Stop();

 private:
  Detached() = default;
  std::atomic<bool> stop_{false}, done_{false};
  Result<RunResult> result_{Internal("not finished")};
  std::thread thread_;
};

// After a crash: deletes the containers in `runc_roots` (RunOptions::
// state_dir / "runc" of the runs that were cut short; killing them), then
// detaches the mounts (overlays, network namespaces) a killed process left
// below `dir`, so that it can be removed. Best effort.
void ReleaseLeftovers(const std::filesystem::path& dir,
                      const std::vector<std::filesystem::path>& runc_roots);

// The OCI runtime spec (config.json) runc gets; exposed for tests.
std::string RuntimeSpecJson(const ContainerSpec& spec, const std::filesystem::path& hosts,
                            const std::filesystem::path& resolv);

}  // namespace drydock::runtime
