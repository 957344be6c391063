#include "steps/task_file.h"
#include "steps/steps.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "steps/alias.h"

namespace drydock::steps {
namespace {

using Strings = std::vector<std::string>;

TaskFile MustParse(std::string_view yaml) {
  auto task = ParseTaskFile(yaml);
  EXPECT_TRUE(task.ok()) << task.status().message();
  return task.ok() ? std::move(*task) : TaskFile{};
}

std::string ParseError(std::string_view yaml) {
  auto task = ParseTaskFile(yaml);
  EXPECT_FALSE(task.ok()) << yaml;
  if (task.ok()) return "";
  EXPECT_EQ(task.status().code(), Code::kInvalid);
  return task.status().message();
}

Strings Split(std::string_view text) {
  auto words = SplitShellWords(text);
  EXPECT_TRUE(words.ok()) << text << ": " << words.status().message();
  return words.ok() ? *words : Strings{"<error>"};
}

AliasOptions TestOptions() {
  AliasOptions options;
  options.images = {{"bash", "r:5000/tools/bash:1"},
                    {"curl", "r:5000/tools/curl:1"},
                    {"az", "r:5000/tools/az:1"},
                    {"acr", "r:5000/tools/acr:1"}};
  return options;
}

std::string Preprocess(std::string_view yaml, const AliasOptions& options = TestOptions()) {
  auto out = PreprocessAliases(yaml, options);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? *out : "<error>";
}

std::string PreprocessError(std::string_view yaml, const AliasOptions& options = TestOptions()) {
  auto out = PreprocessAliases(yaml, options);
  EXPECT_FALSE(out.ok()) << (out.ok() ? *out : "");
  return out.ok() ? "" : out.status().message();
}

// --- ACR samples ---

TEST(TaskFileTest, BuildAndPushSample) {
  TaskFile task = MustParse(R"(version: v1.1.0
steps:
  - build: -t r.example/hello-world:cf1 -f Dockerfile .
  - push:
    - r.example/hello-world:cf1
)");
  EXPECT_EQ(task.version, "v1.1.0");
  ASSERT_EQ(task.steps.size(), 2u);
  const Step& build = task.steps[0];
  EXPECT_EQ(build.id, "acb_step_0");
  EXPECT_EQ(build.kind, Step::Kind::kBuild);
  EXPECT_EQ(build.build, "-t r.example/hello-world:cf1 -f Dockerfile .");
  EXPECT_EQ(build.build_args,
            (Strings{"-t", "r.example/hello-world:cf1", "-f", "Dockerfile", "."}));
  EXPECT_TRUE(build.when.empty());
  EXPECT_EQ(build.line, 3);
  const Step& push = task.steps[1];
  EXPECT_EQ(push.id, "acb_step_1");
  EXPECT_EQ(push.kind, Step::Kind::kPush);
  EXPECT_EQ(push.push, Strings{"r.example/hello-world:cf1"});
  EXPECT_EQ(push.when, Strings{"acb_step_0"});
  EXPECT_EQ(push.line, 4);
}

TEST(TaskFileTest, DetachedServiceTestedByHostNameSample) {
  TaskFile task = MustParse(R"(version: v1.1.0
steps:
  - id: build
    build: -t r.example/hello-world:1 .
  - id: hello
    cmd: r.example/hello-world:1
    detach: true
    ports: ["8080:80"]
  - id: test
    cmd: r.example/curl:1 --fail http://hello:80
  - id: push
    push: ["r.example/hello-world:1"]
)");
  ASSERT_EQ(task.steps.size(), 4u);
  EXPECT_EQ(task.steps[0].id, "build");
  EXPECT_TRUE(task.steps[0].when.empty());
  EXPECT_EQ(task.steps[1].id, "hello");
  EXPECT_EQ(task.steps[1].kind, Step::Kind::kCmd);
  EXPECT_TRUE(task.steps[1].detach);
  EXPECT_EQ(task.steps[1].ports, Strings{"8080:80"});
  EXPECT_EQ(task.steps[1].cmd_args, Strings{"r.example/hello-world:1"});
  EXPECT_EQ(task.steps[1].when, Strings{"build"});
  EXPECT_EQ(task.steps[2].cmd_args, (Strings{"r.example/curl:1", "--fail", "http://hello:80"}));
  EXPECT_EQ(task.steps[2].when, Strings{"hello"});
  EXPECT_EQ(task.steps[3].when, Strings{"test"});
}

TEST(TaskFileTest, ParallelBuildsSample) {
  TaskFile task = MustParse(R"(version: v1.1.0
steps:
  - id: build-web
    build: -t r.example/web:1 -f web/Dockerfile web
    when: ["-"]
  - id: build-api
    build: -t r.example/api:1 -f api/Dockerfile api
    when: ["-"]
  - id: push
    push: [r.example/web:1, r.example/api:1]
    when: [build-web, build-api, build-web]
  - cmd: r.example/web:1 selftest
)");
  ASSERT_EQ(task.steps.size(), 4u);
  EXPECT_TRUE(task.steps[0].when.empty());
  EXPECT_TRUE(task.steps[1].when.empty());
  EXPECT_EQ(task.steps[2].when, (Strings{"build-web", "build-api"}));  // de-duplicated
  EXPECT_EQ(task.steps[3].id, "acb_step_3");
  EXPECT_EQ(task.steps[3].when, Strings{"push"});
}

// --- Defaults ---

TEST(TaskFileTest, Defaults) {
  TaskFile task = MustParse("steps:\n  - cmd: r/img\n");
  EXPECT_EQ(task.version, "v1.0.0");
  EXPECT_EQ(task.step_timeout, 600);
  EXPECT_EQ(task.working_directory, "/workspace");
  EXPECT_TRUE(task.env.empty());
  EXPECT_TRUE(task.secrets.empty());
  EXPECT_TRUE(task.networks.empty());
  EXPECT_TRUE(task.volumes.empty());
  ASSERT_EQ(task.steps.size(), 1u);
  const Step& s = task.steps[0];
  EXPECT_EQ(s.id, "acb_step_0");
  EXPECT_EQ(s.kind, Step::Kind::kCmd);
  EXPECT_TRUE(s.when.empty());
  EXPECT_EQ(s.timeout, 600);
  EXPECT_EQ(s.start_delay, 0);
  EXPECT_EQ(s.retries, 0);
  EXPECT_EQ(s.retry_delay, 5);
  EXPECT_EQ(s.repeat, 0);
  EXPECT_TRUE(s.retry_on_errors.empty());
  EXPECT_FALSE(s.ignore_errors || s.detach || s.keep || s.privileged || s.pull ||
               s.disable_working_directory_override);
  EXPECT_EQ(s.user, "");
  EXPECT_EQ(s.entry_point, "");
  EXPECT_EQ(s.network, "");
  EXPECT_EQ(s.cache, "");
  EXPECT_EQ(s.working_directory, "/workspace");
  EXPECT_TRUE(s.env.empty() && s.expose.empty() && s.ports.empty() && s.volume_mounts.empty());
  EXPECT_EQ(s.line, 2);
}

TEST(TaskFileTest, TimeoutsAndRetryDelay) {
  TaskFile task = MustParse(R"(stepTimeout: 120
steps:
  - cmd: a
  - cmd: b
    timeout: 30
    retryDelay: 7
  - cmd: c
    timeout: 0
    retryDelay: 0
  - cmd: d
    timeout: -4
    retryDelay: -3
)");
  EXPECT_EQ(task.step_timeout, 120);
  EXPECT_EQ(task.steps[0].timeout, 120);
  EXPECT_EQ(task.steps[1].timeout, 30);
  EXPECT_EQ(task.steps[1].retry_delay, 7);
  EXPECT_EQ(task.steps[2].timeout, 120);
  EXPECT_EQ(task.steps[2].retry_delay, 5);
  EXPECT_EQ(task.steps[3].timeout, 120);
  EXPECT_EQ(task.steps[3].retry_delay, 5);

  EXPECT_EQ(MustParse("stepTimeout: 0\nsteps: [{cmd: a}]").step_timeout, 600);
  TaskFile negative = MustParse("stepTimeout: -1\nsteps: [{cmd: a}]");
  EXPECT_EQ(negative.step_timeout, 600);
  EXPECT_EQ(negative.steps[0].timeout, 600);
}

TEST(TaskFileTest, WorkingDirectories) {
  TaskFile task = MustParse(R"(workingDirectory: /src
steps:
  - cmd: a
  - cmd: b
    workingDirectory: app/web
  - cmd: c
    workingDirectory: /abs
  - cmd: d
    workingDirectory: ./x/../y/
)");
  EXPECT_EQ(task.working_directory, "/src");
  EXPECT_EQ(task.steps[0].working_directory, "/src");
  EXPECT_EQ(task.steps[1].working_directory, "/src/app/web");
  EXPECT_EQ(task.steps[2].working_directory, "/abs");
  EXPECT_EQ(task.steps[3].working_directory, "/src/y");

  TaskFile relative = MustParse("workingDirectory: proj\nsteps: [{cmd: a, workingDirectory: sub}]");
  EXPECT_EQ(relative.working_directory, "/workspace/proj");
  EXPECT_EQ(relative.steps[0].working_directory, "/workspace/proj/sub");
}

TEST(TaskFileTest, EnvIsKeptWholeAndMerged) {
  TaskFile task = MustParse(R"(env:
  - A=1,2
  - B=task
  - EMPTY=
steps:
  - cmd: a
    env: ["B=step", "C=x=y"]
  - push: [r/i]
)");
  EXPECT_EQ(task.env, (Strings{"A=1,2", "B=task", "EMPTY="}));
  EXPECT_EQ(task.steps[0].env, (Strings{"B=step", "C=x=y", "A=1,2", "EMPTY="}));
  EXPECT_EQ(task.steps[1].env, (Strings{"A=1,2", "B=task", "EMPTY="}));
}

TEST(TaskFileTest, EveryStepProperty) {
  TaskFile task = MustParse(R"(version: V1.1.0
secrets:
  - id: pw
    keyvault: https://v.vault.azure.net/secrets/pw
    clientID: 01234567-89ab-cdef-0123-456789abcdef
networks:
  - name: net1
  - name: net2
    driver: overlay
    ipv6: true
    skipCreation: yes
    isDefault: true
volumes:
  - name: my-vol_1
    secret:
      a.txt: aGk=
steps:
  - id: run
    cmd: r/img --flag "two words"
    timeout: 10
    startDelay: 2
    retries: 3
    retryDelay: 4
    retryOnErrors: ["connection reset", "503"]
    repeat: 1
    ignoreErrors: true
    keep: true
    detach: false
    privileged: true
    pull: true
    disableWorkingDirectoryOverride: true
    user: 1000
    entryPoint: /bin/sh
    network: net1
    isolation: default
    cpus: "2"
    cmdDownloadRetries: 2
    cmdDownloadRetryDelay: 3
    expose: ["80"]
    ports: ["8080:80"]
    exitedWith: [0, 1]
    volumeMounts:
      - name: my-vol_1
        mountPath: /run/secrets
  - id: b
    build: .
    cache: Enabled
)");
  EXPECT_EQ(task.version, "v1.1.0");
  ASSERT_EQ(task.secrets.size(), 1u);
  EXPECT_EQ(task.secrets[0].id, "pw");
  EXPECT_EQ(task.secrets[0].keyvault, "https://v.vault.azure.net/secrets/pw");
  EXPECT_EQ(task.secrets[0].client_id, "01234567-89ab-cdef-0123-456789abcdef");
  ASSERT_EQ(task.networks.size(), 2u);
  EXPECT_EQ(task.networks[0].driver, "bridge");
  EXPECT_FALSE(task.networks[0].ipv6 || task.networks[0].is_default);
  EXPECT_EQ(task.networks[1].driver, "overlay");
  EXPECT_TRUE(task.networks[1].ipv6 && task.networks[1].skip_creation &&
              task.networks[1].is_default);
  ASSERT_EQ(task.volumes.size(), 1u);
  EXPECT_EQ(task.volumes[0].name, "my-vol_1");
  EXPECT_EQ(task.volumes[0].secret, (std::map<std::string, std::string>{{"a.txt", "aGk="}}));

  const Step& s = task.steps[0];
  EXPECT_EQ(s.cmd_args, (Strings{"r/img", "--flag", "two words"}));
  EXPECT_EQ(s.timeout, 10);
  EXPECT_EQ(s.start_delay, 2);
  EXPECT_EQ(s.retries, 3);
  EXPECT_EQ(s.retry_delay, 4);
  EXPECT_EQ(s.retry_on_errors, (Strings{"connection reset", "503"}));
  EXPECT_EQ(s.repeat, 1);
  EXPECT_TRUE(s.ignore_errors && s.keep && s.privileged && s.pull &&
              s.disable_working_directory_override);
  EXPECT_FALSE(s.detach);
  EXPECT_EQ(s.user, "1000");
  EXPECT_EQ(s.entry_point, "/bin/sh");
  EXPECT_EQ(s.network, "net1");
  EXPECT_EQ(s.isolation, "default");
  EXPECT_EQ(s.cpus, "2");
  EXPECT_EQ(s.cmd_download_retries, 2);
  EXPECT_EQ(s.cmd_download_retry_delay, 3);
  EXPECT_EQ(s.expose, Strings{"80"});
  EXPECT_EQ(s.ports, Strings{"8080:80"});
  ASSERT_EQ(s.volume_mounts.size(), 1u);
  EXPECT_EQ(s.volume_mounts[0].name, "my-vol_1");
  EXPECT_EQ(s.volume_mounts[0].mount_path, "/run/secrets");
  EXPECT_EQ(task.steps[1].cache, "enabled");
  EXPECT_EQ(task.steps[1].build_args, Strings{"."});
}

TEST(TaskFileTest, OtherVersionsAndMergeKeys) {
  EXPECT_EQ(MustParse("version: 1.0-preview-1\nsteps: [{cmd: a}]").version, "1.0-preview-1");
  TaskFile task = MustParse(R"(steps:
  - &base
    cmd: r/img test
    retries: 2
    env: [A=1]
  - <<: *base
    id: second
    retries: 4
)");
  ASSERT_EQ(task.steps.size(), 2u);
  EXPECT_EQ(task.steps[1].id, "second");
  EXPECT_EQ(task.steps[1].cmd, "r/img test");
  EXPECT_EQ(task.steps[1].retries, 4);  // explicit keys win over merged ones
  EXPECT_EQ(task.steps[1].env, Strings{"A=1"});
  EXPECT_EQ(task.steps[1].when, Strings{"acb_step_0"});
}

TEST(TaskFileTest, AcbRootInWhenIsTheRoot) {
  TaskFile task = MustParse("steps:\n  - cmd: a\n  - cmd: b\n    when: [acb_root]\n");
  EXPECT_TRUE(task.steps[1].when.empty());
}

// --- Shell splitting ---

TEST(TaskFileTest, BuildArgsUseShellQuoting) {
  TaskFile task = MustParse(
      R"(steps:
  - build: -t $Registry/app:1 -f "My Dockerfile" --build-arg "X=a b" .
)");
  EXPECT_EQ(task.steps[0].build_args,
            (Strings{"-t", "$Registry/app:1", "-f", "My Dockerfile", "--build-arg", "X=a b", "."}));
}

TEST(TaskFileTest, SplitShellWords) {
  EXPECT_EQ(Split("a  b\tc\n d"), (Strings{"a", "b", "c", "d"}));
  EXPECT_EQ(Split("  "), Strings{});
  EXPECT_EQ(Split(R"('it''s' "a \"q\" \$x \n" a\ b)"), (Strings{"its", R"(a "q" $x \n)", "a b"}));
  EXPECT_EQ(Split(R"(x"y"'z' "" '')"), (Strings{"xyz", "", ""}));
  EXPECT_EQ(Split("'$HOME' ${X} `id`"), (Strings{"$HOME", "${X}", "`id`"}));
  EXPECT_EQ(Split("a\\\nb c\\"), (Strings{"ab", "c\\"}));
  EXPECT_EQ(Split("'a\\b'"), Strings{"a\\b"});

  auto single = SplitShellWords("echo 'oops");
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.status().code(), Code::kInvalid);
  EXPECT_EQ(single.status().message(), "unterminated single quote");
  auto dbl = SplitShellWords(R"(echo "oops\")");
  ASSERT_FALSE(dbl.ok());
  EXPECT_EQ(dbl.status().message(), "unterminated double quote");
}

// --- Errors ---

TEST(TaskFileTest, YamlSyntaxError) {
  EXPECT_EQ(ParseError("version: v1.0.0\nsteps:\n  - cmd: x\n   bad: [\n"),
            "task.yaml:4:4: end of sequence not found");
  auto named = ParseTaskFile("steps: {cmd: a", "acb.yaml");
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.status().message(), "acb.yaml:1:1: end of map flow not found");
}

TEST(TaskFileTest, UnknownProperties) {
  EXPECT_EQ(ParseError(R"(version: v1.0.0
stepTimeout: 60
steps:
  - id: a
    cmd: bash echo
    timout: 5
)"),
            "task.yaml:6:5: unknown step property 'timout' (did you mean 'timeout'?)");
  EXPECT_EQ(ParseError("stepTimeOut: 5\nsteps: [{cmd: a}]"),
            "task.yaml:1:1: unknown top-level property 'stepTimeOut' (did you mean "
            "'stepTimeout'?)");
  EXPECT_EQ(ParseError("totalTimeout: 5\nsteps: [{cmd: a}]"),
            "task.yaml:1:1: unknown top-level property 'totalTimeout'");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    secret: x\n"),
            "task.yaml:3:5: unknown step property 'secret'");
  EXPECT_EQ(ParseError("networks:\n  - name: n\n    default: true\nsteps: [{cmd: a}]"),
            "task.yaml:3:5: unknown network property 'default' (did you mean 'isDefault'?)");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    cmd: b\n"),
            "task.yaml:3:5: duplicate key 'cmd' (first at line 2)");
}

TEST(TaskFileTest, WrongTypes) {
  EXPECT_EQ(ParseError(R"(version: v1.0.0
steps:
  - id: a
    cmd: r/img
  - id: b
    cmd: r/img
    retries: -1
)"),
            "task.yaml:7:14: 'retries' must be a non-negative integer");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    retries: \"3\"\n"),
            "task.yaml:3:14: 'retries' must be a non-negative integer");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    repeat: 1.5\n"),
            "task.yaml:3:13: 'repeat' must be a non-negative integer");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    startDelay: -2\n"),
            "task.yaml:3:17: 'startDelay' must be a non-negative integer");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    timeout: 99999999999\n"),
            "task.yaml:3:14: 'timeout' must be an integer");
  EXPECT_EQ(ParseError("stepTimeout: ten\nsteps: [{cmd: a}]"),
            "task.yaml:1:14: 'stepTimeout' must be an integer");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    detach: maybe\n"),
            "task.yaml:3:13: 'detach' must be true or false");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    user: [a]\n"),
            "task.yaml:3:11: 'user' must be a string");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    env: A=1\n"),
            "task.yaml:3:10: 'env' must be a list of KEY=VALUE strings");
  EXPECT_EQ(ParseError("env: [A=1, NOVALUE]\nsteps: [{cmd: a}]"),
            "task.yaml:1:12: env entry 'NOVALUE' must have the form KEY=VALUE");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    ports: {a: b}\n"),
            "task.yaml:3:12: 'ports' must be a list of strings");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n    when: b\n"),
            "task.yaml:3:11: 'when' must be a list of step ids");
  EXPECT_EQ(ParseError("steps:\n  - build: .\n    cache: on\n"),
            "task.yaml:3:12: 'cache' must be 'enabled' or 'disabled'");
  EXPECT_EQ(ParseError("steps: build\n"), "task.yaml:1:8: 'steps' must be a list of steps");
  EXPECT_EQ(ParseError("steps:\n  - cmd a\n"), "task.yaml:2:5: a step must be a map of properties");
  EXPECT_EQ(ParseError("- cmd: a\n"),
            "task.yaml:1:1: a task file must be a YAML map of properties");
  EXPECT_EQ(ParseError("steps:\n  - cmd: \"echo 'x\"\n"),
            "task.yaml:2:10: 'cmd': unterminated single quote");
}

TEST(TaskFileTest, StepKinds) {
  EXPECT_EQ(ParseError("steps:\n  - id: a\n    env: [A=1]\n"),
            "task.yaml:2:5: step 'a' needs one of 'build', 'cmd' or 'push'");
  EXPECT_EQ(ParseError("steps:\n  - cmd: a\n  - timeout: 5\n"),
            "task.yaml:3:5: step 'acb_step_1' needs one of 'build', 'cmd' or 'push'");
  EXPECT_EQ(ParseError("steps:\n  - build: .\n    cmd: r/img\n"),
            "task.yaml:3:5: step 'acb_step_0' has both 'build' and 'cmd'; a step has exactly "
            "one of 'build', 'cmd' or 'push'");
  EXPECT_EQ(ParseError("steps:\n  - cmd: \"\"\n"), "task.yaml:2:10: 'cmd' must not be empty");
  EXPECT_EQ(ParseError("steps:\n  - build:\n"), "task.yaml:2:5: 'build' must not be empty");
  EXPECT_EQ(ParseError("steps:\n  - push: []\n"),
            "task.yaml:2:11: 'push' must list at least one image");
}

TEST(TaskFileTest, PushStepProperties) {
  // Everything a push step supports is accepted.
  MustParse(R"(steps:
  - cmd: a
  - id: p
    push: [r/a]
    when: ["-"]
    timeout: 5
    startDelay: 1
    env: [A=1]
    ignoreErrors: true
)");
  EXPECT_EQ(ParseError("steps:\n  - id: p\n    push: [r/a]\n    retries: 2\n"),
            "task.yaml:4:5: push step 'p' does not support 'retries' (a push step takes only "
            "id, when, timeout, startDelay, env, ignoreErrors)");
  EXPECT_EQ(ParseError("volumes: [{name: v, secret: {a: b}}]\nsteps:\n  - push: [r/a]\n"
                       "    volumeMounts: [{name: v, mountPath: /x}]\n"),
            "task.yaml:4:5: push step 'acb_step_0' does not support 'volumeMounts' (a push "
            "step takes only id, when, timeout, startDelay, env, ignoreErrors)");
}

TEST(TaskFileTest, StepIds) {
  EXPECT_EQ(ParseError("steps:\n  - id: a\n    cmd: x\n  - id: a\n    cmd: y\n"),
            "task.yaml:4:9: duplicate step id 'a' (also the step at line 2)");
  EXPECT_EQ(ParseError("steps:\n  - id: acb_step_1\n    cmd: x\n  - cmd: y\n"),
            "task.yaml:4:5: duplicate step id 'acb_step_1' (also the step at line 2)");
  EXPECT_EQ(ParseError("steps:\n  - id: my step\n    cmd: x\n"),
            "task.yaml:2:9: step id 'my step' must not contain whitespace");
  EXPECT_EQ(ParseError("steps:\n  - id: acb_root\n    cmd: x\n"),
            "task.yaml:2:9: step id 'acb_root' is reserved");
}

TEST(TaskFileTest, WhenReferences) {
  EXPECT_EQ(ParseError(R"(steps:
  - id: test
    cmd: r/img test
    when: [build]
  - id: build
    build: .
)"),
            "task.yaml:4:12: step 'test' waits for 'build', which is defined later");
  EXPECT_EQ(ParseError("steps:\n  - id: build\n    build: .\n  - cmd: x\n    when: [biuld]\n"),
            "task.yaml:5:12: step 'acb_step_1' waits for 'biuld', which does not exist (did "
            "you mean 'build'?)");
  EXPECT_EQ(ParseError("steps:\n  - id: a\n    cmd: x\n    when: [a]\n"),
            "task.yaml:4:12: step 'a' waits for itself");
  EXPECT_EQ(ParseError("steps:\n  - id: a\n    cmd: x\n  - cmd: y\n    when: [a, \"-\"]\n"),
            "task.yaml:5:15: '-' cannot be combined with step ids in 'when'");
}

TEST(TaskFileTest, NoStepsAndVersions) {
  EXPECT_EQ(ParseError(""), "task.yaml:1:1: the task has no steps");
  EXPECT_EQ(ParseError("version: v1.0.0\n"), "task.yaml:1:1: the task has no steps");
  EXPECT_EQ(ParseError("version: v1.0.0\nsteps: []\n"), "task.yaml:2:1: the task has no steps");
  EXPECT_EQ(ParseError("version: v2.0.0\nsteps: [{cmd: a}]"),
            "task.yaml:1:10: unsupported version 'v2.0.0' (expected 1.0-preview-1, v1.0.0 or "
            "v1.1.0)");
  EXPECT_EQ(ParseError("version: v1.0.0\nalias:\n  values: {a: b}\nsteps: [{cmd: a}]"),
            "task.yaml:2:1: 'alias' needs 'version: v1.1.0' (this file is v1.0.0)");
}

TEST(TaskFileTest, VolumesAndMounts) {
  EXPECT_EQ(ParseError(R"(volumes:
  - name: v
    secret: {a: b}
steps:
  - cmd: x
    volumeMounts:
      - name: w
        mountPath: /a
)"),
            "task.yaml:7:15: step 'acb_step_0' mounts volume 'w', which 'volumes' does not define");
  EXPECT_EQ(ParseError(R"(volumes:
  - name: v
    secret: {a: b}
steps:
  - cmd: x
    volumeMounts:
      - {name: v, mountPath: /a}
      - {name: v, mountPath: /a}
)"),
            "task.yaml:8:30: mountPath '/a' is used twice in one step");
  EXPECT_EQ(ParseError("volumes:\n  - name: my vol\n    secret: {a: b}\nsteps: [{cmd: a}]"),
            "task.yaml:2:11: volume name 'my vol' must match ^[a-zA-Z0-9-_]+$");
  EXPECT_EQ(ParseError("volumes:\n  - name: v\nsteps: [{cmd: a}]"),
            "task.yaml:2:5: volume 'v' needs a 'secret' map of file name: base64 value");
  EXPECT_EQ(ParseError("volumes:\n  - name: v\n    secret: {a/b: x}\nsteps: [{cmd: a}]"),
            "task.yaml:3:14: secret file name 'a/b' must match ^[a-zA-Z0-9-_.]+$");
  EXPECT_EQ(ParseError("steps:\n  - cmd: x\n    volumeMounts: [{name: v}]\n"),
            "task.yaml:3:20: a volume mount needs a 'name' and a 'mountPath'");
}

TEST(TaskFileTest, Secrets) {
  EXPECT_EQ(ParseError("secrets:\n  - id: my secret\n    keyvault: https://k\nsteps: [{cmd: a}]"),
            "task.yaml:2:9: secret id 'my secret' must not contain whitespace");
  EXPECT_EQ(ParseError(R"(secrets:
  - id: s
    keyvault: https://k/1
  - id: s
    keyvault: https://k/2
steps: [{cmd: a}]
)"),
            "task.yaml:4:9: duplicate secret id 's'");
  EXPECT_EQ(ParseError("secrets:\n  - id: s\nsteps: [{cmd: a}]"),
            "task.yaml:2:5: secret 's' needs a 'keyvault' secret URL");
  EXPECT_EQ(
      ParseError("secrets:\n  - id: s\n    keyvault: k\n    clientID: nope\nsteps: [{cmd: a}]"),
      "task.yaml:4:15: clientID 'nope' is not a GUID");
}

TEST(TaskFileTest, AliasExpansionIsBounded) {
  // Each level merges the previous one ten times: 10^8 map walks unless bounded.
  std::string yaml = "steps:\n  - &l0 {cmd: x}\n";
  for (int level = 1; level <= 8; ++level) {
    std::string prev = "*l" + std::to_string(level - 1);
    yaml += "  - &l" + std::to_string(level) + " {<<: [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + prev;
    yaml += "]}\n";
  }
  std::string error = ParseError(yaml);
  EXPECT_NE(error.find(": the task file is too large once its YAML aliases expand"),
            std::string::npos)
      << error;
}

TEST(TaskFileTest, NoExceptionsEscape) {
  // Anchors to unknown names, bad tags and the like are yaml-cpp exceptions inside.
  EXPECT_EQ(ParseError("steps: *nowhere\n"), "task.yaml:1:8: the referenced anchor is not defined");
  EXPECT_FALSE(ParseTaskFile("\t- x: [").ok());
}

// --- Aliases ---

TEST(AliasTest, TaskFileVersion) {
  EXPECT_EQ(TaskFileVersion("steps: []\n"), "v1.0.0");
  EXPECT_EQ(TaskFileVersion("# version: v9\nversion: v1.1.0 # aliases\n"), "v1.1.0");
  EXPECT_EQ(TaskFileVersion("\"version\": \"v1.1.0\"\n"), "v1.1.0");
  EXPECT_EQ(TaskFileVersion("'version' : 'v1.1.0'\r\n"), "v1.1.0");
  EXPECT_EQ(TaskFileVersion("steps:\n  - version: v1.1.0\n"), "v1.0.0");  // not top level
  EXPECT_EQ(TaskFileVersion("versions: v1.1.0\n"), "v1.0.0");
}

TEST(AliasTest, BuiltinsOnlyFromV110) {
  const std::string body = R"(steps:
  - build: -t $Registry/app:$ID-$Date -f Dockerfile .
  - cmd: $Registry/app:$ID $SharedVolume $OS $Architecture $Commit $Branch
)";
  EXPECT_EQ(Preprocess("version: v1.1.0\n" + body), R"(version: v1.1.0
steps:
  - build: -t {{.Run.Registry}}/app:{{.Run.ID}}-{{.Run.Date}} -f Dockerfile .
  - cmd: {{.Run.Registry}}/app:{{.Run.ID}} {{.Run.SharedVolume}} {{.Run.OS}} {{.Run.Architecture}} {{.Run.Commit}} {{.Run.Branch}}
)");
  EXPECT_EQ(Preprocess("version: v1.0.0\n" + body), "version: v1.0.0\n" + body);
  EXPECT_EQ(Preprocess("version: 1.0-preview-1\n" + body), "version: 1.0-preview-1\n" + body);
  EXPECT_EQ(Preprocess(body), body);
  // Unchanged also means image aliases and the alias block are left alone before v1.1.0.
  const std::string old = "alias:\n  values: {a: b}\nsteps:\n  - cmd: bash $a\n";
  EXPECT_EQ(Preprocess(old), old);
}

TEST(AliasTest, LongestNameAndUnknownWords) {
  EXPECT_EQ(Preprocess("version: v1.1.0\nx: $RegistryName/$Registry:$Registryx\n"),
            "version: v1.1.0\nx: {{.Run.RegistryName}}/{{.Run.Registry}}:$Registryx\n");
  EXPECT_EQ(Preprocess("version: v1.1.0\nx: $HOME ${PATH} $ $foo$ID $TaskName $\n"),
            "version: v1.1.0\nx: $HOME ${PATH} $ $foo{{.Run.ID}} $TaskName $\n");
  EXPECT_EQ(Preprocess("version: v1.1.0\nx: $$ID $$$ID costs $$5\n"),
            "version: v1.1.0\nx: $ID ${{.Run.ID}} costs $5\n");
}

TEST(AliasTest, CustomValuesAndDirective) {
  std::string in = R"(version: v1.1.0
alias:
  values:
    repo: r.example/team
    tag: '{{.Values.tag}}'
  directive: '#'
# keep me: #repo
steps:
  - build: -t #repo/app:#tag -t #repo/app:#ID .
  - cmd: bash -c 'echo ## $ID #unknown'
)";
  EXPECT_EQ(Preprocess(in), R"(version: v1.1.0





# keep me: #repo
steps:
  - build: -t r.example/team/app:{{.Values.tag}} -t r.example/team/app:{{.Run.ID}} .
  - cmd: r:5000/tools/bash:1 -c 'echo # $ID #unknown'
)");
}

TEST(AliasTest, AliasBlockKeepsLineNumbers) {
  std::string in = R"(version: v1.1.0
alias:
  values:
    img: r/img
steps:
  - cmd: $img
    timout: 3
)";
  std::string out = Preprocess(in);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), std::count(in.begin(), in.end(), '\n'));
  auto task = ParseTaskFile(out);
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().message(),
            "task.yaml:7:5: unknown step property 'timout' (did you mean 'timeout'?)");
}

TEST(AliasTest, SourceFilePrecedence) {
  std::map<std::string, std::string> files = {
      {"a.yaml", "x: fromA\ny: fromA\nz: fromA\nRegistry: mine.example\nbash: a/bash\n"},
      {"b.yaml", "y: fromB\nz: fromB\n"},
  };
  AliasOptions options = TestOptions();
  std::vector<std::string> reads;
  options.read_source = [&](const std::string& path) -> Result<std::string> {
    reads.push_back(path);
    auto it = files.find(path);
    if (it == files.end()) return NotFound("no such file");
    return it->second;
  };
  std::string in = R"(version: v1.1.0
alias:
  src:
    - a.yaml
    - b.yaml
  values:
    z: inline
steps:
  - cmd: bash $x $y $z $Registry $ID
)";
  std::string out = Preprocess(in, options);
  EXPECT_EQ(reads, (Strings{"a.yaml", "b.yaml"}));
  EXPECT_NE(out.find("  - cmd: a/bash fromA fromB inline mine.example {{.Run.ID}}\n"),
            std::string::npos)
      << out;

  std::string missing = "version: v1.1.0\nalias:\n  src: [c.yaml]\nsteps: [{cmd: a}]\n";
  auto error = PreprocessAliases(missing, options);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), Code::kNotFound);
  EXPECT_EQ(error.status().message(), "task.yaml:3:9: alias src 'c.yaml': no such file");

  files["bad.yaml"] = "ok: 1\nnot-ok: 2\n";
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  src: [bad.yaml]\n", options),
            "task.yaml:3:9: alias src 'bad.yaml': line 2, column 1: alias name 'not-ok' must "
            "match ^[a-zA-Z0-9]+$");
  files["broken.yaml"] = "a: [1\n";
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  src:\n    - broken.yaml\n", options),
            "task.yaml:4:7: alias src 'broken.yaml': line 2, column 1: end of sequence flow "
            "not found");
  EXPECT_EQ(
      PreprocessError("version: v1.1.0\nalias:\n  src: [https://example.com/a.yaml]\n", options),
      "task.yaml:3:9: alias src 'https://example.com/a.yaml': remote alias files are not "
      "supported");
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  src: [a.yaml]\n"),  // no read_source
            "task.yaml:3:9: alias src 'a.yaml': alias files cannot be read here");
}

TEST(AliasTest, ImageAliasOnCmd) {
  AliasOptions options = TestOptions();
  options.images["node"] = "r:5000/node:20";
  std::string in = R"(version: v1.1.0
alias:
  values:
    helper: r.example/helper:2
steps:
  - cmd: bash echo hi
  - cmd: "curl -s 'http://x'"
  - cmd: 'az acr login'
  - cmd: acr
  - {id: n, cmd: node app.js}
  - cmd: helper --go
  - cmd: bashful echo
  - id: bash
    cmd: r/img bash
    env: ["cmd: bash"]
  - cmd: >-
      bash -c "echo $bash"
  - cmd: r/img
    entryPoint: |
      bash
      cmd: curl
)";
  EXPECT_EQ(Preprocess(in, options), R"(version: v1.1.0



steps:
  - cmd: r:5000/tools/bash:1 echo hi
  - cmd: "r:5000/tools/curl:1 -s 'http://x'"
  - cmd: 'r:5000/tools/az:1 acr login'
  - cmd: r:5000/tools/acr:1
  - {id: n, cmd: r:5000/node:20 app.js}
  - cmd: r.example/helper:2 --go
  - cmd: bashful echo
  - id: bash
    cmd: r/img bash
    env: ["cmd: bash"]
  - cmd: >-
      r:5000/tools/bash:1 -c "echo r:5000/tools/bash:1"
  - cmd: r/img
    entryPoint: |
      bash
      cmd: curl
)");
}

TEST(AliasTest, CommentsAndBlockScalars) {
  // A comment line is left alone; the same text inside a block scalar is script, so it is
  // substituted.
  std::string in = R"(version: v1.1.0
# built for $Registry
steps:
  - cmd: |
      bash -c "
      # tagged $ID
      "
)";
  EXPECT_EQ(Preprocess(in), R"(version: v1.1.0
# built for $Registry
steps:
  - cmd: |
      r:5000/tools/bash:1 -c "
      # tagged {{.Run.ID}}
      "
)");
}

TEST(AliasTest, MultiByteDirective) {
  std::string in =
      "version: v1.1.0\nalias:\n  values: {img: r/img}\n  directive: \"\xF0\x9F\x90\xB3\"\n"
      "steps:\n  - cmd: \xF0\x9F\x90\xB3img $ID\n";
  EXPECT_EQ(Preprocess(in), "version: v1.1.0\n\n\n\nsteps:\n  - cmd: r/img $ID\n");
}

TEST(AliasTest, BadAliasKey) {
  EXPECT_EQ(PreprocessError(R"(version: v1.1.0
alias:
  values:
    good: a
    my-tag: b
steps: [{cmd: a}]
)"),
            "task.yaml:5:5: alias name 'my-tag' must match ^[a-zA-Z0-9]+$");
}

TEST(AliasTest, BadDirective) {
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  directive: '%%'\n"),
            "task.yaml:3:14: alias directive '%%' must be a single non-alphanumeric character");
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  directive: a\n"),
            "task.yaml:3:14: alias directive 'a' must be a single non-alphanumeric character");
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  directive: ' '\n"),
            "task.yaml:3:14: alias directive ' ' must be a single non-alphanumeric character");
}

TEST(AliasTest, BadAliasBlock) {
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  value: {a: b}\n"),
            "task.yaml:3:3: unknown alias property 'value' (expected 'values', 'src' or "
            "'directive')");
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  values: {a: [1]}\n"),
            "task.yaml:3:15: alias 'a' must be a string");
  EXPECT_EQ(PreprocessError("version: v1.1.0\nalias:\n  values: {a: 1\nsteps: []\n"),
            "task.yaml:4:1: end of map flow not found");
}

TEST(AliasTest, EndToEnd) {
  std::string in = R"(version: v1.1.0
stepTimeout: 60
alias:
  values:
    app: $Registry/app
steps:
  - id: build
    build: -t $app:$ID -f "My Dockerfile" .
  - id: test
    cmd: bash -c "echo ok"
  - push: ["$app:$ID"]
)";
  std::string rendered = Preprocess(in);
  auto task = ParseTaskFile(rendered);
  ASSERT_TRUE(task.ok()) << task.status().message();
  // Alias values are inserted as written, not expanded again (acb does the same).
  EXPECT_EQ(task->steps[0].build_args,
            (Strings{"-t", "$Registry/app:{{.Run.ID}}", "-f", "My Dockerfile", "."}));
  EXPECT_EQ(task->steps[1].cmd_args, (Strings{"r:5000/tools/bash:1", "-c", "echo ok"}));
  EXPECT_EQ(task->steps[2].push, Strings{"$Registry/app:{{.Run.ID}}"});
  EXPECT_EQ(task->steps[2].when, Strings{"test"});
  EXPECT_EQ(task->steps[0].line, 7);
}

}  // namespace
}  // namespace drydock::steps

namespace drydock::steps {
namespace {

// Regression (issue 12): user YAML is held to a nesting depth, refused with
// its position, in task files and in values files alike.
TEST(TaskFileDepth, DeepNestingIsRefusedNamingTheLimit) {
  std::string flow =
      "steps: [{cmd: x, env: " + std::string(5000, '[') + std::string(5000, ']') + "}]";
  auto t = ParseTaskFile(flow, "deep.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("deep.yaml:"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("levels"), std::string::npos) << t.status().message();

  std::string values = "a: " + std::string(100, '[') + std::string(100, ']');
  auto v = MergeValues(values, {});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nested deeper than 64 levels"), std::string::npos)
      << v.status().message();
  std::string shallow = "a: " + std::string(10, '[') + std::string(10, ']');
  EXPECT_TRUE(MergeValues(shallow, {}).ok());
}

}  // namespace
}  // namespace drydock::steps
