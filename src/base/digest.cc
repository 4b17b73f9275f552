#include "base/digest.h"

#include <openssl/evp.h>

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

const EVP_MD* Md(DigestAlgorithm a) {
  return a == DigestAlgorithm::kSha256 ? EVP_sha256() : EVP_sha512();
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
  EVP_MD_CTX* ctx = nullptr;
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), ctx_(std::make_unique<Ctx>()) {
  ctx_->ctx = EVP_MD_CTX_new();
  BERTH_CHECK(ctx_->ctx != nullptr);
  BERTH_CHECK(EVP_DigestInit_ex(ctx_->ctx, Md(algorithm), nullptr) == 1);
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(std::span<const char> bytes) {
  EVP_DigestUpdate(ctx_->ctx, bytes.data(), bytes.size());
  bytes_ += bytes.size();
}

Digest Hasher::Finish() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  BERTH_CHECK(copy != nullptr);
  EVP_MD_CTX_copy_ex(copy, ctx_->ctx);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(copy, out, &len);
  EVP_MD_CTX_free(copy);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(algorithm_ == DigestAlgorithm::kSha256 ? "sha256:" : "sha512:");
  for (unsigned i = 0; i < len; ++i) {
    text.push_back(kHex[out[i] >> 4]);
    text.push_back(kHex[out[i] & 0xf]);
  }
  return Digest(algorithm_, std::move(text));
}

}  // namespace berth
