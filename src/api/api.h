// The REST API under /api/v1/ (docs/api.md): API tokens, build contexts,
// runs and their live logs, tasks and their webhooks, and repositories. JSON in and out, served by
// `drydock serve` beside the registry's /v2/ and authenticated with the same
// users, passwords and tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "auth/auth.h"
#include "http/server.h"
#include "registry/registry.h"
#include "storage/metadata_store.h"
#include "tasks/task_service.h"
#include "tasks/tasks.h"
#include "triggers/triggers.h"

namespace drydock::api {

struct Options {
  // "host:port" of this server's registry: prepended to image names that
  // name no registry, and the registry whose push rights a run needs.
  std::string registry_host;
  // Context uploads announcing more than this are refused before reading;
  // the run service enforces its own limit on bodies of unknown length.
  uint64_t max_context_bytes = 2ull << 30;
  // How clients reach this server ("http://host:port"): webhook URLs.
  std::string base_url;
  // Signs what agents build (POST /api/v1/agent/runs/{id}/sign) with the
  // server's key, which never leaves the server; none: agents sign nothing.
  attest::Signer signer;
  bool attestations = true;  // whether agents' images carry SBOM and provenance
};

// Sets the server log's level by name (trace, debug, info, warn, error,
// critical, off): PUT /api/v1/admin/log-level, and the config's `log_level`,
// read again on SIGHUP. kInvalid naming the levels for another name.
Status SetLogLevel(std::string_view level);

class Api {
 public:
  // Deletes go through `registry`, which records and publishes them;
  // `blobs` is read for image configs.
  Api(auth::Authenticator& auth, storage::BlobStore& blobs, storage::MetadataStore& meta,
      registry::Registry& registry, tasks::RunService& runs, tasks::TaskService& tasks,
      triggers::Service& triggers, Options options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // True when the request is under /api/v1/ (and has been answered).
  bool Handle(http::Request& req, http::Response& resp);

  // A run as its notifications describe it (events::RunDescriber): id,
  // status, task, trigger and its cause, the failing step, the error, a
  // link to the log, and the record GET /api/v1/runs/{id} answers.
  Result<nlohmann::json> DescribeRun(const std::string& run_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::api
