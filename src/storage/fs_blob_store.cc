// Filesystem blob store: uploads are staged under uploads/ and hashed as
// they stream in; Commit verifies, fsyncs and renames into blobs/, so a
// crash at any point leaves either no blob or a complete, correct one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "base/fd.h"
#include "storage/blob_store.h"

namespace drydock::storage {
namespace fs = std::filesystem;
namespace {

Status Errno(const std::string& what) { return Internal(what + ": " + std::strerror(errno)); }

Status FsyncDir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open " + dir.string());
  if (::fsync(fd.get()) != 0) return Errno("fsync " + dir.string());
  return Status::Ok();
}

Result<oci::Hasher> HashFile(int fd, uint64_t size, oci::Algorithm alg) {
  oci::Hasher h(alg);
  std::vector<char> buf(1 << 20);
  uint64_t off = 0;
  while (off < size) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read upload");
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  return h;
}

class FileReader final : public BlobReader {
 public:
  FileReader(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}
  uint64_t size() const override { return size_; }
  int fd() const override { return fd_.get(); }
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    while (true) {
      ssize_t r = ::pread(fd_.get(), buf, n, static_cast<off_t>(offset));
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Errno("read blob");
    }
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
};

class FsBlobStore;

class FileWriter final : public BlobWriter {
 public:
  FileWriter(FsBlobStore* store, std::string id, fs::path path, UniqueFd fd, uint64_t size,
             oci::Hasher h)
      : store_(store),
        id_(std::move(id)),
        path_(std::move(path)),
        fd_(std::move(fd)),
        size_(size),
        hasher_(std::move(h)),
        saved_hasher_(hasher_),
        saved_size_(size) {}

  const std::string& id() const override { return id_; }
  uint64_t size() const override { return size_; }

  Status Write(const char* data, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::pwrite(fd_.get(), data + done, n - done, static_cast<off_t>(size_ + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Errno("write upload " + id_);
      }
      done += static_cast<size_t>(w);
    }
    hasher_.Update(data, n);
    size_ += n;
    return Status::Ok();
  }

  // The bytes are in the staging file already: a checkpoint is a length,
  // to which ResumeUpload cuts the file before rehashing it.
  Status Checkpoint() override {
    saved_hasher_ = hasher_;
    saved_size_ = size_;
    checkpoint_ = std::to_string(size_);
    return Status::Ok();
  }
  const std::string& checkpoint() const override { return checkpoint_; }

  Status Rollback() override {
    if (::ftruncate(fd_.get(), static_cast<off_t>(saved_size_)) != 0)
      return Errno("truncate upload");
    hasher_ = saved_hasher_;
    size_ = saved_size_;
    return Status::Ok();
  }

  Result<BlobInfo> Commit(const oci::Digest& expected) override;

 private:
  FsBlobStore* store_;
  std::string id_;
  fs::path path_;
  UniqueFd fd_;
  uint64_t size_;
  oci::Hasher hasher_;
  oci::Hasher saved_hasher_;
  uint64_t saved_size_;
  std::string checkpoint_ = std::to_string(saved_size_);
};

class FsBlobStore final : public BlobStore {
 public:
  explicit FsBlobStore(fs::path root) : root_(std::move(root)) {}

  fs::path BlobPath(const oci::Digest& d) const {
    return root_ / "blobs" / std::string(d.algorithm_name()) / d.hex().substr(0, 2) / d.hex();
  }
  fs::path UploadPath(const std::string& id) const { return root_ / "uploads" / id; }

  Result<BlobInfo> Stat(const oci::Digest& d) override {
    struct stat st;
    if (::stat(BlobPath(d).c_str(), &st) != 0) {
      if (errno == ENOENT) return NotFound("blob " + d.str() + " not found");
      return Errno("stat blob");
    }
    return BlobInfo{static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec};
  }

  Result<std::unique_ptr<BlobReader>> Open(const oci::Digest& d) override {
    UniqueFd fd(::open(BlobPath(d).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return NotFound("blob " + d.str() + " not found");
      return Errno("open blob");
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Errno("stat blob");
    return std::unique_ptr<BlobReader>(
        new FileReader(std::move(fd), static_cast<uint64_t>(st.st_size)));
  }

  Result<BlobInfo> Put(const oci::Digest& d, std::string_view bytes) override {
    auto w = CreateUpload("put-" + d.hex().substr(0, 16) + "-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter_++));
    if (!w.ok()) return w.status();
    DD_RETURN_IF_ERROR((*w)->Write(bytes.data(), bytes.size()));
    return (*w)->Commit(d);
  }

  Status Delete(const oci::Digest& d) override {
    if (::unlink(BlobPath(d).c_str()) != 0 && errno != ENOENT) return Errno("delete blob");
    return Status::Ok();
  }

  Status ForEachBlob(const std::function<void(const oci::Digest&, const BlobInfo&)>& fn) override {
    std::error_code ec;
    for (const char* alg : {"sha256", "sha512"}) {
      fs::path dir = root_ / "blobs" / alg;
      if (!fs::exists(dir, ec)) continue;
      for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
        if (!entry.is_regular_file()) continue;
        auto d = oci::Digest::Parse(std::string(alg) + ":" + entry.path().filename().string());
        if (!d.ok()) continue;
        struct stat st;
        if (::stat(entry.path().c_str(), &st) != 0) continue;
        fn(*d, BlobInfo{static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec});
      }
    }
    return ec ? Internal("walk blobs: " + ec.message()) : Status::Ok();
  }

  Result<std::unique_ptr<BlobWriter>> CreateUpload(const std::string& id) override {
    if (!ValidUploadId(id) && id.rfind("put-", 0) != 0)
      return Invalid("invalid upload id '" + id + "'");
    fs::path p = UploadPath(id);
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return Errno("create upload " + id);
    return std::unique_ptr<BlobWriter>(
        new FileWriter(this, id, p, std::move(fd), 0, oci::Hasher()));
  }

  Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id,
                                                   const std::string& checkpoint) override {
    if (!ValidUploadId(id)) return NotFound("upload " + id + " not found");
    fs::path p = UploadPath(id);
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return NotFound("upload " + id + " not found");
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Errno("stat upload");
    auto size = static_cast<uint64_t>(st.st_size);
    if (!checkpoint.empty()) {
      uint64_t at = std::strtoull(checkpoint.c_str(), nullptr, 10);
      if (checkpoint != std::to_string(at) || at > size)
        return NotFound("upload " + id + " has no checkpoint " + checkpoint + " (it holds " +
                        std::to_string(size) + " bytes)");
      // Bytes after the checkpoint are a chunk that was never acknowledged.
      if (at < size && ::ftruncate(fd.get(), static_cast<off_t>(at)) != 0)
        return Errno("truncate upload");
      size = at;
    }
    auto h = HashFile(fd.get(), size, oci::Algorithm::kSha256);
    if (!h.ok()) return h.status();
    return std::unique_ptr<BlobWriter>(
        new FileWriter(this, id, p, std::move(fd), size, std::move(*h)));
  }

  Status DeleteUpload(const std::string& id) override {
    if (!ValidUploadId(id) && id.rfind("put-", 0) != 0) return Invalid("invalid upload id");
    if (::unlink(UploadPath(id).c_str()) != 0 && errno != ENOENT) return Errno("delete upload");
    return Status::Ok();
  }

  Status ForEachUpload(const std::function<void(const std::string&, int64_t)>& fn) override {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ / "uploads", ec)) {
      struct stat st;
      if (::stat(entry.path().c_str(), &st) != 0) continue;
      fn(entry.path().filename().string(), st.st_mtim.tv_sec);
    }
    return ec ? Internal("walk uploads: " + ec.message()) : Status::Ok();
  }

  // Publishes a verified staging file under its digest.
  Result<BlobInfo> Publish(int fd, const fs::path& staging, const oci::Digest& d, uint64_t size) {
    if (::fdatasync(fd) != 0) return Errno("fsync upload");
    fs::path target = BlobPath(d);
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Internal("create blob dir: " + ec.message());
    struct stat st;
    if (::stat(target.c_str(), &st) == 0) {
      // Already stored (deduplicated): refresh mtime so a concurrent GC
      // treats it as new and keeps it through its grace period.
      ::unlink(staging.c_str());
      ::utimensat(AT_FDCWD, target.c_str(), nullptr, 0);
      return BlobInfo{static_cast<uint64_t>(st.st_size), time(nullptr)};
    }
    if (::rename(staging.c_str(), target.c_str()) != 0) return Errno("publish blob");
    DD_RETURN_IF_ERROR(FsyncDir(target.parent_path()));
    return BlobInfo{size, time(nullptr)};
  }

 private:
  fs::path root_;
  std::atomic<uint64_t> counter_{0};
};

Result<BlobInfo> FileWriter::Commit(const oci::Digest& expected) {
  oci::Digest actual;
  if (expected.algorithm() == oci::Algorithm::kSha256) {
    actual = hasher_.Peek();
  } else {
    auto h = HashFile(fd_.get(), size_, expected.algorithm());
    if (!h.ok()) return h.status();
    actual = h->Peek();
  }
  if (actual != expected) {
    ::unlink(path_.c_str());
    return Invalid("digest mismatch: content is " + actual.str() + ", expected " + expected.str());
  }
  return store_->Publish(fd_.get(), path_, expected, size_);
}

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFilesystemBlobStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "blobs", ec);
  fs::create_directories(fs::path(root) / "uploads", ec);
  if (ec) return Internal("create blob store at " + root + ": " + ec.message());
  return std::unique_ptr<BlobStore>(new FsBlobStore(root));
}

Status BlobReader::CopyTo(uint64_t offset, uint64_t length,
                          const std::function<bool(const char*, size_t)>& sink) {
  std::vector<char> buf(std::min<uint64_t>(length, 1 << 20));
  while (length > 0) {
    DD_ASSIGN_OR_RETURN(n, ReadAt(offset, buf.data(), std::min<uint64_t>(length, buf.size())));
    if (n == 0) return Internal("blob ended " + std::to_string(length) + " bytes early");
    if (!sink(buf.data(), n)) return Status(Code::kUnavailable, "the receiver stopped the copy");
    offset += n;
    length -= n;
  }
  return Status::Ok();
}

Result<std::string> ReadSmallBlob(BlobStore& store, const oci::Digest& d, size_t limit) {
  DD_ASSIGN_OR_RETURN(reader, store.Open(d));
  if (reader->size() > limit) {
    return Status(Code::kTooLarge,
                  "blob " + d.str() + " is larger than " + std::to_string(limit) + " bytes");
  }
  std::string bytes;
  DD_RETURN_IF_ERROR(reader->CopyTo(0, reader->size(), [&](const char* p, size_t n) {
    bytes.append(p, n);
    return true;
  }));
  return bytes;
}

bool ValidUploadId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) return false;
  }
  return true;
}

}  // namespace drydock::storage
