// oci://REGISTRY/REPO:TAG contexts: an artifact (or image) whose layers make
// up the build context, pulled with the registry client.
#include <algorithm>
#include <system_error>

#include <nlohmann/json.hpp>

#include "layer/layer.h"
#include "oci/manifest.h"
#include "tasks/materialize.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

// ORAS names a file layer with this annotation.
constexpr const char* kTitle = "org.opencontainers.image.title";

std::string TitleOf(const oci::Descriptor& d) {
  auto a =
      nlohmann::json::parse(d.annotations_json.empty() ? "{}" : d.annotations_json, nullptr, false);
  if (!a.is_object()) return "";
  auto it = a.find(kTitle);
  return it != a.end() && it->is_string() ? it->get<std::string>() : "";
}

// Moves everything in `from` into `to`; a later layer replaces what an
// earlier one had at the same path (directories are merged, and a symlink
// is replaced, never followed).
Status MergeInto(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    fs::path dest = to / entry.path().filename();
    auto src_status = entry.symlink_status();
    auto dest_status = fs::symlink_status(dest, ec);
    if (fs::is_directory(src_status) && fs::is_directory(dest_status)) {
      DD_RETURN_IF_ERROR(MergeInto(entry.path(), dest));
      continue;
    }
    if (fs::exists(dest_status)) fs::remove_all(dest, ec);
    fs::rename(entry.path(), dest, ec);
    if (ec) return Internal("cannot place " + dest.string() + ": " + ec.message());
  }
  if (ec) return Internal("cannot read " + from.string() + ": " + ec.message());
  return Status::Ok();
}

Status PlaceFile(const fs::path& blob, const std::string& title, const fs::path& context) {
  fs::path rel = fs::path(title).lexically_normal();
  if (rel.is_absolute() || rel.empty() || *rel.begin() == ".." || rel.filename().empty())
    return Invalid("artifact file name '" + title + "' is not a relative path inside the context");
  std::error_code ec;
  fs::create_directories((context / rel).parent_path(), ec);
  fs::path parent = fs::weakly_canonical((context / rel).parent_path(), ec);
  fs::path root = fs::canonical(context, ec);
  auto [end, unused] = std::mismatch(root.begin(), root.end(), parent.begin(), parent.end());
  if (ec || end != root.end())
    return Invalid("artifact file '" + title + "' would be written outside the context");
  fs::rename(blob, context / rel, ec);
  if (ec) return Internal("cannot place " + title + ": " + ec.message());
  return Status::Ok();
}

Status PlaceLayer(const fs::path& blob, const oci::Descriptor& layer, size_t index,
                  const fs::path& context, const fs::path& scratch, uint64_t& budget) {
  std::string title = TitleOf(layer);
  if (!layer::IsArchive(blob)) {
    if (title.empty())
      return Invalid("layer " + layer.digest.str() + " is neither an archive nor a titled file");
    return PlaceFile(blob, title, context);
  }
  fs::path unpacked = scratch / ("layer-" + std::to_string(index));
  DD_RETURN_IF_ERROR(source::ExtractTarball(blob, unpacked, budget));
  std::error_code ec;
  uint64_t used = 0;
  for (const auto& e : fs::recursive_directory_iterator(unpacked, ec)) {
    if (e.is_regular_file(ec)) used += e.file_size(ec);
  }
  budget = used >= budget ? 0 : budget - used;
  // ORAS archives a directory with its name as the entries' prefix, so every
  // archive unpacks at the context root.
  DD_RETURN_IF_ERROR(MergeInto(unpacked, context));
  fs::remove_all(unpacked, ec);
  return Status::Ok();
}

}  // namespace

Status PullOciContext(const oci::ImageReference& ref, const fs::path& context,
                      const fs::path& scratch, const FetchOptions& options) {
  remote::Client client(options.registry);
  auto manifest = client.GetManifest(ref);
  if (!manifest.ok()) return manifest.status();
  if (oci::IsIndexMediaType(manifest->media_type))
    return Invalid(ref.String() + " is an index; an oci:// source must be a single artifact");
  auto parsed = oci::ParseManifest(manifest->bytes, manifest->media_type);
  if (!parsed.ok()) return Invalid(ref.String() + ": " + parsed.status().message());
  std::error_code ec;
  fs::create_directories(context, ec);
  fs::create_directories(scratch, ec);
  if (ec) return Internal("cannot create " + scratch.string() + ": " + ec.message());
  uint64_t budget = options.max_extracted_bytes;
  for (size_t i = 0; i < parsed->layers.size(); ++i) {
    if (options.cancel && options.cancel->load()) return Status(Code::kUnavailable, "canceled");
    const auto& layer = parsed->layers[i];
    if (static_cast<uint64_t>(layer.size) > options.max_download_bytes)
      return TooLarge("layer " + layer.digest.str() + " is larger than the context limit");
    fs::path blob = scratch / ("blob-" + std::to_string(i));
    DD_RETURN_IF_ERROR(client.FetchBlob(ref, layer.digest, blob));
    DD_RETURN_IF_ERROR(PlaceLayer(blob, layer, i, context, scratch, budget));
    fs::remove(blob, ec);
  }
  options.log("Pulled " + std::to_string(parsed->layers.size()) + " layer(s) of " + ref.String() +
              " (" + manifest->digest.str() + ")");
  return Status::Ok();
}

}  // namespace drydock::tasks::internal
