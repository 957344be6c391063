// `drydock serve`: wires the embedded stores, auth, events and the registry
// into an HTTP server, and runs online GC when configured.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "base/random.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/stores.h"
#include "http/metrics.h"

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
  DD_RETURN_IF_ERROR(auth.CreateUser("admin", password, true, {}));
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

bool IsLoopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

// Runs GC every `interval` seconds until destroyed.
class GcLoop {
 public:
  GcLoop(registry::Registry& r, registry::GcOptions o, int64_t interval)
      : r_(r), o_(o), interval_(interval) {
    if (interval_ > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~GcLoop() {
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
    while (!cv_.wait_for(lock, std::chrono::seconds(interval_), [&] { return stop_; })) {
      lock.unlock();
      auto report = r_.CollectGarbage(o_);
      if (report.ok()) {
        spdlog::info("gc: {} manifests, {} links, {} blobs ({} bytes), {} uploads removed",
                     report->manifests_deleted, report->links_removed, report->blobs_deleted,
                     report->bytes_freed, report->uploads_removed);
      } else {
        spdlog::error("gc failed: {}", report.status().message());
      }
      lock.lock();
    }
  }
  registry::Registry& r_;
  registry::GcOptions o_;
  int64_t interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int Serve(const ServeFlags& flags) {
  // Stop cleanly on SIGINT/SIGTERM: blocked here, before any thread starts,
  // so only the dedicated waiter below ever receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto config = LoadConfig(flags.config);
  if (!config.ok()) {
    std::cerr << "drydock: " << config.status().message() << "\n";
    return 2;
  }
  if (!flags.listen.empty()) config->listen = flags.listen;
  if (!flags.data.empty()) config->data_dir = flags.data;
  auto addr = SplitListen(config->listen);
  if (!addr.ok()) {
    std::cerr << "drydock: " << addr.status().message() << "\n";
    return 2;
  }
  auto stores = OpenStores(config->data_dir);
  if (!stores.ok()) {
    std::cerr << "drydock: " << stores.status().message() << "\n";
    return 1;
  }
  auto& meta = *stores->meta;
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
  std::unique_ptr<events::WebhookNotifier> notifier;
  if (!config->notifications.empty()) {
    notifier = std::make_unique<events::WebhookNotifier>(config->notifications);
    bus.Subscribe([&notifier](const events::ManifestEvent& e) { notifier->Enqueue(e); });
  }
  registry::Options ropts = config->registry;
  ropts.public_url = config->public_url;
  registry::Registry reg(*stores->blobs, meta, authenticator, bus, ropts);

  http::Metrics metrics;
  metrics.AddGauge("drydock_uploads_in_progress", "Blob upload sessions open in this process.",
                   [&reg] { return static_cast<double>(reg.uploads_in_progress()); });
  auto handler = [&](http::Request& req, http::Response& resp) {
    if (reg.Handle(req, resp)) return;
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
    resp.status = 404;
    resp.route = "not_found";
    resp.body = "not found\n";
  };
  bool access_log = config->access_log;
  auto on_complete = [&metrics, access_log](const http::Completion& c) {
    metrics.Record(c);
    if (access_log) std::fprintf(stderr, "%s\n", http::AccessLogLine(c).c_str());
  };

  http::ServerOptions sopts;
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
  GcLoop gc(reg, config->gc, config->gc_interval_seconds);

  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
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
