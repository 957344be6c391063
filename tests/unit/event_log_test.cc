// The event log's consumers (events::LogFollower): in order, at least once,
// from a cursor that survives a restart; a new consumer is not sent the past.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "events/events.h"
#include "storage/metadata_store.h"
#include "test_dir.h"

namespace drydock::events {
namespace {

using std::chrono::milliseconds;

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string());
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
  }
  void Push(const std::string& tag) {
    storage::ManifestPut p;
    p.record.repo = "r";
    p.record.digest = oci::Digest::Of(tag);
    p.record.media_type = "application/vnd.oci.image.manifest.v1+json";
    p.record.content = tag;
    p.tag = tag;
    ASSERT_TRUE(store_->PutManifest(p).ok());
  }
  // A handler recording the tags it saw; fails while `failing` is set.
  LogFollower::Handler Recorder() {
    return [this](const ManifestEvent& e) {
      std::lock_guard lock(mu_);
      if (failing_) {
        ++refused_;
        cv_.notify_all();
        return Status(Code::kUnavailable, "not now");
      }
      seen_.push_back(e.tag);
      cv_.notify_all();
      return Status::Ok();
    };
  }
  // Waits until `n` events were seen (or 10 s).
  std::vector<std::string> SeenAfter(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return seen_.size() >= n; });
    return seen_;
  }

  TempDir dir_ = testing::MakeTestDir();
  std::unique_ptr<storage::MetadataStore> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
  bool failing_ = false;
  int refused_ = 0;
};

// Which endpoints get which events: by kind (manifest events unless an
// endpoint lists others), by repository or task pattern; and the signature
// receivers check (RFC 4231's second HMAC-SHA256 test case).
TEST(NotificationTest, EndpointsGetTheKindsRepositoriesAndTasksTheyAskFor) {
  ManifestEvent push;
  push.action = "push";
  push.repository = "prod/app";
  ManifestEvent failed;
  failed.action = "run";
  failed.run = "ca4";
  failed.status = "Failed";
  ManifestEvent timeout = failed;
  timeout.status = "Timeout";
  EXPECT_EQ(NotificationName(push), "manifest.push");
  EXPECT_EQ(NotificationName(failed), "run.failed");
  EXPECT_EQ(NotificationName(timeout), "run.timedout");

  Endpoint all;  // no events: the manifest events, as before run events
  EXPECT_TRUE(Wants(all, push, ""));
  EXPECT_FALSE(Wants(all, failed, "app"));
  Endpoint runs;
  runs.events = {"run.failed"};
  runs.tasks = {"prod-*"};
  EXPECT_TRUE(Wants(runs, failed, "prod-api"));
  EXPECT_FALSE(Wants(runs, failed, "dev-api"));
  EXPECT_FALSE(Wants(runs, failed, ""));  // a quick run has no task
  EXPECT_FALSE(Wants(runs, timeout, "prod-api"));
  EXPECT_FALSE(Wants(runs, push, ""));
  Endpoint prod;
  prod.repositories = {"prod/*"};
  EXPECT_TRUE(Wants(prod, push, ""));
  push.repository = "dev/app";
  EXPECT_FALSE(Wants(prod, push, ""));

  EXPECT_EQ(Signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(EventLogTest, ANewConsumerStartsAtTheEndThenFollowsInOrder) {
  Push("old");
  {
    LogFollower f(*store_, "c", Recorder(), milliseconds(20));
    // The cursor is made at the end of the log (by whichever call comes
    // first, the follower's or this one) before anything new arrives.
    ASSERT_TRUE(store_->InitCursor("c").ok());
    Push("a");
    Push("b");
    f.Wake();
    EXPECT_EQ(SeenAfter(2), (std::vector<std::string>{"a", "b"}));
  }
  // Stopped and started again: it goes on from its cursor.
  Push("c");
  LogFollower again(*store_, "c", Recorder(), milliseconds(20));
  EXPECT_EQ(SeenAfter(3), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(EventLogTest, AFailedEventIsHandledAgainAndNotSkipped) {
  LogFollower f(*store_, "c", Recorder(), milliseconds(20));
  ASSERT_TRUE(store_->InitCursor("c").ok());
  {
    std::lock_guard lock(mu_);
    failing_ = true;
  }
  Push("a");
  f.Wake();
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return refused_ >= 2; }));
    failing_ = false;
  }
  Push("b");
  EXPECT_EQ(SeenAfter(2), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace drydock::events
