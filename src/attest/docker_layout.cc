// BuildKit's attestation layout
// (docs.docker.com/build/metadata/attestations/attestation-storage): the
// statements about one image of an index in an image manifest whose config
// only satisfies clients that expect an image, listed in the index for a
// platform nothing runs on, so that runtimes pass over it.
#include "attest/attest.h"
#include "oci/manifest.h"

namespace drydock::attest {

using nlohmann::json;

constexpr char kOciImageConfig[] = "application/vnd.oci.image.config.v1+json";

Artifact DockerAttestationManifest(const std::vector<json>& statements) {
  Artifact a;
  json layers = json::array(), diff_ids = json::array();
  std::vector<std::string> blobs;
  for (const auto& statement : statements) {
    std::string blob = statement.dump();
    const oci::Digest digest = oci::Digest::Of(blob);
    layers.push_back(
        {{"mediaType", kInTotoMediaType},
         {"digest", digest.str()},
         {"size", blob.size()},
         {"annotations", {{kPredicateTypeAnnotation, statement.value("predicateType", "")}}}});
    diff_ids.push_back(digest.str());  // an uncompressed layer is its own diff
    blobs.push_back(std::move(blob));
  }
  std::string config = json{{"architecture", "unknown"},
                            {"os", "unknown"},
                            {"config", json::object()},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                           .dump();
  a.manifest = json{
      {"schemaVersion", 2},
      {"mediaType", std::string(oci::kOciManifest)},
      {"config",
       {{"mediaType", kOciImageConfig},
        {"digest", oci::Digest::Of(config).str()},
        {"size", config.size()}}},
      {"layers",
       layers}}.dump();
  a.blobs.push_back(std::move(config));
  for (auto& b : blobs) a.blobs.push_back(std::move(b));
  return a;
}

json DockerAttestationEntry(const Artifact& manifest, const oci::Digest& image) {
  return {
      {"mediaType", std::string(oci::kOciManifest)},
      {"digest", manifest.digest().str()},
      {"size", manifest.manifest.size()},
      {"annotations",
       {{kDockerReferenceDigest, image.str()}, {kDockerReferenceType, kDockerAttestationManifest}}},
      {"platform", {{"architecture", "unknown"}, {"os", "unknown"}}}};
}

}  // namespace drydock::attest
