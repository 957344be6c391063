// The client side of quick builds: context packing (what goes into the
// uploaded tar.gz and under which names), the login config and run output.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/client/client_config.h"
#include "cli/client/context_pack.h"
#include "cli/client/run_format.h"
#include "test_dir.h"

namespace drydock::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

struct Entry {
  char type = '?';  // 'f' file, 'd' dir, 'l' symlink, 'h' hard link
  std::string content, link;
  mode_t perm = 0;
  int64_t uid = -1, gid = -1;
};

// Reads the packed archive back with libarchive: name -> entry.
std::map<std::string, Entry> ReadArchive(const fs::path& file) {
  std::map<std::string, Entry> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, file.c_str(), 65536), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry x;
    std::string name = archive_entry_pathname(e);
    if (archive_entry_hardlink(e)) {
      x.type = 'h';
      x.link = archive_entry_hardlink(e);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      x.type = 'd';
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      x.type = 'l';
      x.link = archive_entry_symlink(e);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      x.type = 'f';
      char buf[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) x.content.append(buf, n);
    }
    x.perm = archive_entry_perm(e);
    x.uid = archive_entry_uid(e);
    x.gid = archive_entry_gid(e);
    if (x.type == 'd' && !name.empty() && name.back() == '/') name.pop_back();
    out[name] = x;
  }
  archive_read_free(a);
  return out;
}

class PackTest : public ::testing::Test {
 protected:
  fs::path ctx() const { return dir_.path() / "ctx"; }
  fs::path out() const { return dir_.path() / "out.tar.gz"; }

  std::map<std::string, Entry> Pack(const fs::path& dockerfile = {}) {
    auto packed = PackContext({ctx(), dockerfile}, out());
    EXPECT_TRUE(packed.ok()) << packed.status().message();
    if (!packed.ok()) return {};
    packed_ = *packed;
    EXPECT_EQ(packed_.size, fs::file_size(out()));
    return ReadArchive(out());
  }

  TempDir dir_ = testing::MakeTestDir();
  PackedContext packed_;
};

TEST_F(PackTest, RelativeNamesRootOwnedModesKept) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / "src/app/main.c", "int main() {}\n");
  WriteFile(ctx() / "run.sh", "#!/bin/sh\n");
  ::chmod((ctx() / "run.sh").c_str(), 0750);
  auto entries = Pack();
  EXPECT_EQ(packed_.dockerfile, "Dockerfile");
  ASSERT_TRUE(entries.count("src/app/main.c"));
  EXPECT_EQ(entries["src/app/main.c"].content, "int main() {}\n");
  EXPECT_EQ(entries["src"].type, 'd');
  EXPECT_EQ(entries["run.sh"].perm, 0750u);
  for (const auto& [name, e] : entries) {
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name[0], '/') << name;
    EXPECT_NE(name.rfind("./", 0), 0u) << name;
    EXPECT_EQ(name.find(".."), std::string::npos) << name;
    EXPECT_EQ(e.uid, 0) << name;
    EXPECT_EQ(e.gid, 0) << name;
  }
  EXPECT_EQ(packed_.entries, entries.size());
}

TEST_F(PackTest, DockerignoreRulesHonoured) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / ".dockerignore",
            "# comment\n*.log\nbuild/\n!build/keep.txt\n**/*.tmp\nsecret.key\n");
  WriteFile(ctx() / "app.log", "x");
  WriteFile(ctx() / "sub/app.log", "kept: *.log does not cross '/'");
  WriteFile(ctx() / "build/out.o", "x");
  WriteFile(ctx() / "build/keep.txt", "keep");
  WriteFile(ctx() / "a/b/c.tmp", "x");
  WriteFile(ctx() / "a/b/c.txt", "c");
  WriteFile(ctx() / "secret.key", "x");
  auto entries = Pack();
  EXPECT_FALSE(entries.count("app.log"));
  EXPECT_TRUE(entries.count("sub/app.log"));
  EXPECT_FALSE(entries.count("build/out.o"));
  EXPECT_EQ(entries["build/keep.txt"].content, "keep");
  EXPECT_EQ(entries["build"].type, 'd') << "parent of a re-included file";
  EXPECT_FALSE(entries.count("a/b/c.tmp"));
  EXPECT_TRUE(entries.count("a/b/c.txt"));
  EXPECT_FALSE(entries.count("secret.key"));
  EXPECT_TRUE(entries.count(".dockerignore"));
  EXPECT_GE(packed_.excluded, 4u);
}

TEST_F(PackTest, ExcludedDirectoryIsNotWalked) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / ".dockerignore", "node_modules\n");
  WriteFile(ctx() / "node_modules/x/index.js", "x");
  auto entries = Pack();
  EXPECT_FALSE(entries.count("node_modules"));
  EXPECT_FALSE(entries.count("node_modules/x/index.js"));
  EXPECT_EQ(packed_.excluded, 1u);
}

TEST_F(PackTest, VersionControlMetadataExcluded) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / ".git/config", "[core]\n");
  WriteFile(ctx() / ".git/objects/ab/cdef", "x");
  WriteFile(ctx() / ".gitignore", "*.o\n");
  WriteFile(ctx() / ".hg/store", "x");
  WriteFile(ctx() / ".svn/entries", "x");
  WriteFile(ctx() / "vendor/lib/.git", "gitdir: ../../.git/modules/lib\n");  // a submodule
  WriteFile(ctx() / "vendor/lib/lib.c", "x");
  WriteFile(ctx() / "docs/.gitignore", "kept: only the top one is VCS noise\n");
  auto entries = Pack();
  for (const auto& [name, e] : entries) {
    EXPECT_NE(name.rfind(".git", 0), 0u) << name;
    EXPECT_NE(name.rfind(".hg", 0), 0u) << name;
    EXPECT_NE(name.rfind(".svn", 0), 0u) << name;
  }
  EXPECT_FALSE(entries.count("vendor/lib/.git"));
  EXPECT_TRUE(entries.count("vendor/lib/lib.c"));
  EXPECT_TRUE(entries.count("docs/.gitignore"));
}

TEST_F(PackTest, DockerfileOutsideContextAddedUnderGeneratedName) {
  WriteFile(ctx() / "app.txt", "app");
  WriteFile(ctx() / ".dockerignore", "*.md\n");
  WriteFile(ctx() / "README.md", "x");
  WriteFile(dir_.path() / "elsewhere/build.Dockerfile", "FROM scratch\nCOPY . /\n");
  auto entries = Pack(dir_.path() / "elsewhere/build.Dockerfile");
  const std::string& name = packed_.dockerfile;
  ASSERT_NE(name, "");
  EXPECT_EQ(name.find('/'), std::string::npos) << "at the archive root";
  EXPECT_NE(name.find("build.Dockerfile"), std::string::npos);
  EXPECT_EQ(entries[name].content, "FROM scratch\nCOPY . /\n");
  // The generated ignore file (preferred by the server's builder) keeps the
  // context's rules and hides the generated files from COPY.
  const std::string& rules = entries[name + ".dockerignore"].content;
  EXPECT_NE(rules.find("*.md"), std::string::npos);
  EXPECT_NE(rules.find("/" + name + "\n"), std::string::npos);
  EXPECT_NE(rules.find("/" + name + ".dockerignore\n"), std::string::npos);
  EXPECT_FALSE(entries.count("README.md"));
  EXPECT_TRUE(entries.count("app.txt"));
}

TEST_F(PackTest, DockerfileAndIgnoreFileGoEvenWhenExcluded) {
  WriteFile(ctx() / "docker/Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / "docker/other", "x");
  WriteFile(ctx() / ".dockerignore", "docker\n.dockerignore\n");
  auto entries = Pack(ctx() / "docker/Dockerfile");
  EXPECT_EQ(packed_.dockerfile, "docker/Dockerfile");
  EXPECT_EQ(entries["docker/Dockerfile"].content, "FROM scratch\n");
  EXPECT_EQ(entries["docker"].type, 'd');
  EXPECT_FALSE(entries.count("docker/other"));
  EXPECT_TRUE(entries.count(".dockerignore"));
}

TEST_F(PackTest, DockerfileSpecificIgnoreFileWins) {
  WriteFile(ctx() / "app.Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / ".dockerignore", "a.txt\n");
  WriteFile(ctx() / "app.Dockerfile.dockerignore", "b.txt\n");
  WriteFile(ctx() / "a.txt", "a");
  WriteFile(ctx() / "b.txt", "b");
  auto entries = Pack(ctx() / "app.Dockerfile");
  EXPECT_EQ(packed_.dockerfile, "app.Dockerfile");
  EXPECT_TRUE(entries.count("a.txt"));
  EXPECT_FALSE(entries.count("b.txt"));
  EXPECT_TRUE(entries.count("app.Dockerfile.dockerignore"));
}

TEST_F(PackTest, SymlinksStaySymlinksAndAreNotFollowed) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / "real/file.txt", "real");
  WriteFile(dir_.path() / "outside/secret", "must not be packed");
  fs::create_symlink("real/file.txt", ctx() / "link.txt");
  fs::create_directory_symlink("real", ctx() / "linkdir");
  fs::create_directory_symlink(dir_.path() / "outside", ctx() / "escape");
  fs::create_symlink("../../../../etc/passwd", ctx() / "dangling");
  auto entries = Pack();
  EXPECT_EQ(entries["link.txt"].type, 'l');
  EXPECT_EQ(entries["link.txt"].link, "real/file.txt");
  EXPECT_EQ(entries["linkdir"].type, 'l');
  EXPECT_FALSE(entries.count("linkdir/file.txt"));
  EXPECT_EQ(entries["escape"].type, 'l');
  EXPECT_FALSE(entries.count("escape/secret"));
  EXPECT_EQ(entries["dangling"].type, 'l');
  EXPECT_EQ(entries["dangling"].link, "../../../../etc/passwd");
}

TEST_F(PackTest, DockerfileSymlinkedOutsideIsCopiedNotLinked) {
  WriteFile(dir_.path() / "outside/Dockerfile", "FROM outside\n");
  fs::create_directories(ctx());
  fs::create_symlink(dir_.path() / "outside/Dockerfile", ctx() / "Dockerfile");
  auto entries = Pack();
  EXPECT_NE(packed_.dockerfile, "Dockerfile");
  EXPECT_EQ(entries[packed_.dockerfile].content, "FROM outside\n");
  EXPECT_EQ(entries["Dockerfile"].type, 'l');
}

TEST_F(PackTest, HardLinksStayHardLinks) {
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / "a", "same bytes");
  fs::create_hard_link(ctx() / "a", ctx() / "b");
  auto entries = Pack();
  EXPECT_EQ(entries["a"].content, "same bytes");
  EXPECT_EQ(entries["b"].type, 'h');
  EXPECT_EQ(entries["b"].link, "a");
}

TEST_F(PackTest, Errors) {
  auto missing = PackContext({dir_.path() / "nope", {}}, out());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  WriteFile(ctx() / "x", "x");
  auto no_dockerfile = PackContext({ctx(), {}}, out());
  EXPECT_EQ(no_dockerfile.status().code(), Code::kNotFound);
  EXPECT_NE(no_dockerfile.status().message().find("Dockerfile"), std::string::npos);
  WriteFile(ctx() / "Dockerfile", "FROM scratch\n");
  WriteFile(ctx() / ".dockerignore", "[\n");
  auto bad_rule = PackContext({ctx(), {}}, out());
  EXPECT_FALSE(bad_rule.ok());
  EXPECT_NE(bad_rule.status().message().find("line 1"), std::string::npos)
      << bad_rule.status().message();
}

TEST(ClientConfigTest, NormalizeServer) {
  EXPECT_EQ(*NormalizeServer("127.0.0.1:5000"), "http://127.0.0.1:5000");
  EXPECT_EQ(*NormalizeServer("localhost:5000/"), "http://localhost:5000");
  EXPECT_EQ(*NormalizeServer("[::1]:5000"), "http://[::1]:5000");
  EXPECT_EQ(*NormalizeServer("registry.example.com"), "https://registry.example.com");
  EXPECT_EQ(*NormalizeServer("http://10.0.0.5:5000"), "http://10.0.0.5:5000");
  EXPECT_EQ(*NormalizeServer("https://127.0.0.1:5443"), "https://127.0.0.1:5443");
  EXPECT_FALSE(NormalizeServer("ftp://host").ok());
  EXPECT_FALSE(NormalizeServer("host:5000/v2").ok());
  EXPECT_FALSE(NormalizeServer("user:pw@host").ok());
  EXPECT_EQ(RegistryHost("http://127.0.0.1:5000"), "127.0.0.1:5000");
}

// Points $XDG_CONFIG_HOME at a scratch directory for one test.
class ConfigEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_CONFIG_HOME", dir_.path().c_str(), 1);
    for (const char* v : {"DRYDOCK_SERVER", "DRYDOCK_USER", "DRYDOCK_PASSWORD"}) ::unsetenv(v);
  }
  void TearDown() override { ::unsetenv("XDG_CONFIG_HOME"); }
  TempDir dir_ = testing::MakeTestDir();
};

TEST_F(ConfigEnvTest, SavedPrivatelyAndUsedByLaterCommands) {
  fs::path path = ClientConfig::DefaultPath();
  EXPECT_EQ(path, dir_.path() / "drydock/config.json");
  EXPECT_FALSE(ResolveConnection("").ok()) << "no login yet";
  auto config = ClientConfig::Load(path);
  ASSERT_TRUE(config.ok());
  config->Set("http://127.0.0.1:5000", {"alice", "tok-1", ""});
  config->Set("https://reg.example.com", {"bob", "tok-2", ""});
  ASSERT_TRUE(config->Save().ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto current = ResolveConnection("");
  ASSERT_TRUE(current.ok()) << current.status().message();
  EXPECT_EQ(current->server, "https://reg.example.com");
  EXPECT_EQ(current->authorization, "Authorization: Bearer tok-2");
  auto chosen = ResolveConnection("127.0.0.1:5000");
  EXPECT_EQ(chosen->server, "http://127.0.0.1:5000");
  EXPECT_EQ(chosen->authorization, "Authorization: Bearer tok-1");
  ::setenv("DRYDOCK_SERVER", "127.0.0.1:6000", 1);
  EXPECT_EQ(ResolveConnection("")->authorization, "") << "no login for that server";
  ::setenv("DRYDOCK_USER", "carol", 1);
  ::setenv("DRYDOCK_PASSWORD", "pw", 1);
  EXPECT_EQ(ResolveConnection("")->authorization, "Authorization: Basic Y2Fyb2w6cHc=");

  auto creds = DrydockLoginCredentials();
  ASSERT_TRUE(creds("127.0.0.1:5000").has_value());
  EXPECT_EQ(creds("127.0.0.1:5000")->username, "alice");
  EXPECT_EQ(creds("127.0.0.1:5000")->password, "tok-1");
  EXPECT_FALSE(creds("127.0.0.1:6000").has_value());
}

TEST(RunFormatTest, StatusLinesImagesAndDurations) {
  json run = {{"runId", "ca1"},
              {"status", "Succeeded"},
              {"createTime", "2026-11-29T12:00:00Z"},
              {"startTime", "2026-11-29T12:00:01Z"},
              {"finishTime", "2026-11-29T12:00:05.250Z"},
              {"outputImages",
               {{{"registry", "127.0.0.1:5000"},
                 {"repository", "team/app"},
                 {"tag", "v1"},
                 {"digest", "sha256:abc"}}}}};
  EXPECT_EQ(FinalStatusLine(run), "Run ID: ca1 was successful after 4s");
  EXPECT_EQ(PushedImages(run), std::vector<std::string>{"127.0.0.1:5000/team/app:v1@sha256:abc"});
  run["status"] = "Failed";
  EXPECT_EQ(FinalStatusLine(run), "Run ID: ca1 failed after 4s");
  run["status"] = "Timeout";
  EXPECT_EQ(FinalStatusLine(run), "Run ID: ca1 timed out");
  run["status"] = "Canceled";
  EXPECT_EQ(FinalStatusLine(run), "Run ID: ca1 was canceled");
  EXPECT_EQ(Hms(3725), "01:02:05");
  EXPECT_EQ(*ParseTime("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(ParseTime("yesterday").has_value());
  EXPECT_TRUE(IsFinalStatus("Error"));
  EXPECT_FALSE(IsFinalStatus("Running"));
}

TEST(RunFormatTest, Table) {
  std::ostringstream out;
  PrintTable(out, {"TAG", "DIGEST"}, {{"1.0", "sha256:a"}, {"latest-long", "sha256:b"}});
  EXPECT_EQ(out.str(),
            "TAG          DIGEST\n"
            "-----------  --------\n"
            "1.0          sha256:a\n"
            "latest-long  sha256:b\n");
}

}  // namespace
}  // namespace drydock::client
