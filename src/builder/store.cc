#include "builder/store.h"
#include "base/json.h"

#include <unistd.h>

#include "base/fd.h"
#include "base/random.h"
#include "oci/manifest.h"
#include "oci/platform.h"

namespace drydock::builder {

namespace fs = std::filesystem;
using nlohmann::json;

oci::Digest ChainId(const std::vector<LayerRef>& below, const oci::Digest& diff_id) {
  if (below.empty()) return diff_id;
  return oci::Digest::Of(below.back().chain.str() + " " + diff_id.str());
}

LayerStore::LayerStore(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  for (const char* d : {"layers", "snapshots", "tmp"}) fs::create_directories(root_ / d, ec);
}

fs::path LayerStore::BlobPath(const oci::Digest& d) const { return root_ / "layers" / d.hex(); }
fs::path LayerStore::SnapshotPath(const oci::Digest& chain) const {
  return root_ / "snapshots" / chain.hex();
}
bool LayerStore::HasBlob(const oci::Digest& d) const { return fs::exists(BlobPath(d)); }
bool LayerStore::HasSnapshot(const oci::Digest& chain) const {
  return fs::exists(SnapshotPath(chain));
}

Status LayerStore::Ensure(const LayerRef& layer,
                          const std::function<Status(const fs::path&)>& fetch) {
  std::error_code ec;
  if (!HasBlob(layer.digest)) {
    fs::path tmp = scratch() / ("blob-" + RandomHex(8));
    Status s = fetch(tmp);
    if (!s.ok()) {
      fs::remove(tmp, ec);
      return s;
    }
    fs::rename(tmp, BlobPath(layer.digest), ec);
    if (ec) return Internal("store layer " + layer.digest.str() + ": " + ec.message());
  }
  if (HasSnapshot(layer.chain)) return Status::Ok();
  // Unpack beside the final name and rename: concurrent builds never see half a snapshot.
  fs::path tmp = scratch() / ("snap-" + RandomHex(8));
  Status s = layer::UnpackLayer(BlobPath(layer.digest), tmp);
  if (s.ok()) {
    fs::rename(tmp, SnapshotPath(layer.chain), ec);
    if (ec && !HasSnapshot(layer.chain)) s = Internal("store snapshot: " + ec.message());
  }
  fs::remove_all(tmp, ec);
  return s;
}

Status LayerStore::Adopt(const layer::LayerBlob& blob, const oci::Digest& chain,
                         const fs::path& upper) {
  std::error_code ec;
  if (!HasBlob(blob.digest)) fs::rename(blob.path, BlobPath(blob.digest), ec);
  if (ec) return Internal("store layer: " + ec.message());
  fs::remove(blob.path, ec);
  if (!HasSnapshot(chain)) {
    fs::rename(upper, SnapshotPath(chain), ec);
    if (ec && !HasSnapshot(chain)) return Internal("store snapshot: " + ec.message());
  }
  return Status::Ok();
}

Result<BaseImage> PullBase(remote::Client& client, LayerStore& store,
                           const oci::ImageReference& ref, const std::string& platform,
                           const std::function<void(std::string_view)>& log) {
  BaseImage base;
  base.ref = ref;
  auto top = client.GetManifest(ref);
  if (!top.ok())
    return Status(top.status().code(),
                  "pulling base image " + ref.String() + ": " + top.status().message());
  DD_ASSIGN_OR_RETURN(wanted, oci::ParsePlatform(platform));
  remote::Manifest image_manifest = *top;
  if (oci::IsIndexMediaType(top->media_type)) {
    auto pick = oci::PickPlatform(top->bytes, wanted, ref.String());
    if (!pick.ok()) return pick.status();
    oci::ImageReference by_digest = ref;
    by_digest.digest = *pick;
    auto m = client.GetManifest(by_digest);
    if (!m.ok()) return m.status();
    image_manifest = *m;
  }
  base.manifest_digest = image_manifest.digest.str();
  base.dependency = {ref.registry,      ref.repository,  ref.tag,
                     top->digest.str(), wanted.String(), base.manifest_digest};
  auto parsed = oci::ParseManifest(image_manifest.bytes, image_manifest.media_type);
  if (!parsed.ok()) return Invalid("base image " + ref.String() + ": " + parsed.status().message());
  if (!parsed->config)
    return Invalid("base image " + ref.String() + " is an index inside an index");
  auto config = client.FetchBlobBytes(ref, parsed->config->digest, 8 << 20);
  if (!config.ok()) return config.status();
  auto parsed_config = ParseJson(*config);
  if (!parsed_config.ok())
    return Invalid("base image " + ref.String() +
                   ": its config: " + parsed_config.status().message());
  base.config = std::move(*parsed_config);
  if (!base.config.is_object())
    return Invalid("base image " + ref.String() + " has a config that is not a JSON object");
  auto diff_ids = base.config.value("rootfs", json::object()).value("diff_ids", json::array());
  if (diff_ids.size() != parsed->layers.size()) {
    return Invalid("base image " + ref.String() + ": config lists " +
                   std::to_string(diff_ids.size()) + " diff IDs for " +
                   std::to_string(parsed->layers.size()) + " layers");
  }
  for (size_t i = 0; i < parsed->layers.size(); ++i) {
    const auto& l = parsed->layers[i];
    auto diff = oci::Digest::Parse(diff_ids[i].get<std::string>());
    if (!diff.ok()) return Invalid("base image " + ref.String() + ": " + diff.status().message());
    LayerRef layer{l.digest, l.size, l.media_type, *diff, ChainId(base.layers, *diff)};
    if (!store.HasBlob(layer.digest) && log) log("pulling layer " + layer.digest.str() + "\n");
    DD_RETURN_IF_ERROR(store.Ensure(
        layer, [&](const fs::path& dest) { return client.FetchBlob(ref, l.digest, dest); }));
    base.layers.push_back(layer);
  }
  return base;
}

}  // namespace drydock::builder
