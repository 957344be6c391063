// Pieces shared by the build-context sources; not part of the public API.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "builder/context.h"

namespace drydock::builder::internal {

// Go's filepath.Match: `*` and `?` stop at '/', [...] classes with '^'
// negation and ranges, '\' escapes. nullopt when the pattern is malformed
// (checked over the whole pattern, as Go does, not just the part reached).
std::optional<bool> GlobMatch(std::string_view pattern, std::string_view name);

// Whether `s` has an unescaped * ? or [ (BuildKit's test for a wildcard source).
bool ContainsWildcards(std::string_view s);

// Go's path.Clean: lexical, "" -> ".", a leading '/' kept, trailing '/' dropped.
std::string CleanPath(std::string_view p);

// The non-empty components of a slash-separated path.
std::vector<std::string_view> SplitPath(std::string_view p);

// a + "/" + b, where an empty or "." `a` means "no prefix".
std::string JoinPath(std::string_view a, std::string_view b);

// A source path made relative to its root: leading slashes dropped, cleaned;
// "." for the root itself. A '..' that climbs above the root is an error.
Result<std::string> CleanSource(std::string_view src);

// Errno as a Status: kNotFound for ENOENT/ENOTDIR, kInternal otherwise.
Status ErrnoStatus(const std::string& what, int err);

// Opens `path` resolved as if `root` were '/' (openat2 RESOLVE_IN_ROOT, no
// magic links). Absolute paths and '..' stay inside. Invalid fd + errno on failure.
UniqueFd OpenInRoot(int root, std::string_view path, int flags);

// A directory's entry names, without . and .., sorted byte-wise like Go's ReadDir.
Result<std::vector<std::string>> ReadDirNames(int dir_fd);

// Reopens a directory fd (possibly O_PATH) for reading its entries.
Result<UniqueFd> ReopenDir(int fd, const std::string& what);

// A source path resolved inside its root, all symlinks followed.
struct ResolvedSource {
  UniqueFd fd;        // O_PATH
  struct stat st {};  // of what the path leads to
  std::string rel;    // where it really is, relative to the root; "" for the root
};
// kNotFound (with errno text) when the path leads nowhere.
Result<ResolvedSource> ResolveSource(int root, std::string_view rel);

// Whether the build context (as Docker would transfer it, without the ignored
// paths) still holds this source under both its written name and its real
// location: not excluded, or a directory holding a re-included path.
Result<bool> VisibleInContext(const IgnoreMatcher* ignore, const ResolvedSource& src,
                              const std::string& named_rel);

}  // namespace drydock::builder::internal
