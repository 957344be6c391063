// How the client shows runs: ACR's final status line, times and durations,
// the pushed images, and plain-text tables.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace drydock::client {

// Succeeded, Failed, Canceled, Error, Timeout.
bool IsFinalStatus(const std::string& status);

// "2026-11-29T12:00:01Z" (fraction and offset allowed) -> Unix seconds.
std::optional<int64_t> ParseTime(const std::string& rfc3339);

// Whole seconds from start (or create) to finish, or to `now` while running.
std::optional<int64_t> RunSeconds(const nlohmann::json& run, int64_t now);

// 4 -> "00:00:04", as `az acr task list-runs` shows durations.
std::string Hms(int64_t seconds);

// "Run ID: ca1 was successful after 4s", "… failed after 2s", "… was
// canceled", "… timed out", "… errored after 1s".
std::string FinalStatusLine(const nlohmann::json& run);

// "REGISTRY/REPO:TAG@sha256:…" for every output image with a digest.
std::vector<std::string> PushedImages(const nlohmann::json& run);

// Left-aligned columns two spaces apart, a dashed rule under the headers.
void PrintTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace drydock::client
