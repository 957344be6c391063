// Images to run rather than to build on: a task file's cmd steps get the
// image's layers from the builder's store, stacked for an overlay mount.
#include "attest/referrers.h"
#include "builder/builder.h"
#include "builder/cache.h"
#include "builder/store.h"
#include "oci/manifest.h"
#include "oci/platform.h"

namespace drydock::builder {

Result<ImageRoot> PullImageRoot(const oci::ImageReference& ref, const std::string& platform,
                                const std::filesystem::path& state_dir,
                                const remote::ClientOptions& registry,
                                const std::function<void(std::string_view)>& log) {
  // Held while the snapshots are in use: a prune never deletes them under us.
  DD_ASSIGN_OR_RETURN(lock, LockState(state_dir, log));
  remote::Client client(registry);
  LayerStore store(state_dir);
  DD_ASSIGN_OR_RETURN(base, PullBase(client, store, ref, platform, log));
  ImageRoot root;
  root.config = base.config.value("config", nlohmann::json::object());
  for (auto it = base.layers.rbegin(); it != base.layers.rend(); ++it)
    root.lowers.push_back(store.SnapshotPath(it->chain));
  root.resolved = base.dependency;
  root.lock = std::move(lock);
  return root;
}

namespace {

// Of a multi-platform build, the image for `platform` (the first when
// none matches); a single image is itself.
const BuildResult& ImageForPlatform(const BuildResult& built, const std::string& platform) {
  auto wanted = oci::ParsePlatform(platform);
  for (const auto& image : built.platform_images) {
    if (wanted.ok() &&
        oci::PlatformOf(nlohmann::json::parse(image.config, nullptr, false)).Matches(*wanted))
      return image;
  }
  return built.platform_images.empty() ? built : built.platform_images.front();
}

}  // namespace

Result<BaseImage> BuiltBase(const BuildResult& index, const LayerStore& store,
                            const oci::ImageReference& ref, const std::string& platform) {
  const BuildResult& built = ImageForPlatform(index, platform);
  auto manifest = oci::ParseManifest(built.manifest, built.media_type);
  if (!manifest.ok()) return manifest.status();
  BaseImage base;
  base.ref = ref;
  auto wanted = oci::ParsePlatform(platform);
  base.dependency = {ref.registry,
                     ref.repository,
                     ref.tag,
                     index.manifest_digest.str(),
                     wanted.ok() ? wanted->String() : platform,
                     built.manifest_digest.str()};
  base.manifest_digest = built.manifest_digest.str();
  base.config = nlohmann::json::parse(built.config, nullptr, false);
  if (!base.config.is_object()) return Internal("the built image's config is not JSON");
  auto diff_ids = base.config.value("rootfs", nlohmann::json::object())
                      .value("diff_ids", nlohmann::json::array());
  if (diff_ids.size() != manifest->layers.size())
    return Internal("the built image's config and manifest disagree on its layers");
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    const auto& l = manifest->layers[i];
    auto diff = oci::Digest::Parse(diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : "");
    if (!diff.ok()) return Internal("the built image's config: " + diff.status().message());
    LayerRef layer{l.digest, l.size, l.media_type, *diff, ChainId(base.layers, *diff)};
    if (!store.HasSnapshot(layer.chain))
      return NotFound("a layer of the built image " + ref.String() +
                      " was pruned from the cache; build it again");
    base.layers.push_back(layer);
  }
  return base;
}

Result<ImageRoot> LocalImageRoot(const BuildResult& built, const std::filesystem::path& state_dir,
                                 const std::function<void(std::string_view)>& log) {
  DD_ASSIGN_OR_RETURN(lock, LockState(state_dir, log));
  LayerStore store(state_dir);
  DD_ASSIGN_OR_RETURN(base, BuiltBase(built, store, {}, oci::HostPlatform().String()));
  ImageRoot root;
  root.config = base.config.value("config", nlohmann::json::object());
  for (auto it = base.layers.rbegin(); it != base.layers.rend(); ++it)
    root.lowers.push_back(store.SnapshotPath(it->chain));
  root.lock = std::move(lock);
  return root;
}

Status PushBuilt(const BuildResult& built, const oci::ImageReference& ref,
                 const std::filesystem::path& state_dir, const remote::ClientOptions& registry) {
  remote::Client client(registry);
  // An index: its images by digest first.
  for (const auto& image : built.platform_images) {
    oci::ImageReference by_digest = ref;
    by_digest.tag.clear();
    by_digest.digest = image.manifest_digest;
    DD_RETURN_IF_ERROR(PushBuilt(image, by_digest, state_dir, registry));
  }
  // As the build pushes: what describes the image (a signature a refusing
  // registry looks for) is there before the image is.
  for (const auto& a : built.attestations)
    DD_RETURN_IF_ERROR(attest::PushArtifact(client, ref, a.artifact));
  if (!built.platform_images.empty())
    return client.PushManifest(ref, built.manifest, built.media_type).status();
  auto manifest = oci::ParseManifest(built.manifest, built.media_type);
  if (!manifest.ok()) return manifest.status();
  LayerStore store(state_dir);
  // The base's layers are mounted from its repository on the same registry.
  const auto& base = built.dependencies.runtime;
  std::string mount_from = base && base->registry == ref.registry ? base->repository : "";
  for (const auto& l : manifest->layers)
    DD_RETURN_IF_ERROR(client.PushBlob(ref, l.digest, store.BlobPath(l.digest), mount_from));
  DD_RETURN_IF_ERROR(client.PushBlobBytes(ref, built.config_digest, built.config));
  return client.PushManifest(ref, built.manifest, built.media_type).status();
}

}  // namespace drydock::builder
