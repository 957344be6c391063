// Images to run rather than to build on: a task file's cmd steps get the
// image's layers from the builder's store, stacked for an overlay mount.
#include "build/builder.h"
#include "build/cache.h"
#include "build/store.h"

namespace drydock::build {

Result<ImageRoot> PullImageRoot(const oci::ImageReference& ref, const std::string& platform,
                                const std::filesystem::path& state_dir,
                                const remote::ClientOptions& registry,
                                const std::function<void(std::string_view)>& log) {
  // Held while the snapshots are in use: a prune never deletes them under us.
  DD_ASSIGN_OR_RETURN(lock, LockState(state_dir, log));
  remote::Client client(registry);
  LayerStore store(state_dir);
  DD_ASSIGN_OR_RETURN(base, PullBase(client, store, ref, platform, log));
  ImageRoot root;
  root.config = base.config.value("config", nlohmann::json::object());
  for (auto it = base.layers.rbegin(); it != base.layers.rend(); ++it)
    root.lowers.push_back(store.SnapshotPath(it->chain));
  root.resolved = base.dependency;
  root.lock = std::move(lock);
  return root;
}

}  // namespace drydock::build
