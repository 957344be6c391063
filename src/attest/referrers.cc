#include "attest/referrers.h"

#include "base/json.h"
#include "oci/manifest.h"

namespace drydock::attest {
namespace {
constexpr size_t kMaxAttestation = 16 << 20;
}  // namespace

Result<std::vector<Attestation>> FetchAttestations(remote::Client& client,
                                                   const oci::ImageReference& repo,
                                                   const oci::Digest& subject,
                                                   const std::string& artifact_type) {
  DD_ASSIGN_OR_RETURN(refs, client.ListReferrers(repo, subject, artifact_type));
  std::vector<Attestation> out;
  for (auto& r : refs) {
    oci::ImageReference at = repo;
    at.tag.clear();
    at.digest = r.digest;
    DD_ASSIGN_OR_RETURN(m, client.GetManifest(at));
    auto parsed = oci::ParseManifest(m.bytes, m.media_type);
    if (!parsed.ok() || parsed->layers.size() != 1)
      return Invalid("attestation " + r.digest.str() + " is not an artifact of one layer");
    DD_ASSIGN_OR_RETURN(blob, client.FetchBlobBytes(at, parsed->layers[0].digest, kMaxAttestation));
    out.push_back({std::move(r), std::move(blob)});
  }
  return out;
}

Status CheckSignatures(const std::vector<SignatureBlob>& signatures, const oci::Digest& digest,
                       const std::vector<std::shared_ptr<const Key>>& keys) {
  std::string why = "no signature";
  for (const auto& sig : signatures) {
    auto parsed = ParseJson(sig.bundle);
    if (!parsed.ok()) {
      why = "signature " + sig.referrer.str() + " is not JSON";
      continue;
    }
    for (const auto& key : keys) {
      auto statement = VerifyBundle(*parsed, *key);
      if (!statement.ok()) {
        why = "signature " + sig.referrer.str() + ": " + statement.status().message();
        continue;
      }
      if (!StatementCovers(*statement, digest)) {
        why = "signature " + sig.referrer.str() + " signs another digest";
        continue;
      }
      return Status::Ok();
    }
  }
  return Invalid(why);
}

Status CheckSigned(remote::Client& client, const oci::ImageReference& repo,
                   const oci::Digest& digest, const std::vector<std::shared_ptr<const Key>>& keys) {
  DD_ASSIGN_OR_RETURN(bundles, FetchAttestations(client, repo, digest, kBundleMediaType));
  std::vector<SignatureBlob> signatures;
  for (auto& b : bundles) signatures.push_back({b.referrer.digest, std::move(b.blob)});
  return CheckSignatures(signatures, digest, keys);
}

Status PushArtifact(remote::Client& client, const oci::ImageReference& repo,
                    const Artifact& artifact) {
  for (const auto& blob : artifact.blobs)
    DD_RETURN_IF_ERROR(client.PushBlobBytes(repo, oci::Digest::Of(blob), blob));
  oci::ImageReference by_digest = repo;
  by_digest.tag.clear();
  by_digest.digest = artifact.digest();
  return client.PushManifest(by_digest, artifact.manifest, std::string(oci::kOciManifest)).status();
}

}  // namespace drydock::attest
