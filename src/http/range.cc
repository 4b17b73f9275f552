#include "http/range.h"

#include <cctype>
#include <string>

#include "base/strings.h"

namespace berth::http {
namespace {
Error Bad(std::string_view what, std::string_view header) {
  return MakeError(Errc::kRangeInvalid, std::string(what), std::string(header.substr(0, 200)));
}
}  // namespace

Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size) {
  std::string_view h = TrimSpace(header);
  if (h.empty()) {
    return std::optional<ByteRange>();
  }
  // RFC 9110 §14.1-14.2: unit names are case-insensitive, and a Range with a unit the server
  // does not support is ignored (the whole representation is served).
  auto eq = h.find('=');
  if (eq == std::string_view::npos) {
    return Bad("malformed byte range", header);
  }
  std::string_view unit = TrimSpace(h.substr(0, eq));
  bool is_bytes = unit.size() == 5;
  for (size_t i = 0; is_bytes && i < 5; ++i) {
    is_bytes = std::tolower(static_cast<unsigned char>(unit[i])) == "bytes"[i];
  }
  if (!is_bytes) {
    return std::optional<ByteRange>();
  }
  h.remove_prefix(eq + 1);
  if (h.find(',') != std::string_view::npos) {
    return std::optional<ByteRange>();  // multiple ranges: serve the whole blob
  }
  auto dash = h.find('-');
  if (dash == std::string_view::npos) {
    return Bad("malformed byte range", header);
  }
  std::string_view a = TrimSpace(h.substr(0, dash));
  std::string_view b = TrimSpace(h.substr(dash + 1));
  if (a.empty()) {
    // Suffix range: the last N bytes.
    auto n = ParseUint(b);
    if (!n) {
      return Bad("malformed byte range", header);
    }
    if (*n == 0 || size == 0) {
      return Bad("range not satisfiable", header);
    }
    uint64_t len = std::min(*n, size);
    return std::optional<ByteRange>(ByteRange{size - len, len});
  }
  auto first = ParseUint(a);
  if (!first) {
    return Bad("malformed byte range", header);
  }
  uint64_t last = size == 0 ? 0 : size - 1;
  if (!b.empty()) {
    auto l = ParseUint(b);
    if (!l || *l < *first) {
      return Bad("malformed byte range", header);
    }
    last = std::min(*l, last);
  }
  if (*first >= size) {
    return Bad("range not satisfiable", header);
  }
  return std::optional<ByteRange>(ByteRange{*first, last - *first + 1});
}

Result<ChunkRange> ParseContentRange(std::string_view header) {
  std::string_view h = TrimSpace(header);
  if (h.substr(0, 6) == "bytes ") {
    h.remove_prefix(6);
  } else if (h.substr(0, 6) == "bytes=") {
    h.remove_prefix(6);
  }
  if (auto slash = h.find('/'); slash != std::string_view::npos) {
    h = h.substr(0, slash);
  }
  auto dash = h.find('-');
  if (dash == std::string_view::npos) {
    return Bad("malformed Content-Range; expected <start>-<end>", header);
  }
  auto first = ParseUint(TrimSpace(h.substr(0, dash)));
  auto last = ParseUint(TrimSpace(h.substr(dash + 1)));
  if (!first || !last || *last < *first) {
    return Bad("malformed Content-Range; expected <start>-<end>", header);
  }
  return ChunkRange{*first, *last};
}

}  // namespace berth::http
