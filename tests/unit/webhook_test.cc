#include "triggers/webhook.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace drydock::triggers {
namespace {

constexpr char kSecret[] = "It's a Secret to Everybody";

// --- Payloads: trimmed copies of the providers' documented shapes. Head, base and "before"
// commits all differ so that reading the wrong one fails a test. ---

constexpr char kGitHubPush[] = R"({
  "ref": "refs/heads/main",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "repository": {
    "id": 1296269,
    "name": "Hello-World",
    "full_name": "octocat/Hello-World",
    "html_url": "https://github.com/octocat/Hello-World",
    "clone_url": "https://github.com/octocat/Hello-World.git",
    "ssh_url": "git@github.com:octocat/Hello-World.git",
    "default_branch": "main"
  },
  "pusher": {"name": "octocat", "email": "octocat@github.com"},
  "created": false,
  "deleted": false,
  "forced": false,
  "compare": "https://github.com/octocat/Hello-World/compare/6113728f27ae...0d1a26e67d8f",
  "commits": [{"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Update README.md"}],
  "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Update README.md"}
})";

constexpr char kGitHubBranchDelete[] = R"({
  "ref": "refs/heads/feature/old",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "0000000000000000000000000000000000000000",
  "repository": {"clone_url": "https://github.com/octocat/Hello-World.git"},
  "created": false,
  "deleted": true,
  "forced": false,
  "commits": [],
  "head_commit": null
})";

constexpr char kGitHubTagPush[] = R"({
  "ref": "refs/tags/v1.2.0",
  "before": "0000000000000000000000000000000000000000",
  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "repository": {"clone_url": "https://github.com/octocat/Hello-World.git"},
  "created": true,
  "deleted": false
})";

constexpr char kGitHubPullRequest[] = R"({
  "action": "Synchronize",
  "number": 42,
  "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
  "after": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
  "pull_request": {
    "url": "https://api.github.com/repos/octocat/Hello-World/pulls/42",
    "id": 1234567,
    "number": 42,
    "state": "open",
    "title": "Add a Dockerfile",
    "head": {
      "label": "octocat:feature/docker",
      "ref": "feature/docker",
      "sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
      "repo": {"clone_url": "https://github.com/forker/Hello-World.git"}
    },
    "base": {
      "label": "octocat:main",
      "ref": "main",
      "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
      "repo": {"clone_url": "https://github.com/octocat/Hello-World.git"}
    }
  },
  "repository": {
    "full_name": "octocat/Hello-World",
    "html_url": "https://github.com/octocat/Hello-World",
    "clone_url": "https://github.com/octocat/Hello-World.git"
  },
  "sender": {"login": "octocat"}
})";

constexpr char kGitHubPing[] = R"({
  "zen": "Keep it logically awesome.",
  "hook_id": 30,
  "hook": {"type": "Repository", "id": 30, "events": ["push", "pull_request"]}
})";

constexpr char kGiteaPush[] = R"({
  "ref": "refs/heads/develop",
  "before": "28e1879d029cb852e4844d9c718537df08844e03",
  "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
  "compare_url": "https://gitea.example.com/org/app/compare/28e1879d029c...bffeb7422404",
  "commits": [{"id": "bffeb74224043ba2feb48d137756c8a9331c449a", "message": "Fix build"}],
  "repository": {
    "id": 140,
    "name": "app",
    "full_name": "org/app",
    "html_url": "https://gitea.example.com/org/app",
    "ssh_url": "git@gitea.example.com:org/app.git",
    "clone_url": "https://gitea.example.com/org/app.git",
    "default_branch": "main"
  },
  "pusher": {"login": "dev"},
  "sender": {"login": "dev"}
})";

constexpr char kGiteaBranchDelete[] = R"({
  "ref": "refs/heads/old",
  "before": "28e1879d029cb852e4844d9c718537df08844e03",
  "after": "0000000000000000000000000000000000000000",
  "commits": [],
  "repository": {"clone_url": "https://gitea.example.com/org/app.git"}
})";

constexpr char kGiteaPullRequest[] = R"({
  "action": "synchronized",
  "number": 7,
  "pull_request": {
    "id": 311,
    "number": 7,
    "title": "Bump base image",
    "state": "open",
    "head": {"label": "renovate/alpine", "ref": "renovate/alpine",
             "sha": "4fd7b1c0e1a04c7e9b0b4a0e4a3c5f6d7e8f9a0b", "repo_id": 140},
    "base": {"label": "main", "ref": "main",
             "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "repo_id": 140},
    "merge_base": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
  },
  "repository": {"full_name": "org/app", "clone_url": "https://gitea.example.com/org/app.git"},
  "sender": {"login": "renovate"}
})";

constexpr char kGitLabPush[] = R"({
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/master",
  "ref_protected": true,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_id": 4,
  "user_username": "jsmith",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "Diaspora",
    "web_url": "https://gitlab.example.com/mike/diaspora",
    "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git",
    "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
    "path_with_namespace": "mike/diaspora",
    "default_branch": "master"
  },
  "commits": [{"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "message": "fixed readme"}],
  "total_commits_count": 1,
  "repository": {
    "name": "Diaspora",
    "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
    "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git"
  }
})";

constexpr char kGitLabBranchDelete[] = R"({
  "object_kind": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "0000000000000000000000000000000000000000",
  "ref": "refs/heads/stale",
  "checkout_sha": null,
  "project": {"git_http_url": "https://gitlab.example.com/mike/diaspora.git"},
  "commits": [],
  "total_commits_count": 0
})";

constexpr char kGitLabMergeRequest[] = R"({
  "object_kind": "merge_request",
  "event_type": "merge_request",
  "user": {"id": 1, "username": "root"},
  "project": {
    "id": 1,
    "name": "Gitlab Test",
    "web_url": "https://gitlab.example.com/gitlabhq/gitlab-test",
    "git_ssh_url": "git@gitlab.example.com:gitlabhq/gitlab-test.git",
    "git_http_url": "https://gitlab.example.com/gitlabhq/gitlab-test.git",
    "path_with_namespace": "gitlabhq/gitlab-test"
  },
  "object_attributes": {
    "id": 99,
    "iid": 1,
    "target_branch": "master",
    "source_branch": "ms-viewport",
    "source_project_id": 14,
    "target_project_id": 14,
    "state": "opened",
    "title": "MS-Viewport",
    "last_commit": {
      "id": "b83d6e391c22777fca1ed3012fce84f633d7fed0",
      "message": "fixed readme",
      "timestamp": "2012-01-03T23:36:29+02:00"
    },
    "action": "update"
  },
  "repository": {"name": "Gitlab Test", "url": "git@gitlab.example.com:gitlabhq/gitlab-test.git"}
})";

constexpr char kBitbucketCloudPush[] = R"({
  "actor": {"display_name": "Emma", "type": "user"},
  "repository": {
    "type": "repository",
    "name": "app",
    "full_name": "team/app",
    "uuid": "{7b3f9c6e-0d4f-4d4a-9f3e-8a1f0c2b3d4e}",
    "links": {
      "self": {"href": "https://api.bitbucket.org/2.0/repositories/team/app"},
      "html": {"href": "https://bitbucket.org/team/app"}
    }
  },
  "push": {
    "changes": [{
      "old": {"type": "branch", "name": "main",
              "target": {"type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}},
      "new": {"type": "branch", "name": "main",
              "target": {"type": "commit", "hash": "c1a8b4c2f7d9e0a3b5c6d7e8f9a0b1c2d3e4f5a6",
                         "message": "Add healthcheck"}},
      "created": false,
      "closed": false,
      "forced": false,
      "commits": [{"hash": "c1a8b4c2f7d9e0a3b5c6d7e8f9a0b1c2d3e4f5a6"}],
      "truncated": false
    }]
  }
})";

constexpr char kBitbucketCloudBranchDelete[] = R"({
  "actor": {"display_name": "Emma"},
  "repository": {"full_name": "team/app", "links": {"html": {"href": "https://bitbucket.org/team/app"}}},
  "push": {
    "changes": [{
      "old": {"type": "branch", "name": "feature/gone",
              "target": {"type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}},
      "new": null,
      "created": false,
      "closed": true
    }]
  }
})";

constexpr char kBitbucketCloudPullRequest[] = R"({
  "actor": {"display_name": "Emma"},
  "pullrequest": {
    "id": 17,
    "type": "pullrequest",
    "title": "Add build",
    "state": "OPEN",
    "source": {
      "branch": {"name": "feature/build"},
      "commit": {"type": "commit", "hash": "d3022fc0ca3d"},
      "repository": {"full_name": "emma/app"}
    },
    "destination": {
      "branch": {"name": "main"},
      "commit": {"type": "commit", "hash": "ce5965ddd289"},
      "repository": {"full_name": "team/app"}
    }
  },
  "repository": {"full_name": "team/app", "links": {"html": {"href": "https://bitbucket.org/team/app"}}}
})";

constexpr char kBitbucketServerPush[] = R"({
  "eventKey": "repo:refs_changed",
  "date": "2017-09-19T09:45:32+1000",
  "actor": {"name": "admin", "id": 1, "displayName": "Administrator", "slug": "admin"},
  "repository": {
    "slug": "repository",
    "id": 84,
    "name": "repository",
    "scmId": "git",
    "state": "AVAILABLE",
    "project": {"key": "PROJ", "id": 84, "name": "project"},
    "public": false,
    "links": {
      "clone": [
        {"href": "ssh://git@bitbucket.example.com:7999/proj/repository.git", "name": "ssh"},
        {"href": "https://bitbucket.example.com/scm/proj/repository.git", "name": "http"}
      ],
      "self": [{"href": "https://bitbucket.example.com/projects/PROJ/repos/repository/browse"}]
    }
  },
  "changes": [{
    "ref": {"id": "refs/heads/master", "displayId": "master", "type": "BRANCH"},
    "refId": "refs/heads/master",
    "fromHash": "ecddabb624f6f5ba43816f5926e580a5f680a932",
    "toHash": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
    "type": "UPDATE"
  }]
})";

constexpr char kBitbucketServerBranchDelete[] = R"({
  "eventKey": "repo:refs_changed",
  "repository": {"slug": "repository", "project": {"key": "PROJ"}},
  "changes": [{
    "ref": {"id": "refs/heads/old", "displayId": "old", "type": "BRANCH"},
    "refId": "refs/heads/old",
    "fromHash": "ecddabb624f6f5ba43816f5926e580a5f680a932",
    "toHash": "0000000000000000000000000000000000000000",
    "type": "DELETE"
  }]
})";

constexpr char kBitbucketServerPullRequest[] = R"({
  "eventKey": "pr:from_ref_updated",
  "date": "2017-09-19T10:39:36+1000",
  "actor": {"name": "admin", "id": 1},
  "pullRequest": {
    "id": 2,
    "version": 1,
    "title": "a new file added",
    "state": "OPEN",
    "open": true,
    "fromRef": {
      "id": "refs/heads/a-branch",
      "displayId": "a-branch",
      "latestCommit": "ef8755f06ee4b28c96a847a95cb8ec8ed6ddd1ca",
      "repository": {"slug": "repository", "project": {"key": "PROJ"}}
    },
    "toRef": {
      "id": "refs/heads/master",
      "displayId": "master",
      "latestCommit": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
      "repository": {
        "slug": "repository",
        "project": {"key": "PROJ"},
        "links": {"clone": [
          {"href": "https://bitbucket.example.com/scm/proj/repository.git", "name": "http"},
          {"href": "ssh://git@bitbucket.example.com:7999/proj/repository.git", "name": "ssh"}
        ]}
      }
    },
    "locked": false,
    "reviewers": [],
    "participants": []
  },
  "previousFromHash": "aab847db7a4ba11b4f3c8d2a5e0b0e25b9c3a2b1"
})";

// --- Header builders: each signs `body` exactly the way its provider does. ---

Headers GitHubHeaders(const std::string& event, const std::string& body) {
  return {{"x-github-event", event},
          {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
          {"x-hub-signature-256", "sha256=" + HmacSha256Hex(kSecret, body)},
          {"content-type", "application/json"}};
}

// Gitea also sends the GitHub-compatible headers; they must not make it look like GitHub.
Headers GiteaHeaders(const std::string& event, const std::string& body) {
  return {{"x-gitea-event", event},
          {"x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
          {"x-gitea-signature", HmacSha256Hex(kSecret, body)},
          {"x-github-event", event},
          {"x-github-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
          {"x-hub-signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}};
}

Headers ForgejoHeaders(const std::string& event, const std::string& body) {
  Headers h = GiteaHeaders(event, body);
  h["x-forgejo-event"] = event;
  h["x-forgejo-delivery"] = "0b6c2a8e-5d4f-4e3a-9c1b-7f8e9d0a1b2c";
  h["x-forgejo-signature"] = HmacSha256Hex(kSecret, body);
  return h;
}

Headers GitLabHeaders(const std::string& event, const std::string& token = kSecret) {
  return {{"x-gitlab-event", event},
          {"x-gitlab-event-uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e"},
          {"x-gitlab-instance", "https://gitlab.example.com"},
          {"x-gitlab-token", token}};
}

Headers BitbucketCloudHeaders(const std::string& key, const std::string& body) {
  return {{"x-event-key", key},
          {"x-hook-uuid", "cb4a4f6b-0000-0000-0000-hookhookhook"},
          {"x-request-uuid", "afc57b4b-2f1a-4b1e-9c7d-0e5f1a2b3c4d"},
          {"x-attempt-number", "1"},
          {"x-hub-signature", "sha256=" + HmacSha256Hex(kSecret, body)}};
}

Headers BitbucketServerHeaders(const std::string& key, const std::string& body) {
  return {{"x-event-key", key},
          {"x-request-id", "9d1e6b0a-3c2f-4e5d-8a7b-6c5d4e3f2a1b"},
          {"x-hub-signature", "sha256=" + HmacSha256Hex(kSecret, body)}};
}

void ExpectRejected(const Result<GitEvent>& r, Code code, const std::string& mentions) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  EXPECT_NE(r.status().message().find(mentions), std::string::npos) << r.status().message();
}

// --- HMAC ---

TEST(WebhookTest, HmacMatchesRfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// --- GitHub ---

TEST(WebhookTest, GitHubPush) {
  auto r = ParseWebhook(GitHubHeaders("push", kGitHubPush), kGitHubPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "github");
  EXPECT_EQ(r->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(r->type, GitEventType::kPush);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
  EXPECT_EQ(r->pull_request_id, "");
  EXPECT_EQ(r->repository_url, "https://github.com/octocat/Hello-World.git");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, GitHubPullRequestUsesHeadCommitAndBaseBranch) {
  auto r =
      ParseWebhook(GitHubHeaders("pull_request", kGitHubPullRequest), kGitHubPullRequest, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "github");
  EXPECT_EQ(r->type, GitEventType::kPullRequest);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "e5bd3914e2e596debea16f433f57875b5b90bcd6");
  EXPECT_EQ(r->pull_request_id, "42");
  EXPECT_EQ(r->pull_request_action, "synchronize");
  EXPECT_EQ(r->repository_url, "https://github.com/octocat/Hello-World.git");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, GitHubBranchDeletion) {
  auto r = ParseWebhook(GitHubHeaders("push", kGitHubBranchDelete), kGitHubBranchDelete, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->branch, "feature/old");
  EXPECT_EQ(r->commit, "");
}

TEST(WebhookTest, GitHubPingIsIgnored) {
  auto r = ParseWebhook(GitHubHeaders("ping", kGitHubPing), kGitHubPing, kSecret);
  ExpectRejected(r, Code::kNotFound, "ping");
}

TEST(WebhookTest, GitHubOtherEventIsIgnored) {
  std::string body = R"({"action": "opened", "issue": {"number": 1}})";
  ExpectRejected(ParseWebhook(GitHubHeaders("issues", body), body, kSecret), Code::kNotFound,
                 "issues");
}

TEST(WebhookTest, GitHubPingStillNeedsAValidSignature) {
  Headers h = GitHubHeaders("ping", kGitHubPing);
  h["x-hub-signature-256"] = "sha256=" + HmacSha256Hex("another secret", kGitHubPing);
  ExpectRejected(ParseWebhook(h, kGitHubPing, kSecret), Code::kUnauthenticated,
                 "X-Hub-Signature-256");
}

TEST(WebhookTest, GitHubTagPushIsIgnored) {
  auto r = ParseWebhook(GitHubHeaders("push", kGitHubTagPush), kGitHubTagPush, kSecret);
  ExpectRejected(r, Code::kNotFound, "refs/tags/v1.2.0");
}

TEST(WebhookTest, GitHubWrongSecret) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  auto r = ParseWebhook(h, kGitHubPush, "not the secret");
  ExpectRejected(r, Code::kUnauthenticated, "X-Hub-Signature-256");
  EXPECT_NE(r.status().message().find("does not match"), std::string::npos);
}

TEST(WebhookTest, GitHubMissingSignature) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  h.erase("x-hub-signature-256");
  // The legacy SHA-1 header is not accepted in place of the SHA-256 one.
  h["x-hub-signature"] = "sha1=0000000000000000000000000000000000000000";
  auto r = ParseWebhook(h, kGitHubPush, kSecret);
  ExpectRejected(r, Code::kUnauthenticated, "X-Hub-Signature-256");
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
}

TEST(WebhookTest, GitHubSignatureWithoutPrefixIsRejected) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  h["x-hub-signature-256"] = HmacSha256Hex(kSecret, kGitHubPush);
  auto r = ParseWebhook(h, kGitHubPush, kSecret);
  ExpectRejected(r, Code::kUnauthenticated, "X-Hub-Signature-256");
  EXPECT_NE(r.status().message().find("sha256=<hex>"), std::string::npos);
}

TEST(WebhookTest, GitHubSignatureOverDifferentBodyIsRejected) {
  std::string forged = kGitHubPush;
  forged.replace(forged.find("refs/heads/main"), 15, "refs/heads/prod");
  Headers h = GitHubHeaders("push", kGitHubPush);  // Signed over the original body.
  ExpectRejected(ParseWebhook(h, forged, kSecret), Code::kUnauthenticated, "X-Hub-Signature-256");
}

TEST(WebhookTest, UpperCaseHexSignatureIsAccepted) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  std::string sig = HmacSha256Hex(kSecret, kGitHubPush);
  for (char& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  h["x-hub-signature-256"] = "sha256=" + sig;
  EXPECT_TRUE(ParseWebhook(h, kGitHubPush, kSecret).ok());
}

TEST(WebhookTest, ErrorsNeverEchoTheSecretOrExpectedSignature) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  h["x-hub-signature-256"] = "sha256=deadbeef";
  auto r = ParseWebhook(h, kGitHubPush, kSecret);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(r.status().message().find(HmacSha256Hex(kSecret, kGitHubPush)), std::string::npos);
  auto g = ParseWebhook(GitLabHeaders("Push Hook", "guess"), kGitLabPush, kSecret);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message().find(kSecret), std::string::npos);
}

TEST(WebhookTest, EmptySecretRefusesEvenMatchingRequests) {
  Headers h = GitHubHeaders("push", kGitHubPush);
  h["x-hub-signature-256"] = "sha256=" + HmacSha256Hex("", kGitHubPush);
  EXPECT_EQ(ParseWebhook(h, kGitHubPush, "").status().code(), Code::kUnauthenticated);
  Headers g = GitLabHeaders("Push Hook", "");
  EXPECT_EQ(ParseWebhook(g, kGitLabPush, "").status().code(), Code::kUnauthenticated);
}

TEST(WebhookTest, MalformedJsonIsInvalid) {
  std::string body = R"({"ref": "refs/heads/main", "after": )";
  ExpectRejected(ParseWebhook(GitHubHeaders("push", body), body, kSecret), Code::kInvalid, "JSON");
  std::string array = "[1, 2, 3]";
  ExpectRejected(ParseWebhook(GitHubHeaders("push", array), array, kSecret), Code::kInvalid,
                 "JSON object");
}

TEST(WebhookTest, MissingOrMistypedFieldIsNamed) {
  std::string no_after = R"({"ref": "refs/heads/main",
                             "repository": {"clone_url": "https://github.com/o/r.git"}})";
  ExpectRejected(ParseWebhook(GitHubHeaders("push", no_after), no_after, kSecret), Code::kInvalid,
                 "'after'");
  // Wrong JSON types must come back as errors, not as nlohmann exceptions.
  std::string mistyped = R"({"action": "opened", "number": "", "pull_request": 5})";
  Result<GitEvent> r = Status();
  EXPECT_NO_THROW(r = ParseWebhook(GitHubHeaders("pull_request", mistyped), mistyped, kSecret));
  ExpectRejected(r, Code::kInvalid, "'number'");
  std::string bad_head = R"({"action": "opened", "number": 3, "pull_request": {"head": []}})";
  EXPECT_NO_THROW(r = ParseWebhook(GitHubHeaders("pull_request", bad_head), bad_head, kSecret));
  ExpectRejected(r, Code::kInvalid, "'pull_request.head.sha'");
}

TEST(WebhookTest, UnknownProviderIsInvalid) {
  Headers h = {{"content-type", "application/json"},
               {"x-hub-signature-256", "sha256=" + HmacSha256Hex(kSecret, kGitHubPush)}};
  ExpectRejected(ParseWebhook(h, kGitHubPush, kSecret), Code::kInvalid, "unrecognised webhook");
  ExpectRejected(ParseWebhook({}, kGitHubPush, kSecret), Code::kInvalid, "unrecognised webhook");
}

// --- Gitea / Forgejo ---

TEST(WebhookTest, GiteaPush) {
  auto r = ParseWebhook(GiteaHeaders("push", kGiteaPush), kGiteaPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "gitea");
  EXPECT_EQ(r->delivery_id, "f6266f16-1bf3-46a5-9ea4-602e06ead473");
  EXPECT_EQ(r->type, GitEventType::kPush);
  EXPECT_EQ(r->branch, "develop");
  EXPECT_EQ(r->commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
  EXPECT_EQ(r->repository_url, "https://gitea.example.com/org/app.git");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, GiteaPullRequest) {
  auto r =
      ParseWebhook(GiteaHeaders("pull_request", kGiteaPullRequest), kGiteaPullRequest, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "gitea");
  EXPECT_EQ(r->type, GitEventType::kPullRequest);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "4fd7b1c0e1a04c7e9b0b4a0e4a3c5f6d7e8f9a0b");
  EXPECT_EQ(r->pull_request_id, "7");
  EXPECT_EQ(r->pull_request_action, "synchronized");
  EXPECT_EQ(r->repository_url, "https://gitea.example.com/org/app.git");
}

TEST(WebhookTest, GiteaBranchDeletionByZeroAfter) {
  auto r = ParseWebhook(GiteaHeaders("push", kGiteaBranchDelete), kGiteaBranchDelete, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->branch, "old");
  EXPECT_EQ(r->commit, "");
}

TEST(WebhookTest, GiteaIsCheckedAgainstItsOwnSignatureHeader) {
  // A valid GitHub-style signature must not rescue a wrong X-Gitea-Signature.
  Headers h = GiteaHeaders("push", kGiteaPush);
  h["x-gitea-signature"] = HmacSha256Hex("wrong", kGiteaPush);
  ExpectRejected(ParseWebhook(h, kGiteaPush, kSecret), Code::kUnauthenticated, "X-Gitea-Signature");
  h.erase("x-gitea-signature");
  ExpectRejected(ParseWebhook(h, kGiteaPush, kSecret), Code::kUnauthenticated, "X-Gitea-Signature");
}

TEST(WebhookTest, ForgejoPush) {
  auto r = ParseWebhook(ForgejoHeaders("push", kGiteaPush), kGiteaPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "gitea");
  EXPECT_EQ(r->delivery_id, "0b6c2a8e-5d4f-4e3a-9c1b-7f8e9d0a1b2c");
  EXPECT_EQ(r->branch, "develop");
  EXPECT_EQ(r->commit, "bffeb74224043ba2feb48d137756c8a9331c449a");

  Headers h = ForgejoHeaders("push", kGiteaPush);
  h["x-forgejo-signature"] = HmacSha256Hex(kSecret, "{}");
  ExpectRejected(ParseWebhook(h, kGiteaPush, kSecret), Code::kUnauthenticated,
                 "X-Forgejo-Signature");
}

TEST(WebhookTest, GiteaOtherEventIsIgnored) {
  std::string body = R"({"action": "created"})";
  ExpectRejected(ParseWebhook(GiteaHeaders("issue_comment", body), body, kSecret), Code::kNotFound,
                 "issue_comment");
}

// --- GitLab ---

TEST(WebhookTest, GitLabPush) {
  auto r = ParseWebhook(GitLabHeaders("Push Hook"), kGitLabPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "gitlab");
  EXPECT_EQ(r->delivery_id, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_EQ(r->type, GitEventType::kPush);
  EXPECT_EQ(r->branch, "master");
  EXPECT_EQ(r->commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_EQ(r->repository_url, "https://gitlab.example.com/mike/diaspora.git");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, GitLabMergeRequest) {
  auto r = ParseWebhook(GitLabHeaders("Merge Request Hook"), kGitLabMergeRequest, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "gitlab");
  EXPECT_EQ(r->type, GitEventType::kPullRequest);
  EXPECT_EQ(r->branch, "master");
  EXPECT_EQ(r->commit, "b83d6e391c22777fca1ed3012fce84f633d7fed0");
  EXPECT_EQ(r->pull_request_id, "1");  // iid, not the instance-wide id 99
  EXPECT_EQ(r->pull_request_action, "update");
  EXPECT_EQ(r->repository_url, "https://gitlab.example.com/gitlabhq/gitlab-test.git");
}

TEST(WebhookTest, GitLabBranchDeletion) {
  auto r = ParseWebhook(GitLabHeaders("Push Hook"), kGitLabBranchDelete, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->branch, "stale");
  EXPECT_EQ(r->commit, "");
}

TEST(WebhookTest, GitLabWrongToken) {
  ExpectRejected(
      ParseWebhook(GitLabHeaders("Push Hook", "It's a Secret to Everybodx"), kGitLabPush, kSecret),
      Code::kUnauthenticated, "X-Gitlab-Token");
  // A prefix of the secret is no better than any other wrong token.
  ExpectRejected(ParseWebhook(GitLabHeaders("Push Hook", "It's a Secret"), kGitLabPush, kSecret),
                 Code::kUnauthenticated, "X-Gitlab-Token");
}

TEST(WebhookTest, GitLabMissingToken) {
  Headers h = GitLabHeaders("Push Hook");
  h.erase("x-gitlab-token");
  auto r = ParseWebhook(h, kGitLabPush, kSecret);
  ExpectRejected(r, Code::kUnauthenticated, "X-Gitlab-Token");
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
}

TEST(WebhookTest, GitLabTagPushHookIsIgnored) {
  ExpectRejected(ParseWebhook(GitLabHeaders("Tag Push Hook"), kGitLabPush, kSecret),
                 Code::kNotFound, "Tag Push Hook");
}

TEST(WebhookTest, GitLabMalformedJsonIsInvalid) {
  ExpectRejected(ParseWebhook(GitLabHeaders("Push Hook"), "{\"ref\": 'main'}", kSecret),
                 Code::kInvalid, "JSON");
}

// --- Bitbucket Cloud ---

TEST(WebhookTest, BitbucketCloudPush) {
  auto r = ParseWebhook(BitbucketCloudHeaders("repo:push", kBitbucketCloudPush),
                        kBitbucketCloudPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "bitbucket");
  EXPECT_EQ(r->delivery_id, "afc57b4b-2f1a-4b1e-9c7d-0e5f1a2b3c4d");
  EXPECT_EQ(r->type, GitEventType::kPush);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "c1a8b4c2f7d9e0a3b5c6d7e8f9a0b1c2d3e4f5a6");
  EXPECT_EQ(r->repository_url, "https://bitbucket.org/team/app");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, BitbucketCloudPullRequest) {
  auto r = ParseWebhook(BitbucketCloudHeaders("pullrequest:updated", kBitbucketCloudPullRequest),
                        kBitbucketCloudPullRequest, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "bitbucket");
  EXPECT_EQ(r->type, GitEventType::kPullRequest);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "d3022fc0ca3d");
  EXPECT_EQ(r->pull_request_id, "17");
  EXPECT_EQ(r->pull_request_action, "updated");
  EXPECT_EQ(r->repository_url, "https://bitbucket.org/team/app");
}

TEST(WebhookTest, BitbucketCloudBranchDeletion) {
  auto r = ParseWebhook(BitbucketCloudHeaders("repo:push", kBitbucketCloudBranchDelete),
                        kBitbucketCloudBranchDelete, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->branch, "feature/gone");
  EXPECT_EQ(r->commit, "");
}

TEST(WebhookTest, BitbucketCloudWrongSignature) {
  Headers h = BitbucketCloudHeaders("repo:push", kBitbucketCloudPush);
  h["x-hub-signature"] = "sha256=" + HmacSha256Hex(kSecret, kBitbucketCloudPullRequest);
  ExpectRejected(ParseWebhook(h, kBitbucketCloudPush, kSecret), Code::kUnauthenticated,
                 "X-Hub-Signature");
}

TEST(WebhookTest, BitbucketCommentEventIsIgnored) {
  std::string body = R"({"comment": {"id": 1}})";
  ExpectRejected(
      ParseWebhook(BitbucketCloudHeaders("pullrequest:comment_created", body), body, kSecret),
      Code::kNotFound, "pullrequest:comment_created");
  ExpectRejected(ParseWebhook(BitbucketServerHeaders("diagnostics:ping", body), body, kSecret),
                 Code::kNotFound, "diagnostics:ping");
}

// --- Bitbucket Server / Data Center ---

TEST(WebhookTest, BitbucketServerPush) {
  auto r = ParseWebhook(BitbucketServerHeaders("repo:refs_changed", kBitbucketServerPush),
                        kBitbucketServerPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "bitbucket");
  EXPECT_EQ(r->delivery_id, "9d1e6b0a-3c2f-4e5d-8a7b-6c5d4e3f2a1b");
  EXPECT_EQ(r->type, GitEventType::kPush);
  EXPECT_EQ(r->branch, "master");
  EXPECT_EQ(r->commit, "178864a7d521b6f5e720b386b2c2b0ef8563e0dc");
  EXPECT_EQ(r->repository_url, "https://bitbucket.example.com/scm/proj/repository.git");
  EXPECT_FALSE(r->deleted);
}

TEST(WebhookTest, BitbucketServerPullRequest) {
  auto r = ParseWebhook(BitbucketServerHeaders("pr:from_ref_updated", kBitbucketServerPullRequest),
                        kBitbucketServerPullRequest, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->provider, "bitbucket");
  EXPECT_EQ(r->type, GitEventType::kPullRequest);
  EXPECT_EQ(r->branch, "master");
  EXPECT_EQ(r->commit, "ef8755f06ee4b28c96a847a95cb8ec8ed6ddd1ca");
  EXPECT_EQ(r->pull_request_id, "2");
  EXPECT_EQ(r->pull_request_action, "from_ref_updated");
  EXPECT_EQ(r->repository_url, "https://bitbucket.example.com/scm/proj/repository.git");
}

TEST(WebhookTest, BitbucketServerBranchDeletion) {
  auto r = ParseWebhook(BitbucketServerHeaders("repo:refs_changed", kBitbucketServerBranchDelete),
                        kBitbucketServerBranchDelete, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->branch, "old");
  EXPECT_EQ(r->commit, "");
}

TEST(WebhookTest, BitbucketServerMissingSignature) {
  Headers h = BitbucketServerHeaders("repo:refs_changed", kBitbucketServerPush);
  h.erase("x-hub-signature");
  auto r = ParseWebhook(h, kBitbucketServerPush, kSecret);
  ExpectRejected(r, Code::kUnauthenticated, "X-Hub-Signature");
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
}

TEST(WebhookTest, BitbucketServerMissingFieldIsNamed) {
  std::string body = R"({"eventKey": "repo:refs_changed", "changes": []})";
  ExpectRejected(ParseWebhook(BitbucketServerHeaders("repo:refs_changed", body), body, kSecret),
                 Code::kInvalid, "changes.0.ref.displayId");
}

}  // namespace
}  // namespace drydock::triggers
