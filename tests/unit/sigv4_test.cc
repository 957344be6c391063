// SigV4 against AWS's published example (S3 docs, "Authenticating Requests:
// Using Query Parameters"); every request to the real radosgw in the
// conformance suite checks the header form.
#include "storage/sigv4.h"

#include <gtest/gtest.h>

namespace drydock::storage::internal {
namespace {

constexpr std::time_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z

TEST(SigV4, PresignsAwsExample) {
  SigV4Key key{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"};
  std::string q =
      PresignV4Query(key, "examplebucket.s3.amazonaws.com", "/test.txt", k20130524, 86400);
  EXPECT_EQ(q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, SignsHostAndAmzHeadersSortedByName) {
  SigV4Key key{"AK", "SECRET", "us-east-1"};
  auto h = SignV4(key, "PUT", "s3.example:9000", "/b/k", "partNumber=1&uploadId=u",
                  {"x-amz-copy-source: /b/src", "x-amz-copy-source-range: bytes=0-9", "Range: x"},
                  k20130524);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], "x-amz-date: 20130524T000000Z");
  EXPECT_EQ(h[1], "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  EXPECT_NE(h[2].find("Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;"
                      "x-amz-content-sha256;x-amz-copy-source;x-amz-copy-source-range;x-amz-date, "
                      "Signature="),
            std::string::npos)
      << h[2];
}

TEST(SigV4, HostDropsTheDefaultPort) {
  EXPECT_EQ(HostOf("http://127.0.0.1:7480"), "127.0.0.1:7480");
  EXPECT_EQ(HostOf("http://s3.example:80"), "s3.example");
  EXPECT_EQ(HostOf("https://s3.example:443/"), "s3.example");
  EXPECT_EQ(HostOf("https://s3.example"), "s3.example");
}

}  // namespace
}  // namespace drydock::storage::internal
