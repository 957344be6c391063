// Timers (cron schedules) and the polling of base images kept in other
// registries, which cannot tell us when they change.
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

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
    for (const auto& dep : task.dependencies) {
      if (IsOwn(dep.registry) || dep.tag.empty()) continue;
      if (task.base_image_trigger_type == "Runtime" && dep.kind != "Runtime") continue;
      std::string name = dep.registry + "/" + dep.repository + ":" + dep.tag;
      std::string key = "base:" + task.name + ":" + name;
      {
        std::lock_guard lock(mu_);
        if (now < polls_[key].due) continue;
        polls_[key].due = now + options_.base_image_poll_interval;
      }
      remote::ClientOptions o;
      o.insecure_registries = options_.insecure_registries;
      o.max_attempts = 1;
      o.timeout_seconds = 30;
      o.credentials = [creds = task.credentials](
                          const std::string& registry) -> std::optional<remote::Credential> {
        for (const auto& c : creds) {
          if (c.login_server == registry) return remote::Credential{c.username, c.password};
        }
        return std::nullopt;
      };
      remote::Client client(o);
      auto digest = client.ResolveDigest({dep.registry, dep.repository, dep.tag, std::nullopt});
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
      if (!digest.ok() || digest->str() == dep.digest) continue;
      if (dep.digest.empty()) {
        // Never built and never seen: this is where the tag starts from.
        tasks::TaskDependency seen = dep;
        seen.digest = digest->str();
        (void)tasks_.RecordDigest(task.name, seen);  // unrecorded: the next poll starts here again
        continue;
      }
      storage::DependencyRow row{task.name,      dep.kind, dep.registry,
                                 dep.repository, dep.tag,  dep.digest};
      // A failure is logged there; the next poll sees the same new digest.
      (void)OnBaseUpdated({row}, {dep.registry, dep.repository, dep.tag, digest->str()}, {});
    }
  }
}

}  // namespace drydock::triggers
