// Content digests ("sha256:<hex>") and a streaming hasher over OpenSSL.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace drydock::oci {

enum class Algorithm { kSha256, kSha512 };

class Digest {
 public:
  Digest() = default;
  // Accepts only the registered algorithms with lower-case hex of the right length.
  static Result<Digest> Parse(std::string_view text);
  static Digest Of(std::string_view bytes, Algorithm alg = Algorithm::kSha256);

  Algorithm algorithm() const { return alg_; }
  std::string_view algorithm_name() const {
    return alg_ == Algorithm::kSha256 ? "sha256" : "sha512";
  }
  const std::string& hex() const { return hex_; }
  std::string str() const { return std::string(algorithm_name()) + ":" + hex_; }
  bool empty() const { return hex_.empty(); }

  friend bool operator==(const Digest& a, const Digest& b) = default;
  friend auto operator<=>(const Digest& a, const Digest& b) = default;

 private:
  Digest(Algorithm alg, std::string hex) : alg_(alg), hex_(std::move(hex)) {}
  Algorithm alg_ = Algorithm::kSha256;
  std::string hex_;
};

// Incremental hash; copyable so an upload can snapshot its state before a
// chunk and roll back if the chunk is cut short.
class Hasher {
 public:
  explicit Hasher(Algorithm alg = Algorithm::kSha256);
  Hasher(const Hasher& other);
  Hasher& operator=(const Hasher& other);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  void Update(const void* data, size_t len);
  // Finishes a copy, so the hasher itself can keep going.
  Digest Peek() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 whose state can be written down and read back, so that an upload
// hashed on one server continues on another (an S3 upload keeps it beside
// its parts, as distribution keeps its "hashstates"). OpenSSL's EVP
// interface cannot export a state, hence the classic SHA256_CTX inside.
class ResumableSha256 {
 public:
  ResumableSha256();
  void Update(const void* data, size_t len);
  Digest Peek() const;
  // Opaque text ("sha256-state-v1:<hex>"); LoadState refuses anything else.
  std::string SaveState() const;
  static Result<ResumableSha256> LoadState(std::string_view text);

 private:
  alignas(8) unsigned char ctx_[112];  // a SHA256_CTX (checked in digest.cc)
};

}  // namespace drydock::oci
