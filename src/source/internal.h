// Internal to source/: helpers shared by its files; not part of the API.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::source {

// %XX sequences decoded; malformed ones are kept as they are.
std::string PercentDecode(std::string_view s);
// The last '/'-separated component of `name`; "" for "", ".", ".." or a NUL.
std::string SafeFileName(std::string_view name);

// Whether `path` is `root` or below it (both already canonical).
bool IsWithin(const std::filesystem::path& path, const std::filesystem::path& root);

struct CommandResult {
  int exit_code = 0;   // 128 + signal when killed
  std::string output;  // stdout and stderr interleaved; the last 64 KiB
};

// Runs argv[0] (looked up in PATH) with `env` as its whole environment,
// stdin from /dev/null, no shell. At the deadline or on cancel the whole
// process group is killed and the result is kUnavailable.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env,
                                 std::chrono::steady_clock::time_point deadline,
                                 const std::atomic<bool>* cancel);

// The numeric text of an IPv4 or IPv6 socket address.
std::string AddressText(const sockaddr* address);
// "<what> resolves to <address>, … (builds.allow_private_fetches …)".
std::string PrivateDestinationMessage(std::string_view what, std::string_view address);
// `host`'s addresses, or kDenied when any of them is private.
Result<std::vector<std::string>> ResolvePublic(const std::string& host, const std::string& what);

}  // namespace drydock::source
