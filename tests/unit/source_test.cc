// source/ against real servers: `git daemon` serving repositories built
// here (branches, an annotated tag, a pull ref, a submodule, escaping
// symlinks) and `busybox httpd` serving files, CGI scripts (a flaky 503, a
// Content-Disposition) and tarballs written with libarchive.
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "source/source.h"
#include "test_dir.h"
#include "test_netns.h"
#include "test_server.h"

namespace drydock::source {
namespace {

namespace fs = std::filesystem;
using drydock::testing::ReadFile;
using drydock::testing::Sh;
using drydock::testing::WriteFile;

using drydock::testing::FreePort;
using Server = drydock::testing::LoopbackServer;

struct TarEntry {
  std::string name;
  std::string content;  // regular files
  mode_t type = AE_IFREG;
  std::string link;  // symlink target
  std::string hardlink;
  mode_t mode = 0644;
};

TarEntry File(std::string name, std::string content, mode_t mode = 0644) {
  TarEntry e;
  e.name = std::move(name);
  e.content = std::move(content);
  e.mode = mode;
  return e;
}
TarEntry Directory(std::string name, mode_t mode = 0755) {
  TarEntry e = File(std::move(name), "", mode);
  e.type = AE_IFDIR;
  return e;
}
TarEntry Symlink(std::string name, std::string target) {
  TarEntry e = File(std::move(name), "", 0777);
  e.type = AE_IFLNK;
  e.link = std::move(target);
  return e;
}
TarEntry HardLink(std::string name, std::string target) {
  TarEntry e = File(std::move(name), "");
  e.hardlink = std::move(target);
  return e;
}
TarEntry Device(std::string name) {
  TarEntry e = File(std::move(name), "");
  e.type = AE_IFCHR;
  return e;
}

// Writes a tar archive with libarchive (any names, including hostile ones).
void WriteTar(const fs::path& path, int filter, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter(a, filter);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.mode);
    archive_entry_set_mtime(entry, 1600000000, 0);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(entry, e.hardlink.c_str());
    if (e.type == AE_IFREG && e.hardlink.empty())
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.content.size()));
    if (e.type == AE_IFCHR) archive_entry_set_rdev(entry, makedev(1, 3));
    archive_write_header(a, entry);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class SourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new TempDir(testing::MakeTestDir());
    fs::path w = work_->path();
    ::setenv("GIT_AUTHOR_NAME", "t", 1);
    ::setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
    ::setenv("GIT_COMMITTER_NAME", "t", 1);
    ::setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
    fs::create_directories(w / "srv");
    git_port_ = FreePort();
    git_ =
        new Server({"git", "daemon", "--reuseaddr", "--base-path=" + (w / "srv").string(),
                    "--export-all", "--enable=upload-pack", "--port=" + std::to_string(git_port_),
                    "--listen=127.0.0.1", (w / "srv").string()},
                   git_port_);
    MakeRepos(w);
    MakeHttpRoot(w / "www");
    http_port_ = FreePort();
    WriteFile(w / "httpd.conf", "/private:alice:s3cret\n");
    http_ =
        new Server({"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(http_port_),
                    "-h", (w / "www").string(), "-c", (w / "httpd.conf").string()},
                   http_port_);
  }
  static void TearDownTestSuite() {
    delete git_;
    delete http_;
    delete work_;
  }

  // repo.git: main (v1 then v2; tag v1.0 on v1), feature, with-sub (a
  // submodule lib.git), refs/pull/1/head; symlinks escaping the checkout.
  static void MakeRepos(const fs::path& w) {
    std::string srv = (w / "srv").string(), src = (w / "src").string();
    Sh("git init -q -b main " + srv + "/lib.w && cd " + srv +
       "/lib.w && echo lib-content > lib.txt && git add . && git commit -qm lib && "
       "git clone -q --bare . ../lib.git");
    WriteFile(w / "src/README", "main v1\n");
    WriteFile(w / "src/sub/dir/file.txt", "in subdir\n");
    Sh("cd " + src +
       " && git init -q -b main && ln -s ../../../../etc escape && ln -s /etc abs && "
       "ln -s sub/dir inner && git add . && git commit -qm v1 && git tag -a v1.0 -m v1.0");
    v1_ = Sh("git -C " + src + " rev-parse HEAD");
    Sh("cd " + src + " && echo 'main v2' > README && git commit -qam v2");
    main_ = Sh("git -C " + src + " rev-parse HEAD");
    Sh("cd " + src +
       " && git checkout -qb feature && echo feature > feature.txt && git add . && "
       "git commit -qm feature");
    feature_ = Sh("git -C " + src + " rev-parse HEAD");
    Sh("cd " + src +
       " && git checkout -q main && git checkout -qb with-sub && "
       "git -c protocol.file.allow=always submodule add -q git://127.0.0.1:" +
       std::to_string(git_port_) + "/lib.git lib && git commit -qm sub");
    Sh("cd " + src + " && git checkout -q " + v1_ +
       " 2>/dev/null && echo pr > pr.txt && git add pr.txt && "
       "git commit -qm pr && git update-ref refs/pull/1/head HEAD && git checkout -q main "
       "2>/dev/null");
    pull_ = Sh("git -C " + src + " rev-parse refs/pull/1/head");
    Sh("git clone -q --bare " + src + " " + srv + "/repo.git && git -C " + srv +
       "/repo.git update-ref refs/pull/1/head " + pull_);
  }

  static void MakeHttpRoot(const fs::path& www) {
    WriteFile(www / "hello.txt", "hello over http\n");
    Sh("touch -d '2021-02-03 04:05:06 UTC' " + (www / "hello.txt").string());
    WriteFile(www / "big.bin", std::string(100000, 'x'));
    WriteFile(www / "private/secret.txt", "for alice\n");
    WriteFile(www / "dir/name with space.txt", "spaced\n");
    fs::path counter = www.parent_path() / "flaky-count";
    WriteFile(www / "cgi-bin/flaky",
              "#!/bin/sh\nn=$(cat " + counter.string() + " 2>/dev/null || echo 0)\nn=$((n+1))\n" +
                  "echo $n > " + counter.string() +
                  "\nif [ $n -lt 2 ]; then\n  printf 'Status: 503 Busy\\r\\n\\r\\nbusy\\n'\n"
                  "else\n  printf 'Content-Type: text/plain\\r\\n\\r\\nrecovered\\n'\nfi\n");
    WriteFile(www / "cgi-bin/always503", "#!/bin/sh\nprintf 'Status: 503 Busy\\r\\n\\r\\nno\\n'\n");
    WriteFile(www / "cgi-bin/named",
              "#!/bin/sh\nprintf 'Content-Type: text/csv\\r\\nContent-Disposition: attachment; "
              "filename=\"../report.csv\"\\r\\n\\r\\na,b\\n'\n");
    for (const char* s : {"flaky", "always503", "named"})
      fs::permissions(www / "cgi-bin" / s, fs::perms(0755));
    WriteTar(www / "ctx.tar.gz", ARCHIVE_FILTER_GZIP,
             {Directory("app/"), File("app/main.sh", "echo hi\n", 0750),
              Symlink("app/link", "main.sh")});
  }

  std::string GitUrl(const std::string& repo = "repo.git") const {
    return "git://127.0.0.1:" + std::to_string(git_port_) + "/" + repo;
  }
  std::string HttpUrl(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(http_port_) + "/" + path;
  }
  fs::path Dir(const std::string& name) const { return scratch_.path() / name; }

  Result<GitCheckout> Fetch(const std::string& spec, const std::string& dir, GitOptions o = {}) {
    auto src = ParseGitSource(spec);
    if (!src.ok()) return src.status();
    return FetchGit(*src, Dir(dir), o);
  }

  TempDir scratch_ = testing::MakeTestDir();

  static TempDir* work_;
  static Server* git_;
  static Server* http_;
  static int git_port_, http_port_;
  static std::string v1_, main_, feature_, pull_;
};

TempDir* SourceTest::work_ = nullptr;
Server* SourceTest::git_ = nullptr;
Server* SourceTest::http_ = nullptr;
int SourceTest::git_port_ = 0;
int SourceTest::http_port_ = 0;
std::string SourceTest::v1_, SourceTest::main_, SourceTest::feature_, SourceTest::pull_;

// ------------------------------------------------------------------ URLs ---

TEST(SourceUrl, RedactsCredentialsAndSignatures) {
  EXPECT_EQ(RedactUrl("https://user:tok3n@example.com/a.git#main"),
            "https://***@example.com/a.git#main");
  EXPECT_EQ(RedactUrl("https://tok3n@example.com:8443/x?sig=abc&se=1&X-Amz-Signature=zz"),
            "https://***@example.com:8443/x?sig=***&se=1&X-Amz-Signature=***");
  EXPECT_EQ(RedactUrl("https://example.com/plain?q=1"), "https://example.com/plain?q=1");
  EXPECT_EQ(RedactUrl("git@github.com:org/repo.git"), "git@github.com:org/repo.git");
  EXPECT_EQ(RedactText("fatal: unable to access 'https://u:p4ss@h/r.git/': 403"),
            "fatal: unable to access 'https://***@h/r.git/': 403");
}

TEST(SourceUrl, FileNames) {
  EXPECT_EQ(UrlFileName("https://h/a/b.tar.gz?x=1#f"), "b.tar.gz");
  EXPECT_EQ(UrlFileName("https://h/a/name%20with%20space.txt"), "name with space.txt");
  EXPECT_EQ(UrlFileName("https://h/"), "");
  EXPECT_EQ(UrlFileName("https://h"), "");
  EXPECT_EQ(UrlFileName("https://h/a/.."), "");
}

// ------------------------------------------------------------- git URLs ---

TEST(SourceGitParse, RecognisesGitUrls) {
  EXPECT_TRUE(IsGitUrl("git://host/repo"));
  EXPECT_TRUE(IsGitUrl("git@github.com:org/repo.git"));
  EXPECT_TRUE(IsGitUrl("ssh://git@host/repo"));
  EXPECT_TRUE(IsGitUrl("https://host/org/repo.git"));
  EXPECT_TRUE(IsGitUrl("https://host/org/repo.git#main:sub"));
  EXPECT_FALSE(IsGitUrl("https://host/org/repo"));
  EXPECT_FALSE(IsGitUrl("https://host/file.tar.gz"));
  EXPECT_FALSE(IsGitUrl("repo.git"));
  EXPECT_FALSE(IsGitUrl("github.com/org/repo"));
}

TEST(SourceGitParse, SplitsRefAndSubdir) {
  auto s = ParseGitSource("https://host/repo.git#v1.2:docs/site");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->url, "https://host/repo.git");
  EXPECT_EQ(s->ref, "v1.2");
  EXPECT_EQ(s->subdir, "docs/site");
  s = ParseGitSource("https://host/repo.git#:sub/");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ref, "");
  EXPECT_EQ(s->subdir, "sub");
  s = ParseGitSource("git@host:org/repo.git#pull/7/merge");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->url, "git@host:org/repo.git");
  EXPECT_EQ(s->ref, "pull/7/merge");
  EXPECT_EQ(s->subdir, "");
  s = ParseGitSource("https://host/repo.git");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ref, "");

  auto bad = ParseGitSource("https://host/repo.git#main:../etc");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'../etc'"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(ParseGitSource("--upload-pack=evil").ok());
  EXPECT_FALSE(ParseGitSource("https://host/repo.git#--upload-pack=x").ok());
  EXPECT_FALSE(ParseGitSource("https://host/repo.git#a..b").ok());
  EXPECT_FALSE(ParseGitSource("relative/path.git").ok());
}

// ----------------------------------------------------------------- git ---

TEST_F(SourceTest, GitDefaultBranch) {
  ASSERT_TRUE(git_->up());
  std::string log;
  GitOptions o;
  o.log = [&](std::string_view s) { log += s; };
  auto c = Fetch(GitUrl(), "default", o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, main_);
  EXPECT_EQ(c->ref, "main");
  EXPECT_GT(c->commit_time, 1600000000);
  EXPECT_EQ(c->context, fs::canonical(Dir("default")));
  EXPECT_EQ(ReadFile(c->context / "README"), "main v2\n");
  EXPECT_EQ(ReadFile(c->context / "sub/dir/file.txt"), "in subdir\n");
  EXPECT_EQ(fs::read_symlink(c->context / "escape"), "../../../../etc");
  EXPECT_FALSE(fs::exists(c->context / "feature.txt"));
  EXPECT_FALSE(fs::exists(Dir("default") / ".git")) << "the .git dir must go by default";
  EXPECT_NE(log.find("git fetch --no-tags --depth 1 origin main"), std::string::npos) << log;
}

TEST_F(SourceTest, GitBranchWithSubdir) {
  auto c = Fetch(GitUrl() + "#feature:sub/dir", "feature");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, feature_);
  EXPECT_EQ(c->ref, "feature");
  EXPECT_EQ(c->context, fs::canonical(Dir("feature")) / "sub/dir");
  EXPECT_EQ(ReadFile(c->context / "file.txt"), "in subdir\n");
  EXPECT_EQ(ReadFile(Dir("feature") / "feature.txt"), "feature\n");
}

TEST_F(SourceTest, GitSubdirWithoutRefAndThroughInnerSymlink) {
  auto c = Fetch(GitUrl() + "#:inner", "inner");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, main_);
  EXPECT_EQ(c->context, fs::canonical(Dir("inner")) / "sub/dir");
}

TEST_F(SourceTest, GitAnnotatedTagPeelsToItsCommit) {
  auto c = Fetch(GitUrl() + "#v1.0", "tag");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, v1_);
  EXPECT_EQ(c->ref, "v1.0");
  EXPECT_EQ(ReadFile(c->context / "README"), "main v1\n");
}

TEST_F(SourceTest, GitCommitShaBelowTheTip) {
  auto c = Fetch(GitUrl() + "#" + v1_, "sha");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, v1_);
  EXPECT_EQ(ReadFile(c->context / "README"), "main v1\n");
}

// Protocol v0 servers refuse a sha that no ref advertises: the full fetch
// fallback must find it anyway (short shas always go that way).
TEST_F(SourceTest, GitShaFallsBackToFullFetch) {
  ::setenv("GIT_CONFIG_PARAMETERS", "'protocol.version=0'", 1);
  auto full = Fetch(GitUrl() + "#" + v1_, "v0");
  auto abbrev = Fetch(GitUrl() + "#" + v1_.substr(0, 10), "abbrev");
  ::unsetenv("GIT_CONFIG_PARAMETERS");
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->commit, v1_);
  EXPECT_EQ(ReadFile(full->context / "README"), "main v1\n");
  ASSERT_TRUE(abbrev.ok()) << abbrev.status().message();
  EXPECT_EQ(abbrev->commit, v1_);
}

TEST_F(SourceTest, GitPullRequestRef) {
  auto c = Fetch(GitUrl() + "#pull/1/head", "pr");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, pull_);
  EXPECT_EQ(ReadFile(c->context / "pr.txt"), "pr\n");
}

TEST_F(SourceTest, GitUnknownRefIsNotFound) {
  auto c = Fetch(GitUrl() + "#no-such-branch", "unknown");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kNotFound);
  EXPECT_NE(c.status().message().find("'no-such-branch'"), std::string::npos)
      << c.status().message();
  auto missing = Fetch(GitUrl() + "#" + std::string(40, 'a'), "unknown-sha");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(std::string(40, 'a')), std::string::npos)
      << missing.status().message();
  auto repo = Fetch(GitUrl("nothere.git"), "unknown-repo");
  ASSERT_FALSE(repo.ok());
  EXPECT_NE(repo.status().message().find("nothere.git"), std::string::npos);
}

TEST_F(SourceTest, GitSubdirMustStayInside) {
  for (const char* sub : {"escape", "abs"}) {
    auto c = Fetch(GitUrl() + "#main:" + sub, std::string("esc-") + sub);
    ASSERT_FALSE(c.ok()) << sub;
    EXPECT_EQ(c.status().code(), Code::kInvalid);
    EXPECT_NE(c.status().message().find(std::string("'") + sub + "'"), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find("outside"), std::string::npos) << c.status().message();
  }
  auto missing = Fetch(GitUrl() + "#main:nope/dir", "missing-sub");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("'nope/dir'"), std::string::npos);
  auto file = Fetch(GitUrl() + "#main:README", "file-sub");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("not a directory"), std::string::npos);
}

TEST_F(SourceTest, GitKeepGitDir) {
  GitOptions o;
  o.keep_git_dir = true;
  auto c = Fetch(GitUrl() + "#feature", "keep", o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(fs::is_directory(Dir("keep") / ".git"));
  EXPECT_EQ(Sh("git -C " + Dir("keep").string() + " rev-parse HEAD"), feature_);
  EXPECT_EQ(Sh("git -C " + Dir("keep").string() + " rev-parse --is-shallow-repository"), "true");
}

TEST_F(SourceTest, GitSubmodules) {
  auto c = Fetch(GitUrl() + "#with-sub", "sub");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(ReadFile(c->context / "lib/lib.txt"), "lib-content\n");
  EXPECT_FALSE(fs::exists(c->context / "lib/.git"));
  EXPECT_FALSE(fs::exists(c->context / ".git"));
  GitOptions no_subs;
  no_subs.submodules = false;
  auto without = Fetch(GitUrl() + "#with-sub", "nosub", no_subs);
  ASSERT_TRUE(without.ok()) << without.status().message();
  EXPECT_FALSE(fs::exists(without->context / "lib/lib.txt"));
}

// Server builds may not fetch from the server's own loopback ports or its
// private network; the addresses are refused where git and curl connect.
TEST(SourceDestinations, PrivateAddresses) {
  auto is_private = [](const std::string& text) {
    sockaddr_storage ss{};
    if (text.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      EXPECT_EQ(::inet_pton(AF_INET6, text.c_str(), &a->sin6_addr), 1) << text;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      EXPECT_EQ(::inet_pton(AF_INET, text.c_str(), &a->sin_addr), 1) << text;
    }
    return IsPrivateAddress(reinterpret_cast<sockaddr*>(&ss));
  };
  for (const char* a : {"127.0.0.1",
                        "127.255.0.9",
                        "0.0.0.0",
                        "10.1.2.3",
                        "172.16.0.1",
                        "172.31.255.255",
                        "192.168.1.1",
                        "169.254.169.254",
                        "100.64.0.1",
                        "224.0.0.1",
                        "255.255.255.255",
                        "::1",
                        "::",
                        "fe80::1",
                        "fc00::1",
                        "fd12:3456::1",
                        "ff02::1",
                        "::ffff:127.0.0.1",
                        "::ffff:169.254.169.254",
                        "64:ff9b::a00:1"}) {
    EXPECT_TRUE(is_private(a)) << a;
  }
  for (const char* a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1",
                        "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(is_private(a)) << a;
  }
}

TEST_F(SourceTest, PrivateDestinationsRefusedWhenNotAllowed) {
  DownloadOptions d;
  d.allow_private = false;
  d.retries = 3;
  auto got = DownloadUrl(HttpUrl("ctx.tar.gz"), Dir("refused.tgz"), d);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kDenied) << got.status().message();
  EXPECT_NE(got.status().message().find("resolves to 127.0.0.1"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("builds.allow_private_fetches"), std::string::npos);
  EXPECT_FALSE(fs::exists(Dir("refused.tgz")));
  // A name is resolved and checked as well.
  std::string by_name = "http://localhost:" + std::to_string(http_port_) + "/ctx.tar.gz";
  EXPECT_EQ(DownloadUrl(by_name, Dir("byname.tgz"), d).status().code(), Code::kDenied);
  // The same server is fine when allowed (the default).
  EXPECT_TRUE(DownloadUrl(HttpUrl("ctx.tar.gz"), Dir("allowed.tgz")).ok());

  GitOptions g;
  g.allow_private = false;
  for (const std::string& url : std::vector<std::string>{
           GitUrl(), "http://localhost:" + std::to_string(http_port_) + "/repo.git",
           "ssh://git@127.0.0.1:1/repo.git", "git@[::1]:repo.git"}) {
    SCOPED_TRACE(url);
    auto c = Fetch(url + "#main", "refused-" + std::to_string(url.size()), g);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), Code::kDenied) << c.status().message();
    EXPECT_NE(c.status().message().find("builds.allow_private_fetches"), std::string::npos);
  }
  auto head = ResolveGitBranch(GitUrl(), "main", g);
  EXPECT_EQ(head.status().code(), Code::kDenied) << head.status().message();
}

// A git server at a public address (TEST-NET-2, which builds may fetch
// from): `git daemon` in a network namespace of the test's own.
class PublicGitServer {
 public:
  PublicGitServer(const fs::path& base) : pid_file_((base / "daemon.pid").string()) {
    net_.Exec("git daemon --detach --reuseaddr --export-all --listen=" + net_.address() +
              " --pid-file=" + pid_file_ + " --base-path=" + base.string() + " " + base.string());
    fs::create_directories(base / "probe.git");
    Sh("git init -q --bare " + (base / "probe.git").string());
    for (int i = 0; i < 100 && !Reachable(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~PublicGitServer() { Sh("kill $(cat " + pid_file_ + ") 2>/dev/null || true"); }
  std::string Url(const std::string& repo) const { return "git://" + net_.address() + "/" + repo; }
  bool Reachable() const {
    return std::system(("git ls-remote " + Url("probe.git") + " >/dev/null 2>&1").c_str()) == 0;
  }

 private:
  testing::VethNamespace net_{"198.51.100."};
  std::string pid_file_;
};

// With private fetches refused, a checkout's submodules are checked level by
// level where they are fetched: a public repository's public submodule is
// fetched, its submodule on the server's loopback is refused by name.
TEST_F(SourceTest, SubmodulesAreCheckedLevelByLevel) {
  DD_SKIP_UNLESS(::geteuid() == 0, "network namespaces need root");
  fs::path pub = work_->path() / "pub";
  fs::create_directories(pub);
  PublicGitServer server(pub);
  ASSERT_TRUE(server.Reachable());
  Sh("git clone -q --bare " + (work_->path() / "srv/lib.git").string() + " " +
     (pub / "lib.git").string());
  auto top = [&](const std::string& name, const std::string& sub_url) {
    fs::path w = work_->path() / (name + ".w");
    Sh("git init -q -b main " + w.string() + " && cd " + w.string() +
       " && echo top > top.txt && git add . && git commit -qm top && "
       "git -c protocol.file.allow=always submodule add -q " +
       sub_url +
       " lib && "
       "git commit -qm sub && git clone -q --bare . " +
       (pub / (name + ".git")).string());
  };
  top("good", server.Url("lib.git"));
  top("bad", GitUrl("lib.git"));
  GitOptions g;
  g.allow_private = false;

  auto good = Fetch(server.Url("good.git") + "#main", "level-good", g);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(ReadFile(good->context / "lib/lib.txt"), "lib-content\n");

  auto bad = Fetch(server.Url("bad.git") + "#main", "level-bad", g);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDenied) << bad.status().message();
  EXPECT_NE(bad.status().message().find("127.0.0.1"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("builds.allow_private_fetches"), std::string::npos);
  // The top level itself was fine: allowed, the same checkout works.
  auto allowed = Fetch(server.Url("bad.git") + "#main", "level-allowed");
  ASSERT_TRUE(allowed.ok()) << allowed.status().message();
  EXPECT_EQ(ReadFile(allowed->context / "lib/lib.txt"), "lib-content\n");
}

TEST_F(SourceTest, GitFileUrlOnlyWhenAllowed) {
  std::string url = "file://" + (work_->path() / "srv/repo.git").string() + "#feature";
  auto refused = Fetch(url, "file-refused");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not allowed"), std::string::npos);
  GitOptions o;
  o.allow_file = true;
  auto c = Fetch(url, "file", o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commit, feature_);
  EXPECT_EQ(ReadFile(c->context / "feature.txt"), "feature\n");
}

TEST_F(SourceTest, GitNeverShowsCredentials) {
  // busybox httpd speaks no git: the fetch fails, and neither the URL's
  // password nor the token may appear in the error or the log.
  std::string log;
  GitOptions o;
  o.token = "tok-SECRET-123";
  o.depth = 0;
  o.log = [&](std::string_view s) { log += s; };
  auto c =
      Fetch("http://user:pw-SECRET-456@127.0.0.1:" + std::to_string(http_port_) + "/none.git#main",
            "creds", o);
  ASSERT_FALSE(c.ok());
  std::string all = c.status().message() + "\n" + log;
  EXPECT_EQ(all.find("SECRET"), std::string::npos) << all;
  EXPECT_NE(all.find("***@127.0.0.1"), std::string::npos) << all;
}

TEST_F(SourceTest, GitTimeoutAndCancelKillGit) {
  GitOptions o;
  o.timeout = std::chrono::seconds(0);
  auto c = Fetch(GitUrl(), "timeout", o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_NE(c.status().message().find("timed out"), std::string::npos) << c.status().message();
  std::atomic<bool> cancel{true};
  GitOptions canceled;
  canceled.cancel = &cancel;
  auto k = Fetch(GitUrl(), "canceled", canceled);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("canceled"), std::string::npos) << k.status().message();
}

TEST_F(SourceTest, GitCheckoutDirMustBeEmpty) {
  WriteFile(Dir("busy/x"), "x");
  auto c = Fetch(GitUrl(), "busy");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not empty"), std::string::npos);
}

// ------------------------------------------------------------ downloads ---

TEST_F(SourceTest, DownloadFileWithLastModified) {
  ASSERT_TRUE(http_->up());
  auto d = DownloadUrl(HttpUrl("hello.txt"), Dir("hello"));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(ReadFile(Dir("hello")), "hello over http\n");
  EXPECT_EQ(d->digest, oci::Digest::Of("hello over http\n"));
  EXPECT_EQ(d->size, 16u);
  ASSERT_TRUE(d->last_modified.has_value());
  EXPECT_EQ(*d->last_modified, 1612325106);
  EXPECT_EQ(d->filename, "hello.txt");

  auto spaced = DownloadUrl(HttpUrl("dir/name%20with%20space.txt"), Dir("spaced"));
  ASSERT_TRUE(spaced.ok()) << spaced.status().message();
  EXPECT_EQ(spaced->filename, "name with space.txt");
}

TEST_F(SourceTest, DownloadNotFoundNamesStatusAndUrlWithoutCredentials) {
  auto d = DownloadUrl("http://me:hunter2@127.0.0.1:" + std::to_string(http_port_) + "/missing",
                       Dir("missing"));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kNotFound);
  const std::string& m = d.status().message();
  EXPECT_NE(m.find("404"), std::string::npos) << m;
  EXPECT_NE(m.find("/missing"), std::string::npos) << m;
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(Dir("missing")));
}

TEST_F(SourceTest, DownloadBasicAuth) {
  auto anonymous = DownloadUrl(HttpUrl("private/secret.txt"), Dir("anon"));
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), Code::kUnauthenticated);
  EXPECT_NE(anonymous.status().message().find("401"), std::string::npos);
  DownloadOptions o;
  o.basic = BasicAuth{"alice", "s3cret"};
  auto d = DownloadUrl(HttpUrl("private/secret.txt"), Dir("auth"), o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(ReadFile(Dir("auth")), "for alice\n");
  // Credentials in the URL work too, and stay out of errors.
  auto in_url = DownloadUrl(
      "http://alice:s3cret@127.0.0.1:" + std::to_string(http_port_) + "/private/secret.txt",
      Dir("in-url"));
  ASSERT_TRUE(in_url.ok()) << in_url.status().message();
  auto wrong = DownloadUrl(
      "http://alice:wr0ng@127.0.0.1:" + std::to_string(http_port_) + "/private/secret.txt",
      Dir("wrong"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message().find("wr0ng"), std::string::npos) << wrong.status().message();
}

TEST_F(SourceTest, DownloadSizeLimit) {
  DownloadOptions o;
  o.max_bytes = 1000;
  auto d = DownloadUrl(HttpUrl("big.bin"), Dir("big"), o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kTooLarge);
  EXPECT_NE(d.status().message().find("1000 bytes"), std::string::npos) << d.status().message();
  EXPECT_FALSE(fs::exists(Dir("big")));
  o.max_bytes = 100000;
  auto exact = DownloadUrl(HttpUrl("big.bin"), Dir("big"), o);
  ASSERT_TRUE(exact.ok()) << exact.status().message();
  EXPECT_EQ(exact->size, 100000u);
}

TEST_F(SourceTest, DownloadRetriesServerErrors) {
  fs::path counter = work_->path() / "flaky-count";
  fs::remove(counter);
  DownloadOptions o;
  o.backoff = std::chrono::milliseconds(10);
  std::string log;
  o.log = [&](std::string_view s) { log += s; };
  auto d = DownloadUrl(HttpUrl("cgi-bin/flaky"), Dir("flaky"), o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(ReadFile(Dir("flaky")), "recovered\n");
  EXPECT_EQ(d->digest, oci::Digest::Of("recovered\n"));
  EXPECT_EQ(ReadFile(counter), "2\n");
  EXPECT_NE(log.find("503"), std::string::npos) << log;

  o.retries = 2;
  auto failing = DownloadUrl(HttpUrl("cgi-bin/always503"), Dir("always"), o);
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.status().code(), Code::kUnavailable);
  EXPECT_NE(failing.status().message().find("HTTP 503"), std::string::npos)
      << failing.status().message();
}

TEST_F(SourceTest, DownloadConnectionRefusedAfterRetries) {
  DownloadOptions o;
  o.backoff = std::chrono::milliseconds(1);
  int attempts = 0;
  o.log = [&](std::string_view) { ++attempts; };
  auto d = DownloadUrl("http://127.0.0.1:" + std::to_string(FreePort()) + "/x", Dir("refused"), o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kUnavailable);
  EXPECT_EQ(attempts, 3);  // the retries, logged before each
}

TEST_F(SourceTest, DownloadFileNameFromContentDisposition) {
  auto d = DownloadUrl(HttpUrl("cgi-bin/named"), Dir("named"));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->filename, "report.csv");  // the '../' of the header dropped
}

TEST(SourceDownload, RefusesOtherSchemes) {
  auto work = testing::MakeTestDir();
  auto d = DownloadUrl("file:///etc/passwd", work.path() / "x");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kInvalid);
}

// ------------------------------------------------------------- tarballs ---

TEST(SourceTarball, ExtractsEveryCompression) {
  auto work = testing::MakeTestDir();
  std::vector<TarEntry> entries = {
      File("./top.txt", "top\n", 0600), Directory("d/", 0750), File("d/inner.txt", "inner\n"),
      Symlink("d/rel-link", "../top.txt"), HardLink("d/hard", "d/inner.txt")};
  for (int filter : {ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD,
                     ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_BZIP2}) {
    SCOPED_TRACE("filter " + std::to_string(filter));
    fs::path tar = work.path() / ("t" + std::to_string(filter));
    WriteTar(tar, filter, entries);
    fs::path dest = work.path() / ("out" + std::to_string(filter));
    Status s = ExtractTarball(tar, dest, 1 << 20);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(ReadFile(dest / "top.txt"), "top\n");
    EXPECT_EQ(ReadFile(dest / "d/inner.txt"), "inner\n");
    EXPECT_EQ(ReadFile(dest / "d/rel-link"), "top\n");
    EXPECT_EQ(fs::read_symlink(dest / "d/rel-link"), "../top.txt");
    EXPECT_EQ(fs::hard_link_count(dest / "d/hard"), 2u);
    EXPECT_EQ(fs::status(dest / "top.txt").permissions(), fs::perms(0600));
    EXPECT_EQ(fs::status(dest / "d").permissions(), fs::perms(0750));
    struct stat st;
    ASSERT_EQ(::stat((dest / "top.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtime, 1600000000);
  }
}

// Each hostile archive: refused with the entry named, nothing left behind.
TEST(SourceTarball, RefusesEscapes) {
  auto work = testing::MakeTestDir();
  struct Case {
    std::vector<TarEntry> entries;
    std::string named;
  };
  std::vector<Case> cases = {
      {{File("ok.txt", "ok"), File("../x", "evil")}, "'../x'"},
      {{File("a/../../x", "evil")}, "'a/../../x'"},
      {{File("/etc/evil", "evil")}, "'/etc/evil'"},
      {{Symlink("abs", "/etc"), HardLink("h", "abs/passwd")}, "'h'"},
      {{Device("dev")}, "'dev'"},
      {{HardLink("h", "../outside")}, "'h'"},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.named);
    fs::path tar = work.path() / ("evil" + std::to_string(i));
    fs::path dest = work.path() / ("dest" + std::to_string(i++));
    WriteTar(tar, ARCHIVE_FILTER_GZIP, c.entries);
    Status s = ExtractTarball(tar, dest, 1 << 20);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Code::kInvalid);
    EXPECT_NE(s.message().find(c.named), std::string::npos) << s.message();
    EXPECT_TRUE(fs::is_empty(dest));
  }
  EXPECT_FALSE(fs::exists(work.path() / "x"));
  EXPECT_FALSE(fs::exists(work.path() / "outside"));
}

// Docker keeps symlinks whatever they point to (a context with
// `localtime -> /usr/share/zoneinfo/UTC` builds); only following them out is
// refused, by whatever reads the tree.
TEST(SourceTarball, KeepsAbsoluteAndOutwardSymlinks) {
  auto work = testing::MakeTestDir();
  fs::path tar = work.path() / "links.tar";
  WriteTar(tar, ARCHIVE_FILTER_NONE,
           {Symlink("localtime", "/usr/share/zoneinfo/UTC"), Symlink("up", "../../etc"),
            File("Dockerfile", "FROM scratch\n")});
  fs::path dest = work.path() / "dest";
  Status s = ExtractTarball(tar, dest, 1 << 20);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(fs::read_symlink(dest / "localtime"), "/usr/share/zoneinfo/UTC");
  EXPECT_EQ(fs::read_symlink(dest / "up"), "../../etc");
  EXPECT_EQ(ReadFile(dest / "Dockerfile"), "FROM scratch\n");
}

// A later entry below a symlink never writes where the link leads:
// libarchive (ARCHIVE_EXTRACT_UNLINK + SECURE_SYMLINKS) replaces the link
// with a real directory, as `tar --unlink-first` does.
TEST(SourceTarball, EntriesBelowASymlinkStayInside) {
  auto work = testing::MakeTestDir();
  fs::path outside = work.path() / "outside";
  fs::create_directories(outside);
  std::vector<std::vector<TarEntry>> cases = {
      {Symlink("up", "../outside"), File("up/evil", "evil")},
      {Symlink("abs", outside.string()), File("abs/evil", "evil")},
      // Individually inside, together outside: x/sub is the root, so
      // x/sub/x/sub/.. is the root's parent.
      {Directory("x/"), Symlink("x/sub", ".."), Symlink("b", "x/sub/x/sub/../outside"),
       File("b/evil", "evil")},
  };
  int i = 0;
  for (const auto& entries : cases) {
    SCOPED_TRACE(i);
    fs::path tar = work.path() / ("t" + std::to_string(i));
    fs::path dest = work.path() / ("d" + std::to_string(i++));
    WriteTar(tar, ARCHIVE_FILTER_NONE, entries);
    Status s = ExtractTarball(tar, dest, 1 << 20);
    ASSERT_TRUE(s.ok()) << s.message();
    std::string dir = entries.back().name.substr(0, entries.back().name.find('/'));
    EXPECT_FALSE(fs::is_symlink(dest / dir));
    EXPECT_EQ(ReadFile(dest / dir / "evil"), "evil");
    EXPECT_TRUE(fs::is_empty(outside));
  }
}

// The input fuzz/layer_unpack found crashing the layer unpacker (libarchive
// fails without an error message); the context extractor reads it the same way.
TEST(SourceTarball, TruncatedGzipIsAnErrorNotACrash) {
  auto work = testing::MakeTestDir();
  fs::path tar = work.path() / "truncated.gz";
  std::ofstream(tar, std::ios::binary)
      << std::string("\x1f\x8b\x08\x00\xff\xff\xff\x00\x00\x00\x03\x00", 12);
  Status s = ExtractTarball(tar, work.path() / "dest", 1 << 20);
  EXPECT_EQ(s.code(), Code::kInvalid) << s.message();
}

TEST(SourceTarball, SizeLimitAndNonArchives) {
  auto work = testing::MakeTestDir();
  WriteTar(work.path() / "big.tar", ARCHIVE_FILTER_NONE,
           {File("a", std::string(600, 'a')), File("b", std::string(600, 'b'))});
  Status s = ExtractTarball(work.path() / "big.tar", work.path() / "big", 1000);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kTooLarge);
  EXPECT_NE(s.message().find("1000 bytes"), std::string::npos) << s.message();
  EXPECT_TRUE(fs::is_empty(work.path() / "big"));
  EXPECT_TRUE(ExtractTarball(work.path() / "big.tar", work.path() / "big", 1200).ok());

  WriteFile(work.path() / "text.txt", "just some text, not an archive\n");
  Status t = ExtractTarball(work.path() / "text.txt", work.path() / "text", 1000);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("not a tar archive"), std::string::npos) << t.message();
}

TEST_F(SourceTest, FetchTarball) {
  auto d = FetchTarball(HttpUrl("ctx.tar.gz"), Dir("ctx"));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->digest.hex(),
            Sh("sha256sum " + (work_->path() / "www/ctx.tar.gz").string() + " | cut -d' ' -f1"));
  EXPECT_EQ(ReadFile(Dir("ctx") / "app/main.sh"), "echo hi\n");
  EXPECT_EQ(fs::status(Dir("ctx") / "app/main.sh").permissions(), fs::perms(0750));
  EXPECT_EQ(fs::read_symlink(Dir("ctx") / "app/link"), "main.sh");
  // Only the extracted tree is left: the archive went with its temp dir.
  EXPECT_EQ(std::distance(fs::directory_iterator(scratch_.path()), fs::directory_iterator()), 1);

  auto missing = FetchTarball(HttpUrl("nope.tgz"), Dir("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace drydock::source
