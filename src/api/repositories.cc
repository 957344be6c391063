// /api/v1/repositories: list what the user may pull, show tags with their
// digests, and delete whole repositories or single tags.
#include <ctime>

#include "api/impl.h"
#include "oci/reference.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr int64_t kBatch = 1000;

// A repository is shown while it holds a manifest: deleting every manifest
// leaves the row (and blob links, until GC) behind, but nothing to pull.
Result<bool> HasContent(storage::MetadataStore& meta, const std::string& repo) {
  DD_ASSIGN_OR_RETURN(tags, meta.ListTags(repo, storage::Page{"", 1}));
  if (!tags.empty()) return true;
  DD_ASSIGN_OR_RETURN(graph, meta.LoadRepoGraph(repo));
  return !graph.manifests.empty();
}

// True when `repo` is a valid name, the user may `need` on it and it holds a
// manifest; else false after answering 400, 403 or 404.
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
  auto exists = HasContent(meta, repo);
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
    auto batch = meta.ListRepositories(page);
    if (!batch.ok()) return SendStatus(c.resp, batch.status());
    for (const auto& repo : *batch) {
      if ((auth.Allowed(c.who, repo) & auth::kPull) == 0) continue;
      auto shown = HasContent(meta, repo);
      if (!shown.ok()) return SendStatus(c.resp, shown.status());
      if (*shown) names.push_back(repo);
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
    auto tags = meta.DeleteManifest(repo, node.digest);
    if (!tags.ok()) {
      if (tags.status().code() == Code::kNotFound) continue;  // deleted concurrently
      return SendStatus(c.resp, tags.status());
    }
    deleted.push_back(node.digest.str());
    Emit(c.who, repo, "", node.digest);
    for (const auto& t : *tags) Emit(c.who, repo, t, node.digest);
  }
  SendJson(c.resp, 202, {{"deleted", std::move(deleted)}});
}

void Api::Impl::DeleteTag(Ctx& c, const std::string& repo, const std::string& tag) {
  if (auto s = oci::ValidateTag(tag); !s.ok())
    return SendError(c.resp, 400, "INVALID", s.message());
  if (!CheckRepository(c, auth, meta, repo, auth::kDelete)) return;
  auto digest = meta.DeleteTag(repo, tag);
  if (!digest.ok()) {
    if (digest.status().code() == Code::kNotFound)
      return SendError(c.resp, 404, "NOT_FOUND", "tag " + tag + " does not exist in " + repo);
    return SendStatus(c.resp, digest.status());
  }
  Emit(c.who, repo, tag, *digest);
  SendJson(c.resp, 202, {{"deleted", tag}});
}

void Api::Impl::Emit(const auth::Identity& who, const std::string& repo, const std::string& tag,
                     const oci::Digest& digest) {
  // The same record and bus event as the registry's DELETE, so webhooks and
  // triggers see deletes whichever API made them.
  storage::Event e{
      0, "delete", repo, tag, digest.str(), "", who.user, static_cast<int64_t>(::time(nullptr))};
  auto id = meta.AppendEvent(e);
  bus.Publish(events::ManifestEvent{id.ok() ? *id : 0, "delete", repo, tag, digest.str(), "", 0,
                                    who.user, e.time});
}

}  // namespace drydock::api
