// `drydock task …` and `drydock image dependents` over the REST API
// (docs/api.md): flags become a task JSON (only the given ones for update).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <yaml-cpp/yaml.h>

#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/local_file.h"
#include "cli/client/run_format.h"
#include "cli/client/run_watch.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

using nlohmann::json;

std::string TaskPath(const std::string& name) { return "/api/v1/tasks/" + client::UrlEscape(name); }

bool Given(const TaskFlags& f, const std::string& option) {
  return std::find(f.given.begin(), f.given.end(), option) != f.given.end();
}

Result<bool> ParseBool(const std::string& flag, const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return Invalid("--" + flag + " takes true or false, not '" + text + "'");
}

Result<std::pair<std::string, std::string>> KeyValue(const std::string& flag,
                                                     const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    return Invalid("--" + flag + " " + text + ": expected NAME=VALUE");
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

Result<json> Arguments(const TaskFlags& f) {
  json out = json::array();
  for (const auto& [list, secret] : {std::pair{&f.args, false}, std::pair{&f.secret_args, true}}) {
    for (const auto& a : *list) {
      DD_ASSIGN_OR_RETURN(kv, KeyValue(secret ? "secret-arg" : "arg", a));
      out.push_back({{"name", kv.first}, {"value", kv.second}, {"isSecret", secret}});
    }
  }
  return out;
}

// --values FILE (a flat YAML map), then --set K=V over it.
Result<json> Values(const TaskFlags& f) {
  json out = json::object();
  if (!f.values_file.empty()) {
    try {
      YAML::Node doc = YAML::LoadFile(f.values_file);
      if (!doc.IsMap()) return Invalid("--values " + f.values_file + ": expected a YAML map");
      for (const auto& kv : doc) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    } catch (const YAML::Exception& e) {
      return Invalid("--values " + f.values_file + ": " + e.what());
    }
  }
  for (const auto& s : f.sets) {
    DD_ASSIGN_OR_RETURN(kv, KeyValue("set", s));
    out[kv.first] = kv.second;
  }
  return out;
}

// "[NAME:]CRON": cron fields never contain ':'.
json Timer(const std::string& schedule) {
  auto colon = schedule.find(':');
  if (colon == std::string::npos) return {{"schedule", schedule}, {"enabled", true}};
  return {{"name", schedule.substr(0, colon)},
          {"schedule", schedule.substr(colon + 1)},
          {"enabled", true}};
}

// The task JSON for the flags: all of them for create, the given ones for update.
Result<json> Body(const TaskFlags& f, bool all) {
  json j = json::object();
  auto want = [&](const char* option) { return all || Given(f, option); };
  if (all) j["name"] = f.name;
  if (want("context")) j["source"] = f.source;
  if (want("file") && !f.file.empty()) j["file"] = f.file;
  if (want("file") && f.source == "/dev/null" && !f.file.empty()) {
    // No source to read it from: the task file goes with the task, as
    // `az acr task create -f acb.yaml -c /dev/null` sends it.
    DD_ASSIGN_OR_RETURN(text, client::ReadLocalFile(f.file));
    j["taskFile"] = text;
    j["file"] = std::filesystem::path(f.file).filename().string();  // a name, not a path here
  }
  if (want("image")) j["images"] = f.images;
  if (want("arg") || want("secret-arg")) {
    DD_ASSIGN_OR_RETURN(args, Arguments(f));
    j["arguments"] = args;
  }
  if (want("set") || want("values")) {
    DD_ASSIGN_OR_RETURN(values, Values(f));
    j["values"] = values;
  }
  if (want("target")) j["target"] = f.target;
  if (want("platform") && !f.platform.empty()) j["platform"] = f.platform;
  if (want("agent-pool")) j["agentPoolName"] = f.agent_pool;
  if (want("timeout")) j["timeout"] = f.timeout;
  if (want("no-push")) j["push"] = !f.no_push;
  if (want("no-cache")) j["noCache"] = f.no_cache;
  if (Given(f, "status")) j["status"] = f.status;
  for (const auto& [option, field, text] :
       {std::tuple{"commit-trigger-enabled", "commitTriggerEnabled", &f.commit_trigger},
        std::tuple{"pull-request-trigger-enabled", "pullRequestTriggerEnabled", &f.pr_trigger},
        std::tuple{"base-image-trigger-enabled", "baseImageTriggerEnabled", &f.base_trigger}}) {
    if (!Given(f, option)) continue;
    DD_ASSIGN_OR_RETURN(b, ParseBool(option, *text));
    j[field] = b;
  }
  if (Given(f, "base-image-trigger-type")) j["baseImageTriggerType"] = f.trigger_type;
  if (Given(f, "patch-mode")) j["patchMode"] = f.patch_mode;
  if (Given(f, "patch-verify")) j["patchVerify"] = f.patch_verify;
  if (Given(f, "patch-verify-failure")) j["patchVerifyFailure"] = f.patch_verify_failure;
  if (Given(f, "trusted-base-key")) {
    json keys = json::array();
    for (const auto& file : f.trusted_base_keys) {
      DD_ASSIGN_OR_RETURN(pem, client::ReadLocalFile(file));
      keys.push_back(pem);
    }
    j["trustedBaseKeys"] = keys;
  }
  if (Given(f, "git-access-token")) j["gitAccessToken"] = f.git_token;
  if (Given(f, "branch")) j["branch"] = f.branch;
  if (Given(f, "source-poll-interval")) j["sourcePollSeconds"] = f.source_poll;
  if (Given(f, "update-trigger-endpoint")) j["updateTriggerEndpoint"] = f.update_endpoint;
  if (Given(f, "notify-url")) j["notifyUrl"] = f.notify_url;
  if (Given(f, "notify-on")) j["notifyOn"] = f.notify_on;
  if (Given(f, "notify-secret")) j["notifySecret"] = f.notify_secret;
  if (want("schedule")) {
    json timers = json::array();
    for (const auto& s : f.schedules) timers.push_back(Timer(s));
    j["timers"] = timers;
  }
  return j;
}

// As `az acr task show` does: the task as JSON (secrets left out by the server).
void PrintTask(const json& task) { std::cout << task.dump(2) << "\n"; }

std::string Triggers(const json& t) {
  std::vector<std::string> on;
  if (t.value("commitTriggerEnabled", false)) on.push_back("commit");
  if (t.value("pullRequestTriggerEnabled", false)) on.push_back("pr");
  if (t.value("baseImageTriggerEnabled", false))
    on.push_back("base(" + t.value("baseImageTriggerType", "") + ")");
  if (!t.value("timers", json::array()).empty()) on.push_back("timer");
  std::string out;
  for (const auto& s : on) out += (out.empty() ? "" : ",") + s;
  return out;
}

Status Create(const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(body, Body(f, true));
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(task, api.Post("/api/v1/tasks", body));
  PrintTask(task);
  if (std::string why = task.value("baseImageDependenciesError", ""); !why.empty())
    std::cerr << "warning: base images are not tracked until a run records them: " << why << "\n";
  return Status::Ok();
}

Status Update(const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(body, Body(f, false));
  if (body.empty()) return Invalid("nothing to update: give the options to change");
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(task, api.Patch(TaskPath(f.name), body));
  PrintTask(task);
  return Status::Ok();
}

Status Show(const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(task, api.Get(TaskPath(f.name)));
  PrintTask(task);
  return Status::Ok();
}

Status List(const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get("/api/v1/tasks"));
  json all = reply.value("tasks", json::array());
  if (f.output == "json") {
    std::cout << all.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : all) {
    std::string images;
    for (const auto& i : t.value("images", json::array()))
      images += (images.empty() ? "" : ",") + i.get<std::string>();
    rows.push_back(
        {t.value("name", ""), t.value("status", ""), t.value("source", ""), Triggers(t), images});
  }
  client::PrintTable(std::cout, {"NAME", "STATUS", "SOURCE", "TRIGGERS", "IMAGES"}, rows);
  return Status::Ok();
}

Status Delete(const TaskFlags& f) {
  if (!f.yes) {
    if (!::isatty(STDIN_FILENO))
      return Invalid("not deleting task " + f.name + " without --yes (stdin is not a terminal)");
    std::cerr << "Delete task " << f.name << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") return Invalid("not deleted");
  }
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_RETURN_IF_ERROR(api.Delete(TaskPath(f.name)).status());
  std::cout << "Deleted task " << f.name << "\n";
  return Status::Ok();
}

Result<int> Run(const TaskFlags& f) {
  json body = json::object();
  DD_ASSIGN_OR_RETURN(args, Arguments(f));
  if (!args.empty()) body["arguments"] = args;
  DD_ASSIGN_OR_RETURN(values, Values(f));
  if (!values.empty()) body["values"] = values;
  if (!f.update_trigger_token.empty()) body["updateTriggerToken"] = f.update_trigger_token;
  for (const auto& s : f.secret_sets) {
    DD_ASSIGN_OR_RETURN(kv, KeyValue("set-secret", s));
    body["secretValues"][kv.first] = kv.second;
  }
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(run, api.Post(TaskPath(f.name) + "/runs", body));
  std::string id = run.value("runId", "");
  std::cerr << "Queued a run of task " << f.name << " with ID: " << id << "\n";
  return client::WatchRun(api, id, f.no_wait, f.no_logs);
}

// The given run's log, else the newest run of the task (followed while it runs).
Status Logs(const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  std::string id = f.run_id;
  if (id.empty()) {
    std::string q = "/api/v1/runs?top=1";
    if (!f.name.empty()) q += "&task=" + client::UrlEscape(f.name);
    DD_ASSIGN_OR_RETURN(reply, api.Get(q));
    json runs = reply.value("runs", json::array());
    if (runs.empty())
      return NotFound(f.name.empty() ? "there are no runs" : "task " + f.name + " has no runs");
    id = runs[0].value("runId", "");
    std::cerr << "Showing the log of run " << id << "\n";
  }
  return client::FollowLog(api, id).status();
}

Status Timers(const std::string& action, const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(task, api.Get(TaskPath(f.name)));
  json timers = task.value("timers", json::array());
  if (action == "list") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : timers)
      rows.push_back({t.value("name", ""), t.value("schedule", ""),
                      t.value("enabled", true) ? "Enabled" : "Disabled"});
    client::PrintTable(std::cout, {"NAME", "SCHEDULE", "STATUS"}, rows);
    return Status::Ok();
  }
  if (f.timer_name.empty()) return Invalid("--timer-name is required");
  auto it = std::find_if(timers.begin(), timers.end(),
                         [&](const json& t) { return t.value("name", "") == f.timer_name; });
  if (action == "add") {
    if (it != timers.end()) return Invalid("task " + f.name + " already has timer " + f.timer_name);
    if (f.schedule.empty()) return Invalid("--schedule is required");
    json t = {{"name", f.timer_name}, {"schedule", f.schedule}, {"enabled", true}};
    if (!f.enabled.empty()) {
      DD_ASSIGN_OR_RETURN(on, ParseBool("enabled", f.enabled));
      t["enabled"] = on;
    }
    timers.push_back(t);
  } else {
    if (it == timers.end()) return NotFound("task " + f.name + " has no timer " + f.timer_name);
    if (action == "remove") {
      timers.erase(it);
    } else {
      if (!f.schedule.empty()) (*it)["schedule"] = f.schedule;
      if (!f.enabled.empty()) {
        DD_ASSIGN_OR_RETURN(on, ParseBool("enabled", f.enabled));
        (*it)["enabled"] = on;
      }
    }
  }
  DD_RETURN_IF_ERROR(api.Patch(TaskPath(f.name), {{"timers", timers}}).status());
  std::cout << "Timer " << f.timer_name << " of task " << f.name << ": " << action << " done\n";
  return Status::Ok();
}

Status Credentials(const std::string& action, const TaskFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(task, api.Get(TaskPath(f.name)));
  json creds = task.value("credentials", json::array());
  if (action == "list") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : creds)
      rows.push_back({c.value("loginServer", ""), c.value("username", "")});
    client::PrintTable(std::cout, {"LOGIN SERVER", "USERNAME"}, rows);
    return Status::Ok();
  }
  if (f.login_server.empty()) return Invalid("--login-server is required");
  auto it = std::find_if(creds.begin(), creds.end(), [&](const json& c) {
    return c.value("loginServer", "") == f.login_server;
  });
  if (action == "add" && it != creds.end())
    return Invalid("task " + f.name + " already has credentials for " + f.login_server);
  if (action != "add" && it == creds.end())
    return NotFound("task " + f.name + " has no credentials for " + f.login_server);
  if (action == "remove") {
    creds.erase(it);
  } else {
    if (action == "add" && (f.username.empty() || f.password.empty()))
      return Invalid("-u/--username and -p/--password are required");
    json c = action == "add" ? json{{"loginServer", f.login_server}} : *it;
    if (!f.username.empty()) c["username"] = f.username;
    if (!f.password.empty()) c["password"] = f.password;
    if (action == "add") {
      creds.push_back(c);
    } else {
      *it = c;
    }
  }
  DD_RETURN_IF_ERROR(api.Patch(TaskPath(f.name), {{"credentials", creds}}).status());
  std::cout << "Credentials for " << f.login_server << " of task " << f.name << ": " << action
            << " done\n";
  return Status::Ok();
}

std::string Short(const std::string& digest) {
  return digest.size() > 19 ? digest.substr(0, 19) : digest;
}

Status Dependents(const DependentsFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get("/api/v1/images/dependents?ref=" + client::UrlEscape(f.ref)));
  json all = reply.value("dependents", json::array());
  if (f.output == "json") {
    std::cout << all.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : all) {
    std::string images;
    for (const auto& i : d.value("images", json::array()))
      images += (images.empty() ? "" : ",") + i.get<std::string>();
    std::string built = d.value("builtFrom", "");
    rows.push_back({std::string(2 * (d.value("depth", 1) - 1), ' ') + d.value("task", ""),
                    d.value("type", ""), d.value("baseImage", ""),
                    d.value("platform", "").empty() ? "-" : d.value("platform", ""),
                    built.empty() ? "(never built)" : Short(built),
                    d.value("upToDate", false) ? "yes" : "NO", images});
  }
  client::PrintTable(
      std::cout, {"TASK", "TYPE", "BASE IMAGE", "PLATFORM", "BUILT FROM", "UP TO DATE", "IMAGES"},
      rows);
  return Status::Ok();
}

int Done(const char* command, const Status& s) { return s.ok() ? 0 : client::Fail(command, s); }

}  // namespace

int TaskCreate(const TaskFlags& f) { return Done("task create", Create(f)); }
int TaskUpdate(const TaskFlags& f) { return Done("task update", Update(f)); }
int TaskShow(const TaskFlags& f) { return Done("task show", Show(f)); }
int TaskList(const TaskFlags& f) { return Done("task list", List(f)); }
int TaskDelete(const TaskFlags& f) { return Done("task delete", Delete(f)); }
int TaskLogs(const TaskFlags& f) { return Done("task logs", Logs(f)); }
int TaskTimer(const std::string& action, const TaskFlags& f) {
  return Done("task timer", Timers(action, f));
}
int TaskCredential(const std::string& action, const TaskFlags& f) {
  return Done("task credential", Credentials(action, f));
}
int ImageDependents(const DependentsFlags& f) { return Done("image dependents", Dependents(f)); }

int TaskRun(const TaskFlags& f) {
  auto code = Run(f);
  return code.ok() ? *code : client::Fail("task run", code.status());
}

}  // namespace drydock::cli
