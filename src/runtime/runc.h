// runtime/'s own: runc subcommands, limits and idmapped mounts, shared by
// its files.
#pragma once

#include <initializer_list>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

// Runs `args` ("runc", "--root", …, "delete", …) with no input or output and
// waits: its exit status, or -1.
int RuncCommand(const std::vector<std::string>& args);

// In a forked child before exec: closes every descriptor from `first` on
// (async-signal-safe).
void CloseFrom(int first);
// In a forked child that does not exec: closes every fd above 2 but `keep`
// (at most 8). Another thread's pipes, inherited by this fork, would keep
// their other ends from seeing EOF while this child lives: two children
// parked on each other's pipes waited for ever (a two-platform build's
// RUNs making network namespaces at once). Async-signal-safe.
void CloseAllBut(std::initializer_list<int> keep);

// "0 <host_id> <size>\n": a uid_map/gid_map line for the mapping.
std::string MapLines(const IdMapping& mapping);
// Writes `lines` as the uid and gid maps of process `pid` (in a new user
// namespace of its own).
Status WriteIdMaps(pid_t pid, const std::string& lines);
// A detached clone of the mount at `path` (a directory or a file), idmapped
// through the user namespace `userns_fd`; the error names the filesystem
// when it does not take idmapped mounts.
Result<UniqueFd> IdmappedClone(const std::filesystem::path& path, int userns_fd);
// Attaches a detached mount tree at `target` (which must exist).
Status AttachTree(int tree, const std::filesystem::path& target);
// Host id m.host_id (a container's root) may pass through `dir` and each of
// its parents; the error names the one it may not.
Status CheckSearchable(const std::filesystem::path& dir, const IdMapping& m);
// overlayfs cannot be idmapped (an overlay over idmapped layers needs not be).
bool OnOverlayfs(const std::filesystem::path& path);

// Tells whether a running container reached one of its Limits: the kernel
// counts refused forks and OOM kills in the event files of runc's cgroup for
// it (`cgroup`, relative to runc's own); the disk is measured here.
class LimitWatch {
 public:
  LimitWatch(const Limits& limits, const std::string& cgroup,
             std::vector<std::filesystem::path> writable_dirs);
  // The limit reached ("its limit of 4096 processes"), or "". Cheap to call
  // often: the disk is measured at most once a second, unless `final`.
  std::string Check(bool final = false);

 private:
  Limits limits_;
  std::filesystem::path pids_events_, memory_events_;
  std::vector<std::filesystem::path> writable_dirs_;
  std::chrono::steady_clock::time_point next_disk_check_{};
};

}  // namespace drydock::runtime
