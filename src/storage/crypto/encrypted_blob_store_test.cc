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

namespace berth::storage {
namespace {

namespace fs = std::filesystem;

// A key service for storage tests: keys with versions and an enabled flag; data keys are
// wrapped by AES-GCM sealing under per-version material, like the real one, so tampering and
// context mismatches fail the same way.
class TestKeyService final : public kms::KeyService {
 public:
  void AddKey(const std::string& id) {
    std::lock_guard lock(mu_);
    keys_[id].versions.push_back(Secret(RandomBytes(32)));
  }
  void Rotate(const std::string& id) { AddKey(id); }
  void SetEnabled(const std::string& id, bool on) {
    std::lock_guard lock(mu_);
    keys_[id].enabled = on;
  }
  int decrypts() const { return decrypts_.load(); }

  Result<kms::KeyMetadata> DescribeKey(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key " + std::string(key));
    }
    kms::KeyMetadata m;
    m.key_id = it->first;
    m.state = it->second.enabled ? kms::KeyState::kEnabled : kms::KeyState::kDisabled;
    m.current_version = static_cast<uint32_t>(it->second.versions.size());
    return m;
  }
  Result<kms::DataKey> GenerateDataKey(std::string_view key, std::string_view context) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, std::string(key) + " is disabled");
    }
    kms::DataKey dk{Secret(RandomBytes(32)), ""};
    dk.wrapped = WrapLocked(it->first, static_cast<uint32_t>(it->second.versions.size()),
                            dk.plaintext, context);
    return dk;
  }
  Result<Secret> Decrypt(std::string_view wrapped, std::string_view context) override {
    ++decrypts_;
    std::lock_guard lock(mu_);
    return UnwrapLocked(wrapped, context);
  }
  Result<std::string> ReEncrypt(std::string_view wrapped, std::string_view context) override {
    std::lock_guard lock(mu_);
    BERTH_ASSIGN_OR_RETURN(Secret dk, UnwrapLocked(wrapped, context));
    BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, InspectLocked(wrapped));
    return WrapLocked(info.key_id, static_cast<uint32_t>(keys_[info.key_id].versions.size()), dk,
                      context);
  }
  Status CheckUsable(std::string_view key_id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key_id));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, std::string(key_id) + " is disabled");
    }
    return Ok{};
  }
  Result<kms::WrappedKeyInfo> Inspect(std::string_view wrapped) override {
    std::lock_guard lock(mu_);
    return InspectLocked(wrapped);
  }

 private:
  struct Key {
    std::vector<Secret> versions;
    bool enabled = true;
  };
  // "<id>|<version>|<sealed>"
  std::string WrapLocked(const std::string& id, uint32_t version, const Secret& dk,
                         std::string_view context) {
    std::string head = id + "|" + std::to_string(version) + "|";
    auto sealed = Seal(keys_[id].versions[version - 1], dk.reveal(), head + std::string(context));
    return head + *sealed;
  }
  Result<kms::WrappedKeyInfo> InspectLocked(std::string_view wrapped) {
    size_t a = wrapped.find('|');
    size_t b = a == std::string_view::npos ? a : wrapped.find('|', a + 1);
    if (b == std::string_view::npos) {
      return MakeError(Errc::kCorrupt, "not a wrapped key");
    }
    kms::WrappedKeyInfo info;
    info.key_id = std::string(wrapped.substr(0, a));
    info.version = static_cast<uint32_t>(std::stoul(std::string(wrapped.substr(a + 1, b - a - 1))));
    return info;
  }
  Result<Secret> UnwrapLocked(std::string_view wrapped, std::string_view context) {
    BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, InspectLocked(wrapped));
    auto it = keys_.find(info.key_id);
    if (it == keys_.end() || info.version == 0 || info.version > it->second.versions.size()) {
      return MakeError(Errc::kKeyUnavailable, "key gone");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, info.key_id + " is disabled");
    }
    size_t head = wrapped.find('|', wrapped.find('|') + 1) + 1;
    return Unseal(it->second.versions[info.version - 1], wrapped.substr(head),
                  std::string(wrapped.substr(0, head)) + std::string(context));
  }

  std::mutex mu_;
  std::map<std::string, Key> keys_;
  std::atomic<int> decrypts_{0};
};

std::string TempRoot() {
  static std::atomic<int> next{0};
  static const std::string base = [] {
    std::string tmpl = ::testing::TempDir() + "berth-crypto-test-XXXXXX";
    return std::string(::mkdtemp(tmpl.data()));
  }();
  return base + "/store-" + std::to_string(next++);
}

// An encrypted store over a fresh directory, owning everything below it.
class OwningEncryptedStore final : public BlobStore {
 public:
  OwningEncryptedStore() {
    root = TempRoot();
    inner = std::move(FsBlobStore::Open(root).value());
    keys.AddKey("k1");
    enc = std::make_unique<EncryptedBlobStore>(*inner, keys, "k1", nullptr,
                                               EncryptionOptions{.segment_size = 4096});
  }
  Status CreateUpload(std::string_view id) override { return enc->CreateUpload(id); }
  Result<std::unique_ptr<BlobWriter>> OpenUpload(std::string_view id) override {
    return enc->OpenUpload(id);
  }
  Status DeleteUpload(std::string_view id) override { return enc->DeleteUpload(id); }
  Result<std::vector<std::pair<std::string, BlobStat>>> ListUploads() override {
    return enc->ListUploads();
  }
  Status Commit(std::string_view id, const Digest& d) override { return enc->Commit(id, d); }
  Status PutSmall(const Digest& d, std::string_view b) override { return enc->PutSmall(d, b); }
  Result<BlobStat> Stat(const Digest& d) override { return enc->Stat(d); }
  Result<std::unique_ptr<BlobReader>> Open(const Digest& d) override { return enc->Open(d); }
  Result<std::string> ReadSmall(const Digest& d, uint64_t m) override {
    return enc->ReadSmall(d, m);
  }
  Status Delete(const Digest& d) override { return enc->Delete(d); }
  Status List(const std::function<bool(const Digest&, const BlobStat&)>& fn) override {
    return enc->List(fn);
  }
  Status Archive(const Digest& d) override { return enc->Archive(d); }
  Status Restore(const Digest& d) override { return enc->Restore(d); }
  Status PutSidecar(const Digest& d, std::string_view b) override { return enc->PutSidecar(d, b); }
  Result<std::string> GetSidecar(const Digest& d) override { return enc->GetSidecar(d); }

  std::string root;
  std::unique_ptr<FsBlobStore> inner;
  TestKeyService keys;
  std::unique_ptr<EncryptedBlobStore> enc;
};

INSTANTIATE_TEST_SUITE_P(Encrypted, BlobStoreConformanceTest,
                         ::testing::Values(BlobStoreFactory([] {
                           return std::unique_ptr<BlobStore>(new OwningEncryptedStore);
                         })));

std::string Pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

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
    }
    w->reset();
    Status c = s.enc->Commit(id, d);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return d;
  }
  std::string Path(const Digest& d) { return s.inner->BlobPathForTest(d); }

  OwningEncryptedStore s;
  int next_ = 0;
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
  ASSERT_TRUE((*s.enc->OpenUpload("pending"))->Append({content.data(), 5000}).ok());
  EXPECT_EQ(ReadFile(s.root + "/uploads/pending").find("PLAINTEXT-MARKER"), std::string::npos);
}

TEST_F(EncryptedBlobStoreTest, RangesAcrossSegmentBoundaries) {
  std::string content = Pattern(4096 * 5 + 123, 3);
  Digest d = Put(content, 777);  // unaligned chunks: Commit re-packs
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
  ASSERT_TRUE((*s.enc->OpenUpload("torn"))->Append({Pattern(5000, 13).data(), 5000}).ok());
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
    off += n;
  }
  ASSERT_TRUE(
      (*s.enc->OpenUpload("chunky"))->Append({content.data() + off, content.size() - off}).ok());
  ASSERT_TRUE(s.enc->Commit("chunky", d).ok());
  EXPECT_EQ(*s.enc->ReadSmall(d, 1 << 20), content);
  auto uploads = s.inner->ListUploads();
  EXPECT_TRUE(uploads->empty());
}

}  // namespace
}  // namespace berth::storage
