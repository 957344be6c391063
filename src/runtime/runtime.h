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

#include "base/fd.h"
#include "base/result.h"

namespace drydock::runtime {

// A user namespace's ids: container ids 0 … size-1 are host ids host_id …
// host_id+size-1, so the container's root is nobody on the host.
struct IdMapping {
  uint32_t host_id = 100000;
  uint32_t size = 65536;
};

// The user namespaces that idmapped mounts and containers use for one
// IdMapping, made once (a short-lived child each) and shared by every
// container: files keep their ids on disk (a layer needs no shifting) and
// appear to the container through the mapping.
class UserNamespace {
 public:
  static Result<std::shared_ptr<const UserNamespace>> Create(IdMapping mapping);
  const IdMapping& mapping() const { return mapping_; }
  // The mapping's namespace: for lower layers and bind mounts.
  int ids_fd() const { return ids_.get(); }
  // The same, plus host root as container id `size`: overlayfs writes its
  // own files (work/work) into an upper dir as host root, and without a
  // mapping for it would mount read-only.
  int upper_fd() const { return upper_.get(); }
  // Whether containers can use `dir`: its filesystem takes idmapped mounts
  // and host id host_id may pass through each of its parents. The error
  // names what is missing.
  Status CheckUsable(const std::filesystem::path& dir) const;

 private:
  UserNamespace(IdMapping m, UniqueFd ids, UniqueFd upper)
      : mapping_(m), ids_(std::move(ids)), upper_(std::move(upper)) {}
  IdMapping mapping_;
  UniqueFd ids_, upper_;
};

// An overlayfs mount at `target` (lowers listed top-most first); unmounted
// on destruction. With no lowers, `upper` alone becomes the root.
class OverlayMount {
 public:
  // With `users`, the layers are idmapped mounts (upper and work must share
  // their parent directory) and the container's ids are what the files hold
  // on disk. A lower on overlayfs, which the kernel will not idmap, must be
  // one of these mounts already (a stage bound into a RUN).
  static Result<OverlayMount> Mount(const std::vector<std::filesystem::path>& lowers,
                                    const std::filesystem::path& upper,
                                    const std::filesystem::path& work,
                                    const std::filesystem::path& target,
                                    const UserNamespace* users = nullptr);
  OverlayMount(OverlayMount&& o) noexcept : target_(std::exchange(o.target_, {})) {}
  OverlayMount& operator=(OverlayMount&&) = delete;
  OverlayMount(const OverlayMount&) = delete;
  ~OverlayMount();
  const std::filesystem::path& target() const { return target_; }

 private:
  explicit OverlayMount(std::filesystem::path t) : target_(std::move(t)) {}
  std::filesystem::path target_;
};

// With ContainerSpec::users, the container gets an idmapped clone of
// `source`; a source on overlayfs (which the kernel will not idmap) must be
// an OverlayMount made with the same users.
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

// What a network namespace of our own reaches besides its loopback.
// kNat: the outside world through slirp4netns (user-mode NAT, DNS at
// kNatNameserver), but never the host's loopback, where the server and
// other local-only services listen.
enum class Egress { kNone, kNat };
inline constexpr const char* kNatNameserver = "10.0.2.3";

// A network namespace of its own with loopback up, for the containers of one
// run: they reach each other on 127.0.0.1 (by the names in
// ContainerSpec::extra_hosts) and, with Egress::kNat, the outside. Kept
// alive by a bind mount at `path`, which the destructor removes (and with it
// the namespace, once no container is left in it), after stopping the NAT.
// With `users`, the namespace belongs to a user namespace of that mapping,
// pinned at user_path(), which its containers join with it: only then may
// their root mount /sys and use raw sockets in it.
class NetworkNamespace {
 public:
  static Result<NetworkNamespace> Create(const std::filesystem::path& path,
                                         Egress egress = Egress::kNone,
                                         const UserNamespace* users = nullptr);
  NetworkNamespace(NetworkNamespace&& o) noexcept
      : path_(std::exchange(o.path_, {})),
        user_path_(std::exchange(o.user_path_, {})),
        nat_pid_(std::exchange(o.nat_pid_, -1)),
        nat_exit_(std::move(o.nat_exit_)) {}
  NetworkNamespace& operator=(NetworkNamespace&&) = delete;
  NetworkNamespace(const NetworkNamespace&) = delete;
  ~NetworkNamespace();
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& user_path() const { return user_path_; }  // "" without users
  bool nat() const { return nat_pid_ > 0; }

 private:
  NetworkNamespace(std::filesystem::path p, std::filesystem::path u)
      : path_(std::move(p)), user_path_(std::move(u)) {}
  Status StartNat();
  std::filesystem::path path_, user_path_;
  int nat_pid_ = -1;   // slirp4netns
  UniqueFd nat_exit_;  // closing it tells slirp4netns to exit
};

// What one container may use; 0 is unlimited. Enforced by the kernel
// (cgroups, RLIMIT_FSIZE) and by Run, which stops a container that reached
// one and names it in RunResult::limit.
struct Limits {
  int64_t pids = 0;
  int64_t memory_bytes = 0;
  double cpus = 0;          // CPU time per second of wall time
  uint64_t disk_bytes = 0;  // RunOptions::writable_dirs together, and any one file
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
  // Container root is not host root: ids mapped as `users` says, binds
  // idmapped (the rootfs must be mounted with the same `users`). With kJoin,
  // the network namespace must be one made with them (NetworkNamespace::
  // user_path(), here).
  std::shared_ptr<const UserNamespace> users;
  std::filesystem::path
      user_namespace;  // Extra /etc/hosts lines, e.g. "127.0.0.1\twebapp" for a step id.
  std::vector<std::string> extra_hosts;
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  std::string hostname = "drydock";
  // Docker's --privileged: every capability, /proc and /sys writable and
  // unmasked, no seccomp filter. The namespaces stay (a step never gets the
  // host's pid space).
  bool privileged = false;
  // For /etc/resolv.conf outside the host's network (kJoin with NAT).
  std::vector<std::string> nameservers;
  Limits limits;
};

struct RunOptions {
  std::filesystem::path state_dir;  // scratch space for the bundle and runc's state
  std::chrono::seconds timeout{3600};
  const std::atomic<bool>* cancel = nullptr;     // polled while the container runs
  std::function<void(std::string_view)> output;  // stdout and stderr, interleaved
  // What counts against ContainerSpec::limits.disk_bytes (e.g. the overlay's
  // upper dir): measured while the container runs.
  std::vector<std::filesystem::path> writable_dirs;
};

struct RunResult {
  int exit_code = 0;
  bool timed_out = false;
  bool canceled = false;
  // The limit the container reached and was stopped for, e.g. "its limit of
  // 4096 processes"; empty when none was.
  std::string limit;
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
                            const std::filesystem::path& resolv, const std::string& cgroup = "");

}  // namespace drydock::runtime
