#include "storage/pg_db.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace drydock::storage::internal {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Code CodeFor(const std::string& sqlstate) {
  if (sqlstate == kPgUniqueViolation) return Code::kAlreadyExists;
  if (sqlstate == kPgSerializationFailure || sqlstate == kPgDeadlock) return Code::kConflict;
  // Class 08: connection exceptions; 57P0x: the server is shutting down.
  if (sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0) return Code::kUnavailable;
  return Code::kInternal;
}

bool Retryable(const Status& s) { return s.code() == Code::kConflict; }

bool Succeeded(PGresult* r) {
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (!conn) return Status(Code::kUnavailable, "PostgreSQL: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Status(Code::kUnavailable, "PostgreSQL: cannot connect: " + why);
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return lost_ || PQstatus(conn_) != CONNECTION_OK; }

Status PgConnection::Failed(PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  // No SQLSTATE: libpq's own failure, i.e. the connection is gone (the
  // server restarted); called 08006 here, and the pool drops it.
  sqlstate_ = state ? state : "08006";
  if (!state) lost_ = true;
  std::string why = Trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (why.empty()) why = Trimmed(PQerrorMessage(conn_));
  return Status(CodeFor(sqlstate_),
                "PostgreSQL: " + why + (sqlstate_.empty() ? "" : " (SQLSTATE " + sqlstate_ + ")"));
}

Result<PgRows> PgConnection::Exec(const std::string& sql, const std::vector<PgValue>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  ResultPtr r;
  if (params.empty()) {
    // The simple protocol: it takes several statements at once (schema
    // migrations, session settings).
    r.reset(PQexec(conn_, sql.c_str()));
  } else {
    // Each statement is parsed and planned once per connection: the same
    // few statements run over and over.
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "dd" + std::to_string(prepared_.size());
      ResultPtr made(
          PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(values.size()), nullptr));
      if (!Succeeded(made.get())) return Failed(made.get());
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    r.reset(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                           values.data(), nullptr, nullptr, 0));
  }
  if (!Succeeded(r.get())) return Failed(r.get());
  sqlstate_.clear();
  ++successes_;
  PgRows out;
  const char* affected = PQcmdTuples(r.get());
  out.affected = affected && *affected ? std::stoll(affected) : 0;
  int rows = PQntuples(r.get()), cols = PQnfields(r.get());
  out.rows.resize(static_cast<size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    auto& row = out.rows[static_cast<size_t>(i)];
    row.reserve(static_cast<size_t>(cols));
    for (int j = 0; j < cols; ++j) {
      if (PQgetisnull(r.get(), i, j))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string(PQgetvalue(r.get(), i, j),
                                     static_cast<size_t>(PQgetlength(r.get(), i, j))));
    }
  }
  return out;
}

Result<std::vector<std::string>> PgConnection::WaitForNotifications(int timeout_ms) {
  std::vector<std::string> channels;
  auto drain = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      channels.emplace_back(n->relname);
      PQfreemem(n);
    }
  };
  drain();
  if (!channels.empty()) return channels;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  if (pfd.fd < 0) return Status(Code::kUnavailable, "PostgreSQL: the connection is closed");
  int ready = ::poll(&pfd, 1, timeout_ms);
  if (ready < 0 && errno != EINTR)
    return Status(Code::kUnavailable, std::string("PostgreSQL: poll: ") + std::strerror(errno));
  if (ready > 0 && (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK)) {
    lost_ = true;
    return Status(Code::kUnavailable,
                  "PostgreSQL: the connection was lost: " + Trimmed(PQerrorMessage(conn_)));
  }
  drain();
  return channels;
}

Status InTransaction(PgConnection& c, const std::function<Status(PgConnection&)>& fn,
                     Isolation isolation, int attempts) {
  const char* begin_sql = isolation == Isolation::kSerializable
                              ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                              : "BEGIN ISOLATION LEVEL READ COMMITTED";
  Status last = Status::Ok();
  for (int i = 0; i < attempts; ++i) {
    auto begin = c.Exec(begin_sql);
    if (!begin.ok()) return begin.status();
    last = fn(c);
    if (last.ok()) {
      auto commit = c.Exec("COMMIT");
      if (commit.ok()) return Status::Ok();
      last = commit.status();  // a failed COMMIT has rolled back
    } else {
      (void)c.Exec("ROLLBACK");
    }
    if (!Retryable(last)) return last;
    // The winner of the conflict is usually done within a few ms: back off
    // a little more each time, with jitter, so the losers don't collide again.
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (i + 1) + ::random() % 1000));
  }
  return Status(last.code(),
                last.message() + " (gave up after " + std::to_string(attempts) + " attempts)");
}

Result<PgPool::Lease> PgPool::Acquire() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  ++open_;
  lock.unlock();
  auto c = PgConnection::Connect(url_);
  if (c.ok() && !setup_.empty()) {
    auto set = (*c)->Exec(setup_);
    if (!set.ok()) c = set.status();
  }
  if (!c.ok()) {
    std::lock_guard relock(mu_);
    --open_;
    freed_.notify_one();
    return c.status();
  }
  return Lease(this, std::move(*c));
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<PgConnection>> old;
  {
    std::lock_guard lock(mu_);
    old.swap(idle_);
    open_ -= static_cast<int>(old.size());
    freed_.notify_all();
  }
}

void PgPool::Return(std::unique_ptr<PgConnection> c) {
  std::lock_guard lock(mu_);
  if (c->broken())
    --open_;  // its replacement is opened by the next Acquire
  else
    idle_.push_back(std::move(c));
  freed_.notify_one();
}

}  // namespace drydock::storage::internal
