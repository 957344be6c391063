// Tasks as JSON: what the API shows, what a PATCH may change, and what
// never leaves the server.
#include <gtest/gtest.h>

#include "tasks/task_service.h"

namespace drydock::tasks {
namespace {

Task Sample() {
  Task t;
  t.name = "app";
  t.source = "https://git.example.com/app.git#main";
  t.images = {"r:5000/app:1"};
  t.build_args = {{"VERSION", "1.0", false}, {"TOKEN", "s3cret-arg", true}};
  t.git_token = "s3cret-git";
  t.credentials = {{"registry.example.com", "u", "s3cret-pw"}};
  t.timers = {{"nightly", "0 3 * * *", true}};
  t.webhook_secret = "hook";
  t.trusted_base_keys = {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"};
  return t;
}

TEST(TaskJsonTest, WithoutSecretsNoSecretLeaves) {
  std::string shown = TaskToJson(Sample(), false);
  for (const char* secret : {"s3cret-arg", "s3cret-git", "s3cret-pw"})
    EXPECT_EQ(shown.find(secret), std::string::npos) << secret << " in " << shown;
  EXPECT_NE(shown.find("\"TOKEN\""), std::string::npos) << "the secret arg's name stays";
  auto back = TaskFromJson(TaskToJson(Sample(), true));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->git_token, "s3cret-git");
  EXPECT_EQ(back->build_args[1].value, "s3cret-arg");
  EXPECT_EQ(back->credentials[0].password, "s3cret-pw");
  EXPECT_EQ(back->timers[0].schedule, "0 3 * * *");
  EXPECT_EQ(back->trusted_base_keys, Sample().trusted_base_keys);
  EXPECT_NE(shown.find("trustedBaseKeys"), std::string::npos) << "public keys are shown";
}

TEST(TaskJsonTest, PatchChangesOnlyWhatItNamesAndKeepsUnrepeatedSecrets) {
  // A client edits what it was shown (no secret values) and sends it back.
  auto patched = PatchTask(Sample(), R"({
    "status": "Disabled",
    "arguments": [{"name": "VERSION", "value": "2.0"}, {"name": "TOKEN", "isSecret": true}],
    "credentials": [{"loginServer": "registry.example.com", "username": "v"}],
    "timers": null
  })");
  ASSERT_TRUE(patched.ok()) << patched.status().message();
  EXPECT_FALSE(patched->enabled);
  EXPECT_EQ(patched->build_args[0].value, "2.0");
  EXPECT_EQ(patched->build_args[1].value, "s3cret-arg");
  EXPECT_EQ(patched->credentials[0].username, "v");
  EXPECT_EQ(patched->credentials[0].password, "s3cret-pw");
  EXPECT_TRUE(patched->timers.empty());
  EXPECT_EQ(patched->source, Sample().source);
  EXPECT_EQ(patched->git_token, "s3cret-git");
}

TEST(TaskJsonTest, TypeErrorsNameTheField) {
  auto bad = TaskFromJson(R"({"name": "x", "timeout": "600"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'timeout'"), std::string::npos) << bad.status().message();
  bad = TaskFromJson(R"({"name": "x", "timers": [{"schedule": 5}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("timers[].schedule"), std::string::npos)
      << bad.status().message();
  bad = TaskFromJson(R"({"name": "x", "status": "Paused"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Enabled or Disabled"), std::string::npos);
  EXPECT_FALSE(TaskFromJson("not json").ok());
  EXPECT_FALSE(PatchTask(Sample(), "[1]").ok());
}

}  // namespace
}  // namespace drydock::tasks
