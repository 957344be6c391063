// storage/pg_db against a real PostgreSQL (scripts/pg/start-pg.sh).
#include "storage/pg_db.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_postgres.h"

namespace drydock::storage::internal {
namespace {

class PgDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = testing::LocalPostgres::Get();
    DD_SKIP_UNLESS(pg.ok(), pg.why());
    c_ = Connect();
    ASSERT_NE(c_, nullptr);
    table_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter_);
    ASSERT_TRUE(c_->Exec("CREATE TABLE " + table_ + "(k TEXT PRIMARY KEY, v TEXT, n BIGINT)").ok());
  }
  std::unique_ptr<PgConnection> Connect() {
    auto c = PgConnection::Connect(testing::LocalPostgres::Get().url());
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static inline int counter_ = 0;
  std::unique_ptr<PgConnection> c_;
  std::string table_;
};

TEST_F(PgDbTest, ParametersAreValuesNeverSql) {
  std::string hostile = "x'); DROP TABLE " + table_ + "; --\xc3\xa9";
  auto ins = c_->Exec("INSERT INTO " + table_ + " VALUES($1, $2, $3)", {"a", hostile, "7"});
  ASSERT_TRUE(ins.ok()) << ins.status().message();
  EXPECT_EQ(ins->affected, 1);
  ASSERT_TRUE(
      c_->Exec("INSERT INTO " + table_ + " VALUES($1, $2, NULL)", {"b", std::nullopt}).ok());
  auto rows = c_->Exec("SELECT k, v, n FROM " + table_ + " ORDER BY k");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->rows.size(), 2u);
  EXPECT_EQ(rows->rows[0][1], hostile);
  EXPECT_EQ(rows->rows[0][2], "7");
  EXPECT_EQ(rows->rows[1][1], std::nullopt);
  EXPECT_EQ(rows->rows[1][2], std::nullopt);
}

TEST_F(PgDbTest, ErrorsNameTheSqlstate) {
  ASSERT_TRUE(c_->Exec("INSERT INTO " + table_ + " VALUES('a', 'x', 1)").ok());
  auto dup = c_->Exec("INSERT INTO " + table_ + " VALUES('a', 'y', 2)");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_NE(dup.status().message().find("duplicate key"), std::string::npos)
      << dup.status().message();
  EXPECT_NE(dup.status().message().find("SQLSTATE 23505"), std::string::npos);
  auto bad = c_->Exec("SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInternal);
  EXPECT_NE(bad.status().message().find("syntax error"), std::string::npos);
  EXPECT_TRUE(c_->Exec("SELECT 1").ok()) << "the connection is still usable";
}

// Two serializable read-then-write transactions on the same row: the one
// that loses is rolled back and run again, and sees the winner's write.
TEST_F(PgDbTest, SerializationFailuresAreRetried) {
  ASSERT_TRUE(c_->Exec("INSERT INTO " + table_ + " VALUES('counter', NULL, 0)").ok());
  auto other = Connect();
  ASSERT_NE(other, nullptr);
  int attempts = 0;
  Status s = InTransaction(*c_, [&](PgConnection& c) -> Status {
    ++attempts;
    DD_ASSIGN_OR_RETURN(read, c.Exec("SELECT n FROM " + table_ + " WHERE k='counter'"));
    if (attempts == 1) {  // another server's increment commits in between
      DD_RETURN_IF_ERROR(InTransaction(*other, [&](PgConnection& o) -> Status {
        auto r = o.Exec("UPDATE " + table_ + " SET n = n + 1 WHERE k='counter'");
        return r.ok() ? Status::Ok() : r.status();
      }));
    }
    auto w = c.Exec("UPDATE " + table_ + " SET n = $1 WHERE k='counter'",
                    {std::to_string(std::stoll(*read.rows.at(0).at(0)) + 1)});
    return w.ok() ? Status::Ok() : w.status();
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(attempts, 2);
  auto n = c_->Exec("SELECT n FROM " + table_ + " WHERE k='counter'");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->rows.at(0).at(0), "2") << "neither increment was lost";
}

TEST_F(PgDbTest, OtherErrorsRollBackAndAreNotRetried) {
  int attempts = 0;
  Status s = InTransaction(*c_, [&](PgConnection& c) -> Status {
    ++attempts;
    auto r = c.Exec("INSERT INTO " + table_ + " VALUES('a', 'x', 1)");
    if (!r.ok()) return r.status();
    return Invalid("the caller changed its mind");
  });
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(attempts, 1);
  auto rows = c_->Exec("SELECT count(*) FROM " + table_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->rows.at(0).at(0), "0") << "the insert was rolled back";
}

// A server restart costs the requests in flight, not the pool: the broken
// connection is dropped and the next one reconnects.
TEST_F(PgDbTest, ThePoolRecoversFromAServerRestart) {
  PgPool pool(testing::LocalPostgres::Get().url(), 2);
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status().message();
    ASSERT_TRUE((*lease)->Exec("SELECT 1").ok());
  }
  c_.reset();
  testing::LocalPostgres::Get().Restart();
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    auto r = (*lease)->Exec("SELECT 1");  // the idle connection died with the server
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  }
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status().message();
  auto r = (*lease)->Exec("SELECT 2");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->rows.at(0).at(0), "2");
  c_ = Connect();  // for TearDown-free cleanup of the table
}

}  // namespace
}  // namespace drydock::storage::internal
