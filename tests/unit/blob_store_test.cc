#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "storage/blob_store.h"
#include "test_dir.h"

namespace drydock::storage {
namespace {

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenFilesystemBlobStore(dir_.path().string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  std::string ReadAll(const oci::Digest& d) {
    auto r = store_->Open(d);
    EXPECT_TRUE(r.ok());
    std::string out((*r)->size(), '\0');
    auto n = (*r)->ReadAt(0, out.data(), out.size());
    EXPECT_TRUE(n.ok());
    return out;
  }
  size_t StagingFiles() {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_.path() / "uploads"))
      ++n;
    return n;
  }
  TempDir dir_ = testing::MakeTestDir();
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, CommitPublishesUnderDigest) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555555");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("hel", 3).ok());
  ASSERT_TRUE((*w)->Write("lo", 2).ok());
  auto d = oci::Digest::Of("hello");
  EXPECT_FALSE(store_->Stat(d).ok());  // not visible before commit
  auto info = (*w)->Commit(d);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(ReadAll(d), "hello");
  EXPECT_EQ(StagingFiles(), 0u);
}

TEST_F(BlobStoreTest, DigestMismatchStoresNothing) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555556");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("hello", 5).ok());
  auto wrong = oci::Digest::Of("goodbye");
  auto info = (*w)->Commit(wrong);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("digest mismatch"), std::string::npos);
  EXPECT_FALSE(store_->Stat(wrong).ok());
  EXPECT_FALSE(store_->Stat(oci::Digest::Of("hello")).ok());
  EXPECT_EQ(StagingFiles(), 0u);
}

TEST_F(BlobStoreTest, RollbackUndoesAPartialChunk) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555557");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("abc", 3).ok());
  (*w)->Checkpoint();
  ASSERT_TRUE((*w)->Write("XYZ", 3).ok());
  ASSERT_TRUE((*w)->Rollback().ok());
  EXPECT_EQ((*w)->size(), 3u);
  ASSERT_TRUE((*w)->Write("def", 3).ok());
  ASSERT_TRUE((*w)->Commit(oci::Digest::Of("abcdef")).ok());
  EXPECT_EQ(ReadAll(oci::Digest::Of("abcdef")), "abcdef");
}

TEST_F(BlobStoreTest, ResumeRehashesWhatWasWritten) {
  const std::string id = "11111111-2222-4333-8444-555555555558";
  {
    auto w = store_->CreateUpload(id);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("first-", 6).ok());
  }  // the writer is gone, as after a server restart
  auto w = store_->ResumeUpload(id);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->size(), 6u);
  ASSERT_TRUE((*w)->Write("second", 6).ok());
  ASSERT_TRUE((*w)->Commit(oci::Digest::Of("first-second")).ok());
}

TEST_F(BlobStoreTest, Sha512AndDeduplication) {
  auto d512 = oci::Digest::Of("data", oci::Algorithm::kSha512);
  ASSERT_TRUE(store_->Put(d512, "data").ok());
  EXPECT_EQ(ReadAll(d512), "data");
  auto d = oci::Digest::Of("same");
  ASSERT_TRUE(store_->Put(d, "same").ok());
  ASSERT_TRUE(store_->Put(d, "same").ok());  // second copy is dropped, not an error
  std::set<std::string> seen;
  ASSERT_TRUE(
      store_->ForEachBlob([&](const oci::Digest& x, const BlobInfo&) { seen.insert(x.str()); })
          .ok());
  EXPECT_EQ(seen, (std::set<std::string>{d.str(), d512.str()}));
}

TEST_F(BlobStoreTest, RejectsPathTraversalInUploadIds) {
  EXPECT_FALSE(store_->CreateUpload("../../etc/passwd").ok());
  EXPECT_FALSE(store_->ResumeUpload("../blobs").ok());
  EXPECT_FALSE(store_->DeleteUpload("../drydock.db").ok());
}

TEST_F(BlobStoreTest, RangeReads) {
  auto d = oci::Digest::Of("0123456789");
  ASSERT_TRUE(store_->Put(d, "0123456789").ok());
  auto r = store_->Open(d);
  ASSERT_TRUE(r.ok());
  char buf[4];
  auto n = (*r)->ReadAt(3, buf, 4);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "3456");
  EXPECT_GE((*r)->fd(), 0);
}

}  // namespace
}  // namespace drydock::storage
