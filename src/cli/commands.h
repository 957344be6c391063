// The `drydock` subcommands; main.cc only parses flags and dispatches.
#pragma once

#include <string>
#include <vector>

namespace drydock::cli {

struct ServeFlags {
  std::string config, listen, data;
};
int Serve(const ServeFlags& flags);

struct GcFlags {
  std::string config, data;
  bool dry_run = false;
  bool delete_untagged = false;
  int64_t grace_seconds = -1;  // -1: from config
};
int Gc(const GcFlags& flags);

struct UserAddFlags {
  std::string config, data, name, password;
  bool password_stdin = false;
  bool admin = false;
  std::vector<std::string> grants;  // PATTERN=ACTIONS
};
int UserAdd(const UserAddFlags& flags);

struct BuildFlags {
  bool local = false;
  std::string context, file, target, output, state;
  std::string platform = "linux/amd64";
  std::vector<std::string> tags, build_args, insecure_registries;
  bool push = false, no_cache = false, docker_format = false;
  bool print_dependencies = false, dependencies_only = false;
  int64_t run_timeout_seconds = 3600;  // per RUN step
};
int BuildLocal(const BuildFlags& flags);

}  // namespace drydock::cli
