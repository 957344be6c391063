#include "http/access_log.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace drydock::http {

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
                      {"user_agent", c.request.Header("User-Agent")},
                      {"request_id", c.request.id}};
  if (!c.response.run.empty()) j["run"] = c.response.run;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drydock::http
