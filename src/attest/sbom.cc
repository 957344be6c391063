// The SBOM as SPDX 2.3 JSON, shaped as syft shapes an image's: the image
// is a CONTAINER package that CONTAINS each installed package.
#include <cctype>

#include "attest/attest.h"

namespace drydock::attest {
namespace {

using nlohmann::json;

constexpr char kImageId[] = "SPDXRef-Image";
constexpr char kBaseId[] = "SPDXRef-Base";

// SPDX ids allow letters, digits, '.' and '-'.
std::string IdPart(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += std::isalnum(c) || c == '.' || c == '-' ? char(c) : '-';
  return out;
}

json Purl(const std::string& purl) {
  return json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                       {"referenceType", "purl"},
                       {"referenceLocator", purl}}});
}

// The fields every package has; what a package database does not say is
// NOASSERTION.
json PackageBase(const std::string& id, const std::string& name, const std::string& version) {
  return {{"SPDXID", id},
          {"name", name},
          {"versionInfo", version},
          {"downloadLocation", "NOASSERTION"},
          {"filesAnalyzed", false},
          {"licenseConcluded", "NOASSERTION"},
          {"licenseDeclared", "NOASSERTION"},
          {"copyrightText", "NOASSERTION"},
          {"supplier", "NOASSERTION"}};
}

json ContainerPackage(const std::string& id, const std::string& name, const std::string& digest) {
  json p = PackageBase(id, name, digest);
  p["primaryPackagePurpose"] = "CONTAINER";
  if (auto d = oci::Digest::Parse(digest); d.ok())
    p["checksums"] = json::array(
        {{{"algorithm", d->algorithm() == oci::Algorithm::kSha256 ? "SHA256" : "SHA512"},
          {"checksumValue", d->hex()}}});
  return p;
}

json Relationship(const std::string& from, const char* type, const std::string& to) {
  return {{"spdxElementId", from}, {"relationshipType", type}, {"relatedSpdxElement", to}};
}

}  // namespace

json SpdxDocument(const SbomInput& in) {
  json packages = json::array(), relationships = json::array();
  packages.push_back(ContainerPackage(kImageId, in.image_name, in.image_digest.str()));
  relationships.push_back(Relationship("SPDXRef-DOCUMENT", "DESCRIBES", kImageId));
  if (!in.base_name.empty()) {
    packages.push_back(ContainerPackage(kBaseId, in.base_name, in.base_digest));
    relationships.push_back(Relationship(kImageId, "DESCENDANT_OF", kBaseId));
  }
  for (size_t i = 0; i < in.packages.size(); ++i) {
    const Package& p = in.packages[i];
    std::string id = "SPDXRef-Package-" + p.type + "-" + IdPart(p.name) + "-" + std::to_string(i);
    json pkg = PackageBase(id, p.name, p.version);
    pkg["sourceInfo"] = p.type == "deb" ? "from the dpkg database" : "from the apk database";
    pkg["externalRefs"] = Purl(p.purl);
    if (!p.license.empty())
      pkg["comment"] = "license as the package database states it: " + p.license;
    packages.push_back(std::move(pkg));
    relationships.push_back(Relationship(kImageId, "CONTAINS", id));
  }
  json doc = {{"spdxVersion", "SPDX-2.3"},
              {"dataLicense", "CC0-1.0"},
              {"SPDXID", "SPDXRef-DOCUMENT"},
              {"name", in.image_name},
              {"documentNamespace", "https://drydock.dev/spdx/" +
                                        std::string(in.image_digest.algorithm_name()) + "/" +
                                        in.image_digest.hex()},
              {"creationInfo", {{"created", in.created}, {"creators", {"Tool: " + in.tool}}}},
              {"packages", std::move(packages)},
              {"relationships", std::move(relationships)}};
  if (!in.os.pretty_name.empty())
    doc["creationInfo"]["comment"] = "operating system: " + in.os.pretty_name;
  if (in.packages.empty())
    doc["comment"] =
        "no package database (dpkg's /var/lib/dpkg/status or status.d, apk's "
        "/lib/apk/db/installed, rpm's rpmdb.sqlite) in the image: it lists no packages";
  return doc;
}

std::vector<Package> SpdxPackages(const json& spdx) {
  std::vector<Package> out;
  auto packages = spdx.find("packages");
  if (packages == spdx.end() || !packages->is_array()) return out;
  auto text = [](const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  for (const auto& p : *packages) {
    if (!p.is_object() || text(p, "primaryPackagePurpose") == "CONTAINER") continue;
    Package pkg;
    pkg.name = text(p, "name");
    pkg.version = text(p, "versionInfo");
    if (auto refs = p.find("externalRefs"); refs != p.end() && refs->is_array())
      for (const auto& r : *refs)
        if (r.is_object() && text(r, "referenceType") == "purl")
          pkg.purl = text(r, "referenceLocator");
    if (pkg.purl.rfind("pkg:", 0) == 0) pkg.type = pkg.purl.substr(4, pkg.purl.find('/') - 4);
    if (!pkg.name.empty()) out.push_back(std::move(pkg));
  }
  return out;
}

}  // namespace drydock::attest
