// What `drydock login` remembers (~/.config/drydock/config.json) and how
// the other client commands pick their server and credentials from it.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "remote/client.h"

namespace drydock::client {

// "127.0.0.1:5000" -> "http://127.0.0.1:5000" (plain HTTP only for loopback
// hosts), "reg.example.com" -> "https://reg.example.com"; an explicit
// http:// or https:// URL is kept. A path is refused: the API and the
// registry live at the root.
Result<std::string> NormalizeServer(std::string_view server);

// "http://127.0.0.1:5000" -> "127.0.0.1:5000", the server's registry name.
std::string RegistryHost(std::string_view server_url);

struct StoredLogin {
  std::string user, token, expires_at;
};

class ClientConfig {
 public:
  // $XDG_CONFIG_HOME/drydock/config.json, else ~/.config/drydock/config.json.
  static std::filesystem::path DefaultPath();
  // A missing file is an empty configuration.
  static Result<ClientConfig> Load(const std::filesystem::path& path);
  // Atomic replace; the file is 0600 and its directory 0700 (it holds tokens).
  Status Save() const;

  // The server of the last login ("" when none).
  const std::string& current() const { return current_; }
  std::optional<StoredLogin> Find(const std::string& server_url) const;
  const std::map<std::string, StoredLogin>& servers() const { return servers_; }
  // Records a login and makes its server the current one.
  void Set(const std::string& server_url, StoredLogin login);

 private:
  std::filesystem::path path_;
  std::string current_;
  std::map<std::string, StoredLogin> servers_;
};

// The server a command talks to and the header that authenticates it.
struct Connection {
  std::string server;         // "http://127.0.0.1:5000"
  std::string authorization;  // "Authorization: …", "" for anonymous
};

// --server, else $DRYDOCK_SERVER, else the last login's server. Credentials:
// $DRYDOCK_USER + $DRYDOCK_PASSWORD (Basic) when both are set, else the
// token stored for that server, else none (the server will answer 401).
Result<Connection> ResolveConnection(const std::string& server_flag);

// Credentials from `drydock login` for registry hosts ("127.0.0.1:5000"):
// the stored user and token, which the registry accepts as a password. For
// `drydock build --local` pushes, next to remote::DockerConfigCredentials.
remote::CredentialLookup DrydockLoginCredentials();

// What the user's own registry clients use: docker's config.json
// ($DOCKER_CONFIG or ~/.docker), then `drydock login`'s.
remote::CredentialLookup UserRegistryCredentials();

}  // namespace drydock::client
