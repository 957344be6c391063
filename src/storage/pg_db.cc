#include "storage/pg_db.h"

#include <libpq-fe.h>

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

Result<PgRows> PgConnection::Exec(const std::string& sql, const std::vector<PgValue>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  ResultPtr r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0));
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    // No SQLSTATE: libpq's own failure, i.e. the connection is gone (the
    // server restarted); called 08006 here, and the pool drops it.
    sqlstate_ = state ? state : "08006";
    if (!state) lost_ = true;
    std::string why = Trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_));
    if (why.empty()) why = Trimmed(PQerrorMessage(conn_));
    return Status(
        CodeFor(sqlstate_),
        "PostgreSQL: " + why + (sqlstate_.empty() ? "" : " (SQLSTATE " + sqlstate_ + ")"));
  }
  sqlstate_.clear();
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

Status InTransaction(PgConnection& c, const std::function<Status(PgConnection&)>& fn,
                     int attempts) {
  Status last = Status::Ok();
  for (int i = 0; i < attempts; ++i) {
    auto begin = c.Exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
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
  if (!c.ok()) {
    std::lock_guard relock(mu_);
    --open_;
    freed_.notify_one();
    return c.status();
  }
  return Lease(this, std::move(*c));
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
