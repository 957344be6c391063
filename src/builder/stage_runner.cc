// Build(): plans the stages, runs them, and assembles the target image.
#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <mutex>
#include <semaphore>
#include <thread>

#include "attest/referrers.h"
#include "base/random.h"
#include "builder/config.h"
#include "builder/image.h"
#include "builder/platforms.h"
#include "builder/rootfs.h"
#include "builder/stage_runner.h"
#include "rebase/rebase.h"
#include "source/source.h"

namespace drydock::builder {

namespace fs = std::filesystem;

std::string Hex(const std::string& s) { return oci::Digest::Of(s).hex(); }

namespace {
bool DirEmpty(const fs::path& p) {
  std::error_code ec;
  return fs::is_empty(p, ec);
}
}  // namespace

Result<std::unique_ptr<StageMount>> StageMount::Create(LayerStore& store,
                                                       const std::vector<LayerRef>& layers,
                                                       const runtime::UserNamespace* users) {
  auto m = std::unique_ptr<StageMount>(new StageMount(store.scratch()));
  std::error_code ec;
  // The container's root (host id users->mapping().host_id) passes through.
  if (users) fs::permissions(m->dir_.path(), fs::perms::others_exec, fs::perm_options::add, ec);
  if (ec) return Internal("chmod " + m->dir_.path().string() + ": " + ec.message());
  std::vector<fs::path> lowers;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it)
    lowers.push_back(store.SnapshotPath(it->chain));
  auto mount = runtime::OverlayMount::Mount(lowers, m->upper(), m->dir_.path() / "work",
                                            m->dir_.path() / "root", users);
  if (!mount.ok()) return mount.status();
  m->mount_.emplace(std::move(*mount));
  return m;
}

StageRunner::StageRunner(const BuildOptions& o)
    : o_(o),
      client_(o.registry),
      store_(o.state_dir),
      cache_(store_, o.state_dir / "cache", o.compression, client_,
             [this](std::string_view s) { Log(std::string(s)); }) {
  if (!o_.no_cache) cache_.Import(o_.cache_from);
}

std::string StageRunner::Now() const {
  std::time_t t = o_.source_date_epoch ? *o_.source_date_epoch : std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<BuildResult> StageRunner::Run() {
  fs::path dockerfile = o_.dockerfile.empty() ? o_.context_dir / "Dockerfile" : o_.dockerfile;
  std::ifstream f(dockerfile);
  if (!f) return Invalid("cannot read Dockerfile " + dockerfile.string());
  std::string text((std::istreambuf_iterator<char>(f)), {});
  dockerfile_digest_ = oci::Digest::Of(text).str();
  started_ = Now();
  auto df = ParseDockerfile(text);
  if (!df.ok()) return Invalid(dockerfile.filename().string() + ": " + df.status().message());
  df_ = std::move(*df);
  auto plan = PlanStages(df_, o_.build_args, o_.target, o_.platform);
  if (!plan.ok()) return plan.status();
  plan_ = std::move(*plan);
  DD_RETURN_IF_ERROR(CheckStagesCanRun());
  auto ignore = LoadIgnore(o_.context_dir, dockerfile);
  if (!ignore.ok()) return ignore.status();
  ignore_ = std::move(*ignore);
  states_.resize(plan_.stages.size());
  stage_deps_.resize(plan_.stages.size());
  DD_RETURN_IF_ERROR(RunStages());
  for (size_t i : plan_.order) {
    for (auto& d : stage_deps_[i]) deps_.buildtime.push_back(std::move(d));
  }
  return Finish(*states_[plan_.target]);
}

// Before anything is pulled: each stage that RUNs, for its platform (its
// FROM --platform, or its parent stage's, or the build's), can run here.
Status StageRunner::CheckStagesCanRun() const {
  for (size_t i : plan_.order) {
    const Stage* s = &plan_.stages[i];
    auto run = std::find_if(s->body.begin(), s->body.end(),
                            [](const Instruction* ins) { return ins->keyword == "RUN"; });
    if (run == s->body.end()) continue;
    while (s->platform.empty() && s->base_stage >= 0)
      s = &plan_.stages[static_cast<size_t>(s->base_stage)];
    auto platform = oci::ParsePlatform(s->platform.empty() ? o_.platform : s->platform);
    if (!platform.ok()) return LineError(*s->from, platform.status().message());
    if (Status can = CheckCanRun(*platform); !can.ok()) return LineError(**run, can.message());
  }
  return Status::Ok();
}

// Independent stages build at the same time: each stage gets a thread that
// starts once every stage it reads (FROM <stage>, COPY --from=<stage>) is done,
// and at most `parallel` of them build at once. The first failure stops the
// rest (their RUN containers are killed through stop_) and is what Build()
// reports.
Status StageRunner::RunStages() {
  const size_t parallel = std::max(2u, std::thread::hardware_concurrency());
  std::counting_semaphore<> slots(static_cast<std::ptrdiff_t>(parallel));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> done(plan_.stages.size(), false);
  size_t finished = 0;
  Status first_error = Status::Ok();
  auto ready = [&](size_t i) {
    for (int n : plan_.stages[i].needs) {
      if (!done[static_cast<size_t>(n)]) return false;
    }
    return true;
  };
  auto build = [&](size_t i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stop_.load() || ready(i); });
    }
    Status s = stop_.load() ? Status(Code::kUnavailable, "build canceled") : Status::Ok();
    if (s.ok()) {
      slots.acquire();
      s = stop_.load() ? Status(Code::kUnavailable, "build canceled") : RunStage(i);
      slots.release();
    }
    std::lock_guard lock(mu);
    if (!s.ok() && first_error.ok() && !stop_.load()) first_error = s;
    if (!s.ok()) stop_ = true;
    done[i] = s.ok();
    ++finished;
    cv.notify_all();
  };
  std::vector<std::jthread> threads;
  for (size_t i : plan_.order) threads.emplace_back(build, i);
  std::unique_lock lock(mu);
  while (finished < plan_.order.size()) {
    // An outside cancel reaches running containers through stop_.
    if (o_.cancel && o_.cancel->load() && !stop_.load()) {
      stop_ = true;
      first_error = Status(Code::kUnavailable, "build canceled");
      cv.notify_all();
    }
    cv.wait_for(lock, std::chrono::milliseconds(100));
  }
  return first_error;
}

const StageState* StageRunner::Built(size_t stage) {
  std::lock_guard lock(states_mu_);
  return states_[stage] ? &*states_[stage] : nullptr;
}

void StageRunner::Log(const std::string& s) {
  std::lock_guard lock(log_mu_);
  if (o_.log) o_.log(s);
}

Env StageRunner::ExpandEnv(const StageState& st) const {
  Env env = st.args;
  for (auto& kv : ConfigEnv(st.config)) env.push_back(kv);
  return env;
}

Status StageRunner::LineError(const Instruction& ins, const std::string& what) const {
  return Invalid("line " + std::to_string(ins.line) + ": " + ins.keyword + ": " + what);
}

Result<StageState> StageRunner::FromImage(const std::string& name, const std::string& platform) {
  auto ref = oci::ParseImageReference(name);
  if (!ref.ok()) return ref.status();
  oci::ImageReference named = *ref;
  if (named.tag.empty() && !named.digest) named.tag = "latest";
  auto local = o_.local_images.find(named.String());
  auto base =
      local != o_.local_images.end()
          ? BuiltBase(local->second, store_, named, platform.empty() ? o_.platform : platform)
          : PullBase(client_, store_, *ref, platform.empty() ? o_.platform : platform, o_.log);
  if (!base.ok()) return base.status();
  if (o_.check_base && local == o_.local_images.end())
    DD_RETURN_IF_ERROR(o_.check_base(base->ref, base->dependency.digest, base->manifest_digest));
  StageState st;
  st.config = std::move(base->config);
  st.layers = std::move(base->layers);
  st.root_base = base->dependency;
  st.base_ref = base->ref;
  st.base_manifest = base->manifest_digest;
  st.base_layers = st.layers.size();
  st.cache_key = "from " + base->dependency.digest;
  st.last_created = st.config.value("created", st.last_created);
  return st;
}

Status StageRunner::RunStage(size_t index) {
  const Stage& s = plan_.stages[index];
  Log("[stage " + std::to_string(index) + (s.name.empty() ? "" : " " + s.name) + "] FROM " +
      s.base + "\n");
  StageState st;
  if (s.base_stage >= 0) {
    // A child stage inherits the parent's ARGs (BuildKit keeps them in the
    // state's env; docs.docker.com/build/building/variables/#scoping).
    st = *Built(static_cast<size_t>(s.base_stage));
    st.cmd_set = false;
  } else if (s.base == "scratch") {
    st.config = ScratchConfig(o_.platform);
    st.cache_key = "scratch " + o_.platform;
  } else {
    auto base = FromImage(s.base, s.platform);
    if (!base.ok())
      return Invalid("line " + std::to_string(s.from->line) + ": FROM " + s.base + ": " +
                     base.status().message());
    st = std::move(*base);
    if (index != plan_.target) stage_deps_[index].push_back(*st.root_base);
  }
  st.stage = index;
  st.config["history"] = st.config.value("history", json::array());
  DD_RETURN_IF_ERROR(RunOnBuildTriggers(st, index));
  for (const Instruction* ins : s.body) {
    Log("[stage " + std::to_string(index) + "] " + ins->keyword + " " +
        source::RedactText(ins->raw_args.substr(0, 200)) + "\n");
    DD_RETURN_IF_ERROR(Dispatch(st, *ins, index));
  }
  std::lock_guard lock(states_mu_);
  states_[index] = std::move(st);
  return Status::Ok();
}

// The base image's ONBUILD triggers run first, then are not inherited.
Status StageRunner::RunOnBuildTriggers(StageState& st, size_t stage) {
  json triggers = st.config["config"].value("OnBuild", json::array());
  if (!triggers.is_array() || triggers.empty()) return Status::Ok();
  st.config["config"]["OnBuild"] = nullptr;
  // The parser wants a FROM first; the triggers follow it, one per line
  // (plus their heredoc bodies), so "line N" counts from the first trigger.
  std::string text = "FROM scratch\n";
  for (const auto& t : triggers) {
    if (!t.is_string()) return Invalid("ONBUILD trigger from the base image is not a string");
    text += t.get<std::string>() + "\n";
  }
  auto parsed = ParseDockerfile(text);
  if (!parsed.ok())
    return Invalid("ONBUILD trigger from the base image: " + parsed.status().message());
  auto& instructions = parsed->instructions;
  instructions.erase(instructions.begin());
  for (auto& ins : instructions) {
    if (ins.keyword == "FROM" || ins.keyword == "ONBUILD" || ins.keyword == "MAINTAINER") {
      return Invalid("ONBUILD trigger from the base image: " + ins.keyword +
                     " isn't allowed as an ONBUILD trigger");
    }
    --ins.line;
  }
  const Dockerfile* kept;
  {
    std::lock_guard lock(states_mu_);
    kept = &onbuild_.emplace_back(std::move(*parsed));
  }
  for (const auto& ins : kept->instructions) {
    Log("[stage " + std::to_string(stage) + "] ONBUILD " + ins.keyword + " " +
        source::RedactText(ins.raw_args.substr(0, 200)) + "\n");
    DD_RETURN_IF_ERROR(Dispatch(st, ins, stage));
  }
  return Status::Ok();
}

Status StageRunner::Dispatch(StageState& st, const Instruction& ins, size_t stage) {
  Env env = ExpandEnv(st);
  if (ins.keyword == "ARG") return DeclareArgs(st, ins, env);
  if (ins.keyword == "RUN") {
    ++st.run_steps;
    return RunStep(st, ins);
  }
  if (ins.keyword == "COPY" || ins.keyword == "ADD") return CopyStep(st, ins, env, stage);
  if (ins.keyword == "WORKDIR") return Workdir(st, ins, env);
  ConfigContext ctx{df_.escape, env, &st.cmd_set};
  auto applied = ApplyConfigInstruction(st.config, ins, ctx);
  if (!applied.ok()) return LineError(ins, applied.status().message());
  if (!*applied) return LineError(ins, "is not supported here");
  st.cache_key = Hex(st.cache_key + "\n" + ins.keyword + " " + ins.raw_args);
  AddHistory(st, ins, true);
  return Status::Ok();
}

void StageRunner::AddHistory(StageState& st, const Instruction& ins, bool empty) {
  json h = {{"created", st.last_created},
            {"created_by", CreatedBy(ins, st.config)},
            {"comment", "drydock"}};
  if (empty) h["empty_layer"] = true;
  st.config["history"].push_back(h);
}

Status StageRunner::DeclareArgs(StageState& st, const Instruction& ins, const Env& env) {
  auto decls = ParseArgDecls(ins, env, df_.escape);
  if (!decls.ok()) return LineError(ins, decls.status().message());
  for (const auto& d : *decls) {
    std::optional<std::string> value = d.default_value;
    if (auto it = o_.build_args.find(d.name); it != o_.build_args.end()) {
      value = it->second;
    } else if (!value) {
      for (const auto& [k, v] : plan_.meta_args) {
        if (k == d.name) value = v;  // ARG without a default inherits the global one
      }
    }
    st.args.emplace_back(d.name, value.value_or(""));
    st.cache_key = Hex(st.cache_key + "\nARG " + d.name + "=" + value.value_or(""));
  }
  return Status::Ok();
}

// Turns a finished mount's upper dir into the stage's next layer.
Status StageRunner::Commit(StageState& st, StageMount& m, const Instruction& ins,
                           const std::string& key) {
  m.Unmount();
  if (DirEmpty(m.upper())) {
    cache_.Remember(st.layers, key, std::nullopt, "");
    AddHistory(st, ins, true);
    return Status::Ok();
  }
  fs::path out = store_.scratch() / ("layer-" + RandomHex(8));
  auto blob =
      layer::WriteLayer(m.upper(), out, layer::WriteOptions{o_.compression, o_.source_date_epoch});
  if (!blob.ok()) return blob.status();
  LayerRef l{blob->digest, static_cast<int64_t>(blob->size), blob->media_type, blob->diff_id,
             ChainId(st.layers, blob->diff_id)};
  DD_RETURN_IF_ERROR(store_.Adopt(*blob, l.chain, m.upper()));
  st.last_created = Now();
  cache_.Remember(st.layers, key, l, st.last_created);
  Append(st, ins, l);
  return Status::Ok();
}

void StageRunner::Append(StageState& st, const Instruction& ins, const LayerRef& l) {
  st.layers.push_back(l);
  st.config["rootfs"]["type"] = "layers";
  st.config["rootfs"]["diff_ids"].push_back(l.diff_id.str());
  AddHistory(st, ins, false);
}

// Applies a cache hit; returns true when there was one.
bool StageRunner::UseCache(StageState& st, const Instruction& ins, const std::string& key) {
  if (o_.no_cache) return false;
  auto hit = cache_.Lookup(st.layers, key);
  if (!hit) return false;
  Log("[stage " + std::to_string(st.stage) + "] CACHED\n");
  if (hit->empty) {
    AddHistory(st, ins, true);
  } else {
    if (!hit->created.empty()) st.last_created = hit->created;
    Append(st, ins, hit->layer);
  }
  return true;
}

Status StageRunner::Workdir(StageState& st, const Instruction& ins, const Env& env) {
  auto dir = ExpandWord(ins.raw_args, env, df_.escape);
  if (!dir.ok()) return LineError(ins, dir.status().message());
  std::string path = *dir;
  std::string current = st.config["config"].value("WorkingDir", "");
  if (path.empty() || path[0] != '/') path = (current.empty() ? "/" : current + "/") + path;
  path = fs::path(path).lexically_normal().string();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  st.config["config"]["WorkingDir"] = path;
  std::string key = Hex(st.cache_key + "\nWORKDIR " + path + st.config["config"].value("User", ""));
  st.cache_key = key;
  if (UseCache(st, ins, key)) return Status::Ok();
  // Docker creates the directory (owned by USER) even if nothing uses it.
  auto m = StageMount::Create(store_, st.layers);
  if (!m.ok()) return m.status();
  auto user = ResolveUser((*m)->root(), st.config["config"].value("User", ""), UserRule::kOwner);
  if (!user.ok()) return LineError(ins, user.status().message());
  DD_RETURN_IF_ERROR(MkdirAllInRoot((*m)->root(), path, user->uid, user->gid));
  return Commit(st, **m, ins, key);
}

namespace {

// Where the image's base layers came from, for rebase (rebase/rebase.h).
// None for an image FROM scratch: it has no base to move.
std::map<std::string, std::string> RebaseAnnotations(const StageState& st, const Stage& root) {
  if (root.base == "scratch" || !st.base_ref || st.base_manifest.empty()) return {};
  return {{rebase::kBaseName, st.base_ref->String()},
          {rebase::kBaseDigest, st.base_manifest},
          {rebase::kBaseLayers, std::to_string(st.base_layers)},
          {rebase::kRunSteps, std::to_string(st.run_steps)}};
}

}  // namespace

Result<BuildResult> StageRunner::Finish(StageState& st) {
  const Stage& target = plan_.stages[plan_.target];
  // The runtime dependency is the target stage's root base, following FROM <stage> chains.
  const Stage* s = &target;
  while (s->base_stage >= 0) s = &plan_.stages[static_cast<size_t>(s->base_stage)];
  if (st.root_base && s->base != "scratch") deps_.runtime = st.root_base;
  st.config["created"] = o_.source_date_epoch ? Now() : st.last_created;
  auto image =
      AssembleImage(st.config, st.layers, o_.docker_media_types, RebaseAnnotations(st, *s));
  if (!image.ok()) return image.status();
  BuildResult result;
  result.manifest = image->manifest;
  result.media_type = image->media_type;
  result.manifest_digest = oci::Digest::Of(image->manifest);
  result.config_digest = oci::Digest::Of(image->config);
  result.config = image->config;
  for (auto tag : o_.tags) {
    tag.digest = result.manifest_digest;
    deps_.images.push_back(tag);
  }
  result.dependencies = deps_;
  if (o_.attest.sbom || o_.attest.provenance || o_.attest.signer) {
    auto made = Attest(st, image->manifest, image->media_type);
    if (!made.ok()) return Status(made.status().code(), "attestations: " + made.status().message());
    result.attestations = std::move(*made);
  }
  if (o_.push) {
    // Attestations, then the image by digest, then tags: a tag names an
    // image only once everything that describes it is there, and a
    // registry refusing unsigned images sees the signature before the image.
    for (const auto& tag : o_.tags) {
      oci::ImageReference by_digest = tag;
      by_digest.tag.clear();
      by_digest.digest = result.manifest_digest;
      for (const auto& a : result.attestations)
        DD_RETURN_IF_ERROR(attest::PushArtifact(client_, by_digest, a.artifact));
      DD_RETURN_IF_ERROR(PushImage(client_, store_, *image, by_digest, st.base_ref));
    }
    for (const auto& a : result.attestations)
      Log("attached " + a.kind + " " + a.artifact.digest().str() + " to " + a.subject.str() + "\n");
    for (const auto& tag : o_.tags) {
      Log("pushing " + tag.String() + "\n");
      DD_RETURN_IF_ERROR(client_.PushManifest(tag, image->manifest, image->media_type).status());
    }
  }
  if (!o_.output.empty()) DD_RETURN_IF_ERROR(WriteOutput(store_, *image, o_.output, o_.tags));
  if (o_.cache_to) {
    // The image's layers were just pushed: mount rather than upload them again.
    std::string mount_from;
    if (o_.push && !o_.tags.empty() && o_.tags[0].registry == o_.cache_to->registry)
      mount_from = o_.tags[0].repository;
    Status s = cache_.Export(*o_.cache_to, mount_from);
    if (!s.ok())
      return Status(s.code(), "--cache-to " + o_.cache_to->String() + ": " + s.message());
  }
  Log("built " + result.manifest_digest.str() + "\n");
  return result;
}

Result<BuildResult> Build(const BuildOptions& options) {
  if (options.state_dir.empty()) return Invalid("build state directory is not set");
  std::error_code ec;
  if (!fs::is_directory(options.context_dir, ec)) {
    return Invalid("build context " + options.context_dir.string() + " is not a directory");
  }
  if (options.docker_media_types && options.compression == layer::Compression::kZstd) {
    return Invalid(
        "--docker-format cannot be used with --compression zstd: Docker schema 2 has no zstd "
        "layer media type (use the OCI format, or gzip)");
  }
  DD_ASSIGN_OR_RETURN(platforms, oci::ParsePlatforms(options.platform));
  if (platforms.size() > 1) return BuildIndex(options, platforms);
  BuildOptions one = options;
  one.platform = platforms.front().String();  // normalised: linux/aarch64 is linux/arm64
  auto lock = LockState(options.state_dir, options.log);
  if (!lock.ok()) return lock.status();
  // The StageRunner (and every mount it holds) is gone before the prune.
  Result<BuildResult> result = StageRunner(one).Run();
  PruneCache(options.state_dir, options.cache_max_bytes, std::move(*lock), options.log);
  return result;
}

}  // namespace drydock::builder
