// Files the client reads on this machine to send (task files, values).
#pragma once

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "base/result.h"

namespace drydock::client {

// The whole file at `path`; "-" reads standard input.
inline Result<std::string> ReadLocalFile(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  text << in.rdbuf();
  return text.str();
}

}  // namespace drydock::client
