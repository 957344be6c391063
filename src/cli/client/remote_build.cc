// `drydock build` without --local: a quick build on the server, like
// `az acr build`. A local directory is packed and uploaded first; any other
// source (git or tarball URL, oci://, /dev/null) is passed to the server as
// written. Then the log is followed (or the status polled) to the end.
#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "base/fd.h"
#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/run_watch.h"
#include "cli/client/upload.h"
#include "cli/commands.h"
#include "oci/reference.h"

namespace drydock::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Flags of `drydock build --local` that mean nothing to the server.
Status CheckRemoteFlags(const BuildFlags& f) {
  std::string local_only;
  if (!f.output.empty()) local_only = "--output";
  if (!f.cache_to.empty() || !f.cache_from.empty()) local_only = "--cache-to/--cache-from";
  if (!f.secrets.empty() || !f.ssh.empty()) local_only = "--secret/--ssh";
  if (!f.insecure_registries.empty()) local_only = "--insecure-registry";
  if (f.docker_format || f.compression != "gzip") local_only = "--docker-format/--compression";
  if (f.print_dependencies || f.dependencies_only)
    local_only = "--print-dependencies/--dependencies-only";
  if (!local_only.empty()) return Invalid(local_only + " only goes with --local");
  // Before a context is packed and uploaded, not after.
  for (const std::string& tag : f.tags) {
    std::string image = tag;
    constexpr std::string_view kRunId = "{{.Run.ID}}";
    for (auto at = image.find(kRunId); at != std::string::npos; at = image.find(kRunId))
      image.replace(at, kRunId.size(), "ca1");
    auto ref = oci::ParseImageReference(image, "localhost");
    if (!ref.ok()) return Invalid("-t " + tag + ": " + ref.status().message());
    if (ref->digest) return Invalid("-t " + tag + ": give a tag, not a digest");
  }
  return Status::Ok();
}

// --build-arg K=V, or K alone for the value in the environment (skipped
// when unset, as docker does; a secret without a value is an error).
Result<json> BuildArgs(const BuildFlags& f) {
  json out = json::array();
  auto add = [&out](const std::string& arg, bool secret) -> Status {
    auto eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    if (name.empty()) return Invalid("build argument " + arg + ": empty name");
    if (eq != std::string::npos) {
      out.push_back({{"name", name}, {"value", arg.substr(eq + 1)}, {"isSecret", secret}});
    } else if (const char* v = std::getenv(name.c_str())) {
      out.push_back({{"name", name}, {"value", v}, {"isSecret", secret}});
    } else if (secret) {
      return Invalid("--secret-build-arg " + name + ": no value and no such environment variable");
    }
    return Status::Ok();
  };
  for (const auto& a : f.build_args) DD_RETURN_IF_ERROR(add(a, false));
  for (const auto& a : f.secret_build_args) DD_RETURN_IF_ERROR(add(a, true));
  return out;
}

Result<json> QueueRun(client::ApiClient& api, const BuildFlags& f) {
  DD_ASSIGN_OR_RETURN(args, BuildArgs(f));
  std::string source = f.context;
  std::string dockerfile = f.file.empty() ? "Dockerfile" : f.file;
  std::error_code ec;
  if (f.context == "/dev/null" && !f.file.empty() && fs::is_regular_file(f.file, ec)) {
    // `docker build - < Dockerfile`: a context holding nothing but the
    // Dockerfile, which the packer takes from outside the (empty) directory.
    TempDir empty(fs::temp_directory_path(), "drydock-empty");
    BuildFlags only = f;
    only.context = empty.path().string();
    DD_ASSIGN_OR_RETURN(uploaded, client::UploadContext(api, only.context, only.file, &dockerfile));
    source = uploaded;
  } else if (!client::IsRemoteSource(f.context)) {
    if (!fs::is_directory(f.context, ec)) {
      return Invalid("SOURCE " + f.context +
                     " is not a directory; remote sources are git URLs (https://host/repo.git"
                     "#ref:subdir), tarball URLs, oci://REGISTRY/REPO:TAG or /dev/null");
    }
    DD_ASSIGN_OR_RETURN(uploaded, client::UploadContext(api, f.context, f.file, &dockerfile));
    source = uploaded;
  }
  json body = {{"type", "QuickBuild"},     {"source", source},
               {"dockerfile", dockerfile}, {"images", f.tags},
               {"buildArgs", args},        {"target", f.target},
               {"platform", f.platform},   {"noPush", f.no_push || f.tags.empty()},
               {"noCache", f.no_cache},    {"timeout", f.run_timeout_seconds}};
  if (!f.agent_pool.empty()) body["agentPoolName"] = f.agent_pool;
  // Never a flag: argv is visible to every user of the machine.
  if (const char* token = std::getenv("DRYDOCK_GIT_TOKEN"); token && *token)
    body["gitToken"] = token;
  return api.Post("/api/v1/runs", body);
}

Result<int> Build(const BuildFlags& f) {
  DD_RETURN_IF_ERROR(CheckRemoteFlags(f));
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(run, QueueRun(api, f));
  std::string id = run.value("runId", "");
  std::cerr << "Queued a build with ID: " << id << "\n";
  if (f.tags.empty() && !f.no_wait)
    std::cerr << "No -t given: the image is built but not pushed.\n";
  return client::WatchRun(api, id, f.no_wait, f.no_logs);
}

}  // namespace

int BuildRemote(const BuildFlags& flags) {
  auto code = Build(flags);
  return code.ok() ? *code : client::Fail("build", code.status());
}

}  // namespace drydock::cli
