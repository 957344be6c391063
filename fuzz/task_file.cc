// Multi-step task files (acb.yaml) as a run or a saved task receives them:
// `$alias` preprocessing, template rendering and the YAML model, through
// LoadTaskFile as the run service calls it. Input: a --values YAML file, a
// NUL byte, then the task file (or just the task file).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "steps/steps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock::steps;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view values, text = in;
  if (auto nul = in.find('\0'); nul != std::string_view::npos) {
    values = in.substr(0, nul);
    text = in.substr(nul + 1);
  }
  RenderInput input;
  input.run.id = "ca1";
  input.run.registry = "registry.local:5000";
  input.run.commit = "0123456789abcdef0123456789abcdef01234567";
  input.run.branch = "main";
  input.run.time = 1700000000;
  input.secrets = {{"token", "s3cret"}};
  input.aliases.images = {{"bash", "registry.local:5000/tools/bash:1"}};
  input.aliases.read_source = [](const std::string& path) -> drydock::Result<std::string> {
    if (path == "aliases.yaml") return std::string("greet: echo hello\nimg: busybox:1\n");
    return drydock::NotFound("no such file: " + path);
  };
  if (!values.empty()) {
    auto merged = MergeValues(values, {"image.tag=2", "debug=true"});
    if (!merged.ok()) return 0;
    input.values = std::move(*merged);
  }
  (void)TaskFileVersion(text);
  (void)SplitShellWords(text);
  auto task = LoadTaskFile(text, input);
  if (task.ok()) {
    (void)DescribeSteps(*task);
    (void)MaskSecrets(DescribeSteps(*task), input.secrets);
  }
  // The raw text as YAML too: most mutations break the template before the
  // YAML model sees them.
  (void)ParseTaskFile(text);
  return 0;
}
