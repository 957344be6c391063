#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mutex>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "runtime/runtime.h"
#include "test_dir.h"

namespace drydock::runtime {
namespace {

namespace fs = std::filesystem;

bool IsMounted(const fs::path& p) {
  std::string escaped;  // as mountinfo writes a space
  for (char c : p.string()) escaped += c == ' ' ? std::string("\\040") : std::string(1, c);
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mounts, line)) {
    if (line.find(" " + escaped + " ") != std::string::npos) return true;
  }
  return false;
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DD_SKIP_UNLESS(::geteuid() == 0, "needs root for mounts and runc");
    DD_SKIP_UNLESS(fs::exists("/bin/busybox"), "busybox-static is not installed");
    // A base layer with busybox and its applet links.
    base_ = dir_.path() / "base";
    fs::create_directories(base_ / "bin");
    fs::copy_file("/bin/busybox", base_ / "bin/busybox");
    for (const char* applet :
         {"sh", "echo", "id", "sleep", "cat", "rm", "ls", "mkdir", "touch", "hostname"}) {
      fs::create_symlink("busybox", base_ / "bin" / applet);
    }
    fs::create_directories(base_ / "etc");
    std::ofstream(base_ / "etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n";
    std::ofstream(base_ / "etc/doomed") << "bye";
  }

  Result<OverlayMount> Mount() {
    return OverlayMount::Mount({base_}, dir_.path() / "upper", dir_.path() / "work",
                               dir_.path() / "rootfs");
  }

  RunResult RunIn(const fs::path& rootfs, std::vector<std::string> args, std::string& out,
                  std::chrono::seconds timeout = std::chrono::seconds(60),
                  Network net = Network::kHost) {
    ContainerSpec spec;
    spec.rootfs = rootfs;
    spec.args = std::move(args);
    spec.env = {"PATH=/bin", "GREETING=hello"};
    spec.network = net;
    RunOptions o;
    o.state_dir = dir_.path() / "state";
    o.timeout = timeout;
    o.output = [&](std::string_view s) { out.append(s); };
    auto r = runtime::Run(spec, o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (r.ok()) return *r;
    RunResult failed;
    failed.exit_code = -1;
    return failed;
  }

  TempDir dir_ = testing::MakeTestDir();
  fs::path base_;
};

TEST_F(RuntimeTest, RunsAndCapturesChangesInTheUpperDir) {
  auto m = Mount();
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::string out;
  auto r = RunIn(
      m->target(),
      {"/bin/sh", "-c", "echo $GREETING; id -u; hostname; echo new > /etc/new; rm /etc/doomed"},
      out);
  EXPECT_EQ(r.exit_code, 0) << out;
  EXPECT_EQ(out, "hello\n0\ndrydock\n");
  fs::path upper = dir_.path() / "upper";
  EXPECT_TRUE(fs::exists(upper / "etc/new"));
  struct stat st;
  ASSERT_EQ(::lstat((upper / "etc/doomed").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));               // overlayfs whiteout
  EXPECT_TRUE(fs::exists(base_ / "etc/doomed"));  // the lower layer is untouched
}

TEST_F(RuntimeTest, ExitCodeIsAResult) {
  auto m = Mount();
  ASSERT_TRUE(m.ok());
  std::string out;
  auto r = RunIn(m->target(), {"/bin/sh", "-c", "echo failing >&2; exit 7"}, out);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(out, "failing\n");
}

TEST_F(RuntimeTest, TimeoutKillsTheContainer) {
  auto m = Mount();
  ASSERT_TRUE(m.ok());
  std::string out;
  auto start = std::chrono::steady_clock::now();
  auto r = RunIn(m->target(), {"/bin/sh", "-c", "echo started; sleep 300"}, out,
                 std::chrono::seconds(1));
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(out, "started\n");
  // runc's state is gone: nothing left running under our root.
  EXPECT_FALSE(fs::exists(dir_.path() / "state/runc") && !fs::is_empty(dir_.path() / "state/runc"));
}

TEST_F(RuntimeTest, NetworkNoneHasOnlyLoopback) {
  auto m = Mount();
  ASSERT_TRUE(m.ok());
  std::string out;
  auto r = RunIn(m->target(), {"/bin/sh", "-c", "ls /sys/class/net"}, out, std::chrono::seconds(60),
                 Network::kNone);
  EXPECT_EQ(r.exit_code, 0) << out;
  EXPECT_EQ(out, "lo\n");
}

// 120 lowers: far past what fits in the mount options as absolute paths.
TEST_F(RuntimeTest, StacksDeepImages) {
  std::vector<fs::path> lowers;
  for (int i = 119; i >= 0; --i) {
    fs::path l =
        dir_.path() / "deep-snapshots" / (std::string(64, 'a' + i % 6) + std::to_string(i));
    fs::create_directories(l / "layers");
    std::ofstream(l / "layers" / std::to_string(i)) << i;
    lowers.push_back(l);
  }
  lowers.push_back(base_);
  auto m = OverlayMount::Mount(lowers, dir_.path() / "upper", dir_.path() / "work",
                               dir_.path() / "rootfs");
  ASSERT_TRUE(m.ok()) << m.status().message();
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(m->target() / "layers")) ++n;
  EXPECT_EQ(n, 120u);
  EXPECT_TRUE(fs::exists(m->target() / "bin/busybox"));
}

TEST_F(RuntimeTest, MountIsReleased) {
  fs::path target = dir_.path() / "rootfs";
  {
    auto m = Mount();
    ASSERT_TRUE(m.ok());
    EXPECT_TRUE(IsMounted(target));
  }
  EXPECT_FALSE(IsMounted(target));
}

// What a multi-step run relies on: a detached service in a namespace of the
// run's own, reachable by its step id from another container there, gone
// when stopped, and the namespace gone with its object.
// Each namespace is made by a forked child that waits on a pipe: a child
// forked by another thread at the same time once inherited that pipe's
// other end, and the two children waited for each other for ever.
TEST_F(RuntimeTest, NamespacesMadeAtOnceDoNotWaitForEachOther) {
  auto all = std::async(std::launch::async, [this] {
    std::vector<std::thread> threads;
    std::atomic<int> made{0};
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 15; ++i) {
          auto ns = NetworkNamespace::Create(dir_.path() /
                                             ("ns-" + std::to_string(t) + "-" + std::to_string(i)));
          if (ns.ok()) ++made;
        }
      });
    for (auto& th : threads) th.join();
    return made.load();
  });
  if (all.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    ADD_FAILURE() << "4 threads making 15 network namespaces each did not finish in 120 s";
    std::fflush(nullptr);
    ::_exit(1);  // the threads are stuck for good
  }
  EXPECT_EQ(all.get(), 60);
}

TEST_F(RuntimeTest, DetachedServiceIsReachableByNameInASharedNamespace) {
  fs::create_symlink("busybox", base_ / "bin/httpd");
  fs::create_symlink("busybox", base_ / "bin/wget");
  fs::create_directories(base_ / "www");
  std::ofstream(base_ / "www/hello") << "hello from webapp";
  auto m = Mount();
  ASSERT_TRUE(m.ok()) << m.status().message();
  fs::path ns_path = dir_.path() / "netns";
  {
    auto ns = NetworkNamespace::Create(ns_path);
    ASSERT_TRUE(ns.ok()) << ns.status().message();
    auto spec = [&](std::vector<std::string> args) {
      ContainerSpec s;
      s.rootfs = m->target();
      s.args = std::move(args);
      s.env = {"PATH=/bin"};
      s.network = Network::kJoin;
      s.network_namespace = ns->path();
      s.extra_hosts = {"127.0.0.1\twebapp"};
      return s;
    };
    RunOptions o;
    o.state_dir = dir_.path() / "state";
    std::string server_out;
    std::mutex mu;
    o.output = [&](std::string_view s) {
      std::lock_guard lock(mu);
      server_out.append(s);
    };
    auto server = Detached::Start(spec({"httpd", "-f", "-p", "8080", "-h", "/www"}), o);
    std::string out;
    RunOptions client;
    client.state_dir = dir_.path() / "state";
    client.output = [&](std::string_view s) { out.append(s); };
    // The server needs a moment to listen; the client retries for up to 5 s.
    auto r = runtime::Run(
        spec({"sh", "-c",
              "for i in $(seq 50); do wget -q -O - http://webapp:8080/hello 2>/dev/null && "
              "exit 0; sleep 0.1; done; exit 1"}),
        client);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->exit_code, 0) << out;
    EXPECT_EQ(out, "hello from webapp");
    EXPECT_TRUE(server->running());
    // The host's network never sees the service.
    std::string host_out;
    auto host =
        RunIn(m->target(), {"sh", "-c", "wget -q -T 2 -O - http://127.0.0.1:8080/hello"}, host_out);
    EXPECT_NE(host.exit_code, 0) << host_out;
    auto stopped = server->Stop();
    ASSERT_TRUE(stopped.ok()) << stopped.status().message();
    EXPECT_TRUE(stopped->canceled);
    EXPECT_FALSE(server->running());
  }
  EXPECT_FALSE(fs::exists(ns_path));
  EXPECT_FALSE(fs::exists(dir_.path() / "state/runc") && !fs::is_empty(dir_.path() / "state/runc"));
}

// A privileged step gets every capability the server holds and no masked
// or read-only /proc paths; a normal one keeps Docker's defaults.
TEST(RuntimeSpecTest, PrivilegedGetsTheBoundingSetAndNoMasks) {
  ContainerSpec spec;
  spec.rootfs = "/nonexistent";
  spec.args = {"true"};
  auto normal = nlohmann::json::parse(RuntimeSpecJson(spec, "/h", "/r"));
  spec.privileged = true;
  auto privileged = nlohmann::json::parse(RuntimeSpecJson(spec, "/h", "/r"));
  auto caps = [](const nlohmann::json& j) {
    return j["process"]["capabilities"]["bounding"].get<std::vector<std::string>>();
  };
  auto has = [](const std::vector<std::string>& list, const std::string& cap) {
    return std::find(list.begin(), list.end(), cap) != list.end();
  };
  EXPECT_FALSE(has(caps(normal), "CAP_SYS_ADMIN"));
  EXPECT_TRUE(has(caps(normal), "CAP_CHOWN"));
  EXPECT_GT(caps(privileged).size(), caps(normal).size());
  EXPECT_TRUE(has(caps(privileged), "CAP_CHOWN"));
  EXPECT_TRUE(normal["linux"].contains("maskedPaths"));
  EXPECT_FALSE(privileged["linux"].contains("maskedPaths"));
  EXPECT_FALSE(privileged["linux"].contains("readonlyPaths"));
}

// What a killed server leaves (here: nested mounts, one under a name with a
// space) is released, so the directory can be removed.
TEST_F(RuntimeTest, ReleaseLeftoversDetachesMountsBelowTheDirectory) {
  fs::path runs = dir_.path() / "runs";
  fs::path outer = runs / "ca1 x" / "root";
  fs::create_directories(outer);
  fs::create_directories(runs / "ca1 x" / "src");
  ASSERT_EQ(::mount((runs / "ca1 x" / "src").c_str(), outer.c_str(), nullptr, MS_BIND, nullptr), 0);
  fs::create_directories(outer / "inner");
  ASSERT_EQ(::mount(base_.c_str(), (outer / "inner").c_str(), nullptr, MS_BIND, nullptr), 0);
  ASSERT_TRUE(IsMounted(outer / "inner"));
  auto elsewhere = Mount();  // outside `runs`: left alone
  ASSERT_TRUE(elsewhere.ok());
  ReleaseLeftovers(runs, {});
  EXPECT_FALSE(IsMounted(outer / "inner"));
  EXPECT_FALSE(IsMounted(outer));
  EXPECT_TRUE(IsMounted(elsewhere->target()));
  std::error_code ec;
  fs::remove_all(runs, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(fs::exists(base_ / "bin/busybox"));  // removing never reached through a mount
}

}  // namespace
}  // namespace drydock::runtime
