#include "events/events.h"

#include <curl/curl.h>
#include <fnmatch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/hmac.h"
#include "base/random.h"
#include "base/time.h"

namespace drydock::events {

ManifestEvent FromStored(const storage::Event& e) {
  return {e.id,   e.action, e.repo, e.tag, e.digest, e.media_type,
          e.size, e.actor,  e.time, e.run, e.status};
}

std::string NotificationName(const ManifestEvent& e) {
  if (e.action != "run") return "manifest." + e.action;
  if (e.status == "Timeout") return "run.timedout";
  std::string status = e.status;
  for (char& c : status) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "run." + status;
}

namespace {

bool MatchesAny(const std::vector<std::string>& patterns, const std::string& name) {
  if (patterns.empty()) return true;
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

// Whether `ep` takes events of `e`'s kind, whatever their repository or task.
bool WantsKind(const Endpoint& ep, const ManifestEvent& e) {
  if (ep.events.empty()) return e.action != "run";
  return std::find(ep.events.begin(), ep.events.end(), NotificationName(e)) != ep.events.end();
}

}  // namespace

bool Wants(const Endpoint& ep, const ManifestEvent& e, const std::string& task) {
  if (!WantsKind(ep, e)) return false;
  if (e.action == "run") return ep.tasks.empty() || (!task.empty() && MatchesAny(ep.tasks, task));
  return MatchesAny(ep.repositories, e.repository);
}

std::string Signature(const std::string& secret, const std::string& body) {
  return "sha256=" + HmacSha256Hex(secret, body);
}

void Bus::Subscribe(Subscriber s) {
  std::lock_guard lock(mu_);
  subscribers_.push_back(std::move(s));
}

void Bus::Notify() {
  std::vector<Subscriber> copy;
  {
    std::lock_guard lock(mu_);
    copy = subscribers_;
  }
  for (const auto& s : copy) s();
}

LogFollower::LogFollower(storage::MetadataStore& store, std::string consumer, Handler handle,
                         std::chrono::milliseconds poll, std::string server)
    : store_(store),
      consumer_(std::move(consumer)),
      handle_(std::move(handle)),
      poll_(poll),
      holder_(server.empty() ? RandomHex(8) : std::move(server)) {
  thread_ = std::thread([this] { Loop(); });
}

LogFollower::~LogFollower() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  (void)store_.DropLease("events:" + consumer_, holder_);  // another server may go on at once
}

void LogFollower::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool LogFollower::HoldLease() {
  // Long enough to ride out a slow delivery's retries between renewals;
  // a stopped server's followers are taken over once it runs out.
  constexpr int64_t kTtlMs = 30'000;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto held = store_.TakeLease("events:" + consumer_, holder_, now, kTtlMs);
  if (!held.ok()) spdlog::warn("{}: taking its lease: {}", consumer_, held.status().message());
  return held.ok() && *held;
}

bool LogFollower::HandleBatch(int64_t& cursor) {
  auto batch = store_.EventsAfter(cursor, 100);
  if (!batch.ok()) {
    spdlog::warn("{}: reading the event log: {}", consumer_, batch.status().message());
    return false;
  }
  for (const auto& stored : *batch) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return false;
    }
    if (!HoldLease()) return false;  // another server follows the log now
    if (Status s = handle_(FromStored(stored)); !s.ok()) {
      spdlog::warn("{}: event {} not handled yet: {}", consumer_, stored.id, s.message());
      return false;
    }
    if (Status s = store_.AdvanceCursor(consumer_, stored.id); !s.ok()) {
      spdlog::warn("{}: saving its place in the event log: {}", consumer_, s.message());
      return false;  // handled again later: at least once
    }
    cursor = stored.id;
  }
  return !batch->empty();
}

void LogFollower::Loop() {
  std::optional<int64_t> cursor;
  std::unique_lock lock(mu_);
  while (!stop_) {
    woken_ = false;
    lock.unlock();
    // One server follows the log for this consumer at a time (however many
    // replicas run); whoever takes over reads the cursor where it was left.
    bool held = HoldLease();
    if (!held) cursor.reset();
    if (held && !cursor) {
      auto at = store_.InitCursor(consumer_);
      if (at.ok())
        cursor = *at;
      else
        spdlog::warn("{}: reading its place in the event log: {}", consumer_,
                     at.status().message());
    }
    bool more = held && cursor && HandleBatch(*cursor);
    lock.lock();
    if (!more) cv_.wait_for(lock, poll_, [this] { return stop_ || woken_; });
  }
}

// Distribution's receivers expect the user's name in actor.name: "user:alice"
// becomes "alice"; a run's push names the run ("run:ca12").
static nlohmann::json ActorJson(const std::string& actor) {
  constexpr std::string_view kUser = "user:";
  if (actor.starts_with(kUser)) return {{"name", actor.substr(kUser.size())}};
  return {{"name", actor}};
}

std::string RunEnvelopeJson(const ManifestEvent& e, const nlohmann::json& run) {
  nlohmann::json event = {{"id", std::to_string(e.id)},
                          {"timestamp", Rfc3339(e.time * 1000)},
                          {"action", NotificationName(e)},
                          {"run", run},
                          {"source", {{"addr", ""}, {"instanceID", "drydock"}}}};
  return nlohmann::json{{"events", nlohmann::json::array({event})}}.dump();
}

std::string EnvelopeJson(const std::vector<ManifestEvent>& events) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : events) {
    const std::string ts = Rfc3339(e.time * 1000);
    nlohmann::json target = {{"mediaType", e.media_type},
                             {"digest", e.digest},
                             {"repository", e.repository},
                             {"size", e.size}};
    if (!e.tag.empty()) target["tag"] = e.tag;
    list.push_back({{"id", std::to_string(e.id)},
                    {"timestamp", ts},
                    {"action", e.action},
                    {"target", target},
                    {"actor", ActorJson(e.actor)},
                    {"source", {{"addr", ""}, {"instanceID", "drydock"}}}});
  }
  return nlohmann::json{{"events", list}}.dump();
}

WebhookNotifier::WebhookNotifier(storage::MetadataStore& store, std::vector<Endpoint> endpoints,
                                 std::string server, RunDescriber describe,
                                 TaskEndpoint task_endpoint)
    : describe_(std::move(describe)), task_endpoint_(std::move(task_endpoint)) {
  for (auto& ep : endpoints) {
    std::string consumer = "webhook:" + ep.name;
    followers_.push_back(std::make_unique<LogFollower>(
        store, consumer,
        [this, ep = std::move(ep)](const ManifestEvent& e) { return Deliver(ep, e); },
        std::chrono::seconds(1), server));
  }
  if (describe_ && task_endpoint_) {
    followers_.push_back(std::make_unique<LogFollower>(
        store, "webhook-tasks", [this](const ManifestEvent& e) { return DeliverToTask(e); },
        std::chrono::seconds(1), server));
  }
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void WebhookNotifier::Wake() {
  for (auto& f : followers_) f->Wake();
}

namespace {
size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

bool Post(const Endpoint& ep, const std::string& body, std::string& error) {
  CURL* curl = curl_easy_init();
  if (!curl) return false;
  curl_slist* headers = curl_slist_append(
      nullptr, "Content-Type: application/vnd.docker.distribution.events.v1+json");
  for (const auto& h : ep.headers) headers = curl_slist_append(headers, h.c_str());
  if (!ep.secret.empty())
    headers =
        curl_slist_append(headers, ("X-Drydock-Signature: " + Signature(ep.secret, body)).c_str());
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

// Ok once delivered or given up on (after max_attempts): the follower
// moves on. An error only when stopping, so that the event is sent again.
namespace {

// The run of a run event as the describer tells it; nullopt: nothing to
// send (the error is logged), an error: try the event again later.
Result<std::optional<nlohmann::json>> Describe(const RunDescriber& describe, const std::string& who,
                                               const ManifestEvent& e) {
  auto run = describe(e.run);
  if (run.ok()) return std::optional<nlohmann::json>(std::move(*run));
  // Not there yet (a replica starting): later. Else there is nothing to say.
  if (run.status().code() == Code::kUnavailable) return run.status();
  spdlog::warn("{}: run {} of event {}: {}", who, e.run, e.id, run.status().message());
  return std::optional<nlohmann::json>();
}

}  // namespace

Status WebhookNotifier::Deliver(const Endpoint& ep, const ManifestEvent& e) {
  if (!WantsKind(ep, e)) return Status::Ok();
  if (e.action != "run") return Wants(ep, e, "") ? Send(ep, e, EnvelopeJson({e})) : Status::Ok();
  if (!describe_) return Status::Ok();
  DD_ASSIGN_OR_RETURN(run, Describe(describe_, "webhook " + ep.name, e));
  if (!run || !Wants(ep, e, run->value("task", ""))) return Status::Ok();
  return Send(ep, e, RunEnvelopeJson(e, *run));
}

Status WebhookNotifier::DeliverToTask(const ManifestEvent& e) {
  if (e.action != "run") return Status::Ok();
  DD_ASSIGN_OR_RETURN(run, Describe(describe_, "task notifications", e));
  if (!run) return Status::Ok();
  std::string task = run->value("task", "");
  if (task.empty()) return Status::Ok();
  std::optional<Endpoint> ep = task_endpoint_(task);
  if (!ep || !Wants(*ep, e, task)) return Status::Ok();
  return Send(*ep, e, RunEnvelopeJson(e, *run));
}

Status WebhookNotifier::Send(const Endpoint& ep, const ManifestEvent& e, const std::string& body) {
  std::string error;
  auto delay = std::chrono::milliseconds(ep.backoff_ms);
  for (int attempt = 1; attempt <= ep.max_attempts; ++attempt) {
    if (Post(ep, body, error)) return Status::Ok();
    spdlog::warn("webhook {}: delivery of event {} failed (attempt {}/{}): {}", ep.name, e.id,
                 attempt, ep.max_attempts, error);
    if (attempt == ep.max_attempts) break;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, delay, [this] { return stop_; }))
      return Status(Code::kUnavailable, "stopping");
    delay *= 2;
  }
  return Status::Ok();
}

}  // namespace drydock::events
