// Content digests ("sha256:<hex>") and streaming hashers.
//
// Digest is an immutable, validated value. Parse() accepts the OCI grammar
// `algorithm ":" encoded` and only the registered algorithms berth can verify
// (sha256, sha512) with their exact lowercase-hex lengths; anything else is
// kDigestInvalid (malformed) or kUnsupported (well-formed, unknown algorithm).
// Hasher wraps OpenSSL EVP (SHA-NI where the CPU has it); not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth {

enum class DigestAlgorithm { kSha256, kSha512 };

class Digest {
 public:
  static Result<Digest> Parse(std::string_view text);
  static Digest Sha256Of(std::string_view bytes);

  DigestAlgorithm algorithm() const { return algorithm_; }
  std::string_view algorithm_name() const;
  std::string_view hex() const { return std::string_view(text_).substr(text_.find(':') + 1); }
  const std::string& str() const { return text_; }

  friend bool operator==(const Digest& a, const Digest& b) { return a.text_ == b.text_; }
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.text_ <=> b.text_; }

 private:
  Digest(DigestAlgorithm a, std::string text) : algorithm_(a), text_(std::move(text)) {}
  friend class Hasher;
  DigestAlgorithm algorithm_;
  std::string text_;
};

class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::kSha256);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(std::span<const char> bytes);
  void Update(std::string_view bytes) { Update(std::span<const char>(bytes.data(), bytes.size())); }
  // Exact overloads so strings and literals never bind to the span (which for a literal would
  // include its terminating NUL).
  void Update(const std::string& bytes) { Update(std::string_view(bytes)); }
  void Update(const char* bytes) { Update(std::string_view(bytes)); }
  // Finish() returns the digest of everything passed so far; the hasher stays usable (it
  // finalises a copy), so a resumed upload can keep hashing after a status query.
  Digest Finish() const;
  DigestAlgorithm algorithm() const { return algorithm_; }
  uint64_t bytes() const { return bytes_; }

  // The running state as bytes, so hashing can resume in another request, process or node
  // (same binary) without re-reading what was hashed. RestoreState refuses (kInvalidArgument)
  // a state of another algorithm, byte count or OpenSSL build.
  std::string SaveState() const;
  static Result<Hasher> RestoreState(std::string_view state, DigestAlgorithm algorithm,
                                     uint64_t bytes);

 private:
  struct Ctx;
  DigestAlgorithm algorithm_;
  std::unique_ptr<Ctx> ctx_;
  uint64_t bytes_ = 0;
};

}  // namespace berth
