// Fetch what the gate needs, decide, splice and push: the new base's
// layers are mounted from its repository (no bytes copied on one
// registry), the image's own layers are already where they go.
#include "rebase/rebase.h"

#include <chrono>

#include "base/fd.h"
#include "base/json.h"
#include "oci/manifest.h"

namespace drydock::rebase {
namespace {

using nlohmann::json;
constexpr size_t kMaxConfig = 8 << 20;

struct Image {
  oci::ImageReference ref;  // by digest
  json manifest, config;
  std::vector<oci::Digest> layers;
};

// An image from its manifest `m`, fetched through `ref`.
Result<Image> FromManifest(remote::Client& client, oci::ImageReference ref,
                           const Result<remote::Manifest>& m, const std::string& what) {
  if (!m.ok()) return Status(m.status().code(), what + ": " + m.status().message());
  auto parsed = oci::ParseManifest(m->bytes, m->media_type);
  if (!parsed.ok()) return Invalid(what + ": " + parsed.status().message());
  if (!parsed->config)
    return Invalid(what + " is a multi-platform index; rebase takes one platform's image");
  Image image;
  ref.digest = m->digest;
  image.ref = ref;
  DD_ASSIGN_OR_RETURN(manifest, ParseJson(m->bytes));
  image.manifest = std::move(manifest);
  auto config = client.FetchBlobBytes(ref, parsed->config->digest, kMaxConfig);
  if (!config.ok())
    return Status(config.status().code(), what + "'s config: " + config.status().message());
  auto cfg = ParseJson(*config);
  if (!cfg.ok() || !cfg->is_object()) return Invalid(what + "'s config is not a JSON object");
  image.config = std::move(*cfg);
  for (const auto& l : parsed->layers) image.layers.push_back(l.digest);
  return image;
}

Result<Image> Fetch(remote::Client& client, const oci::ImageReference& ref,
                    const std::string& what) {
  return FromManifest(client, ref, client.GetManifest(ref), what);
}

// The image `ref` names for the platform of `like` (an index is resolved);
// what `ref` itself resolved to goes to `resolved`.
Result<Image> ForPlatform(remote::Client& client, oci::ImageReference ref, const json& like,
                          std::string& resolved) {
  const std::string what = "new base " + ref.String();
  auto m = client.GetManifest(ref);
  if (!m.ok()) return Status(m.status().code(), what + ": " + m.status().message());
  resolved = m->digest.str();
  if (!oci::IsIndexMediaType(m->media_type)) return FromManifest(client, ref, m, what);
  DD_ASSIGN_OR_RETURN(index, ParseJson(m->bytes));
  std::string os = like.value("os", "linux"), arch = like.value("architecture", "amd64"),
              variant = like.value("variant", "");
  for (const auto& d : index.value("manifests", json::array())) {
    json p = d.value("platform", json::object());
    if (p.value("os", "") == os && p.value("architecture", "") == arch &&
        (variant.empty() || p.value("variant", "") == variant)) {
      DD_ASSIGN_OR_RETURN(digest, oci::Digest::Parse(d.value("digest", "")));
      ref.digest = digest;
      return Fetch(client, ref, what);
    }
  }
  return NotFound(what + " has no image for " + os + "/" + arch);
}

std::string Annotation(const json& manifest, const char* key) {
  auto a = manifest.find("annotations");
  if (a == manifest.end() || !a->is_object()) return "";
  auto v = a->find(key);
  return v != a->end() && v->is_string() ? v->get<std::string>() : "";
}

class Rebaser {
 public:
  Rebaser(remote::Client& client, const Options& o) : client_(client), o_(o) {}

  Result<std::shared_ptr<const std::vector<layer::LayerEntry>>> Entries(
      const oci::ImageReference& repo, const oci::Digest& blob) {
    if (o_.index)
      if (auto hit = o_.index->Find(blob)) return hit;
    auto file = o_.scratch / blob.hex();
    DD_RETURN_IF_ERROR(client_.FetchBlob(repo, blob, file));
    auto listed = layer::ListLayer(file);
    std::error_code ec;
    std::filesystem::remove(file, ec);
    if (!listed.ok()) return listed.status();
    auto entries = std::make_shared<const std::vector<layer::LayerEntry>>(std::move(*listed));
    if (o_.index) o_.index->Add(blob, entries);
    return entries;
  }

  Status AddPaths(const Image& image, std::map<std::string, bool>& paths) {
    for (const auto& l : image.layers) {
      DD_ASSIGN_OR_RETURN(entries, Entries(image.ref, l));
      for (const auto& e : *entries)
        if (e.kind == layer::LayerEntry::kFile || e.kind == layer::LayerEntry::kDirectory)
          paths.emplace(e.path, e.kind == layer::LayerEntry::kDirectory);
    }
    return Status::Ok();
  }

  // `blob` into `target`'s repository: there already, mounted from `from`
  // (same registry), or copied through the scratch directory.
  Status Ensure(const oci::ImageReference& target, const oci::Digest& blob,
                const oci::ImageReference& from) {
    if (target.registry == from.registry) {
      auto mounted = client_.MountBlob(target, blob, from.repository);
      if (!mounted.ok()) return mounted.status();
      if (*mounted) return Status::Ok();
    }
    auto file = o_.scratch / ("copy-" + blob.hex());
    DD_RETURN_IF_ERROR(client_.FetchBlob(from, blob, file));
    Status pushed = client_.PushBlob(target, blob, file);
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return pushed;
  }

  void Log(const std::string& line) {
    if (o_.log) o_.log(line + "\n");
  }

 private:
  remote::Client& client_;
  const Options& o_;
};

Result<Outcome> RebaseImage(remote::Client& client, const oci::ImageReference& image_ref,
                            const oci::ImageReference& onto_ref, const Options& o) {
  auto start = std::chrono::steady_clock::now();
  Outcome out;
  auto finish = [&](Outcome::Kind kind) {
    out.kind = kind;
    out.milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
    return out;
  };
  Rebaser r(client, o);
  DD_ASSIGN_OR_RETURN(image, Fetch(client, image_ref, "image " + image_ref.String()));
  out.base_name = Annotation(image.manifest, kBaseName);
  std::string old_digest = Annotation(image.manifest, kBaseDigest);
  std::string layers_text = Annotation(image.manifest, kBaseLayers);
  if (out.base_name.empty() || old_digest.empty() || layers_text.empty() ||
      layers_text.find_first_not_of("0123456789") != std::string::npos || layers_text.size() > 6) {
    out.reasons.push_back(std::string("the image does not record its base (annotations ") +
                          kBaseName + ", " + kBaseDigest + ", " + kBaseLayers +
                          "): it was not built by Drydock, or is built FROM scratch");
    return finish(Outcome::kRefused);
  }
  DD_ASSIGN_OR_RETURN(base_ref, oci::ParseImageReference(out.base_name, image_ref.registry));
  if (const auto& e = o.expect_base;
      e && (e->registry != base_ref.registry || e->repository != base_ref.repository ||
            e->tag != base_ref.tag)) {
    out.reasons.push_back("the image was built on " + out.base_name + ", not on " + e->String());
    return finish(Outcome::kRefused);
  }
  DD_ASSIGN_OR_RETURN(old_base_digest, oci::Digest::Parse(old_digest));
  out.old_base_digest = old_digest;
  oci::ImageReference old_ref = base_ref;
  old_ref.digest = old_base_digest;
  DD_ASSIGN_OR_RETURN(old_base, Fetch(client, old_ref, "old base " + old_ref.String()));
  oci::ImageReference onto = onto_ref.repository.empty() ? base_ref : onto_ref;
  DD_ASSIGN_OR_RETURN(new_base, ForPlatform(client, onto, image.config, out.new_base_resolved));
  const oci::ImageReference& new_ref = new_base.ref;
  out.new_base_digest = new_ref.digest->str();
  if (*new_ref.digest == old_base_digest) return finish(Outcome::kUpToDate);

  GateInput in;
  in.image_config = image.config;
  in.old_base_config = old_base.config;
  in.new_base_config = new_base.config;
  in.image_layers = image.layers;
  in.old_base_layers = old_base.layers;
  in.base_layers = std::stoll(layers_text);
  in.run_steps = std::atoll(Annotation(image.manifest, kRunSteps).c_str());
  in.allow_run_steps = o.allow_run_steps;
  if (in.base_layers == static_cast<int64_t>(old_base.layers.size())) {
    // Only worth listing when the layers line up at all.
    for (size_t i = static_cast<size_t>(in.base_layers); i < image.layers.size(); ++i) {
      DD_ASSIGN_OR_RETURN(entries, r.Entries(image.ref, image.layers[i]));
      in.own_entries.insert(in.own_entries.end(), entries->begin(), entries->end());
    }
    DD_RETURN_IF_ERROR(r.AddPaths(old_base, in.base_paths));
    DD_RETURN_IF_ERROR(r.AddPaths(new_base, in.base_paths));
  }
  out.reasons = GateReasons(in);
  if (!out.reasons.empty()) return finish(Outcome::kRefused);

  oci::ImageReference named = onto;
  named.digest.reset();
  std::map<std::string, std::string> annotations = {
      {kBaseName, named.String()},
      {kBaseDigest, out.new_base_digest},
      {kBaseLayers, std::to_string(new_base.layers.size())}};
  auto spliced = Splice(image.manifest, image.config, old_base.config, new_base.manifest,
                        new_base.config, in.base_layers, annotations);
  if (!spliced.ok()) {
    out.reasons.push_back(spliced.status().message());
    return finish(Outcome::kRefused);
  }
  out.manifest = spliced->manifest;
  out.media_type = image.manifest.value("mediaType", std::string(oci::kOciManifest));
  out.digest = oci::Digest::Of(out.manifest);
  if (o.dry_run) return finish(Outcome::kDryRun);

  std::vector<oci::ImageReference> tags = o.tags;
  if (tags.empty()) tags.push_back(image_ref);
  std::map<std::string, bool> done;  // repositories holding every blob
  for (const auto& tag : tags) {
    if (done[tag.RepositoryWithRegistry()]) continue;
    r.Log("mounting " + std::to_string(new_base.layers.size()) + " base layer(s) from " +
          new_ref.repository + " into " + tag.repository);
    for (const auto& l : new_base.layers) DD_RETURN_IF_ERROR(r.Ensure(tag, l, new_ref));
    for (size_t i = static_cast<size_t>(in.base_layers); i < image.layers.size(); ++i)
      DD_RETURN_IF_ERROR(r.Ensure(tag, image.layers[i], image.ref));
    DD_RETURN_IF_ERROR(
        client.PushBlobBytes(tag, oci::Digest::Of(spliced->config), spliced->config));
    oci::ImageReference by_digest = tag;
    by_digest.tag.clear();
    by_digest.digest = out.digest;
    DD_RETURN_IF_ERROR(client.PushManifest(by_digest, out.manifest, out.media_type).status());
    done[tag.RepositoryWithRegistry()] = true;
  }
  if (o.verify) {
    oci::ImageReference rebased = tags.front();
    rebased.tag.clear();
    rebased.digest = out.digest;
    Status verified = o.verify(rebased);
    if (!verified.ok()) {
      out.reasons.push_back("verification failed: " + verified.message());
      return finish(Outcome::kVerifyFailed);
    }
  }
  for (const auto& tag : tags) {
    if (tag.tag.empty()) continue;  // an image named by digest: pushed above, no tag
    oci::ImageReference t = tag;
    t.digest.reset();
    DD_RETURN_IF_ERROR(client.PushManifest(t, out.manifest, out.media_type).status());
    r.Log("tagged " + t.String() + " " + out.digest.str());
  }
  return finish(Outcome::kRebased);
}

}  // namespace

Result<Outcome> Rebase(remote::Client& client, const oci::ImageReference& image,
                       const oci::ImageReference& onto, const Options& options) {
  // Manifests and configs are the pushers': a field of an unexpected JSON
  // type is a clear error, never an exception out of an agent's thread.
  try {
    return RebaseImage(client, image, onto, options);
  } catch (const json::exception& e) {
    return Invalid(std::string("a manifest or config has a field of the wrong type: ") + e.what());
  }
}

LayerIndex::Entries LayerIndex::Find(const oci::Digest& blob) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(blob.str());
  return it == entries_.end() ? nullptr : it->second;
}

void LayerIndex::Add(const oci::Digest& blob, Entries entries) {
  // Bounded (a Debian base layer lists some 10,000 paths): past the bound
  // an entry goes, whichever sorts first, which is as good as any for a cache.
  constexpr size_t kMaxLayers = 256;
  std::lock_guard lock(mu_);
  if (entries_.size() >= kMaxLayers) entries_.erase(entries_.begin());
  entries_[blob.str()] = std::move(entries);
}

}  // namespace drydock::rebase
