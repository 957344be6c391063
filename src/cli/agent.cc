// `drydock agent --server URL`: builds the server's runs on this machine
// (tasks::RunRemoteAgent) until SIGINT/SIGTERM, then hands the runs still
// building back to the queue.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/config.h"
#include "tasks/tasks.h"

namespace drydock::cli {
namespace {

constexpr const char* kVersion = "drydock-agent/1";

// From --token, --token-file or $DRYDOCK_AGENT_TOKEN (argv is visible to
// every user of the machine: the file or the environment is better).
Result<std::string> AgentToken(const AgentFlags& f) {
  if (!f.token.empty()) return f.token;
  if (!f.token_file.empty()) {
    std::ifstream in(f.token_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Invalid("cannot read the token file " + f.token_file);
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    return token;
  }
  if (const char* env = std::getenv("DRYDOCK_AGENT_TOKEN"); env && *env) return std::string(env);
  return Invalid(
      "no agent token: give --token-file FILE or set DRYDOCK_AGENT_TOKEN (an admin makes one "
      "with `drydock agent token create NAME`)");
}

}  // namespace

int AgentRun(const AgentFlags& f) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto token = AgentToken(f);
  if (!token.ok()) {
    std::cerr << "drydock agent: " << token.status().message() << "\n";
    return 2;
  }
  if (f.concurrency < 1 || f.concurrency > 64) {
    std::cerr << "drydock agent: --concurrency must be 1-64\n";
    return 2;
  }
  tasks::RemoteAgentOptions o;
  o.server = f.server;
  o.token = *token;
  o.pool = f.pool;
  o.platforms = f.platforms;
  o.emulated = f.emulated;
  o.version = kVersion;
  Config defaults;  // the server's default limits apply to agents' builds too
  o.build.data_dir = f.state;
  o.build.concurrency = f.concurrency;
  o.build.limits = defaults.builds.limits;
  o.build.allow_private_fetches = f.allow_private_fetches;
  o.build.agent_name = f.name.empty() ? "agent" : f.name;
  std::atomic<bool> stop{false};
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "drydock agent: stopping; runs still building go back to the queue\n";
    stop = true;
  });
  signals.detach();
  std::cerr << "drydock agent " << o.build.agent_name << ": building runs of " << f.server
            << (f.pool.empty() ? "" : " (pool " + f.pool + ")") << " with " << f.concurrency
            << " worker(s), state in " << f.state << "\n";
  Status s = tasks::RunRemoteAgent(std::move(o), stop);
  if (!s.ok()) {
    std::cerr << "drydock agent: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace drydock::cli
