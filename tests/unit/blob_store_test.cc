// The blob store conformance suite: every test runs unchanged against each
// backend (the filesystem store and the S3 store on a real radosgw), as
// distribution runs one driver suite against every storage driver. "Two
// servers" are two store instances over the same storage.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "storage/blob_store.h"
#include "test_dir.h"
#include "test_s3.h"

namespace drydock::storage {
namespace {

using Opener = std::function<std::unique_ptr<BlobStore>()>;

class BlobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "filesystem") {
      std::string root = dir_.path().string();
      open_ = [root] {
        auto s = OpenFilesystemBlobStore(root);
        EXPECT_TRUE(s.ok()) << s.status().message();
        return s.ok() ? std::move(*s) : nullptr;
      };
    } else {
      auto& s3 = testing::LocalS3::Get();
      DD_SKIP_UNLESS(s3.ok(), s3.why());
      S3Config config = s3.NewBucket();
      open_ = [config] {
        auto s = OpenS3BlobStore(config);
        EXPECT_TRUE(s.ok()) << s.status().message();
        return s.ok() ? std::move(*s) : nullptr;
      };
    }
    store_ = open_();
    ASSERT_NE(store_, nullptr);
  }

  std::string ReadAll(BlobStore& store, const oci::Digest& d) {
    auto r = store.Open(d);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return "";
    std::string out((*r)->size(), '\0');
    size_t at = 0;
    while (at < out.size()) {
      auto n = (*r)->ReadAt(at, out.data() + at, std::min<size_t>(out.size() - at, 1 << 20));
      EXPECT_TRUE(n.ok()) << n.status().message();
      if (!n.ok() || *n == 0) break;
      at += *n;
    }
    return out;
  }
  std::string ReadAll(const oci::Digest& d) { return ReadAll(*store_, d); }

  std::set<std::string> Uploads() {
    std::set<std::string> ids;
    EXPECT_TRUE(
        store_->ForEachUpload([&](const std::string& id, int64_t) { ids.insert(id); }).ok());
    return ids;
  }

  // `n` bytes that differ from any other call's.
  std::string Bytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
      s[i] = static_cast<char>((i * 131 + seed_ * 7 + (i >> 13)) & 0xff);
    ++seed_;
    return s;
  }

  TempDir dir_ = testing::MakeTestDir();
  Opener open_;
  std::unique_ptr<BlobStore> store_;
  int seed_ = 1;
};

TEST_P(BlobStoreTest, CommitPublishesUnderDigest) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555555");
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_TRUE((*w)->Write("hel", 3).ok());
  ASSERT_TRUE((*w)->Write("lo", 2).ok());
  auto d = oci::Digest::Of("hello");
  EXPECT_EQ(store_->Stat(d).status().code(), Code::kNotFound);  // not visible before commit
  auto info = (*w)->Commit(d);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(ReadAll(d), "hello");
  auto stat = store_->Stat(d);
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->size, 5u);
  EXPECT_LE(std::abs(stat->mtime - ::time(nullptr)), 60);
  EXPECT_EQ(Uploads(), std::set<std::string>{});
}

TEST_P(BlobStoreTest, DigestMismatchStoresNothing) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555556");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("hello", 5).ok());
  auto wrong = oci::Digest::Of("goodbye");
  auto info = (*w)->Commit(wrong);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Code::kInvalid);
  EXPECT_NE(info.status().message().find("digest mismatch"), std::string::npos);
  EXPECT_FALSE(store_->Stat(wrong).ok());
  EXPECT_FALSE(store_->Stat(oci::Digest::Of("hello")).ok());
  EXPECT_EQ(Uploads(), std::set<std::string>{});
}

TEST_P(BlobStoreTest, PutVerifiesTheDigest) {
  auto d = oci::Digest::Of("right");
  auto put = store_->Put(d, "wrong");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kInvalid);
  EXPECT_FALSE(store_->Stat(d).ok());
}

TEST_P(BlobStoreTest, RollbackUndoesAPartialChunk) {
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555557");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("abc", 3).ok());
  ASSERT_TRUE((*w)->Checkpoint().ok());
  ASSERT_TRUE((*w)->Write("XYZ", 3).ok());
  ASSERT_TRUE((*w)->Rollback().ok());
  EXPECT_EQ((*w)->size(), 3u);
  ASSERT_TRUE((*w)->Write("def", 3).ok());
  ASSERT_TRUE((*w)->Commit(oci::Digest::Of("abcdef")).ok());
  EXPECT_EQ(ReadAll(oci::Digest::Of("abcdef")), "abcdef");
}

// A chunk cut short after it filled whole parts: the parts it sent must not
// end up in the blob.
TEST_P(BlobStoreTest, RollbackUndoesAChunkThatSpannedParts) {
  std::string first = Bytes(3 << 20), lost = Bytes(12 << 20), second = Bytes(7 << 20);
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555560");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(first.data(), first.size()).ok());
  ASSERT_TRUE((*w)->Checkpoint().ok());
  ASSERT_TRUE((*w)->Write(lost.data(), lost.size()).ok());
  ASSERT_TRUE((*w)->Rollback().ok());
  ASSERT_TRUE((*w)->Write(second.data(), second.size()).ok());
  auto d = oci::Digest::Of(first + second);
  auto info = (*w)->Commit(d);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->size, first.size() + second.size());
  EXPECT_TRUE(ReadAll(d) == first + second);
}

// What was checkpointed survives the writer (a server restart, or the
// next chunk landing on another server); what came after the checkpoint (a
// chunk never acknowledged) is not there.
TEST_P(BlobStoreTest, ResumeOnAnotherServerContinuesFromTheCheckpoint) {
  const std::string id = "11111111-2222-4333-8444-555555555558";
  std::string checkpoint;
  {
    auto w = store_->CreateUpload(id);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("first-", 6).ok());
    ASSERT_TRUE((*w)->Checkpoint().ok());
    checkpoint = (*w)->checkpoint();
    ASSERT_TRUE((*w)->Write("never acknowledged", 18).ok());
  }
  auto other = open_();
  auto w = other->ResumeUpload(id, checkpoint);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ((*w)->size(), 6u);
  EXPECT_EQ((*w)->checkpoint(), checkpoint);
  ASSERT_TRUE((*w)->Write("second", 6).ok());
  ASSERT_TRUE((*w)->Commit(oci::Digest::Of("first-second")).ok());
  EXPECT_EQ(ReadAll(oci::Digest::Of("first-second")), "first-second");
}

// Each checkpoint has a name of its own; "" takes the newest.
TEST_P(BlobStoreTest, CheckpointsAreNamedAndTheNewestIsFound) {
  const std::string id = "11111111-2222-4333-8444-555555555565";
  auto w = store_->CreateUpload(id);
  ASSERT_TRUE(w.ok());
  std::string fresh = (*w)->checkpoint();
  EXPECT_FALSE(fresh.empty());
  ASSERT_TRUE((*w)->Write("abc", 3).ok());
  ASSERT_TRUE((*w)->Checkpoint().ok());
  EXPECT_NE((*w)->checkpoint(), fresh);
  auto newest = store_->ResumeUpload(id, "");
  ASSERT_TRUE(newest.ok()) << newest.status().message();
  EXPECT_EQ((*newest)->size(), 3u);
  EXPECT_EQ(store_->ResumeUpload(id, "999-nope").status().code(), Code::kNotFound);
}

// 23 MiB in uneven chunks, each on the other server: parts, tails and the
// hash state all travel with the upload.
TEST_P(BlobStoreTest, AChunkedUploadAlternatesBetweenServers) {
  const std::string id = "11111111-2222-4333-8444-555555555561";
  auto other = open_();
  BlobStore* servers[2] = {store_.get(), other.get()};
  std::string all;
  std::string checkpoint;
  {
    auto w = store_->CreateUpload(id);
    ASSERT_TRUE(w.ok());
    checkpoint = (*w)->checkpoint();
  }
  size_t sizes[] = {1 << 20, (3 << 20) + 17, 6 << 20, 100, (9 << 20) + 5, (4 << 20) - 122};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    auto w = servers[i % 2]->ResumeUpload(id, checkpoint);
    ASSERT_TRUE(w.ok()) << "chunk " << i << ": " << w.status().message();
    ASSERT_EQ((*w)->size(), all.size()) << "chunk " << i;
    std::string chunk = Bytes(sizes[i]);
    ASSERT_TRUE((*w)->Write(chunk.data(), chunk.size()).ok());
    ASSERT_TRUE((*w)->Checkpoint().ok());
    checkpoint = (*w)->checkpoint();
    all += chunk;
  }
  auto w = servers[0]->ResumeUpload(id, checkpoint);
  ASSERT_TRUE(w.ok());
  auto d = oci::Digest::Of(all);
  auto info = (*w)->Commit(d);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->size, all.size());
  EXPECT_TRUE(ReadAll(*other, d) == all);
  EXPECT_EQ(Uploads(), std::set<std::string>{});
}

TEST_P(BlobStoreTest, ADeletedUploadLeavesNothing) {
  const std::string id = "11111111-2222-4333-8444-555555555562";
  auto w = store_->CreateUpload(id);
  ASSERT_TRUE(w.ok());
  std::string big = Bytes(6 << 20);
  ASSERT_TRUE((*w)->Write(big.data(), big.size()).ok());
  ASSERT_TRUE((*w)->Checkpoint().ok());
  EXPECT_EQ(Uploads(), std::set<std::string>{id});
  ASSERT_TRUE(store_->DeleteUpload(id).ok());
  EXPECT_EQ(Uploads(), std::set<std::string>{});
  EXPECT_EQ(store_->ResumeUpload(id, (*w)->checkpoint()).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->ResumeUpload(id, "").status().code(), Code::kNotFound);
}

TEST_P(BlobStoreTest, UploadsAreListedWithTheirAge) {
  ASSERT_TRUE(store_->CreateUpload("11111111-2222-4333-8444-555555555563").ok());
  int64_t mtime = 0;
  ASSERT_TRUE(store_->ForEachUpload([&](const std::string&, int64_t t) { mtime = t; }).ok());
  EXPECT_LE(std::abs(mtime - ::time(nullptr)), 60);
  EXPECT_FALSE(store_->CreateUpload("11111111-2222-4333-8444-555555555563").ok())
      << "an id is used once";
}

// An upload that moved between servers is as old as its newest checkpoint,
// not its first (GC abandons uploads by age).
TEST_P(BlobStoreTest, AnUploadIsAsOldAsItsNewestCheckpoint) {
  const std::string id = "11111111-2222-4333-8444-555555555566";
  std::string checkpoint;
  {
    auto w = store_->CreateUpload(id);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("abc", 3).ok());
    ASSERT_TRUE((*w)->Checkpoint().ok());
    checkpoint = (*w)->checkpoint();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // mtimes are whole seconds
  int64_t before = ::time(nullptr);
  auto other = open_();
  auto w = other->ResumeUpload(id, checkpoint);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_TRUE((*w)->Write("def", 3).ok());
  ASSERT_TRUE((*w)->Checkpoint().ok());
  int64_t age = 0;
  ASSERT_TRUE(store_->ForEachUpload([&](const std::string&, int64_t t) { age = t; }).ok());
  EXPECT_GE(age, before - 1);
}

TEST_P(BlobStoreTest, Sha512AndDeduplication) {
  auto d512 = oci::Digest::Of("data", oci::Algorithm::kSha512);
  ASSERT_TRUE(store_->Put(d512, "data").ok());
  EXPECT_EQ(ReadAll(d512), "data");
  std::string big = Bytes(6 << 20);
  auto big512 = oci::Digest::Of(big, oci::Algorithm::kSha512);
  auto w = store_->CreateUpload("11111111-2222-4333-8444-555555555564");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(big.data(), big.size()).ok());
  auto info = (*w)->Commit(big512);
  ASSERT_TRUE(info.ok()) << info.status().message();
  auto d = oci::Digest::Of("same");
  ASSERT_TRUE(store_->Put(d, "same").ok());
  ASSERT_TRUE(store_->Put(d, "same").ok());  // second copy is dropped, not an error
  std::set<std::string> seen;
  ASSERT_TRUE(
      store_->ForEachBlob([&](const oci::Digest& x, const BlobInfo&) { seen.insert(x.str()); })
          .ok());
  EXPECT_EQ(seen, (std::set<std::string>{d.str(), d512.str(), big512.str()}));
}

TEST_P(BlobStoreTest, RejectsPathTraversalInUploadIds) {
  EXPECT_FALSE(store_->CreateUpload("../../etc/passwd").ok());
  EXPECT_FALSE(store_->ResumeUpload("../blobs", "").ok());
  EXPECT_FALSE(store_->DeleteUpload("../drydock.db").ok());
}

TEST_P(BlobStoreTest, MissingBlobsAreNotFound) {
  auto d = oci::Digest::Of("never stored");
  EXPECT_EQ(store_->Stat(d).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Open(d).status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->Delete(d).ok()) << "deleting what is gone is not an error";
}

TEST_P(BlobStoreTest, RangeReadsAnywhere) {
  auto d = oci::Digest::Of("0123456789");
  ASSERT_TRUE(store_->Put(d, "0123456789").ok());
  auto r = store_->Open(d);
  ASSERT_TRUE(r.ok());
  char buf[4];
  auto n = (*r)->ReadAt(3, buf, 4);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "3456");
  n = (*r)->ReadAt(8, buf, 4);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "89");
  n = (*r)->ReadAt(10, buf, 4);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  // Far apart in a large blob, backwards too.
  std::string big = Bytes(19 << 20);
  auto bd = oci::Digest::Of(big);
  ASSERT_TRUE(store_->Put(bd, big).ok());
  auto br = store_->Open(bd);
  ASSERT_TRUE(br.ok());
  for (uint64_t at : {uint64_t{18} << 20, uint64_t{5}, uint64_t{9} << 20}) {
    std::string got(4096, '\0');
    auto m = (*br)->ReadAt(at, got.data(), got.size());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(got.substr(0, *m), big.substr(at, 4096)) << "at " << at;
  }
}

// A reader moving forward in pieces of any size, then jumping back and
// on: every byte where it belongs.
TEST_P(BlobStoreTest, SequentialReadsReturnEveryByteInOrder) {
  std::string big = Bytes((19 << 20) + 12345);
  auto d = oci::Digest::Of(big);
  ASSERT_TRUE(store_->Put(d, big).ok());
  auto r = store_->Open(d);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string got;
  std::string buf(777'777, '\0');
  while (got.size() < big.size()) {
    auto n = (*r)->ReadAt(got.size(), buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().message();
    ASSERT_GT(*n, 0u) << "at " << got.size();
    got.append(buf.data(), *n);
  }
  EXPECT_TRUE(got == big) << "the bytes read in order differ";
  for (uint64_t at : {uint64_t{1} << 20, uint64_t{17} << 20, uint64_t{3}}) {
    auto n = (*r)->ReadAt(at, buf.data(), buf.size());
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(std::string_view(buf.data(), *n) == std::string_view(big).substr(at, *n))
        << "at " << at;
  }
}

// CopyTo (how a blob GET streams): whole, a range from the middle, the
// last byte, nothing; a sink that stops early ends the copy with an error.
TEST_P(BlobStoreTest, CopyToStreamsAnyRangeAndStopsWhenTheSinkDoes) {
  std::string big = Bytes((19 << 20) + 4321);
  auto d = oci::Digest::Of(big);
  ASSERT_TRUE(store_->Put(d, big).ok());
  auto r = store_->Open(d);
  ASSERT_TRUE(r.ok()) << r.status().message();
  struct Case {
    uint64_t offset, length;
  };
  for (Case c :
       {Case{0, big.size()}, Case{(7 << 20) + 3, 9 << 20}, Case{big.size() - 1, 1}, Case{5, 0}}) {
    std::string got;
    Status s = (*r)->CopyTo(c.offset, c.length, [&](const char* p, size_t n) {
      got.append(p, n);
      return true;
    });
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(got == big.substr(c.offset, c.length))
        << "offset " << c.offset << " length " << c.length << ": got " << got.size() << " bytes";
  }
  size_t taken = 0;
  Status stopped = (*r)->CopyTo(0, big.size(), [&](const char*, size_t n) {
    taken += n;
    return taken < (1 << 20);
  });
  EXPECT_EQ(stopped.code(), Code::kUnavailable) << stopped.message();
  EXPECT_LT(taken, big.size());
  EXPECT_FALSE((*r)->CopyTo(big.size() - 2, 5, [](const char*, size_t) { return true; }).ok())
      << "a range past the end";
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreTest, ::testing::Values("filesystem", "s3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace drydock::storage
