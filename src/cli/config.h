// Server configuration: embedded defaults, overridden by a YAML file, by
// environment variables, then by command-line flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "base/result.h"
#include "events/events.h"
#include "http/server.h"
#include "registry/registry.h"
#include "runtime/runtime.h"
#include "storage/blob_store.h"

namespace drydock::cli {

// The build service behind /api/v1/runs.
struct BuildsConfig {
  // Runs the embedded agent builds at once; 0: none (remote agents only).
  int concurrency = 2;
  // Every pushed image gets an SBOM, a provenance statement and signatures
  // (docs/supply-chain.md). The signing key: `signing_key_file` (PEM,
  // ECDSA P-256), else $DRYDOCK_SIGNING_KEY (PEM text), else one the server
  // makes once and keeps in its metadata store (shared by replicas).
  bool attestations = true;
  std::string signing_key_file;
  // The run queue: an agent that does not renew a run's lease for this
  // long has lost it; the run is retried up to agent_max_attempts times.
  int64_t agent_lease_seconds = 30;
  int64_t agent_max_attempts = 3;
  // A run waits this long for an agent building its platforms natively
  // before an agent that emulates them (`drydock agent --emulate`) takes it.
  int64_t agent_emulated_wait_seconds = 30;
  std::string state_dir;                    // the builder's cache; "" = <data>/build
  uint64_t max_context_bytes = 2ull << 30;  // uploaded contexts and tarball sources
  uint64_t cache_max_bytes = 20ull << 30;   // the builder's state dir, LRU; 0 = unbounded
  // Task files' image aliases (`$bash`, `cmd: curl …`): name -> image. No
  // defaults: ACR's point at Docker Hub and MCR, which may not be reachable.
  std::map<std::string, std::string> image_aliases;
  // Task files' `privileged: true` and `network: host` steps: whoever may
  // queue a run gets root on this host with them, so they are off unless set.
  bool allow_privileged_steps = false;
  // Builds may fetch (sources, tarballs, ADD <url>, git remotes) from
  // loopback, link-local and private addresses.
  bool allow_private_fetches = false;
  // Each build container's (RUN and cmd steps): a fork bomb, a memory hog or
  // a disk filler fails its own run, not the host. cpus 0: no quota.
  runtime::Limits limits{
      .pids = 4096, .memory_bytes = 4ll << 30, .cpus = 0, .disk_bytes = 20ull << 30};
  // Build containers in a user namespace (`true`: host ids 100000:65536, or
  // "HOST_ID:SIZE"): their root is nobody on the host. Privileged steps
  // stay host root.
  std::optional<runtime::IdMapping> user_namespace;
};

// The registry's event log (GET /api/v1/events; what triggers and webhooks
// follow): events older than retention_days are dropped hourly, but never
// the newest min_kept.
struct EventsConfig {
  int64_t retention_days = 7;
  int64_t min_kept = 10000;
};

// When saved tasks run by themselves.
struct TriggersConfig {
  int64_t base_image_poll_seconds = 300;  // base images in other registries
  int64_t min_poll_seconds = 30;          // floor for that and tasks' source polling
};

// Where the registry's blobs live: files under `data` (the default), or an
// S3-compatible object store (`storage.blobs.s3`), whose keys come from the
// environment or from files, never from the configuration file itself.
struct StorageConfig {
  // storage.metadata: "" for SQLite in the data directory, or a PostgreSQL
  // URL (postgres://…) shared by every replica.
  std::string metadata;
  std::optional<storage::S3Config> s3;
};

struct Config {
  std::string listen = "127.0.0.1:5000";
  std::string data_dir = "./data";
  std::string public_url;
  std::string tls_cert, tls_key;
  std::string admin_password;  // first start only
  bool access_log = true;
  // The server log's level (trace … off); SIGHUP reads it again.
  std::string log_level = "info";
  // Limits and timeouts for clients (the `http` section); address, port and
  // TLS files come from `listen` and `tls`.
  http::ServerOptions http;
  auth::Options auth;
  registry::Options registry;
  registry::GcOptions gc;
  int64_t gc_interval_seconds = 0;  // 0: online GC off
  std::vector<events::Endpoint> notifications;
  EventsConfig events;
  BuildsConfig builds;
  TriggersConfig triggers;
  StorageConfig storage;
};

// Defaults, then $DRYDOCK_DATA, then the YAML file at `path` (if not empty).
Result<Config> LoadConfig(const std::string& path);
Result<std::pair<std::string, uint16_t>> SplitListen(const std::string& listen);

}  // namespace drydock::cli
