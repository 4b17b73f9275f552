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

// `s` with A-Z turned into a-z (HTTP header names, host names); other bytes unchanged.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
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

// ASCII case-insensitive equality.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) {
      return false;
    }
  }
  return true;
}

// RFC 3339 UTC timestamp with second precision, e.g. 2026-11-28T05:34:40Z.
std::string FormatRfc3339(int64_t unix_seconds);
// Parses an ISO 8601 / RFC 3339 time: "2026-01-02", "2026-01-02T03:04:05Z", with optional
// fractional seconds and "+hh:mm" offsets (no offset means UTC). Seconds since the epoch,
// fractions kept; nullopt if malformed.
std::optional<double> ParseIso8601(std::string_view s);

// A random identifier: 32 lowercase hex characters from OpenSSL's CSPRNG.
std::string RandomHexId();
// A random RFC 4122 version-4 UUID, lowercase (ECR's upload id form).
std::string RandomUuid();

}  // namespace berth
