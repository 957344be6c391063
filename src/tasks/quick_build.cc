#include "tasks/quick_build.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <system_error>

#include "attest/referrers.h"
#include "base/time.h"
#include "builder/builder.h"
#include "oci/platform.h"
#include "tasks/context.h"
#include "tasks/materialize.h"
#include "tasks/run_record.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;

std::string Seconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", std::chrono::duration<double>(d).count());
  return buf;
}

namespace {

constexpr int64_t kMaxTimeoutSeconds = 28800;  // ACR's bound

Result<FetchedSource> Fetch(RunContext& ctx, const fs::path& work_dir) {
  const RunRequest& r = ctx.run.request;
  DD_ASSIGN_OR_RETURN(spec, ClassifySource(r.source, ctx.options.allow_local_git));
  FetchOptions f;
  f.upload = ctx.upload;
  f.git_token = r.git_token;
  f.allow_local_git = ctx.options.allow_local_git;
  f.allow_private = ctx.options.allow_private_fetches;
  f.max_download_bytes = ctx.options.max_context_bytes;
  f.max_extracted_bytes = ctx.options.max_extracted_bytes;
  f.registry = RegistryOptions(ctx.options, r, ctx.run.id);
  f.checkout_cache = ctx.options.data_dir / "checkouts";
  f.timeout = std::chrono::seconds(r.timeout_seconds);
  f.cancel = ctx.cancel;
  f.log = [&](std::string_view line) { ctx.log.Line(line); };
  // The upload stays until the run ends: a retry reads it again.
  return FetchSource(spec, r.source, work_dir, f);
}

}  // namespace

Outcome Fail(RunStatus status, const LogWriter& log, const std::string& error) {
  return Outcome{status, log.Redact(error)};
}

Result<FetchedSource> FetchRunSource(RunContext& ctx, const fs::path& work_dir) {
  ctx.log.Line("Downloading source code...");
  auto fetched = Fetch(ctx, work_dir);
  if (!fetched.ok())
    return Status(fetched.status().code(),
                  "failed to fetch the source: " + fetched.status().message());
  ctx.run.source = fetched->info;
  return fetched;
}

std::vector<std::shared_ptr<const attest::Key>> TrustedBaseKeys(const RunRequest& r) {
  std::vector<std::shared_ptr<const attest::Key>> keys;
  for (const auto& pem : r.trusted_base_keys)  // checked when the task was saved
    if (auto k = attest::Key::FromPem(pem); k.ok())
      keys.push_back(std::make_shared<const attest::Key>(std::move(*k)));
  return keys;
}

namespace {

std::string NotSignedByATrustedKey(oci::ImageReference base, const std::string& digest,
                                   const std::string& why) {
  base.digest.reset();
  return "base image " + base.String() + "@" + digest + " is not signed by a trusted key (" + why +
         ")";
}

}  // namespace

decltype(builder::BuildOptions::check_base) BaseCheckFor(const RunContext& ctx) {
  const RunRequest& r = ctx.run.request;
  if (r.trusted_base_keys.empty()) return nullptr;
  return [keys = TrustedBaseKeys(r), registry = RegistryOptions(ctx.options, r, ctx.run.id)](
             const oci::ImageReference& base, const std::string& resolved,
             const std::string& platform) -> Status {
    remote::Client client(registry);
    std::string why;
    for (const std::string& d : {resolved, platform}) {
      auto digest = oci::Digest::Parse(d);
      if (!digest.ok()) continue;
      Status s = attest::CheckSigned(client, base, *digest, keys);
      if (s.ok()) return s;
      why = s.message();
    }
    return Invalid(NotSignedByATrustedKey(base, resolved, why));
  };
}

builder::AttestOptions AttestOptionsFor(const RunContext& ctx) {
  const RunRequest& r = ctx.run.request;
  builder::AttestOptions a;
  a.sbom = a.provenance = ctx.options.attestations;
  if (ctx.options.signer) a.signer = ctx.options.signer(ctx.run.id);
  a.tool = std::string("drydock-") + attest::kDrydockVersion;
  for (const auto& arg : r.build_args)
    if (arg.secret) a.secret_build_args.push_back(arg.name);
  attest::ProvenanceInput& p = a.context;
  p.builder_id =
      "https://" + ctx.options.registry_host + "/drydock/agents/" + ctx.options.agent_name;
  p.builder_version = attest::kDrydockVersion;
  p.source_uri = ctx.run.source.url.empty() ? r.source : ctx.run.source.url;
  p.source_commit = ctx.run.source.commit;
  if (p.source_commit.empty()) p.source_digest = ctx.upload_digest;
  p.run_id = ctx.run.id;
  p.task = r.task;
  p.trigger = TriggerName(r.trigger);
  p.started = Rfc3339(ctx.run.start_time_ms ? ctx.run.start_time_ms : ctx.run.create_time_ms);
  return a;
}

namespace {

builder::BuildOptions BuildOptionsFor(RunContext& ctx, const fs::path& context,
                                      const fs::path& dockerfile,
                                      std::vector<oci::ImageReference> tags) {
  const RunRequest& r = ctx.run.request;
  builder::BuildOptions b;
  b.context_dir = context;
  b.dockerfile = dockerfile;
  for (const auto& a : r.build_args) b.build_args[a.name] = a.value;
  b.target = r.target;
  b.platform = r.platform;
  b.push = r.push && !tags.empty();
  b.tags = std::move(tags);
  b.no_cache = r.no_cache;
  b.state_dir = ctx.options.build_state;
  b.cache_max_bytes = ctx.options.cache_max_bytes;
  b.registry = RegistryOptions(ctx.options, r, ctx.run.id);
  b.run_timeout = std::chrono::seconds(r.timeout_seconds);
  b.limits = ctx.options.limits;
  b.users = ctx.options.users;
  b.allow_host_network = ctx.options.allow_privileged_steps;
  b.allow_private_fetches = ctx.options.allow_private_fetches;
  b.cancel = ctx.cancel;
  b.log = [&](std::string_view s) { ctx.log.Output(s); };
  if (b.push) b.attest = AttestOptionsFor(ctx);
  b.check_base = BaseCheckFor(ctx);
  return b;
}

// A part of a split run (RunRequest::parent) pushes its image by digest
// into each repository the run tags, where the index will name it.
Status PushPart(RunContext& ctx, const builder::BuildResult& result,
                const builder::BuildOptions& options) {
  std::set<std::string> repos;
  for (oci::ImageReference ref : options.tags) {
    if (!repos.insert(ref.RepositoryWithRegistry()).second) continue;
    ref.tag.clear();
    ref.digest = result.manifest_digest;
    ctx.log.Line("Pushing " + ref.String() + " (" + ctx.run.request.platform + ", part of run " +
                 ctx.run.request.parent + ")");
    DD_RETURN_IF_ERROR(builder::PushBuilt(result, ref, options.state_dir, options.registry));
    ctx.run.output_images.push_back(
        ImageDescriptor{ref.registry, ref.repository, "", result.manifest_digest.str()});
  }
  return Status::Ok();
}

void RecordImages(RunContext& ctx, const builder::BuildResult& result, bool pushed) {
  if (!pushed) return;
  for (const auto& tag : result.dependencies.images) {
    ctx.run.output_images.push_back(
        ImageDescriptor{tag.registry, tag.repository, tag.tag, result.manifest_digest.str()});
  }
}

}  // namespace

remote::ClientOptions RegistryOptions(const ServiceOptions& o, const RunRequest& r,
                                      const std::string& run_id) {
  remote::ClientOptions c;
  c.insecure_registries = o.insecure_registries;
  remote::CredentialLookup own = o.credentials ? o.credentials(r.user, run_id) : nullptr;
  // A task's own credentials for a registry come first, then the user's.
  c.credentials = [own, saved = r.credentials](
                      const std::string& registry) -> std::optional<remote::Credential> {
    for (const auto& cred : saved) {
      if (cred.login_server == registry) return remote::Credential{cred.username, cred.password};
    }
    return own ? own(registry) : std::nullopt;
  };
  return c;
}

Result<std::vector<oci::ImageReference>> ParseImages(const std::vector<std::string>& images,
                                                     const std::string& run_id,
                                                     const std::string& default_registry) {
  std::vector<oci::ImageReference> out;
  for (const auto& name : ExpandImages(images, run_id)) {
    auto ref =
        oci::ParseImageReference(name, default_registry.empty() ? "docker.io" : default_registry);
    if (!ref.ok()) return Invalid("image " + name + ": " + ref.status().message());
    if (ref->digest) return Invalid("image " + name + ": give a tag, not a digest");
    if (ref->tag.empty()) ref->tag = "latest";
    out.push_back(std::move(*ref));
  }
  return out;
}

Status CheckTimeout(int64_t seconds, const ServiceOptions& o) {
  if (seconds >= o.min_timeout_seconds && seconds <= kMaxTimeoutSeconds) return Status::Ok();
  return Invalid("timeout " + std::to_string(seconds) + " must be between " +
                 std::to_string(o.min_timeout_seconds) + " and " +
                 std::to_string(kMaxTimeoutSeconds) + " seconds");
}

Status CheckNames(const std::vector<BuildArg>& args, std::string_view what) {
  for (const auto& a : args) {
    if (a.name.empty() || a.name.find('=') != std::string::npos)
      return Invalid(std::string(what) + " name '" + a.name +
                     "' must be non-empty and hold no '='");
  }
  return Status::Ok();
}

Status ValidateRequest(const RunRequest& r, const ServiceOptions& o) {
  if (r.type != "QuickBuild" && r.type != "AutoBuild" && r.type != "QuickRun" &&
      r.type != "AutoRun")
    return Invalid("run type " + r.type + " is not supported");
  if (r.type.starts_with("Auto") != !r.task.empty())
    return Invalid("an " + r.type.substr(0, 4) + " run names its task, and only an Auto run does");
  if (IsTaskRun(r)) DD_RETURN_IF_ERROR(ValidateTaskRun(r, o));
  DD_RETURN_IF_ERROR(CheckTimeout(r.timeout_seconds, o));
  auto spec = ClassifySource(r.source, o.allow_local_git);
  if (!spec.ok()) return spec.status();
  // The dockerfile's existence is checked once the source is there.
  fs::path dockerfile = fs::path(r.dockerfile).lexically_normal();
  if ((r.dockerfile.empty() && r.task_file.empty()) || dockerfile.is_absolute() ||
      (!dockerfile.empty() && *dockerfile.begin() == ".."))
    return Invalid("the " + std::string(IsTaskRun(r) ? "task file" : "Dockerfile") + " path '" +
                   r.dockerfile + "' must be relative to the context");
  DD_RETURN_IF_ERROR(CheckNames(r.build_args, "build argument"));
  if (auto platforms = oci::ParsePlatforms(r.platform); !platforms.ok())
    return Invalid("--platform: " + platforms.status().message());
  DD_RETURN_IF_ERROR(CheckAgentPool(r.agent_pool));
  // Any id will do: only the syntax of the names is checked here.
  auto images = ParseImages(r.images, RunId(1), o.registry_host);
  return images.ok() ? Status::Ok() : images.status();
}

std::optional<Outcome> CheckTriggeringBase(RunContext& ctx) {
  const RunRequest& r = ctx.run.request;
  if (r.trusted_base_keys.empty() || r.trigger.image_update.empty()) return std::nullopt;
  const ImageDescriptor& b = r.trigger.image_update.front();
  oci::ImageReference ref{b.registry, b.repository, b.tag, std::nullopt};
  auto digest = oci::Digest::Parse(b.digest);
  Status s = digest.status();
  if (digest.ok()) {
    remote::Client client(RegistryOptions(ctx.options, r, ctx.run.id));
    s = attest::CheckSigned(client, ref, *digest, TrustedBaseKeys(r));
  }
  if (s.ok()) {
    ctx.log.Line("Base image " + ref.String() + "@" + b.digest + " is signed by a trusted key");
    return std::nullopt;
  }
  return Fail(RunStatus::kFailed, ctx.log,
              NotSignedByATrustedKey(ref, b.digest, s.message()) + ": nothing was rebuilt");
}

Outcome ExecuteQuickBuild(RunContext& ctx) {
  Run& run = ctx.run;
  const RunRequest& r = run.request;
  auto tags = ParseImages(r.images, run.id, ctx.options.registry_host);
  if (!tags.ok()) return Fail(RunStatus::kFailed, ctx.log, tags.status().message());
  if (auto blocked = CheckTriggeringBase(ctx)) return *blocked;
  // A part builds: its run's index is assembled from what its parts push.
  const bool part = !r.parent.empty();
  if (!part)
    if (auto rebased = TryRebase(ctx, *tags)) return *rebased;
  auto work = WorkDir::Create(ctx.options.data_dir / "runs" / run.id);
  if (!work.ok()) return Fail(RunStatus::kError, ctx.log, work.status().message());

  auto fetched = FetchRunSource(ctx, work->path());
  if (!fetched.ok()) return Fail(RunStatus::kFailed, ctx.log, fetched.status().message());
  auto dockerfile = FileIn(fetched->context, r.dockerfile);
  if (!dockerfile.ok()) return Fail(RunStatus::kFailed, ctx.log, dockerfile.status().message());

  if (ctx.on_running) ctx.on_running();
  ctx.log.Line("Executing step ID: build. Timeout(sec): " + std::to_string(r.timeout_seconds) +
               ", Working directory: '', Network: ''");
  if (!r.push || tags->empty()) ctx.log.Line("Skipping image push");
  auto options = BuildOptionsFor(ctx, fetched->context, *dockerfile, *tags);
  if (part) options.push = false;  // PushPart: by digest, with the attestations
  auto started = Clock::now();
  auto result = builder::Build(options);
  ctx.log.Flush();
  if (result.ok() && part && r.push && !tags->empty())
    if (Status pushed = PushPart(ctx, *result, options); !pushed.ok()) result = pushed;
  std::string elapsed = Seconds(Clock::now() - started);
  if (!result.ok()) {
    ctx.log.Line("Step ID: build marked as failed (elapsed time in seconds: " + elapsed + ")");
    return Fail(RunStatus::kFailed, ctx.log, result.status().message());
  }
  ctx.log.Line("Step ID: build marked as successful (elapsed time in seconds: " + elapsed + ")");
  RecordImages(ctx, *result, options.push);
  ctx.log.Line("Populating digests for step ID: build...");
  run.dependencies_json = builder::DependenciesJson(*result, run.source.commit);
  ctx.log.Line("The following dependencies were found:");
  ctx.log.Output(run.dependencies_json + "\n");
  ctx.log.Flush();
  return Outcome{RunStatus::kSucceeded, ""};
}

}  // namespace drydock::tasks::internal
