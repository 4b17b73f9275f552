#include "cli/tls_certs.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/tls.h"

namespace berth::cli {
namespace {

class TlsCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "berth-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static unsigned Mode(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0;
  }
  std::string dir_;
};

// The subject CN of the PEM certificate at `path`.
std::string CommonName(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return "";
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    return "";
  }
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_free(cert);
  return cn;
}

TEST_F(TlsCertsTest, SelfSignedLoadsIntoATlsContextAndReloadKeepsTheOldOnFailure) {
  SelfSignedOptions o;
  o.hosts = {"127.0.0.1", "registry.test"};
  o.out_dir = dir_;
  ASSERT_TRUE(WriteSelfSigned(o).ok());
  EXPECT_EQ(Mode(dir_ + "/ca-key.pem"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/server-key.pem"), 0600u);
  EXPECT_EQ(CommonName(dir_ + "/server.pem"), "127.0.0.1");

  http::TlsOptions t;
  t.cert_file = dir_ + "/server.pem";
  t.key_file = dir_ + "/server-key.pem";
  t.client_ca_file = dir_ + "/ca.pem";
  t.client_auth = http::ClientAuth::kOptional;
  auto ctx = http::TlsContext::Create(t);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  std::string first = (*ctx)->Describe();
  EXPECT_NE(first.find("CN=127.0.0.1"), std::string::npos) << first;
  auto first_ctx = (*ctx)->Current();

  // Renewal reuses the CA; a reload picks up the new serial.
  ASSERT_TRUE(WriteSelfSigned(o).ok());
  ASSERT_TRUE((*ctx)->Reload().ok());
  std::string second = (*ctx)->Describe();
  EXPECT_NE(second, first);
  EXPECT_NE((*ctx)->Current(), first_ctx);

  // A broken certificate: the reload fails and the current context stays.
  { std::ofstream(dir_ + "/server.pem") << "not a certificate\n"; }
  auto before = (*ctx)->Current();
  Status s = (*ctx)->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_EQ((*ctx)->Current(), before);
  EXPECT_EQ((*ctx)->Describe(), second);
}

TEST_F(TlsCertsTest, ClientCertificateCarriesTheUserName) {
  SelfSignedOptions o;
  o.hosts = {"localhost"};
  o.out_dir = dir_;
  ASSERT_TRUE(WriteSelfSigned(o).ok());
  ClientCertOptions c;
  c.ca_dir = dir_;
  c.user = "alice";
  ASSERT_TRUE(WriteClientCert(c).ok());
  EXPECT_EQ(CommonName(dir_ + "/alice.pem"), "alice");
  EXPECT_EQ(Mode(dir_ + "/alice-key.pem"), 0600u);

  c.ca_dir = dir_ + "/absent";
  EXPECT_FALSE(WriteClientCert(c).ok());
}

TEST_F(TlsCertsTest, RejectsBadInput) {
  SelfSignedOptions o;
  o.out_dir = dir_;
  EXPECT_EQ(WriteSelfSigned(o).error().code, Errc::kInvalidArgument);  // no host
  o.hosts = {"a,b"};
  EXPECT_EQ(WriteSelfSigned(o).error().code, Errc::kInvalidArgument);
  o.hosts = {"ok"};
  o.days = 0;
  EXPECT_EQ(WriteSelfSigned(o).error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace berth::cli
