#include "storage/fs/fs_blob_store.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "storage/testing/blob_store_conformance.h"

namespace berth::storage {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed with everything in it.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = ::testing::TempDir() + "berth-fs-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ~ScopedTempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One directory for the whole run, removed at exit; each factory call gets its own root.
const ScopedTempDir& RunDir() {
  static const ScopedTempDir dir;
  return dir;
}

std::unique_ptr<BlobStore> OpenFreshFsStore() {
  static std::atomic<int> next{0};
  std::string root = RunDir().path() + "/store-" + std::to_string(next++);
  auto store = FsBlobStore::Open(root);
  if (!store.ok()) {
    ADD_FAILURE() << "FsBlobStore::Open(" << root << "): " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(Fs, BlobStoreConformanceTest,
                         ::testing::Values(BlobStoreFactory(&OpenFreshFsStore)));

std::span<const char> Bytes(std::string_view s) { return {s.data(), s.size()}; }

class FsBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    root_ = dir_.path() + "/root";
    auto store = FsBlobStore::Open(root_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }

  ScopedTempDir dir_;
  std::string root_;
  std::unique_ptr<FsBlobStore> store_;
};

TEST_F(FsBlobStoreTest, OpenCreatesLayout) {
  EXPECT_TRUE(fs::is_directory(root_ + "/blobs/sha256"));
  EXPECT_TRUE(fs::is_directory(root_ + "/blobs/sha512"));
  EXPECT_TRUE(fs::is_directory(root_ + "/uploads"));
}

TEST_F(FsBlobStoreTest, OpenCreatesMissingParentsAndIgnoresTrailingSlash) {
  std::string nested = dir_.path() + "/a/b/c/";
  auto store = FsBlobStore::Open(nested);
  ASSERT_TRUE(store.ok()) << store.error().message;
  Digest d = Digest::Sha256Of("x");
  ASSERT_TRUE((*store)->PutSmall(d, "x").ok());
  EXPECT_EQ((*store)->BlobPathForTest(d), dir_.path() + "/a/b/c/blobs/sha256/" +
                                              std::string(d.hex().substr(0, 2)) + "/" +
                                              std::string(d.hex()));
}

TEST_F(FsBlobStoreTest, OpenOnAFileIsUnavailable) {
  std::string file = dir_.path() + "/plain-file";
  std::ofstream(file) << "not a directory";
  auto store = FsBlobStore::Open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable) << store.error().message;
}

TEST_F(FsBlobStoreTest, BlobPathLayout) {
  Digest d = Digest::Sha256Of("layout");
  ASSERT_TRUE(store_->PutSmall(d, "layout").ok());
  std::string hex(d.hex());
  std::string want = root_ + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex;
  EXPECT_EQ(store_->BlobPathForTest(d), want);
  ASSERT_TRUE(fs::is_regular_file(want));
  EXPECT_EQ(fs::file_size(want), 6u);

  Hasher h(DigestAlgorithm::kSha512);
  h.Update(std::string_view("layout"));
  Digest d512 = h.Finish();
  ASSERT_TRUE(store_->PutSmall(d512, "layout").ok());
  std::string hex512(d512.hex());
  EXPECT_TRUE(fs::is_regular_file(root_ + "/blobs/sha512/" + hex512.substr(0, 2) + "/" + hex512));
}

TEST_F(FsBlobStoreTest, UploadLivesInUploadsDirUntilCommit) {
  ASSERT_TRUE(store_->CreateUpload("u1").ok());
  auto writer = store_->OpenUpload("u1");
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  ASSERT_TRUE((*writer)->Append(Bytes("data")).ok());
  EXPECT_TRUE(fs::is_regular_file(root_ + "/uploads/u1"));
  Digest d = Digest::Sha256Of("data");
  ASSERT_TRUE(store_->Commit("u1", d).ok());
  EXPECT_FALSE(fs::exists(root_ + "/uploads/u1"));
  EXPECT_TRUE(fs::is_regular_file(store_->BlobPathForTest(d)));
}

TEST_F(FsBlobStoreTest, ZeroCopyFdServesTheBlob) {
  std::string content = "zero copy content";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(store_->PutSmall(d, content).ok());
  auto reader = store_->Open(d);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  int fd = (*reader)->ZeroCopyFd();
  ASSERT_GE(fd, 0);
  std::string buf(content.size(), '\0');
  ASSERT_EQ(::pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(content.size()));
  EXPECT_EQ(buf, content);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), content.size());
}

TEST_F(FsBlobStoreTest, ZeroCopyFdSurvivesDelete) {
  std::string content = "still readable";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(store_->PutSmall(d, content).ok());
  auto reader = store_->Open(d);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  ASSERT_TRUE(store_->Delete(d).ok());
  EXPECT_FALSE(fs::exists(store_->BlobPathForTest(d)));
  std::string buf(content.size(), '\0');
  ASSERT_EQ(::pread((*reader)->ZeroCopyFd(), buf.data(), buf.size(), 0),
            static_cast<ssize_t>(content.size()));
  EXPECT_EQ(buf, content);
}

TEST_F(FsBlobStoreTest, ReopenSeesBlobsAndUploads) {
  Digest d = Digest::Sha256Of("persisted");
  ASSERT_TRUE(store_->PutSmall(d, "persisted").ok());
  ASSERT_TRUE(store_->CreateUpload("pending").ok());
  {
    auto writer = store_->OpenUpload("pending");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Bytes("half")).ok());
  }
  store_.reset();

  auto reopened = FsBlobStore::Open(root_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  auto small = (*reopened)->ReadSmall(d, 100);
  ASSERT_TRUE(small.ok()) << small.error().message;
  EXPECT_EQ(*small, "persisted");
  auto writer = (*reopened)->OpenUpload("pending");
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  EXPECT_EQ((*writer)->size(), 4u);
}

TEST_F(FsBlobStoreTest, RejectsUploadIdsOutsideTheAlphabet) {
  for (const std::string& id : std::vector<std::string>{"", "A", "a_b", "../escape", "a/b",
                                                        ".hidden", std::string(129, 'a')}) {
    SCOPED_TRACE(id);
    EXPECT_FALSE(store_->CreateUpload(id).ok());
    auto opened = store_->OpenUpload(id);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, Errc::kNotFound);
    EXPECT_FALSE(store_->DeleteUpload(id).ok());
    EXPECT_FALSE(store_->Commit(id, Digest::Sha256Of("")).ok());
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/escape"));
  EXPECT_FALSE(fs::exists(root_ + "/escape"));
}

// A crash inside PutSmall leaves uploads/put-<random> behind. The header promises such
// leftovers are garbage the registry purges, and the registry can only purge through this
// interface: every name ListUploads reports must be removable with DeleteUpload.
TEST_F(FsBlobStoreTest, CrashLeftoverOfPutSmallCanBePurged) {
  std::ofstream(root_ + "/uploads/put-0123456789abcdef") << "half a manifest";
  ASSERT_TRUE(store_->CreateUpload("live").ok());
  auto uploads = store_->ListUploads();
  ASSERT_TRUE(uploads.ok()) << uploads.error().message;
  for (const auto& [id, stat] : *uploads) {
    Status s = store_->DeleteUpload(id);
    EXPECT_TRUE(s.ok()) << "DeleteUpload(\"" << id << "\"): " << s.error().message;
  }
  EXPECT_TRUE(fs::is_empty(root_ + "/uploads")) << "uploads/ still holds files";
}

TEST_F(FsBlobStoreTest, ListSkipsStrayFiles) {
  Digest d = Digest::Sha256Of("real");
  ASSERT_TRUE(store_->PutSmall(d, "real").ok());
  fs::create_directories(root_ + "/blobs/sha256/zz");
  std::ofstream(root_ + "/blobs/sha256/zz/not-a-digest") << "junk";
  std::ofstream(root_ + "/blobs/sha256/" + std::string(d.hex().substr(0, 2)) + "/.tmp") << "x";
  int calls = 0;
  ASSERT_TRUE(store_
                  ->List([&](const Digest& got, const BlobStat& st) {
                    ++calls;
                    EXPECT_EQ(got, d);
                    EXPECT_EQ(st.size, 4u);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace berth::storage
