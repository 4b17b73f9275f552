// Upload sessions against the real embedded stores (SQLite + disk) and a fake clock.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "meta/sqlite/sqlite_store.h"
#include "registry/registry.h"
#include "storage/fs/fs_blob_store.h"

namespace berth::registry {
namespace {

namespace asio = boost::asio;

class FakeClock final : public Clock {
 public:
  int64_t NowMillis() const override { return seconds * 1000; }
  std::atomic<int64_t> seconds{1'700'000'000};
};

class UploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-uploads-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto meta = meta::OpenSqliteStore({dir_ + "/meta.db", 1});
    ASSERT_TRUE(meta.ok()) << meta.error().message;
    meta_ = std::move(*meta);
    auto blobs = storage::FsBlobStore::Open(dir_);
    ASSERT_TRUE(blobs.ok()) << blobs.error().message;
    blobs_ = std::move(*blobs);
    meta::RepositoryRecord repo;
    repo.name = "app";
    repo.created_at = clock_.seconds;
    ASSERT_TRUE(meta_->CreateRepository(repo).ok());
    RegistryOptions options;
    options.upload_ttl_seconds = 800;  // activity renewed at most every 100 s
    registry_ = std::make_unique<Registry>(*meta_, *blobs_, pool_, clock_, options);
  }

  void TearDown() override {
    registry_.reset();
    pool_.join();
    std::filesystem::remove_all(dir_);
  }

  template <class T>
  Result<T> Run(Task<T> task) {
    std::optional<Result<T>> out;
    asio::co_spawn(
        pool_, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(task)); },
        asio::use_future)
        .get();
    return std::move(*out);
  }

  // A request on the session: opens it for appending, as every PATCH and PUT does.
  void Touch(const std::string& id) {
    auto writer = Run(registry_->OpenUploadWriter("app", id, std::nullopt));
    ASSERT_TRUE(writer.ok()) << writer.error().message;
  }

  bool Alive(const std::string& id) { return Run(registry_->GetUpload("app", id)).ok(); }

  std::string dir_;
  FakeClock clock_;
  asio::thread_pool pool_{2};
  std::unique_ptr<meta::MetadataStore> meta_;
  std::unique_ptr<storage::FsBlobStore> blobs_;
  std::unique_ptr<Registry> registry_;
};

// Requests renew a session's recorded activity only every ttl/8, so the record may lag the
// last request; expiry must still wait for a whole ttl of real idleness.
TEST_F(UploadsTest, SessionIsNotPurgedBeforeItHasBeenIdleForTheTtl) {
  const int64_t t0 = clock_.seconds;
  auto up = Run(registry_->StartUpload("app"));
  ASSERT_TRUE(up.ok()) << up.error().message;
  clock_.seconds = t0 + 99;  // within the renewal interval: activity stays at t0
  Touch(up->id);

  clock_.seconds = t0 + 99 + 799;  // idle 799 s since the last request
  auto purged = Run(registry_->PurgeExpiredUploads(false));
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(*purged, 0u);
  EXPECT_TRUE(Alive(up->id));

  clock_.seconds = t0 + 1000;  // idle for the ttl plus the renewal interval
  purged = Run(registry_->PurgeExpiredUploads(false));
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(*purged, 1u);
  EXPECT_FALSE(Alive(up->id));
}

TEST_F(UploadsTest, RequestsAfterTheRenewalIntervalKeepTheSessionAlive) {
  const int64_t t0 = clock_.seconds;
  auto up = Run(registry_->StartUpload("app"));
  ASSERT_TRUE(up.ok()) << up.error().message;
  for (int64_t t = t0 + 500; t <= t0 + 5000; t += 500) {
    clock_.seconds = t;
    Touch(up->id);  // every 500 s: renewed each time
    auto purged = Run(registry_->PurgeExpiredUploads(false));
    ASSERT_TRUE(purged.ok()) << purged.error().message;
    EXPECT_EQ(*purged, 0u) << "at t0+" << t - t0;
  }
  EXPECT_TRUE(Alive(up->id));
  clock_.seconds = clock_.seconds + 901;
  auto purged = Run(registry_->PurgeExpiredUploads(false));
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u);
}

}  // namespace
}  // namespace berth::registry
