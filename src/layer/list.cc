// A layer's entries without unpacking it: what a rebase checks an image's
// own layers against the base's.
#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "layer/layer.h"

namespace drydock::layer {
namespace {

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

// "./a//b/" → "a/b" (".." is kept: the path is only compared, never opened).
std::string Normalize(std::string_view name) {
  std::string out;
  while (!name.empty()) {
    auto slash = name.find('/');
    auto part = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

LayerEntry EntryFor(std::string path, bool directory) {
  LayerEntry e;
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string::npos ? std::string_view(path)
                                                     : std::string_view(path).substr(slash + 1);
  std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  if (base == kOpaque) {
    e.kind = LayerEntry::kOpaque;
    e.path = parent;
  } else if (base.substr(0, kWhiteout.size()) == kWhiteout) {
    e.kind = LayerEntry::kWhiteout;
    e.path = (parent.empty() ? "" : parent + "/") + std::string(base.substr(kWhiteout.size()));
  } else {
    e.kind = directory ? LayerEntry::kDirectory : LayerEntry::kFile;
    e.path = std::move(path);
  }
  return e;
}

}  // namespace

Result<std::vector<LayerEntry>> ListLayer(const std::filesystem::path& blob) {
  std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  auto error = [&](const std::string& what) {
    const char* why = archive_error_string(in.get());
    return Invalid(what + " " + blob.string() + ": " + (why ? why : "unknown archive error"));
  };
  if (archive_read_open_filename(in.get(), blob.c_str(), 256 * 1024) != ARCHIVE_OK)
    return error("cannot read layer");
  std::vector<LayerEntry> out;
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return error("damaged layer");
    const char* name = archive_entry_pathname(entry);
    if (!name) return error("a nameless entry in layer");
    std::string path = Normalize(name);
    if (path.empty()) continue;  // the root itself
    out.push_back(EntryFor(std::move(path), archive_entry_filetype(entry) == AE_IFDIR));
  }
  return out;
}

}  // namespace drydock::layer
