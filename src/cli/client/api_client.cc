#include "cli/client/api_client.h"

#include <cctype>

#include "base/strings.h"
#include "remote/http_client.h"

namespace drydock::client {
namespace {

using nlohmann::json;

constexpr long kJsonTimeoutSeconds = 300;

// {"error": {"code": "NOT_FOUND", "message": "run ca9 does not exist"}}
// -> "run ca9 does not exist (HTTP 404)", with a hint where one helps.
Status StatusFor(const remote::HttpResponse& r, const std::string& server) {
  json j = json::parse(r.body, nullptr, false);
  std::string message;
  if (j.is_object() && j.contains("error") && j["error"].is_object())
    message = j["error"].value("message", "");
  if (message.empty()) message = r.body.substr(0, 200);
  message += " (HTTP " + std::to_string(r.status) + ")";
  switch (r.status) {
    case 401:
      return Status(Code::kUnauthenticated,
                    message + "; log in with `drydock login " + RegistryHost(server) + "`");
    case 403:
      return Status(Code::kDenied, message);
    case 404:
      return NotFound(message);
    case 409:
      return Conflict(message);
    case 413:
      return TooLarge(message);
    default:
      return Status(r.status >= 500 ? Code::kUnavailable : Code::kInvalid, message);
  }
}

}  // namespace

std::string UrlEscape(std::string_view s) { return drydock::PercentEncode(s); }

Result<ApiClient> ApiClient::Connect(const std::string& server_flag) {
  DD_ASSIGN_OR_RETURN(connection, ResolveConnection(server_flag));
  return ApiClient(connection);
}

Result<json> ApiClient::Json(const std::string& method, const std::string& path,
                             const std::string* body, int fd, uint64_t size,
                             const char* content_type, long timeout_seconds) {
  remote::HttpRequest req;
  req.method = method;
  req.url = c_.server + path;
  req.timeout_seconds = timeout_seconds;
  req.headers.push_back("Accept: application/json");
  if (!c_.authorization.empty()) req.headers.push_back(c_.authorization);
  if (content_type) req.headers.push_back(std::string("Content-Type: ") + content_type);
  if (body) req.body = *body;
  req.body_fd = fd;
  req.body_size = size;
  DD_ASSIGN_OR_RETURN(resp, remote::SendHttp(req));
  if (resp.status < 200 || resp.status >= 300) return StatusFor(resp, c_.server);
  if (resp.body.empty()) return json::object();
  json j = json::parse(resp.body, nullptr, false);
  if (j.is_discarded()) return Invalid(method + " " + path + ": the server sent invalid JSON");
  return j;
}

Result<json> ApiClient::Get(const std::string& path) {
  return Json("GET", path, nullptr, -1, 0, nullptr, kJsonTimeoutSeconds);
}

Result<json> ApiClient::Post(const std::string& path, const json& body) {
  std::string text = body.dump();
  return Json("POST", path, &text, -1, text.size(), "application/json", kJsonTimeoutSeconds);
}

Result<json> ApiClient::Patch(const std::string& path, const json& body) {
  std::string text = body.dump();
  return Json("PATCH", path, &text, -1, text.size(), "application/json", kJsonTimeoutSeconds);
}

Result<json> ApiClient::Delete(const std::string& path) {
  return Json("DELETE", path, nullptr, -1, 0, nullptr, kJsonTimeoutSeconds);
}

Result<json> ApiClient::Upload(const std::string& path, int fd, uint64_t size) {
  // No overall timeout: a large context over a slow link takes what it takes.
  return Json("POST", path, nullptr, fd, size, "application/octet-stream", 0);
}

Status ApiClient::Stream(const std::string& path,
                         const std::function<void(std::string_view)>& sink) {
  remote::HttpRequest req;
  req.url = c_.server + path;
  req.timeout_seconds = 0;
  req.headers.push_back("Accept: text/plain");
  if (!c_.authorization.empty()) req.headers.push_back(c_.authorization);
  req.sink = [&sink](const char* data, size_t n) {
    sink(std::string_view(data, n));
    return true;
  };
  req.body_limit = 64 * 1024;  // only error bodies are collected
  DD_ASSIGN_OR_RETURN(resp, remote::SendHttp(req));
  if (resp.status < 200 || resp.status >= 300) return StatusFor(resp, c_.server);
  return Status::Ok();
}

}  // namespace drydock::client
