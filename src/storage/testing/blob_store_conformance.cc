#include "storage/testing/blob_store_conformance.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace berth::storage {
namespace {

template <class R>
::testing::AssertionResult IsOk(const R& r) {
  if (r.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << ErrcName(r.error().code) << ": " << r.error().message;
}

template <class R>
::testing::AssertionResult HasCode(const R& r, Errc code) {
  if (r.ok()) {
    return ::testing::AssertionFailure() << "succeeded; expected " << ErrcName(code);
  }
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << ErrcName(r.error().code) << " (" << r.error().message
                                         << "); expected " << ErrcName(code);
  }
  return ::testing::AssertionSuccess();
}

std::span<const char> Bytes(std::string_view s) { return {s.data(), s.size()}; }

std::string Pattern(size_t n, unsigned seed = 1) { return TestPattern(n, seed); }

Digest Sha512Of(std::string_view content) {
  Hasher h(DigestAlgorithm::kSha512);
  h.Update(content);
  return h.Finish();
}

// Reads a whole blob through ReadAt in `chunk`-sized calls, tolerating short reads.
Result<std::string> ReadAll(BlobReader& reader, size_t chunk = 4096) {
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    BERTH_ASSIGN_OR_RETURN(size_t n, reader.ReadAt(out.size(), std::span<char>(buf)));
    if (n == 0) {
      return out;
    }
    if (n > chunk) {
      return MakeError(Errc::kInternal, "ReadAt returned more than asked");
    }
    out.append(buf.data(), n);
    if (out.size() > reader.size()) {
      return MakeError(Errc::kInternal, "ReadAt read past size()");
    }
  }
}

// Creates an upload holding `content`, appended in pieces of `chunk` bytes.
Status WriteUpload(BlobStore& store, std::string_view id, std::string_view content,
                   size_t chunk = 1 << 16) {
  BERTH_TRY(store.CreateUpload(id));
  BERTH_ASSIGN_OR_RETURN(auto writer, store.OpenUpload(id));
  for (size_t off = 0; off < content.size(); off += chunk) {
    BERTH_TRY(writer->Append(Bytes(content.substr(off, chunk))));
  }
  BERTH_TRY(writer->Flush());
  if (writer->size() != content.size()) {
    return MakeError(Errc::kInternal, "writer size " + std::to_string(writer->size()));
  }
  return Ok{};
}

Result<std::vector<std::pair<std::string, uint64_t>>> Uploads(BlobStore& store) {
  BERTH_ASSIGN_OR_RETURN(auto list, store.ListUploads());
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [id, stat] : list) {
    out.emplace_back(id, stat.size);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::map<std::string, uint64_t>> Blobs(BlobStore& store) {
  std::map<std::string, uint64_t> out;
  bool duplicate = false;
  BERTH_TRY(store.List([&](const Digest& d, const BlobStat& st) {
    duplicate |= !out.emplace(d.str(), st.size).second;
    return true;
  }));
  if (duplicate) {
    return MakeError(Errc::kInternal, "List reported a blob twice");
  }
  return out;
}

// "u<n>". (Built by append: GCC 12 -O3 warns falsely, -Wrestrict, on "literal" + std::string.)
std::string UploadId(int n) {
  std::string id = "u";
  id += std::to_string(n);
  return id;
}

using UploadList = std::vector<std::pair<std::string, uint64_t>>;

}  // namespace

std::string TestPattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

void BlobStoreConformanceTest::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr) << "factory returned no store";
}

void BlobStoreConformanceTest::TearDown() { store_.reset(); }

// --- uploads --------------------------------------------------------------------------------

TEST_P(BlobStoreConformanceTest, NewStoreIsEmpty) {
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_TRUE(uploads->empty());
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_TRUE(blobs->empty());
}

TEST_P(BlobStoreConformanceTest, CreateUploadStartsEmpty) {
  ASSERT_TRUE(IsOk(store().CreateUpload("u1")));
  auto writer = store().OpenUpload("u1");
  ASSERT_TRUE(IsOk(writer));
  EXPECT_EQ((*writer)->size(), 0u);
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_EQ(*uploads, UploadList({{"u1", 0}}));
}

TEST_P(BlobStoreConformanceTest, CreateUploadTwiceIsAlreadyExistsAndKeepsData) {
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", "abc")));
  EXPECT_TRUE(HasCode(store().CreateUpload("u1"), Errc::kAlreadyExists));
  auto writer = store().OpenUpload("u1");
  ASSERT_TRUE(IsOk(writer));
  EXPECT_EQ((*writer)->size(), 3u);
}

TEST_P(BlobStoreConformanceTest, OpenUnknownUploadIsNotFound) {
  EXPECT_TRUE(HasCode(store().OpenUpload("nope"), Errc::kNotFound));
}

TEST_P(BlobStoreConformanceTest, AppendGrowsAndPersistsUpload) {
  ASSERT_TRUE(IsOk(store().CreateUpload("u1")));
  {
    auto writer = store().OpenUpload("u1");
    ASSERT_TRUE(IsOk(writer));
    ASSERT_TRUE(IsOk((*writer)->Append(Bytes("hello"))));
    EXPECT_EQ((*writer)->size(), 5u);
    ASSERT_TRUE(IsOk((*writer)->Append(Bytes(""))));
    EXPECT_EQ((*writer)->size(), 5u);
    ASSERT_TRUE(IsOk((*writer)->Append(Bytes(" world"))));
    EXPECT_EQ((*writer)->size(), 11u);
    ASSERT_TRUE(IsOk((*writer)->Flush()));
  }
  // A new writer (another request of the same session) sees the flushed bytes and appends
  // after them.
  auto writer = store().OpenUpload("u1");
  ASSERT_TRUE(IsOk(writer));
  EXPECT_EQ((*writer)->size(), 11u);
  ASSERT_TRUE(IsOk((*writer)->Append(Bytes("!"))));
  EXPECT_EQ((*writer)->size(), 12u);

  std::string buf(12, '\0');
  auto n = (*writer)->ReadAt(0, std::span<char>(buf));
  ASSERT_TRUE(IsOk(n));
  ASSERT_EQ(*n, 12u);
  EXPECT_EQ(buf, "hello world!");
  ASSERT_TRUE(IsOk((*writer)->Flush()));
  ASSERT_TRUE(IsOk((*writer)->Flush()));  // idempotent
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_EQ(*uploads, UploadList({{"u1", 12}}));
}

TEST_P(BlobStoreConformanceTest, WriterReadAtReadsBackUploadBytes) {
  std::string content = Pattern(10000);
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", content, 999)));
  auto writer = store().OpenUpload("u1");
  ASSERT_TRUE(IsOk(writer));
  std::string buf(100, '\0');
  auto n = (*writer)->ReadAt(5000, std::span<char>(buf));
  ASSERT_TRUE(IsOk(n));
  ASSERT_GT(*n, 0u);
  EXPECT_EQ(buf.substr(0, *n), content.substr(5000, *n));
  // Near the end a read returns at most what is left, and nothing at the end.
  auto tail = (*writer)->ReadAt(content.size() - 10, std::span<char>(buf));
  ASSERT_TRUE(IsOk(tail));
  ASSERT_LE(*tail, 10u);
  ASSERT_GT(*tail, 0u);
  EXPECT_EQ(buf.substr(0, *tail), content.substr(content.size() - 10, *tail));
  auto end = (*writer)->ReadAt(content.size(), std::span<char>(buf));
  ASSERT_TRUE(IsOk(end));
  EXPECT_EQ(*end, 0u);
}

TEST_P(BlobStoreConformanceTest, ListUploadsReportsEverySession) {
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", "abc")));
  ASSERT_TRUE(IsOk(store().CreateUpload("u2")));
  ASSERT_TRUE(IsOk(WriteUpload(store(), "0a-b1", Pattern(5000))));
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_EQ(*uploads, UploadList({{"0a-b1", 5000}, {"u1", 3}, {"u2", 0}}));
}

TEST_P(BlobStoreConformanceTest, DeleteUploadRemovesIt) {
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", "abc")));
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u2", "def")));
  ASSERT_TRUE(IsOk(store().DeleteUpload("u1")));
  EXPECT_TRUE(HasCode(store().OpenUpload("u1"), Errc::kNotFound));
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_EQ(*uploads, UploadList({{"u2", 3}}));
  EXPECT_TRUE(HasCode(store().DeleteUpload("u1"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteUpload("never"), Errc::kNotFound));
  // The id can be used again, starting empty.
  ASSERT_TRUE(IsOk(store().CreateUpload("u1")));
  auto writer = store().OpenUpload("u1");
  ASSERT_TRUE(IsOk(writer));
  EXPECT_EQ((*writer)->size(), 0u);
}

// --- publication ----------------------------------------------------------------------------

TEST_P(BlobStoreConformanceTest, CommitPublishesUploadUnderDigest) {
  std::string content = "some layer content";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", content, 5)));
  EXPECT_TRUE(HasCode(store().Stat(d), Errc::kNotFound));  // nothing before Commit
  ASSERT_TRUE(IsOk(store().Commit("u1", d)));

  auto stat = store().Stat(d);
  ASSERT_TRUE(IsOk(stat));
  EXPECT_EQ(stat->size, content.size());
  auto reader = store().Open(d);
  ASSERT_TRUE(IsOk(reader));
  EXPECT_EQ((*reader)->size(), content.size());
  auto read = ReadAll(**reader, 7);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(*read, content);
  auto small = store().ReadSmall(d, 1024);
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(*small, content);

  // On success the upload no longer exists.
  EXPECT_TRUE(HasCode(store().OpenUpload("u1"), Errc::kNotFound));
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_TRUE(uploads->empty());
}

TEST_P(BlobStoreConformanceTest, CommitOfPublishedDigestDiscardsUpload) {
  std::string content = "same bytes";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(WriteUpload(store(), "first", content)));
  ASSERT_TRUE(IsOk(store().Commit("first", d)));
  ASSERT_TRUE(IsOk(WriteUpload(store(), "second", content)));
  ASSERT_TRUE(IsOk(store().Commit("second", d)));
  EXPECT_TRUE(HasCode(store().OpenUpload("second"), Errc::kNotFound));
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_TRUE(uploads->empty());
  auto small = store().ReadSmall(d, 1024);
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(*small, content);
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(blobs->size(), 1u);
}

TEST_P(BlobStoreConformanceTest, CommitOfUnknownUploadIsNotFound) {
  Digest d = Digest::Sha256Of("x");
  EXPECT_TRUE(HasCode(store().Commit("nope", d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Stat(d), Errc::kNotFound));  // nothing published
  // Also when the digest is already published: there is still no such upload.
  ASSERT_TRUE(IsOk(store().PutSmall(d, "x")));
  EXPECT_TRUE(HasCode(store().Commit("nope", d), Errc::kNotFound));
}

TEST_P(BlobStoreConformanceTest, CommitEmptyUpload) {
  Digest d = Digest::Sha256Of("");
  ASSERT_TRUE(IsOk(store().CreateUpload("empty")));
  ASSERT_TRUE(IsOk(store().Commit("empty", d)));
  auto stat = store().Stat(d);
  ASSERT_TRUE(IsOk(stat));
  EXPECT_EQ(stat->size, 0u);
  auto reader = store().Open(d);
  ASSERT_TRUE(IsOk(reader));
  EXPECT_EQ((*reader)->size(), 0u);
  char buf[8];
  auto n = (*reader)->ReadAt(0, std::span<char>(buf));
  ASSERT_TRUE(IsOk(n));
  EXPECT_EQ(*n, 0u);
  auto small = store().ReadSmall(d, 0);
  ASSERT_TRUE(IsOk(small));
  EXPECT_TRUE(small->empty());
}

TEST_P(BlobStoreConformanceTest, CommitLargeUpload) {
  std::string content = Pattern(3 * 1024 * 1024 + 17, 7);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(WriteUpload(store(), "big", content, 65536 + 3)));
  ASSERT_TRUE(IsOk(store().Commit("big", d)));
  auto reader = store().Open(d);
  ASSERT_TRUE(IsOk(reader));
  EXPECT_EQ((*reader)->size(), content.size());
  auto read = ReadAll(**reader, 1 << 20);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(Digest::Sha256Of(*read), d);
}

TEST_P(BlobStoreConformanceTest, PutSmallPublishes) {
  std::string content = "{\"schemaVersion\":2}";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  auto stat = store().Stat(d);
  ASSERT_TRUE(IsOk(stat));
  EXPECT_EQ(stat->size, content.size());
  auto small = store().ReadSmall(d, content.size());
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(*small, content);
  // Idempotent, and it leaves no upload behind.
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_TRUE(uploads->empty());
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(blobs->size(), 1u);
}

TEST_P(BlobStoreConformanceTest, Sha512Blobs) {
  std::string content = "sha512 content";
  Digest d = Sha512Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  auto small = store().ReadSmall(d, 1024);
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(*small, content);
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", "other")));
  Digest d2 = Sha512Of("other");
  ASSERT_TRUE(IsOk(store().Commit("u1", d2)));
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(*blobs, (std::map<std::string, uint64_t>{{d.str(), content.size()}, {d2.str(), 5}}));
  EXPECT_TRUE(HasCode(store().Stat(Digest::Sha256Of(content)), Errc::kNotFound));
}

TEST_P(BlobStoreConformanceTest, UnknownBlobIsNotFound) {
  Digest d = Digest::Sha256Of("absent");
  EXPECT_TRUE(HasCode(store().Stat(d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Open(d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().ReadSmall(d, 1024), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Delete(d), Errc::kNotFound));
}

TEST_P(BlobStoreConformanceTest, ReadSmallEnforcesLimit) {
  std::string content = "0123456789";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  EXPECT_TRUE(HasCode(store().ReadSmall(d, 9), Errc::kTooLarge));
  auto exact = store().ReadSmall(d, 10);
  ASSERT_TRUE(IsOk(exact));
  EXPECT_EQ(*exact, content);
}

TEST_P(BlobStoreConformanceTest, ReaderReadsRanges) {
  std::string content = Pattern(100000, 3);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  auto reader = store().Open(d);
  ASSERT_TRUE(IsOk(reader));
  for (uint64_t offset :
       {uint64_t{0}, uint64_t{1}, uint64_t{4095}, uint64_t{65536}, uint64_t{99990}}) {
    std::string buf(16, '\0');
    auto n = (*reader)->ReadAt(offset, std::span<char>(buf));
    ASSERT_TRUE(IsOk(n));
    ASSERT_GT(*n, 0u) << "offset " << offset;
    ASSERT_LE(*n, std::min<uint64_t>(16, content.size() - offset));
    EXPECT_EQ(buf.substr(0, *n), content.substr(offset, *n)) << "offset " << offset;
  }
  std::string buf(16, '\0');
  auto at_end = (*reader)->ReadAt(content.size(), std::span<char>(buf));
  ASSERT_TRUE(IsOk(at_end));
  EXPECT_EQ(*at_end, 0u);
  // Odd chunk sizes reassemble the whole blob.
  auto all = ReadAll(**reader, 4093);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(*all, content);
}

TEST_P(BlobStoreConformanceTest, DeleteRemovesBlob) {
  Digest keep = Digest::Sha256Of("keep");
  Digest gone = Digest::Sha256Of("gone");
  ASSERT_TRUE(IsOk(store().PutSmall(keep, "keep")));
  ASSERT_TRUE(IsOk(store().PutSmall(gone, "gone")));
  ASSERT_TRUE(IsOk(store().Delete(gone)));
  EXPECT_TRUE(HasCode(store().Stat(gone), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Open(gone), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().ReadSmall(gone, 100), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Delete(gone), Errc::kNotFound));
  EXPECT_TRUE(IsOk(store().Stat(keep)));
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(*blobs, (std::map<std::string, uint64_t>{{keep.str(), 4}}));
}

TEST_P(BlobStoreConformanceTest, DeletedBlobCanBePublishedAgain) {
  Digest d = Digest::Sha256Of("again");
  ASSERT_TRUE(IsOk(store().PutSmall(d, "again")));
  ASSERT_TRUE(IsOk(store().Delete(d)));
  ASSERT_TRUE(IsOk(WriteUpload(store(), "u1", "again")));
  ASSERT_TRUE(IsOk(store().Commit("u1", d)));
  auto small = store().ReadSmall(d, 100);
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(*small, "again");
}

TEST_P(BlobStoreConformanceTest, ReaderStaysValidAfterDelete) {
  std::string content = Pattern(50000, 5);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  auto reader = store().Open(d);
  ASSERT_TRUE(IsOk(reader));
  ASSERT_TRUE(IsOk(store().Delete(d)));
  EXPECT_TRUE(HasCode(store().Stat(d), Errc::kNotFound));
  EXPECT_EQ((*reader)->size(), content.size());
  auto read = ReadAll(**reader, 10000);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(*read, content);
}

TEST_P(BlobStoreConformanceTest, ListEnumeratesPublishedBlobsOnly) {
  std::map<std::string, uint64_t> want;
  for (int i = 0; i < 20; ++i) {
    std::string content = Pattern(static_cast<size_t>(i) * 10, static_cast<unsigned>(i));
    Digest d = Digest::Sha256Of(content);
    want[d.str()] = content.size();
    ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  }
  ASSERT_TRUE(IsOk(WriteUpload(store(), "pending", "not a blob yet")));
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(*blobs, want);
}

TEST_P(BlobStoreConformanceTest, ListStopsWhenCallbackReturnsFalse) {
  for (int i = 0; i < 5; ++i) {
    std::string content = "blob " + std::to_string(i);
    ASSERT_TRUE(IsOk(store().PutSmall(Digest::Sha256Of(content), content)));
  }
  int calls = 0;
  ASSERT_TRUE(IsOk(store().List([&](const Digest&, const BlobStat&) {
    ++calls;
    return false;
  })));
  EXPECT_EQ(calls, 1);
}

// --- concurrency ----------------------------------------------------------------------------

TEST_P(BlobStoreConformanceTest, ConcurrentCommitsOfTheSameContent) {
  constexpr int kThreads = 4;
  std::string content = Pattern(200000, 11);
  Digest d = Digest::Sha256Of(content);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(IsOk(WriteUpload(store(), UploadId(t), content, 30000)));
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (!store().Commit(UploadId(t), d).ok()) {
        ++failures[t];
      }
      if (!store().PutSmall(d, content).ok()) {
        ++failures[t];
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  }
  auto read = store().ReadSmall(d, content.size());
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(*read, content);
  auto uploads = Uploads(store());
  ASSERT_TRUE(IsOk(uploads));
  EXPECT_TRUE(uploads->empty());
}

TEST_P(BlobStoreConformanceTest, ArchivedBlobIsHiddenUntilRestored) {
  std::string content = "archive me";
  Digest d = Digest::Sha256Of(content);
  EXPECT_TRUE(HasCode(store().Archive(d), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  ASSERT_TRUE(IsOk(store().Archive(d)));
  ASSERT_TRUE(IsOk(store().Archive(d)));  // idempotent
  EXPECT_TRUE(HasCode(store().Stat(d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Open(d), Errc::kNotFound));
  // Still listed (garbage collection must see it).
  bool listed = false;
  ASSERT_TRUE(IsOk(store().List([&](const Digest& got, const BlobStat&) {
    listed = listed || got == d;
    return true;
  })));
  EXPECT_TRUE(listed);
  ASSERT_TRUE(IsOk(store().Restore(d)));
  auto read = store().ReadSmall(d, 100);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(*read, content);
  EXPECT_TRUE(HasCode(store().Restore(Digest::Sha256Of("never")), Errc::kNotFound));
}

TEST_P(BlobStoreConformanceTest, RestoreWhenPublishedAgainKeepsOneCopy) {
  std::string content = "pushed again while archived";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  ASSERT_TRUE(IsOk(store().Archive(d)));
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  ASSERT_TRUE(IsOk(store().Restore(d)));
  int seen = 0;
  ASSERT_TRUE(IsOk(store().List([&](const Digest& got, const BlobStat&) {
    seen += got == d ? 1 : 0;
    return true;
  })));
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(*store().ReadSmall(d, 100), content);
}

TEST_P(BlobStoreConformanceTest, DeleteRemovesArchivedBlob) {
  std::string content = "archived then deleted";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  ASSERT_TRUE(IsOk(store().Archive(d)));
  ASSERT_TRUE(IsOk(store().Delete(d)));
  EXPECT_TRUE(HasCode(store().Restore(d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().Delete(d), Errc::kNotFound));
}

}  // namespace berth::storage

namespace berth::storage {

// --- sidecars -------------------------------------------------------------------------------

TEST_P(BlobStoreConformanceTest, SidecarNeedsABlobAndIsReplaced) {
  std::string content = "blob with a sidecar";
  Digest d = Digest::Sha256Of(content);
  EXPECT_TRUE(HasCode(store().PutSidecar(d, "x"), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  EXPECT_TRUE(HasCode(store().GetSidecar(d), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSidecar(d, "first")));
  ASSERT_TRUE(IsOk(store().PutSidecar(d, std::string("second\0bytes", 12))));
  auto got = store().GetSidecar(d);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::string("second\0bytes", 12));
  // Sidecars are not blobs.
  auto blobs = Blobs(store());
  ASSERT_TRUE(IsOk(blobs));
  EXPECT_EQ(blobs->size(), 1u);
}

TEST_P(BlobStoreConformanceTest, SidecarFollowsArchiveAndGoesWithDelete) {
  std::string content = "archived with its sidecar";
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  ASSERT_TRUE(IsOk(store().PutSidecar(d, "key")));
  ASSERT_TRUE(IsOk(store().Archive(d)));
  EXPECT_EQ(*store().GetSidecar(d), "key");
  ASSERT_TRUE(IsOk(store().PutSidecar(d, "key2")));  // re-wrap while archived
  ASSERT_TRUE(IsOk(store().Restore(d)));
  EXPECT_EQ(*store().GetSidecar(d), "key2");
  ASSERT_TRUE(IsOk(store().Delete(d)));
  EXPECT_TRUE(HasCode(store().GetSidecar(d), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSmall(d, content)));
  EXPECT_TRUE(HasCode(store().GetSidecar(d), Errc::kNotFound));  // a new blob starts clean
}

}  // namespace berth::storage
