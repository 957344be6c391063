// RUN: the command under runc on a scratch overlay of the stage, with its
// --mount and --network flags; the overlay's upper dir becomes the layer.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "builder/config.h"
#include "builder/rootfs.h"
#include "builder/stage_runner.h"

namespace drydock::builder {

namespace fs = std::filesystem;

namespace {

// RUN output of stages building side by side would interleave mid-line, so
// it reaches the log a whole line at a time, each marked with its stage.
class StageOutput {
 public:
  StageOutput(size_t stage, std::function<void(const std::string&)> log)
      : prefix_("[stage " + std::to_string(stage) + "] "), log_(std::move(log)) {}
  ~StageOutput() {
    if (!pending_.empty()) log_(prefix_ + pending_ + "\n");
  }
  void Write(std::string_view chunk) {
    pending_ += chunk;
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      log_(prefix_ + pending_.substr(0, nl + 1));
      pending_.erase(0, nl + 1);
    }
  }

 private:
  std::string prefix_;
  std::function<void(const std::string&)> log_;
  std::string pending_;
};

}  // namespace

Status StageRunner::RunStep(StageState& st, const Instruction& ins) {
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
  if (network == "host" && !o_.allow_host_network) {
    return LineError(ins,
                     "--network=host is turned off: it reaches every service of this machine "
                     "(allow it with --allow network.host, or builds.allow_privileged_steps on "
                     "a server)");
  }
  auto mounts = PrepareMounts(ins, scratch.path(), st.stage);
  if (!mounts.ok()) return mounts.status();
  binds.insert(binds.end(), mounts->binds.begin(), mounts->binds.end());
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
                        st.config["config"].value("WorkingDir", "") + bodies + mounts->cache_key);
  st.cache_key = key;
  if (UseCache(st, ins, key)) return Status::Ok();

  auto m = StageMount::Create(store_, st.layers, o_.users.get());
  if (!m.ok()) return m.status();
  std::string cwd = st.config["config"].value("WorkingDir", "");
  if (cwd.empty()) cwd = "/";
  auto user = ResolveUser((*m)->root(), st.config["config"].value("User", ""), UserRule::kProcess);
  if (!user.ok()) return LineError(ins, user.status().message());
  // In a user namespace runc makes it, as the container's root: what host
  // root wrote through the idmapped overlay would not be root's on disk.
  if (!o_.users) DD_RETURN_IF_ERROR(MkdirAllInRoot((*m)->root(), cwd, 0, 0));
  // runc creates mount points (/proc, /etc/hosts, bind targets) in the
  // upper dir; those it had to create are not part of the image.
  std::vector<std::string> created_mount_points;
  for (std::string p : {"/dev", "/proc", "/sys", "/etc/hosts", "/etc/resolv.conf"}) {
    if (!ExistsInRoot((*m)->root(), p)) created_mount_points.push_back(p);
  }
  for (const auto& b : binds) {
    if (!ExistsInRoot((*m)->root(), b.destination)) created_mount_points.push_back(b.destination);
  }
  for (const auto& t : mounts->tmpfs) {
    if (!ExistsInRoot((*m)->root(), t.destination)) created_mount_points.push_back(t.destination);
  }
  runtime::ContainerSpec spec;
  spec.rootfs = (*m)->root();
  spec.args = args;
  spec.env = run_env;
  spec.env.insert(spec.env.end(), mounts->env.begin(), mounts->env.end());
  spec.cwd = cwd;
  spec.uid = user->uid;
  spec.gid = user->gid;
  spec.additional_gids = user->groups;
  spec.binds = binds;
  spec.tmpfs = mounts->tmpfs;
  spec.limits = o_.limits;
  spec.users = o_.users;
  // The default network is the step's own, with NAT to the outside but not
  // to this machine's loopback (where the registry and other local-only
  // services listen).
  std::optional<runtime::NetworkNamespace> netns;
  if (network == "host") {
    spec.network = runtime::Network::kHost;
  } else if (network == "none") {
    spec.network = runtime::Network::kNone;
  } else {
    auto made = runtime::NetworkNamespace::Create(scratch.path() / "netns", runtime::Egress::kNat,
                                                  o_.users.get());
    if (!made.ok()) return LineError(ins, made.status().message());
    netns.emplace(std::move(*made));
    spec.network = runtime::Network::kJoin;
    spec.network_namespace = netns->path();
    spec.user_namespace = netns->user_path();
    spec.nameservers = {runtime::kNatNameserver};
  }
  runtime::RunOptions ro;
  ro.state_dir = o_.state_dir / "run";
  ro.timeout = o_.run_timeout;
  ro.cancel = &stop_;
  ro.writable_dirs = {(*m)->upper()};
  StageOutput output(st.stage, [this](const std::string& line) { Log(line); });
  ro.output = [&output](std::string_view chunk) { output.Write(chunk); };
  auto r = runtime::Run(spec, ro);
  if (!r.ok()) return r.status();
  if (!r->limit.empty()) return LineError(ins, "the build reached " + r->limit);
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
void StageRunner::RemoveMountPoints(const fs::path& upper, const std::vector<std::string>& points) {
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
Result<std::string> StageRunner::HeredocScript(const Instruction& ins, const fs::path& scratch,
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

}  // namespace drydock::builder
