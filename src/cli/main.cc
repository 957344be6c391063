// drydock: one binary, one subcommand per capability.
#include <CLI/CLI.hpp>
#include <cstdlib>

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
  auto* g = app.add_subcommand(
      "gc", "Remove unreferenced blobs (and untagged manifests) from a stopped server's data");
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

  BuildFlags build;
  build.state = std::getenv("DRYDOCK_BUILD_STATE") ? std::getenv("DRYDOCK_BUILD_STATE")
                                                   : "/var/lib/drydock/build";
  auto* b = app.add_subcommand("build", "Build an image from a Dockerfile");
  b->add_flag("--local", build.local, "Build in this process, without a server");
  b->add_option("context", build.context, "Build context directory")->required();
  b->add_option("-f,--file", build.file, "Dockerfile (default: CONTEXT/Dockerfile)");
  b->add_option("-t,--tag", build.tags, "Image reference to tag (repeatable)");
  b->add_option("--build-arg", build.build_args, "K=V build argument (repeatable)");
  b->add_option("--target", build.target, "Stage to build");
  b->add_option("--platform", build.platform, "Target platform (default linux/amd64)");
  b->add_option("--output", build.output, "oci:DIR to write an OCI image layout");
  b->add_flag("--push", build.push, "Push the image to every -t reference");
  b->add_flag("--no-cache", build.no_cache, "Do not use the build cache");
  b->add_option("--timeout", build.run_timeout_seconds,
                "Seconds a RUN step may take (default 3600)")
      ->check(CLI::Range(int64_t{1}, int64_t{28800}));
  b->add_flag("--docker-format", build.docker_format, "Docker schema 2 manifest instead of OCI");
  b->add_option("--insecure-registry", build.insecure_registries,
                "HOST[:PORT] that may be plain HTTP (repeatable)");
  b->add_option(
      "--state", build.state,
      "Cache and snapshot directory (default $DRYDOCK_BUILD_STATE or /var/lib/drydock/build)");
  b->add_flag("--print-dependencies", build.print_dependencies,
              "Print the base-image dependency record");
  b->add_flag("--dependencies-only", build.dependencies_only,
              "Print the dependencies without building");

  CLI11_PARSE(app, argc, argv);
  if (b->parsed()) return BuildLocal(build);
  if (s->parsed()) return Serve(serve);
  if (g->parsed()) return Gc(gc);
  if (ua->parsed()) return UserAdd(user);
  return 2;
}
