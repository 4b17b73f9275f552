#include "http/tls.h"

#include <gtest/gtest.h>

namespace berth::http {
namespace {

TEST(ParseClientAuthTest, KnownModesOnly) {
  EXPECT_EQ(*ParseClientAuth("none"), ClientAuth::kNone);
  EXPECT_EQ(*ParseClientAuth(""), ClientAuth::kNone);
  EXPECT_EQ(*ParseClientAuth("optional"), ClientAuth::kOptional);
  EXPECT_EQ(*ParseClientAuth("require"), ClientAuth::kRequire);
  EXPECT_EQ(ParseClientAuth("required").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(ParseClientAuth("Optional").error().code, Errc::kInvalidArgument);
}

TEST(TlsContextTest, RefusesMissingOrUnreadableFiles) {
  TlsOptions none;
  EXPECT_EQ(TlsContext::Create(none).error().code, Errc::kInvalidArgument);

  TlsOptions absent;
  absent.cert_file = "/nonexistent/server.pem";
  absent.key_file = "/nonexistent/server-key.pem";
  auto r = TlsContext::Create(absent);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_NE(r.error().message.find("/nonexistent/server.pem"), std::string::npos)
      << r.error().message;

  TlsOptions no_ca = absent;
  no_ca.client_auth = ClientAuth::kRequire;
  r = TlsContext::Create(no_ca);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("client_ca_file"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace berth::http
