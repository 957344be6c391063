#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

namespace drydock::auth {
namespace {

std::string Hmac(std::string_view data, std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace

std::string Base64UrlEncode(std::string_view in) {
  std::vector<unsigned char> out(4 * ((in.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  std::string s(reinterpret_cast<char*>(out.data()), static_cast<size_t>(n));
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::string Base64Decode(std::string_view in) {
  std::string s(in);
  while (s.size() % 4 != 0) s += '=';
  std::vector<unsigned char> out(s.size() / 4 * 3 + 1);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return {};
  size_t pad = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
  return std::string(reinterpret_cast<char*>(out.data()), static_cast<size_t>(n) - std::min<size_t>(pad, 2));
}

Result<std::string> Base64UrlDecode(std::string_view in) {
  std::string s(in);
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return Invalid("not base64url");
  }
  if (s.size() % 4 == 1) return Invalid("not base64url");
  return Base64Decode(s);
}

std::string SignJwt(std::string_view payload_json, std::string_view key) {
  std::string signing = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(payload_json);
  return signing + "." + Base64UrlEncode(Hmac(signing, key));
}

Result<std::string> VerifyJwt(std::string_view jwt, std::string_view key) {
  auto d1 = jwt.find('.');
  auto d2 = jwt.rfind('.');
  if (d1 == std::string_view::npos || d1 == d2) return Status(Code::kUnauthenticated, "token is not a JWT");
  auto header = Base64UrlDecode(jwt.substr(0, d1));
  if (!header.ok() || header->find("\"HS256\"") == std::string::npos) {
    return Status(Code::kUnauthenticated, "token algorithm is not HS256");
  }
  std::string expected = Hmac(jwt.substr(0, d2), key);
  auto sig = Base64UrlDecode(jwt.substr(d2 + 1));
  if (!sig.ok() || sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) {
    return Status(Code::kUnauthenticated, "token signature is invalid");
  }
  auto payload = Base64UrlDecode(jwt.substr(d1 + 1, d2 - d1 - 1));
  if (!payload.ok()) return Status(Code::kUnauthenticated, "token payload is not base64url");
  return *payload;
}

}  // namespace drydock::auth
