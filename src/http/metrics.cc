#include "http/metrics.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

namespace drydock::http {

void Metrics::Record(const Completion& c) {
  bytes_in_ += c.bytes_in;
  bytes_out_ += c.bytes_out;
  std::lock_guard lock(mu_);
  ++requests_[{c.response.route.empty() ? "other" : c.response.route, c.request.method,
               c.response.status}];
  seconds_by_route_[c.response.route.empty() ? "other" : c.response.route] += c.seconds;
}

void Metrics::AddGauge(std::string name, std::string help, std::function<double()> fn) {
  std::lock_guard lock(mu_);
  gauges_.emplace_back(std::move(name), std::move(help), std::move(fn));
}

std::string Metrics::Render() {
  std::ostringstream o;
  std::lock_guard lock(mu_);
  o << "# HELP drydock_http_requests_total HTTP requests by route, method and status.\n"
       "# TYPE drydock_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    o << "drydock_http_requests_total{route=\"" << route << "\",method=\"" << method
      << "\",status=\"" << status << "\"} " << n << "\n";
  }
  o << "# HELP drydock_http_request_seconds_total Time spent serving requests by route.\n"
       "# TYPE drydock_http_request_seconds_total counter\n";
  for (const auto& [route, s] : seconds_by_route_) {
    o << "drydock_http_request_seconds_total{route=\"" << route << "\"} " << s << "\n";
  }
  o << "# HELP drydock_http_received_bytes_total Request body bytes received.\n"
       "# TYPE drydock_http_received_bytes_total counter\n"
    << "drydock_http_received_bytes_total " << bytes_in_.load() << "\n"
    << "# HELP drydock_http_sent_bytes_total Response bytes sent.\n"
       "# TYPE drydock_http_sent_bytes_total counter\n"
    << "drydock_http_sent_bytes_total " << bytes_out_.load() << "\n";
  for (const auto& [name, help, fn] : gauges_) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << fn() << "\n";
  }
  return o.str();
}

std::string AccessLogLine(const Completion& c) {
  char ts[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json j = {{"time", ts},
                      {"remote", c.request.remote_addr},
                      {"method", c.request.method},
                      {"path", c.request.path},
                      {"route", c.response.route},
                      {"status", c.response.status},
                      {"bytes_in", c.bytes_in},
                      {"bytes_out", c.bytes_out},
                      {"duration_ms", c.seconds * 1000.0},
                      {"user_agent", c.request.Header("User-Agent")}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drydock::http
