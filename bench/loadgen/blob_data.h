// Blob data for the load generator, generated and hashed before any clock starts.
//
// A BlobFamily holds `count` distinct blobs of one size. They share a random prefix whose length
// is a multiple of the SHA-256 block (64 bytes) and differ in a random tail of 64..127 bytes, so
// that the family costs one prefix in memory however many blobs it has, and each digest costs one
// SHA-256 midstate copy plus the tail. Every blob is still unique random content with its own
// digest, and request bodies are sent straight from this memory (scatter-gather, no copies).
//
// Immutable after construction; safe to read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <openssl/evp.h>

namespace berth::bench {

// "sha256:<64 lowercase hex>".
inline constexpr size_t kDigestLen = 7 + 64;

std::string Sha256Digest(const void* data, size_t n);

// RAII owner of an EVP_MD_CTX; Init() starts a SHA-256, Final() returns the "sha256:…" string.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Init();
  void Update(const void* data, size_t n);
  std::string Final();
  EVP_MD_CTX* ctx() { return ctx_; }

 private:
  EVP_MD_CTX* ctx_;
};

// Up to two buffers: a slice of the shared prefix and a slice of the blob's tail.
struct BufferPair {
  boost::asio::const_buffer b[2];
  size_t n = 0;
  uint64_t size() const { return b[0].size() + b[1].size(); }
};

class BlobFamily {
 public:
  // Generates `count` blobs of `size` bytes (size >= 1) from `seed`; the same arguments give the
  // same blobs in every process (fixtures rely on that).
  BlobFamily(uint64_t size, size_t count, uint64_t seed);
  BlobFamily(const BlobFamily&) = delete;
  BlobFamily& operator=(const BlobFamily&) = delete;

  uint64_t size() const { return size_; }
  size_t count() const { return count_; }
  std::string_view digest(size_t i) const {
    return std::string_view(digests_.get() + i * kDigestLen, kDigestLen);
  }
  // Bytes [off, off + len) of blob i.
  BufferPair Slice(size_t i, uint64_t off, uint64_t len) const;
  BufferPair Whole(size_t i) const { return Slice(i, 0, size_); }

 private:
  uint64_t size_;
  size_t count_;
  uint64_t prefix_len_;
  uint64_t tail_len_;
  std::unique_ptr<char[]> prefix_;
  std::unique_ptr<char[]> tails_;
  std::unique_ptr<char[]> digests_;
};

}  // namespace berth::bench
