// Dockerfiles from build contexts and git repositories: parsing, then the
// expansion steps a build applies to each instruction before dispatching it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builder/dockerfile.h"

namespace {

using namespace drydock::builder;

const Env kEnv = {{"HOME", "/root"}, {"PATH", "/usr/bin:/bin"}, {"V", "a b  c"}, {"EMPTY", ""}};

void Dispatch(const Instruction& ins, char escape) {
  (void)FlagValue(ins, "from");
  (void)ReferencedVariables(ins.raw_args, escape);
  if (ins.keyword == "ENV" || ins.keyword == "LABEL" || ins.keyword == "ARG") {
    (void)ParseKeyValues(ins, kEnv, escape);
  }
  if (ins.keyword == "ARG") (void)ParseArgDecls(ins, kEnv, escape);
  if (!ins.json_form) {
    for (const auto& arg : ins.args) {
      (void)ExpandWord(arg, kEnv, escape);
      (void)ExpandWords(arg, kEnv, escape);
      (void)HeredocReference(arg);
    }
  }
  for (const auto& h : ins.heredocs) {
    if (h.expand) (void)ExpandHeredoc(h.content, kEnv);
  }
  if (ins.onbuild) Dispatch(*ins.onbuild, escape);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto df = ParseDockerfile(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!df.ok()) return 0;
  for (const auto& ins : df->instructions) {
    Instruction copy = ins;  // ONBUILD triggers are deep-copied when a stage inherits them
    Dispatch(copy, df->escape);
  }
  return 0;
}
