// Small crypto helpers over OpenSSL 3 EVP: HMAC-SHA256, HKDF-SHA256, AES-256-GCM sealing,
// base64 and random bytes. Pure functions; thread-safe.
//
// Seal/Unseal protect small secrets at rest (access-key secrets): output is
// version(1) ‖ nonce(12) ‖ ciphertext ‖ tag(16), with `aad` authenticated but not stored, so a
// sealed value moved to another record (different aad) fails to open.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret.h"

namespace berth {

// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);
std::string Sha256Raw(std::string_view data);
std::string HexEncode(std::string_view raw);
// HKDF-SHA256 (RFC 5869) with empty salt: a 32-byte key for `purpose` from `ikm`.
Secret DeriveKey(const Secret& ikm, std::string_view purpose);

// Errors: kInvalidArgument (key is not 32 bytes).
Result<std::string> Seal(const Secret& key, std::string_view plaintext, std::string_view aad);
// Errors: kCorrupt (tampered, truncated, wrong key or aad).
Result<Secret> Unseal(const Secret& key, std::string_view sealed, std::string_view aad);

std::string Base64Encode(std::string_view raw);
// kInvalidArgument if not valid base64.
Result<std::string> Base64Decode(std::string_view text);
// URL-safe base64 without padding (RFC 4648 §5), for tokens.
std::string Base64UrlEncode(std::string_view raw);
Result<std::string> Base64UrlDecode(std::string_view text);

std::string RandomBytes(size_t n);

}  // namespace berth
