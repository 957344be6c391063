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

// The pipes between Create and the child that makes the namespace.
struct Handshake {
  int ready_w, release_r, release_w, maps_r, maps_w;
};

// In the forked child of a threaded process: async-signal-safe calls only.
// The child closes its copies of the ends the parent keeps (and every other
// fd: CloseAllBut), or the reads below would never see EOF. With `own_users`, it first moves to a
// user namespace of its own, waits for the parent to write its maps, and becomes its root, so that
// the network namespace it makes next belongs to it.
[[noreturn]] void MakeNamespace(const Handshake& h, bool own_users) {
  CloseAllBut({h.ready_w, h.release_r, h.maps_r});
  char c = 'u';
  if (own_users) {
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(5);
    if (::write(h.ready_w, &c, 1) != 1 || ::read(h.maps_r, &c, 1) != 1) ::_exit(6);
    if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) ::_exit(7);
  }
  if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, "lo", 3);
  if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) ::_exit(2);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) ::_exit(3);
  c = 'r';
  if (::write(h.ready_w, &c, 1) != 1) ::_exit(4);
  (void)!::read(h.release_r, &c, 1);  // until the parent has pinned the namespace
  ::_exit(0);
}

// A namespace of process `pid` pinned at `path` (an empty file made here).
Status Pin(pid_t pid, const char* kind, const fs::path& path) {
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444));
  if (!file.valid()) return Internal("create " + path.string() + ": " + std::strerror(errno));
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  if (::mount(ns.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return Internal("bind mount of " + ns + " at " + path.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

void Unpin(const fs::path& path) {
  if (path.empty()) return;
  ::umount2(path.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove(path, ec);
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

Result<NetworkNamespace> NetworkNamespace::Create(const fs::path& path, Egress egress,
                                                  const UserNamespace* users) {
  if (fs::exists(path)) return Internal("create " + path.string() + ": it exists");
  int ready[2], release[2], maps[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0 ||
      ::pipe2(maps, O_CLOEXEC) != 0)
    return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), release_r(release[0]), release_w(release[1]),
      maps_r(maps[0]), maps_w(maps[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0)
    MakeNamespace({ready_w.get(), release_r.get(), release_w.get(), maps_r.get(), maps_w.get()},
                  users != nullptr);
  ready_w.Reset();
  release_r.Reset();
  maps_r.Reset();
  char c = 0;
  Status status = Status::Ok();
  if (users) {
    status = ::read(ready_r.get(), &c, 1) == 1
                 ? WriteIdMaps(pid, MapLines(users->mapping()))
                 : Internal("cannot create a user namespace for the run's network");
    if (status.ok() && ::write(maps_w.get(), &c, 1) != 1)
      status = Internal("the run's network: its namespace maker exited");
  }
  maps_w.Reset();
  bool made = status.ok() && ::read(ready_r.get(), &c, 1) == 1;
  fs::path user_path = users ? fs::path(path.string() + ".user") : fs::path();
  if (made && users) status = Pin(pid, "user", user_path);
  if (made && status.ok()) status = Pin(pid, "net", path);
  release_w.Reset();  // the child may exit now
  int exit_status = 0;
  while (::waitpid(pid, &exit_status, 0) < 0 && errno == EINTR) {
  }
  if (!made || !status.ok()) {
    Unpin(path);
    Unpin(user_path);
    if (!status.ok()) return status;
    return Internal("cannot create a network namespace (step " +
                    std::to_string(WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : -1) +
                    "): needs root (CAP_SYS_ADMIN)");
  }
  NetworkNamespace made_ns(path, user_path);
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
  Unpin(path_);
  Unpin(user_path_);
}

}  // namespace drydock::runtime
