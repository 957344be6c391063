#include "base/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <vector>

namespace drydock {

std::string Base64Encode(std::string_view in) {
  std::vector<unsigned char> out(4 * ((in.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  return std::string(reinterpret_cast<char*>(out.data()), static_cast<size_t>(n));
}

std::string Base64Decode(std::string_view in) {
  std::string s(in);
  while (s.size() % 4 != 0) s += '=';
  std::vector<unsigned char> out(s.size() / 4 * 3 + 1);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  size_t pad = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
  return std::string(reinterpret_cast<char*>(out.data()),
                     static_cast<size_t>(n) - std::min<size_t>(pad, 2));
}

std::string Base64UrlEncode(std::string_view in) {
  std::string s = Base64Encode(in);
  while (!s.empty() && s.back() == '=') s.pop_back();
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  return s;
}

Result<std::string> Base64UrlDecode(std::string_view in) {
  std::string s(in);
  for (char& c : s) {
    if (c == '+' || c == '/' || c == '=') return Invalid("not base64url");
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (s.size() % 4 == 1) return Invalid("not base64url");
  return Base64Decode(s);
}

}  // namespace drydock
