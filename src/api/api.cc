// Routing, authentication, errors and the token endpoint of /api/v1/.
#include "api/api.h"

#include <openssl/crypto.h>

#include <ctime>
#include <optional>
#include <vector>

#include "api/impl.h"
#include "api/run_json.h"
#include "api/session.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "/api/v1";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void Unauthorized(http::Response& r, std::string_view message) {
  SendError(r, 401, "UNAUTHORIZED", message);
  r.Set("WWW-Authenticate", "Basic realm=\"drydock\"");
}

bool IsSafeMethod(const std::string& m) { return m == "GET" || m == "HEAD" || m == "OPTIONS"; }

// Compared in constant time (both are hex SHA-256: the length is no secret).
bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// fetch() from a page: browsers say so (Sec-Fetch-Mode cors or same-origin).
bool IsBrowserFetch(const http::Request& req) {
  std::string mode = req.Header("Sec-Fetch-Mode");
  return !mode.empty() && mode != "navigate";
}

// Anonymous visitors may read the repositories anonymous pull allows
// (each handler checks the repository against the patterns).
bool AnonymousMayRead(const http::Request& req) {
  return (req.method == "GET" || req.method == "HEAD") &&
         StartsWith(req.path, "/api/v1/repositories");
}

void DropChallenge(http::Response& r) {
  std::erase_if(r.headers, [](const auto& h) { return h.first == "WWW-Authenticate"; });
}

void MethodNotAllowed(Ctx& c) {
  SendError(c.resp, 405, "METHOD_NOT_ALLOWED",
            "method " + c.req.method + " is not allowed on " + c.req.path);
}

}  // namespace

void SendError(http::Response& r, int status, std::string_view code, std::string_view message) {
  r.source.reset();
  r.stream = nullptr;
  SendJson(r, status, json{{"error", {{"code", code}, {"message", message}}}});
}

void SendStatus(http::Response& r, const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
      return SendError(r, 404, "NOT_FOUND", s.message());
    case Code::kInvalid:
    case Code::kOutOfRange:
      return SendError(r, 400, "INVALID", s.message());
    case Code::kAlreadyExists:
    case Code::kConflict:
      return SendError(r, 409, "CONFLICT", s.message());
    case Code::kTooLarge:
      return SendError(r, 413, "TOO_LARGE", s.message());
    case Code::kUnauthenticated:
      return Unauthorized(r, s.message());
    case Code::kDenied:
      return SendError(r, 403, "DENIED", s.message());
    case Code::kUnavailable:
      return SendError(r, 503, "UNAVAILABLE", s.message());
    case Code::kTooManyRequests:
      SendError(r, 429, "TOO_MANY_REQUESTS", s.message());
      return r.Set("Retry-After", std::to_string(auth::RetryAfterSeconds(s)));
    default:
      return SendError(r, 500, "INTERNAL", s.message());
  }
}

void SendJson(http::Response& r, int status, const json& body) {
  r.status = status;
  r.body = body.dump();
  r.Set("Content-Type", "application/json");
}

Api::Api(auth::Authenticator& auth, storage::BlobStore& blobs, storage::MetadataStore& meta,
         registry::Registry& registry, tasks::RunService& runs, tasks::TaskService& tasks,
         triggers::Service& triggers, Options options)
    : impl_(std::make_unique<Impl>(auth, blobs, meta, registry, runs, tasks, triggers,
                                   std::move(options))) {}

Api::~Api() = default;

bool Api::Handle(http::Request& req, http::Response& resp) {
  if (!StartsWith(req.path, kPrefix) ||
      (req.path.size() > kPrefix.size() && req.path[kPrefix.size()] != '/')) {
    return false;
  }
  resp.route = "api";
  constexpr std::string_view kWebhooks = "/api/v1/webhooks/";
  if (StartsWith(req.path, kWebhooks) && req.path.size() > kWebhooks.size() &&
      req.path.find('/', kWebhooks.size()) == std::string::npos) {
    impl_->Webhook(req, resp, req.path.substr(kWebhooks.size()));
    return true;
  }
  if (req.path == "/api/v1/session" && req.method == "POST") {
    resp.route = "api_session";
    impl_->SignIn(req, resp);
    DropChallenge(resp);  // a wrong password is the page's to show
    return true;
  }
  std::string authorization = req.Header("Authorization");
  std::optional<SessionCookie> cookie;
  if (authorization.empty()) {
    cookie = ReadSessionCookie(req);
    if (cookie) authorization = "Bearer " + cookie->jwt;
  }
  auto who = impl_->auth.Authenticate(authorization, req.remote_addr);
  if (!who.ok()) {
    SendStatus(resp, who.status());
  } else if (!who->agent.empty()) {
    impl_->RouteAgent(req, resp, who->agent, std::string_view(req.path).substr(kPrefix.size()));
  } else if (who->token_access) {
    // A registry token grants what its scope names, and only to the registry:
    // taken here it would act with the user's whole rights (runs, pushes).
    Unauthorized(resp,
                 "a registry token (from /auth/token) is not accepted by the API: use an API "
                 "token (drydock login) or a password");
  } else if (who->anonymous() && !AnonymousMayRead(req)) {
    Unauthorized(resp, "authentication required: send Basic credentials or a Bearer token");
  } else if (cookie && !IsSafeMethod(req.method) &&
             !SameSecret(req.Header("X-CSRF-Token"), CsrfToken(cookie->jwt))) {
    SendError(resp, 403, "CSRF",
              "a request signed in by the session cookie needs the X-CSRF-Token header its "
              "sign-in answered with");
  } else {
    Ctx c{req, resp, *who};
    std::string_view path = std::string_view(req.path).substr(kPrefix.size());
    if (path == "/session") {
      resp.route = "api_session";
      impl_->Session(c, cookie ? &*cookie : nullptr);
    } else {
      impl_->Route(c, path);
    }
  }
  // A page's fetch gets no Basic challenge: the browser would put a
  // password dialog over the page instead of letting it sign in.
  if (cookie || IsBrowserFetch(req)) DropChallenge(resp);
  return true;
}

void Api::Impl::Route(Ctx& c, std::string_view path) {
  const std::string& m = c.req.method;
  if (path == "/tokens") {
    c.resp.route = "api_tokens";
    if (m == "GET") return ListTokens(c);
    return m == "POST" ? IssueToken(c) : MethodNotAllowed(c);
  }
  if (StartsWith(path, "/tokens/")) {
    c.resp.route = "api_token";
    return m == "DELETE" ? RevokeToken(c, std::string(path.substr(8))) : MethodNotAllowed(c);
  }
  if (path == "/contexts") {
    c.resp.route = "api_contexts";
    return m == "POST" ? UploadContext(c) : MethodNotAllowed(c);
  }
  if (path == "/runs") {
    c.resp.route = "api_runs";
    if (m == "GET") return ListRuns(c);
    return m == "POST" ? QueueRun(c) : MethodNotAllowed(c);
  }
  if (path == "/events") {
    c.resp.route = "api_events";
    return m == "GET" ? ListEvents(c) : MethodNotAllowed(c);
  }
  if (path == "/repositories") {
    c.resp.route = "api_repositories";
    return m == "GET" ? ListRepositories(c) : MethodNotAllowed(c);
  }
  if (path == "/tasks") {
    c.resp.route = "api_tasks";
    if (m == "GET") return ListTasks(c);
    return m == "POST" ? CreateTask(c) : MethodNotAllowed(c);
  }
  if (path == "/agents") {
    c.resp.route = "api_agents";
    return m == "GET" ? ListAgents(c) : MethodNotAllowed(c);
  }
  if (path == "/agents/tokens") {
    c.resp.route = "api_agent_tokens";
    return m == "POST" ? CreateAgentToken(c) : MethodNotAllowed(c);
  }
  if (StartsWith(path, "/agents/") && path.size() > 8 &&
      path.find('/', 8) == std::string_view::npos) {
    c.resp.route = "api_agent";
    return m == "DELETE" ? RevokeAgent(c, std::string(path.substr(8))) : MethodNotAllowed(c);
  }
  if (path == "/admin/log-level") {
    c.resp.route = "api_log_level";
    return LogLevel(c);
  }
  if (path == "/images/dependents") {
    c.resp.route = "api_dependents";
    return m == "GET" ? ImageDependents(c) : MethodNotAllowed(c);
  }
  if (path == "/images/packages") {
    c.resp.route = "api_packages";
    return m == "GET" ? ImagesWithPackage(c) : MethodNotAllowed(c);
  }
  if (StartsWith(path, "/tasks/") && RouteTask(c, path.substr(7))) return;
  if (StartsWith(path, "/runs/") && RouteRun(c, path.substr(6))) return;
  if (StartsWith(path, "/repositories/") && RouteRepository(c, path.substr(14))) return;
  c.resp.route = "api_unknown";
  SendError(c.resp, 404, "NOT_FOUND", "no such endpoint: " + c.req.path);
}

bool Api::Impl::RouteRun(Ctx& c, std::string_view rest) {
  const std::string& m = c.req.method;
  auto slash = rest.find('/');
  std::string id(rest.substr(0, slash));
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (id.empty()) return false;
  c.resp.run = id;
  if (action.empty()) {
    c.resp.route = "api_run";
    m == "GET" ? GetRun(c, id) : MethodNotAllowed(c);
  } else if (action == "/cancel") {
    c.resp.route = "api_run_cancel";
    m == "POST" ? CancelRun(c, id) : MethodNotAllowed(c);
  } else if (action == "/log") {
    c.resp.route = "api_run_log";
    m == "GET" ? RunLog(c, id) : MethodNotAllowed(c);
  } else {
    return false;
  }
  return true;
}

bool Api::Impl::RouteTask(Ctx& c, std::string_view rest) {
  const std::string& m = c.req.method;
  auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (name.empty()) return false;
  if (action.empty()) {
    c.resp.route = "api_task";
    if (m == "GET") {
      GetTask(c, name);
    } else if (m == "PATCH") {
      UpdateTask(c, name);
    } else {
      m == "DELETE" ? DeleteTask(c, name) : MethodNotAllowed(c);
    }
  } else if (action == "/runs") {
    c.resp.route = "api_task_runs";
    m == "POST" ? RunTask(c, name) : MethodNotAllowed(c);
  } else {
    return false;
  }
  return true;
}

bool Api::Impl::RouteRepository(Ctx& c, std::string_view rest) {
  // Names contain slashes, so the endpoint is found from the end:
  // ".../tags/<tag>" (a tag has no '/'), ".../tags", else the name itself.
  const std::string& m = c.req.method;
  auto manifests = rest.rfind("/manifests/");
  if (manifests != std::string_view::npos && manifests > 0 && manifests + 11 < rest.size() &&
      rest.find('/', manifests + 11) == std::string_view::npos) {
    c.resp.route = "api_manifest";
    std::string repo(rest.substr(0, manifests)), ref(rest.substr(manifests + 11));
    m == "GET" ? ShowManifest(c, repo, ref) : MethodNotAllowed(c);
    return true;
  }
  auto tags = rest.rfind("/tags/");
  if (tags != std::string_view::npos && tags > 0 && tags + 6 < rest.size() &&
      rest.find('/', tags + 6) == std::string_view::npos) {
    c.resp.route = "api_tag";
    std::string repo(rest.substr(0, tags)), tag(rest.substr(tags + 6));
    m == "DELETE" ? DeleteTag(c, repo, tag) : MethodNotAllowed(c);
  } else if (rest.size() > 5 && rest.substr(rest.size() - 5) == "/tags") {
    c.resp.route = "api_tags";
    m == "GET" ? ListTags(c, std::string(rest.substr(0, rest.size() - 5))) : MethodNotAllowed(c);
  } else if (!rest.empty()) {
    c.resp.route = "api_repository";
    m == "DELETE" ? DeleteRepository(c, std::string(rest)) : MethodNotAllowed(c);
  } else {
    return false;
  }
  return true;
}

bool Api::Impl::RequireAnyGrant(Ctx& c) {
  if (c.who.admin) return true;
  // Only the user's own grants count, not the anonymous-pull patterns.
  auto rows = meta.GetGrants(c.who.user);
  if (!rows.ok()) return SendStatus(c.resp, rows.status()), false;
  if (!rows->empty()) return true;
  SendError(c.resp, 403, "DENIED", "user " + c.who.user + " has no grants on this registry");
  return false;
}

}  // namespace drydock::api
