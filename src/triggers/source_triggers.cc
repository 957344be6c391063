// Source triggers: webhooks from git hosts and, for remotes that cannot
// send them, polling the task's branch with `git ls-remote`.
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "source/source.h"
#include "triggers/triggers.h"

namespace drydock::triggers {

using json = nlohmann::json;

namespace {

// PR actions that change nothing to build.
bool ClosesPullRequest(const std::string& action) {
  for (const char* a : {"closed", "close", "merge", "merged", "declined", "fulfilled", "rejected",
                        "labeled", "unlabeled", "assigned", "unassigned"}) {
    if (action == a) return true;
  }
  return false;
}

// What a commit (or a pull request at a commit) queues: one run of a task.
std::string CommitCause(const std::string& task, const std::string& commit,
                        const std::string& pull_request) {
  return pull_request.empty() ? "commit:" + task + ":" + commit
                              : "pr:" + task + ":" + pull_request + ":" + commit;
}

WebhookOutcome Ignored(std::string why) {
  return {202, "ignored: " + std::move(why), std::nullopt};
}

int HttpStatusOf(Code code) {
  switch (code) {
    case Code::kUnauthenticated:
      return 401;
    case Code::kNotFound:
      return 202;  // an event kind we do not act on
    default:
      return 400;
  }
}

}  // namespace

// How /metrics counts a delivery: which provider's headers it has (as
// ParseWebhook tells them apart, also when the signature is bad) and what
// became of it.
static std::string ProviderOf(const Headers& h) {
  if (h.count("x-gitea-event") || h.count("x-forgejo-event")) return "gitea";
  if (h.count("x-github-event")) return "github";
  if (h.count("x-gitlab-event")) return "gitlab";
  if (h.count("x-event-key")) return "bitbucket";
  return "unknown";
}

static std::string Verdict(const WebhookOutcome& out) {
  if (out.run) return "accepted";
  if (out.http_status == 401) return "bad_signature";
  if (out.message.starts_with("duplicate")) return "duplicate";
  if (out.message.starts_with("ignored")) return "ignored";
  return out.http_status >= 500 ? "error" : "invalid";
}

WebhookOutcome Service::OnWebhook(const std::string& name, const Headers& headers,
                                  const std::string& body) {
  WebhookOutcome out = HandleWebhook(name, headers, body);
  if (options_.metrics) options_.metrics->WebhookDelivery(ProviderOf(headers), Verdict(out));
  return out;
}

WebhookOutcome Service::HandleWebhook(const std::string& name, const Headers& headers,
                                      const std::string& body) {
  // An unknown task answers as a bad signature does: the answer must not
  // tell an unauthenticated caller which task names exist.
  auto task = tasks_.Get(name);
  auto event = ParseWebhook(headers, body, task.ok() ? task->webhook_secret : std::string());
  if (!task.ok() || (!event.ok() && event.status().code() == Code::kUnauthenticated))
    return {401, "the webhook signature is not valid for this task (or there is no such task)",
            std::nullopt};
  if (!event.ok()) return {HttpStatusOf(event.status().code()), event.status().message(), {}};
  const GitEvent& e = *event;
  if (e.deleted) return Ignored("branch " + e.branch + " was deleted");
  if (!task->enabled) return Ignored("task " + name + " is disabled");
  bool pr = e.type == GitEventType::kPullRequest;
  if (pr && !task->pull_request_trigger) return Ignored("the pull request trigger is off");
  if (!pr && !task->commit_trigger) return Ignored("the commit trigger is off");
  if (e.branch != task->branch)
    return Ignored((pr ? "pull request into " : "push to ") + e.branch + ", the task builds " +
                   task->branch);
  if (pr && ClosesPullRequest(e.pull_request_action))
    return Ignored("pull request action '" + e.pull_request_action + "'");
  auto asked =
      std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::now().time_since_epoch())
          .count();
  tasks::RunTrigger trigger;
  trigger.source = tasks::SourceTrigger{pr ? "pullrequest" : "commit",
                                        e.commit,
                                        e.branch,
                                        e.pull_request_id,
                                        e.repository_url,
                                        e.provider};
  // One run per commit (per pull request and commit), whatever the
  // delivery: a redelivery, a signed body replayed with a new id or
  // relabelled as another provider, and a poll all name the same commit.
  auto run =
      tasks_.Queue(name, {}, trigger, CommitCause(name, e.commit, pr ? e.pull_request_id : ""));
  if (!run.ok()) return {500, run.status().message(), std::nullopt};
  if (run->create_time_ms < asked)
    return {200,
            "duplicate: commit " + e.commit + " was already queued for task " + name + " (" +
                run->id + ")",
            std::nullopt};
  return {202, "queued " + run->id, *run};
}

void Service::PollSources(SystemClock::time_point now) {
  auto all = tasks_.List();
  if (!all.ok()) return;
  for (const auto& task : *all) {
    if (task.source_poll_seconds <= 0 || !task.enabled || !task.commit_trigger) continue;
    std::string key = "source:" + task.name;
    {
      std::lock_guard lock(mu_);
      auto& slot = polls_[key];
      if (now < slot.due) continue;
      slot.due = now + PollInterval(task.source_poll_seconds);
    }
    auto git = source::ParseGitSource(task.source);
    if (!git.ok()) continue;
    source::GitOptions o;
    o.token = task.git_token;
    o.allow_file = task.source.starts_with("file://");  // only accepted when the server allows it
    o.timeout = std::chrono::seconds(60);
    o.allow_private = options_.allow_private_fetches;
    auto head = source::ResolveGitBranch(git->url, task.branch, o);
    if (!head.ok() && options_.metrics) options_.metrics->PollError("git");
    auto state = tasks_.State(task.name);
    json seen = json::parse(state.ok() ? *state : "{}", nullptr, false);
    std::string last =
        seen.is_object() ? seen.value(json::json_pointer("/sourcePoll/commit"), "") : "";
    json record = {
        {"checkedAt",
         std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()},
        {"error", head.ok() ? "" : head.status().message()}};
    if (head.ok()) record["commit"] = *head;
    (void)MergeState(task.name, "sourcePoll",
                     record.dump());  // display state; the next poll rewrites it
    // The first look only sets where the branch is.
    if (!head.ok() || last.empty() || *head == last) continue;
    tasks::RunTrigger trigger;
    trigger.source =
        tasks::SourceTrigger{"commit", *head, task.branch, "", source::RedactUrl(git->url), "poll"};
    auto run = tasks_.Queue(task.name, {}, trigger, CommitCause(task.name, *head, ""));
    if (run.ok()) {
      spdlog::info("source poll: {} moved to {}, queued {}", task.name, *head, run->id);
    } else {
      spdlog::warn("source poll: cannot queue {}: {}", task.name, run.status().message());
    }
  }
}

}  // namespace drydock::triggers
