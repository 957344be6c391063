#include "api/run_json.h"

#include <ctime>

#include "base/time.h"
#include "oci/platform.h"
#include "oci/reference.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr std::string_view kRunIdPlaceholder = "{{.Run.ID}}";

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// Reads an optional field of the expected JSON type into `out`.
template <typename T>
Status Field(const json& body, const char* key, T& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return Status::Ok();
  bool type_ok;
  if constexpr (std::is_same_v<T, bool>) {
    type_ok = it->is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    type_ok = it->is_number_integer();
  } else {
    type_ok = it->is_string();
  }
  if (!type_ok) return Invalid(std::string("field '") + key + "' has the wrong type");
  out = it->get<T>();
  return Status::Ok();
}

Status ParseImages(const json& body, std::string_view registry_host, tasks::RunRequest& r) {
  auto it = body.find("images");
  if (it == body.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return Invalid("field 'images' must be an array of image names");
  for (const auto& image : *it) {
    if (!image.is_string() || image.get<std::string>().empty())
      return Invalid("field 'images' must be an array of image names");
    std::string name = QualifyImage(image.get<std::string>(), registry_host);
    // Checked as it will be once the run id is known ("ca1" is one).
    auto ref = oci::ParseImageReference(ReplaceAll(name, kRunIdPlaceholder, "ca1"));
    if (!ref.ok()) return ref.status();
    if (ref->digest) return Invalid("image '" + name + "' must be a tag, not a digest");
    r.images.push_back(std::move(name));
  }
  return Status::Ok();
}

// A list of {name, value, isSecret} (buildArgs, values).
Status ParseNamedValues(const json& body, const char* field, std::vector<tasks::BuildArg>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return Status::Ok();
  std::string what = std::string("field '") + field + "'";
  if (!it->is_array()) return Invalid(what + " must be an array");
  for (const auto& a : *it) {
    if (!a.is_object()) return Invalid(what + ": each entry must be {name, value, isSecret}");
    tasks::BuildArg arg;
    DD_RETURN_IF_ERROR(Field(a, "name", arg.name));
    DD_RETURN_IF_ERROR(Field(a, "value", arg.value));
    DD_RETURN_IF_ERROR(Field(a, "isSecret", arg.secret));  // names: tasks::CheckNames
    out.push_back(std::move(arg));
  }
  return Status::Ok();
}

// One platform, or several separated by commas.
Status CheckPlatform(const std::string& platform) {
  auto parsed = oci::ParsePlatforms(platform);
  return parsed.ok() ? Status::Ok() : parsed.status();
}

// ACR's one platform object: a multi-platform run's first platform (all of
// them are in "platforms").
json PlatformJson(const std::string& platform) {
  std::string parts[3];
  size_t i = 0;
  for (char ch : platform.substr(0, platform.find(','))) {
    if (ch == '/') {
      if (++i == 3) break;
    } else {
      parts[i] += ch;
    }
  }
  return {{"os", parts[0]}, {"architecture", parts[1]}, {"variant", parts[2]}};
}

json PlatformsJson(const std::string& platforms) {
  json out = json::array();
  if (auto parsed = oci::ParsePlatforms(platforms); parsed.ok())
    for (const auto& p : *parsed) out.push_back(p.String());
  return out;
}

json ImagesJson(const std::vector<tasks::ImageDescriptor>& images) {
  json out = json::array();
  for (const auto& i : images) {
    out.push_back({{"registry", i.registry},
                   {"repository", i.repository},
                   {"tag", i.tag},
                   {"digest", i.digest}});
  }
  return out;
}

json DependenciesJson(const std::string& text) {
  if (text.empty()) return json::array();
  json parsed = json::parse(text, nullptr, false);
  return parsed.is_discarded() ? json::array() : parsed;
}

}  // namespace

std::string IsoTime(int64_t ms) { return Rfc3339(ms); }

Result<int64_t> ParseIsoTime(const std::string& text) {
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest && *rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  if (!rest || std::string_view(rest) != "Z")
    return Invalid("\"" + text + "\" is not a UTC time like 2026-11-29T12:00:01Z");
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

std::string QualifyImage(std::string_view name, std::string_view registry_host) {
  auto slash = name.find('/');
  if (slash != std::string_view::npos) {
    auto first = name.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost") {
      return std::string(name);
    }
  }
  return std::string(registry_host) + "/" + std::string(name);
}

Result<tasks::RunRequest> ParseRunRequest(const json& body, std::string_view registry_host) {
  if (!body.is_object()) return Invalid("the request body must be a JSON object");
  tasks::RunRequest r;
  DD_RETURN_IF_ERROR(Field(body, "type", r.type));
  if (r.type != "QuickBuild" && r.type != "QuickRun")
    return Invalid("type '" + r.type + "' cannot be queued: use QuickBuild or QuickRun");
  DD_RETURN_IF_ERROR(Field(body, "source", r.source));
  if (r.source.empty()) return Invalid("field 'source' is required");
  r.dockerfile.clear();
  DD_RETURN_IF_ERROR(Field(body, "dockerfile", r.dockerfile));
  DD_RETURN_IF_ERROR(Field(body, "taskFile", r.task_file));
  DD_RETURN_IF_ERROR(Field(body, "valuesContent", r.values));
  DD_RETURN_IF_ERROR(ParseNamedValues(body, "values", r.sets));
  bool quick_run = r.type == "QuickRun";
  if (!quick_run && (!r.task_file.empty() || !r.values.empty() || !r.sets.empty()))
    return Invalid("taskFile, valuesContent and values are for QuickRun");
  if (r.dockerfile.empty() && r.task_file.empty())
    r.dockerfile = quick_run ? "acb.yaml" : "Dockerfile";
  DD_RETURN_IF_ERROR(ParseImages(body, registry_host, r));
  DD_RETURN_IF_ERROR(ParseNamedValues(body, "buildArgs", r.build_args));
  DD_RETURN_IF_ERROR(Field(body, "target", r.target));
  DD_RETURN_IF_ERROR(Field(body, "platform", r.platform));
  if (r.platform.empty()) r.platform = "linux/amd64";
  DD_RETURN_IF_ERROR(CheckPlatform(r.platform));
  bool no_push = false;
  DD_RETURN_IF_ERROR(Field(body, "noPush", no_push));
  r.push = !no_push;
  DD_RETURN_IF_ERROR(Field(body, "noCache", r.no_cache));
  // Its range is the run service's to check (tests may lower the minimum).
  DD_RETURN_IF_ERROR(Field(body, "timeout", r.timeout_seconds));
  DD_RETURN_IF_ERROR(Field(body, "gitToken", r.git_token));
  DD_RETURN_IF_ERROR(Field(body, "agentPoolName", r.agent_pool));
  return r;
}

json RunToJson(const tasks::Run& run) {
  json j = {
      {"runId", run.id},
      {"status", tasks::StatusName(run.status)},
      {"runType", run.request.type},
      {"task", run.request.task},
      {"platform", PlatformJson(run.request.platform)},
      {"platforms", PlatformsJson(run.request.platform)},
      {"outputImages", ImagesJson(run.output_images)},
      {"dependencies", DependenciesJson(run.dependencies_json)},
      {"source",
       {{"url", run.source.url}, {"commit", run.source.commit}, {"branch", run.source.branch}}},
      {"runErrorMessage", run.error},
      {"agentPoolName", run.request.agent_pool},
      {"attempt", run.attempt},
      {"trigger", tasks::TriggerName(run.request.trigger)}};
  const tasks::RunTrigger& t = run.request.trigger;
  if (t.source) {
    j["sourceTrigger"] = {{"eventType", t.source->event_type},
                          {"commitId", t.source->commit_id},
                          {"branchName", t.source->branch},
                          {"pullRequestId", t.source->pull_request_id},
                          {"repositoryUrl", t.source->repository_url},
                          {"providerType", t.source->provider}};
  }
  if (!t.image_update.empty())
    j["imageUpdateTrigger"] = {{"images", ImagesJson(t.image_update)}, {"cascade", t.cascade}};
  if (t.timer) {
    j["timerTrigger"] = {{"timerTriggerName", t.timer->name},
                         {"scheduleOccurrence", IsoTime(t.timer->schedule_occurrence_ms)}};
  }
  if (run.patch) {
    j["patch"] = {{"kind", run.patch->kind},
                  {"baseImage", run.patch->base},
                  {"oldBaseDigest", run.patch->old_base_digest},
                  {"newBaseDigest", run.patch->new_base_digest},
                  {"reasons", run.patch->reasons},
                  {"milliseconds", run.patch->milliseconds}};
  }
  if (!run.parts.empty()) {
    j["parts"] = json::array();
    for (const auto& p : run.parts)
      j["parts"].push_back({{"platform", p.platform}, {"runId", p.run_id}});
  }
  if (!run.request.parent.empty()) j["partOf"] = run.request.parent;
  // Times not reached yet are left out (null to jq, absent to nlohmann's value()).
  if (!run.agent.empty()) j["agent"] = run.agent;
  if (!run.request.user.empty()) j["queuedBy"] = run.request.user;
  if (run.status == tasks::RunStatus::kQueued) {
    j["waitingFor"] = run.request.agent_pool.empty()
                          ? "an agent of the default pool"
                          : "an agent of pool '" + run.request.agent_pool + "'";
  }
  if (run.create_time_ms > 0) j["createTime"] = IsoTime(run.create_time_ms);
  if (run.start_time_ms > 0) j["startTime"] = IsoTime(run.start_time_ms);
  if (run.finish_time_ms > 0) j["finishTime"] = IsoTime(run.finish_time_ms);
  return j;
}

}  // namespace drydock::api
