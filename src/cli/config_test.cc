#include "cli/config.h"

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

// A fresh directory under the test temp dir, removed with everything in it.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = ::testing::TempDir() + "berth-config-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ~ScopedTempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ListenCase {
  std::string listen;
  bool valid;
  std::string host = {};
  uint16_t port = 0;
};

void PrintTo(const ListenCase& c, std::ostream* os) { *os << "'" << c.listen << "'"; }

class ParseListenTest : public ::testing::TestWithParam<ListenCase> {};

TEST_P(ParseListenTest, Splits) {
  const ListenCase& c = GetParam();
  auto r = ParseListen(c.listen);
  if (c.valid) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->first, c.host);
    EXPECT_EQ(r->second, c.port);
  } else {
    ASSERT_FALSE(r.ok()) << "accepted as " << r->first << " port " << r->second;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParseListenTest,
                         ::testing::Values(ListenCase{"127.0.0.1:5000", true, "127.0.0.1", 5000},
                                           ListenCase{"0.0.0.0:0", true, "0.0.0.0", 0},
                                           ListenCase{"localhost:65535", true, "localhost", 65535},
                                           ListenCase{"[::1]:80", true, "::1", 80},
                                           ListenCase{"[::]:5000", true, "::", 5000},
                                           ListenCase{":5000", false},
                                           ListenCase{"host:99999", false},
                                           ListenCase{"host:65536", false},
                                           ListenCase{"host", false}, ListenCase{"host:", false},
                                           ListenCase{"host:abc", false},
                                           ListenCase{"host:-1", false}, ListenCase{"", false}));

struct SecondsCase {
  std::string value;
  bool valid;
  int64_t seconds = 0;
};

void PrintTo(const SecondsCase& c, std::ostream* os) { *os << "'" << c.value << "'"; }

class ParseSecondsTest : public ::testing::TestWithParam<SecondsCase> {};

TEST_P(ParseSecondsTest, Parses) {
  const SecondsCase& c = GetParam();
  auto r = ParseSeconds("uploads.ttl", c.value);
  if (c.valid) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, c.seconds);
  } else {
    ASSERT_FALSE(r.ok()) << "accepted as " << *r;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("uploads.ttl"), std::string::npos) << r.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseSecondsTest,
    ::testing::Values(SecondsCase{"30", true, 30}, SecondsCase{"0", true, 0},
                      SecondsCase{"30s", true, 30}, SecondsCase{"5m", true, 300},
                      SecondsCase{"2h", true, 7200}, SecondsCase{"1d", true, 86400},
                      SecondsCase{"x", false}, SecondsCase{"", false}, SecondsCase{"m", false},
                      SecondsCase{"s", false}, SecondsCase{"-5", false}, SecondsCase{"1.5h", false},
                      SecondsCase{"5 m", false}, SecondsCase{"5w", false}, SecondsCase{"5M", false},
                      SecondsCase{"99999999999999999999d", false}));

struct BytesCase {
  std::string value;
  bool valid;
  uint64_t bytes = 0;
};

void PrintTo(const BytesCase& c, std::ostream* os) { *os << "'" << c.value << "'"; }

class ParseBytesTest : public ::testing::TestWithParam<BytesCase> {};

TEST_P(ParseBytesTest, Parses) {
  const BytesCase& c = GetParam();
  auto r = ParseBytes("uploads.max_blob_size", c.value);
  if (c.valid) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, c.bytes);
  } else {
    ASSERT_FALSE(r.ok()) << "accepted as " << *r;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("uploads.max_blob_size"), std::string::npos)
        << r.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseBytesTest,
    ::testing::Values(BytesCase{"1024", true, 1024}, BytesCase{"1K", true, 1024},
                      BytesCase{"1KiB", true, 1024}, BytesCase{"2M", true, 2ull << 20},
                      BytesCase{"2MiB", true, 2ull << 20}, BytesCase{"3G", true, 3ull << 30},
                      BytesCase{"3GiB", true, 3ull << 30}, BytesCase{"5T", true, 5ull << 40},
                      BytesCase{"5TiB", true, 5ull << 40}, BytesCase{"0", false},
                      BytesCase{"", false}, BytesCase{"K", false}, BytesCase{"MiB", false},
                      BytesCase{"x", false}, BytesCase{"-1", false}, BytesCase{"1.5G", false},
                      BytesCase{"1KB", false}, BytesCase{"1 M", false},
                      BytesCase{"16777216T", false},  // 2^64: overflows
                      BytesCase{"18446744073709551615", true, UINT64_MAX}));

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& yaml) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << yaml;
    return path;
  }

  ScopedTempDir dir_;
};

TEST_F(ConfigFileTest, AppliesEveryKey) {
  ASSERT_FALSE(dir_.path().empty());
  std::string path = Write("berth.yaml", R"(listen: "0.0.0.0:6000"
data_dir: /var/lib/berth
log_level: debug
log_format: json
access_log: false
io_threads: 3
blocking_threads: 5
uploads:
  ttl: 2h
  max_blob_size: 10G
http:
  idle_timeout: 30s
  io_timeout: 5m
  drain_timeout: 10
  header_limit: 8192
)");
  Config c;
  Status s = ApplyConfigFile(path, c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.listen, "0.0.0.0:6000");
  EXPECT_EQ(c.data_dir, "/var/lib/berth");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_FALSE(c.access_log);
  EXPECT_EQ(c.io_threads, 3);
  EXPECT_EQ(c.blocking_threads, 5);
  EXPECT_EQ(c.upload_ttl_seconds, 7200);
  EXPECT_EQ(c.max_blob_bytes, 10ull << 30);
  EXPECT_EQ(c.idle_timeout_seconds, 30);
  EXPECT_EQ(c.io_timeout_seconds, 300);
  EXPECT_EQ(c.drain_timeout_seconds, 10);
  EXPECT_EQ(c.header_limit, 8192u);
}

TEST_F(ConfigFileTest, MetadataDriverSettings) {
  std::string path = Write("pg.yaml", R"(
metadata:
  driver: postgres
  postgres:
    url: postgresql://berth@db.internal/berth?sslmode=verify-full
    pool_size: 32
)");
  Config c;
  Status s = ApplyConfigFile(path, c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.metadata_driver, "postgres");
  EXPECT_EQ(c.postgres_url, "postgresql://berth@db.internal/berth?sslmode=verify-full");
  EXPECT_EQ(c.postgres_pool_size, 32);
  EXPECT_TRUE(CheckMetadataConfig(c).ok());

  Config defaults;
  EXPECT_EQ(defaults.metadata_driver, "sqlite");
  EXPECT_EQ(defaults.postgres_pool_size, 16);
  EXPECT_TRUE(CheckMetadataConfig(defaults).ok());
}

TEST_F(ConfigFileTest, RejectsBadMetadataSettings) {
  for (const char* text :
       {"metadata:\n  driver: mysql\n", "metadata:\n  postgres:\n    pool_size: 0\n",
        "metadata:\n  postgres:\n    host: db\n", "metadata:\n  dsn: x\n"}) {
    SCOPED_TRACE(text);
    Config c;
    Status s = ApplyConfigFile(Write("bad-meta.yaml", text), c);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  }
  // The URL may come from the environment, so only the complete configuration needs one.
  Config c;
  c.metadata_driver = "postgres";
  Status s = CheckMetadataConfig(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("metadata.postgres.url"), std::string::npos)
      << s.error().message;
}

TEST_F(ConfigFileTest, KeepsValuesTheFileDoesNotSet) {
  std::string path = Write("partial.yaml", "log_level: warn\n");
  Config c;
  c.listen = "10.0.0.1:1234";
  Status s = ApplyConfigFile(path, c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.listen, "10.0.0.1:1234");
  Config defaults;
  EXPECT_EQ(c.data_dir, defaults.data_dir);
  EXPECT_EQ(c.upload_ttl_seconds, defaults.upload_ttl_seconds);
  EXPECT_EQ(c.header_limit, defaults.header_limit);
}

struct BadFileCase {
  std::string yaml;
  std::string must_mention;  // the message names the offending key
};

void PrintTo(const BadFileCase& c, std::ostream* os) { *os << "'" << c.yaml << "'"; }

class ConfigFileErrorTest : public ConfigFileTest,
                            public ::testing::WithParamInterface<BadFileCase> {};

TEST_P(ConfigFileErrorTest, RejectsWithMessageNamingTheKey) {
  const BadFileCase& c = GetParam();
  std::string path = Write("bad.yaml", c.yaml);
  Config config;
  Status s = ApplyConfigFile(path, config);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_NE(s.error().message.find(c.must_mention), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigFileErrorTest,
    ::testing::Values(BadFileCase{"bogus: 1\n", "bogus"},
                      BadFileCase{"listen: x:1\nlog_levle: debug\n", "log_levle"},
                      BadFileCase{"uploads:\n  ttl: 1h\n  size: 3\n", "uploads.size"},
                      BadFileCase{"uploads:\n  ttl: soon\n", "uploads.ttl"},
                      BadFileCase{"uploads:\n  max_blob_size: huge\n", "uploads.max_blob_size"},
                      BadFileCase{"http:\n  bar: 1\n", "http.bar"},
                      BadFileCase{"tls:\n  cert: x.pem\n", "tls.cert"},
                      BadFileCase{"tls:\n  hsts_max_age: forever\n", "tls.hsts_max_age"},
                      BadFileCase{"http:\n  idle_timeout: never\n", "http.idle_timeout"},
                      BadFileCase{"http:\n  header_limit: 100\n", "http.header_limit"},
                      BadFileCase{"http:\n  header_limit: 99999999\n", "http.header_limit"},
                      BadFileCase{"listen: [unclosed\n", ""}, BadFileCase{"a: b: c\n", ""},
                      BadFileCase{"- listen\n- data_dir\n", ""},
                      BadFileCase{"access_log: perhaps\n", ""},
                      BadFileCase{"io_threads: many\n", ""}));

TEST_F(ConfigFileTest, TlsKeysAndTheListenerModel) {
  std::string path = Write("tls.yaml", R"(
tls:
  listen: 0.0.0.0:443
  cert_file: /etc/berth/server.pem
  key_file: /etc/berth/server-key.pem
  client_ca_file: /etc/berth/clients.pem
  client_auth: require
  hsts_max_age: 1d
)");
  Config c;
  EXPECT_FALSE(TlsEnabled(c));
  EXPECT_TRUE(PlainHttpEnabled(c));  // zero config: plain HTTP on 127.0.0.1:5000
  Status s = ApplyConfigFile(path, c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.tls_listen, "0.0.0.0:443");
  EXPECT_EQ(c.tls_cert_file, "/etc/berth/server.pem");
  EXPECT_EQ(c.tls_key_file, "/etc/berth/server-key.pem");
  EXPECT_EQ(c.tls_client_ca_file, "/etc/berth/clients.pem");
  EXPECT_EQ(c.hsts_max_age_seconds, 86400);
  EXPECT_EQ(*EffectiveClientAuth(c), "require");
  EXPECT_TRUE(TlsEnabled(c));
  EXPECT_FALSE(PlainHttpEnabled(c));  // TLS on: plain HTTP only when asked for

  std::string with_plain = Write("both.yaml", "listen: 127.0.0.1:8080\n");
  ASSERT_TRUE(ApplyConfigFile(with_plain, c).ok());
  EXPECT_TRUE(PlainHttpEnabled(c));
}

TEST(ClientAuthTest, DefaultsAndValidation) {
  Config c;
  EXPECT_EQ(*EffectiveClientAuth(c), "none");
  c.tls_client_ca_file = "ca.pem";
  EXPECT_EQ(*EffectiveClientAuth(c), "optional");  // a CA alone asks for certificates
  c.tls_client_auth = "none";
  EXPECT_EQ(*EffectiveClientAuth(c), "none");
  c.tls_client_auth = "sometimes";
  EXPECT_EQ(EffectiveClientAuth(c).error().code, Errc::kInvalidArgument);
  c.tls_client_auth = "require";
  c.tls_client_ca_file.clear();
  EXPECT_EQ(EffectiveClientAuth(c).error().code, Errc::kInvalidArgument);
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  Config c;
  std::string path = dir_.path() + "/absent.yaml";
  Status s = ApplyConfigFile(path, c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
}

class EnvironmentTest : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"BERTH_LISTEN",
                                          "BERTH_DATA_DIR",
                                          "BERTH_LOG_LEVEL",
                                          "BERTH_LOG_FORMAT",
                                          "BERTH_UPLOAD_TTL",
                                          "BERTH_TLS_CERT_FILE",
                                          "BERTH_TLS_KEY_FILE",
                                          "BERTH_TLS_LISTEN",
                                          "BERTH_TLS_CLIENT_AUTH",
                                          "BERTH_TLS_CLIENT_CA_FILE",
                                          "BERTH_METADATA_DRIVER",
                                          "BERTH_POSTGRES_URL",
                                          "BERTH_POSTGRES_POOL_SIZE"};
  void SetUp() override { ClearAll(); }
  void TearDown() override { ClearAll(); }
  static void ClearAll() {
    for (const char* v : kVars) {
      ::unsetenv(v);
    }
  }
};

TEST_F(EnvironmentTest, UnsetVariablesChangeNothing) {
  Config c;
  Status s = ApplyEnvironment(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Config defaults;
  EXPECT_EQ(c.listen, defaults.listen);
  EXPECT_EQ(c.data_dir, defaults.data_dir);
  EXPECT_EQ(c.log_level, defaults.log_level);
  EXPECT_EQ(c.log_format, defaults.log_format);
  EXPECT_EQ(c.upload_ttl_seconds, defaults.upload_ttl_seconds);
}

TEST_F(EnvironmentTest, AppliesVariables) {
  ::setenv("BERTH_LISTEN", "[::1]:7000", 1);
  ::setenv("BERTH_DATA_DIR", "/srv/berth", 1);
  ::setenv("BERTH_LOG_LEVEL", "trace", 1);
  ::setenv("BERTH_LOG_FORMAT", "json", 1);
  ::setenv("BERTH_UPLOAD_TTL", "1h", 1);
  Config c;
  Status s = ApplyEnvironment(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.listen, "[::1]:7000");
  EXPECT_EQ(c.data_dir, "/srv/berth");
  EXPECT_EQ(c.log_level, "trace");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.upload_ttl_seconds, 3600);
}

TEST_F(EnvironmentTest, MetadataVariables) {
  ::setenv("BERTH_METADATA_DRIVER", "postgres", 1);
  ::setenv("BERTH_POSTGRES_URL", "host=db dbname=berth", 1);
  ::setenv("BERTH_POSTGRES_POOL_SIZE", "8", 1);
  Config c;
  Status s = ApplyEnvironment(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.metadata_driver, "postgres");
  EXPECT_EQ(c.postgres_url, "host=db dbname=berth");
  EXPECT_EQ(c.postgres_pool_size, 8);
  EXPECT_TRUE(CheckMetadataConfig(c).ok());

  ::setenv("BERTH_POSTGRES_POOL_SIZE", "lots", 1);
  Config bad;
  EXPECT_FALSE(ApplyEnvironment(bad).ok());
}

TEST_F(EnvironmentTest, TlsVariablesAndExplicitListen) {
  ::setenv("BERTH_TLS_CERT_FILE", "/c.pem", 1);
  ::setenv("BERTH_TLS_KEY_FILE", "/k.pem", 1);
  ::setenv("BERTH_TLS_LISTEN", "0.0.0.0:8443", 1);
  ::setenv("BERTH_TLS_CLIENT_CA_FILE", "/ca.pem", 1);
  ::setenv("BERTH_TLS_CLIENT_AUTH", "require", 1);
  Config c;
  ASSERT_TRUE(ApplyEnvironment(c).ok());
  EXPECT_EQ(c.tls_cert_file, "/c.pem");
  EXPECT_EQ(c.tls_key_file, "/k.pem");
  EXPECT_EQ(c.tls_listen, "0.0.0.0:8443");
  EXPECT_EQ(c.tls_client_ca_file, "/ca.pem");
  EXPECT_EQ(c.tls_client_auth, "require");
  EXPECT_FALSE(PlainHttpEnabled(c));
  ::setenv("BERTH_LISTEN", "127.0.0.1:5000", 1);
  ASSERT_TRUE(ApplyEnvironment(c).ok());
  EXPECT_TRUE(PlainHttpEnabled(c));
}

TEST_F(EnvironmentTest, EmptyVariablesAreIgnored) {
  ::setenv("BERTH_LISTEN", "", 1);
  ::setenv("BERTH_UPLOAD_TTL", "", 1);
  Config c;
  c.listen = "1.2.3.4:5";
  Status s = ApplyEnvironment(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(c.listen, "1.2.3.4:5");
  EXPECT_EQ(c.upload_ttl_seconds, Config().upload_ttl_seconds);
}

TEST_F(EnvironmentTest, MalformedDurationNamesTheVariable) {
  ::setenv("BERTH_UPLOAD_TTL", "tomorrow", 1);
  Config c;
  Status s = ApplyEnvironment(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_NE(s.error().message.find("BERTH_UPLOAD_TTL"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace berth::cli
