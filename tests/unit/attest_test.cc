#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>

#include "attest/attest.h"
#include "base/base64.h"

namespace drydock::attest {
namespace {

using nlohmann::json;

constexpr char kStatus[] = R"(Package: attr
Status: install ok installed
Priority: optional
Architecture: amd64
Source: attr (1:2.5.1-4)
Version: 1:2.5.1-4+b1
Description: utilities for manipulating filesystem extended attributes
 A set of tools for manipulating extended attributes.
 .
 Continued.

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libstdc++6
Status: hold ok installed
Architecture: amd64
Version: 12.2.0-14
)";

TEST(AttestPackages, DpkgStatusKeepsInstalledPackagesOnly) {
  PackageDatabases dbs;
  dbs.os_release = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
  dbs.dpkg_status = kStatus;
  OsRelease os;
  auto pkgs = ReadPackages(dbs, &os);
  EXPECT_EQ(os.id, "debian");
  EXPECT_EQ(os.version_id, "12");
  EXPECT_EQ(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "attr");
  EXPECT_EQ(pkgs[0].version, "1:2.5.1-4+b1");
  EXPECT_EQ(pkgs[0].source, "attr");
  // The purl spec's canonical form: ':' kept, '+' escaped, qualifiers sorted.
  EXPECT_EQ(pkgs[0].purl, "pkg:deb/debian/attr@1:2.5.1-4%2Bb1?arch=amd64&distro=debian-12");
  EXPECT_EQ(pkgs[1].name, "libstdc++6");
  EXPECT_EQ(pkgs[1].purl, "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12");
}

TEST(AttestPackages, DistrolessStatusDirAndApk) {
  PackageDatabases dbs;
  dbs.dpkg_status_d = {"Package: libc6\nSource: glibc\nVersion: 2.36-9\nArchitecture: amd64\n",
                       "Package: tzdata\nVersion: 2024a-0\nArchitecture: all\n"};
  dbs.apk_installed =
      "C:Q1abc=\nP:musl-utils\nV:1.2.4-r2\nA:x86_64\nL:MIT BSD "
      "GPL2+\no:musl\nF:sbin\nR:ldconfig\n\n"
      "P:busybox\nV:1.36.1-r5\nA:x86_64\n";
  dbs.os_release = "ID=alpine\nVERSION_ID=3.19.1\n";
  auto pkgs = ReadPackages(dbs);
  ASSERT_EQ(pkgs.size(), 4u);
  EXPECT_EQ(pkgs[0].purl, "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.19.1");
  EXPECT_EQ(pkgs[1].purl,
            "pkg:apk/alpine/musl-utils@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1&upstream=musl");
  EXPECT_EQ(pkgs[1].license, "MIT BSD GPL2+");
  EXPECT_EQ(pkgs[2].name, "libc6");
  EXPECT_EQ(pkgs[2].purl,
            "pkg:deb/alpine/libc6@2.36-9?arch=amd64&distro=alpine-3.19.1&upstream=glibc");
  EXPECT_EQ(pkgs[3].name, "tzdata");
}

TEST(AttestPackages, GarbageIsNoPackagesNotACrash) {
  PackageDatabases dbs;
  dbs.dpkg_status = std::string("\0\0:\n \n:::\nPackage\n\n\n", 20);
  dbs.apk_installed = "X\n:\nP:\n\n";
  dbs.os_release = "=\nID\n";
  EXPECT_TRUE(ReadPackages(dbs).empty());
}

TEST(AttestPackages, RpmPurlsCarryTheEpochAsAQualifier) {
  Package p{"rpm",
            "openssl-libs",
            "1:3.1.1-4.fc39",
            "x86_64",
            "openssl-3.1.1-4.fc39.src.rpm",
            "Apache-2.0",
            ""};
  EXPECT_EQ(PackageUrl(p, ParseOsRelease("ID=fedora\nVERSION_ID=39\n")),
            "pkg:rpm/fedora/openssl-libs@3.1.1-4.fc39?arch=x86_64&distro=fedora-39&epoch=1&"
            "upstream=openssl-3.1.1-4.fc39.src.rpm");
  p.version = "3.1.1-4.fc39";
  p.source.clear();
  EXPECT_EQ(PackageUrl(p, {}), "pkg:rpm/redhat/openssl-libs@3.1.1-4.fc39?arch=x86_64");
}

// An SQLite database made by `sql`, as the bytes of its file.
std::string SqliteFile(const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_int64 size = 0;
  unsigned char* bytes = sqlite3_serialize(db, "main", &size, 0);
  std::string out(reinterpret_cast<char*>(bytes), static_cast<size_t>(size));
  sqlite3_free(bytes);
  sqlite3_close(db);
  return out;
}

TEST(AttestPackages, HostileRpmDatabasesListNothingAndEnd) {
  PackageDatabases dbs;
  dbs.rpmdb_sqlite = "SQLite format 3";  // truncated
  EXPECT_TRUE(ReadPackages(dbs).empty());
  dbs.rpmdb_sqlite = SqliteFile(
      "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB);"
      "INSERT INTO Packages (blob) VALUES (x'8eade80100000000'), (x''), (NULL), ('text');");
  EXPECT_TRUE(ReadPackages(dbs).empty());
  // A view that never ends: SQLite's steps are bounded.
  dbs.rpmdb_sqlite = SqliteFile(
      "CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
      "WHERE i > 0) SELECT zeroblob(16) AS blob FROM n WHERE i < 0;");
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ReadPackages(dbs).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

SbomInput Input(std::vector<Package> pkgs) {
  SbomInput in;
  in.image_name = "reg.example/app:1";
  in.image_digest = oci::Digest::Of("manifest");
  in.base_name = "reg.example/base/debian:12";
  in.base_digest = oci::Digest::Of("base").str();
  in.created = "2026-12-07T00:00:00Z";
  in.tool = "drydock-test";
  in.packages = std::move(pkgs);
  return in;
}

TEST(AttestSbom, SpdxDocumentListsPackagesInTheImage) {
  PackageDatabases dbs;
  dbs.dpkg_status = kStatus;
  dbs.os_release = "ID=debian\nVERSION_ID=12\n";
  json doc = SpdxDocument(Input(ReadPackages(dbs)));
  for (const char* k : {"spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace",
                        "creationInfo", "packages", "relationships"})
    EXPECT_TRUE(doc.contains(k)) << k;
  EXPECT_EQ(doc["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(doc["documentNamespace"],
            "https://drydock.dev/spdx/sha256/" + oci::Digest::Of("manifest").hex());
  ASSERT_EQ(doc["packages"].size(), 4u);  // image, base, attr, libstdc++6
  EXPECT_EQ(doc["packages"][0]["primaryPackagePurpose"], "CONTAINER");
  EXPECT_EQ(doc["packages"][3]["SPDXID"], "SPDXRef-Package-deb-libstdc--6-1");
  int contains = 0;
  for (const auto& r : doc["relationships"]) contains += r["relationshipType"] == "CONTAINS";
  EXPECT_EQ(contains, 2);
  EXPECT_FALSE(doc.contains("comment"));
  auto back = SpdxPackages(doc);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].name, "libstdc++6");
  EXPECT_EQ(back[1].version, "12.2.0-14");
  EXPECT_EQ(back[1].type, "deb");
}

TEST(AttestSbom, NoPackageDatabaseSaysSo) {
  json doc = SpdxDocument(Input({}));
  ASSERT_TRUE(doc.contains("comment"));
  EXPECT_NE(doc["comment"].get<std::string>().find("lists no packages"), std::string::npos);
  EXPECT_TRUE(SpdxPackages(doc).empty());
  EXPECT_TRUE(SpdxPackages(json::parse(R"({"packages":[1,{"name":2}]})")).empty());
}

TEST(AttestProvenance, StatementNamesSourceInputsAndRun) {
  ProvenanceInput in;
  in.subject_name = "reg.example/app";
  in.subject_digest = oci::Digest::Of("m");
  in.builder_id = "https://reg.example/drydock";
  in.builder_version = "0.1";
  in.source_uri = "git+https://git.example/app.git";
  in.source_commit = "0123456789abcdef0123456789abcdef01234567";
  in.dockerfile_path = "Dockerfile";
  in.dockerfile_digest = oci::Digest::Of("FROM x").str();
  in.build_args = {{"VERSION", "1"}};
  in.platform = "linux/amd64";
  in.run_id = "ca7";
  in.trigger = "Commit";
  in.materials = {{"pkg:docker/reg.example/base@12", oci::Digest::Of("b").str()}};
  json s = ProvenanceStatement(in);
  EXPECT_EQ(s["_type"], kInTotoStatement);
  EXPECT_EQ(s["predicateType"], kSlsaProvenance);
  EXPECT_TRUE(StatementCovers(s, oci::Digest::Of("m")));
  EXPECT_FALSE(StatementCovers(s, oci::Digest::Of("other")));
  const json& def = s["predicate"]["buildDefinition"];
  EXPECT_EQ(def["externalParameters"]["source"]["digest"]["sha1"], in.source_commit);
  EXPECT_EQ(def["externalParameters"]["buildArgs"]["VERSION"], "1");
  EXPECT_EQ(def["internalParameters"]["runId"], "ca7");
  ASSERT_EQ(def["resolvedDependencies"].size(), 2u);
  EXPECT_EQ(def["resolvedDependencies"][1]["digest"]["sha256"], oci::Digest::Of("b").hex());
  EXPECT_EQ(s["predicate"]["runDetails"]["metadata"]["invocationId"], "ca7");
}

TEST(AttestSign, KeysRoundTripThroughPem) {
  auto key = Key::Generate();
  ASSERT_TRUE(key.ok()) << key.status().message();
  auto again = Key::FromPem(key->PrivatePem());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->has_private());
  auto pub = Key::FromPem(key->PublicPem());
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  EXPECT_FALSE(pub->has_private());
  EXPECT_EQ(pub->Hint(), key->Hint());
  EXPECT_EQ(Base64Decode(key->Hint()).size(), 32u);
  auto sig = again->Sign("data");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ((*sig)[0], 0x30);  // DER SEQUENCE
  EXPECT_TRUE(pub->Verify("data", *sig));
  EXPECT_FALSE(pub->Verify("date", *sig));
  EXPECT_FALSE(pub->Sign("data").ok());
  auto other = Key::Generate();
  EXPECT_FALSE(other->Verify("data", *sig));
  EXPECT_NE(other->Hint(), key->Hint());
}

TEST(AttestSign, BadKeysAreRefusedByName) {
  auto garbage = Key::FromPem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("not a PEM public key"), std::string::npos);
  EXPECT_FALSE(Key::FromPem("").ok());
}

TEST(AttestSign, PaeIsDsseV1) {
  EXPECT_EQ(Pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(AttestSign, BundlesVerifyAndTamperingIsCaught) {
  auto key = Key::Generate();
  auto pub = Key::FromPem(key->PublicPem());
  oci::Digest d = oci::Digest::Of("image manifest");
  auto bundle = SignManifest(*key, d);
  ASSERT_TRUE(bundle.ok());
  EXPECT_EQ((*bundle)["mediaType"], kBundleMediaType);
  EXPECT_EQ((*bundle)["verificationMaterial"]["publicKey"]["hint"], key->Hint());
  auto statement = VerifyBundle(*bundle, *pub);
  ASSERT_TRUE(statement.ok()) << statement.status().message();
  EXPECT_EQ((*statement)["predicateType"], kCosignSign);
  EXPECT_TRUE(StatementCovers(*statement, d));

  json tampered = *bundle;
  json s = *statement;
  s["subject"][0]["digest"]["sha256"] = oci::Digest::Of("another image").hex();
  tampered["dsseEnvelope"]["payload"] = Base64Encode(s.dump());
  auto bad = VerifyBundle(tampered, *pub);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not verify"), std::string::npos);
  EXPECT_FALSE(VerifyBundle(*bundle, *Key::Generate()).ok());
  json wrong_type = *bundle;
  wrong_type["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  EXPECT_NE(VerifyBundle(wrong_type, *pub).status().message().find("not a Sigstore bundle"),
            std::string::npos);
  EXPECT_FALSE(VerifyBundle(json::array(), *pub).ok());
}

TEST(AttestArtifact, ManifestReferencesItsSubject) {
  Subject subject{"application/vnd.oci.image.manifest.v1+json", oci::Digest::Of("m"), 1};
  Artifact a = MakeArtifact(kSpdxMediaType, kSpdxMediaType, "{}", subject, {{"k", "v"}});
  json m = json::parse(a.manifest);
  EXPECT_EQ(m["artifactType"], kSpdxMediaType);
  EXPECT_EQ(m["subject"]["digest"], oci::Digest::Of("m").str());
  EXPECT_EQ(m["config"]["mediaType"], kEmptyConfigMediaType);
  EXPECT_EQ(m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(m["layers"][0]["digest"], oci::Digest::Of(a.layer()).str());
  EXPECT_EQ(m["annotations"]["k"], "v");
  EXPECT_EQ(a.digest(), oci::Digest::Of(a.manifest));
  ASSERT_EQ(a.blobs.size(), 2u);  // what a push sends: its config and its layer
  EXPECT_EQ(oci::Digest::Of(a.blobs[0]).str(), m["config"]["digest"]);
}

TEST(AttestDockerLayout, StatementsAreLayersOfAnUnknownPlatformImage) {
  const oci::Digest image = oci::Digest::Of("image");
  json sbom = Statement("app", image, kSpdxPredicate, {{"spdxVersion", "SPDX-2.3"}});
  json provenance = Statement("app", image, kSlsaProvenance, json::object());
  Artifact a = DockerAttestationManifest({sbom, provenance});
  json m = json::parse(a.manifest);
  EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_FALSE(m.contains("subject"));  // the index links them, not the referrers API
  ASSERT_EQ(a.blobs.size(), 3u);
  json config = json::parse(a.blobs[0]);
  EXPECT_EQ(config["os"], "unknown");
  EXPECT_EQ(config["architecture"], "unknown");
  EXPECT_EQ(m["config"]["digest"], oci::Digest::Of(a.blobs[0]).str());
  ASSERT_EQ(m["layers"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const json& layer = m["layers"][i];
    json statement = json::parse(a.blobs[i + 1]);
    EXPECT_EQ(layer["mediaType"], kInTotoMediaType);
    EXPECT_EQ(layer["digest"], oci::Digest::Of(a.blobs[i + 1]).str());
    EXPECT_EQ(config["rootfs"]["diff_ids"][i], layer["digest"]);
    EXPECT_EQ(layer["annotations"][kPredicateTypeAnnotation], statement["predicateType"]);
    EXPECT_TRUE(StatementCovers(statement, image));
  }
  EXPECT_EQ(json::parse(a.blobs[1])["predicate"]["spdxVersion"], "SPDX-2.3");

  json entry = DockerAttestationEntry(a, image);
  EXPECT_EQ(entry["digest"], a.digest().str());
  EXPECT_EQ(entry["size"], a.manifest.size());
  EXPECT_EQ(entry["platform"]["os"], "unknown");
  EXPECT_EQ(entry["annotations"][kDockerReferenceType], "attestation-manifest");
  EXPECT_EQ(entry["annotations"][kDockerReferenceDigest], image.str());
}

}  // namespace
}  // namespace drydock::attest
