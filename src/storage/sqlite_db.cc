#include "storage/sqlite_db.h"

namespace drydock::storage::sqlite {

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT) return Status(Code::kConflict, conn_->Error());
  return Internal("sqlite: " + conn_->Error());
}

Status Stmt::Run() {
  while (true) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Internal("open " + path + ": " + msg);
  }
  std::unique_ptr<Connection> c(new Connection(db));
  sqlite3_busy_timeout(db, 30000);
  // WAL: readers never block the writer; synchronous=FULL so an
  // acknowledged push survives power loss, not just a process kill.
  DD_RETURN_IF_ERROR(
      c->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return c;
}

Connection::~Connection() {
  for (auto& [_, s] : cache_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Result<std::unique_ptr<Stmt>> Connection::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      return Internal(std::string("prepare: ") + sqlite3_errmsg(db_) + " in: " + sql);
    }
    it = cache_.emplace(sql, s).first;
  }
  return std::make_unique<Stmt>(this, it->second);
}

Status Connection::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Internal("sqlite: " + msg);
  }
  return Status::Ok();
}

Transaction::Transaction(Connection& c) : c_(c), begin_(c.Exec("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  // A failed ROLLBACK leaves nothing committed: SQLite rolls back on close too.
  if (begin_.ok() && !done_) (void)c_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
  done_ = true;
  return c_.Exec("COMMIT");
}

Result<Pool::Lease> Pool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto c = Connection::Open(path_);
  if (!c.ok()) return c.status();
  return Lease(this, std::move(*c));
}

void Pool::Release(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 32) idle_.push_back(std::move(c));
}

}  // namespace drydock::storage::sqlite
