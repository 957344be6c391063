// /api/v1/repositories: list what the user may pull, show tags with their
// digests, and delete whole repositories or single tags.

#include "api/impl.h"
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

}  // namespace

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
  SendJson(c.resp, 200, {{"repository", repo}, {"tags", std::move(tags)}});
}

void Api::Impl::DeleteRepository(Ctx& c, const std::string& repo) {
  if (!CheckRepository(c, auth, meta, repo, auth::kDelete)) return;
  auto graph = meta.LoadRepoGraph(repo);
  if (!graph.ok()) return SendStatus(c.resp, graph.status());
  json deleted = json::array();
  for (const auto& node : graph->manifests) {
    auto tags = registry.DeleteManifest(repo, node.digest, c.who.user);
    if (!tags.ok()) {
      if (tags.status().code() == Code::kNotFound) continue;  // deleted concurrently
      return SendStatus(c.resp, tags.status());
    }
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
