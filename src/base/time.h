// Times as RFC 3339 text, in UTC (what APIs and attestations carry).
#pragma once

#include <cstdint>
#include <string>

namespace drydock {

// "2026-12-07T13:14:15Z" for a time in milliseconds since the epoch.
std::string Rfc3339(int64_t unix_ms);

}  // namespace drydock
