// Verification and parsing of git-host webhooks (push and pull-request events) from GitHub,
// GitLab, Gitea/Forgejo and Bitbucket (Cloud and Server/Data Center). The result is one
// provider-neutral GitEvent that the trigger layer matches against its tasks.
#pragma once

#include <map>
#include <string>

#include "base/hmac.h"  // HmacSha256Hex: what the providers sign with
#include "base/result.h"

namespace drydock::triggers {

// Header names are given lower-case.
using Headers = std::map<std::string, std::string>;

enum class GitEventType { kPush, kPullRequest };

struct GitEvent {
  std::string provider;     // "github" | "gitlab" | "gitea" | "bitbucket"
  std::string delivery_id;  // the provider's per-delivery id header; "" if none
  GitEventType type = GitEventType::kPush;
  std::string branch;  // push: the pushed branch ("refs/heads/" stripped); PR: the target branch
  std::string commit;  // push: the new head commit ("" when deleted); PR: the PR's head commit
  std::string pull_request_id;      // PR number as text, "" for pushes
  std::string pull_request_action;  // the provider's word, lower-case ("opened", "update", ...)
  std::string repository_url;       // clone URL of the repository (https clone URL when given)
  bool deleted = false;             // a push that deletes the branch; callers ignore it
};

// Identifies the provider from the headers, checks the signature (or GitLab token) against
// `secret`, and parses the JSON body.
//  - GitHub: X-GitHub-Event push|pull_request; X-Hub-Signature-256 "sha256=<hex HMAC-SHA256>".
//  - Gitea/Forgejo: X-Gitea-Event / X-Forgejo-Event push|pull_request; X-Gitea-Signature /
//    X-Forgejo-Signature "<hex HMAC-SHA256>". Detected before GitHub: Gitea also sends
//    X-GitHub-Event.
//  - GitLab: X-Gitlab-Event "Push Hook"|"Merge Request Hook"; X-Gitlab-Token equals the secret.
//  - Bitbucket Cloud (X-Event-Key repo:push, pullrequest:created|updated|fulfilled|rejected) and
//    Server/Data Center (repo:refs_changed, pr:opened|from_ref_updated|modified|merged|declined):
//    X-Hub-Signature "sha256=<hex HMAC-SHA256>". The PR action is the part after the colon.
// Errors:
//  - kUnauthenticated: the signature/token header is missing or does not match (the message names
//    the header, never the secret or the expected value), or `secret` is empty — an unsigned hook
//    would let anyone start builds, so it is refused rather than accepted.
//  - kNotFound: an authentic delivery this component does not act on (GitHub "ping", "issues",
//    GitLab "Tag Push Hook", tag pushes, PR comments...), so the caller can answer 202.
//  - kInvalid: unknown provider, malformed JSON, or a missing field (the message names it).
// Secrets and signatures are compared in constant time.
Result<GitEvent> ParseWebhook(const Headers& headers, const std::string& body,
                              const std::string& secret);

}  // namespace drydock::triggers
