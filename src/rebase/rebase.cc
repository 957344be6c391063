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
  std::string raw;          // the manifest's bytes
  json manifest, config;
  std::vector<oci::Digest> layers;
};

// An image from its manifest `m`, fetched through `ref`.
Result<Image> FromManifest(remote::Client& client, oci::ImageReference ref,
                           const Result<remote::Manifest>& m, const std::string& what) {
  if (!m.ok()) return Status(m.status().code(), what + ": " + m.status().message());
  auto parsed = oci::ParseManifest(m->bytes, m->media_type);
  if (!parsed.ok()) return Invalid(what + ": " + parsed.status().message());
  if (!parsed->config) return Invalid(what + " is not an image manifest");
  Image image;
  ref.digest = m->digest;
  image.ref = ref;
  image.raw = m->bytes;
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

// One platform's image, decided: what to push if it is to be rebased.
struct Plan {
  Image image, new_base;
  size_t base_layers = 0;
  std::string new_base_name;  // by tag
  Spliced spliced;
  oci::Digest digest;
  std::string media_type;
};

// Decides whether `image` is rebased onto `onto` (its own base tag when
// `onto` has no repository), recording the bases and any reasons not to in
// `out`. No plan and no reasons: it is already on that base.
Result<std::optional<Plan>> Decide(remote::Client& client, Rebaser& r, Image image,
                                   const oci::ImageReference& onto_ref, const Options& o,
                                   Outcome& out) {
  out.base_name = Annotation(image.manifest, kBaseName);
  std::string old_digest = Annotation(image.manifest, kBaseDigest);
  std::string layers_text = Annotation(image.manifest, kBaseLayers);
  if (out.base_name.empty() || old_digest.empty() || layers_text.empty() ||
      layers_text.find_first_not_of("0123456789") != std::string::npos || layers_text.size() > 6) {
    out.reasons.push_back(std::string("the image does not record its base (annotations ") +
                          kBaseName + ", " + kBaseDigest + ", " + kBaseLayers +
                          "): it was not built by Drydock, or is built FROM scratch");
    return std::optional<Plan>();
  }
  DD_ASSIGN_OR_RETURN(base_ref, oci::ParseImageReference(out.base_name, image.ref.registry));
  if (const auto& e = o.expect_base;
      e && (e->registry != base_ref.registry || e->repository != base_ref.repository ||
            e->tag != base_ref.tag)) {
    out.reasons.push_back("the image was built on " + out.base_name + ", not on " + e->String());
    return std::optional<Plan>();
  }
  DD_ASSIGN_OR_RETURN(old_base_digest, oci::Digest::Parse(old_digest));
  out.old_base_digest = old_digest;
  oci::ImageReference old_ref = base_ref;
  old_ref.digest = old_base_digest;
  DD_ASSIGN_OR_RETURN(old_base, Fetch(client, old_ref, "old base " + old_ref.String()));
  oci::ImageReference onto = onto_ref.repository.empty() ? base_ref : onto_ref;
  DD_ASSIGN_OR_RETURN(new_base, ForPlatform(client, onto, image.config, out.new_base_resolved));
  out.new_base_digest = new_base.ref.digest->str();
  if (*new_base.ref.digest == old_base_digest) return std::optional<Plan>();

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
  if (!out.reasons.empty()) return std::optional<Plan>();

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
    return std::optional<Plan>();
  }
  Plan plan;
  plan.base_layers = static_cast<size_t>(in.base_layers);
  plan.new_base_name = named.String();
  plan.media_type = image.manifest.value("mediaType", std::string(oci::kOciManifest));
  plan.digest = oci::Digest::Of(spliced->manifest);
  plan.spliced = std::move(*spliced);
  plan.image = std::move(image);
  plan.new_base = std::move(new_base);
  return std::optional<Plan>(std::move(plan));
}

// The repositories of `tags`, once each (by the first tag naming them).
std::vector<oci::ImageReference> Repositories(const std::vector<oci::ImageReference>& tags) {
  std::vector<oci::ImageReference> repos;
  std::map<std::string, bool> seen;
  for (const auto& t : tags)
    if (!seen[t.RepositoryWithRegistry()]) {
      seen[t.RepositoryWithRegistry()] = true;
      repos.push_back(t);
    }
  return repos;
}

Status PushByDigest(remote::Client& client, oci::ImageReference repo, const oci::Digest& digest,
                    const std::string& manifest, const std::string& media_type) {
  repo.tag.clear();
  repo.digest = digest;
  return client.PushManifest(repo, manifest, media_type).status();
}

// The rebased image into `repo`: the new base's layers, its own, its
// config and manifest (by digest; no tag moves).
Status PushPlan(remote::Client& client, Rebaser& r, const Plan& p,
                const oci::ImageReference& repo) {
  r.Log("mounting " + std::to_string(p.new_base.layers.size()) + " base layer(s) from " +
        p.new_base.ref.repository + " into " + repo.repository);
  for (const auto& l : p.new_base.layers) DD_RETURN_IF_ERROR(r.Ensure(repo, l, p.new_base.ref));
  for (size_t i = p.base_layers; i < p.image.layers.size(); ++i)
    DD_RETURN_IF_ERROR(r.Ensure(repo, p.image.layers[i], p.image.ref));
  DD_RETURN_IF_ERROR(
      client.PushBlobBytes(repo, oci::Digest::Of(p.spliced.config), p.spliced.config));
  return PushByDigest(client, repo, p.digest, p.spliced.manifest, p.media_type);
}

// An image left as it is, into `repo` (a tag in another repository).
Status PushUnchanged(remote::Client& client, Rebaser& r, const Image& image,
                     const oci::ImageReference& repo) {
  if (repo.RepositoryWithRegistry() == image.ref.RepositoryWithRegistry()) return Status::Ok();
  for (const auto& l : image.layers) DD_RETURN_IF_ERROR(r.Ensure(repo, l, image.ref));
  const auto& config = image.manifest["config"];
  DD_ASSIGN_OR_RETURN(config_digest, oci::Digest::Parse(config.value("digest", "")));
  DD_RETURN_IF_ERROR(r.Ensure(repo, config_digest, image.ref));
  return PushByDigest(client, repo, *image.ref.digest, image.raw,
                      image.manifest.value("mediaType", std::string(oci::kOciManifest)));
}

// Verifies the pushed result (by digest), then moves the tags to it.
Result<Outcome::Kind> VerifyAndTag(remote::Client& client, Rebaser& r, const Options& o,
                                   const std::vector<oci::ImageReference>& tags, Outcome& out) {
  if (o.verify) {
    oci::ImageReference rebased = tags.front();
    rebased.tag.clear();
    rebased.digest = out.digest;
    Status verified = o.verify(rebased);
    if (!verified.ok()) {
      out.reasons.push_back("verification failed: " + verified.message());
      return Outcome::kVerifyFailed;
    }
  }
  for (const auto& tag : tags) {
    if (tag.tag.empty()) continue;  // an image named by digest: pushed above, no tag
    oci::ImageReference t = tag;
    t.digest.reset();
    DD_RETURN_IF_ERROR(client.PushManifest(t, out.manifest, out.media_type).status());
    r.Log("tagged " + t.String() + " " + out.digest.str());
  }
  return Outcome::kRebased;
}

Result<Outcome::Kind> RebaseSingle(remote::Client& client, Rebaser& r, Image image,
                                   const oci::ImageReference& onto, const Options& o,
                                   const std::vector<oci::ImageReference>& tags, Outcome& out) {
  DD_ASSIGN_OR_RETURN(plan, Decide(client, r, std::move(image), onto, o, out));
  if (!plan) return out.reasons.empty() ? Outcome::kUpToDate : Outcome::kRefused;
  out.manifest = plan->spliced.manifest;
  out.media_type = plan->media_type;
  out.digest = plan->digest;
  if (o.dry_run) return Outcome::kDryRun;
  for (const auto& repo : Repositories(tags)) DD_RETURN_IF_ERROR(PushPlan(client, r, *plan, repo));
  return VerifyAndTag(client, r, o, tags, out);
}

std::string PlatformName(const json& entry) {
  json p = entry.value("platform", json::object());
  std::string name = p.value("os", "?") + "/" + p.value("architecture", "?");
  if (p.contains("variant")) name += "/" + p.value("variant", "");
  return name;
}

// An index: each platform's image is decided and rebased as one would be
// on its own, onto the new base's image for that platform; a refusal of
// any refuses all (a half-patched index would be a surprise). Docker's
// attestation entries describe the old images and are dropped.
Result<Outcome::Kind> RebaseIndex(remote::Client& client, Rebaser& r,
                                  const oci::ImageReference& index_ref, const json& index,
                                  const oci::ImageReference& onto, const Options& o,
                                  const std::vector<oci::ImageReference>& tags, Outcome& out) {
  json rebased = index;
  json& entries = rebased["manifests"];
  if (!entries.is_array() || entries.empty())
    return Invalid("index " + index_ref.String() + " lists no manifests");
  std::vector<Plan> plans;
  std::vector<Image> unchanged;
  json kept = json::array();
  for (const auto& entry : entries) {
    json platform = entry.value("platform", json::object());
    if (platform.value("os", "") == "unknown") {
      r.Log("dropping " + entry.value("digest", "") + " (" + PlatformName(entry) +
            "): it describes the image before the rebase");
      continue;
    }
    DD_ASSIGN_OR_RETURN(digest, oci::Digest::Parse(entry.value("digest", "")));
    oci::ImageReference ref = index_ref;
    ref.digest = digest;
    const std::string name = PlatformName(entry);
    DD_ASSIGN_OR_RETURN(image, Fetch(client, ref, name + " image " + ref.String()));
    Outcome platform_out;
    DD_ASSIGN_OR_RETURN(plan, Decide(client, r, image, onto, o, platform_out));
    for (const auto& reason : platform_out.reasons) out.reasons.push_back(name + ": " + reason);
    if (out.base_name.empty()) {  // the first platform's, unless the index names its own
      out.base_name = platform_out.base_name;
      out.old_base_digest = platform_out.old_base_digest;
      out.new_base_digest = platform_out.new_base_digest;
      out.new_base_resolved = platform_out.new_base_resolved;
    }
    json e = entry;
    if (plan) {
      e["digest"] = plan->digest.str();
      e["size"] = plan->spliced.manifest.size();
      e["mediaType"] = plan->media_type;
      plans.push_back(std::move(*plan));
    } else {
      unchanged.push_back(std::move(image));
    }
    kept.push_back(std::move(e));
  }
  if (!out.reasons.empty()) return Outcome::kRefused;
  if (plans.empty()) return Outcome::kUpToDate;
  entries = std::move(kept);
  // An index that records its base (as it resolved: an index too) names the new one.
  if (auto a = rebased.find("annotations"); a != rebased.end() && a->is_object()) {
    if (auto base = Annotation(index, kBaseDigest); !base.empty()) {
      out.old_base_digest = base;
      out.new_base_digest = out.new_base_resolved;
      (*a)[kBaseDigest] = out.new_base_resolved;
      (*a)[kBaseName] = plans.front().new_base_name;
    }
  }
  out.manifest = rebased.dump();
  out.media_type = index.value("mediaType", std::string(oci::kOciIndex));
  out.digest = oci::Digest::Of(out.manifest);
  r.Log("rebased " + std::to_string(plans.size()) + " of " + std::to_string(entries.size()) +
        " platform(s)");
  if (o.dry_run) return Outcome::kDryRun;
  for (const auto& repo : Repositories(tags)) {
    for (const auto& plan : plans) DD_RETURN_IF_ERROR(PushPlan(client, r, plan, repo));
    for (const auto& image : unchanged) DD_RETURN_IF_ERROR(PushUnchanged(client, r, image, repo));
    DD_RETURN_IF_ERROR(PushByDigest(client, repo, out.digest, out.manifest, out.media_type));
  }
  return VerifyAndTag(client, r, o, tags, out);
}

Result<Outcome> RebaseImage(remote::Client& client, const oci::ImageReference& image_ref,
                            const oci::ImageReference& onto, const Options& o) {
  auto start = std::chrono::steady_clock::now();
  Outcome out;
  Rebaser r(client, o);
  std::vector<oci::ImageReference> tags = o.tags;
  if (tags.empty()) tags.push_back(image_ref);
  const std::string what = "image " + image_ref.String();
  auto m = client.GetManifest(image_ref);
  Result<Outcome::Kind> kind = Outcome::kRefused;
  if (m.ok() && oci::IsIndexMediaType(m->media_type)) {
    DD_ASSIGN_OR_RETURN(index, ParseJson(m->bytes));
    oci::ImageReference ref = image_ref;
    ref.digest = m->digest;
    kind = RebaseIndex(client, r, ref, index, onto, o, tags, out);
  } else {
    DD_ASSIGN_OR_RETURN(image, FromManifest(client, image_ref, m, what));
    kind = RebaseSingle(client, r, std::move(image), onto, o, tags, out);
  }
  if (!kind.ok()) return kind.status();
  out.kind = *kind;
  out.milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  return out;
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
