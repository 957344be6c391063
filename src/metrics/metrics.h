// Drydock's Prometheus metrics (docs/operations.md): families with
// conventional names and units, and labels drawn from small fixed sets
// (routes, methods, status classes, run types and statuses, pools), never
// repository names or run ids. One Metrics per process is handed to the
// components that count; /metrics renders it in the text format.
// This header is the whole public surface of metrics/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace drydock::metrics {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // HTTP. A finished request: its route (the handler's label), method and
  // status; methods other than the usual ones count as "other".
  void HttpRequest(std::string_view route, std::string_view method, int status, double seconds,
                   uint64_t bytes_in, uint64_t bytes_out);
  // A handler started (+1) or returned (-1).
  void HttpInFlight(int delta);

  // Runs, as this server's queue handles them (each replica counts what
  // passes through it; sum over replicas). `type`: QuickBuild, AutoRun, …
  void RunQueued(std::string_view type, std::string_view trigger);
  // Claimed by an agent; `waited_seconds` from queued, < 0 for a retry
  // (which the wait histogram leaves out).
  void RunStarted(std::string_view type, double waited_seconds);
  // `seconds` from started to finished; < 0 for a run that never started
  // (canceled while queued), which no duration histogram counts.
  void RunFinished(std::string_view type, std::string_view status, double seconds);
  // A step of a multi-step run ended (`kind`: build, cmd, push).
  void StepFinished(std::string_view kind, double seconds);
  // An agent stopped renewing a run's lease; the run was queued again.
  void LeaseExpired();
  void RunRetried();

  // Triggers. A pushed base image queued a run `seconds` after the push.
  void BaseImageTriggered(double seconds);
  // A source webhook delivery: its provider (github, gitlab, gitea,
  // bitbucket, unknown) and verdict (accepted, duplicate, ignored,
  // bad_signature, invalid, error).
  void WebhookDelivery(std::string_view provider, std::string_view verdict);
  // Polling for changes failed: `kind` "registry" (a base image in another
  // registry) or "git" (a task's source branch).
  void PollError(std::string_view kind);

  // Garbage collection: one pass, what it removed, and what the blob store
  // holds after it.
  struct GcPass {
    bool ok = true;
    double seconds = 0;
    int64_t blobs_deleted = 0;
    uint64_t bytes_freed = 0;
    int64_t blobs_kept = 0;
    uint64_t bytes_kept = 0;
  };
  void GcFinished(const GcPass& pass);

  // Scrape-time values: `refresh` is called on each Render and sets them.
  struct Snapshot {
    // By agent pool ("" is the default pool): runs queued, and how long
    // the oldest has waited.
    std::map<std::string, int64_t> queued;
    std::map<std::string, double> oldest_queued_seconds;
    std::map<std::string, int64_t> agents;  // agents that called in lately
    int64_t uploads_open = 0;
    int64_t http_connections = 0;
  };
  void OnScrape(std::function<void(Snapshot&)> refresh);

  // The text exposition format (version 0.0.4).
  std::string Render();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::metrics
