// The run service with real components: SQLite metadata, the in-process
// registry, git over file://, and real builds (root, runc, overlayfs).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "layer/layer.h"
#include "remote/client.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"
#include "tasks/tasks.h"
#include "test_dir.h"
#include "test_image.h"
#include "test_registry.h"
#include "test_server.h"

namespace drydock::tasks {
namespace {

namespace fs = std::filesystem;
using drydock::testing::AdminClient;
using drydock::testing::MountsUnder;
using drydock::testing::PushDir;
using drydock::testing::ReadFile;
using drydock::testing::Sh;
using drydock::testing::WriteFile;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using RunRecord = tasks::Run;  // gtest's Test::Run hides the name in fixtures

// Mount points at or below `dir`.

// A ustar archive of one regular file, with whatever name (even "../x").
std::string TarWithEntry(const std::string& name, const std::string& content) {
  std::string h(512, '\0');
  auto put = [&](size_t at, const std::string& v) { h.replace(at, v.size(), v); };
  auto octal = [](uint64_t v, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*lo", width - 1, static_cast<unsigned long>(v));
    return std::string(buf);
  };
  put(0, name);
  put(100, octal(0644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(content.size(), 12));
  put(136, octal(0, 12));
  put(148, "        ");
  h[156] = '0';
  put(257, std::string("ustar\0", 6) + "00");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  put(148, octal(sum, 7) + std::string(1, '\0'));
  std::string body = content + std::string((512 - content.size() % 512) % 512, '\0');
  return h + body + std::string(1024, '\0');
}

// `busybox httpd` serving `dir` on a loopback port while it lives.
class Httpd {
 public:
  explicit Httpd(const fs::path& dir)
      : server_({"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port_), "-h",
                 dir.string()},
                port_) {}
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + path;
  }

 private:
  int port_ = drydock::testing::FreePort();
  drydock::testing::LoopbackServer server_;
};

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DD_SKIP_UNLESS(::geteuid() == 0, "builds need root for mounts and runc");
    DD_SKIP_UNLESS(fs::exists("/bin/busybox") && fs::exists("/usr/sbin/runc"),
                   "busybox-static and runc are needed");
    auto store = storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    auto blobs = storage::OpenFilesystemBlobStore((dir_.path() / "blobs").string());
    ASSERT_TRUE(blobs.ok()) << blobs.status().message();
    blobs_ = std::move(*blobs);
    fs::path root = dir_.path() / "busybox";
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox");
    for (const char* tool : {"sh", "echo", "cat", "ls", "sleep", "true", "env"})
      fs::create_symlink("busybox", root / "bin" / tool);
    WriteFile(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    base_ = registry_.address() + "/base/busybox:1";
    PushDir(base_, root, dir_.path());
  }

  void TearDown() override {
    service_.reset();
    EXPECT_EQ(MountsUnder(dir_.path()), std::vector<std::string>{});
  }

  ServiceOptions Options() {
    ServiceOptions o;
    o.data_dir = dir_.path() / "data";
    o.build_state = dir_.path() / "state";
    o.registry_host = registry_.address();
    o.credentials = [](const std::string&, const std::string&) {
      return AdminClient().credentials;
    };
    o.allow_local_git = true;
    o.allow_private_fetches = true;  // the test's servers are on loopback
    return o;
  }

  RunService& Service(ServiceOptions o, bool start = true) {
    service_.reset();
    service_ = std::make_unique<RunService>(*store_, *blobs_, std::move(o));
    if (start) {
      EXPECT_TRUE(service_->Start().ok());
    }
    return *service_;
  }
  RunService& Service() { return Service(Options()); }

  std::string Upload(const std::string& bytes) {
    size_t at = 0;
    auto id = service_->StoreContext([&](char* buf, size_t n) -> Result<size_t> {
      size_t k = std::min(n, bytes.size() - at);
      std::copy_n(bytes.data() + at, k, buf);
      at += k;
      return k;
    });
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : "";
  }
  // A gzipped tar of `dir`, as `drydock build` uploads it.
  std::string UploadDir(const fs::path& dir) {
    fs::path tgz = dir_.path() / "ctx.tar.gz";
    Sh("tar -C " + dir.string() + " -czf " + tgz.string() + " .");
    return Upload(ReadFile(tgz));
  }
  fs::path Context(const std::string& name, const std::string& dockerfile) {
    fs::path dir = dir_.path() / name;
    WriteFile(dir / "Dockerfile", dockerfile);
    return dir;
  }

  RunRequest Request(const std::string& source) {
    RunRequest r;
    r.source = source;
    r.user = "admin";
    return r;
  }

  RunRecord WaitFinal(const std::string& id, seconds limit = seconds(120)) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      auto run = service_->Get(id);
      EXPECT_TRUE(run.ok());
      if (run.ok() && IsFinal(run->status)) return *run;
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "run " << id << " did not finish";
    return *service_->Get(id);
  }
  void WaitFor(const std::string& id, const std::function<bool(const RunRecord&)>& pred) {
    auto deadline = Clock::now() + seconds(60);
    while (Clock::now() < deadline && !pred(*service_->Get(id)))
      std::this_thread::sleep_for(milliseconds(50));
  }

  std::string Log(const std::string& id) {
    auto log = store_->ReadLog(id, 0, SIZE_MAX);
    EXPECT_TRUE(log.ok()) << log.status().message();
    return log.ok() ? log->data : "";
  }
  // The last line without its "2026/11/29 12:00:00 " timestamp.
  static std::string LastLine(const std::string& log) {
    std::string trimmed = log.substr(0, log.find_last_not_of('\n') + 1);
    std::string line = trimmed.substr(trimmed.rfind('\n') + 1);
    return line.size() > 20 && line[4] == '/' && line[16] == ':' ? line.substr(20) : line;
  }

  RunRecord QueueAndWait(RunRequest r) {
    auto run = service_->Queue(std::move(r));
    EXPECT_TRUE(run.ok()) << run.status().message();
    return WaitFinal(run.ok() ? run->id : "none");
  }

  TempDir dir_ = testing::MakeTestDir();
  testing::TestRegistry registry_;
  std::unique_ptr<storage::MetadataStore> store_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<RunService> service_;
  std::string base_;
};

TEST(RunIdTest, Base36AfterAnOffsetLikeAcr) {
  EXPECT_EQ(RunId(1), "ca1");
  EXPECT_EQ(RunId(2), "ca2");
  EXPECT_EQ(RunId(9), "ca9");
  EXPECT_EQ(RunId(10), "caa");
  EXPECT_EQ(RunId(35), "caz");
  EXPECT_EQ(RunId(36), "cb0");
  EXPECT_EQ(RunId(935), "czz");
  EXPECT_EQ(RunId(936), "c100");
}

TEST(RunStatusTest, NamesRoundTrip) {
  for (auto s :
       {RunStatus::kQueued, RunStatus::kStarted, RunStatus::kRunning, RunStatus::kSucceeded,
        RunStatus::kFailed, RunStatus::kCanceled, RunStatus::kError, RunStatus::kTimeout}) {
    EXPECT_EQ(ParseStatus(StatusName(s)), s);
  }
  EXPECT_EQ(StatusName(RunStatus::kSucceeded), "Succeeded");
  EXPECT_FALSE(ParseStatus("succeeded").has_value());
  EXPECT_FALSE(IsFinal(RunStatus::kRunning));
  EXPECT_TRUE(IsFinal(RunStatus::kTimeout));
}

TEST_F(TasksTest, UploadedContextBuildsAndPushes) {
  Service();
  fs::path ctx = Context("app", "FROM " + base_ +
                                    "\nARG GREETING\nARG TOKEN\n"
                                    "RUN echo hello-$GREETING && echo token=$TOKEN\n"
                                    "COPY file.txt /file.txt\n");
  WriteFile(ctx / "file.txt", "content\n");
  RunRequest r = Request("context:" + UploadDir(ctx));
  r.images = {"team/app:{{.Run.ID}}", registry_.address() + "/team/app:latest"};
  r.build_args = {{"GREETING", "world", false}, {"TOKEN", "s3cr3t-value", true}};
  auto queued = service_->Queue(r);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_EQ(queued->id, "ca1");
  EXPECT_EQ(queued->request.images[0], "team/app:ca1");
  EXPECT_EQ(queued->request.build_args[1].value, "");  // never handed out

  RunRecord run = WaitFinal("ca1");
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error << "\n" << Log("ca1");
  EXPECT_EQ(run.error, "");
  EXPECT_GT(run.start_time_ms, 0);
  EXPECT_GE(run.finish_time_ms, run.start_time_ms);
  ASSERT_EQ(run.output_images.size(), 2u);
  remote::Client client(AdminClient());
  auto pushed =
      client.ResolveDigest(*oci::ParseImageReference(registry_.address() + "/team/app:ca1"));
  ASSERT_TRUE(pushed.ok()) << pushed.status().message();
  EXPECT_EQ(run.output_images[0].registry, registry_.address());
  EXPECT_EQ(run.output_images[0].repository, "team/app");
  EXPECT_EQ(run.output_images[0].tag, "ca1");
  EXPECT_EQ(run.output_images[0].digest, pushed->str());
  EXPECT_EQ(run.output_images[1].tag, "latest");
  EXPECT_NE(run.dependencies_json.find("runtime-dependency"), std::string::npos);
  EXPECT_NE(run.dependencies_json.find("base/busybox"), std::string::npos);
  EXPECT_EQ(run.request.build_args[1].value, "");

  std::string log = Log("ca1");
  EXPECT_NE(log.find("Downloading source code..."), std::string::npos) << log;
  EXPECT_NE(log.find("Executing step ID: build. Timeout(sec): 3600, Working directory: '', "
                     "Network: ''"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("hello-world"), std::string::npos) << log;
  EXPECT_NE(log.find("token=***"), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cr3t-value"), std::string::npos) << log;
  EXPECT_NE(log.find("Step ID: build marked as successful (elapsed time in seconds: "),
            std::string::npos);
  EXPECT_NE(log.find("The following dependencies were found:\n["), std::string::npos) << log;
  EXPECT_TRUE(LastLine(log).starts_with("Run ID: ca1 was successful after ")) << LastLine(log);
  // Timestamped like ACR's lines: "2026/11/29 12:00:00 Downloading source code...".
  EXPECT_EQ(log.substr(4, 1) + log.substr(7, 1) + log.substr(13, 1), "//:") << log;

  // The upload was used up and the work dir is gone; the log stays.
  EXPECT_TRUE(fs::is_empty(dir_.path() / "data/contexts"));
  EXPECT_TRUE(fs::is_empty(dir_.path() / "data/runs"));
  auto by_image = service_->List(RunFilter{15, std::nullopt, "", "team/app:ca1", "", 0});
  ASSERT_TRUE(by_image.ok());
  ASSERT_EQ(by_image->size(), 1u);
  EXPECT_EQ(by_image->at(0).id, "ca1");
  EXPECT_TRUE(service_->List(RunFilter{15, std::nullopt, "", "team/app:ca", "", 0})->empty());
  EXPECT_EQ(service_->List(RunFilter{15, RunStatus::kSucceeded, "", "", "", 0})->size(), 1u);
  EXPECT_TRUE(service_->List(RunFilter{15, RunStatus::kFailed, "", "", "", 0})->empty());
  EXPECT_EQ(service_->Cancel("ca1").code(), Code::kConflict);
}

TEST_F(TasksTest, GitSourceRecordsCommitAndBranch) {
  Service();
  fs::path repo = dir_.path() / "repo";
  WriteFile(repo / "svc/Dockerfile", "FROM " + base_ + "\nCOPY hi.txt /hi.txt\n");
  WriteFile(repo / "svc/hi.txt", "hi\n");
  Sh("cd " + repo.string() +
     " && git init -q -b main && git add . && git -c user.name=t -c user.email=t@t commit -qm one");
  std::string commit = Sh("git -C " + repo.string() + " rev-parse HEAD");
  RunRequest r = Request("file://" + repo.string() + "#main:svc");
  r.images = {"team/git:1"};
  r.git_token = "tok-never-logged";
  RunRecord run = QueueAndWait(r);
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error << "\n" << Log(run.id);
  EXPECT_EQ(run.source.commit, commit);
  EXPECT_EQ(run.source.branch, "main");
  EXPECT_EQ(run.source.url, "file://" + repo.string());
  EXPECT_NE(run.dependencies_json.find(commit), std::string::npos) << run.dependencies_json;
  EXPECT_EQ(run.request.git_token, "");
  EXPECT_EQ(Log(run.id).find("tok-never-logged"), std::string::npos);
}

TEST_F(TasksTest, OciArtifactSource) {
  Service();
  fs::path ctx = Context("oci-ctx", "FROM " + base_ + "\nCOPY data.txt /data.txt\n");
  WriteFile(ctx / "data.txt", "from an artifact\n");
  PushDir(registry_.address() + "/contexts/app:1", ctx, dir_.path(), /*artifact=*/true);
  RunRequest r = Request("oci://" + registry_.address() + "/contexts/app:1");
  r.images = {"team/oci:1"};
  RunRecord run = QueueAndWait(r);
  EXPECT_EQ(run.status, RunStatus::kSucceeded) << run.error << "\n" << Log(run.id);
  EXPECT_EQ(run.output_images.size(), 1u);
}

TEST_F(TasksTest, TarballUrlSource) {
  auto o = Options();
  o.max_context_bytes = 1 << 20;
  Service(o);
  fs::path www = dir_.path() / "www";
  fs::create_directories(www);
  fs::path ctx = Context("remote", "FROM " + base_ + "\nCOPY a.txt /a.txt\n");
  WriteFile(ctx / "a.txt", "remote\n");
  Sh("tar -C " + ctx.string() + " -czf " + (www / "ctx.tar.gz").string() + " .");
  Sh("head -c 2000000 /dev/urandom > " + (www / "big.tar").string());
  Httpd httpd(www);

  RunRecord run = QueueAndWait(Request(httpd.Url("ctx.tar.gz")));
  EXPECT_EQ(run.status, RunStatus::kSucceeded) << run.error << "\n" << Log(run.id);
  EXPECT_EQ(run.source.url, httpd.Url("ctx.tar.gz"));
  RunRecord missing = QueueAndWait(Request(httpd.Url("missing.tar.gz")));
  EXPECT_EQ(missing.status, RunStatus::kFailed);
  EXPECT_NE(missing.error.find("missing.tar.gz"), std::string::npos) << missing.error;
  RunRecord big = QueueAndWait(Request(httpd.Url("big.tar")));
  EXPECT_EQ(big.status, RunStatus::kFailed);
  EXPECT_NE(big.error.find("larger than the limit"), std::string::npos) << big.error;
}

TEST_F(TasksTest, FollowingTheLogSeesNewBytesAndTheEnd) {
  Service();
  fs::path ctx = Context("slow", "FROM " + base_ + "\nRUN echo first && sleep 2 && echo second\n");
  auto queued = service_->Queue(Request("context:" + UploadDir(ctx)));
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  std::string followed;
  uint64_t offset = 0;
  int reads = 0;
  while (true) {
    auto t0 = Clock::now();
    auto chunk = service_->ReadLog(queued->id, offset, 0, milliseconds(20000));
    ASSERT_TRUE(chunk.ok()) << chunk.status().message();
    // A waiting reader is woken by new bytes, long before its deadline.
    EXPECT_LT(Clock::now() - t0, seconds(10));
    ++reads;
    followed += chunk->data;
    EXPECT_EQ(chunk->next_offset, offset + chunk->data.size());
    offset = chunk->next_offset;
    if (chunk->finished) break;
    ASSERT_FALSE(chunk->data.empty()) << "a read with wait returned nothing before its deadline";
  }
  EXPECT_GT(reads, 2);
  EXPECT_EQ(followed, Log(queued->id));
  EXPECT_TRUE(LastLine(followed).starts_with("Run ID: " + queued->id + " was successful"))
      << followed;
  // A final run's log answers at once, finished.
  auto t0 = Clock::now();
  auto end = service_->ReadLog(queued->id, offset, 0, milliseconds(5000));
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->finished);
  EXPECT_EQ(end->data, "");
  EXPECT_LT(Clock::now() - t0, seconds(1));
  auto part = service_->ReadLog(queued->id, 0, 10, milliseconds(0));
  EXPECT_EQ(part->data.size(), 10u);
  EXPECT_FALSE(part->finished);
  EXPECT_EQ(service_->ReadLog("cz9", 0, 0, milliseconds(0)).status().code(), Code::kNotFound);
}

TEST_F(TasksTest, CancelQueuedRun) {
  Service(Options(), /*start=*/false);  // no workers: the run stays queued
  auto queued = service_->Queue(Request("/dev/null"));
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_EQ(queued->status, RunStatus::kQueued);
  ASSERT_TRUE(service_->Cancel(queued->id).ok());
  RunRecord run = *service_->Get(queued->id);
  EXPECT_EQ(run.status, RunStatus::kCanceled);
  EXPECT_GT(run.finish_time_ms, 0);
  EXPECT_EQ(service_->Cancel(queued->id).code(), Code::kConflict);
  EXPECT_EQ(service_->Cancel("cz9").code(), Code::kNotFound);
  auto log = service_->ReadLog(queued->id, 0, 0, milliseconds(1000));
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->finished);
  EXPECT_EQ(LastLine(log->data), "Run ID: " + queued->id + " was canceled") << log->data;
  // Starting later does not run it: a run queued after it is claimed and
  // finished (runs are claimed oldest first), and it is still canceled.
  ASSERT_TRUE(service_->Start().ok());
  RunRecord later =
      QueueAndWait(Request("context:" + UploadDir(Context("after", "FROM " + base_ + "\n"))));
  EXPECT_EQ(later.status, RunStatus::kSucceeded) << later.error;
  RunRecord after = *service_->Get(queued->id);
  EXPECT_EQ(after.status, RunStatus::kCanceled);
  EXPECT_EQ(after.start_time_ms, 0);
  EXPECT_EQ(LastLine(Log(queued->id)), "Run ID: " + queued->id + " was canceled");
}

TEST_F(TasksTest, CancelRunningRunKillsTheContainer) {
  Service();
  fs::path ctx = Context("sleepy", "FROM " + base_ + "\nRUN echo sleeping && sleep 60\n");
  auto queued = service_->Queue(Request("context:" + UploadDir(ctx)));
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  std::string id = queued->id;
  WaitFor(id, [&](const RunRecord&) { return Log(id).find("sleeping\n") != std::string::npos; });
  ASSERT_NE(Log(id).find("sleeping\n"), std::string::npos) << Log(id);
  EXPECT_EQ(service_->Get(id)->status, RunStatus::kRunning);
  auto t0 = Clock::now();
  ASSERT_TRUE(service_->Cancel(id).ok());
  RunRecord run = WaitFinal(id, seconds(30));
  EXPECT_LT(Clock::now() - t0, seconds(10));
  EXPECT_EQ(run.status, RunStatus::kCanceled);
  EXPECT_EQ(run.error, "the run was canceled");
  EXPECT_EQ(LastLine(Log(id)), "Run ID: " + id + " was canceled");
  EXPECT_EQ(MountsUnder(dir_.path()), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir_.path() / "data/runs" / id));
  // The service keeps working.
  RunRecord next =
      QueueAndWait(Request("context:" + UploadDir(Context("ok", "FROM " + base_ + "\n"))));
  EXPECT_EQ(next.status, RunStatus::kSucceeded) << next.error;
}

// A stopping server's embedded agent hands its runs back to the queue:
// the next start (or another agent) runs them again as their next attempt.
TEST_F(TasksTest, StoppingTheServiceHandsRunningRunsBack) {
  Service();
  fs::path ctx = Context("sleepy", "FROM " + base_ + "\nRUN echo sleeping && sleep 60\n");
  auto queued = service_->Queue(Request("context:" + UploadDir(ctx)));
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  std::string id = queued->id;
  WaitFor(id, [&](const RunRecord&) { return Log(id).find("sleeping\n") != std::string::npos; });
  auto t0 = Clock::now();
  service_.reset();
  EXPECT_LT(Clock::now() - t0, seconds(10));
  auto row = store_->GetRun(id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, "Queued");
  EXPECT_EQ(row->attempt, 1);
  EXPECT_EQ(row->agent, "embedded");
  EXPECT_EQ(LastLine(Log(id)), "Agent embedded stopped and handed the run back to the queue.");
  EXPECT_EQ(MountsUnder(dir_.path()), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir_.path() / "data/runs" / id));
  // The next start builds it again, from the same uploaded context.
  Service();
  WaitFor(id,
          [&](const RunRecord& r) { return r.attempt == 2 && r.status == RunStatus::kRunning; });
  RunRecord again = *service_->Get(id);
  EXPECT_EQ(again.attempt, 2);
  EXPECT_EQ(again.agent, "embedded");
  ASSERT_TRUE(service_->Cancel(id).ok());
  EXPECT_EQ(WaitFinal(id).status, RunStatus::kCanceled);
}

TEST_F(TasksTest, TimeoutStopsTheRun) {
  auto o = Options();
  EXPECT_EQ(Service(o, false)
                .Queue([&] {
                  auto r = Request("/dev/null");
                  r.timeout_seconds = 299;
                  return r;
                }())
                .status()
                .code(),
            Code::kInvalid);
  EXPECT_EQ(service_
                ->Queue([&] {
                  auto r = Request("/dev/null");
                  r.timeout_seconds = 28801;
                  return r;
                }())
                .status()
                .code(),
            Code::kInvalid);
  o.min_timeout_seconds = 1;
  Service(o);
  fs::path ctx = Context("forever", "FROM " + base_ + "\nRUN sleep 60\n");
  RunRequest r = Request("context:" + UploadDir(ctx));
  r.timeout_seconds = 3;
  auto t0 = Clock::now();
  RunRecord run = QueueAndWait(r);
  EXPECT_LT(Clock::now() - t0, seconds(20));
  EXPECT_EQ(run.status, RunStatus::kTimeout) << run.error;
  EXPECT_EQ(run.error, "the run exceeded its timeout of 3 seconds");
  EXPECT_TRUE(LastLine(Log(run.id)).starts_with("Run ID: " + run.id + " timed out after "))
      << Log(run.id);
  EXPECT_EQ(MountsUnder(dir_.path()), std::vector<std::string>{});
}

// What a kill -9 leaves: runs the embedded agent held. The next start
// retries them (attempt 2) or, after the last attempt, ends them Error;
// runs other agents hold keep their leases; queued runs run.
TEST_F(TasksTest, RestartRetriesTheRunsItsAgentHeld) {
  auto o = Options();
  o.max_attempts = 2;
  o.retry_backoff = milliseconds(0);
  Service(o, /*start=*/false);
  std::string ok = "FROM " + base_ + "\n";
  auto retried = service_->Queue(Request("context:" + UploadDir(Context("a", ok))));
  auto last = service_->Queue(Request("context:" + UploadDir(Context("b", ok))));
  auto remote = service_->Queue(Request("context:" + UploadDir(Context("c", ok))));
  auto queued = service_->Queue(Request("context:" + UploadDir(Context("d", ok))));
  ASSERT_TRUE(retried.ok() && last.ok() && remote.ok() && queued.ok());
  service_.reset();
  // The previous process: attempt 1 of `retried` and attempt 2 of `last`
  // were building when it died; another agent holds `remote`.
  int64_t now =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  ASSERT_EQ((*store_->ClaimRun({"embedded", "", {}}, now, 600'000))->id, retried->id);
  storage::RunRow second = **store_->ClaimRun({"embedded", "", {}}, now, 600'000);
  ASSERT_EQ(second.id, last->id);
  second.status = "Queued";
  ASSERT_TRUE(*store_->UpdateClaimedRun(second, 1));
  ASSERT_EQ((*store_->ClaimRun({"embedded", "", {}}, now, 600'000))->attempt, 2);
  ASSERT_EQ((*store_->ClaimRun({"elsewhere", "", {}}, now, 600'000))->id, remote->id);

  Service(o);
  RunRecord ran = WaitFinal(retried->id);
  EXPECT_EQ(ran.status, RunStatus::kSucceeded) << ran.error << "\n" << Log(ran.id);
  EXPECT_EQ(ran.attempt, 2);
  EXPECT_NE(Log(ran.id).find("Attempt 1 was lost: the server restarted while it was building. "
                             "The run is queued again"),
            std::string::npos)
      << Log(ran.id);
  RunRecord dead = *service_->Get(last->id);
  EXPECT_EQ(dead.status, RunStatus::kError);
  EXPECT_EQ(dead.error,
            "the agent running it was lost (the server restarted while it was building) on "
            "attempt 2 of 2");
  EXPECT_TRUE(LastLine(Log(dead.id)).starts_with("Run ID: " + dead.id + " errored after "));
  EXPECT_EQ(WaitFinal(queued->id).status, RunStatus::kSucceeded);
  RunRecord elsewhere = *service_->Get(remote->id);
  EXPECT_EQ(elsewhere.status, RunStatus::kStarted);
  EXPECT_EQ(elsewhere.agent, "elsewhere");
}

// The queue as a remote agent uses it (no embedded agent here): it claims
// a run with its secrets, renews its lease, learns of a cancel at its next
// heartbeat; an agent that stops renewing loses the run to a retry, and
// its late report is refused.
TEST_F(TasksTest, AgentsClaimRenewAndLoseRunsThroughTheQueue) {
  auto o = Options();
  o.concurrency = 0;
  o.lease = milliseconds(1500);
  o.retry_backoff = milliseconds(0);
  Service(o);
  RunRequest r = Request("context:" + UploadDir(Context("q", "FROM " + base_ + "\n")));
  r.build_args = {{"TOKEN", "s3cret", true}};
  r.agent_pool = "gpu";
  auto queued = service_->Queue(r);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_FALSE(service_->Claim({"cpu-1", "", {}})->has_value());  // another pool
  auto claimed = service_->Claim({"gpu-1", "gpu", {"linux/amd64"}});
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status().message();
  ClaimedRun first = **claimed;
  EXPECT_EQ(first.attempt, 1);
  EXPECT_EQ(first.run.request.build_args.at(0).value, "s3cret");  // the agent needs it
  EXPECT_EQ(service_->Get(first.run.id)->request.build_args.at(0).value, "");
  EXPECT_FALSE(*service_->Heartbeat(first.run.id, 1));
  RunRecord running = first.run;
  running.status = RunStatus::kRunning;
  ASSERT_TRUE(service_->Report(running, 1).ok());
  EXPECT_EQ(service_->Get(first.run.id)->status, RunStatus::kRunning);

  // No heartbeat for longer than the lease: the watchdog requeues it.
  WaitFor(first.run.id, [](const RunRecord& run) { return run.status == RunStatus::kQueued; });
  EXPECT_EQ(service_->Heartbeat(first.run.id, 1).status().code(), Code::kConflict);
  ClaimedRun second = **service_->Claim({"gpu-2", "gpu", {}});
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.run.agent, "gpu-2");
  RunRecord late = first.run;
  late.status = RunStatus::kSucceeded;
  EXPECT_EQ(service_->Report(late, 1).code(), Code::kConflict);  // fenced

  ASSERT_TRUE(service_->Cancel(second.run.id).ok());
  EXPECT_TRUE(*service_->Heartbeat(second.run.id, 2));  // "cancel requested"
  RunRecord canceled = second.run;
  canceled.status = RunStatus::kCanceled;
  canceled.error = "the run was canceled";
  ASSERT_TRUE(service_->Report(canceled, 2).ok());
  RunRecord done = *service_->Get(second.run.id);
  EXPECT_EQ(done.status, RunStatus::kCanceled);
  EXPECT_EQ(done.attempt, 2);
  std::string log = Log(done.id);
  EXPECT_NE(log.find("Attempt 1 was lost: agent gpu-1 stopped renewing its lease."),
            std::string::npos)
      << log;
  EXPECT_EQ(LastLine(log), "Run ID: " + done.id + " was canceled");
}

// An agent that never comes back: after the last attempt the run ends
// Error, and a cancel asked of a lost run ends it Canceled.
TEST_F(TasksTest, RunsOfLostAgentsEndAfterTheirLastAttempt) {
  auto o = Options();
  o.concurrency = 0;
  o.lease = milliseconds(500);
  o.max_attempts = 1;
  Service(o);
  auto lost = service_->Queue(Request("/dev/null"));
  auto canceled = service_->Queue(Request("/dev/null"));
  ASSERT_TRUE(lost.ok() && canceled.ok());
  ASSERT_TRUE(service_->Claim({"gone", "", {}})->has_value());
  ASSERT_TRUE(service_->Claim({"gone", "", {}})->has_value());
  ASSERT_TRUE(service_->Cancel(canceled->id).ok());
  RunRecord dead = WaitFinal(lost->id, seconds(20));
  EXPECT_EQ(dead.status, RunStatus::kError);
  EXPECT_EQ(dead.error,
            "the agent running it was lost (agent gone stopped renewing its lease) on attempt 1 "
            "of 1");
  EXPECT_EQ(WaitFinal(canceled->id, seconds(20)).status, RunStatus::kCanceled);
}

// A two-platform build that no agent of its pool builds natively whole is
// split when queued: a part per platform, each claimed by an agent building
// it natively. A part failing cancels the other and fails the run, naming
// the part. With an agent building both natively, nothing is split.
TEST_F(TasksTest, AMultiPlatformRunIsSplitForAgentsBuildingEachPlatformNatively) {
  auto o = Options();
  o.concurrency = 0;
  Service(o);
  int64_t now =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  ASSERT_TRUE(
      store_->TouchAgent({"amd", "split", "linux/amd64,linux/arm64 (emulated)", "t", now}).ok());
  ASSERT_TRUE(store_->TouchAgent({"arm", "split", "linux/arm64", "t", now}).ok());
  RunRequest r = Request("/dev/null");
  r.platform = "linux/amd64,linux/arm64";
  r.agent_pool = "split";
  r.images = {registry_.address() + "/app:{{.Run.ID}}"};
  auto queued = service_->Queue(r);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_EQ(queued->status, RunStatus::kRunning);
  ASSERT_EQ(queued->parts.size(), 2u);
  EXPECT_EQ(queued->parts[0].platform, "linux/amd64");
  EXPECT_EQ(queued->parts[1].platform, "linux/arm64");

  auto arm = service_->Claim({"arm", "split", {"linux/arm64"}});
  ASSERT_TRUE(arm.ok() && arm->has_value()) << arm.status().message();
  EXPECT_EQ((*arm)->run.id, queued->parts[1].run_id);
  EXPECT_EQ((*arm)->run.request.platform, "linux/arm64");
  EXPECT_EQ((*arm)->run.request.parent, queued->id);
  // The run's tags, named by the run itself: the part pushes where its index goes.
  EXPECT_EQ((*arm)->run.request.images,
            std::vector<std::string>{registry_.address() + "/app:" + queued->id});
  // The emulating agent takes the amd64 part, not the arm64 one.
  auto amd = service_->Claim({"amd", "split", {"linux/amd64"}, {"linux/arm64"}});
  ASSERT_TRUE(amd.ok() && amd->has_value()) << amd.status().message();
  EXPECT_EQ((*amd)->run.id, queued->parts[0].run_id);

  RunRecord failed = (*arm)->run;
  failed.status = RunStatus::kFailed;
  failed.error = "exec format error";
  ASSERT_TRUE(service_->Report(failed, 1).ok());
  // At the reaper's next tick the other part is asked to stop.
  bool cancel = false;
  for (int i = 0; i < 100 && !cancel; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    cancel = *service_->Heartbeat((*amd)->run.id, 1);
  }
  ASSERT_TRUE(cancel) << "the amd64 part was not asked to stop";
  EXPECT_EQ(service_->Get(queued->id)->status, RunStatus::kRunning);  // until both parts end
  RunRecord canceled = (*amd)->run;
  canceled.status = RunStatus::kCanceled;
  canceled.error = "the run was canceled";
  ASSERT_TRUE(service_->Report(canceled, 1).ok());
  RunRecord done = WaitFinal(queued->id, seconds(20));
  EXPECT_EQ(done.status, RunStatus::kFailed);
  EXPECT_EQ(done.error, "linux/arm64 (run " + failed.id + ") failed: exec format error");
  EXPECT_NE(Log(done.id).find("[linux/arm64] "), std::string::npos) << Log(done.id);

  ASSERT_TRUE(store_->TouchAgent({"both", "split", "linux/amd64,linux/arm64", "t", now}).ok());
  auto whole = service_->Queue(r);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  EXPECT_EQ(whole->status, RunStatus::kQueued);
  EXPECT_TRUE(whole->parts.empty());
}

TEST_F(TasksTest, ConcurrentRuns) {
  auto o = Options();
  o.concurrency = 2;
  Service(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    fs::path ctx = Context("c" + std::to_string(i), "FROM " + base_ + "\nRUN echo run-" +
                                                        std::to_string(i) + " && sleep 2\n");
    auto q = service_->Queue(Request("context:" + UploadDir(ctx)));
    ASSERT_TRUE(q.ok()) << q.status().message();
    ids.push_back(q->id);
  }
  std::vector<RunRecord> runs;
  for (const auto& id : ids) {
    runs.push_back(WaitFinal(id));
    EXPECT_EQ(runs.back().status, RunStatus::kSucceeded) << runs.back().error;
  }
  // Two at once: the first two overlap (each sleeps 2 s), and the third
  // starts only when one of them has finished.
  EXPECT_LT(runs[1].start_time_ms, runs[0].finish_time_ms) << "runs did not overlap";
  EXPECT_LT(runs[0].start_time_ms, runs[1].finish_time_ms) << "runs did not overlap";
  EXPECT_GE(runs[2].start_time_ms, std::min(runs[0].finish_time_ms, runs[1].finish_time_ms))
      << "a third run started while two were running";
}

TEST_F(TasksTest, BadSourcesFailClearly) {
  Service();
  fs::path repo = dir_.path() / "repo";
  WriteFile(repo / "Dockerfile", "FROM " + base_ + "\n");
  Sh("cd " + repo.string() +
     " && git init -q -b main && git add . && git -c user.name=t -c user.email=t@t commit -qm one");

  struct Case {
    std::string source, error;
  };
  std::vector<Case> cases = {
      {"file://" + repo.string() + "#no-such-branch", "no-such-branch"},
      {"/dev/null", "no Dockerfile at 'Dockerfile'"},
      {"context:" + Upload("this is not a tar archive at all"), "failed to fetch the source"},
      {"context:" + Upload(TarWithEntry("../evil.txt", "x")), ".."},
  };
  for (const auto& c : cases) {
    RunRecord run = QueueAndWait(Request(c.source));
    EXPECT_EQ(run.status, RunStatus::kFailed) << c.source;
    EXPECT_NE(run.error.find(c.error), std::string::npos) << c.source << ": " << run.error;
    EXPECT_NE(LastLine(Log(run.id)).find(" failed after "), std::string::npos) << Log(run.id);
    EXPECT_FALSE(fs::exists(dir_.path() / "data/runs" / run.id));
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "evil.txt"));
  EXPECT_FALSE(fs::exists(dir_.path() / "data/runs/evil.txt"));

  // Refused before queueing.
  auto escape = Request("file://" + repo.string());
  escape.dockerfile = "../Dockerfile";
  EXPECT_EQ(service_->Queue(escape).status().code(), Code::kInvalid);
  EXPECT_EQ(service_->Queue(Request("ftp://example.com/x")).status().code(), Code::kInvalid);
  EXPECT_EQ(service_->Queue(Request("")).status().code(), Code::kInvalid);
  EXPECT_EQ(service_->Queue(Request("context:0123")).status().code(), Code::kInvalid);
  auto bad_image = Request("/dev/null");
  bad_image.images = {"Team/App:1"};
  EXPECT_EQ(service_->Queue(bad_image).status().code(), Code::kInvalid);
  std::string used = Upload(TarWithEntry("Dockerfile", "FROM " + base_ + "\n"));
  EXPECT_TRUE(service_->Queue(Request("context:" + used)).ok());
  EXPECT_EQ(service_->Queue(Request("context:" + used)).status().code(), Code::kInvalid);

  // Still healthy.
  RunRecord ok = QueueAndWait(Request("file://" + repo.string()));
  EXPECT_EQ(ok.status, RunStatus::kSucceeded) << ok.error;
}

// Two servers sharing the stores: a context uploaded to one is queued and
// read on the other (any replica may serve the agent fetching it), and it
// can be claimed by one run only.
TEST_F(TasksTest, AnUploadedContextIsSharedByServersSharingTheStores) {
  auto a = Options();
  a.concurrency = 0;
  Service(a, false);
  std::string bytes = "a context of sorts, read back byte for byte";
  std::string id = Upload(bytes);
  ASSERT_FALSE(id.empty());
  auto b = Options();
  b.concurrency = 0;
  b.data_dir = dir_.path() / "data-b";
  RunService other(*store_, *blobs_, b);
  RunRequest r = Request("context:" + id);
  r.type = "QuickBuild";
  r.images = {"team/app:{{.Run.ID}}"};
  auto queued = other.Queue(r);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  auto path = other.ContextFile(queued->id);
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(ReadFile(*path), bytes);
  EXPECT_TRUE(path->string().starts_with((dir_.path() / "data-b").string())) << *path;
  auto again = service_->Queue(r);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already used"), std::string::npos)
      << again.status().message();
}

// Uploads an older version kept as files (unclaimed <id>.tar.gz, claimed
// uploaded-context.<id>) are moved into the stores at start: a run queued
// before the upgrade still finds its context.
TEST_F(TasksTest, UploadsKeptAsFilesByAnOlderVersionMoveIntoTheStores) {
  const std::string fresh = "0123456789abcdef0123456789abcdef";
  const std::string claimed = "fedcba9876543210fedcba9876543210";
  WriteFile(dir_.path() / "data/contexts" / (fresh + ".tar.gz"), "unclaimed bytes");
  WriteFile(dir_.path() / "data/contexts" / ("uploaded-context." + claimed), "claimed bytes");
  auto o = Options();
  o.concurrency = 0;
  Service(o);
  RunRequest r = Request("context:" + fresh);
  r.type = "QuickBuild";
  r.images = {"team/app:{{.Run.ID}}"};
  auto queued = service_->Queue(r);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  auto path = service_->ContextFile(queued->id);
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(ReadFile(*path), "unclaimed bytes");
  EXPECT_FALSE(fs::exists(dir_.path() / "data/contexts" / (fresh + ".tar.gz")));
  auto graph = store_->LoadRepoGraph("_contexts/" + claimed);
  ASSERT_TRUE(graph.ok());
  ASSERT_EQ(graph->links.size(), 1u) << "the claimed upload is in the stores";
  EXPECT_EQ(graph->links[0].first, oci::Digest::Of("claimed bytes"));
  r.source = "context:" + claimed;
  EXPECT_FALSE(service_->Queue(r).ok()) << "and still claimed";
}

TEST_F(TasksTest, OversizedUploadIsRefused) {
  auto o = Options();
  o.max_context_bytes = 1000;
  Service(o, false);
  size_t sent = 0;
  auto id = service_->StoreContext([&](char* buf, size_t n) -> Result<size_t> {
    size_t k = std::min<size_t>(n, 700);
    if (sent >= 2100) return size_t{0};
    std::fill_n(buf, k, 'x');
    sent += k;
    return k;
  });
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Code::kTooLarge);
  int uploads = 0;
  ASSERT_TRUE(blobs_->ForEachUpload([&](const std::string&, int64_t) { ++uploads; }).ok());
  EXPECT_EQ(uploads, 0) << "nothing of it is left in the blob store";
}

}  // namespace
}  // namespace drydock::tasks
