// Build contexts uploaded to POST /api/v1/contexts or fetched as tarball URLs,
// extracted for a run. Runs in the sandbox (sandbox.h): escapes abort.
#include <cstddef>
#include <cstdint>
#include <fstream>

#include "sandbox.h"
#include "source/source.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  drydock::fuzz::EnterSandbox(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock;
  auto dir = fuzz::FreshScratch();
  std::ofstream(dir / "context.tar", std::ios::binary)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  // A small budget, so a compression bomb is refused quickly.
  Status s = source::ExtractTarball(dir / "context.tar", dir / "context", 16 << 20);
  fuzz::CheckContained(s.message());
  return 0;
}
