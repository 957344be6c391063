// Internal to build/: the instruction cache shared by every build on the
// machine. A key (parent key + expanded instruction + the content it reads)
// maps to the layer that instruction made, or to "no layer"; the layer's
// blob and snapshot live in the LayerStore. Records can be exported to a
// registry as an image (--cache-to) and imported by builds elsewhere
// (--cache-from); the state dir is kept under a size bound by PruneCache.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "builder/store.h"
#include "layer/layer.h"
#include "oci/reference.h"
#include "remote/client.h"

namespace drydock::builder {

// The config media type of a cache image written by --cache-to.
inline constexpr char kCacheConfigMediaType[] = "application/vnd.drydock.build.cache.v1+json";

struct CachedLayer {
  bool empty = false;  // the instruction changed no files
  LayerRef layer;
  std::string created;  // the layer's history time, so rebuilds reproduce digests
};

using LogFunction = std::function<void(std::string_view)>;

// Thread-safe: stages of one build look up and record from several threads.
class BuildCache {
 public:
  // `compression` is the one this build writes layers with: records are kept
  // per compression, so a zstd build never reuses a gzip blob. `client`
  // fetches layers of imported records.
  BuildCache(LayerStore& store, std::filesystem::path dir, layer::Compression compression,
             remote::Client& client, LogFunction log);

  // Loads the records of cache images pushed by --cache-to; the first image
  // naming a key wins. A missing or unreadable image is logged, not an error:
  // the build then just runs the steps.
  void Import(const std::vector<oci::ImageReference>& refs);

  // A hit when the layer's blob and snapshot are in the store, or when an
  // imported record names it (its blob is then fetched and unpacked as the
  // snapshot on top of `below`, and the record is written locally). A hit
  // counts as a use for PruneCache's LRU order.
  std::optional<CachedLayer> Lookup(const std::vector<LayerRef>& below, const std::string& key);
  // Records what `key` produced on top of `below` (nullopt: an empty layer).
  // Written atomically: builds running at the same time may record the same key.
  void Remember(const std::vector<LayerRef>& below, const std::string& key,
                const std::optional<LayerRef>& layer, const std::string& created);

  // Pushes every record this build used or made, with their layer blobs, as
  // an image at `ref` (blobs are mounted from `mount_from` when it has them).
  Status Export(const oci::ImageReference& ref, const std::string& mount_from = "");

 private:
  struct Imported {
    oci::ImageReference from;
    CachedLayer record;
  };
  std::string RecordName(const std::string& key) const;
  std::optional<CachedLayer> LookupLocal(const std::vector<LayerRef>& below,
                                         const std::string& name);
  std::optional<CachedLayer> LookupImported(const std::vector<LayerRef>& below,
                                            const std::string& name);
  void Write(const std::vector<LayerRef>& below, const std::string& name,
             const std::optional<LayerRef>& layer, const std::string& created);
  Status ImportOne(const oci::ImageReference& ref);
  void Log(const std::string& s) const;

  LayerStore& store_;
  std::filesystem::path dir_;
  layer::Compression compression_;
  remote::Client& client_;
  LogFunction log_;
  std::mutex mu_;                               // guards the two maps below
  std::map<std::string, Imported> imported_;    // by record name
  std::map<std::string, CachedLayer> touched_;  // records this build used or made, for Export
};

// Every build holds a shared flock(2) on <state>/lock while it runs, so a
// prune (which needs it exclusively) never deletes what a build is using.
// Waits while a prune runs.
Result<UniqueFd> LockState(const std::filesystem::path& state_dir, const LogFunction& log);

// After a build, with the lock LockState gave it: when the state dir's
// layers + snapshots exceed `max_bytes` (0: no bound), deletes the blobs and
// snapshots no cache record references, then the least recently used records
// and what only they referenced, until under the bound. Skipped (not waited
// for) while any other build holds the lock.
void PruneCache(const std::filesystem::path& state_dir, uint64_t max_bytes, UniqueFd lock,
                const LogFunction& log);

}  // namespace drydock::builder
