#include "base/crypto.h"

#include <memory>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

namespace berth {
namespace {
constexpr unsigned char kSealVersion = 1;
constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256Raw(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string HexEncode(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

Secret DeriveKey(const Secret& ikm, std::string_view purpose) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  BERTH_CHECK(ctx != nullptr);
  BERTH_CHECK(EVP_PKEY_derive_init(ctx.get()) == 1);
  BERTH_CHECK(EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) == 1);
  BERTH_CHECK(EVP_PKEY_CTX_set1_hkdf_key(
                  ctx.get(), reinterpret_cast<const unsigned char*>(ikm.reveal().data()),
                  static_cast<int>(ikm.size())) == 1);
  BERTH_CHECK(EVP_PKEY_CTX_add1_hkdf_info(ctx.get(),
                                          reinterpret_cast<const unsigned char*>(purpose.data()),
                                          static_cast<int>(purpose.size())) == 1);
  std::string out(32, '\0');
  size_t len = out.size();
  BERTH_CHECK(EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) == 1);
  return Secret(std::move(out));
}

Result<std::string> Seal(const Secret& key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != 32) {
    return MakeError(Errc::kInvalidArgument, "seal: key must be 32 bytes");
  }
  std::string out;
  out.push_back(static_cast<char>(kSealVersion));
  std::string nonce = RandomBytes(kNonce);
  out += nonce;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(key.reveal()), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1) {
    return MakeError(Errc::kInternal, "seal: cipher init failed");
  }
  size_t off = out.size();
  out.resize(off + plaintext.size() + kTag);
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + off);
  if (EVP_EncryptUpdate(ctx.get(), dst, &len, u(plaintext), static_cast<int>(plaintext.size())) !=
      1) {
    return MakeError(Errc::kInternal, "seal: encrypt failed");
  }
  int fin = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), dst + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, dst + plaintext.size()) != 1) {
    return MakeError(Errc::kInternal, "seal: finalize failed");
  }
  return out;
}

Result<Secret> Unseal(const Secret& key, std::string_view sealed, std::string_view aad) {
  if (key.size() != 32 || sealed.size() < 1 + kNonce + kTag ||
      static_cast<unsigned char>(sealed[0]) != kSealVersion) {
    return MakeError(Errc::kCorrupt, "unseal: malformed sealed value");
  }
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  std::string_view nonce = sealed.substr(1, kNonce);
  std::string_view body = sealed.substr(1 + kNonce, sealed.size() - 1 - kNonce - kTag);
  std::string tag(sealed.substr(sealed.size() - kTag));
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::string out(body.size(), '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(key.reveal()), u(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), dst, &len, u(body), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1) {
    return MakeError(Errc::kCorrupt, "unseal: decrypt failed");
  }
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), dst + len, &fin) != 1) {
    return MakeError(Errc::kCorrupt, "unseal: authentication failed (wrong key or tampered)");
  }
  return Secret(std::move(out));
}

std::string Base64Encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return MakeError(Errc::kInvalidArgument, "invalid base64");
  }
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) {
      return MakeError(Errc::kInvalidArgument, "invalid base64");
    }
  }
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) {
    return MakeError(Errc::kInvalidArgument, "invalid base64");
  }
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') {
    ++pad;
    if (text.size() > 1 && text[text.size() - 2] == '=') {
      ++pad;
    }
  }
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Base64UrlEncode(std::string_view raw) {
  std::string s = Base64Encode(raw);
  while (!s.empty() && s.back() == '=') {
    s.pop_back();
  }
  for (char& c : s) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return s;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '+' || c == '/' || c == '=') {
      return MakeError(Errc::kInvalidArgument, "invalid base64url");
    }
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (s.size() % 4 != 0) {
    s.push_back('=');
  }
  return Base64Decode(s);
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  BERTH_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
  return out;
}

}  // namespace berth
