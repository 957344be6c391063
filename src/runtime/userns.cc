// User namespaces for build containers, and the idmapped mounts that let a
// container whose root is host id 100000 own files that are uid 0 on disk
// (Linux >= 5.19 for idmapped overlay layers). Measured in docs/security.md.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/runc.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

namespace {

constexpr long kOverlayfsMagic = 0x794c7630;

Result<UniqueFd> MakeUserNamespace(const std::string& map_lines) {
  int parked[2];
  if (::pipe2(parked, O_CLOEXEC) != 0)
    return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd in(parked[0]), out(parked[1]);
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {  // async-signal-safe calls only
    char c = 'u';
    CloseAllBut({in.get(), ready_w.get()});
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(1);
    if (::write(ready_w.get(), &c, 1) != 1) ::_exit(2);
    (void)!::read(in.get(), &c, 1);  // parked until the parent holds the namespace
    ::_exit(0);
  }
  ready_w.Reset();
  in.Reset();
  char c = 0;
  Status made = ::read(ready_r.get(), &c, 1) == 1
                    ? WriteIdMaps(pid, map_lines)
                    : Internal(
                          "cannot create a user namespace: needs root (CAP_SYS_ADMIN) and "
                          "user namespaces enabled (user.max_user_namespaces)");
  UniqueFd ns;
  if (made.ok()) {
    ns = UniqueFd(
        ::open(("/proc/" + std::to_string(pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid())
      made = Internal(std::string("open the user namespace: ") + std::strerror(errno));
  }
  out.Reset();  // the child exits; the fd keeps its namespace
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!made.ok()) return made;
  return ns;
}

}  // namespace

std::string MapLines(const IdMapping& m) {
  return "0 " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
}

Status WriteIdMaps(pid_t pid, const std::string& lines) {
  for (const char* file : {"uid_map", "gid_map"}) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid() ||
        ::write(fd.get(), lines.data(), lines.size()) != static_cast<ssize_t>(lines.size()))
      return Internal("write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

bool OnOverlayfs(const fs::path& path) {
  struct statfs s;
  return ::statfs(path.c_str(), &s) == 0 && static_cast<long>(s.f_type) == kOverlayfsMagic;
}

Result<UniqueFd> IdmappedClone(const fs::path& path, int userns_fd) {
  UniqueFd tree(::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree.valid())
    return Internal("clone the mount of " + path.string() + ": " + std::strerror(errno));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    int err = errno;
    struct statfs s {};
    ::statfs(path.c_str(), &s);
    char type[32];
    std::snprintf(type, sizeof type, "0x%lx", static_cast<unsigned long>(s.f_type));
    return Internal("idmapped mount of " + path.string() + " (filesystem type " + type +
                    "): " + std::strerror(err) +
                    "; builds.user_namespace needs a filesystem that takes idmapped mounts (ext4, "
                    "xfs, btrfs, tmpfs) and Linux 5.19 or later");
  }
  return tree;
}

Status AttachTree(int tree, const fs::path& target) {
  if (::move_mount(tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return Internal("attach a mount at " + target.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<std::shared_ptr<const UserNamespace>> UserNamespace::Create(IdMapping mapping) {
  if (mapping.size == 0 || mapping.host_id == 0 ||
      uint64_t{mapping.host_id} + mapping.size > 0xFFFFFFFFull) {
    return Invalid("user namespace ids " + std::to_string(mapping.host_id) + ":" +
                   std::to_string(mapping.size) +
                   ": the host ids must be a non-empty range above 0 (e.g. 100000:65536)");
  }
  DD_ASSIGN_OR_RETURN(ids, MakeUserNamespace(MapLines(mapping)));
  DD_ASSIGN_OR_RETURN(
      upper, MakeUserNamespace(MapLines(mapping) + std::to_string(mapping.size) + " 0 1\n"));
  return std::shared_ptr<const UserNamespace>(
      new UserNamespace(mapping, std::move(ids), std::move(upper)));
}

Status CheckSearchable(const fs::path& dir, const IdMapping& m) {
  std::error_code ec;
  for (fs::path p = fs::absolute(dir, ec); !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH) && st.st_uid != m.host_id) {
      return Invalid("a container in a user namespace (its root is host id " +
                     std::to_string(m.host_id) + ") cannot reach " + dir.string() + ": " +
                     p.string() + " is not searchable by others (chmod o+x " + p.string() + ")");
    }
    if (p == p.root_path()) break;
  }
  return Status::Ok();
}

Status UserNamespace::CheckUsable(const fs::path& dir) const {
  DD_RETURN_IF_ERROR(CheckSearchable(dir, mapping_));
  if (OnOverlayfs(dir)) {
    return Invalid(dir.string() +
                   " is on overlayfs, which cannot be idmapped: user namespaces need the build "
                   "state on ext4, xfs, btrfs or tmpfs");
  }
  auto clone = IdmappedClone(dir, ids_fd());
  return clone.ok() ? Status::Ok() : clone.status();
}

}  // namespace drydock::runtime
