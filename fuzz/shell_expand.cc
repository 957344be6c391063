// Docker's shell-style expansion on its own, with the variables under the
// fuzzer's control too: "NAME=VALUE\n" lines, a NUL byte, then the word. The
// first byte picks the escape character (`# escape=` allows \ and `).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builder/dockerfile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock::builder;
  if (size == 0) return 0;
  char escape = (data[0] & 1) ? '`' : '\\';
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Env env;
  std::string_view word = in;
  if (auto nul = in.find('\0'); nul != std::string_view::npos) {
    std::string_view vars = in.substr(0, nul);
    word = in.substr(nul + 1);
    while (!vars.empty()) {
      auto nl = vars.find('\n');
      std::string_view line = vars.substr(0, nl);
      auto eq = line.find('=');
      if (eq != std::string_view::npos)
        env.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
      if (nl == std::string_view::npos) break;
      vars = vars.substr(nl + 1);
    }
  }
  (void)ExpandWord(word, env, escape);
  (void)ExpandWords(word, env, escape);
  (void)ExpandHeredoc(word, env);
  (void)ReferencedVariables(word, escape);
  (void)HeredocReference(word);
  return 0;
}
