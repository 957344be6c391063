// Internal to build/: the machine-wide layer store shared by every build —
// compressed layer blobs by digest and unpacked snapshots by chain ID — and
// pulling base images into it.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "builder/builder.h"
#include "layer/layer.h"
#include "oci/digest.h"
#include "remote/client.h"

namespace drydock::builder {

struct LayerRef {
  oci::Digest digest;  // compressed blob
  int64_t size = 0;
  std::string media_type;
  oci::Digest diff_id;
  oci::Digest chain;  // snapshot key
};

// ChainID(L1..Ln) = sha256(ChainID(L1..Ln-1) + " " + DiffID(Ln)), as the image spec defines.
oci::Digest ChainId(const std::vector<LayerRef>& below, const oci::Digest& diff_id);

class LayerStore {
 public:
  explicit LayerStore(std::filesystem::path root);
  std::filesystem::path BlobPath(const oci::Digest& d) const;
  std::filesystem::path SnapshotPath(const oci::Digest& chain) const;
  std::filesystem::path scratch() const { return root_ / "tmp"; }
  bool HasBlob(const oci::Digest& d) const;
  bool HasSnapshot(const oci::Digest& chain) const;

  // Makes sure `layer` is unpacked as its snapshot, fetching the blob with
  // `fetch` (which writes the file it is given) when it is not here yet.
  Status Ensure(const LayerRef& layer,
                const std::function<Status(const std::filesystem::path&)>& fetch);
  // Takes a layer a build just wrote: its blob file and its overlay upper dir.
  Status Adopt(const layer::LayerBlob& blob, const oci::Digest& chain,
               const std::filesystem::path& upper);

 private:
  std::filesystem::path root_;
};

struct BaseImage {
  nlohmann::json config;
  std::vector<LayerRef> layers;
  ImageDependency dependency;  // digest: what the reference resolved to
  oci::ImageReference ref;
  // The manifest the layers came from (of the platform, for an index).
  std::string manifest_digest;
};

Result<BaseImage> PullBase(remote::Client& client, LayerStore& store,
                           const oci::ImageReference& ref, const std::string& platform,
                           const std::function<void(std::string_view)>& log);

// An image this machine built (BuildResult), whose layers are all in
// `store` already, as a base: what `ref` names in a later build (of a
// multi-platform build, its image for `platform`).
Result<BaseImage> BuiltBase(const BuildResult& built, const LayerStore& store,
                            const oci::ImageReference& ref, const std::string& platform);

}  // namespace drydock::builder
