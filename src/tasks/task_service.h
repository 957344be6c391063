// Saved tasks: a build definition kept on the server that runs by hand, on
// a source commit or pull request, on a timer, or when a base image it
// depends on is updated (triggers/ decides when; this queues the runs and
// keeps the dependency index each task's builds feed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "storage/metadata_store.h"
#include "tasks/tasks.h"

namespace drydock::tasks {

struct Timer {
  std::string name;      // "t1", "t2", … when not given
  std::string schedule;  // 5-field cron, UTC
  bool enabled = true;
};

// One base image of the task: what it was built from last ("" when the
// task has not been built and the tag did not exist when it was scanned).
struct TaskDependency {
  std::string kind;  // "Runtime" | "BuildTime"
  std::string registry, repository, tag, digest;
  // The platform built from it and that platform's image (builder.h's
  // ImageDependency): "" until a run reports them.
  std::string platform, manifest;
};

struct Task {
  std::string name;
  bool enabled = true;
  // A git URL (#ref:subdir), a tarball URL, oci://REGISTRY/REPO:TAG or /dev/null.
  std::string source;
  // Relative to the context: the Dockerfile, or a multi-step task file
  // (*.yaml, *.yml), whose runs are AutoRun.
  std::string file = "Dockerfile";
  std::string task_file;  // the task file's text when it came with the task (a /dev/null source)
  std::vector<std::string> images;  // "{{.Run.ID}}" expands per run
  std::vector<BuildArg> build_args;
  std::vector<std::pair<std::string, std::string>> values;  // --set, for task YAML files
  std::string target;
  std::string platform = "linux/amd64";
  std::string agent_pool;  // "" = the default pool
  int64_t timeout_seconds = 3600;
  bool push = true;
  bool no_cache = false;
  // Source triggers: webhooks (any provider) and, when poll_seconds > 0,
  // `git ls-remote` polling of `branch`.
  bool commit_trigger = true;
  bool pull_request_trigger = false;
  std::string branch;  // default: the source's #ref, else "main"
  std::string git_token;
  int64_t source_poll_seconds = 0;
  std::string webhook_secret;  // generated when the task is created
  // Base-image trigger.
  bool base_image_trigger = true;
  std::string base_image_trigger_type = "Runtime";  // or "All"
  std::string update_trigger_endpoint;
  // Notifications of this task's runs (task update --notify-url), sent as
  // the config's webhooks send them (docs/operations.md) when a run ends as
  // `notify_on` says: "failure" (Failed, Timeout, Error), "success" or
  // "always"; signed with `notify_secret` when set (never shown).
  std::string notify_url = {};
  std::string notify_on = "failure";
  std::string notify_secret = {};
  // How a base image update reaches the task's image (RunRequest::patch_mode
  // and its verification).
  std::string patch_mode = "auto";  // auto | rebase | rebuild
  std::string patch_verify;
  std::string patch_verify_failure = "rebuild";  // rebuild | fail
  std::vector<std::string> trusted_base_keys;    // PEM public keys (RunRequest's)
  std::vector<Timer> timers;
  std::vector<RegistryCredential> credentials;
  std::string owner;  // runs push with this user's rights
  int64_t create_time_ms = 0, update_time_ms = 0;
  // Kept by the service: the dependency index's rows for this task, and why
  // the Dockerfile could not be scanned (then nothing is tracked until a run
  // records what it used).
  std::vector<TaskDependency> dependencies;
  std::string dependencies_error;
};

// The task as JSON (docs/api.md's names). Without `secrets`, the git token,
// secret arg values and credential passwords are left out (the webhook
// secret stays: the owner needs it to configure the hook).
std::string TaskToJson(const Task& task, bool secrets);
// Parses and checks the shape (kInvalid naming the field); values are
// checked by TaskService.
Result<Task> TaskFromJson(std::string_view json);
// `patch` (a JSON merge patch, RFC 7396) applied to the task.
Result<Task> PatchTask(const Task& task, std::string_view patch);

// What a manual `task run` may change for one run.
struct RunOverrides {
  std::vector<BuildArg> build_args;  // replace the task's args of the same name
  std::vector<std::pair<std::string, std::string>> values;
  // --set-secret: values never logged, stored or returned (task files).
  std::vector<std::pair<std::string, std::string>> secret_values;
  std::string update_trigger_token;  // remembered for base-image notifications
};

class TaskService {
 public:
  // `options` as given to `runs` (sources are fetched the same way to scan
  // a task's Dockerfile).
  TaskService(storage::MetadataStore& store, RunService& runs, ServiceOptions options);

  // Validates, names unnamed timers, creates the webhook secret and scans
  // the Dockerfile for its base images (a scan failure is kept in
  // dependencies_error, not an error: the Dockerfile may come later).
  Result<Task> Create(Task task);
  // Replaces the definition (name, owner, secret and times are kept) and
  // scans again.
  Result<Task> Update(Task task);
  Result<Task> Get(const std::string& name);
  Result<std::vector<Task>> List();
  Status Delete(const std::string& name);

  // Queues an AutoBuild (AutoRun for a task file) of the task. A source
  // trigger builds its commit. A `cause` already queued returns that run
  // (RunRequest::cause).
  Result<Run> Queue(const std::string& name, const RunOverrides& overrides, RunTrigger trigger,
                    const std::string& cause = "");

  // Records the base images a finished run of a task was built from.
  void OnRunFinished(const Run& run);

  // Trigger bookkeeping, a JSON object per task ("{}" at first).
  Result<std::string> State(const std::string& name);
  // Replaces the state with change(state), retried on what another server
  // wrote meanwhile (a compare-and-set in the store), so no update is lost.
  Status UpdateState(const std::string& name,
                     const std::function<std::string(const std::string&)>& change);
  // Sets one dependency's digest (an external registry polled for the
  // first time).
  Status RecordDigest(const std::string& task, const TaskDependency& dependency);

 private:
  Status Validate(const Task& task) const;
  void Scan(Task& task);
  Result<Task> Load(const storage::TaskRow& row);

  storage::MetadataStore& store_;
  RunService& runs_;
  const ServiceOptions options_;
};

}  // namespace drydock::tasks
