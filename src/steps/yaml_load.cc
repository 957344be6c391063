#include "steps/yaml_load.h"

#include <yaml-cpp/depthguard.h>

#include <utility>
#include <vector>

namespace drydock::steps {

YAML::Node LoadYaml(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (far deeper than ours) names no limit: say ours.
    throw YAML::ParserException(e.mark,
                                "nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
  }
  // Iterative, so that the check itself cannot overflow the stack.
  std::vector<std::pair<YAML::Node, int>> pending{{root, 0}};
  while (!pending.empty()) {
    auto [node, depth] = std::move(pending.back());
    pending.pop_back();
    if (!node.IsMap() && !node.IsSequence()) continue;
    if (depth >= kMaxYamlDepth) {
      throw YAML::ParserException(
          node.Mark(), "nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    }
    for (const auto& entry : node) {
      if (node.IsMap()) {
        pending.emplace_back(entry.first, depth + 1);
        pending.emplace_back(entry.second, depth + 1);
      } else {
        pending.emplace_back(entry, depth + 1);
      }
    }
  }
  return root;
}

}  // namespace drydock::steps
