// Multi-platform runs split over agents: when no agent of a run's pool
// builds all its platforms natively, each platform becomes a part run that
// an agent building it natively claims (the claim prefers native agents),
// and the server pushes the index of the parts' images under the run's
// tags once every part succeeded. The split run is never claimed: its
// state (which parts exist, which ended) is in the store, and the lease
// reaper (one server at a time) advances it.
#include <set>

#include <nlohmann/json.hpp>

#include "attest/referrers.h"
#include "base/json.h"
#include "oci/manifest.h"
#include "oci/platform.h"
#include "tasks/quick_build.h"
#include "tasks/run_record.h"
#include "tasks/service_impl.h"

namespace drydock::tasks {

using internal::NowMs;
using nlohmann::json;

namespace {

// Agents that have not called in for this long are not counted on.
constexpr int64_t kAgentSeenMs = 60'000;
constexpr char kEmulatedSuffix[] = " (emulated)";

// What an agent builds natively, from its row's "linux/amd64,linux/arm64
// (emulated)"; nullopt: it names none, so it builds any.
std::optional<std::set<std::string>> NativePlatforms(const std::string& shown) {
  if (shown.empty()) return std::nullopt;
  std::set<std::string> native;
  size_t start = 0;
  while (start <= shown.size()) {
    size_t comma = std::min(shown.find(',', start), shown.size());
    std::string p = shown.substr(start, comma - start);
    if (!p.empty() && !p.ends_with(kEmulatedSuffix)) native.insert(p);
    start = comma + 1;
  }
  return native;
}

bool BuildsAllNatively(const storage::AgentRow& agent, const std::vector<oci::Platform>& wanted) {
  auto native = NativePlatforms(agent.platforms);
  if (!native) return true;
  for (const auto& p : wanted)
    if (!native->count(p.String())) return false;
  return true;
}

json PlatformJson(const oci::Platform& p) {
  json j = {{"architecture", p.architecture}, {"os", p.os}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

// The image a part pushed (by digest, into each of the run's repositories).
Result<oci::ImageReference> PushedImage(const Run& part) {
  if (part.output_images.empty())
    return Internal("part " + part.id + " (" + part.request.platform + ") pushed no image");
  const ImageDescriptor& image = part.output_images.front();
  DD_ASSIGN_OR_RETURN(digest, oci::Digest::Parse(image.digest));
  return oci::ImageReference{image.registry, image.repository, "", digest};
}

// The parts' dependency documents as one: each platform image's entries.
std::string MergedDependencies(const std::vector<Run>& parts) {
  json all = json::array();
  for (const auto& part : parts) {
    auto doc = ParseJson(part.dependencies_json);
    if (doc.ok() && doc->is_array())
      for (auto& entry : *doc) all.push_back(std::move(entry));
  }
  return all.empty() ? "" : all.dump(2);
}

}  // namespace

bool RunService::Impl::ShouldSplit(const RunRequest& r) {
  if ((r.type != "QuickBuild" && r.type != "AutoBuild") || !r.parent.empty()) return false;
  if (!r.push || r.images.empty()) return false;  // nothing to assemble an index of
  auto platforms = oci::ParsePlatforms(r.platform);
  if (!platforms.ok() || platforms->size() < 2) return false;
  if (options.concurrency > 0 && r.agent_pool.empty()) return false;  // embedded: any platform
  auto agents = store.ListAgents();
  if (!agents.ok()) return false;  // built whole, as before there were agents
  bool seen = false;
  for (const auto& agent : *agents) {
    if (agent.pool != r.agent_pool || NowMs() - agent.last_seen_ms > kAgentSeenMs) continue;
    if (BuildsAllNatively(agent, *platforms)) return false;
    seen = true;
  }
  return seen;
}

namespace {

// Each part's log after the split run's own, its lines prefixed with the
// part's platform: following the run shows the whole build.
void AppendPartLogs(internal::LogStore& logs, const Run& run, const std::vector<Run>& parts) {
  auto log = logs.OpenWriter(run.id, {});
  if (!log.ok()) return;
  for (const auto& part : parts) {
    auto slice = logs.Read(part.id, 0, SIZE_MAX);
    if (!slice.ok()) continue;
    std::string prefix = "[" + part.request.platform + "] ";
    std::string text;
    size_t start = 0;
    while (start < slice->data.size()) {
      size_t nl = slice->data.find('\n', start);
      size_t end = nl == std::string::npos ? slice->data.size() : nl + 1;
      text += prefix + slice->data.substr(start, end - start);
      if (nl == std::string::npos) text += "\n";
      start = end;
    }
    (*log)->Output(text);
  }
  (*log)->Flush();
}

// The index of the parts' images, by digest into each tagged repository
// with its signature, then under each tag.
Status PushPartsIndex(const ServiceOptions& options, Run& run, const std::vector<Run>& parts,
                      internal::LogWriter& log) {
  DD_ASSIGN_OR_RETURN(tags,
                      internal::ParseImages(run.request.images, run.id, options.registry_host));
  remote::Client client(internal::RegistryOptions(options, run.request, run.id));
  json manifests = json::array();
  for (const auto& part : parts) {
    DD_ASSIGN_OR_RETURN(image, PushedImage(part));
    DD_ASSIGN_OR_RETURN(manifest, client.GetManifest(image));
    DD_ASSIGN_OR_RETURN(platform, oci::ParsePlatform(part.request.platform));
    manifests.push_back({{"mediaType", manifest.media_type},
                         {"digest", image.digest->str()},
                         {"size", manifest.bytes.size()},
                         {"platform", PlatformJson(platform)}});
  }
  const std::string media_type(oci::kOciIndex);
  const std::string index =
      json{{"schemaVersion", 2}, {"mediaType", media_type}, {"manifests", manifests}}.dump();
  const oci::Digest digest = oci::Digest::Of(index);
  std::vector<attest::Artifact> signatures;
  if (attest::Signer signer = options.signer ? options.signer(run.id) : attest::Signer{}) {
    attest::Subject subject{media_type, digest, static_cast<int64_t>(index.size())};
    DD_ASSIGN_OR_RETURN(signed_, attest::SignatureArtifacts(signer, {subject}));
    signatures = std::move(signed_);
  }
  std::set<std::string> repos;
  for (const auto& tag : tags) {
    if (!repos.insert(tag.RepositoryWithRegistry()).second) continue;
    oci::ImageReference repo = tag;
    repo.tag.clear();
    repo.digest = digest;
    DD_RETURN_IF_ERROR(client.PushManifest(repo, index, media_type).status());
    for (const auto& s : signatures) DD_RETURN_IF_ERROR(attest::PushArtifact(client, repo, s));
  }
  for (const auto& tag : tags) {
    log.Line("Pushing the index of " + std::to_string(parts.size()) + " platforms as " +
             tag.String());
    DD_RETURN_IF_ERROR(client.PushManifest(tag, index, media_type).status());
    run.output_images.push_back({tag.registry, tag.repository, tag.tag, digest.str()});
  }
  log.Line("Index " + digest.str() + " pushed");
  return Status::Ok();
}

}  // namespace

// A part's cause names the run and its platform: a second try finds the
// part the first queued.
Result<bool> RunService::Impl::QueueParts(Run& run) {
  bool queued = false;
  for (auto& p : run.parts) {
    if (!p.run_id.empty()) continue;
    Run part;
    part.request = run.request;  // from the store: with the secrets it needs
    part.request.platform = p.platform;
    part.request.parent = run.id;
    part.request.cause = "part:" + run.id + ":" + p.platform;
    part.create_time_ms = NowMs();
    DD_ASSIGN_OR_RETURN(created, Insert(part));
    p.run_id = RunId(created.seq);
    queued = true;
  }
  return queued;
}

Status RunService::Impl::AdvanceSplit(const storage::RunRow& row) {
  DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
  DD_ASSIGN_OR_RETURN(queued, QueueParts(run));
  if (queued) {
    DD_RETURN_IF_ERROR(Store(run, {row.status}, 0));
    if (auto log = logs.OpenWriter(run.id, {}); log.ok()) {
      for (const auto& p : run.parts)
        (*log)->Line("Platform " + p.platform + " is built by run " + p.run_id +
                     ", by an agent building it natively when one is free");
    }
    logs.Changed(run.id);
    SignalQueued();
  }
  std::vector<Run> parts;
  for (const auto& p : run.parts) {
    DD_ASSIGN_OR_RETURN(part_row, store.GetRun(p.run_id));
    DD_ASSIGN_OR_RETURN(part, internal::FromRow(part_row));
    parts.push_back(std::move(part));
  }
  // The cause: a part that failed, before one canceled (maybe because of it).
  const Run* failed = nullptr;
  bool all_final = true;
  for (const auto& part : parts) {
    if (!IsFinal(part.status)) all_final = false;
    if (!IsFinal(part.status) || part.status == RunStatus::kSucceeded) continue;
    if (!failed || (failed->status == RunStatus::kCanceled && part.status != RunStatus::kCanceled))
      failed = &part;
  }
  // One part failing fails the run: the others need not go on.
  if (row.cancel_requested || failed)
    for (const auto& part : parts)
      if (!IsFinal(part.status)) (void)CancelRun(part.id);
  if (!all_final) return Status::Ok();

  AppendPartLogs(logs, run, parts);
  auto log = logs.OpenWriter(run.id, internal::SecretsOf(run.request));
  if (!log.ok()) return log.status();
  if (row.cancel_requested) {
    run.status = RunStatus::kCanceled;
    run.error = "the run was canceled";
  } else if (failed) {
    run.status = RunStatus::kFailed;
    run.error = failed->request.platform + " (run " + failed->id + ") " +
                (failed->status == RunStatus::kCanceled ? std::string("was canceled")
                                                        : "failed: " + failed->error);
  } else if (Status pushed = PushPartsIndex(options, run, parts, **log); !pushed.ok()) {
    run.status = RunStatus::kFailed;
    run.error = (*log)->Redact("pushing the index of the platforms' images: " + pushed.message());
  } else {
    run.status = RunStatus::kSucceeded;
    run.dependencies_json = MergedDependencies(parts);
  }
  log->reset();
  return Finalize(run, {row.status}, 0);
}

}  // namespace drydock::tasks
