#include "auth/authenticator.h"

#include <map>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
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

// Principals by name; no access keys.
class FakePrincipals final : public iam::CredentialSource {
 public:
  boost::asio::awaitable<Result<iam::AccessKeyInfo>> LookupAccessKey(std::string) override {
    co_return MakeError(Errc::kUnknownAccessKey, "no keys here");
  }
  boost::asio::awaitable<Result<iam::Principal::Kind>> LookupPrincipal(std::string name) override {
    auto it = kinds.find(name);
    if (it == kinds.end()) {
      co_return MakeError(Errc::kNotFound, "no principal " + name);
    }
    co_return it->second;
  }
  std::map<std::string, iam::Principal::Kind> kinds;
};

Result<iam::Principal> RunSync(Authenticator& a, std::string cn) {
  boost::asio::io_context ioc;
  std::optional<Result<iam::Principal>> out;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        out.emplace(co_await a.AuthenticateClientCertificate(cn));
      },
      boost::asio::detached);
  ioc.run();
  return std::move(*out);
}

TEST(AuthenticatorTest, ClientCertificateNamesAnExistingUser) {
  FakeClock clock;
  TokenService tokens(Secret(std::string(32, 'k')), clock);
  FakePrincipals principals;
  principals.kinds["alice"] = iam::Principal::Kind::kUser;
  principals.kinds["builder"] = iam::Principal::Kind::kRole;
  Authenticator auth(principals, tokens, clock);

  auto alice = RunSync(auth, "alice");
  ASSERT_TRUE(alice.ok()) << alice.error().message;
  EXPECT_EQ(alice->kind, iam::Principal::Kind::kUser);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->access_key_id, "");

  EXPECT_EQ(RunSync(auth, "").error().code, Errc::kAuthMissing);
  EXPECT_EQ(RunSync(auth, "mallory").error().code, Errc::kUnknownAccessKey);
  EXPECT_EQ(RunSync(auth, "builder").error().code, Errc::kUnknownAccessKey);  // roles: no
}

}  // namespace
}  // namespace berth::auth
