// Image layers pulled from any registry (a FROM line names them): unpacked in
// overlay format for the layer store, applied onto a root for flat exports,
// and listed for a rebase's gate. Runs in the sandbox (sandbox.h): escapes abort.
#include <cstddef>
#include <cstdint>
#include <fstream>

#include "layer/layer.h"
#include "sandbox.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  drydock::fuzz::EnterSandbox(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock;
  for (bool apply : {false, true}) {
    auto dir = fuzz::FreshScratch();
    std::ofstream(dir / "blob", std::ios::binary)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    (void)layer::IsArchive(dir / "blob");
    if (!apply) (void)layer::ListLayer(dir / "blob");
    Status s = apply ? layer::ApplyLayer(dir / "blob", dir / "root")
                     : layer::UnpackLayer(dir / "blob", dir / "root");
    fuzz::CheckContained(s.message());
  }
  return 0;
}
