#include "triggers/webhook.h"
#include "base/json.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace drydock::triggers {
namespace {

using nlohmann::json;

Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }

Status Ignored(std::string_view event) {
  return NotFound("event '" + std::string(event) + "' is ignored");
}

std::string Header(const Headers& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Compares SHA-256 digests rather than the strings themselves so that the time taken depends
// neither on where the values differ nor on their lengths (a GitLab token has no fixed length).
bool SecretsEqual(std::string_view a, std::string_view b) {
  unsigned char da[EVP_MAX_MD_SIZE];
  unsigned char db[EVP_MAX_MD_SIZE];
  unsigned na = 0;
  unsigned nb = 0;
  if (EVP_Digest(a.data(), a.size(), da, &na, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(b.data(), b.size(), db, &nb, EVP_sha256(), nullptr) != 1 || na != nb) {
    return false;  // Fail closed: a digest failure must never authenticate a request.
  }
  return CRYPTO_memcmp(da, db, na) == 0;
}

// An empty secret would make every forged request "correctly signed" (GitLab: an empty token
// header matches), so hooks without one are refused outright.
Status RequireSecret(const std::string& secret) {
  if (secret.empty()) return Unauthenticated("no webhook secret is configured for this trigger");
  return Status::Ok();
}

// Checks `header` (lower-case key, `display` for messages) against the body's HMAC-SHA256. The
// messages name the header only: echoing the expected value would hand out valid signatures.
Status VerifyHmacHeader(const Headers& headers, const char* header, std::string_view display,
                        std::string_view prefix, const std::string& body,
                        const std::string& secret) {
  DD_RETURN_IF_ERROR(RequireSecret(secret));
  std::string given = Header(headers, header);
  if (given.empty()) return Unauthenticated("missing " + std::string(display) + " header");
  if (given.compare(0, prefix.size(), prefix) != 0) {
    return Unauthenticated(std::string(display) + " header is not of the form '" +
                           std::string(prefix) + "<hex>'");
  }
  // Hex digits are case-insensitive; providers send lower case but nothing promises it.
  given = ToLower(given.substr(prefix.size()));
  if (!SecretsEqual(given, HmacSha256Hex(secret, body))) {
    return Unauthenticated(std::string(display) + " header does not match the request body");
  }
  return Status::Ok();
}

// --- JSON access that never throws: every provider omits or nulls fields in some event. ---

// Looks up a dotted path such as "push.changes.0.new.name"; a numeric segment indexes an array.
// Returns nullptr when any step is absent or of the wrong kind.
const json* Find(const json& j, std::string_view path) {
  const json* cur = &j;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (cur->is_object()) {
      auto it = cur->find(key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t index = 0;
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
      if (ec != std::errc() || end != key.data() + key.size() || index >= cur->size()) {
        return nullptr;
      }
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string OptionalString(const json& j, std::string_view path) {
  const json* v = Find(j, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

Result<std::string> RequiredString(const json& j, std::string_view path) {
  std::string s = OptionalString(j, path);
  if (s.empty()) return Invalid("field '" + std::string(path) + "' is missing or not a string");
  return s;
}

// Pull-request numbers are JSON integers everywhere, but text is accepted too.
Result<std::string> RequiredId(const json& j, std::string_view path) {
  const json* v = Find(j, path);
  if (v != nullptr && v->is_number_unsigned()) return std::to_string(v->get<std::uint64_t>());
  if (v != nullptr && v->is_number_integer()) return std::to_string(v->get<std::int64_t>());
  if (v != nullptr && v->is_string() && !v->get_ref<const std::string&>().empty()) {
    return v->get<std::string>();
  }
  return Invalid("field '" + std::string(path) + "' is missing or not an integer");
}

Result<json> ParseJson(const std::string& body) {
  auto j = drydock::ParseJson(body);
  if (!j.ok()) return Invalid("webhook body: " + j.status().message());
  if (!j->is_object()) return Invalid("webhook body is not a JSON object");
  return j;
}

// Git writes an all-zero object id for the missing side of a ref update.
bool IsZeroSha(std::string_view sha) {
  return !sha.empty() && sha.find_first_not_of('0') == std::string_view::npos;
}

// Only branches trigger builds; a tag or other ref is an authentic delivery we do not act on.
Result<std::string> BranchFromRef(const std::string& ref) {
  constexpr std::string_view kHeads = "refs/heads/";
  if (ref.size() <= kHeads.size() || ref.compare(0, kHeads.size(), kHeads) != 0) {
    return NotFound("push of '" + ref + "' is ignored: not a branch");
  }
  return ref.substr(kHeads.size());
}

// --- GitHub and Gitea/Forgejo: Gitea mirrors GitHub's payload shapes, so they share parsers. ---

Result<GitEvent> ParseGitHubPush(const json& j, GitEvent e) {
  DD_ASSIGN_OR_RETURN(ref, RequiredString(j, "ref"));
  DD_ASSIGN_OR_RETURN(branch, BranchFromRef(ref));
  DD_ASSIGN_OR_RETURN(after, RequiredString(j, "after"));
  const json* deleted = Find(j, "deleted");  // GitHub only; Gitea signals it by a zero "after".
  e.type = GitEventType::kPush;
  e.branch = branch;
  e.deleted =
      (deleted != nullptr && deleted->is_boolean() && deleted->get<bool>()) || IsZeroSha(after);
  if (!e.deleted) e.commit = after;
  e.repository_url = OptionalString(j, "repository.clone_url");
  if (e.repository_url.empty()) {
    DD_ASSIGN_OR_RETURN(html_url, RequiredString(j, "repository.html_url"));
    e.repository_url = html_url;
  }
  return e;
}

Result<GitEvent> ParseGitHubPullRequest(const json& j, GitEvent e) {
  DD_ASSIGN_OR_RETURN(action, RequiredString(j, "action"));
  DD_ASSIGN_OR_RETURN(number, RequiredId(j, "number"));
  DD_ASSIGN_OR_RETURN(head, RequiredString(j, "pull_request.head.sha"));
  DD_ASSIGN_OR_RETURN(base, RequiredString(j, "pull_request.base.ref"));
  // The base repository: GitHub and Gitea also serve a fork's PR head from it (refs/pull/N/head).
  DD_ASSIGN_OR_RETURN(url, RequiredString(j, "repository.clone_url"));
  e.type = GitEventType::kPullRequest;
  e.branch = base;
  e.commit = head;
  e.pull_request_id = number;
  e.pull_request_action = ToLower(action);
  e.repository_url = url;
  return e;
}

Result<GitEvent> ParseGitHubShaped(const std::string& event, const std::string& body, GitEvent e) {
  if (event != "push" && event != "pull_request") return Ignored(event);
  DD_ASSIGN_OR_RETURN(j, ParseJson(body));
  return event == "push" ? ParseGitHubPush(j, std::move(e))
                         : ParseGitHubPullRequest(j, std::move(e));
}

Result<GitEvent> ParseGitHub(const Headers& headers, const std::string& body,
                             const std::string& secret) {
  DD_RETURN_IF_ERROR(VerifyHmacHeader(headers, "x-hub-signature-256", "X-Hub-Signature-256",
                                      "sha256=", body, secret));
  GitEvent e;
  e.provider = "github";
  e.delivery_id = Header(headers, "x-github-delivery");
  return ParseGitHubShaped(Header(headers, "x-github-event"), body, std::move(e));
}

// Forgejo sends its own X-Forgejo-* headers next to the X-Gitea-* ones it inherited.
Result<GitEvent> ParseGitea(const Headers& headers, const std::string& body,
                            const std::string& secret) {
  bool forgejo = headers.count("x-forgejo-event") != 0;
  if (forgejo) {
    DD_RETURN_IF_ERROR(
        VerifyHmacHeader(headers, "x-forgejo-signature", "X-Forgejo-Signature", "", body, secret));
  } else {
    DD_RETURN_IF_ERROR(
        VerifyHmacHeader(headers, "x-gitea-signature", "X-Gitea-Signature", "", body, secret));
  }
  GitEvent e;
  e.provider = "gitea";
  e.delivery_id = Header(headers, forgejo ? "x-forgejo-delivery" : "x-gitea-delivery");
  return ParseGitHubShaped(Header(headers, forgejo ? "x-forgejo-event" : "x-gitea-event"), body,
                           std::move(e));
}

// --- GitLab ---

Result<std::string> GitLabRepositoryUrl(const json& j) {
  std::string url = OptionalString(j, "project.git_http_url");
  if (!url.empty()) return url;
  return RequiredString(j, "repository.git_http_url");  // The older, deprecated location.
}

Result<GitEvent> ParseGitLabPush(const json& j, GitEvent e) {
  DD_ASSIGN_OR_RETURN(ref, RequiredString(j, "ref"));
  DD_ASSIGN_OR_RETURN(branch, BranchFromRef(ref));
  DD_ASSIGN_OR_RETURN(after, RequiredString(j, "after"));
  DD_ASSIGN_OR_RETURN(url, GitLabRepositoryUrl(j));
  e.type = GitEventType::kPush;
  e.branch = branch;
  e.deleted = IsZeroSha(after);  // checkout_sha is null then, too.
  if (!e.deleted) e.commit = after;
  e.repository_url = url;
  return e;
}

Result<GitEvent> ParseGitLabMergeRequest(const json& j, GitEvent e) {
  DD_ASSIGN_OR_RETURN(iid, RequiredId(j, "object_attributes.iid"));  // iid: the number in the UI
  DD_ASSIGN_OR_RETURN(action, RequiredString(j, "object_attributes.action"));
  DD_ASSIGN_OR_RETURN(head, RequiredString(j, "object_attributes.last_commit.id"));
  DD_ASSIGN_OR_RETURN(target, RequiredString(j, "object_attributes.target_branch"));
  DD_ASSIGN_OR_RETURN(url, GitLabRepositoryUrl(j));
  e.type = GitEventType::kPullRequest;
  e.branch = target;
  e.commit = head;
  e.pull_request_id = iid;
  e.pull_request_action = ToLower(action);
  e.repository_url = url;
  return e;
}

// GitLab does not sign: it echoes the configured secret token in X-Gitlab-Token.
Result<GitEvent> ParseGitLab(const Headers& headers, const std::string& body,
                             const std::string& secret) {
  DD_RETURN_IF_ERROR(RequireSecret(secret));
  std::string token = Header(headers, "x-gitlab-token");
  if (token.empty()) return Unauthenticated("missing X-Gitlab-Token header");
  if (!SecretsEqual(token, secret)) {
    return Unauthenticated("X-Gitlab-Token header does not match the configured secret");
  }
  std::string event = Header(headers, "x-gitlab-event");
  if (event != "Push Hook" && event != "Merge Request Hook") return Ignored(event);
  DD_ASSIGN_OR_RETURN(j, ParseJson(body));
  GitEvent e;
  e.provider = "gitlab";
  e.delivery_id = Header(headers, "x-gitlab-event-uuid");
  return event == "Push Hook" ? ParseGitLabPush(j, std::move(e))
                              : ParseGitLabMergeRequest(j, std::move(e));
}

// --- Bitbucket Cloud ---

Result<GitEvent> ParseBitbucketCloudPush(const json& j, GitEvent e) {
  // A push can update several refs; the first change is the one a build trigger acts on.
  const json* change = Find(j, "push.changes.0");
  if (change == nullptr || !change->is_object()) {
    return Invalid("field 'push.changes.0' is missing or not an object");
  }
  const json* target = Find(*change, "new");
  e.type = GitEventType::kPush;
  e.deleted = target == nullptr || target->is_null();  // "new" is null when the ref is deleted.
  const char* side = e.deleted ? "push.changes.0.old" : "push.changes.0.new";
  DD_ASSIGN_OR_RETURN(name, RequiredString(j, std::string(side) + ".name"));
  std::string kind = OptionalString(j, std::string(side) + ".type");
  if (!kind.empty() && kind != "branch") {
    return NotFound("push of " + kind + " '" + name + "' is ignored: not a branch");
  }
  e.branch = name;
  if (!e.deleted) {
    DD_ASSIGN_OR_RETURN(hash, RequiredString(j, "push.changes.0.new.target.hash"));
    e.commit = hash;
  }
  // Cloud payloads carry no clone link; the web URL clones over https as well.
  DD_ASSIGN_OR_RETURN(url, RequiredString(j, "repository.links.html.href"));
  e.repository_url = url;
  return e;
}

Result<GitEvent> ParseBitbucketCloudPullRequest(const json& j, std::string_view action,
                                                GitEvent e) {
  DD_ASSIGN_OR_RETURN(id, RequiredId(j, "pullrequest.id"));
  DD_ASSIGN_OR_RETURN(head, RequiredString(j, "pullrequest.source.commit.hash"));
  DD_ASSIGN_OR_RETURN(target, RequiredString(j, "pullrequest.destination.branch.name"));
  DD_ASSIGN_OR_RETURN(url, RequiredString(j, "repository.links.html.href"));
  e.type = GitEventType::kPullRequest;
  e.branch = target;
  e.commit = head;
  e.pull_request_id = id;
  e.pull_request_action = ToLower(std::string(action));
  e.repository_url = url;
  return e;
}

// --- Bitbucket Server / Data Center ---

// Server lists clone links by protocol; "http" is the https one on a TLS-fronted server. The
// link is absent from some versions' payloads, so it is best-effort.
std::string BitbucketServerCloneUrl(const json& j, std::string_view path) {
  const json* links = Find(j, path);
  if (links == nullptr || !links->is_array()) return "";
  std::string fallback;
  for (const json& link : *links) {
    std::string href = OptionalString(link, "href");
    if (OptionalString(link, "name") == "http" && !href.empty()) return href;
    if (fallback.empty()) fallback = href;
  }
  return fallback;
}

Result<GitEvent> ParseBitbucketServerPush(const json& j, GitEvent e) {
  DD_ASSIGN_OR_RETURN(name, RequiredString(j, "changes.0.ref.displayId"));
  std::string kind = OptionalString(j, "changes.0.ref.type");
  if (!kind.empty() && kind != "BRANCH") {
    return NotFound("push of " + ToLower(kind) + " '" + name + "' is ignored: not a branch");
  }
  DD_ASSIGN_OR_RETURN(to_hash, RequiredString(j, "changes.0.toHash"));
  e.type = GitEventType::kPush;
  e.branch = name;
  e.deleted = OptionalString(j, "changes.0.type") == "DELETE" || IsZeroSha(to_hash);
  if (!e.deleted) e.commit = to_hash;
  e.repository_url = BitbucketServerCloneUrl(j, "repository.links.clone");
  return e;
}

Result<GitEvent> ParseBitbucketServerPullRequest(const json& j, std::string_view action,
                                                 GitEvent e) {
  DD_ASSIGN_OR_RETURN(id, RequiredId(j, "pullRequest.id"));
  DD_ASSIGN_OR_RETURN(head, RequiredString(j, "pullRequest.fromRef.latestCommit"));
  DD_ASSIGN_OR_RETURN(target, RequiredString(j, "pullRequest.toRef.displayId"));
  e.type = GitEventType::kPullRequest;
  e.branch = target;
  e.commit = head;
  e.pull_request_id = id;
  e.pull_request_action = ToLower(std::string(action));
  e.repository_url = BitbucketServerCloneUrl(j, "pullRequest.toRef.repository.links.clone");
  return e;
}

// Cloud and Server share X-Event-Key and X-Hub-Signature but name their events differently, so
// the event key alone tells them apart. Review, comment and approval events are not builds.
Result<GitEvent> ParseBitbucket(const Headers& headers, const std::string& body,
                                const std::string& secret) {
  DD_RETURN_IF_ERROR(
      VerifyHmacHeader(headers, "x-hub-signature", "X-Hub-Signature", "sha256=", body, secret));
  std::string key = Header(headers, "x-event-key");
  GitEvent e;
  e.provider = "bitbucket";
  if (key == "repo:push" || key == "pullrequest:created" || key == "pullrequest:updated" ||
      key == "pullrequest:fulfilled" || key == "pullrequest:rejected") {
    // X-Hook-UUID names the webhook, not the delivery: it is the same for every request.
    e.delivery_id = Header(headers, "x-request-uuid");
    DD_ASSIGN_OR_RETURN(j, ParseJson(body));
    if (key == "repo:push") return ParseBitbucketCloudPush(j, std::move(e));
    return ParseBitbucketCloudPullRequest(j, std::string_view(key).substr(key.find(':') + 1),
                                          std::move(e));
  }
  if (key == "repo:refs_changed" || key == "pr:opened" || key == "pr:from_ref_updated" ||
      key == "pr:modified" || key == "pr:merged" || key == "pr:declined") {
    e.delivery_id = Header(headers, "x-request-id");
    DD_ASSIGN_OR_RETURN(j, ParseJson(body));
    if (key == "repo:refs_changed") return ParseBitbucketServerPush(j, std::move(e));
    return ParseBitbucketServerPullRequest(j, std::string_view(key).substr(key.find(':') + 1),
                                           std::move(e));
  }
  return Ignored(key);
}

}  // namespace

Result<GitEvent> ParseWebhook(const Headers& headers, const std::string& body,
                              const std::string& secret) {
  // Gitea and Forgejo also send X-GitHub-Event (and GitHub-style signatures), so they go first.
  if (headers.count("x-gitea-event") != 0 || headers.count("x-forgejo-event") != 0) {
    return ParseGitea(headers, body, secret);
  }
  if (headers.count("x-github-event") != 0) return ParseGitHub(headers, body, secret);
  if (headers.count("x-gitlab-event") != 0) return ParseGitLab(headers, body, secret);
  if (headers.count("x-event-key") != 0) return ParseBitbucket(headers, body, secret);
  return Invalid(
      "unrecognised webhook: no X-GitHub-Event, X-Gitea-Event, X-Forgejo-Event, X-Gitlab-Event "
      "or X-Event-Key header");
}

}  // namespace drydock::triggers
