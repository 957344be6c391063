// A mount-namespace sandbox for the fuzz targets that write files (tar
// extraction). Those run as root in CI and unpack hostile archives: a bug that
// follows a symlink out of the destination must hit a read-only filesystem,
// not delete something on the machine running the fuzzer. Escapes are also
// made visible, since a write that lands elsewhere does not crash by itself.
#pragma once

#include <filesystem>
#include <string_view>

namespace drydock::fuzz {

// Call from LLVMFuzzerInitialize with its argc/argv. Enters a private mount
// namespace (and a user namespace when not root) in which every mount is
// read-only except the directories libFuzzer writes to (the current
// directory, corpus directories, the artifact prefix's directory), and /tmp
// is a private 256 MiB tmpfs. Exits with a message when that is impossible:
// an unsandboxed run is not worth the risk. Corpus and artifacts must live
// outside /tmp.
void EnterSandbox(int* argc, char*** argv);

// A fresh empty directory inside the sandbox's /tmp for one input, next to a
// canary file that nothing may touch.
std::filesystem::path FreshScratch();

// After an input: aborts (a "crash" libFuzzer reports with the input) when
// anything but the scratch directory changed in the sandbox's /tmp, or when
// `error` says a write hit the read-only rest of the system, i.e. the code
// under test tried to write outside its destination. Then empties the scratch.
void CheckContained(std::string_view error);

}  // namespace drydock::fuzz
