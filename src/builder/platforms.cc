#include "builder/platforms.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "attest/attest.h"
#include "base/json.h"
#include "builder/cache.h"
#include "builder/image.h"
#include "oci/manifest.h"

namespace drydock::builder {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kBinfmtDir[] = "/proc/sys/fs/binfmt_misc";

// QEMU's name for an architecture (its binfmt entry is qemu-<name>).
std::string QemuName(const std::string& arch) {
  static const std::map<std::string, std::string> kNames = {
      {"amd64", "x86_64"},    {"arm64", "aarch64"},    {"386", "i386"},
      {"arm", "arm"},         {"ppc64le", "ppc64le"},  {"s390x", "s390x"},
      {"riscv64", "riscv64"}, {"mips64le", "mips64el"}};
  auto it = kNames.find(arch);
  return it == kNames.end() ? arch : it->second;
}

// Log lines of one platform's build, each prefixed with it; a chunk may end
// mid-line, so the rest waits for its newline (or Flush).
class PrefixedLog {
 public:
  PrefixedLog(std::function<void(std::string_view)> out, std::mutex& mu, std::string prefix)
      : out_(std::move(out)), mu_(mu), prefix_(std::move(prefix)) {}
  void Write(std::string_view text) {
    std::lock_guard lock(mu_);
    pending_ += text;
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1)
      if (out_) out_(prefix_ + pending_.substr(start, nl + 1 - start));
    pending_.erase(0, start);
  }
  void Flush() {
    if (!pending_.empty()) Write("\n");
  }

 private:
  std::function<void(std::string_view)> out_;
  std::mutex& mu_;
  std::string prefix_, pending_;
};

AssembledImage Assembled(const BuildResult& built) {
  AssembledImage image{built.config, built.manifest, built.media_type, {}};
  if (auto m = oci::ParseManifest(built.manifest, built.media_type); m.ok())
    for (const auto& l : m->layers)
      image.layers.push_back({l.digest, l.size, l.media_type, {}, {}});
  return image;
}

// The image built for `wanted` must be one: a base without an image for it
// (a single-platform base) would give another platform's binaries.
Status CheckBuiltFor(const BuildResult& built, const oci::Platform& wanted) {
  auto config = ParseJson(built.config);
  if (!config.ok()) return Internal("the built image's config is unreadable");
  oci::Platform got = oci::PlatformOf(*config);
  if (got.Matches(wanted)) return Status::Ok();
  std::string base =
      built.dependencies.runtime ? built.dependencies.runtime->repository : "its base";
  return Invalid("the image built for " + wanted.String() + " is " + got.String() + ": " + base +
                 " has no " + wanted.String() + " image (a base image for several platforms " +
                 "must be an index with each of them)");
}

// Docker's attestation manifest of a built image (attest.h): its SBOM and
// provenance as in-toto statements; none when it has neither.
std::optional<Attached> DockerAttestations(const BuildResult& image) {
  std::vector<json> statements;
  for (const auto& a : image.attestations) {
    auto doc = ParseJson(a.artifact.layer());
    if (!doc.ok()) continue;  // made by this build: always JSON
    if (a.kind == "sbom") {
      const std::string name = doc->value("name", "");  // before the document moves
      statements.push_back(
          attest::Statement(name, image.manifest_digest, attest::kSpdxPredicate, std::move(*doc)));
    } else if (a.kind == "provenance")
      statements.push_back(std::move(*doc));
  }
  if (statements.empty()) return std::nullopt;
  return Attached{"attestation-manifest", image.manifest_digest,
                  attest::DockerAttestationManifest(statements)};
}

std::string IndexOf(const std::vector<BuildResult>& images,
                    const std::vector<oci::Platform>& platforms,
                    const std::vector<Attached>& docker_attestations, bool docker) {
  json manifests = json::array();
  for (size_t i = 0; i < images.size(); ++i) {
    json platform = {{"architecture", platforms[i].architecture}, {"os", platforms[i].os}};
    if (!platforms[i].variant.empty()) platform["variant"] = platforms[i].variant;
    manifests.push_back({{"mediaType", images[i].media_type},
                         {"digest", images[i].manifest_digest.str()},
                         {"size", images[i].manifest.size()},
                         {"platform", platform}});
  }
  for (const auto& a : docker_attestations)
    manifests.push_back(attest::DockerAttestationEntry(a.artifact, a.subject));
  return json{{"schemaVersion", 2},
              {"mediaType", std::string(docker ? oci::kDockerManifestList : oci::kOciIndex)},
              {"manifests", manifests}}
      .dump();
}

// The index (its images, their attestations and its signature first) by
// digest into each tagged repository, then the tags.
Status PushIndex(const BuildOptions& o, const BuildResult& index) {
  std::set<std::string> done;
  for (const auto& tag : o.tags) {
    if (!done.insert(tag.RepositoryWithRegistry()).second) continue;
    oci::ImageReference repo = tag;
    repo.tag.clear();
    repo.digest = index.manifest_digest;
    DD_RETURN_IF_ERROR(PushBuilt(index, repo, o.state_dir, o.registry));
  }
  remote::Client client(o.registry);
  for (const auto& tag : o.tags) {
    if (o.log) o.log("pushing " + tag.String() + "\n");
    DD_RETURN_IF_ERROR(client.PushManifest(tag, index.manifest, index.media_type).status());
  }
  return Status::Ok();
}

}  // namespace

Status CheckCanRun(const oci::Platform& platform) {
  if (platform.Matches(oci::HostPlatform())) return Status::Ok();
  const std::string name = "qemu-" + QemuName(platform.architecture);
  const std::string register_how =
      "install Debian's qemu-user-static (apt-get install qemu-user-static), which registers "
      "it with the F flag, or register it yourself: grep -v '^#' /usr/lib/binfmt.d/" +
      name + ".conf > " + kBinfmtDir + "/register";
  std::error_code ec;
  if (!fs::exists(fs::path(kBinfmtDir) / "status", ec))
    return Invalid("RUN for " + platform.String() + " needs QEMU user-mode emulation, and " +
                   kBinfmtDir + " is not mounted: mount -t binfmt_misc binfmt_misc " + kBinfmtDir +
                   ", then " + register_how);
  std::ifstream entry(fs::path(kBinfmtDir) / name);
  if (!entry)
    return Invalid("RUN for " + platform.String() + " needs QEMU user-mode emulation, and " +
                   kBinfmtDir + " has no " + name + " entry: " + register_how);
  std::string line, flags;
  bool enabled = false;
  while (std::getline(entry, line)) {
    if (line == "enabled") enabled = true;
    if (line.rfind("flags: ", 0) == 0) flags = line.substr(7);
  }
  if (!enabled)
    return Invalid("RUN for " + platform.String() + ": the binfmt_misc entry " + name +
                   " is disabled: echo 1 > " + kBinfmtDir + "/" + name);
  if (flags.find('F') == std::string::npos)
    return Invalid("RUN for " + platform.String() + ": the binfmt_misc entry " + name +
                   " lacks the F (fix binary) flag, so its interpreter cannot be found inside a "
                   "container: remove it (echo -1 > " +
                   kBinfmtDir + "/" + name + ") and " + register_how);
  return Status::Ok();
}

Result<BuildResult> BuildIndex(const BuildOptions& o, const std::vector<oci::Platform>& platforms) {
  if (o.output.rfind("docker-archive:", 0) == 0)
    return Invalid("docker-archive output holds one platform's image, and this build has " +
                   std::to_string(platforms.size()) +
                   ": use --output oci:DIR (it holds the index), or build one platform");
  if (o.cache_to)
    return Invalid("--cache-to exports one platform's cache: build one platform to export it");
  // Held until the index is pushed: a platform's build finishing first must
  // not prune the layers of another's image (its own prune is skipped).
  DD_ASSIGN_OR_RETURN(lock, LockState(o.state_dir, o.log));
  // One platform failing (or the build's cancel) stops the others.
  std::atomic<bool> stop{false};
  std::atomic<int> first_failed{-1};  // the cause; the others were stopped by it
  std::mutex log_mu;
  std::vector<Result<BuildResult>> built(platforms.size(), Internal("not built"));
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < platforms.size(); ++i) {
      threads.emplace_back([&, i] {
        PrefixedLog log(o.log, log_mu, "[" + platforms[i].String() + "] ");
        BuildOptions one = o;
        one.platform = platforms[i].String();
        one.push = false;
        one.output.clear();
        one.cancel = &stop;
        one.cache_max_bytes = 0;  // pruned once, after the index
        one.log = [&log](std::string_view s) { log.Write(s); };
        Result<BuildResult> result = Build(one);
        if (result.ok())
          if (Status s = CheckBuiltFor(*result, platforms[i]); !s.ok()) result = s;
        built[i] = std::move(result);
        log.Flush();
        if (!built[i].ok()) {
          int none = -1;
          first_failed.compare_exchange_strong(none, static_cast<int>(i));
          stop = true;
        }
      });
    }
    threads.emplace_back([&](std::stop_token token) {
      while (!token.stop_requested() && !stop) {
        if (o.cancel && o.cancel->load()) stop = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    for (size_t i = 0; i < platforms.size(); ++i) threads[i].join();
  }
  if (int i = first_failed; i >= 0)
    return Status(built[static_cast<size_t>(i)].status().code(),
                  platforms[static_cast<size_t>(i)].String() + ": " +
                      built[static_cast<size_t>(i)].status().message());
  BuildResult index;
  for (auto& image : built) index.platform_images.push_back(std::move(*image));
  // Docker's layout, beside the OCI referrers, for clients that read only
  // it; a Docker manifest list cannot hold OCI manifests, so not there.
  if (!o.docker_media_types)
    for (const auto& image : index.platform_images)
      if (auto a = DockerAttestations(image)) index.attestations.push_back(std::move(*a));
  index.manifest =
      IndexOf(index.platform_images, platforms, index.attestations, o.docker_media_types);
  index.media_type = std::string(o.docker_media_types ? oci::kDockerManifestList : oci::kOciIndex);
  index.manifest_digest = oci::Digest::Of(index.manifest);
  index.dependencies = index.platform_images.front().dependencies;
  index.dependencies.images.clear();
  for (auto tag : o.tags) {
    tag.digest = index.manifest_digest;
    index.dependencies.images.push_back(tag);
  }
  if (o.attest.signer) {
    attest::Subject subject{index.media_type, index.manifest_digest,
                            static_cast<int64_t>(index.manifest.size())};
    DD_ASSIGN_OR_RETURN(signatures, attest::SignatureArtifacts(o.attest.signer, {subject}));
    for (auto& s : signatures)
      index.attestations.push_back({"signature", index.manifest_digest, std::move(s)});
  }
  if (o.push) DD_RETURN_IF_ERROR(PushIndex(o, index));
  if (!o.output.empty()) {
    LayerStore store(o.state_dir);
    std::vector<AssembledImage> images;
    for (const auto& image : index.platform_images) images.push_back(Assembled(image));
    std::vector<std::string> blobs;
    for (const auto& a : index.attestations) {
      blobs.push_back(a.artifact.manifest);
      blobs.insert(blobs.end(), a.artifact.blobs.begin(), a.artifact.blobs.end());
    }
    DD_RETURN_IF_ERROR(
        WriteIndexOutput(store, images, blobs, index.manifest, index.media_type, o.output, o.tags));
  }
  if (o.log) o.log("built index " + index.manifest_digest.str() + "\n");
  PruneCache(o.state_dir, o.cache_max_bytes, std::move(lock), o.log);
  return index;
}

}  // namespace drydock::builder
