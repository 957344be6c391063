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

#include "oci/manifest.h"
#include "oci/platform.h"
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

// Whether the base now at `digest` (`index`: its bytes when an index) is
// not what `row` was built from: for a row that knows its platform, only
// that platform's image counts, so a change to an index's arm64 entry
// leaves its amd64 builds alone.
bool Outdated(const storage::DependencyRow& row, const std::string& digest,
              const std::string& index) {
  if (row.digest == digest) return false;
  if (row.manifest.empty()) return true;             // recorded before platforms were
  if (index.empty()) return row.manifest != digest;  // a single image now
  auto platform = oci::ParsePlatform(row.platform);
  if (!platform.ok()) return true;
  auto now = oci::PickPlatform(index, *platform, row.repository);
  return !now.ok() || now->str() != row.manifest;  // gone for the platform: a run says so
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
  DD_ASSIGN_OR_RETURN(index, IndexBytes(e.repository, e.digest));
  return OnBaseUpdated(rows, image, CascadeOf(e.actor), "event:" + std::to_string(e.id), index,
                       e.time * 1000);
}

// The bytes of a manifest of this registry when it is an index, else "".
Result<std::string> Service::IndexBytes(const std::string& repository, const std::string& digest) {
  auto d = oci::Digest::Parse(digest);
  if (!d.ok()) return std::string();
  auto m = store_.GetManifest(repository, *d);
  if (!m.ok()) {
    if (m.status().code() == Code::kNotFound) return std::string();  // deleted since
    return m.status();
  }
  return oci::IsIndexMediaType(m->media_type) ? m->content : std::string();
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
                              const std::string& cause_id, const std::string& index,
                              int64_t pushed_at_ms) {
  std::lock_guard lock(handle_mu_);
  Status retry = Status::Ok();
  std::set<std::string> done;
  for (const auto& row : rows) {
    if (!done.insert(row.task).second) continue;
    auto task = tasks_.Get(row.task);
    if (!task.ok() || !task->enabled || !task->base_image_trigger) continue;
    bool outdated = false;
    for (const auto& r : rows) {
      if (r.task == row.task && Covers(*task, r) && Outdated(r, image.digest, index))
        outdated = true;
    }
    // Same image (for each platform built), or only a build-time base under Runtime.
    if (!outdated) continue;
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
    if (pushed_at_ms > 0 && options_.metrics)
      options_.metrics->BaseImageTriggered(static_cast<double>(run->create_time_ms - pushed_at_ms) /
                                           1000);
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
  std::set<std::string> seen_tasks, seen_rows;
  // (rows depending on one image, depth)
  std::deque<std::pair<std::vector<storage::DependencyRow>, int>> frontier;
  if (ref.digest) {
    DD_ASSIGN_OR_RETURN(all, store_.Dependencies(""));
    std::vector<storage::DependencyRow> built;
    for (const auto& r : all) {
      // The digest a tag resolved to, or one platform's image of an index.
      if (r.digest == ref.digest->str() || r.manifest == ref.digest->str()) built.push_back(r);
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
      // A row per platform built from the base; the task's images once.
      if (!seen_rows.insert(row.task + "\n" + row.platform).second) continue;
      DD_ASSIGN_OR_RETURN(task, tasks_.Get(row.task));
      Dependent d;
      d.task = row.task;
      d.depth = depth;
      d.kind = row.kind;
      d.base = row.registry + "/" + row.repository + ":" + row.tag;
      d.platform = row.platform;
      d.built_from = row.digest;
      d.images = task.images;
      if (IsOwn(row.registry)) {
        if (auto now = store_.ResolveTag(row.repository, row.tag); now.ok()) {
          d.current = now->str();
          DD_ASSIGN_OR_RETURN(index, IndexBytes(row.repository, d.current));
          d.up_to_date = !row.digest.empty() && !Outdated(row, d.current, index);
        }
      }
      out.push_back(std::move(d));
      if (!seen_tasks.insert(row.task).second) continue;
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
