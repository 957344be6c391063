// Internal to build/: the StageRunner behind Build(). It runs the stages the
// target needs, instruction by instruction: RUN under runc on an overlay of
// the stage's snapshots (run_step.cc); COPY, ADD (copy_step.cc) and WORKDIR
// write into the same kind of overlay; the upper dir becomes the layer (and,
// unchanged, the next snapshot). Each layer-making step is looked up in the
// cache first.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "builder/builder.h"
#include "builder/cache.h"
#include "builder/context.h"
#include "builder/dockerfile.h"
#include "builder/stages.h"
#include "builder/store.h"
#include "runtime/runtime.h"

namespace drydock::builder {

using nlohmann::json;

// What a stage has built so far.
struct StageState {
  json config;
  std::vector<LayerRef> layers;
  Env args;               // ARG values declared in this stage
  std::string cache_key;  // running key: base + every instruction so far
  bool cmd_set = false;
  // Time of the newest layer: config-only steps and the image reuse it, so a
  // fully cached rebuild reproduces the same digest, as BuildKit's does.
  std::string last_created = "1970-01-01T00:00:00Z";
  std::optional<ImageDependency> root_base;
  std::optional<oci::ImageReference> base_ref;  // for cross-repository mounts on push
  // What a later rebase needs (rebase/rebase.h's annotations): the base
  // manifest the layers came from, how many layers are the base's, and
  // how many RUN steps ran on it (in this stage or those it is FROM).
  std::string base_manifest;
  size_t base_layers = 0;
  int64_t run_steps = 0;
  size_t stage = 0;  // index, for log lines
};

// A scratch overlay over a stage: unmounted and removed when it goes away.
class StageMount {
 public:
  // With `users`, for a container in that user namespace (RUN).
  static Result<std::unique_ptr<StageMount>> Create(LayerStore& store,
                                                    const std::vector<LayerRef>& layers,
                                                    const runtime::UserNamespace* users = nullptr);
  std::filesystem::path root() const { return dir_.path() / "root"; }
  std::filesystem::path upper() const { return dir_.path() / "upper"; }
  void Unmount() { mount_.reset(); }

 private:
  explicit StageMount(const std::filesystem::path& scratch) : dir_(scratch, "mount") {}
  TempDir dir_;
  std::optional<runtime::OverlayMount> mount_;
};

// Where COPY reads from: the context, another stage, or an image.
struct CopySource {
  std::filesystem::path root;
  const IgnoreMatcher* ignore = nullptr;
  std::unique_ptr<StageMount> mount;
  std::string identity;  // for the cache key
};

// What RUN --mount flags give the container, and what must outlive the RUN.
struct RunMounts {
  std::vector<runtime::BindMount> binds;
  std::vector<runtime::TmpfsMount> tmpfs;
  std::vector<std::string> env;  // SSH_AUTH_SOCK, env= secrets
  std::string cache_key;         // the mounts' part of the RUN's cache key
  std::vector<std::unique_ptr<StageMount>> holds;
  std::vector<runtime::OverlayMount> overlays;  // rw binds: writes are thrown away
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<UniqueFd> locks;  // cache mounts with sharing=locked|private
};

// sha256 hex of `s`: cache keys.
std::string Hex(const std::string& s);

class StageRunner {
 public:
  explicit StageRunner(const BuildOptions& o);
  Result<BuildResult> Run();

 private:
  void Log(const std::string& s);
  Env ExpandEnv(const StageState& st) const;
  Status LineError(const Instruction& ins, const std::string& what) const;
  std::string Now() const;
  Result<StageState> FromImage(const std::string& name, const std::string& platform);
  Status CheckStagesCanRun() const;
  Status RunStages();
  Status RunStage(size_t index);
  // The finished state of `stage`, or null while it is not built.
  const StageState* Built(size_t stage);
  Status RunOnBuildTriggers(StageState& st, size_t stage);
  Status Dispatch(StageState& st, const Instruction& ins, size_t stage);
  void AddHistory(StageState& st, const Instruction& ins, bool empty);
  Status DeclareArgs(StageState& st, const Instruction& ins, const Env& env);
  Status Workdir(StageState& st, const Instruction& ins, const Env& env);

  // Layers and the cache.
  Status Commit(StageState& st, StageMount& m, const Instruction& ins, const std::string& key);
  void Append(StageState& st, const Instruction& ins, const LayerRef& l);
  bool UseCache(StageState& st, const Instruction& ins, const std::string& key);

  // RUN (run_step.cc).
  Status RunStep(StageState& st, const Instruction& ins);
  static void RemoveMountPoints(const std::filesystem::path& upper,
                                const std::vector<std::string>& points);
  Result<std::string> HeredocScript(const Instruction& ins, const std::filesystem::path& scratch,
                                    std::vector<runtime::BindMount>& binds);

  // RUN --mount (run_mounts.cc).
  using MountOptions = std::map<std::string, std::string>;
  Result<RunMounts> PrepareMounts(const Instruction& ins, const std::filesystem::path& scratch,
                                  size_t stage);
  Result<std::filesystem::path> MountSourceRoot(const MountOptions& kv, size_t stage,
                                                RunMounts& out);
  Status BindMountFor(const MountOptions& kv, size_t stage, RunMounts& out);
  Status CacheMountFor(const MountOptions& kv, size_t stage, RunMounts& out);
  Status TmpfsMountFor(const MountOptions& kv, RunMounts& out);
  Status SecretMountFor(const MountOptions& kv, const std::filesystem::path& scratch,
                        RunMounts& out);
  Status SshMountFor(const MountOptions& kv, int index, RunMounts& out);

  // COPY and ADD (copy_step.cc).
  Result<CopySource> SourceFor(const Instruction& ins, size_t stage);
  std::string SourcesDigest(const std::filesystem::path& root,
                            const std::vector<std::string>& sources, const IgnoreMatcher* ignore);
  Result<CopyOptions> CopyFlags(const Instruction& ins, const std::filesystem::path& dest_root,
                                const Env& env);
  Status CopyStep(StageState& st, const Instruction& ins, const Env& env, size_t stage);
  Status AddArchives(const Instruction& ins, const std::filesystem::path& root,
                     std::vector<std::string>& sources, const std::filesystem::path& dest_root,
                     const std::string& dest, const std::string& workdir);
  // ADD of http(s) URLs and git repositories (add_remote.cc).
  static bool IsRemoteSource(const std::string& word);
  Status AddRemote(StageState& st, const Instruction& ins, const Env& env,
                   const std::vector<std::string>& words, const std::string& dest,
                   const std::filesystem::path& scratch);
  Status PlaceRemote(StageState& st, const Instruction& ins, const Env& env,
                     std::vector<std::string> local,
                     const std::vector<std::pair<std::filesystem::path, std::string>>& fetched,
                     const std::string& dest, const std::string& key);

  Result<BuildResult> Finish(StageState& st);
  // attestations.cc: the SBOM, provenance and signatures of the image
  // `image` (digest `digest`) built from `st`, as artifacts to push.
  Result<std::vector<Attached>> Attest(const StageState& st, const std::string& manifest,
                                       const std::string& media_type);
  Result<attest::PackageDatabases> ReadPackageDatabases(const StageState& st);
  void RecordInput(attest::Material m);

  const BuildOptions& o_;
  remote::Client client_;  // before cache_, which fetches imported layers with it
  LayerStore store_;
  BuildCache cache_;
  Dockerfile df_;
  Plan plan_;
  IgnoreMatcher ignore_;
  std::mutex states_mu_;  // guards states_ and onbuild_ (stages build in parallel)
  std::vector<std::optional<StageState>> states_;
  std::deque<Dockerfile> onbuild_;                        // parsed triggers outlive their dispatch
  std::vector<std::vector<ImageDependency>> stage_deps_;  // buildtime bases, per stage
  Dependencies deps_;
  std::string dockerfile_digest_;
  std::string started_;                   // RFC 3339, for provenance
  std::mutex inputs_mu_;                  // stages fetch in parallel
  std::vector<attest::Material> inputs_;  // ADD <url>, ADD <git>: what provenance names
  std::mutex log_mu_;
  std::atomic<bool> stop_{false};  // set on the first failure or a cancel: stops the other stages
};

}  // namespace drydock::builder
