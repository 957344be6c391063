// Loading YAML that came from a user (task files, values, alias files).
// yaml-cpp stops at 2000 levels of nesting, but our own walkers over the
// nodes recurse too: a user's document is held to a depth no real task file
// comes near.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace drydock::steps {

inline constexpr int kMaxYamlDepth = 64;

// As YAML::Load; also throws YAML::ParserException, at the first node too
// deep, for a document nested deeper than kMaxYamlDepth.
YAML::Node LoadYaml(const std::string& text);

}  // namespace drydock::steps
