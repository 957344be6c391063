// `drydock build --local`: builds in-process, no server involved.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/strings.h"
#include "builder/builder.h"
#include "cli/client/client_config.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

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

// Docker's --secret forms: id=ID,src=FILE | id=ID,env=VAR | id=ID (env var ID).
Result<std::map<std::string, std::string>> ReadSecrets(const std::vector<std::string>& specs) {
  std::map<std::string, std::string> out;
  for (const auto& spec : specs) {
    std::map<std::string, std::string> kv;
    std::stringstream ss(spec);
    std::string part;
    while (std::getline(ss, part, ',')) {
      auto eq = part.find('=');
      if (eq == std::string::npos) return Invalid("--secret " + spec + ": expected KEY=VALUE");
      std::string k = part.substr(0, eq);
      kv[k == "source" ? "src" : k] = part.substr(eq + 1);
    }
    std::string id = kv["id"];
    if (id.empty()) return Invalid("--secret " + spec + ": needs id=");
    if (kv.count("src")) {
      std::ifstream f(kv["src"], std::ios::binary);
      if (!f) return Invalid("--secret " + id + ": cannot read " + kv["src"]);
      out[id].assign(std::istreambuf_iterator<char>(f), {});
      continue;
    }
    const char* v = std::getenv(kv.count("env") ? kv["env"].c_str() : id.c_str());
    if (!v) return Invalid("--secret " + id + ": no file given and no such environment variable");
    out[id] = v;
  }
  return out;
}

// --ssh ID[=SOCKET]; without a socket, the running agent's ($SSH_AUTH_SOCK).
Result<std::map<std::string, std::filesystem::path>> SshAgents(
    const std::vector<std::string>& specs) {
  std::map<std::string, std::filesystem::path> out;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    std::string id = spec.substr(0, eq);
    std::string sock = eq == std::string::npos ? "" : spec.substr(eq + 1);
    if (sock.empty()) {
      const char* env = std::getenv("SSH_AUTH_SOCK");
      if (!env || !*env)
        return Invalid("--ssh " + id + ": no socket given and SSH_AUTH_SOCK unset");
      sock = env;
    }
    out[id.empty() ? "default" : id] = sock;
  }
  return out;
}

}  // namespace

int BuildLocal(const BuildFlags& flags) {
  builder::BuildOptions o;
  o.context_dir = flags.context;
  o.dockerfile = flags.file.empty() ? std::filesystem::path(flags.context) / "Dockerfile"
                                    : std::filesystem::path(flags.file);
  auto args = ParseBuildArgs(flags.build_args);
  o.build_args = *args;
  auto secrets = ReadSecrets(flags.secrets);
  auto ssh = SshAgents(flags.ssh);
  for (const Status& s : {secrets.status(), ssh.status()}) {
    if (!s.ok()) {
      std::cerr << "drydock build: " << s.message() << "\n";
      return 2;
    }
  }
  o.secrets = std::move(*secrets);
  o.ssh_agents = std::move(*ssh);
  o.target = flags.target;
  o.platform = flags.platform;
  o.push = flags.push;
  o.output = flags.output;
  o.no_cache = flags.no_cache;
  o.run_timeout = std::chrono::seconds(flags.run_timeout_seconds);
  o.allow_host_network =
      std::find(flags.allow.begin(), flags.allow.end(), "network.host") != flags.allow.end();
  o.docker_media_types = flags.docker_format;
  o.compression =
      flags.compression == "zstd" ? layer::Compression::kZstd : layer::Compression::kGzip;
  auto max_size = ParseByteSize(flags.cache_max_size);
  if (!max_size.ok()) {
    std::cerr << "drydock build: --cache-max-size: " << max_size.status().message() << "\n";
    return 2;
  }
  o.cache_max_bytes = *max_size;
  for (const auto& r : flags.cache_from) {
    auto ref = oci::ParseImageReference(r);
    if (!ref.ok()) {
      std::cerr << "drydock build: --cache-from " << r << ": " << ref.status().message() << "\n";
      return 2;
    }
    o.cache_from.push_back(*ref);
  }
  if (!flags.cache_to.empty()) {
    auto ref = oci::ParseImageReference(flags.cache_to);
    if (!ref.ok()) {
      std::cerr << "drydock build: --cache-to " << flags.cache_to << ": " << ref.status().message()
                << "\n";
      return 2;
    }
    o.cache_to = *ref;
  }
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde)
    o.source_date_epoch = std::atoll(sde);
  o.state_dir = flags.state;
  o.registry.insecure_registries = flags.insecure_registries;
  o.registry.credentials = client::UserRegistryCredentials();
  o.log = [](std::string_view s) { std::cerr << s << std::flush; };
  // Attestations go with a push; made for nothing else.
  o.attest.sbom = flags.sbom && flags.push;
  o.attest.provenance = flags.provenance && flags.push;
  o.attest.tool = std::string("drydock-") + attest::kDrydockVersion;
  o.attest.context.builder_id = "https://drydock.dev/build/local";
  o.attest.context.builder_version = attest::kDrydockVersion;
  o.attest.context.source_uri = "file://" + std::filesystem::absolute(flags.context).string();
  if (!flags.sign_key.empty()) {
    std::ifstream f(flags.sign_key);
    auto key = attest::Key::FromPem(std::string(std::istreambuf_iterator<char>(f), {}));
    if (!f || !key.ok()) {
      std::cerr << "drydock build: --sign-key " << flags.sign_key << ": "
                << (f ? key.status().message() : "cannot read it") << "\n";
      return 2;
    }
    if (flags.push)
      o.attest.signer = attest::KeySigner(std::make_shared<attest::Key>(std::move(*key)));
  }
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
    auto deps = builder::ScanDependencies(text, o.build_args, o.target);
    if (!deps.ok()) {
      std::cerr << "drydock build: " << deps.status().message() << "\n";
      return 1;
    }
    deps->images = o.tags;
    std::cout << builder::DependenciesJson(*deps) << "\n";
    return 0;
  }
  auto result = builder::Build(o);
  if (!result.ok()) {
    std::cerr << "drydock build: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << result->manifest_digest.str() << "\n";
  if (flags.print_dependencies) std::cout << builder::DependenciesJson(*result) << "\n";
  return 0;
}

}  // namespace drydock::cli
