#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "base/random.h"
#include "test_dir.h"

namespace drydock::auth {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    Options o;
    o.anonymous_pull = {"public/*"};
    auth_ = std::make_unique<Authenticator>(*store_, o, "secret-key");
    ASSERT_TRUE(auth_->CreateUser("admin", "admin-password", true, {}).ok());
    ASSERT_TRUE(auth_->CreateUser("reader", "reader-password", false, {{"team/*", "pull"}}).ok());
  }
  TempDir dir_ = testing::MakeTestDir();
  std::unique_ptr<storage::MetadataStore> store_;
  std::unique_ptr<Authenticator> auth_;
};

TEST(Password, BcryptRoundTrip) {
  auto h = HashPassword("correct horse");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$2b$", 0), 0u);
  EXPECT_TRUE(VerifyPassword("correct horse", *h));
  EXPECT_FALSE(VerifyPassword("correct horsE", *h));
}

TEST(Jwt, SignVerifyAndTamper) {
  std::string t = SignJwt(R"({"sub":"x"})", "k1");
  EXPECT_EQ(*VerifyJwt(t, "k1"), R"({"sub":"x"})");
  EXPECT_FALSE(VerifyJwt(t, "k2").ok());
  std::string tampered = t;
  tampered[tampered.find('.') + 2] ^= 1;
  EXPECT_FALSE(VerifyJwt(tampered, "k1").ok());
  EXPECT_FALSE(VerifyJwt("not-a-jwt", "k1").ok());
}

TEST(Patterns, Match) {
  EXPECT_TRUE(PatternMatches("*", "a/b"));
  EXPECT_TRUE(PatternMatches("team/*", "team/app"));
  EXPECT_TRUE(PatternMatches("team/*", "team/a/b"));
  EXPECT_FALSE(PatternMatches("team/*", "teamster/app"));
  EXPECT_FALSE(PatternMatches("team/*", "team"));
  EXPECT_TRUE(PatternMatches("exact", "exact"));
  EXPECT_FALSE(PatternMatches("exact", "exact2"));
}

TEST_F(AuthTest, BasicLogin) {
  auto ok = auth_->Login("admin", "admin-password");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->admin);
  auto bad = auth_->Login("admin", "wrong");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kUnauthenticated);
  EXPECT_FALSE(auth_->Login("nobody", "admin-password").ok());
  // The cache must not let a wrong password through after a right one.
  EXPECT_FALSE(auth_->Login("admin", "admin-passwordX").ok());
}

TEST_F(AuthTest, GrantsAndAnonymousPull) {
  Identity anon;
  EXPECT_EQ(auth_->Allowed(anon, "public/x"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(anon, "private/x"), 0u);
  auto reader = *auth_->Login("reader", "reader-password");
  EXPECT_EQ(auth_->Allowed(reader, "team/app"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(reader, "other/app"), 0u);
  auto admin = *auth_->Login("admin", "admin-password");
  EXPECT_EQ(auth_->Allowed(admin, "anything"), unsigned{kAll});
}

TEST_F(AuthTest, TokenGrantsOnlyTheIntersection) {
  auto reader = *auth_->Login("reader", "reader-password");
  auto token = auth_->IssueToken(reader, {"repository:team/app:pull,push"});
  ASSERT_TRUE(token.ok());
  auto who = auth_->Authenticate("Bearer " + token->jwt);
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->user, "reader");
  EXPECT_EQ(auth_->Allowed(*who, "team/app"), unsigned{kPull});  // push was asked, not granted
  EXPECT_EQ(auth_->Allowed(*who, "team/other"), 0u);             // not in the token's scope

  auto admin = *auth_->Login("admin", "admin-password");
  auto t2 = auth_->IssueToken(admin, {"repository:x:pull repository:y:push"});
  auto who2 = auth_->Authenticate("Bearer " + t2->jwt);
  ASSERT_TRUE(who2.ok());
  EXPECT_EQ(auth_->Allowed(*who2, "x"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(*who2, "y"), unsigned{kPush});
}

TEST_F(AuthTest, TokenFromAnotherKeyIsRejected) {
  Authenticator other(*store_, Options{}, "another-key");
  auto admin = *other.Login("admin", "admin-password");
  auto token = other.IssueToken(admin, {"repository:x:pull"});
  auto who = auth_->Authenticate("Bearer " + token->jwt);
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.status().code(), Code::kUnauthenticated);
}

TEST_F(AuthTest, AuthorizationHeaderParsing) {
  EXPECT_TRUE(auth_->Authenticate("")->anonymous());
  EXPECT_FALSE(auth_->Authenticate("Digest abc").ok());
  EXPECT_FALSE(auth_->Authenticate("Basic !!!").ok());
  auto basic = auth_->Authenticate("Basic YWRtaW46YWRtaW4tcGFzc3dvcmQ=");  // admin:admin-password
  ASSERT_TRUE(basic.ok()) << basic.status().message();
  EXPECT_EQ(basic->user, "admin");
}

TEST_F(AuthTest, ApiTokenAsBearerCarriesTheUsersCurrentRights) {
  auto reader = *auth_->Login("reader", "reader-password");
  auto token = auth_->IssueApiToken(reader);
  ASSERT_TRUE(token.ok()) << token.status().message();
  EXPECT_EQ(token->expires_in, 30 * 24 * 3600);
  auto who = auth_->Authenticate("Bearer " + token->jwt);
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->user, "reader");
  EXPECT_TRUE(who->api_token);
  EXPECT_FALSE(who->token_access.has_value());  // no access list baked in
  EXPECT_EQ(auth_->Allowed(*who, "team/app"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(*who, "team/other"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(*who, "private/x"), 0u);
  // Grants are read at request time: a new grant applies to the old token.
  ASSERT_TRUE(store_->SetGrants("reader", {{"team/*", "pull,push"}}).ok());
  EXPECT_EQ(auth_->Allowed(*auth_->Authenticate("Bearer " + token->jwt), "team/app"),
            unsigned{kPull | kPush});
  EXPECT_FALSE(auth_->IssueApiToken(Identity{}).ok());
}

TEST_F(AuthTest, ApiTokenAsBasicPassword) {
  auto reader = *auth_->Login("reader", "reader-password");
  std::string jwt = auth_->IssueApiToken(reader)->jwt;
  auto who = auth_->Authenticate("Basic " + Base64Encode("reader:" + jwt));
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->user, "reader");
  EXPECT_TRUE(who->api_token);
  EXPECT_EQ(auth_->Allowed(*who, "team/app"), unsigned{kPull});

  // Another user's token is not a password.
  auto wrong_user = auth_->Authenticate("Basic " + Base64Encode("admin:" + jwt));
  ASSERT_FALSE(wrong_user.ok());
  EXPECT_EQ(wrong_user.status().code(), Code::kUnauthenticated);
  // Neither are expired API tokens or short-lived registry tokens.
  std::string expired = auth_->IssueApiToken(reader, -120)->jwt;
  auto old = auth_->Authenticate("Basic " + Base64Encode("reader:" + expired));
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("expired"), std::string::npos);
  EXPECT_FALSE(auth_->Authenticate("Bearer " + expired).ok());
  std::string registry_token = auth_->IssueToken(reader, {"repository:team/app:pull"})->jwt;
  EXPECT_FALSE(auth_->Authenticate("Basic " + Base64Encode("reader:" + registry_token)).ok());
  // A token signed with another key is refused.
  Authenticator other(*store_, Options{}, "another-key");
  std::string forged = other.IssueApiToken(reader)->jwt;
  EXPECT_FALSE(auth_->Authenticate("Basic " + Base64Encode("reader:" + forged)).ok());
  // Passwords keep working.
  EXPECT_TRUE(auth_->Authenticate("Basic " + Base64Encode("reader:reader-password")).ok());
}

// Issue 13: a run's credential stands for the run: the user's rights, the
// run as the actor (also in registry tokens derived from it), and only
// while the run is Started or Running.
TEST_F(AuthTest, RunTokensActForTheRunWhileItRuns) {
  auto created = store_->CreateRun("", [](int64_t seq) {
    storage::RunRow r;
    r.id = "ca" + std::to_string(seq);
    r.status = "Queued";
    r.type = "QuickBuild";
    r.request_json = "{}";
    return r;
  });
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(store_->ClaimRun({"a", "", {}}, 0, 1'000'000'000'000).ok());
  std::string jwt = auth_->IssueRunToken("reader", "ca1", 3600)->jwt;
  auto who = auth_->Authenticate("Basic " + Base64Encode("reader:" + jwt));
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->user, "reader");
  EXPECT_EQ(who->run, "ca1");
  EXPECT_EQ(who->Actor(), "run:ca1");
  EXPECT_EQ(auth_->Allowed(*who, "team/app"), unsigned{kPull});  // the user's rights, no more
  EXPECT_FALSE(auth_->Authenticate("Basic " + Base64Encode("admin:" + jwt)).ok());
  auto bearer = auth_->Authenticate("Bearer " + jwt);
  ASSERT_TRUE(bearer.ok());
  EXPECT_EQ(bearer->Actor(), "run:ca1");
  std::string derived = auth_->IssueToken(*who, {"repository:team/app:pull"})->jwt;
  EXPECT_EQ(auth_->Authenticate("Bearer " + derived)->Actor(), "run:ca1");
  EXPECT_EQ(auth_->Login("reader", "reader-password")->Actor(), "user:reader");
  EXPECT_EQ(Identity{}.Actor(), "anonymous");

  storage::RunRow done = *store_->GetRun("ca1");
  done.status = "Succeeded";
  ASSERT_TRUE(*store_->UpdateClaimedRun(done, 1));
  auto after = auth_->Authenticate("Bearer " + jwt);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().message(), "the token of run ca1 ended with the run");
  EXPECT_FALSE(auth_->Authenticate("Bearer " + derived).ok());
  EXPECT_FALSE(
      auth_->Authenticate("Bearer " + auth_->IssueRunToken("reader", "ca9", 60)->jwt).ok());
}

TEST_F(AuthTest, RegistryTokenFromAnApiTokenIsScoped) {
  // docker login -u USER -p TOKEN: the token endpoint sees Basic user:token.
  auto reader = *auth_->Login("reader", "reader-password");
  std::string jwt = auth_->IssueApiToken(reader)->jwt;
  auto via_token = auth_->Authenticate("Basic " + Base64Encode("reader:" + jwt));
  ASSERT_TRUE(via_token.ok());
  auto scoped = auth_->IssueToken(*via_token, {"repository:team/app:pull,push"});
  ASSERT_TRUE(scoped.ok());
  auto who = auth_->Authenticate("Bearer " + scoped->jwt);
  ASSERT_TRUE(who.ok());
  EXPECT_FALSE(who->api_token);
  EXPECT_EQ(auth_->Allowed(*who, "team/app"), unsigned{kPull});
  EXPECT_EQ(auth_->Allowed(*who, "team/other"), 0u);
}

}  // namespace
}  // namespace drydock::auth

namespace drydock::auth {
namespace {

std::string Bearer(const std::string& jwt) { return "Bearer " + jwt; }

// Issue 12: a password change, disabling or deleting a user and `token
// revoke` each end every matching token at once; only hashes are stored.
TEST_F(AuthTest, TokensAreRevokedByPasswordChangeDisableDeleteAndRevoke) {
  auto reader = auth_->Login("reader", "reader-password");
  ASSERT_TRUE(reader.ok());
  auto api = auth_->IssueApiToken(*reader, kApiTokenTtlSeconds, "laptop");
  auto registry = auth_->IssueToken(*reader, {"repository:team/a:pull"});
  ASSERT_TRUE(api.ok() && registry.ok());
  EXPECT_TRUE(auth_->Authenticate(Bearer(api->jwt)).ok());
  auto rows = store_->ListApiTokens("reader");
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->at(0).id, api->id);
  EXPECT_EQ(rows->at(0).description, "laptop");
  EXPECT_EQ(rows->at(0).secret_hash.find(api->jwt), std::string::npos);
  EXPECT_EQ(api->jwt.find(rows->at(0).secret_hash), std::string::npos);

  // Revoke: by its owner only (someone else's token is "not found").
  auto admin = auth_->Login("admin", "admin-password");
  ASSERT_TRUE(auth_->CreateUser("other", "other-password", false, {}).ok());
  auto other = auth_->Login("other", "other-password");
  EXPECT_EQ(auth_->RevokeApiToken(*other, api->id).code(), Code::kNotFound);
  ASSERT_TRUE(auth_->RevokeApiToken(*reader, api->id).ok());
  auto revoked = auth_->Authenticate(Bearer(api->jwt));
  ASSERT_FALSE(revoked.ok());
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);

  // A new password: API and registry tokens issued before stop working.
  auto api2 = auth_->IssueApiToken(*reader);
  ASSERT_TRUE(api2.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // iat has 1 s resolution
  ASSERT_TRUE(auth_->CreateUser("reader", "new-password", false, {{"team/*", "pull"}}).ok());
  EXPECT_FALSE(auth_->Authenticate(Bearer(api2->jwt)).ok());
  auto old_registry = auth_->Authenticate(Bearer(registry->jwt));
  ASSERT_FALSE(old_registry.ok());
  EXPECT_NE(old_registry.status().message().find("sign in again"), std::string::npos);
  EXPECT_FALSE(auth_->Login("reader", "reader-password").ok());
  auto relogin = auth_->Login("reader", "new-password");
  ASSERT_TRUE(relogin.ok());

  // Disable: the password (even cached), new tokens and old ones all fail.
  auto api3 = auth_->IssueApiToken(*relogin);
  ASSERT_TRUE(api3.ok());
  ASSERT_TRUE(auth_->SetDisabled("reader", true).ok());
  auto disabled = auth_->Login("reader", "new-password");
  ASSERT_FALSE(disabled.ok());
  EXPECT_NE(disabled.status().message().find("disabled"), std::string::npos);
  EXPECT_FALSE(auth_->Authenticate(Bearer(api3->jwt)).ok());
  ASSERT_TRUE(auth_->SetDisabled("reader", false).ok());
  EXPECT_TRUE(auth_->Login("reader", "new-password").ok());
  EXPECT_FALSE(auth_->Authenticate(Bearer(api3->jwt)).ok());  // not brought back

  // Delete: gone, with the admin's tokens untouched.
  auto admin_token = auth_->IssueApiToken(*admin);
  auto api4 = auth_->IssueApiToken(*auth_->Login("reader", "new-password"));
  ASSERT_TRUE(auth_->DeleteUser("reader").ok());
  EXPECT_FALSE(auth_->Authenticate(Bearer(api4->jwt)).ok());
  EXPECT_FALSE(auth_->Login("reader", "new-password").ok());
  EXPECT_TRUE(auth_->Authenticate(Bearer(admin_token->jwt)).ok());
  EXPECT_EQ(auth_->DeleteUser("reader").code(), Code::kNotFound);
}

// A token signed with the server's key but never stored (as every API token
// was before tokens became revocable) is refused.
TEST_F(AuthTest, AnUnstoredApiTokenIsRefused) {
  auto api = auth_->IssueApiToken(*auth_->Login("reader", "reader-password"));
  ASSERT_TRUE(api.ok());
  ASSERT_TRUE(store_->DeleteApiToken(api->id).ok());
  EXPECT_FALSE(auth_->Authenticate(Bearer(api->jwt)).ok());
}

// Issue 12: failed sign-ins are throttled per user and per address, with
// the wait to tell the client; a success resets the user's count.
TEST_F(AuthTest, FailedSignInsAreThrottled) {
  Options o;
  o.max_failed_logins_per_user = 3;
  o.max_failed_logins_per_address = 5;
  Authenticator a(*store_, o, "secret-key");
  for (int i = 0; i < 3; ++i) {
    auto bad = a.Login("reader", "wrong", "10.0.0.1");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), Code::kUnauthenticated);
  }
  auto blocked = a.Login("reader", "reader-password", "10.0.0.2");
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), Code::kTooManyRequests);
  EXPECT_GT(RetryAfterSeconds(blocked.status()), 0);
  EXPECT_LE(RetryAfterSeconds(blocked.status()), 300);
  EXPECT_TRUE(a.Login("admin", "admin-password", "10.0.0.2").ok());
  // The address: two more failures for other users reach its limit of 5.
  EXPECT_FALSE(a.Login("nobody", "x", "10.0.0.1").ok());
  EXPECT_FALSE(a.Login("admin", "x", "10.0.0.1").ok());
  auto by_address = a.Login("admin", "admin-password", "10.0.0.1");
  ASSERT_FALSE(by_address.ok());
  EXPECT_EQ(by_address.status().code(), Code::kTooManyRequests);
  EXPECT_NE(by_address.status().message().find("10.0.0.1"), std::string::npos);
  EXPECT_TRUE(a.Login("admin", "admin-password", "10.0.0.3").ok());
}

// Issue 12: an unknown user costs a bcrypt like a wrong password does, so
// the answer's timing does not tell who exists.
TEST_F(AuthTest, UnknownUsersCostABcryptToo) {
  auto time = [&](const std::string& user) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(auth_->Login(user, "wrong-" + std::to_string(i)).ok());
    return std::chrono::steady_clock::now() - start;
  };
  (void)time("reader");  // the dummy hash is made once, on first use
  auto known = time("reader");
  auto unknown = time("nobody-" + RandomHex(4));
  EXPECT_GT(unknown * 2, known) << "unknown " << unknown.count() << " known " << known.count();
  EXPECT_GT(known * 2, unknown) << "unknown " << unknown.count() << " known " << known.count();
}

}  // namespace
}  // namespace drydock::auth
