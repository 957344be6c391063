// Run requests and records in docs/api.md's JSON (ACR's camelCase names).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "tasks/tasks.h"

namespace drydock::api {

// "2026-11-29T12:00:01Z" for milliseconds since the epoch.
std::string IsoTime(int64_t ms);
// Milliseconds since the epoch for "2026-11-29T12:00:01Z" (UTC only; a
// fraction of a second is ignored); an error naming the text otherwise.
Result<int64_t> ParseIsoTime(const std::string& text);

// `name` with `registry_host/` in front unless its first component already
// names a registry (has '.' or ':', or is "localhost"), as docker decides.
std::string QualifyImage(std::string_view name, std::string_view registry_host);

// Checks the shape of a POST /api/v1/runs body and turns it into a request
// (user not set); the run service checks the values it owns (timeout range,
// source, Dockerfile path). Image names are qualified with `registry_host`;
// "{{.Run.ID}}" is left for the run service to expand.
Result<tasks::RunRequest> ParseRunRequest(const nlohmann::json& body,
                                          std::string_view registry_host);

// The run record; never carries build arg values or the git token.
nlohmann::json RunToJson(const tasks::Run& run);

}  // namespace drydock::api
