// Manifests and indexes as pushed to PUT /v2/<name>/manifests/<ref>: the
// first byte picks the Content-Type (the registry passes the client's), the
// rest is the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock::oci;
  static constexpr std::string_view kTypes[] = {
      "", kOciManifest, kOciIndex, kDockerManifest, kDockerManifestList, "application/json",
  };
  if (size == 0) return 0;
  std::string_view type = kTypes[data[0] % std::size(kTypes)];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto m = ParseManifest(body, type);
  if (m.ok()) {
    // What the registry does next with a parsed manifest.
    (void)m->RequiredBlobs();
    (void)m->RequiredManifests();
    (void)IsIndexMediaType(m->media_type);
    (void)IsSupportedManifestMediaType(m->media_type);
  }
  return 0;
}
