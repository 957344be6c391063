// CopyInto: Docker's COPY/ADD file semantics on two directory trees.
//
// The destination path is resolved with openat2(RESOLVE_IN_ROOT) from the
// destination root, and everything below it is created with *at() calls on
// directory descriptors and plain entry names, O_NOFOLLOW throughout, so a
// symlink in either tree can never lead a read or a write outside its root.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <utility>

#include "builder/context.h"
#include "builder/context_internal.h"

namespace drydock::builder {
namespace {

using internal::ErrnoStatus;
using internal::JoinPath;

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return slash == 0 ? "/" : std::string(path.substr(0, slash));
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Streams the rest of `in` into `out`, in the kernel when it can.
Status CopyData(int in, int out, const std::string& what) {
  for (bool first = true;; first = false) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size_t{1} << 30, 0);
    if (n > 0) continue;
    if (n == 0) return Status::Ok();
    if (errno == EINTR) continue;
    // Some file systems (and cross-device copies on older kernels) refuse
    // before copying anything; then fall back to read/write.
    bool unsupported = errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                       errno == EINVAL || errno == EPERM || errno == EIO;
    if (!first || !unsupported) return ErrnoStatus("copy " + what, errno);
    break;
  }
  std::string buf(1 << 16, '\0');
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read " + what, errno);
    if (n == 0) return Status::Ok();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus("write " + what, errno);
      done += w;
    }
  }
}

// Extended attributes, best effort like BuildKit (which logs and goes on):
// namespaces such as security.* or trusted.* may not be writable here.
void CopyXattrs(int src, int dst) {
  ssize_t size = ::flistxattr(src, nullptr, 0);
  if (size <= 0) return;
  std::string names(static_cast<size_t>(size), '\0');
  size = ::flistxattr(src, names.data(), names.size());
  if (size <= 0) return;
  names.resize(static_cast<size_t>(size));
  for (size_t i = 0; i < names.size(); i = names.find('\0', i) + 1) {
    const char* name = names.c_str() + i;
    ssize_t len = ::fgetxattr(src, name, nullptr, 0);
    if (len < 0) continue;
    std::string value(static_cast<size_t>(len), '\0');
    len = ::fgetxattr(src, name, value.data(), value.size());
    if (len < 0) continue;
    // As docker: xattrs the destination filesystem refuses are dropped.
    (void)::fsetxattr(dst, name, value.data(), static_cast<size_t>(len), 0);
  }
}

// One destination directory of a walk. Directories that are excluded but may
// still receive re-included entries are created only when the first one comes.
struct Dir {
  Dir* parent = nullptr;
  std::string name;    // entry name in the parent
  std::string path;    // destination path, for messages and hard links
  struct stat src {};  // the source directory, whose metadata it takes at the end
  UniqueFd src_fd;     // the source directory, open for reading
  UniqueFd fd;         // the destination, once it exists
};

class Copier {
 public:
  Copier(int src_root, int dst_root, const CopyOptions& options)
      : src_root_(src_root), dst_root_(dst_root), opt_(options) {
    if (options.uid || options.gid) {
      chown_ = true;
      uid_ = options.uid.value_or(0);
      gid_ = options.gid.value_or(uid_);
    }
  }

  Status Copy(const std::string& source, const std::string& dest, bool into_dir) {
    DD_ASSIGN_OR_RETURN(rel, internal::CleanSource(source));
    auto src = internal::ResolveSource(src_root_, rel);
    if (!src.ok()) {
      if (src.status().code() == Code::kNotFound) return NotFound("source not found: " + source);
      return src.status();
    }
    DD_ASSIGN_OR_RETURN(visible, internal::VisibleInContext(opt_.ignore, *src, rel));
    if (!visible) return NotFound("source excluded by .dockerignore: " + source);

    if (S_ISDIR(src->st.st_mode)) return CopyContents(*src, dest);

    // Work from the real parent and name, so the leaf copy never follows links.
    UniqueFd src_dir = internal::OpenInRoot(src_root_, DirName(src->rel), O_PATH | O_DIRECTORY);
    if (!src_dir.valid()) return ErrnoStatus("open " + source, errno);
    std::string src_name = BaseName(src->rel);

    UniqueFd dst_dir;
    std::string dst_name, dst_path;
    if (!into_dir) {
      // An existing directory (possibly through symlinks) receives the file.
      dst_dir = internal::OpenInRoot(dst_root_, dest, O_RDONLY | O_DIRECTORY);
      into_dir = dst_dir.valid();
    }
    if (into_dir) {
      if (!dst_dir.valid()) {
        DD_ASSIGN_OR_RETURN(dir, MkdirAll(dest));
        dst_dir = std::move(dir);
      }
      dst_name = BaseName(rel);
      dst_path = JoinPath(dest, dst_name);
    } else {
      DD_ASSIGN_OR_RETURN(dir, MkdirAll(DirName(dest)));
      dst_dir = std::move(dir);
      dst_name = BaseName(dest);
      dst_path = dest;
    }
    return CopyLeaf(src_dir.get(), src_name, dst_dir.get(), dst_name, dst_path);
  }

  // Parents created on the way get the overridden time last, once nothing
  // else will be added to them.
  Status Finish() {
    if (!opt_.mtime) return Status::Ok();
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      DD_RETURN_IF_ERROR(SetTimes(it->second.get(), nullptr, it->first));
    }
    return Status::Ok();
  }

 private:
  // A directory source: its contents are merged into `dest`, which keeps (or,
  // when created, gets the parent-directory defaults for) its own metadata.
  Status CopyContents(const internal::ResolvedSource& src, const std::string& dest) {
    Dir top;
    top.path = dest;
    DD_ASSIGN_OR_RETURN(fd, MkdirAll(dest));
    top.fd = std::move(fd);
    struct stat before;
    if (::fstat(top.fd.get(), &before) != 0) return ErrnoStatus("stat " + dest, errno);
    DD_ASSIGN_OR_RETURN(src_dir, internal::ReopenDir(src.fd.get(), src.rel));
    DD_RETURN_IF_ERROR(CopyChildren(top, src_dir.get(), src.rel));
    // Adding entries bumped the times; BuildKit puts them back.
    timespec times[2] = {before.st_atim, before.st_mtim};
    if (::futimens(top.fd.get(), times) != 0) return ErrnoStatus("set times on " + dest, errno);
    return Status::Ok();
  }

  Status CopyChildren(Dir& into, int src_dir, const std::string& src_rel) {
    DD_ASSIGN_OR_RETURN(names, internal::ReadDirNames(src_dir));
    for (const std::string& name : names) {
      std::string rel = JoinPath(src_rel, name);
      std::string path = JoinPath(into.path, name);
      struct stat st;
      if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus("stat " + rel, errno);
      }
      bool excluded = opt_.ignore != nullptr && opt_.ignore->Excluded(rel);
      if (!S_ISDIR(st.st_mode)) {
        if (excluded) continue;
        DD_RETURN_IF_ERROR(Materialize(into));
        DD_RETURN_IF_ERROR(CopyLeaf(src_dir, name, into.fd.get(), name, path));
        continue;
      }
      // An excluded directory is only worth entering if a '!' rule can bring
      // something inside it back.
      if (excluded && !opt_.ignore->has_exceptions()) continue;
      Dir sub;
      sub.parent = &into;
      sub.name = name;
      sub.path = path;
      sub.src = st;
      sub.src_fd = UniqueFd(
          ::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.src_fd.valid()) return ErrnoStatus("open " + rel, errno);
      if (!excluded) DD_RETURN_IF_ERROR(Materialize(sub));
      DD_RETURN_IF_ERROR(CopyChildren(sub, sub.src_fd.get(), rel));
      if (sub.fd.valid()) {
        DD_RETURN_IF_ERROR(ApplyMetadata(sub.fd.get(), sub.src_fd.get(), sub.src, sub.path));
      }
    }
    return Status::Ok();
  }

  // Creates `dir` (and any pending parents) or merges into an existing one.
  Status Materialize(Dir& dir) {
    if (dir.fd.valid()) return Status::Ok();
    DD_RETURN_IF_ERROR(Materialize(*dir.parent));
    int parent = dir.parent->fd.get();
    struct stat st;
    if (::fstatat(parent, dir.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      // Also a symlink to a directory: BuildKit refuses to merge through it.
      if (!S_ISDIR(st.st_mode)) return Invalid("cannot copy to non-directory: " + dir.path);
    } else if (errno != ENOENT) {
      return ErrnoStatus("stat " + dir.path, errno);
    } else if (::mkdirat(parent, dir.name.c_str(), 0700) != 0) {
      // 0700 until its contents are in; ApplyMetadata sets the real mode.
      return ErrnoStatus("mkdir " + dir.path, errno);
    }
    dir.fd = UniqueFd(
        ::openat(parent, dir.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.fd.valid()) return ErrnoStatus("open " + dir.path, errno);
    return Status::Ok();
  }

  // Copies one non-directory entry (file, symlink, device, fifo, socket).
  Status CopyLeaf(int src_dir, const std::string& src_name, int dst_dir,
                  const std::string& dst_name, const std::string& dst_path) {
    struct stat st;
    if (::fstatat(src_dir, src_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("stat " + src_name, errno);
    }
    if (S_ISREG(st.st_mode)) return CopyFile(src_dir, src_name, st, dst_dir, dst_name, dst_path);
    DD_RETURN_IF_ERROR(ClearSlot(dst_dir, dst_name, dst_path));
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(src_dir, src_name.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoStatus("readlink " + src_name, errno);
      if (static_cast<size_t>(n) == target.size()) {
        return Internal("symlink changed while copying: " + src_name);
      }
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), dst_dir, dst_name.c_str()) != 0) {
        return ErrnoStatus("symlink " + dst_path, errno);
      }
    } else {
      if (::mknodat(dst_dir, dst_name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
        return ErrnoStatus("mknod " + dst_path, errno);
      }
      // Opening a fifo or device could block or have side effects, so these
      // are set by name; the entry was just created in a directory we hold.
      if (::fchmodat(dst_dir, dst_name.c_str(), Mode(st), 0) != 0) {
        return ErrnoStatus("chmod " + dst_path, errno);
      }
    }
    auto [uid, gid] = Owner(st);
    if (::fchownat(dst_dir, dst_name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("chown " + dst_path, errno);
    }
    timespec times[2] = {st.st_atim, st.st_mtim};
    if (opt_.mtime) times[0] = times[1] = timespec{static_cast<time_t>(*opt_.mtime), 0};
    if (::utimensat(dst_dir, dst_name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("set times on " + dst_path, errno);
    }
    return Status::Ok();
  }

  Status CopyFile(int src_dir, const std::string& src_name, const struct stat& st, int dst_dir,
                  const std::string& dst_name, const std::string& dst_path) {
    // Open the source before clearing the slot: they may be the same file.
    UniqueFd in(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in.valid()) return ErrnoStatus("open " + src_name, errno);
    DD_RETURN_IF_ERROR(ClearSlot(dst_dir, dst_name, dst_path));
    std::pair<dev_t, ino_t> inode{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      auto first = links_.find(inode);
      if (first != links_.end()) return Link(first->second, dst_dir, dst_name, dst_path);
    }
    UniqueFd out(::openat(dst_dir, dst_name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) return ErrnoStatus("create " + dst_path, errno);
    DD_RETURN_IF_ERROR(CopyData(in.get(), out.get(), dst_path));
    DD_RETURN_IF_ERROR(ApplyMetadata(out.get(), in.get(), st, dst_path));
    if (st.st_nlink > 1) links_.emplace(inode, dst_path);
    return Status::Ok();
  }

  // Another name for a file this copy already wrote at `first`.
  Status Link(const std::string& first, int dst_dir, const std::string& dst_name,
              const std::string& dst_path) {
    UniqueFd dir = internal::OpenInRoot(dst_root_, DirName(first), O_PATH | O_DIRECTORY);
    if (!dir.valid()) return ErrnoStatus("open " + DirName(first), errno);
    if (::linkat(dir.get(), BaseName(first).c_str(), dst_dir, dst_name.c_str(), 0) != 0) {
      return ErrnoStatus("link " + dst_path + " to " + first, errno);
    }
    return Status::Ok();
  }

  // Makes room for a non-directory: an existing one is replaced (a symlink
  // itself, not what it points to), a directory is an error.
  Status ClearSlot(int dir, const std::string& name, const std::string& path) {
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("stat " + path, errno);
    }
    if (S_ISDIR(st.st_mode)) return Invalid("cannot replace directory " + path + " with a file");
    if (::unlinkat(dir, name.c_str(), 0) != 0) return ErrnoStatus("remove " + path, errno);
    return Status::Ok();
  }

  // Creates the missing directories of the absolute `path` inside the
  // destination root (0755, --chown's owner or root), resolving each prefix
  // from the root so symlinks on the way stay confined.
  Result<UniqueFd> MkdirAll(std::string_view path) {
    UniqueFd dir = internal::OpenInRoot(dst_root_, "/", O_RDONLY | O_DIRECTORY);
    if (!dir.valid()) return ErrnoStatus("open destination root", errno);
    std::string prefix;
    for (std::string_view part : internal::SplitPath(path)) {
      prefix += "/";
      prefix += part;
      UniqueFd next = internal::OpenInRoot(dst_root_, prefix, O_RDONLY | O_DIRECTORY);
      if (!next.valid()) {
        if (errno == ENOTDIR) return Invalid("cannot copy to non-directory: " + prefix);
        if (errno != ENOENT) return ErrnoStatus("open " + prefix, errno);
        std::string name(part);
        if (::mkdirat(dir.get(), name.c_str(), 0755) != 0) {
          // EEXIST here means a dangling symlink is in the way.
          return ErrnoStatus("mkdir " + prefix, errno);
        }
        next = UniqueFd(
            ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next.valid()) return ErrnoStatus("open " + prefix, errno);
        // mkdir applied the umask and maybe a setgid parent's group.
        if (::fchmod(next.get(), 0755) != 0) return ErrnoStatus("chmod " + prefix, errno);
        if (::fchown(next.get(), chown_ ? uid_ : 0, chown_ ? gid_ : 0) != 0) {
          return ErrnoStatus("chown " + prefix, errno);
        }
        if (opt_.mtime) {
          created_.emplace_back(prefix, UniqueFd(::fcntl(next.get(), F_DUPFD_CLOEXEC, 0)));
        }
      }
      dir = std::move(next);
    }
    return dir;
  }

  std::pair<uid_t, gid_t> Owner(const struct stat& st) const {
    if (chown_) return {uid_, gid_};
    if (opt_.preserve_owner) return {st.st_uid, st.st_gid};
    return {0, 0};
  }

  mode_t Mode(const struct stat& st) const {
    return opt_.mode ? static_cast<mode_t>(*opt_.mode & 07777) : (st.st_mode & 07777);
  }

  // Owner first (chown clears set-id bits), then mode, xattrs, and the
  // times last since the others would not disturb them but writes would.
  Status ApplyMetadata(int dst, int src, const struct stat& st, const std::string& path) {
    auto [uid, gid] = Owner(st);
    if (::fchown(dst, uid, gid) != 0) return ErrnoStatus("chown " + path, errno);
    if (::fchmod(dst, Mode(st)) != 0) return ErrnoStatus("chmod " + path, errno);
    CopyXattrs(src, dst);
    return SetTimes(dst, &st, path);
  }

  Status SetTimes(int fd, const struct stat* st, const std::string& path) {
    timespec times[2];
    if (opt_.mtime) {
      times[0] = times[1] = timespec{static_cast<time_t>(*opt_.mtime), 0};
    } else if (st != nullptr) {
      times[0] = st->st_atim;
      times[1] = st->st_mtim;
    } else {
      return Status::Ok();
    }
    if (::futimens(fd, times) != 0) return ErrnoStatus("set times on " + path, errno);
    return Status::Ok();
  }

  int src_root_;
  int dst_root_;
  const CopyOptions& opt_;
  bool chown_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;   // first destination of each linked inode
  std::vector<std::pair<std::string, UniqueFd>> created_;  // parents MkdirAll made
};

// Docker treats a destination ending in '/' (or naming "." / "..") as a directory.
bool NamesDirectory(std::string_view dest) {
  return dest.empty() || dest.ends_with('/') || dest == "." || dest == ".." ||
         dest.ends_with("/.") || dest.ends_with("/..");
}

}  // namespace

Status CopyInto(const std::filesystem::path& src_root, const std::vector<std::string>& sources,
                const std::filesystem::path& dest_root, std::string_view dest,
                std::string_view workdir, const CopyOptions& options) {
  if (sources.empty()) return Invalid("no source files were specified");
  UniqueFd src_fd(::open(src_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!src_fd.valid()) return ErrnoStatus("open " + src_root.string(), errno);
  UniqueFd dst_fd(::open(dest_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dst_fd.valid()) return ErrnoStatus("open " + dest_root.string(), errno);

  std::string abs = dest.starts_with('/')
                        ? std::string(dest)
                        : JoinPath("/" + std::string(workdir), dest.empty() ? "." : dest);
  std::string dest_path = internal::CleanPath(abs);
  bool into_dir = sources.size() > 1 || NamesDirectory(dest);

  Copier copier(src_fd.get(), dst_fd.get(), options);
  for (const std::string& source : sources) {
    DD_RETURN_IF_ERROR(copier.Copy(source, dest_path, into_dir));
  }
  return copier.Finish();
}

}  // namespace drydock::builder
