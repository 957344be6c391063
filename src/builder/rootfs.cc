#include "builder/rootfs.h"

#include "builder/builder.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "base/fd.h"

namespace drydock::builder {
namespace {

int OpenInRoot(int root_fd, const std::string& rel, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      ::syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (!part.empty() && part != ".") out.push_back(part);
  }
  return out;
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Looks `name` up in a passwd/group style file; returns fields of the matching line.
std::optional<std::vector<std::string>> FindEntry(const std::string& file, const std::string& name,
                                                  size_t id_field) {
  std::stringstream lines(file);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    std::string x;
    while (std::getline(fields, x, ':')) f.push_back(x);
    if (f.size() <= id_field) continue;
    if (f[0] == name || (IsNumber(name) && f[id_field] == name)) return f;
  }
  return std::nullopt;
}

// Gids of the groups that list `user` as a member (runc's supplementary groups).
std::vector<uint32_t> MemberOf(const std::string& group_file, const std::string& user) {
  std::vector<uint32_t> gids;
  std::stringstream lines(group_file);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    std::string x;
    while (std::getline(fields, x, ':')) f.push_back(x);
    if (f.size() < 4 || !IsNumber(f[2])) continue;
    std::stringstream members(f[3]);
    while (std::getline(members, x, ',')) {
      if (x == user) gids.push_back(static_cast<uint32_t>(std::stoul(f[2])));
    }
  }
  return gids;
}

}  // namespace

Status MkdirAllInRoot(const std::filesystem::path& root, const std::string& path, uint32_t uid,
                      uint32_t gid) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Internal("open " + root.string() + ": " + std::strerror(errno));
  std::string rel;
  for (const auto& part : Components(path)) {
    rel += (rel.empty() ? "" : "/") + part;
    UniqueFd existing(OpenInRoot(dir.get(), rel, O_RDONLY | O_DIRECTORY));
    if (existing.valid()) continue;
    // Create the last component in its (already resolved) parent.
    auto slash = rel.rfind('/');
    UniqueFd parent(OpenInRoot(dir.get(), slash == std::string::npos ? "" : rel.substr(0, slash),
                               O_RDONLY | O_DIRECTORY));
    if (!parent.valid())
      return Internal("resolve " + path + " in the image: " + std::strerror(errno));
    if (::mkdirat(parent.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
      return Internal("mkdir " + path + " in the image: " + std::strerror(errno));
    }
    ::fchownat(parent.get(), part.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  }
  return Status::Ok();
}

bool ExistsInRoot(const std::filesystem::path& root, const std::string& path) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return false;
  std::string rel;
  for (const auto& part : Components(path)) rel += (rel.empty() ? "" : "/") + part;
  UniqueFd fd(OpenInRoot(dir.get(), rel, O_PATH | O_NOFOLLOW));
  return fd.valid();
}

Result<std::optional<std::string>> ReadFileInRoot(const std::filesystem::path& root,
                                                  const std::string& path) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Internal("open " + root.string());
  std::string rel;
  for (const auto& part : Components(path)) rel += (rel.empty() ? "" : "/") + part;
  UniqueFd fd(OpenInRoot(dir.get(), rel, O_RDONLY));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    return Internal("open " + path + " in the image: " + std::strerror(errno));
  }
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return std::optional<std::string>(out);
}

Result<std::filesystem::path> ResolveDirInRoot(const std::filesystem::path& root,
                                               const std::string& path) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Internal("open " + root.string());
  std::string rel;
  for (const auto& part : Components(path)) rel += (rel.empty() ? "" : "/") + part;
  UniqueFd fd(OpenInRoot(dir.get(), rel, O_RDONLY | O_DIRECTORY));
  if (!fd.valid()) return Invalid("directory " + path + " does not exist in the image");
  std::error_code ec;
  auto real = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd.get()), ec);
  if (ec) return Internal("resolve " + path + ": " + ec.message());
  return real;
}

Result<UserIds> ResolveUser(const std::filesystem::path& root, const std::string& spec,
                            UserRule rule) {
  UserIds ids;
  if (spec.empty()) return ids;
  std::string user = spec.substr(0, spec.find(':'));
  std::string group = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  std::optional<std::vector<std::string>> entry;
  if (!IsNumber(user) || rule == UserRule::kProcess) {
    auto passwd = ReadFileInRoot(root, "/etc/passwd");
    if (!passwd.ok()) return passwd.status();
    if (passwd->has_value()) entry = FindEntry(**passwd, user, 2);
  }
  if (entry && entry->size() > 3) {
    ids.uid = static_cast<uint32_t>(std::stoul((*entry)[2]));
    ids.gid = static_cast<uint32_t>(std::stoul((*entry)[3]));
  } else if (IsNumber(user)) {
    ids.uid = static_cast<uint32_t>(std::stoul(user));
    ids.gid = rule == UserRule::kOwner ? ids.uid : 0;
  } else {
    return Invalid("unable to find user " + user + ": no matching entries in passwd file");
  }
  if (group.empty() && entry && rule == UserRule::kProcess) {
    // Without an explicit group, RUN also gets the user's supplementary groups, as runc gives.
    auto groups = ReadFileInRoot(root, "/etc/group");
    if (!groups.ok()) return groups.status();
    if (groups->has_value()) ids.groups = MemberOf(**groups, (*entry)[0]);
  }
  if (!group.empty()) {
    auto groups = ReadFileInRoot(root, "/etc/group");
    if (!groups.ok()) return groups.status();
    auto g = groups->has_value() ? FindEntry(**groups, group, 2) : std::nullopt;
    if (g) {
      ids.gid = static_cast<uint32_t>(std::stoul((*g)[2]));
    } else if (IsNumber(group)) {
      ids.gid = static_cast<uint32_t>(std::stoul(group));
    } else {
      return Invalid("unable to find group " + group + ": no matching entries in group file");
    }
  }
  return ids;
}

Result<ContainerUser> ResolveContainerUser(const std::filesystem::path& rootfs,
                                           const std::string& user) {
  if (user.empty()) return ContainerUser{};
  DD_ASSIGN_OR_RETURN(ids, ResolveUser(rootfs, user, UserRule::kProcess));
  return ContainerUser{ids.uid, ids.gid, ids.groups};
}

}  // namespace drydock::builder
