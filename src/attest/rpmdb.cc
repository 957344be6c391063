#include "attest/rpmdb.h"

#include <rpm/header.h>
#include <rpm/rpmtag.h>
#include <sqlite3.h>

#include <cstring>
#include <memory>
#include <string>

namespace drydock::attest::internal {
namespace {

// Bounds on what a hostile database can make us do: rows read, and SQLite
// virtual machine steps (a "Packages" view over a recursive query would
// otherwise run for ever).
constexpr int kMaxPackages = 100000;
constexpr int kProgressSteps = 1000;
constexpr int kMaxProgressCalls = 100000;  // 10^8 steps

struct HeaderFree {
  void operator()(Header h) const { headerFree(h); }
};
using UniqueHeader = std::unique_ptr<std::remove_pointer_t<Header>, HeaderFree>;
struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

std::string Text(Header h, rpmTagVal tag) {
  const char* s = headerGetString(h, tag);
  return s ? s : "";
}

// A database in memory: rpm leaves its file in WAL mode, which SQLite
// opens from memory only as a rollback-journal database (header bytes
// 18 and 19). Null when SQLite refuses the bytes.
std::unique_ptr<sqlite3, DbClose> OpenInMemory(std::string_view bytes) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    return nullptr;
  }
  std::unique_ptr<sqlite3, DbClose> db(raw);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  auto* copy = static_cast<unsigned char*>(sqlite3_malloc64(bytes.size()));
  if (!copy) return nullptr;
  std::memcpy(copy, bytes.data(), bytes.size());
  if (bytes.size() > 19 && copy[18] == 2 && copy[19] == 2) copy[18] = copy[19] = 1;
  // Freed by SQLite, even when it refuses the bytes.
  if (sqlite3_deserialize(raw, "main", copy, static_cast<sqlite3_int64>(bytes.size()),
                          static_cast<sqlite3_int64>(bytes.size()),
                          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
      SQLITE_OK)
    return nullptr;
  return db;
}

}  // namespace

bool ReadRpmHeader(std::string_view blob, Package& out) {
  if (blob.empty() || blob.size() > (64u << 20)) return false;
  // HEADERIMPORT_COPY: librpm copies the blob, then checks every index
  // entry against its size (no HEADERIMPORT_FAST).
  UniqueHeader h(headerImport(const_cast<char*>(blob.data()), static_cast<unsigned>(blob.size()),
                              HEADERIMPORT_COPY));
  if (!h) return false;
  Package p;
  p.type = "rpm";
  p.name = Text(h.get(), RPMTAG_NAME);
  if (p.name.empty() || p.name == "gpg-pubkey") return false;
  std::string version = Text(h.get(), RPMTAG_VERSION), release = Text(h.get(), RPMTAG_RELEASE);
  p.version = version + (release.empty() ? "" : "-" + release);
  if (headerIsEntry(h.get(), RPMTAG_EPOCH))
    p.version = std::to_string(headerGetNumber(h.get(), RPMTAG_EPOCH)) + ":" + p.version;
  p.arch = Text(h.get(), RPMTAG_ARCH);
  p.source = Text(h.get(), RPMTAG_SOURCERPM);  // "glibc-2.38-1.fc39.src.rpm"
  p.license = Text(h.get(), RPMTAG_LICENSE);
  out = std::move(p);
  return true;
}

void ReadRpmSqlite(std::string_view bytes, std::vector<Package>& out) {
  if (bytes.empty()) return;
  auto db = OpenInMemory(bytes);
  if (!db) return;
  int calls = 0;
  sqlite3_progress_handler(
      db.get(), kProgressSteps,
      [](void* n) { return ++*static_cast<int*>(n) > kMaxProgressCalls ? 1 : 0; }, &calls);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), "SELECT blob FROM Packages", -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return;
  }
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt(raw);
  for (int rows = 0; rows < kMaxPackages && sqlite3_step(raw) == SQLITE_ROW; ++rows) {
    const void* blob = sqlite3_column_blob(raw, 0);
    int size = sqlite3_column_bytes(raw, 0);
    Package p;
    if (blob && size > 0 &&
        ReadRpmHeader({static_cast<const char*>(blob), static_cast<size_t>(size)}, p))
      out.push_back(std::move(p));
  }
}

}  // namespace drydock::attest::internal
