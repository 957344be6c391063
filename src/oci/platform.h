// Platforms as the OCI image index names them ("linux/arm64/v8"): parsed,
// normalised as containerd's platforms package does (arm64 is arm64/v8,
// arm is arm/v7, x86_64 is amd64), matched, and the machine's own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::oci {

struct Platform {
  std::string os, architecture, variant;

  std::string String() const;  // "linux/arm64", "linux/arm/v7"
  // Same platform once normalised: "linux/arm64" is "linux/arm64/v8".
  bool Matches(const Platform& other) const;
  bool operator==(const Platform&) const = default;
};

// "os/arch[/variant]", normalised (ParsePlatform("linux/aarch64/v8") is
// linux/arm64); errors name what is wrong.
Result<Platform> ParsePlatform(std::string_view text);
// A comma-separated list ("linux/amd64,linux/arm64"), each once, in order.
Result<std::vector<Platform>> ParsePlatforms(std::string_view text);

// The os, architecture and variant an index entry's "platform" or an image
// config names (a field missing or not a string is "").
Platform PlatformOf(const nlohmann::json& object);

// From an index's bytes, the manifest for `platform`; an error names
// `what` and the platforms it has.
Result<Digest> PickPlatform(std::string_view index, const Platform& platform,
                            const std::string& what);

// The platform this process runs on natively (uname's machine).
Platform HostPlatform();

}  // namespace drydock::oci
