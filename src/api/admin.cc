// Admin endpoints that change how the server runs, not what it stores:
// the server log's level.
#include <spdlog/spdlog.h>

#include <array>

#include "api/impl.h"
#include "base/json.h"

namespace drydock::api {

namespace {

constexpr size_t kMaxBodyBytes = 4096;
constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};

}  // namespace

Status SetLogLevel(std::string_view level) {
  for (size_t i = 0; i < kLevels.size(); ++i) {
    if (kLevels[i] != level) continue;
    spdlog::set_level(static_cast<spdlog::level::level_enum>(i));
    return Status::Ok();
  }
  return Invalid("log level '" + std::string(level) +
                 "' is not one of trace, debug, info, warn, error, critical, off");
}

void Api::Impl::LogLevel(Ctx& c) {
  if (!c.who.admin) return SendError(c.resp, 403, "DENIED", "only an admin sets the log level");
  if (c.req.method == "PUT") {
    auto text = c.req.ReadAll(kMaxBodyBytes);
    if (!text.ok()) return SendStatus(c.resp, text.status());
    auto body = ParseJson(*text);
    if (!body.ok()) return SendStatus(c.resp, body.status());
    auto level = body->is_object() ? body->find("level") : body->end();
    if (level == body->end() || !level->is_string())
      return SendError(c.resp, 400, "INVALID", "the body is {\"level\": \"debug\"}");
    if (Status s = SetLogLevel(level->get<std::string>()); !s.ok()) return SendStatus(c.resp, s);
    spdlog::warn("log level set to {} by {}", level->get<std::string>(), c.who.user);
  } else if (c.req.method != "GET") {
    return SendError(c.resp, 405, "METHOD_NOT_ALLOWED", "use GET or PUT");
  }
  SendJson(c.resp, 200, {{"level", kLevels[static_cast<size_t>(spdlog::get_level())]}});
}

}  // namespace drydock::api
