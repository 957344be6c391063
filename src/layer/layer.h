// Image layers: turning a filesystem diff into a deterministic, compressed
// tar (digest and diff ID computed in the same pass), and unpacking a layer
// into an overlayfs-format directory that can be stacked as a lower dir.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::layer {

enum class Compression { kGzip, kZstd, kNone };

struct WriteOptions {
  Compression compression = Compression::kGzip;
  // When set, every timestamp is clamped to it so identical inputs give identical digests.
  std::optional<int64_t> source_date_epoch;
};

struct LayerBlob {
  std::filesystem::path path;  // the compressed tar
  oci::Digest digest;          // of the compressed bytes (the blob)
  oci::Digest diff_id;         // of the uncompressed tar
  uint64_t size = 0;
  std::string media_type;  // OCI layer media type for the compression
};

// Writes the tar of an overlayfs upper directory to `out`: 0/0 character
// devices become `.wh.<name>` whiteouts and directories marked opaque get
// `.wh..wh..opq`. Entries are sorted; hard links, symlinks, modes,
// ownership, xattrs and mtimes are kept.
Result<LayerBlob> WriteLayer(const std::filesystem::path& upper, const std::filesystem::path& out,
                             const WriteOptions& options);

// Unpacks a layer blob (gzip, zstd or plain tar) into `dest` in overlayfs
// format. Entries that would land outside `dest` are refused.
Status UnpackLayer(const std::filesystem::path& blob, const std::filesystem::path& dest);

// Applies a layer blob onto a merged root filesystem directory: whiteouts
// delete what they name instead of being recorded (for exporting a flat rootfs).
Status ApplyLayer(const std::filesystem::path& blob, const std::filesystem::path& root);

// One entry of a layer as an image sees it: a file (anything but a
// directory), a directory, a whiteout deleting `path`, or an opaque marker
// hiding what lower layers hold under the directory `path`.
struct LayerEntry {
  enum Kind { kFile, kDirectory, kWhiteout, kOpaque };
  std::string path;  // relative, normalised: "etc/os-release"
  Kind kind = kFile;
};

// The entries of a layer blob (gzip, zstd or plain tar), in archive order.
Result<std::vector<LayerEntry>> ListLayer(const std::filesystem::path& blob);

std::string MediaTypeFor(Compression c);

// True when `file` is a tar archive, compressed or not (ADD extracts those).
bool IsArchive(const std::filesystem::path& file);

}  // namespace drydock::layer
