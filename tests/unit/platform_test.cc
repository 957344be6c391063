#include "oci/platform.h"

#include <gtest/gtest.h>

namespace drydock::oci {
namespace {

TEST(Platform, ParsesAndNormalisesAsContainerdDoes) {
  EXPECT_EQ(ParsePlatform("linux/amd64")->String(), "linux/amd64");
  EXPECT_EQ(ParsePlatform("linux/x86_64")->String(), "linux/amd64");
  EXPECT_EQ(ParsePlatform("linux/aarch64")->String(), "linux/arm64");
  EXPECT_EQ(ParsePlatform("linux/arm64/v8")->String(), "linux/arm64");
  EXPECT_EQ(ParsePlatform("Linux/ARM")->String(), "linux/arm/v7");
  EXPECT_EQ(ParsePlatform("linux/arm/6")->String(), "linux/arm/v6");
  EXPECT_EQ(ParsePlatform("linux/armv6l")->String(), "linux/arm/v6");
  auto p = ParsePlatform("linux/arm64");
  EXPECT_EQ(p->os, "linux");
  EXPECT_EQ(p->architecture, "arm64");
  EXPECT_EQ(p->variant, "");
}

TEST(Platform, MatchesAcrossSpellings) {
  Platform index_entry{"linux", "arm64", "v8"};  // as some indexes write it
  EXPECT_TRUE(ParsePlatform("linux/arm64")->Matches(index_entry));
  EXPECT_TRUE((Platform{"linux", "arm", ""}).Matches(*ParsePlatform("linux/arm/v7")));
  EXPECT_FALSE(ParsePlatform("linux/arm/v6")->Matches(*ParsePlatform("linux/arm/v7")));
  EXPECT_FALSE(ParsePlatform("linux/amd64")->Matches(index_entry));
}

TEST(Platform, BadTextIsRefusedByName) {
  for (const char* bad :
       {"", "linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux/am d64", "linux/amd64;rm"}) {
    auto p = ParsePlatform(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("os/architecture"), std::string::npos);
  }
}

TEST(Platform, ListsKeepOrderAndDropRepeats) {
  auto list = ParsePlatforms("linux/amd64, linux/arm64,linux/aarch64/v8");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].String(), "linux/amd64");
  EXPECT_EQ((*list)[1].String(), "linux/arm64");
  EXPECT_FALSE(ParsePlatforms("linux/amd64,").ok());
}

TEST(Platform, HostIsParsed) {
  Platform host = HostPlatform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_FALSE(host.architecture.empty());
}

}  // namespace
}  // namespace drydock::oci
