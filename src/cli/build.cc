// `drydock build --local`: builds in-process, no server involved.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "build/builder.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

std::filesystem::path DockerConfigPath() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d)
    return std::filesystem::path(d) / "config.json";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/root") / ".docker" / "config.json";
}

Result<std::map<std::string, std::string>> ParseBuildArgs(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (const auto& a : args) {
    auto eq = a.find('=');
    if (eq == std::string::npos) {
      // Docker: `--build-arg NAME` takes the value from the environment.
      const char* v = std::getenv(a.c_str());
      if (v) out[a] = v;
      continue;
    }
    out[a.substr(0, eq)] = a.substr(eq + 1);
  }
  return out;
}

}  // namespace

int BuildLocal(const BuildFlags& flags) {
  if (!flags.local) {
    std::cerr << "drydock build: only --local builds exist so far (server-side builds come with "
                 "the run queue)\n";
    return 2;
  }
  build::BuildOptions o;
  o.context_dir = flags.context;
  o.dockerfile = flags.file.empty() ? std::filesystem::path(flags.context) / "Dockerfile"
                                    : std::filesystem::path(flags.file);
  auto args = ParseBuildArgs(flags.build_args);
  o.build_args = *args;
  o.target = flags.target;
  o.platform = flags.platform;
  o.push = flags.push;
  o.output = flags.output;
  o.no_cache = flags.no_cache;
  o.run_timeout = std::chrono::seconds(flags.run_timeout_seconds);
  o.docker_media_types = flags.docker_format;
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde)
    o.source_date_epoch = std::atoll(sde);
  o.state_dir = flags.state;
  o.registry.insecure_registries = flags.insecure_registries;
  o.registry.credentials = remote::DockerConfigCredentials(DockerConfigPath());
  o.log = [](std::string_view s) { std::cerr << s << std::flush; };
  for (const auto& t : flags.tags) {
    auto ref = oci::ParseImageReference(t);
    if (!ref.ok()) {
      std::cerr << "drydock build: -t " << t << ": " << ref.status().message() << "\n";
      return 2;
    }
    o.tags.push_back(*ref);
  }
  if (flags.dependencies_only) {
    std::ifstream f(o.dockerfile);
    if (!f) {
      std::cerr << "drydock build: cannot read " << o.dockerfile << "\n";
      return 1;
    }
    std::string text((std::istreambuf_iterator<char>(f)), {});
    auto deps = build::ScanDependencies(text, o.build_args, o.target);
    if (!deps.ok()) {
      std::cerr << "drydock build: " << deps.status().message() << "\n";
      return 1;
    }
    deps->images = o.tags;
    std::cout << build::DependenciesJson(*deps) << "\n";
    return 0;
  }
  auto result = build::Build(o);
  if (!result.ok()) {
    std::cerr << "drydock build: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << result->manifest_digest.str() << "\n";
  if (flags.print_dependencies) std::cout << build::DependenciesJson(result->dependencies) << "\n";
  return 0;
}

}  // namespace drydock::cli
