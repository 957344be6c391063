// RunService's public calls: queueing, reading, canceling, logs, uploads,
// and recovery at start. The queue's agent side is in queue.cc, the
// embedded agent in worker.cc.
#include <set>
#include <system_error>

#include "oci/platform.h"
#include "runtime/runtime.h"
#include "tasks/materialize.h"
#include "tasks/quick_build.h"
#include "tasks/run_record.h"
#include "tasks/service_impl.h"
#include "tasks/tasks.h"

namespace drydock::tasks {

namespace fs = std::filesystem;

using internal::NowMs;

namespace {

constexpr std::chrono::hours kContextTtl{1};
constexpr size_t kDefaultLogChunk = 1 << 20;

std::vector<std::string> Names(std::initializer_list<RunStatus> statuses) {
  std::vector<std::string> out;
  for (auto s : statuses) out.emplace_back(StatusName(s));
  return out;
}

Result<Run> Public(const storage::RunRow& row) {
  DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
  run.request = internal::Scrubbed(std::move(run.request));
  return std::move(run);
}

}  // namespace

RunService::Impl::Impl(storage::MetadataStore& s, storage::BlobStore& blobs, ServiceOptions o)
    : store(s),
      options([&] {
        if (o.build_state.empty()) o.build_state = o.data_dir / "build";
        if (o.concurrency < 0) o.concurrency = 0;
        if (o.max_attempts < 1) o.max_attempts = 1;
        return std::move(o);
      }()),
      logs(s),
      contexts(blobs, s, options.data_dir / "contexts", options.max_context_bytes) {}

storage::RunRow RunService::Impl::RowOf(const Run& run) const {
  storage::RunRow row = internal::ToRow(run);
  auto images = internal::ParseImages(run.request.images, run.id, options.registry_host);
  row.output_images = internal::OutputImagesText(
      images.ok() ? *images : std::vector<oci::ImageReference>{}, run.output_images);
  return row;
}

std::string RunService::Impl::UploadOf(const Run& run) const {
  auto spec = internal::ClassifySource(run.request.source, options.allow_local_git);
  return spec.ok() && spec->kind == internal::SourceKind::kUpload ? spec->upload_id : "";
}

Status RunService::Impl::Recover() {
  // Runs this agent held in a previous process are lost; other agents'
  // runs keep their leases.
  DD_ASSIGN_OR_RETURN(held,
                      store.RunsWithStatus(Names({RunStatus::kStarted, RunStatus::kRunning}), -1));
  for (const auto& row : held) {
    if (row.agent == options.agent_name || row.agent.empty())
      DD_RETURN_IF_ERROR(LoseAttempt(row, "the server restarted while it was building"));
  }
  RemoveUnusedContexts();
  return Status::Ok();
}

void RunService::Impl::RemoveUnusedContexts() {
  auto live = store.RunsWithStatus(
      Names({RunStatus::kQueued, RunStatus::kStarted, RunStatus::kRunning}), -1);
  if (!live.ok()) return;  // the next upload or start tries again
  std::set<std::string> uploads;
  for (const auto& row : *live) {
    if (auto run = internal::FromRow(row); run.ok()) uploads.insert(UploadOf(*run));
  }
  contexts.RemoveUnused(uploads, kContextTtl);
}

RunService::RunService(storage::MetadataStore& store, storage::BlobStore& blobs,
                       ServiceOptions options)
    : impl_(std::make_unique<Impl>(store, blobs, std::move(options))) {}

RunService::~RunService() {
  impl_->agent.reset();  // hands its runs back to the queue
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->reaper.joinable()) impl_->reaper.join();
}

Status RunService::Start() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started) return Status::Ok();
    impl_->started = true;
  }
  // Not under the lock: recovery requeues runs, which signals waiters.
  DD_RETURN_IF_ERROR(internal::ImportLogFiles(impl_->options.data_dir / "logs", impl_->store));
  DD_RETURN_IF_ERROR(impl_->contexts.Init());
  DD_RETURN_IF_ERROR(impl_->contexts.ImportFiles());
  DD_RETURN_IF_ERROR(impl_->Recover());
  if (impl_->options.concurrency > 0) {
    auto context = [this](const ClaimedRun& c) -> Result<internal::UploadedContext> {
      std::string id = impl_->UploadOf(c.run);
      if (id.empty()) return internal::UploadedContext{};
      DD_ASSIGN_OR_RETURN(path, impl_->contexts.ClaimedPath(id));
      DD_ASSIGN_OR_RETURN(digest, impl_->contexts.UploadDigest(id));
      return internal::UploadedContext{path, digest.str()};
    };
    impl_->agent = std::make_unique<internal::Agent>(
        internal::AgentParts{impl_->options, AgentInfo{impl_->options.agent_name, "", {}, {}},
                             *this, impl_->logs, std::move(context), nullptr});
    DD_RETURN_IF_ERROR(impl_->agent->Start());
  }
  impl_->reaper = std::thread([this] { impl_->ReaperLoop(); });
  return Status::Ok();
}

void RunService::Wake() { impl_->SignalQueued(); }

void RunService::OnFinished(std::function<void(const Run&)> hook) {
  impl_->on_finished = std::move(hook);
}

Result<Run> RunService::Queue(RunRequest request) {
  if (request.timeout_seconds == 0) request.timeout_seconds = 3600;
  DD_RETURN_IF_ERROR(internal::ValidateRequest(request, impl_->options));
  auto spec = internal::ClassifySource(request.source, impl_->options.allow_local_git);
  std::string upload = spec->kind == internal::SourceKind::kUpload ? spec->upload_id : "";
  // Claimed before the run exists, so that the run is complete (and
  // claimable by any agent) from its first write.
  if (!upload.empty()) {
    if (Status claimed = impl_->contexts.Claim(upload); !claimed.ok())
      return Invalid(claimed.message());
  }
  Run run;
  run.request = std::move(request);
  run.create_time_ms = NowMs();
  if (impl_->ShouldSplit(run.request)) {
    // Its parts are what agents claim; it is running from the start.
    run.status = RunStatus::kRunning;
    run.start_time_ms = run.create_time_ms;
    auto platforms = oci::ParsePlatforms(run.request.platform);  // ok: ShouldSplit parsed it
    if (platforms.ok())
      for (const auto& p : *platforms) run.parts.push_back({p.String(), ""});
  }
  auto created = impl_->Insert(run);
  if (!created.ok() || !created->created) impl_->contexts.Release(upload);
  if (!created.ok()) return created.status();
  if (!created->created) return Get(RunId(created->seq));  // queued for this cause already
  impl_->SignalQueued();
  if (!run.parts.empty()) {
    // Else the reaper queues them at its next tick.
    if (auto row = impl_->store.GetRun(run.id); row.ok()) (void)impl_->AdvanceSplit(*row);
    return Get(run.id);
  }
  run.request = internal::Scrubbed(std::move(run.request));
  return run;
}

Result<storage::CreatedRun> RunService::Impl::Insert(Run& run) {
  auto created = store.CreateRun(run.request.cause, [&](int64_t seq) {
    run.seq = seq;
    run.id = RunId(seq);
    run.request.images = internal::ExpandImages(run.request.images, run.id);
    return RowOf(run);
  });
  if (created.ok() && created->created && options.metrics)
    options.metrics->RunQueued(run.request.type, TriggerName(run.request.trigger));
  return created;
}

Result<Run> RunService::Get(const std::string& id) {
  DD_ASSIGN_OR_RETURN(row, impl_->store.GetRun(id));
  return Public(row);
}

Result<std::vector<Run>> RunService::List(const RunFilter& filter) {
  storage::RunQuery q;
  q.top = filter.top > 0 ? filter.top : 15;
  if (filter.status) q.status = std::string(StatusName(*filter.status));
  q.task = filter.task;
  q.image = internal::ImageFilterText(filter.image);
  q.trigger = filter.trigger;
  q.created_after_ms = filter.created_after_ms;
  DD_ASSIGN_OR_RETURN(rows, impl_->store.ListRuns(q));
  std::vector<Run> out;
  for (const auto& row : rows) {
    DD_ASSIGN_OR_RETURN(run, Public(row));
    out.push_back(std::move(run));
  }
  return out;
}

Status RunService::Cancel(const std::string& id) { return impl_->CancelRun(id); }

Status RunService::Impl::CancelRun(const std::string& id) {
  // A few rounds: the run may be claimed, or requeued, between two looks.
  for (int round = 0; round < 3; ++round) {
    DD_ASSIGN_OR_RETURN(row, store.GetRun(id));
    DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
    if (IsFinal(run.status))
      return Conflict("run " + id + " is already " + std::string(StatusName(run.status)));
    if (run.status == RunStatus::kQueued) {
      run.status = RunStatus::kCanceled;
      run.error = "the run was canceled";
      Status canceled = Finalize(run, {row.status}, 0);
      if (canceled.code() != Code::kConflict) return canceled;
      continue;  // an agent claimed it first
    }
    DD_ASSIGN_OR_RETURN(asked, store.RequestRunCancel(id));
    if (!asked) continue;
    // The embedded agent's own runs stop at once; a remote agent learns of
    // it at its next heartbeat.
    if (agent) agent->Cancel(id);
    return Status::Ok();
  }
  return Status(Code::kUnavailable,
                "run " + id + " kept changing while it was being canceled; try again");
}

Result<LogChunk> RunService::ReadLog(const std::string& id, uint64_t offset, size_t max_bytes,
                                     std::chrono::milliseconds wait) {
  if (max_bytes == 0) max_bytes = kDefaultLogChunk;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    // The version first: a change after it wakes the wait below.
    uint64_t version = impl_->logs.Version(id);
    DD_ASSIGN_OR_RETURN(row, impl_->store.GetRun(id));
    auto status = ParseStatus(row.status);
    bool final = status && IsFinal(*status);
    DD_ASSIGN_OR_RETURN(slice, impl_->logs.Read(id, offset, max_bytes));
    if (!slice.data.empty() || final || std::chrono::steady_clock::now() >= deadline) {
      LogChunk chunk;
      chunk.next_offset = offset + slice.data.size();
      chunk.finished = final && chunk.next_offset >= slice.size;
      chunk.data = std::move(slice.data);
      return chunk;
    }
    impl_->logs.WaitForChange(id, version, deadline);
  }
}

Result<std::string> RunService::StoreContext(
    const std::function<Result<size_t>(char*, size_t)>& read) {
  DD_RETURN_IF_ERROR(impl_->contexts.Init());
  impl_->RemoveUnusedContexts();
  return impl_->contexts.Store(read);
}

}  // namespace drydock::tasks
