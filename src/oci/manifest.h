// Manifest and index parsing: just enough structure to validate a push,
// find what it references, and answer the referrers API. The bytes
// themselves are always stored and served exactly as pushed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::oci {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kOciEmptyConfig = "application/vnd.oci.empty.v1+json";

bool IsIndexMediaType(std::string_view media_type);
bool IsSupportedManifestMediaType(std::string_view media_type);

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;  // raw JSON object, empty when absent
  bool foreign = false;          // non-distributable layer: not required to exist
};

struct Manifest {
  std::string media_type;
  std::optional<Descriptor> config;   // image manifests
  std::vector<Descriptor> layers;     // image manifests
  std::vector<Descriptor> manifests;  // indexes
  std::optional<Descriptor> subject;
  std::string artifact_type;  // as the referrers API reports it
  std::string annotations_json;

  // Blobs (config + distributable layers) that must be present in the repository.
  std::vector<Digest> RequiredBlobs() const;
  // Child manifests that must be present in the repository.
  std::vector<Digest> RequiredManifests() const;
};

// Parses `body`; `content_type` is the request's Content-Type. Errors name the
// offending field so a client sees exactly what was wrong.
Result<Manifest> ParseManifest(std::string_view body, std::string_view content_type);

}  // namespace drydock::oci
