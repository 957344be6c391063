#include "oci/reference.h"

#include <gtest/gtest.h>

#include <string>

namespace drydock::oci {
namespace {

TEST(RepositoryName, AcceptsSpecExamples) {
  for (const char* ok :
       {"a", "library/busybox", "my-org/my_app", "a__b", "a---b/c.d", "0/1/2", "x.y_z-w"}) {
    EXPECT_TRUE(ValidateRepositoryName(ok).ok()) << ok;
  }
}

TEST(RepositoryName, RejectsInvalid) {
  for (const char* bad : {"", "UPPER", "a//b", "/a", "a/", "../x", "a/../b", "-a", "a-", "a_._b",
                          "a___b", "a b", "a:b", "a%2fb"}) {
    auto s = ValidateRepositoryName(bad);
    EXPECT_FALSE(s.ok()) << bad;
  }
  EXPECT_FALSE(ValidateRepositoryName(std::string(256, 'a')).ok());
  EXPECT_TRUE(ValidateRepositoryName(std::string(255, 'a')).ok());
}

TEST(Tag, AcceptsAndRejects) {
  for (const char* ok : {"latest", "v1.0.0", "_x", "A-b_c.d", "0"})
    EXPECT_TRUE(ValidateTag(ok).ok()) << ok;
  for (const char* bad : {"", ".x", "-x", "a/b", "a:b", "a b"})
    EXPECT_FALSE(ValidateTag(bad).ok()) << bad;
  EXPECT_TRUE(ValidateTag(std::string(128, 'a')).ok());
  EXPECT_FALSE(ValidateTag(std::string(129, 'a')).ok());
}

}  // namespace
}  // namespace drydock::oci

namespace drydock::oci {
namespace {

TEST(ImageReference, NormalisesLikeDocker) {
  auto r = ParseImageReference("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->String(), "docker.io/library/busybox:latest");
  r = ParseImageReference("localhost:5000/team/app:1.2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "localhost:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->tag, "1.2");
  r = ParseImageReference("127.0.0.1:5000/app@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->Reference(), "sha256:" + std::string(64, 'a'));
  r = ParseImageReference("team/app:v1", "registry.local");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->String(), "registry.local/team/app:v1");
}

TEST(ImageReference, RejectsBadOnes) {
  for (const char* bad :
       {"", "UPPER/app", "app:bad tag", "app@sha256:short", "localhost:5000/", "a//b"}) {
    EXPECT_FALSE(ParseImageReference(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace drydock::oci
