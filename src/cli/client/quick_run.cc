// `drydock run -f task.yaml SOURCE`: a QuickRun of a multi-step task file on
// the server, like `az acr run`. A local directory is uploaded (the task
// file goes with it); for any other source the file is sent with the
// request when it is on this machine, else the server reads it from the
// source. `--cmd "IMAGE ARGS"` runs one image.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client/api_client.h"
#include "cli/client/client_config.h"
#include "cli/client/exit.h"
#include "cli/client/local_file.h"
#include "cli/client/run_watch.h"
#include "cli/client/upload.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// As `az acr run --cmd` wraps it: the command is a value, so braces in it
// are never read as a template.
constexpr char kCmdTask[] = "version: v1.1.0\nsteps:\n  - cmd: {{ .Values.command | quote }}\n";

// `name` as a file on this machine: relative to the working directory, or
// (as ACR reads -f and --values) to a local context directory.
std::optional<fs::path> LocalFile(const std::string& name, const std::string& source) {
  std::error_code ec;
  if (fs::is_regular_file(name, ec)) return fs::path(name);
  if (!client::IsRemoteSource(source) && fs::is_regular_file(fs::path(source) / name, ec))
    return fs::path(source) / name;
  return std::nullopt;
}

struct TaskText {
  std::string text;  // "" when the server reads `path` from the source
  std::string path, name;
};

Result<TaskText> LoadTask(const QuickRunFlags& f) {
  if (!f.cmd.empty()) return TaskText{kCmdTask, "", "--cmd"};
  std::string file = f.file.empty() ? "acb.yaml" : f.file;
  if (file == "-") {
    DD_ASSIGN_OR_RETURN(text, client::ReadLocalFile("-"));
    return TaskText{text, "", "stdin"};
  }
  if (auto local = LocalFile(file, f.source)) {
    DD_ASSIGN_OR_RETURN(text, client::ReadLocalFile(local->string()));
    return TaskText{text, "", file};
  }
  if (f.source == "/dev/null" || !client::IsRemoteSource(f.source))
    return NotFound("task file " + file + " does not exist");
  return TaskText{"", file, file};
}

Result<std::vector<std::string>> Sets(const QuickRunFlags& f) {
  std::vector<std::string> sets = f.sets;
  if (!f.cmd.empty()) sets.push_back("command=" + f.cmd);
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) return Invalid("--set " + s + ": expected NAME=VALUE");
  }
  return sets;
}

json Values(const std::vector<std::string>& sets, const std::vector<std::string>& secrets) {
  json out = json::array();
  for (const auto* list : {&sets, &secrets}) {
    for (const auto& s : *list) {
      auto eq = s.find('=');
      out.push_back(
          {{"name", s.substr(0, eq)}, {"value", s.substr(eq + 1)}, {"isSecret", list == &secrets}});
    }
  }
  return out;
}

Status CheckFlags(const QuickRunFlags& f) {
  if (!f.cmd.empty() && !f.file.empty()) return Invalid("--cmd and -f cannot be combined");
  for (const auto& s : f.secrets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      return Invalid("--set-secret " + s + ": expected NAME=VALUE");
  }
  return Status::Ok();
}

// --dry-run: validated and shown here, as the server would render it.
int DryRun(const QuickRunFlags& f, const TaskText& task, const std::vector<std::string>& sets) {
  if (task.text.empty())
    return client::Fail("run", Invalid("--dry-run needs the task file on this machine"));
  RenderFlags r;
  r.sets = sets;
  r.secrets = f.secrets;
  r.values_file = f.values_file;
  r.dry_run = true;
  // Not a real run's id ("ca0" would look like one), but still valid in a tag.
  r.run_id = "dryrun";
  std::cerr << "dry run: $ID / {{.Run.ID}} is shown as '" << r.run_id << "'\n";
  if (!f.server.empty()) {  // else the last login's, as `render` picks it
    if (auto url = client::NormalizeServer(f.server); url.ok())
      r.registry = client::RegistryHost(*url);
  }
  return RenderTaskText(task.text, task.name, r);
}

Result<json> Queue(client::ApiClient& api, const QuickRunFlags& f, const TaskText& task,
                   const std::vector<std::string>& sets) {
  json body = {{"type", "QuickRun"},
               {"source", f.source},
               {"values", Values(sets, f.secrets)},
               {"platform", f.platform},
               {"timeout", f.timeout}};
  if (!f.agent_pool.empty()) body["agentPoolName"] = f.agent_pool;
  if (!f.values_file.empty()) {
    auto local = LocalFile(f.values_file, f.source);
    if (!local) return NotFound("values file " + f.values_file + " does not exist");
    DD_ASSIGN_OR_RETURN(values, client::ReadLocalFile(local->string()));
    body["valuesContent"] = values;
  }
  if (!client::IsRemoteSource(f.source)) {
    std::error_code ec;
    if (!fs::is_directory(f.source, ec))
      return Invalid("SOURCE " + f.source +
                     " is not a directory; remote sources are git URLs (https://host/repo.git"
                     "#ref:subdir), tarball URLs, oci://REGISTRY/REPO:TAG or /dev/null");
    // The task file goes with the request, not in the workspace.
    DD_ASSIGN_OR_RETURN(uploaded, client::UploadContext(api, f.source, "", nullptr));
    body["source"] = uploaded;
  }
  if (task.text.empty()) {
    body["dockerfile"] = task.path;
  } else {
    body["taskFile"] = task.text;
    body["dockerfile"] = fs::path(task.name).filename().string();  // names it in errors
  }
  // Never a flag: argv is visible to every user of the machine.
  if (const char* token = std::getenv("DRYDOCK_GIT_TOKEN"); token && *token)
    body["gitToken"] = token;
  return api.Post("/api/v1/runs", body);
}

Result<int> Run(QuickRunFlags f) {
  if (f.source.empty() && !f.cmd.empty()) f.source = "/dev/null";
  if (f.source.empty())
    return Invalid("SOURCE is missing: a directory, a git or tarball URL, oci://… or /dev/null");
  DD_RETURN_IF_ERROR(CheckFlags(f));
  DD_ASSIGN_OR_RETURN(task, LoadTask(f));
  DD_ASSIGN_OR_RETURN(sets, Sets(f));
  if (f.dry_run) return DryRun(f, task, sets);
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(run, Queue(api, f, task, sets));
  std::string id = run.value("runId", "");
  std::cerr << "Queued a run with ID: " << id << "\n";
  return client::WatchRun(api, id, f.no_wait, f.no_logs);
}

}  // namespace

int QuickRun(const QuickRunFlags& flags) {
  auto code = Run(flags);
  return code.ok() ? *code : client::Fail("run", code.status());
}

}  // namespace drydock::cli
