// Image references as users write them (FROM lines, --tag, task files,
// trigger configuration), repository names and tags from request paths, and
// digests. A parsed reference must print back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oci/digest.h"
#include "oci/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock::oci;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ValidateRepositoryName(text);
  (void)ValidateTag(text);
  (void)Digest::Parse(text);
  auto ref = ParseImageReference(text);
  if (!ref.ok()) return 0;
  (void)ref->Reference();
  std::string printed = ref->String();
  // The normal form is a fixed point: builds and triggers compare references
  // by this string, so two spellings of one image must not print differently
  // after a round trip.
  auto again = ParseImageReference(printed);
  if (!again.ok() || again->String() != printed) {
    std::fprintf(stderr, "reference %s does not round-trip: %s\n", printed.c_str(),
                 again.ok() ? again->String().c_str() : again.status().message().c_str());
    std::abort();
  }
  return 0;
}
