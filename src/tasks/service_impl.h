// RunService's state, shared by run_service.cc (the public calls) and
// worker.cc (the workers and the timeout watchdog).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/metadata_store.h"
#include "tasks/context.h"
#include "tasks/log_store.h"
#include "tasks/tasks.h"

namespace drydock::tasks {

// A run a worker is executing.
struct ActiveRun {
  enum class Stop { kNone, kCanceled, kTimeout, kShutdown };
  std::atomic<bool> cancel{false};  // what the source fetch and the builder watch
  std::chrono::steady_clock::time_point deadline;
  Stop stop = Stop::kNone;  // why `cancel` was set; guarded by Impl::mu
};

struct RunService::Impl {
  Impl(storage::MetadataStore& s, ServiceOptions o);

  // run_service.cc
  Status Recover();
  storage::RunRow RowOf(const Run& run) const;
  Result<bool> Save(const Run& run, const std::vector<std::string>& if_status);
  // Writes the run's final log line, then stores it: a reader that sees the
  // final status has the whole log.
  Status Finalize(Run& run, const std::vector<std::string>& if_status);
  Status CancelLocked(const std::string& id);

  // worker.cc
  void WorkerLoop();
  void WatchdogLoop();
  std::optional<std::pair<Run, std::shared_ptr<ActiveRun>>> ClaimNext();
  void Execute(Run run, const std::shared_ptr<ActiveRun>& active);

  storage::MetadataStore& store;
  const ServiceOptions options;
  internal::LogStore logs;
  internal::ContextStore contexts;

  // Guards the queue (claiming and canceling Queued runs happen under it,
  // so they never race) and `active`.
  std::mutex mu;
  std::condition_variable wake;  // a run was queued, or the service stops
  uint64_t queued_signal = 0;
  bool started = false;
  bool stopping = false;
  std::map<std::string, std::shared_ptr<ActiveRun>> active;
  std::function<void(const Run&)> on_finished;  // set before Start()
  std::vector<std::thread> threads;
};

}  // namespace drydock::tasks
