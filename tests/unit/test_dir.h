// A scratch directory per test, removed afterwards, and the file and shell
// helpers test setups share.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "base/fd.h"

// A test that cannot run here is skipped on a developer's machine, but fails
// under CI (CI=true), where CTest would otherwise count the skip as a pass.
#define DD_SKIP_UNLESS(condition, why)                                    \
  do {                                                                    \
    if (!(condition)) {                                                   \
      if (::drydock::testing::UnderCi()) FAIL() << "cannot run: " << why; \
      GTEST_SKIP() << why;                                                \
    }                                                                     \
  } while (0)

namespace drydock::testing {

inline bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

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

// The variables of "export NAME='value'" lines (what the scripts/*/start-*.sh
// scripts print).
inline std::map<std::string, std::string> ParseExports(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto eq = line.find('=');
    if (line.rfind("export ", 0) != 0 || eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'') value = value.substr(1, value.size() - 2);
    out[line.substr(7, eq - 7)] = value;
  }
  return out;
}

}  // namespace drydock::testing
