// Tasks as JSON: the one shape the metadata store keeps and the REST API
// shows (docs/api.md), so a PATCH is a JSON merge patch on it.
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "tasks/task_service.h"

namespace drydock::tasks {
namespace {

using json = nlohmann::json;

json ArgsJson(const std::vector<BuildArg>& args, bool secrets) {
  json out = json::array();
  for (const auto& a : args) {
    json j = {{"name", a.name}, {"isSecret", a.secret}};
    if (!a.secret || secrets) j["value"] = a.value;
    out.push_back(std::move(j));
  }
  return out;
}

json CredentialsJson(const std::vector<RegistryCredential>& credentials, bool secrets) {
  json out = json::array();
  for (const auto& c : credentials) {
    json j = {{"loginServer", c.login_server}, {"username", c.username}};
    if (secrets) j["password"] = c.password;
    out.push_back(std::move(j));
  }
  return out;
}

// Reads the fields of one JSON object, remembering the first type error so
// that a parse reads as a list of fields.
class Reader {
 public:
  Reader(const json& object, std::string where) : j_(object), where_(std::move(where)) {}

  template <typename T>
  void Get(const char* key, T& out) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null() || !status_.ok()) return;
    bool ok;
    if constexpr (std::is_same_v<T, bool>) {
      ok = it->is_boolean();
    } else if constexpr (std::is_integral_v<T>) {
      ok = it->is_number_integer();
    } else {
      ok = it->is_string();
    }
    if (!ok) return Fail(key, "has the wrong type");
    out = it->get<T>();
  }

  // An array of objects, each read by `each`.
  template <typename F>
  void Array(const char* key, F each) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null() || !status_.ok()) return;
    if (!it->is_array()) return Fail(key, "must be an array");
    for (const auto& item : *it) {
      if (!status_.ok()) return;
      if (!item.is_object()) return Fail(key, "must hold objects");
      Reader r(item, where_ + key + "[].");
      each(r);
      if (!r.status_.ok()) status_ = r.status_;
    }
  }

  void Strings(const char* key, std::vector<std::string>& out) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null() || !status_.ok()) return;
    if (!it->is_array()) return Fail(key, "must be an array of strings");
    for (const auto& s : *it) {
      if (!s.is_string()) return Fail(key, "must be an array of strings");
      out.push_back(s.get<std::string>());
    }
  }

  // {"K": "V", …} kept in order of the keys.
  void Pairs(const char* key, std::vector<std::pair<std::string, std::string>>& out) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null() || !status_.ok()) return;
    if (!it->is_object()) return Fail(key, "must be an object of strings");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Fail(key, "must be an object of strings");
      out.emplace_back(k, v.get<std::string>());
    }
  }

  const Status& status() const { return status_; }

 private:
  void Fail(const char* key, const char* what) {
    status_ = Invalid("field '" + where_ + key + "' " + what);
  }
  const json& j_;
  std::string where_;
  Status status_;
};

json ToJson(const Task& t, bool secrets) {
  json timers = json::array();
  for (const auto& tm : t.timers)
    timers.push_back({{"name", tm.name}, {"schedule", tm.schedule}, {"enabled", tm.enabled}});
  json deps = json::array();
  for (const auto& d : t.dependencies) {
    deps.push_back({{"type", d.kind},
                    {"registry", d.registry},
                    {"repository", d.repository},
                    {"tag", d.tag},
                    {"digest", d.digest}});
    if (!d.platform.empty()) deps.back()["platform"] = d.platform;
    if (!d.manifest.empty()) deps.back()["manifestDigest"] = d.manifest;
  }
  json values = json::object();
  for (const auto& [k, v] : t.values) values[k] = v;
  json j = {{"name", t.name},
            {"status", t.enabled ? "Enabled" : "Disabled"},
            {"source", t.source},
            {"file", t.file},
            {"taskFile", t.task_file},
            {"images", t.images},
            {"arguments", ArgsJson(t.build_args, secrets)},
            {"values", values},
            {"target", t.target},
            {"platform", t.platform},
            {"agentPoolName", t.agent_pool},
            {"timeout", t.timeout_seconds},
            {"push", t.push},
            {"noCache", t.no_cache},
            {"commitTriggerEnabled", t.commit_trigger},
            {"pullRequestTriggerEnabled", t.pull_request_trigger},
            {"branch", t.branch},
            {"sourcePollSeconds", t.source_poll_seconds},
            {"webhookSecret", t.webhook_secret},
            {"baseImageTriggerEnabled", t.base_image_trigger},
            {"baseImageTriggerType", t.base_image_trigger_type},
            {"updateTriggerEndpoint", t.update_trigger_endpoint},
            {"notifyUrl", t.notify_url},
            {"notifyOn", t.notify_on},
            {"patchMode", t.patch_mode},
            {"patchVerify", t.patch_verify},
            {"patchVerifyFailure", t.patch_verify_failure},
            {"trustedBaseKeys", t.trusted_base_keys},
            {"timers", timers},
            {"credentials", CredentialsJson(t.credentials, secrets)},
            {"owner", t.owner},
            {"createTimeMs", t.create_time_ms},
            {"updateTimeMs", t.update_time_ms},
            {"baseImageDependencies", deps},
            {"baseImageDependenciesError", t.dependencies_error}};
  if (secrets) j["gitAccessToken"] = t.git_token;
  if (secrets) j["notifySecret"] = t.notify_secret;
  return j;
}

Result<Task> FromJson(const json& j) {
  if (!j.is_object()) return Invalid("a task must be a JSON object");
  Task t;
  Reader r(j, "");
  std::string status = "Enabled";
  r.Get("name", t.name);
  r.Get("status", status);
  r.Get("source", t.source);
  r.Get("file", t.file);
  r.Get("taskFile", t.task_file);
  r.Strings("images", t.images);
  r.Array("arguments", [&](Reader& a) {
    BuildArg arg;
    a.Get("name", arg.name);
    a.Get("value", arg.value);
    a.Get("isSecret", arg.secret);
    t.build_args.push_back(std::move(arg));
  });
  r.Pairs("values", t.values);
  r.Get("target", t.target);
  r.Get("platform", t.platform);
  r.Get("agentPoolName", t.agent_pool);
  r.Get("timeout", t.timeout_seconds);
  r.Get("push", t.push);
  r.Get("noCache", t.no_cache);
  r.Get("commitTriggerEnabled", t.commit_trigger);
  r.Get("pullRequestTriggerEnabled", t.pull_request_trigger);
  r.Get("branch", t.branch);
  r.Get("gitAccessToken", t.git_token);
  r.Get("sourcePollSeconds", t.source_poll_seconds);
  r.Get("webhookSecret", t.webhook_secret);
  r.Get("baseImageTriggerEnabled", t.base_image_trigger);
  r.Get("baseImageTriggerType", t.base_image_trigger_type);
  r.Get("updateTriggerEndpoint", t.update_trigger_endpoint);
  r.Get("notifyUrl", t.notify_url);
  r.Get("notifyOn", t.notify_on);
  r.Get("notifySecret", t.notify_secret);
  r.Get("patchMode", t.patch_mode);
  r.Get("patchVerify", t.patch_verify);
  r.Get("patchVerifyFailure", t.patch_verify_failure);
  r.Strings("trustedBaseKeys", t.trusted_base_keys);
  r.Array("timers", [&](Reader& a) {
    Timer tm;
    a.Get("name", tm.name);
    a.Get("schedule", tm.schedule);
    a.Get("enabled", tm.enabled);
    t.timers.push_back(std::move(tm));
  });
  r.Array("credentials", [&](Reader& a) {
    RegistryCredential c;
    a.Get("loginServer", c.login_server);
    a.Get("username", c.username);
    a.Get("password", c.password);
    t.credentials.push_back(std::move(c));
  });
  r.Get("owner", t.owner);
  r.Get("createTimeMs", t.create_time_ms);
  r.Get("updateTimeMs", t.update_time_ms);
  r.Array("baseImageDependencies", [&](Reader& a) {
    TaskDependency d;
    a.Get("type", d.kind);
    a.Get("registry", d.registry);
    a.Get("repository", d.repository);
    a.Get("tag", d.tag);
    a.Get("digest", d.digest);
    a.Get("platform", d.platform);
    a.Get("manifestDigest", d.manifest);
    t.dependencies.push_back(std::move(d));
  });
  r.Get("baseImageDependenciesError", t.dependencies_error);
  if (!r.status().ok()) return r.status();
  if (status != "Enabled" && status != "Disabled")
    return Invalid("field 'status' must be Enabled or Disabled, not '" + status + "'");
  t.enabled = status == "Enabled";
  return t;
}

}  // namespace

std::string TaskToJson(const Task& task, bool secrets) { return ToJson(task, secrets).dump(); }

Result<Task> TaskFromJson(std::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok()) return Invalid("the task: " + j.status().message());
  return FromJson(*j);
}

Result<Task> PatchTask(const Task& task, std::string_view patch) {
  auto parsed = ParseJson(patch);
  if (!parsed.ok()) return Invalid("the patch: " + parsed.status().message());
  json& p = *parsed;
  if (!p.is_object()) return Invalid("the patch must be a JSON object");
  json j = ToJson(task, true);
  // Arrays replace: a patch that lists arguments without their secret
  // values must not wipe the stored ones.
  if (auto it = p.find("arguments"); it != p.end() && it->is_array()) {
    for (auto& a : *it) {
      if (!a.is_object() || a.contains("value") || !a.value("isSecret", false)) continue;
      for (const auto& old : task.build_args) {
        if (old.name == a.value("name", "") && old.secret) a["value"] = old.value;
      }
    }
  }
  if (auto it = p.find("credentials"); it != p.end() && it->is_array()) {
    for (auto& c : *it) {
      if (!c.is_object() || c.contains("password")) continue;
      for (const auto& old : task.credentials) {
        if (old.login_server == c.value("loginServer", "")) c["password"] = old.password;
      }
    }
  }
  j.merge_patch(p);
  return FromJson(j);
}

}  // namespace drydock::tasks
