#include <crypt.h>
#include <openssl/crypto.h>

#include <cstring>
#include <memory>

#include "auth/auth.h"

namespace drydock::auth {

Result<std::string> HashPassword(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 10, nullptr, 0, salt, sizeof salt) == nullptr) {
    return Internal("bcrypt salt generation failed");
  }
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* h = crypt_r(password.c_str(), salt, data.get());
  if (h == nullptr || h[0] == '*') return Internal("bcrypt hashing failed");
  return std::string(h);
}

bool VerifyPassword(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* h = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (h == nullptr || h[0] == '*') return false;
  size_t n = std::strlen(h);
  // Constant-time comparison: no early exit on the first differing byte.
  return n == hash.size() && CRYPTO_memcmp(h, hash.data(), n) == 0;
}

}  // namespace drydock::auth
