// Manifest events: an in-process bus (the base-image trigger subscribes to
// it) and an optional notifier that POSTs them to webhook endpoints.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// Synchronous fan-out; subscribers must be quick (queue work elsewhere).
class Bus {
 public:
  using Subscriber = std::function<void(const ManifestEvent&)>;
  void Subscribe(Subscriber s);
  void Publish(const ManifestEvent& e);

 private:
  std::mutex mu_;
  std::vector<Subscriber> subscribers_;
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

// Delivers events to each endpoint in order, on its own thread, retrying
// with exponential backoff. Pending deliveries are dropped at shutdown.
class WebhookNotifier {
 public:
  explicit WebhookNotifier(std::vector<Endpoint> endpoints);
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  void Enqueue(const ManifestEvent& e);

 private:
  struct Queue {
    Endpoint endpoint;
    std::deque<ManifestEvent> pending;
  };
  void Deliver(size_t index);

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<Queue> queues_;
  std::vector<std::thread> workers_;
};

}  // namespace drydock::events
