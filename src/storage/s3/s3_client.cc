#include "storage/s3/s3_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "auth/sigv4.h"
#include "base/crypto.h"
#include "base/strings.h"

namespace berth::storage::s3 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::chrono::milliseconds kMaxBackoff{2000};

bool Unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string Encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

bool Retryable(int status) { return status == 429 || status >= 500; }

}  // namespace

// --- connections ------------------------------------------------------------------------------

// One kept-alive connection. It owns its io_context, so whichever pool thread uses it can run
// its asynchronous operations (which is what gives every socket wait a deadline).
struct Conn {
  asio::io_context ctx{1};
  std::optional<beast::tcp_stream> tcp;
  std::optional<ssl::stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool used = false;  // has served a request before (the server may have closed it since)

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }

  // Runs the operation started by `start(handler)` to completion on this thread, within
  // `timeout`. Returns its error code.
  template <class Start>
  error_code Run(std::chrono::milliseconds timeout, Start&& start) {
    error_code result = asio::error::would_block;
    lowest().expires_after(timeout);
    start([&result](error_code ec, std::size_t) { result = ec; });
    ctx.restart();
    ctx.run();
    return result;
  }
};

// Acknowledge the answer's segments at once: servers that write headers and body separately
// without TCP_NODELAY otherwise stall ~40 ms on every answer (Nagle against delayed ACKs).
static void QuickAck(Conn& c) {
  int one = 1;
  (void)::setsockopt(c.lowest().socket().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one,
                     sizeof one);
}

struct S3Client::Pool {
  std::string scheme_host;  // "http://host:port" for URLs
  std::string host;         // to connect to
  std::string port;
  std::string host_header;  // Host header (bucket.host for virtual-host style)
  std::string path_prefix;  // "/bucket" for path style, "" otherwise
  bool https = false;
  std::unique_ptr<ssl::context> ssl_ctx;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Conn>> idle;  // guarded by mu
  int open = 0;                             // guarded by mu: connections in existence
  int max = 64;

  Result<std::unique_ptr<Conn>> Acquire(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, wait, [&] { return !idle.empty() || open < max; })) {
      return MakeError(Errc::kUnavailable,
                       "s3: no free connection within " + std::to_string(wait.count()) + " ms");
    }
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      return c;
    }
    ++open;
    return std::make_unique<Conn>();
  }

  void Release(std::unique_ptr<Conn> c, bool reusable) {
    std::lock_guard lock(mu);
    if (reusable && c->lowest().socket().is_open()) {
      c->used = true;
      idle.push_back(std::move(c));
    } else {
      c.reset();
      --open;
    }
    cv.notify_one();
  }

  // One attempt's connection, connected: nullptr with `why` set when connecting failed (the
  // caller retries). Errors: no free connection within the pool wait (not retried).
  Result<std::unique_ptr<Conn>> Checkout(const S3Options& o, std::string& why) {
    BERTH_ASSIGN_OR_RETURN(auto c, Acquire(o.pool_wait));
    Status connected = Connect(*c, o.connect_timeout);
    if (!connected.ok()) {
      Release(std::move(c), false);
      why = connected.error().message;
      return std::unique_ptr<Conn>();
    }
    return c;
  }

  // Connects a fresh connection (no-op for a kept-alive one).
  Status Connect(Conn& c, std::chrono::milliseconds timeout) {
    if (c.tcp || c.tls) {
      return Ok{};
    }
    error_code ec;
    tcp::resolver resolver(c.ctx);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) {
      return MakeError(Errc::kUnavailable, "s3: resolving " + host + ": " + ec.message());
    }
    if (https) {
      c.tls.emplace(c.ctx, *ssl_ctx);
    } else {
      c.tcp.emplace(c.ctx);
    }
    ec = c.Run(timeout, [&](auto handler) {
      c.lowest().async_connect(
          endpoints, [h = std::move(handler)](error_code e, const auto&) mutable { h(e, 0); });
    });
    if (ec) {
      Drop(c);
      return MakeError(Errc::kUnavailable,
                       "s3: connecting to " + host + ":" + port + ": " + ec.message());
    }
    c.lowest().socket().set_option(tcp::no_delay(true), ec);
    if (https) {
      if (!SSL_set_tlsext_host_name(c.tls->native_handle(), host.c_str())) {
        Drop(c);
        return MakeError(Errc::kUnavailable, "s3: TLS setup failed");
      }
      c.tls->set_verify_callback(ssl::host_name_verification(host));
      ec = c.Run(timeout, [&](auto handler) {
        c.tls->async_handshake(ssl::stream_base::client,
                               [h = std::move(handler)](error_code e) mutable { h(e, 0); });
      });
      if (ec) {
        Drop(c);
        return MakeError(Errc::kUnavailable,
                         "s3: TLS handshake with " + host + ": " + ec.message());
      }
    }
    return Ok{};
  }

  static void Drop(Conn& c) {
    error_code ignored;
    c.lowest().socket().close(ignored);
  }

  ~Pool() {
    std::lock_guard lock(mu);
    idle.clear();
  }
};

// --- signing ----------------------------------------------------------------------------------

namespace {

struct Wire {
  std::string target;                                        // path and query, encoded
  std::vector<std::pair<std::string, std::string>> headers;  // to send, signed
};

}  // namespace

static Wire SignRequest(const S3Options& o, const S3Client::Pool& p, const S3Request& req,
                        std::string_view payload_hash) {
  Wire w;
  w.target = p.path_prefix + "/" + Encode(req.key, true);
  std::vector<std::pair<std::string, std::string>> q;
  q.reserve(req.query.size());
  for (const auto& [k, v] : req.query) {
    q.emplace_back(Encode(k, false), Encode(v, false));
  }
  std::sort(q.begin(), q.end());
  for (size_t i = 0; i < q.size(); ++i) {
    w.target += i == 0 ? '?' : '&';
    w.target += q[i].first;
    w.target += '=';
    w.target += q[i].second;
  }
  const std::string amz_date = auth::FormatAmzDate(static_cast<int64_t>(std::time(nullptr)));
  for (const auto& [k, v] : req.headers) {
    w.headers.emplace_back(AsciiLower(k), v);
  }
  w.headers.emplace_back("host", p.host_header);
  w.headers.emplace_back("x-amz-content-sha256", std::string(payload_hash));
  w.headers.emplace_back("x-amz-date", amz_date);
  if (!o.session_token.empty()) {
    w.headers.emplace_back("x-amz-security-token", std::string(o.session_token.reveal()));
  }
  std::stable_sort(w.headers.begin(), w.headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  auth::SigV4Credential cred;
  cred.access_key_id = o.access_key_id;
  cred.amz_date = amz_date;
  cred.date = amz_date.substr(0, 8);
  cred.region = o.region;
  cred.service = "s3";
  cred.has_session_token = !o.session_token.empty();
  for (const auto& h : w.headers) {
    if (cred.signed_headers.empty() || cred.signed_headers.back() != h.first) {
      cred.signed_headers.push_back(h.first);
    }
  }
  auth::HttpRequestView view;
  view.method = req.method;
  view.target = w.target;
  view.headers = w.headers;
  const std::string signature = auth::SignatureHex(
      o.secret_access_key, cred, auth::StringToSign(cred, auth::CanonicalRequest(view, cred)));
  std::string signed_list;
  for (const auto& name : cred.signed_headers) {
    if (!signed_list.empty()) {
      signed_list += ';';
    }
    signed_list += name;
  }
  w.headers.emplace_back("authorization", std::string(auth::kSigV4Algorithm) + " Credential=" +
                                              o.access_key_id + "/" + cred.date + "/" + o.region +
                                              "/s3/aws4_request, SignedHeaders=" + signed_list +
                                              ", Signature=" + signature);
  return w;
}

// --- S3Response / S3Download ------------------------------------------------------------------

const std::string* S3Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

// The body is read straight from the socket into the caller's buffers (after whatever the
// header read left in conn->buffer): no copy through the parser, and reads as large as the
// caller's buffer. S3 answers GETs with a Content-Length; an answer without one is refused.
struct S3Download::Impl {
  S3Client::Pool* pool = nullptr;
  std::unique_ptr<Conn> conn;
  std::optional<http::response_parser<http::buffer_body>> parser;  // header only
  std::chrono::milliseconds timeout{60000};
  bool keep_alive = false;
  bool failed = false;
};

S3Download::S3Download(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

S3Download::~S3Download() {
  if (impl_ && impl_->conn) {
    bool done = !impl_->failed && remaining_ == 0 && impl_->keep_alive;
    impl_->pool->Release(std::move(impl_->conn), done);
  }
}

Result<size_t> S3Download::Read(std::span<char> out) {
  Impl& m = *impl_;
  if (m.failed) {
    return MakeError(Errc::kUnavailable, "s3: download already failed");
  }
  if (remaining_ == 0 || out.empty()) {
    return size_t{0};
  }
  out = out.first(static_cast<size_t>(std::min<uint64_t>(out.size(), remaining_)));
  size_t n = 0;
  if (m.conn->buffer.size() > 0) {  // body bytes that arrived with the header
    n = asio::buffer_copy(asio::buffer(out.data(), out.size()), m.conn->buffer.data());
    m.conn->buffer.consume(n);
  } else {
    QuickAck(*m.conn);
    error_code ec = m.conn->Run(m.timeout, [&](auto handler) {
      auto read = [&](auto& stream) {
        stream.async_read_some(asio::buffer(out.data(), out.size()),
                               [&n, h = std::move(handler)](error_code e, std::size_t got) mutable {
                                 n = got;
                                 h(e, got);
                               });
      };
      if (m.conn->tls) {
        read(*m.conn->tls);
      } else {
        read(*m.conn->tcp);
      }
    });
    if (ec || n == 0) {
      m.failed = true;
      return MakeError(Errc::kUnavailable,
                       "s3: reading a download: " + (ec ? ec.message() : std::string("closed")));
    }
  }
  remaining_ -= n;
  return n;
}

// --- S3Client ---------------------------------------------------------------------------------

S3Client::S3Client(S3Options options) : options_(std::move(options)), pool_(new Pool) {}
S3Client::~S3Client() = default;

Result<std::unique_ptr<S3Client>> S3Client::Create(S3Options o) {
  auto bad = [](std::string why) { return MakeError(Errc::kInvalidArgument, "s3: " + why); };
  if (o.bucket.empty() || o.bucket.size() > 63) {
    return bad("a bucket name of 1 to 63 characters is required");
  }
  for (char c : o.bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')) {
      return bad("bucket name '" + o.bucket + "' has a character other than a-z 0-9 . - _");
    }
  }
  if (o.region.empty()) {
    return bad("a region is required");
  }
  if (o.access_key_id.empty() || o.secret_access_key.empty()) {
    return bad(
        "credentials are required (access_key_id and secret_access_key, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  if (o.max_connections < 1 || o.max_attempts < 1) {
    return bad("max_connections and max_attempts must be at least 1");
  }
  std::string endpoint =
      o.endpoint.empty() ? "https://s3." + o.region + ".amazonaws.com" : o.endpoint;
  auto url = boost::urls::parse_absolute_uri(endpoint);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty() ||
      url->has_userinfo() || url->has_query() || url->has_fragment() ||
      (!url->path().empty() && url->path() != "/")) {
    return bad("endpoint '" + endpoint + "' is not http(s)://host[:port]");
  }
  std::unique_ptr<S3Client> client(new S3Client(std::move(o)));
  Pool& p = *client->pool_;
  S3Options& opt = client->options_;
  p.https = url->scheme() == "https";
  p.host = std::string(url->host_address());
  if (!p.host.empty() && p.host.front() == '[') {
    p.host = p.host.substr(1, p.host.size() - 2);
  }
  p.port = url->has_port() ? std::string(url->port()) : (p.https ? "443" : "80");
  std::string authority = std::string(url->encoded_host_and_port());
  p.max = opt.max_connections;
  if (opt.path_style) {
    p.host_header = authority;
    p.path_prefix = "/" + opt.bucket;
    p.scheme_host = std::string(url->scheme()) + "://" + authority;
  } else {
    p.host_header = opt.bucket + "." + authority;
    p.scheme_host = std::string(url->scheme()) + "://" + p.host_header;
    p.host = opt.bucket + "." + p.host;
  }
  if (p.https) {
    p.ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    error_code ec;
    p.ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1);
    if (opt.ca_file.empty()) {
      p.ssl_ctx->set_default_verify_paths(ec);
    } else {
      p.ssl_ctx->load_verify_file(opt.ca_file, ec);
    }
    if (ec) {
      return bad("loading CA certificates" + (opt.ca_file.empty() ? "" : " from " + opt.ca_file) +
                 ": " + ec.message());
    }
    p.ssl_ctx->set_verify_mode(ssl::verify_peer);
  }
  if (!opt.sign_payload) {
    opt.sign_payload = !p.https;
  }
  return client;
}

std::string S3Client::Describe() const { return "s3://" + options_.bucket; }

namespace {

// Sends one request on `c` and reads the answer's header (and, through `read_body`, the body).
// Transport errors come back as error codes.
template <class Parser>
error_code Exchange(Conn& c, const S3Client::Pool& p, const S3Options& o, const S3Request& req,
                    std::string_view payload_hash, Parser& parser, bool whole) {
  Wire w = SignRequest(o, p, req, payload_hash);
  http::request<http::span_body<const char>> msg;
  msg.method_string(req.method);
  msg.target(w.target);
  msg.version(11);
  for (const auto& [k, v] : w.headers) {
    msg.insert(k, v);
  }
  msg.body() = std::span<const char>(req.body.data(), req.body.size());
  msg.prepare_payload();
  if (req.body.empty() && req.method != "PUT" && req.method != "POST") {
    msg.content_length(boost::none);
  }
  auto send = [&](auto& stream) {
    return c.Run(o.io_timeout,
                 [&](auto handler) { http::async_write(stream, msg, std::move(handler)); });
  };
  error_code ec = c.tls ? send(*c.tls) : send(*c.tcp);
  if (ec) {
    return ec;
  }
  if (req.method == "HEAD") {
    parser.skip(true);
  }
  QuickAck(c);
  auto recv = [&](auto& stream) {
    return c.Run(o.io_timeout, [&](auto handler) {
      if (whole) {
        http::async_read(stream, c.buffer, parser, std::move(handler));
      } else {
        http::async_read_header(stream, c.buffer, parser, std::move(handler));
      }
    });
  };
  return c.tls ? recv(*c.tls) : recv(*c.tcp);
}

template <class Fields>
S3Response ResponseHead(const http::response_header<Fields>& h) {
  S3Response r;
  r.status = static_cast<int>(h.result_int());
  for (const auto& f : h) {
    r.headers.emplace_back(AsciiLower(f.name_string()), std::string(f.value()));
  }
  return r;
}

std::string PayloadHash(const S3Options& o, std::string_view body) {
  if (!*o.sign_payload) {
    return std::string(auth::kUnsignedPayload);
  }
  return HexEncode(Sha256Raw(body));
}

void Backoff(const S3Options& o, int attempt) {
  if (attempt == 0) {
    return;
  }
  thread_local std::minstd_rand rng(std::random_device{}());
  auto base = std::min(kMaxBackoff, o.backoff_base * (1 << std::min(attempt - 1, 10)));
  auto jitter = std::chrono::milliseconds(rng() % static_cast<uint64_t>(base.count() / 2 + 1));
  std::this_thread::sleep_for(base / 2 + jitter);
}

}  // namespace

Result<S3Response> S3Client::Send(const S3Request& req, size_t max_body) {
  const std::string hash = PayloadHash(options_, req.body);
  std::string last_error;
  std::optional<S3Response> last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    Backoff(options_, attempt);
    BERTH_ASSIGN_OR_RETURN(auto c, pool_->Checkout(options_, last_error));
    if (!c) {
      continue;
    }
    bool was_used = c->used;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    parser.header_limit(64 * 1024);
    error_code ec = Exchange(*c, *pool_, options_, req, hash, parser, true);
    if (ec) {
      pool_->Release(std::move(c), false);
      last_error = ec.message();
      if (was_used && attempt == 0) {
        --attempt;  // a kept-alive connection the server had closed: not a real attempt
      }
      continue;
    }
    S3Response r = ResponseHead(parser.get().base());
    r.body = std::move(parser.get().body());
    pool_->Release(std::move(c), parser.keep_alive());
    if (Retryable(r.status)) {
      last = std::move(r);
      continue;
    }
    return r;
  }
  if (last) {
    return std::move(*last);
  }
  return MakeError(Errc::kUnavailable,
                   "s3: " + req.method + " " + Describe() + "/" + req.key + ": " + last_error);
}

Result<std::unique_ptr<S3Download>> S3Client::Download(const std::string& key, uint64_t first,
                                                       std::optional<uint64_t> last) {
  S3Request req;
  req.key = key;
  std::string range = "bytes=" + std::to_string(first) + "-";
  if (last) {
    range += std::to_string(*last);
  }
  req.headers.emplace_back("range", range);
  const std::string hash = PayloadHash(options_, {});
  std::string last_error = "no attempt";
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    Backoff(options_, attempt);
    BERTH_ASSIGN_OR_RETURN(auto c, pool_->Checkout(options_, last_error));
    if (!c) {
      continue;
    }
    auto impl = std::make_unique<S3Download::Impl>();
    impl->pool = pool_.get();
    impl->timeout = options_.io_timeout;
    impl->parser.emplace();
    impl->parser->body_limit(boost::none);
    impl->parser->header_limit(64 * 1024);
    bool was_used = c->used;
    error_code ec = Exchange(*c, *pool_, options_, req, hash, *impl->parser, false);
    if (ec) {
      pool_->Release(std::move(c), false);
      last_error = ec.message();
      if (was_used && attempt == 0) {
        --attempt;
      }
      continue;
    }
    impl->conn = std::move(c);
    S3Response head = ResponseHead(impl->parser->get().base());
    int status = head.status;
    impl->keep_alive = impl->parser->keep_alive();
    auto length = impl->parser->content_length();
    if (!length) {
      pool_->Release(std::move(impl->conn), false);
      return MakeError(Errc::kUnavailable,
                       "s3: GET " + Describe() + "/" + key + ": answer without a Content-Length");
    }
    auto dl = std::unique_ptr<S3Download>(new S3Download(std::move(impl)));
    dl->status_ = status;
    dl->remaining_ = *length;
    if (status != 200 && status != 206) {
      // Read the (small) error body so the connection stays usable.
      std::string body;
      char buf[4096];
      while (body.size() < (64u << 10)) {
        auto n = dl->Read(buf);
        if (!n.ok() || *n == 0) {
          break;
        }
        body.append(buf, *n);
      }
      head.body = std::move(body);
      if (Retryable(status) && attempt + 1 < options_.max_attempts) {
        last_error = "status " + std::to_string(status);
        continue;
      }
    }
    dl->head_ = std::move(head);
    return dl;
  }
  return MakeError(Errc::kUnavailable, "s3: GET " + Describe() + "/" + key + ": " + last_error);
}

std::string S3Client::PresignGet(const std::string& key, int64_t now_unix_seconds,
                                 int64_t expires_seconds) const {
  std::string path = pool_->path_prefix + "/" + Encode(key, true);
  std::string query = auth::PresignQuery("GET", pool_->host_header, path, {},
                                         options_.access_key_id, options_.secret_access_key,
                                         options_.region, "s3", now_unix_seconds, expires_seconds);
  return pool_->scheme_host + path + "?" + query;
}

// --- XML and time helpers ---------------------------------------------------------------------

std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string open_attr = "<" + std::string(tag) + " ";
  const std::string open_empty = "<" + std::string(tag) + "/";
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while (pos < xml.size()) {
    size_t a = xml.find(open, pos);
    size_t b = xml.find(open_attr, pos);
    size_t e = xml.find(open_empty, pos);
    size_t start = std::min({a, b, e});
    if (start == std::string_view::npos) {
      break;
    }
    size_t gt = xml.find('>', start);
    if (gt == std::string_view::npos) {
      break;
    }
    if (xml[gt - 1] == '/') {  // <tag/>: empty
      out.emplace_back();
      pos = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) {
      break;
    }
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
  return out;
}

namespace {

std::string XmlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent.size() > 1 && ent[0] == '#') {
      unsigned long cp = ent[1] == 'x'
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::vector<std::string> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  for (std::string_view b : XmlBlocks(xml, tag)) {
    out.push_back(XmlDecode(b));
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string S3ErrorCode(const S3Response& r) {
  auto codes = XmlElements(r.body, "Code");
  return codes.empty() ? std::string() : codes.front();
}

int64_t ParseS3Time(std::string_view text) {
  if (auto iso = ParseIso8601(text)) {
    return static_cast<int64_t>(*iso);
  }
  std::tm tm{};
  std::string s(text);
  if (strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) {
    return 0;
  }
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace berth::storage::s3
