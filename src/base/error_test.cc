#include "base/error.h"

#include <memory>
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace berth {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) {
    return MakeError(Errc::kInvalidArgument, "odd", std::to_string(n));
  }
  return n / 2;
}

Status CheckPositive(int n) {
  if (n <= 0) {
    return MakeError(Errc::kRangeInvalid, "not positive");
  }
  return Ok{};
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(r.value(), 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsError) {
  Result<int> r = MakeError(Errc::kBlobUnknown, "no such blob", "sha256:x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kBlobUnknown);
  EXPECT_EQ(r.error().message, "no such blob");
  EXPECT_EQ(r.error().detail, "sha256:x");
}

TEST(ResultTest, MakeErrorDetailDefaultsEmpty) {
  Error e = MakeError(Errc::kDenied, "nope");
  EXPECT_EQ(e.code, Errc::kDenied);
  EXPECT_EQ(e.message, "nope");
  EXPECT_TRUE(e.detail.empty());
}

TEST(ResultTest, DefaultErrorIsInternal) {
  Error e;
  EXPECT_EQ(e.code, Errc::kInternal);
}

TEST(ResultTest, ArrowAccessesMembers) {
  Result<std::string> r = std::string("hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 5u);
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->front(), 'h');
  EXPECT_EQ(*cr, "hello");
}

TEST(ResultTest, MovesValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);

  Result<std::unique_ptr<int>> r2 = std::make_unique<int>(6);
  std::unique_ptr<int> p2 = *std::move(r2);
  EXPECT_EQ(*p2, 6);
}

TEST(ResultTest, MovesErrorOut) {
  Result<int> r = MakeError(Errc::kUnavailable, "try again", "detail");
  Error e = std::move(r).error();
  EXPECT_EQ(e.code, Errc::kUnavailable);
  EXPECT_EQ(e.message, "try again");
  EXPECT_EQ(e.detail, "detail");
}

TEST(ResultDeathTest, DereferencingAnErrorAborts) {
  Result<int> r = MakeError(Errc::kInternal, "boom");
  EXPECT_DEATH((void)r.value(), "");
  EXPECT_DEATH((void)*r, "");
}

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status s2 = Ok{};
  EXPECT_TRUE(s2.ok());
}

TEST(StatusTest, HoldsError) {
  Status s = MakeError(Errc::kTagImmutable, "tag is immutable", "latest");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kTagImmutable);
  EXPECT_EQ(s.error().message, "tag is immutable");
  EXPECT_EQ(s.error().detail, "latest");
  Error moved = std::move(s).error();
  EXPECT_EQ(moved.code, Errc::kTagImmutable);
}

// BERTH_TRY in a Status function, over a Status expression.
Status BothPositive(int a, int b, int* reached) {
  BERTH_TRY(CheckPositive(a));
  ++*reached;
  BERTH_TRY(CheckPositive(b));
  ++*reached;
  return Ok{};
}

TEST(MacroTest, TryReturnsFirstError) {
  int reached = 0;
  EXPECT_TRUE(BothPositive(1, 2, &reached).ok());
  EXPECT_EQ(reached, 2);

  reached = 0;
  Status s = BothPositive(-1, 2, &reached);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kRangeInvalid);
  EXPECT_EQ(reached, 0);  // nothing after the failing BERTH_TRY ran

  reached = 0;
  s = BothPositive(1, -2, &reached);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(reached, 1);
}

// BERTH_TRY over a Result<T> inside a function returning a different Result<U>.
Result<std::string> DescribeHalf(int n) {
  BERTH_TRY(Half(n));
  return std::string("even");
}

TEST(MacroTest, TryConvertsResultErrorAcrossTypes) {
  auto ok = DescribeHalf(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "even");

  auto err = DescribeHalf(3);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(err.error().message, "odd");
  EXPECT_EQ(err.error().detail, "3");
}

// BERTH_ASSIGN_OR_RETURN: declares, assigns existing variables, and can be used twice in one
// scope (the temporaries are named per line).
Result<int> Quarter(int n) {
  BERTH_ASSIGN_OR_RETURN(int half, Half(n));
  int quarter = 0;
  BERTH_ASSIGN_OR_RETURN(quarter, Half(half));
  return quarter;
}

TEST(MacroTest, AssignOrReturnAssignsOrPropagates) {
  auto q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);

  auto first = Quarter(5);  // fails on the first step
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().detail, "5");

  auto second = Quarter(6);  // 6/2 = 3 is odd: fails on the second step
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(second.error().detail, "3");
}

Result<std::unique_ptr<int>> MakeBox(bool ok) {
  if (!ok) {
    return MakeError(Errc::kNotFound, "no box");
  }
  return std::make_unique<int>(9);
}

Status UseBox(bool ok, int* out) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(ok));
  *out = *box;
  return Ok{};
}

TEST(MacroTest, AssignOrReturnMovesMoveOnlyValues) {
  int out = 0;
  EXPECT_TRUE(UseBox(true, &out).ok());
  EXPECT_EQ(out, 9);

  out = 0;
  Status s = UseBox(false, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kNotFound);
  EXPECT_EQ(out, 0);
}

TEST(CheckDeathTest, CheckFailureAbortsWithCondition) {
  EXPECT_DEATH(BERTH_CHECK(1 + 1 == 3), "BERTH_CHECK failed: 1 \\+ 1 == 3");
}

TEST(CheckTest, CheckPassesSilently) {
  BERTH_CHECK(1 + 1 == 2);
  BERTH_DCHECK(true);
}

TEST(ErrcNameTest, NamesKnownCodes) {
  EXPECT_EQ(ErrcName(Errc::kOk), "Ok");
  EXPECT_EQ(ErrcName(Errc::kNameInvalid), "NameInvalid");
  EXPECT_EQ(ErrcName(Errc::kDigestInvalid), "DigestInvalid");
  EXPECT_EQ(ErrcName(Errc::kManifestBlobUnknown), "ManifestBlobUnknown");
  EXPECT_EQ(ErrcName(Errc::kUploadUnknown), "UploadUnknown");
  EXPECT_EQ(ErrcName(Errc::kTooLarge), "TooLarge");
  EXPECT_EQ(ErrcName(Errc::kUnsupported), "Unsupported");
  EXPECT_EQ(ErrcName(Errc::kNotFound), "NotFound");
  EXPECT_EQ(ErrcName(Errc::kAlreadyExists), "AlreadyExists");
  EXPECT_EQ(ErrcName(Errc::kUnavailable), "Unavailable");
  EXPECT_EQ(ErrcName(Errc::kCorrupt), "Corrupt");
  EXPECT_EQ(ErrcName(Errc::kInternal), "Internal");
}

TEST(ErrcNameTest, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = static_cast<int>(Errc::kOk); i <= static_cast<int>(Errc::kInternal); ++i) {
    std::string_view name = ErrcName(static_cast<Errc>(i));
    EXPECT_NE(name, "Unknown") << "code " << i;
    EXPECT_FALSE(name.empty()) << "code " << i;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
}

TEST(ErrcNameTest, OutOfRangeIsUnknown) {
  EXPECT_EQ(ErrcName(static_cast<Errc>(static_cast<int>(Errc::kInternal) + 1)), "Unknown");
}

}  // namespace
}  // namespace berth
