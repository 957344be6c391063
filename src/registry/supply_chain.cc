// What the registry does with attestations as they are pushed: the
// signing policy (registry.require_signed) and the index of the packages
// SBOMs list (`drydock image which-contain`).
#include <fnmatch.h>

#include "attest/referrers.h"
#include "base/json.h"
#include "registry/impl.h"

namespace drydock::registry {
namespace {

// Larger documents are stored but not read: an SBOM of a whole distribution
// is a few MiB, and reading one must not let a push hold the server's memory.
constexpr size_t kMaxSbomBytes = 32 << 20;
constexpr size_t kMaxBundleBytes = 1 << 20;

// `*` matches any characters, `/` included: "prod/*" covers "prod/a/b".
bool Matches(const std::vector<std::string>& patterns, const std::string& repo) {
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), repo.c_str(), 0) == 0) return true;
  return false;
}

}  // namespace

Status Registry::Impl::CheckSigningPolicy(const std::string& repo, const oci::Digest& digest) {
  if (!Matches(options.require_signed, repo)) return Status::Ok();
  std::string why = "no signature";
  if (trusted_keys.empty()) {
    why = "no trusted key is configured (registry.trusted_keys)";
  } else {
    DD_ASSIGN_OR_RETURN(referrers, meta.ListReferrers(repo, digest));
    std::vector<attest::SignatureBlob> signatures;
    for (const auto& r : referrers) {
      if (r.artifact_type != attest::kBundleMediaType) continue;
      auto m = meta.GetManifest(repo, r.digest);
      if (!m.ok()) continue;
      auto parsed = oci::ParseManifest(m->content, m->media_type);
      if (!parsed.ok() || parsed->layers.size() != 1) continue;
      auto bundle = storage::ReadSmallBlob(blobs, parsed->layers[0].digest, kMaxBundleBytes);
      if (bundle.ok()) signatures.push_back({r.digest, std::move(*bundle)});
    }
    auto checked = attest::CheckSignatures(signatures, digest, trusted_keys);
    if (checked.ok()) return checked;
    why = checked.message();
  }
  return Status(Code::kDenied,
                repo + " requires images signed by a trusted key (registry.require_signed), and " +
                    digest.str() + " is not: " + why);
}

std::vector<storage::PackageRecord> Registry::Impl::SbomPackages(const oci::Manifest& m) {
  std::vector<storage::PackageRecord> out;
  if (!m.subject || m.artifact_type != attest::kSpdxMediaType || m.layers.size() != 1) return out;
  auto bytes = storage::ReadSmallBlob(blobs, m.layers[0].digest, kMaxSbomBytes);
  if (!bytes.ok()) return out;
  auto doc = ParseJson(*bytes);
  if (!doc.ok()) return out;
  for (auto& p : attest::SpdxPackages(*doc))
    out.push_back({std::move(p.name), std::move(p.version), std::move(p.purl)});
  return out;
}

}  // namespace drydock::registry
