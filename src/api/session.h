// Internal to api/: the dashboard's session cookie.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/server.h"

namespace drydock::api {

struct SessionCookie {
  std::string id;   // the API token's id
  std::string jwt;  // the API token
};

// The dd_session cookie of the request, when it has a well-formed one.
std::optional<SessionCookie> ReadSessionCookie(const http::Request& req);
// What a request authenticated by the cookie must send as X-CSRF-Token to
// change anything: derived from the cookie, which another site cannot read.
std::string CsrfToken(std::string_view jwt);

}  // namespace drydock::api
