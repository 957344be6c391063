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
// Docker's default seccomp profile, as a deny list with the same effect for
// what builds do: the syscalls its allow list leaves out (or allows only
// with capabilities a build container does not have) fail with EPERM.
// clone3 answers ENOSYS, as in Docker, so that libc falls back to clone,
// whose namespace flags can be checked.
json SeccompProfile() {
  static constexpr const char* kDenied[] = {"acct",
                                            "add_key",
                                            "bpf",
                                            "clock_adjtime",
                                            "clock_settime",
                                            "create_module",
                                            "delete_module",
                                            "fanotify_init",
                                            "finit_module",
                                            "fsconfig",
                                            "fsmount",
                                            "fsopen",
                                            "fspick",
                                            "get_kernel_syms",
                                            "get_mempolicy",
                                            "init_module",
                                            "ioperm",
                                            "iopl",
                                            "kcmp",
                                            "kexec_file_load",
                                            "kexec_load",
                                            "keyctl",
                                            "lookup_dcookie",
                                            "mbind",
                                            "mount",
                                            "mount_setattr",
                                            "move_mount",
                                            "move_pages",
                                            "name_to_handle_at",
                                            "nfsservctl",
                                            "open_by_handle_at",
                                            "open_tree",
                                            "perf_event_open",
                                            "pivot_root",
                                            "query_module",
                                            "quotactl",
                                            "quotactl_fd",
                                            "reboot",
                                            "request_key",
                                            "set_mempolicy",
                                            "setns",
                                            "settimeofday",
                                            "stime",
                                            "swapoff",
                                            "swapon",
                                            "_sysctl",
                                            "sysfs",
                                            "syslog",
                                            "umount",
                                            "umount2",
                                            "unshare",
                                            "uselib",
                                            "userfaultfd",
                                            "ustat",
                                            "vhangup",
                                            "vm86",
                                            "vm86old"};
  json syscalls = json::array({
      {{"names", kDenied}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}},
      {{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}},
  });
  // CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: a new
  // namespace needs CAP_SYS_ADMIN under Docker's profile.
  for (uint64_t flag : {0x20000ULL, 0x2000000ULL, 0x4000000ULL, 0x8000000ULL, 0x10000000ULL,
                        0x20000000ULL, 0x40000000ULL}) {
    syscalls.push_back(
        {{"names", {"clone"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"errnoRet", 1},
         {"args",
          {{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
#if defined(__aarch64__)
  json arches = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
  json arches = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#endif
  return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", arches}, {"syscalls", syscalls}};
}

json Resources(const Limits& limits) {
  json r = json::object();
  if (limits.pids > 0) r["pids"] = {{"limit", limits.pids}};
  if (limits.memory_bytes > 0) r["memory"] = {{"limit", limits.memory_bytes}};
  if (limits.cpus > 0) {
    constexpr int64_t kPeriod = 100000;
    r["cpu"] = {{"period", kPeriod}, {"quota", static_cast<int64_t>(limits.cpus * kPeriod)}};
  }
  return r;
}

// Container ids through spec.users. sysfs can only be mounted by the user
// namespace that owns the network namespace: a joined one is made with the
// user namespace (joined too), a new one is the container's own; the host's
// is not, and there /sys is the host's, read-only, as Docker does.
void AddUserNamespace(const ContainerSpec& spec, json& linux_section, json& mounts) {
  json ns = {{"type", "user"}};
  if (!spec.user_namespace.empty()) ns["path"] = spec.user_namespace.string();
  linux_section["namespaces"].push_back(ns);
  const IdMapping& m = spec.users->mapping();
  json map = json::array({{{"containerID", 0}, {"hostID", m.host_id}, {"size", m.size}}});
  linux_section["uidMappings"] = map;
  linux_section["gidMappings"] = map;
  if (spec.network != Network::kHost) return;
  for (auto& mount : mounts) {
    if (mount["destination"] != "/sys") continue;
    mount = {{"destination", "/sys"},
             {"type", "bind"},
             {"source", "/sys"},
             {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
  }
}

}  // namespace

std::string RuntimeSpecJson(const ContainerSpec& spec, const std::filesystem::path& hosts,
                            const std::filesystem::path& resolv, const std::string& cgroup) {
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
  json linux_section = {{"namespaces", namespaces}, {"resources", Resources(spec.limits)}};
  if (spec.users) AddUserNamespace(spec, linux_section, mounts);
  if (!cgroup.empty()) linux_section["cgroupsPath"] = cgroup;
  if (!spec.privileged) {
    linux_section["seccomp"] = SeccompProfile();
    linux_section["maskedPaths"] = {"/proc/acpi",          "/proc/kcore",      "/proc/keys",
                                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                    "/proc/sched_debug",   "/proc/scsi",       "/sys/firmware"};
    linux_section["readonlyPaths"] = {"/proc/asound", "/proc/bus", "/proc/fs",
                                      "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};
  }
  json rlimits = json::array({NofileLimit()});
  if (spec.limits.disk_bytes > 0) {
    // No one file past the disk limit, even between two of Run's measurements.
    rlimits.push_back({{"type", "RLIMIT_FSIZE"},
                       {"hard", spec.limits.disk_bytes},
                       {"soft", spec.limits.disk_bytes}});
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
        {"rlimits", rlimits},
        // A setuid binary in a build must not gain what the build lacks.
        {"noNewPrivileges", !spec.privileged}}},
      {"root", {{"path", spec.rootfs.string()}, {"readonly", false}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux", linux_section},
  };
  return config.dump(2);
}

}  // namespace drydock::runtime
