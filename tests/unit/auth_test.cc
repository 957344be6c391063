#include <gtest/gtest.h>

#include "auth/auth.h"
#include "auth/jwt.h"
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
