#include "auth/auth.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "auth/jwt.h"
#include "base/json.h"
#include "base/random.h"
#include "base/strings.h"
#include "oci/digest.h"

namespace drydock::auth {
namespace {

using nlohmann::json;

constexpr int64_t kLoginCacheSeconds = 60;
// The "typ" claim of API tokens; registry tokens have none.
constexpr char kApiTokenType[] = "drydock-api";
constexpr char kRunTokenType[] = "drydock-run";
constexpr char kAgentTokenType[] = "drydock-agent";
constexpr std::string_view kAgentUserPrefix = "agent:";

int64_t Now() { return static_cast<int64_t>(::time(nullptr)); }

Status Unauthenticated(std::string m) { return Status(Code::kUnauthenticated, std::move(m)); }

// Three base64url parts, the first a JSON object: worth verifying as a token.
bool LooksLikeJwt(std::string_view s) {
  return s.rfind("eyJ", 0) == 0 && std::count(s.begin(), s.end(), '.') == 2;
}

}  // namespace

std::string ActionsToString(unsigned a) {
  std::string out;
  for (auto [bit, name] :
       {std::pair{kPull, "pull"}, std::pair{kPush, "push"}, std::pair{kDelete, "delete"}}) {
    if (a & bit) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out;
}

unsigned ParseActions(std::string_view csv) {
  unsigned a = 0;
  while (!csv.empty()) {
    auto comma = csv.find(',');
    auto word = csv.substr(0, comma);
    if (word == "pull") a |= kPull;
    if (word == "push") a |= kPush;
    if (word == "delete") a |= kDelete;
    if (word == "*") a |= kAll;
    if (comma == std::string_view::npos) break;
    csv.remove_prefix(comma + 1);
  }
  return a;
}

bool PatternMatches(std::string_view pattern, std::string_view repo) {
  if (pattern == "*" || pattern.empty()) return true;
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    auto prefix = pattern.substr(0, pattern.size() - 1);  // keeps the '/'
    return repo.substr(0, prefix.size()) == prefix;
  }
  return pattern == repo;
}

Authenticator::Authenticator(storage::MetadataStore& store, Options options,
                             std::string signing_key)
    : store_(store), options_(std::move(options)), key_(std::move(signing_key)) {}

std::optional<Identity> Authenticator::CachedLoginFor(const std::string& user,
                                                      const std::string& fingerprint) {
  CachedLogin hit;
  {
    std::lock_guard lock(mu_);
    auto it = login_cache_.find(user);
    if (it == login_cache_.end() || it->second.fingerprint != fingerprint ||
        it->second.expiry <= Now()) {
      return std::nullopt;
    }
    hit = it->second;
  }
  // Another process (`drydock user add|disable`) may have changed the user:
  // a row read is cheap, a bcrypt is not.
  auto u = store_.GetUser(user);
  if (!u.ok() || u->disabled || u->password_hash != hit.password_hash) return std::nullopt;
  return Identity{user, u->admin, std::nullopt, false, false, "", ""};
}

constexpr char kRetryIn[] = "; try again in ";

int64_t RetryAfterSeconds(const Status& status) {
  if (status.code() != Code::kTooManyRequests) return 0;
  auto at = status.message().rfind(kRetryIn);
  if (at == std::string::npos) return 0;
  return std::strtoll(status.message().c_str() + at + std::strlen(kRetryIn), nullptr, 10);
}

Status Authenticator::Throttled(const std::string& user, const std::string& client) {
  int64_t now = Now();
  LoginThrottle::Rule per_user{options_.max_failed_logins_per_user,
                               options_.failed_login_window_seconds};
  LoginThrottle::Rule per_address{options_.max_failed_logins_per_address,
                                  options_.failed_login_window_seconds};
  if (auto wait = throttle_.Blocked("user:" + user, per_user, now))
    return Status(Code::kTooManyRequests, "too many failed sign-ins for '" + user + "'" + kRetryIn +
                                              std::to_string(*wait) + " s");
  if (auto wait = throttle_.Blocked("addr:" + client, per_address, now))
    return Status(Code::kTooManyRequests, "too many failed sign-ins from " + client + kRetryIn +
                                              std::to_string(*wait) + " s");
  return Status::Ok();
}

const std::string& Authenticator::DummyHash() {
  std::call_once(dummy_once_, [this] { dummy_hash_ = HashPassword(RandomHex(16)).value_or(""); });
  return dummy_hash_;
}

Result<Identity> Authenticator::Login(const std::string& user, const std::string& password,
                                      const std::string& client) {
  DD_RETURN_IF_ERROR(Throttled(user, client));
  std::string fingerprint = oci::Digest::Of(user + '\0' + password).hex();
  if (auto hit = CachedLoginFor(user, fingerprint)) return *hit;
  // Clients that start together (parallel pushes) would each pay a bcrypt;
  // the first one does, the others wait for it and then hit the cache.
  std::shared_ptr<std::mutex> user_lock;
  {
    std::lock_guard lock(mu_);
    if (login_locks_.size() > 10000)  // names that were tried once and are not in use
      std::erase_if(login_locks_, [](const auto& l) { return l.second.use_count() == 1; });
    auto& l = login_locks_[user];
    if (!l) l = std::make_shared<std::mutex>();
    user_lock = l;
  }
  std::lock_guard serial(*user_lock);
  if (auto hit = CachedLoginFor(user, fingerprint)) return *hit;
  auto u = store_.GetUser(user);
  // The same bcrypt whether or not the user exists.
  bool verified = VerifyPassword(password, u.ok() ? u->password_hash : DummyHash()) && u.ok();
  if (!verified) {
    throttle_.Failed("user:" + user, Now());
    throttle_.Failed("addr:" + client, Now());
    return Unauthenticated("wrong user name or password for '" + user + "'");
  }
  if (u->disabled) return Unauthenticated("user '" + user + "' is disabled");
  throttle_.Succeeded("user:" + user);
  std::lock_guard lock(mu_);
  if (login_cache_.size() > 10000) login_cache_.clear();
  login_cache_[user] = CachedLogin{fingerprint, Now() + kLoginCacheSeconds, u->password_hash};
  return Identity{user, u->admin, std::nullopt, false, false, "", ""};
}

Result<Identity> Authenticator::Authenticate(std::string_view header, const std::string& client) {
  if (header.empty()) return Identity{};
  if (StartsWithIgnoreCase(header, "Basic ")) {
    std::string decoded = Base64Decode(header.substr(6));
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return Unauthenticated("malformed Basic credentials");
    return BasicLogin(decoded.substr(0, colon), decoded.substr(colon + 1), client);
  }
  if (StartsWithIgnoreCase(header, "Bearer ")) return VerifyToken(header.substr(7));
  return Unauthenticated("unsupported Authorization scheme");
}

Result<Identity> Authenticator::BasicLogin(const std::string& user, const std::string& secret,
                                           const std::string& client) {
  if (!LooksLikeJwt(secret)) return Login(user, secret, client);
  auto token = VerifyToken(secret);
  if (token.ok() && (token->api_token || !token->run.empty()) && token->user == user) return token;
  // Not an API token of this user; it could still be a (strange) password.
  auto login = Login(user, secret, client);
  if (login.ok() || login.status().code() == Code::kTooManyRequests) return login;
  if (!token.ok()) return token.status();
  if (!token->api_token) return Unauthenticated("a registry token is not a password");
  return Unauthenticated("the API token belongs to '" + token->user + "', not '" + user + "'");
}

Result<Identity> Authenticator::VerifyToken(std::string_view jwt) {
  auto payload = VerifyJwt(jwt, key_);
  if (!payload.ok()) return payload.status();
  json claims = ParseJson(*payload).value_or(json());
  if (!claims.is_object()) return Unauthenticated("token claims are not JSON");
  int64_t now = Now();
  if (claims.value("exp", int64_t{0}) < now) return Unauthenticated("token has expired");
  if (claims.value("nbf", int64_t{0}) > now + 60) return Unauthenticated("token is not valid yet");
  if (claims.value("aud", std::string()) != options_.service)
    return Unauthenticated("token is for another service");
  Identity id;
  if (claims.value("typ", std::string()) == kAgentTokenType)
    return VerifyAgentToken(jwt, claims.value("agent", std::string()),
                            claims.value("jti", std::string()));
  id.user = claims.value("sub", std::string());
  if (!id.user.empty()) {
    auto u = store_.GetUser(id.user);
    if (!u.ok()) return Unauthenticated("token user '" + id.user + "' no longer exists");
    if (u->disabled) return Unauthenticated("user '" + id.user + "' is disabled");
    if (claims.value("iat", int64_t{0}) < u->credentials_changed) {
      return Unauthenticated("the token was issued before the password of '" + id.user +
                             "' changed: sign in again");
    }
    id.admin = u->admin;
  }
  id.run = claims.value("run", std::string());
  if (!id.run.empty()) {
    // A run's credential ends with the run.
    auto run = store_.GetRun(id.run);
    if (!run.ok() || (run->status != "Started" && run->status != "Running"))
      return Unauthenticated("the token of run " + id.run + " ended with the run");
  }
  if (claims.value("typ", std::string()) == kRunTokenType) {
    if (id.user.empty() || id.run.empty()) return Unauthenticated("run token has no user or run");
    return id;  // no access list: the user's own rights apply
  }
  if (claims.value("typ", std::string()) == kApiTokenType) {
    if (id.user.empty()) return Unauthenticated("API token has no user");
    // Valid only while its row exists: revoking deletes it. The row holds
    // a hash of the token, never the token.
    auto row = store_.GetApiToken(claims.value("jti", std::string()));
    // A store that cannot answer says so: the token is not revoked for that
    // (a page would sign its user out on a 401).
    if (!row.ok() && row.status().code() != Code::kNotFound) return row.status();
    if (!row.ok() || row->user != id.user ||
        row->secret_hash != oci::Digest::Of(std::string(jwt)).hex()) {
      return Unauthenticated("the API token has been revoked (or was never issued here)");
    }
    id.api_token = true;  // no access list: the user's own rights apply
    return id;
  }
  std::map<std::string, unsigned> access;
  if (auto it = claims.find("access"); it != claims.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_object()) continue;
      std::string type = a.value("type", std::string());
      std::string name = a.value("name", std::string());
      unsigned bits = 0;
      if (auto acts = a.find("actions"); acts != a.end() && acts->is_array()) {
        for (const auto& x : *acts) {
          if (x.is_string()) bits |= ParseActions(x.get<std::string>());
        }
      }
      if (type == "repository") access[name] |= bits;
      if (type == "registry" && name == "catalog") id.catalog_in_token = true;
    }
  }
  id.token_access = std::move(access);
  return id;
}

unsigned Authenticator::Allowed(const Identity& who, std::string_view repo) {
  unsigned bits = 0;
  for (const auto& p : options_.anonymous_pull) {
    if (PatternMatches(p, repo)) bits |= kPull;
  }
  if (!who.anonymous()) {
    if (who.admin) {
      bits = kAll;
    } else if (auto grants = store_.GetGrants(who.user); grants.ok()) {
      for (const auto& g : *grants) {
        if (PatternMatches(g.prefix, repo)) bits |= ParseActions(g.actions);
      }
    }
  }
  if (who.token_access) {
    auto it = who.token_access->find(std::string(repo));
    bits &= it == who.token_access->end() ? 0u : it->second;
  }
  return bits;
}

bool Authenticator::CanListCatalog(const Identity& who) const {
  if (who.anonymous()) return false;
  return !who.token_access || who.catalog_in_token || who.admin;
}

Result<Token> Authenticator::IssueToken(const Identity& who,
                                        const std::vector<std::string>& scopes) {
  Identity base = who;
  base.token_access.reset();  // a token is derived from the user's rights, not from another token's
  json access = json::array();
  for (const auto& scope : scopes) {
    // A scope parameter may hold several space-separated scopes.
    size_t start = 0;
    while (start < scope.size()) {
      size_t end = scope.find(' ', start);
      std::string one =
          scope.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? scope.size() : end + 1;
      auto c1 = one.find(':');
      auto c2 = one.rfind(':');
      if (c1 == std::string::npos || c1 == c2) continue;
      std::string type = one.substr(0, c1), name = one.substr(c1 + 1, c2 - c1 - 1);
      unsigned asked = ParseActions(one.substr(c2 + 1));
      if (type == "repository") {
        unsigned granted = asked & Allowed(base, name);
        json actions = json::array();
        for (auto bit : {kPull, kPush, kDelete}) {
          if (granted & bit) actions.push_back(ActionsToString(bit));
        }
        access.push_back({{"type", type}, {"name", name}, {"actions", actions}});
      } else if (type == "registry" && name == "catalog" && CanListCatalog(base)) {
        access.push_back({{"type", type}, {"name", name}, {"actions", json::array({"*"})}});
      }
    }
  }
  int64_t now = Now();
  json claims = {{"iss", options_.service}, {"sub", who.user},
                 {"aud", options_.service}, {"iat", now},
                 {"nbf", now - 5},          {"exp", now + options_.token_ttl_seconds},
                 {"jti", RandomHex(12)},    {"access", access}};
  if (!who.run.empty()) claims["run"] = who.run;
  return Token{SignJwt(claims.dump(), key_), options_.token_ttl_seconds, now, ""};
}

Result<Token> Authenticator::IssueApiToken(const Identity& who, int64_t ttl_seconds,
                                           const std::string& description) {
  if (who.anonymous()) return Invalid("an API token needs a user");
  if (description.size() > 200) return Invalid("token description is longer than 200 bytes");
  int64_t now = Now();
  std::string id = RandomHex(12);
  json claims = {{"iss", options_.service},
                 {"sub", who.user},
                 {"aud", options_.service},
                 {"iat", now},
                 {"nbf", now - 5},
                 {"exp", now + ttl_seconds},
                 {"jti", id},
                 {"typ", kApiTokenType}};
  Token token{SignJwt(claims.dump(), key_), ttl_seconds, now, id};
  DD_RETURN_IF_ERROR(store_.PutApiToken(
      {id, who.user, oci::Digest::Of(token.jwt).hex(), now, now + ttl_seconds, description}));
  return token;
}

Result<Token> Authenticator::IssueRunToken(const std::string& user, const std::string& run_id,
                                           int64_t ttl_seconds) {
  if (user.empty() || run_id.empty()) return Invalid("a run token needs a user and a run");
  int64_t now = Now();
  json claims = {{"iss", options_.service},
                 {"sub", user},
                 {"aud", options_.service},
                 {"iat", now},
                 {"nbf", now - 5},
                 {"exp", now + ttl_seconds},
                 {"jti", RandomHex(12)},
                 {"typ", kRunTokenType},
                 {"run", run_id}};
  return Token{SignJwt(claims.dump(), key_), ttl_seconds, now, ""};
}

Result<Token> Authenticator::IssueAgentToken(const std::string& name, int64_t ttl_seconds,
                                             const std::string& description) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    return Invalid("agent name '" + name + "' must be 1-64 letters, digits, '.', '_' or '-'");
  if (description.size() > 200) return Invalid("token description is longer than 200 bytes");
  int64_t now = Now();
  std::string id = RandomHex(12);
  json claims = {{"iss", options_.service},
                 {"agent", name},
                 {"aud", options_.service},
                 {"iat", now},
                 {"nbf", now - 5},
                 {"exp", now + ttl_seconds},
                 {"jti", id},
                 {"typ", kAgentTokenType}};
  Token token{SignJwt(claims.dump(), key_), ttl_seconds, now, id};
  DD_RETURN_IF_ERROR(
      store_.PutApiToken({id, std::string(kAgentUserPrefix) + name,
                          oci::Digest::Of(token.jwt).hex(), now, now + ttl_seconds, description}));
  return token;
}

Result<Identity> Authenticator::VerifyAgentToken(std::string_view jwt, const std::string& name,
                                                 const std::string& jti) {
  auto row = store_.GetApiToken(jti);
  if (name.empty() || !row.ok() || row->user != std::string(kAgentUserPrefix) + name ||
      row->secret_hash != oci::Digest::Of(std::string(jwt)).hex()) {
    return Unauthenticated("the agent token has been revoked (or was never issued here)");
  }
  Identity id;
  id.agent = name;
  return id;
}

std::string Identity::Actor() const {
  if (!agent.empty()) return "agent:" + agent;
  if (!run.empty()) return "run:" + run;
  if (!user.empty()) return "user:" + user;
  return "anonymous";
}

Result<std::vector<storage::ApiTokenRecord>> Authenticator::ListApiTokens(const std::string& user) {
  DD_ASSIGN_OR_RETURN(all, store_.ListApiTokens(user));
  std::vector<storage::ApiTokenRecord> live;
  for (auto& t : all) {
    if (t.expires < Now()) {
      (void)store_.DeleteApiToken(t.id);  // expired anyway; a failure leaves a dead row
      continue;
    }
    t.secret_hash.clear();  // nobody's business outside auth/
    live.push_back(std::move(t));
  }
  return live;
}

Status Authenticator::RevokeApiToken(const Identity& who, const std::string& id) {
  auto row = store_.GetApiToken(id);
  // Someone else's token is "not found": its id tells nothing.
  if (!row.ok() || (!who.admin && row->user != who.user))
    return NotFound("no API token " + id + " of yours");
  return store_.DeleteApiToken(id);
}

void Authenticator::ForgetCachedLogin(const std::string& name) {
  std::lock_guard lock(mu_);
  login_cache_.erase(name);
}

Status Authenticator::CreateUser(const std::string& name, const std::string& password, bool admin,
                                 const std::vector<storage::Grant>& grants) {
  if (name.empty() || name.find(':') != std::string::npos)
    return Invalid("user name must be non-empty without ':'");
  if (password.size() < 8) return Invalid("password must be at least 8 characters");
  auto hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  storage::User user{name, *hash, admin};
  if (auto old = store_.GetUser(name); old.ok()) {
    // A new password: every token issued with the old one stops working.
    user.disabled = old->disabled;
    user.credentials_changed = Now();
    DD_RETURN_IF_ERROR(store_.DeleteApiTokensOf(name).status());
  }
  DD_RETURN_IF_ERROR(store_.PutUser(user));
  ForgetCachedLogin(name);
  return store_.SetGrants(name, grants);
}

Status Authenticator::SetDisabled(const std::string& name, bool disabled) {
  DD_ASSIGN_OR_RETURN(user, store_.GetUser(name));
  user.disabled = disabled;
  if (disabled) {
    // Enabling the user again does not bring old tokens back.
    user.credentials_changed = Now();
    DD_RETURN_IF_ERROR(store_.DeleteApiTokensOf(name).status());
  }
  DD_RETURN_IF_ERROR(store_.PutUser(user));
  ForgetCachedLogin(name);
  return Status::Ok();
}

Status Authenticator::DeleteUser(const std::string& name) {
  DD_RETURN_IF_ERROR(store_.DeleteUser(name));
  ForgetCachedLogin(name);
  return Status::Ok();
}

}  // namespace drydock::auth
