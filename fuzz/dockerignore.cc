// .dockerignore files from build contexts: the patterns, a NUL byte, then
// newline-separated paths to match against them (as the context walk does).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builder/context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using drydock::builder::IgnoreMatcher;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nul = in.find('\0');
  auto m = IgnoreMatcher::Parse(in.substr(0, nul));
  if (!m.ok()) return 0;
  (void)m->has_exceptions();
  std::string_view paths =
      nul == std::string_view::npos ? "a/b/c\n.git\nDockerfile" : in.substr(nul + 1);
  while (true) {
    auto nl = paths.find('\n');
    (void)m->Excluded(paths.substr(0, nl));
    if (nl == std::string_view::npos) break;
    paths = paths.substr(nl + 1);
  }
  return 0;
}
