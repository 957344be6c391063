// runtime/'s own: a short runc subcommand, shared by run.cc and leftovers.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace drydock::runtime {

// Runs `args` ("runc", "--root", …, "delete", …) with no input or output and
// waits: its exit status, or -1.
int RuncCommand(const std::vector<std::string>& args);

// In a forked child before exec: closes every descriptor from `first` on
// (async-signal-safe).
void CloseFrom(int first);

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
