// Timers (cron schedules) and the polling of base images kept in other
// registries, which cannot tell us when they change.
#include <map>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "oci/manifest.h"
#include "oci/reference.h"
#include "triggers/triggers.h"

namespace drydock::triggers {

using json = nlohmann::json;

namespace {

// Failing polls back off: interval × 2^failures, at most an hour.
constexpr std::chrono::seconds kMaxBackoff{3600};

int64_t UnixSeconds(SystemClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

bool Service::FireTimers(SystemClock::time_point from, SystemClock::time_point to) {
  auto all = tasks_.List();
  if (!all.ok()) {
    spdlog::warn("timers: cannot read the tasks: {}", all.status().message());
    return false;
  }
  bool ok = true;
  for (const auto& task : *all) {
    if (!task.enabled) continue;
    for (const auto& timer : task.timers) {
      if (!timer.enabled) continue;
      auto schedule = cron::Schedule::Parse(timer.schedule);
      if (!schedule.ok()) continue;  // TaskService refuses it when the task is saved
      auto next = schedule->Next(from);
      if (!next || *next > to) continue;
      // Several occurrences passed at once (a stalled clock) run once.
      tasks::RunTrigger trigger;
      trigger.timer = tasks::TimerTrigger{
          timer.name,
          std::chrono::duration_cast<std::chrono::milliseconds>(next->time_since_epoch()).count()};
      auto run = tasks_.Queue(task.name, {}, trigger,
                              "timer:" + task.name + ":" + timer.name + ":" +
                                  std::to_string(trigger.timer->schedule_occurrence_ms));
      if (run.ok()) {
        spdlog::info("timer {} of {} fired, queued {}", timer.name, task.name, run->id);
      } else {
        spdlog::warn("timer {} of {}: cannot queue: {}", timer.name, task.name,
                     run.status().message());
        // The store is likely away: the whole window is tried again (the
        // occurrence's key keeps what did get queued from queuing twice).
        if (run.status().code() == Code::kUnavailable) ok = false;
      }
    }
  }
  return ok;
}

void Service::PollBaseImages(SystemClock::time_point now) {
  auto all = tasks_.List();
  if (!all.ok()) return;
  for (const auto& task : *all) {
    if (!task.enabled || !task.base_image_trigger) continue;
    // A base is polled once for all its rows (one per platform built from it).
    std::map<std::string, std::vector<tasks::TaskDependency>> bases;
    for (const auto& dep : task.dependencies) {
      if (IsOwn(dep.registry) || dep.tag.empty()) continue;
      if (task.base_image_trigger_type == "Runtime" && dep.kind != "Runtime") continue;
      bases[dep.registry + "/" + dep.repository + ":" + dep.tag].push_back(dep);
    }
    for (const auto& [name, deps] : bases) PollBaseImage(task, name, deps, now);
  }
}

void Service::PollBaseImage(const tasks::Task& task, const std::string& name,
                            const std::vector<tasks::TaskDependency>& deps,
                            SystemClock::time_point now) {
  const tasks::TaskDependency& dep = deps.front();
  std::string key = "base:" + task.name + ":" + name;
  {
    std::lock_guard lock(mu_);
    if (now < polls_[key].due) return;
    polls_[key].due = now + options_.base_image_poll_interval;
  }
  remote::ClientOptions o;
  o.insecure_registries = options_.insecure_registries;
  o.max_attempts = 1;
  o.timeout_seconds = 30;
  o.credentials =
      [creds = task.credentials](const std::string& registry) -> std::optional<remote::Credential> {
    for (const auto& c : creds) {
      if (c.login_server == registry) return remote::Credential{c.username, c.password};
    }
    return std::nullopt;
  };
  remote::Client client(o);
  oci::ImageReference ref{dep.registry, dep.repository, dep.tag, std::nullopt};
  auto digest = client.ResolveDigest(ref);
  if (!digest.ok() && options_.metrics) options_.metrics->PollError("registry");
  int failures = 0;
  {
    std::lock_guard lock(mu_);
    auto& slot = polls_[key];
    slot.failures = digest.ok() ? 0 : slot.failures + 1;
    failures = slot.failures;
    if (failures > 0) {
      auto backoff = std::min<std::chrono::seconds>(
          options_.base_image_poll_interval * (1 << std::min(failures, 12)), kMaxBackoff);
      slot.due = now + std::max(backoff, options_.base_image_poll_interval);
    }
  }
  json record = {{"checkedAt", UnixSeconds(now)},
                 {"failures", failures},
                 {"error", digest.ok() ? "" : digest.status().message()}};
  if (digest.ok()) record["digest"] = digest->str();
  (void)MergeState(task.name, "basePoll", json{{name, record}}.dump());  // display state
  if (!digest.ok()) return;
  std::vector<storage::DependencyRow> rows;
  for (const auto& d : deps) {
    if (d.digest == digest->str()) continue;
    if (d.digest.empty()) {
      // Never built and never seen: this is where the tag starts from.
      tasks::TaskDependency seen = d;
      seen.digest = digest->str();
      (void)tasks_.RecordDigest(task.name, seen);  // unrecorded: the next poll starts here again
      continue;
    }
    rows.push_back(
        {task.name, d.kind, d.registry, d.repository, d.tag, d.digest, d.platform, d.manifest});
  }
  if (rows.empty()) return;
  // Changed: its bytes too, as an index is compared per platform (a failure
  // leaves the rows as they were, for the next poll).
  ref.digest = *digest;
  auto manifest = client.GetManifest(ref);
  if (!manifest.ok()) return;
  std::string index = oci::IsIndexMediaType(manifest->media_type) ? manifest->bytes : "";
  // A failure is logged there; the next poll sees the same new digest. The
  // cause names the change: a poll seeing it again while the run it queued
  // still builds (the task's rows are written when that run ends) finds
  // that run instead of queueing a second one.
  (void)OnBaseUpdated(rows, {dep.registry, dep.repository, dep.tag, digest->str()}, {},
                      "poll:" + rows.front().digest + ">" + digest->str(), index);
}

}  // namespace drydock::triggers
