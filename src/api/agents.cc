// The agent API. Build agents (`drydock agent`, authenticated by an agent
// token) claim runs, renew their leases, ship logs, fetch contexts and
// report, and have their images signed with the server's key, each only
// for the runs they hold: /api/v1/agent/…. Users see
// the agents (GET /api/v1/agents); admins create their tokens and revoke
// them (POST /api/v1/agents/tokens, DELETE /api/v1/agents/{name}).
#include <sys/stat.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/impl.h"
#include "api/run_json.h"
#include "base/fd.h"
#include "base/json.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr int64_t kMaxClaimWaitSeconds = 30;
constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kMaxLogAppend = 8 << 20;
// Agent tokens live a year unless the admin says otherwise; revoking ends
// them at once.
constexpr int64_t kAgentTokenTtlSeconds = 365 * 24 * 3600;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<json> JsonBody(http::Request& req) {
  DD_ASSIGN_OR_RETURN(text, req.ReadAll(kMaxBody));
  if (text.empty()) return json::object();
  DD_ASSIGN_OR_RETURN(body, ParseJson(text));
  if (!body.is_object()) return Invalid("the body must be a JSON object");
  return body;
}

Result<int64_t> QueryNumber(const http::Request& req, const char* name) {
  auto text = req.Query(name);
  if (!text || text->empty())
    return Invalid(std::string("query parameter '") + name + "' is required");
  int64_t v = 0;
  for (char ch : *text) {
    if (ch < '0' || ch > '9' || v > (int64_t{1} << 50))
      return Invalid(std::string("query parameter '") + name + "' must be a non-negative number");
    v = v * 10 + (ch - '0');
  }
  return v;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::vector<std::string> Split(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < csv.size()) {
    size_t comma = csv.find(',', start);
    if (comma == std::string::npos) comma = csv.size();
    if (comma > start) out.push_back(csv.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

void Api::Impl::RouteAgent(http::Request& req, http::Response& resp, const std::string& agent,
                           std::string_view path) {
  Ctx c{req, resp, auth::Identity{}};
  c.who.agent = agent;
  const std::string& m = req.method;
  if (path == "/agent/info") {
    resp.route = "api_agent_info";
    // What an agent needs before its first claim: where to push.
    json info = {{"agent", agent},
                 {"registry",
                  {{"host", options.registry_host},
                   {"insecure", options.base_url.rfind("http://", 0) == 0}}},
                 {"attestations", options.attestations}};
    if (options.signer) info["signingKey"] = options.signer.hint;
    return SendJson(resp, 200, info);
  }
  if (path == "/agent/claim") {
    resp.route = "api_agent_claim";
    return m == "POST" ? AgentClaim(c) : SendError(resp, 405, "METHOD_NOT_ALLOWED", "use POST");
  }
  constexpr std::string_view kRuns = "/agent/runs/";
  if (path.substr(0, kRuns.size()) == kRuns) {
    std::string_view rest = path.substr(kRuns.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0) {
      std::string id(rest.substr(0, slash));
      std::string_view action = rest.substr(slash + 1);
      resp.route = "api_agent_run";
      resp.run = id;
      if (action == "heartbeat" && m == "POST") return AgentHeartbeat(c, id);
      if (action == "log" && m == "POST") return AgentLog(c, id);
      if (action == "report" && m == "POST") return AgentReport(c, id);
      if (action == "context" && m == "GET") return AgentContext(c, id);
      if (action == "sign" && m == "POST") return AgentSign(c, id);
    }
  }
  resp.route = "api_agent_unknown";
  // An agent's token opens the agent API and nothing else.
  SendError(resp, 404, "NOT_FOUND", "no such agent endpoint: " + req.path);
}

void Api::Impl::AgentClaim(Ctx& c) {
  auto body = JsonBody(c.req);
  if (!body.ok()) return SendStatus(c.resp, body.status());
  tasks::AgentInfo info{c.who.agent, "", {}, {}};
  std::string version;
  bool restarted = false;
  int64_t wait = 20;
  try {
    info.pool = body->value("pool", "");
    version = body->value("version", "");
    restarted = body->value("restarted", false);
    wait = std::clamp<int64_t>(body->value("wait", int64_t{20}), 0, kMaxClaimWaitSeconds);
    for (const auto& p : body->value("platforms", json::array()))
      info.platforms.push_back(p.get<std::string>());
    for (const auto& p : body->value("emulatedPlatforms", json::array()))
      info.emulated.push_back(p.get<std::string>());
  } catch (const json::exception&) {
    return SendError(c.resp, 400, "INVALID",
                     "the claim body is {pool: string, platforms: [string], emulatedPlatforms: "
                     "[string], version: string, restarted: bool, wait: seconds}");
  }
  if (Status s = tasks::CheckAgentPool(info.pool); !s.ok()) return SendStatus(c.resp, s);
  if (info.platforms.size() + info.emulated.size() > 16 || version.size() > 64)
    return SendError(c.resp, 400, "INVALID", "at most 16 platforms and a version of 64 bytes");
  // As `agent list` shows it: "linux/amd64,linux/arm64 (emulated)".
  std::vector<std::string> shown = info.platforms;
  for (const auto& p : info.emulated) shown.push_back(p + " (emulated)");
  Status touched = meta.TouchAgent({info.name, info.pool, Join(shown), version, NowMs()});
  if (!touched.ok()) return SendStatus(c.resp, touched);
  if (restarted) {
    Status s =
        runs.ReleaseAgentRuns(info.name, "agent " + info.name + " restarted while building it");
    if (!s.ok()) return SendStatus(c.resp, s);
  }
  auto claimed = runs.ClaimWaiting(info, std::chrono::seconds(wait));
  if (!claimed.ok()) return SendStatus(c.resp, claimed.status());
  if (!*claimed) {
    c.resp.status = 204;
    return;
  }
  const tasks::Run& run = (*claimed)->run;
  auto offset = runs.LogSize(run.id);
  if (!offset.ok()) return SendStatus(c.resp, offset.status());
  json registry = {{"host", options.registry_host},
                   {"insecure", options.base_url.rfind("http://", 0) == 0}};
  if (!run.request.user.empty()) {
    // The run's own credential: its pushes are recorded as "run:ID", and it
    // ends with the run.
    auto token = auth.IssueRunToken(run.request.user, run.id, run.request.timeout_seconds + 3600);
    if (!token.ok()) return SendStatus(c.resp, token.status());
    registry["username"] = run.request.user;
    registry["password"] = token->jwt;
  }
  SendJson(c.resp, 200,
           {{"run", json::parse(tasks::ClaimedRunToJson(**claimed))},
            {"logOffset", *offset},
            {"registry", registry}});
}

void Api::Impl::AgentHeartbeat(Ctx& c, const std::string& id) {
  auto attempt = QueryNumber(c.req, "attempt");
  if (!attempt.ok()) return SendStatus(c.resp, attempt.status());
  if (Status s = runs.CheckHolder(id, *attempt, c.who.agent); !s.ok()) return SendStatus(c.resp, s);
  auto cancel = runs.Heartbeat(id, *attempt);
  if (!cancel.ok()) return SendStatus(c.resp, cancel.status());
  SendJson(c.resp, 200, {{"cancel", *cancel}});
}

void Api::Impl::AgentLog(Ctx& c, const std::string& id) {
  auto attempt = QueryNumber(c.req, "attempt");
  if (!attempt.ok()) return SendStatus(c.resp, attempt.status());
  auto offset = QueryNumber(c.req, "offset");
  if (!offset.ok()) return SendStatus(c.resp, offset.status());
  if (Status s = runs.CheckHolder(id, *attempt, c.who.agent); !s.ok()) return SendStatus(c.resp, s);
  auto data = c.req.ReadAll(kMaxLogAppend);
  if (!data.ok()) return SendStatus(c.resp, data.status());
  auto size = runs.AppendLog(id, static_cast<uint64_t>(*offset), *data);
  if (!size.ok()) return SendStatus(c.resp, size.status());
  SendJson(c.resp, 200, {{"size", *size}});
}

void Api::Impl::AgentReport(Ctx& c, const std::string& id) {
  auto attempt = QueryNumber(c.req, "attempt");
  if (!attempt.ok()) return SendStatus(c.resp, attempt.status());
  if (Status s = runs.CheckHolder(id, *attempt, c.who.agent); !s.ok()) return SendStatus(c.resp, s);
  auto text = c.req.ReadAll(kMaxBody * 16);
  if (!text.ok()) return SendStatus(c.resp, text.status());
  auto report = tasks::ReportFromJson(*text);
  if (!report.ok()) return SendStatus(c.resp, report.status());
  report->id = id;
  if (Status s = runs.Report(*report, *attempt); !s.ok()) return SendStatus(c.resp, s);
  SendJson(c.resp, 200, {{"runId", id}, {"status", tasks::StatusName(report->status)}});
}

void Api::Impl::AgentContext(Ctx& c, const std::string& id) {
  auto attempt = QueryNumber(c.req, "attempt");
  if (!attempt.ok()) return SendStatus(c.resp, attempt.status());
  if (Status s = runs.CheckHolder(id, *attempt, c.who.agent); !s.ok()) return SendStatus(c.resp, s);
  auto path = runs.ContextFile(id);
  if (!path.ok()) return SendStatus(c.resp, path.status());
  if (path->empty())
    return SendError(c.resp, 404, "NOT_FOUND", "run " + id + " has no uploaded context");
  auto fd = std::make_shared<UniqueFd>(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd->valid() || ::fstat(fd->get(), &st) != 0)
    return SendError(c.resp, 404, "NOT_FOUND", "the context of run " + id + " is gone");
  c.resp.status = 200;
  c.resp.Set("Content-Type", "application/octet-stream");
  http::BodySource src;
  src.length = static_cast<uint64_t>(st.st_size);
  src.fd = fd->get();
  // Under TLS (no sendfile): read in pieces.
  src.copy = [fd](uint64_t off, uint64_t len, const http::ByteSink& sink) -> Status {
    std::vector<char> buf(std::min<uint64_t>(len, 1 << 20));
    while (len > 0) {
      ssize_t got = ::pread(fd->get(), buf.data(), std::min<uint64_t>(len, buf.size()),
                            static_cast<off_t>(off));
      if (got < 0) return Internal(std::string("read the context: ") + std::strerror(errno));
      if (got == 0) return Internal("the context ended " + std::to_string(len) + " bytes early");
      if (!sink(buf.data(), static_cast<size_t>(got)))
        return Status(Code::kUnavailable, "the agent went away");
      off += static_cast<uint64_t>(got);
      len -= static_cast<uint64_t>(got);
    }
    return Status::Ok();
  };
  src.owner = fd;
  c.resp.source = std::move(src);
}

// A signature over an image (or attestation) an agent pushes for a run it
// holds. The server cannot see what the agent built: an agent's token is
// trusted as the embedded agent is, and every signature is logged.
void Api::Impl::AgentSign(Ctx& c, const std::string& id) {
  auto attempt = QueryNumber(c.req, "attempt");
  if (!attempt.ok()) return SendStatus(c.resp, attempt.status());
  if (Status s = runs.CheckHolder(id, *attempt, c.who.agent); !s.ok()) return SendStatus(c.resp, s);
  if (!options.signer)
    return SendError(c.resp, 409, "CONFLICT",
                     "this server signs nothing: builds.attestations is off in its configuration");
  auto body = JsonBody(c.req);
  if (!body.ok()) return SendStatus(c.resp, body.status());
  auto text = body->find("digest");
  if (text == body->end() || !text->is_string())
    return SendError(c.resp, 400, "INVALID", "the sign body is {digest: \"sha256:…\"}");
  auto digest = oci::Digest::Parse(text->get<std::string>());
  if (!digest.ok())
    return SendError(c.resp, 400, "INVALID", "digest: " + digest.status().message());
  auto bundle = options.signer.sign(*digest);
  if (!bundle.ok()) return SendStatus(c.resp, bundle.status());
  spdlog::info("signed {} for run {} (agent {}) with key {}", digest->str(), id, c.who.agent,
               options.signer.hint);
  SendJson(c.resp, 200, {{"bundle", *bundle}, {"key", options.signer.hint}});
}

void Api::Impl::ListAgents(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  auto agents = meta.ListAgents();
  if (!agents.ok()) return SendStatus(c.resp, agents.status());
  auto held = meta.RunsWithStatus({"Started", "Running"}, -1);
  if (!held.ok()) return SendStatus(c.resp, held.status());
  json out = json::array();
  for (const auto& a : *agents) {
    json running = json::array();
    for (const auto& r : *held) {
      if (r.agent == a.name) running.push_back(r.id);
    }
    out.push_back({{"name", a.name},
                   {"pool", a.pool},
                   {"platforms", Split(a.platforms)},
                   {"version", a.version},
                   {"lastHeartbeat", IsoTime(a.last_seen_ms)},
                   {"secondsSinceHeartbeat", (NowMs() - a.last_seen_ms) / 1000},
                   {"runs", running}});
  }
  SendJson(c.resp, 200, {{"agents", out}});
}

void Api::Impl::CreateAgentToken(Ctx& c) {
  if (!c.who.admin) return SendError(c.resp, 403, "DENIED", "only an admin creates agent tokens");
  auto body = JsonBody(c.req);
  if (!body.ok()) return SendStatus(c.resp, body.status());
  std::string name, description;
  try {
    name = body->value("name", "");
    description = body->value("description", "");
  } catch (const json::exception&) {
    return SendError(c.resp, 400, "INVALID", "name and description must be strings");
  }
  auto token = auth.IssueAgentToken(name, kAgentTokenTtlSeconds, description);
  if (!token.ok()) return SendStatus(c.resp, token.status());
  SendJson(c.resp, 201,
           {{"token", token->jwt},
            {"id", token->id},
            {"agent", name},
            {"expiresAt", IsoTime((token->issued_at + token->expires_in) * 1000)}});
}

void Api::Impl::RevokeAgent(Ctx& c, const std::string& name) {
  if (!c.who.admin) return SendError(c.resp, 403, "DENIED", "only an admin revokes agents");
  auto revoked = meta.DeleteApiTokensOf("agent:" + name);
  if (!revoked.ok()) return SendStatus(c.resp, revoked.status());
  Status forgot = meta.DeleteAgent(name);
  if (!forgot.ok() && forgot.code() != Code::kNotFound) return SendStatus(c.resp, forgot);
  if (*revoked == 0 && !forgot.ok())
    return SendError(c.resp, 404, "NOT_FOUND",
                     "agent " + name + " has no tokens and never called in");
  // Its runs are lost at once: another agent takes them over.
  if (Status s = runs.ReleaseAgentRuns(name, "agent " + name + " was revoked"); !s.ok())
    return SendStatus(c.resp, s);
  SendJson(c.resp, 200, {{"revoked", name}, {"tokens", *revoked}});
}

}  // namespace drydock::api
