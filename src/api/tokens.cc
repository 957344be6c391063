// /api/v1/tokens: API tokens for `drydock login`, listed and revoked by
// their owner (any user's by an admin).
#include "api/impl.h"
#include "api/run_json.h"
#include "base/json.h"

namespace drydock::api {

using nlohmann::json;

void Api::Impl::IssueToken(Ctx& c) {
  // A token must come from the password: otherwise a leaked token could be
  // renewed forever.
  if (c.who.api_token || c.who.token_access) {
    return SendError(c.resp, 401, "UNAUTHORIZED",
                     "issuing an API token needs the password (Basic auth)");
  }
  std::string description;
  auto text = c.req.ReadAll(64 * 1024);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  if (!text->empty()) {
    auto body = ParseJson(*text);
    if (!body.ok())
      return SendError(c.resp, 400, "INVALID", "the body: " + body.status().message());
    if (body->is_object() && body->contains("description")) {
      if (!(*body)["description"].is_string())
        return SendError(c.resp, 400, "INVALID", "description must be a string");
      description = (*body)["description"].get<std::string>();
    }
  }
  auto token = auth.IssueApiToken(c.who, auth::kApiTokenTtlSeconds, description);
  if (!token.ok()) return SendStatus(c.resp, token.status());
  SendJson(c.resp, 201,
           json{{"token", token->jwt},
                {"id", token->id},
                {"user", c.who.user},
                {"expiresAt", IsoTime((token->issued_at + token->expires_in) * 1000)}});
}

void Api::Impl::ListTokens(Ctx& c) {
  bool all = c.req.Query("all").value_or("") == "true";
  if (all && !c.who.admin)
    return SendError(c.resp, 403, "DENIED", "only an admin lists every user's tokens");
  auto tokens = auth.ListApiTokens(all ? "" : c.who.user);
  if (!tokens.ok()) return SendStatus(c.resp, tokens.status());
  json out = json::array();
  for (const auto& t : *tokens) {
    out.push_back({{"id", t.id},
                   {"user", t.user},
                   {"description", t.description},
                   {"createdAt", IsoTime(t.created * 1000)},
                   {"expiresAt", IsoTime(t.expires * 1000)}});
  }
  SendJson(c.resp, 200, {{"tokens", out}});
}

void Api::Impl::RevokeToken(Ctx& c, const std::string& id) {
  Status s = auth.RevokeApiToken(c.who, id);
  if (!s.ok()) return SendStatus(c.resp, s);
  SendJson(c.resp, 200, {{"revoked", id}});
}

}  // namespace drydock::api
