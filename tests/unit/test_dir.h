// A scratch directory per test, removed afterwards, and the file and shell
// helpers test setups share.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "base/fd.h"

namespace drydock::testing {

inline TempDir MakeTestDir() {
  return TempDir(std::filesystem::temp_directory_path(), "drydock-unit");
}

inline void WriteFile(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Test setup only: a shell command that must succeed; its stdout, trimmed.
inline std::string Sh(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(("set -e; " + cmd).c_str(), "r"), ::pclose);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, n);
  int status = ::pclose(p.release());
  if (status != 0) ADD_FAILURE() << "command failed (" << status << "): " << cmd;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace drydock::testing
