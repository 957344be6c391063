#include "oci/digest.h"

#include <gtest/gtest.h>

namespace drydock::oci {
namespace {

TEST(Digest, KnownSha256) {
  EXPECT_EQ(Digest::Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Digest::Of("hello").str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

TEST(Digest, KnownSha512) {
  auto d = Digest::Of("abc", Algorithm::kSha512);
  EXPECT_EQ(d.hex().substr(0, 16), "ddaf35a193617aba");
  EXPECT_EQ(d.hex().size(), 128u);
  EXPECT_EQ(d.algorithm_name(), "sha512");
}

TEST(Digest, ParseAcceptsValid) {
  auto d = Digest::Parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->algorithm(), Algorithm::kSha256);
}

TEST(Digest, ParseRejectsBadInput) {
  for (const char* bad :
       {"", "sha256", "sha256:", "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
        "sha256:../../../../etc/passwd"}) {
    auto d = Digest::Parse(bad);
    EXPECT_FALSE(d.ok()) << bad;
    if (!d.ok()) {
      EXPECT_FALSE(d.status().message().empty());
    }
  }
}

TEST(Hasher, IncrementalEqualsOneShotAndCopiesAreIndependent) {
  Hasher h;
  h.Update("hel", 3);
  Hasher snapshot = h;
  h.Update("lo", 2);
  EXPECT_EQ(h.Peek(), Digest::Of("hello"));
  EXPECT_EQ(snapshot.Peek(), Digest::Of("hel"));
  snapshot.Update("p!", 2);
  EXPECT_EQ(snapshot.Peek(), Digest::Of("help!"));
}

}  // namespace
// A state written down mid-stream and read back (on another server)
// finishes with the same digest as hashing everything in one go.
TEST(ResumableSha256, ASavedStateContinuesWhereItStopped) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{99999}}) {
    ResumableSha256 first;
    first.Update(data.data(), cut);
    auto second = ResumableSha256::LoadState(first.SaveState());
    ASSERT_TRUE(second.ok()) << second.status().message();
    second->Update(data.data() + cut, data.size() - cut);
    EXPECT_EQ(second->Peek(), Digest::Of(data)) << "cut at " << cut;
  }
  EXPECT_EQ(ResumableSha256().Peek(), Digest::Of(""));
}

TEST(ResumableSha256, RefusesWhatIsNotASavedState) {
  std::string good = ResumableSha256().SaveState();
  EXPECT_FALSE(ResumableSha256::LoadState("").ok());
  EXPECT_FALSE(ResumableSha256::LoadState(good.substr(0, good.size() - 2)).ok());
  EXPECT_FALSE(ResumableSha256::LoadState("sha512-state-v1:" + good.substr(16)).ok());
  std::string upper = good;
  upper.back() = 'G';
  EXPECT_FALSE(ResumableSha256::LoadState(upper).ok());
}

}  // namespace drydock::oci
