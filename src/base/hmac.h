// HMAC-SHA256 as webhooks sign their bodies: the providers' deliveries
// Drydock checks (triggers/), and the notifications it sends (events/).
#pragma once

#include <string>

namespace drydock {

// Lowercase hex of HMAC-SHA256(secret, body); "" if OpenSSL fails, which
// then matches no signature.
std::string HmacSha256Hex(const std::string& secret, const std::string& body);

}  // namespace drydock
