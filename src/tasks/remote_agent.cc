// `drydock agent`: an internal::Agent whose queue is the server's agent API
// over HTTP. Logs are written locally and shipped with each heartbeat (and
// before each report) from the last offset the server acknowledged, so a
// dropped connection only delays them; uploaded contexts are fetched per
// run; pushes use the credential the claim carried (the run's own).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "base/fd.h"
#include "base/json.h"
#include "remote/http_client.h"
#include "tasks/agent.h"
#include "tasks/run_record.h"

namespace drydock::tasks {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Short enough that a stopping agent is not kept waiting long by a claim in flight.
constexpr int64_t kClaimWaitSeconds = 5;
constexpr size_t kLogChunk = 1 << 20;
constexpr int kReportTries = 30;  // a second apart: a server restart or a network blip

// What the agent keeps about a run it holds.
struct Held {
  int64_t attempt = 0;
  uint64_t log_base = 0;  // where this attempt's log starts on the server
  uint64_t shipped = 0;   // local log bytes the server has
  std::string registry, username, password;
};

class HttpQueue final : public RunQueue {
 public:
  HttpQueue(const RemoteAgentOptions& o, internal::LogStore& logs)
      : o_(o), logs_(logs), base_(TrimSlash(o.server) + "/api/v1/agent") {}

  // What the server says before the first claim (which also checks the token).
  struct ServerInfo {
    std::string registry;   // "host:port"
    bool insecure = false;  // plain HTTP
    bool attestations = true;
    std::string signing_key;  // its hint; "": the server signs nothing
  };
  Result<ServerInfo> Info() {
    DD_ASSIGN_OR_RETURN(body, Call("GET", "/info", nullptr, 30));
    try {
      json j = json::parse(body);
      return ServerInfo{j.at("registry").at("host").get<std::string>(),
                        j.at("registry").at("insecure").get<bool>(), j.value("attestations", true),
                        j.value("signingKey", "")};
    } catch (const json::exception& e) {
      return Internal(std::string("the server's agent info is not understood: ") + e.what());
    }
  }

  // The server's signature (a Sigstore bundle) over `digest`, for a run
  // this agent holds: its key never leaves the server.
  Result<json> Sign(const std::string& run_id, const oci::Digest& digest) {
    int64_t attempt = 0;
    {
      std::lock_guard lock(mu_);
      auto it = held_.find(run_id);
      if (it == held_.end()) return Conflict("run " + run_id + " is not held here");
      attempt = it->second.attempt;
    }
    std::string text = json{{"digest", digest.str()}}.dump();
    Result<std::string> body = Internal("not sent");
    for (int i = 0; i < 3; ++i) {  // a server restart or a network blip
      if (i > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
      body = Call("POST", RunPath(run_id, "sign", attempt), &text, 60);
      if (body.ok() || body.status().code() != Code::kUnavailable) break;
    }
    if (!body.ok()) return Status(body.status().code(), "signing: " + body.status().message());
    DD_ASSIGN_OR_RETURN(j, ParseJson(*body));
    if (!j.is_object() || !j.contains("bundle") || !j["bundle"].is_object())
      return Internal("the server's signature answer has no bundle");
    return j["bundle"];
  }

  Result<std::optional<ClaimedRun>> Claim(const AgentInfo& agent) override {
    json req = {{"pool", agent.pool},
                {"platforms", agent.platforms},
                {"emulatedPlatforms", agent.emulated},
                {"version", o_.version},
                {"restarted", first_claim_.exchange(false)},
                {"wait", kClaimWaitSeconds}};
    std::string text = req.dump();
    auto body = Call("POST", "/claim", &text, kClaimWaitSeconds + 30);
    if (!body.ok()) {
      if (body.status().code() == Code::kUnauthenticated) {
        std::lock_guard lock(mu_);
        refused_ = body.status();
      }
      return body.status();
    }
    if (body->empty()) return std::optional<ClaimedRun>();  // 204: nothing queued
    DD_ASSIGN_OR_RETURN(j, ParseJson(*body));
    if (!j.is_object() || !j.contains("run"))
      return Internal("the server's claim answer has no run");
    DD_ASSIGN_OR_RETURN(claimed, ClaimedRunFromJson(j["run"].dump()));
    Held held;
    held.attempt = claimed.attempt;
    try {
      held.log_base = j.value("logOffset", uint64_t{0});
      const json& r = j.at("registry");
      held.registry = r.value("host", "");
      held.username = r.value("username", "");
      held.password = r.value("password", "");
    } catch (const json::exception& e) {
      return Internal(std::string("the server's claim answer is not understood: ") + e.what());
    }
    // A log left by an earlier attempt here is not this attempt's.
    std::error_code ec;
    fs::remove(LogPath(claimed.run.id), ec);
    std::lock_guard lock(mu_);
    held_[claimed.run.id] = std::move(held);
    return std::optional<ClaimedRun>(std::move(claimed));
  }

  Result<bool> Heartbeat(const std::string& run_id, int64_t attempt) override {
    (void)ShipLog(run_id, attempt);  // best effort: the next beat resends from the same offset
    DD_ASSIGN_OR_RETURN(body, Call("POST", RunPath(run_id, "heartbeat", attempt), nullptr, 30));
    auto j = ParseJson(body);
    return j.ok() && j->is_object() && j->value("cancel", false);
  }

  Status Report(const Run& run, int64_t attempt) override {
    bool last = run.status != RunStatus::kRunning && run.status != RunStatus::kStarted;
    std::string text = ReportToJson(run);
    Status sent;
    for (int i = 0; i < (last ? kReportTries : 1); ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
      sent = ShipLog(run.id, attempt);
      if (sent.ok()) sent = Call("POST", RunPath(run.id, "report", attempt), &text, 60).status();
      if (sent.code() != Code::kUnavailable && sent.code() != Code::kInternal) break;
    }
    if (last) {
      std::lock_guard lock(mu_);
      held_.erase(run.id);
    }
    return sent;
  }

  // The run's uploaded context, fetched into the agent's state dir and
  // hashed as it arrives.
  Result<internal::UploadedContext> FetchContext(const ClaimedRun& c) {
    const std::string& source = c.run.request.source;
    if (source.rfind("context:", 0) != 0) return internal::UploadedContext{};
    fs::path dir = o_.build.data_dir / "contexts";
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path path = dir / ("uploaded-context." + c.run.id);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid())
      return Internal("cannot create " + path.string() + ": " + std::strerror(errno));
    remote::HttpRequest req = Request("GET", RunPath(c.run.id, "context", c.attempt), 3600);
    bool write_failed = false;
    oci::Hasher hasher;
    req.sink = [&](const char* data, size_t n) {
      hasher.Update(data, n);
      write_failed = !WriteAll(fd.get(), data, n);
      return !write_failed;
    };
    DD_ASSIGN_OR_RETURN(resp, remote::SendHttp(req));
    if (write_failed)
      return Internal("cannot write " + path.string() + ": " + std::strerror(errno));
    if (resp.status != 200) return ErrorOf(resp);
    return internal::UploadedContext{path, hasher.Peek().str()};
  }

  void Forget(const std::string& run_id) {
    std::error_code ec;
    fs::remove(o_.build.data_dir / "contexts" / ("uploaded-context." + run_id), ec);
    fs::remove(LogPath(run_id), ec);
  }

  Status refused() {
    std::lock_guard lock(mu_);
    return refused_;
  }

  // Credentials for the registry of a run this agent holds.
  std::optional<remote::Credential> CredentialFor(const std::string& run_id,
                                                  const std::string& registry) {
    std::lock_guard lock(mu_);
    auto it = held_.find(run_id);
    if (it == held_.end() || it->second.registry != registry || it->second.username.empty())
      return std::nullopt;
    return remote::Credential{it->second.username, it->second.password};
  }

 private:
  static std::string TrimSlash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
  }
  static bool WriteAll(int fd, const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  fs::path LogPath(const std::string& run_id) const {
    return o_.build.data_dir / "logs" / (run_id + ".log");
  }
  static std::string RunPath(const std::string& id, const char* action, int64_t attempt) {
    return "/runs/" + id + "/" + action + "?attempt=" + std::to_string(attempt);
  }
  remote::HttpRequest Request(const char* method, const std::string& path, long timeout) const {
    remote::HttpRequest req;
    req.method = method;
    req.url = base_ + path;
    req.headers = {"Authorization: Bearer " + o_.token, "Content-Type: application/json"};
    req.timeout_seconds = timeout;
    return req;
  }
  static Status ErrorOf(const remote::HttpResponse& resp) {
    std::string message = "the server answered " + std::to_string(resp.status);
    if (auto j = ParseJson(resp.body); j.ok() && j->is_object() && j->contains("error")) {
      const json& e = (*j)["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string())
        message += ": " + e["message"].get<std::string>();
    }
    switch (resp.status) {
      case 401:
        return Status(Code::kUnauthenticated, message);
      case 404:
        return NotFound(message);
      case 409:
        return Conflict(message);
      case 400:
        return Invalid(message);
      default:
        return Status(resp.status >= 500 ? Code::kUnavailable : Code::kInternal, message);
    }
  }
  // The body of a 2xx answer ("" for 204).
  Result<std::string> Call(const char* method, const std::string& path, const std::string* body,
                           long timeout) {
    remote::HttpRequest req = Request(method, path, timeout);
    if (body) req.body = *body;
    DD_ASSIGN_OR_RETURN(resp, remote::SendHttp(req));
    if (resp.status < 200 || resp.status > 299) return ErrorOf(resp);
    return std::move(resp.body);
  }

  // Sends what the local log has beyond what the server acknowledged.
  Status ShipLog(const std::string& run_id, int64_t attempt) {
    uint64_t shipped, base;
    {
      std::lock_guard lock(mu_);
      auto it = held_.find(run_id);
      if (it == held_.end()) return Status::Ok();
      shipped = it->second.shipped;
      base = it->second.log_base;
    }
    while (true) {
      DD_ASSIGN_OR_RETURN(slice, logs_.Read(run_id, shipped, kLogChunk));
      if (slice.data.empty()) return Status::Ok();
      remote::HttpRequest req = Request(
          "POST", RunPath(run_id, "log", attempt) + "&offset=" + std::to_string(base + shipped),
          60);
      req.headers.back() = "Content-Type: application/octet-stream";
      req.body = slice.data;
      DD_ASSIGN_OR_RETURN(resp, remote::SendHttp(req));
      if (resp.status != 200) return ErrorOf(resp);
      shipped += slice.data.size();
      std::lock_guard lock(mu_);
      if (auto it = held_.find(run_id); it != held_.end()) it->second.shipped = shipped;
    }
  }

  const RemoteAgentOptions& o_;
  internal::LogStore& logs_;
  const std::string base_;
  std::atomic<bool> first_claim_{true};
  std::mutex mu_;
  std::map<std::string, Held> held_;
  Status refused_;
};

}  // namespace

Status RunRemoteAgent(RemoteAgentOptions o, const std::atomic<bool>& stop) {
  if (o.build.concurrency < 1) o.build.concurrency = 1;
  if (o.build.build_state.empty()) o.build.build_state = o.build.data_dir / "build";
  internal::FileRunLogs files(o.build.data_dir / "logs");
  DD_RETURN_IF_ERROR(files.Init());
  internal::LogStore logs(files);
  HttpQueue queue(o, logs);
  DD_ASSIGN_OR_RETURN(server, queue.Info());
  o.build.registry_host = server.registry;
  if (server.insecure) o.build.insecure_registries.push_back(server.registry);
  o.build.attestations = server.attestations;
  if (!server.signing_key.empty())
    o.build.signer = [&queue, hint = server.signing_key](const std::string& run_id) {
      return attest::Signer{
          [&queue, run_id](const oci::Digest& d) { return queue.Sign(run_id, d); }, hint};
    };
  o.build.credentials = [&queue](const std::string&, const std::string& run_id) {
    return remote::CredentialLookup([&queue, run_id](const std::string& registry) {
      return queue.CredentialFor(run_id, registry);
    });
  };
  internal::Agent agent(internal::AgentParts{
      o.build, AgentInfo{o.build.agent_name, o.pool, o.platforms, o.emulated}, queue, logs,
      [&queue](const ClaimedRun& c) { return queue.FetchContext(c); },
      [&queue](const std::string& id) { queue.Forget(id); }});
  DD_RETURN_IF_ERROR(agent.Start());
  while (!stop) {
    if (Status refused = queue.refused(); !refused.ok()) return refused;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Ok();  // ~Agent hands the runs still building back
}

}  // namespace drydock::tasks
