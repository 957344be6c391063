// SLSA v1 provenance in an in-toto Statement v1: what was built (the
// subject), from what (the source, the Dockerfile, the build arguments that
// are not secret), with which inputs (every base and remote input, by the
// digest actually used) and by whom (this Drydock, the run).
#include "attest/attest.h"

namespace drydock::attest {
namespace {

using nlohmann::json;

// "sha256:<hex>" as a SLSA DigestSet: {"sha256": "<hex>"}.
json DigestSet(const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return json::object();
  return {{digest.substr(0, colon), digest.substr(colon + 1)}};
}

json ExternalParameters(const ProvenanceInput& in) {
  json source = {{"uri", in.source_uri}};
  if (!in.source_commit.empty())
    source["digest"] = {{"sha1", in.source_commit}};
  else if (!in.source_digest.empty())
    source["digest"] = DigestSet(in.source_digest);
  json p = {
      {"source", source},
      {"dockerfile", {{"path", in.dockerfile_path}, {"digest", DigestSet(in.dockerfile_digest)}}},
      {"buildArgs", in.build_args},
      {"platform", in.platform}};
  if (!in.target.empty()) p["target"] = in.target;
  return p;
}

}  // namespace

json ProvenanceStatement(const ProvenanceInput& in) {
  json deps = json::array();
  if (!in.source_commit.empty())
    deps.push_back({{"uri", in.source_uri}, {"digest", {{"sha1", in.source_commit}}}});
  else if (!in.source_digest.empty())
    deps.push_back({{"uri", in.source_uri}, {"digest", DigestSet(in.source_digest)}});
  for (const auto& m : in.materials)
    deps.push_back({{"uri", m.uri}, {"digest", DigestSet(m.digest)}});
  json internal = json::object();
  if (!in.run_id.empty()) internal["runId"] = in.run_id;
  if (!in.task.empty()) internal["task"] = in.task;
  if (!in.trigger.empty()) internal["trigger"] = in.trigger;
  json metadata = {{"startedOn", in.started}, {"finishedOn", in.finished}};
  if (!in.run_id.empty()) metadata["invocationId"] = in.run_id;
  json predicate = {
      {"buildDefinition",
       {{"buildType", kBuildType},
        {"externalParameters", ExternalParameters(in)},
        {"internalParameters", internal},
        {"resolvedDependencies", deps}}},
      {"runDetails",
       {{"builder", {{"id", in.builder_id}, {"version", {{"drydock", in.builder_version}}}}},
        {"metadata", metadata}}}};
  return Statement(in.subject_name, in.subject_digest, kSlsaProvenance, std::move(predicate));
}

json Statement(const std::string& subject_name, const oci::Digest& digest,
               const std::string& predicate_type, json predicate) {
  return {{"_type", kInTotoStatement},
          {"subject", json::array({{{"name", subject_name},
                                    {"digest", {{digest.algorithm_name(), digest.hex()}}}}})},
          {"predicateType", predicate_type},
          {"predicate", std::move(predicate)}};
}

}  // namespace drydock::attest
