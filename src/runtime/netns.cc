// Network namespaces of our own for the containers of one run: made by a
// child process (unshare changes only the caller) and pinned by a bind mount
// of its /proc/<pid>/ns/net, as `ip netns add` does.
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "runtime/runc.h"
#include "runtime/runtime.h"

namespace drydock::runtime {

namespace fs = std::filesystem;

namespace {

// In the forked child of a threaded process: async-signal-safe calls only.
// `unused_fd` is the child's copy of the pipe end the parent closes to
// release it: without closing it, the read below would never see EOF.
[[noreturn]] void MakeNamespace(int ready_fd, int release_fd, int unused_fd) {
  ::close(unused_fd);
  if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, "lo", 3);
  if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) ::_exit(2);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) ::_exit(3);
  char c = 'r';
  if (::write(ready_fd, &c, 1) != 1) ::_exit(4);
  (void)!::read(release_fd, &c, 1);  // until the parent has pinned the namespace
  ::_exit(0);
}

}  // namespace

// slirp4netns attached to the namespace at `path_`: it answers for the
// namespace's default route and connects out from the host's network, refusing
// the host's loopback (--disable-host-loopback). It exits when the pipe
// nat_exit_ reads from is closed.
//
// It starts in a mount namespace of its own where every mount is private:
// its --enable-sandbox makes only "/" private before detaching the old root,
// so on hosts whose mounts are shared (systemd's default) that detach
// propagated back and unmounted the host's mounts under any shared one.
Status NetworkNamespace::StartNat() {
  int ready[2], exit_pipe[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(exit_pipe, O_CLOEXEC) != 0)
    return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), exit_r(exit_pipe[0]), exit_w(exit_pipe[1]);
  std::string ns = path_.string();
  pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::dup2(ready_w.get(), 3);  // dup2 clears close-on-exec on the copies
    ::dup2(exit_r.get(), 4);
    CloseFrom(5);
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      ::_exit(126);  // never run it where its unmounts could reach the host
    ::execlp("slirp4netns", "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
             "--enable-sandbox", "--ready-fd=3", "--exit-fd=4", "--netns-type=path", ns.c_str(),
             "tap0", nullptr);
    ::_exit(127);
  }
  nat_pid_ = pid;
  nat_exit_ = std::move(exit_w);
  ready_w.Reset();
  exit_r.Reset();
  pollfd p{ready_r.get(), POLLIN, 0};
  char c = 0;
  if (::poll(&p, 1, 10000) == 1 && ::read(ready_r.get(), &c, 1) == 1) return Status::Ok();
  return Internal(
      "cannot start slirp4netns for the run's network (is it installed? apt-get install "
      "slirp4netns)");
}

Result<NetworkNamespace> NetworkNamespace::Create(const fs::path& path, Egress egress) {
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!file.valid()) return Internal("create " + path.string() + ": " + std::strerror(errno));
  file.Reset();
  int ready[2], release[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0)
    return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), release_r(release[0]), release_w(release[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) MakeNamespace(ready_w.get(), release_r.get(), release_w.get());
  ready_w.Reset();
  release_r.Reset();
  char c = 0;
  bool made = ::read(ready_r.get(), &c, 1) == 1;
  Status pinned = Status::Ok();
  if (made) {
    std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
    if (::mount(ns.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0)
      pinned =
          Internal("bind mount of " + ns + " at " + path.string() + ": " + std::strerror(errno));
  }
  release_w.Reset();  // the child may exit now
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!made || !pinned.ok()) {
    std::error_code ec;
    fs::remove(path, ec);
    if (!made)
      return Internal("cannot create a network namespace (step " +
                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                      "): needs root (CAP_SYS_ADMIN)");
    return pinned;
  }
  NetworkNamespace made_ns(path);
  if (egress == Egress::kNat) DD_RETURN_IF_ERROR(made_ns.StartNat());
  return made_ns;
}

NetworkNamespace::~NetworkNamespace() {
  if (nat_pid_ > 0) {
    nat_exit_.Reset();
    int status = 0;
    while (::waitpid(nat_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (path_.empty()) return;
  ::umount2(path_.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove(path_, ec);
}

}  // namespace drydock::runtime
