// RunCommand: posix_spawn without a shell, output collected from one pipe,
// killed as a process group at its deadline (git starts helpers of its own).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "source/internal.h"

namespace drydock::source {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

using Clock = std::chrono::steady_clock;

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The spawn attributes and file actions, released whatever happens.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawnattr_init(&attr_);
    posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attr_);
    posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Own process group (so a kill reaches git's helpers), default signal
  // dispositions, /dev/null in, `out` for stdout and stderr.
  void Configure(int out) {
    posix_spawnattr_setpgroup(&attr_, 0);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr_, &all);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setflags(
        &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions_, out, 1);
    posix_spawn_file_actions_adddup2(&actions_, out, 2);
  }
  const posix_spawnattr_t* attr() const { return &attr_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attr_;
  posix_spawn_file_actions_t actions_;
};

int WaitFor(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

bool IsWithin(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  // A trailing separator of `root` shows up as an empty last element.
  return r == root.end() || (std::next(r) == root.end() && r->empty());
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env, Clock::time_point deadline,
                                 const std::atomic<bool>* cancel) {
  if (argv.empty()) return Internal("RunCommand: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnSetup setup;
  setup.Configure(write_end.get());
  auto args = CStrings(argv);
  auto envp = CStrings(env);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], setup.actions(), setup.attr(), args.data(), envp.data());
  if (rc != 0) return Internal("cannot run " + argv[0] + ": " + std::strerror(rc));
  write_end.Reset();

  CommandResult result;
  bool killed = false;
  char buf[16384];
  while (true) {
    pollfd p{read_end.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n == 0) break;  // the command and everything it started closed the pipe
      if (n < 0 && errno != EINTR) break;
      if (n > 0) result.output.append(buf, static_cast<size_t>(n));
      if (result.output.size() > 2 * kMaxOutput)
        result.output.erase(0, result.output.size() - kMaxOutput);
    }
    if (!killed && (Clock::now() > deadline || (cancel && cancel->load()))) {
      ::kill(-pid, SIGKILL);
      killed = true;
      break;
    }
  }
  result.exit_code = WaitFor(pid);
  if (result.output.size() > kMaxOutput) result.output.erase(0, result.output.size() - kMaxOutput);
  if (killed) {
    return Status(Code::kUnavailable,
                  argv[0] + (cancel && cancel->load() ? std::string(" was canceled")
                                                      : std::string(" timed out")));
  }
  return result;
}

}  // namespace drydock::source
