// `drydock render -f task.yaml`: the task file as a run would see it, on this
// machine, without running anything (ACR's `acb render`); --dry-run prints
// the step graph instead.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client/client_config.h"
#include "cli/client/exit.h"
#include "cli/client/local_file.h"
#include "cli/commands.h"
#include "steps/steps.h"

namespace drydock::cli {
namespace {

// --registry, else the host of the last `drydock login`, as $Registry.
std::string RegistryFor(const RenderFlags& f) {
  if (!f.registry.empty()) return f.registry;
  if (const char* env = std::getenv("DRYDOCK_SERVER"); env && *env) {
    auto url = client::NormalizeServer(env);
    if (url.ok()) return client::RegistryHost(*url);
  }
  auto config = client::ClientConfig::Load(client::ClientConfig::DefaultPath());
  if (config.ok() && !config->current().empty()) return client::RegistryHost(config->current());
  return "localhost:5000";
}

Status Render(const std::string& text, const std::string& name, const RenderFlags& f) {
  std::string values_yaml;
  if (!f.values_file.empty()) {
    DD_ASSIGN_OR_RETURN(v, client::ReadLocalFile(f.values_file));
    values_yaml = v;
  }
  steps::RenderInput in;
  in.file_name = name;
  in.run.id = f.run_id;
  in.run.registry = RegistryFor(f);
  in.run.time = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  DD_ASSIGN_OR_RETURN(values, steps::MergeValues(values_yaml, f.sets));
  in.values = values;
  for (const auto& s : f.secrets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      return Invalid("--set-secret " + s + ": expected NAME=VALUE");
    in.secrets[s.substr(0, eq)] = s.substr(eq + 1);
  }
  DD_ASSIGN_OR_RETURN(rendered, steps::RenderTaskFile(text, in));
  DD_ASSIGN_OR_RETURN(task, steps::ParseTaskFile(rendered, in.file_name));
  // Secrets are for the run, never for the terminal.
  std::cout << steps::MaskSecrets(f.dry_run ? steps::DescribeSteps(task) : rendered, in.secrets);
  return Status::Ok();
}

}  // namespace

int RenderTask(const RenderFlags& flags) {
  auto text = client::ReadLocalFile(flags.file);
  Status s =
      text.ok() ? Render(*text, flags.file == "-" ? "stdin" : flags.file, flags) : text.status();
  return s.ok() ? 0 : client::Fail("render", s);
}

int RenderTaskText(const std::string& text, const std::string& name, const RenderFlags& flags) {
  Status s = Render(text, name, flags);
  return s.ok() ? 0 : client::Fail("run", s);
}

}  // namespace drydock::cli
