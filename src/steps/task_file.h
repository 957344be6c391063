// The model of an ACR multi-step task file (acb.yaml / acr-task.yaml) after template rendering:
// strict parsing and validation into structs, with acb's defaults applied. Errors name the line
// and column of the offending key or value.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::steps {

struct VolumeMount {
  std::string name, mount_path;
};

struct Step {
  enum class Kind { kBuild, kCmd, kPush };
  std::string id;  // "acb_step_N" (0-based index N, as acb) when not given
  Kind kind = Kind::kCmd;
  std::string build;                    // build: the docker-build arguments, as written
  std::vector<std::string> build_args;  // `build` split with real shell quoting (no expansion)
  std::string cmd;                      // cmd: "IMAGE [ARGS]" as written
  std::vector<std::string> cmd_args;    // split the same way: [0] is the image
  std::vector<std::string> push;        // push: images, as written
  std::vector<std::string> when;  // resolved: ids of the steps it waits for; empty = starts at once
  int timeout = 0;  // seconds; a value <= 0 in the file becomes the task's stepTimeout
  int start_delay = 0, retries = 0, retry_delay = 5, repeat = 0;
  std::vector<std::string> retry_on_errors;
  bool ignore_errors = false, detach = false, keep = false, privileged = false, pull = false;
  bool disable_working_directory_override = false;
  // working_directory is always absolute: the task's when not given, relative ones joined to it.
  std::string user, entry_point, network, working_directory,
      cache;  // cache: "enabled" | "disabled" | ""
  // The effective environment: the step's own entries, then the task's entries for keys the step
  // does not set (acb's merge, without its comma splitting). Each entry is one whole KEY=VALUE.
  std::vector<std::string> env;
  std::vector<std::string> expose, ports;
  std::vector<VolumeMount> volume_mounts;
  // Accepted because acb accepts them (Windows and pre-pull knobs); passed through as written.
  std::string isolation, cpus;
  int cmd_download_retries = 0, cmd_download_retry_delay = 0;
  int line = 0;  // where the step starts in the file (for errors)
};

struct Secret {
  std::string id, keyvault, client_id;
};

struct Network {
  std::string name, driver = "bridge";
  bool ipv6 = false, skip_creation = false, is_default = false;
};

struct Volume {
  std::string name;
  std::map<std::string, std::string> secret;  // fileName -> base64 content
};

struct TaskFile {
  std::string version = "v1.0.0";
  int step_timeout = 600;
  std::string working_directory = "/workspace";
  std::vector<std::string> env;  // the task-level entries as written (already merged into steps)
  std::vector<Secret> secrets;
  std::vector<Network> networks;  // as declared; none declared means "use a per-run default"
  std::vector<Volume> volumes;
  std::vector<Step> steps;
};

// Parses rendered YAML. Errors (kInvalid) read "<name>:LINE:COL: message" (1-based) and cover
// YAML syntax, unknown properties (with a "did you mean" for near misses), wrong types, step
// kinds, push-step properties, ids and `when` references (only earlier steps), versions,
// secrets, volumes and volume mounts. Defaults are acb's: no `when` waits for the previous step,
// `when: ["-"]` starts at once, stepTimeout <= 0 is 600, retryDelay <= 0 is 5.
Result<TaskFile> ParseTaskFile(std::string_view yaml, std::string_view name = "task.yaml");

// Shell-style word splitting (single/double quotes, backslash escapes; no variable expansion, no
// operators or comments); kInvalid on an unterminated quote. Used for build and cmd strings.
Result<std::vector<std::string>> SplitShellWords(std::string_view text);

}  // namespace drydock::steps
