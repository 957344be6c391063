// The base-image trigger: a manifest pushed under a tag that tasks build
// from queues one run of each (coalesced, never looping), and
// `image dependents` walks the same index.
#include <algorithm>
#include <deque>
#include <set>
#include <thread>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "oci/reference.h"
#include "remote/http_client.h"
#include "triggers/triggers.h"

namespace drydock::triggers {

using json = nlohmann::json;

namespace {

// A chain longer than this is surely a loop the cascade check missed.
constexpr size_t kMaxCascade = 16;

std::string Name(const tasks::ImageDescriptor& i) {
  return i.registry + "/" + i.repository + ":" + i.tag;
}

bool Covers(const tasks::Task& task, const storage::DependencyRow& row) {
  return task.base_image_trigger_type == "All" || row.kind == "Runtime";
}

}  // namespace

Status Service::HandlePush(const events::ManifestEvent& e) {
  if (e.action != "push" || e.tag.empty()) return Status::Ok();
  std::vector<storage::DependencyRow> rows;
  for (const auto& registry : options_.own_registries) {
    DD_ASSIGN_OR_RETURN(found, store_.Dependents(registry, e.repository, e.tag));
    rows.insert(rows.end(), found.begin(), found.end());
  }
  if (rows.empty()) return Status::Ok();
  std::this_thread::sleep_for(options_.test_handle_delay);
  tasks::ImageDescriptor image{options_.own_registries.front(), e.repository, e.tag, e.digest};
  return OnBaseUpdated(rows, image, CascadeOf(e.actor), "event:" + std::to_string(e.id));
}

// The tasks whose runs led to this push: when a run of a task pushed it
// (its actor is "run:ID"), that run's cascade plus its task.
std::vector<std::string> Service::CascadeOf(const std::string& actor) {
  constexpr std::string_view kRun = "run:";
  if (!actor.starts_with(kRun)) return {};
  auto run = runs_.Get(actor.substr(kRun.size()));
  if (!run.ok() || run->request.task.empty()) return {};
  auto cascade = run->request.trigger.cascade;
  cascade.push_back(run->request.task);
  return cascade;
}

bool Service::HasQueuedRun(const std::string& task) {
  tasks::RunFilter filter;
  filter.top = 1;
  filter.task = task;
  filter.status = tasks::RunStatus::kQueued;
  auto runs = runs_.List(filter);
  return runs.ok() && !runs->empty();
}

// A store that fails (kInternal, kUnavailable) makes the whole update fail,
// to be handled again (runs already queued for it are found by their cause);
// a task that cannot be queued for a reason of its own is skipped.
Status Service::OnBaseUpdated(const std::vector<storage::DependencyRow>& rows,
                              const tasks::ImageDescriptor& image, std::vector<std::string> cascade,
                              const std::string& cause_id) {
  std::lock_guard lock(handle_mu_);
  Status retry = Status::Ok();
  std::set<std::string> done;
  for (const auto& row : rows) {
    if (!done.insert(row.task).second) continue;
    auto task = tasks_.Get(row.task);
    if (!task.ok() || !task->enabled || !task->base_image_trigger) continue;
    bool outdated = false;
    for (const auto& r : rows) {
      if (r.task == row.task && Covers(*task, r) && r.digest != image.digest) outdated = true;
    }
    if (!outdated) continue;  // same digest, or only a build-time base under Runtime
    if (std::find(cascade.begin(), cascade.end(), row.task) != cascade.end() ||
        cascade.size() >= kMaxCascade) {
      spdlog::warn("base-image trigger: {} not queued for {}: it is already in this cascade ({})",
                   row.task, Name(image), fmt::join(cascade, " -> "));
      continue;
    }
    // A queued run will build from whatever the tag holds when it starts.
    if (HasQueuedRun(row.task)) continue;
    tasks::RunTrigger trigger;
    trigger.image_update = {image};
    trigger.cascade = cascade;
    auto run = tasks_.Queue(row.task, {}, trigger,
                            cause_id.empty() ? "" : "base-image:" + row.task + ":" + cause_id);
    if (!run.ok()) {
      spdlog::warn("base-image trigger: cannot queue {}: {}", row.task, run.status().message());
      Code code = run.status().code();
      if (retry.ok() && (code == Code::kInternal || code == Code::kUnavailable))
        retry = run.status();
      continue;
    }
    spdlog::info("base-image trigger: {} updated, queued {} of task {}", Name(image), run->id,
                 row.task);
    if (!task->update_trigger_endpoint.empty()) Notify(*task, *run, image);
  }
  return retry;
}

// ACR's update-trigger endpoint: told which run an update queued, with the
// token given at `task run --update-trigger-token`.
void Service::Notify(const tasks::Task& task, const tasks::Run& run,
                     const tasks::ImageDescriptor& image) {
  std::string token;
  if (auto state = tasks_.State(task.name); state.ok()) {
    json s = json::parse(*state, nullptr, false);
    if (s.is_object()) token = s.value("updateTriggerToken", "");
  }
  std::string body = json{{"eventType", "BaseImageUpdate"},
                          {"task", task.name},
                          {"runId", run.id},
                          {"token", token},
                          {"images",
                           {{{"registry", image.registry},
                             {"repository", image.repository},
                             {"tag", image.tag},
                             {"digest", image.digest}}}}}
                         .dump();
  remote::HttpRequest req;
  req.method = "POST";
  req.url = task.update_trigger_endpoint;
  req.headers = {"Content-Type: application/json"};
  req.body = body;
  req.body_size = body.size();
  req.timeout_seconds = 5;
  auto sent = remote::SendHttp(req);
  std::string error = !sent.ok()                ? sent.status().message()
                      : sent->status / 100 != 2 ? "HTTP " + std::to_string(sent->status)
                                                : "";
  if (!error.empty()) spdlog::warn("update trigger endpoint of {}: {}", task.name, error);
  // Display state only; the warning above already reports the failure.
  (void)MergeState(task.name, "updateTriggerEndpoint",
                   json{{"lastRunId", run.id}, {"error", error}}.dump());
}

Result<std::vector<Dependent>> Service::Dependents(const std::string& text) {
  DD_ASSIGN_OR_RETURN(ref, oci::ParseImageReference(text, options_.own_registries.front()));
  std::vector<Dependent> out;
  std::set<std::string> seen_tasks;
  // (rows depending on one image, depth)
  std::deque<std::pair<std::vector<storage::DependencyRow>, int>> frontier;
  if (ref.digest) {
    DD_ASSIGN_OR_RETURN(all, store_.Dependencies(""));
    std::vector<storage::DependencyRow> built;
    for (const auto& r : all) {
      if (r.digest == ref.digest->str()) built.push_back(r);
    }
    frontier.emplace_back(std::move(built), 1);
  } else {
    if (ref.tag.empty()) ref.tag = "latest";
    DD_ASSIGN_OR_RETURN(rows, store_.Dependents(ref.registry, ref.repository, ref.tag));
    frontier.emplace_back(std::move(rows), 1);
  }
  while (!frontier.empty()) {
    auto [rows, depth] = std::move(frontier.front());
    frontier.pop_front();
    for (const auto& row : rows) {
      if (!seen_tasks.insert(row.task).second) continue;
      DD_ASSIGN_OR_RETURN(task, tasks_.Get(row.task));
      Dependent d{
          row.task,   depth, row.kind,   row.registry + "/" + row.repository + ":" + row.tag,
          row.digest, "",    task.images};
      if (IsOwn(row.registry)) {
        if (auto now = store_.ResolveTag(row.repository, row.tag); now.ok()) d.current = now->str();
      }
      out.push_back(std::move(d));
      for (const auto& image : task.images) {
        auto built = oci::ParseImageReference(image);
        if (!built.ok()) continue;  // "{{.Run.ID}}" tags are never anyone's base
        DD_ASSIGN_OR_RETURN(next, store_.Dependents(built->registry, built->repository,
                                                    built->tag.empty() ? "latest" : built->tag));
        frontier.emplace_back(std::move(next), depth + 1);
      }
    }
  }
  return out;
}

}  // namespace drydock::triggers
