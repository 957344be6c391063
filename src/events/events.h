// The registry's events as consumers see them: a durable log in the
// metadata store (written with each change, in the same transaction),
// followed by each consumer from its own persisted cursor; an in-process bus
// only wakes the followers early. Webhook notifications are one consumer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "storage/metadata_store.h"

namespace drydock::events {

struct ManifestEvent {
  int64_t id = 0;      // sequence number from the metadata store
  std::string action;  // "push" or "delete"
  std::string repository;
  std::string tag;  // "" when pushed or deleted by digest
  std::string digest;
  std::string media_type;
  int64_t size = 0;
  std::string actor;
  int64_t time = 0;  // unix seconds
  // Action "run": the run and the status it reached ("Failed", …).
  std::string run = {}, status = {};
};

ManifestEvent FromStored(const storage::Event& e);

// How an endpoint's `events` names an event: "manifest.push",
// "manifest.delete", or "run.<status>" ("run.queued", "run.started",
// "run.running", "run.succeeded", "run.failed", "run.canceled",
// "run.timedout", "run.error").
std::string NotificationName(const ManifestEvent& e);

// "Something was written to the log": the registry notifies after each
// change; subscribers (followers' Wake) must be quick.
class Bus {
 public:
  using Subscriber = std::function<void()>;
  void Subscribe(Subscriber s);
  void Notify();

 private:
  std::mutex mu_;
  std::vector<Subscriber> subscribers_;
};

// One consumer of the event log: hands each event after the consumer's
// cursor to `handle`, in order and at least once, and moves the cursor past
// it once handled. A new consumer starts at the log's end. An error from
// `handle` is retried (the cursor stays) after `poll`. Looks for new events
// when woken and every `poll`, since another process may write the log.
// With several servers on one store, only the one holding the consumer's
// lease follows: each event is handled by one of them.
class LogFollower {
 public:
  using Handler = std::function<Status(const ManifestEvent&)>;
  // `server`: this server's name in the consumer's lease (stable across its
  // restarts, so a restarted server takes its lease back at once); "" for
  // a random one.
  LogFollower(storage::MetadataStore& store, std::string consumer, Handler handle,
              std::chrono::milliseconds poll = std::chrono::seconds(1), std::string server = "");
  ~LogFollower();  // stops after the event in hand
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;
  void Wake();

 private:
  void Loop();
  // The next batch after the cursor, each handled and passed; false when
  // none was there or one failed.
  bool HandleBatch(int64_t& cursor);
  // Takes or renews this consumer's lease (LeaseStore "events:<consumer>").
  bool HoldLease();

  storage::MetadataStore& store_;
  const std::string consumer_;
  const Handler handle_;
  const std::chrono::milliseconds poll_;
  const std::string holder_;  // this follower's name in the lease
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, woken_ = false;
  std::thread thread_;
};

struct Endpoint {
  std::string name;
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  int timeout_ms = 5000;
  int max_attempts = 5;
  int backoff_ms = 500;  // doubled after each failure
  // Which events it is sent (NotificationName); empty: manifest.push and
  // manifest.delete, as before run events existed.
  std::vector<std::string> events = {};
  // Only manifest events of these repositories, run events of these tasks
  // (patterns, '*' any run of characters); empty: all. A quick run has no
  // task: it matches only an empty `tasks`.
  std::vector<std::string> repositories = {}, tasks = {};
  // Set: each body is signed, X-Drydock-Signature: sha256=<hex HMAC-SHA256
  // of the body under this secret>, so the receiver can tell it is ours.
  std::string secret = {};
};

// Whether `ep` is sent `e`; `task` is the run's task for a run event.
bool Wants(const Endpoint& ep, const ManifestEvent& e, const std::string& task);
// The X-Drydock-Signature value of `body` under `secret`: "sha256=<hex>".
std::string Signature(const std::string& secret, const std::string& body);

// The body POSTed to webhooks, in Docker distribution's notification format.
std::string EnvelopeJson(const std::vector<ManifestEvent>& events);
// A run event's body, in the same envelope: `run` is what RunDescriber
// said of the run.
std::string RunEnvelopeJson(const ManifestEvent& e, const nlohmann::json& run);

// What a run notification tells beyond the log's event (the server's API
// knows it): {"id", "status", "task", "trigger", "cause", "failedStep",
// "error", "logUrl", "record": the run as GET /api/v1/runs/{id} shows it}.
using RunDescriber = std::function<Result<nlohmann::json>(const std::string& run_id)>;
// A task's own target for its runs' notifications (task update
// --notify-url), looked up for each run event; nullopt: it has none.
using TaskEndpoint = std::function<std::optional<Endpoint>(const std::string& task)>;

// Delivers the log's events to each endpoint in order (a LogFollower
// "webhook:<name>" each), retrying with exponential backoff up to
// max_attempts, then going on. A delivery cut by a restart is made again.
class WebhookNotifier {
 public:
  // Run events go only to endpoints that ask for them, described by
  // `describe` (none: run events are not sent).
  // Tasks' own targets, when `task_endpoint` is set, follow the log as one
  // more consumer ("webhook-tasks").
  WebhookNotifier(storage::MetadataStore& store, std::vector<Endpoint> endpoints,
                  std::string server = "", RunDescriber describe = nullptr,
                  TaskEndpoint task_endpoint = nullptr);
  ~WebhookNotifier();  // a delivery waiting to retry is left for the next start
  void Wake();

 private:
  Status Deliver(const Endpoint& endpoint, const ManifestEvent& e);
  Status DeliverToTask(const ManifestEvent& e);
  // POSTs `body` (of event `e`) with retries; Ok once delivered or given
  // up on, an error only when stopping.
  Status Send(const Endpoint& endpoint, const ManifestEvent& e, const std::string& body);

  const RunDescriber describe_;
  const TaskEndpoint task_endpoint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::unique_ptr<LogFollower>> followers_;  // last: they stop first
};

}  // namespace drydock::events
