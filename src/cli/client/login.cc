// `drydock login SERVER`: trades a password for an API token (POST
// /api/v1/tokens) and stores the token for later client commands.
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "base/base64.h"
#include "cli/client/api_client.h"
#include "cli/client/client_config.h"
#include "cli/client/exit.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

// Restores the terminal's echo on every path out.
class NoEcho {
 public:
  NoEcho() : ok_(::tcgetattr(STDIN_FILENO, &saved_) == 0) {
    if (!ok_) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  ~NoEcho() {
    if (ok_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  termios saved_{};
  bool ok_;
};

Result<std::string> Prompt(const std::string& what, bool secret) {
  if (!::isatty(STDIN_FILENO)) {
    return Invalid("no " + what + " given and stdin is not a terminal (use -u and " +
                   "--password-stdin)");
  }
  std::cerr << what << ": " << std::flush;
  std::string line;
  if (secret) {
    NoEcho quiet;
    std::getline(std::cin, line);
    std::cerr << "\n";
  } else {
    std::getline(std::cin, line);
  }
  return line;
}

Result<std::string> User(const LoginFlags& flags) {
  if (!flags.user.empty()) return flags.user;
  if (const char* env = std::getenv("DRYDOCK_USER"); env && *env) return std::string(env);
  return Prompt("Username", false);
}

Result<std::string> Password(const LoginFlags& flags) {
  if (flags.password_stdin) {
    std::string all(std::istreambuf_iterator<char>(std::cin), {});
    while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
    return all;
  }
  if (!flags.password.empty()) {
    std::cerr << "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n";
    return flags.password;
  }
  return Prompt("Password", true);
}

Result<std::string> DoLogin(const LoginFlags& flags) {
  DD_ASSIGN_OR_RETURN(server, client::NormalizeServer(flags.server));
  DD_ASSIGN_OR_RETURN(user, User(flags));
  DD_ASSIGN_OR_RETURN(password, Password(flags));
  if (user.empty() || password.empty()) return Invalid("user name and password must not be empty");
  client::ApiClient api(
      client::Connection{server, "Authorization: Basic " + Base64Encode(user + ":" + password)});
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  // So that `drydock token list` tells this login from others.
  DD_ASSIGN_OR_RETURN(reply, api.Post("/api/v1/tokens", {{"description", std::string("drydock login on ") + host}}));
  std::string token = reply.value("token", "");
  if (token.empty()) return Internal(server + " answered without a token");
  DD_ASSIGN_OR_RETURN(config, client::ClientConfig::Load(client::ClientConfig::DefaultPath()));
  config.Set(server, {reply.value("user", user), token, reply.value("expiresAt", "")});
  DD_RETURN_IF_ERROR(config.Save());
  return reply.value("expiresAt", "");
}

}  // namespace

int Login(const LoginFlags& flags) {
  auto expires = DoLogin(flags);
  if (!expires.ok()) return client::Fail("login", expires.status());
  std::cout << "Login Succeeded"
            << (expires->empty() ? "" : " (token valid until " + *expires + ")") << "\n";
  return 0;
}

}  // namespace drydock::cli
