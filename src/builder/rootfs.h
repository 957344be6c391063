// Internal to build/: path operations inside a container root filesystem,
// resolved as if the root were `/` (openat2 RESOLVE_IN_ROOT), so absolute
// symlinks in an image can never reach the host.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace drydock::builder {

// mkdir -p of `path` inside `root`; new directories get uid/gid and 0755.
Status MkdirAllInRoot(const std::filesystem::path& root, const std::string& path, uint32_t uid,
                      uint32_t gid);
// Whether `path` exists inside `root` (the last component is not followed).
bool ExistsInRoot(const std::filesystem::path& root, const std::string& path);
// The file's contents, or nullopt when it does not exist.
Result<std::optional<std::string>> ReadFileInRoot(const std::filesystem::path& root,
                                                  const std::string& path);

// The host path of directory `path` inside `root`, with every symlink on the
// way resolved inside the root (for handing the directory to other code).
Result<std::filesystem::path> ResolveDirInRoot(const std::filesystem::path& root,
                                               const std::string& path);

struct UserIds {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups from /etc/group
};
// How a user without a group gets its gid; names always take their passwd gid.
enum class UserRule {
  kProcess,  // USER for RUN (runc's GetExecUser): a uid's passwd entry gives the gid, else gid 0
  kOwner,  // --chown and WORKDIR owners (BuildKit's ChownOpt): a uid is also the gid, passwd unread
};
// Resolves Docker's USER / --chown forms (name, uid, name:group, uid:gid)
// against the image's /etc/passwd and /etc/group.
Result<UserIds> ResolveUser(const std::filesystem::path& root, const std::string& spec,
                            UserRule rule);

}  // namespace drydock::builder
