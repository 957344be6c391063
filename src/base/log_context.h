// What a thread's log lines are about: the request (and run) it is
// serving, for the length of a scope. A line logged deep inside a handler
// then names the request id that the access log and the response's
// X-Request-Id carry, without every call passing it down (containerd keeps
// it in a context; a thread serves one request at a time here).
#pragma once

#include <string>

namespace drydock {

class ScopedLogContext {
 public:
  // `context` as log lines show it, e.g. "request=9f2c… run=ca4".
  explicit ScopedLogContext(std::string context);
  ~ScopedLogContext();  // the enclosing scope's context again
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  std::string previous_;
};

// This thread's context; "" outside any scope.
const std::string& LogContext();

}  // namespace drydock
