// RUN --mount: what each mount type puts into the build container, what it
// adds to the RUN's cache key, and what must stay alive while RUN runs
// (overlays over other stages, cache locks, secret files). Options follow
// BuildKit's (docs.docker.com/reference/dockerfile/#run---mount).
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "builder/stage_runner.h"

namespace drydock::builder {

namespace fs = std::filesystem;

namespace {

using MountOptions = std::map<std::string, std::string>;

MountOptions ParseMountOptions(const std::string& value) {
  MountOptions kv;
  std::stringstream ss(value);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto eq = part.find('=');
    std::string k = part.substr(0, eq);
    kv[k == "dst" || k == "destination" ? "target"
       : k == "src"                     ? "source"
                    : k] = eq == std::string::npos ? "true" : part.substr(eq + 1);
  }
  return kv;
}

std::string Option(const MountOptions& kv, const std::string& k, const std::string& dflt = "") {
  auto it = kv.find(k);
  return it == kv.end() ? dflt : it->second;
}

bool IsSet(const MountOptions& kv, const std::string& k) {
  std::string v = Option(kv, k, "false");
  return v == "true" || v == "1";
}

Result<uint32_t> Number(const MountOptions& kv, const std::string& k, uint32_t dflt, int base) {
  std::string v = Option(kv, k);
  if (v.empty()) return dflt;
  char* end = nullptr;
  unsigned long n = std::strtoul(v.c_str(), &end, base);
  if (*end != '\0') return Invalid("--mount " + k + "=" + v + " is not a number");
  return static_cast<uint32_t>(n);
}

// "64m", "1g", "4096": tmpfs sizes.
Result<uint64_t> Size(const std::string& v) {
  if (v.empty()) return uint64_t{0};
  char* end = nullptr;
  uint64_t n = std::strtoull(v.c_str(), &end, 10);
  std::string unit = AsciiLower(end);
  if (unit == "" || unit == "b") return n;
  if (unit == "k" || unit == "kb") return n << 10;
  if (unit == "m" || unit == "mb") return n << 20;
  if (unit == "g" || unit == "gb") return n << 30;
  return Invalid("--mount size=" + v + " is not a size");
}

}  // namespace

Result<RunMounts> StageRunner::PrepareMounts(const Instruction& ins, const fs::path& scratch,
                                             size_t stage) {
  RunMounts out;
  int ssh_index = 0;
  for (const auto& f : ins.flags) {
    if (f.name != "mount") continue;
    MountOptions kv = ParseMountOptions(f.value);
    std::string type = Option(kv, "type", "bind");
    Status s = type == "bind"     ? BindMountFor(kv, stage, out)
               : type == "cache"  ? CacheMountFor(kv, stage, out)
               : type == "tmpfs"  ? TmpfsMountFor(kv, out)
               : type == "secret" ? SecretMountFor(kv, scratch, out)
               : type == "ssh"    ? SshMountFor(kv, ssh_index++, out)
                                  : Invalid("unknown --mount type " + type);
    if (!s.ok()) return LineError(ins, s.message());
    out.cache_key += "\nmount " + f.value;
  }
  return out;
}

// The root a bind or cache mount reads from: the context, or (from=) a
// stage or an image, mounted for as long as the RUN needs it.
Result<fs::path> StageRunner::MountSourceRoot(const MountOptions& kv, size_t stage,
                                              RunMounts& out) {
  std::string from = Option(kv, "from");
  if (from.empty()) {
    out.cache_key += " context";
    return o_.context_dir;
  }
  std::vector<LayerRef> layers;
  if (auto idx = FindStage(plan_, from, stage)) {
    const StageState* built = Built(static_cast<size_t>(*idx));
    if (!built) return Invalid("stage " + from + " is not built for this target");
    layers = built->layers;
    out.cache_key += " stage " + built->cache_key;
  } else {
    auto image = FromImage(from, "");
    if (!image.ok()) return image.status();
    stage_deps_[stage].push_back(*image->root_base);
    layers = image->layers;
    out.cache_key += " image " + image->root_base->digest;
  }
  auto m = StageMount::Create(store_, layers, o_.users.get());
  if (!m.ok()) return m.status();
  fs::path root = (*m)->root();
  out.holds.push_back(std::move(*m));
  return root;
}

// type=bind: read-only unless rw; writes to an rw bind are thrown away, as
// in BuildKit, so it is an overlay over the source, never the source itself.
Status StageRunner::BindMountFor(const MountOptions& kv, size_t stage, RunMounts& out) {
  std::string target = Option(kv, "target");
  if (target.empty()) return Invalid("--mount=type=bind needs target=");
  DD_ASSIGN_OR_RETURN(root, MountSourceRoot(kv, stage, out));
  bool from_context = Option(kv, "from").empty();
  auto source = ExpandSources(root, Option(kv, "source", "."), from_context ? &ignore_ : nullptr);
  if (!source.ok() || source->size() != 1)
    return Invalid("--mount source " + Option(kv, "source", ".") + " not found");
  fs::path path = root / source->front();
  if (from_context) out.cache_key += " " + SourcesDigest(root, *source, &ignore_);
  bool rw = IsSet(kv, "rw") || IsSet(kv, "readwrite");
  std::error_code ec;
  if (rw && fs::is_directory(path, ec)) {
    auto holder = std::make_unique<TempDir>(store_.scratch(), "bind");
    auto m = runtime::OverlayMount::Mount({path}, holder->path() / "upper", holder->path() / "work",
                                          holder->path() / "root", o_.users.get());
    if (!m.ok()) return m.status();
    path = m->target();
    out.overlays.push_back(std::move(*m));
    out.dirs.push_back(std::move(holder));
  } else if (rw) {
    auto holder = std::make_unique<TempDir>(store_.scratch(), "bind");
    fs::copy_file(path, holder->path() / "file", ec);
    if (ec) return Invalid("--mount source " + source->front() + ": " + ec.message());
    path = holder->path() / "file";
    out.dirs.push_back(std::move(holder));
  }
  out.binds.push_back({path, target, !rw});
  return Status::Ok();
}

// type=cache: a directory kept across builds under the state dir, by id
// (default: the target). sharing=locked serializes its users; private gives
// a concurrent user its own fresh directory instead of waiting.
Status StageRunner::CacheMountFor(const MountOptions& kv, size_t stage, RunMounts& out) {
  std::string target = Option(kv, "target");
  if (target.empty()) return Invalid("--mount=type=cache needs target=");
  std::string sharing = Option(kv, "sharing", "shared");
  if (sharing != "shared" && sharing != "locked" && sharing != "private")
    return Invalid("--mount sharing must be shared, private or locked, not " + sharing);
  DD_ASSIGN_OR_RETURN(uid, Number(kv, "uid", 0, 10));
  DD_ASSIGN_OR_RETURN(gid, Number(kv, "gid", 0, 10));
  DD_ASSIGN_OR_RETURN(mode, Number(kv, "mode", 0755, 8));
  fs::path dir = o_.state_dir / "cache-mounts" / Hex(Option(kv, "id", target));
  UniqueFd lock(::open((dir.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) {
    std::error_code ec;
    fs::create_directories(dir.parent_path(), ec);
    lock = UniqueFd(::open((dir.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  }
  if (sharing == "locked" && lock.valid()) ::flock(lock.get(), LOCK_EX);
  if (sharing == "private" && lock.valid() && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    auto own = std::make_unique<TempDir>(store_.scratch(), "cache");
    dir = own->path();
    out.dirs.push_back(std::move(own));
  }
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("create cache mount " + dir.string() + ": " + ec.message());
    // A new cache starts as a copy of from=/source= when given.
    if (kv.count("from")) {
      DD_ASSIGN_OR_RETURN(root, MountSourceRoot(kv, stage, out));
      auto source = ExpandSources(root, Option(kv, "source", "."), nullptr);
      if (source.ok() && source->size() == 1)
        fs::copy(root / source->front(), dir, fs::copy_options::recursive, ec);
    }
    if (::chown(dir.c_str(), uid, gid) != 0 || ::chmod(dir.c_str(), mode) != 0)
      return Internal("set owner of cache mount " + dir.string());
  }
  if (lock.valid()) out.locks.push_back(std::move(lock));
  out.binds.push_back({dir, target, IsSet(kv, "ro") || IsSet(kv, "readonly")});
  return Status::Ok();
}

Status StageRunner::TmpfsMountFor(const MountOptions& kv, RunMounts& out) {
  std::string target = Option(kv, "target");
  if (target.empty()) return Invalid("--mount=type=tmpfs needs target=");
  DD_ASSIGN_OR_RETURN(size, Size(Option(kv, "size")));
  out.tmpfs.push_back({target, size});
  return Status::Ok();
}

// type=secret: a file from --secret, at /run/secrets/<id> (or target=) or
// in an env var (env=); never part of the image, the cache key or the log.
Status StageRunner::SecretMountFor(const MountOptions& kv, const fs::path& scratch,
                                   RunMounts& out) {
  std::string id = Option(kv, "id", fs::path(Option(kv, "target")).filename().string());
  if (id.empty()) return Invalid("--mount=type=secret needs id= or target=");
  auto it = o_.secrets.find(id);
  if (it == o_.secrets.end()) {
    if (IsSet(kv, "required")) return Invalid("secret " + id + " is required but was not given");
    return Status::Ok();  // BuildKit skips a missing optional secret
  }
  if (std::string env = Option(kv, "env"); !env.empty()) {
    out.env.push_back(env + "=" + it->second);
    if (!kv.count("target")) return Status::Ok();
  }
  DD_ASSIGN_OR_RETURN(uid, Number(kv, "uid", 0, 10));
  DD_ASSIGN_OR_RETURN(gid, Number(kv, "gid", 0, 10));
  DD_ASSIGN_OR_RETURN(mode, Number(kv, "mode", 0400, 8));
  fs::path file = scratch / ("secret-" + Hex(id));
  {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid() || ::write(fd.get(), it->second.data(), it->second.size()) !=
                           static_cast<ssize_t>(it->second.size()))
      return Internal("write secret " + id);
    if (::fchown(fd.get(), uid, gid) != 0 || ::fchmod(fd.get(), mode) != 0)
      return Internal("set owner of secret " + id);
  }
  out.binds.push_back({file, Option(kv, "target", "/run/secrets/" + id), true});
  return Status::Ok();
}

// type=ssh: the agent socket given with --ssh ID=SOCKET, with SSH_AUTH_SOCK
// pointing at it.
Status StageRunner::SshMountFor(const MountOptions& kv, int index, RunMounts& out) {
  std::string id = Option(kv, "id", "default");
  auto it = o_.ssh_agents.find(id);
  if (it == o_.ssh_agents.end()) {
    if (IsSet(kv, "required")) return Invalid("ssh agent " + id + " is required but was not given");
    return Status::Ok();
  }
  std::string target = Option(kv, "target", "/run/buildkit/ssh_agent." + std::to_string(index));
  out.binds.push_back({it->second, target, false});
  out.env.push_back("SSH_AUTH_SOCK=" + target);
  return Status::Ok();
}

}  // namespace drydock::builder
