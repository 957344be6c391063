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

}  // namespace drydock::oci
