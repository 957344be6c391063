#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "layer/layer.h"
#include "test_dir.h"

namespace drydock::layer {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class LayerTest : public ::testing::Test {
 protected:
  // An overlay upper dir with every kind of change a RUN can make.
  fs::path MakeUpper() {
    fs::path u = dir_.path() / "upper";
    WriteFile(u / "etc/app.conf", "key=value\n");
    WriteFile(u / "bin/tool", "#!/bin/sh\necho tool\n");
    ::chmod((u / "bin/tool").c_str(), 0755);
    fs::create_symlink("tool", u / "bin/alias");
    fs::create_hard_link(u / "bin/tool", u / "bin/tool-hardlink");
    ::mknod((u / "etc/removed").c_str(), S_IFCHR, makedev(0, 0));
    fs::create_directories(u / "var/cache");
    ::lsetxattr((u / "var/cache").c_str(), "trusted.overlay.opaque", "y", 1, 0);
    WriteFile(u / "var/cache/new", "fresh");
    return u;
  }
  LayerBlob Write(const fs::path& upper, const std::string& name, WriteOptions o = {}) {
    auto blob = WriteLayer(upper, dir_.path() / name, o);
    EXPECT_TRUE(blob.ok()) << blob.status().message();
    return *blob;
  }
  TempDir dir_ = testing::MakeTestDir();
};

TEST_F(LayerTest, DigestIsOfTheFileAndDiffIdOfTheTar) {
  auto blob = Write(MakeUpper(), "l.tgz");
  EXPECT_EQ(blob.digest, oci::Digest::Of(ReadFile(blob.path)));
  EXPECT_EQ(blob.size, fs::file_size(blob.path));
  EXPECT_NE(blob.digest, blob.diff_id);
  auto plain =
      Write(dir_.path() / "upper", "l.tar", WriteOptions{Compression::kNone, std::nullopt});
  EXPECT_EQ(plain.digest, plain.diff_id);
  EXPECT_EQ(blob.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
}

TEST_F(LayerTest, SourceDateEpochMakesLayersReproducible) {
  auto upper = MakeUpper();
  WriteOptions o{Compression::kGzip, 1700000000};
  auto a = Write(upper, "a.tgz", o);
  // Touch everything: without clamping the digest would change.
  for (auto& e : fs::recursive_directory_iterator(upper)) {
    if (!e.is_symlink() && !e.is_character_file())
      fs::last_write_time(e.path(), fs::file_time_type::clock::now());
  }
  auto b = Write(upper, "b.tgz", o);
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.diff_id, b.diff_id);
  auto zst_a = Write(upper, "a.zst", WriteOptions{Compression::kZstd, 1700000000});
  auto zst_b = Write(upper, "b.zst", WriteOptions{Compression::kZstd, 1700000000});
  EXPECT_EQ(zst_a.digest, zst_b.digest);
  EXPECT_EQ(zst_a.diff_id, a.diff_id);  // same tar, different compression
}

TEST_F(LayerTest, RoundTripKeepsOverlayFormat) {
  auto blob = Write(MakeUpper(), "l.tgz");
  fs::path out = dir_.path() / "out";
  ASSERT_TRUE(UnpackLayer(blob.path, out).ok());
  EXPECT_EQ(ReadFile(out / "etc/app.conf"), "key=value\n");
  EXPECT_EQ(fs::read_symlink(out / "bin/alias"), "tool");
  struct stat a, b, w;
  ASSERT_EQ(::stat((out / "bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat((out / "bin/tool-hardlink").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mode & 0777, 0755u);
  ASSERT_EQ(::lstat((out / "etc/removed").c_str(), &w), 0);
  EXPECT_TRUE(S_ISCHR(w.st_mode));
  EXPECT_EQ(w.st_rdev, makedev(0, 0));
  char v[2] = {};
  EXPECT_EQ(::lgetxattr((out / "var/cache").c_str(), "trusted.overlay.opaque", v, 1), 1);
  EXPECT_EQ(v[0], 'y');
}

TEST_F(LayerTest, ApplyDeletesWhatWhiteoutsName) {
  auto blob = Write(MakeUpper(), "l.tgz");
  fs::path root = dir_.path() / "root";
  WriteFile(root / "etc/removed", "old");
  WriteFile(root / "var/cache/stale", "old");
  ASSERT_TRUE(ApplyLayer(blob.path, root).ok());
  EXPECT_FALSE(fs::exists(root / "etc/removed"));
  EXPECT_FALSE(fs::exists(root / "var/cache/stale"));
  EXPECT_EQ(ReadFile(root / "var/cache/new"), "fresh");
}

// A hand-made tar with one hostile entry.
fs::path EvilTar(const fs::path& dir, const char* name, const char* hardlink = nullptr) {
  fs::path p = dir / "evil.tar";
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, p.c_str());
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  if (hardlink) archive_entry_set_hardlink(e, hardlink);
  archive_entry_set_size(e, hardlink ? 0 : 4);
  archive_write_header(a, e);
  if (!hardlink) archive_write_data(a, "evil", 4);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return p;
}

TEST_F(LayerTest, RefusesEntriesThatEscape) {
  fs::path out = dir_.path() / "out";
  for (const char* name : {"../escaped", "a/../../escaped", "/../escaped"}) {
    auto s = UnpackLayer(EvilTar(dir_.path(), name), out);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_FALSE(fs::exists(dir_.path() / "escaped")) << name;
  }
  auto s = UnpackLayer(EvilTar(dir_.path(), "link", "../../etc/passwd"), out);
  EXPECT_FALSE(s.ok());
  // An absolute name is taken relative to the root, as Docker does.
  ASSERT_TRUE(UnpackLayer(EvilTar(dir_.path(), "/inside"), out).ok());
  EXPECT_EQ(ReadFile(out / "inside"), "evil");
}

// libarchive (SECURE_SYMLINKS + UNLINK) replaces an intermediate symlink
// with a real directory rather than following it out of the root.
TEST_F(LayerTest, NeverWritesThroughSymlinks) {
  fs::path out = dir_.path() / "out";
  fs::create_directories(out);
  fs::create_directories(dir_.path() / "outside");
  fs::create_directory_symlink(dir_.path() / "outside", out / "link");
  (void)UnpackLayer(EvilTar(dir_.path(), "link/file"), out);
  EXPECT_FALSE(fs::exists(dir_.path() / "outside/file"));
  EXPECT_FALSE(fs::is_symlink(out / "link"));
}

// A tar of a symlink `link` -> `target`, then an empty file `name`.
fs::path SymlinkTar(const fs::path& dir, const char* link, const std::string& target,
                    const char* name) {
  fs::path p = dir / "symlink.tar";
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, p.c_str());
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, link);
  archive_entry_set_filetype(e, AE_IFLNK);
  archive_entry_set_perm(e, 0777);
  archive_entry_set_symlink(e, target.c_str());
  archive_write_header(a, e);
  archive_entry_clear(e);
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, 0);
  archive_write_header(a, e);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return p;
}

// Whiteouts and opaque markers under a symlink used to delete (or mark) what
// the symlink points at, anywhere on the host: found while writing
// fuzz/layer_unpack, whose sandbox now reports such escapes.
TEST_F(LayerTest, WhiteoutsNeverFollowSymlinks) {
  fs::path outside = dir_.path() / "outside";
  for (const char* name : {"a/.wh.keep", "a/.wh..wh..opq", "a/b/.wh.keep"}) {
    SCOPED_TRACE(name);
    WriteFile(outside / "keep", "keep");
    WriteFile(outside / "b/keep", "keep");
    // The symlink comes with the layer...
    fs::path out = dir_.path() / "out";
    fs::remove_all(out);
    auto blob = SymlinkTar(dir_.path(), "a", outside.string(), name);
    EXPECT_FALSE(UnpackLayer(blob, out).ok());
    fs::path root = dir_.path() / "root";
    fs::remove_all(root);
    EXPECT_FALSE(ApplyLayer(blob, root).ok());
    // ...or is already in the root a layer is applied onto.
    fs::remove_all(root);
    fs::create_directories(root);
    fs::create_directory_symlink(outside, root / "a");
    EXPECT_FALSE(ApplyLayer(EvilTar(dir_.path(), name), root).ok());
    EXPECT_EQ(ReadFile(outside / "keep"), "keep");
    EXPECT_EQ(ReadFile(outside / "b/keep"), "keep");
    char value[8];
    EXPECT_LT(::getxattr(outside.c_str(), "trusted.overlay.opaque", value, sizeof value), 0);
  }
}

// ".wh..." names "..": it used to delete the destination's parent.
TEST_F(LayerTest, WhiteoutOfDotOrDotDotIsRefused) {
  fs::path out = dir_.path() / "out";
  for (const char* name : {".wh...", "d/.wh...", ".wh..", ".wh."}) {
    SCOPED_TRACE(name);
    WriteFile(dir_.path() / "sibling", "keep");
    EXPECT_FALSE(UnpackLayer(EvilTar(dir_.path(), name), out).ok());
    EXPECT_FALSE(ApplyLayer(EvilTar(dir_.path(), name), out).ok());
    EXPECT_EQ(ReadFile(dir_.path() / "sibling"), "keep");
    EXPECT_TRUE(fs::is_directory(out));
  }
}

// Found by fuzz/layer_unpack (fuzz/corpus/layer_unpack/crash-truncated-gzip):
// a gzip header libarchive gives up on without an error message used to make
// the error text out of a null pointer.
TEST_F(LayerTest, TruncatedGzipIsAnErrorNotACrash) {
  fs::path blob = dir_.path() / "truncated.gz";
  WriteFile(blob, std::string("\x1f\x8b\x08\x00\xff\xff\xff\x00\x00\x00\x03\x00", 12));
  EXPECT_FALSE(UnpackLayer(blob, dir_.path() / "out").ok());
  EXPECT_FALSE(ApplyLayer(blob, dir_.path() / "root").ok());
  EXPECT_FALSE(IsArchive(blob));
}

TEST_F(LayerTest, ListsEntriesWithWhiteoutsAndOpaqueDirectories) {
  fs::path upper = MakeUpper();
  for (auto c : {Compression::kGzip, Compression::kZstd}) {
    auto blob =
        Write(upper, c == Compression::kGzip ? "l.tgz" : "l.tzst", WriteOptions{c, std::nullopt});
    auto entries = ListLayer(blob.path);
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    std::map<std::string, std::set<int>> kinds;
    for (const auto& e : *entries) kinds[e.path].insert(e.kind);
    EXPECT_EQ(kinds["etc/app.conf"], std::set<int>{LayerEntry::kFile});
    EXPECT_EQ(kinds["bin/alias"], std::set<int>{LayerEntry::kFile});
    EXPECT_EQ(kinds["bin"], std::set<int>{LayerEntry::kDirectory});
    EXPECT_EQ(kinds["etc/removed"], std::set<int>{LayerEntry::kWhiteout});
    EXPECT_EQ(kinds["var/cache"], (std::set<int>{LayerEntry::kDirectory, LayerEntry::kOpaque}));
    EXPECT_EQ(kinds["var/cache/new"], std::set<int>{LayerEntry::kFile});
    EXPECT_EQ(kinds.count(""), 0u);
  }
}

TEST_F(LayerTest, ListingADamagedLayerNamesIt) {
  auto blob = Write(MakeUpper(), "l.tgz");
  std::string bytes = ReadFile(blob.path);
  std::ofstream(dir_.path() / "cut.tgz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto entries = ListLayer(dir_.path() / "cut.tgz");
  ASSERT_FALSE(entries.ok());
  EXPECT_NE(entries.status().message().find("cut.tgz"), std::string::npos)
      << entries.status().message();
}

}  // namespace
}  // namespace drydock::layer
