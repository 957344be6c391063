#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "storage/metadata_store.h"
#include "test_dir.h"
#include "test_postgres.h"

namespace drydock::storage {
namespace {

oci::Digest D(const std::string& s) { return oci::Digest::Of(s); }

// Each test runs against a fresh store of each backend: SQLite in a temp
// dir, and a new database on a real PostgreSQL (scripts/pg/start-pg.sh).
class MetadataStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      auto& pg = testing::LocalPostgres::Get();
      DD_SKIP_UNLESS(pg.ok(), pg.why());
      std::string url = pg.NewDatabase();
      open_ = [url] { return OpenPostgresMetadataStore(url); };
    } else {
      std::string path = (dir_.path() / "meta.db").string();
      open_ = [path] { return OpenSqliteMetadataStore(path); };
    }
    auto s = open_();
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
  }
  ManifestPut Manifest(const std::string& repo, const std::string& content,
                       std::vector<oci::Digest> blobs,
                       std::optional<std::string> tag = std::nullopt) {
    ManifestPut p;
    p.record.repo = repo;
    p.record.digest = D(content);
    p.record.media_type = "application/vnd.oci.image.manifest.v1+json";
    p.record.content = content;
    p.blobs = std::move(blobs);
    p.tag = std::move(tag);
    return p;
  }
  // A run named "r<seq>".
  Result<CreatedRun> Create(RunRow row) {
    std::string cause = row.cause;
    return store_->CreateRun(cause, [&](int64_t seq) {
      row.id = "r" + std::to_string(seq);
      return row;
    });
  }
  TempDir dir_ = testing::MakeTestDir();
  std::function<Result<std::unique_ptr<MetadataStore>>()> open_;  // another server's view
  std::unique_ptr<MetadataStore> store_;
};

// One suite per interface, each run on every backend.
class RegistryMetadataTest : public MetadataStoreTest {};
class AccountStoreTest : public MetadataStoreTest {};
class EventLogTest : public MetadataStoreTest {};
class RunStoreTest : public MetadataStoreTest {};
class RunQueueStoreTest : public MetadataStoreTest {};
class TaskStoreTest : public MetadataStoreTest {};
class RunLogStoreTest : public MetadataStoreTest {};
class LeaseStoreTest : public MetadataStoreTest {};

TEST_P(RegistryMetadataTest, ManifestNeedsItsBlobsLinkedInTheSameRepository) {
  auto put = Manifest("a", "m1", {D("layer")}, "v1");
  auto r = store_->PutManifest(put);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(D("layer").str()), std::string::npos);
  EXPECT_FALSE(store_->ResolveTag("a", "v1").ok());  // nothing half-stored

  ASSERT_TRUE(store_->LinkBlob("b", D("layer"), 5).ok());
  EXPECT_FALSE(store_->PutManifest(put).ok());  // linked elsewhere does not count
  ASSERT_TRUE(store_->LinkBlob("a", D("layer"), 5).ok());
  ASSERT_TRUE(store_->PutManifest(put).ok());
  auto tag = store_->ResolveTag("a", "v1");
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(*tag, D("m1"));
  auto m = store_->GetManifest("a", D("m1"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content, "m1");
}

// Of two servers taking a chunk of the same upload from the same
// checkpoint, only one moves it on.
TEST_P(RegistryMetadataTest, AnUploadAdvancesOnlyFromWhereItIs) {
  ASSERT_TRUE(store_->CreateUpload(UploadRecord{"u1", "repo", 100, "0-aa"}).ok());
  auto first = store_->AdvanceUpload("u1", "0-aa", "5-bb");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  auto second = store_->AdvanceUpload("u1", "0-aa", "5-cc");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto record = store_->GetUpload("u1");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->checkpoint, "5-bb");
  EXPECT_EQ(record->repo, "repo");
  EXPECT_EQ(store_->AdvanceUpload("gone", "0", "1").status().code(), Code::kNotFound);
  auto all = store_->ListUploads();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].checkpoint, "5-bb");
}

TEST_P(RegistryMetadataTest, TagMovesReportPreviousDigest) {
  ASSERT_TRUE(store_->PutManifest(Manifest("a", "m1", {}, "latest")).ok());
  auto change = store_->PutManifest(Manifest("a", "m2", {}, "latest"));
  ASSERT_TRUE(change.ok());
  ASSERT_TRUE(change->previous.has_value());
  EXPECT_EQ(*change->previous, D("m1"));
  EXPECT_EQ(*store_->ResolveTag("a", "latest"), D("m2"));
}

TEST_P(RegistryMetadataTest, DeleteManifestRemovesItsTags) {
  ASSERT_TRUE(store_->PutManifest(Manifest("a", "m1", {}, "t1")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("a", "m1", {}, "t2")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("a", "m2", {}, "t3")).ok());
  auto removed = store_->DeleteManifest("a", D("m1"), "bob");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->size(), 2u);
  auto tags = store_->ListTags("a", Page{});
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(*tags, std::vector<std::string>{"t3"});
  EXPECT_EQ(store_->DeleteManifest("a", D("m1"), "bob").status().code(), Code::kNotFound);
}

TEST_P(RegistryMetadataTest, RepositoriesWithManifestsLeaveEmptiedOnesOut) {
  ASSERT_TRUE(store_->LinkBlob("a-blobs-only", D("layer"), 5).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("b", "m1", {}, "v1")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("c", "m2", {})).ok());  // untagged still counts
  ASSERT_TRUE(store_->PutManifest(Manifest("d", "m3", {}, "v1")).ok());
  ASSERT_TRUE(store_->DeleteManifest("d", D("m3"), "bob").ok());
  auto all = store_->ListRepositories(Page{"", 10});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<std::string>{"a-blobs-only", "b", "c", "d"}));
  auto shown = store_->ListRepositoriesWithManifests(Page{"", 10});
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(*shown, (std::vector<std::string>{"b", "c"}));
  auto after_b = store_->ListRepositoriesWithManifests(Page{"b", 1});
  ASSERT_TRUE(after_b.ok());
  EXPECT_EQ(*after_b, (std::vector<std::string>{"c"}));
  for (auto [repo, has] : {std::pair{"a-blobs-only", false},
                           {"b", true},
                           {"c", true},
                           {"d", false},
                           {"never", false}}) {
    auto r = store_->HasManifests(repo);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, has) << repo;
  }
}

TEST_P(RegistryMetadataTest, TagsAreSortedAndPaged) {
  for (const char* t : {"b", "a", "d", "c"})
    ASSERT_TRUE(store_->PutManifest(Manifest("r", "m", {}, t)).ok());
  EXPECT_EQ(*store_->ListTags("r", Page{"", 2}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*store_->ListTags("r", Page{"b", 10}), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(*store_->ListTags("r", Page{"bb", -1}), (std::vector<std::string>{"c", "d"}));
}

TEST_P(RegistryMetadataTest, ReferrersFoundEvenWhenPushedBeforeSubject) {
  auto ref = Manifest("r", "sig", {});
  ref.record.subject = D("subject");
  ref.record.artifact_type = "application/x-sig";
  ASSERT_TRUE(store_->PutManifest(ref).ok());
  auto list = store_->ListReferrers("r", D("subject"));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].digest, D("sig"));
  EXPECT_EQ((*list)[0].size, 3);
  EXPECT_EQ((*list)[0].artifact_type, "application/x-sig");
  EXPECT_TRUE(store_->ListReferrers("other", D("subject"))->empty());
}

TEST_P(RegistryMetadataTest, PackagesAreFoundThroughTheirImagesSbom) {
  auto sbom = [&](const std::string& repo, const std::string& image, const std::string& content,
                  std::vector<PackageRecord> packages) {
    auto p = Manifest(repo, content, {});
    p.record.subject = D(image);
    p.record.artifact_type = "application/spdx+json";
    p.packages = std::move(packages);
    return store_->PutManifest(p).status();
  };
  PackageRecord ssl1{"libssl3", "3.0.1", "pkg:deb/debian/libssl3@3.0.1?arch=amd64"};
  PackageRecord ssl2{"libssl3", "3.0.2", "pkg:deb/debian/libssl3@3.0.2?arch=amd64"};
  PackageRecord zlib{"zlib1g", "1.2", "pkg:deb/debian/zlib1g@1.2?arch=amd64"};
  ASSERT_TRUE(store_->PutManifest(Manifest("b/app", "app1", {}, "v1")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("b/app", "app1", {}, "latest")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("a/web", "web1", {})).ok());
  ASSERT_TRUE(sbom("b/app", "app1", "sbom-app1", {ssl1, zlib}).ok());
  ASSERT_TRUE(sbom("b/app", "app1", "sbom-app1-again", {ssl1}).ok());  // listed once
  ASSERT_TRUE(sbom("a/web", "web1", "sbom-web1", {ssl2}).ok());
  ASSERT_TRUE(sbom("a/web", "never-pushed", "sbom-orphan", {ssl2}).ok());  // no image: not listed

  auto all = store_->FindPackage("libssl3", "", -1);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].repo, "a/web");
  EXPECT_EQ((*all)[0].image, D("web1"));
  EXPECT_EQ((*all)[0].sbom, D("sbom-web1"));
  EXPECT_EQ((*all)[0].package.version, "3.0.2");
  EXPECT_TRUE((*all)[0].tags.empty());
  EXPECT_EQ((*all)[1].repo, "b/app");
  EXPECT_EQ((*all)[1].package.purl, ssl1.purl);
  EXPECT_EQ((*all)[1].tags, (std::vector<std::string>{"latest", "v1"}));

  auto exact = store_->FindPackage("libssl3", "3.0.1", -1);
  ASSERT_TRUE(exact.ok());
  ASSERT_EQ(exact->size(), 1u);
  EXPECT_EQ((*exact)[0].repo, "b/app");
  EXPECT_TRUE(store_->FindPackage("libssl3", "9", -1)->empty());
  EXPECT_TRUE(store_->FindPackage("libssl", "", -1)->empty());  // names match whole
  EXPECT_EQ(store_->FindPackage("libssl3", "", 1)->size(), 1u);

  // Deleting the image hides it at once; deleting its SBOMs drops their rows.
  ASSERT_TRUE(store_->DeleteManifest("b/app", D("app1"), "test").ok());
  EXPECT_EQ(store_->FindPackage("libssl3", "", -1)->size(), 1u);
  ASSERT_TRUE(store_->PutManifest(Manifest("b/app", "app1", {})).ok());
  EXPECT_EQ(store_->FindPackage("zlib1g", "", -1)->size(), 1u);  // rows outlived the image
  ASSERT_TRUE(store_->DeleteManifest("b/app", D("sbom-app1"), "test").ok());
  EXPECT_TRUE(store_->FindPackage("zlib1g", "", -1)->empty());
  ASSERT_TRUE(*store_->DeleteManifestIfUnreferenced("a/web", D("sbom-web1")));
  EXPECT_EQ(store_->FindPackage("libssl3", "", -1)->size(), 1u);  // b/app's second SBOM
}

TEST_P(RegistryMetadataTest, IndexNeedsChildManifests) {
  auto index = Manifest("r", "index", {});
  index.manifests = {D("child")};
  EXPECT_EQ(store_->PutManifest(index).status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "child", {})).ok());
  EXPECT_TRUE(store_->PutManifest(index).ok());
  // The child is pinned by its index for GC purposes.
  EXPECT_FALSE(*store_->DeleteManifestIfUnreferenced("r", D("child")));
}

TEST_P(RegistryMetadataTest, ConcurrentWritersAllLand) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(store_->PutManifest(Manifest("c", tag, {}, tag)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->ListTags("c", Page{})->size(), 100u);
}

// GC's claim on a blob it deletes and a push linking it exclude each other:
// a linked blob is not claimed, a claimed one is not linked (kUnavailable)
// until the claim ends or goes stale.
TEST_P(RegistryMetadataTest, BlobDeleteClaimsAndLinksExcludeEachOther) {
  int64_t now = ::time(nullptr);
  ASSERT_TRUE(store_->LinkBlob("a", D("b1"), 1).ok());
  EXPECT_FALSE(*store_->BeginBlobDelete(D("b1"), now));
  ASSERT_TRUE(store_->UnlinkBlob("a", D("b1")).ok());
  ASSERT_TRUE(*store_->BeginBlobDelete(D("b1"), now));
  auto refused = store_->LinkBlob("b", D("b1"), 1);
  EXPECT_EQ(refused.code(), Code::kUnavailable);
  EXPECT_NE(refused.message().find("being deleted by garbage collection"), std::string::npos);
  EXPECT_FALSE(*store_->AnyLink(D("b1")));
  ASSERT_TRUE(store_->EndBlobDelete(D("b1")).ok());
  EXPECT_TRUE(store_->LinkBlob("b", D("b1"), 1).ok());
  // A claim left by a GC that died goes stale.
  ASSERT_TRUE(*store_->BeginBlobDelete(D("b2"), now - kBlobDeleteClaimSeconds - 1));
  EXPECT_TRUE(store_->LinkBlob("a", D("b2"), 1).ok());
}

TEST_P(RegistryMetadataTest, ConcurrentClaimAndLinkNeverBothWin) {
  int64_t now = ::time(nullptr);
  for (int i = 0; i < 40; ++i) {
    oci::Digest d = D("race" + std::to_string(i));
    Status linked;
    Result<bool> claimed = false;
    std::thread push([&] { linked = store_->LinkBlob("r", d, 1); });
    std::thread gc([&] { claimed = store_->BeginBlobDelete(d, now); });
    push.join();
    gc.join();
    ASSERT_TRUE(claimed.ok()) << claimed.status().message();
    EXPECT_FALSE(linked.ok() && *claimed) << "blob " << i << " both linked and claimed";
    EXPECT_TRUE(linked.ok() || linked.code() == Code::kUnavailable) << linked.message();
  }
}

TEST_P(AccountStoreTest, UsersGrantsSettingsEvents) {
  ASSERT_TRUE(store_->PutUser(User{"bob", "hash", false}).ok());
  ASSERT_TRUE(store_->SetGrants("bob", {Grant{"team/*", "pull"}}).ok());
  EXPECT_EQ(store_->GetGrants("bob")->at(0).prefix, "team/*");
  EXPECT_EQ(*store_->CountUsers(), 1);
  EXPECT_EQ(*store_->InitSetting("k", "first"), "first");
  EXPECT_EQ(*store_->InitSetting("k", "second"), "first");
}

// The outbox: each registry change writes its events in its own
// transaction, so a change and its event exist together or not at all.
TEST_P(EventLogTest, ChangesWriteTheirEventsWithThem) {
  auto put = Manifest("r", "m1", {}, "t1");
  put.actor = "alice";
  ASSERT_TRUE(store_->PutManifest(put).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "m1", {}, "t2")).ok());
  ASSERT_TRUE(store_->DeleteTag("r", "t2", "bob").ok());
  ASSERT_TRUE(store_->DeleteManifest("r", D("m1"), "carol").ok());
  // A change that fails writes no event.
  EXPECT_FALSE(store_->PutManifest(Manifest("r", "m2", {D("missing")}, "t3")).ok());
  EXPECT_FALSE(store_->DeleteTag("r", "nope", "bob").ok());
  auto events = store_->EventsAfter(0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> seen;
  for (const auto& e : *events)
    seen.push_back(e.action + " " + e.tag + " " + (e.digest == D("m1").str() ? "m1" : e.digest) +
                   " " + e.actor);
  EXPECT_EQ(seen, (std::vector<std::string>{"push t1 m1 alice", "push t2 m1 ", "delete t2 m1 bob",
                                            "delete  m1 carol", "delete t1 m1 carol"}));
  EXPECT_EQ(events->at(0).size, 2);  // the manifest's bytes ("m1")
  EXPECT_EQ(events->at(0).media_type, "application/vnd.oci.image.manifest.v1+json");
  for (size_t i = 1; i < events->size(); ++i) EXPECT_GT(events->at(i).id, events->at(i - 1).id);
  auto later = store_->EventsAfter(events->at(2).id, 1);
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ(later->at(0).id, events->at(3).id);
}

TEST_P(EventLogTest, NewestEventsAreTheLastOnesInOrder) {
  EXPECT_TRUE(store_->NewestEvents(5)->empty());
  for (int i = 1; i <= 4; ++i)
    ASSERT_TRUE(store_->PutManifest(Manifest("r", "m" + std::to_string(i), {}, "t")).ok());
  auto all = store_->EventsAfter(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  auto newest = store_->NewestEvents(2);
  ASSERT_TRUE(newest.ok()) << newest.status().message();
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ(newest->at(0).id, all->at(2).id);
  EXPECT_EQ(newest->at(1).id, all->at(3).id);
  EXPECT_EQ(newest->at(1).digest, D("m4").str());
  EXPECT_EQ(store_->NewestEvents(10)->size(), 4u);
}

TEST_P(EventLogTest, CursorsStartAtTheEndAndNeverMoveBack) {
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "m1", {}, "t1")).ok());
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "m2", {}, "t2")).ok());
  auto first = store_->InitCursor("trigger");
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, store_->EventsAfter(0, 10)->back().id);  // not sent the past
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "m3", {}, "t3")).ok());
  auto next = store_->EventsAfter(*first, 10);
  ASSERT_EQ(next->size(), 1u);
  ASSERT_TRUE(store_->AdvanceCursor("trigger", next->at(0).id).ok());
  EXPECT_EQ(*store_->InitCursor("trigger"), next->at(0).id);   // kept
  ASSERT_TRUE(store_->AdvanceCursor("trigger", *first).ok());  // a slow duplicate
  EXPECT_EQ(*store_->InitCursor("trigger"), next->at(0).id);
  EXPECT_EQ(*store_->InitCursor("other"), next->at(0).id);  // each its own
}

TEST_P(EventLogTest, PruningKeepsTheNewestEventsAndNeverReusesIds) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_->PutManifest(Manifest("r", "m" + std::to_string(i), {}, "t")).ok());
  int64_t last = store_->EventsAfter(0, 10)->back().id;
  EXPECT_EQ(*store_->PruneEvents(0, 2), 0);  // none older than time 0
  EXPECT_EQ(*store_->PruneEvents(std::numeric_limits<int64_t>::max(), 2), 3);
  auto left = store_->EventsAfter(0, 10);
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ(left->back().id, last);
  EXPECT_EQ(*store_->PruneEvents(std::numeric_limits<int64_t>::max(), 0), 2);
  ASSERT_TRUE(store_->PutManifest(Manifest("r", "m9", {}, "t")).ok());
  EXPECT_GT(store_->EventsAfter(0, 10)->back().id, last);
}

TEST_P(AccountStoreTest, UsersDisableDeleteAndApiTokens) {
  ASSERT_TRUE(store_->PutUser(User{"bob", "hash", false, true, 42}).ok());
  auto bob = store_->GetUser("bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_TRUE(bob->disabled);
  EXPECT_EQ(bob->credentials_changed, 42);
  ASSERT_TRUE(store_->PutUser(User{"amy", "h2", true}).ok());
  ASSERT_EQ(store_->ListUsers()->size(), 2u);
  EXPECT_EQ(store_->ListUsers()->at(0).name, "amy");

  ASSERT_TRUE(store_->PutApiToken({"t1", "bob", "sha-1", 10, 20, "laptop"}).ok());
  ASSERT_TRUE(store_->PutApiToken({"t2", "bob", "sha-2", 11, 21, ""}).ok());
  ASSERT_TRUE(store_->PutApiToken({"t3", "amy", "sha-3", 12, 22, ""}).ok());
  EXPECT_FALSE(store_->PutApiToken({"t3", "amy", "again", 12, 22, ""}).ok());
  EXPECT_EQ(store_->GetApiToken("t1")->secret_hash, "sha-1");
  EXPECT_EQ(store_->GetApiToken("t1")->description, "laptop");
  EXPECT_EQ(store_->ListApiTokens("bob")->size(), 2u);
  EXPECT_EQ(store_->ListApiTokens("")->size(), 3u);
  ASSERT_TRUE(store_->DeleteApiToken("t1").ok());
  EXPECT_EQ(store_->DeleteApiToken("t1").code(), Code::kNotFound);
  EXPECT_EQ(store_->GetApiToken("t1").status().code(), Code::kNotFound);
  EXPECT_EQ(*store_->DeleteApiTokensOf("bob"), 1);

  ASSERT_TRUE(store_->SetGrants("amy", {Grant{"*", "pull"}}).ok());
  ASSERT_TRUE(store_->DeleteUser("amy").ok());
  EXPECT_EQ(store_->GetUser("amy").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetGrants("amy")->empty());
  EXPECT_TRUE(store_->ListApiTokens("amy")->empty());
  EXPECT_EQ(store_->DeleteUser("amy").code(), Code::kNotFound);
}

// A database written before schema versions existed (users without the
// columns added later) is migrated on open, its rows kept; a newer one is
// refused, naming both versions.
TEST(MetadataStoreSchema, MigratesOldDatabasesAndRefusesNewerOnes) {
  TempDir dir = testing::MakeTestDir();
  std::string path = (dir.path() / "old.db").string();
  ASSERT_EQ(
      std::system(("sqlite3 " + path +
                   " \"CREATE TABLE users(name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, "
                   "admin INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID; "
                   "INSERT INTO users VALUES('old','h',1);\"")
                      .c_str()),
      0);
  {
    auto s = OpenSqliteMetadataStore(path);
    ASSERT_TRUE(s.ok()) << s.status().message();
    auto old = (*s)->GetUser("old");
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_TRUE(old->admin);
    EXPECT_FALSE(old->disabled);
    EXPECT_TRUE((*s)->PutApiToken({"t", "old", "x", 1, 2, ""}).ok());
  }
  ASSERT_TRUE(OpenSqliteMetadataStore(path).ok());  // reopening changes nothing
  ASSERT_EQ(std::system(("sqlite3 " + path + " 'PRAGMA user_version=99'").c_str()), 0);
  auto newer = OpenSqliteMetadataStore(path);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("version 99, newer than this drydock understands"),
            std::string::npos)
      << newer.status().message();
}

// Runs stored before runs had a trigger column get theirs from their
// request when the store migrates (on each backend, below).
const std::vector<std::pair<std::string, std::string>> kOldRunRequests = {
    {R"({"trigger":{"image_update":[],"timer":{"name":"t1","occurrence":1}}})", "Timer"},
    {R"({"trigger":{"image_update":[{"repository":"base"}]}})", "Image Update"},
    {R"({"trigger":{"image_update":[],"source":{"event_type":"commit"}}})", "Commit"},
    {R"({"trigger":{"image_update":[],"source":{"event_type":"pullrequest"}}})", "Pull Request"},
    {R"({"trigger":{"image_update":[]}})", "Manual"}};

void CreateOldRuns(MetadataStore& s) {
  for (const auto& [request, unused] : kOldRunRequests) {
    ASSERT_TRUE(s.CreateRun("", [&](int64_t seq) {
                   RunRow r;
                   r.id = "r" + std::to_string(seq);
                   r.status = "Succeeded";
                   r.request_json = request;
                   return r;
                 }).ok());
  }
}

void ExpectOldRunsBackfilled(MetadataStore& s) {
  RunQuery all;
  all.top = -1;
  auto runs = s.ListRuns(all);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), kOldRunRequests.size());
  for (const auto& r : *runs) {
    size_t i = static_cast<size_t>(r.seq - 1);
    EXPECT_EQ(r.trigger, kOldRunRequests[i].second) << kOldRunRequests[i].first;
  }
}

// A dependency row of before platforms keeps its digest with no platform;
// rows per platform of the same base can join it.
void ExpectOldDependenciesKept(MetadataStore& s) {
  auto rows = s.Dependents("r:5000", "base", "1");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].digest, "sha256:aa");
  EXPECT_EQ((*rows)[0].platform, "");
  EXPECT_EQ((*rows)[0].manifest, "");
  ASSERT_TRUE(s.SetDependencies("t", {(*rows)[0],
                                      {"t", "Runtime", "r:5000", "base", "1", "sha256:ix",
                                       "linux/arm64", "sha256:arm"}})
                  .ok());
  EXPECT_EQ(s.Dependents("r:5000", "base", "1")->size(), 2u);
}

TEST(MetadataStoreSchema, MigrationBackfillsTheTriggersOfOldRuns) {
  TempDir dir = testing::MakeTestDir();
  std::string path = (dir.path() / "old.db").string();
  {
    auto s = OpenSqliteMetadataStore(path);
    ASSERT_TRUE(s.ok()) << s.status().message();
    CreateOldRuns(**s);
  }
  // The database as version 8 was: no trigger column (version 9), no
  // package index (10), a dependency row per base without platforms (11).
  ASSERT_EQ(
      std::system(("sqlite3 " + path +
                   " \"ALTER TABLE runs DROP COLUMN trigger_name; DROP TABLE image_packages; "
                   "DROP TABLE task_dependencies; CREATE TABLE task_dependencies(task TEXT NOT "
                   "NULL, kind TEXT NOT NULL, registry TEXT NOT NULL, repository TEXT NOT NULL, "
                   "tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY(task, kind, registry, "
                   "repository, tag)) WITHOUT ROWID; INSERT INTO task_dependencies "
                   "VALUES('t','Runtime','r:5000','base','1','sha256:aa'); "
                   "PRAGMA user_version=8\"")
                      .c_str()),
      0);
  auto s = OpenSqliteMetadataStore(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ExpectOldRunsBackfilled(**s);
  ExpectOldDependenciesKept(**s);
}

RunRow NewRun(const std::string& status, const std::string& task = "",
              const std::string& images = "") {
  RunRow r;
  r.status = status;
  r.type = task.empty() ? "QuickBuild" : "AutoBuild";
  r.task = task;
  r.create_time_ms = 1000;
  r.request_json = R"({"source":"/dev/null"})";
  r.output_images = images;
  return r;
}

std::string IdOf(int64_t seq) { return "r" + std::to_string(seq); }

RunRow QueuedFor(const std::string& pool, const std::string& platform) {
  RunRow r = NewRun("Queued");
  r.pool = pool;
  r.platform = platform;
  return r;
}

// The oldest queued run an agent can take: its pool, one of its platforms
// (or any, when it names none). Each is handed out once.
TEST_P(RunQueueStoreTest, ClaimTakesTheOldestRunTheAgentMatches) {
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64")).ok());
  ASSERT_TRUE(Create(QueuedFor("gpu", "linux/amd64")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/arm64")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64")).ok());
  RunClaimFilter amd{"a1", "", {"linux/amd64", "linux/386"}};
  auto first = store_->ClaimRun(amd, 10'000, 30'000);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->id, "r1");
  EXPECT_EQ((*first)->status, "Started");
  EXPECT_EQ((*first)->agent, "a1");
  EXPECT_EQ((*first)->attempt, 1);
  EXPECT_EQ((*first)->lease_expires_ms, 40'000);
  EXPECT_EQ((*first)->start_time_ms, 10'000);
  EXPECT_EQ(store_->GetRun("r1")->agent, "a1");
  EXPECT_EQ((*store_->ClaimRun(amd, 10'000, 30'000))->id, "r4");
  EXPECT_FALSE(store_->ClaimRun(amd, 10'000, 30'000)->has_value());
  EXPECT_EQ((*store_->ClaimRun({"g", "gpu", {}}, 10'000, 30'000))->id, "r2");
  EXPECT_EQ((*store_->ClaimRun({"any", "", {}}, 10'000, 30'000))->id, "r3");
  EXPECT_FALSE(store_->ClaimRun({"any", "", {}}, 10'000, 30'000)->has_value());
}

// A multi-platform run goes whole to an agent that builds every one of its
// platforms, in whatever order either names them.
TEST_P(RunQueueStoreTest, AMultiPlatformRunNeedsAnAgentOfEveryPlatform) {
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64,linux/arm64")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64, linux/arm64")).ok());
  EXPECT_FALSE(store_->ClaimRun({"amd", "", {"linux/amd64"}}, 10'000, 30'000)->has_value());
  EXPECT_FALSE(store_->ClaimRun({"arm", "", {"linux/arm64"}}, 10'000, 30'000)->has_value());
  RunClaimFilter both{"both", "", {"linux/arm64", "linux/386", "linux/amd64"}};
  EXPECT_EQ((*store_->ClaimRun(both, 10'000, 30'000))->id, "r1");
  EXPECT_EQ((*store_->ClaimRun(both, 10'000, 30'000))->id, "r2");
  EXPECT_FALSE(store_->ClaimRun(both, 10'000, 30'000)->has_value());
  // A platform no queue check would pass (an older server's row) never
  // breaks the claim query, nor matches.
  ASSERT_TRUE(Create(QueuedFor("", "linux/\"amd64\\")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64")).ok());
  auto claimed = store_->ClaimRun(both, 10'000, 30'000);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  EXPECT_EQ((*claimed)->id, "r4");
}

// An agent that only emulates a run's platform takes it once it has
// waited `emulated_after_ms` (create time 1000 here): until then it is left
// to agents building it natively. An agent naming only emulated platforms
// takes nothing else.
TEST_P(RunQueueStoreTest, AnEmulatingAgentTakesARunOnlyAfterNativeAgentsHadItsWait) {
  ASSERT_TRUE(Create(QueuedFor("", "linux/arm64")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64")).ok());
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64,linux/arm64")).ok());
  RunClaimFilter emulating{"x86", "", {"linux/amd64"}, {"linux/arm64"}, 30'000};
  // Before the wait: only what it builds natively.
  EXPECT_EQ((*store_->ClaimRun(emulating, 10'000, 30'000))->id, "r2");
  EXPECT_FALSE(store_->ClaimRun(emulating, 30'999, 30'000)->has_value());
  RunClaimFilter only_emulating{"qemu", "", {}, {"linux/arm64"}, 30'000};
  EXPECT_FALSE(store_->ClaimRun(only_emulating, 10'000, 30'000)->has_value());
  // A native agent is not made to wait.
  RunClaimFilter native{"arm", "", {"linux/arm64"}, {}, 0};
  EXPECT_EQ((*store_->ClaimRun(native, 10'000, 30'000))->id, "r1");
  // After it: the multi-platform run, half native and half emulated.
  EXPECT_EQ((*store_->ClaimRun(emulating, 31'000, 30'000))->id, "r3");
  ASSERT_TRUE(Create(QueuedFor("", "linux/amd64")).ok());
  EXPECT_FALSE(store_->ClaimRun(only_emulating, 1'000'000, 30'000)->has_value());
}

// A lease is renewed by its attempt only; a lost attempt is fenced out
// once the run is requeued, and the retry waits out its backoff.
TEST_P(RunQueueStoreTest, LeasesExpireAndOnlyTheCurrentAttemptMayReport) {
  ASSERT_TRUE(Create(NewRun("Queued")).ok());
  RunClaimFilter a{"a1", "", {}};
  RunRow held = **store_->ClaimRun(a, 1000, 5000);
  EXPECT_FALSE(*store_->RenewRunLease("r1", 1, 2000, 5000));
  EXPECT_EQ(store_->GetRun("r1")->lease_expires_ms, 7000);
  EXPECT_EQ(store_->RenewRunLease("r1", 2, 2000, 5000).status().code(), Code::kConflict);
  RunRow running = held;
  running.status = "Running";
  EXPECT_FALSE(*store_->UpdateClaimedRun(running, 2));
  EXPECT_TRUE(*store_->UpdateClaimedRun(running, 1));
  EXPECT_EQ(store_->UpdateClaimedRun(running, 0).status().code(), Code::kInvalid);

  EXPECT_TRUE(store_->ExpiredRunLeases(7000)->empty());
  auto expired = store_->ExpiredRunLeases(7001);
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].id, "r1");
  RunRow requeued = (*expired)[0];
  requeued.status = "Queued";
  requeued.not_before_ms = 9000;
  EXPECT_TRUE(*store_->UpdateClaimedRun(requeued, 1));
  RunRow after = *store_->GetRun("r1");
  EXPECT_EQ(after.agent, "a1");  // the last holder, for the record
  EXPECT_EQ(after.lease_expires_ms, 0);
  EXPECT_EQ(after.attempt, 1);
  EXPECT_EQ(store_->RenewRunLease("r1", 1, 7100, 5000).status().code(), Code::kConflict);
  EXPECT_FALSE(store_->ClaimRun(a, 8999, 5000)->has_value());  // backoff
  RunRow second = **store_->ClaimRun({"a2", "", {}}, 9000, 5000);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.agent, "a2");
  EXPECT_EQ(second.start_time_ms, 1000);  // the run's start, not the attempt's

  RunRow late = running;  // the first attempt's agent comes back
  late.status = "Succeeded";
  EXPECT_FALSE(*store_->UpdateClaimedRun(late, 1));
  EXPECT_EQ(store_->GetRun("r1")->status, "Started");
  RunRow done = second;
  done.status = "Succeeded";
  EXPECT_TRUE(*store_->UpdateClaimedRun(done, 2));
  EXPECT_EQ(store_->GetRun("r1")->agent, "a2");
  EXPECT_EQ(store_->RenewRunLease("r1", 2, 9500, 5000).status().code(), Code::kConflict);
  EXPECT_TRUE(store_->ExpiredRunLeases(1'000'000)->empty());
  auto events = store_->EventsAfter(0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> statuses;
  for (const auto& e : *events) statuses.push_back(e.status);
  EXPECT_EQ(statuses, (std::vector<std::string>{"Queued", "Started", "Running", "Queued", "Started",
                                                "Succeeded"}));
}

TEST_P(RunQueueStoreTest, CancelRequestsReachTheHolderOnly) {
  ASSERT_TRUE(Create(NewRun("Queued")).ok());
  EXPECT_FALSE(*store_->RequestRunCancel("r1"));  // queued: canceled directly instead
  ASSERT_TRUE(store_->ClaimRun({"a1", "", {}}, 1000, 5000)->has_value());
  EXPECT_FALSE(*store_->RenewRunLease("r1", 1, 1100, 5000));
  EXPECT_TRUE(*store_->RequestRunCancel("r1"));
  EXPECT_TRUE(*store_->RenewRunLease("r1", 1, 1200, 5000));
  EXPECT_TRUE(store_->GetRun("r1")->cancel_requested);
  EXPECT_FALSE(*store_->RequestRunCancel("r9"));
}

TEST_P(RunQueueStoreTest, AgentsAreRecordedWhenTheyCallIn) {
  ASSERT_TRUE(store_->TouchAgent({"b", "gpu", "linux/amd64", "1.0", 2000}).ok());
  ASSERT_TRUE(store_->TouchAgent({"a", "", "", "1.0", 1000}).ok());
  ASSERT_TRUE(store_->TouchAgent({"b", "gpu", "linux/amd64,linux/arm64", "1.1", 1500}).ok());
  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 2u);
  EXPECT_EQ((*agents)[0].name, "a");
  EXPECT_EQ((*agents)[1].platforms, "linux/amd64,linux/arm64");
  EXPECT_EQ((*agents)[1].version, "1.1");
  EXPECT_EQ((*agents)[1].last_seen_ms, 2000);  // a late, older report does not move it back
  ASSERT_TRUE(store_->DeleteAgent("a").ok());
  EXPECT_EQ(store_->DeleteAgent("a").code(), Code::kNotFound);
  EXPECT_EQ(store_->ListAgents()->size(), 1u);
}

TEST_P(RunQueueStoreTest, ConcurrentClaimsHandEachRunOutOnce) {
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Create(NewRun("Queued")).ok());
  std::mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> agents;
  for (int t = 0; t < 4; ++t) {
    agents.emplace_back([&, t] {
      RunClaimFilter f{"a" + std::to_string(t), "", {}};
      while (true) {
        auto row = store_->ClaimRun(f, 1000, 5000);
        ASSERT_TRUE(row.ok()) << row.status().message();
        if (!*row) return;
        std::lock_guard lock(mu);
        claimed.push_back((*row)->id);
      }
    });
  }
  for (auto& a : agents) a.join();
  EXPECT_EQ(claimed.size(), 40u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 40u);
}

TEST_P(RunStoreTest, RunsGetIncreasingSeqsAndRoundTrip) {
  auto first = Create(NewRun("Queued"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Create(NewRun("Queued"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->seq, 1);
  EXPECT_EQ(second->seq, 2);
  EXPECT_TRUE(first->created);
  auto got = store_->GetRun("r2");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->id, "r2");
  EXPECT_EQ(got->seq, 2);
  EXPECT_EQ(got->status, "Queued");
  EXPECT_EQ(got->type, "QuickBuild");
  EXPECT_EQ(got->create_time_ms, 1000);
  EXPECT_EQ(got->request_json, R"({"source":"/dev/null"})");
  EXPECT_EQ(store_->GetRun("r9").status().code(), Code::kNotFound);

  RunRow done = *got;
  done.status = "Succeeded";
  done.start_time_ms = 2000;
  done.finish_time_ms = 3000;
  done.result_json = R"({"digest":"x"})";
  done.error = "";
  done.output_images = "\nteam/app:v1\n";
  ASSERT_TRUE(*store_->UpdateRun(done, {}));
  got = store_->GetRun("r2");
  EXPECT_EQ(got->status, "Succeeded");
  EXPECT_EQ(got->start_time_ms, 2000);
  EXPECT_EQ(got->finish_time_ms, 3000);
  EXPECT_EQ(got->result_json, R"({"digest":"x"})");
  EXPECT_EQ(got->create_time_ms, 1000);  // not an updatable field
  done.id = "nope";
  EXPECT_EQ(store_->UpdateRun(done, {}).status().code(), Code::kNotFound);
}

TEST_P(RunStoreTest, OneRunPerCause) {
  RunRow row = NewRun("Queued");
  row.cause = "base-image:app:event:7";
  auto first = Create(row);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->created);
  auto again = Create(row);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_EQ(store_->GetRun(IdOf(first->seq))->cause, row.cause);
  // Runs without a cause are never merged.
  EXPECT_TRUE(Create(NewRun("Queued"))->created);
  EXPECT_TRUE(Create(NewRun("Queued"))->created);
  RunQuery all;
  all.top = -1;
  EXPECT_EQ(store_->ListRuns(all)->size(), 3u);
}

// A run's status changes are events, written with the change; an update
// that keeps the status, or is refused by its condition, writes none.
TEST_P(RunStoreTest, RunStatusChangesAreEvents) {
  ASSERT_TRUE(Create(NewRun("Queued")).ok());
  RunRow r = *store_->GetRun("r1");
  r.status = "Running";
  ASSERT_TRUE(*store_->UpdateRun(r, {"Queued"}));
  r.output_images = "\nteam/app:v1\n";
  ASSERT_TRUE(*store_->UpdateRun(r, {}));  // same status
  r.status = "Canceled";
  ASSERT_FALSE(*store_->UpdateRun(r, {"Queued"}));  // refused
  r.status = "Succeeded";
  ASSERT_TRUE(*store_->UpdateRun(r, {"Running"}));
  auto events = store_->EventsAfter(0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> seen;
  for (const auto& e : *events) seen.push_back(e.action + " " + e.run + " " + e.status);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"run r1 Queued", "run r1 Running", "run r1 Succeeded"}));
}

TEST_P(RunStoreTest, RunUpdateWithStatusConditionIsACompareAndSet) {
  ASSERT_TRUE(Create(NewRun("Queued")).ok());
  RunRow claimed = *store_->GetRun("r1");
  claimed.status = "Started";
  EXPECT_TRUE(*store_->UpdateRun(claimed, {"Queued"}));
  RunRow canceled = claimed;
  canceled.status = "Canceled";
  EXPECT_FALSE(*store_->UpdateRun(canceled, {"Queued"}));  // someone claimed it first
  EXPECT_EQ(store_->GetRun("r1")->status, "Started");
  EXPECT_TRUE(*store_->UpdateRun(canceled, {"Started", "Running"}));
  EXPECT_EQ(store_->GetRun("r1")->status, "Canceled");
}

TEST_P(RunStoreTest, ConcurrentRunCreationNeverRepeatsASeq) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) EXPECT_TRUE(Create(NewRun("Queued")).ok());
    });
  }
  for (auto& th : threads) th.join();
  RunQuery all;
  all.top = -1;
  auto runs = store_->ListRuns(all);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 80u);
  std::set<std::string> ids;
  for (const auto& r : *runs) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 80u);
  EXPECT_EQ(runs->front().seq, 80);  // newest first
}

TEST_P(RunStoreTest, ListRunsFilters) {
  ASSERT_TRUE(Create(NewRun("Succeeded", "", "\nteam/app:v1\n")).ok());
  ASSERT_TRUE(Create(NewRun("Failed", "nightly", "\nteam/app:v2\n")).ok());
  ASSERT_TRUE(Create(NewRun("Succeeded", "nightly", "\nteam/db:v1\n")).ok());
  auto ids = [&](const RunQuery& q) {
    std::vector<std::string> out;
    auto runs = store_->ListRuns(q);
    EXPECT_TRUE(runs.ok());
    for (const auto& r : *runs) out.push_back(r.id);
    return out;
  };
  EXPECT_EQ(ids(RunQuery{}), (std::vector<std::string>{"r3", "r2", "r1"}));
  EXPECT_EQ(ids(RunQuery{2, "", "", "", "", 0}), (std::vector<std::string>{"r3", "r2"}));
  EXPECT_EQ(ids(RunQuery{15, "Succeeded", "", "", "", 0}), (std::vector<std::string>{"r3", "r1"}));
  EXPECT_EQ(ids(RunQuery{15, "", "nightly", "", "", 0}), (std::vector<std::string>{"r3", "r2"}));
  EXPECT_EQ(ids(RunQuery{15, "", "", "\nteam/app:v1\n", "", 0}), (std::vector<std::string>{"r1"}));
  EXPECT_EQ(ids(RunQuery{15, "", "", "team/app", "", 0}), (std::vector<std::string>{"r2", "r1"}));
  EXPECT_EQ(ids(RunQuery{15, "Failed", "nightly", "team/db", "", 0}), std::vector<std::string>{});
}

// What queued a run and when it was created narrow a listing too, with the
// limit applied after the filter (the newest matching runs, not fewer).
TEST_P(RunStoreTest, ListRunsByTriggerAndTime) {
  for (int i = 1; i <= 6; ++i) {
    RunRow r = NewRun("Succeeded", "app");
    r.trigger = i % 2 ? "Image Update" : "Manual";
    r.create_time_ms = i * 1000;
    ASSERT_TRUE(Create(r).ok());
  }
  auto ids = [&](const RunQuery& q) {
    std::vector<std::string> out;
    auto runs = store_->ListRuns(q);
    EXPECT_TRUE(runs.ok());
    for (const auto& r : *runs) out.push_back(r.id + "/" + r.trigger);
    return out;
  };
  RunQuery q;
  q.top = 2;
  q.trigger = "Image Update";
  EXPECT_EQ(ids(q), (std::vector<std::string>{"r5/Image Update", "r3/Image Update"}));
  q.top = 15;
  q.created_after_ms = 4000;
  EXPECT_EQ(ids(q), (std::vector<std::string>{"r5/Image Update"}));
  q.trigger = "";
  EXPECT_EQ(ids(q), (std::vector<std::string>{"r6/Manual", "r5/Image Update", "r4/Manual"}));
  q.trigger = "Timer";
  EXPECT_EQ(ids(q), std::vector<std::string>{});
}

TEST_P(RunStoreTest, RunsWithStatusAreOldestFirst) {
  for (const char* s : {"Running", "Queued", "Succeeded", "Started", "Queued"})
    ASSERT_TRUE(Create(NewRun(s)).ok());
  auto active = store_->RunsWithStatus({"Started", "Running"}, -1);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].id, "r1");
  EXPECT_EQ((*active)[1].id, "r4");
  auto next = store_->RunsWithStatus({"Queued"}, 1);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].id, "r2");
  EXPECT_TRUE(store_->RunsWithStatus({"Timeout"}, -1)->empty());
}

TEST_P(TaskStoreTest, TasksKeepDefinitionAndStateApart) {
  ASSERT_TRUE(store_->CreateTask({"app", R"({"v":1})", "", 10, 10}).ok());
  EXPECT_EQ(store_->CreateTask({"app", "{}", "", 11, 11}).code(), Code::kConflict);
  ASSERT_TRUE(*store_->SwapTaskState("app", "{}", R"({"seen":"abc"})"));
  EXPECT_FALSE(*store_->SwapTaskState("app", "{}", R"({"seen":"lost"})")) << "not from {} any more";
  ASSERT_TRUE(store_->UpdateTask({"app", R"({"v":2})", "ignored", 0, 20}).ok());
  auto row = store_->GetTask("app");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->definition_json, R"({"v":2})");
  EXPECT_EQ(row->state_json, R"({"seen":"abc"})");
  EXPECT_EQ(row->create_time_ms, 10);
  EXPECT_EQ(row->update_time_ms, 20);
  EXPECT_EQ(store_->UpdateTask({"nope", "{}", "", 0, 0}).code(), Code::kNotFound);
  EXPECT_EQ(store_->SwapTaskState("nope", "{}", "{}").status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->CreateTask({"base", "{}", "", 1, 1}).ok());
  auto all = store_->ListTasks();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "app");
  EXPECT_EQ((*all)[0].state_json, R"({"seen":"abc"})");
  EXPECT_EQ((*all)[1].state_json, "{}");
}

// Servers updating one task's state at once: each compare-and-set that
// loses retries on the winner's state, so every update lands.
TEST_P(TaskStoreTest, ConcurrentStateUpdatesAllLand) {
  ASSERT_TRUE(store_->CreateTask({"t", "{}", "", 1, 1}).ok());
  std::vector<std::thread> servers;
  for (int t = 0; t < 4; ++t) {
    servers.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        while (true) {
          auto row = store_->GetTask("t");
          ASSERT_TRUE(row.ok());
          std::string next = row->state_json + std::to_string(t);
          auto swapped = store_->SwapTaskState("t", row->state_json, next);
          ASSERT_TRUE(swapped.ok()) << swapped.status().message();
          if (*swapped) break;
        }
      }
    });
  }
  for (auto& s : servers) s.join();
  std::string state = store_->GetTask("t")->state_json;
  EXPECT_EQ(state.size(), 2u + 40u);
  for (char c : std::string("0123")) EXPECT_EQ(std::count(state.begin(), state.end(), c), 10);
}

TEST_P(TaskStoreTest, DependencyIndexIsReplacedPerTaskAndDroppedWithIt) {
  ASSERT_TRUE(store_->CreateTask({"a", "{}", "", 1, 1}).ok());
  ASSERT_TRUE(store_->CreateTask({"b", "{}", "", 1, 1}).ok());
  ASSERT_TRUE(
      store_
          ->SetDependencies("a", {{"", "Runtime", "r:5000", "base", "1", "sha256:aa", "", ""},
                                  {"", "BuildTime", "r:5000", "sdk", "2", "", "", ""}})
          .ok());
  ASSERT_TRUE(
      store_->SetDependencies("b", {{"", "Runtime", "r:5000", "base", "1", "", "", ""}}).ok());
  auto on_base = store_->Dependents("r:5000", "base", "1");
  ASSERT_TRUE(on_base.ok());
  ASSERT_EQ(on_base->size(), 2u);
  EXPECT_EQ((*on_base)[0].task, "a");
  EXPECT_EQ((*on_base)[0].digest, "sha256:aa");
  EXPECT_EQ((*on_base)[1].task, "b");
  EXPECT_TRUE(store_->Dependents("r:5000", "base", "2")->empty());
  EXPECT_TRUE(store_->Dependents("other:5000", "base", "1")->empty());
  // Replaced, not merged.
  ASSERT_TRUE(
      store_->SetDependencies("a", {{"", "Runtime", "r:5000", "sdk", "2", "sha256:bb", "", ""}})
          .ok());
  EXPECT_EQ(store_->Dependencies("a")->size(), 1u);
  EXPECT_EQ(store_->Dependencies("")->size(), 2u);
  ASSERT_TRUE(store_->DeleteTask("a").ok());
  EXPECT_TRUE(store_->Dependencies("a")->empty());
  EXPECT_EQ(store_->DeleteTask("a").code(), Code::kNotFound);
}

// A task built for two platforms from one index has a row per platform,
// each with the manifest of its platform, in platform order.
TEST_P(TaskStoreTest, DependencyIndexKeepsARowPerPlatform) {
  ASSERT_TRUE(store_->CreateTask({"mp", "{}", "", 1, 1}).ok());
  ASSERT_TRUE(
      store_
          ->SetDependencies(
              "mp",
              {{"", "Runtime", "r:5000", "base", "1", "sha256:ix", "linux/arm64", "sha256:arm"},
               {"", "Runtime", "r:5000", "base", "1", "sha256:ix", "linux/amd64", "sha256:amd"}})
          .ok());
  auto rows = store_->Dependents("r:5000", "base", "1");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].platform, "linux/amd64");
  EXPECT_EQ((*rows)[0].manifest, "sha256:amd");
  EXPECT_EQ((*rows)[0].digest, "sha256:ix");
  EXPECT_EQ((*rows)[1].platform, "linux/arm64");
  EXPECT_EQ((*rows)[1].manifest, "sha256:arm");
  auto by_task = store_->Dependencies("mp");
  ASSERT_TRUE(by_task.ok());
  ASSERT_EQ(by_task->size(), 2u);
  EXPECT_EQ((*by_task)[1].manifest, "sha256:arm");
}

// A log read back whole and in slices; an agent's resent append is
// skipped, a gap refused, appends without an offset go at the end.
TEST_P(RunLogStoreTest, AppendsAtOffsetsAndReadsSlices) {
  EXPECT_EQ(store_->ReadLog("r1", 0, 100)->size, 0u);  // not written yet: empty
  ASSERT_EQ(*store_->AppendLog("r1", std::nullopt, "hello "), 6u);
  ASSERT_EQ(*store_->AppendLog("r1", 6, "world\n"), 12u);
  EXPECT_EQ(*store_->AppendLog("r1", 6, "world\n"), 12u);     // resent: nothing added
  EXPECT_EQ(*store_->AppendLog("r1", 9, "ld\nmore\n"), 17u);  // partly resent
  auto gap = store_->AppendLog("r1", 30, "x");
  EXPECT_EQ(gap.status().code(), Code::kConflict);
  EXPECT_NE(gap.status().message().find("would leave a gap"), std::string::npos);
  EXPECT_EQ(*store_->AppendLog("r1", std::nullopt, std::string("bin\0ary\xff", 8)), 25u);
  auto all = store_->ReadLog("r1", 0, 1000);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->data, std::string("hello world\nmore\nbin\0ary\xff", 25));
  EXPECT_EQ(all->size, 25u);
  auto middle = store_->ReadLog("r1", 3, 10);
  EXPECT_EQ(middle->data, "lo world\nm");
  EXPECT_EQ(middle->size, 25u);
  EXPECT_EQ(store_->ReadLog("r1", 25, 10)->data, "");
  EXPECT_EQ(store_->ReadLog("r2", 0, 10)->size, 0u);  // each run its own
}

// Two servers appending to one log at once (an agent's shipping and a
// server's final line): every byte lands once, none overwritten.
TEST_P(RunLogStoreTest, ConcurrentAppendsAllLand) {
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto r = store_->AppendLog("r", std::nullopt, std::string(1, static_cast<char>('a' + t)));
        EXPECT_TRUE(r.ok()) << r.status().message();
      }
    });
  }
  for (auto& w : writers) w.join();
  auto all = store_->ReadLog("r", 0, 1000);
  ASSERT_EQ(all->size, 100u);
  for (char c : std::string("abcd"))
    EXPECT_EQ(std::count(all->data.begin(), all->data.end(), c), 25);
}

// One holder at a time; the holder renews; an expired lease goes to the
// next taker; dropping frees it at once.
TEST_P(LeaseStoreTest, OneHolderAtATime) {
  EXPECT_TRUE(*store_->TakeLease("gc", "a", 1000, 500));
  EXPECT_FALSE(*store_->TakeLease("gc", "b", 1200, 500));
  EXPECT_TRUE(*store_->TakeLease("gc", "a", 1400, 500));  // renewed to 1900
  EXPECT_FALSE(*store_->TakeLease("gc", "b", 1800, 500));
  EXPECT_TRUE(*store_->TakeLease("other", "b", 1800, 500));  // each lease its own
  EXPECT_TRUE(*store_->TakeLease("gc", "b", 1901, 500));     // a's expired
  EXPECT_FALSE(*store_->TakeLease("gc", "a", 1950, 500));
  ASSERT_TRUE(store_->DropLease("gc", "a").ok());  // not a's: nothing happens
  EXPECT_FALSE(*store_->TakeLease("gc", "a", 1960, 500));
  ASSERT_TRUE(store_->DropLease("gc", "b").ok());
  EXPECT_TRUE(*store_->TakeLease("gc", "a", 1970, 500));
}

TEST_P(LeaseStoreTest, ConcurrentTakersGetItOnce) {
  std::atomic<int> won = 0;
  std::vector<std::thread> takers;
  for (int t = 0; t < 8; ++t) {
    takers.emplace_back([&, t] {
      auto r = store_->TakeLease("gc", "h" + std::to_string(t), 1000, 60000);
      EXPECT_TRUE(r.ok()) << r.status().message();
      if (r.ok() && *r) ++won;
    });
  }
  for (auto& t : takers) t.join();
  EXPECT_EQ(won, 1);
}

// Event ids are handed out before the transactions holding them commit: a
// consumer that read past id N must never later find a smaller id it
// skipped. Four writers push while a consumer follows with a cursor; it
// must see every event, in increasing order.
TEST_P(EventLogTest, AConsumerFollowingConcurrentWritersMissesNothing) {
  std::atomic<bool> done = false;
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(store_->PutManifest(Manifest("c", tag, {}, tag)).ok());
      }
    });
  }
  std::set<std::string> seen;
  int64_t cursor = 0;
  auto follow = [&] {
    auto events = store_->EventsAfter(cursor, 7);
    ASSERT_TRUE(events.ok()) << events.status().message();
    for (const auto& e : *events) {
      EXPECT_GT(e.id, cursor);
      cursor = e.id;
      seen.insert(e.tag);
    }
  };
  std::thread reader([&] {
    while (!done) follow();
  });
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  follow();
  follow();
  EXPECT_EQ(seen.size(), 100u);
}

// Two servers starting together against an empty database: the schema is
// created once and both open; a schema newer than this build is refused.
TEST(PostgresMetadataStore, MigratesOnceAndRefusesNewerSchemas) {
  auto& pg = testing::LocalPostgres::Get();
  DD_SKIP_UNLESS(pg.ok(), pg.why());
  std::string url = pg.NewDatabase();
  std::vector<Status> opened(3);
  std::vector<std::thread> servers;
  for (auto& s : opened) servers.emplace_back([&] { s = OpenPostgresMetadataStore(url).status(); });
  for (auto& t : servers) t.join();
  for (const auto& s : opened) EXPECT_TRUE(s.ok()) << s.message();
  {
    auto s = OpenPostgresMetadataStore(url);
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_TRUE((*s)->PutUser(User{"kept", "h", true}).ok());
  }
  auto again = OpenPostgresMetadataStore(url);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE((*again)->GetUser("kept")->admin);
  testing::Sh("psql '" + url + "' -qc 'UPDATE drydock_schema SET version=99'");
  auto newer = OpenPostgresMetadataStore(url);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("version 99, newer than this drydock understands"),
            std::string::npos)
      << newer.status().message();
}

TEST(PostgresMetadataStore, MigrationBackfillsTheTriggersOfOldRuns) {
  auto& pg = testing::LocalPostgres::Get();
  DD_SKIP_UNLESS(pg.ok(), pg.why());
  std::string url = pg.NewDatabase();
  {
    auto s = OpenPostgresMetadataStore(url);
    ASSERT_TRUE(s.ok()) << s.status().message();
    CreateOldRuns(**s);
  }
  // As version 1 was: no trigger column (version 2), no package index (3),
  // a dependency row per base without platforms (4).
  testing::Sh("psql '" + url +
              "' -qc \"ALTER TABLE runs DROP COLUMN trigger_name; DROP TABLE image_packages; "
              "ALTER TABLE task_dependencies DROP COLUMN platform, DROP COLUMN manifest; "
              "ALTER TABLE task_dependencies ADD PRIMARY KEY(task, kind, registry, repository, "
              "tag); INSERT INTO task_dependencies "
              "VALUES('t', 'Runtime', 'r:5000', 'base', '1', 'sha256:aa'); "
              "UPDATE drydock_schema SET version=1\"");
  auto s = OpenPostgresMetadataStore(url);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ExpectOldRunsBackfilled(**s);
  ExpectOldDependenciesKept(**s);
}

// A database restart (here: an immediate stop, as a crash) breaks every
// pooled connection; the store's next requests succeed on new connections
// without a restart of the server holding it.
TEST(PostgresMetadataStore, RecoversFromADatabaseRestartByItself) {
  auto& pg = testing::LocalPostgres::Get();
  DD_SKIP_UNLESS(pg.ok(), pg.why());
  auto s = OpenPostgresMetadataStore(pg.NewDatabase());
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto& store = **s;
  // Several pooled connections, all to be broken by the restart.
  std::vector<std::thread> users;
  for (int i = 0; i < 4; ++i)
    users.emplace_back([&, i] {
      EXPECT_TRUE(store.PutUser(User{"u" + std::to_string(i), "h"}).ok());
    });
  for (auto& t : users) t.join();
  pg.Restart();
  for (int i = 0; i < 4; ++i) {
    auto u = store.GetUser("u" + std::to_string(i));
    EXPECT_TRUE(u.ok()) << u.status().message();
  }
  EXPECT_TRUE(store.PutUser(User{"after", "h"}).ok());
  EXPECT_EQ(*store.CountUsers(), 5);
}

// LISTEN/NOTIFY: a run queued or an event written through one server's
// store wakes another server's at once.
TEST(PostgresMetadataStore, OtherServersHearOfQueuedRunsAndEvents) {
  auto& pg = testing::LocalPostgres::Get();
  DD_SKIP_UNLESS(pg.ok(), pg.why());
  std::string url = pg.NewDatabase();
  auto a = OpenPostgresMetadataStore(url);
  auto b = OpenPostgresMetadataStore(url);
  ASSERT_TRUE(a.ok() && b.ok());
  std::mutex mu;
  std::condition_variable cv;
  int runs = 0, events = 0;
  (*b)->OnChange([&](ChangeNotices::Change c) {
    std::lock_guard lock(mu);
    (c == ChangeNotices::Change::kRunQueued ? runs : events)++;
    cv.notify_all();
  });
  auto wait_for = [&](int& counter, int at_least) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return counter >= at_least; });
  };
  // Listening starts with one of each (what happened before is polled for).
  ASSERT_TRUE(wait_for(runs, 1) && wait_for(events, 1));
  {
    std::lock_guard lock(mu);
    runs = events = 0;
  }
  RunRow queued;
  queued.status = "Queued";
  queued.type = "QuickBuild";
  ASSERT_TRUE((*a)->CreateRun("",
                              [&](int64_t seq) {
                                queued.id = "r" + std::to_string(seq);
                                return queued;
                              })
                  .ok());
  EXPECT_TRUE(wait_for(runs, 1)) << "no notice of the queued run";
  ManifestPut put;
  put.record.repo = "r";
  put.record.content = "m";
  put.record.digest = D("m");
  put.record.media_type = "application/vnd.oci.image.manifest.v1+json";
  ASSERT_TRUE((*a)->PutManifest(put).ok());
  EXPECT_TRUE(wait_for(events, 2)) << "no notice of the push";  // after the run's
  (*b)->OnChange(nullptr);
}

const auto kBackends = ::testing::Values("sqlite", "postgres");
auto BackendName = [](const ::testing::TestParamInfo<std::string>& i) { return i.param; };
INSTANTIATE_TEST_SUITE_P(Backends, RegistryMetadataTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, AccountStoreTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, EventLogTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, RunStoreTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, RunQueueStoreTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, TaskStoreTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, RunLogStoreTest, kBackends, BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, LeaseStoreTest, kBackends, BackendName);

}  // namespace
}  // namespace drydock::storage
