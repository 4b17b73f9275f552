#include "base/secret.h"

#include <cstring>
#include <utility>

#include <openssl/crypto.h>

namespace berth {

Secret::Secret(std::string_view bytes) : size_(bytes.size()) {
  if (size_ > 0) {
    data_ = std::make_unique_for_overwrite<char[]>(size_);
    std::memcpy(data_.get(), bytes.data(), size_);
  }
}

Secret::Secret(std::string&& bytes) : Secret(std::string_view(bytes)) {
  // Wipe the whole buffer, not just [0, size): capacity() covers both heap and small-string
  // storage, and resize() makes every byte of it addressable.
  bytes.resize(bytes.capacity());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  bytes.clear();
}

Secret::~Secret() { Wipe(); }

Secret::Secret(Secret&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Secret Secret::Clone() const { return Secret(reveal()); }

bool Secret::ConstantTimeEquals(const Secret& other) const {
  return berth::ConstantTimeEquals(reveal(), other.reveal());
}

void Secret::Wipe() noexcept {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_.get(), size_);
  }
  data_.reset();
  size_ = 0;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace berth
