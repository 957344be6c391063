// `drydock token list|revoke`: the API tokens `drydock login` made.
#include <iostream>

#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/run_format.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

using nlohmann::json;

Status List(const TokenFlags& f) {
  if (f.output != "table" && f.output != "json") return Invalid("-o must be table or json");
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get(std::string("/api/v1/tokens") + (f.all ? "?all=true" : "")));
  json tokens = reply.contains("tokens") && reply["tokens"].is_array() ? reply["tokens"]
                                                                      : json::array();
  if (f.output == "json") {
    std::cout << tokens.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tokens) {
    rows.push_back({t.value("id", ""), t.value("user", ""), t.value("createdAt", ""),
                    t.value("expiresAt", ""), t.value("description", "")});
  }
  client::PrintTable(std::cout, {"ID", "USER", "CREATED", "EXPIRES", "DESCRIPTION"}, rows);
  return Status::Ok();
}

Status Revoke(const TokenFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_RETURN_IF_ERROR(api.Delete("/api/v1/tokens/" + client::UrlEscape(f.id)).status());
  std::cout << "Token " << f.id << " revoked\n";
  return Status::Ok();
}

}  // namespace

int TokenList(const TokenFlags& flags) {
  Status s = List(flags);
  return s.ok() ? 0 : client::Fail("token list", s);
}

int TokenRevoke(const TokenFlags& flags) {
  Status s = Revoke(flags);
  return s.ok() ? 0 : client::Fail("token revoke", s);
}

}  // namespace drydock::cli
