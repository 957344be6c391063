// /api/v1/repositories: list what the user may pull, show tags with their
// digests, and delete whole repositories or single tags.

#include "api/impl.h"
#include "api/run_json.h"
#include "base/json.h"
#include "oci/manifest.h"
#include "oci/reference.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr int64_t kBatch = 1000;

// True when `repo` is a valid name, the user may `need` on it and it holds a
// manifest (deleting every manifest leaves the repository's row and blob
// links behind, but nothing to pull); else false after answering 400, 403 or
// 404.
bool CheckRepository(Ctx& c, auth::Authenticator& auth, storage::MetadataStore& meta,
                     const std::string& repo, unsigned need) {
  if (auto s = oci::ValidateRepositoryName(repo); !s.ok()) {
    SendError(c.resp, 400, "INVALID", s.message());
    return false;
  }
  if ((auth.Allowed(c.who, repo) & need) != need) {
    if (c.who.anonymous())
      SendError(c.resp, 401, "UNAUTHORIZED",
                "sign in to " + auth::ActionsToString(need) + " " + repo);
    else
      SendError(c.resp, 403, "DENIED",
                "user " + c.who.user + " may not " + auth::ActionsToString(need) + " " + repo);
    return false;
  }
  auto exists = meta.HasManifests(repo);
  if (!exists.ok()) {
    SendStatus(c.resp, exists.status());
    return false;
  }
  if (!*exists) {
    SendError(c.resp, 404, "NOT_FOUND", "repository " + repo + " does not exist");
    return false;
  }
  return true;
}

constexpr size_t kMaxConfigBytes = 4 << 20;
constexpr size_t kMaxPackageMatches = 10000;

// An index's entries: their platforms (which oci::Descriptor does not keep) and digests.
json Platforms(const json& index) {
  json out = json::array();
  for (const auto& e : index.value("manifests", json::array())) {
    if (!e.is_object()) continue;
    json p = e.value("platform", json::object());
    out.push_back({{"digest", e.value("digest", "")},
                   {"mediaType", e.value("mediaType", "")},
                   {"size", e.value("size", 0)},
                   {"os", p.value("os", "")},
                   {"architecture", p.value("architecture", "")},
                   {"variant", p.value("variant", "")}});
  }
  return out;
}

}  // namespace

// The base an image was built on: from the newest successful run that
// pushed exactly this digest (its runtime dependency), with what the base's
// tag points at now when the base lives in this registry.
json Api::Impl::BaseOf(const std::string& repo, const std::string& tag, const oci::Digest& d) {
  tasks::RunFilter filter;
  filter.top = 50;
  filter.status = tasks::RunStatus::kSucceeded;
  filter.image = repo + ":" + tag;
  auto list = runs.List(filter);
  if (!list.ok()) return nullptr;
  for (const auto& run : *list) {
    bool pushed_it = false;
    for (const auto& out : run.output_images) pushed_it |= out.digest == d.str();
    if (!pushed_it) continue;
    json deps = json::parse(run.dependencies_json, nullptr, false);
    if (!deps.is_array()) return nullptr;
    for (const auto& image : deps) {
      const json& base = image.value("runtime-dependency", json::object());
      if (!base.is_object() || base.value("digest", "").empty()) continue;
      json out = {{"registry", base.value("registry", "")},
                  {"repository", base.value("repository", "")},
                  {"tag", base.value("tag", "")},
                  {"digest", base.value("digest", "")},
                  {"run", run.id},
                  {"task", run.request.task}};
      std::string base_tag = out["tag"], built_from = out["digest"];
      if (out["registry"] == options.registry_host && !base_tag.empty()) {
        auto now = meta.ResolveTag(out["repository"].get<std::string>(), base_tag);
        if (now.ok()) {
          out["current"] = now->str();
          out["updated"] = now->str() != built_from;
        }
      }
      return out;
    }
    return nullptr;
  }
  return nullptr;
}

void Api::Impl::ShowManifest(Ctx& c, const std::string& repo, const std::string& reference) {
  if (!CheckRepository(c, auth, meta, repo, auth::kPull)) return;
  auto digest = oci::Digest::Parse(reference);
  std::string tag;
  if (!digest.ok()) {
    if (auto s = oci::ValidateTag(reference); !s.ok())
      return SendError(c.resp, 400, "INVALID", "'" + reference + "' is neither a digest nor a tag");
    tag = reference;
    digest = meta.ResolveTag(repo, tag);
    if (!digest.ok()) return SendStatus(c.resp, digest.status());
  }
  auto record = meta.GetManifest(repo, *digest);
  if (!record.ok()) return SendStatus(c.resp, record.status());
  json manifest = json::parse(record->content, nullptr, false);
  if (!manifest.is_object()) manifest = json::object();
  json out = {{"repository", repo},
              {"digest", digest->str()},
              {"mediaType", record->media_type},
              {"size", record->content.size()},
              {"pushed", IsoTime(record->created * 1000)},
              {"artifactType", record->artifact_type},
              {"annotations", manifest.value("annotations", json::object())},
              {"manifest", manifest}};
  auto parsed = oci::ParseManifest(record->content, record->media_type);
  if (oci::IsIndexMediaType(record->media_type)) {
    out["platforms"] = Platforms(manifest);
  } else if (parsed.ok()) {
    int64_t total = 0;
    for (const auto& l : parsed->layers) total += l.size;
    out["layersSize"] = total;
    if (parsed->config) {
      auto config = storage::ReadSmallBlob(blobs, parsed->config->digest, kMaxConfigBytes);
      if (config.ok()) out["config"] = json::parse(*config, nullptr, false);
    }
  }
  json referrers = json::array();
  if (auto list = meta.ListReferrers(repo, *digest); list.ok()) {
    for (const auto& r : *list)
      referrers.push_back({{"digest", r.digest.str()},
                           {"mediaType", r.media_type},
                           {"artifactType", r.artifact_type},
                           {"size", r.size}});
  }
  out["referrers"] = std::move(referrers);
  if (!tag.empty()) out["base"] = BaseOf(repo, tag, *digest);
  SendJson(c.resp, 200, out);
}

void Api::Impl::ImagesWithPackage(Ctx& c) {
  auto name = c.req.Query("name");
  if (!name || name->empty())
    return SendError(c.resp, 400, "INVALID", "give the package as ?name=NAME[&version=VERSION]");
  std::string version = c.req.Query("version").value_or("");
  // Read one past the limit to say whether the list was cut; images the
  // caller may not pull are left out after, so a page may hold fewer.
  auto found = meta.FindPackage(*name, version, static_cast<int64_t>(kMaxPackageMatches) + 1);
  if (!found.ok()) return SendStatus(c.resp, found.status());
  bool truncated = found->size() > kMaxPackageMatches;
  if (truncated) found->pop_back();
  json images = json::array();
  for (const auto& m : *found) {
    if (!(auth.Allowed(c.who, m.repo) & auth::kPull)) continue;
    images.push_back({{"repository", m.repo},
                      {"digest", m.image.str()},
                      {"tags", m.tags},
                      {"sbom", m.sbom.str()},
                      {"name", m.package.name},
                      {"version", m.package.version},
                      {"purl", m.package.purl}});
  }
  SendJson(c.resp, 200,
           {{"name", *name}, {"version", version}, {"images", images}, {"truncated", truncated}});
}

void Api::Impl::ListRepositories(Ctx& c) {
  json names = json::array();
  storage::Page page{"", kBatch};
  while (true) {
    auto batch = meta.ListRepositoriesWithManifests(page);
    if (!batch.ok()) return SendStatus(c.resp, batch.status());
    for (const auto& repo : *batch) {
      if (auth.Allowed(c.who, repo) & auth::kPull) names.push_back(repo);
    }
    if (static_cast<int64_t>(batch->size()) < kBatch) break;
    page.last = batch->back();
  }
  SendJson(c.resp, 200, {{"repositories", std::move(names)}});
}

void Api::Impl::ListTags(Ctx& c, const std::string& repo) {
  if (!CheckRepository(c, auth, meta, repo, auth::kPull)) return;
  json tags = json::array();
  storage::Page page{"", kBatch};
  while (true) {
    auto batch = meta.ListTags(repo, page);
    if (!batch.ok()) return SendStatus(c.resp, batch.status());
    for (const auto& tag : *batch) {
      auto digest = meta.ResolveTag(repo, tag);
      if (!digest.ok()) continue;  // deleted since it was listed
      tags.push_back({{"name", tag}, {"digest", digest->str()}});
    }
    if (static_cast<int64_t>(batch->size()) < kBatch) break;
    page.last = batch->back();
  }
  // What the caller may do here, so that a page offers only that.
  SendJson(c.resp, 200,
           {{"repository", repo},
            {"tags", std::move(tags)},
            {"actions", auth::ActionsToString(auth.Allowed(c.who, repo))}});
}

void Api::Impl::DeleteRepository(Ctx& c, const std::string& repo) {
  if (!CheckRepository(c, auth, meta, repo, auth::kDelete)) return;
  auto graph = meta.LoadRepoGraph(repo);
  if (!graph.ok()) return SendStatus(c.resp, graph.status());
  json deleted = json::array();
  for (const auto& node : graph->manifests) {
    auto tags = registry.DeleteManifest(repo, node.digest, c.who.user);
    // Not found: gone with its subject (a referrer) or deleted concurrently;
    // gone either way, as the caller asked.
    if (!tags.ok() && tags.status().code() != Code::kNotFound)
      return SendStatus(c.resp, tags.status());
    deleted.push_back(node.digest.str());
  }
  SendJson(c.resp, 202, {{"deleted", std::move(deleted)}});
}

void Api::Impl::DeleteTag(Ctx& c, const std::string& repo, const std::string& tag) {
  if (auto s = oci::ValidateTag(tag); !s.ok())
    return SendError(c.resp, 400, "INVALID", s.message());
  if (!CheckRepository(c, auth, meta, repo, auth::kDelete)) return;
  auto digest = registry.DeleteTag(repo, tag, c.who.user);
  if (!digest.ok()) {
    if (digest.status().code() == Code::kNotFound)
      return SendError(c.resp, 404, "NOT_FOUND", "tag " + tag + " does not exist in " + repo);
    return SendStatus(c.resp, digest.status());
  }
  SendJson(c.resp, 202, {{"deleted", tag}});
}

}  // namespace drydock::api
