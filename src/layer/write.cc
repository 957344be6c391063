// Overlay upper dir → deterministic tar stream → CompressingSink.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "layer/compress.h"

namespace drydock::layer {
namespace {

namespace fs = std::filesystem;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

la_ssize_t SinkWrite(archive*, void* sink, const void* data, size_t n) {
  auto* s = static_cast<CompressingSink*>(sink);
  return s->Write(data, n).ok() ? static_cast<la_ssize_t>(n) : -1;
}

std::vector<std::string> SortedChildren(const fs::path& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool IsOpaque(const fs::path& dir) {
  char v[4];
  ssize_t n = ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

class TarWriter {
 public:
  TarWriter(archive* a, const WriteOptions& o) : a_(a), o_(o) {}

  Status Walk(const fs::path& root, const std::string& rel) {
    for (const auto& name : SortedChildren(root / rel)) {
      std::string child = rel.empty() ? name : rel + "/" + name;
      DD_RETURN_IF_ERROR(Add(root, child));
    }
    return Status::Ok();
  }

 private:
  int64_t Clamp(int64_t t) const {
    return o_.source_date_epoch ? std::min(t, *o_.source_date_epoch) : t;
  }

  Status Header(archive_entry* e, const std::string& what) {
    if (archive_write_header(a_, e) != ARCHIVE_OK) {
      return Internal("tar header for " + what + ": " + archive_error_string(a_));
    }
    return Status::Ok();
  }

  Status Marker(const std::string& rel, const struct stat& st) {
    EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0);
    archive_entry_set_size(e.get(), 0);
    archive_entry_set_mtime(e.get(), Clamp(st.st_mtim.tv_sec), 0);
    return Header(e.get(), rel);
  }

  void AddXattrs(archive_entry* e, const fs::path& p) {
    char names[4096];
    ssize_t len = ::llistxattr(p.c_str(), names, sizeof names);
    for (ssize_t i = 0; i < len;) {
      std::string name = names + i;
      i += static_cast<ssize_t>(name.size()) + 1;
      if (name.rfind("trusted.overlay.", 0) == 0) continue;  // overlayfs bookkeeping, not content
      char value[4096];
      ssize_t vn = ::lgetxattr(p.c_str(), name.c_str(), value, sizeof value);
      if (vn >= 0) archive_entry_xattr_add_entry(e, name.c_str(), value, static_cast<size_t>(vn));
    }
  }

  Status Add(const fs::path& root, const std::string& rel) {
    fs::path p = root / rel;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0)
      return Internal("stat " + p.string() + ": " + std::strerror(errno));
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
      auto slash = rel.rfind('/');
      std::string wh = slash == std::string::npos
                           ? ".wh." + rel
                           : rel.substr(0, slash + 1) + ".wh." + rel.substr(slash + 1);
      return Marker(wh, st);
    }
    EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), Clamp(st.st_mtim.tv_sec),
                            o_.source_date_epoch ? 0 : st.st_mtim.tv_nsec);
    AddXattrs(e.get(), p);
    bool content = false;
    if (S_ISREG(st.st_mode)) {
      auto key = std::pair{st.st_dev, st.st_ino};
      if (st.st_nlink > 1) {
        auto [it, fresh] = links_.emplace(key, rel);
        if (!fresh) {
          archive_entry_set_hardlink(e.get(), it->second.c_str());
          archive_entry_set_size(e.get(), 0);
          return Header(e.get(), rel);
        }
      }
      archive_entry_set_size(e.get(), st.st_size);
      content = true;
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(p.c_str(), target.data(), target.size());
      if (n < 0) return Internal("readlink " + p.string());
      target.resize(static_cast<size_t>(n));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      archive_entry_set_rdev(e.get(), st.st_rdev);
    }
    DD_RETURN_IF_ERROR(Header(e.get(), rel));
    if (content) DD_RETURN_IF_ERROR(CopyData(p, rel));
    if (S_ISDIR(st.st_mode)) {
      if (IsOpaque(p)) DD_RETURN_IF_ERROR(Marker(rel + "/.wh..wh..opq", st));
      DD_RETURN_IF_ERROR(Walk(root, rel));
    }
    return Status::Ok();
  }

  Status CopyData(const fs::path& p, const std::string& rel) {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return Internal("open " + p.string() + ": " + std::strerror(errno));
    std::vector<char> buf(256 * 1024);
    while (true) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Internal("read " + p.string() + ": " + std::strerror(errno));
      if (n == 0) return Status::Ok();
      if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) {
        return Internal("tar data for " + rel + ": " + archive_error_string(a_));
      }
    }
  }

  archive* a_;
  const WriteOptions& o_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

Result<LayerBlob> WriteLayer(const fs::path& upper, const fs::path& out,
                             const WriteOptions& options) {
  auto sink = CompressingSink::Create(out, options.compression);
  if (!sink.ok()) return sink.status();
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 10240);
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open2(a.get(), sink->get(), nullptr, SinkWrite, nullptr, nullptr) !=
      ARCHIVE_OK) {
    return Internal(std::string("tar open: ") + archive_error_string(a.get()));
  }
  DD_RETURN_IF_ERROR(TarWriter(a.get(), options).Walk(upper, ""));
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Internal(std::string("tar close: ") + archive_error_string(a.get()));
  }
  DD_RETURN_IF_ERROR((*sink)->Finish());
  return LayerBlob{out, (*sink)->digest(), (*sink)->diff_id(), (*sink)->size(),
                   MediaTypeFor(options.compression)};
}

}  // namespace drydock::layer
