// /api/v1/tasks: saved tasks and their manual runs; /api/v1/webhooks/{task}
// for git hosts (signed, not authenticated); /api/v1/images/dependents.
#include <algorithm>
#include <cctype>

#include "api/impl.h"
#include "api/run_json.h"
#include "base/json.h"
#include "base/strings.h"
#include "oci/reference.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxTaskBytes = 1 << 20;

std::vector<std::string> OutputRepositories(const tasks::Task& t, const std::string& host) {
  std::vector<std::string> out;
  for (std::string image : t.images) {
    for (auto p = image.find("{{.Run.ID}}"); p != std::string::npos; p = image.find("{{.Run.ID}}"))
      image.replace(p, 11, "x");
    auto ref = oci::ParseImageReference(image);
    if (ref.ok() && ref->registry == host) out.push_back(ref->repository);
  }
  return out;
}

// Names qualified as for runs; the task service checks everything else.
Status Prepare(tasks::Task& t, const std::string& registry_host) {
  for (auto& image : t.images) {
    if (image.empty()) return Invalid("field 'images' must hold image names");
    image = QualifyImage(image, registry_host);
  }
  return Status::Ok();
}

}  // namespace

bool Api::Impl::CanReadTask(const auth::Identity& who, const tasks::Task& t) {
  if (who.admin || t.owner == who.user) return true;
  for (const auto& repo : OutputRepositories(t, options.registry_host)) {
    if (auth.Allowed(who, repo) & auth::kPull) return true;
  }
  return false;
}

bool Api::Impl::CanPushTask(Ctx& c, const tasks::Task& t) {
  if (!t.push) return true;
  for (const auto& repo : OutputRepositories(t, options.registry_host)) {
    if ((auth.Allowed(c.who, repo) & auth::kPush) == 0) {
      SendError(c.resp, 403, "DENIED",
                "user " + c.who.user + " may not push to " + repo + " (the task pushes there)");
      return false;
    }
  }
  return true;
}

json Api::Impl::TaskView(const auth::Identity& who, const tasks::Task& t) {
  json j = json::parse(tasks::TaskToJson(t, false));
  bool manages = who.admin || who.user == t.owner;
  if (!manages) j.erase("webhookSecret");
  j["webhookUrl"] = options.base_url + "/api/v1/webhooks/" + t.name;
  auto state = task_service.State(t.name);
  json status = json::parse(state.ok() ? *state : "{}", nullptr, false);
  if (status.is_object()) status.erase("updateTriggerToken");
  j["triggerStatus"] = status.is_object() ? status : json::object();
  return j;
}

bool Api::Impl::LoadManagedTask(Ctx& c, const std::string& name, tasks::Task& task) {
  if (!RequireAnyGrant(c)) return false;
  auto found = task_service.Get(name);
  if (!found.ok()) {
    SendStatus(c.resp, found.status());
    return false;
  }
  if (!c.who.admin && found->owner != c.who.user) {
    if (!CanReadTask(c.who, *found)) {
      SendError(c.resp, 404, "NOT_FOUND", "task " + name + " does not exist");
    } else {
      SendError(c.resp, 403, "DENIED",
                "only " + found->owner + " (who created it) or an admin may change task " + name);
    }
    return false;
  }
  task = std::move(*found);
  return true;
}

void Api::Impl::CreateTask(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto text = c.req.ReadAll(kMaxTaskBytes);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  auto task = tasks::TaskFromJson(*text);
  if (!task.ok()) return SendStatus(c.resp, task.status());
  if (auto s = Prepare(*task, options.registry_host); !s.ok()) return SendStatus(c.resp, s);
  if (!CanPushTask(c, *task)) return;
  task->owner = c.who.user;
  auto created = task_service.Create(std::move(*task));
  if (!created.ok()) return SendStatus(c.resp, created.status());
  SendJson(c.resp, 201, TaskView(c.who, *created));
}

void Api::Impl::ListTasks(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto all = task_service.List();
  if (!all.ok()) return SendStatus(c.resp, all.status());
  json out = json::array();
  for (const auto& t : *all) {
    if (CanReadTask(c.who, t)) out.push_back(TaskView(c.who, t));
  }
  SendJson(c.resp, 200, {{"tasks", std::move(out)}});
}

void Api::Impl::GetTask(Ctx& c, const std::string& name) {
  if (!RequireAnyGrant(c)) return;
  auto t = task_service.Get(name);
  if (!t.ok() || !CanReadTask(c.who, *t))
    return SendError(c.resp, 404, "NOT_FOUND", "task " + name + " does not exist");
  SendJson(c.resp, 200, TaskView(c.who, *t));
}

void Api::Impl::UpdateTask(Ctx& c, const std::string& name) {
  tasks::Task old;
  if (!LoadManagedTask(c, name, old)) return;
  auto text = c.req.ReadAll(kMaxTaskBytes);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  auto patched = tasks::PatchTask(old, *text);
  if (!patched.ok()) return SendStatus(c.resp, patched.status());
  if (patched->name != name) return SendError(c.resp, 400, "INVALID", "a task cannot be renamed");
  if (auto s = Prepare(*patched, options.registry_host); !s.ok()) return SendStatus(c.resp, s);
  if (!CanPushTask(c, *patched)) return;
  auto updated = task_service.Update(std::move(*patched));
  if (!updated.ok()) return SendStatus(c.resp, updated.status());
  SendJson(c.resp, 200, TaskView(c.who, *updated));
}

void Api::Impl::DeleteTask(Ctx& c, const std::string& name) {
  tasks::Task t;
  if (!LoadManagedTask(c, name, t)) return;
  if (auto s = task_service.Delete(name); !s.ok()) return SendStatus(c.resp, s);
  SendJson(c.resp, 200, {{"deleted", name}});
}

void Api::Impl::RunTask(Ctx& c, const std::string& name) {
  tasks::Task t;
  if (!LoadManagedTask(c, name, t)) return;
  auto text = c.req.ReadAll(kMaxTaskBytes);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  // The overrides read like a task patch: {"arguments": […], "values": {…}}.
  auto overrides = tasks::TaskFromJson(text->empty() ? "{}" : *text);
  if (!overrides.ok()) return SendStatus(c.resp, overrides.status());
  // TaskFromJson above refused a body that is not JSON or too deep.
  json body = ParseJson(text->empty() ? "{}" : *text).value_or(json());
  tasks::RunOverrides o;
  o.build_args = overrides->build_args;
  o.values = overrides->values;
  if (body.is_object() && body.contains("updateTriggerToken") &&
      body["updateTriggerToken"].is_string())
    o.update_trigger_token = body["updateTriggerToken"].get<std::string>();
  if (body.is_object() && body.contains("secretValues")) {
    const json& secrets = body["secretValues"];
    if (!secrets.is_object())
      return SendError(c.resp, 400, "INVALID", "secretValues must be an object of strings");
    for (const auto& [k, v] : secrets.items()) {
      if (!v.is_string())
        return SendError(c.resp, 400, "INVALID", "secretValues." + k + " must be a string");
      o.secret_values.emplace_back(k, v.get<std::string>());
    }
  }
  auto run = task_service.Queue(name, o, {});
  if (!run.ok()) return SendStatus(c.resp, run.status());
  SendJson(c.resp, 201, RunToJson(*run));
}

void Api::Impl::Webhook(http::Request& req, http::Response& resp, const std::string& name) {
  resp.route = "api_webhook";
  if (req.method != "POST") {
    return SendError(resp, 405, "METHOD_NOT_ALLOWED", "webhooks are POSTed");
  }
  auto body = req.ReadAll(kMaxTaskBytes * 25);
  if (!body.ok()) return SendStatus(resp, body.status());
  triggers::Headers headers;
  for (const auto& [k, v] : req.headers) {
    headers[AsciiLower(k)] = v;
  }
  auto outcome = trigger_service.OnWebhook(name, headers, *body);
  json out = {{"message", outcome.message}};
  if (outcome.run) out["runId"] = outcome.run->id;
  if (outcome.http_status >= 400) {
    const char* code = outcome.http_status == 401   ? "UNAUTHORIZED"
                       : outcome.http_status == 404 ? "NOT_FOUND"
                       : outcome.http_status == 400 ? "INVALID"
                                                    : "INTERNAL";
    return SendError(resp, outcome.http_status, code, outcome.message);
  }
  SendJson(resp, outcome.http_status, out);
}

void Api::Impl::ImageDependents(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto ref = c.req.Query("ref");
  if (!ref || ref->empty())
    return SendError(c.resp, 400, "INVALID", "give the image as ?ref=REPO:TAG or REPO@DIGEST");
  auto found = trigger_service.Dependents(*ref);
  if (!found.ok()) return SendStatus(c.resp, found.status());
  json out = json::array();
  for (const auto& d : *found) {
    auto t = task_service.Get(d.task);
    if (!t.ok() || !CanReadTask(c.who, *t)) continue;
    out.push_back({{"task", d.task},
                   {"depth", d.depth},
                   {"type", d.kind},
                   {"baseImage", d.base},
                   {"platform", d.platform},
                   {"builtFrom", d.built_from},
                   {"current", d.current},
                   {"upToDate", d.up_to_date},
                   {"images", d.images}});
  }
  SendJson(c.resp, 200, {{"ref", *ref}, {"dependents", std::move(out)}});
}

}  // namespace drydock::api
