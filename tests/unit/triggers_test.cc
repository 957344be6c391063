// The trigger service's decisions against a real metadata store and run
// queue (runs are queued, not executed: no worker is started). The builds
// themselves are exercised end to end by tests/integration/triggers.sh.
#include "triggers/triggers.h"

#include <gtest/gtest.h>

#include <map>

#include "base/fd.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::triggers {
namespace {

namespace fs = std::filesystem;
using tasks::RunFilter;
using tasks::RunStatus;

constexpr const char* kRegistry = "127.0.0.1:5999";
const std::string kOld = "sha256:" + std::string(64, 'a');
const std::string kNew = "sha256:" + std::string(64, 'b');

SystemClock::time_point At(int hour, int minute) {
  using namespace std::chrono;
  return sys_days{year{2026} / 11 / 30} + hours(hour) + minutes(minute);
}

class TriggersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    auto blobs = storage::OpenFilesystemBlobStore((dir_.path() / "blobs").string());
    ASSERT_TRUE(blobs.ok()) << blobs.status().message();
    blobs_ = std::move(*blobs);
    tasks::ServiceOptions o;
    o.data_dir = dir_.path() / "data";
    o.registry_host = kRegistry;
    runs_ = std::make_unique<tasks::RunService>(*store_, *blobs_, o);
    tasks_ = std::make_unique<tasks::TaskService>(*store_, *runs_, o);
    Options t;
    t.own_registries = {kRegistry, "localhost:5999"};
    service_ = std::make_unique<Service>(*store_, *tasks_, *runs_, t);
  }

  // A task with no source (nothing to scan) whose index rows the test sets.
  tasks::Task MakeTask(const std::string& name, std::vector<std::string> images = {},
                       const std::string& type = "Runtime") {
    tasks::Task t;
    t.name = name;
    t.source = "/dev/null";
    t.images = std::move(images);
    t.base_image_trigger_type = type;
    auto created = tasks_->Create(t);
    EXPECT_TRUE(created.ok()) << created.status().message();
    return created.ok() ? *created : t;
  }

  void DependsOn(const std::string& task, std::vector<storage::DependencyRow> rows) {
    for (auto& r : rows) r.task = task;
    ASSERT_TRUE(store_->SetDependencies(task, rows).ok());
  }

  std::vector<tasks::Run> Queued(const std::string& task = "") {
    RunFilter f;
    f.top = 100;
    f.task = task;
    f.status = RunStatus::kQueued;
    auto runs = runs_->List(f);
    EXPECT_TRUE(runs.ok());
    return runs.ok() ? *runs : std::vector<tasks::Run>{};
  }

  void Handle(const events::ManifestEvent& e) {
    Status s = service_->HandlePush(e);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  static events::ManifestEvent Push(const std::string& repo, const std::string& tag,
                                    const std::string& digest) {
    static int64_t next_id = 0;  // each push its own event, as in the log
    events::ManifestEvent e;
    e.id = ++next_id;
    e.action = "push";
    e.repository = repo;
    e.tag = tag;
    e.digest = digest;
    return e;
  }

  TempDir dir_{fs::temp_directory_path(), "triggers-test"};
  std::unique_ptr<storage::MetadataStore> store_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<tasks::RunService> runs_;
  std::unique_ptr<tasks::TaskService> tasks_;
  std::unique_ptr<Service> service_;
};

// An index of two platforms pushed where only its arm64 image changed:
// the tasks that built for arm64 are queued, a task that built only for
// amd64 is not (and `image dependents` says it is up to date); a row from
// before platforms were recorded compares the whole index.
TEST_F(TriggersTest, AnIndexUpdateQueuesOnlyTheTasksOfThePlatformsThatChanged) {
  auto digest = [](char c) { return "sha256:" + std::string(64, c); };
  const std::string amd = digest('1'), arm_old = digest('2'), arm_new = digest('3');
  auto index = [](const std::string& amd64, const std::string& arm64) {
    auto entry = [](const std::string& d, const char* arch) {
      return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + d +
             R"(","size":1,"platform":{"os":"linux","architecture":")" + arch + R"("}})";
    };
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
           R"("manifests":[)" +
           entry(amd64, "amd64") + "," + entry(arm64, "arm64") + "]}";
  };
  const std::string before = index(amd, arm_old), after = index(amd, arm_new);
  const std::string was = oci::Digest::Of(before).str(), now = oci::Digest::Of(after).str();
  storage::ManifestPut put;
  put.record.repo = "base";
  put.record.digest = oci::Digest::Of(after);
  put.record.media_type = "application/vnd.oci.image.index.v1+json";
  put.record.content = after;
  put.tag = "1";
  ASSERT_TRUE(store_->PutManifest(put).ok());

  for (const char* name : {"amd", "arm", "both", "old"}) MakeTask(name, {std::string(name) + ":1"});
  DependsOn("amd", {{"", "Runtime", kRegistry, "base", "1", was, "linux/amd64", amd}});
  DependsOn("arm", {{"", "Runtime", kRegistry, "base", "1", was, "linux/arm64/v8", arm_old}});
  DependsOn("both", {{"", "Runtime", kRegistry, "base", "1", was, "linux/amd64", amd},
                     {"", "Runtime", kRegistry, "base", "1", was, "linux/arm64", arm_old}});
  DependsOn("old", {{"", "Runtime", kRegistry, "base", "1", was, "", ""}});
  Handle(Push("base", "1", now));
  EXPECT_TRUE(Queued("amd").empty());
  EXPECT_EQ(Queued("arm").size(), 1u);
  EXPECT_EQ(Queued("both").size(), 1u);
  EXPECT_EQ(Queued("old").size(), 1u);

  auto dependents = service_->Dependents(std::string(kRegistry) + "/base:1");
  ASSERT_TRUE(dependents.ok()) << dependents.status().message();
  std::map<std::string, bool> up_to_date;
  for (const auto& d : *dependents) up_to_date[d.task + " " + d.platform] = d.up_to_date;
  EXPECT_EQ(up_to_date, (std::map<std::string, bool>{{"amd linux/amd64", true},
                                                     {"arm linux/arm64/v8", false},
                                                     {"both linux/amd64", true},
                                                     {"both linux/arm64", false},
                                                     {"old ", false}}));
  // By digest: the index, or one platform's image of it.
  auto by_index = service_->Dependents(std::string(kRegistry) + "/base@" + was);
  ASSERT_TRUE(by_index.ok()) << by_index.status().message();
  EXPECT_EQ(by_index->size(), 5u);
  auto by_arm64 = service_->Dependents(std::string(kRegistry) + "/base@" + arm_old);
  ASSERT_TRUE(by_arm64.ok()) << by_arm64.status().message();
  std::vector<std::string> built_from_arm64;
  for (const auto& d : *by_arm64) built_from_arm64.push_back(d.task + " " + d.platform);
  EXPECT_EQ(built_from_arm64, (std::vector<std::string>{"arm linux/arm64/v8", "both linux/arm64"}));
}

TEST_F(TriggersTest, ANewDigestUnderATrackedTagQueuesOneRunNamingTheUpdate) {
  MakeTask("app");
  DependsOn("app", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""}});
  Handle(Push("base", "1", kOld));  // what it was built from
  Handle(Push("base", "2", kNew));  // another tag
  Handle(Push("other", "1", kNew));
  EXPECT_TRUE(Queued().empty());

  Handle(Push("base", "1", kNew));
  auto queued = Queued("app");
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].request.type, "AutoBuild");
  EXPECT_EQ(tasks::TriggerName(queued[0].request.trigger), "Image Update");
  ASSERT_EQ(queued[0].request.trigger.image_update.size(), 1u);
  const auto& image = queued[0].request.trigger.image_update[0];
  EXPECT_EQ(image.registry, kRegistry);
  EXPECT_EQ(image.repository, "base");
  EXPECT_EQ(image.tag, "1");
  EXPECT_EQ(image.digest, kNew);

  // A burst of pushes while that run waits is coalesced into it.
  Handle(Push("base", "1", "sha256:" + std::string(64, 'c')));
  EXPECT_EQ(Queued("app").size(), 1u);
}

// After a crash the log hands the trigger an event again. While the run it
// queued is no longer queued (it runs: no coalescing) and has not recorded
// its base yet, the same event must not queue a second run: one per cause.
TEST_F(TriggersTest, AnEventHandledTwiceQueuesOneRun) {
  MakeTask("app");
  DependsOn("app", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""}});
  auto push = Push("base", "1", kNew);
  Handle(push);
  auto queued = Queued("app");
  ASSERT_EQ(queued.size(), 1u);
  auto row = store_->GetRun(queued[0].id);
  ASSERT_TRUE(row.ok());
  row->status = "Running";
  ASSERT_TRUE(store_->UpdateRun(*row, {}).ok());
  ASSERT_TRUE(Queued("app").empty());
  Handle(push);  // the same event, again
  RunFilter all;
  all.top = 100;
  all.task = "app";
  EXPECT_EQ(runs_->List(all)->size(), 1u);
  // A new event for the same digest (pushed again) is a cause of its own.
  Handle(Push("base", "1", kNew));
  EXPECT_EQ(runs_->List(all)->size(), 2u);
}

TEST_F(TriggersTest, RuntimeTriggersIgnoreBuildTimeBasesAndAllDoesNot) {
  MakeTask("runtime-only");
  MakeTask("all", {}, "All");
  DependsOn("runtime-only", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""},
                             {"", "BuildTime", kRegistry, "sdk", "1", kOld, "", ""}});
  DependsOn("all", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""},
                    {"", "BuildTime", kRegistry, "sdk", "1", kOld, "", ""}});
  Handle(Push("sdk", "1", kNew));
  EXPECT_TRUE(Queued("runtime-only").empty());
  EXPECT_EQ(Queued("all").size(), 1u);
}

TEST_F(TriggersTest, DisabledTasksAndTasksWithTheTriggerOffAreNotQueued) {
  auto off = MakeTask("off");
  off.base_image_trigger = false;
  ASSERT_TRUE(tasks_->Update(off).ok());
  auto disabled = MakeTask("disabled");
  disabled.enabled = false;
  ASSERT_TRUE(tasks_->Update(disabled).ok());
  DependsOn("off", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""}});
  DependsOn("disabled", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""}});
  Handle(Push("base", "1", kNew));
  EXPECT_TRUE(Queued().empty());
}

TEST_F(TriggersTest, TwentyTasksOnOneBaseEachGetOneRun) {
  for (int i = 0; i < 20; ++i) {
    std::string name = "app" + std::to_string(i);
    MakeTask(name);
    // Some were never built: an unknown digest is outdated too.
    DependsOn(name, {{"", "Runtime", "localhost:5999", "base", "1", i % 2 ? kOld : "", "", ""}});
  }
  for (int burst = 0; burst < 3; ++burst) Handle(Push("base", "1", kNew));
  auto queued = Queued();
  EXPECT_EQ(queued.size(), 20u);
  std::set<std::string> names;
  for (const auto& r : queued) names.insert(r.request.task);
  EXPECT_EQ(names.size(), 20u);
}

TEST_F(TriggersTest, TimersFireOncePerOccurrenceWindowWithTheirName) {
  auto t = MakeTask("nightly");
  t.timers = {{"", "*/5 * * * *", true}, {"off", "* * * * *", false}};
  auto updated = tasks_->Update(t);
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  EXPECT_EQ(updated->timers[0].name, "t1");

  service_->FireTimers(At(10, 1), At(10, 4));
  EXPECT_TRUE(Queued().empty());
  service_->FireTimers(At(10, 4), At(10, 6));
  auto queued = Queued();
  ASSERT_EQ(queued.size(), 1u);
  ASSERT_TRUE(queued[0].request.trigger.timer.has_value());
  EXPECT_EQ(queued[0].request.trigger.timer->name, "t1");
  EXPECT_EQ(
      queued[0].request.trigger.timer->schedule_occurrence_ms,
      std::chrono::duration_cast<std::chrono::milliseconds>(At(10, 5).time_since_epoch()).count());
  EXPECT_EQ(tasks::TriggerName(queued[0].request.trigger), "Timer");
  // A stalled clock that skipped three occurrences fires once.
  service_->FireTimers(At(10, 6), At(10, 21));
  EXPECT_EQ(Queued().size(), 2u);
}

TEST_F(TriggersTest, WebhooksNeedTheSignatureAndTheTasksBranch) {
  tasks::Task t;
  t.name = "hooked";
  t.source = "http://127.0.0.1:9/team/app.git#main:svc";
  auto created = tasks_->Create(t);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(created->branch, "main");
  ASSERT_EQ(created->webhook_secret.size(), 40u);
  std::string commit(40, 'e');
  auto push = [&](const std::string& branch, const std::string& delivery,
                  const std::string& secret) {
    std::string body =
        R"({"ref":"refs/heads/)" + branch + R"(","after":")" + commit +
        R"(","deleted":false,"repository":{"clone_url":"http://127.0.0.1:9/team/app.git"}})";
    Headers h = {{"x-github-event", "push"},
                 {"x-github-delivery", delivery},
                 {"x-hub-signature-256", "sha256=" + HmacSha256Hex(secret, body)}};
    return service_->OnWebhook("hooked", h, body);
  };
  auto bad = push("main", "d1", "not-the-secret");
  EXPECT_EQ(bad.http_status, 401);
  EXPECT_TRUE(Queued().empty());
  auto other = push("feature", "d2", created->webhook_secret);
  EXPECT_EQ(other.http_status, 202);
  EXPECT_FALSE(other.run.has_value());
  EXPECT_NE(other.message.find("feature"), std::string::npos) << other.message;

  auto good = push("main", "d3", created->webhook_secret);
  ASSERT_TRUE(good.run.has_value()) << good.http_status << " " << good.message;
  EXPECT_EQ(good.run->request.source, "http://127.0.0.1:9/team/app.git#" + commit + ":svc");
  ASSERT_TRUE(good.run->request.trigger.source.has_value());
  EXPECT_EQ(good.run->request.trigger.source->event_type, "commit");
  EXPECT_EQ(good.run->request.trigger.source->commit_id, commit);
  EXPECT_EQ(good.run->request.trigger.source->provider, "github");
  auto again = push("main", "d3", created->webhook_secret);
  EXPECT_FALSE(again.run.has_value());
  EXPECT_NE(again.message.find("duplicate"), std::string::npos);
  EXPECT_EQ(Queued().size(), 1u);
  // An unknown task looks like a bad signature (issue 12: no enumeration).
  EXPECT_EQ(service_->OnWebhook("nope", {}, "{}").http_status, 401);
}

TEST_F(TriggersTest, DependentsFollowChainsOfTasksWithWhatEachWasBuiltFrom) {
  MakeTask("framework", {std::string(kRegistry) + "/framework:1"});
  MakeTask("app", {std::string(kRegistry) + "/app:1"});
  MakeTask("unrelated", {std::string(kRegistry) + "/x:1"});
  DependsOn("framework", {{"", "Runtime", kRegistry, "base", "1", kOld, "", ""}});
  DependsOn("app", {{"", "Runtime", kRegistry, "framework", "1", kNew, "", ""}});
  DependsOn("unrelated", {{"", "Runtime", kRegistry, "other", "1", kOld, "", ""}});
  auto deps = service_->Dependents("base:1");
  ASSERT_TRUE(deps.ok()) << deps.status().message();
  ASSERT_EQ(deps->size(), 2u);
  EXPECT_EQ((*deps)[0].task, "framework");
  EXPECT_EQ((*deps)[0].depth, 1);
  EXPECT_EQ((*deps)[0].built_from, kOld);
  EXPECT_EQ((*deps)[1].task, "app");
  EXPECT_EQ((*deps)[1].depth, 2);
  EXPECT_EQ((*deps)[1].base, std::string(kRegistry) + "/framework:1");
  // By digest: the tasks built from exactly that one.
  auto by_digest = service_->Dependents(std::string(kRegistry) + "/base@" + kOld);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().message();
  ASSERT_FALSE(by_digest->empty());
  EXPECT_EQ((*by_digest)[0].task, "framework");
}

TEST_F(TriggersTest, TaskFilesAndBadDefinitionsAreRefusedClearly) {
  tasks::Task t;
  t.name = "multi";
  t.source = "/dev/null";
  t.file = "acb.yaml";
  // Without a source the task file must come with the task.
  auto refused = tasks_->Create(t);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("needs the file's content"), std::string::npos)
      << refused.status().message();
  t.task_file = "steps:\n  - cmd: busybox true\n";
  t.images = {"app:1"};
  refused = tasks_->Create(t);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("push steps"), std::string::npos)
      << refused.status().message();
  t.images.clear();
  auto multi = tasks_->Create(t);
  ASSERT_TRUE(multi.ok()) << multi.status().message();
  // Its builds are known once it runs: no scan error meanwhile.
  EXPECT_EQ(multi->dependencies_error, "");
  t.task_file.clear();
  t.file = "Dockerfile";
  t.base_image_trigger_type = "Sometimes";
  EXPECT_NE(tasks_->Create(t).status().message().find("Runtime or All"), std::string::npos);
  t.base_image_trigger_type = "Runtime";
  t.name = "bad name!";
  EXPECT_NE(tasks_->Create(t).status().message().find("task name"), std::string::npos);
  t.name = "nodockerfile";
  auto created = tasks_->Create(t);
  ASSERT_TRUE(created.ok());
  // Nothing to scan is said, not silently ignored.
  EXPECT_NE(created->dependencies_error.find("Dockerfile"), std::string::npos)
      << created->dependencies_error;
  EXPECT_EQ(tasks_->Create(t).status().code(), Code::kConflict);
}

}  // namespace
}  // namespace drydock::triggers
