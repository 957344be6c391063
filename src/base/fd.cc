#include "base/fd.h"

#include <stdlib.h>

#include <stdexcept>
#include <string>
#include <system_error>

namespace drydock {

TempDir::TempDir(const std::filesystem::path& parent, const char* prefix) {
  std::filesystem::create_directories(parent);
  std::string templ = (parent / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
  }
  path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace drydock
