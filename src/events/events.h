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
#include <string>
#include <thread>
#include <vector>

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
};

ManifestEvent FromStored(const storage::Event& e);

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
};

// The body POSTed to webhooks, in Docker distribution's notification format.
std::string EnvelopeJson(const std::vector<ManifestEvent>& events);

// Delivers the log's events to each endpoint in order (a LogFollower
// "webhook:<name>" each), retrying with exponential backoff up to
// max_attempts, then going on. A delivery cut by a restart is made again.
class WebhookNotifier {
 public:
  WebhookNotifier(storage::MetadataStore& store, std::vector<Endpoint> endpoints,
                  std::string server = "");
  ~WebhookNotifier();  // a delivery waiting to retry is left for the next start
  void Wake();

 private:
  Status Deliver(const Endpoint& endpoint, const ManifestEvent& e);

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::unique_ptr<LogFollower>> followers_;  // last: they stop first
};

}  // namespace drydock::events
