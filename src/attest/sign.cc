// ECDSA P-256 over OpenSSL's EVP, DSSE envelopes and Sigstore bundles
// (v0.3) as cosign writes them for a key it was given: the key is named by
// a hint, and no transparency log or timestamp is included (none is
// reachable from a self-hosted registry; see docs/supply-chain.md).
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "base/base64.h"
#include "base/json.h"

namespace drydock::attest {
namespace {

using nlohmann::json;

std::string OpenSslError(const std::string& what) {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

std::string Drain(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

bool IsP256(EVP_PKEY* p) {
  char group[64] = "";
  size_t len = 0;
  return EVP_PKEY_is_a(p, "EC") && EVP_PKEY_get_group_name(p, group, sizeof group, &len) == 1 &&
         std::string_view(group, len) == "prime256v1";
}

}  // namespace

struct Key::Pkey {
  EVP_PKEY* p = nullptr;
  ~Pkey() { EVP_PKEY_free(p); }
};

Key::Key(std::unique_ptr<Pkey> k, bool priv) : k_(std::move(k)), private_(priv) {}
Key::Key(Key&&) noexcept = default;
Key& Key::operator=(Key&&) noexcept = default;
Key::~Key() = default;

Result<Key> Key::Generate() {
  auto k = std::make_unique<Pkey>();
  k->p = EVP_EC_gen("P-256");
  if (!k->p) return Internal(OpenSslError("generating an ECDSA P-256 key"));
  return Key(std::move(k), true);
}

Result<Key> Key::FromPem(std::string_view pem) {
  auto k = std::make_unique<Pkey>();
  bool priv = pem.find("PRIVATE KEY-----") != std::string_view::npos;
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  k->p = priv ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
              : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (!k->p)
    return Invalid(
        OpenSslError(std::string("not a PEM ") + (priv ? "private" : "public") + " key"));
  if (!IsP256(k->p))
    return Invalid("the key is not an ECDSA P-256 key (the only kind Drydock signs with)");
  return Key(std::move(k), priv);
}

std::string Key::PrivatePem() const {
  if (!private_) return "";
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k_->p, nullptr, nullptr, 0, nullptr, nullptr);
  return Drain(bio.get());
}

std::string Key::PublicPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), k_->p);
  return Drain(bio.get());
}

std::string Key::Hint() const {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k_->p, &der);
  if (n <= 0) return "";
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  oci::Digest d = oci::Digest::Of(bytes);
  std::string raw;
  for (size_t i = 0; i + 1 < d.hex().size(); i += 2)
    raw += static_cast<char>(std::stoi(d.hex().substr(i, 2), nullptr, 16));
  return Base64Encode(raw);
}

Result<std::string> Key::Sign(std::string_view data) const {
  if (!private_) return Invalid("signing needs a private key; this one is public");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k_->p) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    return Internal(OpenSslError("signing"));
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return Internal(OpenSslError("signing"));
  sig.resize(len);
  return sig;
}

bool Key::Verify(std::string_view data, std::string_view sig) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k_->p) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string Pae(std::string_view type, std::string_view payload) {
  return "DSSEv1 " + std::to_string(type.size()) + " " + std::string(type) + " " +
         std::to_string(payload.size()) + " " + std::string(payload);
}

Result<json> SignStatement(const Key& key, const json& statement) {
  std::string payload = statement.dump();
  DD_ASSIGN_OR_RETURN(sig, key.Sign(Pae(kInTotoMediaType, payload)));
  return json{{"mediaType", kBundleMediaType},
              {"verificationMaterial", {{"publicKey", {{"hint", key.Hint()}}}}},
              {"dsseEnvelope",
               {{"payload", Base64Encode(payload)},
                {"payloadType", kInTotoMediaType},
                {"signatures", json::array({{{"sig", Base64Encode(sig)}}})}}}};
}

Result<json> SignManifest(const Key& key, const oci::Digest& digest) {
  json statement = {
      {"_type", kInTotoStatement},
      {"subject", json::array({{{"digest", {{digest.algorithm_name(), digest.hex()}}}}})},
      {"predicateType", kCosignSign},
      {"predicate", json::object()}};
  return SignStatement(key, statement);
}

Result<json> VerifyBundle(const json& bundle, const Key& key) {
  auto text = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!bundle.is_object() || text(bundle, "mediaType") != kBundleMediaType)
    return Invalid(std::string("not a Sigstore bundle of media type ") + kBundleMediaType);
  auto env = bundle.find("dsseEnvelope");
  if (env == bundle.end() || !env->is_object())
    return Invalid("the bundle has no DSSE envelope (dsseEnvelope)");
  if (text(*env, "payloadType") != kInTotoMediaType)
    return Invalid("the envelope's payload is " + text(*env, "payloadType") + ", not " +
                   kInTotoMediaType);
  std::string payload = Base64Decode(text(*env, "payload"));
  if (payload.empty()) return Invalid("the envelope's payload is empty or not base64");
  auto sigs = env->find("signatures");
  bool verified = false;
  if (sigs != env->end() && sigs->is_array())
    for (const auto& s : *sigs)
      if (s.is_object() && key.Verify(Pae(kInTotoMediaType, payload), Base64Decode(text(s, "sig"))))
        verified = true;
  if (!verified) return Invalid("the bundle's signature does not verify with key " + key.Hint());
  auto statement = ParseJson(payload);
  if (!statement.ok() || !statement->is_object())
    return Invalid("the signed payload is not an in-toto statement (JSON object)");
  if (text(*statement, "_type") != kInTotoStatement)
    return Invalid("the signed payload's _type is not " + std::string(kInTotoStatement));
  return std::move(*statement);
}

bool StatementCovers(const json& statement, const oci::Digest& digest) {
  auto subjects = statement.find("subject");
  if (subjects == statement.end() || !subjects->is_array()) return false;
  for (const auto& s : *subjects) {
    if (!s.is_object()) continue;
    auto d = s.find("digest");
    if (d == s.end() || !d->is_object()) continue;
    auto v = d->find(std::string(digest.algorithm_name()));
    if (v != d->end() && v->is_string() && *v == digest.hex()) return true;
  }
  return false;
}

Artifact MakeArtifact(const std::string& artifact_type, const std::string& media_type,
                      std::string blob, const Subject& subject,
                      const std::map<std::string, std::string>& annotations) {
  Artifact a;
  const oci::Digest blob_digest = oci::Digest::Of(blob);
  json m = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"artifactType", artifact_type},
      {"config",
       {{"mediaType", kEmptyConfigMediaType},
        {"digest", oci::Digest::Of(kEmptyConfig).str()},
        {"size", 2}}},
      {"layers",
       json::array(
           {{{"mediaType", media_type}, {"digest", blob_digest.str()}, {"size", blob.size()}}})},
      {"subject",
       {{"mediaType", subject.media_type},
        {"digest", subject.digest.str()},
        {"size", subject.size}}}};
  if (!annotations.empty()) m["annotations"] = annotations;
  a.manifest = m.dump();
  a.blobs = {kEmptyConfig, std::move(blob)};
  return a;
}

Signer KeySigner(std::shared_ptr<const Key> key) {
  if (!key) return {};
  std::string hint = key->Hint();
  return {[key = std::move(key)](const oci::Digest& d) { return SignManifest(*key, d); },
          std::move(hint)};
}

Subject SubjectOf(const Artifact& artifact) {
  return {"application/vnd.oci.image.manifest.v1+json", artifact.digest(),
          static_cast<int64_t>(artifact.manifest.size())};
}

Result<std::vector<Artifact>> SignatureArtifacts(const Signer& signer,
                                                 const std::vector<Subject>& subjects) {
  std::vector<Artifact> out;
  for (const auto& s : subjects) {
    DD_ASSIGN_OR_RETURN(bundle, signer.sign(s.digest));
    out.push_back(MakeArtifact(
        kBundleMediaType, kBundleMediaType, bundle.dump(), s,
        {{kBundleContentAnnotation, "dsse-envelope"}, {kBundlePredicateAnnotation, kCosignSign}}));
  }
  return out;
}

}  // namespace drydock::attest
