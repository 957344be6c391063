// /api/v1/session: the dashboard's sign-in. A password buys an API token
// (revocable, shared by every replica through the store) carried in an
// HttpOnly, SameSite=Strict cookie; requests it authenticates must also
// carry the CSRF token the sign-in answered with when they change anything.
#include "api/session.h"

#include "api/impl.h"
#include "base/json.h"
#include "oci/digest.h"

namespace drydock::api {

using nlohmann::json;

namespace {

constexpr std::string_view kCookie = "dd_session";
constexpr int64_t kSessionSeconds = 12 * 3600;

// The cookie's value: "<token id>:<token>" (the id revokes it at sign-out).
std::string CookieHeader(const std::string& value, int64_t max_age, bool tls) {
  return std::string(kCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) +
         "; HttpOnly; SameSite=Strict" + (tls ? "; Secure" : "");
}

json SessionJson(const auth::Identity& who, const std::string& jwt) {
  return {{"user", who.user}, {"admin", who.admin}, {"csrf", CsrfToken(jwt)}};
}

}  // namespace

std::string CsrfToken(std::string_view jwt) {
  return oci::Digest::Of("drydock-csrf:" + std::string(jwt)).hex();
}

std::optional<SessionCookie> ReadSessionCookie(const http::Request& req) {
  std::string header = req.Header("Cookie");
  std::string_view rest = header;
  while (!rest.empty()) {
    auto end = rest.find(';');
    std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (!pair.starts_with(kCookie) || pair.size() <= kCookie.size() || pair[kCookie.size()] != '=')
      continue;
    std::string_view value = pair.substr(kCookie.size() + 1);
    auto colon = value.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size()) return {};
    return SessionCookie{std::string(value.substr(0, colon)), std::string(value.substr(colon + 1))};
  }
  return {};
}

void Api::Impl::SignIn(http::Request& req, http::Response& resp) {
  auto text = req.ReadAll(16 * 1024);
  if (!text.ok()) return SendStatus(resp, text.status());
  auto body = ParseJson(*text);
  if (!body.ok()) return SendError(resp, 400, "INVALID", "the body: " + body.status().message());
  if (!body->is_object() || !(*body)["username"].is_string() || !(*body)["password"].is_string())
    return SendError(resp, 400, "INVALID", "the body needs \"username\" and \"password\" strings");
  auto who = auth.Login((*body)["username"].get<std::string>(),
                        (*body)["password"].get<std::string>(), req.remote_addr);
  if (!who.ok()) return SendStatus(resp, who.status());
  auto token = auth.IssueApiToken(*who, kSessionSeconds, "web session");
  if (!token.ok()) return SendStatus(resp, token.status());
  resp.Set("Set-Cookie", CookieHeader(token->id + ":" + token->jwt, kSessionSeconds, req.tls));
  resp.Set("Cache-Control", "no-store");
  SendJson(resp, 201, SessionJson(*who, token->jwt));
}

void Api::Impl::Session(Ctx& c, const SessionCookie* cookie) {
  if (!cookie)
    return SendError(c.resp, 400, "INVALID",
                     "no session cookie: sign in with POST /api/v1/session");
  if (c.req.method == "GET") {
    c.resp.Set("Cache-Control", "no-store");
    return SendJson(c.resp, 200, SessionJson(c.who, cookie->jwt));
  }
  if (c.req.method != "DELETE")
    return SendError(c.resp, 405, "METHOD_NOT_ALLOWED", "GET or DELETE the session");
  if (Status s = auth.RevokeApiToken(c.who, cookie->id); !s.ok()) return SendStatus(c.resp, s);
  c.resp.Set("Set-Cookie", CookieHeader("", 0, c.req.tls));
  SendJson(c.resp, 200, {{"signedOut", c.who.user}});
}

}  // namespace drydock::api
