// Runs: quick builds (and, later, task runs) queued in the metadata store,
// executed by a pool of workers, with logs kept on disk and streamed to any
// number of followers. This header is the whole public surface of tasks/.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/attest.h"
#include "base/result.h"
#include "metrics/metrics.h"
#include "rebase/rebase.h"
#include "remote/client.h"
#include "runtime/runtime.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::tasks {

// ACR's run states. Queued → Started (picked by a worker, preparing the
// source) → Running (building) → one of the final states.
enum class RunStatus {
  kQueued,
  kStarted,
  kRunning,
  kSucceeded,
  kFailed,
  kCanceled,
  kError,
  kTimeout
};
std::string_view StatusName(RunStatus s);  // "Queued", "Succeeded", ...
// kInvalid unless `pool` is "" or up to 64 letters, digits, '-', '_', '.'.
Status CheckAgentPool(const std::string& pool);
std::optional<RunStatus> ParseStatus(std::string_view name);
bool IsFinal(RunStatus s);

struct BuildArg {
  std::string name, value;
  bool secret = false;  // never in logs, image history or API responses
};

struct ImageDescriptor {
  std::string registry, repository, tag, digest;
};

// What queued a run, as ACR's run record names it. None set: manual.
struct SourceTrigger {
  std::string event_type;  // "commit" | "pullrequest"
  std::string commit_id, branch, pull_request_id, repository_url;
  std::string provider;  // github | gitlab | gitea | bitbucket | poll
};
struct TimerTrigger {
  std::string name;
  int64_t schedule_occurrence_ms = 0;
};
struct RunTrigger {
  std::optional<SourceTrigger> source;
  std::vector<ImageDescriptor> image_update;  // the base images whose update queued the run
  std::optional<TimerTrigger> timer;
  // Tasks whose base-image-triggered runs led to this one, first to last:
  // a cascade never queues a task that is already in it, so a dependency
  // cycle between tasks cannot loop.
  std::vector<std::string> cascade;
};
// "Manual", "Commit", "Pull Request", "Image Update" or "Timer".
std::string TriggerName(const RunTrigger& t);

// Credentials a task's runs use for another registry (pulls and pushes).
struct RegistryCredential {
  std::string login_server, username, password;
};

// What a run does. QuickBuild: build the Dockerfile in the source and push.
// QuickRun: run a multi-step task file (steps/) with the source as its
// workspace. AutoBuild / AutoRun: the same, for a saved task (`task` names it).
struct RunRequest {
  std::string type = "QuickBuild";  // QuickBuild | QuickRun | AutoBuild | AutoRun
  std::string task;                 // task name for Auto* runs, "" for quick runs
  // "context:<id>" (uploaded with StoreContext), a git URL (#ref:subdir), an
  // http(s) tarball URL, "oci://REGISTRY/REPO:TAG", or "/dev/null".
  std::string source;
  // Relative to the context root: the Dockerfile, or for *Run types the task
  // file when `task_file` is empty.
  std::string dockerfile = "Dockerfile";
  // *Run types: the task file's text, when the client sent it (`-f -`, or a
  // file beside a /dev/null or remote source).
  std::string task_file;
  std::string values;  // *Run types: a values YAML map (--values)
  // *Run types: --set NAME=VALUE, which win over `values`; secret ones
  // (--set-secret) are also {{.Secrets.NAME}} and never logged or returned.
  std::vector<BuildArg> sets;
  // References to tag (and push). "{{.Run.ID}}" expands to the run id; a
  // name without a registry gets ServiceOptions::registry_host.
  std::vector<std::string> images;
  std::vector<BuildArg> build_args;
  std::string target;
  std::string platform = "linux/amd64";
  bool push = true;
  bool no_cache = false;
  int64_t timeout_seconds = 3600;               // 300..28800, whole run
  std::string user;                             // who queued it; pushes carry this user's rights
  std::string git_token;                        // private repositories; never logged or returned
  std::vector<RegistryCredential> credentials;  // passwords never logged or returned
  RunTrigger trigger;
  // What queued it ("base-image:TASK:DIGEST", …): Queue returns the run
  // already queued for the same cause instead of a second one, so a trigger
  // that handles an event twice (after a crash) queues one run. "" = none.
  std::string cause;
  // Only agents of this pool build it ("" = the default pool, which the
  // server's embedded agent serves), as ACR's --agent-pool.
  std::string agent_pool;
  // AutoBuild runs queued by a base image update: "auto" rebases the task's
  // image onto the new base when the gate allows (rebase/rebase.h), else
  // rebuilds; "rebase" also when RUN steps ran on the base; "rebuild" never
  // rebases.
  std::string patch_mode = "auto";
  // A command run (under /bin/sh -c) in the rebased image before any tag
  // moves; "" = none. When it fails: "rebuild" instead, or "fail" the run.
  std::string patch_verify;
  std::string patch_verify_failure = "rebuild";
  // PEM public keys: every base image the run builds on (or rebases onto)
  // must carry a signature by one of them, else the run fails saying so.
  std::vector<std::string> trusted_base_keys;
  // A part of a run split by platform (Run::parts): that run's id. The part
  // builds `platform` alone and pushes its image by digest only; the run it
  // is part of tags the index of its parts' images.
  std::string parent = {};
};

// How a base image update reached a run's image: rebased in place of a
// build, or rebuilt (with why a rebase was not possible).
struct PatchRecord {
  std::string kind;                              // "rebase" or "rebuild"
  std::string base;                              // the base tag, as the image records it
  std::string old_base_digest, new_base_digest;  // platform manifests; "" when unknown
  std::vector<std::string> reasons;
  int64_t milliseconds = 0;  // deciding and, for a rebase, pushing
};

struct SourceInfo {
  std::string url;  // without credentials
  std::string commit, branch;
};

struct Run {
  std::string id;  // "ca1", "ca2", ... base 36, unique per server
  int64_t seq = 0;
  RunStatus status = RunStatus::kQueued;
  RunRequest request;
  int64_t create_time_ms = 0, start_time_ms = 0, finish_time_ms = 0;
  std::vector<ImageDescriptor> output_images;
  std::string dependencies_json;  // the builder's ACR-shaped dependency document, "" if none
  SourceInfo source;
  std::string error;  // why it failed / errored / timed out / was canceled
  // The queue's view: the agent holding it (while Started/Running; after,
  // the last one that did) and which attempt this is (a run whose agent was
  // lost is tried again).
  std::string agent;
  int64_t attempt = 0;
  std::optional<PatchRecord> patch;  // Image Update runs of AutoBuild tasks
  // A multi-platform build that no agent of its pool builds natively whole
  // is split when queued: one part run per platform, each claimed by an
  // agent building that platform natively (the queue prefers them). The
  // server then pushes the index of the parts' images under the tags.
  struct Part {
    std::string platform, run_id;  // run_id "" until the part is queued
  };
  std::vector<Part> parts = {};
};

// "ca1" for seq 1: "c" + base 36 of (seq + 360), so ids look like ACR's.
std::string RunId(int64_t seq);

struct RunFilter {
  int64_t top = 15;
  std::optional<RunStatus> status;
  std::string task;              // "" = any
  std::string image;             // "repo:tag": runs that output it
  std::string trigger;           // "" = any, else a TriggerName
  int64_t created_after_ms = 0;  // 0 = any
};

// A slice of a run's log.
struct LogChunk {
  std::string data;
  uint64_t next_offset = 0;
  bool finished = false;  // the run is final and `data` reaches the end of the log
};

// Pushes from the server's builder go to this server's own registry (and
// any other) with credentials minted for the run's user: a credential of
// run `run_id` (so that the registry records the run as the pusher), or
// of the user alone when there is no run (checking a task's sources).
using CredentialsForUser =
    std::function<remote::CredentialLookup(const std::string& user, const std::string& run_id)>;

struct ServiceOptions {
  std::filesystem::path data_dir;  // holds runs/<id>/ (work dirs), logs/, contexts/
  // The entries of base layers rebases have listed, shared by the runs of
  // this process (a base shared by many images is downloaded once).
  std::shared_ptr<rebase::LayerIndex> layer_index = std::make_shared<rebase::LayerIndex>();
  std::filesystem::path build_state;  // the builder's machine-wide cache and snapshots
  // Runs the server's embedded agent builds at once; 0: none, every run
  // waits for a remote agent.
  int concurrency = 2;
  std::string registry_host;  // "host:port" of this server's registry
  std::vector<std::string> insecure_registries;
  uint64_t max_context_bytes = 2ull << 30;    // uploads and tarball URLs
  uint64_t max_extracted_bytes = 8ull << 30;  // a context's files once unpacked
  uint64_t cache_max_bytes = 0;               // bound on build_state (LRU); 0 = unbounded
  CredentialsForUser credentials;             // may be empty: anonymous pushes
  // Tests only: file:// git sources (they read the server's own disk), and
  // a lower minimum for RunRequest::timeout_seconds than ACR's 300.
  bool allow_local_git = false;
  int64_t min_timeout_seconds = 300;
  // Task files' image aliases ($bash, `cmd: curl …`): name -> image.
  std::map<std::string, std::string> image_aliases;
  // Task files' `privileged: true` and `network: host` steps (root on the host).
  bool allow_privileged_steps = false;
  // What each container of a run (RUN steps, cmd steps) may use.
  runtime::Limits limits;
  // Those containers in a user namespace (but privileged steps): checked
  // usable for build_state and data_dir/runs by whoever makes it.
  std::shared_ptr<const runtime::UserNamespace> users;
  // Sources, tarballs and ADD <url> from loopback, link-local and private
  // addresses (source::IsPrivateAddress): off, so that a run cannot read
  // the server's own ports or its network's neighbours.
  bool allow_private_fetches = false;
  // The run queue. An agent renews its runs' leases every `heartbeat`; a
  // run whose lease (`lease`) ran out is requeued after `retry_backoff`
  // (doubled each attempt, at most a minute), and after `max_attempts`
  // ends Error, "the agent … was lost". The embedded agent is `agent_name`.
  std::string agent_name = "embedded";
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds retry_backoff{2000};
  int max_attempts = 3;
  // How long a run waits for an agent building its platforms natively
  // before one that emulates them may take it.
  std::chrono::milliseconds emulated_wait{30000};
  // What the images runs push carry (attest/attest.h): an SBOM and a
  // provenance statement, and signatures by the signer of the run, when
  // there is one (the server's key; an agent asks its server).
  bool attestations = true;
  std::function<attest::Signer(const std::string& run_id)> signer;
  // Where the queue counts runs queued, started and finished (and their
  // waits and durations), leases expired and retries; none: not counted.
  metrics::Metrics* metrics = nullptr;
};

// An agent as the queue sees it: what it is called and which runs it takes.
struct AgentInfo {
  std::string name;
  std::string pool;                    // "" = the default pool
  std::vector<std::string> platforms;  // "linux/amd64", … it builds natively; empty = any
  // What it builds under QEMU emulation: runs needing these wait
  // ServiceOptions::emulated_wait for a native agent first.
  std::vector<std::string> emulated = {};
};

// A run an agent claimed, with everything it needs to build it (secrets
// included): only the holder of `attempt` may report on it.
struct ClaimedRun {
  Run run;
  int64_t attempt = 0;
};

// The agent API's wire format (tasks/ owns the run record): a claimed run
// with everything its agent needs (secrets included), and an agent's report
// (status, error, output images, source, dependencies). Parsing names what
// is wrong; it never throws.
std::string ClaimedRunToJson(const ClaimedRun& claimed);
Result<ClaimedRun> ClaimedRunFromJson(std::string_view text);
std::string ReportToJson(const Run& run);
Result<Run> ReportFromJson(std::string_view text);

// The queue as agents use it: the server's embedded agent calls the
// RunService directly, a remote agent the same calls over HTTP.
class RunQueue {
 public:
  virtual ~RunQueue() = default;
  // The oldest queued run the agent can take, now claimed by it; nullopt
  // when there is none.
  virtual Result<std::optional<ClaimedRun>> Claim(const AgentInfo& agent) = 0;
  // Renews the lease: call every ServiceOptions::heartbeat. Returns whether
  // a cancel was requested; kConflict when the attempt no longer holds the
  // run (declared lost): stop building it.
  virtual Result<bool> Heartbeat(const std::string& run_id, int64_t attempt) = 0;
  // Reports Running, or the end (status, error, output images, source,
  // dependencies; nothing else of `run` is taken). kConflict when the
  // attempt no longer holds the run.
  virtual Status Report(const Run& run, int64_t attempt) = 0;
};

class RunService final : public RunQueue {
 public:
  // Uploaded build contexts are kept in `blobs`, runs and logs in `store`.
  RunService(storage::MetadataStore& store, storage::BlobStore& blobs, ServiceOptions options);
  ~RunService();  // cancels running runs, joins the workers
  RunService(const RunService&) = delete;
  RunService& operator=(const RunService&) = delete;

  // Runs the embedded agent held in a previous process are lost: requeued
  // (or ended, after their last attempt). Then starts the embedded agent's
  // workers, which take queued runs, and the lease watchdog.
  Status Start();
  // Another server queued a run: wakes idle workers and waiting agents.
  void Wake();
  // Called (before Start) with every run a worker executed, once it is
  // final and stored (secrets scrubbed): how the dependency index learns
  // what each task's last build used.
  void OnFinished(std::function<void(const Run&)> hook);

  // Validates (kInvalid naming the problem) and queues; the run starts when
  // a worker is free. A "context:<id>" source is claimed by this run.
  Result<Run> Queue(RunRequest request);
  // Runs as stored, except that the git token and the values of secret build
  // args are always empty: they never leave the service.
  Result<Run> Get(const std::string& id);
  Result<std::vector<Run>> List(const RunFilter& filter);
  // Queued: becomes Canceled at once. Started/Running: its agent is told
  // (at once when it is the embedded one, else at its next heartbeat), kills
  // its container, cleans up, then reports Canceled (this returns before
  // that). Final: kConflict. Unknown: kNotFound.
  Status Cancel(const std::string& id);

  // Reads the log from `offset`; with `wait`, blocks up to that long for new
  // bytes while the run is not final.
  Result<LogChunk> ReadLog(const std::string& id, uint64_t offset, size_t max_bytes,
                           std::chrono::milliseconds wait);

  // Stores an uploaded build context (a tar, optionally gzip/zstd) and
  // returns the id to use as "context:<id>" in RunRequest::source.
  Result<std::string> StoreContext(const std::function<Result<size_t>(char*, size_t)>& read);

  // RunQueue.
  Result<std::optional<ClaimedRun>> Claim(const AgentInfo& agent) override;
  Result<bool> Heartbeat(const std::string& run_id, int64_t attempt) override;
  Status Report(const Run& run, int64_t attempt) override;

  // The agent API's server side (api/agents.cc), for remote agents.
  // Claim, waiting up to `wait` for a run to be queued.
  Result<std::optional<ClaimedRun>> ClaimWaiting(const AgentInfo& agent,
                                                 std::chrono::milliseconds wait);
  // Ok when `agent` holds attempt `attempt` of the run; else kConflict (the
  // agent must stop building it), kNotFound for no such run.
  Status CheckHolder(const std::string& run_id, int64_t attempt, const std::string& agent);
  // The size of the run's log (where a new attempt's log starts), and an
  // agent's log bytes appended at `offset` (see LogChunk: bytes already
  // there are skipped; a gap is kConflict). Returns the new size.
  Result<uint64_t> LogSize(const std::string& run_id);
  Result<uint64_t> AppendLog(const std::string& run_id, uint64_t offset, std::string_view data);
  // The uploaded context a "context:" run reads; "" when it has none.
  Result<std::filesystem::path> ContextFile(const std::string& run_id);
  // The runs `agent` holds are lost now, not when their leases run out (it
  // started again, or was revoked): `why` says which, in their logs.
  Status ReleaseAgentRuns(const std::string& agent, const std::string& why);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `drydock agent`: builds a server's runs on this machine.
struct RemoteAgentOptions {
  std::string server;                  // "http(s)://host:port" of `drydock serve`
  std::string token;                   // an agent token (`drydock agent token create NAME`)
  std::string pool;                    // "" = the default pool
  std::vector<std::string> platforms;  // what it builds natively; empty = any
  std::vector<std::string> emulated;   // what it builds under emulation (AgentInfo)
  std::string version;
  // How it builds: data_dir is its state dir (work dirs, logs, fetched
  // contexts), build_state its own cache, concurrency its workers,
  // agent_name how its logs name it. registry_host and credentials come
  // from the server.
  ServiceOptions build;
};
// Runs until `stop` is set, then hands the runs still building back to the
// queue and returns Ok. An unreachable server or a refused token at start,
// or a token refused later (revoked), is returned as the error.
Status RunRemoteAgent(RemoteAgentOptions options, const std::atomic<bool>& stop);

}  // namespace drydock::tasks
