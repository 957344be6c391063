// Content-addressed blob storage. Bytes become visible under a digest only
// through BlobWriter::Commit, which verifies the digest first: a reader can
// never see a blob whose bytes do not match its name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::storage {

struct BlobInfo {
  uint64_t size = 0;
  int64_t mtime = 0;  // unix seconds; garbage collection's grace period uses it
};

// Random-access reader over one committed blob.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual uint64_t size() const = 0;
  // Reads up to `n` bytes at `offset`; returns bytes read (0 at end).
  virtual Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) = 0;
  // A file descriptor when the bytes live in a local file (for sendfile), else -1.
  virtual int fd() const { return -1; }
  // Hands `length` bytes from `offset` to `sink` as they arrive (an object
  // store's response streams straight on to the client, with no window to
  // fill first). A false from `sink` (the client went away) stops the copy with kUnavailable. The
  // default reads in pieces with ReadAt.
  virtual Status CopyTo(uint64_t offset, uint64_t length,
                        const std::function<bool(const char*, size_t)>& sink);
};

// One upload in progress. Not thread-safe: callers serialise access per upload.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual const std::string& id() const = 0;
  virtual uint64_t size() const = 0;
  virtual Status Write(const char* data, size_t n) = 0;
  // Called after each complete chunk: saves what was written so far as a
  // new checkpoint, from which ResumeUpload continues in any process sharing
  // the store; also the point Rollback returns to when a chunk is cut short.
  virtual Status Checkpoint() = 0;
  // The last checkpoint's name (a fresh upload has one too).
  virtual const std::string& checkpoint() const = 0;
  virtual Status Rollback() = 0;
  // Verifies the content against `expected`, makes it durable and visible.
  // On mismatch nothing is stored and the upload is discarded.
  virtual Result<BlobInfo> Commit(const oci::Digest& expected) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<BlobInfo> Stat(const oci::Digest& digest) = 0;
  virtual Result<std::unique_ptr<BlobReader>> Open(const oci::Digest& digest) = 0;
  // A URL a client may GET the blob from directly (a presigned S3 URL), or
  // "" when the store's bytes are served by the registry itself.
  virtual Result<std::string> DirectUrl(const oci::Digest&) { return std::string(); }
  // Stores `bytes` directly (small blobs such as manifests pushed as blobs).
  virtual Result<BlobInfo> Put(const oci::Digest& digest, std::string_view bytes) = 0;
  virtual Status Delete(const oci::Digest& digest) = 0;
  virtual Status ForEachBlob(
      const std::function<void(const oci::Digest&, const BlobInfo&)>& fn) = 0;

  virtual Result<std::unique_ptr<BlobWriter>> CreateUpload(const std::string& id) = 0;
  // Reopens an upload at `checkpoint` (a writer's checkpoint(), possibly of
  // another server, or of one killed since), without what was written after
  // it; kNotFound when the store no longer has that checkpoint. "" takes the
  // newest the store has (uploads recorded before checkpoints were).
  virtual Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id,
                                                           const std::string& checkpoint) = 0;
  virtual Status DeleteUpload(const std::string& id) = 0;
  virtual Status ForEachUpload(
      const std::function<void(const std::string& id, int64_t mtime)>& fn) = 0;
};

// A whole blob of at most `limit` bytes (a config, an attestation);
// kTooLarge when it is bigger.
Result<std::string> ReadSmallBlob(BlobStore& store, const oci::Digest& d, size_t limit);

// Upload ids the stores accept: 1-64 of [0-9a-f-] (a random UUID), so that
// an id never names another file or key.
bool ValidUploadId(std::string_view id);

// The embedded default: files under `root` (blobs/<alg>/<xx>/<hex>, uploads/<id>).
Result<std::unique_ptr<BlobStore>> OpenFilesystemBlobStore(const std::string& root);

// An S3-compatible object store: blobs at <prefix>blobs/<alg>/<xx>/<hex>,
// uploads as multipart uploads under <prefix>uploads/<id>/ whose progress
// (parts, the tail shorter than a part, the hash state) is saved there at
// each checkpoint, so that any server can resume them.
struct S3Config {
  std::string endpoint;  // http(s)://host[:port]
  std::string bucket;
  std::string region = "us-east-1";
  std::string prefix;  // "" or ending in '/'
  std::string access_key;
  std::string secret_key;
  uint64_t part_size = 16ull << 20;  // S3 wants parts of at least 5 MiB
  // S3 copies at most 5 GiB in one call: a larger blob is copied in parts.
  uint64_t max_copy_bytes = 5ull << 30;
  // Blob GETs answer 307 to a presigned URL valid this long (0: the
  // registry streams them). The endpoint must then be reachable by clients.
  int redirect_seconds = 0;
  long timeout_seconds = 300;
};
// Fails, naming what is wrong, when the bucket cannot be reached.
Result<std::unique_ptr<BlobStore>> OpenS3BlobStore(const S3Config& config);

}  // namespace drydock::storage
