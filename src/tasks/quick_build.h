// Executes a QuickBuild run: source into a work dir, build, push.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "builder/builder.h"
#include "oci/reference.h"
#include "tasks/log_store.h"
#include "tasks/materialize.h"
#include "tasks/tasks.h"

namespace drydock::tasks::internal {

struct RunContext {
  const ServiceOptions& options;
  Run& run;  // its source, output images and dependencies are filled in
  LogWriter& log;
  const std::atomic<bool>* cancel = nullptr;  // set on cancel and on timeout
  std::filesystem::path upload;               // the claimed upload for "context:" sources
  std::function<void()> on_running;           // the source is ready, the build starts
  std::string upload_digest;                  // sha256 of the upload, as it was stored
};

struct Outcome {
  RunStatus status = RunStatus::kError;  // Succeeded, Failed or Error
  std::string error;
};

// Checks a request before it is queued: kInvalid naming the problem.
Status ValidateRequest(const RunRequest& request, const ServiceOptions& options);

// QuickRun and AutoRun: a multi-step task file (quick_run.cc).
inline bool IsTaskRun(const RunRequest& r) { return r.type == "QuickRun" || r.type == "AutoRun"; }
// The task-file parts of a request: the values parse and, when the file
// came with the request, it renders and parses (nothing runs otherwise).
Status ValidateTaskRun(const RunRequest& request, const ServiceOptions& options);
Outcome ExecuteTaskRun(RunContext& ctx);
// The runc roots a task-file run in `run_dir` may have left running.
std::vector<std::filesystem::path> TaskRunStateRoots(const std::filesystem::path& run_dir);

// An outcome with `error` redacted as the log would show it.
Outcome Fail(RunStatus status, const LogWriter& log, const std::string& error);

// The run's source fetched into `work_dir` (an upload is consumed) and
// recorded in the run; errors say that fetching failed.
Result<FetchedSource> FetchRunSource(RunContext& ctx, const std::filesystem::path& work_dir);

// How the run's pulls and pushes authenticate: the request's own
// credentials for a registry first, then those minted for its user.
// `run_id` "": no run (credentials of the user alone).
remote::ClientOptions RegistryOptions(const ServiceOptions& options, const RunRequest& request,
                                      const std::string& run_id);

// The request's --trusted-base-key keys, parsed.
std::vector<std::shared_ptr<const attest::Key>> TrustedBaseKeys(const RunRequest& r);

// The builder's check of every base a build of the run pulls, when its
// task trusts only some keys (--trusted-base-key); empty otherwise.
decltype(builder::BuildOptions::check_base) BaseCheckFor(const RunContext& ctx);

// A run queued by a base image update that no trusted key signed fails at
// once (naming the base and what was wrong); nullopt: it may go on.
std::optional<Outcome> CheckTriggeringBase(RunContext& ctx);

// What the images a run pushes carry: SBOM, provenance naming the run and
// its source, signatures (builder::AttestOptions).
builder::AttestOptions AttestOptionsFor(const RunContext& ctx);

// The caller tells a build stopped by cancel or timeout apart (it set the flag).
Outcome ExecuteQuickBuild(RunContext& ctx);

// An AutoBuild run queued by a base image update, rebased instead of built
// when the task's patch mode and the rebase gate allow (patch.cc): its
// outcome then; nullopt when it is to be built (run.patch says why).
std::optional<Outcome> TryRebase(RunContext& ctx, const std::vector<oci::ImageReference>& tags);

// "1.25" for a duration, as run logs give elapsed times.
std::string Seconds(std::chrono::steady_clock::duration d);

// The rules runs and saved tasks share: a timeout between the server's
// minimum and ACR's 8 hours; names of build arguments and of task-file
// values (`what`: "build argument", "value") not empty and without '='.
Status CheckTimeout(int64_t seconds, const ServiceOptions& options);
Status CheckNames(const std::vector<BuildArg>& args, std::string_view what);

// The request's images with "{{.Run.ID}}" expanded, parsed; names without a
// registry get `default_registry` (this server's) when it is set.
Result<std::vector<oci::ImageReference>> ParseImages(const std::vector<std::string>& images,
                                                     const std::string& run_id,
                                                     const std::string& default_registry);

}  // namespace drydock::tasks::internal
