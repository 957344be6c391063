// Request counters in Prometheus text format, and a JSON access log line.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "http/server.h"

namespace drydock::http {

class Metrics {
 public:
  void Record(const Completion& c);
  // Extra gauges computed when scraped, e.g. uploads in progress.
  void AddGauge(std::string name, std::string help, std::function<double()> fn);
  std::string Render();

 private:
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // route, method, status
  std::map<std::string, double> seconds_by_route_;
  std::atomic<uint64_t> bytes_in_{0}, bytes_out_{0};
  std::vector<std::tuple<std::string, std::string, std::function<double()>>> gauges_;
};

// One line of JSON describing a finished request.
std::string AccessLogLine(const Completion& c);

}  // namespace drydock::http
