// PostgresStore against a real server: the MetadataStore conformance suite, plus what only
// PostgreSQL shows (concurrent migration, pool exhaustion, concurrent writers on several
// connections).
//
// BERTH_TEST_PG holds the conninfo (keyword form) of a server this test may create databases
// on; test/pg/with-postgres.sh starts one on loopback and sets it. Every store gets a database
// of its own, created from template0.
#include "meta/postgres/postgres_store.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "base/digest.h"
#include "meta/testing/metadata_store_conformance.h"

namespace berth::meta {
namespace {

using PgConnPtr = std::unique_ptr<PGconn, void (*)(PGconn*)>;
using PgResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

std::string ServerConninfo() {
  const char* v = std::getenv("BERTH_TEST_PG");
  return v != nullptr ? v : "";
}

// A direct libpq connection for test setup and inspection.
PgConnPtr Connect(const std::string& conninfo) {
  PgConnPtr c(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) {
    ADD_FAILURE() << "connect " << conninfo << ": " << PQerrorMessage(c.get());
  }
  return c;
}

// Runs `sql`; returns the first column of the first row (empty if none).
std::string Query(PGconn* c, const std::string& sql) {
  PgResultPtr r(PQexec(c, sql.c_str()), &PQclear);
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r.get());
    return "";
  }
  if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0) {
    return PQgetvalue(r.get(), 0, 0);
  }
  return "";
}

// Creates an empty database and returns the conninfo that reaches it.
std::string FreshDatabase() {
  static std::atomic<int> next{0};
  std::string server = ServerConninfo();
  if (server.empty()) {
    ADD_FAILURE() << "BERTH_TEST_PG is not set: run this test through test/pg/with-postgres.sh "
                     "(ctest does)";
    return "";
  }
  std::string name = "berth_t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
  PgConnPtr admin = Connect(server);
  Query(admin.get(), "CREATE DATABASE " + name + " TEMPLATE template0 ENCODING 'UTF8'");
  return server + " dbname=" + name;  // a later keyword overrides an earlier one
}

Result<std::unique_ptr<MetadataStore>> Open(
    const std::string& conninfo, int pool_size = 4,
    std::chrono::milliseconds acquire_timeout = std::chrono::milliseconds(10000)) {
  PostgresOptions options;
  options.conninfo = conninfo;
  options.pool_size = pool_size;
  options.acquire_timeout = acquire_timeout;
  return OpenPostgresStore(options);
}

std::unique_ptr<MetadataStore> OpenFreshPostgresStore() {
  std::string conninfo = FreshDatabase();
  if (conninfo.empty()) {
    return nullptr;
  }
  auto store = Open(conninfo);
  if (!store.ok()) {
    ADD_FAILURE() << "OpenPostgresStore: " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(Postgres, MetadataStoreConformanceTest,
                         ::testing::Values(MetadataStoreFactory(&OpenFreshPostgresStore)));

std::string DigestOf(std::string_view content) { return Digest::Sha256Of(content).str(); }

ManifestRecord Manifest(const std::string& body) {
  ManifestRecord m;
  m.body = body;
  m.digest = DigestOf(body);
  m.media_type = "application/vnd.oci.image.manifest.v1+json";
  m.size = body.size();
  m.pushed_at = 1700000000;
  return m;
}

TEST(PostgresStoreTest, ReopeningKeepsData) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  ManifestRecord m = Manifest(std::string("{\"schemaVersion\":2}\0\xff", 22));
  std::string layer = DigestOf("layer");
  {
    auto store = Open(db);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->PutBlobLink("r", layer, 5, 1).ok());
    ASSERT_TRUE((*store)->PutManifest("r", m, {{layer, false}}, "latest", false, 1).ok());
  }
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    auto store = Open(db);
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto tagged = (*store)->GetTaggedManifest("r", "latest");
    ASSERT_TRUE(tagged.ok()) << tagged.error().message;
    EXPECT_EQ(tagged->body, m.body);  // bytes, NUL and 0xff included
  }
  PgConnPtr c = Connect(db);
  EXPECT_EQ(Query(c.get(), "SELECT count(*) FROM schema_version"), "1");
}

TEST(PostgresStoreTest, ConcurrentFirstStartsMigrateOnce) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  constexpr int kNodes = 4;
  std::vector<std::optional<Result<std::unique_ptr<MetadataStore>>>> stores(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] { stores[i].emplace(Open(db)); });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(stores[i]->ok()) << i << ": " << stores[i]->error().message;
    EXPECT_TRUE((**stores[i])->PutSetting("node" + std::to_string(i), "up").ok());
  }
  PgConnPtr c = Connect(db);
  // Each version recorded exactly once.
  EXPECT_EQ(Query(c.get(), "SELECT count(*) = count(DISTINCT version) FROM schema_version"), "t");
  EXPECT_EQ(Query(c.get(), "SELECT count(*) FROM settings"), std::to_string(kNodes));
}

TEST(PostgresStoreTest, RefusesNewerSchema) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  ASSERT_TRUE(Open(db).ok());
  PgConnPtr c = Connect(db);
  Query(c.get(), "INSERT INTO schema_version(version) VALUES(1000000)");
  auto store = Open(db);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kInternal);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

TEST(PostgresStoreTest, MalformedConninfoIsInvalidArgument) {
  auto store = Open("host=127.0.0.1 no_such_option=1");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kInvalidArgument) << store.error().message;
}

TEST(PostgresStoreTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto store = Open("host=127.0.0.1 port=1 dbname=x connect_timeout=5");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable) << store.error().message;
}

TEST(PostgresStoreTest, ExhaustedPoolIsUnavailableAfterTimeout) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  auto opened = Open(db, /*pool_size=*/1, std::chrono::milliseconds(300));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  MetadataStore& store = **opened;
  ASSERT_TRUE(store.PutSetting("k", "v0").ok());

  // Another session locks the table: a write through the store then holds its only
  // connection while it waits for the lock.
  PgConnPtr locker = Connect(db);
  Query(locker.get(), "BEGIN");
  Query(locker.get(), "LOCK TABLE settings IN ACCESS EXCLUSIVE MODE");
  Status blocked_write;
  std::thread writer([&] { blocked_write = store.PutSetting("k", "v1"); });
  PgConnPtr watcher = Connect(db);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Query(watcher.get(),
               "SELECT count(*) FROM pg_stat_activity WHERE datname = "
               "current_database() AND wait_event_type = 'Lock'") != "1") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer never blocked";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  auto read = store.GetSetting("k");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::kUnavailable) << read.error().message;

  Query(locker.get(), "COMMIT");
  writer.join();
  EXPECT_TRUE(blocked_write.ok()) << blocked_write.error().message;
  auto after = store.GetSetting("k");
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(*after, "v1");
}

// The server drops every connection (a restart or failover looks the same to libpq): pooled
// connections found dead are replaced, so the next reads and writes succeed.
TEST(PostgresStoreTest, ReconnectsAfterServerDropsConnections) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  auto opened = Open(db, /*pool_size=*/2);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  MetadataStore& store = **opened;
  ASSERT_TRUE(store.PutSetting("k", "v0").ok());
  // Concurrent reads, so that usually both pooled connections are open (and then idle).
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(store.GetSetting("k").ok());
      }
    });
  }
  for (auto& t : readers) {
    t.join();
  }

  PgConnPtr admin = Connect(db);
  EXPECT_NE(Query(admin.get(),
                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid()"),
            "0");
  auto read = store.GetSetting("k");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, "v0");

  Query(admin.get(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
        "current_database() AND pid <> pg_backend_pid()");
  Status write = store.PutSetting("k", "v1");
  ASSERT_TRUE(write.ok()) << write.error().message;
  EXPECT_EQ(*store.GetSetting("k"), "v1");
}

// Several nodes' worth of connections move one tag and push under an immutable tag at once:
// every call succeeds or fails with its documented code, the immutable tag has exactly one
// winner, and every tag points at a stored manifest.
TEST(PostgresStoreTest, ConcurrentTagMovesAndPushesKeepInvariants) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  auto opened = Open(db, /*pool_size=*/8);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  MetadataStore& store = **opened;
  std::string layer = DigestOf("shared layer");
  ASSERT_TRUE(store.PutBlobLink("r", layer, 12, 1).ok());

  constexpr int kThreads = 8;
  constexpr int kRounds = 25;
  std::atomic<int> immutable_wins{0};
  std::atomic<int> failures{0};
  std::vector<std::string> winner(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        ManifestRecord m =
            Manifest("{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}");
        Status s = store.PutManifest("r", m, {{layer, false}}, "latest", false, 1 + i);
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << "move latest: " << s.error().message;
        }
      }
      ManifestRecord mine = Manifest("{\"fixed\":" + std::to_string(t) + "}");
      Status s = store.PutManifest("r", mine, {{layer, false}}, "fixed", true, 100);
      if (s.ok()) {
        ++immutable_wins;
        winner[t] = mine.digest;
      } else if (s.error().code != Errc::kTagImmutable) {
        ++failures;
        ADD_FAILURE() << "push fixed: " << ErrcName(s.error().code) << " " << s.error().message;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(immutable_wins.load(), 1);
  auto fixed = store.GetTag("r", "fixed");
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_NE(std::find(winner.begin(), winner.end(), *fixed), winner.end());

  auto images = store.ListImages("r");
  ASSERT_TRUE(images.ok()) << images.error().message;
  // Every `latest` push stored its manifest; of the `fixed` pushes only the winner's (a
  // refused push changes nothing).
  EXPECT_EQ(images->size(), size_t{kThreads * kRounds + 1});
  int latest = 0;
  for (const auto& im : *images) {
    for (const auto& tag : im.tags) {
      latest += tag == "latest";
    }
  }
  EXPECT_EQ(latest, 1);
  auto tagged = store.GetTaggedManifest("r", "latest");
  EXPECT_TRUE(tagged.ok());
}

// A push racing a non-forced repository delete: either the delete refuses (the image is
// there) or it wins and the push then fails for want of its blob link — never a manifest
// whose blob link the delete removed.
TEST(PostgresStoreTest, PushRacingRepositoryDeleteLeavesNoDanglingManifest) {
  std::string db = FreshDatabase();
  ASSERT_FALSE(db.empty());
  auto opened = Open(db, /*pool_size=*/4);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  MetadataStore& store = **opened;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    std::string repo = "race" + std::to_string(round);
    std::string layer = DigestOf("layer" + std::to_string(round));
    ASSERT_TRUE(store.PutBlobLink(repo, layer, 6, 1).ok());
    ManifestRecord m = Manifest("{\"round\":" + std::to_string(round) + "}");
    Status push;
    Status del;
    std::thread a([&] { push = store.PutManifest(repo, m, {{layer, false}}, "v1", false, 2); });
    std::thread b([&] { del = store.DeleteRepository(repo, /*force=*/false); });
    a.join();
    b.join();
    if (push.ok()) {
      if (del.ok()) {
        ADD_FAILURE() << "both the push and the delete of a non-empty repository succeeded";
      } else {
        EXPECT_EQ(del.error().code, Errc::kPreconditionFailed) << del.error().message;
      }
      EXPECT_TRUE(store.GetBlobLink(repo, layer).ok());
      EXPECT_TRUE(store.GetManifest(repo, m.digest).ok());
    } else {
      EXPECT_EQ(push.error().code, Errc::kManifestBlobUnknown) << push.error().message;
      EXPECT_TRUE(del.ok()) << del.error().message;
      EXPECT_FALSE(store.GetManifest(repo, m.digest).ok());
    }
  }
}

}  // namespace
}  // namespace berth::meta
