// Repository names and tags as the distribution spec defines them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::oci {

// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 chars.
Status ValidateRepositoryName(std::string_view name);
// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
Status ValidateTag(std::string_view tag);

// An image reference, normalised as Docker does: "busybox" is
// docker.io/library/busybox:latest; the first component names a registry
// only if it has a '.' or ':' or is "localhost".
struct ImageReference {
  std::string registry;
  std::string repository;
  std::string tag;  // "" when only a digest was given
  std::optional<Digest> digest;

  // The tag or digest to put in a manifest URL (the digest wins).
  std::string Reference() const;
  std::string String() const;  // registry/repository[:tag][@digest]
  std::string RepositoryWithRegistry() const { return registry + "/" + repository; }
};

Result<ImageReference> ParseImageReference(std::string_view text,
                                           std::string_view default_registry = "docker.io");

}  // namespace drydock::oci
