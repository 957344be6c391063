// Multi-step task files (ACR's acb.yaml / acr-task.yaml): from the text a
// user wrote to a validated step graph. This header is the public surface of
// steps/; alias.h, template.h and task_file.h are its parts.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "builder/builder.h"
#include "remote/client.h"
#include "runtime/runtime.h"
#include "steps/alias.h"
#include "steps/task_file.h"

namespace drydock::steps {

// The {{.Run.*}} variables (and v1.1.0's $ID, $Registry, … aliases).
struct RunVariables {
  std::string id;        // "ca1"
  std::string registry;  // this server's registry, "host:port"
  std::string commit, branch, task_name;
  std::string os = "linux", architecture = "amd64";
  int64_t time = 0;  // unix seconds; .Run.Date is its UTC "20060102-150405z"
};

struct RenderInput {
  std::string file_name = "task.yaml";  // for error messages
  RunVariables run;
  nlohmann::json values = nlohmann::json::object();  // see MergeValues
  // --set-secret: .Secrets.<id>, and .Values.<id> unless a value has that name.
  std::map<std::string, std::string> secrets;
  AliasOptions aliases;
};

// $aliases (v1.1.0), then the Go template, as the step runner will parse it.
// Errors name the file, line and column.
Result<std::string> RenderTaskFile(std::string_view text, const RenderInput& input);
// RenderTaskFile, then ParseTaskFile.
Result<TaskFile> LoadTaskFile(std::string_view text, const RenderInput& input);

// A --values YAML map deep-merged with --set NAME=VALUE pairs, which win;
// a dotted name nests ("image.tag=2" sets {"image": {"tag": "2"}}).
// kInvalid naming the bad file or pair.
Result<nlohmann::json> MergeValues(std::string_view values_yaml,
                                   const std::vector<std::string>& sets);

// `text` with every secret value replaced by "***": what may be printed.
std::string MaskSecrets(std::string text, const std::map<std::string, std::string>& secrets);

// The step graph for --dry-run: one line per step, its kind, what it waits
// for, and its timeout.
std::string DescribeSteps(const TaskFile& task);

// ----------------------------------------------------------------- running ---

struct ExecOptions {
  std::filesystem::path work_dir;     // the run's: the network namespace, containers, volumes
  std::filesystem::path workspace;    // the run's source, shared by every step; "" = an empty dir
  std::filesystem::path build_state;  // the builder's machine-wide layer store
  remote::ClientOptions registry;     // pulls of cmd images
  std::string platform = "linux/amd64";
  std::string commit;  // the source's, for the dependency document
  // `privileged: true` and `network: host` give a step the server host's
  // powers: refused unless the server's owner allows them.
  bool allow_privileged = false;
  runtime::Limits limits;  // each container's (build steps' RUNs too); 0s: unlimited
  // Containers (cmd steps but privileged ones, build steps' RUNs) in a user
  // namespace; work_dir must pass its CheckUsable.
  std::shared_ptr<const runtime::UserNamespace> users;
  bool allow_private_fetches = false;  // build steps' ADD <url> (see builder::BuildOptions)
  // Called with every base image a build step pulls (a task's
  // --trusted-base-key: it must be signed); an error fails the step.
  std::function<Status(const oci::ImageReference& base, const std::string& resolved,
                       const std::string& platform_manifest)>
      check_base;
  // What images push steps send carry (SBOM, provenance, signatures): made
  // by the build step, where the image's filesystem is at hand.
  builder::AttestOptions attest;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view)> log;  // step lines and container output
};

struct StepOutcome {
  std::string id;
  bool succeeded = false;  // also true for a failure with ignoreErrors
  double seconds = 0;
  std::string error;
};

struct PushedImage {
  std::string registry, repository, tag, digest;
};

struct ExecResult {
  bool succeeded = false;
  std::string error;                // "failed to run step ID: X: …"
  std::vector<StepOutcome> steps;   // those that ran, in file order
  std::vector<PushedImage> pushed;  // by push steps, in the order pushed
  // ACR's dependency document for every image the build steps made (one
  // entry per tag: its runtime and build-time base images), in step order.
  nlohmann::json dependencies = nlohmann::json::array();
};

// The runc roots of the containers a run in `work_dir` may have left
// running when its process was killed (for runtime::ReleaseLeftovers). Only
// directories the step runner made count, never anything a step wrote.
std::vector<std::filesystem::path> ContainerStateRoots(const std::filesystem::path& work_dir);

// Runs the steps: each starts once the steps in its `when` succeeded, on a
// thread of its own; the first failure that is not ignored kills the running
// containers and starts nothing more. All containers share a network
// namespace of the run's own (each step id is a host name there) and the
// workspace, mounted at the task's working directory. Detached steps are
// stopped at the end. Errors are for failing to run at all (no namespace).
Result<ExecResult> RunSteps(const TaskFile& task, const ExecOptions& options);

}  // namespace drydock::steps
