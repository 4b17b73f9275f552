#include "meta/sqlite/sqlite_store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "base/digest.h"
#include "meta/testing/metadata_store_conformance.h"

namespace berth::meta {
namespace {

// A fresh directory under the test temp dir, removed with everything in it.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = ::testing::TempDir() + "berth-sqlite-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ~ScopedTempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One directory for the whole run, removed at exit; each factory call gets its own database.
const ScopedTempDir& RunDir() {
  static const ScopedTempDir dir;
  return dir;
}

std::unique_ptr<MetadataStore> OpenFreshSqliteStore() {
  static std::atomic<int> next{0};
  SqliteOptions options;
  options.path = RunDir().path() + "/meta-" + std::to_string(next++) + ".db";
  auto store = OpenSqliteStore(options);
  if (!store.ok()) {
    ADD_FAILURE() << "OpenSqliteStore(" << options.path << "): " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, MetadataStoreConformanceTest,
                         ::testing::Values(MetadataStoreFactory(&OpenFreshSqliteStore)));

std::string DigestOf(std::string_view content) { return Digest::Sha256Of(content).str(); }

Result<std::unique_ptr<MetadataStore>> Open(const std::string& path, int readers = 2) {
  SqliteOptions options;
  options.path = path;
  options.readers = readers;
  return OpenSqliteStore(options);
}

TEST(SqliteStoreTest, ReopeningKeepsData) {
  ScopedTempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/meta.db";
  ManifestRecord m;
  m.body = "{\"schemaVersion\":2}";
  m.digest = DigestOf(m.body);
  m.media_type = "application/vnd.oci.image.manifest.v1+json";
  m.size = m.body.size();
  m.pushed_at = 1700000000;
  std::string layer = DigestOf("layer");
  {
    auto store = Open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->PutBlobLink("r", layer, 5, 1).ok());
    ASSERT_TRUE(
        (*store)->PutManifest("r", m, {{layer, false}}, "latest", /*protect_tag=*/false, 1).ok());
    ASSERT_TRUE((*store)->CreateUpload({"u1", "r", 1, 2}).ok());
  }
  // Twice: the second open must find the schema current and apply no migration again.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    auto store = Open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto tagged = (*store)->GetTaggedManifest("r", "latest");
    ASSERT_TRUE(tagged.ok()) << tagged.error().message;
    EXPECT_EQ(tagged->digest, m.digest);
    EXPECT_EQ(tagged->body, m.body);
    auto link = (*store)->GetBlobLink("r", layer);
    ASSERT_TRUE(link.ok()) << link.error().message;
    EXPECT_EQ(*link, 5u);
    auto upload = (*store)->GetUpload("u1");
    ASSERT_TRUE(upload.ok()) << upload.error().message;
    EXPECT_EQ(upload->updated_at, 2);
    auto stats = (*store)->Stats();
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    EXPECT_EQ(stats->repositories, 1u);
    EXPECT_EQ(stats->blobs, 1u);
    EXPECT_EQ(stats->manifests, 1u);
    EXPECT_EQ(stats->uploads, 1u);
  }
}

TEST(SqliteStoreTest, ClampsReaderCount) {
  ScopedTempDir dir;
  auto store = Open(dir.path() + "/meta.db", /*readers=*/0);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto exists = (*store)->RepositoryExists("r");
  ASSERT_TRUE(exists.ok()) << exists.error().message;
  EXPECT_FALSE(*exists);
}

TEST(SqliteStoreTest, OpenFailsForUnusablePath) {
  ScopedTempDir dir;
  auto store = Open(dir.path() + "/no/such/dir/meta.db");
  EXPECT_FALSE(store.ok());
}

TEST(SqliteStoreTest, RefusesNewerSchema) {
  ScopedTempDir dir;
  std::string path = dir.path() + "/meta.db";
  {
    auto store = Open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> owner(db, &sqlite3_close);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version(version) VALUES(1000000)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  owner.reset();

  auto store = Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kInternal);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

}  // namespace
}  // namespace berth::meta
