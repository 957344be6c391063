// Runs a task file's step graph: every step whose `when` steps succeeded
// starts at once on a thread of its own; the first failure (not ignored)
// stops the rest. Containers of one run share a network namespace of the
// run's own, where each step id is a host name, and the /workspace dir.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/base64.h"
#include "builder/builder.h"
#include "runtime/runtime.h"
#include "steps/steps.h"

namespace drydock::steps {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string Seconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", std::chrono::duration<double>(d).count());
  return buf;
}

std::vector<std::string> Strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& s : j) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

// The image name as the registry client sees it ("app" is docker.io/library/app:latest).
std::string Normalized(const std::string& name) {
  auto ref = oci::ParseImageReference(name);
  if (!ref.ok()) return name;
  if (ref->tag.empty() && !ref->digest) ref->tag = "latest";
  return ref->String();
}

// `docker build` arguments as ACR's build steps take them.
struct BuildArgs {
  std::vector<std::string> tags;
  std::string file, target, platform, context;
  std::map<std::string, std::string> args;
  bool no_cache = false;
};

Result<BuildArgs> ParseBuildArgs(const std::vector<std::string>& words) {
  BuildArgs b;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string w = words[i];
    std::string value;
    auto eq = w.find('=');
    bool inline_value = w.starts_with("--") && eq != std::string::npos;
    if (inline_value) {
      value = w.substr(eq + 1);
      w = w.substr(0, eq);
    }
    auto take = [&]() -> Result<std::string> {
      if (inline_value) return value;
      if (i + 1 >= words.size()) return Invalid("build: " + w + " needs a value");
      return words[++i];
    };
    if (w == "-t" || w == "--tag") {
      DD_ASSIGN_OR_RETURN(v, take());
      b.tags.push_back(v);
    } else if (w == "-f" || w == "--file") {
      DD_ASSIGN_OR_RETURN(v, take());
      b.file = v;
    } else if (w == "--build-arg") {
      DD_ASSIGN_OR_RETURN(v, take());
      auto e = v.find('=');
      if (e == std::string::npos || e == 0)
        return Invalid("build: --build-arg " + v + ": expected K=V");
      b.args[v.substr(0, e)] = v.substr(e + 1);
    } else if (w == "--target") {
      DD_ASSIGN_OR_RETURN(v, take());
      b.target = v;
    } else if (w == "--platform") {
      DD_ASSIGN_OR_RETURN(v, take());
      b.platform = v;
    } else if (w == "--no-cache") {
      b.no_cache = true;
    } else if (w == "--pull" || w == "-q" || w == "--quiet") {
      // Bases are always resolved against their registry; nothing to do.
    } else if (w.starts_with("-")) {
      return Invalid("build: option " + w + " is not supported");
    } else if (b.context.empty()) {
      b.context = w;
    } else {
      return Invalid("build: a second context '" + w + "' after '" + b.context + "'");
    }
  }
  if (b.context.empty()) return Invalid("build: no context given (e.g. '.')");
  return b;
}

// `rel` inside `root`, or an error naming what escapes. Symlinks count: a
// cmd step writes the workspace as root, and `ln -s / ctx` must not let a
// build read the host.
Result<fs::path> Inside(const fs::path& root, const std::string& rel, const char* what) {
  fs::path p = fs::path(rel).lexically_normal();
  auto refuse = [&] {
    return Invalid(std::string(what) + " '" + rel + "' must stay inside the workspace");
  };
  if (p.is_absolute() || (!p.empty() && *p.begin() == "..")) return refuse();
  std::error_code ec;
  fs::path real_root = fs::canonical(root, ec);
  fs::path real = fs::weakly_canonical(root / p, ec);
  if (ec) return refuse();
  auto [end, unused] = std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end());
  if (end != real_root.end()) return refuse();
  return real;
}

}  // namespace

class Run {
 public:
  Run(const TaskFile& task, const ExecOptions& o) : task_(task), o_(o) {}

  Result<ExecResult> Execute() {
    std::error_code ec;
    workspace_ = o_.workspace.empty() ? o_.work_dir / "workspace" : o_.workspace;
    fs::create_directories(workspace_, ec);
    fs::create_directories(o_.work_dir / "steps", ec);
    if (ec) return Internal("cannot create " + o_.work_dir.string() + ": " + ec.message());
    DD_RETURN_IF_ERROR(WriteVolumes());
    DD_ASSIGN_OR_RETURN(ns, runtime::NetworkNamespace::Create(
                                o_.work_dir / "netns", runtime::Egress::kNat, o_.users.get()));
    ns_ = &ns;
    for (const auto& s : task_.steps) hosts_.push_back("127.0.0.1\t" + s.id);
    Schedule();
    StopDetached();
    ExecResult result;
    result.succeeded = failure_.empty();
    result.error = failure_;
    for (const auto& s : task_.steps) {
      if (auto it = outcomes_.find(s.id); it != outcomes_.end()) result.steps.push_back(it->second);
      for (const auto& d : dependencies_[s.id]) result.dependencies.push_back(d);
    }
    result.pushed = pushed_;
    return result;
  }

 private:
  // Starts every ready step, then waits for one to finish, until none runs.
  void Schedule() {
    std::unique_lock lock(mu_);
    std::vector<std::thread> threads;
    while (true) {
      if (failure_.empty() && !Canceled()) {
        for (const auto& s : task_.steps) {
          if (started_.count(s.id) || !Ready(s)) continue;
          started_.insert(s.id);
          ++running_;
          threads.emplace_back([this, &s] { RunStep(s); });
        }
      }
      if (running_ == 0) break;
      // A canceled run stops its containers as a failure does.
      if (o_.cancel && o_.cancel->load() && !stop_) {
        stop_ = true;
        if (failure_.empty()) failure_ = "the run was canceled";
      }
      changed_.wait_for(lock, std::chrono::milliseconds(200));
    }
    lock.unlock();
    for (auto& t : threads) t.join();
  }

  // Each volume's secret files (base64 in the task file) under
  // volumes/<name>/, bound read-only where steps mount them.
  Status WriteVolumes() {
    if (task_.volumes.empty()) return Status::Ok();
    // Only root on the host may reach the secrets: containers get each
    // volume's own directory bound, never this one.
    std::error_code ec;
    fs::create_directories(o_.work_dir / "volumes", ec);
    fs::permissions(o_.work_dir / "volumes", fs::perms::owner_all, ec);
    if (ec)
      return Internal("cannot create " + (o_.work_dir / "volumes").string() + ": " + ec.message());
    for (const auto& v : task_.volumes) {
      fs::path dir = o_.work_dir / "volumes" / v.name;
      fs::create_directories(dir, ec);
      if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
      for (const auto& [file, content] : v.secret) {
        std::string bytes = Base64Decode(content);
        if (bytes.empty() && !content.empty())
          return Invalid("volume " + v.name + ": " + file + " is not valid base64");
        if (file.find('/') != std::string::npos || file == "." || file == "..")
          return Invalid("volume " + v.name + ": file name '" + file + "' must not be a path");
        DD_RETURN_IF_ERROR(WritePrivate(dir / file, bytes));
      }
    }
    return Status::Ok();
  }

  static Status WritePrivate(const fs::path& path, const std::string& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wbx");
    if (!f) return Internal("cannot write " + path.string());
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    ok = std::fclose(f) == 0 && ok;
    // Readable by whichever user the step runs as; the run dir is root's.
    fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    return ok ? Status::Ok() : Internal("cannot write " + path.string());
  }

  bool Ready(const Step& s) const {
    for (const auto& w : s.when) {
      auto it = outcomes_.find(w);
      if (it == outcomes_.end() || !it->second.succeeded) return false;
    }
    return true;
  }

  bool Canceled() const { return stop_ || (o_.cancel && o_.cancel->load()); }

  void RunStep(const Step& s) {
    Log("Executing step ID: " + s.id + ". Timeout(sec): " + std::to_string(s.timeout) +
        ", Working directory: '" + WorkingDir(s) + "', Network: 'drydock_run_network'");
    auto start = Clock::now();
    if (!s.ports.empty())
      Log("Step ID: " + s.id + ": ports are not published: the run's network is private to it");
    if (s.start_delay > 0) std::this_thread::sleep_for(std::chrono::seconds(s.start_delay));
    Status status = Attempts(s);
    bool ok = status.ok() || s.ignore_errors;
    StepOutcome outcome{s.id, ok, std::chrono::duration<double>(Clock::now() - start).count(),
                        status.ok() ? "" : status.message()};
    if (!status.ok()) Log("Step ID: " + s.id + ": " + status.message());
    Log("Step ID: " + s.id + " marked as " + (ok ? "successful" : "failed") +
        " (elapsed time in seconds: " + Seconds(Clock::now() - start) + ")");
    std::lock_guard lock(mu_);
    outcomes_[s.id] = outcome;
    if (!ok && failure_.empty()) {
      failure_ = "failed to run step ID: " + s.id + ": " + status.message();
      stop_ = true;  // running containers are killed, nothing new starts
    }
    --running_;
    changed_.notify_all();
  }

  // 1 + repeat runs, each retried up to `retries` times (only on the listed
  // errors when retryOnErrors is set).
  Status Attempts(const Step& s) {
    Status last;
    for (int r = 0; r <= s.repeat; ++r) {
      for (int attempt = 0;; ++attempt) {
        std::string output;
        last = RunOnce(s, output);
        if (last.ok() || attempt >= s.retries || Canceled() || !Retryable(s, output)) break;
        Log("Step ID: " + s.id + " failed, retrying in " + std::to_string(s.retry_delay) +
            "s (attempt " + std::to_string(attempt + 2) + " of " + std::to_string(s.retries + 1) +
            ")");
        std::this_thread::sleep_for(std::chrono::seconds(s.retry_delay));
      }
      if (!last.ok()) return last;
    }
    return last;
  }

  static bool Retryable(const Step& s, const std::string& output) {
    if (s.retry_on_errors.empty()) return true;
    for (const auto& e : s.retry_on_errors) {
      if (output.find(e) != std::string::npos) return true;
    }
    return false;
  }

  std::string WorkingDir(const Step& s) const {
    return s.working_directory.empty() ? task_.working_directory : s.working_directory;
  }

  Status RunOnce(const Step& s, std::string& output) {
    if (s.kind == Step::Kind::kBuild) return BuildStep(s);
    if (s.kind == Step::Kind::kPush) return PushStep(s);
    if (s.cmd_args.empty()) return Invalid("the cmd is empty");
    auto image = ImageFor(s.cmd_args[0]);
    if (!image.ok()) return image.status();
    int attempt;
    {
      std::lock_guard lock(mu_);  // steps run on threads of their own
      attempt = ++attempts_[s.id];
    }
    fs::path dir = o_.work_dir / "steps" / (s.id + "-" + std::to_string(attempt));
    std::error_code ec;
    fs::create_directories(dir / "upper", ec);
    fs::create_directories(dir / "work", ec);
    fs::create_directories(dir / "root", ec);
    // A privileged step is host root: the user namespace is not its.
    const runtime::UserNamespace* users = s.privileged ? nullptr : o_.users.get();
    auto mount = runtime::OverlayMount::Mount(image->lowers, dir / "upper", dir / "work",
                                              dir / "root", users);
    if (!mount.ok()) return mount.status();
    DD_ASSIGN_OR_RETURN(spec, Spec(s, image->config, mount->target()));
    runtime::RunOptions ro;
    ro.state_dir = dir / "state";
    ro.timeout = std::chrono::seconds(s.timeout);
    ro.cancel = &stop_;
    ro.writable_dirs = {dir / "upper"};
    if (s.detach) {
      // A detached step outlives this call (and `output`): its callback may
      // hold only what lives as long as the run, which StopDetached ends.
      ro.output = [this](std::string_view text) { Output(text); };
      std::lock_guard lock(mu_);
      detached_.push_back({std::move(*mount), runtime::Detached::Start(spec, ro)});
      return Status::Ok();
    }
    ro.output = [this, &output](std::string_view text) {
      output.append(text);
      Output(text);
    };
    auto r = runtime::Run(spec, ro);
    if (!r.ok()) return r.status();
    if (!r->limit.empty()) return Status(Code::kTooLarge, "the step reached " + r->limit);
    if (r->timed_out)
      return Status(Code::kUnavailable,
                    "timed out after " + std::to_string(s.timeout) + " seconds");
    if (r->canceled) return Status(Code::kUnavailable, "stopped: another step failed");
    if (r->exit_code != 0)
      return Invalid("the container exited with status " + std::to_string(r->exit_code));
    return Status::Ok();
  }

  // An image built earlier in this run (no push needed), else from its registry.
  Result<builder::ImageRoot> ImageFor(const std::string& name) {
    auto log = [this](std::string_view l) { Log(std::string(l)); };
    std::optional<builder::BuildResult> local;
    {
      std::lock_guard lock(mu_);
      if (auto it = local_.find(Normalized(name)); it != local_.end()) local = it->second;
    }
    if (local) return builder::LocalImageRoot(*local, o_.build_state, log);
    auto ref = oci::ParseImageReference(name);
    if (!ref.ok()) return Invalid("image " + name + ": " + ref.status().message());
    if (ref->tag.empty() && !ref->digest) ref->tag = "latest";
    return builder::PullImageRoot(*ref, o_.platform, o_.build_state, o_.registry, log);
  }

  // Drydock's builder, never pushing (ACR's build steps do not): the tags
  // are kept for later cmd and push steps of the run.
  Status BuildStep(const Step& s) {
    DD_ASSIGN_OR_RETURN(args, ParseBuildArgs(s.build_args));
    const fs::path& workspace = workspace_;
    builder::BuildOptions b;
    DD_ASSIGN_OR_RETURN(context, Inside(workspace, args.context, "the build context"));
    b.context_dir = context;
    if (!args.file.empty()) {
      DD_ASSIGN_OR_RETURN(file, Inside(workspace, args.file, "the Dockerfile"));
      b.dockerfile = file;
    }
    b.build_args = args.args;
    b.target = args.target;
    b.platform = args.platform.empty() ? o_.platform : args.platform;
    for (const auto& t : args.tags) {
      auto ref = oci::ParseImageReference(t);
      if (!ref.ok()) return Invalid("build: tag " + t + ": " + ref.status().message());
      if (ref->tag.empty()) ref->tag = "latest";
      b.tags.push_back(*ref);
    }
    b.no_cache = args.no_cache || s.cache == "disabled";
    if (PushedLater(b.tags)) b.attest = o_.attest;
    {
      std::lock_guard lock(mu_);
      b.local_images = local_;  // FROM an image an earlier step built, as ACR's docker has it
    }
    b.state_dir = o_.build_state;
    b.registry = o_.registry;
    b.run_timeout = std::chrono::seconds(s.timeout);
    // A build step is sandboxed as a quick build is.
    b.limits = o_.limits;
    b.users = o_.users;
    b.allow_host_network = o_.allow_privileged;
    b.allow_private_fetches = o_.allow_private_fetches;
    b.check_base = o_.check_base;
    b.cancel = &stop_;
    b.log = [this](std::string_view text) { Output(text); };
    DD_ASSIGN_OR_RETURN(built, builder::Build(b));
    auto deps = nlohmann::json::parse(builder::DependenciesJson(built, o_.commit));
    WithoutLocalBases(deps, b.local_images);
    std::lock_guard lock(mu_);
    for (const auto& t : b.tags) local_[t.String()] = built;
    dependencies_[s.id] = std::move(deps);
    return Status::Ok();
  }

  // Whether a push step of the task sends one of `tags`: only such images
  // get attestations.
  bool PushedLater(const std::vector<oci::ImageReference>& tags) const {
    for (const auto& s : task_.steps)
      for (const auto& name : s.push)
        for (const auto& t : tags)
          if (Normalized(name) == t.String()) return true;
    return false;
  }

  // A base built earlier in this run is not a base image of the task: the
  // step that built it recorded the bases it came from.
  static void WithoutLocalBases(nlohmann::json& deps,
                                const std::map<std::string, builder::BuildResult>& local) {
    auto is_local = [&local](const nlohmann::json& d) {
      oci::ImageReference ref{d.value("registry", ""), d.value("repository", ""),
                              d.value("tag", ""), std::nullopt};
      return local.count(ref.String()) > 0;
    };
    for (auto& entry : deps) {
      if (entry.contains("runtime-dependency") && is_local(entry["runtime-dependency"]))
        entry.erase("runtime-dependency");
      auto& buildtime = entry["buildtime-dependency"];
      if (!buildtime.is_array()) continue;
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& d : buildtime) {
        if (!is_local(d)) kept.push_back(d);
      }
      buildtime = std::move(kept);
    }
  }

  // Images built in this run, pushed with up to 3 attempts (250 ms backoff, doubling).
  Status PushStep(const Step& s) {
    for (const auto& name : s.push) {
      std::optional<builder::BuildResult> built;
      {
        std::lock_guard lock(mu_);
        if (auto it = local_.find(Normalized(name)); it != local_.end()) built = it->second;
      }
      if (!built)
        return NotFound("push: " + name + " was not built by an earlier step of this run");
      auto ref = oci::ParseImageReference(Normalized(name));
      if (!ref.ok()) return ref.status();
      Status pushed;
      for (int attempt = 0; attempt < 3; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
        pushed = builder::PushBuilt(*built, *ref, o_.build_state, o_.registry);
        if (pushed.ok() || Canceled()) break;
        Log("push of " + name + " failed: " + pushed.message());
      }
      if (!pushed.ok()) return pushed;
      for (const auto& a : built->attestations)
        Log("attached " + a.kind + " " + a.artifact.digest().str() + " to " + a.subject.str());
      Log("Pushed " + ref->String() + "@" + built->manifest_digest.str());
      std::lock_guard lock(mu_);
      pushed_.push_back({ref->registry, ref->repository, ref->tag, built->manifest_digest.str()});
    }
    return Status::Ok();
  }

  Result<runtime::ContainerSpec> Spec(const Step& s, const nlohmann::json& config,
                                      const fs::path& rootfs) {
    if ((s.privileged || s.network == "host") && !o_.allow_privileged)
      return Status(Code::kDenied,
                    "privileged and host-network steps are turned off on this server "
                    "(builds.allow_privileged_steps in its configuration)");
    runtime::ContainerSpec spec;
    spec.rootfs = rootfs;
    std::vector<std::string> entry = Strings(config.value("Entrypoint", nlohmann::json()));
    if (!s.entry_point.empty()) {
      DD_ASSIGN_OR_RETURN(words, SplitShellWords(s.entry_point));
      entry = words;
    }
    std::vector<std::string> args(s.cmd_args.begin() + 1, s.cmd_args.end());
    if (args.empty() && s.entry_point.empty())
      args = Strings(config.value("Cmd", nlohmann::json()));
    spec.args = entry;
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    if (spec.args.empty()) return Invalid("the image has no command and the step gives none");
    spec.env = Strings(config.value("Env", nlohmann::json()));
    spec.env.insert(spec.env.end(), s.env.begin(), s.env.end());
    spec.cwd = s.disable_working_directory_override ? config.value("WorkingDir", std::string("/"))
                                                    : WorkingDir(s);
    DD_ASSIGN_OR_RETURN(user, builder::ResolveContainerUser(
                                  rootfs, s.user.empty() ? config.value("User", "") : s.user));
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.additional_gids = user.groups;
    spec.privileged = s.privileged;
    // `host` and `none` mean what they mean to docker; any network the task
    // declares is the run's own namespace.
    spec.network = s.network == "host"   ? runtime::Network::kHost
                   : s.network == "none" ? runtime::Network::kNone
                                         : runtime::Network::kJoin;
    spec.network_namespace = ns_->path();
    if (!s.privileged) {
      spec.users = o_.users;
      spec.user_namespace = ns_->user_path();
    }
    spec.nameservers = {runtime::kNatNameserver};
    spec.limits = o_.limits;
    spec.extra_hosts = hosts_;
    spec.hostname = s.id;
    spec.binds.push_back({workspace_, task_.working_directory, false});
    for (const auto& m : s.volume_mounts)
      spec.binds.push_back({o_.work_dir / "volumes" / m.name, m.mount_path, true});
    return spec;
  }

  void StopDetached() {
    // At the end of the run: a container that will not stop is killed with its cgroup.
    for (auto& d : detached_) (void)d.container->Stop();
    detached_.clear();
  }

  void Log(const std::string& line) {
    std::lock_guard lock(log_mu_);
    if (o_.log) o_.log(line + "\n");
  }
  void Output(std::string_view text) {
    std::lock_guard lock(log_mu_);
    if (o_.log) o_.log(text);
  }

  struct DetachedStep {
    runtime::OverlayMount mount;  // declared first: unmounted after the container is gone
    std::unique_ptr<runtime::Detached> container;
  };

  const TaskFile& task_;
  const ExecOptions& o_;
  fs::path workspace_;
  runtime::NetworkNamespace* ns_ = nullptr;
  std::vector<std::string> hosts_;
  std::mutex mu_, log_mu_;
  std::condition_variable changed_;
  std::set<std::string> started_;
  std::map<std::string, StepOutcome> outcomes_;
  std::map<std::string, int> attempts_;
  int running_ = 0;
  std::atomic<bool> stop_{false};
  std::string failure_;
  std::vector<DetachedStep> detached_;
  std::map<std::string, builder::BuildResult> local_;   // images built by this run, by name
  std::map<std::string, nlohmann::json> dependencies_;  // by build step id
  std::vector<PushedImage> pushed_;
};

Result<ExecResult> RunSteps(const TaskFile& task, const ExecOptions& options) {
  Run run(task, options);
  return run.Execute();
}

std::vector<fs::path> ContainerStateRoots(const fs::path& work_dir) {
  // steps/<id>-<attempt>/state/runc, as RunOnce lays them out; a container
  // writes only below its own upper/, so none of these can be its doing.
  std::vector<fs::path> roots;
  std::error_code ec;
  for (const auto& step : fs::directory_iterator(work_dir / "steps", ec)) {
    fs::path runc = step.path() / "state" / "runc";
    if (!step.is_symlink(ec) && !fs::is_symlink(step.path() / "state", ec) &&
        !fs::is_symlink(runc, ec) && fs::is_directory(runc, ec))
      roots.push_back(runc);
  }
  return roots;
}

}  // namespace drydock::steps
