// ASCII case folding for protocol text (HTTP header names, URL schemes,
// cron names, units): never locale-dependent, never touching UTF-8 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace drydock {

std::string AsciiLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);

// "500M", "10G", "1.5G", "1048576": bytes, with binary K/M/G/T suffixes (an
// optional trailing "B" or "iB" is accepted).
Result<uint64_t> ParseByteSize(std::string_view text);

// RFC 3986 percent-encoding: every byte but the unreserved A-Z a-z 0-9 - . _ ~
// and those in `keep` (e.g. "/" for a path) becomes %XX.
std::string PercentEncode(std::string_view s, std::string_view keep = "");

}  // namespace drydock
