// Secret: bytes that must not leak (secret access keys, derived signing keys, token keys).
//
// A Secret cannot be printed or implicitly converted to a string: there is no operator<<, no
// conversion operator and no copy constructor. Code that needs the bytes for a crypto call asks
// for them by name with reveal(); copies are explicit with Clone(). The bytes live in one heap
// buffer owned by the Secret: moving transfers that buffer (no stray copy), and the destructor
// and move assignment wipe it with OPENSSL_cleanse before freeing it.
//
// Comparisons between secrets, or between a secret-derived value and attacker input (a
// signature, a token), go through ConstantTimeEquals, whose running time depends on the lengths
// only, never on where the contents first differ.
//
// Thread-safety: like std::string, const methods may be called concurrently; anything else needs
// external synchronisation.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace berth {

class Secret {
 public:
  // An empty secret.
  Secret() = default;
  // Copies `bytes`; the caller remains responsible for wiping its own copy.
  explicit Secret(std::string_view bytes);
  explicit Secret(const char* bytes) : Secret(std::string_view(bytes)) {}
  // Takes the bytes of `bytes` and wipes the string's whole buffer (including its small-string
  // buffer), leaving it empty. Use this for secrets assembled in a temporary std::string.
  explicit Secret(std::string&& bytes);

  ~Secret();
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // An independent copy holding the same bytes.
  Secret Clone() const;

  // The secret bytes, valid until this Secret is destroyed, moved from or assigned to. For
  // passing to crypto primitives only: never log, format or store the view.
  std::string_view reveal() const { return std::string_view(data_.get(), size_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // True when both secrets hold the same bytes; constant-time in the contents (see below).
  bool ConstantTimeEquals(const Secret& other) const;

 private:
  void Wipe() noexcept;

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

// True when `a` and `b` hold the same bytes. Different lengths compare unequal at once (lengths
// are not secret: signatures and keys have fixed sizes); equal lengths are compared with
// CRYPTO_memcmp, which reads every byte whatever the contents.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace berth
