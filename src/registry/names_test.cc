#include "registry/names.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace berth::registry {
namespace {

struct NameCase {
  std::string name;
  bool valid;
};

void PrintTo(const NameCase& c, std::ostream* os) {
  *os << "'" << c.name.substr(0, 40) << (c.name.size() > 40 ? "…" : "") << "' (" << c.name.size()
      << " chars)";
}

class RepositoryNameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(RepositoryNameTest, FollowsGrammar) {
  const NameCase& c = GetParam();
  EXPECT_EQ(IsValidRepositoryName(c.name), c.valid);
  Status s = ValidateRepositoryName(c.name);
  EXPECT_EQ(s.ok(), c.valid);
  if (!s.ok()) {
    EXPECT_EQ(s.error().code, Errc::kNameInvalid);
    EXPECT_FALSE(s.error().message.empty());
  }
}

// 256 characters in components of 7 ("aaaaaaa/") so the length rule, not the component
// grammar, decides.
std::string LongName(size_t n) {
  std::string s;
  while (s.size() < n) {
    s += (s.size() % 8 == 7) ? '/' : 'a';
  }
  if (s.back() == '/') {
    s.back() = 'a';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RepositoryNameTest,
    ::testing::Values(NameCase{"a", true}, NameCase{"a/b", true}, NameCase{"a.b", true},
                      NameCase{"a_b", true}, NameCase{"a__b", true}, NameCase{"a-b", true},
                      NameCase{"a---b", true}, NameCase{"team/app/x", true}, NameCase{"0", true},
                      NameCase{"library/ubuntu", true}, NameCase{"a1.b2_c3__d4-e5", true},
                      NameCase{"a.b/c-d/e__f", true}, NameCase{std::string(256, 'a'), true},
                      NameCase{LongName(256), true}, NameCase{"", false}, NameCase{"A", false},
                      NameCase{"a/B", false}, NameCase{"a/", false}, NameCase{"/a", false},
                      NameCase{"a//b", false}, NameCase{"/", false}, NameCase{"a..b", false},
                      NameCase{"a___b", false}, NameCase{"a._b", false}, NameCase{"a-.b", false},
                      NameCase{"a_-b", false}, NameCase{"-a", false}, NameCase{"a-", false},
                      NameCase{"a_", false}, NameCase{"_a", false}, NameCase{".a", false},
                      NameCase{"a.", false}, NameCase{"a/.b", false}, NameCase{"a/-b", false},
                      NameCase{std::string(257, 'a'), false}, NameCase{LongName(257), false},
                      NameCase{"a b", false}, NameCase{"a:b", false}, NameCase{"a@b", false},
                      NameCase{"caf\xc3\xa9", false}, NameCase{"\xe6\x97\xa5\xe6\x9c\xac", false},
                      NameCase{std::string("a\0b", 3), false}));

TEST(ValidateRepositoryNameTest, OverLongNameMessageStatesTheLimit) {
  Status s = ValidateRepositoryName(std::string(kMaxNameLength + 1, 'a'));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kNameInvalid);
  EXPECT_NE(s.error().message.find(std::to_string(kMaxNameLength)), std::string::npos)
      << s.error().message;
}

struct TagCase {
  std::string tag;
  bool valid;
};

void PrintTo(const TagCase& c, std::ostream* os) {
  *os << "'" << c.tag.substr(0, 40) << "' (" << c.tag.size() << " chars)";
}

class TagTest : public ::testing::TestWithParam<TagCase> {};

TEST_P(TagTest, FollowsGrammar) {
  const TagCase& c = GetParam();
  EXPECT_EQ(IsValidTag(c.tag), c.valid);
  Status s = ValidateTag(c.tag);
  EXPECT_EQ(s.ok(), c.valid);
  if (!s.ok()) {
    EXPECT_EQ(s.error().code, Errc::kTagInvalid);
    EXPECT_FALSE(s.error().message.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TagTest,
    ::testing::Values(
        // First character: [a-zA-Z0-9_]; then [a-zA-Z0-9._-]; at most 128 in total.
        TagCase{"latest", true}, TagCase{"v1.2.3", true}, TagCase{"V1", true}, TagCase{"1", true},
        TagCase{"_", true}, TagCase{"_x", true}, TagCase{"A", true}, TagCase{"a-b_c.D", true},
        TagCase{"a..b", true}, TagCase{"a--", true}, TagCase{"sha256-abc.sig", true},
        TagCase{std::string(128, 'a'), true}, TagCase{"", false}, TagCase{".a", false},
        TagCase{"-a", false}, TagCase{std::string(129, 'a'), false}, TagCase{"a/b", false},
        TagCase{"a:b", false}, TagCase{"a b", false}, TagCase{"a+b", false}, TagCase{"a@b", false},
        TagCase{"sha256:abc", false}, TagCase{"caf\xc3\xa9", false}));

}  // namespace
}  // namespace berth::registry
