// A scratch directory per test, removed afterwards.
#pragma once

#include <filesystem>

#include "base/fd.h"

namespace drydock::testing {

inline TempDir MakeTestDir() {
  return TempDir(std::filesystem::temp_directory_path(), "drydock-unit");
}

}  // namespace drydock::testing
