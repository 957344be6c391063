#include "oci/manifest.h"

#include <gtest/gtest.h>

#include "base/json.h"

namespace drydock::oci {
namespace {

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');
const std::string kD3 = "sha256:" + std::string(64, '3');

std::string ImageManifest(const std::string& extra = "") {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kD1 +
         R"(","size":10},)"
         R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
         kD2 + R"(","size":20}])" + extra + "}";
}

TEST(Manifest, ParsesImageManifest) {
  auto m = ParseManifest(ImageManifest(), "application/vnd.oci.image.manifest.v1+json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->media_type, kOciManifest);
  ASSERT_EQ(m->RequiredBlobs().size(), 2u);
  EXPECT_EQ(m->RequiredBlobs()[0].str(), kD1);
  EXPECT_EQ(m->artifact_type, "application/vnd.oci.image.config.v1+json");
  EXPECT_FALSE(m->subject.has_value());
}

TEST(Manifest, SubjectAndArtifactType) {
  auto m =
      ParseManifest(ImageManifest(R"(,"artifactType":"application/x-sig","subject":{"mediaType":)"
                                  R"("application/vnd.oci.image.manifest.v1+json","digest":")" +
                                  kD3 + R"(","size":5},"annotations":{"a":"b"})"),
                    "");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_TRUE(m->subject.has_value());
  EXPECT_EQ(m->subject->digest.str(), kD3);
  EXPECT_EQ(m->artifact_type, "application/x-sig");
  EXPECT_EQ(m->annotations_json, R"({"a":"b"})");
}

TEST(Manifest, ParsesIndexAndInfersTypeWithoutMediaType) {
  std::string index =
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("digest":")" +
      kD1 + R"(","size":7,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto m = ParseManifest(index, "");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->media_type, kOciIndex);
  ASSERT_EQ(m->RequiredManifests().size(), 1u);
  EXPECT_TRUE(m->RequiredBlobs().empty());
}

TEST(Manifest, ForeignLayersAreNotRequired) {
  std::string docker =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
      R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
      kD1 +
      R"(","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",)"
      R"("digest":")" +
      kD2 + R"(","size":1,"urls":["https://example.invalid/l"]}]})";
  auto m = ParseManifest(docker, "application/vnd.docker.distribution.manifest.v2+json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->RequiredBlobs().size(), 1u);
}

TEST(Manifest, RejectsWithReasons) {
  struct Case {
    std::string body, content_type, expect_in_message;
  } cases[] = {
      {"{not json", "", "not valid JSON"},
      {"[]", "", "JSON object"},
      {R"({"schemaVersion":1})", "", "schemaVersion"},
      {ImageManifest(), "application/vnd.oci.image.index.v1+json", "does not match"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})",
       "", "config"},
      {R"({"schemaVersion":2,"mediaType":"text/plain"})", "", "not supported"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x",)"
       R"("digest":"sha256:abc","size":1},"layers":[]})",
       "", "config.digest"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x",)"
       R"("digest":")" +
           kD1 + R"(","size":-1},"layers":[]})",
       "", "config.size"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":{}})",
       "", "manifests"},
  };
  for (const auto& c : cases) {
    auto m = ParseManifest(c.body, c.content_type);
    ASSERT_FALSE(m.ok()) << c.body;
    EXPECT_NE(m.status().message().find(c.expect_in_message), std::string::npos)
        << "message '" << m.status().message() << "' lacks '" << c.expect_in_message << "'";
  }
}

}  // namespace
}  // namespace drydock::oci

namespace drydock::oci {
namespace {

// Regression (issue 12): 60,000 nested objects under the size cap overflowed
// the stack when the manifest was serialized again.
TEST(Manifest, DeepNestingIsRefusedNamingTheLimit) {
  std::string body = R"({"schemaVersion":2,"annotations":)";
  for (int i = 0; i < 60000; ++i) body += R"({"a":)";
  body += "1";
  body += std::string(60001, '}');
  auto m = ParseManifest(body, "application/vnd.oci.image.manifest.v1+json");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("nested deeper than 64 levels"), std::string::npos)
      << m.status().message();
}

TEST(Json, DepthLimitIsExactAndErrorsNameThePosition) {
  auto nested = [](int levels) {
    return std::string(static_cast<size_t>(levels), '[') + std::string(levels, ']');
  };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth)).ok());
  EXPECT_FALSE(ParseJson(nested(kMaxJsonDepth + 1)).ok());
  auto bad = ParseJson(R"({"a": tru})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(bad.status().message().find("column"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace drydock::oci
