#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace drydock::auth {
namespace {

std::string Hmac(std::string_view data, std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace

std::string SignJwt(std::string_view payload_json, std::string_view key) {
  std::string signing =
      Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(payload_json);
  return signing + "." + Base64UrlEncode(Hmac(signing, key));
}

Result<std::string> VerifyJwt(std::string_view jwt, std::string_view key) {
  auto d1 = jwt.find('.');
  auto d2 = jwt.rfind('.');
  if (d1 == std::string_view::npos || d1 == d2)
    return Status(Code::kUnauthenticated, "token is not a JWT");
  auto header = Base64UrlDecode(jwt.substr(0, d1));
  if (!header.ok() || header->find("\"HS256\"") == std::string::npos) {
    return Status(Code::kUnauthenticated, "token algorithm is not HS256");
  }
  std::string expected = Hmac(jwt.substr(0, d2), key);
  auto sig = Base64UrlDecode(jwt.substr(d2 + 1));
  if (!sig.ok() || sig->size() != expected.size() ||
      CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) {
    return Status(Code::kUnauthenticated, "token signature is invalid");
  }
  auto payload = Base64UrlDecode(jwt.substr(d1 + 1, d2 - d1 - 1));
  if (!payload.ok()) return Status(Code::kUnauthenticated, "token payload is not base64url");
  return *payload;
}

}  // namespace drydock::auth
