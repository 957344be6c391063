// Compact JWS (HS256) over OpenSSL's HMAC: the tokens are issued and
// verified by the same server, so a shared secret is all that is needed.
#pragma once

#include <string>
#include <string_view>

#include "base/base64.h"
#include "base/result.h"

namespace drydock::auth {

std::string SignJwt(std::string_view payload_json, std::string_view key);
// Returns the payload JSON if the signature is valid (no claim checks).
Result<std::string> VerifyJwt(std::string_view jwt, std::string_view key);

}  // namespace drydock::auth
