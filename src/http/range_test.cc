#include "http/range.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace berth::http {
namespace {

enum class Want { kWhole, kPart, kInvalid };

struct RangeCase {
  std::string header;
  uint64_t size;
  Want want;
  uint64_t offset = 0;
  uint64_t length = 0;
};

void PrintTo(const RangeCase& c, std::ostream* os) {
  *os << "'" << c.header << "' of " << c.size << " bytes";
}

class ParseRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ParseRangeTest, Resolves) {
  const RangeCase& c = GetParam();
  auto r = ParseRange(c.header, c.size);
  switch (c.want) {
    case Want::kWhole:
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_FALSE(r->has_value()) << "offset " << (*r)->offset << " length " << (*r)->length;
      break;
    case Want::kPart:
      ASSERT_TRUE(r.ok()) << r.error().message;
      ASSERT_TRUE(r->has_value());
      EXPECT_EQ((*r)->offset, c.offset);
      EXPECT_EQ((*r)->length, c.length);
      break;
    case Want::kInvalid:
      ASSERT_FALSE(r.ok()) << "accepted";
      EXPECT_EQ(r.error().code, Errc::kRangeInvalid);
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseRangeTest,
    ::testing::Values(
        // No usable range: serve everything.
        RangeCase{"", 100, Want::kWhole}, RangeCase{"   ", 100, Want::kWhole},
        RangeCase{"bytes=0-1,3-4", 100, Want::kWhole}, RangeCase{"bytes=0-0,-1", 100, Want::kWhole},
        // Single ranges.
        RangeCase{"bytes=0-0", 100, Want::kPart, 0, 1},
        RangeCase{"bytes=0-", 100, Want::kPart, 0, 100},
        RangeCase{"bytes=0-99", 100, Want::kPart, 0, 100},
        RangeCase{"bytes=10-19", 100, Want::kPart, 10, 10},
        RangeCase{"bytes=99-", 100, Want::kPart, 99, 1},
        RangeCase{"bytes=-5", 100, Want::kPart, 95, 5},
        RangeCase{"bytes=-100", 100, Want::kPart, 0, 100},
        RangeCase{"bytes=-500", 100, Want::kPart, 0, 100},  // suffix longer than the blob
        RangeCase{"bytes=5-1000", 10, Want::kPart, 5, 5},   // end beyond size clamps
        RangeCase{"bytes=0-18446744073709551615", 10, Want::kPart, 0, 10},
        RangeCase{"  bytes=1-2  ", 100, Want::kPart, 1, 2},
        RangeCase{"bytes=0-0", 1, Want::kPart, 0, 1},
        // Malformed.
        RangeCase{"bytes=5-2", 100, Want::kInvalid}, RangeCase{"garbage", 100, Want::kInvalid},
        RangeCase{"bytes=", 100, Want::kInvalid}, RangeCase{"bytes=abc", 100, Want::kInvalid},
        RangeCase{"bytes=a-b", 100, Want::kInvalid}, RangeCase{"bytes=1-b", 100, Want::kInvalid},
        RangeCase{"bytes=-", 100, Want::kInvalid}, RangeCase{"bytes=-x", 100, Want::kInvalid},
        RangeCase{"bytes=+1-2", 100, Want::kInvalid}, RangeCase{"bytes=-1-2", 100, Want::kInvalid},
        // Unsatisfiable.
        RangeCase{"bytes=10-", 10, Want::kInvalid}, RangeCase{"bytes=10-20", 10, Want::kInvalid},
        RangeCase{"bytes=-0", 10, Want::kInvalid},
        // Empty representation: nothing is satisfiable, but no header still means "all of it".
        RangeCase{"", 0, Want::kWhole}, RangeCase{"bytes=0-", 0, Want::kInvalid},
        RangeCase{"bytes=0-0", 0, Want::kInvalid}, RangeCase{"bytes=-5", 0, Want::kInvalid}));

// RFC 9110 §14.2: "An origin server MUST ignore a Range header field that contains a range
// unit it does not understand" — serve the whole representation (200), not 416.
TEST(ParseRangeUnitTest, IgnoresUnknownRangeUnit) {
  for (std::string_view header : {"items=0-1", "pages=2-4"}) {
    auto r = ParseRange(header, 100);
    ASSERT_TRUE(r.ok()) << header << ": " << r.error().message;
    EXPECT_FALSE(r->has_value()) << header;
  }
}

// RFC 9110 §14.1: "Range unit names are case-insensitive."
TEST(ParseRangeUnitTest, RangeUnitIsCaseInsensitive) {
  for (std::string_view header : {"Bytes=0-1", "BYTES=0-1"}) {
    auto r = ParseRange(header, 100);
    ASSERT_TRUE(r.ok()) << header << ": " << r.error().message;
    ASSERT_TRUE(r->has_value()) << header;
    EXPECT_EQ((*r)->offset, 0u);
    EXPECT_EQ((*r)->length, 2u);
  }
}

struct ContentRangeCase {
  std::string header;
  bool valid;
  uint64_t first = 0;
  uint64_t last = 0;
};

void PrintTo(const ContentRangeCase& c, std::ostream* os) { *os << "'" << c.header << "'"; }

class ParseContentRangeTest : public ::testing::TestWithParam<ContentRangeCase> {};

TEST_P(ParseContentRangeTest, Parses) {
  const ContentRangeCase& c = GetParam();
  auto r = ParseContentRange(c.header);
  if (c.valid) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->first, c.first);
    EXPECT_EQ(r->last, c.last);
  } else {
    ASSERT_FALSE(r.ok()) << "accepted " << r->first << "-" << r->last;
    EXPECT_EQ(r.error().code, Errc::kRangeInvalid);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseContentRangeTest,
    ::testing::Values(
        ContentRangeCase{"0-99", true, 0, 99}, ContentRangeCase{"bytes 0-99/100", true, 0, 99},
        ContentRangeCase{"bytes 0-99/*", true, 0, 99},
        ContentRangeCase{"bytes 100-199", true, 100, 199},
        ContentRangeCase{"bytes=0-99", true, 0, 99}, ContentRangeCase{"5-5", true, 5, 5},
        ContentRangeCase{" 10-20 ", true, 10, 20}, ContentRangeCase{"5-4", false},
        ContentRangeCase{"abc", false}, ContentRangeCase{"", false}, ContentRangeCase{"-5", false},
        ContentRangeCase{"5-", false}, ContentRangeCase{"-", false}, ContentRangeCase{"a-b", false},
        ContentRangeCase{"bytes */100", false}, ContentRangeCase{"+1-2", false}));

}  // namespace
}  // namespace berth::http
