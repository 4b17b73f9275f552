// Small string helpers shared by every module.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth {

// Parses a non-negative decimal integer with no sign, spaces or leading '+'; nullopt otherwise.
inline std::optional<uint64_t> ParseUint(std::string_view s) {
  if (s.empty() || s.size() > 20) {
    return std::nullopt;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

inline std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// RFC 3339 UTC timestamp with second precision, e.g. 2026-11-28T05:34:40Z.
std::string FormatRfc3339(int64_t unix_seconds);

// A random identifier: 32 lowercase hex characters from OpenSSL's CSPRNG.
std::string RandomHexId();
// A random RFC 4122 version-4 UUID, lowercase (ECR's upload id form).
std::string RandomUuid();

}  // namespace berth
