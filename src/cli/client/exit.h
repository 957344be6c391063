// How the client commands end on an error: one line on stderr naming the
// command, and exit status 2 for bad input, 1 for everything else.
#pragma once

#include <iostream>
#include <string_view>

#include "base/result.h"

namespace drydock::client {

inline int Fail(std::string_view command, const Status& s) {
  std::cerr << "drydock " << command << ": " << s.message() << "\n";
  return s.code() == Code::kInvalid ? 2 : 1;
}

}  // namespace drydock::client
