// COPY/ADD source expansion, and the confined file-system helpers that it
// and the copier share.
#include "builder/context.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "builder/context_internal.h"

namespace drydock::builder {
namespace internal {

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) return NotFound(std::move(msg));
  return Internal(std::move(msg));
}

UniqueFd OpenInRoot(int root, std::string_view path, int flags) {
  std::string p = path.empty() ? "." : std::string(path);
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root, p.c_str(), &how, sizeof(how));
    // The kernel asks for a retry when a rename raced the lookup.
  } while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  return UniqueFd(static_cast<int>(fd));
}

Result<std::vector<std::string>> ReadDirNames(int dir_fd) {
  // fdopendir takes the descriptor over, so give it a copy.
  int copy = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ErrnoStatus("dup", errno);
  DIR* dir = ::fdopendir(copy);
  if (dir == nullptr) {
    int err = errno;
    ::close(copy);
    return ErrnoStatus("opendir", err);
  }
  ::rewinddir(dir);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return ErrnoStatus("readdir", err);
  std::sort(names.begin(), names.end());
  return names;
}

Result<UniqueFd> ReopenDir(int fd, const std::string& what) {
  UniqueFd dir(::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus("open " + what, errno);
  return dir;
}

namespace {

std::optional<std::string> FdPath(int fd) {
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<size_t>(n) == buf.size()) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

// Where `fd` really is, relative to `root`; "" for the root itself.
std::optional<std::string> RelativeTo(int root, int fd) {
  auto root_path = FdPath(root);
  auto path = FdPath(fd);
  if (!root_path || !path) return std::nullopt;
  if (*path == *root_path) return "";
  std::string prefix = *root_path == "/" ? "/" : *root_path + "/";
  if (!path->starts_with(prefix)) return std::nullopt;
  return path->substr(prefix.size());
}

// Whether anything under `dir` (at `rel`) survives the ignore rules.
Result<bool> HasIncludedDescendant(const IgnoreMatcher& ignore, int dir, const std::string& rel) {
  DD_ASSIGN_OR_RETURN(names, ReadDirNames(dir));
  for (const std::string& name : names) {
    std::string child = JoinPath(rel, name);
    if (!ignore.Excluded(child)) return true;
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("stat " + child, errno);
    }
    if (!S_ISDIR(st.st_mode)) continue;
    UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return ErrnoStatus("open " + child, errno);
    DD_ASSIGN_OR_RETURN(found, HasIncludedDescendant(ignore, sub.get(), child));
    if (found) return true;
  }
  return false;
}

}  // namespace

Result<ResolvedSource> ResolveSource(int root, std::string_view rel) {
  ResolvedSource src;
  src.fd = OpenInRoot(root, rel, O_PATH);
  // A symlink loop leads nowhere, like a missing target.
  if (!src.fd.valid() && errno == ELOOP) return NotFound(std::string(rel) + ": symlink loop");
  if (!src.fd.valid()) return ErrnoStatus(std::string(rel), errno);
  if (::fstat(src.fd.get(), &src.st) != 0) return ErrnoStatus(std::string(rel), errno);
  auto real = RelativeTo(root, src.fd.get());
  src.rel = real ? *real : CleanPath(rel);
  if (src.rel == ".") src.rel.clear();
  return src;
}

Result<bool> VisibleInContext(const IgnoreMatcher* ignore, const ResolvedSource& src,
                              const std::string& named_rel) {
  if (ignore == nullptr || ignore->empty()) return true;
  auto visible = [&](const std::string& rel) -> Result<bool> {
    if (!ignore->Excluded(rel)) return true;
    if (!S_ISDIR(src.st.st_mode) || !ignore->has_exceptions()) return false;
    DD_ASSIGN_OR_RETURN(dir, ReopenDir(src.fd.get(), rel));
    return HasIncludedDescendant(*ignore, dir.get(), rel);
  };
  DD_ASSIGN_OR_RETURN(named, visible(named_rel));
  if (!named || named_rel == src.rel) return named;
  return visible(src.rel);
}

}  // namespace internal

namespace {

using internal::JoinPath;

constexpr std::string_view kNoSources = "no source files were specified";

Status NotInContext(std::string_view src, bool excluded) {
  return NotFound("file not found in build context: " + std::string(src) +
                  (excluded ? " (excluded by .dockerignore)" : ""));
}

// Expands the wildcard components of one source by walking the tree below
// its literal prefix. Like BuildKit's walk, symlinked directories met on the
// way are not entered, and each match is reported once without descending.
class Expander {
 public:
  Expander(int root, std::vector<std::string_view> parts, const IgnoreMatcher* ignore)
      : root_(root), parts_(std::move(parts)), ignore_(ignore) {}

  Status Walk(int dir, size_t depth, const std::string& named) {
    DD_ASSIGN_OR_RETURN(names, internal::ReadDirNames(dir));
    for (const std::string& name : names) {
      if (!internal::GlobMatch(parts_[depth], name).value_or(false)) continue;
      std::string child = JoinPath(named, name);
      if (depth + 1 == parts_.size()) {
        DD_RETURN_IF_ERROR(Add(child));
        continue;
      }
      struct stat st;
      if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return internal::ErrnoStatus("stat " + child, errno);
      }
      if (!S_ISDIR(st.st_mode)) continue;
      UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return internal::ErrnoStatus("open " + child, errno);
      DD_RETURN_IF_ERROR(Walk(sub.get(), depth + 1, child));
    }
    return Status::Ok();
  }

  std::vector<std::string>& matches() { return matches_; }

 private:
  // A match is copied through its symlink (if it is one), so what it leads
  // to must exist and be part of the context.
  Status Add(const std::string& rel) {
    auto src = internal::ResolveSource(root_, rel);
    if (!src.ok()) {
      if (ignore_ != nullptr && ignore_->Excluded(rel)) return Status::Ok();
      return NotInContext(rel, false);
    }
    DD_ASSIGN_OR_RETURN(visible, internal::VisibleInContext(ignore_, *src, rel));
    if (visible) matches_.push_back(rel);
    return Status::Ok();
  }

  int root_;
  std::vector<std::string_view> parts_;
  const IgnoreMatcher* ignore_;
  std::vector<std::string> matches_;
};

}  // namespace

Result<std::vector<std::string>> ExpandSources(const std::filesystem::path& root,
                                               std::string_view pattern,
                                               const IgnoreMatcher* ignore) {
  if (pattern.empty()) return NotFound(std::string(kNoSources));
  DD_ASSIGN_OR_RETURN(rel, internal::CleanSource(pattern));
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return internal::ErrnoStatus("open " + root.string(), errno);
  if (rel == ".") return std::vector<std::string>{"."};

  std::vector<std::string_view> parts = internal::SplitPath(rel);
  auto first_wild = std::find_if(parts.begin(), parts.end(), internal::ContainsWildcards);
  if (first_wild == parts.end()) {
    auto src = internal::ResolveSource(root_fd.get(), rel);
    if (!src.ok()) {
      if (src.status().code() == Code::kNotFound) return NotInContext(pattern, false);
      return src.status();
    }
    DD_ASSIGN_OR_RETURN(visible, internal::VisibleInContext(ignore, *src, rel));
    if (!visible) return NotInContext(pattern, true);
    return std::vector<std::string>{rel};
  }

  for (auto it = first_wild; it != parts.end(); ++it) {
    if (!internal::GlobMatch(*it, ".").has_value()) {
      return Invalid("syntax error in pattern: " + std::string(pattern));
    }
  }
  std::string prefix;
  for (auto it = parts.begin(); it != first_wild; ++it) prefix = JoinPath(prefix, *it);
  auto base = internal::ResolveSource(root_fd.get(), prefix);
  if (!base.ok() || !S_ISDIR(base->st.st_mode)) return NotFound(std::string(kNoSources));
  DD_ASSIGN_OR_RETURN(base_dir, internal::ReopenDir(base->fd.get(), prefix));

  size_t depth = static_cast<size_t>(first_wild - parts.begin());
  Expander expander(root_fd.get(), std::move(parts), ignore);
  DD_RETURN_IF_ERROR(expander.Walk(base_dir.get(), depth, prefix));
  if (expander.matches().empty()) return NotFound(std::string(kNoSources));
  return std::move(expander.matches());
}

}  // namespace drydock::builder
