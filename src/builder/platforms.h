// Internal to build/: building for platforms other than this machine's.
// A RUN for a foreign platform executes under QEMU user-mode emulation that
// binfmt_misc starts for the container's binaries; several platforms build
// one image each (at the same time) and an image index names them all.
#pragma once

#include <vector>

#include "base/result.h"
#include "builder/builder.h"
#include "oci/platform.h"

namespace drydock::builder {

// Ok when this machine runs `platform`'s binaries: natively, or through a
// binfmt_misc entry for QEMU with the F (fix binary) flag, which makes the
// interpreter reachable inside a container's root. Otherwise an error that
// says what to install or register.
Status CheckCanRun(const oci::Platform& platform);

// Builds `o` once per platform, then an OCI image index (a Docker manifest
// list with docker_media_types) of the images: pushed with each image and
// its attestations by digest, the index signed, then tagged; or written to
// an oci: layout.
Result<BuildResult> BuildIndex(const BuildOptions& o, const std::vector<oci::Platform>& platforms);

}  // namespace drydock::builder
