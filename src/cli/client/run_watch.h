// Watching a run to its end: its log streamed as the server writes it
// (picking up where it left off when the connection drops), or its status
// polled; then the final report and the exit code.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "cli/client/api_client.h"

namespace drydock::client {

struct FollowResult {
  nlohmann::json run;     // the final record
  std::string last_line;  // the log's last non-empty line
};

// Copies the log of `run_id` to stdout as it grows until the run is final.
Result<FollowResult> FollowLog(ApiClient& api, const std::string& run_id);

// Prints the log written so far.
Status PrintLog(ApiClient& api, const std::string& run_id);

// Polls the run's status, telling stderr when it changes and every few
// seconds while it does not, until it is final. Returns the final record.
Result<nlohmann::json> PollUntilFinal(ApiClient& api, const std::string& run_id);

// The final status line (unless the log already ended with it) and, for a
// successful run, one "REGISTRY/REPO:TAG@DIGEST" line per pushed image, on
// stdout; otherwise the status and error message on stderr. Returns the
// exit code: 0 only when the run succeeded.
int ReportFinal(const nlohmann::json& run, const std::string& last_log_line);

// After a run is queued: with `no_wait`, prints its id and returns 0; else
// follows its log (or, with `no_logs`, polls its status) to the end and
// reports it. Returns the exit code.
Result<int> WatchRun(ApiClient& api, const std::string& run_id, bool no_wait, bool no_logs);

}  // namespace drydock::client
