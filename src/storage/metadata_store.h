// Everything about the registry that is not blob bytes: repositories, blob
// links, manifests, tags, referrers, upload sessions, users, events and runs.
// Each method is one transaction, so a crash leaves either all of a change
// or none of it. Registry changes write their events in the same
// transaction (an outbox): consumers follow the event log with cursors and
// miss nothing a crash interrupted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::storage {

struct ManifestRecord {
  std::string repo;
  oci::Digest digest;
  std::string media_type;
  std::string content;  // exact bytes as pushed
  std::optional<oci::Digest> subject;
  std::string artifact_type;
  std::string annotations_json;
  int64_t created = 0;
};

// A package an SBOM lists: indexed with the SBOM, so that "which images
// contain X" reads one table, not every SBOM.
struct PackageRecord {
  std::string name, version, purl;
};

struct ManifestPut {
  ManifestRecord record;
  // When it is an SBOM (an artifact whose subject is an image): the
  // packages it lists, stored in the same transaction.
  std::vector<PackageRecord> packages;
  std::vector<oci::Digest> blobs;      // must be linked in the repository
  std::vector<oci::Digest> manifests;  // must exist in the repository
  std::optional<std::string> tag;
  std::string actor;  // in the push event ("user:alice", "run:ca12")
};

struct Referrer {
  oci::Digest digest;
  std::string media_type;
  int64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;
};

// An image whose SBOM lists a package.
struct PackageMatch {
  std::string repo;
  oci::Digest image;  // the SBOM's subject
  oci::Digest sbom;
  PackageRecord package;
  std::vector<std::string> tags;  // of the image, sorted
};

struct TagChange {
  std::optional<oci::Digest> previous;  // what the tag pointed at before, if anything
};

struct Page {
  std::string last;    // exclusive lower bound, "" for the start
  int64_t limit = -1;  // -1: no limit
};

struct User {
  std::string name;
  std::string password_hash;
  bool admin = false;
  bool disabled = false;  // signs in with nothing, tokens included
  // Unix seconds of the last password change: tokens issued before are void.
  int64_t credentials_changed = 0;
};

// A long-lived API token, kept only as the SHA-256 of its secret part, so
// that a copy of the database signs in as no one.
struct ApiTokenRecord {
  std::string id;  // public, shown by `drydock token list`
  std::string user;
  std::string secret_hash;
  int64_t created = 0, expires = 0;
  std::string description;
};

struct Grant {
  std::string prefix;   // repository name prefix; "" or "*" means every repository
  std::string actions;  // comma separated: pull,push,delete
};

// An event: its id is its place in the log (increasing, never reused).
// Registry events (push | delete) name a repository; run events ("run")
// name a run and the status it reached (Queued, Running, Succeeded, …).
struct Event {
  int64_t id = 0;
  std::string action;  // push | delete | run
  std::string repo, tag, digest, media_type, actor;
  int64_t time = 0;  // unix seconds
  int64_t size = 0;  // of the manifest, for a push
  std::string run, status;
};

struct UploadRecord {
  std::string id, repo;
  int64_t created = 0;
  // Where the blob store saved it last (BlobWriter::checkpoint): a server
  // holding the upload in memory at another checkpoint resumes it from here.
  std::string checkpoint;
};

// A repository's manifests and links as garbage collection sees them.
struct RepoGraph {
  struct Node {
    oci::Digest digest;
    int64_t created = 0;
    std::optional<oci::Digest> subject;
    std::vector<oci::Digest> children;  // blobs and manifests it references
    bool tagged = false;
  };
  std::vector<Node> manifests;
  std::vector<std::pair<oci::Digest, int64_t>> links;  // blob, linked-at
};

// A build run as storage sees it: a few columns to filter and order on, and
// the rest as opaque JSON owned by tasks/.
struct RunRow {
  std::string id;  // unique, derived from seq by the caller
  int64_t seq = 0;
  std::string status, type, task;
  int64_t create_time_ms = 0, start_time_ms = 0, finish_time_ms = 0;
  std::string request_json, result_json;
  std::string error;
  // Free text that RunQuery::image is searched in (a substring match).
  std::string output_images;
  // What queued it, e.g. "base-image:app@sha256:…": at most one run per
  // cause, so a cause handled twice (after a crash) queues one run. "" = none.
  std::string cause;
  // Which agents may claim it: those of `pool` ("" = the default pool)
  // building `platform` (agents that name no platforms take any).
  std::string pool, platform;
  // What queued it, for filtering: "Manual", "Commit", "Pull Request",
  // "Image Update" or "Timer". Set when the run is created.
  std::string trigger;
  // The queue's bookkeeping, written only by the claim calls below (UpdateRun
  // leaves it alone): a claimed run is Started or Running, held by `agent`
  // for its `attempt` (1, 2, …) until `lease_expires_ms`. A requeued run
  // waits until `not_before_ms` (backoff). Once released, `agent` names
  // the last holder.
  std::string agent;
  int64_t attempt = 0;
  int64_t lease_expires_ms = 0;
  int64_t not_before_ms = 0;
  bool cancel_requested = false;
};

// A build agent as it last reported itself (each claim and heartbeat).
struct AgentRow {
  std::string name;
  std::string pool;
  std::string platforms;  // comma-separated, "" = any
  std::string version;
  int64_t last_seen_ms = 0;
};

// Which queued runs an agent takes.
struct RunClaimFilter {
  std::string agent;                   // its name, recorded as the holder
  std::string pool;                    // "" = the default pool
  std::vector<std::string> platforms;  // what it builds natively; empty = any
  // What it builds only under emulation: a run needing one of these is
  // left to agents building it natively until it was queued
  // `emulated_after_ms` ago (the queue prefers native agents).
  std::vector<std::string> emulated = {};
  int64_t emulated_after_ms = 0;
};

struct CreatedRun {
  int64_t seq = 0;
  bool created = false;  // false: a run with the same cause existed, `seq` is its
};

struct RunQuery {
  int64_t top = 15;              // newest first, at most this many; -1: no limit
  std::string status;            // "" = any
  std::string task;              // "" = any
  std::string image;             // "" = any, else a substring of output_images
  std::string trigger;           // "" = any
  int64_t created_after_ms = 0;  // 0 = any, else create_time_ms >= this
};

// A saved task: its definition and its triggers' bookkeeping as JSON that
// only tasks/ and triggers/ read, kept apart so that a trigger recording
// what it saw never races with a user editing the task.
struct TaskRow {
  std::string name;
  std::string definition_json;
  std::string state_json;
  int64_t create_time_ms = 0, update_time_ms = 0;
};

// One base image a task depends on: the dependency index that base-image
// triggers look up on every manifest push.
struct DependencyRow {
  std::string task;
  std::string kind;  // "Runtime" (the final stage's base) or "BuildTime"
  std::string registry, repository, tag;
  std::string digest;  // what the task last built from; "" when not known yet
  // The platform built from it and its image's manifest, when the task's
  // last run reported them: a base-image trigger then compares only that
  // platform's entry of an index. One row per platform.
  std::string platform, manifest;
};

// The metadata store is split by consumer: each component sees (and each
// conformance suite tests) one interface. Every backend implements them
// all, on one database, so a change spanning two (a push and its event)
// is still one transaction.

// Repositories, blob links, manifests, tags, referrers and upload sessions:
// what registry/ and garbage collection use.
class RegistryMetadata {
 public:
  virtual ~RegistryMetadata() = default;
  // Blob links: a blob is visible in a repository only once linked there.
  // kUnavailable while GC is deleting the blob (BeginBlobDelete).
  virtual Status LinkBlob(const std::string& repo, const oci::Digest& d, uint64_t size) = 0;
  virtual Result<std::optional<uint64_t>> LinkedBlobSize(const std::string& repo,
                                                         const oci::Digest& d) = 0;
  virtual Status UnlinkBlob(const std::string& repo, const oci::Digest& d) = 0;
  virtual Result<bool> AnyLink(const oci::Digest& d) = 0;

  // Stores a manifest (and moves a tag) only if every reference is present;
  // otherwise kNotFound naming the first missing digest.
  virtual Result<TagChange> PutManifest(const ManifestPut& put) = 0;
  virtual Result<ManifestRecord> GetManifest(const std::string& repo, const oci::Digest& d) = 0;
  virtual Result<oci::Digest> ResolveTag(const std::string& repo, const std::string& tag) = 0;
  // Removes the manifest and every tag pointing at it; returns those tags.
  // Events: a delete of the digest, then one per tag, by `actor`.
  virtual Result<std::vector<std::string>> DeleteManifest(const std::string& repo,
                                                          const oci::Digest& d,
                                                          const std::string& actor) = 0;
  virtual Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag,
                                        const std::string& actor) = 0;
  virtual Result<std::vector<std::string>> ListTags(const std::string& repo, const Page& page) = 0;
  virtual Result<bool> RepositoryExists(const std::string& repo) = 0;
  virtual Result<std::vector<std::string>> ListRepositories(const Page& page) = 0;
  // Only those holding at least one manifest (deleting every manifest
  // leaves the repository's row and blob links behind, but nothing to pull).
  virtual Result<std::vector<std::string>> ListRepositoriesWithManifests(const Page& page) = 0;
  virtual Result<bool> HasManifests(const std::string& repo) = 0;
  // Images whose SBOM lists a package called `name` (of `version` unless it
  // is ""), at most `limit`, by repository and image. An image that is gone
  // is not listed, even while its SBOM waits for garbage collection.
  virtual Result<std::vector<PackageMatch>> FindPackage(const std::string& name,
                                                        const std::string& version,
                                                        int64_t limit) = 0;
  virtual Result<std::vector<Referrer>> ListReferrers(const std::string& repo,
                                                      const oci::Digest& subject) = 0;

  virtual Status CreateUpload(const UploadRecord& u) = 0;
  virtual Result<UploadRecord> GetUpload(const std::string& id) = 0;
  // Moves the upload's checkpoint from `from` to `to` only if it is still
  // `from`, so that of two servers taking the same chunk one wins; returns
  // whether this call did. kNotFound when there is no such upload.
  virtual Result<bool> AdvanceUpload(const std::string& id, const std::string& from,
                                     const std::string& to) = 0;
  virtual Status DeleteUpload(const std::string& id) = 0;
  virtual Result<std::vector<UploadRecord>> ListUploads() = 0;

  // Garbage collection.
  virtual Result<std::vector<std::string>> AllRepositories() = 0;
  virtual Result<RepoGraph> LoadRepoGraph(const std::string& repo) = 0;
  // Deletes the manifest only if it is still untagged and unreferenced.
  virtual Result<bool> DeleteManifestIfUnreferenced(const std::string& repo,
                                                    const oci::Digest& d) = 0;
  // Deletes the link only if no manifest in the repository references the blob.
  virtual Result<bool> UnlinkBlobIfUnreferenced(const std::string& repo, const oci::Digest& d,
                                                int64_t linked_before) = 0;
  // GC's claim on a blob it is about to delete (with several servers, a
  // lock in one process guards nothing): false while any repository links
  // it. While claimed (until EndBlobDelete, or for at most
  // kBlobDeleteClaimSeconds after `now` if GC dies), LinkBlob refuses the
  // blob with kUnavailable, so a push racing the sweep either keeps its
  // blob or is told to retry, never acknowledged with a deleted blob.
  virtual Result<bool> BeginBlobDelete(const oci::Digest& d, int64_t now) = 0;
  virtual Status EndBlobDelete(const oci::Digest& d) = 0;
};

inline constexpr int64_t kBlobDeleteClaimSeconds = 600;

// Users, their grants and API tokens, and server-wide settings (the token
// signing key): what auth/ uses.
class AccountStore {
 public:
  virtual ~AccountStore() = default;

  virtual Status PutUser(const User& u) = 0;
  virtual Result<User> GetUser(const std::string& name) = 0;
  virtual Result<int64_t> CountUsers() = 0;
  virtual Status SetGrants(const std::string& user, const std::vector<Grant>& grants) = 0;
  virtual Result<std::vector<Grant>> GetGrants(const std::string& user) = 0;
  // Removes the user with its grants and API tokens; kNotFound when missing.
  virtual Status DeleteUser(const std::string& name) = 0;
  virtual Result<std::vector<User>> ListUsers() = 0;

  virtual Status PutApiToken(const ApiTokenRecord& t) = 0;
  virtual Result<ApiTokenRecord> GetApiToken(const std::string& id) = 0;
  // Every user's when `user` is empty; oldest first.
  virtual Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& user) = 0;
  // kNotFound when there is no such token.
  virtual Status DeleteApiToken(const std::string& id) = 0;
  // Returns how many were removed.
  virtual Result<int64_t> DeleteApiTokensOf(const std::string& user) = 0;

  // Server-wide secrets and settings (e.g. the token signing key).
  virtual Result<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  // Sets `key` only if unset; returns the value now stored.
  virtual Result<std::string> InitSetting(const std::string& key, const std::string& value) = 0;
};

// The event log (the outbox every change writes to) and its consumers'
// cursors: what events/ and triggers/ follow.
class EventLog {
 public:
  virtual ~EventLog() = default;

  // The event log: events with id > `id`, oldest first, at most `limit`.
  virtual Result<std::vector<Event>> EventsAfter(int64_t id, int64_t limit) = 0;
  // The newest `limit` events, oldest first (ids have gaps: counted, not computed).
  virtual Result<std::vector<Event>> NewestEvents(int64_t limit) = 0;
  // Drops events older than `before` (unix seconds) except the newest
  // `keep` ones; returns how many went.
  virtual Result<int64_t> PruneEvents(int64_t before, int64_t keep) = 0;
  // A consumer's place in the log: the last event it handled. A new
  // consumer's starts at the log's end (it is not sent the past). Advancing
  // never moves it back, so a slow duplicate consumer cannot undo progress.
  virtual Result<int64_t> InitCursor(const std::string& consumer) = 0;
  virtual Status AdvanceCursor(const std::string& consumer, int64_t position) = 0;
};

// Runs as records: created, updated, read and listed by tasks/ and api/.
class RunStore {
 public:
  virtual ~RunStore() = default;

  // Runs. CreateRun assigns the next seq (never reused) and writes
  // make_row(seq) (which names the run) in the same transaction, so that
  // no reader ever sees a run half written. With a `cause` already queued,
  // nothing is written and that run's seq comes back with created = false.
  virtual Result<CreatedRun> CreateRun(const std::string& cause,
                                       const std::function<RunRow(int64_t seq)>& make_row) = 0;
  // Overwrites every field but id, seq, create time, cause, pool, platform
  // and the queue's bookkeeping. A new status is written to the event log
  // with it (CreateRun writes the first). With `if_status` non-empty, only
  // while the stored status is one of those: returns whether the row
  // changed (compare-and-set for canceling a queued run).
  // kNotFound when there is no such run.
  virtual Result<bool> UpdateRun(const RunRow& row, const std::vector<std::string>& if_status) = 0;

  virtual Result<RunRow> GetRun(const std::string& id) = 0;
  virtual Result<std::vector<RunRow>> ListRuns(const RunQuery& query) = 0;
  // Runs in any of `statuses`, oldest first, at most `limit` (-1: all).
  virtual Result<std::vector<RunRow>> RunsWithStatus(const std::vector<std::string>& statuses,
                                                     int64_t limit) = 0;
};

// The leased run queue and the agents that claim from it.
class RunQueueStore {
 public:
  virtual ~RunQueueStore() = default;

  // The run queue. ClaimRun takes the oldest Queued run that `filter`
  // matches and whose backoff is over: it becomes Started, attempt + 1,
  // held by filter.agent until now + lease. nullopt when there is none.
  virtual Result<std::optional<RunRow>> ClaimRun(const RunClaimFilter& filter, int64_t now_ms,
                                                 int64_t lease_ms) = 0;
  // Extends the lease of (id, attempt) to now + lease and returns whether a
  // cancel was requested. kConflict when that attempt no longer holds the
  // run (its lease expired and it was requeued or ended): its agent must stop.
  virtual Result<bool> RenewRunLease(const std::string& id, int64_t attempt, int64_t now_ms,
                                     int64_t lease_ms) = 0;
  // UpdateRun, accepted only while attempt `attempt` holds the run (fencing:
  // an agent declared lost cannot overwrite the attempt that replaced it);
  // returns whether it was. A status other than Started/Running releases
  // the run (no lease); row.not_before_ms is written with it.
  virtual Result<bool> UpdateClaimedRun(const RunRow& row, int64_t attempt) = 0;
  // Asks the holder of a Started/Running run to cancel it (its next renewal
  // says so); false when the run is not claimed.
  virtual Result<bool> RequestRunCancel(const std::string& id) = 0;
  // Claimed runs whose lease ended before `now_ms`, oldest first.
  virtual Result<std::vector<RunRow>> ExpiredRunLeases(int64_t now_ms) = 0;
  // Agents: recorded (created or updated) whenever they call in.
  virtual Status TouchAgent(const AgentRow& agent) = 0;
  virtual Result<std::vector<AgentRow>> ListAgents() = 0;
  // kNotFound when there is no such agent.
  virtual Status DeleteAgent(const std::string& name) = 0;
};

// Saved tasks and the dependency index base-image triggers look up.
class TaskStore {
 public:
  virtual ~TaskStore() = default;

  // Tasks. CreateTask: kConflict when the name is taken. UpdateTask writes
  // the definition only (kNotFound when missing); SwapTaskState the state
  // only, and only if it still is `from` (compare-and-set: of two servers
  // updating it at once, one retries on what the other wrote); returns
  // whether it did. DeleteTask also drops the task's dependencies.
  virtual Status CreateTask(const TaskRow& row) = 0;
  virtual Status UpdateTask(const TaskRow& row) = 0;
  virtual Result<bool> SwapTaskState(const std::string& name, const std::string& from,
                                     const std::string& to) = 0;
  virtual Result<TaskRow> GetTask(const std::string& name) = 0;
  virtual Result<std::vector<TaskRow>> ListTasks() = 0;
  virtual Status DeleteTask(const std::string& name) = 0;

  // The dependency index. SetDependencies replaces every row of `task`.
  virtual Status SetDependencies(const std::string& task,
                                 const std::vector<DependencyRow>& rows) = 0;
  // `task` = "": every task's rows.
  virtual Result<std::vector<DependencyRow>> Dependencies(const std::string& task) = 0;
  // Rows naming exactly registry/repository:tag.
  virtual Result<std::vector<DependencyRow>> Dependents(const std::string& registry,
                                                        const std::string& repository,
                                                        const std::string& tag) = 0;
};

struct LogSlice {
  std::string data;
  uint64_t size = 0;  // of the whole log when it was read
};

// Run logs, kept after the run: any server (and any agent, through any
// server) appends, any server reads, so a log follows its run wherever it
// is built and whichever server is asked.
class RunLogStore {
 public:
  virtual ~RunLogStore() = default;

  // Appends `data` at `offset`: bytes already stored there are skipped (a
  // resent append is harmless), an offset past the end is kConflict (a
  // gap). Without an offset, at the end. Returns the log's new size.
  virtual Result<uint64_t> AppendLog(const std::string& run, std::optional<uint64_t> offset,
                                     std::string_view data) = 0;
  // Up to `max_bytes` from `offset`; a log not written yet is empty.
  virtual Result<LogSlice> ReadLog(const std::string& run, uint64_t offset, size_t max_bytes) = 0;
};

// Leases: background work that must run on one server at a time (online
// GC, following the event log for a consumer, polling external
// registries) runs only while its server holds the lease.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // Takes or renews lease `name` for `holder` until now + ttl, if it is
  // free, expired, or already held by `holder`; returns whether it did.
  virtual Result<bool> TakeLease(const std::string& name, const std::string& holder, int64_t now_ms,
                                 int64_t ttl_ms) = 0;
  // Gives it up early (only if `holder` holds it).
  virtual Status DropLease(const std::string& name, const std::string& holder) = 0;
};

// Wakes this server when another server sharing the store queued a run or
// wrote an event (PostgreSQL: LISTEN/NOTIFY). A store of one server's own
// (SQLite) has no one else to hear from. Servers still look every second,
// so a missed wake-up costs latency, never correctness.
class ChangeNotices {
 public:
  virtual ~ChangeNotices() = default;
  enum class Change { kRunQueued, kEvent };
  // `fn` runs on the store's own thread. An empty `fn` stops it (and
  // waits for a call in progress): do so before what `fn` uses goes away.
  virtual void OnChange(std::function<void(Change)> fn) { (void)fn; }
};

class MetadataStore : public RegistryMetadata,
                      public AccountStore,
                      public EventLog,
                      public RunStore,
                      public RunQueueStore,
                      public TaskStore,
                      public RunLogStore,
                      public LeaseStore,
                      public ChangeNotices {};

// The embedded default: SQLite in WAL mode at `path`.
Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path);

// PostgreSQL at `url` (a libpq URI: postgres://… or postgresql://…),
// shared by any number of servers. Applies pending schema migrations (once,
// however many servers start together); a schema newer than this version
// understands is refused.
Result<std::unique_ptr<MetadataStore>> OpenPostgresMetadataStore(const std::string& url);

}  // namespace drydock::storage
