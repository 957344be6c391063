#include "metrics/metrics.h"

#include <mutex>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace drydock::metrics {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// A family registered in `r`: the builders' chain, once.
Family<Counter>& Counters(prometheus::Registry& r, const char* name, const char* help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}
Family<Gauge>& Gauges(prometheus::Registry& r, const char* name, const char* help) {
  return BuildGauge().Name(name).Help(help).Register(r);
}
Family<Histogram>& Histograms(prometheus::Registry& r, const char* name, const char* help) {
  return BuildHistogram().Name(name).Help(help).Register(r);
}

// Seconds: a registry request takes milliseconds, a blob upload minutes.
const Histogram::BucketBoundaries kRequestBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60,   300};
// Seconds: a run waits seconds for an agent, or an hour for a busy pool.
const Histogram::BucketBoundaries kWaitBuckets = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600};
// Seconds: a run or step takes from a second to the 8 hours ACR allows.
const Histogram::BucketBoundaries kRunBuckets = {1,   5,    10,   30,   60,   120,  300,
                                                 600, 1200, 1800, 3600, 7200, 28800};

std::string Method(std::string_view m) {
  for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (m == known) return known;
  return "other";
}

std::string StatusClass(int status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status / 100) + "xx";
}

std::string Pool(const std::string& pool) { return pool.empty() ? "default" : pool; }

// A gauge family labelled by pool whose pools come and go: each scrape
// sets every pool seen so far (0 when it is gone) so none goes stale.
class PoolGauge {
 public:
  PoolGauge(prometheus::Registry& r, const char* name, const char* help)
      : family_(Gauges(r, name, help)) {}
  template <typename T>
  void Set(const std::map<std::string, T>& by_pool) {
    for (auto& [pool, gauge] : seen_) gauge->Set(0);
    for (const auto& [pool, v] : by_pool) {
      auto& gauge = seen_[Pool(pool)];
      if (!gauge) gauge = &family_.Add({{"pool", Pool(pool)}});
      gauge->Set(static_cast<double>(v));
    }
  }

 private:
  Family<Gauge>& family_;
  std::map<std::string, Gauge*> seen_;
};

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  Family<Counter>& http_requests = Counters(registry, "drydock_http_requests_total",
                                            "HTTP requests by route, method and status.");
  Family<Histogram>& http_duration =
      Histograms(registry, "drydock_http_request_duration_seconds",
                 "Time to serve an HTTP request, by route and status class.");
  Gauge& http_in_flight =
      Gauges(registry, "drydock_http_requests_in_flight", "HTTP requests being handled now.")
          .Add({});
  Gauge& http_connections =
      Gauges(registry, "drydock_http_open_connections", "HTTP connections open now.").Add({});
  Counter& bytes_in =
      Counters(registry, "drydock_http_received_bytes_total", "Request body bytes received.")
          .Add({});
  Counter& bytes_out =
      Counters(registry, "drydock_http_sent_bytes_total", "Response bytes sent.").Add({});

  Family<Counter>& runs_queued =
      Counters(registry, "drydock_runs_queued_total", "Runs queued, by type and trigger.");
  Family<Counter>& runs_started =
      Counters(registry, "drydock_runs_started_total", "Runs an agent claimed, by type.");
  Family<Counter>& runs_finished =
      Counters(registry, "drydock_runs_finished_total", "Runs that ended, by type and status.");
  Family<Histogram>& run_wait = Histograms(registry, "drydock_run_wait_seconds",
                                           "Time from queued to claimed by an agent, by run type.");
  Family<Histogram>& run_duration = Histograms(registry, "drydock_run_duration_seconds",
                                               "Time from started to finished, by run type.");
  Family<Histogram>& step_duration = Histograms(registry, "drydock_run_step_duration_seconds",
                                                "Time a step of a multi-step run took, by kind.");
  Counter& leases_expired = Counters(registry, "drydock_run_leases_expired_total",
                                     "Runs whose agent stopped renewing the lease.")
                                .Add({});
  Counter& runs_retried =
      Counters(registry, "drydock_runs_retried_total", "Runs queued again for another attempt.")
          .Add({});

  Histogram::BucketBoundaries trigger_buckets = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900};
  Histogram& base_image_latency = Histograms(registry, "drydock_trigger_base_image_seconds",
                                             "Time from a base image push to the runs it queued.")
                                      .Add({}, trigger_buckets);
  Family<Counter>& webhook_deliveries =
      Counters(registry, "drydock_webhook_deliveries_total",
               "Source webhook deliveries, by provider and verdict.");
  Family<Counter>& poll_errors = Counters(registry, "drydock_trigger_poll_errors_total",
                                          "Failed polls of other registries and git remotes.");
  Family<Counter>& gc_runs =
      Counters(registry, "drydock_gc_runs_total", "Garbage collection passes, by result.");
  Counter& gc_blobs =
      Counters(registry, "drydock_gc_blobs_deleted_total", "Blobs garbage collection deleted.")
          .Add({});
  Counter& gc_bytes =
      Counters(registry, "drydock_gc_bytes_freed_total", "Bytes garbage collection freed.").Add({});
  Histogram& gc_duration =
      Histograms(registry, "drydock_gc_duration_seconds", "Time a garbage collection pass took.")
          .Add({}, kRunBuckets);
  Gauge& blobs = Gauges(registry, "drydock_storage_blobs",
                        "Blobs in the blob store, as the last garbage collection counted.")
                     .Add({});
  Gauge& blob_bytes = Gauges(registry, "drydock_storage_blob_bytes",
                             "Bytes in the blob store, as the last garbage collection counted.")
                          .Add({});

  PoolGauge queue_depth{registry, "drydock_runs_queue_depth",
                        "Runs waiting for an agent, by pool."};
  PoolGauge oldest_queued{registry, "drydock_runs_oldest_queued_seconds",
                          "How long the oldest queued run of a pool has waited."};
  PoolGauge agents{registry, "drydock_agents_connected",
                   "Agents that called in within the last minute, by pool."};
  Gauge& uploads = BuildGauge()
                       .Name("drydock_uploads_in_progress")
                       .Help("Blob upload sessions open in this process.")
                       .Register(registry)
                       .Add({});

  std::mutex mu;  // guards what follows, and the gauges set on a scrape
  std::vector<std::function<void(Snapshot&)>> refreshers;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  // Shown before the first pass, so that alerts on them have a series.
  impl_->gc_runs.Add({{"result", "ok"}});
  impl_->gc_runs.Add({{"result", "error"}});
  impl_->poll_errors.Add({{"kind", "registry"}});
  impl_->poll_errors.Add({{"kind", "git"}});
}
Metrics::~Metrics() = default;

void Metrics::HttpRequest(std::string_view route, std::string_view method, int status,
                          double seconds, uint64_t bytes_in, uint64_t bytes_out) {
  std::string r = route.empty() ? "other" : std::string(route);
  impl_->http_requests
      .Add({{"route", r}, {"method", Method(method)}, {"status", std::to_string(status)}})
      .Increment();
  impl_->http_duration.Add({{"route", r}, {"code", StatusClass(status)}}, kRequestBuckets)
      .Observe(seconds);
  impl_->bytes_in.Increment(static_cast<double>(bytes_in));
  impl_->bytes_out.Increment(static_cast<double>(bytes_out));
}

void Metrics::HttpInFlight(int delta) { impl_->http_in_flight.Increment(delta); }

void Metrics::RunQueued(std::string_view type, std::string_view trigger) {
  impl_->runs_queued.Add({{"type", std::string(type)}, {"trigger", std::string(trigger)}})
      .Increment();
}

void Metrics::RunStarted(std::string_view type, double waited_seconds) {
  impl_->runs_started.Add({{"type", std::string(type)}}).Increment();
  if (waited_seconds >= 0)
    impl_->run_wait.Add({{"type", std::string(type)}}, kWaitBuckets).Observe(waited_seconds);
}

void Metrics::RunFinished(std::string_view type, std::string_view status, double seconds) {
  impl_->runs_finished.Add({{"type", std::string(type)}, {"status", std::string(status)}})
      .Increment();
  if (seconds >= 0)
    impl_->run_duration.Add({{"type", std::string(type)}}, kRunBuckets).Observe(seconds);
}

void Metrics::StepFinished(std::string_view kind, double seconds) {
  impl_->step_duration.Add({{"kind", std::string(kind)}}, kRunBuckets).Observe(seconds);
}

void Metrics::LeaseExpired() { impl_->leases_expired.Increment(); }
void Metrics::RunRetried() { impl_->runs_retried.Increment(); }

void Metrics::BaseImageTriggered(double seconds) { impl_->base_image_latency.Observe(seconds); }

void Metrics::WebhookDelivery(std::string_view provider, std::string_view verdict) {
  impl_->webhook_deliveries
      .Add({{"provider", std::string(provider)}, {"verdict", std::string(verdict)}})
      .Increment();
}

void Metrics::PollError(std::string_view kind) {
  impl_->poll_errors.Add({{"kind", std::string(kind)}}).Increment();
}

void Metrics::GcFinished(const GcPass& pass) {
  impl_->gc_runs.Add({{"result", pass.ok ? "ok" : "error"}}).Increment();
  impl_->gc_duration.Observe(pass.seconds);
  if (!pass.ok) return;
  impl_->gc_blobs.Increment(static_cast<double>(pass.blobs_deleted));
  impl_->gc_bytes.Increment(static_cast<double>(pass.bytes_freed));
  impl_->blobs.Set(static_cast<double>(pass.blobs_kept));
  impl_->blob_bytes.Set(static_cast<double>(pass.bytes_kept));
}

void Metrics::OnScrape(std::function<void(Snapshot&)> refresh) {
  std::lock_guard lock(impl_->mu);
  impl_->refreshers.push_back(std::move(refresh));
}

std::string Metrics::Render() {
  std::lock_guard lock(impl_->mu);
  Snapshot s;
  for (const auto& refresh : impl_->refreshers) refresh(s);
  impl_->queue_depth.Set(s.queued);
  impl_->oldest_queued.Set(s.oldest_queued_seconds);
  impl_->agents.Set(s.agents);
  impl_->uploads.Set(static_cast<double>(s.uploads_open));
  impl_->http_connections.Set(static_cast<double>(s.http_connections));
  return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

}  // namespace drydock::metrics
