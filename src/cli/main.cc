// drydock: one binary, one subcommand per capability.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

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

  GcFlags migrate;  // only --config and --data
  auto* mg = app.add_subcommand(
      "migrate", "Apply pending schema migrations to the metadata store (serve also does)");
  mg->add_option("--config", migrate.config, "YAML configuration file");
  mg->add_option("--data", migrate.data, "Data directory");

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
  auto* udis = u->add_subcommand("disable", "Stop a user signing in; revokes their tokens");
  auto* uen = u->add_subcommand("enable", "Let a disabled user sign in again");
  auto* udel = u->add_subcommand("delete", "Delete a user with their grants and tokens");
  for (auto* sub : {udis, uen, udel}) {
    sub->add_option("name", user.name, "User name")->required();
    sub->add_option("--config", user.config, "YAML configuration file");
    sub->add_option("--data", user.data, "Data directory");
  }

  BuildFlags build;
  build.state = std::getenv("DRYDOCK_BUILD_STATE") ? std::getenv("DRYDOCK_BUILD_STATE")
                                                   : "/var/lib/drydock/build";
  auto* b = app.add_subcommand("build", "Build an image from a Dockerfile");
  auto* local = b->add_flag("--local", build.local, "Build in this process, without a server");
  b->add_option("context", build.context,
                "Build context: a directory, or for a server build also a git URL "
                "(repo.git#ref:subdir), a tarball URL, oci://REGISTRY/REPO:TAG or /dev/null")
      ->required();
  b->add_option("-f,--file", build.file,
                "Dockerfile (default: CONTEXT/Dockerfile; for a remote SOURCE, relative to it)");
  b->add_option("-t,--tag", build.tags, "Image reference to tag (repeatable)");
  b->add_option("--build-arg", build.build_args, "K=V build argument (repeatable)");
  b->add_option("--target", build.target, "Stage to build");
  b->add_option("--platform", build.platform, "Target platform (default linux/amd64)");
  b->add_option("--agent-pool", build.agent_pool,
                "Server builds: run on an agent of this pool (default: the default pool)");
  b->add_option("--output", build.output,
                "oci:DIR (an OCI image layout) or docker-archive:FILE (docker save's format)");
  b->add_flag("--push", build.push, "Push the image to every -t reference");
  b->add_flag("--no-cache", build.no_cache, "Do not use the build cache");
  b->add_option("--allow", build.allow,
                "With --local: network.host lets RUN --network=host use this machine's network")
      ->check(CLI::IsMember({"network.host"}));
  b->add_option("--timeout", build.run_timeout_seconds,
                "Seconds a RUN step may take with --local; for a server build, the whole run "
                "(300..28800; default 3600)")
      ->check(CLI::Range(int64_t{1}, int64_t{28800}));
  b->add_flag("--docker-format", build.docker_format, "Docker schema 2 manifest instead of OCI");
  b->add_option("--compression", build.compression, "Layer compression: gzip (default) or zstd")
      ->check(CLI::IsMember({"gzip", "zstd"}));
  b->add_option("--cache-max-size", build.cache_max_size,
                "Bound on the state dir's layers and snapshots, e.g. 500M, 10G (default 10G; "
                "0: unbounded); least recently used cache entries go first");
  b->add_option("--cache-to", build.cache_to,
                "REF: push the cache this build used to a registry, as an image");
  b->add_option("--cache-from", build.cache_from,
                "REF: reuse a cache pushed with --cache-to (repeatable)");
  b->add_option("--insecure-registry", build.insecure_registries,
                "HOST[:PORT] that may be plain HTTP (repeatable)");
  b->add_option(
      "--state", build.state,
      "Cache and snapshot directory (default $DRYDOCK_BUILD_STATE or /var/lib/drydock/build)");
  b->add_option("--secret", build.secrets,
                "id=ID[,src=FILE|,env=VAR] for RUN --mount=type=secret (repeatable)");
  b->add_option("--ssh", build.ssh,
                "ID[=SOCKET] agent for RUN --mount=type=ssh (default $SSH_AUTH_SOCK; repeatable)");
  b->add_flag("--sbom", build.sbom, "With --local --push: push an SPDX SBOM with the image")
      ->needs(local);
  b->add_flag("--provenance", build.provenance,
              "With --local --push: push a SLSA provenance statement with the image")
      ->needs(local);
  b->add_option("--sign-key", build.sign_key,
                "With --local --push: sign the image and its attestations with this PEM key "
                "(ECDSA P-256)")
      ->needs(local);
  b->add_flag("--print-dependencies", build.print_dependencies,
              "Print the base-image dependency record");
  b->add_flag("--dependencies-only", build.dependencies_only,
              "Print the dependencies without building");
  b->add_option("--server", build.server, "Server for a server build (default: the last login)")
      ->excludes(local);
  b->add_option("--secret-build-arg", build.secret_build_args,
                "K=V build argument kept out of logs (repeatable; server builds)")
      ->excludes(local);
  b->add_flag("--no-push", build.no_push, "Build on the server but push nothing")->excludes(local);
  b->add_flag("--no-logs", build.no_logs, "Poll the run's status instead of streaming its log")
      ->excludes(local);
  b->add_flag("--no-wait", build.no_wait, "Print the run id once queued and exit")->excludes(local);

  LoginFlags login;
  auto* li = app.add_subcommand("login", "Log in to a Drydock server (stores an API token)");
  li->add_option("server", login.server, "HOST[:PORT] or URL")->required();
  li->add_option("-u,--username", login.user, "User name (default $DRYDOCK_USER)");
  auto* pw = li->add_option("-p,--password", login.password, "Password (prefer --password-stdin)");
  li->add_flag("--password-stdin", login.password_stdin, "Read the password from standard input")
      ->excludes(pw);

  RunListFlags run_list;
  RunFlags run;
  QuickRunFlags quick_run;
  TokenFlags token;
  auto* tk = app.add_subcommand("token", "Your API tokens (from drydock login): list, revoke");
  tk->require_subcommand(1);
  auto* tkl = tk->add_subcommand("list", "List unexpired API tokens");
  tkl->add_flag("--all", token.all, "Every user's (admins only)");
  tkl->add_option("-o,--output", token.output, "table or json");
  auto* tkr = tk->add_subcommand("revoke", "Revoke an API token at once");
  tkr->add_option("id", token.id, "Token ID (from token list)")->required();
  for (auto* sub : {tkl, tkr})
    sub->add_option("--server", token.server, "Server (default: the last login)");

  auto* r = app.add_subcommand(
      "run",
      "Run a multi-step task file on the server (-f FILE SOURCE), or list, show, logs, "
      "cancel runs");
  r->require_subcommand(0, 1);
  r->add_option("source", quick_run.source,
                "SOURCE: a directory (uploaded), git URL (#ref:subdir), tarball URL, "
                "oci://REGISTRY/REPO:TAG or /dev/null");
  r->add_option("-f,--file", quick_run.file,
                "Task file (default acb.yaml; - reads standard input), here or in SOURCE");
  r->add_option("--cmd", quick_run.cmd, "Run one image instead: \"IMAGE [ARGS]\"");
  // One value per flag: SOURCE after them is not a value.
  r->add_option("--set", quick_run.sets, "Value NAME=VALUE ({{.Values.NAME}})")
      ->allow_extra_args(false);
  r->add_option("--set-secret", quick_run.secrets,
                "Secret value NAME=VALUE ({{.Values.NAME}}, {{.Secrets.NAME}}); never logged")
      ->allow_extra_args(false);
  r->add_option("--values", quick_run.values_file, "YAML file of values");
  r->add_option("--timeout", quick_run.timeout, "Seconds the whole run may take (default 3600)");
  r->add_option("--platform", quick_run.platform, "os/arch (default linux/amd64)");
  r->add_option("--agent-pool", quick_run.agent_pool, "Run on an agent of this pool");
  r->add_flag("--no-logs", quick_run.no_logs, "Poll the run's status instead of streaming its log");
  r->add_flag("--no-wait", quick_run.no_wait, "Print the run id once queued and exit");
  r->add_flag("--dry-run", quick_run.dry_run, "Validate and print the step graph; run nothing");
  r->add_option("--server", quick_run.server, "Server (default: the last login)");
  auto* rl = r->add_subcommand("list", "List runs, newest first");
  rl->add_option("--top", run_list.top, "How many (default 15)");
  rl->add_option("--task", run_list.task, "Only runs of this task");
  rl->add_option("--status", run_list.status, "Only runs in this status (Succeeded, Failed, ...)");
  rl->add_option("--image", run_list.image, "Only runs that output REPO:TAG");
  rl->add_option("-o,--output", run_list.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  rl->add_option("--server", run_list.server, "Server (default: the last login)");
  auto* rs = r->add_subcommand("show", "Print a run's record as JSON");
  auto* rg = r->add_subcommand("logs", "Print a run's log");
  rg->add_flag("--follow", run.follow, "Keep printing until the run ends");
  auto* rc = r->add_subcommand("cancel", "Cancel a queued or running run");
  for (auto* sub : {rs, rg, rc}) {
    sub->add_option("id", run.id, "Run ID (e.g. ca1)")->required();
    sub->add_option("--server", run.server, "Server (default: the last login)");
  }

  RepositoryFlags repo;
  auto* rp = app.add_subcommand("repository", "Repositories on the server: list, tags, delete");
  rp->require_subcommand(1);
  auto* rpl = rp->add_subcommand("list", "List the repositories you can pull");
  auto* rpt = rp->add_subcommand("show-tags", "List a repository's tags and their digests");
  rpt->add_option("repository", repo.name, "REPO, e.g. team/app")->required();
  auto* rpd = rp->add_subcommand("delete", "Delete a repository (every tag) or one REPO:TAG");
  rpd->add_option("repository", repo.name, "REPO or REPO:TAG")->required();
  rpd->add_flag("-y,--yes", repo.yes, "Do not ask for confirmation");
  for (auto* sub : {rpl, rpt, rpd}) {
    sub->add_option("--server", repo.server, "Server (default: the last login)");
  }
  for (auto* sub : {rpl, rpt}) {
    sub->add_option("-o,--output", repo.output, "table (default) or json")
        ->check(CLI::IsMember({"table", "json"}));
  }

  TaskFlags task;
  auto* t = app.add_subcommand("task", "Saved tasks: create, update, run, triggers, timers");
  t->require_subcommand(1);
  auto* tc = t->add_subcommand("create", "Create a task");
  auto* tu = t->add_subcommand("update", "Change a task (only the options given)");
  for (auto* sub : {tc, tu}) {
    auto* ctx =
        sub->add_option("-c,--context", task.source,
                        "Git URL (#ref:subdir), tarball URL, oci://REG/REPO:TAG or /dev/null");
    if (sub == tc) ctx->required();
    sub->add_option("-f,--file", task.file, "Dockerfile, relative to the context");
    sub->add_option("-t,--image", task.images, "Image to tag and push (repeatable)");
    sub->add_option("--arg", task.args, "Build argument NAME=VALUE (repeatable)");
    sub->add_option("--secret-arg", task.secret_args, "Secret build argument NAME=VALUE");
    sub->add_option("--set", task.sets, "Value NAME=VALUE for task files (repeatable)");
    sub->add_option("--values", task.values_file, "YAML file of values");
    sub->add_option("--target", task.target, "Build stage to stop at");
    sub->add_option("--platform", task.platform, "os/arch[/variant]");
    sub->add_option("--agent-pool", task.agent_pool, "Run on agents of this pool (\"\": default)");
    sub->add_option("--timeout", task.timeout, "Run timeout in seconds (300-28800, default 3600)");
    sub->add_flag("--no-push", task.no_push, "Build without pushing");
    sub->add_flag("--no-cache", task.no_cache, "Build without the layer cache");
    sub->add_option("--status", task.status, "Enabled or Disabled")
        ->check(CLI::IsMember({"Enabled", "Disabled"}));
    sub->add_option("--commit-trigger-enabled", task.commit_trigger, "true|false (default true)");
    sub->add_option("--pull-request-trigger-enabled", task.pr_trigger,
                    "true|false (default false)");
    sub->add_option("--git-access-token", task.git_token, "Token for a private repository");
    sub->add_option("--branch", task.branch, "Branch the source triggers watch (default: #ref)");
    sub->add_option("--source-poll-interval", task.source_poll,
                    "Seconds between git ls-remote polls of the branch (0: webhooks only)");
    sub->add_option("--base-image-trigger-enabled", task.base_trigger, "true|false (default true)");
    sub->add_option("--base-image-trigger-type", task.trigger_type, "Runtime (default) or All")
        ->check(CLI::IsMember({"Runtime", "All"}));
    sub->add_option("--update-trigger-endpoint", task.update_endpoint,
                    "URL notified when a base-image update queues a run");
    sub->add_option("--notify-url", task.notify_url,
                    "URL sent a signed notification when a run ends (\"\": none)");
    sub->add_option("--notify-on", task.notify_on, "failure (default), success or always")
        ->check(CLI::IsMember({"failure", "success", "always"}));
    sub->add_option("--notify-secret", task.notify_secret,
                    "Signs the notifications (X-Drydock-Signature: HMAC-SHA256)");
    sub->add_option("--patch-mode", task.patch_mode,
                    "A base update: auto (default: rebase when safe, else rebuild), rebase (also "
                    "after RUN steps) or rebuild")
        ->check(CLI::IsMember({"auto", "rebase", "rebuild"}));
    sub->add_option("--patch-verify", task.patch_verify,
                    "Command run in a rebased image before its tags move (\"\": none)");
    sub->add_option("--patch-verify-failure", task.patch_verify_failure,
                    "When it fails: rebuild (default) or fail")
        ->check(CLI::IsMember({"rebuild", "fail"}));
    sub->add_option("--trusted-base-key", task.trusted_base_keys,
                    "PEM public key: base images must be signed by it (repeatable: any of them)");
    sub->add_option("--schedule", task.schedules, "Timer [NAME:]CRON, UTC (repeatable)");
  }
  auto* ts = t->add_subcommand("show", "Print a task (its webhook URL and secret included)");
  auto* tl = t->add_subcommand("list", "List tasks");
  tl->add_option("-o,--output", task.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  auto* td = t->add_subcommand("delete", "Delete a task");
  td->add_flag("-y,--yes", task.yes, "Do not ask for confirmation");
  auto* tr = t->add_subcommand("run", "Run a task now and follow its log");
  tr->add_option("--arg", task.args, "Build argument NAME=VALUE for this run");
  tr->add_option("--secret-arg", task.secret_args, "Secret build argument for this run");
  tr->add_option("--set", task.sets, "Value NAME=VALUE for this run");
  tr->add_option("--set-secret", task.secret_sets,
                 "Secret value NAME=VALUE for this run (task files; never logged)");
  tr->add_option("--update-trigger-token", task.update_trigger_token,
                 "Token sent back to the update trigger endpoint");
  tr->add_flag("--no-logs", task.no_logs, "Poll the run's status instead of streaming its log");
  tr->add_flag("--no-wait", task.no_wait, "Print the run id once queued and exit");
  auto* tg =
      t->add_subcommand("logs", "Print (follow) the log of a task's newest run, or --run-id");
  tg->add_option("--run-id", task.run_id, "Run ID");
  RunListFlags task_runs;
  auto* tlr = t->add_subcommand("list-runs", "List a task's runs (all runs without -n)");
  tlr->add_option("-n,--name", task_runs.task, "Task name");
  tlr->add_option("--top", task_runs.top, "How many (default 15)");
  tlr->add_option("--run-status", task_runs.status, "Only runs in this status");
  tlr->add_option("-o,--output", task_runs.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  tlr->add_option("--server", task_runs.server, "Server (default: the last login)");
  std::string timer_action, credential_action;
  auto* tt = t->add_subcommand("timer", "Timers: add, update, remove, list");
  tt->add_option("action", timer_action, "add | update | remove | list")
      ->required()
      ->check(CLI::IsMember({"add", "update", "remove", "list"}));
  tt->add_option("--timer-name", task.timer_name, "Timer name");
  tt->add_option("--schedule", task.schedule, "CRON, UTC");
  tt->add_option("--enabled", task.enabled, "true|false");
  auto* tcr = t->add_subcommand("credential", "Registry credentials: add, update, remove, list");
  tcr->add_option("action", credential_action, "add | update | remove | list")
      ->required()
      ->check(CLI::IsMember({"add", "update", "remove", "list"}));
  tcr->add_option("--login-server", task.login_server, "Registry host[:port]");
  tcr->add_option("-u,--username", task.username, "User name");
  tcr->add_option("-p,--password", task.password, "Password or token");
  for (auto* sub : {tc, tu, ts, td, tr, tt, tcr}) {
    sub->add_option("-n,--name", task.name, "Task name")->required();
  }
  tg->add_option("-n,--name", task.name, "Task name");
  for (auto* sub : {tc, tu, ts, tl, td, tr, tg, tt, tcr}) {
    sub->add_option("--server", task.server, "Server (default: the last login)");
  }

  DependentsFlags dependents;
  auto* im = app.add_subcommand("image", "Images on the server");
  im->require_subcommand(1);
  auto* imd = im->add_subcommand(
      "dependents", "Tasks depending on an image, through chains, and whether each is up to date");
  imd->add_option("ref", dependents.ref, "REPO:TAG, REGISTRY/REPO:TAG or REPO@DIGEST")->required();
  imd->add_option("-o,--output", dependents.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  imd->add_option("--server", dependents.server, "Server (default: the last login)");
  WhichContainFlags which;
  auto* imw = im->add_subcommand(
      "which-contain", "Images whose SBOM lists a package (the question of the day a CVE lands)");
  imw->add_option("package", which.package, "NAME or NAME@VERSION (as the SBOM names it)")
      ->required();
  imw->add_option("-o,--output", which.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  imw->add_option("--server", which.server, "Server (default: the last login)");
  RebaseFlags rebase;
  auto* imr = im->add_subcommand(
      "rebase",
      "Put an image's own layers on its base's new version without a rebuild, when that is safe");
  imr->add_option("image", rebase.image, "REGISTRY/REPO:TAG of an image Drydock built")->required();
  imr->add_option("--onto", rebase.onto,
                  "The new base (default: the base tag the image was built from, as it is now)");
  imr->add_option("-t,--tag", rebase.tags, "Tag the result here (default: the image's own tag)");
  imr->add_flag("--dry-run", rebase.dry_run, "Decide and report; push nothing");
  imr->add_flag("--allow-run-steps", rebase.allow_run_steps,
                "Rebase even though RUN steps ran on the old base");
  imr->add_option("--insecure-registry", rebase.insecure_registries,
                  "Allow plain HTTP to this host");
  imr->add_option("-o,--output", rebase.output, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));

  AttestationFlags sbom, provenance;
  sbom.kind = "sbom";
  provenance.kind = "provenance";
  auto* ims = im->add_subcommand("sbom", "Print the SPDX SBOM attached to an image");
  auto* imp = im->add_subcommand("provenance", "Print the SLSA provenance attached to an image");
  for (auto [sub, flags] : {std::pair{ims, &sbom}, std::pair{imp, &provenance}}) {
    sub->add_option("image", flags->image, "REGISTRY/REPO:TAG or @DIGEST")->required();
    sub->add_option("--insecure-registry", flags->insecure_registries,
                    "Allow plain HTTP to this host");
  }
  ims->add_option("-o,--output", sbom.output, "json (default: the SPDX document) or table")
      ->check(CLI::IsMember({"json", "table"}));
  VerifyFlags verify;
  auto* vf = app.add_subcommand(
      "verify", "Check an image's signature and its attestations' against a public key");
  vf->add_option("image", verify.image, "REGISTRY/REPO:TAG or @DIGEST")->required();
  vf->add_option("--key", verify.key, "PEM public key (a server's: DATA/signing-key.pub)")
      ->required();
  vf->add_flag("--require-sbom", verify.require_sbom, "Fail unless a signed SBOM is attached");
  vf->add_flag("--require-provenance", verify.require_provenance,
               "Fail unless a signed provenance statement is attached");
  vf->add_option("--source-repo", verify.source_repo,
                 "Fail unless the provenance names this source repository");
  vf->add_option("--insecure-registry", verify.insecure_registries,
                 "Allow plain HTTP to this host");
  vf->add_option("-o,--output", verify.output, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));

  AgentFlags agent;
  auto* ag = app.add_subcommand(
      "agent",
      "Build a server's runs on this machine (--server URL), or list, create tokens for, revoke "
      "agents");
  ag->require_subcommand(0, 1);
  ag->add_option("--token-file", agent.token_file,
                 "File holding the agent token (or set DRYDOCK_AGENT_TOKEN)");
  ag->add_option("--token", agent.token, "The agent token (visible to ps: prefer the file)");
  ag->add_option("--name", agent.name, "How its logs name it (default: agent)");
  ag->add_option("--pool", agent.pool, "Take only runs of this agent pool");
  ag->add_option("--platform", agent.platforms,
                 "os/arch it builds natively (repeatable; default any)");
  ag->add_option("--emulate", agent.emulated,
                 "os/arch it builds under QEMU emulation (repeatable): its runs wait "
                 "builds.agent_emulated_wait_seconds for a native agent first");
  ag->add_option("--concurrency", agent.concurrency, "Runs building at once (default 1)");
  ag->add_flag(
      "--allow-private-fetches", agent.allow_private_fetches,
      "Let builds fetch from loopback and private addresses (as builds.allow_private_fetches)");
  ag->add_option("--state", agent.state,
                 "Its own cache, work dirs and logs (default /var/lib/drydock-agent)");
  auto* agl = ag->add_subcommand("list", "The agents: pool, platforms, runs, last heartbeat");
  agl->add_option("-o,--output", agent.output, "table or json");
  auto* agt = ag->add_subcommand("token", "Agent tokens (admins)");
  agt->require_subcommand(1);
  auto* agtc = agt->add_subcommand("create", "Create a token for agent NAME (printed on stdout)");
  agtc->add_option("name", agent.name, "Agent name")->required();
  agtc->add_option("--description", agent.description, "What it is for");
  auto* agr = ag->add_subcommand("revoke", "Revoke agent NAME's tokens; its runs are requeued");
  agr->add_option("name", agent.name, "Agent name")->required();
  ag->add_option("--server", agent.server, "Server URL, e.g. http://build.example:5000");
  for (auto* sub : {agl, agtc, agr})
    sub->add_option("--server", agent.server, "Server (default: the last login)");

  RenderFlags render;
  auto* rd = app.add_subcommand(
      "render", "Render a multi-step task file (aliases, template, YAML) without running it");
  rd->add_option("-f,--file", render.file, "Task file (- for stdin)")->required();
  rd->add_option("--set", render.sets, "Value NAME=VALUE (dotted names nest; repeatable)");
  rd->add_option("--set-secret", render.secrets, "Secret NAME=VALUE (printed as ***)");
  rd->add_option("--values", render.values_file, "YAML file of values");
  rd->add_option("--registry", render.registry,
                 "$Registry (default: the server of the last login)");
  rd->add_option("--run-id", render.run_id, "$ID (default ca0)");
  rd->add_flag("--dry-run", render.dry_run, "Print the step graph instead of the YAML");

  CLI11_PARSE(app, argc, argv);
  if (rd->parsed()) return RenderTask(render);
  for (auto* sub : {tc, tu}) {
    if (!sub->parsed()) continue;
    for (const auto* o : sub->get_options()) {
      if (o->count() > 0 && !o->get_lnames().empty()) task.given.push_back(o->get_lnames()[0]);
    }
  }
  if (tc->parsed()) return TaskCreate(task);
  if (tu->parsed()) return TaskUpdate(task);
  if (ts->parsed()) return TaskShow(task);
  if (tl->parsed()) return TaskList(task);
  if (td->parsed()) return TaskDelete(task);
  if (tr->parsed()) return TaskRun(task);
  if (tg->parsed()) return TaskLogs(task);
  if (tlr->parsed()) return RunList(task_runs);
  if (tt->parsed()) return TaskTimer(timer_action, task);
  if (tcr->parsed()) return TaskCredential(credential_action, task);
  if (imd->parsed()) return ImageDependents(dependents);
  if (imw->parsed()) return ImageWhichContain(which);
  if (imr->parsed()) return ImageRebase(rebase);
  if (ims->parsed()) return ImageAttestation(sbom);
  if (imp->parsed()) return ImageAttestation(provenance);
  if (vf->parsed()) return Verify(verify);
  if (agl->parsed()) return AgentList(agent);
  if (agtc->parsed()) return AgentTokenCreate(agent);
  if (agr->parsed()) return AgentRevoke(agent);
  if (ag->parsed()) {
    if (agent.server.empty()) {
      std::cerr << "drydock agent: --server URL is required\n";
      return 2;
    }
    return AgentRun(agent);
  }
  if (b->parsed()) return build.local ? BuildLocal(build) : BuildRemote(build);
  if (li->parsed()) return Login(login);
  if (rl->parsed()) return RunList(run_list);
  if (rs->parsed()) return RunShow(run);
  if (rg->parsed()) return RunLogs(run);
  if (rc->parsed()) return RunCancel(run);
  if (r->parsed()) return QuickRun(quick_run);
  if (rpl->parsed()) return RepositoryList(repo);
  if (rpt->parsed()) return RepositoryShowTags(repo);
  if (rpd->parsed()) return RepositoryDelete(repo);
  if (s->parsed()) return Serve(serve);
  if (g->parsed()) return Gc(gc);
  if (mg->parsed()) return Migrate(migrate);
  if (ua->parsed()) return UserAdd(user);
  if (udis->parsed()) return UserSetDisabled(user, true);
  if (uen->parsed()) return UserSetDisabled(user, false);
  if (udel->parsed()) return UserDelete(user);
  if (tkl->parsed()) return TokenList(token);
  if (tkr->parsed()) return TokenRevoke(token);
  return 2;
}
