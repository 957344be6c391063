// Internal to build/: splits a parsed Dockerfile into stages, resolves what
// each FROM and COPY --from names, and works out which stages the target needs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "builder/dockerfile.h"

namespace drydock::builder {

struct Stage {
  size_t index = 0;
  std::string name;      // lower-cased alias, "" when none
  std::string base;      // expanded FROM argument ("scratch", an image, or a stage name)
  int base_stage = -1;   // the stage FROM names, if any
  std::string platform;  // expanded --platform, "" when absent
  const Instruction* from = nullptr;
  std::vector<const Instruction*> body;  // instructions after FROM
  std::vector<int> needs;                // stages this one reads (FROM and COPY --from)
};

struct Plan {
  std::vector<Stage> stages;
  Env meta_args;  // ARGs before the first FROM, with build-arg overrides
  size_t target = 0;
  std::vector<size_t> order;  // stages the target needs, dependencies first
};

// Platform args Docker predefines (TARGETPLATFORM, TARGETARCH, BUILDOS, ...):
// TARGET* the platform built for, BUILD* this machine's.
Env PlatformArgs(const std::string& platform);

Result<Plan> PlanStages(const Dockerfile& df, const std::map<std::string, std::string>& build_args,
                        const std::string& target, const std::string& platform);

// The stage a COPY --from value names: by alias or by index.
std::optional<int> FindStage(const Plan& plan, const std::string& ref, size_t before);

}  // namespace drydock::builder
