// Packs a local build context into the tar.gz that `drydock build` uploads,
// with the rules `az acr build` and the docker CLI apply:
//  - `.dockerignore` (or `<Dockerfile>.dockerignore`, which wins) excludes
//    paths, as builder::IgnoreMatcher reads them;
//  - version-control metadata never goes: `.git` anywhere (submodules hold
//    it too), and `.gitignore .hg .hgignore .svn .bzr .bzrignore` at the
//    top;
//  - the Dockerfile and the ignore file always go, even when excluded (the
//    server needs them); a Dockerfile outside the context is added at the
//    archive root under a generated name, with a generated ignore file that
//    keeps it (and itself) out of `COPY . .`.
// Entries are relative ("dir/file", never "/" or ".."), owned by 0:0 and
// keep their mode and mtime; symlinks stay symlinks (never followed), hard
// links stay hard links, sockets/FIFOs/devices are skipped. The archive is
// compressed with igzip and written to a file, never held in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/result.h"

namespace drydock::client {

struct PackOptions {
  std::filesystem::path context_dir;
  // As the user wrote it (relative to the working directory); empty means
  // context_dir/Dockerfile.
  std::filesystem::path dockerfile;
  // A task-file run's workspace: the directory alone (its .dockerignore
  // still applies); no Dockerfile is needed or added.
  bool without_dockerfile = false;
};

struct PackedContext {
  std::filesystem::path archive;  // the tar.gz written
  uint64_t size = 0;              // its bytes
  uint64_t entries = 0;           // tar entries
  uint64_t excluded = 0;          // paths left out by .dockerignore
  // The Dockerfile's name inside the archive, for the run's "dockerfile".
  std::string dockerfile;
};

// Writes the archive to `out` (created or truncated). Errors name the file
// that could not be read or the .dockerignore line that does not parse.
Result<PackedContext> PackContext(const PackOptions& options, const std::filesystem::path& out);

}  // namespace drydock::client
