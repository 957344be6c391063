// `drydock run list|show|logs|cancel`: the server's run records and logs.
#include <ctime>
#include <iostream>

#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/run_format.h"
#include "cli/client/run_watch.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

using nlohmann::json;

std::string RunPath(const std::string& id) { return "/api/v1/runs/" + client::UrlEscape(id); }

std::string Platform(const json& run) {
  if (auto all = run.find("platforms"); all != run.end() && all->is_array() && all->size() > 1) {
    std::string out;
    for (const auto& p : *all)
      if (p.is_string()) out += (out.empty() ? "" : ",") + p.get<std::string>();
    return out;
  }
  if (!run.contains("platform") || !run["platform"].is_object()) return "";
  const json& p = run["platform"];
  std::string out = p.value("os", "");
  if (std::string arch = p.value("architecture", ""); !arch.empty()) out += "/" + arch;
  if (std::string variant = p.value("variant", ""); !variant.empty()) out += "/" + variant;
  return out;
}

// ACR shows "Manual" for runs someone queued by hand.
std::string Trigger(const json& run) {
  if (std::string t = run.value("trigger", ""); !t.empty()) return t;
  std::string type = run.value("runType", "");
  return type.rfind("Quick", 0) == 0 ? "Manual" : type;
}

std::vector<std::string> Row(const json& run, int64_t now) {
  auto secs = client::RunSeconds(run, now);
  bool started = !run.value("startTime", "").empty();
  return {run.value("runId", ""),
          run.value("task", ""),
          Platform(run),
          run.value("status", ""),
          Trigger(run),
          run.value("startTime", ""),
          started && secs ? client::Hms(*secs) : ""};
}

Result<std::string> ListQuery(const RunListFlags& f) {
  if (f.top < 1) return Invalid("--top must be at least 1");
  if (!f.status.empty() && f.status != "Queued" && f.status != "Started" && f.status != "Running" &&
      !client::IsFinalStatus(f.status)) {
    return Invalid("--status " + f.status +
                   ": expected Queued, Started, Running, Succeeded, Failed, Canceled, Error or "
                   "Timeout");
  }
  std::string q = "/api/v1/runs?top=" + std::to_string(f.top);
  if (!f.status.empty()) q += "&status=" + client::UrlEscape(f.status);
  if (!f.task.empty()) q += "&task=" + client::UrlEscape(f.task);
  if (!f.image.empty()) q += "&image=" + client::UrlEscape(f.image);
  return q;
}

Status List(const RunListFlags& f) {
  DD_ASSIGN_OR_RETURN(query, ListQuery(f));
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get(query));
  json runs = reply.contains("runs") && reply["runs"].is_array() ? reply["runs"] : json::array();
  if (f.output == "json") {
    std::cout << runs.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  int64_t now = std::time(nullptr);
  for (const auto& run : runs) rows.push_back(Row(run, now));
  client::PrintTable(
      std::cout, {"RUN ID", "TASK", "PLATFORM", "STATUS", "TRIGGER", "STARTED", "DURATION"}, rows);
  return Status::Ok();
}

Status Show(const RunFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(run, api.Get(RunPath(f.id)));
  std::cout << run.dump(2) << "\n";
  return Status::Ok();
}

Status Logs(const RunFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  if (!f.follow) return client::PrintLog(api, f.id);
  return client::FollowLog(api, f.id).status();
}

Status Cancel(const RunFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(run, api.Post(RunPath(f.id) + "/cancel", json::object()));
  std::string status = run.value("status", "");
  if (status == "Canceled") {
    std::cout << "Run " << f.id << " was canceled\n";
  } else {
    std::cout << "Canceling run " << f.id << " (status: " << status << ")\n";
  }
  return Status::Ok();
}

}  // namespace

int RunList(const RunListFlags& flags) {
  Status s = List(flags);
  return s.ok() ? 0 : client::Fail("run list", s);
}

int RunShow(const RunFlags& flags) {
  Status s = Show(flags);
  return s.ok() ? 0 : client::Fail("run show", s);
}

int RunLogs(const RunFlags& flags) {
  Status s = Logs(flags);
  return s.ok() ? 0 : client::Fail("run logs", s);
}

int RunCancel(const RunFlags& flags) {
  Status s = Cancel(flags);
  return s.ok() ? 0 : client::Fail("run cancel", s);
}

}  // namespace drydock::cli
