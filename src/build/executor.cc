// Build(): runs the stages the target needs, instruction by instruction.
// RUN executes under runc on an overlay of the stage's snapshots; COPY,
// ADD and WORKDIR write into the same kind of overlay; the upper dir
// becomes the layer (and, unchanged, the next snapshot). Each layer-making
// step is looked up in the cache first.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include "base/fd.h"
#include "base/random.h"
#include "build/builder.h"
#include "build/config.h"
#include "build/context.h"
#include "build/image.h"
#include "build/rootfs.h"
#include "build/stages.h"
#include "build/store.h"
#include "runtime/runtime.h"

namespace drydock::build {
namespace {

namespace fs = std::filesystem;

struct StageState {
  json config;
  std::vector<LayerRef> layers;
  Env args;               // ARG values declared in this stage
  std::string cache_key;  // running key: base + every instruction so far
  bool cmd_set = false;
  // Time of the newest layer: config-only steps and the image reuse it, so a
  // fully cached rebuild reproduces the same digest, as BuildKit's does.
  std::string last_created = "1970-01-01T00:00:00Z";
  std::optional<ImageDependency> root_base;
  std::optional<oci::ImageReference> base_ref;  // for cross-repository mounts on push
};

std::string Hex(const std::string& s) { return oci::Digest::Of(s).hex(); }

std::string Now(const BuildOptions& o) {
  std::time_t t = o.source_date_epoch ? *o.source_date_epoch : std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool DirEmpty(const fs::path& p) {
  std::error_code ec;
  return fs::is_empty(p, ec);
}

// A scratch overlay over a stage: unmounted and removed when it goes away.
class StageMount {
 public:
  static Result<std::unique_ptr<StageMount>> Create(LayerStore& store,
                                                    const std::vector<LayerRef>& layers) {
    auto m = std::unique_ptr<StageMount>(new StageMount(store.scratch()));
    std::vector<fs::path> lowers;
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
      lowers.push_back(store.SnapshotPath(it->chain));
    auto mount = runtime::OverlayMount::Mount(lowers, m->upper(), m->dir_.path() / "work",
                                              m->dir_.path() / "root");
    if (!mount.ok()) return mount.status();
    m->mount_.emplace(std::move(*mount));
    return m;
  }
  fs::path root() const { return dir_.path() / "root"; }
  fs::path upper() const { return dir_.path() / "upper"; }
  void Unmount() { mount_.reset(); }

 private:
  explicit StageMount(const fs::path& scratch) : dir_(scratch, "mount") {}
  TempDir dir_;
  std::optional<runtime::OverlayMount> mount_;
};

class Executor {
 public:
  explicit Executor(const BuildOptions& o)
      : o_(o), store_(o.state_dir), client_(o.registry), cache_dir_(o.state_dir / "cache") {
    std::error_code ec;
    fs::create_directories(cache_dir_, ec);
  }

  Result<BuildResult> Run() {
    fs::path dockerfile = o_.dockerfile.empty() ? o_.context_dir / "Dockerfile" : o_.dockerfile;
    std::ifstream f(dockerfile);
    if (!f) return Invalid("cannot read Dockerfile " + dockerfile.string());
    std::string text((std::istreambuf_iterator<char>(f)), {});
    auto df = ParseDockerfile(text);
    if (!df.ok()) return Invalid(dockerfile.filename().string() + ": " + df.status().message());
    df_ = std::move(*df);
    auto plan = PlanStages(df_, o_.build_args, o_.target, o_.platform);
    if (!plan.ok()) return plan.status();
    plan_ = std::move(*plan);
    auto ignore = LoadIgnore(o_.context_dir, dockerfile);
    if (!ignore.ok()) return ignore.status();
    ignore_ = std::move(*ignore);
    states_.resize(plan_.stages.size());
    for (size_t i : plan_.order) DD_RETURN_IF_ERROR(RunStage(i));
    return Finish(*states_[plan_.target]);
  }

 private:
  void Log(const std::string& s) {
    if (o_.log) o_.log(s);
  }

  Env ExpandEnv(const StageState& st) const {
    Env env = st.args;
    for (auto& kv : ConfigEnv(st.config)) env.push_back(kv);
    return env;
  }

  Status LineError(const Instruction& ins, const std::string& what) const {
    return Invalid("line " + std::to_string(ins.line) + ": " + ins.keyword + ": " + what);
  }

  Result<StageState> FromImage(const std::string& name, const std::string& platform) {
    auto ref = oci::ParseImageReference(name);
    if (!ref.ok()) return ref.status();
    auto base = PullBase(client_, store_, *ref, platform.empty() ? o_.platform : platform, o_.log);
    if (!base.ok()) return base.status();
    StageState st;
    st.config = std::move(base->config);
    st.layers = std::move(base->layers);
    st.root_base = base->dependency;
    st.base_ref = base->ref;
    st.cache_key = "from " + base->dependency.digest;
    st.last_created = st.config.value("created", st.last_created);
    return st;
  }

  Status RunStage(size_t index) {
    const Stage& s = plan_.stages[index];
    Log("[stage " + std::to_string(index) + (s.name.empty() ? "" : " " + s.name) + "] FROM " +
        s.base + "\n");
    StageState st;
    if (s.base_stage >= 0) {
      // A child stage inherits the parent's ARGs (BuildKit keeps them in the
      // state's env; docs.docker.com/build/building/variables/#scoping).
      st = *states_[static_cast<size_t>(s.base_stage)];
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
      if (index != plan_.target) deps_.buildtime.push_back(*st.root_base);
    }
    st.config["history"] = st.config.value("history", json::array());
    DD_RETURN_IF_ERROR(RunOnBuildTriggers(st, index));
    for (const Instruction* ins : s.body) {
      Log("[stage " + std::to_string(index) + "] " + ins->keyword + " " +
          ins->raw_args.substr(0, 200) + "\n");
      DD_RETURN_IF_ERROR(Dispatch(st, *ins, index));
    }
    states_[index] = std::move(st);
    return Status::Ok();
  }

  // The base image's ONBUILD triggers run first, then are not inherited.
  Status RunOnBuildTriggers(StageState& st, size_t stage) {
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
    onbuild_.push_back(std::move(*parsed));
    for (const auto& ins : onbuild_.back().instructions) {
      Log("[stage " + std::to_string(stage) + "] ONBUILD " + ins.keyword + " " +
          ins.raw_args.substr(0, 200) + "\n");
      DD_RETURN_IF_ERROR(Dispatch(st, ins, stage));
    }
    return Status::Ok();
  }

  Status Dispatch(StageState& st, const Instruction& ins, size_t stage) {
    Env env = ExpandEnv(st);
    if (ins.keyword == "ARG") return DeclareArgs(st, ins, env);
    if (ins.keyword == "RUN") return RunStep(st, ins);
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

  void AddHistory(StageState& st, const Instruction& ins, bool empty) {
    json h = {{"created", st.last_created},
              {"created_by", CreatedBy(ins, st.config)},
              {"comment", "drydock"}};
    if (empty) h["empty_layer"] = true;
    st.config["history"].push_back(h);
  }

  Status DeclareArgs(StageState& st, const Instruction& ins, const Env& env) {
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

  // --- cache -------------------------------------------------------------

  struct CachedLayer {
    bool empty = false;
    LayerRef layer;
    std::string created;
  };

  std::optional<CachedLayer> Lookup(const StageState& st, const std::string& key) {
    if (o_.no_cache) return std::nullopt;
    std::ifstream f(cache_dir_ / key);
    json j = json::parse(f, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    if (j.value("empty", false)) return CachedLayer{true, {}, ""};
    auto digest = oci::Digest::Parse(j.value("digest", ""));
    auto diff = oci::Digest::Parse(j.value("diff_id", ""));
    if (!digest.ok() || !diff.ok()) return std::nullopt;
    LayerRef l{*digest, j.value("size", int64_t{0}), j.value("media_type", ""), *diff,
               ChainId(st.layers, *diff)};
    if (!store_.HasBlob(l.digest) || !store_.HasSnapshot(l.chain)) return std::nullopt;
    return CachedLayer{false, l, j.value("created", "")};
  }

  void Remember(const std::string& key, const std::optional<LayerRef>& layer,
                const std::string& created) {
    json j = layer ? json{{"digest", layer->digest.str()},
                          {"diff_id", layer->diff_id.str()},
                          {"size", layer->size},
                          {"media_type", layer->media_type},
                          {"created", created}}
                   : json{{"empty", true}};
    fs::path tmp = cache_dir_ / (key + ".tmp" + RandomHex(4));
    std::ofstream(tmp) << j.dump();
    std::error_code ec;
    fs::rename(tmp, cache_dir_ / key, ec);
  }

  // Turns a finished mount's upper dir into the stage's next layer.
  Status Commit(StageState& st, StageMount& m, const Instruction& ins, const std::string& key) {
    m.Unmount();
    if (DirEmpty(m.upper())) {
      Remember(key, std::nullopt, "");
      AddHistory(st, ins, true);
      return Status::Ok();
    }
    fs::path out = store_.scratch() / ("layer-" + RandomHex(8));
    auto blob = layer::WriteLayer(
        m.upper(), out, layer::WriteOptions{layer::Compression::kGzip, o_.source_date_epoch});
    if (!blob.ok()) return blob.status();
    LayerRef l{blob->digest, static_cast<int64_t>(blob->size), blob->media_type, blob->diff_id,
               ChainId(st.layers, blob->diff_id)};
    DD_RETURN_IF_ERROR(store_.Adopt(*blob, l.chain, m.upper()));
    st.last_created = Now(o_);
    Remember(key, l, st.last_created);
    Append(st, ins, l);
    return Status::Ok();
  }

  void Append(StageState& st, const Instruction& ins, const LayerRef& l) {
    st.layers.push_back(l);
    st.config["rootfs"]["type"] = "layers";
    st.config["rootfs"]["diff_ids"].push_back(l.diff_id.str());
    AddHistory(st, ins, false);
  }

  // Applies a cache hit; returns true when there was one.
  bool UseCache(StageState& st, const Instruction& ins, const std::string& key) {
    auto hit = Lookup(st, key);
    if (!hit) return false;
    Log("  CACHED\n");
    if (hit->empty) {
      AddHistory(st, ins, true);
    } else {
      if (!hit->created.empty()) st.last_created = hit->created;
      Append(st, ins, hit->layer);
    }
    return true;
  }

  // --- RUN ---------------------------------------------------------------

  Status RunStep(StageState& st, const Instruction& ins) {
    std::vector<std::string> args;
    std::vector<runtime::BindMount> binds;
    TempDir scratch(store_.scratch(), "run");
    if (ins.json_form) {
      args = ins.args;
    } else {
      auto script = HeredocScript(ins, scratch.path(), binds);
      if (!script.ok()) return script.status();
      args = ShellOf(st.config);
      args.push_back(std::move(*script));
    }
    std::string network = FlagValue(ins, "network").value_or("");
    if (!network.empty() && network != "none" && network != "host" && network != "default") {
      return LineError(ins, "--network must be default, none or host, not " + network);
    }
    DD_RETURN_IF_ERROR(MountFlags(ins, binds));
    // Build args reach RUN as environment variables (and so the cache key), never the image.
    std::vector<std::string> run_env;
    std::set<std::string> in_config;
    for (const auto& [k, v] : ConfigEnv(st.config)) {
      run_env.push_back(k + "=" + v);
      in_config.insert(k);
    }
    for (const auto& [k, v] : st.args) {
      if (!in_config.count(k)) run_env.push_back(k + "=" + v);
    }
    // A #! heredoc runs from a file: its body is not in args.
    std::string bodies;
    for (const auto& h : ins.heredocs) bodies += h.name + "\n" + h.content;
    std::string key = Hex(st.cache_key + "\nRUN " + json(args).dump() + json(run_env).dump() +
                          network + st.config["config"].value("User", "") +
                          st.config["config"].value("WorkingDir", "") + bodies);
    st.cache_key = key;
    if (UseCache(st, ins, key)) return Status::Ok();

    auto m = StageMount::Create(store_, st.layers);
    if (!m.ok()) return m.status();
    std::string cwd = st.config["config"].value("WorkingDir", "");
    if (cwd.empty()) cwd = "/";
    auto user =
        ResolveUser((*m)->root(), st.config["config"].value("User", ""), UserRule::kProcess);
    if (!user.ok()) return LineError(ins, user.status().message());
    DD_RETURN_IF_ERROR(MkdirAllInRoot((*m)->root(), cwd, 0, 0));
    // runc creates mount points (/proc, /etc/hosts, bind targets) in the
    // upper dir; those it had to create are not part of the image.
    std::vector<std::string> created_mount_points;
    for (std::string p : {"/dev", "/proc", "/sys", "/etc/hosts", "/etc/resolv.conf"}) {
      if (!ExistsInRoot((*m)->root(), p)) created_mount_points.push_back(p);
    }
    for (const auto& b : binds) {
      if (!ExistsInRoot((*m)->root(), b.destination)) created_mount_points.push_back(b.destination);
    }
    runtime::ContainerSpec spec;
    spec.rootfs = (*m)->root();
    spec.args = args;
    spec.env = run_env;
    spec.cwd = cwd;
    spec.uid = user->uid;
    spec.gid = user->gid;
    spec.network = network == "none" ? runtime::Network::kNone : runtime::Network::kHost;
    spec.binds = binds;
    runtime::RunOptions ro;
    ro.state_dir = o_.state_dir / "run";
    ro.timeout = o_.run_timeout;
    ro.cancel = o_.cancel;
    ro.output = o_.log;
    auto r = runtime::Run(spec, ro);
    if (!r.ok()) return r.status();
    if (r->timed_out)
      return LineError(ins, "timed out after " + std::to_string(o_.run_timeout.count()) + "s");
    if (r->canceled) return Status(Code::kUnavailable, "build canceled");
    if (r->exit_code != 0) {
      return LineError(ins, "'" + (ins.json_form ? json(ins.args).dump() : ins.raw_args) +
                                "' returned a non-zero code: " + std::to_string(r->exit_code));
    }
    (*m)->Unmount();
    RemoveMountPoints((*m)->upper(), created_mount_points);
    return Commit(st, **m, ins, key);
  }

  // Drops mount points runc left in `upper` if they are still empty stubs.
  static void RemoveMountPoints(const fs::path& upper, const std::vector<std::string>& points) {
    for (const auto& p : points) {
      fs::path target = upper / fs::path(p).relative_path();
      std::error_code ec;
      auto st = fs::symlink_status(target, ec);
      if (ec) continue;
      bool stub = (fs::is_directory(st) && fs::is_empty(target, ec)) ||
                  (fs::is_regular_file(st) && fs::file_size(target, ec) == 0);
      if (!stub) continue;
      fs::remove(target, ec);
      // Parents that only existed to hold the stub go too (e.g. a new /run for a cache mount).
      for (fs::path parent = target.parent_path(); parent != upper && fs::is_empty(parent, ec);
           parent = parent.parent_path()) {
        fs::remove(parent, ec);
      }
    }
  }

  // BuildKit's rules: `RUN <<EOF` alone runs the body as the shell command,
  // or, when it starts with "#!", as an executable file (/dev/pipes/EOF);
  // otherwise each body and its delimiter go back after the command line and
  // the shell reads them (expanding unquoted ones, stripping tabs for <<-).
  Result<std::string> HeredocScript(const Instruction& ins, const fs::path& scratch,
                                    std::vector<runtime::BindMount>& binds) {
    if (ins.heredocs.empty()) return ins.raw_args;
    const Heredoc& first = ins.heredocs.front();
    if (HeredocReference(ins.raw_args) != first.name) {
      std::string cmd = ins.raw_args;
      for (const auto& h : ins.heredocs) cmd += "\n" + h.content + h.name;
      return cmd;
    }
    if (!first.content.starts_with("#!")) return first.content;
    fs::path file = scratch / "heredoc";
    {
      std::ofstream out(file);
      out << first.content;
      if (!out.flush()) return Internal("write " + file.string() + ": " + std::strerror(errno));
    }
    std::error_code ec;
    fs::permissions(file, fs::perms(0755), ec);
    if (ec) return Internal("chmod " + file.string() + ": " + ec.message());
    std::string dest = "/dev/pipes/" + first.name;
    binds.push_back({file, dest, true});
    return dest;
  }

  Status MountFlags(const Instruction& ins, std::vector<runtime::BindMount>& binds) {
    for (const auto& f : ins.flags) {
      if (f.name != "mount") continue;
      std::map<std::string, std::string> kv;
      std::stringstream ss(f.value);
      std::string part;
      while (std::getline(ss, part, ',')) {
        auto eq = part.find('=');
        kv[part.substr(0, eq)] = eq == std::string::npos ? "true" : part.substr(eq + 1);
      }
      std::string type = kv.count("type") ? kv["type"] : "bind";
      std::string target = kv.count("target") ? kv["target"]
                           : kv.count("dst")  ? kv["dst"]
                                              : kv["destination"];
      if (target.empty() && type != "secret") return LineError(ins, "--mount needs target=");
      if (type == "cache") {
        std::string id = kv.count("id") ? kv["id"] : target;
        fs::path dir = o_.state_dir / "cache-mounts" / Hex(id);
        std::error_code ec;
        fs::create_directories(dir, ec);
        binds.push_back({dir, target, false});
      } else if (type == "bind") {
        if (kv.count("from")) return LineError(ins, "--mount=type=bind,from= is not supported yet");
        auto source =
            ExpandSources(o_.context_dir, kv.count("source") ? kv["source"] : ".", nullptr);
        if (!source.ok() || source->size() != 1)
          return LineError(ins, "--mount source not found in the build context");
        binds.push_back({o_.context_dir / source->front(), target,
                         kv.count("rw") == 0 && kv.count("readwrite") == 0});
      } else if (type == "secret" || type == "ssh" || type == "tmpfs") {
        return LineError(ins, "--mount=type=" + type + " is not supported yet");
      } else {
        return LineError(ins, "unknown --mount type " + type);
      }
    }
    return Status::Ok();
  }

  // --- WORKDIR -----------------------------------------------------------

  Status Workdir(StageState& st, const Instruction& ins, const Env& env) {
    auto dir = ExpandWord(ins.raw_args, env, df_.escape);
    if (!dir.ok()) return LineError(ins, dir.status().message());
    std::string path = *dir;
    std::string current = st.config["config"].value("WorkingDir", "");
    if (path.empty() || path[0] != '/') path = (current.empty() ? "/" : current + "/") + path;
    path = fs::path(path).lexically_normal().string();
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    st.config["config"]["WorkingDir"] = path;
    std::string key =
        Hex(st.cache_key + "\nWORKDIR " + path + st.config["config"].value("User", ""));
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

  // --- COPY / ADD ----------------------------------------------------------

  // Where COPY reads from: the context, another stage, or an image.
  struct Source {
    fs::path root;
    const IgnoreMatcher* ignore = nullptr;
    std::unique_ptr<StageMount> mount;
    std::string identity;  // for the cache key
  };

  Result<Source> SourceFor(const Instruction& ins, size_t stage) {
    Source src;
    std::string from = FlagValue(ins, "from").value_or("");
    if (from.empty()) {
      src.root = o_.context_dir;
      src.ignore = &ignore_;
      src.identity = "context";
      return src;
    }
    auto expanded = ExpandWord(from, plan_.meta_args, df_.escape);
    std::string name = expanded.ok() ? *expanded : from;
    std::vector<LayerRef> layers;
    if (auto idx = FindStage(plan_, name, stage)) {
      // Planning saw every COPY --from in the Dockerfile, not those of ONBUILD triggers.
      if (!states_[static_cast<size_t>(*idx)])
        return Invalid("stage " + name + " is not built for this target");
      layers = states_[static_cast<size_t>(*idx)]->layers;
      src.identity = "stage " + states_[static_cast<size_t>(*idx)]->cache_key;
    } else {
      auto image = FromImage(name, "");
      if (!image.ok()) return image.status();
      deps_.buildtime.push_back(*image->root_base);
      layers = image->layers;
      src.identity = "image " + image->root_base->digest;
    }
    auto m = StageMount::Create(store_, layers);
    if (!m.ok()) return m.status();
    src.root = (*m)->root();
    src.mount = std::move(*m);
    return src;
  }

  // Content checksum of the sources, so a changed file misses the cache.
  std::string SourcesDigest(const fs::path& root, const std::vector<std::string>& sources,
                            const IgnoreMatcher* ignore) {
    oci::Hasher h;
    std::vector<char> buf(1 << 16);
    auto add_file = [&](const fs::path& p, const std::string& rel) {
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) return;
      std::string meta =
          rel + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + "\n";
      h.Update(meta.data(), meta.size());
      if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        std::string target = fs::read_symlink(p, ec).string();
        h.Update(target.data(), target.size());
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        ssize_t n;
        while (fd.valid() && (n = ::read(fd.get(), buf.data(), buf.size())) > 0)
          h.Update(buf.data(), static_cast<size_t>(n));
      }
    };
    for (const auto& s : sources) {
      fs::path p = root / s;
      add_file(p, s);
      std::error_code ec;
      if (!fs::is_directory(fs::symlink_status(p, ec))) continue;
      std::vector<std::pair<std::string, fs::path>> entries;
      for (auto it = fs::recursive_directory_iterator(p, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::string rel = fs::relative(it->path(), root, ec).string();
        if (ignore && ignore->Excluded(rel)) continue;
        entries.emplace_back(rel, it->path());
      }
      std::sort(entries.begin(), entries.end());
      for (const auto& [rel, path] : entries) add_file(path, rel);
    }
    return h.Peek().hex();
  }

  Result<CopyOptions> CopyFlags(const Instruction& ins, const fs::path& dest_root, const Env& env) {
    CopyOptions co;
    co.mtime = o_.source_date_epoch;
    if (auto chown = FlagValue(ins, "chown")) {
      auto expanded = ExpandWord(*chown, env, df_.escape);
      auto ids = ResolveUser(dest_root, expanded.ok() ? *expanded : *chown, UserRule::kOwner);
      if (!ids.ok()) return LineError(ins, "--chown: " + ids.status().message());
      co.uid = ids->uid;
      co.gid = ids->gid;
    }
    if (auto chmod = FlagValue(ins, "chmod")) {
      if (chmod->empty() || chmod->find_first_not_of("01234567") != std::string::npos ||
          chmod->size() > 4) {
        return LineError(ins, "--chmod must be an octal mode, not '" + *chmod + "'");
      }
      co.mode = static_cast<uint32_t>(std::stoul(*chmod, nullptr, 8));
    }
    return co;
  }

  Status CopyStep(StageState& st, const Instruction& ins, const Env& env, size_t stage) {
    if (ins.args.size() < 2 && ins.heredocs.empty())
      return LineError(ins, "needs a source and a destination");
    std::vector<std::string> words;
    if (ins.json_form) {
      words = ins.args;
    } else {
      for (const auto& a : ins.args) {
        auto w = ExpandWord(a, env, df_.escape);
        if (!w.ok()) return LineError(ins, w.status().message());
        words.push_back(*w);
      }
    }
    std::string dest = words.back();
    words.pop_back();
    auto src = SourceFor(ins, stage);
    if (!src.ok()) return LineError(ins, src.status().message());
    TempDir scratch(store_.scratch(), "copy");
    std::vector<std::string> sources;
    fs::path src_root = src->root;
    bool heredoc_sources = false;
    for (const auto& w : words) {
      if (auto name = HeredocReference(w)) {
        for (const auto& h : ins.heredocs) {
          if (h.name != *name) continue;
          std::string content = h.content;
          if (h.expand) {
            auto e = ExpandHeredoc(h.content, env);
            if (e.ok()) content = *e;
          }
          std::ofstream(scratch.path() / h.name) << content;
          // BuildKit makes these files 0644, whatever the umask.
          std::error_code ec;
          fs::permissions(scratch.path() / h.name, fs::perms(0644), ec);
          if (ec) return LineError(ins, "heredoc " + h.name + ": " + ec.message());
          sources.push_back(h.name);
          heredoc_sources = true;
        }
        continue;
      }
      if (ins.keyword == "ADD" && (w.rfind("http://", 0) == 0 || w.rfind("https://", 0) == 0)) {
        return LineError(ins, "ADD from a URL is not supported yet");
      }
      auto expanded = ExpandSources(src_root, w, src->ignore);
      if (!expanded.ok()) return LineError(ins, expanded.status().message());
      sources.insert(sources.end(), expanded->begin(), expanded->end());
    }
    if (heredoc_sources) {
      if (sources.size() != words.size()) return LineError(ins, "cannot mix heredocs and paths");
      src_root = scratch.path();
    }
    std::string flags;
    for (const auto& f : ins.flags) flags += f.name + "=" + f.value + ";";
    std::string key =
        Hex(st.cache_key + "\n" + ins.keyword + " " + flags + json(sources).dump() + " " + dest +
            " " + src->identity + " " +
            SourcesDigest(src_root, sources, heredoc_sources ? nullptr : src->ignore) +
            st.config["config"].value("WorkingDir", ""));
    st.cache_key = key;
    if (UseCache(st, ins, key)) return Status::Ok();
    auto m = StageMount::Create(store_, st.layers);
    if (!m.ok()) return m.status();
    auto co = CopyFlags(ins, (*m)->root(), env);
    if (!co.ok()) return co.status();
    co->ignore = heredoc_sources ? nullptr : src->ignore;
    co->preserve_owner = FlagValue(ins, "from").has_value();  // BuildKit keeps owners across stages
    std::string workdir = st.config["config"].value("WorkingDir", "/");
    if (ins.keyword == "ADD" && !heredoc_sources) {
      DD_RETURN_IF_ERROR(AddArchives(ins, src_root, sources, (*m)->root(), dest, workdir));
    }
    if (!sources.empty()) {
      auto s = CopyInto(src_root, sources, (*m)->root(), dest, workdir, *co);
      if (!s.ok()) return LineError(ins, s.message());
    }
    return Commit(st, **m, ins, key);
  }

  // ADD unpacks local tar archives (any compression) into the destination
  // directory; those sources are then removed from the plain-copy list.
  Status AddArchives(const Instruction& ins, const fs::path& root,
                     std::vector<std::string>& sources, const fs::path& dest_root,
                     const std::string& dest, const std::string& workdir) {
    std::vector<std::string> plain;
    for (const auto& s : sources) {
      fs::path p = root / s;
      std::error_code ec;
      if (!fs::is_regular_file(fs::symlink_status(p, ec)) || !layer::IsArchive(p)) {
        plain.push_back(s);
        continue;
      }
      std::string target = dest.empty() || dest[0] != '/' ? workdir + "/" + dest : dest;
      DD_RETURN_IF_ERROR(MkdirAllInRoot(dest_root, target, 0, 0));
      auto resolved = ResolveDirInRoot(dest_root, target);
      if (!resolved.ok()) return LineError(ins, resolved.status().message());
      Status x = layer::ApplyLayer(p, *resolved);
      if (!x.ok()) return LineError(ins, "extracting " + s + ": " + x.message());
    }
    sources = plain;
    return Status::Ok();
  }

  // --- output --------------------------------------------------------------

  Result<BuildResult> Finish(StageState& st) {
    const Stage& target = plan_.stages[plan_.target];
    // The runtime dependency is the target stage's root base, following FROM <stage> chains.
    const Stage* s = &target;
    while (s->base_stage >= 0) s = &plan_.stages[static_cast<size_t>(s->base_stage)];
    if (st.root_base && s->base != "scratch") deps_.runtime = st.root_base;
    st.config["created"] = o_.source_date_epoch ? Now(o_) : st.last_created;
    auto image = AssembleImage(st.config, st.layers, o_.docker_media_types);
    if (!image.ok()) return image.status();
    BuildResult result;
    result.manifest = image->manifest;
    result.media_type = image->media_type;
    result.manifest_digest = oci::Digest::Of(image->manifest);
    result.config_digest = oci::Digest::Of(image->config);
    for (auto tag : o_.tags) {
      tag.digest = result.manifest_digest;
      deps_.images.push_back(tag);
    }
    result.dependencies = deps_;
    if (o_.push) {
      for (const auto& tag : o_.tags) {
        Log("pushing " + tag.String() + "\n");
        DD_RETURN_IF_ERROR(PushImage(client_, store_, *image, tag, st.base_ref));
      }
    }
    if (!o_.output.empty()) DD_RETURN_IF_ERROR(WriteOutput(store_, *image, o_.output, o_.tags));
    Log("built " + result.manifest_digest.str() + "\n");
    return result;
  }

  const BuildOptions& o_;
  LayerStore store_;
  remote::Client client_;
  fs::path cache_dir_;
  Dockerfile df_;
  Plan plan_;
  IgnoreMatcher ignore_;
  std::vector<std::optional<StageState>> states_;
  std::vector<Dockerfile> onbuild_;  // parsed triggers outlive their dispatch
  Dependencies deps_;
};

}  // namespace

Result<BuildResult> Build(const BuildOptions& options) {
  if (options.state_dir.empty()) return Invalid("build state directory is not set");
  std::error_code ec;
  if (!fs::is_directory(options.context_dir, ec)) {
    return Invalid("build context " + options.context_dir.string() + " is not a directory");
  }
  return Executor(options).Run();
}

}  // namespace drydock::build
