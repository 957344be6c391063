// The rebased image's config and manifest: the new base's layers and
// history, then the image's own, unchanged.
#include "oci/manifest.h"
#include "rebase/rebase.h"

namespace drydock::rebase {
namespace {

using nlohmann::json;

json ArrayAt(const json& j, const char* key) {
  auto f = j.find(key);
  return f != j.end() && f->is_array() ? *f : json::array();
}

// A layer keeps its compression; its media type follows the manifest's
// family (Docker has no zstd type, so zstd stays OCI's), as the builder does.
std::string LayerType(const std::string& type, bool docker) {
  bool gzip = type.find("gzip") != std::string::npos;
  if (!docker || type.find("zstd") != std::string::npos) {
    if (type.find("zstd") != std::string::npos)
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    return gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                : "application/vnd.oci.image.layer.v1.tar";
  }
  return gzip ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
              : "application/vnd.docker.image.rootfs.diff.tar";
}

// Labels the image set itself win; the rest come from the new base.
json Labels(const json& image, const json& old_base, const json& new_base) {
  auto labels = [](const json& c) {
    auto cfg = c.find("config");
    if (cfg == c.end() || !cfg->is_object()) return json::object();
    auto l = cfg->find("Labels");
    return l != cfg->end() && l->is_object() ? *l : json::object();
  };
  json out = labels(new_base), was = labels(old_base), own = labels(image);
  for (const auto& [k, v] : own.items())
    if (!was.contains(k) || was[k] != v) out[k] = v;
  return out;
}

}  // namespace

Result<Spliced> Splice(const json& image_manifest, const json& image_config,
                       const json& old_base_config, const json& new_base_manifest,
                       const json& new_base_config, int64_t base_layers,
                       const std::map<std::string, std::string>& annotations) {
  json diff_ids = json::array();
  json own_diffs = ArrayAt(image_config.value("rootfs", json::object()), "diff_ids");
  json new_diffs = ArrayAt(new_base_config.value("rootfs", json::object()), "diff_ids");
  json own_layers = ArrayAt(image_manifest, "layers");
  json new_layers = ArrayAt(new_base_manifest, "layers");
  auto n = static_cast<size_t>(base_layers);
  if (base_layers < 0 || own_diffs.size() < n || own_layers.size() != own_diffs.size() ||
      new_layers.size() != new_diffs.size())
    return Invalid("the image's or the new base's layers do not match their config's diff_ids");
  json old_history = ArrayAt(old_base_config, "history");
  json own_history = ArrayAt(image_config, "history");
  if (own_history.size() < old_history.size() ||
      !std::equal(old_history.begin(), old_history.end(), own_history.begin()))
    return Invalid("the image's history does not start with the old base's");

  json config = image_config;
  for (const auto& d : new_diffs) diff_ids.push_back(d);
  for (size_t i = n; i < own_diffs.size(); ++i) diff_ids.push_back(own_diffs[i]);
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  json history = ArrayAt(new_base_config, "history");
  for (size_t i = old_history.size(); i < own_history.size(); ++i)
    history.push_back(own_history[i]);
  if (!history.empty()) config["history"] = history;
  json labels = Labels(image_config, old_base_config, new_base_config);
  if (!labels.empty())
    config["config"]["Labels"] = labels;
  else if (config.contains("config") && config["config"].is_object())
    config["config"].erase("Labels");

  Spliced out;
  out.config = config.dump();
  json manifest = image_manifest;
  std::string type = manifest.value("mediaType", std::string(oci::kOciManifest));
  bool docker = type == oci::kDockerManifest;
  json layers = json::array();
  for (auto l : new_layers) {
    l["mediaType"] = LayerType(l.value("mediaType", ""), docker);
    layers.push_back(l);
  }
  for (size_t i = n; i < own_layers.size(); ++i) layers.push_back(own_layers[i]);
  manifest["layers"] = layers;
  manifest["config"]["digest"] = oci::Digest::Of(out.config).str();
  manifest["config"]["size"] = out.config.size();
  for (const auto& [k, v] : annotations) manifest["annotations"][k] = v;
  out.manifest = manifest.dump();
  return out;
}

}  // namespace drydock::rebase
