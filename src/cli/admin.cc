// Offline administration: `drydock gc`, `drydock migrate` and `drydock user
// add|disable|enable|delete`.
#include <iostream>

#include "auth/auth.h"
#include "base/random.h"
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
  return OpenStores(config.data_dir, config.storage);
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

int Migrate(const GcFlags& flags) {
  Config config;
  auto stores = OpenFor(flags.config, flags.data, config);
  if (!stores.ok()) {
    std::cerr << "drydock migrate: " << stores.status().message() << "\n";
    return 1;
  }
  std::cout << "metadata schema is up to date ("
            << (config.storage.metadata.empty() ? "SQLite in " + config.data_dir : "PostgreSQL")
            << ")\n";
  return 0;
}

namespace {

// The user commands' Authenticator, on the stores of `flags`' data dir. The
// signing key is the server's: made here, at random, when `user add` runs
// before the first `serve` (a fixed placeholder would let anyone sign tokens).
template <typename F>
int WithAuthenticator(const UserAddFlags& flags, const std::string& command, F f) {
  Config config;
  auto stores = OpenFor(flags.config, flags.data, config);
  if (!stores.ok()) {
    std::cerr << "drydock " << command << ": " << stores.status().message() << "\n";
    return 1;
  }
  auto key = stores->meta->InitSetting("token_signing_key", RandomHex(32));
  if (!key.ok()) {
    std::cerr << "drydock " << command << ": " << key.status().message() << "\n";
    return 1;
  }
  auth::Authenticator a(*stores->meta, config.auth, *key);
  Status s = f(a);
  if (!s.ok()) {
    std::cerr << "drydock " << command << ": " << s.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int UserAdd(const UserAddFlags& flags) {
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
  int rc = WithAuthenticator(flags, "user add", [&](auth::Authenticator& a) {
    return a.CreateUser(flags.name, password, flags.admin, grants);
  });
  if (rc == 0) std::cout << "user " << flags.name << " saved\n";
  return rc;
}

int UserSetDisabled(const UserAddFlags& flags, bool disabled) {
  std::string command = disabled ? "user disable" : "user enable";
  int rc = WithAuthenticator(
      flags, command, [&](auth::Authenticator& a) { return a.SetDisabled(flags.name, disabled); });
  if (rc == 0) {
    std::cout << "user " << flags.name
              << (disabled ? " disabled; their tokens are revoked\n" : " enabled\n");
  }
  return rc;
}

int UserDelete(const UserAddFlags& flags) {
  int rc = WithAuthenticator(flags, "user delete",
                             [&](auth::Authenticator& a) { return a.DeleteUser(flags.name); });
  if (rc == 0) std::cout << "user " << flags.name << " deleted with their grants and tokens\n";
  return rc;
}

}  // namespace drydock::cli
