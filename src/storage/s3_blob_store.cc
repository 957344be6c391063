// S3 blob store. An upload is an S3 multipart upload to
// <prefix>uploads/<id>/data. Bytes shorter than a part wait in memory; each
// Checkpoint names itself <size>-<random> and saves them as
// uploads/<id>/tail-<checkpoint>, then the upload's progress (parts, tail,
// SHA-256 state) as uploads/<id>/state-<checkpoint>, from which any server
// resumes it. The checkpoint before the previous one is deleted then: the
// metadata store has moved past it (see registry/uploads.cc).
// Commit verifies the digest and only then copies the bytes to
// blobs/<alg>/<xx>/<hex>: a blob is never visible with the wrong content.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <mutex>

#include "base/random.h"
#include "storage/blob_store.h"
#include "storage/s3_client.h"
#include "storage/sigv4.h"

namespace drydock::storage {
namespace {

using internal::S3Client;
using internal::S3Part;
using json = nlohmann::json;

constexpr size_t kReadWindow = 8 << 20;     // bytes fetched per ranged GET
constexpr size_t kMaxStateBytes = 4 << 20;  // 10000 parts of JSON fit easily

// What an upload has: parts already in S3, then `tail`.
struct Progress {
  std::string multipart;  // S3's upload id, "" until the first part
  std::vector<S3Part> parts;
  uint64_t part_bytes = 0;
  std::string tail;
  std::string checkpoint;  // the name of the last checkpoint
  oci::ResumableSha256 hash;
  uint64_t size() const { return part_bytes + tail.size(); }
};

class S3Store;

class S3Reader final : public BlobReader {
 public:
  S3Reader(S3Client* s3, std::string key, uint64_t size)
      : s3_(s3), key_(std::move(key)), size_(size) {}
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    if (offset >= size_ || n == 0) return size_t{0};
    std::lock_guard lock(mu_);
    if (offset < window_start_ || offset >= window_start_ + window_.size()) {
      auto got = s3_->GetRange(key_, offset, std::max<uint64_t>(n, kReadWindow));
      if (!got.ok()) return got.status();
      window_start_ = offset;
      window_ = std::move(*got);
    }
    size_t from = offset - window_start_;
    size_t len = std::min(n, window_.size() - from);
    std::copy_n(window_.data() + from, len, buf);
    return len;
  }
  Status CopyTo(uint64_t offset, uint64_t length,
                const std::function<bool(const char*, size_t)>& sink) override {
    if (offset > size_ || length > size_ - offset)
      return Status(Code::kOutOfRange, "bytes past the end of " + key_ + " asked for");
    return s3_->GetStream(key_, offset, length, sink);
  }

 private:
  S3Client* s3_;
  std::string key_;
  uint64_t size_;
  std::mutex mu_;
  uint64_t window_start_ = 0;
  std::string window_;
};

class S3Writer final : public BlobWriter {
 public:
  S3Writer(S3Store* store, std::string id, Progress p)
      : store_(store), id_(std::move(id)), now_(std::move(p)), saved_(now_) {}
  const std::string& id() const override { return id_; }
  uint64_t size() const override { return now_.size(); }
  const std::string& checkpoint() const override { return saved_.checkpoint; }
  Status Write(const char* data, size_t n) override;
  Status Checkpoint() override;
  Status Rollback() override {
    now_ = saved_;  // parts sent since are overwritten or left out at Complete
    return Status::Ok();
  }
  Result<BlobInfo> Commit(const oci::Digest& expected) override;

 private:
  Status SendPart(size_t bytes);
  Result<oci::Digest> ReadBackDigest(oci::Algorithm alg);
  // Discards the upload; the error Commit returns.
  Status Mismatch(const oci::Digest& actual, const oci::Digest& expected);

  S3Store* store_;
  std::string id_;
  Progress now_;
  Progress saved_;
  std::string older_;  // the checkpoint before saved_'s
};

class S3Store final : public BlobStore {
 public:
  explicit S3Store(const S3Config& c) : config_(c), s3_(c) {}
  S3Client& s3() { return s3_; }
  uint64_t part_size() const { return config_.part_size; }

  // Server-side copy of `size` bytes; past max_copy_bytes, part by part.
  Status Copy(const std::string& from, const std::string& to, uint64_t size) {
    const uint64_t max_copy = config_.max_copy_bytes;
    if (size <= max_copy) return s3_.Copy(from, to);
    DD_ASSIGN_OR_RETURN(upload, s3_.CreateMultipart(to));
    std::vector<S3Part> parts;
    for (uint64_t first = 0; first < size; first += max_copy) {
      int number = static_cast<int>(parts.size()) + 1;
      auto etag =
          s3_.UploadPartCopy(to, upload, number, from, first, std::min(size, first + max_copy) - 1);
      if (!etag.ok()) {
        (void)s3_.AbortMultipart(to, upload);
        return etag.status();
      }
      parts.push_back(S3Part{number, *etag});
    }
    Status done = s3_.CompleteMultipart(to, upload, parts);
    if (!done.ok()) (void)s3_.AbortMultipart(to, upload);
    return done;
  }

  std::string BlobKey(const oci::Digest& d) const {
    return config_.prefix + "blobs/" + std::string(d.algorithm_name()) + "/" +
           d.hex().substr(0, 2) + "/" + d.hex();
  }
  std::string UploadKey(const std::string& id, const std::string& name) const {
    return config_.prefix + "uploads/" + id + "/" + name;
  }

  Result<BlobInfo> Stat(const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(o, s3_.Head(BlobKey(d)));
    if (!o) return NotFound("blob " + d.str() + " not found");
    return BlobInfo{o->size, o->mtime};
  }

  Result<std::unique_ptr<BlobReader>> Open(const oci::Digest& d) override {
    DD_ASSIGN_OR_RETURN(info, Stat(d));
    return std::unique_ptr<BlobReader>(new S3Reader(&s3_, BlobKey(d), info.size));
  }

  Result<std::string> DirectUrl(const oci::Digest& d) override {
    if (config_.redirect_seconds <= 0) return std::string();
    std::string path = "/" + internal::S3Escape(config_.bucket, false) + "/" +
                       internal::S3Escape(BlobKey(d), true);
    internal::SigV4Key key{config_.access_key, config_.secret_key, config_.region};
    return config_.endpoint + path + "?" +
           internal::PresignV4Query(key, internal::HostOf(config_.endpoint), path, ::time(nullptr),
                                    config_.redirect_seconds);
  }

  Result<BlobInfo> Put(const oci::Digest& d, std::string_view bytes) override {
    oci::Digest actual = oci::Digest::Of(bytes, d.algorithm());
    if (actual != d)
      return Invalid("digest mismatch: content is " + actual.str() + ", expected " + d.str());
    DD_RETURN_IF_ERROR(s3_.Put(BlobKey(d), bytes));
    return BlobInfo{bytes.size(), static_cast<int64_t>(::time(nullptr))};
  }

  Status Delete(const oci::Digest& d) override { return s3_.Delete(BlobKey(d)); }

  Status ForEachBlob(const std::function<void(const oci::Digest&, const BlobInfo&)>& fn) override {
    std::string root = config_.prefix + "blobs/";
    return s3_.List(root, [&](const internal::S3Object& o) {
      // <alg>/<xx>/<hex>
      std::string rest = o.key.substr(root.size());
      auto slash = rest.find('/');
      auto last = rest.rfind('/');
      if (slash == std::string::npos) return;
      auto d = oci::Digest::Parse(rest.substr(0, slash) + ":" + rest.substr(last + 1));
      if (d.ok()) fn(*d, BlobInfo{o.size, o.mtime});
    });
  }

  Result<std::unique_ptr<BlobWriter>> CreateUpload(const std::string& id) override {
    if (!ValidUploadId(id)) return Invalid("invalid upload id '" + id + "'");
    DD_ASSIGN_OR_RETURN(existing, NewestCheckpoint(id));
    if (!existing.empty()) return Status(Code::kAlreadyExists, "upload " + id + " already exists");
    auto w = std::make_unique<S3Writer>(this, id, Progress{});
    DD_RETURN_IF_ERROR(w->Checkpoint());  // resumable from the start
    return std::unique_ptr<BlobWriter>(std::move(w));
  }

  Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id,
                                                   const std::string& checkpoint) override {
    if (!ValidUploadId(id)) return NotFound("upload " + id + " not found");
    DD_ASSIGN_OR_RETURN(p, LoadProgress(id, checkpoint));
    if (!p) return NotFound("upload " + id + " has no checkpoint '" + checkpoint + "'");
    return std::unique_ptr<BlobWriter>(new S3Writer(this, id, std::move(*p)));
  }

  Status DeleteUpload(const std::string& id) override {
    if (!ValidUploadId(id)) return Invalid("invalid upload id");
    auto p = LoadProgress(id, "");
    if (p.ok() && *p && !(*p)->multipart.empty())
      DD_RETURN_IF_ERROR(s3_.AbortMultipart(UploadKey(id, "data"), (*p)->multipart));
    std::vector<std::string> keys;
    DD_RETURN_IF_ERROR(
        s3_.List(UploadKey(id, ""), [&](const internal::S3Object& o) { keys.push_back(o.key); }));
    for (const auto& k : keys) DD_RETURN_IF_ERROR(s3_.Delete(k));
    return Status::Ok();
  }

  // An upload's age is its newest checkpoint's: it may keep older ones
  // (left by a server it moved away from) until it ends.
  Status ForEachUpload(const std::function<void(const std::string&, int64_t)>& fn) override {
    std::string root = config_.prefix + "uploads/", id;
    int64_t newest = 0;
    DD_RETURN_IF_ERROR(s3_.List(root, [&](const internal::S3Object& o) {
      std::string rest = o.key.substr(root.size());
      auto slash = rest.find('/');
      if (slash == std::string::npos || !rest.substr(slash + 1).starts_with("state-")) return;
      if (rest.substr(0, slash) != id) {  // List is in key order: an upload's keys are together
        if (!id.empty()) fn(id, newest);
        id = rest.substr(0, slash);
        newest = 0;
      }
      newest = std::max(newest, o.mtime);
    }));
    if (!id.empty()) fn(id, newest);
    return Status::Ok();
  }

  // Saves `p` (with its tail) as checkpoint p.checkpoint.
  Status SaveProgress(const std::string& id, const Progress& p) {
    if (!p.tail.empty()) DD_RETURN_IF_ERROR(s3_.Put(UploadKey(id, "tail-" + p.checkpoint), p.tail));
    json parts = json::array();
    for (const auto& part : p.parts) parts.push_back(part.etag);
    json state = {{"version", 1},
                  {"multipart", p.multipart},
                  {"parts", parts},
                  {"partBytes", p.part_bytes},
                  {"tailSize", p.tail.size()},
                  {"hash", p.hash.SaveState()}};
    return s3_.Put(UploadKey(id, "state-" + p.checkpoint), state.dump());
  }

  void DeleteCheckpoint(const std::string& id, const std::string& checkpoint) {
    (void)s3_.Delete(UploadKey(id, "state-" + checkpoint));
    (void)s3_.Delete(UploadKey(id, "tail-" + checkpoint));
  }

  // The newest checkpoint S3 holds for the upload ("" when none).
  Result<std::string> NewestCheckpoint(const std::string& id) {
    std::string dir = UploadKey(id, "state-"), newest;
    uint64_t most = 0;
    DD_RETURN_IF_ERROR(s3_.List(dir, [&](const internal::S3Object& o) {
      std::string name = o.key.substr(dir.size());
      uint64_t size = std::strtoull(name.c_str(), nullptr, 10);
      if (newest.empty() || size >= most) {
        newest = name;
        most = size;
      }
    }));
    return newest;
  }

  Result<std::optional<Progress>> LoadProgress(const std::string& id, std::string checkpoint) {
    if (checkpoint.empty()) {
      DD_ASSIGN_OR_RETURN(newest, NewestCheckpoint(id));
      if (newest.empty()) return std::optional<Progress>();
      checkpoint = newest;
    }
    auto text = s3_.GetRange(UploadKey(id, "state-" + checkpoint), 0, kMaxStateBytes);
    if (!text.ok() && text.status().code() == Code::kNotFound) return std::optional<Progress>();
    if (!text.ok()) return text.status();
    auto bad = [&](const std::string& why) {
      return Internal("upload " + id + " has an unreadable state: " + why);
    };
    json state = json::parse(*text, nullptr, false);
    if (!state.is_object() || state.value("version", 0) != 1) return bad("not version 1 JSON");
    Progress p;
    p.checkpoint = checkpoint;
    try {
      p.multipart = state.at("multipart").get<std::string>();
      int n = 0;
      for (const auto& etag : state.at("parts"))
        p.parts.push_back(S3Part{++n, etag.get<std::string>()});
      p.part_bytes = state.at("partBytes").get<uint64_t>();
      auto hash = oci::ResumableSha256::LoadState(state.at("hash").get<std::string>());
      if (!hash.ok()) return bad(hash.status().message());
      p.hash = *hash;
      uint64_t tail_size = state.at("tailSize").get<uint64_t>();
      if (tail_size > 0) {
        DD_ASSIGN_OR_RETURN(tail, s3_.GetRange(UploadKey(id, "tail-" + checkpoint), 0, tail_size));
        if (tail.size() != tail_size)
          return bad("its tail is " + std::to_string(tail.size()) + " bytes, not " +
                     std::to_string(tail_size));
        p.tail = std::move(tail);
      }
    } catch (const json::exception& e) {
      return bad(e.what());
    }
    return std::optional<Progress>(std::move(p));
  }

 private:
  S3Config config_;
  S3Client s3_;
};

Status S3Writer::Write(const char* data, size_t n) {
  now_.hash.Update(data, n);
  now_.tail.append(data, n);
  while (now_.tail.size() >= store_->part_size()) DD_RETURN_IF_ERROR(SendPart(store_->part_size()));
  return Status::Ok();
}

Status S3Writer::SendPart(size_t bytes) {
  std::string key = store_->UploadKey(id_, "data");
  if (now_.multipart.empty()) {
    DD_ASSIGN_OR_RETURN(multipart, store_->s3().CreateMultipart(key));
    now_.multipart = multipart;
  }
  int number = static_cast<int>(now_.parts.size()) + 1;
  DD_ASSIGN_OR_RETURN(etag, store_->s3().UploadPart(key, now_.multipart, number,
                                                    std::string_view(now_.tail).substr(0, bytes)));
  now_.parts.push_back(S3Part{number, etag});
  now_.part_bytes += bytes;
  now_.tail.erase(0, bytes);
  return Status::Ok();
}

Status S3Writer::Checkpoint() {
  now_.checkpoint = std::to_string(now_.size()) + "-" + RandomHex(4);
  DD_RETURN_IF_ERROR(store_->SaveProgress(id_, now_));
  // The metadata store has moved from older_ to saved_'s checkpoint by now
  // (or this writer lost the upload to another server and is dropped).
  if (!older_.empty()) store_->DeleteCheckpoint(id_, older_);
  older_ = saved_.checkpoint;
  saved_ = now_;
  return Status::Ok();
}

// The digest of a completed multipart upload, read back: only for digests
// other than SHA-256, which is hashed as the bytes arrive.
Result<oci::Digest> S3Writer::ReadBackDigest(oci::Algorithm alg) {
  oci::Hasher h(alg);
  std::string key = store_->UploadKey(id_, "data");
  for (uint64_t off = 0; off < now_.part_bytes;) {
    DD_ASSIGN_OR_RETURN(bytes, store_->s3().GetRange(key, off, kReadWindow));
    if (bytes.empty())
      return Internal("upload " + id_ + " ended early at byte " + std::to_string(off));
    h.Update(bytes.data(), bytes.size());
    off += bytes.size();
  }
  return h.Peek();
}

Status S3Writer::Mismatch(const oci::Digest& actual, const oci::Digest& expected) {
  (void)store_->DeleteUpload(id_);
  return Invalid("digest mismatch: content is " + actual.str() + ", expected " + expected.str());
}

Result<BlobInfo> S3Writer::Commit(const oci::Digest& expected) {
  uint64_t size = now_.size();
  std::string data = store_->UploadKey(id_, "data");
  std::string target = store_->BlobKey(expected);
  bool sha256 = expected.algorithm() == oci::Algorithm::kSha256;
  // Checked before anything is completed, unless the bytes must be read back.
  if (sha256 || now_.parts.empty()) {
    oci::Digest actual =
        sha256 ? now_.hash.Peek() : oci::Digest::Of(now_.tail, expected.algorithm());
    if (actual != expected) return Mismatch(actual, expected);
  }
  if (now_.parts.empty()) {
    DD_RETURN_IF_ERROR(store_->s3().Put(target, now_.tail));
  } else {
    if (!now_.tail.empty()) DD_RETURN_IF_ERROR(SendPart(now_.tail.size()));
    DD_RETURN_IF_ERROR(store_->s3().CompleteMultipart(data, now_.multipart, now_.parts));
    now_.multipart.clear();  // completed: nothing to abort any more
    if (!sha256) {
      DD_ASSIGN_OR_RETURN(actual, ReadBackDigest(expected.algorithm()));
      if (actual != expected) return Mismatch(actual, expected);
    }
    // Copying over an existing blob (the same bytes) also renews its
    // modification time, which keeps it through a concurrent GC's grace.
    DD_RETURN_IF_ERROR(store_->Copy(data, target, size));
  }
  (void)store_->DeleteUpload(id_);
  return BlobInfo{size, static_cast<int64_t>(::time(nullptr))};
}

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenS3BlobStore(const S3Config& config) {
  if (config.endpoint.empty() || config.bucket.empty())
    return Invalid("the S3 blob store needs an endpoint and a bucket");
  if (config.part_size < (5u << 20) || config.max_copy_bytes < (5u << 20))
    return Invalid("the S3 part size must be at least 5 MiB (S3's smallest part)");
  if (!config.prefix.empty() && config.prefix.back() != '/')
    return Invalid("the S3 prefix '" + config.prefix + "' must end in '/'");
  auto store = std::make_unique<S3Store>(config);
  DD_RETURN_IF_ERROR(store->s3().CheckBucket());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace drydock::storage
