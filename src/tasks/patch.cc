// A base image update reaching an AutoBuild task's image: rebased onto the
// new base when the gate allows (no source fetched, nothing built), else
// rebuilt as before, and either way the run records which and why.
#include <chrono>
#include <set>

#include "attest/attest.h"
#include "attest/referrers.h"
#include "base/fd.h"
#include "base/json.h"
#include "base/time.h"
#include "builder/builder.h"
#include "oci/manifest.h"
#include "rebase/rebase.h"
#include "runtime/runtime.h"
#include "tasks/quick_build.h"

namespace drydock::tasks::internal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kVerifyTimeout{600};

// Runs `command` with /bin/sh -c in `image` as its config says (user,
// environment, working directory), without network, under the server's
// limits; its output goes to the run's log.
Status Verify(RunContext& ctx, const oci::ImageReference& image, const std::string& command) {
  const RunRequest& r = ctx.run.request;
  auto log = [&](std::string_view s) { ctx.log.Output(s); };
  auto root = builder::PullImageRoot(image, r.platform, ctx.options.build_state,
                                     RegistryOptions(ctx.options, r, ctx.run.id), log);
  if (!root.ok()) return root.status();
  TempDir dir(ctx.options.data_dir / "runs", "verify");
  std::error_code ec;
  // In a user namespace the container's root (not the host's) must pass through.
  if (ctx.options.users)
    fs::permissions(dir.path(), fs::perms::others_exec, fs::perm_options::add, ec);
  if (ec) return Internal("chmod " + dir.path().string() + ": " + ec.message());
  for (const char* d : {"upper", "work", "root"}) fs::create_directories(dir.path() / d);
  auto mount = runtime::OverlayMount::Mount(root->lowers, dir.path() / "upper", dir.path() / "work",
                                            dir.path() / "root", ctx.options.users.get());
  if (!mount.ok()) return mount.status();
  runtime::ContainerSpec spec;
  spec.rootfs = mount->target();
  spec.args = {"/bin/sh", "-c", command};
  if (auto env = root->config.find("Env"); env != root->config.end() && env->is_array())
    for (const auto& e : *env)
      if (e.is_string()) spec.env.push_back(e.get<std::string>());
  // An image's config is the pusher's: a field of the wrong type is absent.
  auto text = [&](const char* key) {
    auto f = root->config.find(key);
    return f != root->config.end() && f->is_string() ? f->get<std::string>() : std::string();
  };
  spec.cwd = text("WorkingDir").empty() ? "/" : text("WorkingDir");
  auto user = builder::ResolveContainerUser(spec.rootfs, text("User"));
  if (!user.ok()) return user.status();
  spec.uid = user->uid;
  spec.gid = user->gid;
  spec.additional_gids = user->groups;
  spec.network = runtime::Network::kNone;
  spec.users = ctx.options.users;
  spec.limits = ctx.options.limits;
  runtime::RunOptions ro;
  ro.state_dir = dir.path() / "state";
  ro.timeout = kVerifyTimeout;
  ro.cancel = ctx.cancel;
  ro.output = log;
  ro.writable_dirs = {dir.path() / "upper"};
  auto result = runtime::Run(spec, ro);
  if (!result.ok()) return result.status();
  if (!result->limit.empty()) return Invalid("the command reached " + result->limit);
  if (result->timed_out) return Invalid("the command timed out");
  if (result->canceled) return Status(Code::kUnavailable, "the run was canceled");
  if (result->exit_code != 0)
    return Invalid("`" + command + "` exited with status " + std::to_string(result->exit_code));
  return Status::Ok();
}

// The tag whose image is the one to patch: the task's first that is the
// same for every run (one with {{.Run.ID}} names a new image each time).
std::optional<oci::ImageReference> CurrentImage(const RunRequest& r,
                                                const std::vector<oci::ImageReference>& tags) {
  for (size_t i = 0; i < r.images.size() && i < tags.size(); ++i)
    if (r.images[i].find("{{.Run.ID}}") == std::string::npos) return tags[i];
  return std::nullopt;
}

// As a build records it: the base's digest is what its tag resolved to when
// the image was made (a burst of base pushes may have moved it past the one
// that queued the run).
std::string DependenciesFor(const std::vector<oci::ImageReference>& tags, const oci::Digest& digest,
                            ImageDescriptor base, const std::string& resolved) {
  base.digest = resolved;
  builder::Dependencies deps;
  for (auto t : tags) {
    t.digest = digest;
    deps.images.push_back(t);
  }
  deps.runtime =
      builder::ImageDependency{base.registry, base.repository, base.tag, base.digest, "", ""};
  return builder::DependenciesJson(deps, "");
}

// The new base's SBOM, when it has one (Drydock's builds attach one): a
// rebase only happens when the image's own layers install no package, so
// the rebased image holds exactly the new base's packages.
std::optional<nlohmann::json> BaseSbom(remote::Client& client, const std::string& base_name,
                                       const std::string& base_digest) {
  auto ref = oci::ParseImageReference(base_name);
  auto digest = oci::Digest::Parse(base_digest);
  if (!ref.ok() || !digest.ok()) return std::nullopt;
  auto found = attest::FetchAttestations(client, *ref, *digest, attest::kSpdxMediaType);
  if (!found.ok()) return std::nullopt;
  for (const auto& a : *found)
    if (auto doc = ParseJson(a.blob); doc.ok() && doc->is_object()) return *doc;
  return std::nullopt;
}

// What a built image carries, a rebased one carries too, pushed into each
// tagged repository before any tag moves: an SBOM (from the new base's),
// provenance naming the image rebased and the base it now sits on, and the
// server's signatures of the image and of each (a task downstream may
// trust only images this server signed).
Status AttestRebased(RunContext& ctx, remote::Client& client, const oci::ImageReference& rebased,
                     const oci::ImageReference& from,
                     const std::vector<oci::ImageReference>& tags) {
  if (!ctx.options.attestations) return Status::Ok();
  const builder::AttestOptions options = AttestOptionsFor(ctx);
  DD_ASSIGN_OR_RETURN(manifest, client.GetManifest(rebased));
  DD_ASSIGN_OR_RETURN(old, client.GetManifest(from));
  const attest::Subject image{manifest.media_type, manifest.digest,
                              static_cast<int64_t>(manifest.bytes.size())};
  std::string base_name, base_digest;
  if (auto m = ParseJson(manifest.bytes);
      m.ok() && m->is_object() && m->contains("annotations") && (*m)["annotations"].is_object()) {
    base_name = (*m)["annotations"].value(rebase::kBaseName, "");
    base_digest = (*m)["annotations"].value(rebase::kBaseDigest, "");
  }
  const std::string name = tags.front().String();
  const std::string now = Rfc3339(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  std::vector<attest::Artifact> artifacts;
  bool is_index =
      manifest.media_type == oci::kOciIndex || manifest.media_type == oci::kDockerManifestList;
  if (auto sbom = is_index ? std::nullopt : BaseSbom(client, base_name, base_digest)) {
    attest::SbomInput in;
    in.image_name = name;
    in.image_digest = manifest.digest;
    in.base_name = base_name;
    in.base_digest = base_digest;
    in.created = now;
    in.tool = options.tool;
    in.packages = attest::SpdxPackages(*sbom);
    ctx.log.Line("SBOM: " + std::to_string(in.packages.size()) +
                 " package(s), from the new base's SBOM");
    artifacts.push_back(attest::MakeArtifact(attest::kSpdxMediaType, attest::kSpdxMediaType,
                                             attest::SpdxDocument(in).dump(), image, {}));
  } else {
    ctx.log.Line(
        "No SBOM for the rebased image: " +
        (is_index ? std::string("it is an index") : "its new base " + base_name + " carries none"));
  }
  attest::ProvenanceInput in = options.context;
  in.subject_name = name;
  in.subject_digest = manifest.digest;
  in.finished = now;
  oci::ImageReference old_ref = from;
  old_ref.tag.clear();
  old_ref.digest = old.digest;
  in.materials.push_back({old_ref.String(), old.digest.str()});
  if (!base_name.empty()) in.materials.push_back({base_name, base_digest});
  nlohmann::json statement = attest::ProvenanceStatement(in);
  // Not built from the source: the image's own layers, moved onto the base.
  statement["predicate"]["buildDefinition"]["externalParameters"]["rebase"] = {
      {"image", old_ref.String()}, {"onto", base_name + "@" + base_digest}};
  artifacts.push_back(
      attest::MakeArtifact(attest::kInTotoMediaType, attest::kInTotoMediaType, statement.dump(),
                           image, {{attest::kPredicateTypeAnnotation, attest::kSlsaProvenance}}));
  if (options.signer) {
    std::vector<attest::Subject> subjects = {image};
    for (const auto& a : artifacts) subjects.push_back(attest::SubjectOf(a));
    DD_ASSIGN_OR_RETURN(signatures, attest::SignatureArtifacts(options.signer, subjects));
    artifacts.insert(artifacts.end(), signatures.begin(), signatures.end());
  }
  std::set<std::string> done;
  for (const oci::ImageReference& repo : tags) {
    if (!done.insert(repo.RepositoryWithRegistry()).second) continue;
    for (const auto& a : artifacts) DD_RETURN_IF_ERROR(attest::PushArtifact(client, repo, a));
  }
  if (options.signer)
    ctx.log.Line("Signed " + rebased.String() + " with key " + options.signer.hint);
  return Status::Ok();
}

}  // namespace

std::optional<Outcome> TryRebase(RunContext& ctx, const std::vector<oci::ImageReference>& tags) {
  Run& run = ctx.run;
  const RunRequest& r = run.request;
  if (r.type != "AutoBuild" || r.trigger.image_update.empty() || !r.push || tags.empty())
    return std::nullopt;
  const ImageDescriptor& base = r.trigger.image_update.front();
  auto started = Clock::now();
  PatchRecord patch;
  patch.kind = "rebuild";
  patch.base = base.registry + "/" + base.repository + ":" + base.tag;
  auto rebuild = [&](std::vector<std::string> reasons) -> std::optional<Outcome> {
    patch.reasons = std::move(reasons);
    patch.milliseconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    for (const auto& why : patch.reasons) ctx.log.Line("Not rebased: " + why);
    ctx.log.Line("Rebuilding for the base image update.");
    run.patch = patch;
    return std::nullopt;
  };
  if (r.patch_mode == "rebuild") return rebuild({"the task's patch mode is rebuild"});
  auto current = CurrentImage(r, tags);
  if (!current)
    return rebuild(
        {"every image of the task names {{.Run.ID}}: there is no current image to "
         "rebase"});
  if (ctx.on_running) ctx.on_running();
  ctx.log.Line("Executing step ID: rebase. Rebasing " + current->String() + " onto " + patch.base +
               " (" + base.digest + ")");
  TempDir scratch(ctx.options.data_dir / "runs", "rebase");
  rebase::Options o;
  o.allow_run_steps = r.patch_mode == "rebase";
  o.tags = tags;
  o.expect_base = oci::ImageReference{base.registry, base.repository, base.tag, std::nullopt};
  o.scratch = scratch.path();
  o.index = ctx.options.layer_index.get();
  o.log = [&](std::string_view s) { ctx.log.Output(s); };
  remote::Client client(RegistryOptions(ctx.options, r, run.id));
  // Before any tag moves: the verification, then the attestations.
  o.verify = [&](const oci::ImageReference& rebased) -> Status {
    if (!r.patch_verify.empty()) {
      ctx.log.Line("Verifying " + rebased.String() + ": " + r.patch_verify);
      DD_RETURN_IF_ERROR(Verify(ctx, rebased, r.patch_verify));
    }
    return AttestRebased(ctx, client, rebased, *current, tags);
  };
  // Onto the very digest that was checked to be signed, when that matters.
  oci::ImageReference onto = *o.expect_base;
  if (auto d = oci::Digest::Parse(base.digest); d.ok() && !r.trusted_base_keys.empty())
    onto.digest = *d;
  auto out = rebase::Rebase(client, *current, onto, o);
  ctx.log.Flush();
  if (!out.ok()) return rebuild({"the rebase failed: " + out.status().message()});
  patch.old_base_digest = out->old_base_digest;
  patch.new_base_digest = out->new_base_digest;
  if (out->kind == rebase::Outcome::kUpToDate)
    return rebuild({"the image is already on " + out->new_base_digest});
  if (out->kind == rebase::Outcome::kVerifyFailed && r.patch_verify_failure == "fail") {
    patch.kind = "rebase";
    patch.reasons = out->reasons;
    patch.milliseconds = out->milliseconds;
    run.patch = patch;
    ctx.log.Line("Step ID: rebase marked as failed (elapsed time in seconds: " +
                 Seconds(std::chrono::milliseconds(out->milliseconds)) + ")");
    return Fail(RunStatus::kFailed, ctx.log, out->reasons.front() + "; no tag was moved");
  }
  if (out->kind != rebase::Outcome::kRebased) return rebuild(out->reasons);
  patch.kind = "rebase";
  patch.milliseconds = out->milliseconds;
  run.patch = patch;
  for (const auto& t : tags)
    run.output_images.push_back(
        ImageDescriptor{t.registry, t.repository, t.tag, out->digest.str()});
  run.dependencies_json = DependenciesFor(tags, out->digest, base, out->new_base_resolved);
  ctx.log.Line("Step ID: rebase marked as successful (elapsed time in seconds: " +
               Seconds(std::chrono::milliseconds(out->milliseconds)) + ")");
  ctx.log.Line("The following dependencies were found:");
  ctx.log.Output(run.dependencies_json + "\n");
  ctx.log.Flush();
  return Outcome{RunStatus::kSucceeded, ""};
}

}  // namespace drydock::tasks::internal
