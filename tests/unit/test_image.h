// Helpers for tests that run real images: a busybox image pushed to a test
// registry, the admin's credentials for it, and the mounts left behind.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "layer/layer.h"
#include "oci/reference.h"
#include "remote/client.h"
#include "test_dir.h"

namespace drydock::testing {

namespace fs = std::filesystem;

// Mount points under `dir` (none may be left after a test).
inline std::vector<std::string> MountsUnder(const fs::path& dir) {
  std::ifstream mounts("/proc/self/mountinfo");
  std::vector<std::string> found;
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point.starts_with(dir.string())) found.push_back(point);
  }
  return found;
}

// The test registry's admin, as TestRegistry creates it.
inline remote::ClientOptions AdminClient() {
  remote::ClientOptions o;
  o.credentials = [](const std::string&) {
    return std::optional<remote::Credential>(remote::Credential{"admin", "admin-password"});
  };
  return o;
}

// Pushes a one-layer image or artifact made from `root`; returns its digest.
inline oci::Digest PushDir(const std::string& ref_text, const fs::path& root,
                           const fs::path& scratch, bool artifact = false) {
  auto ref = *oci::ParseImageReference(ref_text);
  layer::WriteOptions w;
  w.source_date_epoch = 0;
  auto blob = layer::WriteLayer(root, scratch / "layer.tar.gz", w);
  EXPECT_TRUE(blob.ok()) << blob.status().message();
  std::string config =
      artifact ? "{}"
               : R"({"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},)"
                 R"("rootfs":{"type":"layers","diff_ids":[")" +
                     blob->diff_id.str() + R"("]}})";
  std::string config_type =
      artifact ? "application/vnd.oci.empty.v1+json" : "application/vnd.oci.image.config.v1+json";
  auto config_digest = oci::Digest::Of(config);
  remote::Client client(AdminClient());
  EXPECT_TRUE(client.PushBlob(ref, blob->digest, blob->path).ok());
  EXPECT_TRUE(client.PushBlobBytes(ref, config_digest, config).ok());
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)" +
      std::string(artifact ? R"("artifactType":"application/vnd.drydock.context",)" : "") +
      R"("config":{"mediaType":")" + config_type + R"(","digest":")" + config_digest.str() +
      R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[{"mediaType":")" +
      blob->media_type + R"(","digest":")" + blob->digest.str() + R"(","size":)" +
      std::to_string(blob->size) + "}]}";
  auto pushed = client.PushManifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_TRUE(pushed.ok()) << pushed.status().message();
  return pushed.ok() ? *pushed : oci::Digest::Of("");
}

// A busybox root at `root` with `tools` as applet links and a passwd file.
inline void MakeBusyboxRoot(const fs::path& root, const std::vector<std::string>& tools) {
  fs::create_directories(root / "bin");
  fs::copy_file("/bin/busybox", root / "bin/busybox");
  for (const auto& tool : tools) fs::create_symlink("busybox", root / "bin" / tool);
  WriteFile(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
}

}  // namespace drydock::testing
