// Rebase: an image built on a base gets that base's update without a
// rebuild, by putting its own layers, unchanged, on the new base's layers
// (as `crane rebase` does by hand), but only when that gives what a
// rebuild would: the gate below says when, with its reasons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "layer/layer.h"
#include "oci/digest.h"
#include "oci/reference.h"
#include "remote/client.h"

namespace drydock::rebase {

// What every image Drydock builds carries in its manifest, and a rebase
// reads: the OCI base annotations (the base's tag, and the digest of the
// very manifest its layers came from, per platform), how many of the
// image's layers are the base's, and how many RUN steps ran on the base.
inline constexpr char kBaseName[] = "org.opencontainers.image.base.name";
inline constexpr char kBaseDigest[] = "org.opencontainers.image.base.digest";
inline constexpr char kBaseLayers[] = "dev.drydock.base.layers";
inline constexpr char kRunSteps[] = "dev.drydock.build.run-steps";

// The gate, on what has been fetched. An empty answer: a rebase is safe.
struct GateInput {
  nlohmann::json image_config, old_base_config, new_base_config;  // config blobs
  std::vector<oci::Digest> image_layers, old_base_layers;         // blob digests, in order
  int64_t base_layers = 0;                                        // kBaseLayers
  int64_t run_steps = 0;                                          // kRunSteps
  bool allow_run_steps = false;
  std::vector<layer::LayerEntry> own_entries;  // of the image's layers past the base's
  // Every path of the old and the new base's layers: true for a directory.
  std::map<std::string, bool> base_paths;
};
std::vector<std::string> GateReasons(const GateInput& in);

// The rebased image: the new base's layers, then the image's own; its
// config's diff_ids and history spliced the same way, labels the image did
// not set itself from the new base, and `annotations` set on the manifest.
struct Spliced {
  std::string config, manifest;
};
Result<Spliced> Splice(const nlohmann::json& image_manifest, const nlohmann::json& image_config,
                       const nlohmann::json& old_base_config,
                       const nlohmann::json& new_base_manifest,
                       const nlohmann::json& new_base_config, int64_t base_layers,
                       const std::map<std::string, std::string>& annotations);

// Layers' entries by blob digest: a base shared by many images is listed
// once. Only a cache (losing it costs a download), so a mutex is enough.
class LayerIndex {
 public:
  using Entries = std::shared_ptr<const std::vector<layer::LayerEntry>>;
  Entries Find(const oci::Digest& blob);
  void Add(const oci::Digest& blob, Entries entries);

 private:
  std::mutex mu_;
  std::map<std::string, Entries> entries_;
};

struct Options {
  // Rebase even when RUN steps ran on the old base (a task's
  // --patch-mode rebase): the user vouches that their output does not
  // depend on it.
  bool allow_run_steps = false;
  bool dry_run = false;  // decide and report; push nothing
  // Refuse an image built on another base than this tag (a task whose
  // Dockerfile moved to another base since its image was built).
  std::optional<oci::ImageReference> expect_base;
  // Where the result is tagged; empty: the image's own tag.
  std::vector<oci::ImageReference> tags;
  // Runs on the rebased image, pushed by digest before any tag moves; an
  // error keeps every tag where it was.
  std::function<Status(const oci::ImageReference& rebased)> verify;
  std::filesystem::path scratch;  // layers are downloaded here to be listed
  LayerIndex* index = nullptr;    // optional, shared between rebases
  std::function<void(std::string_view)> log;
};

struct Outcome {
  // kRebased: pushed and tagged. kRefused: the gate said no (reasons);
  // nothing pushed. kUpToDate: already on that base. kVerifyFailed: the
  // rebased image was pushed by digest but failed verification; no tag moved.
  enum Kind { kRebased, kRefused, kUpToDate, kVerifyFailed, kDryRun };
  Kind kind = kRefused;
  std::vector<std::string> reasons;
  std::string base_name;                         // the base's tag, as the image names it
  std::string old_base_digest, new_base_digest;  // platform manifests
  std::string new_base_resolved;  // what the new base's reference resolved to (an index, maybe)
  oci::Digest digest;             // the rebased manifest (kRebased, kVerifyFailed, kDryRun)
  std::string manifest, media_type;
  int64_t milliseconds = 0;
};
// "rebased", "refused", "up to date", "verification failed", "dry run".
std::string_view KindName(Outcome::Kind k);

// Rebases `image` (an image Drydock built) onto `onto`, or onto the
// current image of the base tag it was built from when `onto` has no
// repository. A multi-platform index is rebased platform by platform,
// each onto the new base's image for its platform, into a new index; the
// gate refusing any platform refuses it all. Errors are failures to fetch
// or push; a refusal is an Outcome.
Result<Outcome> Rebase(remote::Client& client, const oci::ImageReference& image,
                       const oci::ImageReference& onto, const Options& options);

}  // namespace drydock::rebase
