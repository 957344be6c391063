// auth/'s own: failed sign-ins counted per key ("user:NAME", "addr:IP") in
// fixed windows, so that password guessing slows to a crawl. In memory: a
// restart forgets the counts, which costs an attacker one window at most.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace drydock::auth {

class LoginThrottle {
 public:
  struct Rule {
    int max_failures;        // within one window
    int64_t window_seconds;  // counted from the first failure
  };
  // Seconds until `key` may try again, or nullopt when it may now.
  std::optional<int64_t> Blocked(const std::string& key, const Rule& rule, int64_t now);
  void Failed(const std::string& key, int64_t now);
  void Succeeded(const std::string& key);

 private:
  struct Window {
    int64_t start = 0;
    int failures = 0;
  };
  std::mutex mu_;
  std::map<std::string, Window> windows_;
};

}  // namespace drydock::auth
