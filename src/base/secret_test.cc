#include "base/secret.h"

#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <gtest/gtest.h>

namespace berth {
namespace {

template <class T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

// The type itself is the contract: no printing, no implicit conversion, no implicit copy.
static_assert(!Streamable<Secret>);
static_assert(!std::is_convertible_v<Secret, std::string>);
static_assert(!std::is_convertible_v<Secret, std::string_view>);
static_assert(!std::is_convertible_v<std::string, Secret>);
static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);
static_assert(std::is_nothrow_move_assignable_v<Secret>);

TEST(SecretTest, DefaultIsEmpty) {
  Secret s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.reveal(), "");
}

TEST(SecretTest, RevealReturnsTheBytesIncludingNul) {
  const std::string bytes("ab\0cd", 5);
  Secret s(std::string_view{bytes});
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.reveal(), bytes);
}

TEST(SecretTest, FromLiteral) {
  Secret s("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(s.reveal(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
}

TEST(SecretTest, AdoptingAStringLeavesItEmpty) {
  for (std::string source : {std::string("short"), std::string(200, 'k')}) {
    const std::string expected = source;
    Secret s(std::move(source));
    EXPECT_EQ(s.reveal(), expected);
    EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): documented postcondition
  }
}

TEST(SecretTest, CloneIsIndependentCopy) {
  Secret a("key-material");
  Secret b = a.Clone();
  EXPECT_EQ(b.reveal(), "key-material");
  EXPECT_NE(a.reveal().data(), b.reveal().data());
  a = Secret("other");
  EXPECT_EQ(b.reveal(), "key-material");
}

TEST(SecretTest, MoveTransfersBufferAndEmptiesSource) {
  Secret a("key-material");
  const char* buffer = a.reveal().data();
  Secret b(std::move(a));
  EXPECT_EQ(b.reveal(), "key-material");
  EXPECT_EQ(b.reveal().data(), buffer);  // moved, not copied
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented postcondition

  Secret c("old");
  c = std::move(b);
  EXPECT_EQ(c.reveal(), "key-material");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): documented postcondition
}

TEST(SecretTest, SelfMoveAssignmentKeepsValue) {
  Secret a("key-material");
  Secret& ref = a;
  a = std::move(ref);
  EXPECT_EQ(a.reveal(), "key-material");  // NOLINT(bugprone-use-after-move)
}

TEST(SecretTest, ConstantTimeEqualsMember) {
  EXPECT_TRUE(Secret("abc").ConstantTimeEquals(Secret("abc")));
  EXPECT_FALSE(Secret("abc").ConstantTimeEquals(Secret("abd")));
  EXPECT_FALSE(Secret("abc").ConstantTimeEquals(Secret("abcd")));
  EXPECT_TRUE(Secret().ConstantTimeEquals(Secret("")));
}

TEST(ConstantTimeEqualsTest, Table) {
  struct Case {
    std::string_view a, b;
    bool equal;
  };
  const Case cases[] = {
      {"", "", true},
      {"a", "a", true},
      {"5fa00fa31553b73e", "5fa00fa31553b73e", true},
      {"5fa00fa31553b73e", "5fa00fa31553b73f", false},  // last byte differs
      {"5fa00fa31553b73e", "6fa00fa31553b73e", false},  // first byte differs
      {"abc", "ab", false},                             // prefix, shorter
      {"ab", "abc", false},                             // prefix, longer
      {"", "a", false},
      {std::string_view("a\0b", 3), std::string_view("a\0c", 3), false},
      {std::string_view("a\0b", 3), std::string_view("a\0b", 3), true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ConstantTimeEquals(c.a, c.b), c.equal) << c.a.size() << " vs " << c.b.size();
  }
}

}  // namespace
}  // namespace berth
