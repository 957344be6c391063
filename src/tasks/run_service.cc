// RunService's public calls: queueing, reading, canceling, logs, uploads,
// and recovery at start. The workers are in worker.cc.
#include <set>
#include <system_error>

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

RunService::Impl::Impl(storage::MetadataStore& s, ServiceOptions o)
    : store(s),
      options([&] {
        if (o.build_state.empty()) o.build_state = o.data_dir / "build";
        if (o.concurrency < 1) o.concurrency = 1;
        return std::move(o);
      }()),
      logs(options.data_dir / "logs"),
      contexts(options.data_dir / "contexts", options.max_context_bytes) {}

storage::RunRow RunService::Impl::RowOf(const Run& run) const {
  storage::RunRow row = internal::ToRow(run);
  auto images = internal::ParseImages(run.request.images, run.id, options.registry_host);
  row.output_images = internal::OutputImagesText(
      images.ok() ? *images : std::vector<oci::ImageReference>{}, run.output_images);
  return row;
}

Result<bool> RunService::Impl::Save(const Run& run, const std::vector<std::string>& if_status) {
  return store.UpdateRun(RowOf(run), if_status);
}

Status RunService::Impl::Finalize(Run& run, const std::vector<std::string>& if_status) {
  run.finish_time_ms = NowMs();
  // Secrets were needed only to run it.
  run.request = internal::Scrubbed(std::move(run.request));
  auto log = logs.OpenWriter(run.id, {});
  if (log.ok()) (*log)->Line(internal::FinalLogLine(run));
  auto saved = Save(run, if_status);
  logs.Changed(run.id);
  if (!saved.ok()) return saved.status();
  if (!*saved) return Conflict("run " + run.id + " changed while it was being finalized");
  return Status::Ok();
}

Status RunService::Impl::Recover() {
  DD_ASSIGN_OR_RETURN(interrupted,
                      store.RunsWithStatus(Names({RunStatus::kStarted, RunStatus::kRunning}), -1));
  for (const auto& row : interrupted) {
    auto read = internal::FromRow(row);
    Run run = read.ok() ? std::move(*read) : internal::Unreadable(row, read.status());
    run.status = RunStatus::kError;
    run.error = "the server restarted while the run was running";
    DD_RETURN_IF_ERROR(Finalize(run, {row.status}));
  }
  // Nothing runs yet, so every work dir is a leftover, with whatever a
  // killed process left running or mounted in it.
  std::vector<fs::path> runc_roots;
  std::error_code list_ec;
  for (const auto& run_dir : fs::directory_iterator(options.data_dir / "runs", list_ec)) {
    if (run_dir.is_symlink(list_ec)) continue;
    for (auto& root : internal::TaskRunStateRoots(run_dir.path())) runc_roots.push_back(root);
  }
  runtime::ReleaseLeftovers(options.data_dir / "runs", runc_roots);
  std::error_code ec;
  fs::remove_all(options.data_dir / "runs", ec);
  fs::create_directories(options.data_dir / "runs", ec);
  if (ec) return Internal("cannot create " + (options.data_dir / "runs").string());
  DD_ASSIGN_OR_RETURN(queued, store.RunsWithStatus(Names({RunStatus::kQueued}), -1));
  std::set<std::string> live;
  for (const auto& row : queued) live.insert(row.id);
  contexts.RemoveClaimedExcept(live);
  contexts.RemoveExpired(kContextTtl);
  return Status::Ok();
}

Status RunService::Impl::CancelLocked(const std::string& id) {
  if (auto it = active.find(id); it != active.end()) {
    if (it->second->stop == ActiveRun::Stop::kNone) it->second->stop = ActiveRun::Stop::kCanceled;
    it->second->cancel = true;
    return Status::Ok();
  }
  DD_ASSIGN_OR_RETURN(row, store.GetRun(id));
  DD_ASSIGN_OR_RETURN(run, internal::FromRow(row));
  if (IsFinal(run.status))
    return Conflict("run " + id + " is already " + std::string(StatusName(run.status)));
  // Queued (workers claim under the same lock), or left Started/Running by
  // a process that is gone.
  run.status = RunStatus::kCanceled;
  run.error = "the run was canceled";
  DD_RETURN_IF_ERROR(Finalize(run, {row.status}));
  contexts.Release(id);
  return Status::Ok();
}

RunService::RunService(storage::MetadataStore& store, ServiceOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

RunService::~RunService() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    for (auto& [id, run] : impl_->active) {
      if (run->stop == ActiveRun::Stop::kNone) run->stop = ActiveRun::Stop::kShutdown;
      run->cancel = true;
    }
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads) t.join();
}

Status RunService::Start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return Status::Ok();
  DD_RETURN_IF_ERROR(impl_->logs.Init());
  DD_RETURN_IF_ERROR(impl_->contexts.Init());
  DD_RETURN_IF_ERROR(impl_->Recover());
  impl_->started = true;
  for (int i = 0; i < impl_->options.concurrency; ++i)
    impl_->threads.emplace_back([this] { impl_->WorkerLoop(); });
  impl_->threads.emplace_back([this] { impl_->WatchdogLoop(); });
  return Status::Ok();
}

void RunService::OnFinished(std::function<void(const Run&)> hook) {
  impl_->on_finished = std::move(hook);
}

Result<Run> RunService::Queue(RunRequest request) {
  if (request.timeout_seconds == 0) request.timeout_seconds = 3600;
  DD_RETURN_IF_ERROR(internal::ValidateRequest(request, impl_->options));
  auto spec = internal::ClassifySource(request.source, impl_->options.allow_local_git);
  if (spec->kind == internal::SourceKind::kUpload && !impl_->contexts.Exists(spec->upload_id))
    return Invalid("build context " + spec->upload_id +
                   " does not exist (contexts expire after an hour and can be used once)");
  Run run;
  run.request = std::move(request);
  run.create_time_ms = NowMs();
  {
    // Under the queue lock: no worker sees the run before its images are
    // expanded and its upload claimed.
    std::lock_guard lock(impl_->mu);
    DD_ASSIGN_OR_RETURN(created, impl_->store.CreateRun(impl_->RowOf(run), RunId));
    if (!created.created) return Get(RunId(created.seq));  // queued for this cause already
    int64_t seq = created.seq;
    run.seq = seq;
    run.id = RunId(seq);
    run.request.images = internal::ExpandImages(run.request.images, run.id);
    Status claimed = spec->kind == internal::SourceKind::kUpload
                         ? impl_->contexts.Claim(spec->upload_id, run.id)
                         : Status::Ok();
    if (!claimed.ok()) {
      run.status = RunStatus::kFailed;
      run.error = claimed.message();
      (void)impl_->Finalize(run, {});  // best effort: the caller gets the claim error either way
      return Invalid(claimed.message());
    }
    DD_ASSIGN_OR_RETURN(saved, impl_->Save(run, {}));
    (void)saved;  // only its success matters here
    ++impl_->queued_signal;
  }
  impl_->wake.notify_all();
  run.request = internal::Scrubbed(std::move(run.request));
  return run;
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
  DD_ASSIGN_OR_RETURN(rows, impl_->store.ListRuns(q));
  std::vector<Run> out;
  for (const auto& row : rows) {
    DD_ASSIGN_OR_RETURN(run, Public(row));
    out.push_back(std::move(run));
  }
  return out;
}

Status RunService::Cancel(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  return impl_->CancelLocked(id);
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
  impl_->contexts.RemoveExpired(kContextTtl);
  return impl_->contexts.Store(read);
}

}  // namespace drydock::tasks
