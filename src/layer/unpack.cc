// Layer tar → directory, either in overlayfs format (whiteouts kept as 0/0
// char devices and opaque xattrs, for stacking) or applied onto a merged
// root (whiteouts delete). Entry names are sanitised before anything is
// written, and libarchive refuses to write through symlinks.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "layer/layer.h"

namespace drydock::layer {
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

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

// "./a//b/" → "a/b"; an entry climbing out with ".." is an error.
Result<std::string> CleanPath(std::string_view name) {
  std::vector<std::string_view> parts;
  while (!name.empty()) {
    auto slash = name.find('/');
    auto part = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return Invalid("layer entry escapes the root with '..'");
    parts.push_back(part);
  }
  std::string out;
  for (auto p : parts) out += (out.empty() ? "" : "/") + std::string(p);
  return out;
}

// A reader of tar layers, compressed or not.
std::unique_ptr<archive, ReadDeleter> TarReader() {
  std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  return in;
}

enum class Mode { kOverlay, kApply };

class Unpacker {
 public:
  Unpacker(const fs::path& dest, Mode mode) : dest_(dest), mode_(mode) {}

  Status Run(const fs::path& blob) {
    auto in = TarReader();
    if (archive_read_open_filename(in.get(), blob.c_str(), 256 * 1024) != ARCHIVE_OK) {
      return Invalid("open layer " + blob.string() + ": " + ArchiveError(in.get()));
    }
    std::unique_ptr<archive, DiskDeleter> out(archive_write_disk_new());
    archive_write_disk_set_options(
        out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                       ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                       ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
    archive_entry* e;
    while (true) {
      int rc = archive_read_next_header(in.get(), &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN)
        return Invalid("layer " + blob.string() + ": " + ArchiveError(in.get()));
      DD_RETURN_IF_ERROR(Entry(in.get(), out.get(), e));
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK) {
      return Internal(std::string("finish unpacking: ") + ArchiveError(out.get()));
    }
    return Status::Ok();
  }

 private:
  Status Entry(archive* in, archive* out, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    auto rel = CleanPath(raw ? raw : "");
    if (!rel.ok())
      return Invalid(std::string("layer entry '") + (raw ? raw : "") +
                     "': " + rel.status().message());
    if (rel->empty()) return Status::Ok();  // the root itself
    fs::path rp(*rel);
    std::string base = rp.filename().string();
    fs::path parent = dest_ / rp.parent_path();
    if (base == kOpaque || base.rfind(kWhiteout, 0) == 0) {
      DD_RETURN_IF_ERROR(RealDirectories(rp.parent_path(), *rel));
      if (base == kOpaque) return Opaque(parent);
      std::string name = base.substr(kWhiteout.size());
      // ".wh..." would delete dest's parent, ".wh.." dest itself.
      if (name.empty() || name == "." || name == "..")
        return Invalid("layer entry '" + *rel + "': whiteout of '" + name + "'");
      return Whiteout(parent / name);
    }
    archive_entry_set_pathname(e, (dest_ / rp).c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      auto target = CleanPath(link);
      if (!target.ok())
        return Invalid(std::string("hard link target '") + link + "' escapes the root");
      archive_entry_set_hardlink(e, (dest_ / *target).c_str());
    }
    if (archive_write_header(out, e) < ARCHIVE_WARN) {
      return Invalid("unpack " + *rel + ": " + ArchiveError(out));
    }
    const void* buf;
    size_t size;
    la_int64_t offset;
    while (true) {
      int rc = archive_read_data_block(in, &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return Invalid("read " + *rel + ": " + ArchiveError(in));
      if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
        return Internal("write " + *rel + ": " + ArchiveError(out));
      }
    }
    if (archive_write_finish_entry(out) < ARCHIVE_WARN)
      return Internal("finish " + *rel + ": " + ArchiveError(out));
    return Status::Ok();
  }

  // Whiteouts and opaque markers delete (or mark) what their directory holds,
  // with plain path calls that follow symlinks. So every directory from dest
  // down to theirs must be a real one, made here if missing: a symlink that an
  // earlier entry (or, when applying, a lower layer) put on the way would
  // otherwise point the deletion anywhere on the host. Layers written by real
  // tools never have one there: overlayfs records whiteouts at real paths.
  Status RealDirectories(const fs::path& rel_dir, const std::string& entry) {
    std::error_code ec;
    fs::create_directories(dest_, ec);  // ours, trusted; a first entry may be a whiteout
    fs::path p = dest_;
    for (const auto& part : rel_dir) {
      p /= part;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) {
        if (errno != ENOENT || ::mkdir(p.c_str(), 0755) != 0)
          return Internal("create " + p.string() + ": " + std::strerror(errno));
      } else if (!S_ISDIR(st.st_mode)) {
        return Invalid("layer entry '" + entry + "': " + (p.lexically_relative(dest_)).string() +
                       " is not a directory");
      }
    }
    return Status::Ok();
  }

  Status Opaque(const fs::path& dir) {
    std::error_code ec;
    if (mode_ == Mode::kApply) {
      for (const auto& child : fs::directory_iterator(dir, ec)) fs::remove_all(child.path(), ec);
      return Status::Ok();
    }
    if (::lsetxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return Internal("mark " + dir.string() + " opaque: " + std::strerror(errno));
    }
    return Status::Ok();
  }

  Status Whiteout(const fs::path& target) {
    std::error_code ec;
    fs::remove_all(target, ec);
    if (mode_ == Mode::kApply) return Status::Ok();
    if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return Internal("whiteout " + target.string() + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }

  fs::path dest_;
  Mode mode_;
};

}  // namespace

bool IsArchive(const fs::path& file) {
  auto in = TarReader();
  if (archive_read_open_filename(in.get(), file.c_str(), 64 * 1024) != ARCHIVE_OK) return false;
  archive_entry* e;
  return archive_read_next_header(in.get(), &e) == ARCHIVE_OK;
}

Status UnpackLayer(const fs::path& blob, const fs::path& dest) {
  return Unpacker(dest, Mode::kOverlay).Run(blob);
}
Status ApplyLayer(const fs::path& blob, const fs::path& root) {
  return Unpacker(root, Mode::kApply).Run(blob);
}

// The same reading and naming rules as unpacking, without writing anything:
// what a rebase checks an image's own layers against the base's.
Result<std::vector<LayerEntry>> ListLayer(const fs::path& blob) {
  auto in = TarReader();
  if (archive_read_open_filename(in.get(), blob.c_str(), 256 * 1024) != ARCHIVE_OK)
    return Invalid("open layer " + blob.string() + ": " + ArchiveError(in.get()));
  std::vector<LayerEntry> out;
  archive_entry* e;
  while (true) {
    int rc = archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return Invalid("layer " + blob.string() + ": " + ArchiveError(in.get()));
    const char* raw = archive_entry_pathname(e);
    auto rel = CleanPath(raw ? raw : "");
    if (!rel.ok())
      return Invalid(std::string("layer entry '") + (raw ? raw : "") +
                     "': " + rel.status().message());
    if (rel->empty()) continue;  // the root itself
    fs::path rp(*rel);
    std::string base = rp.filename().string();
    if (base == kOpaque)
      out.push_back({rp.parent_path().string(), LayerEntry::kOpaque});
    else if (base.rfind(kWhiteout, 0) == 0)
      out.push_back(
          {(rp.parent_path() / base.substr(kWhiteout.size())).string(), LayerEntry::kWhiteout});
    else
      out.push_back({*rel, archive_entry_filetype(e) == AE_IFDIR ? LayerEntry::kDirectory
                                                                 : LayerEntry::kFile});
  }
  return out;
}

}  // namespace drydock::layer
