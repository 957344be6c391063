// /api/v1/runs: queue, list, show and cancel runs.
#include <algorithm>
#include <map>

#include "api/impl.h"
#include "api/run_json.h"
#include "base/json.h"
#include "oci/reference.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int64_t kMaxTop = 1000;
// Non-admins see only some runs; this many of the newest are filtered.
constexpr int64_t kVisibilityScan = 5000;

// The repository of each output image that goes to `registry_host`.
std::vector<std::string> LocalRepositories(const std::vector<std::string>& images,
                                           const std::string& registry_host) {
  std::vector<std::string> out;
  for (std::string image : images) {
    // A "{{.Run.ID}}" tag not expanded yet is not a valid tag; any tag will do here.
    for (auto p = image.find("{{.Run.ID}}"); p != std::string::npos; p = image.find("{{.Run.ID}}"))
      image.replace(p, 11, "x");
    auto ref = oci::ParseImageReference(image);
    if (ref.ok() && ref->registry == registry_host) out.push_back(ref->repository);
  }
  return out;
}

constexpr std::string_view kTriggerNames[] = {"Manual", "Commit", "Pull Request", "Image Update",
                                              "Timer"};

Result<int64_t> ParseTop(const std::optional<std::string>& text) {
  if (!text) return int64_t{15};
  if (text->empty() || text->size() > 6 ||
      text->find_first_not_of("0123456789") != std::string::npos)
    return Invalid("top must be a number from 1 to " + std::to_string(kMaxTop));
  int64_t top = std::stoll(*text);
  if (top < 1 || top > kMaxTop)
    return Invalid("top must be a number from 1 to " + std::to_string(kMaxTop));
  return top;
}

}  // namespace

bool Api::Impl::CanRead(const auth::Identity& who, const tasks::Run& run,
                        std::map<std::string, bool>& can_pull) {
  if (who.admin || run.request.user == who.user) return true;
  for (const auto& repo : LocalRepositories(run.request.images, options.registry_host)) {
    auto [it, added] = can_pull.try_emplace(repo, false);
    if (added) it->second = (auth.Allowed(who, repo) & auth::kPull) != 0;
    if (it->second) return true;
  }
  return false;
}

bool Api::Impl::LoadReadableRun(Ctx& c, const std::string& id, tasks::Run& run) {
  if (!RequireAnyGrant(c)) return false;
  auto found = runs.Get(id);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) {
      SendError(c.resp, 404, "NOT_FOUND", "run " + id + " does not exist");
    } else {
      SendStatus(c.resp, found.status());
    }
    return false;
  }
  std::map<std::string, bool> can_pull;
  if (!CanRead(c.who, *found, can_pull)) {
    SendError(c.resp, 403, "DENIED", "user " + c.who.user + " may not read run " + id);
    return false;
  }
  run = std::move(*found);
  return true;
}

void Api::Impl::QueueRun(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto text = c.req.ReadAll(kMaxRequestBytes);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  auto body = ParseJson(*text);
  if (!body.ok()) return SendError(c.resp, 400, "INVALID", "the body: " + body.status().message());
  auto request = ParseRunRequest(*body, options.registry_host);
  if (!request.ok()) return SendStatus(c.resp, request.status());
  if (request->push) {
    for (const auto& repo : LocalRepositories(request->images, options.registry_host)) {
      if ((auth.Allowed(c.who, repo) & auth::kPush) == 0) {
        return SendError(c.resp, 403, "DENIED",
                         "user " + c.who.user + " may not push to " + repo +
                             " (the run would push there; use noPush to only build)");
      }
    }
  }
  request->user = c.who.user;
  auto run = runs.Queue(std::move(*request));
  if (!run.ok()) {
    // A missing context or an unusable source is the request's fault.
    if (run.status().code() == Code::kNotFound)
      return SendError(c.resp, 400, "INVALID", run.status().message());
    return SendStatus(c.resp, run.status());
  }
  SendJson(c.resp, 201, RunToJson(*run));
}

void Api::Impl::ListRuns(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto top = ParseTop(c.req.Query("top"));
  if (!top.ok()) return SendStatus(c.resp, top.status());
  tasks::RunFilter filter;
  filter.top = c.who.admin ? *top : std::max(*top, kVisibilityScan);
  if (auto status = c.req.Query("status"); status && !status->empty()) {
    filter.status = tasks::ParseStatus(*status);
    if (!filter.status) return SendError(c.resp, 400, "INVALID", "unknown run status " + *status);
  }
  filter.task = c.req.Query("task").value_or("");
  filter.image = c.req.Query("image").value_or("");
  filter.trigger = c.req.Query("trigger").value_or("");
  if (!filter.trigger.empty() &&
      std::ranges::find(kTriggerNames, filter.trigger) == std::end(kTriggerNames))
    return SendError(c.resp, 400, "INVALID",
                     "unknown trigger " + filter.trigger +
                         " (Manual, Commit, Pull Request, Image Update or Timer)");
  if (auto after = c.req.Query("createdAfter"); after && !after->empty()) {
    auto ms = ParseIsoTime(*after);
    if (!ms.ok())
      return SendError(c.resp, 400, "INVALID", "createdAfter: " + ms.status().message());
    filter.created_after_ms = *ms;
  }
  auto list = runs.List(filter);
  if (!list.ok()) return SendStatus(c.resp, list.status());
  json out = json::array();
  std::map<std::string, bool> can_pull;  // one grant lookup per repository, not per run
  for (const auto& run : *list) {
    if (static_cast<int64_t>(out.size()) >= *top) break;
    if (CanRead(c.who, run, can_pull)) out.push_back(RunToJson(run));
  }
  SendJson(c.resp, 200, {{"runs", std::move(out)}});
}

void Api::Impl::GetRun(Ctx& c, const std::string& id) {
  tasks::Run run;
  if (!LoadReadableRun(c, id, run)) return;
  SendJson(c.resp, 200, RunToJson(run));
}

void Api::Impl::CancelRun(Ctx& c, const std::string& id) {
  tasks::Run run;
  if (!LoadReadableRun(c, id, run)) return;
  if (!c.who.admin && run.request.user != c.who.user) {
    return SendError(
        c.resp, 403, "DENIED",
        "only " + run.request.user + " (who queued it) or an admin may cancel run " + id);
  }
  if (tasks::IsFinal(run.status)) {
    return SendError(c.resp, 409, "CONFLICT",
                     "run " + id + " is already " + std::string(tasks::StatusName(run.status)));
  }
  if (auto s = runs.Cancel(id); !s.ok()) {
    // It may have finished in the meantime: that is a conflict, not a failure.
    auto now = runs.Get(id);
    if (now.ok() && tasks::IsFinal(now->status)) {
      return SendError(c.resp, 409, "CONFLICT",
                       "run " + id + " is already " + std::string(tasks::StatusName(now->status)));
    }
    return SendStatus(c.resp, s);
  }
  auto now = runs.Get(id);
  if (!now.ok()) return SendStatus(c.resp, now.status());
  SendJson(c.resp, 202, RunToJson(*now));
}

}  // namespace drydock::api

namespace drydock::api {

namespace {

// What set the run going, in words: the base image update, the commit, the
// timer, or who queued it.
std::string CauseOf(const tasks::Run& run) {
  const tasks::RunTrigger& t = run.request.trigger;
  if (!t.image_update.empty()) {
    const auto& b = t.image_update.front();
    return "base image " + b.registry + "/" + b.repository + (b.tag.empty() ? "" : ":" + b.tag) +
           (b.digest.empty() ? "" : "@" + b.digest) + " was updated";
  }
  if (t.source) {
    std::string what = t.source->event_type == "pullrequest"
                           ? "pull request " + t.source->pull_request_id
                           : "commit " + t.source->commit_id;
    if (!t.source->branch.empty()) what += " on " + t.source->branch;
    return what + " (" + t.source->provider + ")";
  }
  if (t.timer) return "timer " + t.timer->name;
  return run.request.user.empty() ? "queued by hand" : "queued by " + run.request.user;
}

// The step a failed run failed in: a task file's step names itself in the
// error; a build's one step is "build".
std::string FailedStepOf(const tasks::Run& run) {
  if (run.status == tasks::RunStatus::kSucceeded || run.status == tasks::RunStatus::kCanceled ||
      !tasks::IsFinal(run.status))
    return "";
  constexpr std::string_view kStep = "failed to run step ID: ";
  if (auto at = run.error.find(kStep); at != std::string::npos) {
    size_t start = at + kStep.size();
    return run.error.substr(start, run.error.find(':', start) - start);
  }
  return run.request.type.ends_with("Build") ? "build" : "";
}

}  // namespace

Result<nlohmann::json> Api::DescribeRun(const std::string& run_id) {
  DD_ASSIGN_OR_RETURN(run, impl_->runs.Get(run_id));
  return nlohmann::json{{"id", run.id},
                        {"status", tasks::StatusName(run.status)},
                        {"task", run.request.task},
                        {"trigger", tasks::TriggerName(run.request.trigger)},
                        {"cause", CauseOf(run)},
                        {"failedStep", FailedStepOf(run)},
                        {"error", run.error},
                        {"logUrl", impl_->options.base_url + "/api/v1/runs/" + run.id + "/log"},
                        {"record", RunToJson(run)}};
}

}  // namespace drydock::api
