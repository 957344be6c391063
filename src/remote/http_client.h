// One libcurl request/response, with the request body streamed from a
// string or a file and the response body streamed to a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::remote {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;      // "Name: value"
  std::optional<std::string_view> body;  // all of it is sent (not copied); or:
  int body_fd = -1;
  uint64_t body_size = 0;  // bytes of body_fd to send
  // Receives the response body; return false to abort. When unset, the
  // body is collected into HttpResponse::body up to `body_limit`.
  std::function<bool(const char*, size_t)> sink;
  size_t body_limit = 8 * 1024 * 1024;
  // With a sink: a 2xx other than this (when set) is refused before any
  // byte reaches it (a 200 with a whole object where 206 with a range was asked).
  long expect_status = 0;
  long timeout_seconds = 600;  // 0: none, for a stream as long as its receiver takes
  long idle_seconds = 0;       // when set, a transfer with no progress for this long fails
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Transport failures (connection refused, TLS, timeout) are kUnavailable.
Result<HttpResponse> SendHttp(const HttpRequest& req);

// Parses `Bearer realm="…",service="…"` into {"scheme": "bearer", "realm": …}.
std::map<std::string, std::string> ParseChallenge(const std::string& header);

}  // namespace drydock::remote
