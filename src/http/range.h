// Parsing of Range (RFC 9110 §14.2, single byte range) and of the upload Content-Range form
// used by the OCI distribution-spec ("<start>-<end>", inclusive). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/error.h"

namespace berth::http {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Resolves a Range header against a representation of `size` bytes.
//   nullopt          → no usable range: serve the whole representation (absent header, or
//                      several ranges, which RFC 9110 lets a server ignore).
//   ByteRange        → serve that part with 206.
//   kRangeInvalid    → malformed or unsatisfiable: answer 416 with "bytes */size".
Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size);

// Parses an upload chunk's Content-Range "<start>-<end>" (also "bytes <start>-<end>[/<total>]").
// Returns the first byte offset and the inclusive last offset. kRangeInvalid if malformed or
// end < start.
struct ChunkRange {
  uint64_t first = 0;
  uint64_t last = 0;
};
Result<ChunkRange> ParseContentRange(std::string_view header);

}  // namespace berth::http
