// The workers (each takes the oldest Queued run and executes it) and the
// watchdog that stops runs past their timeout.
#include "tasks/quick_build.h"
#include "tasks/run_record.h"
#include "tasks/service_impl.h"

namespace drydock::tasks {

namespace {

using Clock = std::chrono::steady_clock;

// Workers look at the store now and then even without a signal, in case a
// claim failed on a transient store error.
constexpr std::chrono::seconds kIdlePoll{5};
constexpr std::chrono::milliseconds kWatchdogTick{100};

// The final state of a run that did not succeed, given why it was stopped.
void ApplyStop(Run& run, ActiveRun::Stop stop) {
  switch (stop) {
    case ActiveRun::Stop::kNone:
      return;
    case ActiveRun::Stop::kCanceled:
      run.status = RunStatus::kCanceled;
      run.error = "the run was canceled";
      return;
    case ActiveRun::Stop::kTimeout:
      run.status = RunStatus::kTimeout;
      run.error = "the run exceeded its timeout of " + std::to_string(run.request.timeout_seconds) +
                  " seconds";
      return;
    case ActiveRun::Stop::kShutdown:
      run.status = RunStatus::kError;
      run.error = "the server stopped while the run was running";
      return;
  }
}

}  // namespace

void RunService::Impl::WorkerLoop() {
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      seen = queued_signal;
    }
    if (auto claimed = ClaimNext()) {
      Execute(std::move(claimed->first), claimed->second);
      continue;
    }
    std::unique_lock lock(mu);
    wake.wait_for(lock, kIdlePoll, [&] { return stopping || queued_signal != seen; });
  }
}

std::optional<std::pair<Run, std::shared_ptr<ActiveRun>>> RunService::Impl::ClaimNext() {
  std::lock_guard lock(mu);
  if (stopping) return std::nullopt;
  auto rows = store.RunsWithStatus({std::string(StatusName(RunStatus::kQueued))}, 1);
  if (!rows.ok() || rows->empty()) return std::nullopt;
  const storage::RunRow& row = rows->front();
  auto run = internal::FromRow(row);
  if (!run.ok()) {
    // A record this version cannot read would block the queue forever.
    Run broken = internal::Unreadable(row, run.status());
    (void)Finalize(broken, {row.status});  // a failed write leaves it claimed; recovery retries
    ++queued_signal;  // look again at once
    return std::nullopt;
  }
  run->status = RunStatus::kStarted;
  run->start_time_ms = internal::NowMs();
  auto saved = Save(*run, {row.status});
  if (!saved.ok() || !*saved) return std::nullopt;
  auto a = std::make_shared<ActiveRun>();
  a->deadline = Clock::now() + std::chrono::seconds(run->request.timeout_seconds);
  active[run->id] = a;
  return std::make_pair(std::move(*run), a);
}

void RunService::Impl::Execute(Run run, const std::shared_ptr<ActiveRun>& a) {
  internal::Outcome outcome;
  {
    auto log = logs.OpenWriter(run.id, internal::SecretsOf(run.request));
    if (!log.ok()) {
      outcome.error = log.status().message();
    } else {
      internal::RunContext ctx{options, run, **log, &a->cancel, contexts.ClaimedPath(run.id),
                               nullptr};
      ctx.on_running = [&] {
        run.status = RunStatus::kRunning;
        // Only the displayed status; the final Save below is the one that counts.
        (void)Save(run, {std::string(StatusName(RunStatus::kStarted))});
      };
      // An ActiveRun canceled before it got here stops at once.
      outcome = a->cancel ? internal::Outcome{RunStatus::kCanceled, "canceled"}
                : internal::IsTaskRun(run.request) ? internal::ExecuteTaskRun(ctx)
                                                   : internal::ExecuteQuickBuild(ctx);
    }
  }
  contexts.Release(run.id);  // when the run stopped before extracting it
  run.status = outcome.status;
  run.error = outcome.error;
  if (run.status != RunStatus::kSucceeded) {
    std::lock_guard lock(mu);
    ApplyStop(run, a->stop);
  }
  (void)Finalize(run, {});  // a failed write leaves it running; restart recovery finalizes it
  if (on_finished) on_finished(run);
  std::lock_guard lock(mu);
  active.erase(run.id);
}

void RunService::Impl::WatchdogLoop() {
  std::unique_lock lock(mu);
  while (!stopping) {
    auto now = Clock::now();
    for (auto& [id, run] : active) {
      if (run->stop == ActiveRun::Stop::kNone && now >= run->deadline) {
        run->stop = ActiveRun::Stop::kTimeout;
        run->cancel = true;
      }
    }
    wake.wait_for(lock, kWatchdogTick, [&] { return stopping; });
  }
}

}  // namespace drydock::tasks
