#include "oci/digest.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace drydock::oci {
namespace {

const EVP_MD* Md(Algorithm alg) { return alg == Algorithm::kSha256 ? EVP_sha256() : EVP_sha512(); }

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ToHex(const unsigned char* p, unsigned n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

}  // namespace

Result<Digest> Digest::Parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return Invalid("digest '" + std::string(text) + "' has no algorithm prefix");
  auto alg = text.substr(0, colon);
  auto hex = text.substr(colon + 1);
  Algorithm a;
  size_t want;
  if (alg == "sha256") {
    a = Algorithm::kSha256;
    want = 64;
  } else if (alg == "sha512") {
    a = Algorithm::kSha512;
    want = 128;
  } else {
    return Invalid("digest algorithm '" + std::string(alg) + "' is not supported (sha256, sha512)");
  }
  if (hex.size() != want || !IsLowerHex(hex)) {
    return Invalid("digest '" + std::string(text) + "' must have " + std::to_string(want) +
                   " lower-case hex characters");
  }
  return Digest(a, std::string(hex));
}

Digest Digest::Of(std::string_view bytes, Algorithm alg) {
  Hasher h(alg);
  h.Update(bytes.data(), bytes.size());
  return h.Peek();
}

struct Hasher::Impl {
  Algorithm alg;
  EVP_MD_CTX* ctx = nullptr;
  explicit Impl(Algorithm a) : alg(a), ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx, Md(a), nullptr) != 1) throw std::runtime_error("EVP init");
  }
  Impl(const Impl& o) : alg(o.alg), ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_MD_CTX_copy_ex(ctx, o.ctx) != 1) throw std::runtime_error("EVP copy");
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(Algorithm alg) : impl_(std::make_unique<Impl>(alg)) {}
Hasher::Hasher(const Hasher& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Hasher& Hasher::operator=(const Hasher& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::Update(const void* data, size_t len) { EVP_DigestUpdate(impl_->ctx, data, len); }

Digest Hasher::Peek() const {
  Impl copy(*impl_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(copy.ctx, md, &len);
  return *Digest::Parse((impl_->alg == Algorithm::kSha256 ? "sha256:" : "sha512:") +
                        ToHex(md, len));
}

}  // namespace drydock::oci
