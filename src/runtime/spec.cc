// The OCI runtime spec for a build container: Docker's defaults for
// capabilities, masked paths and mounts, the build's user/env/cwd.
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/runtime.h"

namespace drydock::runtime {

using nlohmann::json;

namespace {
// Docker raises the open-file limit to 1048576; never above what we may grant.
json NofileLimit() {
  struct rlimit rl;
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t n = std::min<rlim_t>(rl.rlim_max, 1048576);
  return {{"type", "RLIMIT_NOFILE"}, {"hard", n}, {"soft", n}};
}
// The capabilities this process may hand on (its bounding set), as Docker
// grants a privileged container "all" of them: asking for one outside it
// makes runc fail.
json AllCapabilities() {
  static constexpr const char* kNames[] = {"CHOWN",
                                           "DAC_OVERRIDE",
                                           "DAC_READ_SEARCH",
                                           "FOWNER",
                                           "FSETID",
                                           "KILL",
                                           "SETGID",
                                           "SETUID",
                                           "SETPCAP",
                                           "LINUX_IMMUTABLE",
                                           "NET_BIND_SERVICE",
                                           "NET_BROADCAST",
                                           "NET_ADMIN",
                                           "NET_RAW",
                                           "IPC_LOCK",
                                           "IPC_OWNER",
                                           "SYS_MODULE",
                                           "SYS_RAWIO",
                                           "SYS_CHROOT",
                                           "SYS_PTRACE",
                                           "SYS_PACCT",
                                           "SYS_ADMIN",
                                           "SYS_BOOT",
                                           "SYS_NICE",
                                           "SYS_RESOURCE",
                                           "SYS_TIME",
                                           "SYS_TTY_CONFIG",
                                           "MKNOD",
                                           "LEASE",
                                           "AUDIT_WRITE",
                                           "AUDIT_CONTROL",
                                           "SETFCAP",
                                           "MAC_OVERRIDE",
                                           "MAC_ADMIN",
                                           "SYSLOG",
                                           "WAKE_ALARM",
                                           "BLOCK_SUSPEND",
                                           "AUDIT_READ",
                                           "PERFMON",
                                           "BPF",
                                           "CHECKPOINT_RESTORE"};
  uint64_t bounding = 0;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("CapBnd:")) bounding = std::stoull(line.substr(7), nullptr, 16);
  }
  json caps = json::array();
  for (size_t bit = 0; bit < std::size(kNames); ++bit) {
    if (bounding & (uint64_t{1} << bit)) caps.push_back(std::string("CAP_") + kNames[bit]);
  }
  return caps;
}
}  // namespace

std::string RuntimeSpecJson(const ContainerSpec& spec, const std::filesystem::path& hosts,
                            const std::filesystem::path& resolv) {
  // Docker's default capability set.
  json caps =
      json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                   "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
  json mounts = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
      {{"destination", "/etc/hosts"},
       {"type", "bind"},
       {"source", hosts.string()},
       {"options", {"rbind", "ro"}}},
      {{"destination", "/etc/resolv.conf"},
       {"type", "bind"},
       {"source", resolv.string()},
       {"options", {"rbind", "ro"}}},
  });
  for (const auto& b : spec.binds) {
    json opts = {"rbind"};
    opts.push_back(b.readonly ? "ro" : "rw");
    mounts.push_back({{"destination", b.destination},
                      {"type", "bind"},
                      {"source", b.source.string()},
                      {"options", opts}});
  }
  for (const auto& t : spec.tmpfs) {
    json opts = {"nosuid", "nodev", "mode=1777"};
    if (t.size_bytes) opts.push_back("size=" + std::to_string(t.size_bytes));
    mounts.push_back({{"destination", t.destination},
                      {"type", "tmpfs"},
                      {"source", "tmpfs"},
                      {"options", opts}});
  }
  if (spec.privileged) {
    caps = AllCapabilities();
    for (auto& m : mounts) {
      if (m["destination"] == "/sys") m["options"] = {"nosuid", "noexec", "nodev", "rw"};
    }
  }
  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (spec.network == Network::kNone) namespaces.push_back({{"type", "network"}});
  if (spec.network == Network::kJoin)
    namespaces.push_back({{"type", "network"}, {"path", spec.network_namespace.string()}});
  json linux_section = {{"namespaces", namespaces}};
  if (!spec.privileged) {
    linux_section["maskedPaths"] = {"/proc/acpi",          "/proc/kcore",      "/proc/keys",
                                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                    "/proc/sched_debug",   "/proc/scsi",       "/sys/firmware"};
    linux_section["readonlyPaths"] = {"/proc/asound", "/proc/bus", "/proc/fs",
                                      "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};
  }
  json user = {{"uid", spec.uid}, {"gid", spec.gid}};
  if (!spec.additional_gids.empty()) user["additionalGids"] = spec.additional_gids;
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", user},
        {"args", spec.args},
        {"env", spec.env},
        {"cwd", spec.cwd.empty() ? "/" : spec.cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", json::array({NofileLimit()})},
        {"noNewPrivileges", false}}},
      {"root", {{"path", spec.rootfs.string()}, {"readonly", false}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux", linux_section},
  };
  return config.dump(2);
}

}  // namespace drydock::runtime
