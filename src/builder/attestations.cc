// What a pushed image carries beside it (attest/attest.h): its SBOM, read
// from the package databases of its merged layers; its provenance, from
// what this build actually used; and signatures over the image and each
// attestation, each an OCI artifact whose subject is what it describes.
#include <algorithm>
#include <filesystem>

#include "base/strings.h"
#include "builder/rootfs.h"
#include "builder/stage_runner.h"
#include "oci/manifest.h"

namespace drydock::builder {

namespace fs = std::filesystem;

namespace {

// The database files of `root` that exist; a package database is the
// image author's, so a file that cannot be read is an error naming it.
Result<std::string> ReadIfThere(const fs::path& root, const std::string& path) {
  auto read = ReadFileInRoot(root, path);
  if (!read.ok()) return Status(read.status().code(), "/" + path + ": " + read.status().message());
  return read->value_or("");
}

std::string DependencyUri(const ImageDependency& d, const std::string& platform) {
  std::string uri = "pkg:docker/" + d.registry + "/" + d.repository;
  if (!d.tag.empty()) uri += "@" + d.tag;
  return uri + "?platform=" + PercentEncode(platform);
}

}  // namespace

void StageRunner::RecordInput(attest::Material m) {
  std::lock_guard lock(inputs_mu_);
  inputs_.push_back(std::move(m));
}

Result<attest::PackageDatabases> StageRunner::ReadPackageDatabases(const StageState& st) {
  attest::PackageDatabases dbs;
  if (st.layers.empty()) return dbs;  // FROM scratch with nothing added
  DD_ASSIGN_OR_RETURN(mount, StageMount::Create(store_, st.layers));
  const fs::path& root = mount->root();
  for (const char* f : attest::kOsReleaseFiles) {
    DD_ASSIGN_OR_RETURN(text, ReadIfThere(root, f));
    if (!text.empty()) {
      dbs.os_release = std::move(text);
      break;
    }
  }
  DD_ASSIGN_OR_RETURN(status, ReadIfThere(root, attest::kDpkgStatus));
  dbs.dpkg_status = std::move(status);
  DD_ASSIGN_OR_RETURN(apk, ReadIfThere(root, attest::kApkInstalled));
  dbs.apk_installed = std::move(apk);
  for (const char* f : attest::kRpmDatabases) {
    DD_ASSIGN_OR_RETURN(rpmdb, ReadIfThere(root, f));
    if (!rpmdb.empty()) {
      dbs.rpmdb_sqlite = std::move(rpmdb);
      break;
    }
  }
  if (auto dir = ResolveDirInRoot(root, attest::kDpkgStatusDir); dir.ok()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*dir, ec)) {
      std::string name = e.path().filename().string();
      if (!e.is_regular_file(ec) || name.find('.') != std::string::npos) continue;  // *.md5sums
      DD_ASSIGN_OR_RETURN(text,
                          ReadIfThere(root, std::string(attest::kDpkgStatusDir) + "/" + name));
      dbs.dpkg_status_d.push_back(std::move(text));
    }
  }
  return dbs;
}

Result<std::vector<Attached>> StageRunner::Attest(const StageState& st, const std::string& manifest,
                                                  const std::string& media_type) {
  const AttestOptions& a = o_.attest;
  const oci::Digest digest = oci::Digest::Of(manifest);
  const attest::Subject image{media_type, digest, static_cast<int64_t>(manifest.size())};
  std::string name = o_.tags.empty() ? digest.str() : o_.tags.front().String();
  std::vector<Attached> out;
  auto add = [&](const char* kind, attest::Artifact artifact, const oci::Digest& subject) {
    out.push_back(Attached{kind, subject, std::move(artifact)});
  };
  if (a.sbom) {
    DD_ASSIGN_OR_RETURN(dbs, ReadPackageDatabases(st));
    attest::SbomInput in;
    in.image_name = name;
    in.image_digest = digest;
    if (st.base_ref && !st.base_manifest.empty()) {
      in.base_name = st.base_ref->String();
      in.base_digest = st.base_manifest;
    }
    in.created = Now();
    in.tool = a.tool;
    in.packages = attest::ReadPackages(dbs, &in.os);
    Log("SBOM: " + std::to_string(in.packages.size()) + " package(s)\n");
    add("sbom",
        attest::MakeArtifact(attest::kSpdxMediaType, attest::kSpdxMediaType,
                             attest::SpdxDocument(in).dump(), image, {}),
        digest);
  }
  if (a.provenance) {
    attest::ProvenanceInput in = a.context;
    in.subject_name = name;
    in.subject_digest = digest;
    fs::path dockerfile = o_.dockerfile.empty() ? o_.context_dir / "Dockerfile" : o_.dockerfile;
    in.dockerfile_path = dockerfile.lexically_relative(o_.context_dir).string();
    in.dockerfile_digest = dockerfile_digest_;
    for (const auto& [k, v] : o_.build_args)
      if (std::find(a.secret_build_args.begin(), a.secret_build_args.end(), k) ==
          a.secret_build_args.end())
        in.build_args[k] = v;
    in.target = o_.target;
    in.platform = o_.platform;
    if (in.started.empty()) in.started = started_;
    in.finished = Now();
    std::vector<ImageDependency> bases = deps_.buildtime;
    if (deps_.runtime) bases.insert(bases.begin(), *deps_.runtime);
    for (const auto& d : bases) in.materials.push_back({DependencyUri(d, o_.platform), d.digest});
    {
      std::lock_guard lock(inputs_mu_);
      in.materials.insert(in.materials.end(), inputs_.begin(), inputs_.end());
    }
    add("provenance",
        attest::MakeArtifact(attest::kInTotoMediaType, attest::kInTotoMediaType,
                             attest::ProvenanceStatement(in).dump(), image,
                             {{attest::kPredicateTypeAnnotation, attest::kSlsaProvenance}}),
        digest);
  }
  if (a.signer) {
    // The image, then each attestation: a signature is a referrer of what it signs.
    std::vector<attest::Subject> subjects = {image};
    for (const auto& what : out) subjects.push_back(attest::SubjectOf(what.artifact));
    DD_ASSIGN_OR_RETURN(signatures, attest::SignatureArtifacts(a.signer, subjects));
    for (size_t i = 0; i < signatures.size(); ++i)
      add("signature", std::move(signatures[i]), subjects[i].digest);
  }
  return out;
}

}  // namespace drydock::builder
