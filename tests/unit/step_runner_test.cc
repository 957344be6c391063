// Task files running for real: busybox from a test registry under runc, in
// a network namespace of the run's own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "remote/client.h"
#include "steps/steps.h"
#include "test_dir.h"
#include "test_image.h"
#include "test_registry.h"

namespace drydock::steps {
namespace {

namespace fs = std::filesystem;

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DD_SKIP_UNLESS(::geteuid() == 0, "needs root for mounts and runc");
    DD_SKIP_UNLESS(fs::exists("/bin/busybox") && fs::exists("/usr/sbin/runc"),
                   "busybox-static and runc are needed");
    fs::path root = dir_.path() / "busybox";
    testing::MakeBusyboxRoot(root, {"sh", "echo", "cat", "sleep", "true", "false", "httpd", "wget",
                                    "seq", "test", "ls", "ln"});
    testing::WriteFile(root / "www/index.html", "served by the web step");
    image_ = registry_.address() + "/tools/busybox:1";
    testing::PushDir(image_, root, dir_.path());
  }

  void TearDown() override {
    EXPECT_EQ(testing::MountsUnder(dir_.path()), std::vector<std::string>{});
  }

  // Renders `yaml` ($IMG is the busybox image) and runs it.
  ExecResult Run(std::string yaml) {
    for (size_t p; (p = yaml.find("$IMG")) != std::string::npos;) yaml.replace(p, 4, image_);
    auto task = ParseTaskFile(yaml);
    EXPECT_TRUE(task.ok()) << task.status().message();
    if (!task.ok()) return {};
    ExecOptions o;
    o.work_dir = dir_.path() / ("run" + std::to_string(++runs_));
    o.build_state = dir_.path() / "state";
    o.registry = testing::AdminClient();
    log_.clear();
    o.log = [this](std::string_view s) {
      std::lock_guard lock(mu_);
      log_.append(s);
    };
    auto r = RunSteps(*task, o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    EXPECT_FALSE(fs::exists(o.work_dir / "netns"));
    return r.ok() ? *r : ExecResult{};
  }

  TempDir dir_ = testing::MakeTestDir();
  testing::TestRegistry registry_;
  std::string image_;
  std::mutex mu_;
  std::string log_;
  int runs_ = 0;
};

TEST_F(ExecutorTest, StepsShareTheWorkspaceAndRunInOrder) {
  auto r = Run(R"(steps:
  - cmd: $IMG sh -c "echo one > note.txt"
  - cmd: $IMG sh -c "echo two >> /workspace/note.txt; cat note.txt"
)");
  EXPECT_TRUE(r.succeeded) << r.error << "\n" << log_;
  EXPECT_NE(log_.find("one\ntwo\n"), std::string::npos) << log_;
  EXPECT_NE(log_.find("Step ID: acb_step_1 marked as successful"), std::string::npos) << log_;
}

TEST_F(ExecutorTest, ADetachedServiceIsReachableByItsStepId) {
  auto r = Run(R"(steps:
  - id: web
    cmd: $IMG httpd -f -p 8080 -h /www
    detach: true
  - id: test
    cmd: $IMG sh -c "for i in $(seq 50); do wget -q -O - http://web:8080/ 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
)");
  EXPECT_TRUE(r.succeeded) << r.error << "\n" << log_;
  EXPECT_NE(log_.find("served by the web step"), std::string::npos) << log_;
}

// Regression (issue 12): a detached step's output callback wrote into a
// string local to the call that started it; under ASan the first line the
// service printed after that call returned was a stack-use-after-return.
TEST_F(ExecutorTest, ADetachedStepThatKeepsWritingOutlivesNothing) {
  auto r = Run(R"(steps:
  - id: svc
    cmd: $IMG sh -c "while true; do echo svc-log; sleep 0.2; done"
    detach: true
  - id: quick
    cmd: $IMG sh -c "echo gone"
    detach: true
  - id: t
    cmd: $IMG sleep 2
)");
  EXPECT_TRUE(r.succeeded) << r.error << "\n" << log_;
  // Lines printed while `t` ran, after RunOnce for `svc` had returned.
  size_t lines = 0;
  for (size_t p = 0; (p = log_.find("svc-log", p)) != std::string::npos; ++p) ++lines;
  EXPECT_GE(lines, 3u) << log_;
  EXPECT_NE(log_.find("gone"), std::string::npos) << log_;
}

// Each waits (up to 10 s) for the other to have started: run one after
// another, the first would fail.
TEST_F(ExecutorTest, IndependentStepsRunInParallel) {
  auto r = Run(R"(steps:
  - id: a
    cmd: $IMG sh -c "touch a.started; for i in $(seq 100); do test -f b.started && exit 0; sleep 0.1; done; exit 1"
    when: ["-"]
  - id: b
    cmd: $IMG sh -c "touch b.started; for i in $(seq 100); do test -f a.started && exit 0; sleep 0.1; done; exit 1"
    when: ["-"]
  - id: after
    cmd: $IMG echo both done
    when: [a, b]
)");
  EXPECT_TRUE(r.succeeded) << r.error << "\n" << log_;
  EXPECT_LT(log_.find("Step ID: b marked"), log_.find("both done")) << log_;
  EXPECT_LT(log_.find("Step ID: a marked"), log_.find("both done")) << log_;
}

TEST_F(ExecutorTest, AFailureStopsTheRunUnlessIgnored) {
  auto r = Run(R"(steps:
  - id: ignored
    cmd: $IMG false
    ignoreErrors: true
  - id: long
    cmd: $IMG sleep 60
    when: ["-"]
  - id: fails
    cmd: $IMG sh -c "sleep 1; exit 3"
    when: [ignored]
  - id: never
    cmd: $IMG echo should not run
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(r.error.find("failed to run step ID: fails"), std::string::npos) << r.error;
  EXPECT_NE(log_.find("Step ID: ignored marked as successful"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("should not run"), std::string::npos) << log_;
  // The 60 s sleep was killed, not waited for.
  auto long_step =
      std::find_if(r.steps.begin(), r.steps.end(), [](const auto& s) { return s.id == "long"; });
  ASSERT_NE(long_step, r.steps.end()) << "no result for step 'long'";
  EXPECT_LT(long_step->seconds, 30);
}

TEST_F(ExecutorTest, RetriesAndTimeouts) {
  auto r = Run(R"(steps:
  - cmd: $IMG sh -c "test -f tried && echo second try worked && exit 0; touch tried; exit 1"
    retries: 2
    retryDelay: 1
  - id: slow
    cmd: $IMG sleep 30
    timeout: 1
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(log_.find("second try worked"), std::string::npos) << log_;
  EXPECT_NE(r.error.find("slow: timed out after 1 seconds"), std::string::npos) << r.error;
}

// ACR's build-run-push: an image tagged by a build step runs in a later cmd
// step without a push, and a push step sends it to the registry.
TEST_F(ExecutorTest, BuildRunAndPushAnImageOfTheRun) {
  std::string pushed = registry_.address() + "/team/hello:1";
  auto r = Run(R"(steps:
  - cmd: $IMG sh -c "printf 'FROM $IMG\nRUN echo built in the run > /built.txt\n' > Dockerfile"
  - build: -t hello-local:1 -t )" +
               pushed + R"( --build-arg UNUSED=1 .
  - cmd: hello-local:1 cat /built.txt
  - push: [")" +
               pushed + R"("]
  - id: not-built
    push: [")" +
               registry_.address() + R"(/team/other:1"]
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(log_.find("built in the run"), std::string::npos) << log_;
  EXPECT_NE(log_.find("Pushed " + pushed + "@sha256:"), std::string::npos) << log_;
  EXPECT_NE(r.error.find("not-built: push: " + registry_.address() +
                         "/team/other:1 was not built by an earlier step of this run"),
            std::string::npos)
      << r.error;
  remote::Client client(testing::AdminClient());
  EXPECT_TRUE(client.GetManifest(*oci::ParseImageReference(pushed)).ok());
}

// After a crash only the step runner's own runc roots are released: one a step
// wrote into its root filesystem (or links to elsewhere) could name any
// process to kill.
TEST(ContainerStateRootsTest, OnlyTheExecutorsOwnDirectories) {
  TempDir dir = testing::MakeTestDir();
  fs::path steps = dir.path() / "steps";
  fs::create_directories(steps / "build-1/state/runc");
  fs::create_directories(steps / "web-1/upper/steps/evil-1/state/runc");
  fs::create_directories(dir.path() / "elsewhere/state/runc");
  fs::create_symlink(dir.path() / "elsewhere", steps / "linked-1");
  fs::create_directories(steps / "half-1");
  fs::create_symlink(dir.path() / "elsewhere/state", steps / "half-1/state");
  EXPECT_EQ(ContainerStateRoots(dir.path()), std::vector<fs::path>{steps / "build-1/state/runc"});
  EXPECT_EQ(ContainerStateRoots(dir.path() / "missing"), std::vector<fs::path>{});
}

// Root on the host is the server owner's to give.
TEST_F(ExecutorTest, PrivilegedAndHostNetworkStepsNeedTheServersConsent) {
  auto r = Run(R"(steps:
  - cmd: $IMG true
    privileged: true
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(r.error.find("builds.allow_privileged_steps"), std::string::npos) << r.error;
  r = Run(R"(steps:
  - cmd: $IMG true
    network: host
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(r.error.find("turned off on this server"), std::string::npos) << r.error;
}

TEST_F(ExecutorTest, BuildStepInputIsChecked) {
  auto r = Run(R"(steps:
  - build: -t x:1 ../outside
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(r.error.find("must stay inside the workspace"), std::string::npos) << r.error;
  r = Run(R"(steps:
  - cmd: $IMG ln -s / escape
  - build: -t x:1 escape
)");
  EXPECT_FALSE(r.succeeded);
  EXPECT_NE(r.error.find("the build context 'escape' must stay inside the workspace"),
            std::string::npos)
      << r.error;
  r = Run(R"(steps:
  - build: --squash -t x:1 .
)");
  EXPECT_NE(r.error.find("option --squash is not supported"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace drydock::steps
