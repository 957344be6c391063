#include "build/cache.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "base/random.h"

namespace drydock::build {

namespace fs = std::filesystem;
using nlohmann::json;

BuildCache::BuildCache(LayerStore& store, fs::path dir) : store_(store), dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

std::optional<CachedLayer> BuildCache::Lookup(const std::vector<LayerRef>& below,
                                              const std::string& key) const {
  std::ifstream f(dir_ / key);
  json j = json::parse(f, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  if (j.value("empty", false)) return CachedLayer{true, {}, ""};
  auto digest = oci::Digest::Parse(j.value("digest", ""));
  auto diff = oci::Digest::Parse(j.value("diff_id", ""));
  if (!digest.ok() || !diff.ok()) return std::nullopt;
  LayerRef l{*digest, j.value("size", int64_t{0}), j.value("media_type", ""), *diff,
             ChainId(below, *diff)};
  if (!store_.HasBlob(l.digest) || !store_.HasSnapshot(l.chain)) return std::nullopt;
  return CachedLayer{false, l, j.value("created", "")};
}

void BuildCache::Remember(const std::string& key, const std::optional<LayerRef>& layer,
                          const std::string& created) {
  json j = layer ? json{{"digest", layer->digest.str()},
                        {"diff_id", layer->diff_id.str()},
                        {"size", layer->size},
                        {"media_type", layer->media_type},
                        {"created", created}}
                 : json{{"empty", true}};
  fs::path tmp = dir_ / (key + ".tmp" + RandomHex(4));
  std::ofstream(tmp) << j.dump();
  std::error_code ec;
  fs::rename(tmp, dir_ / key, ec);
}

}  // namespace drydock::build
