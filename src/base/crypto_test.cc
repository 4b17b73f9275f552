#include "base/crypto.h"

#include <vector>

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(CryptoTest, SealOpensOnlyWithSameKeyAndAad) {
  Secret key(RandomBytes(32));
  auto sealed = Seal(key, "secret-value", "AKIA1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->find("secret-value"), std::string::npos);
  auto opened = Unseal(key, *sealed, "AKIA1");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->reveal(), "secret-value");
  EXPECT_EQ(Unseal(key, *sealed, "AKIA2").error().code, Errc::kCorrupt);
  EXPECT_EQ(Unseal(Secret(RandomBytes(32)), *sealed, "AKIA1").error().code, Errc::kCorrupt);
  std::string tampered = *sealed;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_EQ(Unseal(key, tampered, "AKIA1").error().code, Errc::kCorrupt);
  EXPECT_EQ(Unseal(key, sealed->substr(0, 10), "AKIA1").error().code, Errc::kCorrupt);
  EXPECT_EQ(Seal(Secret("short"), "x", "").error().code, Errc::kInvalidArgument);
}

TEST(CryptoTest, Base64RoundTripsAndRejectsGarbage) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                std::string("\0\xff", 2)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
    auto u = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(*u, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("Zm9").ok());
  EXPECT_FALSE(Base64Decode("Zm9v!!!!").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9v+").ok());
}

TEST(CryptoTest, HmacAndDerivation) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Secret ikm(RandomBytes(32));
  EXPECT_TRUE(DeriveKey(ikm, "a").ConstantTimeEquals(DeriveKey(ikm, "a")));
  EXPECT_FALSE(DeriveKey(ikm, "a").ConstantTimeEquals(DeriveKey(ikm, "b")));
  EXPECT_EQ(DeriveKey(ikm, "a").size(), 32u);
}

}  // namespace
}  // namespace berth
