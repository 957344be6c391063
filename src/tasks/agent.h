// A build agent: workers that claim runs from a RunQueue and execute them,
// and a watchdog that renews their leases and stops the runs that time
// out, are canceled or were lost. The server's embedded agent and
// `drydock agent` are both one of these; they differ only in the queue
// (the RunService itself, or HTTP), where the logs are written and how an
// uploaded context is reached.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tasks/log_store.h"
#include "tasks/tasks.h"

namespace drydock::tasks::internal {

// A claimed run's uploaded context: where it is here, and the sha256 of the
// tarball (what provenance names), known without reading it again.
struct UploadedContext {
  std::filesystem::path path;
  std::string digest;
};

struct AgentParts {
  // How it builds (data_dir/runs holds the work dirs); concurrency is the
  // number of workers, heartbeat how often leases are renewed.
  const ServiceOptions& options;
  AgentInfo info;
  RunQueue& queue;
  LogStore& logs;  // the runs' logs are written here
  // The uploaded context a claimed "context:" run reads; none for other sources.
  std::function<Result<UploadedContext>(const ClaimedRun&)> context;
  // Called with the run's id when it is done here (reported or lost).
  std::function<void(const std::string&)> done;
};

class Agent {
 public:
  explicit Agent(AgentParts parts) : parts_(std::move(parts)) {}
  // Hands the runs still building back to the queue, then joins.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Releases what a killed predecessor left in data_dir/runs (containers,
  // mounts, work dirs), then starts the workers and the watchdog.
  Status Start();
  // Stops the run at once if it builds here (cancel requested); false if not.
  bool Cancel(const std::string& run_id);
  // Runs building here now.
  size_t Active();
  // "A run may be waiting": idle workers claim at once instead of at their
  // next poll.
  void Wake();

 private:
  struct Running;
  void WorkerLoop();
  void WatchdogLoop();
  void Execute(ClaimedRun claimed);

  AgentParts parts_;
  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t wakes_ = 0;
  std::map<std::string, std::shared_ptr<Running>> active_;
  std::vector<std::thread> threads_;
};

}  // namespace drydock::tasks::internal
