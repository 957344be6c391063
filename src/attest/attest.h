// Attestations of a built image: what is in it (an SPDX 2.3 SBOM read
// from its package databases), how it was made (a SLSA v1 provenance
// statement), and signatures over both and over the image (Sigstore
// bundles, v0.3, with a DSSE envelope as cosign writes them), each stored
// as an OCI 1.1 artifact whose subject is what it describes. Pure
// functions over bytes and OpenSSL: fetching and pushing are the caller's.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::attest {

// The version attestations name (SBOM creator, provenance builder).
inline constexpr char kDrydockVersion[] = "0.11.0";

// ------------------------------------------------------------ packages ---

// /etc/os-release (or /usr/lib/os-release): ID and VERSION_ID name the
// distribution in package URLs ("debian-12").
struct OsRelease {
  std::string id, version_id, pretty_name;
};
OsRelease ParseOsRelease(std::string_view text);

struct Package {
  std::string type;  // "deb", "apk" or "rpm": the package manager that installed it
  std::string name, version, arch, source, license;
  std::string purl;  // the package URL, canonical (purl spec) form
};

// The package databases of a root filesystem, as files read from it (a
// file absent is empty). The paths are the ones the gate of a rebase
// also knows: /var/lib/dpkg/status, /var/lib/dpkg/status.d/* (distroless
// images keep one file per package there), /lib/apk/db/installed, and
// rpm's SQLite database (Fedora 33+, RHEL 9, Amazon Linux 2023; its
// Berkeley DB and ndb formats are not read).
struct PackageDatabases {
  std::string os_release, dpkg_status, apk_installed;
  std::vector<std::string> dpkg_status_d;
  std::string rpmdb_sqlite;  // the file's bytes
};
inline constexpr char kDpkgStatus[] = "var/lib/dpkg/status";
inline constexpr char kDpkgStatusDir[] = "var/lib/dpkg/status.d";
inline constexpr char kApkInstalled[] = "lib/apk/db/installed";
// Where rpm keeps it: the first that exists (Fedora 36+ moved it to
// /usr/lib/sysimage, leaving a symlink behind).
inline constexpr const char* kRpmDatabases[] = {"usr/lib/sysimage/rpm/rpmdb.sqlite",
                                                "var/lib/rpm/rpmdb.sqlite"};
inline constexpr const char* kOsReleaseFiles[] = {"etc/os-release", "usr/lib/os-release"};

// Installed packages (dpkg's "deinstall"/"not-installed" entries are not),
// sorted by type, name and architecture.
std::vector<Package> ReadPackages(const PackageDatabases& dbs, OsRelease* os = nullptr);

// purl spec: pkg:deb/debian/NAME@VERSION?arch=A&distro=debian-12, with ':'
// kept and '+' as %2B, qualifiers sorted; an rpm's epoch ("1:2.3-4") is its
// `epoch` qualifier, as the spec has it.
std::string PackageUrl(const Package& p, const OsRelease& os);

// ---------------------------------------------------------------- SBOM ---

struct SbomInput {
  std::string image_name;              // REGISTRY/REPO:TAG or @digest, as pushed
  oci::Digest image_digest;            // the manifest described
  std::string base_name, base_digest;  // the image's base, "" for FROM scratch
  std::string created;                 // RFC 3339
  std::string tool;                    // "drydock-<version>"
  std::vector<Package> packages;
  OsRelease os;
};
// An SPDX 2.3 document: the image as a CONTAINER package that CONTAINS each
// installed package (and names its base); with no package databases, a
// comment saying so.
nlohmann::json SpdxDocument(const SbomInput& in);
// The packages an SPDX document lists (name, version, purl), image and base
// packages excluded: what `which-contain` indexes.
std::vector<Package> SpdxPackages(const nlohmann::json& spdx);

// ---------------------------------------------------------- provenance ---

inline constexpr char kInTotoStatement[] = "https://in-toto.io/Statement/v1";
inline constexpr char kSlsaProvenance[] = "https://slsa.dev/provenance/v1";
inline constexpr char kSpdxPredicate[] = "https://spdx.dev/Document";
inline constexpr char kCosignSign[] = "https://sigstore.dev/cosign/sign/v1";
inline constexpr char kBuildType[] = "https://drydock.dev/build/v1";

// A resolved input: an image (uri a pkg:docker purl or a reference), a
// remote file, a git commit.
struct Material {
  std::string uri;
  std::string digest;  // "sha256:<hex>" or "sha1:<hex>" (git)
};
struct ProvenanceInput {
  std::string subject_name;
  oci::Digest subject_digest;
  std::string builder_id, builder_version;
  // The source: a git URL with its commit, or the context's digest.
  std::string source_uri, source_commit, source_digest;
  std::string dockerfile_path, dockerfile_digest;
  std::map<std::string, std::string> build_args;  // secret ones never reach here
  std::string target, platform;
  std::string run_id, task, trigger;  // empty for a local build
  std::string started, finished;      // RFC 3339
  std::vector<Material> materials;    // bases, COPY --from images, ADD inputs
};
// An in-toto Statement v1 with a SLSA v1 provenance predicate.
nlohmann::json ProvenanceStatement(const ProvenanceInput& in);

// -------------------------------------------------------------- signing ---

// An ECDSA P-256 key pair (the private half only where it signs).
class Key {
 public:
  static Result<Key> Generate();
  // A PEM private key ("EC PRIVATE KEY" or PKCS#8) or public key ("PUBLIC KEY").
  static Result<Key> FromPem(std::string_view pem);
  Key(Key&&) noexcept;
  Key& operator=(Key&&) noexcept;
  ~Key();

  bool has_private() const { return private_; }
  std::string PrivatePem() const;  // PKCS#8; "" without the private half
  std::string PublicPem() const;
  // base64(SHA-256(DER SubjectPublicKeyInfo)), as cosign names a key.
  std::string Hint() const;
  // ASN.1 DER ECDSA signature over SHA-256(data).
  Result<std::string> Sign(std::string_view data) const;
  bool Verify(std::string_view data, std::string_view der_signature) const;

 private:
  struct Pkey;
  Key(std::unique_ptr<Pkey> k, bool priv);
  std::unique_ptr<Pkey> k_;
  bool private_ = false;
};

// DSSE's pre-authentication encoding: what a DSSE signature covers.
std::string Pae(std::string_view payload_type, std::string_view payload);

inline constexpr char kBundleMediaType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
inline constexpr char kInTotoMediaType[] = "application/vnd.in-toto+json";
inline constexpr char kSpdxMediaType[] = "application/spdx+json";

// A Sigstore bundle v0.3: `statement` (an in-toto statement) in a DSSE
// envelope signed by `key`, the key named by its hint.
Result<nlohmann::json> SignStatement(const Key& key, const nlohmann::json& statement);
// cosign's signature of a manifest: a statement whose subject is `digest`
// and predicate type kCosignSign, signed.
Result<nlohmann::json> SignManifest(const Key& key, const oci::Digest& digest);

// Who signs: a key held here (KeySigner), or a server asked to (an agent's
// images are signed by its server's key, which never leaves the server).
struct Signer {
  std::function<Result<nlohmann::json>(const oci::Digest&)> sign;  // a bundle, as SignManifest
  std::string hint;                                                // names the key in logs
  explicit operator bool() const { return static_cast<bool>(sign); }
};
Signer KeySigner(std::shared_ptr<const Key> key);

// Checks a bundle's DSSE signature with `key`; the statement it carries.
// Errors name what is wrong (media type, payload type, signature).
Result<nlohmann::json> VerifyBundle(const nlohmann::json& bundle, const Key& key);
// The statement names `digest` among its subjects.
bool StatementCovers(const nlohmann::json& statement, const oci::Digest& digest);

// --------------------------------------------------------- OCI artifacts ---

// A manifest to push by digest with the blobs it references.
struct Artifact {
  std::string manifest;
  std::vector<std::string> blobs;  // its config, then its layers
  oci::Digest digest() const { return oci::Digest::Of(manifest); }
  const std::string& layer() const { return blobs.back(); }  // an OCI artifact's one layer
};
struct Subject {
  std::string media_type;
  oci::Digest digest;
  int64_t size = 0;
};
// An OCI 1.1 artifact manifest: the empty config, one layer (`blob` with
// `media_type`), `subject`, `artifact_type` and `annotations`.
Artifact MakeArtifact(const std::string& artifact_type, const std::string& media_type,
                      std::string blob, const Subject& subject,
                      const std::map<std::string, std::string>& annotations);
// What an artifact is as a subject: an OCI manifest of its size.
Subject SubjectOf(const Artifact& artifact);
// Signatures over `subjects` (an image, then its attestations): one bundle
// artifact each, whose subject is what it signs.
Result<std::vector<Artifact>> SignatureArtifacts(const Signer& signer,
                                                 const std::vector<Subject>& subjects);
inline constexpr char kEmptyConfig[] = "{}";
inline constexpr char kEmptyConfigMediaType[] = "application/vnd.oci.empty.v1+json";
inline constexpr char kPredicateTypeAnnotation[] = "in-toto.io/predicate-type";
inline constexpr char kBundleContentAnnotation[] = "dev.sigstore.bundle.content";
inline constexpr char kBundlePredicateAnnotation[] = "dev.sigstore.bundle.predicateType";

// An in-toto Statement v1 of `predicate` about the manifest `digest`.
nlohmann::json Statement(const std::string& subject_name, const oci::Digest& digest,
                         const std::string& predicate_type, nlohmann::json predicate);

// ------------------------------------------ Docker's attestation layout ---

// BuildKit's layout, which `docker buildx imagetools inspect` and Docker
// Scout read: the attestations of one image of an index in an image
// manifest of their own (config: an image config for unknown/unknown;
// layers: in-toto statements annotated with their predicate type), listed
// in the index beside that image for platform unknown/unknown with these
// annotations naming it.
inline constexpr char kDockerReferenceType[] = "vnd.docker.reference.type";
inline constexpr char kDockerReferenceDigest[] = "vnd.docker.reference.digest";
inline constexpr char kDockerAttestationManifest[] = "attestation-manifest";
Artifact DockerAttestationManifest(const std::vector<nlohmann::json>& statements);
// Its entry in the index: `image` is the manifest it describes.
nlohmann::json DockerAttestationEntry(const Artifact& manifest, const oci::Digest& image);

}  // namespace drydock::attest
