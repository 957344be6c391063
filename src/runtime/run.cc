// `runc run` in the foreground with its output on a pipe we poll, so a
// timeout or cancel can `runc kill` the container and still collect it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>

#include "base/fd.h"
#include "base/random.h"
#include "runtime/runc.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

void CloseFrom(int first) {
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  for (int fd = first; fd < 1024; ++fd) ::close(fd);  // a kernel before 5.9
}

void CloseAllBut(std::initializer_list<int> keep) {
  int sorted[8];
  int n = 0;
  for (int fd : keep)
    if (n < 8 && fd > 2) sorted[n++] = fd;
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) std::swap(sorted[j - 1], sorted[j]);
  int next = 3;
  for (int i = 0; i < n; ++i) {
    if (sorted[i] > next && ::syscall(SYS_close_range, next, sorted[i] - 1, 0) != 0)
      for (int fd = next; fd < sorted[i]; ++fd) ::close(fd);
    next = sorted[i] + 1;
  }
  CloseFrom(next);
}

int RuncCommand(const std::vector<std::string>& args) {
  // Built before fork: the child of a threaded process must not allocate
  // (another thread may hold the allocator's lock; under ASan the child
  // then spun forever, and the caller waited for it).
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    CloseFrom(3);
    ::execvp("runc", argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Removes runc's state for the container however the run ended.
class ContainerGuard {
 public:
  ContainerGuard(std::string root, std::string id) : root_(std::move(root)), id_(std::move(id)) {}
  ~ContainerGuard() { RuncCommand({"runc", "--root", root_, "delete", "--force", id_}); }
  void Kill() { RuncCommand({"runc", "--root", root_, "kill", "--all", id_, "KILL"}); }

 private:
  std::string root_, id_;
};

Status WriteText(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  return f ? Status::Ok() : Internal("write " + p.string());
}

std::string ResolvConf(const ContainerSpec& spec) {
  if (spec.network != Network::kHost) {
    // A namespace of our own reaches only the servers it was given (NAT's).
    std::string conf;
    for (const auto& ns : spec.nameservers) conf += "nameserver " + ns + "\n";
    return conf;
  }
  std::ifstream f("/etc/resolv.conf");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Mounts attached for one container, detached when it is done.
class Attached {
 public:
  Attached() = default;
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached() {
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  void Add(fs::path p) { paths_.push_back(std::move(p)); }

 private:
  std::vector<fs::path> paths_;
};

// With spec.users, the container's binds are idmapped clones of their
// sources, attached under `dir`: otherwise its root could not read a 0600
// context file or write to a cache mount, which belong to host root on disk.
Status IdmapBinds(ContainerSpec& spec, const fs::path& dir, Attached& attached) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (size_t i = 0; i < spec.binds.size(); ++i) {
    BindMount& b = spec.binds[i];
    if (OnOverlayfs(b.source)) continue;  // an overlay over idmapped layers
    DD_ASSIGN_OR_RETURN(tree, IdmappedClone(b.source, spec.users->ids_fd()));
    fs::path at = dir / std::to_string(i);
    if (fs::is_directory(b.source, ec)) {
      fs::create_directory(at, ec);
    } else {
      UniqueFd(::open(at.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    }
    DD_RETURN_IF_ERROR(AttachTree(tree.get(), at));
    attached.Add(at);
    b.source = at;
  }
  return Status::Ok();
}

// `runc run` with its output on `output_fd`, through posix_spawn: nothing
// of ours runs in the child of this threaded process (a forked child that
// allocated could wait forever for a lock another thread held, and so
// would the RUN step reading its output).
Result<pid_t> SpawnRunc(const std::string& runc_root, const std::string& bundle,
                        const std::string& id, int output_fd) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, output_fd, 1);
  ::posix_spawn_file_actions_adddup2(&actions, output_fd, 2);
  // runc outlives a killed server: it must not hold the server's listening
  // socket (Asio does not open it close-on-exec) or anything else.
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  const char* argv[] = {
      "runc",     "--root",       runc_root.c_str(), "run",  "--keep", "--no-new-keyring",
      "--bundle", bundle.c_str(), id.c_str(),        nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "runc", &actions, nullptr, const_cast<char* const*>(argv), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT) return Internal("runc is not installed (apt-get install runc)");
  if (rc != 0) return Internal(std::string("cannot start runc: ") + std::strerror(rc));
  return pid;
}

}  // namespace

Result<RunResult> Run(const ContainerSpec& requested, const RunOptions& options) {
  if (requested.users && requested.privileged)
    return Invalid("a privileged container runs as host root, not in a user namespace");
  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  TempDir bundle(options.state_dir, "bundle");
  std::string id = "drydock-" + RandomHex(8);
  std::string runc_root = (options.state_dir / "runc").string();
  fs::path hosts = bundle.path() / "hosts", resolv = bundle.path() / "resolv.conf";
  std::string host_lines =
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" +
      requested.hostname + "\n";
  for (const auto& line : requested.extra_hosts) host_lines += line + "\n";
  DD_RETURN_IF_ERROR(WriteText(hosts, host_lines));
  DD_RETURN_IF_ERROR(WriteText(resolv, ResolvConf(requested)));
  ContainerSpec spec = requested;
  Attached attached;  // detached before the bundle is removed
  if (spec.users) {
    // runc mounts the root from inside the user namespace.
    DD_RETURN_IF_ERROR(CheckSearchable(spec.rootfs.parent_path(), spec.users->mapping()));
    DD_RETURN_IF_ERROR(IdmapBinds(spec, bundle.path() / "binds", attached));
  }
  // runc makes the cgroup below its own (a relative path) and removes it.
  const std::string& cgroup = id;
  DD_RETURN_IF_ERROR(
      WriteText(bundle.path() / "config.json", RuntimeSpecJson(spec, hosts, resolv, cgroup)));

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  std::string bundle_path = bundle.path().string();
  auto spawned = SpawnRunc(runc_root, bundle_path, id, write_end.get());
  if (!spawned.ok()) return spawned.status();
  pid_t pid = *spawned;
  write_end.Reset();
  ContainerGuard guard(runc_root, id);
  LimitWatch limits(spec.limits, cgroup, options.writable_dirs);
  RunResult result;
  auto deadline = Clock::now() + options.timeout;
  std::optional<Clock::time_point> killed_at;
  char buf[16384];
  while (true) {
    pollfd p{read_end.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n == 0) break;  // runc and every container process closed their output
      if (n > 0 && options.output) options.output(std::string_view(buf, static_cast<size_t>(n)));
      if (n < 0 && errno != EINTR) break;
    }
    if (killed_at) {
      if (Clock::now() - *killed_at > std::chrono::seconds(10)) break;
      continue;
    }
    result.timed_out = Clock::now() > deadline;
    result.canceled = options.cancel && options.cancel->load();
    result.limit = limits.Check();
    if (result.timed_out || result.canceled || !result.limit.empty()) {
      guard.Kill();
      ::kill(pid, SIGKILL);
      killed_at = Clock::now();
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // A container can reach a limit and exit between two checks (a file
  // stopped by RLIMIT_FSIZE, a shell killed by the OOM killer): `--keep`
  // left its cgroup for this last look; the guard deletes it.
  if (!killed_at) result.limit = limits.Check(/*final=*/true);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::unique_ptr<Detached> Detached::Start(ContainerSpec spec, RunOptions options) {
  std::unique_ptr<Detached> d(new Detached());
  options.cancel = &d->stop_;
  d->thread_ = std::thread([raw = d.get(), spec = std::move(spec), options = std::move(options)] {
    raw->result_ = Run(spec, options);
    raw->done_ = true;
  });
  return d;
}

Result<RunResult> Detached::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return result_;
}

// A destructor has no one to tell; Stop() logs nothing worth more than the kill it tried.
Detached::~Detached() { (void)Stop(); }

}  // namespace drydock::runtime
