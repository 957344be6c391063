// Executes QuickRun and AutoRun runs: the source becomes the workspace of a
// multi-step task file, which steps/ renders and runs.
#include <chrono>
#include <fstream>
#include <sstream>

#include "steps/steps.h"
#include "tasks/context.h"
#include "tasks/quick_build.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxTaskFileBytes = 1 << 20;
constexpr char kExecDir[] = "exec";  // the step runner's, beside the source in the run's dir

Result<std::string> ReadSmallFile(const fs::path& path, const std::string& what) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return NotFound("cannot read the " + what + ": " + ec.message());
  if (size > kMaxTaskFileBytes)
    return Invalid("the " + what + " is larger than " + std::to_string(kMaxTaskFileBytes) +
                   " bytes");
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return Internal("cannot read the " + what);
  return text.str();
}

// The task file: sent with the request, else read from the source.
Result<std::string> TaskFileText(const RunRequest& r, const fs::path& context) {
  if (!r.task_file.empty()) return r.task_file;
  DD_ASSIGN_OR_RETURN(path, FileIn(context, r.dockerfile, "task file"));
  return ReadSmallFile(path, "task file '" + r.dockerfile + "'");
}

// What the template sees. `context` (may be empty: not fetched yet) is
// where alias `src` files are read from.
Result<steps::RenderInput> RenderInputFor(const ServiceOptions& o, const Run& run,
                                          const fs::path& context) {
  const RunRequest& r = run.request;
  steps::RenderInput in;
  // A file sent with the request is named by `dockerfile` when the client
  // gave its name.
  in.file_name = r.dockerfile.empty() ? "task.yaml" : r.dockerfile;
  in.run.id = run.id;
  in.run.registry = o.registry_host;
  in.run.commit = run.source.commit;
  in.run.branch = run.source.branch;
  in.run.task_name = r.task;
  in.run.time = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::vector<std::string> sets;
  for (const auto& s : r.sets) {
    if (s.secret) {
      in.secrets[s.name] = s.value;
    } else {
      sets.push_back(s.name + "=" + s.value);
    }
  }
  DD_ASSIGN_OR_RETURN(values, steps::MergeValues(r.values, sets));
  in.values = std::move(values);
  in.aliases.images = o.image_aliases;
  if (context.empty()) {
    in.aliases.read_source = [](const std::string&) -> Result<std::string> {
      return std::string("{}");  // checked again once the source is there
    };
  } else {
    in.aliases.read_source = [context](const std::string& path) -> Result<std::string> {
      DD_ASSIGN_OR_RETURN(file, FileIn(context, path, "alias file"));
      return ReadSmallFile(file, "alias file '" + path + "'");
    };
  }
  return in;
}

// A step's kind as /metrics labels its duration: build, cmd or push.
std::string KindOf(const steps::TaskFile& task, const std::string& id) {
  for (const auto& s : task.steps)
    if (s.id == id) return !s.build.empty() ? "build" : !s.push.empty() ? "push" : "cmd";
  return "cmd";
}

void RecordResult(Run& run, const steps::ExecResult& result) {
  for (const auto& p : result.pushed)
    run.output_images.push_back(ImageDescriptor{p.registry, p.repository, p.tag, p.digest});
  if (!result.dependencies.empty()) run.dependencies_json = result.dependencies.dump(2);
}

// Steps with the host's powers, unless the server allows them (the
// step runner checks again; this refuses before anything runs).
Status CheckPrivileged(const steps::TaskFile& task, const ServiceOptions& o) {
  if (o.allow_privileged_steps) return Status::Ok();
  for (const auto& s : task.steps) {
    if (s.privileged || s.network == "host")
      return Status(Code::kDenied, "step " + s.id +
                                       ": privileged and host-network steps are turned off on "
                                       "this server (builds.allow_privileged_steps)");
  }
  return Status::Ok();
}

// Key Vault is not here: a declared secret's value comes from --set-secret.
Status CheckSecrets(const steps::TaskFile& task, const steps::RenderInput& in) {
  for (const auto& secret : task.secrets) {
    if (!in.secrets.count(secret.id))
      return Invalid("secret '" + secret.id +
                     "' has no value: there is no Key Vault here; give it with --set-secret " +
                     secret.id + "=VALUE");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateTaskRun(const RunRequest& r, const ServiceOptions& o) {
  if (!r.images.empty())
    return Invalid("a task file run pushes with its push steps; it takes no images");
  DD_RETURN_IF_ERROR(CheckNames(r.sets, "value"));
  Run probe;
  probe.id = RunId(1);
  probe.request = r;
  DD_ASSIGN_OR_RETURN(in, RenderInputFor(o, probe, {}));
  if (r.task_file.empty()) return Status::Ok();  // it is in the source
  DD_ASSIGN_OR_RETURN(task, steps::LoadTaskFile(r.task_file, in));
  DD_RETURN_IF_ERROR(CheckPrivileged(task, o));
  return CheckSecrets(task, in);
}

Outcome ExecuteTaskRun(RunContext& ctx) {
  Run& run = ctx.run;
  const RunRequest& r = run.request;
  if (auto blocked = CheckTriggeringBase(ctx)) return *blocked;
  auto work = WorkDir::Create(ctx.options.data_dir / "runs" / run.id);
  if (!work.ok()) return Fail(RunStatus::kError, ctx.log, work.status().message());

  auto fetched = FetchRunSource(ctx, work->path());
  if (!fetched.ok()) return Fail(RunStatus::kFailed, ctx.log, fetched.status().message());
  auto text = TaskFileText(r, fetched->context);
  if (!text.ok()) return Fail(RunStatus::kFailed, ctx.log, text.status().message());
  auto in = RenderInputFor(ctx.options, run, fetched->context);
  if (!in.ok()) return Fail(RunStatus::kFailed, ctx.log, in.status().message());
  auto task = steps::LoadTaskFile(*text, *in);
  if (!task.ok()) return Fail(RunStatus::kFailed, ctx.log, task.status().message());
  for (Status s : {CheckPrivileged(*task, ctx.options), CheckSecrets(*task, *in)}) {
    if (!s.ok()) return Fail(RunStatus::kFailed, ctx.log, s.message());
  }

  if (ctx.on_running) ctx.on_running();
  steps::ExecOptions e;
  e.work_dir = work->path() / kExecDir;
  e.workspace = fetched->context;
  e.build_state = ctx.options.build_state;
  e.registry = RegistryOptions(ctx.options, r, ctx.run.id);
  e.platform = r.platform;
  e.commit = run.source.commit;
  e.allow_privileged = ctx.options.allow_privileged_steps;
  e.limits = ctx.options.limits;
  e.users = ctx.options.users;
  e.allow_private_fetches = ctx.options.allow_private_fetches;
  e.check_base = BaseCheckFor(ctx);
  e.attest = AttestOptionsFor(ctx);
  e.cancel = ctx.cancel;
  e.log = [&](std::string_view s) { ctx.log.Output(s); };
  auto result = steps::RunSteps(*task, e);
  ctx.log.Flush();
  if (!result.ok()) return Fail(RunStatus::kError, ctx.log, result.status().message());
  RecordResult(run, *result);
  if (ctx.options.metrics)
    for (const auto& step : result->steps)
      ctx.options.metrics->StepFinished(KindOf(*task, step.id), step.seconds);
  if (!result->succeeded) return Fail(RunStatus::kFailed, ctx.log, result->error);
  if (!run.dependencies_json.empty()) {
    ctx.log.Line("The following dependencies were found:");
    ctx.log.Output(run.dependencies_json + "\n");
    ctx.log.Flush();
  }
  return Outcome{RunStatus::kSucceeded, ""};
}

std::vector<fs::path> TaskRunStateRoots(const fs::path& run_dir) {
  if (fs::is_symlink(run_dir / kExecDir)) return {};
  return steps::ContainerStateRoots(run_dir / kExecDir);
}

}  // namespace drydock::tasks::internal
