#include "builder/cache.h"
#include "base/json.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "base/random.h"

namespace drydock::builder {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The layers below a record, as PruneCache needs them: a record keeps its
// whole stack (base layers included) alive, since a hit is only usable with
// every lower snapshot present.
json LowerJson(const std::vector<LayerRef>& below) {
  json lower = json::array();
  for (const auto& l : below)
    lower.push_back({{"digest", l.digest.str()}, {"chain", l.chain.str()}});
  return lower;
}

// A record's layer fields, as stored locally and exported.
json LayerJson(const LayerRef& l, const std::string& created) {
  return {{"digest", l.digest.str()},
          {"diff_id", l.diff_id.str()},
          {"size", l.size},
          {"media_type", l.media_type},
          {"created", created}};
}

// Parses LayerJson (or {"empty": true}); the chain is left for the caller.
// Imported records come from a registry: anything malformed is no record.
std::optional<CachedLayer> ParseRecord(const json& j) try {
  if (!j.is_object()) return std::nullopt;
  if (j.value("empty", false)) return CachedLayer{true, {}, ""};
  auto digest = oci::Digest::Parse(j.value("digest", ""));
  auto diff = oci::Digest::Parse(j.value("diff_id", ""));
  if (!digest.ok() || !diff.ok()) return std::nullopt;
  int64_t size = j.value("size", int64_t{0});
  std::string media_type = j.value("media_type", "");
  if (size <= 0 || media_type.empty()) return std::nullopt;
  return CachedLayer{false, LayerRef{*digest, size, media_type, *diff, {}}, j.value("created", "")};
} catch (const json::exception&) {
  return std::nullopt;
}

const char* CompressionName(layer::Compression c) {
  switch (c) {
    case layer::Compression::kGzip:
      return "gzip";
    case layer::Compression::kZstd:
      return "zstd";
    case layer::Compression::kNone:
      break;
  }
  return "none";
}

}  // namespace

BuildCache::BuildCache(LayerStore& store, fs::path dir, layer::Compression compression,
                       remote::Client& client, LogFunction log)
    : store_(store),
      dir_(std::move(dir)),
      compression_(compression),
      client_(client),
      log_(std::move(log)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

void BuildCache::Log(const std::string& s) const {
  if (log_) log_(s);
}

// gzip keeps the plain key, so caches from before --compression stay valid.
std::string BuildCache::RecordName(const std::string& key) const {
  if (compression_ == layer::Compression::kGzip) return key;
  return oci::Digest::Of(key + "\ncompression " + CompressionName(compression_)).hex();
}

std::optional<CachedLayer> BuildCache::Lookup(const std::vector<LayerRef>& below,
                                              const std::string& key) {
  std::string name = RecordName(key);
  auto hit = LookupLocal(below, name);
  if (!hit) hit = LookupImported(below, name);
  if (hit) {
    std::lock_guard lock(mu_);
    touched_[name] = *hit;
  }
  return hit;
}

std::optional<CachedLayer> BuildCache::LookupLocal(const std::vector<LayerRef>& below,
                                                   const std::string& name) {
  fs::path path = dir_ / name;
  std::ifstream f(path);
  json j = json::parse(f, nullptr, false);
  auto hit = ParseRecord(j);
  if (!hit) return std::nullopt;
  if (!hit->empty) {
    hit->layer.chain = ChainId(below, hit->layer.diff_id);
    if (!store_.HasBlob(hit->layer.digest)) return std::nullopt;
    // The blob is here but not unpacked on this stack: a COPY --link layer
    // on another base, or a snapshot the prune took. Unpacking beats rebuilding.
    if (!store_.HasSnapshot(hit->layer.chain) &&
        !store_.Ensure(hit->layer, [](const fs::path&) { return Internal("blob vanished"); })
             .ok()) {
      return std::nullopt;
    }
    // PruneCache keeps alive what a record names: rewrite records from
    // before "lower" existed, or whose stack had other blobs for the same
    // chain (a re-compressed base), to name what this build uses.
    if (j.value("chain", json()) != json(hit->layer.chain.str()) ||
        j.value("lower", json()) != LowerJson(below)) {
      Write(below, name, hit->layer, hit->created);
      return hit;
    }
  }
  // The record's mtime is its last use: PruneCache drops the oldest first.
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  return hit;
}

std::optional<CachedLayer> BuildCache::LookupImported(const std::vector<LayerRef>& below,
                                                      const std::string& name) {
  Imported imp;
  {
    std::lock_guard lock(mu_);
    auto it = imported_.find(name);
    if (it == imported_.end()) return std::nullopt;
    imp = it->second;
  }
  if (imp.record.empty) {
    Write(below, name, std::nullopt, "");
    return imp.record;
  }
  LayerRef l = imp.record.layer;
  l.chain = ChainId(below, l.diff_id);
  if (!store_.HasBlob(l.digest))
    Log("  fetching cached layer " + l.digest.str() + " from " + imp.from.String() + "\n");
  Status s = store_.Ensure(
      l, [&](const fs::path& dest) { return client_.FetchBlob(imp.from, l.digest, dest); });
  if (!s.ok()) {
    Log("  warning: cache " + imp.from.String() + ": " + s.message() + "\n");
    return std::nullopt;
  }
  Write(below, name, l, imp.record.created);
  return CachedLayer{false, l, imp.record.created};
}

void BuildCache::Remember(const std::vector<LayerRef>& below, const std::string& key,
                          const std::optional<LayerRef>& layer, const std::string& created) {
  std::string name = RecordName(key);
  Write(below, name, layer, created);
  std::lock_guard lock(mu_);
  touched_[name] = layer ? CachedLayer{false, *layer, created} : CachedLayer{true, {}, ""};
}

void BuildCache::Write(const std::vector<LayerRef>& below, const std::string& name,
                       const std::optional<LayerRef>& layer, const std::string& created) {
  json j = json{{"empty", true}};
  if (layer) {
    j = LayerJson(*layer, created);
    j["chain"] = layer->chain.str();
    j["lower"] = LowerJson(below);
  }
  fs::path tmp = dir_ / (name + ".tmp" + RandomHex(4));
  std::ofstream(tmp) << j.dump();
  std::error_code ec;
  fs::rename(tmp, dir_ / name, ec);
  if (ec) fs::remove(tmp, ec);
}

void BuildCache::Import(const std::vector<oci::ImageReference>& refs) {
  for (const auto& ref : refs) {
    Status s = ImportOne(ref);
    if (!s.ok()) Log("warning: --cache-from " + ref.String() + ": " + s.message() + "\n");
  }
}

Status BuildCache::ImportOne(const oci::ImageReference& ref) try {
  auto manifest = client_.GetManifest(ref);
  if (!manifest.ok()) return manifest.status();
  json m = ParseJson(manifest->bytes).value_or(json());
  if (!m.is_object()) return Invalid("the cache manifest is not JSON");
  json config = m.value("config", json::object());
  if (!config.is_object() || config.value("mediaType", "") != kCacheConfigMediaType)
    return Invalid("not a drydock build cache (config media type is not " +
                   std::string(kCacheConfigMediaType) + ")");
  auto config_digest = oci::Digest::Parse(config.value("digest", ""));
  if (!config_digest.ok()) return config_digest.status();
  auto bytes = client_.FetchBlobBytes(ref, *config_digest, 64 << 20);
  if (!bytes.ok()) return bytes.status();
  json parsed = ParseJson(*bytes).value_or(json());
  json records = parsed.is_object() ? parsed.value("records", json()) : json();
  if (!records.is_object()) return Invalid("the cache config has no records");
  // Only layers the manifest lists are sure to be in the repository.
  std::map<std::string, bool> listed;
  for (const auto& l : m.value("layers", json::array())) {
    if (l.is_object()) listed[l.value("digest", "")] = true;
  }
  size_t n = 0;
  std::lock_guard lock(mu_);
  for (const auto& [name, r] : records.items()) {
    auto record = ParseRecord(r);
    if (!record || (!record->empty && !listed.count(record->layer.digest.str()))) continue;
    if (imported_.emplace(name, Imported{ref, *record}).second) ++n;
  }
  Log("imported " + std::to_string(n) + " cache records from " + ref.String() + "\n");
  return Status::Ok();
} catch (const json::exception& e) {
  return Invalid(std::string("malformed cache image: ") + e.what());
}

Status BuildCache::Export(const oci::ImageReference& ref, const std::string& mount_from) {
  std::map<std::string, CachedLayer> touched;
  {
    std::lock_guard lock(mu_);
    touched = touched_;
  }
  json records = json::object();
  json layers = json::array();
  std::map<oci::Digest, bool> pushed;
  for (const auto& [name, r] : touched) {
    if (r.empty) {
      records[name] = {{"empty", true}};
      continue;
    }
    records[name] = LayerJson(r.layer, r.created);
    if (pushed[r.layer.digest]) continue;
    pushed[r.layer.digest] = true;
    DD_RETURN_IF_ERROR(
        client_.PushBlob(ref, r.layer.digest, store_.BlobPath(r.layer.digest), mount_from));
    layers.push_back({{"mediaType", r.layer.media_type},
                      {"digest", r.layer.digest.str()},
                      {"size", r.layer.size}});
  }
  std::string config = json{{"records", records}}.dump();
  auto config_digest = oci::Digest::Of(config);
  DD_RETURN_IF_ERROR(client_.PushBlobBytes(ref, config_digest, config));
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", kCacheConfigMediaType},
                     {"digest", config_digest.str()},
                     {"size", config.size()}}},
                   {"layers", layers}};
  auto digest =
      client_.PushManifest(ref, manifest.dump(), "application/vnd.oci.image.manifest.v1+json");
  if (!digest.ok()) return digest.status();
  Log("exported " + std::to_string(touched.size()) + " cache records to " + ref.String() + "\n");
  return Status::Ok();
}

}  // namespace drydock::builder
