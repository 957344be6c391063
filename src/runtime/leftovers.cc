// What a process that was killed (SIGKILL, power loss) leaves under its work
// directories: runc containers still running, overlay and namespace mounts.
// Destructors never ran for them, so the next process releases them here.
// The runc roots come from the caller, who knows where it put them: a walk
// would also find directories a build context or a container wrote, whose
// state files could name any process to kill.
#include <sys/mount.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "runtime/runc.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

namespace {

// Mount points in /proc/self/mountinfo escape space, tab, newline and
// backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> MountsUnder(const fs::path& dir) {
  std::string prefix = dir.string() + "/";
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devs, root, target;
    fields >> id >> parent >> devs >> root >> target;
    target = Unescape(target);
    if (target.starts_with(prefix)) out.push_back(target);
  }
  return out;
}

}  // namespace

void ReleaseLeftovers(const fs::path& dir, const std::vector<fs::path>& runc_roots) {
  std::error_code ec;
  for (const auto& root : runc_roots) {
    for (const auto& container : fs::directory_iterator(root, ec)) {
      RuncCommand({"runc", "--root", root.string(), "delete", "--force",
                   container.path().filename().string()});
    }
  }
  // Deepest first: a mount inside another goes before it.
  auto mounts = MountsUnder(dir);
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) ::umount2(m.c_str(), MNT_DETACH);
}

}  // namespace drydock::runtime
