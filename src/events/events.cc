#include "events/events.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace drydock::events {

void Bus::Subscribe(Subscriber s) {
  std::lock_guard lock(mu_);
  subscribers_.push_back(std::move(s));
}

void Bus::Publish(const ManifestEvent& e) {
  std::vector<Subscriber> copy;
  {
    std::lock_guard lock(mu_);
    copy = subscribers_;
  }
  for (const auto& s : copy) s(e);
}

std::string EnvelopeJson(const std::vector<ManifestEvent>& events) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : events) {
    char ts[32];
    std::time_t t = e.time;
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    nlohmann::json target = {{"mediaType", e.media_type},
                             {"digest", e.digest},
                             {"repository", e.repository},
                             {"size", e.size}};
    if (!e.tag.empty()) target["tag"] = e.tag;
    list.push_back({{"id", std::to_string(e.id)},
                    {"timestamp", ts},
                    {"action", e.action},
                    {"target", target},
                    {"actor", {{"name", e.actor}}},
                    {"source", {{"addr", ""}, {"instanceID", "drydock"}}}});
  }
  return nlohmann::json{{"events", list}}.dump();
}

WebhookNotifier::WebhookNotifier(std::vector<Endpoint> endpoints) {
  for (auto& e : endpoints) queues_.push_back(Queue{std::move(e), {}});
  for (size_t i = 0; i < queues_.size(); ++i) workers_.emplace_back([this, i] { Deliver(i); });
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void WebhookNotifier::Enqueue(const ManifestEvent& e) {
  {
    std::lock_guard lock(mu_);
    for (auto& q : queues_) {
      if (q.pending.size() < 10000) q.pending.push_back(e);
    }
  }
  cv_.notify_all();
}

namespace {
size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

bool Post(const Endpoint& ep, const std::string& body, std::string& error) {
  CURL* curl = curl_easy_init();
  if (!curl) return false;
  curl_slist* headers = curl_slist_append(
      nullptr, "Content-Type: application/vnd.docker.distribution.events.v1+json");
  for (const auto& h : ep.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, ep.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(ep.timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    error = curl_easy_strerror(rc);
    return false;
  }
  if (status < 200 || status >= 300) {
    error = "HTTP " + std::to_string(status);
    return false;
  }
  return true;
}
}  // namespace

void WebhookNotifier::Deliver(size_t index) {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queues_[index].pending.empty(); });
    if (stop_) return;
    ManifestEvent e = queues_[index].pending.front();
    Endpoint ep = queues_[index].endpoint;
    lock.unlock();
    std::string body = EnvelopeJson({e}), error;
    int delay = ep.backoff_ms;
    bool ok = false;
    for (int attempt = 1; attempt <= ep.max_attempts && !ok; ++attempt) {
      ok = Post(ep, body, error);
      if (!ok) {
        spdlog::warn("webhook {}: delivery of event {} failed (attempt {}/{}): {}", ep.name, e.id,
                     attempt, ep.max_attempts, error);
        std::unique_lock wait(mu_);
        if (cv_.wait_for(wait, std::chrono::milliseconds(delay), [&] { return stop_; })) return;
        delay *= 2;
      }
    }
    lock.lock();
    queues_[index].pending.pop_front();
  }
}

}  // namespace drydock::events
