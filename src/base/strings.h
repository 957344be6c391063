// ASCII case folding for protocol text (HTTP header names, URL schemes,
// cron names, units): never locale-dependent, never touching UTF-8 bytes.
#pragma once

#include <string>
#include <string_view>

namespace drydock {

std::string AsciiLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);

}  // namespace drydock
