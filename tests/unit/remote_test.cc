#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "remote/client.h"
#include "test_dir.h"
#include "test_registry.h"

namespace drydock::remote {
namespace {

namespace fs = std::filesystem;
using drydock::testing::ReadFile;

ClientOptions WithPassword(const std::string& password) {
  ClientOptions o;
  o.credentials = [password](const std::string&) { return Credential{"admin", password}; };
  o.max_attempts = 1;
  return o;
}

// Pushes a two-blob image and reads it back through the same client.
void RoundTrip(Client& client, const std::string& registry, const fs::path& work) {
  auto ref = *oci::ParseImageReference(registry + "/team/app:v1");
  std::string layer = "layer bytes " + registry;
  fs::path layer_file = work / "layer";
  std::ofstream(layer_file, std::ios::binary) << layer;
  std::string config =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  auto layer_d = oci::Digest::Of(layer), config_d = oci::Digest::Of(config);
  ASSERT_TRUE(client.PushBlob(ref, layer_d, layer_file).ok());
  ASSERT_TRUE(client.PushBlobBytes(ref, config_d, config).ok());
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{)"
      R"("mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
      config_d.str() + R"(","size":)" + std::to_string(config.size()) +
      R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
      layer_d.str() + R"(","size":)" + std::to_string(layer.size()) + "}]}";
  auto pushed = client.PushManifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json");
  ASSERT_TRUE(pushed.ok()) << pushed.status().message();

  auto got = client.GetManifest(ref);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->bytes, manifest);
  EXPECT_EQ(got->digest, *pushed);
  EXPECT_EQ(got->media_type, "application/vnd.oci.image.manifest.v1+json");
  auto resolved = client.ResolveDigest(ref);
  ASSERT_TRUE(resolved.ok()) << resolved.status().message();
  EXPECT_EQ(*resolved, *pushed);

  ASSERT_TRUE(client.FetchBlob(ref, layer_d, work / "pulled").ok());
  EXPECT_EQ(ReadFile(work / "pulled"), layer);
  EXPECT_EQ(*client.FetchBlobBytes(ref, config_d, 1 << 20), config);
  EXPECT_TRUE(*client.HasBlob(ref, layer_d));
  EXPECT_FALSE(*client.HasBlob(ref, oci::Digest::Of("absent")));
  auto missing = client.GetManifest(*oci::ParseImageReference(registry + "/team/app:nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  // A second repository gets the layer by cross-repository mount.
  auto other = *oci::ParseImageReference(registry + "/team/other:v1");
  ASSERT_TRUE(client.PushBlob(other, layer_d, layer_file, "team/app").ok());
  EXPECT_TRUE(*client.HasBlob(other, layer_d));
}

TEST(RemoteClient, TalksToDrydockWithTokenAuth) {
  testing::TestRegistry registry;
  auto work = testing::MakeTestDir();
  Client client(WithPassword("admin-password"));
  RoundTrip(client, registry.address(), work.path());
}

TEST(RemoteClient, WrongPasswordIsUnauthenticated) {
  testing::TestRegistry registry;
  Client client(WithPassword("wrong"));
  auto m = client.GetManifest(*oci::ParseImageReference(registry.address() + "/team/app:v1"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kUnauthenticated);
}

TEST(RemoteClient, DetectsTamperedDigestReference) {
  testing::TestRegistry registry;
  Client client(WithPassword("admin-password"));
  auto ref =
      *oci::ParseImageReference(registry.address() + "/x/y@" + oci::Digest::Of("nothing").str());
  EXPECT_FALSE(client.GetManifest(ref).ok());
}

// Debian's docker-registry (distribution 2.8) as the peer implementation.
class Distribution {
 public:
  explicit Distribution(const fs::path& dir) {
    port_ = 20000 + (::getpid() % 20000);
    fs::path config = dir / "config.yml";
    std::ofstream(config) << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "
                          << (dir / "data").string() << "\nhttp:\n  addr: 127.0.0.1:" << port_
                          << "\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      (void)::freopen("/dev/null", "w", stderr);
      (void)::freopen("/dev/null", "w", stdout);
      ::execl("/usr/bin/docker-registry", "docker-registry", "serve", config.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !Up(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~Distribution() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool Up() {
    Client probe(ClientOptions{});
    return probe.HasBlob(*oci::ParseImageReference(address() + "/probe/x:y"), oci::Digest::Of("x"))
        .ok();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_;
};

TEST(RemoteClient, TalksToDistribution) {
  DD_SKIP_UNLESS(fs::exists("/usr/bin/docker-registry"), "docker-registry is not installed");
  auto work = testing::MakeTestDir();
  Distribution dist(work.path());
  ASSERT_TRUE(dist.Up()) << "docker-registry did not start";
  Client client(ClientOptions{});
  RoundTrip(client, dist.address(), work.path());
}

}  // namespace
}  // namespace drydock::remote
