// Internal to build/: the image config JSON a stage carries, and the
// instructions that only change it (ENV, LABEL, CMD, ...).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "builder/dockerfile.h"

namespace drydock::builder {

using nlohmann::json;

// A fresh config for `FROM scratch` on `platform`.
json ScratchConfig(const std::string& platform);
// The config's Env as expansion pairs.
Env ConfigEnv(const json& config);
void SetEnv(json& config, const std::string& key, const std::string& value);
std::vector<std::string> ShellOf(const json& config);

struct ConfigContext {
  char escape = '\\';
  Env env;                 // what ${…} sees: stage ARGs, then ENV
  bool* cmd_set_in_stage;  // ENTRYPOINT resets an inherited CMD
};

// Applies a config-only instruction; returns false when `ins` is not one.
Result<bool> ApplyConfigInstruction(json& config, const Instruction& ins, const ConfigContext& ctx);

// "RUN /bin/sh -c echo hi" style history text.
std::string CreatedBy(const Instruction& ins, const json& config);

}  // namespace drydock::builder
