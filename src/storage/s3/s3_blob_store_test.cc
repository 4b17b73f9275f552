// S3BlobStore against a real S3 server: the BlobStore conformance suite (plain and under the
// encryption decorator), plus what only an object store shows (pieces and multipart assembly,
// several nodes on one bucket, presigned URLs, bad credentials, unknown buckets).
//
// BERTH_TEST_S3_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY name a bucket
// this test may write to; test/s3/with-s3.sh starts a Ceph RADOS Gateway on loopback and sets
// them. Every store works under a prefix of its own.
#include "storage/s3/s3_blob_store.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/crypto.h"
#include "base/digest.h"
#include "base/strings.h"
#include "storage/crypto/encrypted_blob_store.h"
#include "storage/testing/blob_store_conformance.h"
#include "storage/testing/test_key_service.h"

namespace berth::storage {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string NewPrefix() {
  static std::atomic<int> next{0};
  static const std::string run = RandomHexId().substr(0, 8);
  return "test-" + run + "-" + std::to_string(getpid()) + "/" + std::to_string(next++) + "/";
}

S3BlobStoreOptions Options(const std::string& prefix) {
  S3BlobStoreOptions o;
  o.s3.endpoint = Env("BERTH_TEST_S3_ENDPOINT");
  o.s3.bucket = Env("BERTH_TEST_S3_BUCKET");
  o.s3.region = Env("BERTH_TEST_S3_REGION");
  o.s3.access_key_id = Env("BERTH_TEST_S3_ACCESS_KEY_ID");
  o.s3.secret_access_key = Secret(Env("BERTH_TEST_S3_SECRET_ACCESS_KEY"));
  o.s3.max_connections = 16;
  o.prefix = prefix;
  return o;
}

std::unique_ptr<S3BlobStore> OpenStore(const std::string& prefix = NewPrefix()) {
  if (Env("BERTH_TEST_S3_ENDPOINT").empty()) {
    ADD_FAILURE() << "BERTH_TEST_S3_ENDPOINT is not set: run under test/s3/with-s3.sh";
    return nullptr;
  }
  auto s = S3BlobStore::Open(Options(prefix));
  if (!s.ok()) {
    ADD_FAILURE() << "open: " << s.error().message;
    return nullptr;
  }
  return std::move(s).value();
}

INSTANTIATE_TEST_SUITE_P(S3, BlobStoreConformanceTest, ::testing::Values(BlobStoreFactory([] {
                           return std::unique_ptr<BlobStore>(OpenStore());
                         })));
INSTANTIATE_TEST_SUITE_P(EncryptedS3, BlobStoreConformanceTest,
                         ::testing::Values(BlobStoreFactory([]() -> std::unique_ptr<BlobStore> {
                           auto s3 = OpenStore();
                           if (!s3) {
                             return nullptr;
                           }
                           return std::make_unique<OwningEncryptedStore>(std::move(s3));
                         })));

std::span<const char> Span(const std::string& s, size_t off = 0, size_t n = std::string::npos) {
  n = std::min(n, s.size() - off);
  return {s.data() + off, n};
}

// Every object key under the store's prefix.
std::vector<std::string> Keys(S3BlobStore& store, const std::string& prefix) {
  std::vector<std::string> out;
  s3::S3Request req;
  req.query = {{"list-type", "2"}, {"prefix", prefix}};
  auto r = store.client().Send(req);
  EXPECT_TRUE(r.ok());
  if (r.ok()) {
    out = s3::XmlElements(r->body, "Key");
  }
  return out;
}

std::string ReadAll(BlobReader& r, size_t step) {
  std::string out;
  std::string buf(step, '\0');
  for (;;) {
    auto n = r.ReadAt(out.size(), std::span<char>(buf));
    EXPECT_TRUE(n.ok()) << n.error().message;
    if (!n.ok() || *n == 0) {
      return out;
    }
    out.append(buf.data(), *n);
  }
}

TEST(S3BlobStoreTest, PiecesOfAnySizeAssembleIntoOneBlob) {
  // 5 MiB part minimum: pieces of 3, 9 (over part_size 8: stored as 8 + 1), 0.5, 6 and 2 MiB,
  // each flushed as a request ends, as a chunked push across nodes stores them.
  const std::string prefix = NewPrefix();
  auto store = OpenStore(prefix);
  ASSERT_TRUE(store);
  const size_t mib = 1 << 20;
  std::string content = TestPattern(3 * mib + 9 * mib + mib / 2 + 6 * mib + 2 * mib + 77, 1);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(store->CreateUpload("u1").ok());
  size_t off = 0;
  for (size_t piece : {3 * mib, 9 * mib, mib / 2, 6 * mib, 2 * mib + 77}) {
    auto w = store->OpenUpload("u1");  // a new writer per request, as on another node
    ASSERT_TRUE(w.ok()) << w.error().message;
    ASSERT_EQ((*w)->size(), off);
    for (size_t at = 0; at < piece; at += 300000) {  // network-sized appends
      ASSERT_TRUE((*w)->Append(Span(content, off + at, std::min<size_t>(300000, piece - at))).ok());
    }
    ASSERT_TRUE((*w)->Flush().ok());
    off += piece;
  }
  auto pieces = Keys(*store, store->UploadPrefix("u1") + "data/");
  EXPECT_EQ(pieces.size(), 6u);  // 3, 8, 1, 0.5, 6, 2
  // Read back across piece boundaries (what a rehash does).
  auto w = store->OpenUpload("u1");
  ASSERT_TRUE(w.ok());
  std::string mid(mib, '\0');
  auto n = (*w)->ReadAt(12 * mib - 1000, std::span<char>(mid));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(mid.substr(0, *n), content.substr(12 * mib - 1000, *n));
  w->reset();

  ASSERT_TRUE(store->Commit("u1", d).ok());
  EXPECT_TRUE(Keys(*store, store->UploadPrefix("u1")).empty()) << "pieces left after Commit";
  auto r = store->Open(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), content.size());
  std::string back = ReadAll(**r, 256 << 10);
  EXPECT_TRUE(back == content) << "content differs after multipart assembly";
  // Published by multipart upload: the ETag says how many parts.
  s3::S3Request head;
  head.method = "HEAD";
  head.key = store->BlobKey(d);
  auto h = store->client().Send(head);
  ASSERT_TRUE(h.ok());
  ASSERT_NE(h->Header("etag"), nullptr);
  EXPECT_NE(h->Header("etag")->find('-'), std::string::npos) << *h->Header("etag");
}

TEST(S3BlobStoreTest, UnflushedBytesAreNotStored) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUpload("u1").ok());
  {
    auto w = store->OpenUpload("u1");
    ASSERT_TRUE((*w)->Append(Span(TestPattern(1000, 2))).ok());
    EXPECT_EQ((*w)->size(), 1000u);
  }
  auto w = store->OpenUpload("u1");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->size(), 0u);
}

TEST(S3BlobStoreTest, AnotherNodeContinuesAnUpload) {
  const std::string prefix = NewPrefix();
  auto a = OpenStore(prefix);
  auto b = OpenStore(prefix);
  ASSERT_TRUE(a && b);
  std::string content = TestPattern(7 << 20, 3);
  ASSERT_TRUE(a->CreateUpload("shared").ok());
  {
    auto w = a->OpenUpload("shared");
    ASSERT_TRUE((*w)->Append(Span(content, 0, 2 << 20)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  {
    auto w = b->OpenUpload("shared");
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->size(), 2u << 20);
    ASSERT_TRUE((*w)->Append(Span(content, 2 << 20)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  auto uploads = a->ListUploads();
  ASSERT_TRUE(uploads.ok());
  ASSERT_EQ(uploads->size(), 1u);
  EXPECT_EQ((*uploads)[0].second.size, content.size());
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(a->Commit("shared", d).ok());
  auto back = b->ReadSmall(d, 64 << 20);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == content);
}

TEST(S3BlobStoreTest, ReaderStreamsSequentiallyAndServesRandomRanges) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::string content = TestPattern((20 << 20) + 5, 4);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(store->CreateUpload("u").ok());
  {
    auto w = store->OpenUpload("u");
    ASSERT_TRUE((*w)->Append(Span(content)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  ASSERT_TRUE(store->Commit("u", d).ok());
  auto r = store->Open(d);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(ReadAll(**r, 256 << 10) == content);
  for (uint64_t off :
       {uint64_t{0}, uint64_t{123}, uint64_t{(8 << 20) - 3}, uint64_t{content.size() - 10}}) {
    std::string buf(5000, '\0');
    auto n = (*r)->ReadAt(off, std::span<char>(buf));
    ASSERT_TRUE(n.ok());
    ASSERT_GT(*n, 0u);
    EXPECT_EQ(buf.substr(0, *n), content.substr(off, *n)) << "at " << off;
  }
  std::string buf(10, '\0');
  auto end = (*r)->ReadAt(content.size(), std::span<char>(buf));
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0u);
}

TEST(S3BlobStoreTest, PresignedUrlServesTheBlob) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::string content = TestPattern(100000, 5);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE(store->PutSmall(d, content).ok());
  auto url = store->PresignedGetUrl(d, time(nullptr), 300);
  ASSERT_TRUE(url.ok());
  std::string out = ::testing::TempDir() + "presigned-" + RandomHexId();
  std::string cmd = "curl -sf -o " + out + " '" + *url + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << *url;
  FILE* f = std::fopen(out.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string got(content.size() + 10, '\0');
  size_t n = std::fread(got.data(), 1, got.size(), f);
  std::fclose(f);
  std::remove(out.c_str());
  EXPECT_EQ(got.substr(0, n), content);
  // Expired (signed an hour ago for a minute): refused.
  auto old = store->PresignedGetUrl(d, time(nullptr) - 3600, 60);
  ASSERT_TRUE(old.ok());
  std::string cmd2 = "curl -s -o /dev/null -w '%{http_code}' '" + *old + "' | grep -q 403";
  EXPECT_EQ(std::system(cmd2.c_str()), 0);
}

TEST(S3BlobStoreTest, HttpsEndpointIsVerified) {
  // The gateway's HTTPS endpoint presents a self-signed certificate for 127.0.0.1.
  auto o = Options(NewPrefix());
  o.s3.endpoint = Env("BERTH_TEST_S3_TLS_ENDPOINT");
  o.s3.ca_file = Env("BERTH_TEST_S3_CA_FILE");
  ASSERT_FALSE(o.s3.endpoint.empty()) << "BERTH_TEST_S3_TLS_ENDPOINT is not set";
  auto s = S3BlobStore::Open(std::move(o));
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string content = TestPattern(3 << 20, 21);
  Digest d = Digest::Sha256Of(content);
  ASSERT_TRUE((*s)->CreateUpload("tls").ok());
  {
    auto w = (*s)->OpenUpload("tls");
    ASSERT_TRUE((*w)->Append(Span(content)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  ASSERT_TRUE((*s)->Commit("tls", d).ok());
  auto r = (*s)->Open(d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(ReadAll(**r, 256 << 10) == content);

  // Without the CA the system store does not trust it: refused, never sent in clear.
  auto untrusted = Options(NewPrefix());
  untrusted.s3.endpoint = Env("BERTH_TEST_S3_TLS_ENDPOINT");
  untrusted.s3.max_attempts = 1;
  auto u = S3BlobStore::Open(std::move(untrusted));
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, Errc::kUnavailable) << u.error().message;
}

TEST(S3BlobStoreTest, WrongSecretIsDenied) {
  auto o = Options(NewPrefix());
  o.s3.secret_access_key = Secret("not-the-secret-not-the-secret-0000000000");
  auto s = S3BlobStore::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kDenied) << s.error().message;
  EXPECT_EQ(s.error().message.find("not-the-secret"), std::string::npos);
}

TEST(S3BlobStoreTest, UnknownBucketIsNotFound) {
  auto o = Options(NewPrefix());
  o.s3.bucket = "no-such-bucket-" + RandomHexId().substr(0, 8);
  auto s = S3BlobStore::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kNotFound) << s.error().message;
}

TEST(S3BlobStoreTest, UnreachableEndpointIsUnavailable) {
  auto o = Options(NewPrefix());
  o.s3.endpoint = "http://127.0.0.1:1";
  o.s3.max_attempts = 2;
  o.s3.backoff_base = std::chrono::milliseconds(1);
  auto s = S3BlobStore::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnavailable) << s.error().message;
}

TEST(S3BlobStoreTest, BadOptionsAreRefused) {
  for (auto change : std::vector<std::function<void(S3BlobStoreOptions&)>>{
           [](auto& o) { o.s3.bucket = ""; },
           [](auto& o) { o.s3.bucket = "Has/Slash"; },
           [](auto& o) { o.s3.endpoint = "ftp://x"; },
           [](auto& o) { o.s3.endpoint = "http://host/path"; },
           [](auto& o) { o.s3.access_key_id = ""; },
           [](auto& o) { o.part_size = 1 << 20; },
           [](auto& o) { o.prefix = "/abs"; },
       }) {
    auto o = Options(NewPrefix());
    change(o);
    auto s = S3BlobStore::Open(std::move(o));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::kInvalidArgument) << s.error().message;
  }
}

TEST(S3BlobStoreTest, ManyThreadsShareABoundedPool) {
  auto o = Options(NewPrefix());
  o.s3.max_connections = 3;
  auto s = S3BlobStore::Open(std::move(o));
  ASSERT_TRUE(s.ok());
  S3BlobStore& store = **s;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      std::string content = TestPattern(300000 + t, 10 + t);
      Digest d = Digest::Sha256Of(content);
      if (!store.PutSmall(d, content).ok()) {
        ++failures;
        return;
      }
      auto back = store.ReadSmall(d, 1 << 20);
      if (!back.ok() || *back != content) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

TEST(S3BlobStoreTest, XmlHelpers) {
  std::string xml =
      "<R><Contents><Key>a&amp;b</Key><Size>3</Size></Contents><Contents><Key>c&#x41;</Key>"
      "<Size>4</Size></Contents><Empty/></R>";
  auto blocks = s3::XmlBlocks(xml, "Contents");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(s3::XmlElements(blocks[0], "Key")[0], "a&b");
  EXPECT_EQ(s3::XmlElements(blocks[1], "Key")[0], "cA");
  EXPECT_EQ(s3::XmlElements(xml, "Empty").size(), 1u);
  EXPECT_EQ(s3::XmlEscape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
  EXPECT_EQ(s3::ParseS3Time("2026-11-28T13:00:00.000Z"), 1795870800);
  EXPECT_EQ(s3::ParseS3Time("Sat, 28 Nov 2026 13:00:00 GMT"), 1795870800);
  EXPECT_EQ(s3::ParseS3Time("garbage"), 0);
}

}  // namespace
}  // namespace berth::storage
