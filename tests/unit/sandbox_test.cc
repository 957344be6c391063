// The build sandbox (issue 12): a container may hurt only itself. Each limit
// is first proven with a small bounded probe; the hostile workloads run only
// once it holds, each bounded in count and time.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "base/random.h"
#include "runtime/runtime.h"
#include "test_dir.h"
#include "test_image.h"
#include "test_netns.h"

namespace drydock::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using testing::Sh;

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DD_SKIP_UNLESS(::geteuid() == 0, "needs root for mounts and runc");
    DD_SKIP_UNLESS(fs::exists("/bin/busybox") && fs::exists("/usr/sbin/runc"),
                   "busybox-static and runc are needed");
    DD_SKIP_UNLESS(fs::exists("/usr/bin/slirp4netns"), "slirp4netns is needed");
    testing::MakeBusyboxRoot(
        dir_.path() / "base",
        {"sh", "echo", "sleep", "dd", "head", "tr", "wget", "timeout", "unshare", "mount", "seq",
         "cat", "true", "wc", "ls", "stat", "touch", "chown"});
  }

  struct Outcome {
    RunResult result;
    std::string out;
  };

  // Runs `script` in a fresh overlay of the busybox root.
  Outcome Run(const std::string& script, Limits limits = {}, seconds timeout = seconds(60),
              const NetworkNamespace* ns = nullptr) {
    fs::path run = dir_.path() / ("run" + std::to_string(++runs_));
    auto mount = OverlayMount::Mount({dir_.path() / "base"}, run / "upper", run / "work",
                                     run / "root", users_.get());
    EXPECT_TRUE(mount.ok()) << mount.status().message();
    if (!mount.ok()) return {};
    ContainerSpec spec;
    spec.rootfs = mount->target();
    spec.args = {"/bin/sh", "-c", script};
    spec.env = {"PATH=/bin"};
    spec.limits = limits;
    spec.network = ns ? Network::kJoin : Network::kNone;
    spec.users = users_;
    spec.binds = binds_;
    if (ns) {
      spec.network_namespace = ns->path();
      spec.user_namespace = ns->user_path();
      spec.nameservers = {kNatNameserver};
    }
    RunOptions o;
    o.state_dir = run / "state";
    o.timeout = timeout;
    o.writable_dirs = {run / "upper"};
    Outcome outcome;
    o.output = [&outcome](std::string_view s) {
      if (outcome.out.size() < (1 << 20)) outcome.out.append(s);
    };
    auto r = runtime::Run(spec, o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (r.ok()) outcome.result = *r;
    return outcome;
  }

  // Runs from here on in a user namespace (container root is host id 100000).
  void UseUserNamespace() {
    // mkdtemp's 0700 would keep the container's root from its own root dir.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
    auto users = UserNamespace::Create({.host_id = 100000, .size = 65536});
    ASSERT_TRUE(users.ok()) << users.status().message();
    users_ = *users;
  }

  TempDir dir_ = testing::MakeTestDir();
  int runs_ = 0;
  std::shared_ptr<const UserNamespace> users_;  // for Run
  std::vector<BindMount> binds_;                // for Run
};

TEST_F(SandboxTest, AForkBombFailsOnlyItsOwnContainer) {
  // The probe: 40 sleepers under a limit of 16 must be refused.
  auto probe = Run("for i in $(seq 40); do sleep 5 & done; wait", Limits{.pids = 16});
  ASSERT_EQ(probe.result.limit, "its limit of 16 processes")
      << "the pids limit does not hold here: no fork bomb is run\n"
      << probe.out;
  auto start = std::chrono::steady_clock::now();
  auto bomb = Run("b() { b | b & }; b; sleep 30", Limits{.pids = 256}, seconds(60));
  EXPECT_EQ(bomb.result.limit, "its limit of 256 processes");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  // The host still forks: the next container runs as usual.
  auto after = Run("echo still here");
  EXPECT_EQ(after.result.exit_code, 0);
  EXPECT_EQ(after.out, "still here\n");
}

TEST_F(SandboxTest, AMemoryHogIsStoppedAtItsLimit) {
  // ~200 MB in one shell variable against a 64 MiB limit.
  auto hog = Run("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
                 Limits{.memory_bytes = 64 << 20}, seconds(60));
  EXPECT_EQ(hog.result.limit, "its memory limit of 64 MiB") << hog.out;
  EXPECT_NE(hog.result.exit_code, 0);
  auto small = Run("x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}",
                   Limits{.memory_bytes = 64 << 20});
  EXPECT_EQ(small.result.exit_code, 0) << small.out;
  EXPECT_EQ(small.out, "1000000\n");
}

TEST_F(SandboxTest, ADiskFillerIsStoppedAtItsLimit) {
  // One big file stops at the limit (RLIMIT_FSIZE); many small ones are measured.
  auto one = Run("dd if=/dev/zero of=/big bs=1M count=100", Limits{.disk_bytes = 32 << 20});
  EXPECT_EQ(one.result.limit, "its disk limit of 32 MiB") << one.out;
  auto many =
      Run("for i in $(seq 100); do dd if=/dev/zero of=/f$i bs=1M count=1 2>/dev/null; "
          "done; sleep 5",
          Limits{.disk_bytes = 32 << 20});
  EXPECT_EQ(many.result.limit, "its disk limit of 32 MiB") << many.out;
  auto fits = Run("dd if=/dev/zero of=/ok bs=1M count=4", Limits{.disk_bytes = 32 << 20});
  EXPECT_EQ(fits.result.exit_code, 0) << fits.out;
  EXPECT_EQ(fits.result.limit, "");
}

TEST_F(SandboxTest, NamespacesAndMountsAreRefusedBySeccomp) {
  auto r =
      Run("unshare -n true && echo unshared; mount -t tmpfs t /mnt 2>/dev/null && echo "
          "mounted; echo done");
  EXPECT_EQ(r.out.find("unshared"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("mounted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
}

// A server on the host's loopback and one in a network namespace of the
// test's own (the "outside", reached through a veth pair on 198.18.0.0/15,
// the benchmarking range): a container in a NAT namespace reaches the
// outside one and never the host's loopback.
class Outside {
 public:
  Outside(const fs::path& dir) {
    testing::WriteFile(dir / "www/index.html", "outside says hi");
    testing::WriteFile(dir / "lo/index.html", "loopback secret");
    net_.Exec("busybox httpd -p " + address() + ":8080 -h " + (dir / "www").string());
    // Below the kernel's ephemeral range (32768+), where other tests' client
    // sockets live; a port another parallel test holds is tried again.
    for (int attempt = 0; attempt < 8; ++attempt) {
      loopback_port_ = std::to_string(20000 + std::stoi(RandomHex(3), nullptr, 16) % 12000);
      std::string httpd =
          "busybox httpd -p 127.0.0.1:" + loopback_port_ + " -h " + (dir / "lo").string();
      if (Sh(httpd + " 2>/dev/null && echo started || true") == "started") return;
    }
    ADD_FAILURE() << "no free loopback port for the host's httpd after 8 tries";
  }
  ~Outside() {
    // [b]: the pattern must not match the shell running pkill itself.
    Sh("pkill -f '[b]usybox httpd -p " + address() + ":8080' || true");
    Sh("pkill -f '[b]usybox httpd -p 127.0.0.1:" + loopback_port_ + "' || true");
  }
  const std::string& address() const { return net_.address(); }
  const std::string& loopback_port() const { return loopback_port_; }

 private:
  testing::VethNamespace net_{"198.18.7."};
  std::string loopback_port_;
};

TEST_F(SandboxTest, NatReachesTheOutsideButNotTheHostsLoopback) {
  DD_SKIP_UNLESS(fs::exists("/usr/sbin/ip") || fs::exists("/sbin/ip"), "iproute2 is needed");
  Outside outside(dir_.path() / "outside");
  // Both servers answer from where they are meant to be reached.
  // (Debian 12's static busybox wget crashes with -T: `timeout` bounds it.)
  EXPECT_EQ(Sh("timeout 5 busybox wget -q -O - http://127.0.0.1:" + outside.loopback_port() + "/"),
            "loopback secret");
  auto ns = NetworkNamespace::Create(dir_.path() / "netns", Egress::kNat);
  ASSERT_TRUE(ns.ok()) << ns.status().message();
  std::string port = outside.loopback_port();
  auto r = Run("timeout 5 wget -q -O - http://" + outside.address() +
                   ":8080/; echo; "
                   "timeout 3 wget -q -O - http://10.0.2.2:" +
                   port +
                   "/ || echo no-host-via-gateway; "
                   "timeout 3 wget -q -O - http://127.0.0.1:" +
                   port + "/ || echo no-host-loopback",
               {}, seconds(60), &*ns);
  EXPECT_NE(r.out.find("outside says hi"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no-host-via-gateway"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no-host-loopback"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("loopback secret"), std::string::npos) << r.out;
}

// slirp4netns --enable-sandbox makes "/" private (not recursively) in a
// mount namespace of its own and then detaches the old root: on hosts where
// mounts are shared (systemd's default) that unmount propagated back and took
// the host's mounts under any shared mount with it (/run/netns pins, tmpfs).
// The NAT must leave the host's mounts alone.
TEST_F(SandboxTest, NatLeavesTheHostsSharedMountsAlone) {
  fs::path shared = dir_.path() / "shared";
  fs::create_directories(shared / "sub");
  // Unmounted however the test ends, so a failure leaks no mount.
  struct Unmount {
    fs::path dir;
    ~Unmount() {
      ::umount2((dir / "sub").c_str(), MNT_DETACH);
      ::umount2(dir.c_str(), MNT_DETACH);
    }
  } unmount{shared};
  Sh("mount --bind " + shared.string() + " " + shared.string() + " && mount --make-rshared " +
     shared.string() + " && mount -t tmpfs -o size=1m canary " + (shared / "sub").string());
  auto mounted = [&] {
    return Sh("grep -c ' " + (shared / "sub").string() + " ' /proc/self/mountinfo || true") != "0";
  };
  ASSERT_TRUE(mounted());
  {
    auto ns = NetworkNamespace::Create(dir_.path() / "netns", Egress::kNat);
    ASSERT_TRUE(ns.ok()) << ns.status().message();
    EXPECT_TRUE(ns->nat());
    EXPECT_TRUE(mounted()) << "starting the NAT unmounted a mount of the host";
  }
  EXPECT_TRUE(mounted()) << "stopping the NAT unmounted a mount of the host";
}

// `s` with each run of blanks as one space.
std::string Words(const std::string& s) {
  std::istringstream in(s);
  std::string out, w;
  while (in >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

uid_t OwnerOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_uid;
}

// With a user namespace the container's root is host id 100000: a file of
// the host's root is nobody's to it. The files it writes keep the ids it
// sees on disk (uid 0, 1000), so a layer is the same as without one, and a
// bind mount (a context with a 0600 file, a cache dir) works as before.
TEST_F(SandboxTest, AUserNamespaceMakesContainerRootNobodyOnTheHost) {
  auto host_root = Run("cat /proc/self/uid_map");  // the control: today's containers
  EXPECT_EQ(Words(host_root.out), "0 0 4294967295");
  UseUserNamespace();
  fs::path context = dir_.path() / "context";
  testing::WriteFile(context / "secret", "s3cret");
  fs::permissions(context / "secret", fs::perms::owner_read | fs::perms::owner_write);
  binds_ = {{context, "/context", false}};
  auto r =
      Run("cat /proc/self/uid_map; stat -c 'hosts:%u' /etc/hosts; cat /context/secret; echo; "
          "touch /made /context/new && touch /owned && chown 1000:1000 /owned && echo wrote");
  EXPECT_EQ(r.result.exit_code, 0) << r.out;
  EXPECT_EQ(Words(r.out), "0 100000 65536 hosts:65534 s3cret wrote");
  fs::path upper = dir_.path() / ("run" + std::to_string(runs_)) / "upper";
  EXPECT_EQ(OwnerOf(upper / "made"), 0u);
  EXPECT_EQ(OwnerOf(upper / "owned"), 1000u);
  EXPECT_EQ(OwnerOf(context / "new"), 0u);
}

// The run's network namespace belongs to its user namespace: /sys is the
// namespace's own, and the NAT reaches the outside and not the host.
TEST_F(SandboxTest, AUserNamespaceKeepsTheRunsNetwork) {
  DD_SKIP_UNLESS(fs::exists("/usr/sbin/ip") || fs::exists("/sbin/ip"), "iproute2 is needed");
  Outside outside(dir_.path() / "outside");
  UseUserNamespace();
  auto ns = NetworkNamespace::Create(dir_.path() / "netns", Egress::kNat, users_.get());
  ASSERT_TRUE(ns.ok()) << ns.status().message();
  ASSERT_FALSE(ns->user_path().empty());
  auto r =
      Run("echo $(ls /sys/class/net); timeout 5 wget -q -O - http://" + outside.address() +
              ":8080/; echo; timeout 3 wget -q -O - http://127.0.0.1:" + outside.loopback_port() +
              "/ || echo no-host-loopback",
          {}, seconds(60), &*ns);
  EXPECT_NE(r.out.find("lo tap0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("outside says hi"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no-host-loopback"), std::string::npos) << r.out;
}

// A root the container cannot reach is named, not a bare EACCES from runc.
TEST_F(SandboxTest, AUserNamespaceNamesADirectoryItCannotPass) {
  UseUserNamespace();
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0700), 0);
  fs::path run = dir_.path() / "closed";
  auto mount = OverlayMount::Mount({dir_.path() / "base"}, run / "upper", run / "work",
                                   run / "root", users_.get());
  ASSERT_TRUE(mount.ok()) << mount.status().message();
  ContainerSpec spec;
  spec.rootfs = mount->target();
  spec.args = {"/bin/true"};
  spec.network = Network::kNone;
  spec.users = users_;
  RunOptions o;
  o.state_dir = run / "state";
  auto r = runtime::Run(spec, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir_.path().string() + " is not searchable by others"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace drydock::runtime
