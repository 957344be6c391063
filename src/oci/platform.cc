#include "oci/platform.h"

#include <sys/utsname.h>

#include <algorithm>
#include <map>

#include "base/json.h"
#include "base/strings.h"

namespace drydock::oci {
namespace {

// Architecture spellings as uname and GOARCH have them, to GOARCH's.
std::string NormalArchitecture(std::string arch) {
  static const std::map<std::string, std::string> kAliases = {
      {"x86_64", "amd64"}, {"x86-64", "amd64"}, {"aarch64", "arm64"}, {"armhf", "arm"},
      {"armel", "arm"},    {"i386", "386"},     {"i686", "386"},      {"ppc64le", "ppc64le"}};
  if (auto it = kAliases.find(arch); it != kAliases.end()) return it->second;
  if (arch.rfind("armv", 0) == 0) return "arm";
  return arch;
}

// containerd's normal form: arm64's v8 is implied (no variant), arm's
// variant is always said (v7 when none is given).
std::string NormalVariant(const std::string& arch, std::string variant) {
  if (arch == "arm64" && (variant == "v8" || variant == "8" || variant == "v8.0")) return "";
  if (arch == "arm" && variant.empty()) return "v7";
  if (!variant.empty() && variant[0] >= '0' && variant[0] <= '9') return "v" + variant;
  return variant;
}

bool ValidPart(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

std::string Platform::String() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

bool Platform::Matches(const Platform& other) const {
  return os == other.os && architecture == other.architecture &&
         NormalVariant(architecture, variant) == NormalVariant(other.architecture, other.variant);
}

Result<Platform> ParsePlatform(std::string_view text) {
  std::string lower = AsciiLower(std::string(text));
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = lower.find('/', start);
    parts.push_back(lower.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || !std::all_of(parts.begin(), parts.end(), ValidPart))
    return Invalid("platform '" + std::string(text) +
                   "' is not os/architecture[/variant] (for example linux/arm64)");
  Platform p{parts[0], NormalArchitecture(parts[1]), parts.size() == 3 ? parts[2] : ""};
  if (parts[1].rfind("armv", 0) == 0 && p.variant.empty()) p.variant = "v" + parts[1].substr(4, 1);
  p.variant = NormalVariant(p.architecture, p.variant);
  return p;
}

Result<std::vector<Platform>> ParsePlatforms(std::string_view text) {
  std::vector<Platform> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view one =
        text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    DD_ASSIGN_OR_RETURN(p, ParsePlatform(one));
    if (std::none_of(out.begin(), out.end(), [&](const Platform& o) { return o.Matches(p); }))
      out.push_back(std::move(p));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (out.size() > 16) return Invalid("at most 16 platforms in one build");
  return out;
}

Platform PlatformOf(const nlohmann::json& object) {
  auto text = [&](const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!object.is_object()) return {};
  return {text("os"), text("architecture"), text("variant")};
}

Platform HostPlatform() {
  utsname u{};
  ::uname(&u);
  auto p = ParsePlatform(std::string("linux/") + u.machine);
  return p.ok() ? *p : Platform{"linux", "amd64", ""};
}

Result<Digest> PickPlatform(std::string_view index, const Platform& platform,
                            const std::string& what) {
  auto parsed = ParseJson(index);
  if (!parsed.ok()) return Invalid(what + ": the index: " + parsed.status().message());
  std::vector<std::string> seen;
  auto manifests = parsed->find("manifests");
  if (manifests != parsed->end() && manifests->is_array()) {
    for (const auto& m : *manifests) {
      if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
      Platform p = PlatformOf(m["platform"]);
      if (p.os == "unknown") continue;  // Docker's attestation manifests
      seen.push_back(p.String());
      if (p.Matches(platform) && m.contains("digest") && m["digest"].is_string())
        return Digest::Parse(m["digest"].get<std::string>());
    }
  }
  std::string list;
  for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  return NotFound(what + " has no image for platform " + platform.String() + " (it has: " + list +
                  ")");
}

}  // namespace drydock::oci
