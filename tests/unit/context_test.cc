#include "builder/context.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "test_dir.h"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& content, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  ::chmod(p.c_str(), mode);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct stat Lstat(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

IgnoreMatcher Ignore(std::string_view text) {
  auto m = IgnoreMatcher::Parse(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(*m) : IgnoreMatcher{};
}

// Every path in a tree, relative and sorted, directories marked with '/'.
std::vector<std::string> Tree(const fs::path& root) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = fs::relative(it->path(), root).string();
    out.push_back(it->is_directory() && !it->is_symlink() ? rel + "/" : rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

// ---- .dockerignore -------------------------------------------------------

TEST(IgnoreTest, StarDoesNotCrossDirectories) {
  auto m = Ignore("*.md\n");
  EXPECT_TRUE(m.Excluded("README.md"));
  EXPECT_FALSE(m.Excluded("docs/guide.md"));
  EXPECT_FALSE(m.Excluded("README.mdx"));
}

TEST(IgnoreTest, DoubleStarMatchesAnyDepthIncludingNone) {
  auto m = Ignore("**/*.go\n");
  EXPECT_TRUE(m.Excluded("main.go"));
  EXPECT_TRUE(m.Excluded("cmd/tool/main.go"));
  EXPECT_FALSE(m.Excluded("cmd/tool/main.gox"));
  // moby tests "**" + plain text as a suffix, so this crosses directories.
  auto suffix = Ignore("**.md\n");
  EXPECT_TRUE(suffix.Excluded("docs/deep/x.md"));
  EXPECT_FALSE(suffix.Excluded("x.mdx"));
  auto mid = Ignore("a/**/b\n");
  EXPECT_TRUE(mid.Excluded("a/b"));
  EXPECT_TRUE(mid.Excluded("a/x/y/b"));
  EXPECT_FALSE(mid.Excluded("ab"));
}

TEST(IgnoreTest, TrailingDoubleStarIsAPrefix) {
  auto m = Ignore("build/**\n");
  EXPECT_TRUE(m.Excluded("build/x"));
  EXPECT_TRUE(m.Excluded("build/a/b/c"));
  EXPECT_FALSE(m.Excluded("build"));  // "build/" is the prefix, as in moby
}

TEST(IgnoreTest, ExceptionReincludes) {
  auto m = Ignore("*.md\n!keep.md\n");
  EXPECT_TRUE(m.Excluded("README.md"));
  EXPECT_FALSE(m.Excluded("keep.md"));
  EXPECT_TRUE(m.has_exceptions());
}

TEST(IgnoreTest, LastMatchWins) {
  auto m = Ignore("!keep.md\n*.md\n");
  EXPECT_TRUE(m.Excluded("keep.md"));
  EXPECT_FALSE(m.Excluded("keep.txt"));
}

TEST(IgnoreTest, DirectoryPatternExcludesEverythingUnderIt) {
  auto m = Ignore("build/\n");
  EXPECT_TRUE(m.Excluded("build"));
  EXPECT_TRUE(m.Excluded("build/out/app.o"));
  EXPECT_FALSE(m.Excluded("builder"));
  EXPECT_FALSE(m.Excluded("src/build"));
}

TEST(IgnoreTest, LeadingSlashAnchorsAtTheRoot) {
  auto m = Ignore("/secret\n");
  EXPECT_TRUE(m.Excluded("secret"));
  EXPECT_TRUE(m.Excluded("/secret"));
  EXPECT_FALSE(m.Excluded("sub/secret"));
}

TEST(IgnoreTest, CommentsBlankLinesAndWhitespace) {
  auto m = Ignore("# a comment\n\n   \n#*.txt\n  spaced.txt  \r\n #literal\n");
  EXPECT_FALSE(m.Excluded("a.txt"));
  EXPECT_TRUE(m.Excluded("spaced.txt"));
  // Only a '#' in the first column starts a comment.
  EXPECT_TRUE(m.Excluded("#literal"));
}

TEST(IgnoreTest, ByteOrderMarkIsSkipped) {
  auto m = Ignore(
      "\xEF\xBB\xBF"
      "first.txt\nsecond.txt");
  EXPECT_TRUE(m.Excluded("first.txt"));
  EXPECT_TRUE(m.Excluded("second.txt"));
}

TEST(IgnoreTest, ReincludeFileUnderExcludedDirectory) {
  auto m = Ignore("docs\n!docs/keep.md\n");
  EXPECT_TRUE(m.Excluded("docs"));
  EXPECT_TRUE(m.Excluded("docs/other.md"));
  EXPECT_FALSE(m.Excluded("docs/keep.md"));
}

TEST(IgnoreTest, PatternsAreCleaned) {
  auto m = Ignore("a/../b\n./c//d/\n");
  EXPECT_TRUE(m.Excluded("b"));
  EXPECT_FALSE(m.Excluded("a"));
  EXPECT_TRUE(m.Excluded("c/d/e"));
}

TEST(IgnoreTest, QuestionMarkClassesAndEscapes) {
  auto m = Ignore("file?.txt\n[ab].c\n[^x]y\nlit\\*\n");
  EXPECT_TRUE(m.Excluded("file1.txt"));
  EXPECT_FALSE(m.Excluded("file10.txt"));
  EXPECT_TRUE(m.Excluded("a.c"));
  EXPECT_FALSE(m.Excluded("c.c"));
  EXPECT_TRUE(m.Excluded("zy"));
  EXPECT_FALSE(m.Excluded("xy"));
  EXPECT_TRUE(m.Excluded("lit*"));
  EXPECT_FALSE(m.Excluded("litx"));
}

TEST(IgnoreTest, RootIsNeverExcluded) {
  auto m = Ignore("*\n");
  EXPECT_FALSE(m.Excluded(""));
  EXPECT_FALSE(m.Excluded("."));
  EXPECT_TRUE(m.Excluded("anything"));
  EXPECT_TRUE(m.Excluded("any/thing"));
  IgnoreMatcher empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Excluded("x"));
}

// Found by fuzz/dockerignore (timeouts): backtracking over stars took
// exponential time on a run of stars or many "*a", and once memoized still
// hours for 2,883 stars against long paths with many slashes (each ancestor
// directory is matched too). The matcher is an NFA now: pattern x path.
TEST(IgnoreTest, RunsOfStarsDoNotBacktrackExponentially) {
  auto start = std::chrono::steady_clock::now();
  // "x" + 80 "**" + "y" is x(.*/)?y; nine slashes, none followed by "y".
  auto stars = Ignore("x" + std::string(160, '*') + "y\n");
  EXPECT_FALSE(stars.Excluded("x/1/2/3/4/5/6/7/8/z"));
  EXPECT_TRUE(stars.Excluded("x/1/2/3/4/5/6/7/8/y"));
  EXPECT_TRUE(stars.Excluded("xy"));
  std::string alternating;
  for (int i = 0; i < 20; ++i) alternating += "*a";
  auto many = Ignore(alternating + "b\n");
  EXPECT_FALSE(many.Excluded(std::string(40, 'a')));
  EXPECT_TRUE(many.Excluded(std::string(40, 'a') + "b"));
  EXPECT_FALSE(many.Excluded(std::string(19, 'a') + "b"));
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "d" + std::to_string(i) + "/";
  auto huge = Ignore("*.j\n" + std::string(2883, '*') + "x\n");
  EXPECT_FALSE(huge.Excluded(deep + "file"));
  EXPECT_TRUE(huge.Excluded(deep + "x"));
  EXPECT_TRUE(huge.Excluded(deep + "ax"));  // (.*/)?[^/]*x
  std::string long_alternating;
  for (int i = 0; i < 1000; ++i) long_alternating += "*a";
  auto long_many = Ignore(long_alternating + "/b\n");
  EXPECT_FALSE(long_many.Excluded(deep + std::string(500, 'a') + "/c"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The NFA keeps moby's meaning of each construct, and of their runs.
TEST(IgnoreTest, StarRunsMeanWhatMobyMeans) {
  EXPECT_TRUE(Ignore("***\n").Excluded("a/b/c"));  // (.*/)?[^/]* ... then .*
  EXPECT_TRUE(Ignore("a/**\n").Excluded("a/b/c"));
  EXPECT_TRUE(Ignore("**/c\n").Excluded("c"));
  EXPECT_TRUE(Ignore("**/c\n").Excluded("a/b/c"));
  EXPECT_TRUE(Ignore("**c\n").Excluded("abc/d"));  // moby's suffix quirk, on an ancestor
  EXPECT_TRUE(Ignore("a/**/c\n").Excluded("a/c"));
  EXPECT_TRUE(Ignore("a/**/c\n").Excluded("a/x/y/c/d"));  // an ancestor matches
  EXPECT_FALSE(Ignore("a/**/c\n").Excluded("a/xc"));
  EXPECT_TRUE(Ignore("a/***c\n").Excluded("a/x/yc"));  // (.*/)?[^/]*c
  EXPECT_FALSE(Ignore("a/*c\n").Excluded("a/x/yc"));
  EXPECT_TRUE(Ignore("a/?/[b-d]\n").Excluded("a/\xC3\xA9/c"));  // ? is one rune
  EXPECT_FALSE(Ignore("a?b\n").Excluded("a/b"));
  EXPECT_TRUE(Ignore("a\\*b\n").Excluded("a*b"));
  EXPECT_FALSE(Ignore("a\\*b\n").Excluded("axb"));
}

TEST(IgnoreTest, ErrorsNameTheLine) {
  auto bad = IgnoreMatcher::Parse("ok\n# fine\n[unclosed\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "line 3: syntax error in pattern: [unclosed");
  auto bang = IgnoreMatcher::Parse("a\n  !  \n");
  ASSERT_FALSE(bang.ok());
  EXPECT_EQ(bang.status().message(), "line 2: illegal exclusion pattern: \"!\"");
  EXPECT_FALSE(IgnoreMatcher::Parse("trailing\\").ok());
}

TEST(IgnoreTest, LoadPrefersDockerfileSpecificIgnore) {
  TempDir dir = testing::MakeTestDir();
  fs::path ctx = dir.path() / "ctx";
  WriteFile(ctx / ".dockerignore", "*.log\n");
  WriteFile(ctx / "build/app.Dockerfile", "FROM scratch\n");
  auto general = LoadIgnore(ctx, ctx / "build/app.Dockerfile");
  ASSERT_TRUE(general.ok()) << general.status().message();
  EXPECT_TRUE(general->Excluded("x.log"));
  EXPECT_FALSE(general->Excluded("x.tmp"));

  WriteFile(ctx / "build/app.Dockerfile.dockerignore", "*.tmp\n");
  auto specific = LoadIgnore(ctx, ctx / "build/app.Dockerfile");
  ASSERT_TRUE(specific.ok()) << specific.status().message();
  EXPECT_FALSE(specific->Excluded("x.log"));
  EXPECT_TRUE(specific->Excluded("x.tmp"));
}

TEST(IgnoreTest, LoadWithoutFilesIsEmptyAndErrorsNameTheFile) {
  TempDir dir = testing::MakeTestDir();
  auto none = LoadIgnore(dir.path(), dir.path() / "Dockerfile");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  WriteFile(dir.path() / ".dockerignore", "ok\n[\n");
  auto bad = LoadIgnore(dir.path(), dir.path() / "Dockerfile");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "failed parsing " + (dir.path() / ".dockerignore").string() +
                                        ": line 2: syntax error in pattern: [");
}

// Contexts keep symlinks as they are; a .dockerignore leading out of the
// context would put a host file's lines into the build's messages.
TEST(IgnoreTest, LoadRefusesASymlinkLeadingOutOfTheContext) {
  TempDir dir = testing::MakeTestDir();
  fs::path ctx = dir.path() / "ctx";
  WriteFile(dir.path() / "secret", "[\n");
  WriteFile(ctx / "Dockerfile", "FROM scratch\n");
  fs::create_symlink(dir.path() / "secret", ctx / ".dockerignore");
  auto loaded = LoadIgnore(ctx, ctx / "Dockerfile");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(), ".dockerignore is a symlink leading outside the context");
  fs::remove(ctx / ".dockerignore");
  WriteFile(ctx / "ignore/list", "*.log\n");
  fs::create_symlink("ignore/list", ctx / ".dockerignore");
  auto inside = LoadIgnore(ctx, ctx / "Dockerfile");
  ASSERT_TRUE(inside.ok()) << inside.status().message();
  EXPECT_TRUE(inside->Excluded("x.log"));
}

// ---- source expansion ----------------------------------------------------

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(ctx_ / "a.txt", "a");
    WriteFile(ctx_ / "b.txt", "b");
    WriteFile(ctx_ / "c.md", "c");
    WriteFile(ctx_ / "x.txt/inner", "dir named like a file");
    WriteFile(ctx_ / "a.c", "");
    WriteFile(ctx_ / "b.c", "");
    WriteFile(ctx_ / "c.c", "");
    WriteFile(ctx_ / "dir/one", "1");
    WriteFile(ctx_ / "dir/sub/two", "2");
    WriteFile(ctx_ / "arr[0].txt", "array");
  }
  Strings Expand(std::string_view pattern, const IgnoreMatcher* ignore = nullptr) {
    auto r = ExpandSources(ctx_, pattern, ignore);
    EXPECT_TRUE(r.ok()) << pattern << ": " << r.status().message();
    return r.ok() ? *r : Strings{};
  }
  Status ExpandError(std::string_view pattern, const IgnoreMatcher* ignore = nullptr) {
    auto r = ExpandSources(ctx_, pattern, ignore);
    EXPECT_FALSE(r.ok()) << pattern;
    return r.ok() ? Status() : r.status();
  }
  TempDir dir_ = testing::MakeTestDir();
  fs::path ctx_ = dir_.path() / "ctx";
};

TEST_F(SourcesTest, StarMatchesFilesAndDirectoriesSorted) {
  EXPECT_EQ(Expand("*.txt"), (Strings{"a.txt", "arr[0].txt", "b.txt", "x.txt"}));
}

TEST_F(SourcesTest, WildcardInLastComponent) {
  EXPECT_EQ(Expand("dir/*"), (Strings{"dir/one", "dir/sub"}));
  EXPECT_EQ(Expand("/dir/s*/"), (Strings{"dir/sub"}));
  EXPECT_EQ(Expand("*/sub/t?o"), (Strings{"dir/sub/two"}));
}

TEST_F(SourcesTest, StarMatchesDotfilesAndBracketsEscape) {
  WriteFile(ctx_ / "dot/.env", "");
  WriteFile(ctx_ / "dot/*", "");
  WriteFile(ctx_ / "dot/plain", "");
  // Go's filepath.Match has no special case for leading dots.
  EXPECT_EQ(Expand("dot/*"), (Strings{"dot/*", "dot/.env", "dot/plain"}));
  EXPECT_EQ(Expand("dot/[*]"), (Strings{"dot/*"}));
  // With only escaped wildcards the path is not a pattern and is used as
  // written, backslash included, as BuildKit does.
  EXPECT_EQ(ExpandError("dot/\\*").message(), "file not found in build context: dot/\\*");
}

TEST_F(SourcesTest, ClassesAndQuestionMark) {
  EXPECT_EQ(Expand("[ab].c"), (Strings{"a.c", "b.c"}));
  EXPECT_EQ(Expand("[^a].c"), (Strings{"b.c", "c.c"}));
  EXPECT_EQ(Expand("?.md"), (Strings{"c.md"}));
  // Docker's documented way to name a file with brackets.
  EXPECT_EQ(Expand("arr[[]0].txt"), (Strings{"arr[0].txt"}));
}

TEST_F(SourcesTest, LiteralPathsAreCleaned) {
  EXPECT_EQ(Expand("a.txt"), (Strings{"a.txt"}));
  EXPECT_EQ(Expand("/dir/sub/"), (Strings{"dir/sub"}));
  EXPECT_EQ(Expand("./dir/../c.md"), (Strings{"c.md"}));
  EXPECT_EQ(Expand("."), (Strings{"."}));
  EXPECT_EQ(Expand("/"), (Strings{"."}));
}

TEST_F(SourcesTest, MissingSourcesAreErrors) {
  Status missing = ExpandError("nope.txt");
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_EQ(missing.message(), "file not found in build context: nope.txt");
  Status none = ExpandError("*.nomatch");
  EXPECT_EQ(none.code(), Code::kNotFound);
  EXPECT_EQ(none.message(), "no source files were specified");
  EXPECT_EQ(ExpandError("missing/*.txt").message(), "no source files were specified");
  EXPECT_EQ(ExpandError("").message(), "no source files were specified");
}

TEST_F(SourcesTest, BadPatternIsAnError) {
  Status bad = ExpandError("dir/[");
  EXPECT_EQ(bad.code(), Code::kInvalid);
  EXPECT_EQ(bad.message(), "syntax error in pattern: dir/[");
}

TEST_F(SourcesTest, DotDotAboveTheRootIsAnError) {
  Status up = ExpandError("../outside");
  EXPECT_EQ(up.code(), Code::kInvalid);
  EXPECT_EQ(up.message(), "forbidden path outside the build context: ../outside");
  EXPECT_EQ(ExpandError("/dir/../../x").message(),
            "forbidden path outside the build context: /dir/../../x");
}

TEST_F(SourcesTest, IgnoredPathsAreDropped) {
  auto ignore = Ignore("b.*\ndir/sub\n");
  EXPECT_EQ(Expand("*.txt", &ignore), (Strings{"a.txt", "arr[0].txt", "x.txt"}));
  EXPECT_EQ(Expand("dir/*", &ignore), (Strings{"dir/one"}));
  Status excluded = ExpandError("b.txt", &ignore);
  EXPECT_EQ(excluded.code(), Code::kNotFound);
  EXPECT_EQ(excluded.message(),
            "file not found in build context: b.txt (excluded by .dockerignore)");
  EXPECT_EQ(ExpandError("dir/sub/two", &ignore).code(), Code::kNotFound);
}

TEST_F(SourcesTest, ExcludedDirectoryWithReincludedFileStaysVisible) {
  auto ignore = Ignore("dir\n!dir/sub/two\n");
  EXPECT_EQ(Expand("dir", &ignore), (Strings{"dir"}));
  EXPECT_EQ(Expand("d*", &ignore), (Strings{"dir"}));
  EXPECT_EQ(Expand("dir/*", &ignore), (Strings{"dir/sub"}));
  EXPECT_EQ(ExpandError("dir/one", &ignore).code(), Code::kNotFound);
}

TEST_F(SourcesTest, SymlinkToEtcCannotReadTheHost) {
  fs::create_directory_symlink("/etc", ctx_ / "hostetc");
  fs::create_symlink("/etc/passwd", ctx_ / "passwd");
  // Resolved inside the context, /etc is <ctx>/etc, which does not exist.
  Status through = ExpandError("hostetc/passwd");
  EXPECT_EQ(through.code(), Code::kNotFound);
  EXPECT_EQ(through.message(), "file not found in build context: hostetc/passwd");
  EXPECT_EQ(ExpandError("passwd").message(), "file not found in build context: passwd");
  EXPECT_EQ(ExpandError("hostetc/*").message(), "no source files were specified");
  // A wildcard that meets the dangling (in the context) link reports it.
  EXPECT_EQ(ExpandError("pass*").message(), "file not found in build context: passwd");
  // A link named like its absolute target points at itself: a loop, not the host.
  fs::create_directory_symlink("/etc", ctx_ / "etc");
  EXPECT_EQ(ExpandError("etc/passwd").message(), "file not found in build context: etc/passwd");
}

TEST_F(SourcesTest, RelativeSymlinkCannotClimbOut) {
  // The host file one level above the context must stay out of reach.
  WriteFile(dir_.path() / "host-secret", "secret");
  fs::create_directory_symlink("../../..", ctx_ / "up");
  EXPECT_EQ(ExpandError("up/host-secret").message(),
            "file not found in build context: up/host-secret");
  // ".." through the link clamps at the context root, where a.txt lives.
  EXPECT_EQ(Expand("up/a.txt"), (Strings{"up/a.txt"}));
}

TEST_F(SourcesTest, SymlinkInsideTheContextIsFollowed) {
  fs::create_symlink("dir/sub", ctx_ / "alias");
  EXPECT_EQ(Expand("alias/two"), (Strings{"alias/two"}));
  EXPECT_EQ(Expand("alias/*"), (Strings{"alias/two"}));
}

// ---- copying -------------------------------------------------------------

class CopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    fs::create_directories(dst_);
  }
  void Copy(const Strings& sources, std::string_view dest, const CopyOptions& o = {},
            std::string_view workdir = "/") {
    Status s = CopyInto(src_, sources, dst_, dest, workdir, o);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  Status CopyError(const Strings& sources, std::string_view dest, const CopyOptions& o = {}) {
    Status s = CopyInto(src_, sources, dst_, dest, "/", o);
    EXPECT_FALSE(s.ok());
    return s;
  }
  TempDir dir_ = testing::MakeTestDir();
  fs::path src_ = dir_.path() / "src";
  fs::path dst_ = dir_.path() / "rootfs";
};

TEST_F(CopyTest, FileToFileNameCreatesParents) {
  WriteFile(src_ / "a.txt", "hello");
  Copy({"a.txt"}, "/etc/app/renamed.conf");
  EXPECT_EQ(ReadFile(dst_ / "etc/app/renamed.conf"), "hello");
  EXPECT_EQ(Tree(dst_), (Strings{"etc/", "etc/app/", "etc/app/renamed.conf"}));
  struct stat parent = Lstat(dst_ / "etc/app");
  EXPECT_EQ(parent.st_mode & 07777, 0755u);
  EXPECT_EQ(parent.st_uid, 0u);
}

TEST_F(CopyTest, FileToDirectoryWithSlash) {
  WriteFile(src_ / "a.txt", "hello");
  Copy({"a.txt"}, "/opt/app/");
  EXPECT_EQ(Tree(dst_), (Strings{"opt/", "opt/app/", "opt/app/a.txt"}));
  EXPECT_EQ(ReadFile(dst_ / "opt/app/a.txt"), "hello");
}

TEST_F(CopyTest, SeveralFilesMakeTheDestinationADirectory) {
  WriteFile(src_ / "a.txt", "A");
  WriteFile(src_ / "sub/b.txt", "B");
  Copy({"a.txt", "sub/b.txt"}, "/out");
  EXPECT_EQ(Tree(dst_), (Strings{"out/", "out/a.txt", "out/b.txt"}));
  EXPECT_EQ(ReadFile(dst_ / "out/b.txt"), "B");
}

TEST_F(CopyTest, DirectorySourceCopiesItsContents) {
  WriteFile(src_ / "dir/x", "X");
  WriteFile(src_ / "dir/sub/deeper/y", "Y");
  Copy({"dir"}, "/app");
  EXPECT_EQ(Tree(dst_),
            (Strings{"app/", "app/sub/", "app/sub/deeper/", "app/sub/deeper/y", "app/x"}));
  EXPECT_EQ(ReadFile(dst_ / "app/sub/deeper/y"), "Y");
}

TEST_F(CopyTest, ContextRootCopiesEverything) {
  WriteFile(src_ / "a", "A");
  WriteFile(src_ / "d/b", "B");
  Copy({"."}, "/");
  EXPECT_EQ(Tree(dst_), (Strings{"a", "d/", "d/b"}));
}

TEST_F(CopyTest, DirectoryMergesIntoExistingAndKeepsItsMetadata) {
  WriteFile(src_ / "dir/new", "new");
  WriteFile(src_ / "dir/sub/file", "replaced");
  ::chmod((src_ / "dir").c_str(), 0700);
  WriteFile(dst_ / "app/old", "old");
  WriteFile(dst_ / "app/sub/file", "original");
  ::chmod((dst_ / "app").c_str(), 0751);
  timespec times[2] = {{1000, 0}, {1000, 0}};
  ::utimensat(AT_FDCWD, (dst_ / "app").c_str(), times, 0);
  Copy({"dir"}, "/app/");
  EXPECT_EQ(Tree(dst_), (Strings{"app/", "app/new", "app/old", "app/sub/", "app/sub/file"}));
  EXPECT_EQ(ReadFile(dst_ / "app/sub/file"), "replaced");
  struct stat app = Lstat(dst_ / "app");
  EXPECT_EQ(app.st_mode & 07777, 0751u);
  EXPECT_EQ(app.st_mtim.tv_sec, 1000);
}

TEST_F(CopyTest, FileIntoExistingDirectoryWithoutSlash) {
  WriteFile(src_ / "a.txt", "A");
  fs::create_directories(dst_ / "existing");
  Copy({"a.txt"}, "/existing");
  EXPECT_EQ(ReadFile(dst_ / "existing/a.txt"), "A");
}

TEST_F(CopyTest, ExistingFileIsReplaced) {
  WriteFile(src_ / "a.txt", "new");
  WriteFile(dst_ / "etc/conf", "old");
  Copy({"a.txt"}, "/etc/conf");
  EXPECT_EQ(ReadFile(dst_ / "etc/conf"), "new");
}

TEST_F(CopyTest, RelativeDestinationUsesWorkdir) {
  WriteFile(src_ / "a.txt", "A");
  Copy({"a.txt"}, "rel/", {}, "/srv/app");
  EXPECT_EQ(ReadFile(dst_ / "srv/app/rel/a.txt"), "A");
  Copy({"a.txt"}, ".", {}, "/work");
  EXPECT_EQ(ReadFile(dst_ / "work/a.txt"), "A");
}

TEST_F(CopyTest, DestinationThroughAbsoluteSymlinkStaysInsideTheRoot) {
  WriteFile(src_ / "tool", "#!/bin/sh\n", 0755);
  fs::create_directories(dst_ / "usr");
  fs::create_directories(dst_ / "opt");
  fs::create_directory_symlink("/opt", dst_ / "usr/local");
  Copy({"tool"}, "/usr/local/bin/");
  EXPECT_EQ(ReadFile(dst_ / "opt/bin/tool"), "#!/bin/sh\n");
  EXPECT_TRUE(fs::is_symlink(dst_ / "usr/local"));
  EXPECT_EQ(fs::read_symlink(dst_ / "usr/local"), "/opt");
  EXPECT_FALSE(fs::exists("/opt/bin/tool"));
}

TEST_F(CopyTest, DestinationSymlinkCannotEscapeWithDotDot) {
  WriteFile(src_ / "payload", "x");
  fs::create_directories(dst_ / "a");
  fs::create_directory_symlink("../../..", dst_ / "a/up");
  Copy({"payload"}, "/a/up/escaped");
  // The climb stops at the destination root.
  EXPECT_EQ(ReadFile(dst_ / "escaped"), "x");
  EXPECT_FALSE(fs::exists(dir_.path() / "escaped"));
  EXPECT_FALSE(fs::exists(dir_.path().parent_path() / "escaped"));
  Copy({"payload"}, "/a/up/../../deeper/");
  EXPECT_EQ(ReadFile(dst_ / "deeper/payload"), "x");
}

TEST_F(CopyTest, ChownAndChmodApplyToEverythingCopied) {
  WriteFile(src_ / "dir/f", "f", 0600);
  fs::create_directories(src_ / "dir/sub");
  CopyOptions o;
  o.uid = 1234;
  o.gid = 5678;
  o.mode = 0640;
  Copy({"dir"}, "/new/parent/", o);
  struct stat f = Lstat(dst_ / "new/parent/f");
  EXPECT_EQ(f.st_uid, 1234u);
  EXPECT_EQ(f.st_gid, 5678u);
  EXPECT_EQ(f.st_mode & 07777, 0640u);
  struct stat sub = Lstat(dst_ / "new/parent/sub");
  EXPECT_EQ(sub.st_uid, 1234u);
  EXPECT_EQ(sub.st_mode & 07777, 0640u);
  // Created parents: the --chown owner, but 0755.
  struct stat parent = Lstat(dst_ / "new");
  EXPECT_EQ(parent.st_uid, 1234u);
  EXPECT_EQ(parent.st_gid, 5678u);
  EXPECT_EQ(parent.st_mode & 07777, 0755u);
}

TEST_F(CopyTest, UidAloneSetsTheGroupToo) {
  WriteFile(src_ / "f", "f");
  CopyOptions o;
  o.uid = 42;
  Copy({"f"}, "/f", o);
  struct stat st = Lstat(dst_ / "f");
  EXPECT_EQ(st.st_uid, 42u);
  EXPECT_EQ(st.st_gid, 42u);
}

TEST_F(CopyTest, OwnersBecomeRootUnlessPreserved) {
  WriteFile(src_ / "f", "f");
  ASSERT_EQ(::chown((src_ / "f").c_str(), 1000, 1001), 0);
  Copy({"f"}, "/root-owned");
  EXPECT_EQ(Lstat(dst_ / "root-owned").st_uid, 0u);
  EXPECT_EQ(Lstat(dst_ / "root-owned").st_gid, 0u);
  CopyOptions keep;
  keep.preserve_owner = true;
  Copy({"f"}, "/kept", keep);
  EXPECT_EQ(Lstat(dst_ / "kept").st_uid, 1000u);
  EXPECT_EQ(Lstat(dst_ / "kept").st_gid, 1001u);
}

TEST_F(CopyTest, ModesAndSpecialBitsArePreserved) {
  WriteFile(src_ / "d/run.sh", "#!/bin/sh\n", 04755);
  ::chmod((src_ / "d/run.sh").c_str(), 04755);
  fs::create_directories(src_ / "d/private");
  ::chmod((src_ / "d/private").c_str(), 0700);
  Copy({"d"}, "/x/");
  EXPECT_EQ(Lstat(dst_ / "x/run.sh").st_mode & 07777, 04755u);
  EXPECT_EQ(Lstat(dst_ / "x/private").st_mode & 07777, 0700u);
}

TEST_F(CopyTest, SymlinksInsideDirectoriesAreCopiedAsLinks) {
  WriteFile(src_ / "dir/target.txt", "t");
  fs::create_symlink("target.txt", src_ / "dir/rel");
  fs::create_symlink("/etc/passwd", src_ / "dir/abs");
  fs::create_symlink("missing", src_ / "dir/dangling");
  Copy({"dir"}, "/out");
  EXPECT_EQ(fs::read_symlink(dst_ / "out/rel"), "target.txt");
  EXPECT_EQ(fs::read_symlink(dst_ / "out/abs"), "/etc/passwd");
  EXPECT_EQ(fs::read_symlink(dst_ / "out/dangling"), "missing");
  EXPECT_TRUE(S_ISLNK(Lstat(dst_ / "out/abs").st_mode));
}

TEST_F(CopyTest, SourceSymlinkIsFollowedInsideTheRoot) {
  WriteFile(src_ / "real.txt", "real");
  fs::create_symlink("real.txt", src_ / "link");
  fs::create_symlink("/etc/passwd", src_ / "host");
  Copy({"link"}, "/out/");
  EXPECT_FALSE(fs::is_symlink(dst_ / "out/link"));
  EXPECT_EQ(ReadFile(dst_ / "out/link"), "real");
  // /etc/passwd inside the source root does not exist: the host's is never read.
  Status s = CopyError({"host"}, "/out/");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "source not found: host");
  EXPECT_FALSE(fs::exists(dst_ / "out/host"));
}

TEST_F(CopyTest, HardLinksArePreserved) {
  WriteFile(src_ / "d/a", "shared");
  fs::create_hard_link(src_ / "d/a", src_ / "d/b");
  fs::create_directories(src_ / "d/sub");
  fs::create_hard_link(src_ / "d/a", src_ / "d/sub/c");
  WriteFile(src_ / "d/alone", "alone");
  Copy({"d"}, "/x");
  struct stat a = Lstat(dst_ / "x/a"), b = Lstat(dst_ / "x/b"), c = Lstat(dst_ / "x/sub/c");
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_ino, c.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);
  EXPECT_NE(Lstat(dst_ / "x/alone").st_ino, a.st_ino);
  EXPECT_NE(Lstat(src_ / "d/a").st_ino, a.st_ino);
}

TEST_F(CopyTest, SourceTimesAreKept) {
  WriteFile(src_ / "d/f", "f");
  timespec t[2] = {{111, 0}, {222, 333}};
  ::utimensat(AT_FDCWD, (src_ / "d/f").c_str(), t, 0);
  ::utimensat(AT_FDCWD, (src_ / "d").c_str(), t, 0);
  fs::create_directories(src_ / "top/d");
  ::utimensat(AT_FDCWD, (src_ / "top/d").c_str(), t, 0);
  Copy({"d"}, "/x");
  struct stat f = Lstat(dst_ / "x/f");
  EXPECT_EQ(f.st_mtim.tv_sec, 222);
  EXPECT_EQ(f.st_mtim.tv_nsec, 333);
  Copy({"top"}, "/y");
  EXPECT_EQ(Lstat(dst_ / "y/d").st_mtim.tv_sec, 222);
}

TEST_F(CopyTest, MtimeOverrideAppliesToFilesLinksAndCreatedDirectories) {
  WriteFile(src_ / "d/f", "f");
  fs::create_directories(src_ / "d/sub");
  fs::create_symlink("f", src_ / "d/l");
  CopyOptions o;
  o.mtime = 1700000000;
  Copy({"d"}, "/made/here", o);
  for (const char* p : {"made", "made/here", "made/here/f", "made/here/sub", "made/here/l"}) {
    EXPECT_EQ(Lstat(dst_ / p).st_mtim.tv_sec, 1700000000) << p;
    EXPECT_EQ(Lstat(dst_ / p).st_mtim.tv_nsec, 0) << p;
  }
}

TEST_F(CopyTest, IgnoreRulesApplyWhileWalking) {
  WriteFile(src_ / "app.go", "");
  WriteFile(src_ / "debug.log", "");
  WriteFile(src_ / "node_modules/pkg/index.js", "");
  WriteFile(src_ / "secret/key", "");
  WriteFile(src_ / "secret/public/cert", "");
  WriteFile(src_ / "secret/other/x", "");
  CopyOptions o;
  auto ignore = Ignore("*.log\nnode_modules\nsecret\n!secret/public\n");
  o.ignore = &ignore;
  Copy({"."}, "/app/", o);
  EXPECT_EQ(Tree(dst_), (Strings{"app/", "app/app.go", "app/secret/", "app/secret/public/",
                                 "app/secret/public/cert"}));
}

TEST_F(CopyTest, DirectoryOntoFileIsAnError) {
  WriteFile(src_ / "d/f", "f");
  WriteFile(dst_ / "target", "file");
  Status s = CopyError({"d"}, "/target");
  EXPECT_EQ(s.message(), "cannot copy to non-directory: /target");
  EXPECT_EQ(ReadFile(dst_ / "target"), "file");
}

TEST_F(CopyTest, FileOntoDirectoryEntryIsAnError) {
  WriteFile(src_ / "a/x", "file");
  WriteFile(src_ / "b/x/inner", "dir");
  Copy({"b"}, "/out/");
  Status s = CopyError({"a"}, "/out/");
  EXPECT_EQ(s.message(), "cannot replace directory /out/x with a file");
}

TEST_F(CopyTest, FinalSymlinkToAFileIsReplacedNotWrittenThrough) {
  WriteFile(src_ / "tz", "zone");
  WriteFile(dst_ / "usr/share/zoneinfo/UTC", "utc");
  fs::create_directories(dst_ / "etc");
  fs::create_symlink("/usr/share/zoneinfo/UTC", dst_ / "etc/localtime");
  Copy({"tz"}, "/etc/localtime");
  EXPECT_FALSE(fs::is_symlink(dst_ / "etc/localtime"));
  EXPECT_EQ(ReadFile(dst_ / "etc/localtime"), "zone");
  EXPECT_EQ(ReadFile(dst_ / "usr/share/zoneinfo/UTC"), "utc");
}

TEST_F(CopyTest, EscapingSourcePathsAreRejected) {
  Status s = CopyError({"../rootfs"}, "/x/");
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(s.message(), "forbidden path outside the build context: ../rootfs");
}

TEST_F(CopyTest, ExtendedAttributesAreCopied) {
  WriteFile(src_ / "f", "f");
  // The file system under /tmp decides; CI's supports user xattrs.
  DD_SKIP_UNLESS(::setxattr((src_ / "f").c_str(), "user.drydock", "v1", 2, 0) == 0,
                 "user xattrs unsupported here");
  Copy({"f"}, "/f");
  char value[8] = {};
  ASSERT_EQ(::getxattr((dst_ / "f").c_str(), "user.drydock", value, sizeof(value)), 2);
  EXPECT_EQ(std::string(value), "v1");
}

TEST_F(CopyTest, ExpandThenCopyEndToEnd) {
  WriteFile(src_ / "a.txt", "A");
  WriteFile(src_ / "b.txt", "B");
  WriteFile(src_ / "c.md", "C");
  auto sources = ExpandSources(src_, "*.txt", nullptr);
  ASSERT_TRUE(sources.ok());
  Copy(*sources, "/docs");
  EXPECT_EQ(Tree(dst_), (Strings{"docs/", "docs/a.txt", "docs/b.txt"}));
}

}  // namespace
}  // namespace drydock::builder
