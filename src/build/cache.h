// Internal to build/: the instruction cache shared by every build on the
// machine. A key (parent key + expanded instruction + the content it reads)
// maps to the layer that instruction made, or to "no layer"; the layer's
// blob and snapshot live in the LayerStore.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "build/store.h"

namespace drydock::build {

struct CachedLayer {
  bool empty = false;  // the instruction changed no files
  LayerRef layer;
  std::string created;  // the layer's history time, so rebuilds reproduce digests
};

class BuildCache {
 public:
  BuildCache(LayerStore& store, std::filesystem::path dir);

  // A hit only when the layer's blob and snapshot are still in the store.
  std::optional<CachedLayer> Lookup(const std::vector<LayerRef>& below,
                                    const std::string& key) const;
  // Records what `key` produced (nullopt: an empty layer). Written atomically:
  // builds running at the same time may record the same key.
  void Remember(const std::string& key, const std::optional<LayerRef>& layer,
                const std::string& created);

 private:
  LayerStore& store_;
  std::filesystem::path dir_;
};

}  // namespace drydock::build
