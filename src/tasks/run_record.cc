#include "tasks/run_record.h"

#include <cctype>
#include <chrono>

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace drydock::tasks {

namespace {

using json = nlohmann::json;

constexpr std::string_view kStatusNames[] = {"Queued", "Started",  "Running", "Succeeded",
                                             "Failed", "Canceled", "Error",   "Timeout"};

json ImagesToJson(const std::vector<ImageDescriptor>& images) {
  json out = json::array();
  for (const auto& i : images)
    out.push_back({{"registry", i.registry},
                   {"repository", i.repository},
                   {"tag", i.tag},
                   {"digest", i.digest}});
  return out;
}

std::vector<ImageDescriptor> ImagesFromJson(const json& j) {
  std::vector<ImageDescriptor> out;
  for (const auto& i : j)
    out.push_back({i.value("registry", ""), i.value("repository", ""), i.value("tag", ""),
                   i.value("digest", "")});
  return out;
}

json TriggerToJson(const RunTrigger& t) {
  json j = {{"image_update", ImagesToJson(t.image_update)}, {"cascade", t.cascade}};
  if (t.source) {
    j["source"] = {{"event_type", t.source->event_type},
                   {"commit_id", t.source->commit_id},
                   {"branch", t.source->branch},
                   {"pull_request_id", t.source->pull_request_id},
                   {"repository_url", t.source->repository_url},
                   {"provider", t.source->provider}};
  }
  if (t.timer)
    j["timer"] = {{"name", t.timer->name}, {"occurrence", t.timer->schedule_occurrence_ms}};
  return j;
}

RunTrigger TriggerFromJson(const json& j) {
  RunTrigger t;
  t.image_update = ImagesFromJson(j.value("image_update", json::array()));
  t.cascade = j.value("cascade", std::vector<std::string>{});
  if (auto s = j.find("source"); s != j.end()) {
    t.source = SourceTrigger{s->value("event_type", ""),     s->value("commit_id", ""),
                             s->value("branch", ""),         s->value("pull_request_id", ""),
                             s->value("repository_url", ""), s->value("provider", "")};
  }
  if (auto s = j.find("timer"); s != j.end())
    t.timer = TimerTrigger{s->value("name", ""), s->value("occurrence", int64_t{0})};
  return t;
}

json CredentialsToJson(const std::vector<RegistryCredential>& credentials) {
  json out = json::array();
  for (const auto& c : credentials)
    out.push_back(
        {{"login_server", c.login_server}, {"username", c.username}, {"password", c.password}});
  return out;
}

json ArgsToJson(const std::vector<BuildArg>& list) {
  json args = json::array();
  for (const auto& a : list)
    args.push_back({{"name", a.name}, {"value", a.value}, {"secret", a.secret}});
  return args;
}

std::vector<BuildArg> ArgsFromJson(const json& j) {
  std::vector<BuildArg> out;
  for (const auto& a : j)
    out.push_back({a.value("name", ""), a.value("value", ""), a.value("secret", false)});
  return out;
}

json RequestToJson(const RunRequest& r) {
  return {{"type", r.type},
          {"task", r.task},
          {"source", r.source},
          {"dockerfile", r.dockerfile},
          {"images", r.images},
          {"build_args", ArgsToJson(r.build_args)},
          {"task_file", r.task_file},
          {"values", r.values},
          {"sets", ArgsToJson(r.sets)},
          {"target", r.target},
          {"platform", r.platform},
          {"push", r.push},
          {"no_cache", r.no_cache},
          {"timeout", r.timeout_seconds},
          {"user", r.user},
          {"git_token", r.git_token},
          {"credentials", CredentialsToJson(r.credentials)},
          {"trigger", TriggerToJson(r.trigger)},
          {"agent_pool", r.agent_pool},
          {"patch_mode", r.patch_mode},
          {"patch_verify", r.patch_verify},
          {"patch_verify_failure", r.patch_verify_failure},
          {"trusted_base_keys", r.trusted_base_keys},
          {"parent", r.parent}};
}

RunRequest RequestFromJson(const json& j) {
  RunRequest r;
  r.type = j.value("type", r.type);
  r.task = j.value("task", "");
  r.source = j.value("source", "");
  r.dockerfile = j.value("dockerfile", r.dockerfile);
  r.images = j.value("images", std::vector<std::string>{});
  r.build_args = ArgsFromJson(j.value("build_args", json::array()));
  r.task_file = j.value("task_file", "");
  r.values = j.value("values", "");
  r.sets = ArgsFromJson(j.value("sets", json::array()));
  r.target = j.value("target", "");
  r.platform = j.value("platform", r.platform);
  r.push = j.value("push", true);
  r.no_cache = j.value("no_cache", false);
  r.timeout_seconds = j.value("timeout", r.timeout_seconds);
  r.user = j.value("user", "");
  r.git_token = j.value("git_token", "");
  for (const auto& c : j.value("credentials", json::array()))
    r.credentials.push_back(
        {c.value("login_server", ""), c.value("username", ""), c.value("password", "")});
  r.trigger = TriggerFromJson(j.value("trigger", json::object()));
  r.agent_pool = j.value("agent_pool", "");
  r.patch_mode = j.value("patch_mode", r.patch_mode);
  r.patch_verify = j.value("patch_verify", "");
  r.patch_verify_failure = j.value("patch_verify_failure", r.patch_verify_failure);
  r.trusted_base_keys = j.value("trusted_base_keys", std::vector<std::string>{});
  r.parent = j.value("parent", "");
  return r;
}

json PatchToJson(const PatchRecord& p) {
  return {{"kind", p.kind},
          {"base", p.base},
          {"old_base_digest", p.old_base_digest},
          {"new_base_digest", p.new_base_digest},
          {"reasons", p.reasons},
          {"milliseconds", p.milliseconds}};
}

PatchRecord PatchFromJson(const json& j) {
  return PatchRecord{j.value("kind", ""),
                     j.value("base", ""),
                     j.value("old_base_digest", ""),
                     j.value("new_base_digest", ""),
                     j.value("reasons", std::vector<std::string>{}),
                     j.value("milliseconds", int64_t{0})};
}

json ResultToJson(const Run& run) {
  json j = {
      {"output_images", ImagesToJson(run.output_images)},
      {"dependencies", run.dependencies_json},
      {"source",
       {{"url", run.source.url}, {"commit", run.source.commit}, {"branch", run.source.branch}}}};
  if (run.patch) j["patch"] = PatchToJson(*run.patch);
  if (!run.parts.empty()) {
    j["parts"] = json::array();
    for (const auto& p : run.parts)
      j["parts"].push_back({{"platform", p.platform}, {"run", p.run_id}});
  }
  return j;
}

void ResultFromJson(const json& j, Run& run) {
  run.output_images = ImagesFromJson(j.value("output_images", json::array()));
  run.dependencies_json = j.value("dependencies", "");
  json source = j.value("source", json::object());
  run.source = {source.value("url", ""), source.value("commit", ""), source.value("branch", "")};
  if (auto p = j.find("patch"); p != j.end() && p->is_object()) run.patch = PatchFromJson(*p);
  if (auto parts = j.find("parts"); parts != j.end() && parts->is_array())
    for (const auto& p : *parts)
      if (p.is_object()) run.parts.push_back({p.value("platform", ""), p.value("run", "")});
}

void AddLine(std::string& text, const std::string& name) { text += name + "\n"; }

}  // namespace

std::string_view StatusName(RunStatus s) { return kStatusNames[static_cast<size_t>(s)]; }

std::string ClaimedRunToJson(const ClaimedRun& c) {
  const Run& run = c.run;
  json j = {{"id", run.id},
            {"seq", run.seq},
            {"attempt", c.attempt},
            {"create_time", run.create_time_ms},
            {"request", RequestToJson(run.request)},
            {"cause", run.request.cause}};
  return j.dump();
}

Result<ClaimedRun> ClaimedRunFromJson(std::string_view text) {
  DD_ASSIGN_OR_RETURN(j, ParseJson(text));
  if (!j.is_object() || !j.contains("request") || !j["request"].is_object())
    return Invalid("a claimed run must be a JSON object with a request");
  try {
    ClaimedRun c;
    c.run.id = j.value("id", "");
    c.run.seq = j.value("seq", int64_t{0});
    c.attempt = j.value("attempt", int64_t{0});
    c.run.create_time_ms = j.value("create_time", int64_t{0});
    c.run.request = RequestFromJson(j["request"]);
    c.run.request.cause = j.value("cause", "");
    c.run.status = RunStatus::kStarted;
    c.run.attempt = c.attempt;
    if (c.run.id.empty() || c.attempt < 1)
      return Invalid("a claimed run needs an id and an attempt");
    return c;
  } catch (const json::exception& e) {
    return Invalid(std::string("a claimed run has a field of the wrong type: ") + e.what());
  }
}

std::string ReportToJson(const Run& run) {
  json j = ResultToJson(run);
  j["status"] = StatusName(run.status);
  j["error"] = run.error;
  return j.dump();
}

Result<Run> ReportFromJson(std::string_view text) {
  DD_ASSIGN_OR_RETURN(j, ParseJson(text));
  if (!j.is_object()) return Invalid("a run report must be a JSON object");
  try {
    Run run;
    auto status = ParseStatus(j.value("status", ""));
    if (!status) return Invalid("a run report needs a status (Running, Queued or a final one)");
    run.status = *status;
    run.error = j.value("error", "");
    ResultFromJson(j, run);
    return run;
  } catch (const json::exception& e) {
    return Invalid(std::string("a run report has a field of the wrong type: ") + e.what());
  }
}

Status CheckAgentPool(const std::string& pool) {
  if (pool.size() > 64) return Invalid("the agent pool name is longer than 64 characters");
  for (char c : pool) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return Invalid("the agent pool name '" + pool +
                     "' may hold only letters, digits, '-', '_' and '.'");
  }
  return Status::Ok();
}

std::optional<RunStatus> ParseStatus(std::string_view name) {
  for (size_t i = 0; i < std::size(kStatusNames); ++i) {
    if (kStatusNames[i] == name) return static_cast<RunStatus>(i);
  }
  return std::nullopt;
}

std::string TriggerName(const RunTrigger& t) {
  if (t.source) return t.source->event_type == "pullrequest" ? "Pull Request" : "Commit";
  if (!t.image_update.empty()) return "Image Update";
  if (t.timer) return "Timer";
  return "Manual";
}

bool IsFinal(RunStatus s) {
  return s != RunStatus::kQueued && s != RunStatus::kStarted && s != RunStatus::kRunning;
}

std::string RunId(int64_t seq) {
  // The offset makes the first id "ca1", as ACR's registries start.
  int64_t n = seq + 360;
  std::string digits;
  do {
    digits.insert(digits.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36]);
    n /= 36;
  } while (n > 0);
  return "c" + digits;
}

namespace internal {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

storage::RunRow ToRow(const Run& run) {
  storage::RunRow row;
  row.id = run.id;
  row.seq = run.seq;
  row.status = std::string(StatusName(run.status));
  row.type = run.request.type;
  row.task = run.request.task;
  row.create_time_ms = run.create_time_ms;
  row.start_time_ms = run.start_time_ms;
  row.finish_time_ms = run.finish_time_ms;
  row.request_json = RequestToJson(run.request).dump();
  row.result_json = ResultToJson(run).dump();
  row.error = run.error;
  row.cause = run.request.cause;
  row.pool = run.request.agent_pool;
  row.platform = run.request.platform;
  row.trigger = TriggerName(run.request.trigger);
  return row;
}

Result<Run> FromRow(const storage::RunRow& row) {
  auto status = ParseStatus(row.status);
  if (!status) return Internal("run " + row.id + " has an unknown status " + row.status);
  json request = json::parse(row.request_json, nullptr, false);
  json result = json::parse(row.result_json.empty() ? "{}" : row.result_json, nullptr, false);
  if (!request.is_object() || !result.is_object())
    return Internal("run " + row.id + " has a damaged record");
  Run run;
  run.id = row.id;
  run.seq = row.seq;
  run.status = *status;
  run.request = RequestFromJson(request);
  run.request.cause = row.cause;
  run.create_time_ms = row.create_time_ms;
  run.start_time_ms = row.start_time_ms;
  run.finish_time_ms = row.finish_time_ms;
  ResultFromJson(result, run);
  run.error = row.error;
  run.agent = row.agent;
  run.attempt = row.attempt;
  return run;
}

Run Unreadable(const storage::RunRow& row, const Status& why) {
  Run run;
  run.id = row.id;
  run.seq = row.seq;
  run.request.type = row.type;
  run.request.task = row.task;
  run.create_time_ms = row.create_time_ms;
  run.start_time_ms = row.start_time_ms;
  run.status = RunStatus::kError;
  run.error = why.message();
  return run;
}

RunRequest Scrubbed(RunRequest request) {
  request.git_token.clear();
  for (auto& a : request.build_args) {
    if (a.secret) a.value.clear();
  }
  for (auto& a : request.sets) {
    if (a.secret) a.value.clear();
  }
  for (auto& c : request.credentials) c.password.clear();
  return request;
}

std::string FinalLogLine(const Run& run) {
  int64_t from = run.start_time_ms > 0 ? run.start_time_ms : run.create_time_ms;
  std::string after = " after " + std::to_string((run.finish_time_ms - from + 500) / 1000) + "s";
  std::string head = "Run ID: " + run.id;
  switch (run.status) {
    case RunStatus::kSucceeded:
      return head + " was successful" + after;
    case RunStatus::kCanceled:
      return head + " was canceled";
    case RunStatus::kTimeout:
      return head + " timed out" + after;
    case RunStatus::kError:  // the service, not the build, went wrong (as ACR words it)
      return head + " errored" + after + ". Error: " + run.error;
    default:
      return head + " failed" + after + ". Error: " + run.error;
  }
}

std::vector<std::string> SecretsOf(const RunRequest& request) {
  std::vector<std::string> secrets;
  if (!request.git_token.empty()) secrets.push_back(request.git_token);
  for (const auto* list : {&request.build_args, &request.sets}) {
    for (const auto& a : *list) {
      if (a.secret && !a.value.empty()) secrets.push_back(a.value);
    }
  }
  for (const auto& c : request.credentials) {
    if (!c.password.empty()) secrets.push_back(c.password);
  }
  return secrets;
}

std::string OutputImagesText(const std::vector<oci::ImageReference>& requested,
                             const std::vector<ImageDescriptor>& pushed) {
  std::string text = "\n";
  for (const auto& r : requested) {
    AddLine(text, r.registry + "/" + r.repository + ":" + r.tag);
    AddLine(text, r.repository + ":" + r.tag);
  }
  for (const auto& p : pushed) {
    if (!p.tag.empty()) {  // a task file's push steps: not among `requested`
      AddLine(text, p.registry + "/" + p.repository + ":" + p.tag);
      AddLine(text, p.repository + ":" + p.tag);
    }
    AddLine(text, p.registry + "/" + p.repository + "@" + p.digest);
    AddLine(text, p.repository + "@" + p.digest);
  }
  return text;
}

std::string ImageFilterText(const std::string& image) {
  return image.empty() ? "" : "\n" + image + "\n";
}

std::vector<std::string> ExpandImages(const std::vector<std::string>& images,
                                      const std::string& run_id) {
  static constexpr std::string_view kRunId = "{{.Run.ID}}";
  std::vector<std::string> out;
  for (std::string image : images) {
    for (size_t at = image.find(kRunId); at != std::string::npos;
         at = image.find(kRunId, at + run_id.size())) {
      image.replace(at, kRunId.size(), run_id);
    }
    out.push_back(std::move(image));
  }
  return out;
}

}  // namespace internal
}  // namespace drydock::tasks
