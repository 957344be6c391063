// The agent's workers (claim, execute, report) and its watchdog (leases,
// timeouts, cancels). See agent.h.
#include "tasks/agent.h"

#include <system_error>

#include "base/log_context.h"
#include "runtime/runtime.h"
#include "tasks/quick_build.h"
#include "tasks/run_record.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Workers look at the queue now and then even without a signal: a retry's
// backoff ends, or a claim failed on a transient error.
constexpr std::chrono::seconds kIdlePoll{1};
constexpr std::chrono::milliseconds kWatchdogTick{100};

}  // namespace

// A run this agent is executing.
struct Agent::Running {
  // Why `cancel` was set. kLost: its lease was taken away (another attempt
  // may be running it), so it reports nothing. kShutdown: it is handed back.
  enum class Stop { kNone, kCanceled, kTimeout, kShutdown, kLost };
  std::atomic<bool> cancel{false};  // what the source fetch and the builder watch
  Clock::time_point deadline;
  int64_t attempt = 0;
  Stop stop = Stop::kNone;  // guarded by Agent::mu_

  void StopFor(Stop why) {  // under Agent::mu_
    if (stop == Stop::kNone) stop = why;
    cancel = true;
  }
};

Agent::~Agent() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, run] : active_) run->StopFor(Running::Stop::kShutdown);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

Status Agent::Start() {
  // Nothing runs here yet, so every work dir is a leftover, with whatever a
  // killed process left running or mounted in it.
  const fs::path runs = parts_.options.data_dir / "runs";
  std::vector<fs::path> runc_roots;
  std::error_code list_ec;
  for (const auto& run_dir : fs::directory_iterator(runs, list_ec)) {
    if (run_dir.is_symlink(list_ec)) continue;
    for (auto& root : TaskRunStateRoots(run_dir.path())) runc_roots.push_back(root);
  }
  runtime::ReleaseLeftovers(runs, runc_roots);
  // So is every RUN container and scratch mount of a Dockerfile build: the
  // build state belongs to this agent alone.
  const fs::path& build = parts_.options.build_state;
  std::error_code ec;
  if (!build.empty()) {
    runtime::ReleaseLeftovers(build, {build / "run" / "runc"});
    fs::remove_all(build / "tmp", ec);
  }
  fs::remove_all(runs, ec);
  fs::create_directories(runs, ec);
  if (ec) return Internal("cannot create " + runs.string() + ": " + ec.message());
  std::lock_guard lock(mu_);
  for (int i = 0; i < parts_.options.concurrency; ++i)
    threads_.emplace_back([this] { WorkerLoop(); });
  threads_.emplace_back([this] { WatchdogLoop(); });
  return Status::Ok();
}

bool Agent::Cancel(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(run_id);
  if (it == active_.end()) return false;
  it->second->StopFor(Running::Stop::kCanceled);
  return true;
}

size_t Agent::Active() {
  std::lock_guard lock(mu_);
  return active_.size();
}

void Agent::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wakes_;
  }
  wake_.notify_all();
}

void Agent::WorkerLoop() {
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen = wakes_;
    }
    auto claimed = parts_.queue.Claim(parts_.info);
    if (claimed.ok() && *claimed) {
      Execute(std::move(**claimed));
      continue;
    }
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, kIdlePoll, [&] { return stopping_ || wakes_ != seen; });
  }
}

void Agent::Execute(ClaimedRun claimed) {
  Run& run = claimed.run;
  auto a = std::make_shared<Running>();
  a->attempt = claimed.attempt;
  a->deadline = Clock::now() + std::chrono::seconds(run.request.timeout_seconds);
  {
    std::lock_guard lock(mu_);
    if (stopping_) a->StopFor(Running::Stop::kShutdown);
    active_[run.id] = a;
  }
  Outcome outcome;
  {
    ScopedLogContext log_context("run=" + run.id);
    auto log = parts_.logs.OpenWriter(run.id, SecretsOf(run.request));
    auto upload =
        parts_.context ? parts_.context(claimed) : Result<UploadedContext>(UploadedContext{});
    if (!log.ok()) {
      outcome.error = log.status().message();
    } else if (!upload.ok()) {
      outcome.error = upload.status().message();
      (*log)->Line(outcome.error);
    } else {
      if (claimed.attempt > 1)
        (*log)->Line("Attempt " + std::to_string(claimed.attempt) + " on agent " +
                     parts_.info.name + ".");
      RunContext ctx{parts_.options, run, **log, &a->cancel, upload->path, nullptr, upload->digest};
      ctx.on_running = [&] {
        run.status = RunStatus::kRunning;
        // Only the displayed status; the final report is the one that counts.
        (void)parts_.queue.Report(run, claimed.attempt);
      };
      // A run canceled before it got here stops at once.
      outcome = a->cancel                ? Outcome{RunStatus::kCanceled, "canceled"}
                : IsTaskRun(run.request) ? ExecuteTaskRun(ctx)
                                         : ExecuteQuickBuild(ctx);
    }
  }
  run.status = outcome.status;
  run.error = outcome.error;
  Running::Stop stop;
  {
    std::lock_guard lock(mu_);
    stop = a->stop;
  }
  if (run.status != RunStatus::kSucceeded) {
    switch (stop) {
      case Running::Stop::kNone:
      case Running::Stop::kLost:
        break;
      case Running::Stop::kShutdown:
        run.status = RunStatus::kQueued;  // handed back: another agent (or the next start) runs it
        break;
      case Running::Stop::kCanceled:
        run.status = RunStatus::kCanceled;
        run.error = "the run was canceled";
        break;
      case Running::Stop::kTimeout:
        run.status = RunStatus::kTimeout;
        run.error = "the run exceeded its timeout of " +
                    std::to_string(run.request.timeout_seconds) + " seconds";
        break;
    }
  }
  // A lost attempt reports nothing: the run is someone else's now. A failed
  // report leaves the run claimed: its lease expires and the run is retried.
  if (stop != Running::Stop::kLost) (void)parts_.queue.Report(run, claimed.attempt);
  if (parts_.done) parts_.done(run.id);
  std::lock_guard lock(mu_);
  active_.erase(run.id);
}

void Agent::WatchdogLoop() {
  auto next_beat = Clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = Clock::now();
    for (auto& [id, run] : active_) {
      if (now >= run->deadline) run->StopFor(Running::Stop::kTimeout);
    }
    if (now >= next_beat) {
      next_beat = now + parts_.options.heartbeat;
      auto held = active_;
      lock.unlock();
      for (auto& [id, run] : held) {
        auto cancel = parts_.queue.Heartbeat(id, run->attempt);
        bool lost = !cancel.ok() && cancel.status().code() == Code::kConflict;
        if (!lost && !(cancel.ok() && *cancel)) continue;
        std::lock_guard relock(mu_);
        run->StopFor(lost ? Running::Stop::kLost : Running::Stop::kCanceled);
      }
      lock.lock();
    }
    wake_.wait_for(lock, kWatchdogTick, [&] { return stopping_; });
  }
}

}  // namespace drydock::tasks::internal
