// A real PostgreSQL for tests: scripts/pg/start-pg.sh's throwaway server
// (own initdb in a temp dir, Unix socket only), started on first use and
// stopped with the process.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "test_dir.h"

namespace drydock::testing {

class LocalPostgres {
 public:
  static LocalPostgres& Get() {
    static LocalPostgres pg;
    return pg;
  }
  bool ok() const { return !url_.empty(); }
  const std::string& why() const { return why_; }
  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }

  // A new empty database on the server; returns its URL.
  std::string NewDatabase() {
    std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    Sh(std::string(::getuid() == 0 ? "runuser -u postgres -- " : "") +
       "sh -c 'B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); "
       "\"$B/createdb\" -h " +
       dir_ + " -U postgres " + name + "'");
    std::string url = url_;
    auto at = url.find("/drydock?");
    return url.replace(at, 9, "/" + name + "?");
  }

  // Stops the server at once (as a crash would) and starts it again.
  void Restart() {
    Sh("B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); "
       "runuser -u postgres -- \"$B/pg_ctl\" -D " +
       dir_ + "/data -m immediate -w restart " + "-l " + dir_ + "/log >/dev/null");
  }

  ~LocalPostgres() {
    if (!dir_.empty()) Sh(std::string(DRYDOCK_SOURCE_DIR) + "/scripts/pg/stop-pg.sh " + dir_);
  }

 private:
  LocalPostgres() {
    if (std::system("ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1") != 0) {
      why_ = "PostgreSQL is not installed (scripts/install-deps.sh installs it)";
      return;
    }
    auto vars = ParseExports(Sh(std::string(DRYDOCK_SOURCE_DIR) + "/scripts/pg/start-pg.sh"));
    dir_ = vars["PG_DIR"];
    url_ = vars["PG_URL"];
    if (url_.empty()) why_ = "start-pg.sh failed";
  }

  std::string dir_, url_, why_;
  int databases_ = 0;
};

}  // namespace drydock::testing
