#include "oci/manifest.h"
#include "base/json.h"

#include <nlohmann/json.hpp>

namespace drydock::oci {
namespace {

using nlohmann::json;

bool IsForeign(std::string_view media_type) {
  return media_type.find("foreign") != std::string_view::npos ||
         media_type.find("nondistributable") != std::string_view::npos;
}

std::string_view StripParams(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto t = content_type.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

Result<Descriptor> ParseDescriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return Invalid(where + " must be an object");
  Descriptor d;
  auto mt = j.find("mediaType");
  if (mt == j.end() || !mt->is_string()) return Invalid(where + ".mediaType must be a string");
  d.media_type = mt->get<std::string>();
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) return Invalid(where + ".digest must be a string");
  auto digest = Digest::Parse(dg->get<std::string>());
  if (!digest.ok()) return Invalid(where + ".digest: " + digest.status().message());
  d.digest = *digest;
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer() || sz->get<int64_t>() < 0) {
    return Invalid(where + ".size must be a non-negative integer");
  }
  d.size = sz->get<int64_t>();
  if (auto at = j.find("artifactType"); at != j.end() && at->is_string()) d.artifact_type = *at;
  if (auto an = j.find("annotations"); an != j.end()) {
    if (!an->is_object()) return Invalid(where + ".annotations must be an object");
    d.annotations_json = an->dump();
  }
  d.foreign = IsForeign(d.media_type);
  return d;
}

Result<std::vector<Descriptor>> ParseDescriptorList(const json& j, const char* key, bool required) {
  std::vector<Descriptor> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Invalid(std::string("manifest has no '") + key + "' array");
    return out;
  }
  if (!it->is_array()) return Invalid(std::string("'") + key + "' must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    auto d = ParseDescriptor((*it)[i], std::string(key) + "[" + std::to_string(i) + "]");
    if (!d.ok()) return d.status();
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace

bool IsIndexMediaType(std::string_view mt) { return mt == kOciIndex || mt == kDockerManifestList; }

bool IsSupportedManifestMediaType(std::string_view mt) {
  return mt == kOciManifest || mt == kOciIndex || mt == kDockerManifest ||
         mt == kDockerManifestList;
}

std::vector<Digest> Manifest::RequiredBlobs() const {
  std::vector<Digest> out;
  if (config) out.push_back(config->digest);
  for (const auto& l : layers) {
    if (!l.foreign) out.push_back(l.digest);
  }
  return out;
}

std::vector<Digest> Manifest::RequiredManifests() const {
  std::vector<Digest> out;
  for (const auto& m : manifests) out.push_back(m.digest);
  return out;
}

Result<Manifest> ParseManifest(std::string_view body, std::string_view content_type) {
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return Invalid("manifest: " + parsed.status().message());
  json& j = *parsed;
  if (!j.is_object()) return Invalid("manifest must be a JSON object");
  auto sv = j.find("schemaVersion");
  if (sv == j.end() || !sv->is_number_integer() || sv->get<int>() != 2) {
    return Invalid("manifest schemaVersion must be 2 (schema 1 is not supported)");
  }
  Manifest m;
  std::string declared;
  if (auto mt = j.find("mediaType"); mt != j.end()) {
    if (!mt->is_string()) return Invalid("mediaType must be a string");
    declared = mt->get<std::string>();
  }
  std::string header(StripParams(content_type));
  if (!declared.empty() && !header.empty() && header != declared) {
    return Invalid("Content-Type '" + header + "' does not match the manifest's mediaType '" +
                   declared + "'");
  }
  m.media_type = !declared.empty() ? declared : header;
  if (m.media_type.empty()) {
    // OCI manifests may omit mediaType; infer from the shape.
    m.media_type = j.contains("manifests") ? std::string(kOciIndex) : std::string(kOciManifest);
  }
  if (!IsSupportedManifestMediaType(m.media_type)) {
    return Invalid("manifest media type '" + m.media_type + "' is not supported");
  }
  if (auto at = j.find("artifactType"); at != j.end()) {
    if (!at->is_string()) return Invalid("artifactType must be a string");
    m.artifact_type = *at;
  }
  if (auto an = j.find("annotations"); an != j.end() && !an->is_null()) {
    if (!an->is_object()) return Invalid("annotations must be an object");
    m.annotations_json = an->dump();
  }
  if (auto s = j.find("subject"); s != j.end() && !s->is_null()) {
    auto d = ParseDescriptor(*s, "subject");
    if (!d.ok()) return d.status();
    m.subject = std::move(*d);
  }
  if (IsIndexMediaType(m.media_type)) {
    auto list = ParseDescriptorList(j, "manifests", true);
    if (!list.ok()) return list.status();
    m.manifests = std::move(*list);
    return m;
  }
  auto cfg = j.find("config");
  if (cfg == j.end()) return Invalid("image manifest has no 'config' descriptor");
  auto c = ParseDescriptor(*cfg, "config");
  if (!c.ok()) return c.status();
  m.config = std::move(*c);
  auto layers = ParseDescriptorList(j, "layers", true);
  if (!layers.ok()) return layers.status();
  m.layers = std::move(*layers);
  if (m.artifact_type.empty()) m.artifact_type = m.config->media_type;
  return m;
}

}  // namespace drydock::oci
