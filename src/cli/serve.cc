// `drydock serve`: wires the embedded stores, auth, events, the registry,
// the build service and its REST API into an HTTP server, and runs online
// GC when configured.
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "api/api.h"
#include "base/log_context.h"
#include "base/random.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/stores.h"
#include "events/events.h"
#include "http/access_log.h"
#include "metrics/metrics.h"
#include "tasks/task_service.h"
#include "tasks/tasks.h"
#include "triggers/triggers.h"
#include "web/dashboard.h"

namespace drydock::cli {
namespace {

// Creates the admin user on first start; prints a generated password once.
// Users added with `drydock user add` before the first start do not stop a
// configured admin password from taking effect.
Status EnsureAdmin(storage::MetadataStore& meta, auth::Authenticator& auth,
                   const std::string& configured) {
  auto count = meta.CountUsers();
  if (!count.ok()) return count.status();
  if (*count > 0 && (configured.empty() || meta.GetUser("admin").ok())) return Status::Ok();
  std::string password = configured.empty() ? RandomHex(16) : configured;
  if (Status created = auth.CreateUser("admin", password, true, {}); !created.ok()) {
    // Replicas starting together: another one made it first.
    if (meta.GetUser("admin").ok()) return Status::Ok();
    return created;
  }
  if (configured.empty()) {
    std::printf(
        "Created user 'admin' with password: %s\n(shown once; set DRYDOCK_ADMIN_PASSWORD to choose "
        "it)\n",
        password.c_str());
  } else {
    std::printf("Created user 'admin' with the configured password\n");
  }
  std::fflush(stdout);
  return Status::Ok();
}

// This server's name among the servers sharing one metadata store (in
// leases, and as its embedded agent's name): <data>/server-id, made once,
// so a restarted server takes back what it held before.
Result<std::string> ServerId(const std::string& data_dir) {
  std::string path = data_dir + "/server-id";
  std::ifstream in(path);
  std::string id;
  if (in >> id && !id.empty()) return id;
  id = RandomHex(8);
  std::ofstream out(path, std::ios::trunc);
  out << id << "\n";
  out.close();
  if (!out) return Internal("cannot write " + path);
  return id;
}

// Every client connection is a descriptor: the usual soft limit of 1024
// would let a thousand idle sockets lock everyone else out, while the hard
// limit is what the administrator actually allows.
void RaiseOpenFileLimit(size_t max_connections) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlim_t old = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      spdlog::warn("cannot raise the open file limit from {}: {}", old, std::strerror(errno));
      lim.rlim_cur = old;
    }
  }
  // Stores, builds and webhooks need descriptors of their own besides.
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < max_connections + 256) {
    spdlog::warn(
        "open file limit {} is below http.max_connections ({}) plus room for the server's own "
        "files; raise it (ulimit -n, LimitNOFILE=) or lower http.max_connections",
        lim.rlim_cur, max_connections);
  }
}

bool IsLoopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

// The "host:port" this server's builds push to and name images after: the
// host of public_url when set, else the listen address as a local client
// reaches it (a wildcard address is reached on loopback).
std::string RegistryHost(const Config& config, const std::string& address, uint16_t port) {
  std::string_view url = config.public_url;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    return std::string(url.substr(0, url.find('/')));
  }
  std::string host = address;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

// Builds push as the user who queued them: a short-lived API token of that
// user for this server's registry, nothing for any other registry.
tasks::CredentialsForUser BuilderCredentials(storage::MetadataStore& meta,
                                             auth::Authenticator& auth,
                                             const std::string& registry_host) {
  constexpr int64_t kTtlSeconds = 24 * 3600;  // longer than the longest run
  return [&meta, &auth, registry_host](const std::string& user,
                                       const std::string& run_id) -> remote::CredentialLookup {
    return [&meta, &auth, registry_host, user,
            run_id](const std::string& registry) -> std::optional<remote::Credential> {
      if (registry != registry_host || user.empty()) return std::nullopt;
      if (!run_id.empty()) {
        // The run's own credential: its pushes are recorded as "run:ID".
        auto token = auth.IssueRunToken(user, run_id, kTtlSeconds);
        if (!token.ok()) return std::nullopt;
        return remote::Credential{user, token->jwt};
      }
      auto u = meta.GetUser(user);
      if (!u.ok()) return std::nullopt;
      auth::Identity who;
      who.user = user;
      who.admin = u->admin;
      auto token = auth.IssueApiToken(who, kTtlSeconds);
      if (!token.ok()) return std::nullopt;
      return remote::Credential{user, token->jwt};
    };
  };
}

// The key that signs what the server's runs push: the configured file, the
// environment, or the store's own (made once, shared by replicas).
Result<std::shared_ptr<const attest::Key>> ImageSigningKey(const Config& config,
                                                           storage::MetadataStore& meta) {
  std::string pem, from;
  if (!config.builds.signing_key_file.empty()) {
    std::ifstream f(config.builds.signing_key_file);
    if (!f)
      return Invalid("builds.signing_key_file: cannot read " + config.builds.signing_key_file);
    pem.assign(std::istreambuf_iterator<char>(f), {});
    from = "builds.signing_key_file " + config.builds.signing_key_file;
  } else if (const char* env = std::getenv("DRYDOCK_SIGNING_KEY"); env && *env) {
    pem = env;
    from = "DRYDOCK_SIGNING_KEY";
  } else {
    DD_ASSIGN_OR_RETURN(made, attest::Key::Generate());
    DD_ASSIGN_OR_RETURN(stored, meta.InitSetting("image_signing_key", made.PrivatePem()));
    pem = stored;
    from = "the metadata store";
  }
  auto key = attest::Key::FromPem(pem);
  if (!key.ok()) return Invalid(from + ": " + key.status().message());
  if (!key->has_private())
    return Invalid(from + ": a public key cannot sign; give the private key");
  return std::make_shared<const attest::Key>(std::move(*key));
}

// Log lines name the request (and run) their thread serves, after the
// level: "[info] [request=9f2c…] text".
class ContextFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string& context = LogContext();
    if (context.empty()) return;
    dest.push_back(' ');
    dest.push_back('[');
    dest.append(context.data(), context.data() + context.size());
    dest.push_back(']');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ContextFlag>();
  }
};

void UseContextInLogLines() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<ContextFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l]%* %v");
  spdlog::set_formatter(std::move(formatter));
}

// A task's --notify-url as a webhook endpoint for its runs' events.
std::optional<events::Endpoint> TaskEndpoint(tasks::TaskService& tasks, const std::string& name) {
  auto task = tasks.Get(name);
  if (!task.ok() || task->notify_url.empty()) return std::nullopt;
  events::Endpoint ep;
  ep.name = "task " + name;
  ep.url = task->notify_url;
  ep.secret = task->notify_secret;
  if (task->notify_on != "success") ep.events = {"run.failed", "run.timedout", "run.error"};
  if (task->notify_on != "failure") ep.events.push_back("run.succeeded");
  if (task->notify_on == "always") ep.events.push_back("run.canceled");
  return ep;
}

// The queue as /metrics shows it: per pool (the default one always, so
// that every family has a series), the runs queued and how long the oldest
// has waited, and the agents that called in within the last minute.
void QueueSnapshot(storage::MetadataStore& meta, metrics::Metrics::Snapshot& s) {
  constexpr int64_t kAgentSeenMs = 60'000;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  s.queued[""] = 0;
  s.oldest_queued_seconds[""] = 0;
  s.agents[""] = 0;
  if (auto queued = meta.RunsWithStatus({"Queued"}, -1); queued.ok()) {
    for (const auto& run : *queued) {
      ++s.queued[run.pool];
      double& oldest = s.oldest_queued_seconds[run.pool];
      oldest = std::max(oldest, static_cast<double>(now - run.create_time_ms) / 1000);
    }
  }
  if (auto agents = meta.ListAgents(); agents.ok()) {
    for (const auto& agent : *agents)
      if (now - agent.last_seen_ms <= kAgentSeenMs) ++s.agents[agent.pool];
  }
}

tasks::ServiceOptions ServiceOptionsFor(const Config& config, const std::string& registry_host,
                                        const std::string& server_id, storage::MetadataStore& meta,
                                        auth::Authenticator& auth) {
  tasks::ServiceOptions o;
  o.data_dir = config.data_dir;
  // Unique among the servers sharing a PostgreSQL store; a store of its own
  // (SQLite) keeps the plain name.
  if (!config.storage.metadata.empty()) o.agent_name = "embedded@" + server_id;
  o.build_state = config.builds.state_dir.empty() ? std::filesystem::path(config.data_dir) / "build"
                                                  : std::filesystem::path(config.builds.state_dir);
  o.concurrency = config.builds.concurrency;
  o.lease = std::chrono::seconds(config.builds.agent_lease_seconds);
  o.emulated_wait = std::chrono::seconds(config.builds.agent_emulated_wait_seconds);
  o.max_attempts = static_cast<int>(config.builds.agent_max_attempts);
  o.registry_host = registry_host;
  // Its own registry over plain HTTP is fine for the builder, loopback or not.
  if (config.tls_cert.empty()) o.insecure_registries.push_back(registry_host);
  o.max_context_bytes = config.builds.max_context_bytes;
  o.cache_max_bytes = config.builds.cache_max_bytes;
  o.image_aliases = config.builds.image_aliases;
  o.allow_privileged_steps = config.builds.allow_privileged_steps;
  o.allow_private_fetches = config.builds.allow_private_fetches;
  o.limits = config.builds.limits;
  o.credentials = BuilderCredentials(meta, auth, registry_host);
  o.attestations = config.builds.attestations;
  return o;
}

// The user namespace of build containers, once its ids are known to work
// where they build: a problem is named at start, not in each run's log.
Result<std::shared_ptr<const runtime::UserNamespace>> BuildUserNamespace(
    const runtime::IdMapping& mapping, const tasks::ServiceOptions& o) {
  DD_ASSIGN_OR_RETURN(users, runtime::UserNamespace::Create(mapping));
  for (const auto& dir : {o.build_state, o.data_dir / "runs"}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Internal("create " + dir.string() + ": " + ec.message());
    DD_RETURN_IF_ERROR(users->CheckUsable(dir));
  }
  spdlog::info("build containers run in a user namespace: root is host id {} ({} ids)",
               mapping.host_id, mapping.size);
  return users;
}

// The names a Dockerfile may use for this server's registry: its public
// host, and on loopback both 127.0.0.1 and localhost with the port.
triggers::Options TriggerOptionsFor(const Config& config, const std::string& registry_host,
                                    uint16_t port, const std::string& server_id,
                                    metrics::Metrics& metrics) {
  triggers::Options o;
  o.server_id = server_id;
  o.metrics = &metrics;
  o.own_registries = {registry_host};
  for (std::string host : {"127.0.0.1", "localhost"}) {
    std::string name = host + ":" + std::to_string(port);
    if (name != registry_host) o.own_registries.push_back(name);
  }
  o.base_image_poll_interval = std::chrono::seconds(config.triggers.base_image_poll_seconds);
  if (const char* d = std::getenv("DRYDOCK_TEST_TRIGGER_DELAY_MS"))
    o.test_handle_delay = std::chrono::milliseconds(std::atoll(d));
  o.min_poll_interval = std::chrono::seconds(config.triggers.min_poll_seconds);
  o.allow_private_fetches = config.builds.allow_private_fetches;
  return o;
}

// Runs `job` every `interval` until destroyed; never when it is zero.
class Periodic {
 public:
  Periodic(std::chrono::seconds interval, std::function<void()> job)
      : interval_(interval), job_(std::move(job)) {
    if (interval_.count() > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~Periodic() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return stop_; })) {
      lock.unlock();
      job_();
      lock.lock();
    }
  }
  std::chrono::seconds interval_;
  std::function<void()> job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Online GC runs on one server at a time: the one holding the "gc" lease.
void CollectGarbage(registry::Registry& r, storage::LeaseStore& leases,
                    const std::string& server_id, const registry::GcOptions& o,
                    metrics::Metrics& metrics) {
  constexpr int64_t kGcLeaseMs = 3600'000;  // a GC taking longer loses it
  int64_t now = static_cast<int64_t>(::time(nullptr)) * 1000;
  auto held = leases.TakeLease("gc", server_id, now, kGcLeaseMs);
  if (!held.ok() || !*held) return;
  auto started = std::chrono::steady_clock::now();
  auto report = r.CollectGarbage(o);
  (void)leases.DropLease("gc", server_id);
  metrics::Metrics::GcPass pass;
  pass.ok = report.ok();
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (report.ok()) {
    pass.blobs_deleted = report->blobs_deleted;
    pass.bytes_freed = report->bytes_freed;
    pass.blobs_kept = report->blobs_kept;
    pass.bytes_kept = report->bytes_kept;
  }
  metrics.GcFinished(pass);
  if (report.ok()) {
    spdlog::info("gc: {} manifests, {} links, {} blobs ({} bytes), {} uploads removed",
                 report->manifests_deleted, report->links_removed, report->blobs_deleted,
                 report->bytes_freed, report->uploads_removed);
  } else {
    spdlog::error("gc failed: {}", report.status().message());
  }
}

// Events older than the retention go, but never the newest min_kept (a
// consumer that was down for longer than the retention resumes from those).
void PruneEvents(storage::MetadataStore& meta, const EventsConfig& c) {
  int64_t before = static_cast<int64_t>(::time(nullptr)) - c.retention_days * 86400;
  auto pruned = meta.PruneEvents(before, c.min_kept);
  if (!pruned.ok())
    spdlog::error("pruning the event log: {}", pruned.status().message());
  else if (*pruned > 0)
    spdlog::info("event log: {} events older than {} days removed", *pruned, c.retention_days);
}

}  // namespace

int Serve(const ServeFlags& flags) {
  // Stop cleanly on SIGINT/SIGTERM: blocked here, before any thread starts,
  // so only the dedicated waiter below ever receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // reads the config's log_level again
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto config = LoadConfig(flags.config);
  if (!config.ok()) {
    std::cerr << "drydock: " << config.status().message() << "\n";
    return 2;
  }
  UseContextInLogLines();
  if (Status s = api::SetLogLevel(config->log_level); !s.ok()) {
    std::cerr << "drydock: log_level: " << s.message() << "\n";
    return 2;
  }
  if (!flags.listen.empty()) config->listen = flags.listen;
  if (!flags.data.empty()) config->data_dir = flags.data;
  auto addr = SplitListen(config->listen);
  if (!addr.ok()) {
    std::cerr << "drydock: " << addr.status().message() << "\n";
    return 2;
  }
  auto stores = OpenStores(config->data_dir, config->storage);
  if (!stores.ok()) {
    std::cerr << "drydock: " << stores.status().message() << "\n";
    return 1;
  }
  auto& meta = *stores->meta;
  auto server_id = ServerId(config->data_dir);
  if (!server_id.ok()) {
    std::cerr << "drydock: " << server_id.status().message() << "\n";
    return 1;
  }
  auto key = meta.InitSetting("token_signing_key", RandomHex(32));
  if (!key.ok()) {
    std::cerr << "drydock: " << key.status().message() << "\n";
    return 1;
  }
  auth::Authenticator authenticator(meta, config->auth, *key);
  if (auto s = EnsureAdmin(meta, authenticator, config->admin_password); !s.ok()) {
    std::cerr << "drydock: creating admin user: " << s.message() << "\n";
    return 1;
  }
  if (auto n = registry::RecoverUploads(*stores->blobs, meta); n.ok() && *n > 0) {
    spdlog::info("removed {} upload(s) left unfinished by a previous run", *n);
  }

  events::Bus bus;
  std::shared_ptr<const attest::Key> signing_key;
  if (config->builds.attestations) {
    auto signing = ImageSigningKey(*config, meta);
    if (!signing.ok()) {
      std::cerr << "drydock: " << signing.status().message() << "\n";
      return 1;
    }
    signing_key = *signing;
    // Where `drydock verify --key` finds it.
    std::ofstream(std::filesystem::path(config->data_dir) / "signing-key.pub")
        << signing_key->PublicPem();
    spdlog::info("images are signed with key {} ({}/signing-key.pub)", signing_key->Hint(),
                 config->data_dir);
  }
  registry::Options ropts = config->registry;
  ropts.public_url = config->public_url;
  // What this server builds it signs: trusted where signatures are required.
  if (signing_key) ropts.trusted_keys.push_back(signing_key->PublicPem());
  registry::Registry reg(*stores->blobs, meta, authenticator, bus, ropts);

  // Created once the server listens (they need its port), but declared
  // before it: connections following a run's log end before these go.
  // The task service outlives the runs (their workers report to it) and
  // the triggers (which queue through both).
  metrics::Metrics metrics;  // before the components that count into it
  std::unique_ptr<tasks::TaskService> task_service;
  std::unique_ptr<tasks::RunService> runs;
  std::unique_ptr<triggers::Service> trigger_service;
  std::unique_ptr<api::Api> rest;
  // After the API, which describes the runs it notifies of, and gone first.
  std::unique_ptr<events::WebhookNotifier> notifier;

  auto handler = [&](http::Request& req, http::Response& resp) {
    metrics.HttpInFlight(1);
    struct Done {
      metrics::Metrics& m;
      ~Done() { m.HttpInFlight(-1); }
    } done{metrics};
    if (reg.Handle(req, resp)) return;
    if (rest && rest->Handle(req, resp)) return;
    if (req.path == "/metrics") {
      resp.route = "metrics";
      resp.body = metrics.Render();
      resp.Set("Content-Type", "text/plain; version=0.0.4");
      return;
    }
    if (req.path == "/healthz") {
      resp.route = "healthz";
      resp.body = "ok\n";
      return;
    }
    if (web::ServeDashboard(req, resp)) return;
    resp.status = 404;
    resp.route = "not_found";
    resp.body = "not found\n";
  };
  bool access_log = config->access_log;
  auto on_complete = [&metrics, access_log](const http::Completion& c) {
    metrics.HttpRequest(c.response.route, c.request.method, c.response.status, c.seconds,
                        c.bytes_in, c.bytes_out);
    if (access_log) std::fprintf(stderr, "%s\n", http::AccessLogLine(c).c_str());
  };

  RaiseOpenFileLimit(config->http.max_connections);
  http::ServerOptions sopts = config->http;
  sopts.address = addr->first;
  sopts.port = addr->second;
  sopts.tls_cert_file = config->tls_cert;
  sopts.tls_key_file = config->tls_key;
  http::Server server(sopts, handler, on_complete);
  if (auto s = server.Listen(); !s.ok()) {
    std::cerr << "drydock: " << s.message() << "\n";
    return 1;
  }
  if (config->tls_cert.empty() && !IsLoopback(addr->first)) {
    spdlog::warn(
        "listening on {} without TLS: docker and podman refuse plain HTTP from other hosts; "
        "set tls.cert and tls.key",
        addr->first);
  }
  std::string registry_host = RegistryHost(*config, addr->first, server.port());
  auto service_options = ServiceOptionsFor(*config, registry_host, *server_id, meta, authenticator);
  service_options.metrics = &metrics;
  metrics.OnScrape([&reg, &server, &meta](metrics::Metrics::Snapshot& s) {
    s.uploads_open = static_cast<int64_t>(reg.uploads_in_progress());
    s.http_connections = static_cast<int64_t>(server.open_connections());
    QueueSnapshot(meta, s);
  });
  const attest::Signer signer = attest::KeySigner(signing_key);
  if (signer) service_options.signer = [signer](const std::string&) { return signer; };
  if (config->builds.user_namespace) {
    auto users = BuildUserNamespace(*config->builds.user_namespace, service_options);
    if (!users.ok()) {
      std::cerr << "drydock: builds.user_namespace: " << users.status().message() << "\n";
      return 1;
    }
    service_options.users = *users;
  }
  runs = std::make_unique<tasks::RunService>(meta, *stores->blobs, service_options);
  task_service = std::make_unique<tasks::TaskService>(meta, *runs, service_options);
  runs->OnFinished([&task_service](const tasks::Run& run) { task_service->OnRunFinished(run); });
  if (auto s = runs->Start(); !s.ok()) {
    std::cerr << "drydock: starting the build service: " << s.message() << "\n";
    return 1;
  }
  trigger_service = std::make_unique<triggers::Service>(
      meta, *task_service, *runs,
      TriggerOptionsFor(*config, registry_host, server.port(), *server_id, metrics));
  trigger_service->Start(bus);
  // Runs queued and events written by other replicas wake this one at once.
  meta.OnChange([&bus, &runs](storage::ChangeNotices::Change change) {
    if (change == storage::ChangeNotices::Change::kEvent)
      bus.Notify();
    else
      runs->Wake();
  });
  struct StopNotices {
    storage::ChangeNotices& notices;
    ~StopNotices() { notices.OnChange(nullptr); }  // before `runs` and `bus` go
  } stop_notices{meta};
  std::string base_url =
      config->public_url.empty()
          ? std::string(config->tls_cert.empty() ? "http://" : "https://") + registry_host
          : config->public_url;
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  rest = std::make_unique<api::Api>(authenticator, *stores->blobs, meta, reg, *runs, *task_service,
                                    *trigger_service,
                                    api::Options{registry_host, config->builds.max_context_bytes,
                                                 base_url, signer, config->builds.attestations});
  notifier = std::make_unique<events::WebhookNotifier>(
      meta, config->notifications, *server_id,
      [&rest](const std::string& run_id) { return rest->DescribeRun(run_id); },
      [&task_service](const std::string& task) { return TaskEndpoint(*task_service, task); });
  bus.Subscribe([&notifier] {
    if (notifier) notifier->Wake();
  });
  Periodic gc(std::chrono::seconds(config->gc_interval_seconds),
              [&] { CollectGarbage(reg, meta, *server_id, config->gc, metrics); });
  Periodic prune_events(std::chrono::hours(1), [&] { PruneEvents(meta, config->events); });

  std::thread signals([&] {
    for (int sig = 0; sigwait(&set, &sig) == 0 && sig == SIGHUP;) {
      auto reread = LoadConfig(flags.config);
      Status s = reread.ok() ? api::SetLogLevel(reread->log_level) : reread.status();
      if (s.ok())
        spdlog::warn("SIGHUP: log level {}", reread->log_level);
      else
        spdlog::error("SIGHUP: the log level stays: {}", s.message());
    }
    server.Stop();
  });
  signals.detach();

  std::printf("Drydock registry listening on %s://%s:%u (data in %s)\n",
              config->tls_cert.empty() ? "http" : "https", addr->first.c_str(), server.port(),
              config->data_dir.c_str());
  std::fflush(stdout);
  server.Run();
  return 0;
}

}  // namespace drydock::cli
