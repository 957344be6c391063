#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "runtime/runtime.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

Result<OverlayMount> OverlayMount::Mount(const std::vector<fs::path>& lowers, const fs::path& upper,
                                         const fs::path& work, const fs::path& target) {
  std::error_code ec;
  for (const auto& d : {upper, work, target}) fs::create_directories(d, ec);
  std::string lowerdir;
  for (const auto& l : lowers) lowerdir += (lowerdir.empty() ? "" : ":") + l.string();
  if (lowerdir.empty()) {
    // overlayfs needs a lower layer; an empty one stands in for `scratch`.
    fs::path empty = work.string() + ".empty";
    fs::create_directories(empty, ec);
    lowerdir = empty.string();
  }
  std::string options = "lowerdir=" + lowerdir + ",upperdir=" + upper.string() + ",workdir=" + work.string();
  if (options.size() >= 4000) {
    return Invalid("too many layers to stack (" + std::to_string(lowers.size()) + "): the overlay options exceed a page");
  }
  if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0) {
    return Internal("mount overlay at " + target.string() + ": " + std::strerror(errno));
  }
  return OverlayMount(target);
}

OverlayMount::~OverlayMount() {
  if (target_.empty()) return;
  // A lazy unmount still detaches the tree if something holds it open.
  if (::umount2(target_.c_str(), 0) != 0) ::umount2(target_.c_str(), MNT_DETACH);
}

}  // namespace drydock::runtime
