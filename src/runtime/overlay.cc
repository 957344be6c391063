#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

namespace {

// Mount options must fit in a page. Deep images (Docker allows 127 layers)
// overflow it with absolute snapshot paths, so the lowers are named through
// short symlinks ("0", "1", ...) in a scratch dir, and a child process that
// has chdir'd there performs the mount: overlayfs resolves the relative
// names (and the symlinks) at mount time, as Docker's overlay2 driver does.
Status MountVia(const fs::path& dir, const std::string& options, const fs::path& target) {
  pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(errno);
    ::_exit(::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) == 0 ? 0 : errno);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status))
    return Internal("mount overlay at " + target.string() + ": helper process died");
  if (int err = WEXITSTATUS(status))
    return Internal("mount overlay at " + target.string() + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace

Result<OverlayMount> OverlayMount::Mount(const std::vector<fs::path>& lowers, const fs::path& upper,
                                         const fs::path& work, const fs::path& target) {
  std::error_code ec;
  for (const auto& d : {upper, work, target}) fs::create_directories(d, ec);
  std::vector<fs::path> layers = lowers;
  if (layers.empty()) {
    // overlayfs needs a lower layer; an empty one stands in for `scratch`.
    fs::path empty = work.string() + ".empty";
    fs::create_directories(empty, ec);
    layers.push_back(empty);
  }
  std::string tail = ",upperdir=" + fs::absolute(upper).string() +
                     ",workdir=" + fs::absolute(work).string() + ",index=off";
  std::string direct;
  for (const auto& l : layers) direct += (direct.empty() ? "" : ":") + fs::absolute(l).string();
  if (direct.size() + tail.size() < 3500) {
    if (::mount("overlay", target.c_str(), "overlay", 0, ("lowerdir=" + direct + tail).c_str()) !=
        0) {
      return Internal("mount overlay at " + target.string() + ": " + std::strerror(errno));
    }
    return OverlayMount(target);
  }
  fs::path links = work.string() + ".lowers";
  fs::create_directories(links, ec);
  std::string relative;
  for (size_t i = 0; i < layers.size(); ++i) {
    fs::path link = links / std::to_string(i);
    fs::remove(link, ec);
    fs::create_directory_symlink(fs::absolute(layers[i]), link, ec);
    if (ec) return Internal("link lower layer: " + ec.message());
    relative += (relative.empty() ? "" : ":") + std::to_string(i);
  }
  if (relative.size() + tail.size() >= 4000) {
    return Invalid("too many layers to stack (" + std::to_string(layers.size()) + ")");
  }
  DD_RETURN_IF_ERROR(MountVia(links, "lowerdir=" + relative + tail, fs::absolute(target)));
  fs::remove_all(links, ec);  // the mount holds the resolved directories, not the links
  return OverlayMount(target);
}

OverlayMount::~OverlayMount() {
  if (target_.empty()) return;
  // A lazy unmount still detaches the tree if something holds it open.
  if (::umount2(target_.c_str(), 0) != 0) ::umount2(target_.c_str(), MNT_DETACH);
}

}  // namespace drydock::runtime
