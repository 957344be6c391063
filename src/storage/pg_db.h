// PostgreSQL through libpq, as the PostgreSQL metadata store uses it:
// parameterised statements with text values, errors as Status naming the
// SQLSTATE, transactions retried on serialization failures and deadlocks,
// and a pool that replaces connections a server restart broke. Internal
// to storage/.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

struct pg_conn;
struct pg_result;

namespace drydock::storage::internal {

using PgValue = std::optional<std::string>;  // nullopt: SQL NULL

struct PgRows {
  std::vector<std::vector<PgValue>> rows;
  int64_t affected = 0;  // rows an INSERT/UPDATE/DELETE touched
};

// SQLSTATE classes callers act on.
inline constexpr const char* kPgSerializationFailure = "40001";
inline constexpr const char* kPgDeadlock = "40P01";
inline constexpr const char* kPgUniqueViolation = "23505";

class PgConnection {
 public:
  // `url`: a libpq URI or key=value string. kUnavailable when the server
  // cannot be reached.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& url);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` with $1, $2… bound to `params` (without params, `sql` may
  // hold several statements; the last one's rows come back). Errors: kAlreadyExists for a
  // unique violation, kConflict for a serialization failure or deadlock,
  // kUnavailable when the connection is lost, kInternal otherwise; the
  // message names the SQLSTATE.
  Result<PgRows> Exec(const std::string& sql, const std::vector<PgValue>& params = {});
  // Waits up to `timeout_ms` for notifications on channels this connection
  // LISTENs to; returns their channels (empty after a quiet wait).
  // kUnavailable when the connection is lost.
  Result<std::vector<std::string>> WaitForNotifications(int timeout_ms);
  // The SQLSTATE of the last failed Exec ("" after a success).
  const std::string& last_sqlstate() const { return sqlstate_; }
  bool broken() const;
  // How many Execs succeeded on this connection: a caller whose first
  // statement failed on a broken connection knows nothing was applied.
  int64_t successes() const { return successes_; }

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  // The error of a failed result (nullptr: libpq's own failure).
  Status Failed(pg_result* r);

  pg_conn* conn_;
  std::map<std::string, std::string> prepared_;  // statement text -> its name
  std::string sqlstate_;
  bool lost_ = false;
  int64_t successes_ = 0;
};

enum class Isolation {
  kSerializable,
  // For queue claims: SELECT … FOR UPDATE SKIP LOCKED re-checks each row it
  // locks, where a serializable snapshot would fail on every claimed row.
  kReadCommitted,
};

// Runs `fn` inside BEGIN ISOLATION LEVEL … COMMIT; a serialization
// failure or deadlock (in `fn` or at COMMIT) rolls back and runs `fn`
// again, up to `attempts` times. Any other error rolls back and is returned.
Status InTransaction(PgConnection& c, const std::function<Status(PgConnection&)>& fn,
                     Isolation isolation = Isolation::kSerializable, int attempts = 16);

// Up to `size` connections to one server, handed out one at a time.
class PgPool {
 public:
  // `setup`: statements run on each new connection (session settings).
  PgPool(std::string url, int size, std::string setup = "")
      : url_(std::move(url)), size_(size), setup_(std::move(setup)) {}

  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (c_) pool_->Return(std::move(c_));
    }
    PgConnection* operator->() { return c_.get(); }
    PgConnection& operator*() { return *c_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> c_;
  };

  // Waits for a free connection; opens one when fewer than `size` exist.
  Result<Lease> Acquire();
  // Closes the idle connections: after one turned out broken, the others
  // (as old) most likely are too.
  void DropIdle();

 private:
  // A broken connection (the server restarted) is dropped, not reused.
  void Return(std::unique_ptr<PgConnection> c);

  std::string url_;
  int size_;
  std::string setup_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  int open_ = 0;
};

}  // namespace drydock::storage::internal
