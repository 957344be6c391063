// `drydock agent list|token create|revoke`: the server's build agents, as
// users and admins see them.
#include <iostream>

#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/run_format.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

using nlohmann::json;

std::string Joined(const json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    if (item.is_string()) out += (out.empty() ? "" : ",") + item.get<std::string>();
  }
  return out;
}

Status List(const AgentFlags& f) {
  if (f.output != "table" && f.output != "json") return Invalid("-o must be table or json");
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get("/api/v1/agents"));
  json agents =
      reply.contains("agents") && reply["agents"].is_array() ? reply["agents"] : json::array();
  if (f.output == "json") {
    std::cout << agents.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : agents) {
    std::string pool = a.value("pool", "");
    rows.push_back({a.value("name", ""), pool.empty() ? "(default)" : pool,
                    Joined(a.value("platforms", json::array())).empty()
                        ? "any"
                        : Joined(a.value("platforms", json::array())),
                    Joined(a.value("runs", json::array())), a.value("lastHeartbeat", ""),
                    a.value("version", "")});
  }
  client::PrintTable(std::cout, {"NAME", "POOL", "PLATFORMS", "RUNS", "LAST SEEN", "VERSION"},
                     rows);
  return Status::Ok();
}

Status CreateToken(const AgentFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(
      reply, api.Post("/api/v1/agents/tokens", {{"name", f.name}, {"description", f.description}}));
  // The token alone on stdout, so that it can be captured; the rest on stderr.
  std::cout << reply.value("token", "") << "\n";
  std::cerr << "Agent token " << reply.value("id", "") << " for agent " << f.name << " (expires "
            << reply.value("expiresAt", "") << "). Start the agent with\n"
            << "  DRYDOCK_AGENT_TOKEN=<token> drydock agent --server " << api.server() << "\n";
  return Status::Ok();
}

Status Revoke(const AgentFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Delete("/api/v1/agents/" + client::UrlEscape(f.name)));
  std::cout << "Agent " << f.name << " revoked (" << reply.value("tokens", 0) << " token(s))\n";
  return Status::Ok();
}

}  // namespace

int AgentList(const AgentFlags& flags) {
  Status s = List(flags);
  return s.ok() ? 0 : client::Fail("agent list", s);
}

int AgentTokenCreate(const AgentFlags& flags) {
  Status s = CreateToken(flags);
  return s.ok() ? 0 : client::Fail("agent token create", s);
}

int AgentRevoke(const AgentFlags& flags) {
  Status s = Revoke(flags);
  return s.ok() ? 0 : client::Fail("agent revoke", s);
}

}  // namespace drydock::cli
