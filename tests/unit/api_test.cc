// The REST API's request validation and run records (api/run_json.h).
#include <gtest/gtest.h>

#include "api/run_json.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr char kHost[] = "127.0.0.1:5000";

Result<tasks::RunRequest> Parse(const char* text) {
  return ParseRunRequest(json::parse(text), kHost);
}

TEST(ApiQualifyImage, PrependsTheRegistryLikeDocker) {
  EXPECT_EQ(QualifyImage("app", kHost), "127.0.0.1:5000/app");
  EXPECT_EQ(QualifyImage("team/app:1", kHost), "127.0.0.1:5000/team/app:1");
  EXPECT_EQ(QualifyImage("team/app:{{.Run.ID}}", kHost), "127.0.0.1:5000/team/app:{{.Run.ID}}");
  EXPECT_EQ(QualifyImage("registry.example.com/team/app", kHost), "registry.example.com/team/app");
  EXPECT_EQ(QualifyImage("other:5001/app", kHost), "other:5001/app");
  EXPECT_EQ(QualifyImage("localhost/app", kHost), "localhost/app");
}

TEST(ApiRunRequest, DefaultsAndFields) {
  auto r = Parse(R"({"source": "context:abc", "images": ["team/app:{{.Run.ID}}"],
                    "buildArgs": [{"name": "A", "value": "1"},
                                  {"name": "S", "value": "x", "isSecret": true}],
                    "noPush": true, "noCache": true, "timeout": 600, "gitToken": "t",
                    "target": "final", "platform": "linux/arm64/v8"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->type, "QuickBuild");
  EXPECT_EQ(r->dockerfile, "Dockerfile");
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0], "127.0.0.1:5000/team/app:{{.Run.ID}}");
  ASSERT_EQ(r->build_args.size(), 2u);
  EXPECT_FALSE(r->build_args[0].secret);
  EXPECT_TRUE(r->build_args[1].secret);
  EXPECT_FALSE(r->push);
  EXPECT_TRUE(r->no_cache);
  EXPECT_EQ(r->timeout_seconds, 600);
  EXPECT_EQ(r->git_token, "t");
  EXPECT_EQ(r->target, "final");
  EXPECT_EQ(r->platform, "linux/arm64/v8");

  auto d = Parse(R"({"source": "/dev/null"})");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->push);
  EXPECT_EQ(d->timeout_seconds, 3600);
  EXPECT_EQ(d->platform, "linux/amd64");
}

TEST(ApiRunRequest, RejectsBadInput) {
  for (const char* body : {
           R"([])",
           R"({})",
           R"({"source": ""})",
           R"({"source": 5})",
           R"({"source": "/dev/null", "type": "AutoBuild"})",
           R"({"source": "/dev/null", "timeout": "600"})",
           R"({"source": "/dev/null", "images": "team/app"})",
           R"({"source": "/dev/null", "images": ["Team/App"]})",
           R"({"source": "/dev/null", "images": ["team/app@sha256:)"
           R"(0000000000000000000000000000000000000000000000000000000000000000"]})",
           R"({"source": "/dev/null", "images": [""]})",
           // (Names are the run service's rule, tasks::CheckNames: api_runs.sh.)
           R"({"source": "/dev/null", "buildArgs": [{"name": 5, "value": "x"}]})",
           R"({"source": "/dev/null", "buildArgs": {"A": "1"}})",
           R"({"source": "/dev/null", "noPush": "true"})",
           R"({"source": "/dev/null", "platform": "linux"})",
       }) {
    auto r = Parse(body);
    EXPECT_FALSE(r.ok()) << body;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalid) << body;
    }
  }
}

TEST(ApiRunRecord, FieldsAndNoSecrets) {
  tasks::Run run;
  run.id = "ca1";
  run.status = tasks::RunStatus::kSucceeded;
  run.request.platform = "linux/arm64/v8";
  run.request.build_args = {{"S", "secret-value", true}};
  run.request.git_token = "git-token-value";
  run.create_time_ms = 1'700'000'000'000;
  run.start_time_ms = 1'700'000'001'500;
  run.output_images = {{"127.0.0.1:5000", "team/app", "ca1", "sha256:abc"}};
  run.dependencies_json = R"([{"type": "BuildTime"}])";
  run.source = {"https://example.com/repo.git", "0123abc", "main"};
  json j = RunToJson(run);
  EXPECT_EQ(j["runId"], "ca1");
  EXPECT_EQ(j["status"], "Succeeded");
  EXPECT_EQ(j["runType"], "QuickBuild");
  EXPECT_EQ(j["createTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(j["startTime"], "2023-11-14T22:13:21Z");
  EXPECT_FALSE(j.contains("finishTime"));
  EXPECT_EQ(j["platform"], (json{{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}));
  EXPECT_EQ(j["outputImages"][0]["digest"], "sha256:abc");
  EXPECT_EQ(j["dependencies"][0]["type"], "BuildTime");
  EXPECT_EQ(j["source"]["commit"], "0123abc");
  std::string text = j.dump();
  EXPECT_EQ(text.find("secret-value"), std::string::npos);
  EXPECT_EQ(text.find("git-token-value"), std::string::npos);
}

}  // namespace
}  // namespace drydock::api
