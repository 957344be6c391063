#include "cli/client/run_watch.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/client/run_format.h"

namespace drydock::client {
namespace {

using nlohmann::json;

// A restarting server or a flaky proxy is waited for this many times (with
// a growing pause, up to kMaxPause) before giving up.
constexpr int kMaxFailures = 20;
constexpr std::chrono::seconds kMaxPause{5};
constexpr std::chrono::seconds kPollEvery{2};
constexpr int64_t kProgressEverySeconds = 10;

std::string RunPath(const std::string& id) { return "/api/v1/runs/" + UrlEscape(id); }

std::string LogPath(const std::string& id, uint64_t offset, bool follow) {
  return RunPath(id) + "/log?offset=" + std::to_string(offset) + (follow ? "&follow=true" : "");
}

void Pause(int failures) {
  std::this_thread::sleep_for(
      std::min<std::chrono::seconds>(std::chrono::seconds(std::max(failures, 1)), kMaxPause));
}

// Writes log bytes through to stdout at once and remembers the last line.
class LogOutput {
 public:
  void operator()(std::string_view data) {
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
    offset_ += data.size();
    for (char c : data) {
      if (c == '\n') {
        if (!current_.empty()) last_line_ = std::move(current_);
        current_.clear();
      } else if (c != '\r' && current_.size() < 4096) {
        current_ += c;
      }
    }
  }
  uint64_t offset() const { return offset_; }
  std::string last_line() const { return current_.empty() ? last_line_ : current_; }

 private:
  uint64_t offset_ = 0;
  std::string current_, last_line_;
};

}  // namespace

Result<FollowResult> FollowLog(ApiClient& api, const std::string& run_id) {
  LogOutput out;
  auto sink = [&out](std::string_view d) { out(d); };
  int failures = 0;
  while (true) {
    uint64_t before = out.offset();
    Status streamed = api.Stream(LogPath(run_id, out.offset(), true), sink);
    if (!streamed.ok() && streamed.code() != Code::kUnavailable) return streamed;
    // The stream ends when the run is final; anything else (a dropped
    // connection, a proxy's cut) means asking again from where we are.
    Status checked = streamed;
    if (streamed.ok()) {
      auto run = api.Get(RunPath(run_id));
      if (run.ok() && IsFinalStatus(run->value("status", ""))) {
        (void)api.Stream(LogPath(run_id, out.offset(), false), sink);  // anything still unread
        return FollowResult{*run, out.last_line()};
      }
      if (!run.ok() && run.status().code() != Code::kUnavailable) return run.status();
      checked = run.status();
    }
    if (checked.ok()) {
      if (out.offset() == before) std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    failures = out.offset() > before ? 1 : failures + 1;
    if (failures > kMaxFailures) {
      return Status(Code::kUnavailable, "lost the log of run " + run_id + ": " + checked.message());
    }
    std::cerr << "(log stream interrupted: " << checked.message() << "; reconnecting)\n";
    Pause(failures);
  }
}

Status PrintLog(ApiClient& api, const std::string& run_id) {
  LogOutput out;
  return api.Stream(LogPath(run_id, 0, false), [&out](std::string_view d) { out(d); });
}

Result<json> PollUntilFinal(ApiClient& api, const std::string& run_id) {
  std::string shown;
  int64_t shown_at = 0;
  int failures = 0;
  while (true) {
    auto run = api.Get(RunPath(run_id));
    if (!run.ok()) {
      if (run.status().code() != Code::kUnavailable || ++failures > kMaxFailures)
        return run.status();
      Pause(failures);
      continue;
    }
    failures = 0;
    std::string status = run->value("status", "");
    if (IsFinalStatus(status)) return *run;
    int64_t now = std::time(nullptr);
    if (status != shown || now - shown_at >= kProgressEverySeconds) {
      auto secs = RunSeconds(*run, now);
      std::cerr << "Run " << run_id << ": " << status
                << (secs ? " (" + std::to_string(*secs) + "s)" : "") << "\n";
      shown = status;
      shown_at = now;
    }
    std::this_thread::sleep_for(kPollEvery);
  }
}

int ReportFinal(const json& run, const std::string& last_log_line) {
  std::string id = run.value("runId", "");
  // The server's log ends with this line already (after a timestamp).
  if (last_log_line.find("Run ID: " + id + " ") == std::string::npos)
    std::cout << FinalStatusLine(run) << "\n";
  std::string status = run.value("status", "");
  if (status == "Succeeded") {
    for (const auto& ref : PushedImages(run)) std::cout << ref << "\n";
    std::cout.flush();
    return 0;
  }
  std::cout.flush();
  std::string error = run.value("runErrorMessage", "");
  std::cerr << "Run " << id << " " << status << (error.empty() ? "" : ": " + error) << "\n";
  return 1;
}

Result<int> WatchRun(ApiClient& api, const std::string& run_id, bool no_wait, bool no_logs) {
  if (no_wait) {
    std::cout << run_id << "\n";
    return 0;
  }
  std::cerr << "Waiting for an agent...\n";
  if (no_logs) {
    DD_ASSIGN_OR_RETURN(final_run, PollUntilFinal(api, run_id));
    return ReportFinal(final_run, "");
  }
  DD_ASSIGN_OR_RETURN(followed, FollowLog(api, run_id));
  return ReportFinal(followed.run, followed.last_line);
}

}  // namespace drydock::client
