// RunService's state, shared by run_service.cc (the public calls) and
// queue.cc (the run queue's server side and its lease reaper). The
// embedded agent is an internal::Agent (agent.h) like any other.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/metadata_store.h"
#include "tasks/agent.h"
#include "tasks/context.h"
#include "tasks/log_store.h"
#include "tasks/tasks.h"

namespace drydock::tasks {

struct RunService::Impl {
  Impl(storage::MetadataStore& s, storage::BlobStore& blobs, ServiceOptions o);

  // run_service.cc
  Status Recover();
  storage::RunRow RowOf(const Run& run) const;
  // The upload a "context:" run reads, "" for other sources.
  std::string UploadOf(const Run& run) const;

  // queue.cc. Stores a run's new state: while attempt `attempt` holds it
  // when > 0, else while its status is one of `if_status`; kConflict when
  // refused.
  Status Store(const Run& run, const std::vector<std::string>& if_status, int64_t attempt,
               int64_t not_before_ms = 0);
  // Writes the run's final log line, then stores it (a reader that sees
  // the final status has the whole log), releases its upload and, for a
  // claimed run, tells on_finished.
  Status Finalize(Run& run, const std::vector<std::string>& if_status, int64_t attempt);
  // The attempt holding `row` is gone (`why`): the run is requeued with
  // backoff, or ends Error after its last attempt, or Canceled when a
  // cancel was asked for.
  Status LoseAttempt(const storage::RunRow& row, const std::string& why);
  void ExpireLeases();
  // Removes expired uploads and those of runs that ended (any server's).
  void RemoveUnusedContexts();
  void SignalQueued();

  // queue.cc: every second, ExpireLeases until the service stops.
  void ReaperLoop();

  // run_service.cc. Stores a new run (its images expanded for its id) unless
  // one with its cause exists; returns the seq of the run stored for it.
  Result<storage::CreatedRun> Insert(Run& run);
  // RunService::Cancel.
  Status CancelRun(const std::string& id);

  // split.cc: multi-platform runs split into a part per platform.
  // Whether to split `r`: it builds and pushes several platforms, the
  // embedded agent does not serve its pool, and no agent of its pool seen
  // lately builds all of them natively (agents naming no platforms build
  // any).
  bool ShouldSplit(const RunRequest& r);
  // A split run (the reaper's tick, and once when it is queued): queues its
  // missing parts; once a part failed or a cancel was asked, cancels the
  // others; once all are final, pushes the index of their images and tags
  // it (all succeeded), and ends the run.
  Status AdvanceSplit(const storage::RunRow& row);
  // Queues the parts `run` lacks; true when it queued any.
  Result<bool> QueueParts(Run& run);

  storage::MetadataStore& store;
  const ServiceOptions options;
  internal::LogStore logs;
  internal::ContextStore contexts;

  std::mutex mu;                 // guards what follows
  std::condition_variable wake;  // a run was queued, or the service stops
  uint64_t queued_signal = 0;
  bool started = false;
  bool stopping = false;
  std::function<void(const Run&)> on_finished;  // set before Start()
  std::thread reaper;
  // Last: destroyed first, handing its runs back while the rest still works.
  std::unique_ptr<internal::Agent> agent;  // the embedded agent; none when concurrency is 0
};

}  // namespace drydock::tasks
