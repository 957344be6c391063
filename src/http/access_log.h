// The JSON access log: a line per finished request.
#pragma once

#include <string>

#include "http/server.h"

namespace drydock::http {

// One line of JSON describing a finished request.
std::string AccessLogLine(const Completion& c);

}  // namespace drydock::http
