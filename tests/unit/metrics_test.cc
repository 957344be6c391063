// The metrics component: what /metrics renders after known calls, with
// labels kept to their fixed sets.
#include <gtest/gtest.h>

#include <string>

#include "metrics/metrics.h"

namespace drydock::metrics {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsTest, HttpRequestsCountByRouteMethodAndStatusClass) {
  Metrics m;
  m.HttpRequest("manifest_GET", "GET", 200, 0.02, 0, 512);
  m.HttpRequest("manifest_GET", "GET", 404, 0.001, 0, 100);
  m.HttpRequest("manifest_GET", "BREW", 405, 0.001, 10, 0);
  std::string text = m.Render();
  EXPECT_TRUE(
      Has(text, R"(drydock_http_requests_total{method="GET",route="manifest_GET",status="200"} 1)"))
      << text;
  // A method no client uses names no series of its own.
  EXPECT_TRUE(Has(
      text, R"(drydock_http_requests_total{method="other",route="manifest_GET",status="405"} 1)"))
      << text;
  EXPECT_TRUE(Has(
      text, R"(drydock_http_request_duration_seconds_count{code="4xx",route="manifest_GET"} 2)"))
      << text;
  EXPECT_TRUE(Has(
      text,
      R"(drydock_http_request_duration_seconds_bucket{code="2xx",route="manifest_GET",le="0.025"} 1)"))
      << text;
  EXPECT_TRUE(Has(
      text,
      R"(drydock_http_request_duration_seconds_bucket{code="2xx",route="manifest_GET",le="0.01"} 0)"))
      << text;
  EXPECT_TRUE(Has(text, "drydock_http_received_bytes_total 10")) << text;
  EXPECT_TRUE(Has(text, "drydock_http_sent_bytes_total 612")) << text;
}

TEST(MetricsTest, RunsCountAndTimeOnlyWhatHappened) {
  Metrics m;
  m.RunQueued("QuickBuild", "Manual");
  m.RunQueued("QuickBuild", "Manual");
  m.RunStarted("QuickBuild", 1.5);
  m.RunStarted("QuickBuild", -1);  // a retry: no wait observed
  m.RunFinished("QuickBuild", "Succeeded", 42);
  m.RunFinished("QuickBuild", "Canceled", -1);  // never started: no duration
  std::string text = m.Render();
  EXPECT_TRUE(Has(text, R"(drydock_runs_queued_total{trigger="Manual",type="QuickBuild"} 2)"))
      << text;
  EXPECT_TRUE(Has(text, R"(drydock_runs_started_total{type="QuickBuild"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(drydock_run_wait_seconds_count{type="QuickBuild"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(drydock_runs_finished_total{status="Canceled",type="QuickBuild"} 1)"))
      << text;
  EXPECT_TRUE(Has(text, R"(drydock_run_duration_seconds_count{type="QuickBuild"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(drydock_run_duration_seconds_sum{type="QuickBuild"} 42)")) << text;
}

TEST(MetricsTest, PoolGaugesAreReadOnEachScrapeAndAPoolThatEmptiedShowsZero) {
  Metrics m;
  int scrape = 0;
  m.OnScrape([&scrape](Metrics::Snapshot& s) {
    if (++scrape == 1) {
      s.queued["gpu"] = 3;
      s.oldest_queued_seconds["gpu"] = 12.5;
    }
    s.queued[""] = 1;
    s.uploads_open = 2;
  });
  std::string first = m.Render();
  EXPECT_TRUE(Has(first, R"(drydock_runs_queue_depth{pool="gpu"} 3)")) << first;
  EXPECT_TRUE(Has(first, R"(drydock_runs_oldest_queued_seconds{pool="gpu"} 12.5)")) << first;
  EXPECT_TRUE(Has(first, R"(drydock_runs_queue_depth{pool="default"} 1)")) << first;
  EXPECT_TRUE(Has(first, "drydock_uploads_in_progress 2")) << first;
  std::string second = m.Render();
  EXPECT_TRUE(Has(second, R"(drydock_runs_queue_depth{pool="gpu"} 0)")) << second;
  EXPECT_TRUE(Has(second, R"(drydock_runs_oldest_queued_seconds{pool="gpu"} 0)")) << second;
}

}  // namespace
}  // namespace drydock::metrics
