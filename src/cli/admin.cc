// Offline administration: `drydock gc` and `drydock user add`.
#include <iostream>

#include "auth/auth.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/stores.h"

namespace drydock::cli {
namespace {

Result<Stores> OpenFor(const std::string& config_path, const std::string& data, Config& config) {
  auto c = LoadConfig(config_path);
  if (!c.ok()) return c.status();
  config = *c;
  if (!data.empty()) config.data_dir = data;
  return OpenStores(config.data_dir);
}

}  // namespace

int Gc(const GcFlags& flags) {
  Config config;
  auto stores = OpenFor(flags.config, flags.data, config);
  if (!stores.ok()) {
    std::cerr << "drydock gc: " << stores.status().message() << "\n";
    return 1;
  }
  registry::GcOptions o = config.gc;
  o.dry_run = flags.dry_run;
  o.delete_untagged = o.delete_untagged || flags.delete_untagged;
  if (flags.grace_seconds >= 0) o.grace_seconds = flags.grace_seconds;
  auto report = registry::CollectGarbage(*stores->blobs, *stores->meta, o);
  if (!report.ok()) {
    std::cerr << "drydock gc: " << report.status().message() << "\n";
    return 1;
  }
  for (const auto& line : report->actions) std::cout << (o.dry_run ? "would " : "") << line << "\n";
  std::cout << (o.dry_run ? "dry run: would remove " : "removed ") << report->manifests_deleted
            << " manifests, " << report->links_removed << " blob links, " << report->blobs_deleted
            << " blobs (" << report->bytes_freed << " bytes), " << report->uploads_removed
            << " uploads\n";
  return 0;
}

int UserAdd(const UserAddFlags& flags) {
  Config config;
  auto stores = OpenFor(flags.config, flags.data, config);
  if (!stores.ok()) {
    std::cerr << "drydock user add: " << stores.status().message() << "\n";
    return 1;
  }
  std::string password = flags.password;
  if (flags.password_stdin) std::getline(std::cin, password);
  std::vector<storage::Grant> grants;
  for (const auto& g : flags.grants) {
    auto eq = g.find('=');
    if (eq == std::string::npos || auth::ParseActions(g.substr(eq + 1)) == 0) {
      std::cerr << "drydock user add: --grant '" << g
                << "' must be PATTERN=ACTIONS, e.g. 'team/*=pull,push'\n";
      return 2;
    }
    grants.push_back(storage::Grant{g.substr(0, eq), g.substr(eq + 1)});
  }
  auto key = stores->meta->InitSetting("token_signing_key", "unused-until-serve");
  auth::Authenticator a(*stores->meta, config.auth, key.ok() ? *key : "");
  if (auto s = a.CreateUser(flags.name, password, flags.admin, grants); !s.ok()) {
    std::cerr << "drydock user add: " << s.message() << "\n";
    return 1;
  }
  std::cout << "user " << flags.name << " saved\n";
  return 0;
}

}  // namespace drydock::cli
