// Manifests, tags, catalog and referrers.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "oci/manifest.h"
#include "oci/reference.h"
#include "registry/impl.h"

namespace drydock::registry {
namespace {

using nlohmann::json;

constexpr int64_t kMaxPage = 10000;

bool LooksLikeDigest(const std::string& ref) { return ref.find(':') != std::string::npos; }

// True when any Accept header (they may repeat, and list several types) admits `media_type`.
bool Accepts(const http::Request& req, const std::string& media_type) {
  bool any = false;
  for (const auto& [k, v] : req.headers) {
    if (k.size() != 6 || strncasecmp(k.c_str(), "accept", 6) != 0) continue;
    any = true;
    std::string_view list = v;
    while (!list.empty()) {
      auto comma = list.find(',');
      auto item = list.substr(0, comma);
      item = item.substr(0, item.find(';'));
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item == media_type || item == "*/*" || item == "application/*") return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return !any;
}

// Parses `n`/`last`; answers 400 itself on a bad n.
bool ParsePage(Ctx& c, storage::Page& page, int64_t& n) {
  page.last = c.req.Query("last").value_or("");
  n = -1;
  if (auto q = c.req.Query("n")) {
    if (q->empty() || q->find_first_not_of("0123456789") != std::string::npos || q->size() > 9) {
      SendError(c.resp, 400, "PAGINATION_NUMBER_INVALID",
                "n must be a non-negative integer, got '" + *q + "'");
      return false;
    }
    n = std::min<int64_t>(std::atoll(q->c_str()), kMaxPage);
  }
  page.limit = n < 0 ? -1 : n + 1;  // one extra tells whether a next page exists
  return true;
}

// Trims to n entries and adds the RFC 5988 Link to the next page.
void Paginate(Ctx& c, std::vector<std::string>& items, int64_t n, const std::string& path) {
  if (n < 0 || static_cast<int64_t>(items.size()) <= n) return;
  items.resize(static_cast<size_t>(n));
  if (items.empty()) return;
  c.resp.Set("Link", "<" + path + "?last=" + http::PercentEncode(items.back()) +
                         "&n=" + std::to_string(n) + ">; rel=\"next\"");
}

}  // namespace

void Registry::Impl::GetManifest(Ctx& c, const std::string& ref) {
  if (!Authorize(c, auth::kPull)) return;
  oci::Digest d;
  if (LooksLikeDigest(ref)) {
    auto parsed = oci::Digest::Parse(ref);
    if (!parsed.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", parsed.status().message());
    d = *parsed;
  } else {
    // An invalid tag cannot exist: the conformance suite expects 404, not 400.
    auto resolved = oci::ValidateTag(ref).ok() ? meta.ResolveTag(c.repo, ref)
                                               : Result<oci::Digest>(NotFound(""));
    if (!resolved.ok())
      return SendError(c.resp, 404, "MANIFEST_UNKNOWN",
                       "manifest " + c.repo + ":" + ref + " not found");
    d = *resolved;
  }
  auto m = meta.GetManifest(c.repo, d);
  if (!m.ok()) return SendStatus(c.resp, m.status(), "MANIFEST_UNKNOWN");
  if (!Accepts(c.req, m->media_type)) {
    return SendError(c.resp, 404, "MANIFEST_UNKNOWN",
                     "manifest " + d.str() + " is " + m->media_type +
                         ", which the Accept header does not allow");
  }
  c.resp.Set("Content-Type", m->media_type);
  c.resp.Set("Docker-Content-Digest", d.str());
  c.resp.Set("Etag", "\"" + d.str() + "\"");
  c.resp.body = std::move(m->content);
  c.resp.head_only = c.req.method == "HEAD";
}

void Registry::Impl::PutManifest(Ctx& c, const std::string& ref) {
  if (!Authorize(c, auth::kPush)) return;
  std::optional<std::string> tag;
  std::optional<oci::Digest> by_digest;
  if (LooksLikeDigest(ref)) {
    auto parsed = oci::Digest::Parse(ref);
    if (!parsed.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", parsed.status().message());
    by_digest = *parsed;
  } else {
    if (auto s = oci::ValidateTag(ref); !s.ok())
      return SendError(c.resp, 400, "TAG_INVALID", s.message());
    tag = ref;
  }
  auto body = c.req.ReadAll(options.max_manifest_bytes);
  if (!body.ok()) {
    if (body.status().code() == Code::kTooLarge) {
      return SendError(c.resp, 413, "SIZE_INVALID",
                       "manifest is larger than the limit of " +
                           std::to_string(options.max_manifest_bytes) + " bytes");
    }
    return SendError(c.resp, 400, "MANIFEST_INVALID", body.status().message());
  }
  oci::Digest digest =
      oci::Digest::Of(*body, by_digest ? by_digest->algorithm() : oci::Algorithm::kSha256);
  if (by_digest && digest != *by_digest) {
    return SendError(c.resp, 400, "DIGEST_INVALID",
                     "manifest content has digest " + digest.str() + ", not " + by_digest->str());
  }
  auto parsed = oci::ParseManifest(*body, c.req.Header("Content-Type"));
  if (!parsed.ok()) return SendError(c.resp, 400, "MANIFEST_INVALID", parsed.status().message());
  // Signatures and attestations (referrers) are always accepted: they are
  // what makes an image acceptable, and are pushed first to a refusing one.
  if (!parsed->subject && (tag || options.refuse_unsigned)) {
    if (auto s = CheckSigningPolicy(c.repo, digest); !s.ok()) {
      if (s.code() != Code::kDenied) return SendStatus(c.resp, s, "MANIFEST_UNKNOWN");
      return SendError(c.resp, 403, "DENIED", s.message());
    }
  }
  storage::ManifestPut put;
  put.packages = SbomPackages(*parsed);
  put.record = storage::ManifestRecord{
      c.repo,
      digest,
      parsed->media_type,
      std::move(*body),
      parsed->subject ? std::optional(parsed->subject->digest) : std::nullopt,
      parsed->artifact_type,
      parsed->annotations_json,
      0};
  put.blobs = parsed->RequiredBlobs();
  put.manifests = parsed->RequiredManifests();
  put.tag = tag;
  put.actor = c.who.Actor();
  auto stored = meta.PutManifest(put);
  if (!stored.ok()) {
    if (stored.status().code() == Code::kNotFound) {
      return SendError(c.resp, 400, "MANIFEST_BLOB_UNKNOWN", stored.status().message());
    }
    return SendStatus(c.resp, stored.status(), "MANIFEST_UNKNOWN");
  }
  bus.Notify();
  c.resp.status = 201;
  c.resp.Set("Location", "/v2/" + c.repo + "/manifests/" + digest.str());
  c.resp.Set("Docker-Content-Digest", digest.str());
  if (parsed->subject) c.resp.Set("OCI-Subject", parsed->subject->digest.str());
}

void Registry::Impl::DeleteManifest(Ctx& c, const std::string& ref) {
  if (!Authorize(c, auth::kDelete)) return;
  if (!LooksLikeDigest(ref)) {
    if (auto s = oci::ValidateTag(ref); !s.ok())
      return SendError(c.resp, 400, "TAG_INVALID", s.message());
    auto d = DeleteTag(c.repo, ref, c.who.Actor());
    if (!d.ok()) return SendStatus(c.resp, d.status(), "MANIFEST_UNKNOWN");
    c.resp.status = 202;
    return;
  }
  auto d = oci::Digest::Parse(ref);
  if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
  auto tags = DeleteManifest(c.repo, *d, c.who.Actor());
  if (!tags.ok()) return SendStatus(c.resp, tags.status(), "MANIFEST_UNKNOWN");
  c.resp.status = 202;
}

Result<std::vector<std::string>> Registry::Impl::DeleteManifest(const std::string& repo,
                                                                const oci::Digest& d,
                                                                const std::string& user) {
  auto tags = meta.DeleteManifest(repo, d, user);
  if (!tags.ok()) return tags;
  bus.Notify();
  // Its referrers (signatures, SBOMs, and theirs) go with it. After it, not
  // before: a crash in between leaves orphans, never an image without its
  // signature; so does a referrer that cannot go now (another index still
  // lists it). GC collects both: a referrer lives only with its subject.
  if (auto referrers = meta.ListReferrers(repo, d); referrers.ok())
    for (const auto& r : *referrers) (void)DeleteManifest(repo, r.digest, user);
  return tags;
}

Result<oci::Digest> Registry::Impl::DeleteTag(const std::string& repo, const std::string& tag,
                                              const std::string& user) {
  auto d = meta.DeleteTag(repo, tag, user);
  if (d.ok()) bus.Notify();
  return d;
}

void Registry::Impl::ListTags(Ctx& c) {
  if (!Authorize(c, auth::kPull)) return;
  auto exists = meta.RepositoryExists(c.repo);
  if (!exists.ok()) return SendStatus(c.resp, exists.status(), "NAME_UNKNOWN");
  if (!*exists)
    return SendError(c.resp, 404, "NAME_UNKNOWN", "repository " + c.repo + " is not known");
  storage::Page page;
  int64_t n;
  if (!ParsePage(c, page, n)) return;
  auto tags = n == 0 ? Result<std::vector<std::string>>(std::vector<std::string>{})
                     : meta.ListTags(c.repo, page);
  if (!tags.ok()) return SendStatus(c.resp, tags.status(), "NAME_UNKNOWN");
  Paginate(c, *tags, n, "/v2/" + c.repo + "/tags/list");
  c.resp.body = json{{"name", c.repo}, {"tags", *tags}}.dump();
  c.resp.Set("Content-Type", "application/json");
}

void Registry::Impl::Catalog(Ctx& c) {
  if (!auth.CanListCatalog(c.who)) {
    Challenge(c, "registry:catalog:*", "UNAUTHORIZED",
              "listing the catalog requires authentication");
    return;
  }
  storage::Page page;
  int64_t n;
  if (!ParsePage(c, page, n)) return;
  std::vector<std::string> visible;
  // Users see only repositories they may pull; scan in batches past hidden ones.
  storage::Page scan{page.last, 1000};
  while (n != 0 && (n < 0 || static_cast<int64_t>(visible.size()) <= n)) {
    auto batch = meta.ListRepositories(scan);
    if (!batch.ok()) return SendStatus(c.resp, batch.status(), "NAME_UNKNOWN");
    for (auto& r : *batch) {
      // Internal repositories ("_contexts/…") are no one's to pull.
      if (!r.starts_with('_') && (auth.Allowed(c.who, r) & auth::kPull)) visible.push_back(r);
    }
    if (batch->size() < 1000) break;
    scan.last = batch->back();
  }
  Paginate(c, visible, n, "/v2/_catalog");
  c.resp.body = json{{"repositories", visible}}.dump();
  c.resp.Set("Content-Type", "application/json");
}

void Registry::Impl::Referrers(Ctx& c, const std::string& digest_text) {
  if (!Authorize(c, auth::kPull)) return;
  auto d = oci::Digest::Parse(digest_text);
  if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
  auto refs = meta.ListReferrers(c.repo, *d);
  if (!refs.ok()) return SendStatus(c.resp, refs.status(), "NAME_UNKNOWN");
  auto filters = c.req.QueryAll("artifactType");
  json manifests = json::array();
  for (const auto& r : *refs) {
    if (!filters.empty() &&
        std::find(filters.begin(), filters.end(), r.artifact_type) == filters.end())
      continue;
    json desc = {{"mediaType", r.media_type}, {"digest", r.digest.str()}, {"size", r.size}};
    if (!r.artifact_type.empty()) desc["artifactType"] = r.artifact_type;
    if (!r.annotations_json.empty())
      desc["annotations"] = json::parse(r.annotations_json, nullptr, false);
    manifests.push_back(std::move(desc));
  }
  if (!filters.empty()) c.resp.Set("OCI-Filters-Applied", "artifactType");
  c.resp.body =
      json{{"schemaVersion", 2}, {"mediaType", oci::kOciIndex}, {"manifests", manifests}}.dump();
  c.resp.Set("Content-Type", std::string(oci::kOciIndex));
}

}  // namespace drydock::registry
