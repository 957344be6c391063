// The trigger service's threads: a dispatcher for manifest events (the bus
// calls us synchronously from the registry, so reactions happen elsewhere),
// a one-second clock for timers (reading tasks once a minute), and one for
// the pollers (ticking at the poll floor, at most every 10 s).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/random.h"
#include "triggers/triggers.h"

namespace drydock::triggers {

using json = nlohmann::json;

Service::Service(storage::MetadataStore& store, tasks::TaskService& tasks, tasks::RunService& runs,
                 Options options)
    : store_(store), tasks_(tasks), runs_(runs), options_([&] {
        if (options.server_id.empty()) options.server_id = RandomHex(8);
        return std::move(options);
      }()) {}

Service::~Service() {
  pushes_.reset();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void Service::Start(events::Bus& bus) {
  pushes_ = std::make_unique<events::LogFollower>(
      store_, "base-image-trigger",
      [this](const events::ManifestEvent& e) { return HandlePush(e); }, std::chrono::seconds(1),
      options_.server_id);
  bus.Subscribe([this] {
    if (pushes_) pushes_->Wake();
  });
  threads_.emplace_back([this] { TimerLoop(); });
  threads_.emplace_back([this] { PollLoop(); });
}

constexpr std::chrono::minutes kTimerRetry{5};

void Service::TimerLoop() {
  auto now = [this] { return options_.clock ? options_.clock() : SystemClock::now(); };
  // Occurrences missed while the server was down are skipped: timers fire
  // from the moment the server starts (README, "Tasks and triggers").
  SystemClock::time_point last = now();
  // Cron occurrences fall on whole minutes: until one has passed since
  // `last`, there is nothing to fire and no reason to read every task.
  auto minute = [](SystemClock::time_point t) {
    return std::chrono::floor<std::chrono::minutes>(t);
  };
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
    lock.unlock();
    SystemClock::time_point t = now();
    // A window the store was away for is tried again next second (for up
    // to kTimerRetry): no occurrence is lost to a database restart, and
    // none runs twice (each occurrence has its own key).
    if (t > last && minute(t) != minute(last) && (FireTimers(last, t) || t - last > kTimerRetry))
      last = t;
    lock.lock();
  }
}

// Polls talk to other servers (up to their timeouts): on a thread of their
// own, so a slow registry never delays a timer.
void Service::PollLoop() {
  // No poll is due more often than min_poll_interval: reading every task
  // each second would only find nothing to do.
  auto period =
      std::clamp(options_.min_poll_interval, std::chrono::seconds(1), std::chrono::seconds(10));
  // One server polls at a time (a lease in the store), so N replicas do
  // not poll every remote N times or queue a base-image update twice.
  auto ttl = std::max<int64_t>(30'000, 3 * std::chrono::milliseconds(period).count());
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
    lock.unlock();
    SystemClock::time_point now = SystemClock::now();
    int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    auto held = store_.TakeLease("trigger-polls", options_.server_id, now_ms, ttl);
    if (held.ok() && *held) {
      PollSources(now);
      PollBaseImages(now);
    }
    lock.lock();
  }
  (void)store_.DropLease("trigger-polls", options_.server_id);
}

bool Service::IsOwn(const std::string& registry) const {
  for (const auto& r : options_.own_registries) {
    if (r == registry) return true;
  }
  return false;
}

std::chrono::seconds Service::PollInterval(int64_t seconds) const {
  return std::max(std::chrono::seconds(seconds), options_.min_poll_interval);
}

// Trigger bookkeeping lives in the task's state object, one key per kind.
Status Service::MergeState(const std::string& task, const std::string& key,
                           const std::string& value_json) {
  json value = json::parse(value_json, nullptr, false);
  if (value.is_discarded()) return Internal("state for " + key + " is not JSON");
  return tasks_.UpdateState(task, [&](const std::string& text) {
    json state = json::parse(text, nullptr, false);
    if (!state.is_object()) state = json::object();
    if (value.is_object() && state[key].is_object()) {
      state[key].merge_patch(value);
    } else {
      state[key] = value;
    }
    return state.dump();
  });
}

}  // namespace drydock::triggers
