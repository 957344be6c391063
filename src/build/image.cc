#include "build/image.h"

#include <fstream>

namespace drydock::build {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string LayerMediaType(const std::string& original, bool docker) {
  bool zstd = original.find("zstd") != std::string::npos;
  bool gzip = original.find("gzip") != std::string::npos;
  if (docker) {
    if (zstd) return "application/vnd.oci.image.layer.v1.tar+zstd";  // Docker has no zstd type
    return gzip ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
                : "application/vnd.docker.image.rootfs.diff.tar";
  }
  if (zstd) return "application/vnd.oci.image.layer.v1.tar+zstd";
  return gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
              : "application/vnd.oci.image.layer.v1.tar";
}

Status WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
  return f ? Status::Ok() : Internal("write " + p.string());
}

}  // namespace

Result<AssembledImage> AssembleImage(const json& config, const std::vector<LayerRef>& layers,
                                     bool docker) {
  AssembledImage image;
  json c = config;
  c["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
  for (const auto& l : layers) c["rootfs"]["diff_ids"].push_back(l.diff_id.str());
  image.config = c.dump();
  json layer_list = json::array();
  for (auto l : layers) {
    l.media_type = LayerMediaType(l.media_type, docker);
    layer_list.push_back(
        {{"mediaType", l.media_type}, {"digest", l.digest.str()}, {"size", l.size}});
    image.layers.push_back(l);
  }
  image.media_type = docker ? "application/vnd.docker.distribution.manifest.v2+json"
                            : "application/vnd.oci.image.manifest.v1+json";
  json m = {{"schemaVersion", 2},
            {"mediaType", image.media_type},
            {"config",
             {{"mediaType", docker ? "application/vnd.docker.container.image.v1+json"
                                   : "application/vnd.oci.image.config.v1+json"},
              {"digest", oci::Digest::Of(image.config).str()},
              {"size", image.config.size()}}},
            {"layers", layer_list}};
  image.manifest = m.dump();
  return image;
}

Status PushImage(remote::Client& client, LayerStore& store, const AssembledImage& image,
                 const oci::ImageReference& tag, const std::optional<oci::ImageReference>& base) {
  std::string mount_from = base && base->registry == tag.registry ? base->repository : "";
  for (const auto& l : image.layers) {
    DD_RETURN_IF_ERROR(client.PushBlob(tag, l.digest, store.BlobPath(l.digest), mount_from));
  }
  DD_RETURN_IF_ERROR(client.PushBlobBytes(tag, oci::Digest::Of(image.config), image.config));
  auto pushed = client.PushManifest(tag, image.manifest, image.media_type);
  return pushed.ok() ? Status::Ok() : pushed.status();
}

Status WriteOutput(LayerStore& store, const AssembledImage& image, const std::string& output,
                   const std::vector<oci::ImageReference>& tags) {
  if (output.rfind("oci:", 0) != 0)
    return Invalid("--output must be oci:DIR (got '" + output + "')");
  fs::path dir = output.substr(4);
  fs::path blobs = dir / "blobs" / "sha256";
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) return Internal("create " + blobs.string() + ": " + ec.message());
  for (const auto& l : image.layers) {
    if (!fs::exists(blobs / l.digest.hex()))
      fs::copy_file(store.BlobPath(l.digest), blobs / l.digest.hex(), ec);
    if (ec) return Internal("copy layer into " + dir.string() + ": " + ec.message());
  }
  DD_RETURN_IF_ERROR(WriteFile(blobs / oci::Digest::Of(image.config).hex(), image.config));
  auto manifest_digest = oci::Digest::Of(image.manifest);
  DD_RETURN_IF_ERROR(WriteFile(blobs / manifest_digest.hex(), image.manifest));
  DD_RETURN_IF_ERROR(WriteFile(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", json::array()}};
  if (std::ifstream f(dir / "index.json"); f) {
    json old = json::parse(f, nullptr, false);
    if (old.is_object() && old.contains("manifests")) index["manifests"] = old["manifests"];
  }
  std::vector<std::string> names;
  for (const auto& t : tags) names.push_back(t.tag);
  if (names.empty()) names.push_back("");
  for (const auto& name : names) {
    json desc = {{"mediaType", image.media_type},
                 {"digest", manifest_digest.str()},
                 {"size", image.manifest.size()}};
    if (!name.empty()) desc["annotations"] = {{"org.opencontainers.image.ref.name", name}};
    auto& list = index["manifests"];
    for (auto it = list.begin(); it != list.end();) {  // a tag names one image
      bool same =
          !name.empty() &&
          it->value("annotations", json::object()).value("org.opencontainers.image.ref.name", "") ==
              name;
      it = same ? list.erase(it) : it + 1;
    }
    list.push_back(desc);
  }
  return WriteFile(dir / "index.json", index.dump());
}

}  // namespace drydock::build
