// SHA256_Init & co. are deprecated in OpenSSL 3 in favour of EVP, which
// cannot save a state (ResumableSha256 needs one). Before any OpenSSL header.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "oci/digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

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

static_assert(sizeof(SHA256_CTX) == 112, "ResumableSha256::ctx_ must hold a SHA256_CTX");

namespace {
constexpr std::string_view kStatePrefix = "sha256-state-v1:";
SHA256_CTX* Ctx(unsigned char* p) { return reinterpret_cast<SHA256_CTX*>(p); }
}  // namespace

ResumableSha256::ResumableSha256() { SHA256_Init(Ctx(ctx_)); }

void ResumableSha256::Update(const void* data, size_t len) { SHA256_Update(Ctx(ctx_), data, len); }

Digest ResumableSha256::Peek() const {
  alignas(8) unsigned char copy[sizeof ctx_];
  std::memcpy(copy, ctx_, sizeof ctx_);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, Ctx(copy));
  return *Digest::Parse("sha256:" + ToHex(md, sizeof md));
}

std::string ResumableSha256::SaveState() const {
  return std::string(kStatePrefix) + ToHex(ctx_, sizeof ctx_);
}

Result<ResumableSha256> ResumableSha256::LoadState(std::string_view text) {
  std::string_view hex = text.substr(std::min(text.size(), kStatePrefix.size()));
  if (!text.starts_with(kStatePrefix) || hex.size() != 2 * sizeof ctx_ || !IsLowerHex(hex))
    return Invalid("not a saved SHA-256 state");
  ResumableSha256 h;
  for (size_t i = 0; i < sizeof ctx_; ++i)
    h.ctx_[i] =
        static_cast<unsigned char>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  const SHA256_CTX* c = Ctx(h.ctx_);
  if (c->md_len != SHA256_DIGEST_LENGTH || c->num >= SHA256_CBLOCK)
    return Invalid("not a saved SHA-256 state (bad block position)");
  return h;
}

}  // namespace drydock::oci
