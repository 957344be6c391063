// Parsing JSON that came from outside (requests, registries, build inputs).
// nlohmann's parser is iterative, but dump(), comparisons and our own walkers
// recurse: a body of 60,000 nested braces under the size cap overflowed the
// stack. Untrusted JSON is refused past a fixed nesting depth instead.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/result.h"

namespace drydock {

// Deeper than any manifest, config, API body or webhook payload in the wild.
inline constexpr int kMaxJsonDepth = 64;

// The parsed value, or Invalid naming the parse error (with its position) or
// the depth limit.
Result<nlohmann::json> ParseJson(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace drydock
