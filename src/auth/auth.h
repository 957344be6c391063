// Who is asking and what they may do: users with bcrypt passwords, Basic
// auth, and Docker token auth (Bearer JWTs signed by this server with scopes
// `repository:<name>:pull,push,delete`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/throttle.h"
#include "base/result.h"
#include "storage/metadata_store.h"

namespace drydock::auth {

enum Action : unsigned { kPull = 1, kPush = 2, kDelete = 4, kAll = 7 };

std::string ActionsToString(unsigned actions);
unsigned ParseActions(std::string_view csv);

struct Identity {
  std::string user;  // "" for anonymous
  bool admin = false;
  // Set when the request carried a token: the token's grants cap the user's.
  std::optional<std::map<std::string, unsigned>> token_access;
  bool catalog_in_token = false;
  bool api_token = false;  // authenticated by an API token rather than a password
  // Set when the credential was a run's (IssueRunToken, or a token derived
  // from one): what the run pushes is recorded as the run's doing.
  std::string run;
  // Set for a build agent's token: no user, no registry rights; it may call
  // the agent API, for the runs it holds.
  std::string agent;
  bool anonymous() const { return user.empty(); }
  // Who did it, as the event log records it: "run:ca12", "user:alice" or
  // "anonymous".
  std::string Actor() const;
};

struct Options {
  std::vector<std::string> anonymous_pull;  // repository patterns: "*", "public/*", "exact/name"
  std::string service = "drydock";
  int64_t token_ttl_seconds = 900;
  // Failed password sign-ins allowed per user and per client address in one
  // window before answers become kTooManyRequests until the window ends.
  int max_failed_logins_per_user = 10;
  int max_failed_logins_per_address = 50;
  int64_t failed_login_window_seconds = 300;
};

struct Token {
  std::string jwt;
  int64_t expires_in = 0;
  int64_t issued_at = 0;
  std::string id;  // API tokens: what `drydock token revoke` takes
};

// API tokens (`drydock login`, `docker login -u USER -p TOKEN`) live this long.
inline constexpr int64_t kApiTokenTtlSeconds = 30 * 24 * 3600;

// "*" matches everything, "team/*" every repository under team/, else exact.
bool PatternMatches(std::string_view pattern, std::string_view repo);

class Authenticator {
 public:
  Authenticator(storage::MetadataStore& store, Options options, std::string signing_key);

  // Parses an Authorization header ("" → anonymous) from `client` (its
  // address). Wrong credentials or a bad/expired token → kUnauthenticated
  // with a reason; too many failed sign-ins → kTooManyRequests, see
  // RetryAfterSeconds.
  Result<Identity> Authenticate(std::string_view authorization, const std::string& client = "");
  // Checks a user's password (bcrypt), with a short in-memory cache so
  // clients sending Basic on every request do not pay bcrypt each time. An
  // unknown user costs the same bcrypt as a wrong password, so that timing
  // does not tell which users exist.
  Result<Identity> Login(const std::string& user, const std::string& password,
                         const std::string& client = "");

  // Actions `who` may perform on `repo`.
  unsigned Allowed(const Identity& who, std::string_view repo);
  bool CanListCatalog(const Identity& who) const;

  // Issues a token for the requested scopes, granting the intersection of
  // what was asked and what `who` may do.
  Result<Token> IssueToken(const Identity& who, const std::vector<std::string>& scopes);
  // Issues a long-lived token standing for the user itself: it carries no
  // access list, so the user's grants are evaluated on every request (and
  // revoking a grant takes effect at once). Accepted as `Bearer` and as the
  // password of Basic auth for its own user.
  // Only a hash of the token is stored, under its id; deleting that row
  // (RevokeApiToken, a password change, disabling or deleting the user)
  // revokes it at once.
  Result<Token> IssueApiToken(const Identity& who, int64_t ttl_seconds = kApiTokenTtlSeconds,
                              const std::string& description = "");
  // A credential for run `run_id` of `user` (its builds' pushes and pulls):
  // the user's own rights, valid only while the run is Started or Running.
  // Accepted as `Bearer` and as the password of Basic auth for `user`;
  // registry tokens issued for it carry the run on. Nothing is stored.
  Result<Token> IssueRunToken(const std::string& user, const std::string& run_id,
                              int64_t ttl_seconds);
  // A build agent's token (`drydock agent token create NAME`): stored as an
  // API token of "agent:NAME" (revoked like one), it names the agent and
  // grants nothing else.
  Result<Token> IssueAgentToken(const std::string& name, int64_t ttl_seconds,
                                const std::string& description = "");
  // Unexpired API tokens of `user` (every user's for ""), without hashes.
  Result<std::vector<storage::ApiTokenRecord>> ListApiTokens(const std::string& user);
  // `who`'s own token, or anyone's for an admin; kNotFound otherwise.
  Status RevokeApiToken(const Identity& who, const std::string& id);

  // Creates the user, or replaces an existing user's password (revoking
  // every token issued before), admin flag and grants.
  Status CreateUser(const std::string& name, const std::string& password, bool admin,
                    const std::vector<storage::Grant>& grants);
  // A disabled user signs in with nothing; disabling revokes their tokens.
  Status SetDisabled(const std::string& name, bool disabled);
  Status DeleteUser(const std::string& name);

  const Options& options() const { return options_; }

 private:
  Result<Identity> VerifyToken(std::string_view jwt);
  // Valid while its row (under "agent:NAME") exists.
  Result<Identity> VerifyAgentToken(std::string_view jwt, const std::string& name,
                                    const std::string& jti);
  // Basic auth: an API token of `user` in place of the password, else the password.
  Result<Identity> BasicLogin(const std::string& user, const std::string& secret,
                              const std::string& client);
  Status Throttled(const std::string& user, const std::string& client);
  const std::string& DummyHash();

  storage::MetadataStore& store_;
  Options options_;
  std::string key_;
  struct CachedLogin {
    std::string fingerprint;  // sha256(user, password)
    int64_t expiry = 0;
    std::string password_hash;  // still the stored one, or the entry is stale
  };
  void ForgetCachedLogin(const std::string& name);
  std::optional<Identity> CachedLoginFor(const std::string& user, const std::string& fingerprint);

  std::mutex mu_;
  std::map<std::string, CachedLogin> login_cache_;
  std::map<std::string, std::shared_ptr<std::mutex>> login_locks_;  // one bcrypt per user at a time
  LoginThrottle throttle_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // bcrypt of nothing anyone sends, for unknown users
};

// Seconds a kTooManyRequests answer of Authenticate or Login asks the
// client to wait (its Retry-After); 0 for any other status.
int64_t RetryAfterSeconds(const Status& status);

// bcrypt via libxcrypt.
Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& password, const std::string& hash);

}  // namespace drydock::auth
