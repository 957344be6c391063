// Triggers: when saved tasks run by themselves. A manifest pushed to this
// registry under a tag some task builds from (base-image trigger, through
// chains of tasks), a newer digest in another registry (polled), a git
// webhook or a polled branch (source triggers), a cron schedule (timers).
// This header is the whole public surface of triggers/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "cron/cron.h"
#include "events/events.h"
#include "metrics/metrics.h"
#include "remote/client.h"
#include "storage/metadata_store.h"
#include "tasks/task_service.h"
#include "tasks/tasks.h"
#include "triggers/webhook.h"

namespace drydock::triggers {

using SystemClock = std::chrono::system_clock;

struct Options {
  // The names this server's registry answers to ("127.0.0.1:5000", the
  // public host…); the first is the one run records show.
  std::vector<std::string> own_registries;
  // How often base images in other registries are checked (HEAD), and the
  // floor for that and for tasks' source poll intervals.
  std::chrono::seconds base_image_poll_interval{300};
  std::chrono::seconds min_poll_interval{30};
  std::vector<std::string> insecure_registries;
  // Polling git remotes on loopback, link-local or private addresses.
  bool allow_private_fetches = false;
  // This server's name in the leases that keep one server at a time
  // following the event log and polling ("" for a random one).
  std::string server_id;
  // Timers read the time here (tests move it); default: the system clock.
  std::function<SystemClock::time_point()> clock;
  // Tests only (DRYDOCK_TEST_TRIGGER_DELAY_MS): a pause between reading a
  // push from the event log and queueing its rebuilds, the window a crash
  // test kills the server in.
  std::chrono::milliseconds test_handle_delay{0};
  // Where trigger latency, webhook verdicts and poll errors are counted.
  metrics::Metrics* metrics = nullptr;
};

// One task that depends, directly or through other tasks, on an image.
struct Dependent {
  std::string task;
  int depth = 1;                    // 1: builds FROM the image itself
  std::string kind;                 // Runtime | BuildTime
  std::string base;                 // the image it depends on, registry/repo:tag
  std::string platform;             // the platform built from it ("" not known yet)
  std::string built_from;           // the digest it was last built from ("" never built)
  std::string current;              // what the base tag points at now ("" unknown)
  bool up_to_date = false;          // `current` has the image (of `platform`) built from
  std::vector<std::string> images;  // what the task builds
};

// How a webhook delivery was taken: an HTTP status, a message and the run
// it queued, if any.
struct WebhookOutcome {
  int http_status = 202;
  std::string message;
  std::optional<tasks::Run> run;
};

class Service {
 public:
  Service(storage::MetadataStore& store, tasks::TaskService& tasks, tasks::RunService& runs,
          Options options);
  ~Service();  // stops the threads
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Follows the registry's event log ("base-image-trigger", woken by `bus`)
  // and starts the timer clock and the pollers (threads of their own).
  void Start(events::Bus& bus);

  WebhookOutcome OnWebhook(const std::string& task, const Headers& headers,
                           const std::string& body);

  // Every task that depends on `ref` ("repo:tag" of this registry,
  // "registry/repo:tag", or "…@sha256:…" for the tasks built from that
  // digest), then on what those tasks build, and so on.
  Result<std::vector<Dependent>> Dependents(const std::string& ref);

  // What the threads do, callable directly by tests. HandlePush queues
  // each dependent once per event (RunRequest::cause), however often it is
  // called for it.
  Status HandlePush(const events::ManifestEvent& event);
  // Fires the timers with an occurrence in (from, to]; one run per timer.
  // False when the tasks could not be read (the database is away): the
  // caller tries the same window again rather than skipping its occurrences.
  bool FireTimers(SystemClock::time_point from, SystemClock::time_point to);
  void PollSources(SystemClock::time_point now);
  void PollBaseImages(SystemClock::time_point now);

 private:
  struct Update;
  void TimerLoop();
  void PollLoop();
  // `cause_id`: what queues the runs, with the task name for their cause;
  // `index`: the image's bytes when it is an index, whose entry for a row's
  // platform is what that row is compared with.
  // `pushed_at_ms`: when the image was pushed here (0: found by a poll).
  Status OnBaseUpdated(const std::vector<storage::DependencyRow>& rows,
                       const tasks::ImageDescriptor& image, std::vector<std::string> cascade,
                       const std::string& cause_id = "", const std::string& index = "",
                       int64_t pushed_at_ms = 0);
  // OnWebhook's answer (OnWebhook counts it).
  WebhookOutcome HandleWebhook(const std::string& task, const Headers& headers,
                               const std::string& body);
  void PollBaseImage(const tasks::Task& task, const std::string& name,
                     const std::vector<tasks::TaskDependency>& deps, SystemClock::time_point now);
  std::vector<std::string> CascadeOf(const std::string& actor);
  bool HasQueuedRun(const std::string& task);
  void Notify(const tasks::Task& task, const tasks::Run& run, const tasks::ImageDescriptor& image);
  bool IsOwn(const std::string& registry) const;
  Result<std::string> IndexBytes(const std::string& repository, const std::string& digest);
  std::chrono::seconds PollInterval(int64_t seconds) const;
  Status MergeState(const std::string& task, const std::string& key, const std::string& json);

  storage::MetadataStore& store_;
  tasks::TaskService& tasks_;
  tasks::RunService& runs_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  // When each poll (task + what) is due next, and how often it failed in a row.
  struct PollSlot {
    SystemClock::time_point due;
    int failures = 0;
  };
  std::map<std::string, PollSlot> polls_;
  std::mutex handle_mu_;  // one reaction at a time: coalescing checks then queues
  std::vector<std::thread> threads_;
  std::unique_ptr<events::LogFollower> pushes_;  // first to stop
};

}  // namespace drydock::triggers
