#include "cli/client/client_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/random.h"

namespace drydock::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status WriteAll(int fd, const std::string& data, const fs::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("write " + path.string() + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> NormalizeServer(std::string_view server) {
  std::string s(server);
  std::string scheme;
  if (auto p = s.find("://"); p != std::string::npos) {
    scheme = s.substr(0, p);
    if (scheme != "http" && scheme != "https")
      return Invalid("server " + s + ": only http:// and https:// are supported");
    s = s.substr(p + 3);
  }
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.empty()) return Invalid("server: empty host");
  if (s.find('/') != std::string::npos)
    return Invalid("server " + std::string(server) + ": give only HOST[:PORT], without a path");
  if (s.find('@') != std::string::npos)
    return Invalid("server " + std::string(server) + ": put credentials in -u/-p, not the URL");
  std::string host = s[0] == '[' ? s.substr(0, s.find(']') + 1) : s.substr(0, s.find(':'));
  if (scheme.empty()) scheme = IsLoopbackHost(host) ? "http" : "https";
  return scheme + "://" + s;
}

std::string RegistryHost(std::string_view server_url) {
  std::string s(server_url);
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  return s.substr(0, s.find('/'));
}

fs::path ClientConfig::DefaultPath() {
  std::string xdg = Env("XDG_CONFIG_HOME");
  if (!xdg.empty()) return fs::path(xdg) / "drydock" / "config.json";
  std::string home = Env("HOME");
  return fs::path(home.empty() ? "/root" : home) / ".config" / "drydock" / "config.json";
}

Result<ClientConfig> ClientConfig::Load(const fs::path& path) {
  ClientConfig c;
  c.path_ = path;
  std::ifstream f(path);
  if (!f) return c;
  json j = json::parse(f, nullptr, false);
  if (!j.is_object()) return Invalid(path.string() + ": not a JSON object");
  c.current_ = j.value("currentServer", "");
  if (j.contains("servers") && j["servers"].is_object()) {
    for (const auto& [server, e] : j["servers"].items()) {
      if (!e.is_object()) continue;
      c.servers_[server] =
          StoredLogin{e.value("user", ""), e.value("token", ""), e.value("expiresAt", "")};
    }
  }
  return c;
}

Status ClientConfig::Save() const {
  std::error_code ec;
  fs::path dir = path_.parent_path();
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  json servers = json::object();
  for (const auto& [server, l] : servers_) {
    servers[server] = {{"user", l.user}, {"token", l.token}, {"expiresAt", l.expires_at}};
  }
  std::string text = json{{"currentServer", current_}, {"servers", servers}}.dump(2) + "\n";
  // A fresh 0600 file renamed over the old one: never a moment where the
  // tokens are readable by others or half written.
  fs::path tmp = path_.string() + ".tmp-" + RandomHex(4);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("create " + tmp.string() + ": " + std::strerror(errno));
  Status s = WriteAll(fd, text, tmp);
  if (s.ok() && ::fsync(fd) != 0)
    s = Internal("fsync " + tmp.string() + ": " + std::strerror(errno));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0)
    s = Internal("rename to " + path_.string() + ": " + std::strerror(errno));
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

std::optional<StoredLogin> ClientConfig::Find(const std::string& server_url) const {
  auto it = servers_.find(server_url);
  if (it == servers_.end()) return std::nullopt;
  return it->second;
}

void ClientConfig::Set(const std::string& server_url, StoredLogin login) {
  servers_[server_url] = std::move(login);
  current_ = server_url;
}

Result<Connection> ResolveConnection(const std::string& server_flag) {
  DD_ASSIGN_OR_RETURN(config, ClientConfig::Load(ClientConfig::DefaultPath()));
  std::string wanted = !server_flag.empty() ? server_flag : Env("DRYDOCK_SERVER");
  Connection c;
  if (!wanted.empty()) {
    DD_ASSIGN_OR_RETURN(url, NormalizeServer(wanted));
    c.server = url;
  } else {
    c.server = config.current();
  }
  if (c.server.empty()) {
    return Invalid("no server: run `drydock login SERVER`, or pass --server or set DRYDOCK_SERVER");
  }
  std::string user = Env("DRYDOCK_USER"), password = Env("DRYDOCK_PASSWORD");
  std::string as = "anonymously";
  if (!user.empty() && !password.empty()) {
    c.authorization = "Authorization: Basic " + Base64Encode(user + ":" + password);
    as = "as " + user + " (DRYDOCK_USER)";
  } else if (auto login = config.Find(c.server)) {
    c.authorization = "Authorization: Bearer " + login->token;
    as = "as " + login->user;
  }
  // Another shell's `drydock login` changes the default server: say which
  // one this command acts on (to people; scripts read stdout).
  if (::isatty(STDERR_FILENO)) {
    const char* from = !server_flag.empty()             ? "--server"
                       : !Env("DRYDOCK_SERVER").empty() ? "DRYDOCK_SERVER"
                                                        : "the last drydock login";
    std::cerr << "Server " << c.server << " (" << from << "), " << as << "\n";
  }
  return c;
}

remote::CredentialLookup UserRegistryCredentials() {
  const char* dir = std::getenv("DOCKER_CONFIG");
  const char* home = std::getenv("HOME");
  std::filesystem::path config = dir && *dir
                                     ? std::filesystem::path(dir)
                                     : std::filesystem::path(home ? home : "/root") / ".docker";
  auto docker = remote::DockerConfigCredentials(config / "config.json");
  auto drydock = DrydockLoginCredentials();
  return [docker, drydock](const std::string& registry) {
    auto c = docker(registry);
    return c ? c : drydock(registry);
  };
}

remote::CredentialLookup DrydockLoginCredentials() {
  std::map<std::string, remote::Credential> by_host;
  auto config = ClientConfig::Load(ClientConfig::DefaultPath());
  if (config.ok()) {
    // A registry name has no scheme: http://h:5000 and https://h:5000 are
    // one registry, and the current server wins if both were logged in to.
    for (const auto& [server, login] : config->servers()) {
      by_host[RegistryHost(server)] = remote::Credential{login.user, login.token};
    }
    if (auto login = config->Find(config->current())) {
      by_host[RegistryHost(config->current())] = remote::Credential{login->user, login->token};
    }
  }
  return [by_host = std::move(by_host)](
             const std::string& registry) -> std::optional<remote::Credential> {
    auto it = by_host.find(registry);
    if (it == by_host.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace drydock::client
