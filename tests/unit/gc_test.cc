#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>

#include "registry/registry.h"
#include "test_dir.h"

namespace drydock::registry {
namespace {

oci::Digest D(const std::string& s) { return oci::Digest::Of(s); }

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blobs_ = std::move(*storage::OpenFilesystemBlobStore(dir_.path().string()));
    meta_ = std::move(*storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string()));
    for (const char* b : {"config", "layer1", "layer2", "orphan"})
      ASSERT_TRUE(blobs_->Put(D(b), b).ok());
    for (const char* b : {"config", "layer1", "layer2"})
      ASSERT_TRUE(meta_->LinkBlob("r", D(b), 6).ok());
    Put("tagged", {D("config"), D("layer1")}, {}, "latest");
    Put("untagged", {D("config"), D("layer2")}, {}, std::nullopt);
    Put("child", {D("config")}, {}, std::nullopt);
    Put("index", {}, {D("child")}, "multi");
    storage::ManifestPut sig;
    sig.record = {"r",
                  D("signature"),
                  "application/vnd.oci.image.manifest.v1+json",
                  "signature",
                  D("tagged"),
                  "",
                  "",
                  0};
    ASSERT_TRUE(meta_->PutManifest(sig).ok());
  }

  void Put(const std::string& name, std::vector<oci::Digest> blobs,
           std::vector<oci::Digest> children, std::optional<std::string> tag) {
    storage::ManifestPut p;
    p.record = {"r", D(name), "application/vnd.oci.image.manifest.v1+json", name, std::nullopt, "",
                "",  0};
    p.blobs = std::move(blobs);
    p.manifests = std::move(children);
    p.tag = std::move(tag);
    ASSERT_TRUE(meta_->PutManifest(p).ok());
  }

  // Grace in the future: everything counts as old enough to collect.
  GcOptions Options(bool dry_run) {
    GcOptions o;
    o.delete_untagged = true;
    o.grace_seconds = -5;
    o.dry_run = dry_run;
    return o;
  }

  TempDir dir_ = testing::MakeTestDir();
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<storage::MetadataStore> meta_;
};

TEST_F(GcTest, DryRunReportsButKeepsEverything) {
  auto report = CollectGarbage(*blobs_, *meta_, Options(true));
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->manifests_deleted, 1);
  EXPECT_EQ(report->links_removed, 1);
  EXPECT_EQ(report->blobs_deleted, 2);  // layer2 and the never-linked orphan
  EXPECT_TRUE(meta_->GetManifest("r", D("untagged")).ok());
  EXPECT_TRUE(blobs_->Stat(D("orphan")).ok());
  EXPECT_TRUE(blobs_->Stat(D("layer2")).ok());
}

TEST_F(GcTest, CollectsUntaggedAndUnreferencedOnly) {
  auto report = CollectGarbage(*blobs_, *meta_, Options(false));
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_FALSE(meta_->GetManifest("r", D("untagged")).ok());
  EXPECT_FALSE(blobs_->Stat(D("layer2")).ok());
  EXPECT_FALSE(blobs_->Stat(D("orphan")).ok());
  // Kept: tagged, its referrer, the tagged index and its untagged child, shared blobs.
  for (const char* m : {"tagged", "signature", "index", "child"})
    EXPECT_TRUE(meta_->GetManifest("r", D(m)).ok()) << m;
  for (const char* b : {"config", "layer1"}) EXPECT_TRUE(blobs_->Stat(D(b)).ok()) << b;
  // A second pass finds nothing more.
  auto again = CollectGarbage(*blobs_, *meta_, Options(false));
  EXPECT_EQ(again->manifests_deleted + again->links_removed + again->blobs_deleted, 0);
}

TEST_F(GcTest, GraceProtectsNewContent) {
  GcOptions o = Options(false);
  o.grace_seconds = 3600;
  auto report = CollectGarbage(*blobs_, *meta_, o);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->manifests_deleted + report->links_removed + report->blobs_deleted, 0);
  EXPECT_TRUE(blobs_->Stat(D("orphan")).ok());
}

TEST_F(GcTest, KeepsUntaggedWhenNotAsked) {
  GcOptions o = Options(false);
  o.delete_untagged = false;
  ASSERT_TRUE(CollectGarbage(*blobs_, *meta_, o).ok());
  EXPECT_TRUE(meta_->GetManifest("r", D("untagged")).ok());
  EXPECT_TRUE(blobs_->Stat(D("layer2")).ok());
  EXPECT_FALSE(blobs_->Stat(D("orphan")).ok());
}

// A referrer is part of its subject: kept with it even when untagged
// manifests are collected, and gone with it when they are kept.
TEST_F(GcTest, ReferrersFollowTheirSubject) {
  GcOptions o = Options(false);
  o.delete_untagged = false;
  storage::ManifestPut orphan;
  orphan.record = {"r",
                   D("orphan-sig"),
                   "application/vnd.oci.image.manifest.v1+json",
                   "orphan-sig",
                   D("deleted-image"),
                   "",
                   "",
                   0};
  ASSERT_TRUE(meta_->PutManifest(orphan).ok());
  auto report = CollectGarbage(*blobs_, *meta_, o);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_FALSE(meta_->GetManifest("r", D("orphan-sig")).ok()) << "a referrer without its subject";
  EXPECT_TRUE(meta_->GetManifest("r", D("signature")).ok()) << "the tagged image's referrer";
  EXPECT_TRUE(meta_->GetManifest("r", D("untagged")).ok()) << "untagged, kept as asked";
  EXPECT_EQ(report->manifests_deleted, 1);
}

// At startup: bytes without a record that nothing wrote for a while are a
// crash's leftovers and go (young ones may be another server's monolithic
// upload); a record without bytes goes only once it is old, since another
// server writes an upload's record before its bytes.
TEST_F(GcTest, RecoverUploadsSparesRecordsOfUploadsBeingStarted) {
  int64_t now = ::time(nullptr);
  const std::string left = "aaaaaaaa-0000-4000-8000-000000000001";
  const std::string writing = "aaaaaaaa-0000-4000-8000-000000000004";
  ASSERT_TRUE(blobs_->CreateUpload(left).ok());  // no record, untouched for an hour
  std::filesystem::last_write_time(
      dir_.path() / "uploads" / left,
      std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(blobs_->CreateUpload(writing).ok());  // no record, being written
  ASSERT_TRUE(meta_->CreateUpload({"aaaaaaaa-0000-4000-8000-000000000002", "r", now, ""}).ok());
  ASSERT_TRUE(
      meta_->CreateUpload({"aaaaaaaa-0000-4000-8000-000000000003", "r", now - 3600, ""}).ok());
  auto removed = RecoverUploads(*blobs_, *meta_);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 2);
  std::set<std::string> files;
  ASSERT_TRUE(
      blobs_->ForEachUpload([&](const std::string& id, int64_t) { files.insert(id); }).ok());
  EXPECT_EQ(files, std::set<std::string>{writing});
  auto records = meta_->ListUploads();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].id, "aaaaaaaa-0000-4000-8000-000000000002") << "the young record stays";
}

}  // namespace
}  // namespace drydock::registry
