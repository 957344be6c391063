// Drydock's native, daemonless Dockerfile builder: parse, pull bases, run
// stages (RUN under runc on overlayfs snapshots), write layers, and push or
// export the image. This header is the whole public surface of build/.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/attest.h"
#include "base/fd.h"
#include "base/result.h"
#include "layer/layer.h"
#include "oci/digest.h"
#include "oci/reference.h"
#include "remote/client.h"
#include "runtime/runtime.h"

namespace drydock::builder {

struct ImageDependency {
  std::string registry, repository, tag;
  std::string digest;  // what the reference resolved to (an index, for a multi-platform image)
  // The platform the build used and its image's manifest (the digest
  // itself for a single-platform image): a base-image trigger compares
  // that platform's entry only. "" when not pulled (scanned from a
  // Dockerfile).
  std::string platform, manifest;
};

// One record per built image, in ACR's dependency-document shape.
struct Dependencies {
  std::vector<oci::ImageReference> images;  // what was tagged
  std::optional<ImageDependency> runtime;   // the target stage's root base
  std::vector<ImageDependency> buildtime;   // every other base (other stages, COPY --from=<image>)
};

// An attestation pushed with the image: an OCI artifact whose subject is
// the image (or, for a signature, another attestation).
struct Attached {
  std::string kind;  // "sbom", "provenance", "signature"
  oci::Digest subject;
  attest::Artifact artifact;  // its digest is the referrer's
};

struct BuildResult {
  oci::Digest manifest_digest;
  oci::Digest config_digest;
  std::string manifest;  // bytes as pushed
  std::string media_type;
  std::string config;  // the image config's bytes
  Dependencies dependencies;
  // Made when AttestOptions ask; pushed with the image (by the build when
  // it pushes, else by PushBuilt), into every repository it is tagged in.
  std::vector<Attached> attestations;
  // A multi-platform build's images, one per platform in the index's order;
  // this result is then their index (manifest, media_type, digest; no config).
  std::vector<BuildResult> platform_images;
};

// What a pushed image carries beside it (issue 17, attest/attest.h): its
// SBOM, its provenance, and signatures over the image and each of them,
// pushed by digest into each tagged repository before any tag moves.
struct AttestOptions {
  bool sbom = false;
  bool provenance = false;
  attest::Signer signer;  // none: nothing is signed
  // What the builder cannot know: who builds, from what source, for which
  // run. The rest (inputs, Dockerfile, arguments) it fills in itself.
  attest::ProvenanceInput context;
  std::vector<std::string> secret_build_args;  // names whose values never appear
  std::string tool = "drydock";                // the SBOM's creator
};

struct BuildOptions {
  std::filesystem::path context_dir;
  std::filesystem::path dockerfile;  // default: <context>/Dockerfile
  std::map<std::string, std::string> build_args;
  std::string target;  // stage name; default: the last stage
  // One platform, or several separated by commas: an image for each and an
  // index of them (QEMU user-mode emulation runs a foreign platform's RUNs).
  std::string platform = "linux/amd64";
  std::vector<oci::ImageReference> tags;
  bool push = false;
  std::string output;  // "oci:DIR" or "docker-archive:FILE", or ""
  bool no_cache = false;
  bool docker_media_types = false;  // Docker schema 2 instead of OCI
  // Of the layers this build makes; base image layers stay as they are.
  layer::Compression compression = layer::Compression::kGzip;
  // Bound on the state dir's layers + snapshots, enforced after each build by
  // dropping the least recently used cache records; 0: unbounded.
  uint64_t cache_max_bytes = 0;
  std::optional<oci::ImageReference> cache_to;  // export the cache used as an image here
  std::vector<oci::ImageReference> cache_from;  // import caches exported by --cache-to
  std::optional<int64_t> source_date_epoch;
  std::filesystem::path state_dir;  // cache, snapshots, scratch: shared by every build
  remote::ClientOptions registry;   // credentials and insecure registries
  // RUN --mount=type=secret: id → contents (never in the image, cache key or log).
  std::map<std::string, std::string> secrets;
  // RUN --mount=type=ssh: id → agent socket on this machine.
  std::map<std::string, std::filesystem::path> ssh_agents;
  // Images this machine built earlier (a task run's, not pushed), by
  // normalized name ("docker.io/library/app:latest"): a FROM naming one uses
  // it instead of asking a registry, as a docker daemon's local images.
  std::map<std::string, BuildResult> local_images;
  std::chrono::seconds run_timeout{3600};
  // What each RUN may use (processes, memory, CPU, disk); 0s: unlimited.
  runtime::Limits limits;
  // RUN steps in a user namespace: their root is not the host's root
  // (builds.user_namespace). The state dir must pass UserNamespace::CheckUsable.
  std::shared_ptr<const runtime::UserNamespace> users;
  // RUN --network=host shares the host's network, loopback-only services
  // included: only where the owner of the machine allows it.
  bool allow_host_network = false;
  // `ADD <url>` and `ADD <git repo>` may fetch from loopback, link-local and
  // private addresses (source::IsPrivateAddress): a local build's own
  // network is its user's; a server's is not, and servers turn this off.
  bool allow_private_fetches = true;
  AttestOptions attest;  // what BuildResult::attestations holds
  // Called for each image a FROM or COPY --from pulls, with the digest its
  // reference resolved to and its platform manifest's: an error fails the
  // build (a task's --trusted-base-key: the base must be signed).
  std::function<Status(const oci::ImageReference& base, const std::string& resolved,
                       const std::string& platform_manifest)>
      check_base;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view)> log;  // build log lines and RUN output
};

Result<BuildResult> Build(const BuildOptions& options);

// Base images a Dockerfile depends on, without building: FROM (with ARG
// defaults and build args applied, `--platform`, aliases chained to their
// root image) and COPY --from=<image>. Digests are left empty.
Result<Dependencies> ScanDependencies(const std::string& dockerfile_text,
                                      const std::map<std::string, std::string>& build_args,
                                      const std::string& target,
                                      const std::string& default_registry = "docker.io");

// An image's root filesystem, ready to run (a task file's cmd steps): pulled
// into the build state, its layers' snapshots listed top-most first for
// runtime::OverlayMount. The state is locked against pruning while it lives.
struct ImageRoot {
  nlohmann::json config;  // the image config's "config": Env, Entrypoint, Cmd, WorkingDir, User
  std::vector<std::filesystem::path> lowers;
  ImageDependency resolved;  // the digest the reference resolved to
  UniqueFd lock;
};
Result<ImageRoot> PullImageRoot(const oci::ImageReference& ref, const std::string& platform,
                                const std::filesystem::path& state_dir,
                                const remote::ClientOptions& registry,
                                const std::function<void(std::string_view)>& log);

// An image this machine just built: every layer is in `state_dir` already.
Result<ImageRoot> LocalImageRoot(const BuildResult& built, const std::filesystem::path& state_dir,
                                 const std::function<void(std::string_view)>& log);
// Pushes an image this machine built (blobs from `state_dir`) to `ref`:
// its attestations first, then the image; an index's images go by digest
// before it.
Status PushBuilt(const BuildResult& built, const oci::ImageReference& ref,
                 const std::filesystem::path& state_dir, const remote::ClientOptions& registry);

// A container's user as `docker run --user` takes it (name, uid,
// name:group, uid:gid) resolved against the image's /etc/passwd and
// /etc/group under `rootfs`, as runc does.
struct ContainerUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
};
Result<ContainerUser> ResolveContainerUser(const std::filesystem::path& rootfs,
                                           const std::string& user);

// ACR-compatible JSON:
// [{"image":{…},"runtime-dependency":{…},"buildtime-dependency":[…],"git":{…}}].
std::string DependenciesJson(const Dependencies& deps, const std::string& git_head = "");
// A build's: for an index, the entries of each of its images (each
// platform's bases).
std::string DependenciesJson(const BuildResult& built, const std::string& git_head = "");

}  // namespace drydock::builder
