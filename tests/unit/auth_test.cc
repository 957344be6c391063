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

}  // namespace
}  // namespace drydock::auth
