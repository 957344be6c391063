#include "auth/throttle.h"

namespace drydock::auth {

namespace {
// Windows older than this are forgotten when the map grows.
constexpr int64_t kForgetSeconds = 3600;
constexpr size_t kMaxTracked = 100000;
}  // namespace

std::optional<int64_t> LoginThrottle::Blocked(const std::string& key, const Rule& rule,
                                              int64_t now) {
  std::lock_guard lock(mu_);
  auto it = windows_.find(key);
  if (it == windows_.end()) return std::nullopt;
  int64_t end = it->second.start + rule.window_seconds;
  if (now >= end) {
    windows_.erase(it);
    return std::nullopt;
  }
  if (it->second.failures < rule.max_failures) return std::nullopt;
  return end - now;
}

void LoginThrottle::Failed(const std::string& key, int64_t now) {
  std::lock_guard lock(mu_);
  if (windows_.size() >= kMaxTracked) {
    std::erase_if(windows_, [now](const auto& w) { return now - w.second.start > kForgetSeconds; });
    if (windows_.size() >= kMaxTracked) windows_.clear();  // a flood of keys: start over
  }
  auto& w = windows_[key];
  if (w.failures == 0) w.start = now;
  ++w.failures;
}

void LoginThrottle::Succeeded(const std::string& key) {
  std::lock_guard lock(mu_);
  windows_.erase(key);
}

}  // namespace drydock::auth
