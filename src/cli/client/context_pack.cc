#include "cli/client/context_pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/random.h"
#include "builder/context.h"
#include "layer/compress.h"

namespace drydock::client {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 7> kTopLevelVcs = {
    ".git", ".gitignore", ".hg", ".hgignore", ".svn", ".bzr", ".bzrignore"};

bool IsVcs(std::string_view parent_rel, std::string_view name) {
  if (name == ".git") return true;
  return parent_rel.empty() &&
         std::find(kTopLevelVcs.begin(), kTopLevelVcs.end(), name) != kTopLevelVcs.end();
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

la_ssize_t SinkWrite(archive*, void* sink, const void* data, size_t n) {
  auto* s = static_cast<layer::CompressingSink*>(sink);
  return s->Write(data, n).ok() ? static_cast<la_ssize_t>(n) : -1;
}

Result<std::vector<std::string>> SortedNames(int dir_fd, const std::string& rel) {
  int fd = ::dup(dir_fd);
  DIR* d = fd < 0 ? nullptr : ::fdopendir(fd);
  if (!d) {
    if (fd >= 0) ::close(fd);
    return Internal(Errno("read directory " + (rel.empty() ? "." : rel)));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot read " + path.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Walks the context and writes what the ignore rules let through.
class Packer {
 public:
  Packer(archive* a, const builder::IgnoreMatcher& ignore, std::set<std::string> forced)
      : a_(a), ignore_(ignore), forced_(std::move(forced)), buf_(256 * 1024) {}

  Status Walk(int dir_fd, const std::string& rel) {
    DD_ASSIGN_OR_RETURN(names, SortedNames(dir_fd, rel));
    for (const std::string& name : names) {
      if (IsVcs(rel, name)) continue;
      DD_RETURN_IF_ERROR(Visit(dir_fd, name, rel.empty() ? name : rel + "/" + name));
    }
    return Status::Ok();
  }

  // An entry that is not in the context directory (a generated file).
  Status AddBytes(const std::string& name, const std::string& data, int64_t mtime) {
    EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_entry_set_mtime(e.get(), mtime, 0);
    DD_RETURN_IF_ERROR(Header(e.get(), name));
    if (archive_write_data(a_, data.data(), data.size()) < 0)
      return Internal("tar data for " + name + ": " + archive_error_string(a_));
    return Status::Ok();
  }

  bool Wrote(const std::string& rel) const { return written_forced_.count(rel) > 0; }
  uint64_t entries() const { return entries_; }
  uint64_t excluded() const { return excluded_; }

 private:
  Status Visit(int dir_fd, const std::string& name, const std::string& rel) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return Internal(Errno("stat " + rel));
    bool forced = forced_.count(rel) > 0;
    bool excluded = !forced && ignore_.Excluded(rel);
    if (excluded) ++excluded_;
    if (S_ISDIR(st.st_mode)) return VisitDir(dir_fd, name, rel, st, excluded);
    if (excluded) return Status::Ok();
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) return Status::Ok();  // no sockets, FIFOs…
    DD_RETURN_IF_ERROR(FlushPendingDirs());
    if (forced) written_forced_.insert(rel);
    return S_ISLNK(st.st_mode) ? AddSymlink(dir_fd, name, rel, st) : AddFile(dir_fd, name, rel, st);
  }

  // An excluded directory is still walked when a '!' rule or a forced file
  // may bring something under it back; its own entry is then written only
  // once something inside it is (pending_dirs_).
  Status VisitDir(int dir_fd, const std::string& name, const std::string& rel,
                  const struct stat& st, bool excluded) {
    if (excluded && !ignore_.has_exceptions() && !ForcedUnder(rel)) return Status::Ok();
    if (excluded) {
      pending_dirs_.push_back({rel, st});
    } else {
      DD_RETURN_IF_ERROR(FlushPendingDirs());
      DD_RETURN_IF_ERROR(AddDir(rel, st));
    }
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return Internal(Errno("open directory " + rel));
    DD_RETURN_IF_ERROR(Walk(sub.get(), rel));
    if (excluded && !pending_dirs_.empty() && pending_dirs_.back().first == rel)
      pending_dirs_.pop_back();
    return Status::Ok();
  }

  bool ForcedUnder(const std::string& dir) const {
    for (const auto& f : forced_) {
      if (f.size() > dir.size() && f.compare(0, dir.size(), dir) == 0 && f[dir.size()] == '/')
        return true;
    }
    return false;
  }

  Status FlushPendingDirs() {
    for (const auto& [rel, st] : pending_dirs_) DD_RETURN_IF_ERROR(AddDir(rel, st));
    pending_dirs_.clear();
    return Status::Ok();
  }

  // Owners are dropped (everything is root's in the build, as with the
  // docker CLI); mode and mtime (whole seconds) are kept.
  EntryPtr NewEntry(const std::string& rel, const struct stat& st) {
    EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
    return e;
  }

  Status AddDir(const std::string& rel, const struct stat& st) {
    return Header(NewEntry(rel, st).get(), rel);
  }

  Status AddSymlink(int dir_fd, const std::string& name, const std::string& rel,
                    const struct stat& st) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Internal(Errno("readlink " + rel));
    target.resize(static_cast<size_t>(n));
    EntryPtr e = NewEntry(rel, st);
    archive_entry_set_symlink(e.get(), target.c_str());
    return Header(e.get(), rel);
  }

  Status AddFile(int dir_fd, const std::string& name, const std::string& rel,
                 const struct stat& st) {
    EntryPtr e = NewEntry(rel, st);
    if (st.st_nlink > 1) {
      auto [it, fresh] = links_.emplace(std::pair{st.st_dev, st.st_ino}, rel);
      if (!fresh) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        return Header(e.get(), rel);
      }
    }
    // Opened before the header so an unreadable file fails cleanly.
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Internal(Errno("cannot read " + rel));
    archive_entry_set_size(e.get(), st.st_size);
    DD_RETURN_IF_ERROR(Header(e.get(), rel));
    // The header promised st_size bytes: a file that grows meanwhile is cut
    // there, one that shrinks is padded with zeros by libarchive.
    auto left = static_cast<uint64_t>(st.st_size);
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buf_.data(), std::min<uint64_t>(left, buf_.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Internal(Errno("read " + rel));
      if (n == 0) break;
      if (archive_write_data(a_, buf_.data(), static_cast<size_t>(n)) < 0)
        return Internal("tar data for " + rel + ": " + archive_error_string(a_));
      left -= static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status Header(archive_entry* e, const std::string& rel) {
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(a_, e) != ARCHIVE_OK)
      return Internal("tar header for " + rel + ": " + archive_error_string(a_));
    ++entries_;
    return Status::Ok();
  }

  archive* a_;
  const builder::IgnoreMatcher& ignore_;
  std::set<std::string> forced_, written_forced_;
  std::vector<std::pair<std::string, struct stat>> pending_dirs_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  std::vector<char> buf_;
  uint64_t entries_ = 0, excluded_ = 0;
};

// Where the Dockerfile sits in the context: "sub/Dockerfile", or "" when it
// is outside (symlinks resolved, so a link pointing out counts as outside).
std::string RelativeInside(const fs::path& context, const fs::path& file) {
  std::error_code ec;
  fs::path root = fs::canonical(context, ec);
  if (ec) return "";
  fs::path real = fs::canonical(file, ec);
  if (ec) return "";
  fs::path rel = real.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return "";
  return rel.generic_string();
}

// The ignore rules LoadIgnore applied, as text.
std::string IgnoreText(const fs::path& context, const fs::path& dockerfile) {
  for (const fs::path& p :
       {fs::path(dockerfile.string() + ".dockerignore"), context / ".dockerignore"}) {
    auto text = ReadFile(p);
    if (text.ok()) return *text;
  }
  return "";
}

struct Plan {
  fs::path context, dockerfile, override_ignore;
  std::string dockerfile_rel;  // "" when outside the context
  bool has_override = false;
  bool without_dockerfile = false;
};

// After the walk: a Dockerfile the walk did not write goes in under a
// generated name, with a generated ignore file (which the server's builder
// prefers) hiding both from COPY; else an override ignore file it did not
// write goes next to it.
Status AddDockerfileExtras(Packer& packer, const Plan& plan, std::string& name) {
  struct stat st {};
  ::stat(plan.dockerfile.c_str(), &st);
  if (plan.dockerfile_rel.empty() || !packer.Wrote(plan.dockerfile_rel)) {
    DD_ASSIGN_OR_RETURN(content, ReadFile(plan.dockerfile));
    name = "drydock_" + RandomHex(6) + "_" + plan.dockerfile.filename().string();
    DD_RETURN_IF_ERROR(packer.AddBytes(name, content, st.st_mtim.tv_sec));
    std::string rules = IgnoreText(plan.context, plan.dockerfile);
    rules += "\n/" + name + "\n/" + name + ".dockerignore\n";
    return packer.AddBytes(name + ".dockerignore", rules, st.st_mtim.tv_sec);
  }
  name = plan.dockerfile_rel;
  std::string ignore_rel = name + ".dockerignore";
  if (plan.has_override && !packer.Wrote(ignore_rel)) {
    DD_ASSIGN_OR_RETURN(content, ReadFile(plan.override_ignore));
    return packer.AddBytes(ignore_rel, content, st.st_mtim.tv_sec);
  }
  return Status::Ok();
}

Result<Plan> MakePlan(const PackOptions& options) {
  Plan p;
  p.context = options.context_dir;
  std::error_code ec;
  if (!fs::is_directory(p.context, ec))
    return NotFound("build context " + p.context.string() + " is not a directory");
  p.dockerfile = options.dockerfile.empty() ? p.context / "Dockerfile" : options.dockerfile;
  p.without_dockerfile = options.without_dockerfile;
  if (p.without_dockerfile) return p;
  if (!fs::is_regular_file(p.dockerfile, ec))
    return NotFound("Dockerfile " + p.dockerfile.string() + " does not exist");
  p.override_ignore = p.dockerfile.string() + ".dockerignore";
  p.has_override = fs::is_regular_file(p.override_ignore, ec);
  p.dockerfile_rel = RelativeInside(p.context, p.dockerfile);
  return p;
}

}  // namespace

Result<PackedContext> PackContext(const PackOptions& options, const fs::path& out) {
  DD_ASSIGN_OR_RETURN(plan, MakePlan(options));
  DD_ASSIGN_OR_RETURN(ignore, builder::LoadIgnore(plan.context, plan.dockerfile));
  // The server's builder needs these even when they exclude themselves.
  std::set<std::string> forced = {".dockerignore"};
  if (!plan.dockerfile_rel.empty()) {
    forced.insert(plan.dockerfile_rel);
    forced.insert(plan.dockerfile_rel + ".dockerignore");
  }
  UniqueFd root(::open(plan.context.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Internal(Errno("open " + plan.context.string()));

  DD_ASSIGN_OR_RETURN(sink, layer::CompressingSink::Create(out, layer::Compression::kGzip));
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 10240);
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open2(a.get(), sink.get(), nullptr, SinkWrite, nullptr, nullptr) !=
      ARCHIVE_OK) {
    return Internal(std::string("tar open: ") + archive_error_string(a.get()));
  }
  Packer packer(a.get(), ignore, std::move(forced));
  DD_RETURN_IF_ERROR(packer.Walk(root.get(), ""));
  PackedContext result;
  if (!plan.without_dockerfile)
    DD_RETURN_IF_ERROR(AddDockerfileExtras(packer, plan, result.dockerfile));
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return Internal(std::string("tar close: ") + archive_error_string(a.get()));
  DD_RETURN_IF_ERROR(sink->Finish());
  result.archive = out;
  result.size = sink->size();
  result.entries = packer.entries();
  result.excluded = packer.excluded();
  return result;
}

}  // namespace drydock::client
