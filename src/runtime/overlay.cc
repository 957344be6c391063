#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "runtime/runc.h"
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

// A tmpfs where idmapped clones of the layers are attached while overlayfs
// is mounted from them (it takes its layers by path, in this mount
// namespace); detached with them once the overlay holds its own references.
class Staging {
 public:
  explicit Staging(fs::path dir) : dir_(std::move(dir)) {}
  ~Staging() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove(dir_, ec);
  }
  Status Mount() {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (::mount("drydock-layers", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=1m,mode=700") != 0)
      return Internal("mount a staging tmpfs at " + dir_.string() + ": " + std::strerror(errno));
    mounted_ = true;
    return Status::Ok();
  }
  // Attaches an idmapped clone of `source` at <dir>/<name>.
  Status Add(const fs::path& source, int userns_fd, const std::string& name) {
    DD_ASSIGN_OR_RETURN(tree, IdmappedClone(source, userns_fd));
    std::error_code ec;
    fs::create_directory(dir_ / name, ec);
    return AttachTree(tree.get(), dir_ / name);
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

// The overlay of Mount() with `users`: each layer an idmapped clone (an
// overlay below it is one already, and only linked), named "0", "1", … in
// the staging dir; upper and work through one clone of their parent.
Status MountIdmapped(const std::vector<fs::path>& layers, const fs::path& upper,
                     const fs::path& work, const fs::path& target, const UserNamespace& users) {
  if (fs::absolute(upper).parent_path() != fs::absolute(work).parent_path())
    return Internal("an idmapped overlay needs its upper and work dirs side by side");
  Staging staging(work.string() + ".stage");
  DD_RETURN_IF_ERROR(staging.Mount());
  std::string lowerdir;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string name = std::to_string(i);
    if (OnOverlayfs(layers[i])) {
      std::error_code ec;
      fs::create_directory_symlink(fs::absolute(layers[i]), staging.dir() / name, ec);
      if (ec) return Internal("link lower layer: " + ec.message());
    } else {
      DD_RETURN_IF_ERROR(staging.Add(layers[i], users.ids_fd(), name));
    }
    lowerdir += (lowerdir.empty() ? "" : ":") + name;
  }
  DD_RETURN_IF_ERROR(staging.Add(fs::absolute(upper).parent_path(), users.upper_fd(), "u"));
  std::string options = "lowerdir=" + lowerdir + ",upperdir=u/" + upper.filename().string() +
                        ",workdir=u/" + work.filename().string() + ",index=off";
  if (options.size() >= 4000)
    return Invalid("too many layers to stack (" + std::to_string(layers.size()) + ")");
  return MountVia(staging.dir(), options, fs::absolute(target));
}

}  // namespace

Result<OverlayMount> OverlayMount::Mount(const std::vector<fs::path>& lowers, const fs::path& upper,
                                         const fs::path& work, const fs::path& target,
                                         const UserNamespace* users) {
  std::error_code ec;
  for (const auto& d : {upper, work, target}) fs::create_directories(d, ec);
  std::vector<fs::path> layers = lowers;
  if (layers.empty()) {
    // overlayfs needs a lower layer; an empty one stands in for `scratch`.
    fs::path empty = work.string() + ".empty";
    fs::create_directories(empty, ec);
    layers.push_back(empty);
  }
  if (users) {
    DD_RETURN_IF_ERROR(MountIdmapped(layers, upper, work, target, *users));
    return OverlayMount(target);
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
