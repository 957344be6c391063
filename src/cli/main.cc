// drydock: one binary, one subcommand per capability.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace drydock::cli;
  CLI::App app{"Drydock: a self-hosted container registry with build automation"};
  app.require_subcommand(1);

  ServeFlags serve;
  auto* s = app.add_subcommand("serve", "Run the registry server");
  s->add_option("--config", serve.config, "YAML configuration file");
  s->add_option("--listen", serve.listen, "ADDR:PORT to listen on (default 127.0.0.1:5000)");
  s->add_option("--data", serve.data, "Data directory (default ./data or $DRYDOCK_DATA)");

  GcFlags gc;
  auto* g = app.add_subcommand("gc", "Remove unreferenced blobs (and untagged manifests) from a stopped server's data");
  g->add_option("--config", gc.config, "YAML configuration file");
  g->add_option("--data", gc.data, "Data directory");
  g->add_flag("--dry-run", gc.dry_run, "Only report what would be removed");
  g->add_flag("--delete-untagged", gc.delete_untagged, "Also remove manifests no tag reaches");
  g->add_option("--grace", gc.grace_seconds, "Keep anything younger than this many seconds");

  UserAddFlags user;
  auto* u = app.add_subcommand("user", "Manage users");
  u->require_subcommand(1);
  auto* ua = u->add_subcommand("add", "Create or update a user");
  ua->add_option("name", user.name, "User name")->required();
  ua->add_option("--config", user.config, "YAML configuration file");
  ua->add_option("--data", user.data, "Data directory");
  ua->add_option("-p,--password", user.password, "Password (prefer --password-stdin)");
  ua->add_flag("--password-stdin", user.password_stdin, "Read the password from standard input");
  ua->add_flag("--admin", user.admin, "Full access to every repository");
  ua->add_option("--grant", user.grants, "PATTERN=ACTIONS, e.g. 'team/*=pull,push' (repeatable)");

  CLI11_PARSE(app, argc, argv);
  if (s->parsed()) return Serve(serve);
  if (g->parsed()) return Gc(gc);
  if (ua->parsed()) return UserAdd(user);
  return 2;
}
