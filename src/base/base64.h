// Base64 (standard and URL-safe) over OpenSSL's EVP encoder.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace drydock {

std::string Base64Encode(std::string_view in);
// Standard alphabet; missing padding is tolerated. "" on malformed input.
std::string Base64Decode(std::string_view in);
std::string Base64UrlEncode(std::string_view in);  // no padding, as JWTs use
Result<std::string> Base64UrlDecode(std::string_view in);

}  // namespace drydock
