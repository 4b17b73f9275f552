#include "cli/remote.h"

#include <stdlib.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "auth/sigv4.h"
#include "base/crypto.h"
#include "base/error.h"
#include "base/secret.h"

namespace berth::cli {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

AwsCredentials Creds(std::string_view id, std::string_view secret, std::string_view token = "") {
  AwsCredentials c;
  c.access_key_id = std::string(id);
  c.secret_access_key = Secret(secret);
  c.session_token = Secret(token);
  return c;
}

// A fresh directory under the system temp directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-remote-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- Shared credentials file ----------------------------------------------------------------

constexpr std::string_view kCredentialsFile =
    "# written by hand\r\n"
    "; another comment style\n"
    "[default]\n"
    "aws_access_key_id=AKIADEFAULT\n"
    "aws_secret_access_key=default/secret+key\n"
    "\n"
    "  [ ci ]  \n"
    "  AWS_ACCESS_KEY_ID   =   AKIACI   # inline comment\r\n"
    "\taws_secret_access_key\t= ci/secret ; another\n"
    "aws_session_token = FwoGZXIvYXdzEXAMPLE//+=\n"
    "region = eu-west-1\n"
    "[profile ci]\n"
    "aws_access_key_id = AKIAWRONG\n"
    "[partial]\n"
    "aws_access_key_id = AKIAPARTIAL\n"
    "#aws_secret_access_key = commented-out\n";

TEST(SharedCredentialsTest, ReadsTheDefaultProfile) {
  Result<AwsCredentials> c = ParseSharedCredentials(kCredentialsFile, "default", "creds");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIADEFAULT");
  EXPECT_EQ(c->secret_access_key.reveal(), "default/secret+key");
  EXPECT_TRUE(c->session_token.empty());
  EXPECT_EQ(c->source, "creds (profile default)");
}

TEST(SharedCredentialsTest, ToleratesSpacesCaseCommentsAndCrLf) {
  Result<AwsCredentials> c = ParseSharedCredentials(kCredentialsFile, "ci", "creds");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIACI");
  EXPECT_EQ(c->secret_access_key.reveal(), "ci/secret");
  EXPECT_EQ(c->session_token.reveal(), "FwoGZXIvYXdzEXAMPLE//+=");
}

TEST(SharedCredentialsTest, LaterSectionsOfTheSameProfileMerge) {
  Result<AwsCredentials> c = ParseSharedCredentials(
      "[a]\naws_access_key_id = A1\n[b]\naws_access_key_id = B\n[a]\naws_secret_access_key = S\n"
      "aws_access_key_id = A2\n",
      "a", "f");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "A2");
  EXPECT_EQ(c->secret_access_key.reveal(), "S");
}

TEST(SharedCredentialsTest, MissingProfileOrKeyIsAClearError) {
  Result<AwsCredentials> c = ParseSharedCredentials(kCredentialsFile, "nope", "creds");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kAuthMissing);
  EXPECT_EQ(c.error().message, "no profile 'nope' in creds (set AWS_PROFILE to choose another)");

  c = ParseSharedCredentials(kCredentialsFile, "partial", "creds");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(c.error().message, "no aws_secret_access_key in creds (profile partial)");

  c = ParseSharedCredentials("[x]\naws_secret_access_key = s3cr3t\n", "x", "creds");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "no aws_access_key_id in creds (profile x)");

  // "[profile ci]" is a section of the config file's syntax, not profile "ci" here (botocore).
  c = ParseSharedCredentials("[profile ci]\naws_access_key_id = A\naws_secret_access_key = S\n",
                             "ci", "creds");
  EXPECT_FALSE(c.ok());
}

// ---- The credential chain ---------------------------------------------------------------------

TEST(LoadAwsCredentialsTest, EnvironmentWinsOverTheFile) {
  TempDir dir;
  std::string file = dir.Write("credentials", std::string(kCredentialsFile));
  Result<AwsCredentials> c = LoadAwsCredentials(FakeEnv({{"AWS_ACCESS_KEY_ID", "AKIAENV"},
                                                         {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                                                         {"AWS_SESSION_TOKEN", "env-token"},
                                                         {"AWS_SHARED_CREDENTIALS_FILE", file},
                                                         {"AWS_PROFILE", "ci"}}));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIAENV");
  EXPECT_EQ(c->secret_access_key.reveal(), "env-secret");
  EXPECT_EQ(c->session_token.reveal(), "env-token");
  EXPECT_EQ(c->source, "environment");
}

TEST(LoadAwsCredentialsTest, FileAndProfileFromTheEnvironment) {
  TempDir dir;
  std::string file = dir.Write("credentials", std::string(kCredentialsFile));
  Result<AwsCredentials> c = LoadAwsCredentials(
      FakeEnv({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "ci"}, {"HOME", "/none"}}));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIACI");
  EXPECT_EQ(c->source, file + " (profile ci)");

  // Empty variables count as unset: the default profile of the same file.
  c = LoadAwsCredentials(FakeEnv({{"AWS_ACCESS_KEY_ID", ""},
                                  {"AWS_SECRET_ACCESS_KEY", ""},
                                  {"AWS_SHARED_CREDENTIALS_FILE", file},
                                  {"AWS_PROFILE", ""}}));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIADEFAULT");
}

TEST(LoadAwsCredentialsTest, DefaultFileIsUnderHome) {
  TempDir dir;
  dir.Write(".aws/credentials",
            "[default]\naws_access_key_id = AKIAHOME\naws_secret_access_key = h\n");
  Result<AwsCredentials> c = LoadAwsCredentials(FakeEnv({{"HOME", dir.path()}}));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIAHOME");
}

TEST(LoadAwsCredentialsTest, HalfAnEnvironmentKeyIsAnErrorWithoutTheSecret) {
  Result<AwsCredentials> c =
      LoadAwsCredentials(FakeEnv({{"AWS_SECRET_ACCESS_KEY", "do-not-print-me"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(c.error().message, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");

  c = LoadAwsCredentials(FakeEnv({{"AWS_ACCESS_KEY_ID", "AKIA"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}

TEST(LoadAwsCredentialsTest, NoCredentialsAnywhere) {
  TempDir dir;
  Result<AwsCredentials> c = LoadAwsCredentials(FakeEnv({{"HOME", dir.path()}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kAuthMissing);
  EXPECT_NE(c.error().message.find(dir.path() + "/.aws/credentials does not exist"),
            std::string::npos)
      << c.error().message;

  c = LoadAwsCredentials(FakeEnv({}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kAuthMissing);

  std::string file =
      dir.Write("creds", "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  c = LoadAwsCredentials(FakeEnv({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "x"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kAuthMissing);
}

TEST(ResolveRegionTest, FlagThenAwsRegionThenAwsDefaultRegion) {
  EXPECT_EQ(ResolveRegion("ap-south-1", FakeEnv({{"AWS_REGION", "eu-west-1"},
                                                 {"AWS_DEFAULT_REGION", "eu-north-1"}})),
            "ap-south-1");
  EXPECT_EQ(ResolveRegion(
                "", FakeEnv({{"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-north-1"}})),
            "eu-west-1");
  EXPECT_EQ(ResolveRegion("", FakeEnv({{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", "eu-north-1"}})),
            "eu-north-1");
  EXPECT_EQ(ResolveRegion("", FakeEnv({})), "us-east-1");
}

// ---- Endpoints ----------------------------------------------------------------------------------

TEST(ParseEndpointTest, AcceptsHttpUrls) {
  struct Case {
    std::string url, host;
    uint16_t port;
    std::string host_header;
  };
  for (const Case& c : std::vector<Case>{
           {"http://127.0.0.1:5099", "127.0.0.1", 5099, "127.0.0.1:5099"},
           {"http://127.0.0.1:5099/", "127.0.0.1", 5099, "127.0.0.1:5099"},
           {"http://Registry.Example.com", "registry.example.com", 80, "registry.example.com"},
           {"HTTP://registry.example.com:80/", "registry.example.com", 80, "registry.example.com"},
           {"http://[::1]:5000", "::1", 5000, "[::1]:5000"},
           {"http://[::1]", "::1", 80, "[::1]"},
       }) {
    SCOPED_TRACE(c.url);
    Result<Endpoint> ep = ParseEndpoint(c.url);
    ASSERT_TRUE(ep.ok()) << ep.error().message;
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->host_header, c.host_header);
  }
}

TEST(ParseEndpointTest, RefusesEverythingElse) {
  Result<Endpoint> ep = ParseEndpoint("https://registry.example.com");
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, Errc::kUnsupported);
  EXPECT_NE(ep.error().message.find("TLS not supported yet"), std::string::npos);
  for (const char* url : {"", "127.0.0.1:5000", "localhost", "ftp://h/", "http://", "http:///x",
                          "http://h:0", "http://h:65536", "http://h:port", "http://u:p@h",
                          "http://h/v2", "http://h/?a=b", "http://h/#x", "http://h:5000/api/"}) {
    SCOPED_TRACE(url);
    ep = ParseEndpoint(url);
    ASSERT_FALSE(ep.ok());
    EXPECT_EQ(ep.error().code, Errc::kInvalidArgument);
  }
}

// ---- Signing ----------------------------------------------------------------------------------

constexpr std::string_view kBody = R"({"dryRun":true})";
constexpr int64_t kSignTime = 1795858200;  // 2026-11-28T09:30:00Z

SigningRequest GcRequest() {
  SigningRequest r;
  r.host = "127.0.0.1:5099";
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Target", "Berth_20261128.StartGarbageCollection"}};
  r.body = kBody;
  r.region = "eu-west-1";
  r.now_unix_seconds = kSignTime;
  return r;
}

// What the server sees: the signed headers as sent, plus one it does not check.
auth::HttpRequestView Received(const Headers& headers, std::string_view body) {
  auth::HttpRequestView v;
  v.method = "POST";
  v.target = "/";
  v.headers = headers;
  v.headers.emplace_back("User-Agent", "berth-cli/0.1.0");
  v.headers.emplace_back("Content-Length", std::to_string(body.size()));
  v.payload_sha256_hex = HexEncode(Sha256Raw(body));
  return v;
}

std::string HeaderValue(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) {
      return v;
    }
  }
  return "<missing>";
}

TEST(SignHeadersTest, VerifiesWithTheSameSecretOnly) {
  const Headers h = SignHeaders(GcRequest(), Creds(kKeyId, kSecret));
  std::vector<std::string> names;
  for (const auto& [k, v] : h) {
    names.push_back(k);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"content-type", "host", "x-amz-content-sha256",
                                             "x-amz-date", "x-amz-target", "authorization"}));
  EXPECT_EQ(HeaderValue(h, "x-amz-content-sha256"), HexEncode(Sha256Raw(kBody)));
  EXPECT_EQ(HeaderValue(h, "x-amz-date"), "20261128T093000Z");

  const auth::HttpRequestView req = Received(h, kBody);
  Result<auth::SigV4Credential> cred = auth::ParseSigV4(req);
  ASSERT_TRUE(cred.ok()) << cred.error().message;
  EXPECT_EQ(cred->access_key_id, kKeyId);
  EXPECT_EQ(cred->region, "eu-west-1");
  EXPECT_EQ(cred->service, "ecr");
  EXPECT_EQ(cred->signed_headers,
            (std::vector<std::string>{"content-type", "host", "x-amz-content-sha256", "x-amz-date",
                                      "x-amz-target"}));
  EXPECT_FALSE(cred->has_session_token);
  Status ok = auth::VerifySigV4(req, *cred, Secret(kSecret), "ecr", kSignTime + 30);
  EXPECT_TRUE(ok.ok()) << ok.error().message;

  Status other = auth::VerifySigV4(req, *cred, Secret("another-secret"), "ecr", kSignTime);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::kSignatureMismatch);
}

TEST(SignHeadersTest, AlteredRequestsFail) {
  const Headers h = SignHeaders(GcRequest(), Creds(kKeyId, kSecret));
  // Another body (the declared hash no longer matches it).
  auth::HttpRequestView req = Received(h, R"({"dryRun":false})");
  Result<auth::SigV4Credential> cred = auth::ParseSigV4(req);
  ASSERT_TRUE(cred.ok());
  Status st = auth::VerifySigV4(req, *cred, Secret(kSecret), "ecr", kSignTime);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kSignatureMismatch);
  // Another action.
  req = Received(h, kBody);
  for (auto& [k, v] : req.headers) {
    if (k == "x-amz-target") {
      v = "Berth_20261128.StartLifecycleRun";
    }
  }
  st = auth::VerifySigV4(req, *cred, Secret(kSecret), "ecr", kSignTime);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kSignatureMismatch);
}

TEST(SignHeadersTest, SessionTokenIsSentAndSigned) {
  const Headers h = SignHeaders(GcRequest(), Creds(kKeyId, kSecret, "FwoGZXIvYXdzEXAMPLE//+="));
  EXPECT_EQ(HeaderValue(h, "x-amz-security-token"), "FwoGZXIvYXdzEXAMPLE//+=");
  const auth::HttpRequestView req = Received(h, kBody);
  Result<auth::SigV4Credential> cred = auth::ParseSigV4(req);
  ASSERT_TRUE(cred.ok()) << cred.error().message;
  EXPECT_TRUE(cred->has_session_token);
  EXPECT_EQ(cred->signed_headers[4], "x-amz-security-token");
  Status ok = auth::VerifySigV4(req, *cred, Secret(kSecret), "ecr", kSignTime);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
}

// The same requests signed by botocore 1.43.11's SigV4Auth (service "ecr", region eu-west-1,
// signing time mocked to 2026-11-28T09:30:00Z), from
//   AWSRequest(method="POST", url="http://127.0.0.1:5099/", data=b'{"dryRun":true}',
//              headers={"Content-Type": "application/x-amz-json-1.1",
//                       "X-Amz-Target": "Berth_20261128.StartGarbageCollection",
//                       "X-Amz-Content-Sha256": sha256(body).hexdigest()})
// with Credentials("AKIDEXAMPLE", kSecret, token) and botocore.auth.SigV4Auth.add_auth.
TEST(SignHeadersTest, MatchesBotocoreByteForByte) {
  EXPECT_EQ(HeaderValue(SignHeaders(GcRequest(), Creds(kKeyId, kSecret)), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/ecr/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, "
            "Signature=b4ba0a9c5662123040770a8eac92dec679f8bb1eed8b52e6d1c34b7745e7b266");
  EXPECT_EQ(HeaderValue(SignHeaders(GcRequest(),
                                    Creds(kKeyId, kSecret, "FwoGZXIvYXdzEXAMPLESESSIONTOKEN//+=")),
                        "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/ecr/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;"
            "x-amz-target, "
            "Signature=cebb7be1531dc06edb55558ee12f3c36a12e04da93b731bc1e47e56d42a4671e");
}

// ---- Output -----------------------------------------------------------------------------------

TEST(FormatTest, ProgressBar) {
  EXPECT_EQ(FormatProgressBar(45, 100, "repositories"),
            "[#########-----------]  45/100 repositories");
  EXPECT_EQ(FormatProgressBar(5, 100, "repositories"),
            "[#-------------------]   5/100 repositories");
  EXPECT_EQ(FormatProgressBar(0, 0, "blobs"), "[--------------------] 0/0 blobs");
  EXPECT_EQ(FormatProgressBar(7, 7, "blobs"), "[####################] 7/7 blobs");
  EXPECT_EQ(FormatProgressBar(9, 7, "blobs"), "[####################] 9/7 blobs");
}

TEST(FormatTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(5ull << 30), "5.0 GiB");
  EXPECT_EQ(HumanBytes(UINT64_MAX), "16.0 EiB");
}

constexpr std::string_view kLifecycleJob = R"({
  "jobId": "j1", "kind": "lifecycle", "status": "COMPLETE", "dryRun": true,
  "progress": {"done": 3, "total": 3, "unit": "repositories"},
  "summary": {"repositoriesEvaluated": 3, "imagesExpired": 2, "imagesTransitioned": 1,
    "actions": [
      {"repositoryName": "team/app", "imageDigest":
       "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
       "imageTags": ["a", "b"], "action": "EXPIRE", "appliedRulePriority": 2},
      {"repositoryName": "team/web", "imageDigest":
       "sha256:0000000000000000000000000000000000000000000000000000000000000001",
       "imageTags": [], "action": "EXPIRE", "appliedRulePriority": 1},
      {"repositoryName": "team/web", "imageDigest":
       "sha256:1111111111111111111111111111111111111111111111111111111111111111",
       "imageTags": ["v1"], "action": "TRANSITION", "appliedRulePriority": 10}]}})";

TEST(FormatTest, LifecycleSummary) {
  json::object job = json::parse(kLifecycleJob).as_object();
  EXPECT_EQ(FormatLifecycleSummary(job),
            "EXPIRE     team/app@sha256:abcdef012345\u2026 (tags a,b) rule 2\n"
            "EXPIRE     team/web@sha256:000000000000\u2026 (untagged) rule 1\n"
            "TRANSITION team/web@sha256:111111111111\u2026 (tag v1) rule 10\n"
            "3 repositories evaluated, 2 images expired, 1 transitioned "
            "(dry run: nothing was changed)\n");
  job["dryRun"] = false;
  job["summary"] = json::object{{"repositoriesEvaluated", 1}, {"imagesExpired", 1}};
  EXPECT_EQ(FormatLifecycleSummary(job),
            "1 repository evaluated, 1 image expired, 0 transitioned\n");
}

TEST(FormatTest, GcSummary) {
  json::object job = json::parse(R"({"status": "COMPLETE", "dryRun": false, "summary": {
      "blobsDeleted": 3, "bytesDeleted": 1572864, "linksDeleted": 1, "uploadsPurged": 2,
      "orphanFilesDeleted": 0, "bytesReclaimable": 0}})")
                         .as_object();
  EXPECT_EQ(FormatGcSummary(job),
            "deleted 3 blobs (1.5 MiB), 1 link, 2 upload sessions, 0 orphan files; reclaimable "
            "now: 0 B\n");
  job["dryRun"] = true;
  EXPECT_EQ(FormatGcSummary(job),
            "deleted 3 blobs (1.5 MiB), 1 link, 2 upload sessions, 0 orphan files; reclaimable "
            "now: 0 B (dry run: nothing was changed)\n");
}

// ---- Commands against a scripted server -------------------------------------------------------

// A one-thread HTTP server on 127.0.0.1 (port 0) that checks each request's signature with
// auth::VerifySigV4 and answers the i-th request with the i-th scripted answer.
class FakeAdminServer {
 public:
  struct Answer {
    unsigned status;
    std::string body;
  };
  struct Request {
    std::string target_header;  // X-Amz-Target
    std::string body;
    std::string content_type;
    bool signature_ok = false;
    std::string signature_error;
    std::string region;
  };

  explicit FakeAdminServer(std::vector<Answer> script)
      : script_(std::move(script)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAdminServer() { Stop(); }
  FakeAdminServer(const FakeAdminServer&) = delete;
  FakeAdminServer& operator=(const FakeAdminServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Stops serving and returns what was received.
  const std::vector<Request>& Stop() {
    if (thread_.joinable()) {
      stop_ = true;
      asio::io_context wake_ioc;
      tcp::socket wake(wake_ioc);
      boost::system::error_code ec;
      wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);  // unblocks accept()
      thread_.join();
    }
    return received_;
  }

 private:
  void Serve() {
    for (size_t i = 0;; ++i) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) {
        return;
      }
      boost::beast::flat_buffer buffer;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(socket, buffer, req, ec);
      if (ec) {
        continue;
      }
      Request r;
      r.target_header = std::string(req["X-Amz-Target"]);
      r.content_type = std::string(req["Content-Type"]);
      r.body = req.body();
      auth::HttpRequestView view;
      view.method = std::string(req.method_string());
      view.target = std::string(req.target());
      for (const auto& f : req) {
        view.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      view.payload_sha256_hex = HexEncode(Sha256Raw(req.body()));
      Result<auth::SigV4Credential> cred = auth::ParseSigV4(view);
      if (cred.ok()) {
        r.region = cred->region;
        Status st = auth::VerifySigV4(view, *cred, Secret(kSecret), "ecr", std::time(nullptr));
        r.signature_ok = st.ok();
        r.signature_error = st.ok() ? "" : st.error().message;
      } else {
        r.signature_error = cred.error().message;
      }
      received_.push_back(std::move(r));
      Answer a = i < script_.size() ? script_[i] : Answer{500, "{}"};
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(a.status), 11};
      res.set(bhttp::field::content_type, "application/x-amz-json-1.1");
      res.body() = a.body;
      res.prepare_payload();
      bhttp::write(socket, res, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  std::vector<Answer> script_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<Request> received_;  // read by Stop() after the thread ended
  std::thread thread_;
};

// A FILE* capturing a command's output.
class Capture {
 public:
  Capture() : f_(std::tmpfile()) {}
  ~Capture() { std::fclose(f_); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    std::rewind(f_);
    std::string s;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, f_)) {
      s.append(buf, n);
    }
    return s;
  }

 private:
  std::FILE* f_;
};

struct CommandTest : ::testing::Test {
  RemoteOptions Options(const std::string& endpoint) {
    RemoteOptions o;
    o.endpoint = endpoint;
    o.poll_interval = std::chrono::milliseconds(1);
    o.request_timeout = std::chrono::seconds(10);
    o.env = FakeEnv({{"AWS_ACCESS_KEY_ID", std::string(kKeyId)},
                     {"AWS_SECRET_ACCESS_KEY", std::string(kSecret)},
                     {"AWS_DEFAULT_REGION", "eu-central-1"}});
    o.out = out.file();
    o.err = err.file();
    return o;
  }
  Capture out;
  Capture err;
};

json::value Json(std::string_view text) { return json::parse(text); }

TEST_F(CommandTest, GcDryRunFollowsTheJobToItsSummary) {
  FakeAdminServer server({
      {200, R"({"jobId":"gc-1","status":"IN_PROGRESS"})"},
      {200, R"({"jobId":"gc-1","kind":"gc","status":"IN_PROGRESS","dryRun":true,)"
            R"("progress":{"done":1,"total":4,"unit":"blobs"}})"},
      {200, R"({"jobId":"gc-1","kind":"gc","status":"COMPLETE","dryRun":true,)"
            R"("progress":{"done":4,"total":4,"unit":"blobs"},"summary":{"blobsDeleted":4,)"
            R"("bytesDeleted":2048,"linksDeleted":5,"uploadsPurged":1,"orphanFilesDeleted":0,)"
            R"("bytesReclaimable":2048}})"},
  });
  RemoteOptions o = Options(server.url());
  o.dry_run = true;
  EXPECT_EQ(RunGc(o), 0) << err.text();
  const auto& got = server.Stop();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) {
    EXPECT_TRUE(r.signature_ok) << r.signature_error;
    EXPECT_EQ(r.region, "eu-central-1");
    EXPECT_EQ(r.content_type, "application/x-amz-json-1.1");
  }
  EXPECT_EQ(got[0].target_header, "Berth_20261128.StartGarbageCollection");
  EXPECT_EQ(Json(got[0].body), Json(R"({"dryRun":true})"));
  EXPECT_EQ(got[1].target_header, "Berth_20261128.DescribeJob");
  EXPECT_EQ(Json(got[1].body), Json(R"({"jobId":"gc-1"})"));
  EXPECT_EQ(out.text(),
            "deleted 4 blobs (2.0 KiB), 5 links, 1 upload session, 0 orphan files; reclaimable "
            "now: 2.0 KiB (dry run: nothing was changed)\n");
  EXPECT_EQ(err.text(), "");  // not a terminal: no progress bar
}

TEST_F(CommandTest, LifecycleJsonPrintsTheFinalDescribeJob) {
  const std::string final_job =
      R"({"jobId":"lc-1","kind":"lifecycle","status":"COMPLETE","dryRun":false,)"
      R"("summary":{"repositoriesEvaluated":1,"imagesExpired":0,"imagesTransitioned":0,)"
      R"("actions":[]}})";
  FakeAdminServer server(
      {{200, R"({"jobId":"lc-1","status":"IN_PROGRESS"})"}, {200, final_job + "\n"}});
  RemoteOptions o = Options(server.url());
  o.json = true;
  o.region = "ap-south-1";
  EXPECT_EQ(RunLifecycle(o, "team/app"), 0) << err.text();
  const auto& got = server.Stop();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].signature_ok) << got[0].signature_error;
  EXPECT_EQ(got[0].region, "ap-south-1");
  EXPECT_EQ(got[0].target_header, "Berth_20261128.StartLifecycleRun");
  EXPECT_EQ(Json(got[0].body), Json(R"({"repositoryName":"team/app","dryRun":false})"));
  EXPECT_EQ(out.text(), final_job + "\n");
}

TEST_F(CommandTest, LifecycleOverEveryRepositorySendsNoName) {
  FakeAdminServer server({{200, R"({"jobId":"lc-2","status":"IN_PROGRESS"})"},
                          {200, R"({"jobId":"lc-2","status":"COMPLETE","dryRun":false,)"
                                R"("summary":{"repositoriesEvaluated":2}})"}});
  EXPECT_EQ(RunLifecycle(Options(server.url()), ""), 0) << err.text();
  const auto& got = server.Stop();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Json(got[0].body), Json(R"({"dryRun":false})"));
  EXPECT_EQ(out.text(), "2 repositories evaluated, 0 images expired, 0 transitioned\n");
}

TEST_F(CommandTest, ServerErrorsArePrintedWithTheirType) {
  FakeAdminServer server(
      {{400, R"({"__type":"AccessDeniedException","message":"User: arn:aws:iam::1:user/x is )"
             R"(not authorized to perform: ecr:StartGarbageCollection"})"}});
  EXPECT_EQ(RunGc(Options(server.url())), 1);
  server.Stop();
  EXPECT_EQ(out.text(), "");
  EXPECT_EQ(err.text(),
            "berth: AccessDeniedException: User: arn:aws:iam::1:user/x is not authorized to "
            "perform: ecr:StartGarbageCollection\n");
}

TEST_F(CommandTest, NonJsonErrorsShowTheHttpStatus) {
  FakeAdminServer server({{502, "upstream down\nmore"}});
  EXPECT_EQ(RunGc(Options(server.url())), 1);
  server.Stop();
  EXPECT_EQ(err.text(), "berth: HTTP 502 Bad Gateway: upstream down\n");
}

TEST_F(CommandTest, FailedJobExitsOne) {
  FakeAdminServer server({{200, R"({"jobId":"gc-9","status":"IN_PROGRESS"})"},
                          {200, R"({"jobId":"gc-9","kind":"gc","status":"FAILED",)"
                                R"("dryRun":false,"message":"disk full"})"}});
  EXPECT_EQ(RunGc(Options(server.url())), 1);
  server.Stop();
  EXPECT_EQ(out.text(), "");
  EXPECT_EQ(err.text(), "berth: garbage collection gc-9 failed: disk full\n");
}

TEST_F(CommandTest, PollingSurvivesAPassing5xx) {
  FakeAdminServer server({{200, R"({"jobId":"gc-3","status":"IN_PROGRESS"})"},
                          {503, R"({"__type":"ServerException","message":"busy"})"},
                          {200, R"({"jobId":"gc-3","status":"COMPLETE","dryRun":false,)"
                                R"("summary":{"blobsDeleted":1,"bytesDeleted":10}})"}});
  EXPECT_EQ(RunGc(Options(server.url())), 0) << err.text();
  EXPECT_EQ(server.Stop().size(), 3u);
  EXPECT_EQ(out.text(),
            "deleted 1 blob (10 B), 0 links, 0 upload sessions, 0 orphan files; reclaimable now: "
            "0 B\n");
}

TEST_F(CommandTest, StartIsNotRetried) {
  FakeAdminServer server({{500, R"({"__type":"ServerException","message":"boom"})"}});
  EXPECT_EQ(RunGc(Options(server.url())), 1);
  EXPECT_EQ(server.Stop().size(), 1u);
  EXPECT_EQ(err.text(), "berth: ServerException: boom\n");
}

TEST_F(CommandTest, UnusableEndpointIsAUsageError) {
  EXPECT_EQ(RunGc(Options("https://127.0.0.1:1")), 2);
  EXPECT_NE(err.text().find("TLS not supported yet"), std::string::npos) << err.text();
}

TEST_F(CommandTest, MissingCredentialsAreReportedBeforeAnyRequest) {
  FakeAdminServer server({});
  RemoteOptions o = Options(server.url());
  o.env = FakeEnv({});
  EXPECT_EQ(RunGc(o), 1);
  EXPECT_TRUE(server.Stop().empty());
  EXPECT_NE(err.text().find("no AWS credentials"), std::string::npos) << err.text();
}

TEST_F(CommandTest, UnreachableServer) {
  // A port nothing listens on: bind one, note it, close it.
  uint16_t port;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  EXPECT_EQ(RunGc(Options("http://127.0.0.1:" + std::to_string(port))), 1);
  EXPECT_NE(err.text().find("berth: cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << err.text();
}

}  // namespace
}  // namespace berth::cli
