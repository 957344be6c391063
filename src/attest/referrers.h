// Attestations as a registry holds them: found through the OCI 1.1
// referrers API of the subject's repository, with their content, and
// signatures checked against trusted keys. The over-the-network half of
// attest/ (attest.h is pure).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attest/attest.h"
#include "remote/client.h"

namespace drydock::attest {

struct Attestation {
  remote::Referrer referrer;
  std::string blob;  // the artifact's one layer
};

// The artifacts of `artifact_type` whose subject is `subject` in `repo`,
// each with its one layer's bytes (at most 16 MiB).
Result<std::vector<Attestation>> FetchAttestations(remote::Client& client,
                                                   const oci::ImageReference& repo,
                                                   const oci::Digest& subject,
                                                   const std::string& artifact_type);

// An artifact into `repo`'s repository: its blobs, then its manifest by
// digest.
Status PushArtifact(remote::Client& client, const oci::ImageReference& repo,
                    const Artifact& artifact);

// A signature referrer: its digest and its one layer (a Sigstore bundle).
struct SignatureBlob {
  oci::Digest referrer;
  std::string bundle;
};
// Ok when one of `signatures` verifies with one of `keys` and signs
// `digest`; otherwise an error saying what was found.
Status CheckSignatures(const std::vector<SignatureBlob>& signatures, const oci::Digest& digest,
                       const std::vector<std::shared_ptr<const Key>>& keys);

// Ok when a signature bundle referring to `digest` verifies with one of
// `keys` and signs that digest; otherwise an error saying what was found.
Status CheckSigned(remote::Client& client, const oci::ImageReference& repo,
                   const oci::Digest& digest, const std::vector<std::shared_ptr<const Key>>& keys);

}  // namespace drydock::attest
