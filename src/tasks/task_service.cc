#include "tasks/task_service.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/random.h"
#include "builder/builder.h"
#include "cron/cron.h"
#include "tasks/materialize.h"
#include "tasks/quick_build.h"
#include "tasks/run_record.h"

namespace drydock::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;
using internal::NowMs;

namespace {

bool IsTaskFile(const std::string& file) {
  auto dot = file.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = file.substr(dot);
  return ext == ".yaml" || ext == ".yml";
}

// std::regex is avoided: GCC 12 reports false maybe-uninitialized warnings
// inside it at -O2 with the sanitizers.
bool IsHex40(const std::string& s) {
  return s.size() == 40 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// 1-50 letters, digits, '-' or '_', starting with a letter or digit.
bool IsTaskName(const std::string& s) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (s.empty() || s.size() > 50 || !word(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return word(c) || c == '-' || c == '_'; });
}

bool IsGit(const std::string& source, bool allow_local_git) {
  auto spec = internal::ClassifySource(source, allow_local_git);
  return spec.ok() && spec->kind == internal::SourceKind::kGit;
}

// The branch a source's #ref names, when it names one.
std::string BranchOf(const std::string& source) {
  auto git = source::ParseGitSource(source);
  if (!git.ok() || git->ref.empty() || git->ref.starts_with("pull/") ||
      git->ref.starts_with("refs/") || IsHex40(git->ref))
    return "main";
  return git->ref;
}

// The task's git source at one commit (its subdir kept).
std::string AtCommit(const std::string& source, const std::string& commit) {
  auto git = source::ParseGitSource(source);
  if (!git.ok()) return source;
  return git->url + "#" + commit + (git->subdir.empty() ? "" : ":" + git->subdir);
}

// Fills in what a user may leave out: timer names and the branch; source
// triggers need a git source (as ACR turns them off for `-c /dev/null`).
void Normalize(Task& t, bool allow_local_git) {
  std::set<std::string> names;
  for (const auto& tm : t.timers) names.insert(tm.name);
  int n = 0;
  for (auto& tm : t.timers) {
    if (!tm.name.empty()) continue;
    do {
      // Appended, not "t" + to_string(): GCC 12 warns (-Wrestrict) on that at -O2.
      tm.name = "t";
      tm.name += std::to_string(++n);
    } while (names.count(tm.name));
    names.insert(tm.name);
  }
  if (!IsGit(t.source, allow_local_git)) {
    t.commit_trigger = t.pull_request_trigger = false;
    t.source_poll_seconds = 0;
  } else if (t.branch.empty()) {
    t.branch = BranchOf(t.source);
  }
  if (t.platform.empty()) t.platform = "linux/amd64";
  if (t.file.empty()) t.file = "Dockerfile";
}

std::vector<storage::DependencyRow> RowsOf(const std::string& task,
                                           const std::vector<TaskDependency>& deps) {
  std::vector<storage::DependencyRow> rows;
  for (const auto& d : deps)
    rows.push_back(
        {task, d.kind, d.registry, d.repository, d.tag, d.digest, d.platform, d.manifest});
  return rows;
}

TaskDependency FromJsonDep(const std::string& kind, const json& j) {
  return {kind,
          j.value("registry", ""),
          j.value("repository", ""),
          j.value("tag", ""),
          j.value("digest", ""),
          j.value("platform", ""),
          j.value("manifestDigest", "")};
}

// The builder's dependency document ([{"runtime-dependency":…,
// "buildtime-dependency":[…]}, …]) as index rows: one per base and
// platform (every tag of an image repeats its entry; an index has one per
// platform).
std::vector<TaskDependency> FromDocument(const std::string& document) {
  json doc = json::parse(document, nullptr, false);
  std::vector<TaskDependency> out;
  if (!doc.is_array()) return out;
  auto add = [&out](const std::string& kind, const json& j) {
    TaskDependency d = FromJsonDep(kind, j);
    for (const auto& o : out) {
      if (o.kind == d.kind && o.registry == d.registry && o.repository == d.repository &&
          o.tag == d.tag && o.platform == d.platform)
        return;
    }
    out.push_back(std::move(d));
  };
  // A task file's builds each have an entry (and every tag of one build
  // repeats it).
  for (const auto& entry : doc) {
    if (!entry.is_object()) continue;
    if (auto r = entry.find("runtime-dependency"); r != entry.end() && r->is_object())
      add("Runtime", *r);
    for (const auto& b : entry.value("buildtime-dependency", json::array())) {
      if (b.is_object()) add("BuildTime", b);
    }
  }
  return out;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TaskService::TaskService(storage::MetadataStore& store, RunService& runs, ServiceOptions options)
    : store_(store), runs_(runs), options_(std::move(options)) {}

Status TaskService::Validate(const Task& t) const {
  if (!IsTaskName(t.name))
    return Invalid("task name '" + t.name +
                   "' must be 1-50 letters, digits, '-' or '_', starting with a letter or digit");
  auto spec = internal::ClassifySource(t.source, options_.allow_local_git);
  if (!spec.ok()) return spec.status();
  if (spec->kind == internal::SourceKind::kUpload)
    return Invalid(
        "a task's source must be one the server can fetch again (git, tarball URL, "
        "oci:// or /dev/null), not an uploaded context");
  if (IsTaskFile(t.file) || !t.task_file.empty()) {
    if (!t.images.empty())
      return Invalid("a task file's push steps name its images; give no --image");
    if (!t.build_args.empty())
      return Invalid("a task file takes values (--set), not build arguments");
    if (spec->kind == internal::SourceKind::kNone && t.task_file.empty())
      return Invalid("a task file task without a source needs the file's content");
  }
  fs::path file = fs::path(t.file).lexically_normal();
  if (file.is_absolute() || *file.begin() == "..")
    return Invalid("the file '" + t.file + "' must be relative to the context");
  DD_RETURN_IF_ERROR(internal::CheckTimeout(t.timeout_seconds, options_));
  DD_RETURN_IF_ERROR(CheckAgentPool(t.agent_pool));
  if (t.base_image_trigger_type != "Runtime" && t.base_image_trigger_type != "All")
    return Invalid("base image trigger type must be Runtime or All, not '" +
                   t.base_image_trigger_type + "'");
  if (t.patch_mode != "auto" && t.patch_mode != "rebase" && t.patch_mode != "rebuild")
    return Invalid("patch mode must be auto, rebase or rebuild, not '" + t.patch_mode + "'");
  if (t.patch_verify_failure != "rebuild" && t.patch_verify_failure != "fail")
    return Invalid("patch verify failure must be rebuild or fail, not '" + t.patch_verify_failure +
                   "'");
  if (t.source_poll_seconds < 0) return Invalid("the source poll interval cannot be negative");
  for (size_t i = 0; i < t.trusted_base_keys.size(); ++i) {
    auto key = attest::Key::FromPem(t.trusted_base_keys[i]);
    if (!key.ok())
      return Invalid("trusted base key " + std::to_string(i + 1) + ": " + key.status().message());
    if (key->has_private())
      return Invalid("trusted base key " + std::to_string(i + 1) +
                     " is a private key: give its public half (openssl ec -pubout)");
  }
  const auto& endpoint = t.update_trigger_endpoint;
  if (!endpoint.empty() && !endpoint.starts_with("http://") && !endpoint.starts_with("https://"))
    return Invalid("the update trigger endpoint must be an http(s) URL");
  if (!t.notify_url.empty() && !t.notify_url.starts_with("http://") &&
      !t.notify_url.starts_with("https://"))
    return Invalid("the notify URL must be an http(s) URL");
  if (t.notify_on != "failure" && t.notify_on != "success" && t.notify_on != "always")
    return Invalid("notify-on '" + t.notify_on + "' must be failure, success or always");
  std::set<std::string> timer_names;
  for (const auto& tm : t.timers) {
    if (tm.schedule.empty()) return Invalid("timer '" + tm.name + "' has no schedule");
    if (auto s = cron::Schedule::Parse(tm.schedule); !s.ok())
      return Invalid("timer '" + tm.name + "': " + s.status().message());
    if (!timer_names.insert(tm.name).second)
      return Invalid("two timers are named '" + tm.name + "'");
  }
  for (const auto& c : t.credentials) {
    if (c.login_server.empty() || c.username.empty())
      return Invalid("a credential needs a login server and a user name");
  }
  DD_RETURN_IF_ERROR(internal::CheckNames(t.build_args, "build argument"));
  auto images = internal::ParseImages(t.images, RunId(1), options_.registry_host);
  return images.ok() ? Status::Ok() : images.status();
}

// Fetches the source and reads the Dockerfile's base images with the
// builder's own parser, so that a task is tracked before it ever runs.
void TaskService::Scan(Task& t) {
  t.dependencies.clear();
  t.dependencies_error.clear();
  // A task file's builds are known once it has run: what it builds may
  // depend on values and on the run itself.
  if (IsTaskFile(t.file) || !t.task_file.empty()) return;
  auto fail = [&t](const std::string& why) {
    t.dependencies_error = "cannot read the base images of " + t.file + ": " + why;
  };
  auto spec = internal::ClassifySource(t.source, options_.allow_local_git);
  if (!spec.ok()) return fail(spec.status().message());
  std::error_code ec;
  fs::create_directories(options_.data_dir / "scans", ec);
  TempDir work(options_.data_dir / "scans", "scan");
  RunRequest as_run;
  as_run.user = t.owner;
  as_run.credentials = t.credentials;
  internal::FetchOptions f;
  f.git_token = t.git_token;
  f.allow_local_git = options_.allow_local_git;
  f.allow_private = options_.allow_private_fetches;
  f.max_download_bytes = options_.max_context_bytes;
  f.max_extracted_bytes = options_.max_extracted_bytes;
  f.registry = internal::RegistryOptions(options_, as_run, "");
  f.checkout_cache = options_.data_dir / "checkouts";
  f.timeout = std::chrono::seconds(120);
  f.log = [](std::string_view) {};  // a scan has no run log
  auto fetched = internal::FetchSource(*spec, t.source, work.path(), f);
  if (!fetched.ok()) return fail(source::RedactText(fetched.status().message()));
  auto path = internal::FileIn(fetched->context, t.file);
  if (!path.ok()) return fail(path.status().message());
  auto text = ReadFile(*path);
  if (!text.ok()) return fail(text.status().message());
  std::map<std::string, std::string> args;
  for (const auto& a : t.build_args) args[a.name] = a.value;
  auto deps = builder::ScanDependencies(*text, args, t.target);
  if (!deps.ok()) return fail(deps.status().message());
  auto add = [&](const std::string& kind, const builder::ImageDependency& d) {
    t.dependencies.push_back({kind, d.registry, d.repository, d.tag, "", "", ""});
  };
  if (deps->runtime) add("Runtime", *deps->runtime);
  for (const auto& b : deps->buildtime) add("BuildTime", b);
  // What the tags point at now is what a build would use: a later push
  // under the tag is then an update.
  for (auto& d : t.dependencies) {
    if (d.registry != options_.registry_host || d.tag.empty()) continue;
    auto digest = store_.ResolveTag(d.repository, d.tag);
    if (digest.ok()) d.digest = digest->str();
  }
}

Result<Task> TaskService::Load(const storage::TaskRow& row) {
  DD_ASSIGN_OR_RETURN(task, TaskFromJson(row.definition_json));
  task.name = row.name;
  task.create_time_ms = row.create_time_ms;
  task.update_time_ms = row.update_time_ms;
  DD_ASSIGN_OR_RETURN(rows, store_.Dependencies(row.name));
  task.dependencies.clear();
  for (const auto& r : rows)
    task.dependencies.push_back(
        {r.kind, r.registry, r.repository, r.tag, r.digest, r.platform, r.manifest});
  return task;
}

Result<Task> TaskService::Create(Task t) {
  Normalize(t, options_.allow_local_git);
  DD_RETURN_IF_ERROR(Validate(t));
  t.webhook_secret = RandomHex(20);
  t.create_time_ms = t.update_time_ms = NowMs();
  t.dependencies.clear();
  // Claim the name before scanning: a taken name must not get its index replaced.
  DD_RETURN_IF_ERROR(
      store_.CreateTask({t.name, TaskToJson(t, true), "{}", t.create_time_ms, t.update_time_ms}));
  Scan(t);
  DD_RETURN_IF_ERROR(store_.SetDependencies(t.name, RowsOf(t.name, t.dependencies)));
  DD_RETURN_IF_ERROR(store_.UpdateTask({t.name, TaskToJson(t, true), "", 0, t.update_time_ms}));
  return t;
}

Result<Task> TaskService::Update(Task t) {
  DD_ASSIGN_OR_RETURN(old, Get(t.name));
  t.owner = old.owner;
  t.webhook_secret = old.webhook_secret;
  t.create_time_ms = old.create_time_ms;
  t.update_time_ms = NowMs();
  Normalize(t, options_.allow_local_git);
  DD_RETURN_IF_ERROR(Validate(t));
  Scan(t);
  // What is already known of the same images stays (per platform): it says
  // what was built (the tag may have moved since, which is an update still
  // to build).
  std::vector<TaskDependency> scanned = std::move(t.dependencies);
  t.dependencies.clear();
  for (auto& d : scanned) {
    size_t known = t.dependencies.size();
    for (const auto& o : old.dependencies) {
      if (!o.digest.empty() && o.kind == d.kind && o.registry == d.registry &&
          o.repository == d.repository && o.tag == d.tag)
        t.dependencies.push_back(o);
    }
    if (t.dependencies.size() == known) t.dependencies.push_back(std::move(d));
  }
  DD_RETURN_IF_ERROR(store_.UpdateTask({t.name, TaskToJson(t, true), "", 0, t.update_time_ms}));
  DD_RETURN_IF_ERROR(store_.SetDependencies(t.name, RowsOf(t.name, t.dependencies)));
  return t;
}

Result<Task> TaskService::Get(const std::string& name) {
  DD_ASSIGN_OR_RETURN(row, store_.GetTask(name));
  return Load(row);
}

Result<std::vector<Task>> TaskService::List() {
  DD_ASSIGN_OR_RETURN(rows, store_.ListTasks());
  std::vector<Task> out;
  for (const auto& row : rows) {
    DD_ASSIGN_OR_RETURN(task, Load(row));
    out.push_back(std::move(task));
  }
  return out;
}

Status TaskService::Delete(const std::string& name) { return store_.DeleteTask(name); }

Result<Run> TaskService::Queue(const std::string& name, const RunOverrides& o, RunTrigger trigger,
                               const std::string& cause) {
  DD_ASSIGN_OR_RETURN(t, Get(name));
  RunRequest r;
  r.type = IsTaskFile(t.file) || !t.task_file.empty() ? "AutoRun" : "AutoBuild";
  r.task = t.name;
  r.task_file = t.task_file;
  for (const auto& [name, value] : t.values) r.sets.push_back({name, value, false});
  for (const auto* list : {&o.values, &o.secret_values}) {
    for (const auto& [name, value] : *list) {
      std::erase_if(r.sets, [&](const BuildArg& s) { return s.name == name; });
      r.sets.push_back({name, value, list == &o.secret_values});
    }
  }
  r.source = t.source;
  if (trigger.source && !trigger.source->commit_id.empty())
    r.source = AtCommit(t.source, trigger.source->commit_id);
  r.dockerfile = t.file;
  r.images = t.images;
  r.build_args = t.build_args;
  for (const auto& a : o.build_args) {
    auto same = [&a](const BuildArg& b) { return b.name == a.name; };
    std::erase_if(r.build_args, same);
    r.build_args.push_back(a);
  }
  r.target = t.target;
  r.platform = t.platform;
  r.agent_pool = t.agent_pool;
  r.push = t.push;
  r.no_cache = t.no_cache;
  r.patch_mode = t.patch_mode;
  r.patch_verify = t.patch_verify;
  r.patch_verify_failure = t.patch_verify_failure;
  r.trusted_base_keys = t.trusted_base_keys;
  r.timeout_seconds = t.timeout_seconds;
  r.user = t.owner;
  r.git_token = t.git_token;
  r.credentials = t.credentials;
  r.trigger = std::move(trigger);
  if (!o.update_trigger_token.empty()) {
    DD_RETURN_IF_ERROR(UpdateState(name, [&](const std::string& text) {
      json state = json::parse(text, nullptr, false);
      if (!state.is_object()) state = json::object();
      state["updateTriggerToken"] = o.update_trigger_token;
      return state.dump();
    }));
  }
  r.cause = cause;
  return runs_.Queue(std::move(r));
}

void TaskService::OnRunFinished(const Run& run) {
  if (run.request.task.empty() || run.status != RunStatus::kSucceeded) return;
  auto deps = FromDocument(run.dependencies_json);
  // An image the task pushes itself is never its own trigger (a task file
  // may build on an image an earlier step of it made).
  std::erase_if(deps, [&run](const TaskDependency& d) {
    for (const auto& o : run.output_images) {
      if (o.registry == d.registry && o.repository == d.repository && o.tag == d.tag) return true;
    }
    return false;
  });
  if (run.patch && run.patch->kind == "rebase") {
    // A rebase knows the new base only: what else the task builds from
    // (COPY --from images) is as its last build found it.
    if (auto task = Get(run.request.task); task.ok())
      for (const auto& d : task->dependencies)
        if (d.kind != "Runtime") deps.push_back(d);
  }
  if (deps.empty() || !store_.GetTask(run.request.task).ok()) return;
  // The index is a cache of what runs reported: the next run writes it again.
  (void)store_.SetDependencies(run.request.task, RowsOf(run.request.task, deps));
}

Result<std::string> TaskService::State(const std::string& name) {
  DD_ASSIGN_OR_RETURN(row, store_.GetTask(name));
  return row.state_json.empty() ? std::string("{}") : row.state_json;
}

Status TaskService::UpdateState(const std::string& name,
                                const std::function<std::string(const std::string&)>& change) {
  for (int attempt = 0; attempt < 32; ++attempt) {
    DD_ASSIGN_OR_RETURN(row, store_.GetTask(name));
    DD_ASSIGN_OR_RETURN(
        swapped, store_.SwapTaskState(name, row.state_json,
                                      change(row.state_json.empty() ? "{}" : row.state_json)));
    if (swapped) return Status::Ok();
  }
  return Conflict("the state of task " + name + " kept changing; try again");
}

Status TaskService::RecordDigest(const std::string& task, const TaskDependency& dep) {
  DD_ASSIGN_OR_RETURN(rows, store_.Dependencies(task));
  for (auto& r : rows) {
    if (r.kind == dep.kind && r.registry == dep.registry && r.repository == dep.repository &&
        r.tag == dep.tag && r.platform == dep.platform)
      r.digest = dep.digest;
  }
  return store_.SetDependencies(task, rows);
}

}  // namespace drydock::tasks
