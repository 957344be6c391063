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
// Opens the configured stores, which migrates their schemas, and says so.
int Migrate(const GcFlags& flags);

struct UserAddFlags {
  std::string config, data, name, password;
  bool password_stdin = false;
  bool admin = false;
  std::vector<std::string> grants;  // PATTERN=ACTIONS
};
int UserAdd(const UserAddFlags& flags);
// `drydock user disable|enable|delete NAME`: offline, on the data directory
// (a running server sees the change on the user's next request).
int UserSetDisabled(const UserAddFlags& flags, bool disabled);
int UserDelete(const UserAddFlags& flags);

struct BuildFlags {
  bool local = false;
  std::string context, file, target, output, state;
  std::string platform = "linux/amd64";
  std::string agent_pool;  // server builds: only agents of this pool build it
  std::vector<std::string> tags, build_args, insecure_registries, secrets, ssh;
  bool push = false, no_cache = false, docker_format = false;
  bool print_dependencies = false, dependencies_only = false;
  // --local --push: attestations (server builds always attach them).
  bool sbom = false, provenance = false;
  std::string sign_key;            // PEM private key file
  std::vector<std::string> allow;  // --allow network.host (local builds)
  // With --local, per RUN step (1..28800); for a server build, the whole run (300..28800).
  int64_t run_timeout_seconds = 3600;
  std::string compression = "gzip";
  std::string cache_max_size = "10G";  // of the state dir's layers + snapshots; 0: unbounded
  std::string cache_to;
  std::vector<std::string> cache_from;
  // Server builds (without --local) only.
  std::string server;
  std::vector<std::string> secret_build_args;
  bool no_push = false, no_logs = false, no_wait = false;
};
int BuildLocal(const BuildFlags& flags);
int BuildRemote(const BuildFlags& flags);

// The client of a Drydock server (src/cli/client/); `server` is --server.
struct LoginFlags {
  std::string server, user, password;
  bool password_stdin = false;
};
int Login(const LoginFlags& flags);

// `drydock token list [--all]` and `drydock token revoke ID`: API tokens.
struct TokenFlags {
  std::string server, id, output = "table";
  bool all = false;
};
int TokenList(const TokenFlags& flags);
int TokenRevoke(const TokenFlags& flags);

struct AgentFlags {
  std::string server, token, token_file, name, pool, output = "table", description;
  std::string state = "/var/lib/drydock-agent";
  std::vector<std::string> platforms, emulated;
  int concurrency = 1;
  bool allow_private_fetches = false;
};
// `drydock agent --server URL`: build the server's runs here until stopped.
int AgentRun(const AgentFlags& flags);
int AgentList(const AgentFlags& flags);
int AgentTokenCreate(const AgentFlags& flags);
int AgentRevoke(const AgentFlags& flags);

struct RunListFlags {
  std::string server, task, status, image, output = "table";
  int64_t top = 15;
};
int RunList(const RunListFlags& flags);

struct RunFlags {
  std::string server, id;
  bool follow = false;
};
int RunShow(const RunFlags& flags);
int RunLogs(const RunFlags& flags);
int RunCancel(const RunFlags& flags);

// `drydock run -f task.yaml SOURCE` (or --cmd): a QuickRun of a multi-step
// task file, like `az acr run`.
struct QuickRunFlags {
  std::string server, source, file, cmd, values_file, platform = "linux/amd64";
  std::string agent_pool;
  std::vector<std::string> sets, secrets;
  int64_t timeout = 3600;
  bool no_logs = false, no_wait = false, dry_run = false;
};
int QuickRun(const QuickRunFlags& flags);

struct RepositoryFlags {
  std::string server, name, output = "table";
  bool yes = false;
};
int RepositoryList(const RepositoryFlags& flags);
int RepositoryShowTags(const RepositoryFlags& flags);
int RepositoryDelete(const RepositoryFlags& flags);

// `drydock task …`: saved tasks on the server. Options are kept as text and
// `given` names the long options used, so that `update` sends only those.
struct TaskFlags {
  std::string server, name, source, file, target, platform, status, output = "table";
  std::string agent_pool;
  std::vector<std::string> images, args, secret_args, sets, secret_sets, schedules;
  std::string values_file, git_token, branch, update_endpoint, trigger_type;
  std::string notify_url, notify_on, notify_secret;
  std::string patch_mode, patch_verify, patch_verify_failure;
  std::vector<std::string> trusted_base_keys;            // PEM public key files
  std::string commit_trigger, pr_trigger, base_trigger;  // "true" | "false"
  int64_t timeout = 3600, source_poll = 0;
  bool no_push = false, no_cache = false, yes = false;
  // run / logs
  std::string run_id, update_trigger_token;
  bool no_logs = false, no_wait = false;
  // timer / credential
  std::string timer_name, schedule, enabled, login_server, username, password;
  std::vector<std::string> given;
};
int TaskCreate(const TaskFlags& flags);
int TaskUpdate(const TaskFlags& flags);
int TaskShow(const TaskFlags& flags);
int TaskList(const TaskFlags& flags);
int TaskDelete(const TaskFlags& flags);
int TaskRun(const TaskFlags& flags);
int TaskLogs(const TaskFlags& flags);
// `action`: add | update | remove | list.
int TaskTimer(const std::string& action, const TaskFlags& flags);
int TaskCredential(const std::string& action, const TaskFlags& flags);

// `drydock render -f task.yaml`: renders a multi-step task file locally.
struct RenderFlags {
  std::string file, values_file, registry, run_id = "ca0";
  std::vector<std::string> sets, secrets;
  bool dry_run = false;
};
int RenderTask(const RenderFlags& flags);
// The same for a task file's text (`name` for errors): what `run --dry-run` prints.
int RenderTaskText(const std::string& text, const std::string& name, const RenderFlags& flags);

struct DependentsFlags {
  std::string server, ref, output = "table";
};
int ImageDependents(const DependentsFlags& flags);

// `drydock image which-contain PACKAGE[@VERSION]`: the images (and tags)
// whose SBOM lists it.
struct WhichContainFlags {
  std::string server, package, output = "table";
};
int ImageWhichContain(const WhichContainFlags& flags);

struct RebaseFlags {
  std::string image, onto, output = "text";
  std::vector<std::string> tags, insecure_registries;
  bool dry_run = false, allow_run_steps = false;
};
// Exit status 0: rebased, up to date or (--dry-run) would rebase; 3: not
// rebased (the reasons are printed); 1: an error.
int ImageRebase(const RebaseFlags& flags);

// `drydock verify IMAGE --key PUB`: the image is signed by that key, and so
// is each SBOM and provenance attached to it, which describe this image
// (and, with --source-repo, name that source). Exit 0: verified; 3: not
// (each check printed); 1: an error.
struct VerifyFlags {
  std::string image, key, source_repo, output = "text";
  std::vector<std::string> insecure_registries;
  bool require_sbom = false, require_provenance = false;
};
int Verify(const VerifyFlags& flags);

// `drydock image sbom|provenance IMAGE`: the attestation attached to it.
struct AttestationFlags {
  std::string kind;  // "sbom" or "provenance"
  std::string image, output = "json";
  std::vector<std::string> insecure_registries;
};
int ImageAttestation(const AttestationFlags& flags);

}  // namespace drydock::cli
