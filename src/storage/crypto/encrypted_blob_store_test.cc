#include "storage/crypto/encrypted_blob_store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include "base/crypto.h"
#include "storage/fs/fs_blob_store.h"
#include "storage/testing/blob_store_conformance.h"
#include "storage/testing/test_key_service.h"

namespace berth::storage {
namespace {

namespace fs = std::filesystem;

std::string TempRoot() {
  static std::atomic<int> next{0};
  static const std::string base = [] {
    std::string tmpl = ::testing::TempDir() + "berth-crypto-test-XXXXXX";
    return std::string(::mkdtemp(tmpl.data()));
  }();
  return base + "/store-" + std::to_string(next++);
}

// An encrypted store over a fresh directory, owning everything below it.
class FsEncryptedStore final : public OwningEncryptedStore {
 public:
  FsEncryptedStore() : FsEncryptedStore(TempRoot()) {}
  explicit FsEncryptedStore(std::string dir)
      : OwningEncryptedStore(std::move(FsBlobStore::Open(dir).value())), root(std::move(dir)) {}
  FsBlobStore& fs() { return static_cast<FsBlobStore&>(*inner); }
  std::string root;
};

INSTANTIATE_TEST_SUITE_P(Encrypted, BlobStoreConformanceTest,
                         ::testing::Values(BlobStoreFactory([] {
                           return std::unique_ptr<BlobStore>(new FsEncryptedStore);
                         })));

std::string Pattern(size_t n, unsigned seed) { return TestPattern(n, seed); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

Result<std::string> ReadRange(BlobReader& r, uint64_t off, size_t len, size_t chunk) {
  std::string out;
  std::string buf(chunk, '\0');
  while (out.size() < len) {
    size_t want = std::min(chunk, len - out.size());
    BERTH_ASSIGN_OR_RETURN(size_t n, r.ReadAt(off + out.size(), std::span<char>(buf.data(), want)));
    if (n == 0) {
      break;
    }
    out.append(buf.data(), n);
  }
  return out;
}

class EncryptedBlobStoreTest : public ::testing::Test {
 protected:
  Digest Put(const std::string& content, size_t chunk = 1 << 20) {
    Digest d = Digest::Sha256Of(content);
    std::string id = "u" + std::to_string(next_++);
    EXPECT_TRUE(s.enc->CreateUpload(id).ok());
    auto w = s.enc->OpenUpload(id);
    EXPECT_TRUE(w.ok());
    for (size_t off = 0; off < content.size(); off += chunk) {
      EXPECT_TRUE((*w)->Append({content.data() + off, std::min(chunk, content.size() - off)}).ok());
      if (flush_each_chunk_) {
        EXPECT_TRUE((*w)->Flush().ok());  // as the registry does at the end of each request
      }
    }
    EXPECT_TRUE((*w)->Flush().ok());
    w->reset();
    Status c = s.enc->Commit(id, d);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return d;
  }
  std::string Path(const Digest& d) { return s.fs().BlobPathForTest(d); }

  FsEncryptedStore s;
  int next_ = 0;
  bool flush_each_chunk_ = false;
};

TEST_F(EncryptedBlobStoreTest, StoredBytesHoldNoPlaintext) {
  std::string marker = "BERTH-PLAINTEXT-MARKER-0123456789";
  std::string content;
  for (int i = 0; i < 1000; ++i) {
    content += marker;
  }
  Digest d = Put(content, 1000);
  std::string raw = ReadFile(Path(d));
  EXPECT_EQ(raw.find("PLAINTEXT-MARKER"), std::string::npos);
  EXPECT_TRUE(IsEncryptedObject(raw));
  auto back = s.enc->ReadSmall(d, 1 << 20);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, content);
  // Uploads in progress are encrypted too.
  ASSERT_TRUE(s.enc->CreateUpload("pending").ok());
  {
    auto w = s.enc->OpenUpload("pending");
    ASSERT_TRUE((*w)->Append({content.data(), 5000}).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  EXPECT_EQ(ReadFile(s.root + "/uploads/pending").find("PLAINTEXT-MARKER"), std::string::npos);
}

TEST_F(EncryptedBlobStoreTest, RangesAcrossSegmentBoundaries) {
  std::string content = Pattern(4096 * 5 + 123, 3);
  flush_each_chunk_ = true;
  Digest d = Put(content, 777);  // unaligned chunks, each flushed: Commit re-packs
  auto r = s.enc->Open(d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->size(), content.size());
  EXPECT_EQ((*r)->ZeroCopyFd(), -1);
  for (auto [off, len] : std::vector<std::pair<uint64_t, size_t>>{{0, content.size()},
                                                                  {4090, 20},
                                                                  {4096, 4096},
                                                                  {4095, 8194},
                                                                  {8191, 1},
                                                                  {content.size() - 5, 5},
                                                                  {100, 4096 * 3},
                                                                  {20480, 123}}) {
    for (size_t chunk : {size_t{1}, size_t{1000}, size_t{4096}, size_t{65536}}) {
      if (chunk == 1 && len > 20) {
        continue;
      }
      auto got = ReadRange(**r, off, len, chunk);
      ASSERT_TRUE(got.ok()) << got.error().message;
      EXPECT_EQ(*got, content.substr(off, len)) << off << "+" << len << " chunk " << chunk;
    }
  }
  // The published layout is canonical: size by arithmetic matches.
  auto st = s.enc->Stat(d);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, content.size());
}

TEST_F(EncryptedBlobStoreTest, FlippedByteIsRefusedNeverServed) {
  std::string content = Pattern(4096 * 3, 5);
  Digest d = Put(content);
  std::string raw = ReadFile(Path(d));
  for (size_t pos : {size_t{256 + 4 + 10}, size_t{256 + 4100 + 4 + 4000}, raw.size() - 3}) {
    std::string bad = raw;
    bad[pos] ^= 0x01;
    WriteFile(Path(d), bad);
    auto r = s.enc->Open(d);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kCorrupt) << r.error().message;
      continue;
    }
    auto got = ReadRange(**r, 0, content.size(), 65536);
    ASSERT_FALSE(got.ok()) << "tampered byte at " << pos << " was served";
    EXPECT_EQ(got.error().code, Errc::kCorrupt);
  }
  WriteFile(Path(d), raw);
  EXPECT_EQ(*s.enc->ReadSmall(d, 1 << 20), content);
}

TEST_F(EncryptedBlobStoreTest, TruncationAndReorderingAreDetected) {
  std::string content = Pattern(4096 * 4, 6);
  Digest d = Put(content);
  std::string raw = ReadFile(Path(d));
  size_t rec = 4096 + 20;
  // Cut at a record boundary (drop the last segment and the end marker) and mid-record.
  for (size_t keep : {256 + 3 * rec, 256 + 3 * rec + 20, raw.size() - 1, size_t{256}}) {
    WriteFile(Path(d), raw.substr(0, keep));
    auto r = s.enc->Open(d);
    ASSERT_FALSE(r.ok()) << "truncated to " << keep;
    EXPECT_EQ(r.error().code, Errc::kCorrupt);
  }
  // Swap two segments.
  std::string swapped = raw;
  std::copy(raw.begin() + 256, raw.begin() + 256 + rec, swapped.begin() + 256 + rec);
  std::copy(raw.begin() + 256 + rec, raw.begin() + 256 + 2 * rec, swapped.begin() + 256);
  WriteFile(Path(d), swapped);
  auto r = s.enc->Open(d);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(ReadRange(**r, 0, content.size(), 65536).ok());
}

TEST_F(EncryptedBlobStoreTest, SpliceFromAnotherBlobFails) {
  std::string a = Pattern(4096 * 2, 7);
  std::string b = Pattern(4096 * 2, 8);
  Digest da = Put(a);
  Digest db = Put(b);
  std::string ra = ReadFile(Path(da));
  std::string rb = ReadFile(Path(db));
  std::string mixed = ra.substr(0, 256) + rb.substr(256);  // a's key, b's segments
  WriteFile(Path(da), mixed);
  auto r = s.enc->Open(da);
  EXPECT_FALSE(r.ok() && ReadRange(**r, 0, a.size(), 65536).ok());
}

TEST_F(EncryptedBlobStoreTest, DisabledKeyBlocksReadsAndWritesEvenWhenCached) {
  std::string content = Pattern(10000, 9);
  Digest d = Put(content);
  ASSERT_TRUE(s.enc->ReadSmall(d, 1 << 20).ok());  // data key now cached
  s.keys.SetEnabled("k1", false);
  auto r = s.enc->Open(d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kKeyUnavailable);
  Status c = s.enc->CreateUpload("blocked");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kKeyUnavailable);
  s.keys.SetEnabled("k1", true);
  EXPECT_EQ(*s.enc->ReadSmall(d, 1 << 20), content);
}

TEST_F(EncryptedBlobStoreTest, DataKeysAreCached) {
  Digest d = Put(Pattern(5000, 10));
  int before = s.keys.decrypts();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.enc->Open(d).ok());
  }
  EXPECT_LE(s.keys.decrypts() - before, 1);
}

TEST_F(EncryptedBlobStoreTest, RotationAndRewrapKeepEveryBlobReadable) {
  std::string old_content = Pattern(9000, 11);
  Digest old_d = Put(old_content);
  std::string header_before = ReadFile(Path(old_d)).substr(0, 256);
  s.keys.Rotate("k1");
  std::string new_content = Pattern(9000, 12);
  Digest new_d = Put(new_content);
  EXPECT_EQ(*s.enc->ReadSmall(old_d, 1 << 20), old_content);
  EXPECT_EQ(*s.enc->ReadSmall(new_d, 1 << 20), new_content);

  auto report = RewrapDataKeys(*s.inner, s.keys, "", nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->examined, 2u);
  EXPECT_EQ(report->rewrapped, 1u);  // only the blob wrapped under version 1
  auto side = s.inner->GetSidecar(old_d);
  ASSERT_TRUE(side.ok());
  EXPECT_EQ(s.keys.Inspect(*side)->version, 2u);
  EXPECT_EQ(ReadFile(Path(old_d)).substr(0, 256), header_before);  // data not rewritten
  // A fresh store (empty cache) reads through the re-wrapped key.
  EncryptedBlobStore fresh(*s.inner, s.keys, "k1", nullptr,
                           EncryptionOptions{.segment_size = 4096});
  EXPECT_EQ(*fresh.ReadSmall(old_d, 1 << 20), old_content);
  auto again = RewrapDataKeys(*s.inner, s.keys, "", nullptr);
  EXPECT_EQ(again->rewrapped, 0u);
}

TEST_F(EncryptedBlobStoreTest, TornUploadIsRefusedNotMisread) {
  ASSERT_TRUE(s.enc->CreateUpload("torn").ok());
  {
    auto w = s.enc->OpenUpload("torn");
    ASSERT_TRUE((*w)->Append({Pattern(5000, 13).data(), 5000}).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  std::string path = s.root + "/uploads/torn";
  std::string raw = ReadFile(path);
  WriteFile(path, raw.substr(0, raw.size() - 7));
  auto w = s.enc->OpenUpload("torn");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::kCorrupt);
}

TEST_F(EncryptedBlobStoreTest, UnalignedChunksAcrossReopensRepack) {
  std::string content = Pattern(4096 * 3 + 17, 14);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(s.enc->CreateUpload("chunky").ok());
  size_t off = 0;
  for (size_t chunk : {size_t{100}, size_t{5000}, size_t{4096}, size_t{3000}}) {
    auto w = s.enc->OpenUpload("chunky");  // every chunk through a new writer, as requests do
    ASSERT_TRUE(w.ok());
    ASSERT_EQ((*w)->size(), off);
    size_t n = std::min(chunk, content.size() - off);
    ASSERT_TRUE((*w)->Append({content.data() + off, n}).ok());
    ASSERT_TRUE((*w)->Flush().ok());
    off += n;
  }
  {
    auto w = s.enc->OpenUpload("chunky");
    ASSERT_TRUE((*w)->Append({content.data() + off, content.size() - off}).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  ASSERT_TRUE(s.enc->Commit("chunky", d).ok());
  EXPECT_EQ(*s.enc->ReadSmall(d, 1 << 20), content);
  auto uploads = s.inner->ListUploads();
  EXPECT_TRUE(uploads->empty());
}

TEST_F(EncryptedBlobStoreTest, StreamingInOddPiecesStaysCanonical) {
  // Appends of any size seal whole segments only; the partial one waits for Flush. An upload
  // streamed in odd pieces is therefore published without a re-pack, and reopening it reads
  // its layout from a few length prefixes.
  std::string content = Pattern(4096 * 7 + 99, 15);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(s.enc->CreateUpload("odd").ok());
  {
    auto w = s.enc->OpenUpload("odd");
    for (size_t off = 0; off < content.size(); off += 1000) {
      ASSERT_TRUE(
          (*w)->Append({content.data() + off, std::min<size_t>(1000, content.size() - off)}).ok());
    }
    EXPECT_EQ((*w)->size(), content.size());
    std::string back(300, '\0');
    auto n = (*w)->ReadAt(content.size() - 300, std::span<char>(back));  // from the pending part
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(back.substr(0, *n), content.substr(content.size() - 300, *n));
    ASSERT_TRUE((*w)->Flush().ok());
  }
  auto w = s.enc->OpenUpload("odd");
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ((*w)->size(), content.size());
  std::string all(content.size(), '\0');
  auto n = (*w)->ReadAt(0, std::span<char>(all));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(all, content);
  w->reset();
  ASSERT_TRUE(s.enc->CommitsWithoutRepackForTest("odd"));
  ASSERT_TRUE(s.enc->Commit("odd", d).ok());
  EXPECT_EQ(*s.enc->ReadSmall(d, 1 << 20), content);
}

TEST_F(EncryptedBlobStoreTest, UnflushedPartialSegmentIsNotStored) {
  std::string content = Pattern(4096 + 500, 16);
  ASSERT_TRUE(s.enc->CreateUpload("partial").ok());
  {
    auto w = s.enc->OpenUpload("partial");
    ASSERT_TRUE((*w)->Append({content.data(), content.size()}).ok());
    EXPECT_EQ((*w)->size(), content.size());
  }  // destroyed without Flush: the whole segment is stored, the partial one is not
  auto w = s.enc->OpenUpload("partial");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->size(), 4096u);
}

}  // namespace
}  // namespace berth::storage
