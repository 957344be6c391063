// The client side of Drydock's REST API (/api/v1, docs/api.md): JSON
// requests, streamed uploads and streamed text responses, all carrying the
// connection's Authorization header. Error bodies
// ({"error": {"code", "message"}}) become the Status message.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "cli/client/client_config.h"

namespace drydock::client {

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEscape(std::string_view s);

class ApiClient {
 public:
  explicit ApiClient(Connection connection) : c_(std::move(connection)) {}
  // The server and credentials ResolveConnection picks.
  static Result<ApiClient> Connect(const std::string& server_flag);

  const std::string& server() const { return c_.server; }

  // `path` starts with "/api/v1/" and may carry a query string.
  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Patch(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(const std::string& path);
  // POSTs `size` bytes read from `fd` as application/octet-stream, without
  // loading them into memory.
  Result<nlohmann::json> Upload(const std::string& path, int fd, uint64_t size);
  // GETs a text response, handing each piece to `sink` as it arrives; no
  // overall timeout (a followed log lasts as long as its run). A dropped
  // connection is kUnavailable.
  Status Stream(const std::string& path, const std::function<void(std::string_view)>& sink);

 private:
  Result<nlohmann::json> Json(const std::string& method, const std::string& path,
                              const std::string* body, int fd, uint64_t size,
                              const char* content_type, long timeout_seconds);

  Connection c_;
};

}  // namespace drydock::client
