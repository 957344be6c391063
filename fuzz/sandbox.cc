#include "sandbox.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace drydock::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTmp = "/tmp";
constexpr const char* kScratch = "/tmp/scratch";
constexpr const char* kCanary = "/tmp/canary";
// A second canary next to what the code under test gets: an escape that
// empties the scratch directory (deleting ".." of the destination, or /tmp's
// entries in readdir order until it fails) may never reach /tmp/canary.
constexpr const char* kScratchCanary = "/tmp/scratch/canary";
constexpr std::string_view kCanaryText = "must not be touched by the code under test\n";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz sandbox: %s: %s\n", what.c_str(), std::strerror(errno));
  std::_Exit(2);
}

void WriteFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    Die("write " + path);
  ::close(fd);
}

// mountinfo escapes spaces and a few other bytes as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> MountPoints() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    out.push_back(Unescape(point));
  }
  return out;
}

// The flags a bind remount must repeat: leaving out one the mount has (nosuid,
// nodev, ...) is EPERM in a user namespace.
unsigned long KeptFlags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

bool Under(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// Where libFuzzer will write: the current directory (default artifact
// prefix), corpus directories and the artifact prefix's directory.
std::set<fs::path> WritableDirs(int argc, char** argv) {
  std::set<fs::path> dirs{fs::current_path()};
  auto dir_of = [](std::string_view v) {
    fs::path p = fs::absolute(std::string(v));
    return v.ends_with('/') ? p : p.parent_path();
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("-artifact_prefix=")) {
      dirs.insert(dir_of(a.substr(17)));
    } else if (a.starts_with("-exact_artifact_path=")) {
      dirs.insert(dir_of(a.substr(21)));
    } else if (!a.starts_with("-") && fs::is_directory(std::string(a))) {
      dirs.insert(fs::absolute(std::string(a)));
    }
  }
  std::set<fs::path> out;
  for (const auto& d : dirs) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(d, ec);
    if (Under(c, kTmp) || c == kTmp) {
      errno = EINVAL;
      Die(c.string() + " is under /tmp, which the sandbox replaces; use another directory");
    }
    out.insert(c);
  }
  return out;
}

bool CanaryIntact(const char* path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return !fs::is_symlink(path) && text == kCanaryText;
}

}  // namespace

void EnterSandbox(int* argc, char*** argv) {
  auto writable = WritableDirs(*argc, *argv);
  fs::path cwd = fs::current_path();
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (uid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) Die("unshare(CLONE_NEWNS)");
  } else {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) Die("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    WriteFile("/proc/self/setgroups", "deny");
    WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Die("make / private");

  for (const auto& mp : MountPoints()) {
    if (::mount(nullptr, mp.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | KeptFlags(mp),
                nullptr) != 0) {
      // Only the root filesystem is essential; some pseudo filesystems refuse.
      if (mp == "/") Die("remount / read-only");
      std::fprintf(stderr, "fuzz sandbox: warning: %s stays writable: %s\n", mp.c_str(),
                   std::strerror(errno));
    }
  }
  for (const auto& dir : writable) {
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        ::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | KeptFlags(dir), nullptr) != 0)
      Die("keep " + dir.string() + " writable");
  }
  if (::mount("tmpfs", kTmp, "tmpfs", MS_NOSUID, "size=256m,mode=1777") != 0) Die("mount /tmp");
  // The old cwd is the directory under the bind mount; step onto the writable one.
  if (::chdir(cwd.c_str()) != 0) Die("chdir " + cwd.string());
  std::ofstream(kCanary) << kCanaryText;
}

fs::path FreshScratch() {
  std::error_code ec;
  fs::create_directory(kScratch, ec);
  if (ec) {
    errno = ec.value();
    Die("create " + std::string(kScratch));
  }
  std::ofstream(kScratchCanary) << kCanaryText;
  return kScratch;
}

void CheckContained(std::string_view error) {
  bool escaped = error.find("Read-only file system") != std::string_view::npos;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kTmp, ec)) {
    auto p = e.path().string();
    if (p != kScratch && p != kCanary) escaped = true;
  }
  if (!CanaryIntact(kCanary) || !CanaryIntact(kScratchCanary)) escaped = true;
  // An opaque-directory marker set through a symlink to /tmp shows only here.
  if (::llistxattr(kTmp, nullptr, 0) > 0) escaped = true;
  if (escaped) {
    std::fprintf(stderr, "fuzz sandbox: the code under test wrote outside its directory%s%.*s\n",
                 error.empty() ? "" : ": ", static_cast<int>(error.size()), error.data());
    std::abort();
  }
  fs::remove_all(kScratch, ec);
  if (ec) {
    errno = ec.value();
    Die("clean " + std::string(kScratch));
  }
}

}  // namespace drydock::fuzz
