// The web dashboard, served by `drydock serve` at `/`: the files esbuild
// built from web/ and embedded in the binary. The page itself talks only to
// the REST API (api/), signed in with a session cookie.
#pragma once

#include "http/server.h"

namespace drydock::web {

// Answers GET and HEAD for the dashboard's files and its pages' URLs (which
// all load index.html: the page reads the URL itself); false for anything else.
bool ServeDashboard(const http::Request& req, http::Response& resp);

}  // namespace drydock::web
