// The whole pipeline a task file goes through before it runs: $aliases,
// the template with run variables and values, the YAML model.
#include <gtest/gtest.h>

#include "steps/steps.h"

namespace drydock::steps {
namespace {

RenderInput Input() {
  RenderInput in;
  in.run.id = "ca7";
  in.run.registry = "127.0.0.1:5000";
  in.run.commit = "abc123";
  in.run.branch = "main";
  in.run.time = 1796040000;  // 2026-11-30 12:00:00 UTC
  in.aliases.images = {{"bash", "127.0.0.1:5000/tools/bash:1"}};
  return in;
}

TEST(RenderTest, AliasesRunVariablesAndValuesMeetInOneFile) {
  RenderInput in = Input();
  auto values = MergeValues("tag: v1\nimage:\n  name: web\n", {"tag=v2", "image.port=8080"});
  ASSERT_TRUE(values.ok()) << values.status().message();
  in.values = *values;
  const char* text = R"(version: v1.1.0
steps:
  - id: build
    build: -t $Registry/{{.Values.image.name}}:$ID --build-arg PORT={{.Values.image.port}} .
  - cmd: bash echo {{.Run.Date}} {{.Values.missing | default "none"}} $Branch
  - push: ["$Registry/{{.Values.image.name}}:{{.Values.tag}}"]
)";
  auto rendered = RenderTaskFile(text, in);
  ASSERT_TRUE(rendered.ok()) << rendered.status().message();
  auto task = ParseTaskFile(*rendered);
  ASSERT_TRUE(task.ok()) << task.status().message() << "\n" << *rendered;
  ASSERT_EQ(task->steps.size(), 3u);
  EXPECT_EQ(task->steps[0].build_args, (std::vector<std::string>{"-t", "127.0.0.1:5000/web:ca7",
                                                                 "--build-arg", "PORT=8080", "."}));
  EXPECT_EQ(task->steps[1].cmd_args,
            (std::vector<std::string>{"127.0.0.1:5000/tools/bash:1", "echo", "20261130-120000z",
                                      "none", "main"}));
  EXPECT_EQ(task->steps[1].when, std::vector<std::string>{"build"});
  EXPECT_EQ(task->steps[2].push, std::vector<std::string>{"127.0.0.1:5000/web:v2"});
  std::string graph = DescribeSteps(*task);
  EXPECT_NE(graph.find("- acb_step_1 (cmd, timeout 600s): after build"), std::string::npos)
      << graph;
  EXPECT_NE(graph.find("- build (build, timeout 600s): starts at once"), std::string::npos)
      << graph;
}

TEST(RenderTest, SecretsRenderButAreMaskedForPrinting) {
  RenderInput in = Input();
  in.secrets = {{"pw", "hunter2-secret"}};
  auto rendered = RenderTaskFile("steps:\n  - cmd: bash -c 'login {{.Secrets.pw}}'\n", in);
  ASSERT_TRUE(rendered.ok()) << rendered.status().message();
  EXPECT_NE(rendered->find("hunter2-secret"), std::string::npos);
  std::string shown = MaskSecrets(*rendered, in.secrets);
  EXPECT_EQ(shown.find("hunter2-secret"), std::string::npos);
  EXPECT_NE(shown.find("login ***"), std::string::npos) << shown;
}

TEST(RenderTest, ErrorsNameTheFileLineAndWhatIsWrong) {
  RenderInput in = Input();
  in.file_name = "acb.yaml";
  auto bad_template = LoadTaskFile("steps:\n  - cmd: {{ .Values.x | uper }}\n", in);
  ASSERT_FALSE(bad_template.ok());
  EXPECT_EQ(bad_template.status().message().rfind("acb.yaml:2:", 0), 0u)
      << bad_template.status().message();
  auto bad_yaml = LoadTaskFile("steps:\n  - cmd: x\n    timout: 5\n", in);
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_NE(bad_yaml.status().message().find("acb.yaml:3:"), std::string::npos)
      << bad_yaml.status().message();
  EXPECT_NE(bad_yaml.status().message().find("timout"), std::string::npos);
  EXPECT_FALSE(MergeValues("- a\n- b\n", {}).ok());
  EXPECT_FALSE(MergeValues("", {"novalue"}).ok());
  EXPECT_FALSE(MergeValues("", {"a..b=1"}).ok());
}

}  // namespace
}  // namespace drydock::steps
