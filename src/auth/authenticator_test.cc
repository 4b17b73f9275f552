#include "auth/authenticator.h"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

class FakeClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_ms; }
  int64_t now_ms = 1'800'000'000'000;
};

TokenClaims Claims(int64_t now) {
  TokenClaims c;
  c.kind = "registry";
  c.user = "alice";
  c.access_key_id = "AKIAEXAMPLE0000000001";
  c.issued_at = now;
  c.expires_at = now + 60;
  return c;
}

TEST(TokenServiceTest, IssuedTokenVerifiesUntilItExpires) {
  FakeClock clock;
  TokenService tokens(Secret(std::string(32, 'k')), clock);
  std::string t = tokens.Issue(Claims(clock.NowSeconds()));
  auto c = tokens.Verify(t, "registry");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->access_key_id, "AKIAEXAMPLE0000000001");
  clock.now_ms += 61'000;
  EXPECT_EQ(tokens.Verify(t, "registry").error().code, Errc::kSignatureExpired);
}

TEST(TokenServiceTest, RejectsTamperingOtherKeysAndOtherKinds) {
  FakeClock clock;
  TokenService tokens(Secret(std::string(32, 'k')), clock);
  TokenService other(Secret(std::string(32, 'x')), clock);
  std::string t = tokens.Issue(Claims(clock.NowSeconds()));
  EXPECT_EQ(other.Verify(t, "registry").error().code, Errc::kAuthMalformed);
  EXPECT_EQ(tokens.Verify(t, "bearer").error().code, Errc::kAuthMalformed);
  std::string tampered = t;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(tokens.Verify(tampered, "registry").error().code, Errc::kAuthMalformed);
  EXPECT_EQ(tokens.Verify("no-dot", "registry").error().code, Errc::kAuthMalformed);
  EXPECT_EQ(tokens.Verify("", "registry").error().code, Errc::kAuthMalformed);
}

TEST(TokenServiceTest, TokensAreUnique) {
  FakeClock clock;
  TokenService tokens(Secret(std::string(32, 'k')), clock);
  EXPECT_NE(tokens.Issue(Claims(clock.NowSeconds())), tokens.Issue(Claims(clock.NowSeconds())));
}

}  // namespace
}  // namespace berth::auth
