#include "cli/remote.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "auth/sigv4.h"
#include "base/crypto.h"
#include "base/strings.h"

namespace berth::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace urls = boost::urls;
using tcp = boost::asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr std::string_view kDefaultRegion = "us-east-1";
constexpr std::string_view kUserAgent = "berth-cli/0.1.0";
constexpr uint64_t kMaxAnswerBytes = 64ull << 20;  // a lifecycle summary lists every action
// Consecutive DescribeJob requests that may fail to reach the server or get a 5xx answer (a
// restart, a dropped connection) before the command gives up on following the job. The wait
// before each retry doubles: 0.4 s, 0.8 s, 1.6 s, 3.2 s with the default poll interval.
constexpr int kMaxPollFailures = 5;
constexpr int kProgressCells = 20;

// A variable's value, with empty counted as unset (as botocore does).
std::optional<std::string> NonEmpty(const EnvLookup& env, const char* name) {
  std::optional<std::string> v = env(name);
  if (v && v->empty()) {
    return std::nullopt;
  }
  return v;
}

// Cuts a '#' or ';' comment that follows a space or tab.
std::string_view StripInlineComment(std::string_view line) {
  for (size_t i = 1; i < line.size(); ++i) {
    if ((line[i] == '#' || line[i] == ';') && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

// ---- JSON answers -----------------------------------------------------------------------------

const json::value* Field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::string StringField(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

uint64_t UintField(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_uint64()) {
    return v->get_uint64();
  }
  if (v->is_int64()) {
    return v->get_int64() < 0 ? 0 : static_cast<uint64_t>(v->get_int64());
  }
  if (v->is_double() && v->get_double() > 0) {
    return static_cast<uint64_t>(v->get_double());
  }
  return 0;
}

const json::object* ObjectField(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  return v != nullptr ? v->if_object() : nullptr;
}

bool BoolField(const json::object& o, std::string_view key, bool fallback) {
  const json::value* v = Field(o, key);
  return v != nullptr && v->is_bool() ? v->get_bool() : fallback;
}

// "1 image" / "2 images".
std::string Count(uint64_t n, std::string_view singular, std::string_view plural) {
  return std::to_string(n) + " " + std::string(n == 1 ? singular : plural);
}

// "sha256:0123456789ab…" (a 12-digit prefix, like docker's short ids).
std::string ShortDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  size_t keep = colon == std::string_view::npos ? 12 : colon + 1 + 12;
  if (digest.size() <= keep) {
    return std::string(digest);
  }
  return std::string(digest.substr(0, keep)) + "\u2026";
}

// ---- HTTP ---------------------------------------------------------------------------------------

struct HttpAnswer {
  unsigned status = 0;
  std::string reason;
  std::string body;
};

Error Unreachable(const Endpoint& ep, std::string_view what, const boost::system::error_code& ec) {
  std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
  return MakeError(Errc::kUnavailable, std::string(what) + " " + ep.host_header + ": " + why);
}

// Runs one asynchronous operation started by `start` to completion on `ioc`; the stream's
// deadline bounds it.
template <class Start>
boost::system::error_code RunOne(asio::io_context& ioc, Start&& start) {
  boost::system::error_code result;
  start([&result](const boost::system::error_code& ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// POSTs `body` with `headers` to `ep`, one connection per request. The whole exchange
// (connect, send, receive) must end within `timeout`; name resolution is not bounded by it.
// Errors: kUnavailable (cannot resolve, connect, send or receive, or timed out).
Result<HttpAnswer> Post(const Endpoint& ep, const Headers& headers, const std::string& body,
                        std::chrono::seconds timeout) {
  asio::io_context ioc;
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type addresses = resolver.resolve(ep.host, std::to_string(ep.port), ec);
  if (ec) {
    return Unreachable(ep, "cannot resolve", ec);
  }
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  ec = RunOne(ioc, [&](auto handler) { stream.async_connect(addresses, std::move(handler)); });
  if (ec) {
    return Unreachable(ep, "cannot connect to", ec);
  }
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/", 11};
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  req.set(bhttp::field::user_agent, kUserAgent);
  req.body() = body;
  req.prepare_payload();
  ec = RunOne(ioc, [&](auto handler) { bhttp::async_write(stream, req, std::move(handler)); });
  if (ec) {
    return Unreachable(ep, "cannot send to", ec);
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  ec = RunOne(ioc,
              [&](auto handler) { bhttp::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec) {
    return Unreachable(ep, "no answer from", ec);
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);  // best effort
  HttpAnswer answer;
  answer.status = parser.get().result_int();
  answer.reason = std::string(parser.get().reason());
  answer.body = std::move(parser.get().body());
  return answer;
}

// An admin API answer: the parsed object and the text it came from.
struct ApiAnswer {
  json::object object;
  std::string raw;
};

// The message of a non-2xx answer: "<__type>: <message>" (AWS JSON protocol errors; a type may
// carry a "namespace#" prefix, which is dropped as botocore does), else the HTTP status.
std::string ApiErrorMessage(const HttpAnswer& a) {
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (!ec && v.is_object()) {
    std::string type = StringField(v.get_object(), "__type");
    std::string message = StringField(v.get_object(), "message");
    if (message.empty()) {
      message = StringField(v.get_object(), "Message");
    }
    if (!type.empty()) {
      if (size_t hash = type.rfind('#'); hash != std::string::npos) {
        type = type.substr(hash + 1);
      }
      return message.empty() ? type : type + ": " + message;
    }
  }
  std::string text = "HTTP " + std::to_string(a.status) + (a.reason.empty() ? "" : " " + a.reason);
  std::string_view first_line = std::string_view(a.body).substr(0, a.body.find('\n'));
  first_line = TrimSpace(first_line.substr(0, 200));
  return first_line.empty() ? text : text + ": " + std::string(first_line);
}

class AdminClient {
 public:
  AdminClient(Endpoint endpoint, AwsCredentials credentials, std::string region,
              std::chrono::seconds timeout)
      : endpoint_(std::move(endpoint)),
        credentials_(std::move(credentials)),
        region_(std::move(region)),
        timeout_(timeout) {}

  // Calls `action` with `body`. Errors: kUnavailable (the server could not be reached, see
  // Post, or answered 5xx), kInvalidArgument (the server refused the request with a 4xx), both
  // with the message "<__type>: <message>" when the answer has one; kInternal (a 2xx answer
  // that is not a JSON object).
  Result<ApiAnswer> Call(std::string_view action, const json::object& body) const {
    std::string text = json::serialize(body);
    SigningRequest sr;
    sr.host = endpoint_.host_header;
    sr.headers = {{"content-type", "application/x-amz-json-1.1"},
                  {"x-amz-target", std::string(kAdminTargetPrefix) + std::string(action)}};
    sr.body = text;
    sr.region = region_;
    sr.now_unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    BERTH_ASSIGN_OR_RETURN(HttpAnswer answer,
                           Post(endpoint_, SignHeaders(sr, credentials_), text, timeout_));
    if (answer.status >= 500) {
      return MakeError(Errc::kUnavailable, ApiErrorMessage(answer));
    }
    if (answer.status < 200 || answer.status >= 300) {
      return MakeError(Errc::kInvalidArgument, ApiErrorMessage(answer));
    }
    boost::system::error_code ec;
    json::value v = json::parse(answer.body, ec);
    if (ec || !v.is_object()) {
      return MakeError(Errc::kInternal, std::string(action) + ": the answer of " +
                                            endpoint_.host_header + " is not a JSON object");
    }
    return ApiAnswer{std::move(v.get_object()), std::move(answer.body)};
  }

 private:
  Endpoint endpoint_;
  AwsCredentials credentials_;
  std::string region_;
  std::chrono::seconds timeout_;
};

// ---- Jobs ---------------------------------------------------------------------------------------

struct JobKind {
  std::string_view start_action;  // e.g. "StartGarbageCollection"
  std::string_view noun;          // for messages: "lifecycle run", "garbage collection"
  std::string_view unit;          // progress unit until the server names one
  std::string (*summary)(const json::object& job);
};

void PrintError(const RemoteOptions& o, std::string_view message) {
  std::fprintf(o.err, "berth: %.*s\n", static_cast<int>(message.size()), message.data());
  std::fflush(o.err);
}

// Starts the job, follows it with DescribeJob every poll_interval and prints its outcome.
int RunJob(const RemoteOptions& o, const JobKind& kind, const json::object& start_body) {
  Result<Endpoint> endpoint = ParseEndpoint(o.endpoint);
  if (!endpoint.ok()) {
    PrintError(o, "--endpoint: " + endpoint.error().message);
    return 2;
  }
  Result<AwsCredentials> credentials = LoadAwsCredentials(o.env);
  if (!credentials.ok()) {
    PrintError(o, credentials.error().message);
    return 1;
  }
  const AdminClient client(std::move(*endpoint), std::move(*credentials),
                           ResolveRegion(o.region, o.env), o.request_timeout);

  Result<ApiAnswer> started = client.Call(kind.start_action, start_body);
  if (!started.ok()) {
    PrintError(o, started.error().message);
    return 1;
  }
  const std::string job_id = StringField(started->object, "jobId");
  if (job_id.empty()) {
    PrintError(o, std::string(kind.start_action) + ": the answer has no jobId");
    return 1;
  }

  const bool tty = ::isatty(::fileno(o.err)) == 1;
  bool bar_shown = false;
  auto clear_bar = [&] {
    if (bar_shown) {
      std::fputs("\r\x1b[K", o.err);
      std::fflush(o.err);
      bar_shown = false;
    }
  };
  int failures = 0;
  for (;;) {
    std::this_thread::sleep_for(o.poll_interval * (1 << failures));  // back off after failures
    Result<ApiAnswer> job = client.Call("DescribeJob", json::object{{"jobId", job_id}});
    if (!job.ok()) {
      if (job.error().code == Errc::kUnavailable && ++failures < kMaxPollFailures) {
        continue;
      }
      clear_bar();
      PrintError(o,
                 job.error().message + " (job " + job_id + " may still be running on the server)");
      return 1;
    }
    failures = 0;
    json::object& state = job->object;
    if (Field(state, "dryRun") == nullptr) {
      state["dryRun"] = o.dry_run;  // for the summary's dry-run note
    }
    const std::string status = StringField(state, "status");
    if (status == "IN_PROGRESS") {
      if (tty) {
        const json::object* progress = ObjectField(state, "progress");
        std::string unit = progress != nullptr ? StringField(*progress, "unit") : std::string();
        std::string bar = FormatProgressBar(progress != nullptr ? UintField(*progress, "done") : 0,
                                            progress != nullptr ? UintField(*progress, "total") : 0,
                                            unit.empty() ? kind.unit : std::string_view(unit));
        std::fprintf(o.err, "\r%s\x1b[K", bar.c_str());
        std::fflush(o.err);
        bar_shown = true;
      }
      continue;
    }
    clear_bar();
    if (o.json && (status == "COMPLETE" || status == "FAILED")) {
      std::string_view raw = job->raw;
      while (!raw.empty() &&
             std::string_view(" \t\r\n").find(raw.back()) != std::string_view::npos) {
        raw.remove_suffix(1);
      }
      std::fprintf(o.out, "%.*s\n", static_cast<int>(raw.size()), raw.data());
      std::fflush(o.out);
    }
    if (status == "COMPLETE") {
      if (!o.json) {
        std::string text = kind.summary(state);
        std::fputs(text.c_str(), o.out);
        std::fflush(o.out);
      }
      return 0;
    }
    if (status == "FAILED") {
      std::string message = StringField(state, "message");
      PrintError(o, std::string(kind.noun) + " " + job_id + " failed" +
                        (message.empty() ? "" : ": " + message));
      return 1;
    }
    PrintError(o, "job " + job_id + " has an unexpected status '" + status + "'");
    return 1;
  }
}

}  // namespace

// ---- Credentials ----------------------------------------------------------------------------

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

Result<AwsCredentials> ParseSharedCredentials(std::string_view text, std::string_view profile,
                                              std::string_view file_name) {
  bool found = false;
  bool in_profile = false;
  std::optional<std::string> key_id;
  std::optional<Secret> secret;
  std::optional<Secret> token;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    line = TrimSpace(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }
    if (line.front() == '[') {
      size_t close = line.find(']');
      in_profile =
          close != std::string_view::npos && TrimSpace(line.substr(1, close - 1)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) {
      continue;
    }
    line = StripInlineComment(line);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string_view key = TrimSpace(line.substr(0, eq));
    std::string_view value = TrimSpace(line.substr(eq + 1));
    if (EqualsIgnoreCase(key, "aws_access_key_id")) {
      key_id = std::string(value);
    } else if (EqualsIgnoreCase(key, "aws_secret_access_key")) {
      secret.emplace(value);
    } else if (EqualsIgnoreCase(key, "aws_session_token") ||
               EqualsIgnoreCase(key, "aws_security_token")) {
      token.emplace(value);
    }
  }
  const std::string where = std::string(file_name) + " (profile " + std::string(profile) + ")";
  if (!found) {
    return MakeError(Errc::kAuthMissing, "no profile '" + std::string(profile) + "' in " +
                                             std::string(file_name) +
                                             " (set AWS_PROFILE to choose another)");
  }
  if (!key_id || key_id->empty()) {
    return MakeError(Errc::kInvalidArgument, "no aws_access_key_id in " + where);
  }
  if (!secret || secret->empty()) {
    return MakeError(Errc::kInvalidArgument, "no aws_secret_access_key in " + where);
  }
  AwsCredentials c;
  c.access_key_id = std::move(*key_id);
  c.secret_access_key = std::move(*secret);
  if (token) {
    c.session_token = std::move(*token);
  }
  c.source = where;
  return c;
}

Result<AwsCredentials> LoadAwsCredentials(const EnvLookup& env) {
  std::optional<std::string> id = NonEmpty(env, "AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = NonEmpty(env, "AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    AwsCredentials c;
    c.access_key_id = std::move(*id);
    c.secret_access_key = Secret(std::move(*secret));
    if (std::optional<std::string> token = NonEmpty(env, "AWS_SESSION_TOKEN")) {
      c.session_token = Secret(std::move(*token));
    }
    c.source = "environment";
    return c;
  }
  if (id || secret) {
    if (secret) {
      Secret wipe(std::move(*secret));  // wipes the copy taken from the environment
    }
    return MakeError(Errc::kInvalidArgument,
                     id ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                        : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }

  std::string path;
  if (std::optional<std::string> p = NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE")) {
    path = std::move(*p);
  } else if (std::optional<std::string> home = NonEmpty(env, "HOME")) {
    path = *home + "/.aws/credentials";
  }
  const std::string profile = NonEmpty(env, "AWS_PROFILE").value_or("default");
  const std::string no_key =
      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
      "AWS_SHARED_CREDENTIALS_FILE (a berth server writes <data-dir>/admin-credentials)";
  if (path.empty()) {
    return MakeError(Errc::kAuthMissing, no_key + " (HOME is not set)");
  }
  std::error_code fs_ec;
  if (!std::filesystem::exists(path, fs_ec)) {
    return MakeError(Errc::kAuthMissing, no_key + " (" + path + " does not exist)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(Errc::kUnavailable,
                     "cannot read " + path + ": " + std::string(std::strerror(errno)));
  }
  // The file holds secrets: keep its text in a Secret so it is wiped once parsed.
  std::string contents{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  Secret text(std::move(contents));
  if (in.bad()) {
    return MakeError(Errc::kUnavailable, "cannot read " + path);
  }
  return ParseSharedCredentials(text.reveal(), profile, path);
}

Result<AwsCredentials> LoadAwsCredentials() { return LoadAwsCredentials(ProcessEnvironment()); }

std::string ResolveRegion(const std::string& flag, const EnvLookup& env) {
  if (!flag.empty()) {
    return flag;
  }
  if (std::optional<std::string> r = NonEmpty(env, "AWS_REGION")) {
    return *r;
  }
  if (std::optional<std::string> r = NonEmpty(env, "AWS_DEFAULT_REGION")) {
    return *r;
  }
  return std::string(kDefaultRegion);
}

// ---- Endpoint and signing ---------------------------------------------------------------------

Result<Endpoint> ParseEndpoint(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return MakeError(Errc::kInvalidArgument, "'" + std::string(url) + "' " + std::string(why) +
                                                 " (expected http://HOST[:PORT])");
  };
  auto parsed = urls::parse_absolute_uri(url);
  if (!parsed) {
    return invalid("is not a URL");
  }
  const urls::url_view& u = *parsed;
  if (u.scheme_id() == urls::scheme::https) {
    return MakeError(Errc::kUnsupported,
                     "TLS not supported yet: use an http:// endpoint (or a TLS-terminating "
                     "proxy in front of it)");
  }
  if (u.scheme_id() != urls::scheme::http) {
    return invalid("is not an http:// URL");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return invalid("has no host");
  }
  if (u.has_userinfo()) {
    return invalid("must not contain user information");
  }
  if (u.host_type() != urls::host_type::name && u.host_type() != urls::host_type::ipv4 &&
      u.host_type() != urls::host_type::ipv6) {
    return invalid("has an unsupported host");
  }
  if (u.encoded_path() != "" && u.encoded_path() != "/") {
    return invalid("must not have a path");
  }
  if (u.has_query() || u.has_fragment()) {
    return invalid("must not have a query or fragment");
  }
  Endpoint ep;
  if (u.has_port()) {
    std::optional<uint64_t> port = ParseUint(u.port());
    if (!port || *port == 0 || *port > 65535) {
      return invalid("has an invalid port");
    }
    ep.port = static_cast<uint16_t>(*port);
  }
  ep.host = AsciiLower(u.host_address());
  ep.host_header = u.host_type() == urls::host_type::ipv6 ? "[" + ep.host + "]" : ep.host;
  if (ep.port != 80) {
    ep.host_header += ":" + std::to_string(ep.port);
  }
  return ep;
}

std::vector<std::pair<std::string, std::string>> SignHeaders(const SigningRequest& request,
                                                             const AwsCredentials& credentials) {
  const std::string amz_date = auth::FormatAmzDate(request.now_unix_seconds);
  const std::string payload_hash = HexEncode(Sha256Raw(request.body));
  Headers headers;
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(AsciiLower(name), value);
  }
  headers.emplace_back("host", request.host);
  headers.emplace_back("x-amz-content-sha256", payload_hash);
  headers.emplace_back("x-amz-date", amz_date);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", std::string(credentials.session_token.reveal()));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  auth::SigV4Credential cred;
  cred.access_key_id = credentials.access_key_id;
  cred.amz_date = amz_date;
  cred.date = amz_date.substr(0, 8);
  cred.region = request.region;
  cred.service = request.service;
  cred.has_session_token = !credentials.session_token.empty();
  std::string signed_list;
  for (const auto& [name, value] : headers) {
    if (cred.signed_headers.empty() || cred.signed_headers.back() != name) {
      cred.signed_headers.push_back(name);
      signed_list += (signed_list.empty() ? "" : ";") + name;
    }
  }
  auth::HttpRequestView view;
  view.method = request.method;
  view.target = request.target;
  view.headers = headers;
  view.payload_sha256_hex = payload_hash;
  const std::string string_to_sign = auth::StringToSign(cred, auth::CanonicalRequest(view, cred));
  const std::string signature =
      auth::SignatureHex(credentials.secret_access_key, cred, string_to_sign);
  headers.emplace_back("authorization", std::string(auth::kSigV4Algorithm) +
                                            " Credential=" + cred.access_key_id + "/" + cred.date +
                                            "/" + cred.region + "/" + cred.service +
                                            "/aws4_request, SignedHeaders=" + signed_list +
                                            ", Signature=" + signature);
  return headers;
}

// ---- Output -----------------------------------------------------------------------------------

std::string FormatProgressBar(uint64_t done, uint64_t total, std::string_view unit) {
  uint64_t shown = std::min(done, total);
  int filled =
      total == 0 ? 0 : static_cast<int>((static_cast<double>(shown) / total) * kProgressCells);
  std::string bar =
      "[" + std::string(filled, '#') + std::string(kProgressCells - filled, '-') + "]";
  std::string total_text = std::to_string(total);
  std::string done_text = std::to_string(done);
  if (done_text.size() < total_text.size()) {
    done_text.insert(0, total_text.size() - done_text.size(), ' ');
  }
  return bar + " " + done_text + "/" + total_text + " " + std::string(unit);
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", v, kUnits[unit]);
  return text;
}

std::string FormatLifecycleSummary(const json::object& job) {
  static const json::object kEmpty;
  const json::object* s = ObjectField(job, "summary");
  const json::object& summary = s != nullptr ? *s : kEmpty;
  std::string out;
  if (const json::value* actions = Field(summary, "actions");
      actions != nullptr && actions->is_array()) {
    for (const json::value& a : actions->get_array()) {
      if (!a.is_object()) {
        continue;
      }
      const json::object& action = a.get_object();
      std::string tags;
      size_t tag_count = 0;
      if (const json::value* t = Field(action, "imageTags"); t != nullptr && t->is_array()) {
        for (const json::value& tag : t->get_array()) {
          if (tag.is_string()) {
            tags += (tags.empty() ? "" : ",") + std::string(tag.get_string());
            ++tag_count;
          }
        }
      }
      char line[64];
      std::snprintf(line, sizeof line, "%-10s ", StringField(action, "action").c_str());
      out += line;
      out += StringField(action, "repositoryName") + "@" +
             ShortDigest(StringField(action, "imageDigest"));
      out += tag_count == 0 ? " (untagged)" : (tag_count == 1 ? " (tag " : " (tags ") + tags + ")";
      if (Field(action, "appliedRulePriority") != nullptr) {
        out += " rule " + std::to_string(UintField(action, "appliedRulePriority"));
      }
      out += "\n";
    }
  }
  out += Count(UintField(summary, "repositoriesEvaluated"), "repository", "repositories") +
         " evaluated, " + Count(UintField(summary, "imagesExpired"), "image", "images") +
         " expired, " + std::to_string(UintField(summary, "imagesTransitioned")) + " transitioned";
  if (BoolField(job, "dryRun", false)) {
    out += " (dry run: nothing was changed)";
  }
  return out + "\n";
}

std::string FormatGcSummary(const json::object& job) {
  static const json::object kEmpty;
  const json::object* s = ObjectField(job, "summary");
  const json::object& summary = s != nullptr ? *s : kEmpty;
  std::string out =
      "deleted " + Count(UintField(summary, "blobsDeleted"), "blob", "blobs") + " (" +
      HumanBytes(UintField(summary, "bytesDeleted")) + "), " +
      Count(UintField(summary, "linksDeleted"), "link", "links") + ", " +
      Count(UintField(summary, "uploadsPurged"), "upload session", "upload sessions") + ", " +
      Count(UintField(summary, "orphanFilesDeleted"), "orphan file", "orphan files") +
      "; reclaimable now: " + HumanBytes(UintField(summary, "bytesReclaimable"));
  if (BoolField(job, "dryRun", false)) {
    out += " (dry run: nothing was changed)";
  }
  return out + "\n";
}

// ---- Commands ---------------------------------------------------------------------------------

int RunLifecycle(const RemoteOptions& options, const std::string& repository) {
  json::object body;
  if (!repository.empty()) {
    body["repositoryName"] = repository;
  }
  body["dryRun"] = options.dry_run;
  static constexpr JobKind kKind{"StartLifecycleRun", "lifecycle run", "repositories",
                                 &FormatLifecycleSummary};
  return RunJob(options, kKind, body);
}

int RunGc(const RemoteOptions& options) {
  json::object body;
  body["dryRun"] = options.dry_run;
  static constexpr JobKind kKind{"StartGarbageCollection", "garbage collection", "blobs",
                                 &FormatGcSummary};
  return RunJob(options, kKind, body);
}

}  // namespace berth::cli
