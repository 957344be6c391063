// Cryptographically random identifiers (upload ids, secrets, passwords).
#pragma once

#include <string>

namespace drydock {

// `bytes` random bytes from OpenSSL's CSPRNG, hex encoded.
std::string RandomHex(size_t bytes);
// A v4 UUID string, used for upload session ids as clients expect.
std::string RandomUuid();

}  // namespace drydock
