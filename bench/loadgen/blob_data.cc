#include "loadgen/blob_data.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "loadgen/rng.h"

namespace berth::bench {
namespace {

void Hex(const unsigned char* md, unsigned len, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
}

void FinalInto(EVP_MD_CTX* ctx, char* out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32) {
    throw std::runtime_error("SHA-256 failed");
  }
  std::memcpy(out, "sha256:", 7);
  Hex(md, len, out + 7);
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) {
    throw std::bad_alloc();
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Init() {
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 init failed");
  }
}

void Sha256::Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }

std::string Sha256::Final() {
  std::string out(kDigestLen, '\0');
  FinalInto(ctx_, out.data());
  return out;
}

std::string Sha256Digest(const void* data, size_t n) {
  Sha256 h;
  h.Init();
  h.Update(data, n);
  return h.Final();
}

BlobFamily::BlobFamily(uint64_t size, size_t count, uint64_t seed) : size_(size), count_(count) {
  if (size == 0 || count == 0) {
    throw std::invalid_argument("blob size and count must be positive");
  }
  prefix_len_ = size > 64 ? ((size - 64) / 64) * 64 : 0;
  tail_len_ = size - prefix_len_;
  Rng rng(seed);
  prefix_.reset(new char[std::max<uint64_t>(prefix_len_, 1)]);
  rng.Fill(prefix_.get(), prefix_len_);
  tails_.reset(new char[tail_len_ * count]);
  rng.Fill(tails_.get(), tail_len_ * count);
  digests_.reset(new char[kDigestLen * count]);

  Sha256 base;
  base.Init();
  base.Update(prefix_.get(), prefix_len_);
  Sha256 one;
  for (size_t i = 0; i < count; ++i) {
    if (EVP_MD_CTX_copy_ex(one.ctx(), base.ctx()) != 1) {
      throw std::runtime_error("EVP_MD_CTX_copy_ex failed");
    }
    one.Update(tails_.get() + i * tail_len_, tail_len_);
    FinalInto(one.ctx(), digests_.get() + i * kDigestLen);
  }
}

BufferPair BlobFamily::Slice(size_t i, uint64_t off, uint64_t len) const {
  BufferPair out;
  const uint64_t end = std::min(size_, off + len);
  if (off < prefix_len_) {
    const uint64_t e = std::min(end, prefix_len_);
    out.b[out.n++] = boost::asio::const_buffer(prefix_.get() + off, e - off);
    off = e;
  }
  if (off < end) {
    const char* tail = tails_.get() + i * tail_len_;
    out.b[out.n++] = boost::asio::const_buffer(tail + (off - prefix_len_), end - off);
  }
  return out;
}

}  // namespace berth::bench
