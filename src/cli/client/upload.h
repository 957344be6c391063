// Sending a local build context to the server: packed (context_pack.h)
// into a temporary file and uploaded to /api/v1/contexts. Shared by
// `drydock build` and `drydock run`.
#pragma once

#include <filesystem>
#include <string>

#include "base/result.h"
#include "cli/client/api_client.h"

namespace drydock::client {

// What the server fetches itself: "/dev/null", URLs, scp-like git remotes.
bool IsRemoteSource(const std::string& source);

// Packs `context` (with `dockerfile`, which always goes in) and uploads it;
// returns the run's source ("context:<id>") and sets `name_in_archive` to
// the Dockerfile's name inside it. An empty `name_in_archive` pointer packs
// the directory alone (a task-file run).
Result<std::string> UploadContext(ApiClient& api, const std::filesystem::path& context,
                                  const std::filesystem::path& dockerfile,
                                  std::string* name_in_archive);

}  // namespace drydock::client
