// runtime/'s own: a short runc subcommand, shared by run.cc and leftovers.cc.
#pragma once

#include <string>
#include <vector>

namespace drydock::runtime {

// Runs `args` ("runc", "--root", …, "delete", …) with no input or output and
// waits: its exit status, or -1.
int RuncCommand(const std::vector<std::string>& args);

// In a forked child before exec: closes every descriptor from `first` on
// (async-signal-safe).
void CloseFrom(int first);

}  // namespace drydock::runtime
