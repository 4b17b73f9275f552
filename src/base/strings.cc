#include "base/strings.h"

#include <time.h>

#include <cctype>
#include <ctime>

#include <openssl/rand.h>

#include "base/error.h"

namespace berth {

std::string FormatRfc3339(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  return buf;
}

std::optional<double> ParseIso8601(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  size_t pos = 0;
  auto digits = [&](int n, int& out) {
    if (pos + n > s.size()) {
      return false;
    }
    out = 0;
    for (int i = 0; i < n; ++i) {
      char c = s[pos + i];
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return false;
      }
      out = out * 10 + (c - '0');
    }
    pos += n;
    return true;
  };
  auto lit = [&](char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  if (!digits(4, y) || !lit('-') || !digits(2, mo) || !lit('-') || !digits(2, d)) {
    return std::nullopt;
  }
  double frac = 0;
  int offset = 0;
  if (pos < s.size()) {
    if (!lit('T') && !lit('t')) {
      return std::nullopt;
    }
    if (!digits(2, h) || !lit(':') || !digits(2, mi)) {
      return std::nullopt;
    }
    if (lit(':') && !digits(2, sec)) {
      return std::nullopt;
    }
    if (lit('.')) {
      double scale = 0.1;
      size_t start = pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        frac += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) {
        return std::nullopt;
      }
    }
    if (lit('Z') || lit('z')) {
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      int sign = s[pos] == '-' ? -1 : 1;
      ++pos;
      int oh = 0, om = 0;
      if (!digits(2, oh)) {
        return std::nullopt;
      }
      lit(':');
      if (!digits(2, om)) {
        return std::nullopt;
      }
      offset = sign * (oh * 3600 + om * 60);
    }
    if (pos != s.size()) {
      return std::nullopt;
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<double>(timegm(&tm)) - offset + frac;
}

std::string RandomHexId() {
  unsigned char raw[16];
  BERTH_CHECK(RAND_bytes(raw, sizeof raw) == 1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

}  // namespace berth

namespace berth {
std::string RandomUuid() {
  std::string h = RandomHexId();
  h[12] = '4';
  static constexpr char kVariant[] = "89ab";
  h[16] = kVariant[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}
}  // namespace berth
