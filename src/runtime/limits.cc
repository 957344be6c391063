// Whether a container reached its limits, read from the kernel's cgroup
// event counters (v1 or v2) and, for the disk, by measuring.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "runtime/runc.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

namespace {

// This process's cgroup for `controller` ("" for the v2 hierarchy), from
// /proc/self/cgroup: runc puts a relative cgroupsPath below it.
std::string OwnCgroup(const std::string& controller) {
  std::ifstream f("/proc/self/cgroup");
  for (std::string line; std::getline(f, line);) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string names = line.substr(first + 1, second - first - 1);
    std::stringstream list(names);
    for (std::string name; std::getline(list, name, ',');) {
      if (name == controller) return line.substr(second + 1);
    }
    if (controller.empty() && names.empty()) return line.substr(second + 1);
  }
  return "/";
}

bool UnifiedHierarchy() { return fs::exists("/sys/fs/cgroup/cgroup.controllers"); }

fs::path CgroupFile(const std::string& controller, const std::string& cgroup,
                    const std::string& file) {
  if (UnifiedHierarchy())
    return fs::path("/sys/fs/cgroup") / fs::path(OwnCgroup("")).relative_path() / cgroup / file;
  return fs::path("/sys/fs/cgroup") / controller / fs::path(OwnCgroup(controller)).relative_path() /
         cgroup / file;
}

// The number after `key` in a "key value" event file; 0 when absent.
int64_t EventCount(const fs::path& file, const std::string& key) {
  std::ifstream f(file);
  for (std::string k; f >> k;) {
    int64_t v = 0;
    f >> v;
    if (k == key) return v;
  }
  return 0;
}

uint64_t DiskUsage(const std::vector<fs::path>& dirs) {
  uint64_t bytes = 0;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (fs::recursive_directory_iterator
             it(dir, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) == 0) bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

std::string Mebibytes(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

LimitWatch::LimitWatch(const Limits& limits, const std::string& cgroup,
                       std::vector<fs::path> writable_dirs)
    : limits_(limits), writable_dirs_(std::move(writable_dirs)) {
  pids_events_ = CgroupFile("pids", cgroup, "pids.events");
  memory_events_ = UnifiedHierarchy() ? CgroupFile("memory", cgroup, "memory.events")
                                      : CgroupFile("memory", cgroup, "memory.oom_control");
}

std::string LimitWatch::Check(bool final) {
  if (final) next_disk_check_ = {};
  if (limits_.pids > 0 && EventCount(pids_events_, "max") > 0)
    return "its limit of " + std::to_string(limits_.pids) + " processes";
  if (limits_.memory_bytes > 0 && EventCount(memory_events_, "oom_kill") > 0)
    return "its memory limit of " + Mebibytes(static_cast<uint64_t>(limits_.memory_bytes));
  if (limits_.disk_bytes > 0 && std::chrono::steady_clock::now() >= next_disk_check_) {
    next_disk_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    if (DiskUsage(writable_dirs_) >= limits_.disk_bytes)
      return "its disk limit of " + Mebibytes(limits_.disk_bytes);
  }
  return "";
}

}  // namespace drydock::runtime
