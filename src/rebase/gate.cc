// When a rebase gives what a rebuild would. Each check that fails adds a
// reason in words a user can act on; the caller rebuilds instead.
#include <algorithm>
#include <string_view>

#include "rebase/rebase.h"

namespace drydock::rebase {
namespace {

using nlohmann::json;

// Where package managers keep what is installed: an image layer writing
// there would, on the new base, replace the base's record of its patched
// packages with the old one.
constexpr std::string_view kPackageDatabases[] = {
    "var/lib/dpkg",         "var/lib/apt", "lib/apk/db", "var/lib/rpm",
    "usr/lib/sysimage/rpm", "var/lib/dnf", "var/lib/yum"};

// The config fields an image inherits from its base unless it sets them.
constexpr std::string_view kInherited[] = {"User",       "WorkingDir",   "Entrypoint",
                                           "Cmd",        "ExposedPorts", "Volumes",
                                           "StopSignal", "Shell",        "Healthcheck"};

bool Under(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

json Field(const json& config, std::string_view name) {
  auto c = config.find("config");
  if (c == config.end() || !c->is_object()) return nullptr;
  auto f = c->find(std::string(name));
  return f == c->end() ? json(nullptr) : *f;
}

std::map<std::string, std::string> EnvOf(const json& config) {
  std::map<std::string, std::string> out;
  json env = Field(config, "Env");
  if (!env.is_array()) return out;
  for (const auto& e : env) {
    if (!e.is_string()) continue;
    std::string s = e.get<std::string>();
    auto eq = s.find('=');
    out[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
  }
  return out;
}

std::string Show(const json& v) { return v.is_null() ? "nothing" : v.dump(); }

void CheckLayers(const GateInput& in, std::vector<std::string>& why) {
  auto n = static_cast<size_t>(std::max<int64_t>(in.base_layers, 0));
  if (n != in.old_base_layers.size() || n > in.image_layers.size() ||
      !std::equal(in.old_base_layers.begin(), in.old_base_layers.end(), in.image_layers.begin())) {
    why.push_back("the image's first " + std::to_string(n) +
                  " layers are not exactly the old base's " +
                  std::to_string(in.old_base_layers.size()) + " layers");
  }
}

void CheckRunSteps(const GateInput& in, std::vector<std::string>& why) {
  if (in.run_steps > 0 && !in.allow_run_steps)
    why.push_back(std::to_string(in.run_steps) +
                  " RUN step(s) ran on the old base and their output may depend on it "
                  "(--patch-mode rebase allows it)");
}

void CheckPaths(const GateInput& in, std::vector<std::string>& why) {
  constexpr size_t kShown = 3;  // reasons name a few paths, not thousands
  std::vector<std::string> databases, overwritten;
  for (const auto& e : in.own_entries) {
    if (e.kind != layer::LayerEntry::kDirectory) {
      for (auto db : kPackageDatabases)
        if (Under(e.path, db)) databases.push_back("/" + e.path);
    }
    auto hit = in.base_paths.find(e.path);
    bool clash = false;
    if (hit != in.base_paths.end()) {
      // A directory over a directory only adds to it; anything else
      // replaces or deletes what the base has there.
      clash = !(e.kind == layer::LayerEntry::kDirectory && hit->second);
    }
    // Writing below a base file (a symlink such as /lib → usr/lib) replaces it too.
    for (auto slash = e.path.find('/'); !clash && slash != std::string::npos;
         slash = e.path.find('/', slash + 1)) {
      auto parent = in.base_paths.find(e.path.substr(0, slash));
      clash = parent != in.base_paths.end() && !parent->second;
    }
    if (clash) overwritten.push_back("/" + e.path);
  }
  auto list = [&](std::vector<std::string>& paths) {
    std::sort(paths.begin(), paths.end());
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
    std::string s;
    for (size_t i = 0; i < paths.size() && i < kShown; ++i) s += (i ? ", " : "") + paths[i];
    if (paths.size() > kShown) s += " and " + std::to_string(paths.size() - kShown) + " more";
    return s;
  };
  if (!databases.empty())
    why.push_back("the image's own layers write to a package database: " + list(databases));
  if (!overwritten.empty())
    why.push_back("the image's own layers replace or delete paths of the base: " +
                  list(overwritten));
}

void CheckConfig(const GateInput& in, std::vector<std::string>& why) {
  for (auto name : kInherited) {
    json was = Field(in.old_base_config, name), now = Field(in.new_base_config, name);
    if (was == now || Field(in.image_config, name) != was) continue;  // same, or set by the image
    why.push_back("the base's " + std::string(name) + " changed from " + Show(was) + " to " +
                  Show(now) + " and the image inherits it");
  }
  auto was = EnvOf(in.old_base_config), now = EnvOf(in.new_base_config),
       own = EnvOf(in.image_config);
  std::map<std::string, bool> names;
  for (const auto& [k, v] : was) names[k] = true;
  for (const auto& [k, v] : now) names[k] = true;
  for (const auto& [k, unused] : names) {
    auto w = was.find(k), n = now.find(k), o = own.find(k);
    bool changed =
        (w == was.end()) != (n == now.end()) || (w != was.end() && w->second != n->second);
    bool inherited = (w == was.end()) ? o == own.end() : (o != own.end() && o->second == w->second);
    if (changed && inherited)
      why.push_back("the base's ENV " + k + " changed and the image inherits it");
  }
}

}  // namespace

std::vector<std::string> GateReasons(const GateInput& in) {
  std::vector<std::string> why;
  CheckLayers(in, why);
  CheckRunSteps(in, why);
  CheckPaths(in, why);
  CheckConfig(in, why);
  return why;
}

std::string_view KindName(Outcome::Kind k) {
  switch (k) {
    case Outcome::kRebased:
      return "rebased";
    case Outcome::kRefused:
      return "refused";
    case Outcome::kUpToDate:
      return "up to date";
    case Outcome::kVerifyFailed:
      return "verification failed";
    case Outcome::kDryRun:
      return "dry run";
  }
  return "unknown";
}

}  // namespace drydock::rebase
