// Tarballs as build contexts: every entry's name (and hard link target) is
// checked before libarchive writes it, and libarchive itself refuses '..'
// and writing through symlinks. Symlinks are kept as they are, wherever they
// point (`localtime -> /usr/share/zoneinfo/UTC`), as Docker keeps them: what
// reads the tree later resolves them inside it (build/context.h's
// RESOLVE_IN_ROOT, tasks' FileIn), never on the host.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "base/fd.h"
#include "source/internal.h"
#include "source/source.h"

namespace drydock::source {
namespace {

namespace fs = std::filesystem;

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct DiskDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// libarchive can fail without an error message (it does on some truncated
// gzip streams), and std::string + nullptr is undefined behaviour: a crash
// found by fuzz/layer_unpack.
const char* ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

// "./a//b/" -> "a/b". Absolute names and ".." parts are errors saying why.
Result<std::string> CleanEntryName(std::string_view name) {
  if (!name.empty() && name[0] == '/') return Invalid("is an absolute path");
  std::string out;
  size_t i = 0;
  while (i <= name.size()) {
    size_t slash = std::min(name.find('/', i), name.size());
    std::string_view part = name.substr(i, slash - i);
    i = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Invalid("escapes the destination with '..'");
    out += (out.empty() ? "" : "/") + std::string(part);
  }
  return out;
}

// Whether a directory on the way to `rel` (below `root`) is a symlink: a
// hard link made through one would link a file from wherever it leads.
bool ThroughSymlink(const fs::path& root, const std::string& rel) {
  fs::path at = root;
  fs::path parent = fs::path(rel).parent_path();
  for (const auto& part : parent) {
    at /= part;
    struct stat st;
    if (::lstat(at.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return true;
  }
  return false;
}

class Extractor {
 public:
  Extractor(const fs::path& dest, uint64_t max_bytes) : dest_(dest), max_bytes_(max_bytes) {}

  Status Run(const fs::path& file) {
    std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
    archive_read_support_filter_all(in.get());
    archive_read_support_format_tar(in.get());
    archive_read_support_format_gnutar(in.get());
    if (archive_read_open_filename(in.get(), file.c_str(), 256 * 1024) != ARCHIVE_OK) {
      std::string why = ArchiveError(in.get());
      if (archive_errno(in.get()) == ENOENT) return NotFound("open " + file.string() + ": " + why);
      return Invalid(file.filename().string() + " is not a tar archive: " + why);
    }
    std::unique_ptr<archive, DiskDeleter> out(archive_write_disk_new());
    // Names reach libarchive rewritten to absolute paths under dest (it has
    // no "extract below" option), so SECURE_NOABSOLUTEPATHS cannot be set:
    // CleanEntryName refused absolute names instead.
    archive_write_disk_set_options(
        out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                       ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK);
    for (bool first = true;; first = false) {
      archive_entry* e;
      int rc = archive_read_next_header(in.get(), &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) {
        std::string why = ArchiveError(in.get());
        return Invalid(file.filename().string() + (first ? " is not a tar archive: " : ": ") + why);
      }
      DD_RETURN_IF_ERROR(Entry(in.get(), out.get(), e));
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK)
      return Internal(std::string("finish extracting: ") + ArchiveError(out.get()));
    return Status::Ok();
  }

 private:
  Status Entry(archive* in, archive* out, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    auto cleaned = CleanEntryName(name);
    if (!cleaned.ok()) return Invalid("tarball entry '" + name + "' " + cleaned.status().message());
    const std::string& rel = *cleaned;
    if (rel.empty()) return Status::Ok();  // "./" itself
    mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      return Invalid("tarball entry '" + name + "' is a device, FIFO or socket");
    if (hardlink) {
      auto target = CleanEntryName(hardlink);
      if (!target.ok()) {
        return Invalid("tarball entry '" + name + "' is a hard link whose target '" + hardlink +
                       "' " + target.status().message());
      }
      if (ThroughSymlink(dest_, *target)) {
        return Invalid("tarball entry '" + name +
                       "' is a hard link through a symlink: " + hardlink);
      }
      archive_entry_set_hardlink(e, (dest_ / *target).c_str());
    }
    archive_entry_set_pathname(e, (dest_ / rel).c_str());
    if (archive_write_header(out, e) < ARCHIVE_WARN)
      return Invalid("extract '" + name + "': " + ArchiveError(out));
    const void* buf;
    size_t size;
    la_int64_t offset;
    while (true) {
      int rc = archive_read_data_block(in, &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return Invalid("read '" + name + "': " + ArchiveError(in));
      total_ += size;
      if (total_ > max_bytes_)
        return TooLarge("tarball contents are larger than the limit of " +
                        std::to_string(max_bytes_) + " bytes");
      if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN)
        return Internal("write '" + name + "': " + ArchiveError(out));
    }
    if (archive_write_finish_entry(out) < ARCHIVE_WARN)
      return Internal("finish '" + name + "': " + ArchiveError(out));
    return Status::Ok();
  }

  fs::path dest_;
  uint64_t max_bytes_;
  uint64_t total_ = 0;
};

void Empty(const fs::path& dir) {
  std::error_code ec;
  for (const auto& child : fs::directory_iterator(dir, ec)) fs::remove_all(child.path(), ec);
}

}  // namespace

Status ExtractTarball(const fs::path& file, const fs::path& dest_dir, uint64_t max_total_bytes) {
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec) return Internal("create " + dest_dir.string() + ": " + ec.message());
  if (!fs::is_empty(dest_dir, ec))
    return Invalid("extraction directory " + dest_dir.string() + " is not empty");
  fs::path dest = fs::canonical(dest_dir, ec);
  if (ec) return Internal("resolve " + dest_dir.string() + ": " + ec.message());
  Status s = Extractor(dest, max_total_bytes).Run(file);
  if (!s.ok()) Empty(dest);
  return s;
}

Result<Download> FetchTarball(const std::string& url, const fs::path& dest_dir,
                              const TarballOptions& options) {
  std::error_code ec;
  fs::path parent = fs::absolute(dest_dir, ec).parent_path();
  fs::create_directories(parent, ec);
  TempDir tmp(parent, "tarball");
  fs::path file = tmp.path() / "archive";
  DD_ASSIGN_OR_RETURN(download, DownloadUrl(url, file, options.download));
  Status s = ExtractTarball(file, dest_dir, options.max_total_bytes);
  if (!s.ok()) return Status(s.code(), RedactUrl(url) + ": " + s.message());
  return download;
}

}  // namespace drydock::source
