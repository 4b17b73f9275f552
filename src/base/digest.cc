// The hash state of an upload is saved between requests (Hasher::SaveState), which needs the
// plain SHA-2 contexts: OpenSSL 3 marks that API deprecated but keeps it, on the same SHA-NI
// code as EVP.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "base/digest.h"

#include <cstring>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace berth {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// OCI image-spec descriptor.md: algorithm-component := [a-z0-9]+, separated by [+._-].
bool ValidAlgorithmGrammar(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  bool prev_sep = true;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool sep = c == '+' || c == '.' || c == '_' || c == '-';
    if (alnum) {
      prev_sep = false;
    } else if (sep && !prev_sep) {
      prev_sep = true;
    } else {
      return false;
    }
  }
  return !prev_sep;
}

// encoded := [a-zA-Z0-9=_-]+
bool ValidEncodedGrammar(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Digest> Digest::Parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || text.size() > 256) {
    return MakeError(Errc::kDigestInvalid, "invalid digest: expected <algorithm>:<hex>",
                     std::string(text.substr(0, 256)));
  }
  std::string_view algo = text.substr(0, colon);
  std::string_view enc = text.substr(colon + 1);
  if (!ValidAlgorithmGrammar(algo) || !ValidEncodedGrammar(enc)) {
    return MakeError(Errc::kDigestInvalid, "invalid digest format", std::string(text));
  }
  DigestAlgorithm a;
  size_t want;
  if (algo == "sha256") {
    a = DigestAlgorithm::kSha256;
    want = 64;
  } else if (algo == "sha512") {
    a = DigestAlgorithm::kSha512;
    want = 128;
  } else {
    return MakeError(Errc::kUnsupported, "unsupported digest algorithm " + std::string(algo),
                     std::string(text));
  }
  if (enc.size() != want || !IsLowerHex(enc)) {
    return MakeError(
        Errc::kDigestInvalid,
        std::string(algo) + " digest must be " + std::to_string(want) + " lowercase hex characters",
        std::string(text));
  }
  return Digest(a, std::string(text));
}

std::string_view Digest::algorithm_name() const {
  return algorithm_ == DigestAlgorithm::kSha256 ? "sha256" : "sha512";
}

Digest Digest::Sha256Of(std::string_view bytes) {
  Hasher h;
  h.Update(bytes);
  return h.Finish();
}

struct Hasher::Ctx {
  SHA256_CTX s256;
  SHA512_CTX s512;
};

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), ctx_(std::make_unique<Ctx>()) {
  if (algorithm_ == DigestAlgorithm::kSha256) {
    BERTH_CHECK(SHA256_Init(&ctx_->s256) == 1);
  } else {
    BERTH_CHECK(SHA512_Init(&ctx_->s512) == 1);
  }
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(std::span<const char> bytes) {
  if (algorithm_ == DigestAlgorithm::kSha256) {
    SHA256_Update(&ctx_->s256, bytes.data(), bytes.size());
  } else {
    SHA512_Update(&ctx_->s512, bytes.data(), bytes.size());
  }
  bytes_ += bytes.size();
}

Digest Hasher::Finish() const {
  unsigned char out[SHA512_DIGEST_LENGTH];
  unsigned len = 0;
  if (algorithm_ == DigestAlgorithm::kSha256) {
    SHA256_CTX copy = ctx_->s256;
    SHA256_Final(out, &copy);
    len = SHA256_DIGEST_LENGTH;
  } else {
    SHA512_CTX copy = ctx_->s512;
    SHA512_Final(out, &copy);
    len = SHA512_DIGEST_LENGTH;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(algorithm_ == DigestAlgorithm::kSha256 ? "sha256:" : "sha512:");
  for (unsigned i = 0; i < len; ++i) {
    text.push_back(kHex[out[i] >> 4]);
    text.push_back(kHex[out[i] & 0xf]);
  }
  return Digest(algorithm_, std::move(text));
}

namespace {
// Saved state: tag ‖ '\n' ‖ raw context bytes. The tag names the format, the algorithm, the
// byte count and the OpenSSL build (the context layout is OpenSSL's), so a state from another
// build or algorithm is refused rather than misread.
std::string StateTag(DigestAlgorithm a, uint64_t bytes) {
  std::string tag = "berth-hash-state/1 ";
  tag += a == DigestAlgorithm::kSha256 ? "sha256 " : "sha512 ";
  tag += std::to_string(OPENSSL_VERSION_NUMBER);
  tag += ' ';
  tag += std::to_string(bytes);
  return tag;
}
}  // namespace

std::string Hasher::SaveState() const {
  std::string out = StateTag(algorithm_, bytes_);
  out += '\n';
  if (algorithm_ == DigestAlgorithm::kSha256) {
    out.append(reinterpret_cast<const char*>(&ctx_->s256), sizeof(SHA256_CTX));
  } else {
    out.append(reinterpret_cast<const char*>(&ctx_->s512), sizeof(SHA512_CTX));
  }
  return out;
}

Result<Hasher> Hasher::RestoreState(std::string_view state, DigestAlgorithm algorithm,
                                    uint64_t bytes) {
  size_t nl = state.find('\n');
  size_t want = algorithm == DigestAlgorithm::kSha256 ? sizeof(SHA256_CTX) : sizeof(SHA512_CTX);
  if (nl == std::string_view::npos || state.substr(0, nl) != StateTag(algorithm, bytes) ||
      state.size() - nl - 1 != want) {
    return MakeError(Errc::kInvalidArgument, "saved hash state does not match");
  }
  Hasher h(algorithm);
  if (algorithm == DigestAlgorithm::kSha256) {
    std::memcpy(&h.ctx_->s256, state.data() + nl + 1, want);
  } else {
    std::memcpy(&h.ctx_->s512, state.data() + nl + 1, want);
  }
  h.bytes_ = bytes;
  return h;
}

}  // namespace berth
