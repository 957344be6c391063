// Routing, authentication and error plumbing for the /v2/ API.
#include "registry/registry.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "oci/reference.h"
#include "registry/impl.h"

namespace drydock::registry {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A /v2/ path split into repository name and endpoint.
struct Route {
  enum Kind {
    kBase,
    kCatalog,
    kManifest,
    kBlob,
    kUploadStart,
    kUpload,
    kTags,
    kReferrers,
    kUnknown
  } kind = kUnknown;
  std::string name;
  std::string arg;  // reference, digest or upload id
};

Route ParseRoute(std::string_view path) {
  Route r;
  if (path == "/v2/" || path == "/v2") return {Route::kBase, "", ""};
  if (path == "/v2/_catalog") return {Route::kCatalog, "", ""};
  std::string_view rest = path.substr(4);  // after "/v2/"
  if (EndsWith(rest, "/tags/list"))
    return {Route::kTags, std::string(rest.substr(0, rest.size() - 10)), ""};
  auto slash = rest.rfind('/');
  if (slash == std::string_view::npos) return r;
  std::string_view head = rest.substr(0, slash), last = rest.substr(slash + 1);
  auto cut = [&](std::string_view suffix, Route::Kind k) {
    if (!EndsWith(head, suffix)) return false;
    r = {k, std::string(head.substr(0, head.size() - suffix.size())), std::string(last)};
    return true;
  };
  if (cut("/manifests", Route::kManifest) || cut("/referrers", Route::kReferrers)) return r;
  if (EndsWith(head, "/blobs/uploads")) {
    r = {last.empty() ? Route::kUploadStart : Route::kUpload,
         std::string(head.substr(0, head.size() - 14)), std::string(last)};
    return r;
  }
  if (cut("/blobs", Route::kBlob)) {
    if (last == "uploads") r.kind = Route::kUploadStart;
    return r;
  }
  return r;
}

}  // namespace

void SendError(http::Response& r, int status, std::string_view code, std::string_view message,
               const std::string& detail_json) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!detail_json.empty()) e["detail"] = nlohmann::json::parse(detail_json, nullptr, false);
  r.status = status;
  r.source.reset();
  r.body = nlohmann::json{{"errors", nlohmann::json::array({e})}}.dump();
  r.Set("Content-Type", "application/json");
}

void SendStatus(http::Response& r, const Status& s, std::string_view not_found_code) {
  switch (s.code()) {
    case Code::kNotFound:
      return SendError(r, 404, not_found_code, s.message());
    case Code::kInvalid:
      return SendError(r, 400, "UNSUPPORTED", s.message());
    case Code::kTooLarge:
      return SendError(r, 413, "SIZE_INVALID", s.message());
    case Code::kUnavailable:
      return SendError(r, 400, "BLOB_UPLOAD_INVALID", s.message());
    case Code::kTooManyRequests:
      SendError(r, 429, "TOOMANYREQUESTS", s.message());
      return r.Set("Retry-After", std::to_string(auth::RetryAfterSeconds(s)));
    default:
      return SendError(r, 500, "UNKNOWN", s.message());
  }
}

Registry::Registry(storage::BlobStore& blobs, storage::MetadataStore& meta,
                   auth::Authenticator& auth, events::Bus& bus, Options options)
    : impl_(std::make_unique<Impl>(blobs, meta, auth, bus, std::move(options))) {}

Registry::~Registry() = default;

size_t Registry::uploads_in_progress() const {
  std::lock_guard lock(impl_->uploads_mu);
  return impl_->uploads.size();
}

bool Registry::Handle(http::Request& req, http::Response& resp) {
  if (req.path == "/auth/token") {
    resp.route = "token";
    impl_->TokenEndpoint(req, resp);
    return true;
  }
  if (req.path.rfind("/v2", 0) != 0 || (req.path.size() > 3 && req.path[3] != '/')) return false;
  resp.Set("Docker-Distribution-API-Version", "registry/2.0");
  Route route = ParseRoute(req.path);
  auto who = impl_->auth.Authenticate(req.Header("Authorization"), req.remote_addr);
  Ctx c{req, resp, route.name, who.ok() ? *who : auth::Identity{}};
  if (!who.ok() && who.status().code() == Code::kTooManyRequests) {
    resp.route = "auth";
    SendStatus(resp, who.status(), "UNKNOWN");
    return true;
  }
  if (!who.ok()) {
    resp.route = "auth";
    impl_->Challenge(c, "", "UNAUTHORIZED", who.status().message());
    return true;
  }
  if (route.kind == Route::kUnknown) {
    resp.route = "unknown";
    SendError(resp, 404, "NOT_FOUND", "no such endpoint: " + req.path);
    return true;
  }
  if (route.kind != Route::kBase && route.kind != Route::kCatalog) {
    if (auto s = oci::ValidateRepositoryName(route.name); !s.ok()) {
      resp.route = "invalid";
      SendError(resp, 400, "NAME_INVALID", s.message());
      return true;
    }
  }
  const std::string& m = req.method;
  // The route labels metrics: a method no client uses names no series.
  const std::string route_method =
      m == "GET" || m == "HEAD" || m == "PUT" || m == "PATCH" || m == "DELETE" ? m : "other";
  auto method_not_allowed = [&] {
    SendError(resp, 405, "UNSUPPORTED", "method " + m + " is not allowed on " + req.path);
  };
  switch (route.kind) {
    case Route::kBase:
      resp.route = "base";
      return impl_->Base(c), true;
    case Route::kCatalog:
      resp.route = "catalog";
      if (m != "GET") return method_not_allowed(), true;
      return impl_->Catalog(c), true;
    case Route::kTags:
      resp.route = "tags";
      if (m != "GET") return method_not_allowed(), true;
      return impl_->ListTags(c), true;
    case Route::kReferrers:
      resp.route = "referrers";
      if (m != "GET") return method_not_allowed(), true;
      return impl_->Referrers(c, route.arg), true;
    case Route::kManifest:
      resp.route = "manifest_" + route_method;
      if (m == "GET" || m == "HEAD") return impl_->GetManifest(c, route.arg), true;
      if (m == "PUT") return impl_->PutManifest(c, route.arg), true;
      if (m == "DELETE") return impl_->DeleteManifest(c, route.arg), true;
      return method_not_allowed(), true;
    case Route::kBlob:
      resp.route = "blob_" + route_method;
      if (m == "GET" || m == "HEAD") return impl_->GetBlob(c, route.arg), true;
      if (m == "DELETE") return impl_->DeleteBlob(c, route.arg), true;
      return method_not_allowed(), true;
    case Route::kUploadStart:
      resp.route = "upload_start";
      if (m == "POST") return impl_->StartUpload(c), true;
      return method_not_allowed(), true;
    case Route::kUpload:
      resp.route = "upload_" + route_method;
      if (m == "PATCH") return impl_->PatchUpload(c, route.arg), true;
      if (m == "PUT") return impl_->PutUpload(c, route.arg), true;
      if (m == "GET" || m == "HEAD") return impl_->UploadStatus(c, route.arg), true;
      if (m == "DELETE") return impl_->CancelUpload(c, route.arg), true;
      return method_not_allowed(), true;
    case Route::kUnknown:
      break;
  }
  return true;
}

void Registry::Impl::Challenge(Ctx& c, const std::string& scope, std::string_view code,
                               std::string_view message) {
  std::string base = options.public_url;
  if (base.empty()) {
    std::string host = c.req.Header("Host");
    if (host.empty()) host = "localhost";
    base = std::string(c.req.tls ? "https://" : "http://") + host;
  }
  std::string value =
      "Bearer realm=\"" + base + "/auth/token\",service=\"" + auth.options().service + "\"";
  if (!scope.empty()) value += ",scope=\"" + scope + "\"";
  if (c.who.token_access && !scope.empty()) value += ",error=\"insufficient_scope\"";
  SendError(c.resp, 401, code, message);
  c.resp.Set("WWW-Authenticate", value);
}

bool Registry::Impl::Authorize(Ctx& c, unsigned need, const std::string& also) {
  unsigned have = auth.Allowed(c.who, c.repo);
  if ((have & need) == need) return true;
  std::string scope =
      "repository:" + c.repo + ":" +
      auth::ActionsToString(need | ((need & auth::kPush) ? unsigned{auth::kPull} : 0u));
  if (!also.empty()) scope += " " + also;
  std::string msg = "access to " + c.repo + " requires " + auth::ActionsToString(need);
  if (c.who.anonymous() || c.who.token_access) {
    Challenge(c, scope, "UNAUTHORIZED", "authentication required: " + msg);
  } else {
    SendError(c.resp, 403, "DENIED", "user " + c.who.user + " is denied: " + msg);
  }
  return false;
}

void Registry::Impl::Base(Ctx& c) {
  if (c.who.anonymous()) return Challenge(c, "", "UNAUTHORIZED", "authentication required");
  c.resp.body = "{}";
  c.resp.Set("Content-Type", "application/json");
}

void Registry::Impl::TokenEndpoint(http::Request& req, http::Response& resp) {
  std::vector<std::string> scopes = req.QueryAll("scope");
  std::string authorization = req.Header("Authorization");
  Result<auth::Identity> who = auth::Identity{};
  if (req.method == "POST") {
    // OAuth2 password grant, as some clients send it.
    auto body = req.ReadAll(64 * 1024);
    if (!body.ok()) return SendStatus(resp, body.status(), "UNSUPPORTED");
    std::string user, password;
    std::string_view b = *body;
    for (auto part = b; !part.empty();) {
      auto amp = part.find('&');
      auto kv = part.substr(0, amp);
      auto eq = kv.find('=');
      // Form encoding: '+' is a space, decoded before %XX so "%2B" stays a '+'.
      auto decode = [](std::string_view raw) {
        std::string t(raw);
        for (char& ch : t) ch = ch == '+' ? ' ' : ch;
        return http::PercentDecode(t);
      };
      std::string k = decode(kv.substr(0, eq));
      std::string v = eq == std::string_view::npos ? "" : decode(kv.substr(eq + 1));
      if (k == "username") user = v;
      if (k == "password") password = v;
      if (k == "scope") scopes.push_back(v);
      part = amp == std::string_view::npos ? std::string_view() : part.substr(amp + 1);
    }
    if (!user.empty()) who = auth.Login(user, password, req.remote_addr);
  } else if (req.method == "GET") {
    if (!authorization.empty()) who = auth.Authenticate(authorization, req.remote_addr);
  } else {
    return SendError(resp, 405, "UNSUPPORTED", "token endpoint takes GET or POST");
  }
  if (!who.ok() && who.status().code() == Code::kTooManyRequests)
    return SendStatus(resp, who.status(), "UNKNOWN");
  if (!who.ok()) {
    SendError(resp, 401, "UNAUTHORIZED", who.status().message());
    resp.Set("WWW-Authenticate", "Basic realm=\"drydock\"");
    return;
  }
  auto token = auth.IssueToken(*who, scopes);
  if (!token.ok()) return SendStatus(resp, token.status(), "UNKNOWN");
  char issued[32];
  std::time_t t = token->issued_at;
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(issued, sizeof issued, "%Y-%m-%dT%H:%M:%SZ", &tm);
  resp.body = nlohmann::json{
      {"token", token->jwt},
      {"access_token", token->jwt},
      {"expires_in", token->expires_in},
      {"issued_at",
       issued}}.dump();
  resp.Set("Content-Type", "application/json");
}

Result<std::vector<std::string>> Registry::DeleteManifest(const std::string& repo,
                                                          const oci::Digest& digest,
                                                          const std::string& user) {
  return impl_->DeleteManifest(repo, digest, user);
}

Result<oci::Digest> Registry::DeleteTag(const std::string& repo, const std::string& tag,
                                        const std::string& user) {
  return impl_->DeleteTag(repo, tag, user);
}

}  // namespace drydock::registry
