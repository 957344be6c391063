// The run queue's server side: claims, heartbeats and reports from agents
// (the embedded one and remote ones alike), and what happens to a run
// whose agent is lost.
#include <algorithm>
#include <cstdint>

#include "tasks/run_record.h"
#include "tasks/service_impl.h"

namespace drydock::tasks {

using internal::NowMs;

namespace {

constexpr int64_t kMaxBackoffMs = 60'000;
constexpr std::chrono::seconds kReapEvery{1};

bool IsClaimed(RunStatus s) { return s == RunStatus::kStarted || s == RunStatus::kRunning; }

std::string Attempt(int64_t attempt) { return "attempt " + std::to_string(attempt); }

}  // namespace

Status RunService::Impl::Store(const Run& run, const std::vector<std::string>& if_status,
                               int64_t attempt, int64_t not_before_ms) {
  storage::RunRow row = RowOf(run);
  row.not_before_ms = not_before_ms;
  auto saved = attempt > 0 ? store.UpdateClaimedRun(row, attempt) : store.UpdateRun(row, if_status);
  if (!saved.ok()) return saved.status();
  if (*saved) return Status::Ok();
  if (attempt > 0)
    return Conflict(Attempt(attempt) + " of run " + run.id +
                    " no longer holds it (its lease expired, or the run ended)");
  return Conflict("run " + run.id + " changed while it was being updated");
}

Status RunService::Impl::Finalize(Run& run, const std::vector<std::string>& if_status,
                                  int64_t attempt) {
  run.finish_time_ms = NowMs();
  // Secrets were needed only to run it.
  run.request = internal::Scrubbed(std::move(run.request));
  auto log = logs.OpenWriter(run.id, {});
  if (log.ok()) (*log)->Line(internal::FinalLogLine(run));
  Status saved = Store(run, if_status, attempt);
  logs.Changed(run.id);
  DD_RETURN_IF_ERROR(saved);
  if (options.metrics)
    options.metrics->RunFinished(
        run.request.type, StatusName(run.status),
        run.start_time_ms > 0 ? static_cast<double>(run.finish_time_ms - run.start_time_ms) / 1000
                              : -1);
  // A part's upload and outcome are its split run's, which ends last.
  if (!run.request.parent.empty()) return Status::Ok();
  contexts.Release(UploadOf(run));
  if ((attempt > 0 || !run.parts.empty()) && on_finished) on_finished(run);
  return Status::Ok();
}

Status RunService::Impl::LoseAttempt(const storage::RunRow& row, const std::string& why) {
  auto read = internal::FromRow(row);
  Run run = read.ok() ? std::move(*read) : internal::Unreadable(row, read.status());
  // No agent holds a split run (its lease is always expired): it advances.
  if (!run.parts.empty()) return AdvanceSplit(row);
  if (row.cancel_requested) {
    run.status = RunStatus::kCanceled;
    run.error = "the run was canceled";
    return Finalize(run, {row.status}, row.attempt);
  }
  if (read.ok() && row.attempt < options.max_attempts) {
    int64_t backoff = options.retry_backoff.count() << std::clamp<int64_t>(row.attempt - 1, 0, 16);
    backoff = std::clamp<int64_t>(backoff, 0, kMaxBackoffMs);
    run.status = RunStatus::kQueued;
    DD_RETURN_IF_ERROR(Store(run, {row.status}, row.attempt, NowMs() + backoff));
    if (options.metrics) options.metrics->RunRetried();
    if (auto log = logs.OpenWriter(run.id, {}); log.ok()) {
      (*log)->Line("Attempt " + std::to_string(row.attempt) + " was lost: " + why +
                   ". The run is queued again (retry in " + std::to_string(backoff / 1000) + "s).");
    }
    logs.Changed(run.id);
    SignalQueued();
    return Status::Ok();
  }
  run.status = RunStatus::kError;
  run.error = "the agent running it was lost (" + why + ") on " + Attempt(row.attempt) + " of " +
              std::to_string(options.max_attempts);
  return Finalize(run, {row.status}, row.attempt);
}

void RunService::Impl::ExpireLeases() {
  // One server reaps at a time (the agent name is unique per server), so
  // a lost attempt is logged and requeued once however many servers run.
  auto reaper = store.TakeLease("run-reaper", options.agent_name, NowMs(), 10'000);
  if (!reaper.ok() || !*reaper) return;
  auto expired = store.ExpiredRunLeases(NowMs());
  if (!expired.ok()) return;  // the next tick tries again
  for (const auto& row : *expired) {
    // A split run (attempt 0) is never held: its lease is not one that expired.
    if (row.attempt > 0 && options.metrics) options.metrics->LeaseExpired();
    std::string agent = row.agent.empty() ? "its agent" : "agent " + row.agent;
    (void)LoseAttempt(row, agent + " stopped renewing its lease");
  }
}

void RunService::Impl::SignalQueued() {
  {
    std::lock_guard lock(mu);
    ++queued_signal;
  }
  wake.notify_all();
  if (agent) agent->Wake();
}

void RunService::Impl::ReaperLoop() {
  std::unique_lock lock(mu);
  while (!stopping) {
    lock.unlock();
    ExpireLeases();
    lock.lock();
    wake.wait_for(lock, kReapEvery, [&] { return stopping; });
  }
  lock.unlock();
  (void)store.DropLease("run-reaper", options.agent_name);
}

Result<std::optional<ClaimedRun>> RunService::Claim(const AgentInfo& agent) {
  storage::RunClaimFilter filter{agent.name, agent.pool, agent.platforms, agent.emulated,
                                 impl_->options.emulated_wait.count()};
  while (true) {
    DD_ASSIGN_OR_RETURN(row, impl_->store.ClaimRun(filter, NowMs(), impl_->options.lease.count()));
    if (!row) return std::optional<ClaimedRun>();
    auto run = internal::FromRow(*row);
    if (run.ok() && impl_->options.metrics)
      impl_->options.metrics->RunStarted(
          run->request.type,
          row->attempt == 1 ? static_cast<double>(NowMs() - run->create_time_ms) / 1000 : -1);
    if (run.ok()) return std::optional<ClaimedRun>(ClaimedRun{std::move(*run), row->attempt});
    // A record this version cannot read would block the queue forever.
    Run broken = internal::Unreadable(*row, run.status());
    (void)impl_->Finalize(broken, {}, row->attempt);
  }
}

Result<bool> RunService::Heartbeat(const std::string& run_id, int64_t attempt) {
  return impl_->store.RenewRunLease(run_id, attempt, NowMs(), impl_->options.lease.count());
}

Result<std::optional<ClaimedRun>> RunService::ClaimWaiting(const AgentInfo& agent,
                                                           std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(impl_->mu);
      seen = impl_->queued_signal;
    }
    DD_ASSIGN_OR_RETURN(claimed, Claim(agent));
    if (claimed || std::chrono::steady_clock::now() >= deadline) return claimed;
    std::unique_lock lock(impl_->mu);
    // Woken by a queued run; else look again every second (backoffs end).
    impl_->wake.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kReapEvery),
                           [&] { return impl_->stopping || impl_->queued_signal != seen; });
    if (impl_->stopping) return std::optional<ClaimedRun>();
  }
}

Status RunService::CheckHolder(const std::string& run_id, int64_t attempt,
                               const std::string& agent) {
  DD_ASSIGN_OR_RETURN(row, impl_->store.GetRun(run_id));
  auto status = ParseStatus(row.status);
  if (!status || !IsClaimed(*status) || row.attempt != attempt || row.agent != agent)
    return Conflict("agent " + agent + " does not hold " + Attempt(attempt) + " of run " + run_id);
  return Status::Ok();
}

Result<uint64_t> RunService::LogSize(const std::string& run_id) {
  DD_ASSIGN_OR_RETURN(slice, impl_->logs.Read(run_id, UINT64_MAX, 0));
  return slice.size;
}

Result<uint64_t> RunService::AppendLog(const std::string& run_id, uint64_t offset,
                                       std::string_view data) {
  return impl_->logs.AppendAt(run_id, offset, data);
}

Result<std::filesystem::path> RunService::ContextFile(const std::string& run_id) {
  DD_ASSIGN_OR_RETURN(row, impl_->store.GetRun(run_id));
  DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
  return impl_->contexts.ClaimedPath(impl_->UploadOf(run));
}

Status RunService::ReleaseAgentRuns(const std::string& agent, const std::string& why) {
  DD_ASSIGN_OR_RETURN(held, impl_->store.RunsWithStatus({"Started", "Running"}, -1));
  for (const auto& row : held) {
    if (row.agent == agent) DD_RETURN_IF_ERROR(impl_->LoseAttempt(row, why));
  }
  return Status::Ok();
}

Status RunService::Report(const Run& reported, int64_t attempt) {
  // The stored run, not the agent's copy: an agent reports outcomes, it
  // does not rewrite what was asked for.
  DD_ASSIGN_OR_RETURN(row, impl_->store.GetRun(reported.id));
  DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
  if (!IsClaimed(run.status) || row.attempt != attempt)
    return Conflict(Attempt(attempt) + " of run " + run.id + " no longer holds it (the run is " +
                    std::string(StatusName(run.status)) + ", " + Attempt(row.attempt) + ")");
  run.source = reported.source;
  run.status = reported.status;
  if (run.status == RunStatus::kQueued) {
    // Handed back (its agent is stopping): another agent may take it now.
    DD_RETURN_IF_ERROR(impl_->Store(run, {}, attempt, NowMs()));
    if (auto log = impl_->logs.OpenWriter(run.id, {}); log.ok())
      (*log)->Line("Agent " + row.agent + " stopped and handed the run back to the queue.");
    impl_->logs.Changed(run.id);
    impl_->SignalQueued();
    return Status::Ok();
  }
  if (IsClaimed(run.status)) return impl_->Store(run, {}, attempt);
  run.error = reported.error;
  run.output_images = reported.output_images;
  run.dependencies_json = reported.dependencies_json;
  run.patch = reported.patch;
  return impl_->Finalize(run, {}, attempt);
}

}  // namespace drydock::tasks
