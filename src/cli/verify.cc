// `drydock verify` and `drydock image sbom|provenance`: an image's
// attestations read from its registry's referrers API with the user's
// credentials, and checked against a public key: a signature of the image,
// and of each attestation, by that key; the attestations about this image.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attest/attest.h"
#include "attest/referrers.h"
#include "base/json.h"
#include "cli/client/client_config.h"
#include "cli/commands.h"
#include "oci/manifest.h"
#include "remote/client.h"

namespace drydock::cli {
namespace {

using nlohmann::json;
struct Report {
  std::vector<std::string> lines;
  bool ok = true;
  void Pass(const std::string& s) { lines.push_back("ok    " + s); }
  void Fail(const std::string& s) {
    lines.push_back("FAIL  " + s);
    ok = false;
  }
};

// "" when a bundle about `subject`, signed by `key`, is among its referrers.
std::string SignatureProblem(remote::Client& client, const oci::ImageReference& repo,
                             const oci::Digest& subject,
                             const std::shared_ptr<const attest::Key>& key) {
  Status s = attest::CheckSigned(client, repo, subject, {key});
  return s.ok() ? "" : s.message();
}

std::string Normalize(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() > 4 && url.compare(url.size() - 4, 4, ".git") == 0) url.resize(url.size() - 4);
  return url;
}

// The attestations of one kind: each signed by the key and about the image.
void CheckKind(remote::Client& client, const oci::ImageReference& repo, const oci::Digest& image,
               const std::shared_ptr<const attest::Key>& key, const char* kind,
               const std::string& type, bool required,
               const std::function<std::string(const json&)>& check, Report& report) {
  auto found = attest::FetchAttestations(client, repo, image, type);
  if (!found.ok()) return report.Fail(std::string(kind) + ": " + found.status().message());
  if (found->empty()) {
    if (required) report.Fail(std::string(kind) + ": none attached to " + image.str());
    return;
  }
  for (const auto& f : *found) {
    std::string name = std::string(kind) + " " + f.referrer.digest.str();
    if (auto why = SignatureProblem(client, repo, f.referrer.digest, key); !why.empty()) {
      report.Fail(name + ": " + why);
      continue;
    }
    auto doc = ParseJson(f.blob);
    if (!doc.ok() || !doc->is_object()) {
      report.Fail(name + ": not a JSON document");
      continue;
    }
    if (auto why = check(*doc); !why.empty())
      report.Fail(name + ": " + why);
    else
      report.Pass(name + ": signed, about " + image.str());
  }
}

remote::Client ClientFor(const std::vector<std::string>& insecure) {
  remote::ClientOptions co;
  co.insecure_registries = insecure;
  co.credentials = client::UserRegistryCredentials();
  return remote::Client(std::move(co));
}

}  // namespace

int Verify(const VerifyFlags& f) {
  auto fail = [](const std::string& what) {
    std::cerr << "drydock verify: " << what << "\n";
    return 1;
  };
  auto image = oci::ParseImageReference(f.image);
  if (!image.ok()) return fail(f.image + ": " + image.status().message());
  std::ifstream in(f.key);
  if (!in) return fail("--key " + f.key + ": cannot read it");
  auto parsed = attest::Key::FromPem(std::string(std::istreambuf_iterator<char>(in), {}));
  if (!parsed.ok()) return fail("--key " + f.key + ": " + parsed.status().message());
  auto key = std::make_shared<const attest::Key>(std::move(*parsed));
  remote::Client client = ClientFor(f.insecure_registries);
  auto m = client.GetManifest(*image);
  if (!m.ok()) return fail(m.status().message());
  const oci::Digest& digest = m->digest;
  Report report;
  if (auto why = SignatureProblem(client, *image, digest, key); why.empty())
    report.Pass("image " + digest.str() + ": signed by key " + key->Hint());
  else
    report.Fail("image " + digest.str() + ": " + why + " by key " + key->Hint());
  CheckKind(
      client, *image, digest, key, "sbom", attest::kSpdxMediaType, f.require_sbom,
      [&](const json& doc) -> std::string {
        if (doc.value("spdxVersion", "") != "SPDX-2.3") return "not an SPDX 2.3 document";
        auto ns = doc.value("documentNamespace", "");
        if (ns.size() < digest.hex().size() ||
            ns.compare(ns.size() - digest.hex().size(), digest.hex().size(), digest.hex()))
          return "describes another image (" + ns + ")";
        return "";
      },
      report);
  CheckKind(
      client, *image, digest, key, "provenance", attest::kInTotoMediaType, f.require_provenance,
      [&](const json& doc) -> std::string {
        if (doc.value("predicateType", "") != attest::kSlsaProvenance)
          return "its predicate is not " + std::string(attest::kSlsaProvenance);
        if (!attest::StatementCovers(doc, digest)) return "its subject is another image";
        if (f.source_repo.empty()) return "";
        std::string uri = doc.value(
            json::json_pointer("/predicate/buildDefinition/externalParameters/source/uri"),
            std::string());
        if (Normalize(uri) != Normalize(f.source_repo))
          return "built from " + (uri.empty() ? "an unnamed source" : uri) + ", not " +
                 f.source_repo;
        return "";
      },
      report);
  if (f.output == "json") {
    std::cout << json{{"image", image->String()},
                      {"digest", digest.str()},
                      {"verified", report.ok},
                      {"checks", report.lines}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& l : report.lines) std::cout << l << "\n";
    std::cout << (report.ok ? "verified " : "NOT verified ") << image->String() << "\n";
  }
  return report.ok ? 0 : 3;
}

int ImageAttestation(const AttestationFlags& f) {
  auto fail = [&](const std::string& what) {
    std::cerr << "drydock image " << f.kind << ": " << what << "\n";
    return 1;
  };
  auto image = oci::ParseImageReference(f.image);
  if (!image.ok()) return fail(f.image + ": " + image.status().message());
  remote::Client client = ClientFor(f.insecure_registries);
  auto m = client.GetManifest(*image);
  if (!m.ok()) return fail(m.status().message());
  auto found = attest::FetchAttestations(
      client, *image, m->digest,
      f.kind == "sbom" ? attest::kSpdxMediaType : attest::kInTotoMediaType);
  if (!found.ok()) return fail(found.status().message());
  if (found->empty()) return fail("no " + f.kind + " is attached to " + m->digest.str());
  auto doc = ParseJson(found->front().blob);
  if (!doc.ok()) return fail("the " + f.kind + " is not JSON");
  if (f.kind == "sbom" && f.output == "table") {
    std::cout << "NAME\tVERSION\tTYPE\tPURL\n";
    for (const auto& p : attest::SpdxPackages(*doc))
      std::cout << p.name << "\t" << p.version << "\t" << p.type << "\t" << p.purl << "\n";
    return 0;
  }
  std::cout << doc->dump(2) << "\n";
  return 0;
}

}  // namespace drydock::cli
