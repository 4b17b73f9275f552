#include "http/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <tuple>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "base/strings.h"

namespace berth::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr size_t kStreamChunk = 256 * 1024;
constexpr uint64_t kDrainLimit = 4 * 1024 * 1024;  // unread body we read and discard to keep alive

std::atomic<uint64_t> g_request_seq{0};

std::string NextRequestId() {
  static const std::string prefix = RandomHexId().substr(0, 8);
  uint64_t n = ++g_request_seq;
  char buf[24];
  int len = std::snprintf(buf, sizeof buf, "-%012llx", static_cast<unsigned long long>(n));
  return prefix + std::string(buf, static_cast<size_t>(len));
}
}  // namespace

// A connection's transport-independent state, and the I/O that Request needs (virtual, so
// that Request stays one non-template class). StreamConnection<Stream> implements it for a
// plain TCP stream and for a TLS stream, and holds the one connection loop.
class Connection {
 public:
  Connection(Server& server, const tcp::socket& socket) : server_(server) {
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : ep.address().to_string();
  }
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual asio::awaitable<void> Run() = 0;
  void CloseIfIdle() {
    if (!busy_) {
      beast::error_code ec;
      tcp_->socket().shutdown(tcp::socket::shutdown_both, ec);
      tcp_->socket().close(ec);
    }
  }
  void ForceClose() {
    beast::error_code ec;
    tcp_->socket().close(ec);
  }
  auto executor() { return tcp_->get_executor(); }

 protected:
  friend class Request;
  // Raw reads and writes on the (possibly encrypted) stream, each under the io timeout.
  virtual asio::awaitable<std::tuple<beast::error_code, size_t>> ReadSomeRaw(
      asio::mutable_buffer buf) = 0;
  virtual asio::awaitable<std::tuple<beast::error_code, size_t>> WriteRaw(
      asio::const_buffer buf) = 0;
  // Reads the next part of a chunked body through parser_ into its buffer_body.
  virtual asio::awaitable<beast::error_code> ReadBodyPart() = 0;
  void ExpireAfter(std::chrono::seconds d) { tcp_->expires_after(d); }

  Server& server_;
  beast::tcp_stream* tcp_ = nullptr;  // the lowest layer, set by the derived constructor
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::string remote_;
  std::string request_id_;
  std::string client_subject_;
  bool secure_ = false;
  bool busy_ = false;
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
class StreamConnection final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // Plain TCP.
  StreamConnection(Server& server, tcp::socket socket) requires(!kTls)
      : Connection(server, socket), stream_(std::move(socket)) {
    tcp_ = &stream_;
  }
  // TLS with `ctx` (kept alive as long as the connection).
  StreamConnection(Server& server, tcp::socket socket,
                   std::shared_ptr<asio::ssl::context> ctx) requires(kTls)
      : Connection(server, socket), ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_) {
    tcp_ = &beast::get_lowest_layer(stream_);
    secure_ = true;
  }

  asio::awaitable<void> Run() override;

 private:
  asio::awaitable<std::tuple<beast::error_code, size_t>> ReadSomeRaw(
      asio::mutable_buffer buf) override {
    ExpireAfter(server_.options_.io_timeout);
    co_return co_await stream_.async_read_some(buf, kAwait);
  }
  asio::awaitable<std::tuple<beast::error_code, size_t>> WriteRaw(asio::const_buffer buf) override {
    ExpireAfter(server_.options_.io_timeout);
    co_return co_await asio::async_write(stream_, buf, kAwait);
  }
  asio::awaitable<beast::error_code> ReadBodyPart() override {
    ExpireAfter(server_.options_.io_timeout);
    auto [ec, n] = co_await bhttp::async_read(stream_, buffer_, *parser_, kAwait);
    (void)n;
    co_return ec;
  }
  asio::awaitable<bool> Handshake();
  asio::awaitable<void> Close();
  asio::awaitable<bool> Write(Response& res, bool keep_alive, uint64_t& bytes_out);
  asio::awaitable<beast::error_code> SendFile(const FileBody& body, uint64_t& sent);
  asio::awaitable<beast::error_code> SendFileCopy(const FileBody& body, uint64_t& sent);
  asio::awaitable<beast::error_code> SendStream(StreamBody& body, uint64_t& sent);
  asio::awaitable<void> DrainBody(Request& req, bool& keep_alive);

  std::shared_ptr<asio::ssl::context> ctx_;  // TLS only; declared before stream_
  Stream stream_;
};

// --- Request ----------------------------------------------------------------------------------

bhttp::verb Request::method() const { return conn_.parser_->get().method(); }
namespace {
std::string_view Sv(boost::core::string_view s) { return std::string_view(s.data(), s.size()); }
}  // namespace

std::string_view Request::method_string() const { return Sv(conn_.parser_->get().method_string()); }
std::string_view Request::target() const { return Sv(conn_.parser_->get().target()); }
std::string_view Request::header(std::string_view name) const {
  const auto& h = conn_.parser_->get();
  auto it = h.find(name);
  return it == h.end() ? std::string_view() : Sv(it->value());
}
std::vector<std::pair<std::string, std::string>> Request::headers() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : conn_.parser_->get()) {
    out.emplace_back(std::string(Sv(f.name_string())), std::string(Sv(f.value())));
  }
  return out;
}
bool Request::has_header(std::string_view name) const {
  return conn_.parser_->get().find(name) != conn_.parser_->get().end();
}
std::optional<uint64_t> Request::content_length() const {
  auto cl = conn_.parser_->content_length();
  if (!cl) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(*cl);
}
bool Request::has_body() const {
  return conn_.parser_->chunked() || (content_length() && *content_length() > 0);
}
const std::string& Request::remote_address() const { return conn_.remote_; }
const std::string& Request::request_id() const { return conn_.request_id_; }
bool Request::secure() const { return conn_.secure_; }
const std::string& Request::client_subject() const { return conn_.client_subject_; }

bool Request::BodyDone() const {
  if (direct_) {
    return direct_remaining_ == 0;
  }
  return conn_.parser_->is_done();
}

asio::awaitable<Result<size_t>> Request::ReadSome(std::span<char> out) {
  auto& parser = *conn_.parser_;
  if (BodyDone() || out.empty()) {
    co_return size_t{0};
  }
  if (!sent_continue_) {
    sent_continue_ = true;
    auto expect = header("Expect");
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await conn_.WriteRaw(asio::buffer(kContinue));
      if (ec) {
        co_return MakeError(Errc::kUnavailable, "http: write 100-continue: " + ec.message());
      }
    }
  }
  // Bodies with a Content-Length bypass the parser: bytes already buffered are copied out,
  // the rest is read from the socket straight into the caller's buffer, in large reads
  // (the parser would read through its small buffer and copy). Chunked bodies use the parser.
  if (!direct_ && !parser.chunked() && parser.content_length()) {
    direct_ = true;
    direct_remaining_ = *parser.content_length();
  }
  if (direct_) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), direct_remaining_));
    size_t got = 0;
    if (conn_.buffer_.size() > 0) {
      got = std::min(want, conn_.buffer_.size());
      asio::buffer_copy(asio::buffer(out.data(), got), conn_.buffer_.data());
      conn_.buffer_.consume(got);
    } else {
      auto [ec, n] = co_await conn_.ReadSomeRaw(asio::buffer(out.data(), want));
      if (ec) {
        co_return MakeError(Errc::kUnavailable, "http: body read: " + ec.message());
      }
      got = n;
    }
    direct_remaining_ -= got;
    body_read_ += got;
    co_return got;
  }
  auto& body = parser.get().body();
  body.data = out.data();
  body.size = out.size();
  beast::error_code ec = co_await conn_.ReadBodyPart();
  if (ec && ec != bhttp::error::need_buffer) {
    if (ec == bhttp::error::partial_message || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      co_return MakeError(Errc::kUnavailable, "http: body read: " + ec.message());
    }
    co_return MakeError(Errc::kInvalidArgument, "http: malformed body: " + ec.message());
  }
  size_t got = out.size() - body.size;
  body_read_ += got;
  co_return got;
}

asio::awaitable<Result<std::string>> Request::ReadAll(uint64_t limit) {
  std::string out;
  if (auto cl = content_length(); cl && *cl > limit) {
    co_return MakeError(
        Errc::kTooLarge,
        "body of " + std::to_string(*cl) + " bytes exceeds the limit of " + std::to_string(limit));
  }
  char buf[16384];
  for (;;) {
    auto n = co_await ReadSome(buf);
    if (!n.ok()) {
      co_return std::move(n).error();
    }
    if (*n == 0) {
      co_return out;
    }
    if (out.size() + *n > limit) {
      co_return MakeError(Errc::kTooLarge,
                          "body exceeds the limit of " + std::to_string(limit) + " bytes");
    }
    out.append(buf, *n);
  }
}

// --- Connection -------------------------------------------------------------------------------

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::Handshake() {
  if constexpr (kTls) {
    ExpireAfter(server_.options_.io_timeout);
    auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kAwait);
    if (ec) {
      co_return false;  // scanners, wrong protocol versions, refused client certificates
    }
    client_subject_ = VerifiedPeerCommonName(stream_.native_handle());
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::Close() {
  beast::error_code ec;
  if constexpr (kTls) {
    // close_notify, waiting briefly for the peer's (it may have gone already).
    tcp_->expires_after(std::chrono::seconds(2));
    auto [sec] = co_await stream_.async_shutdown(kAwait);
    (void)sec;
  }
  tcp_->socket().shutdown(tcp::socket::shutdown_send, ec);
  tcp_->socket().close(ec);
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::Run() {
  const ServerOptions& opt = server_.options_;
  {
    int one = 1;
    ::setsockopt(tcp_->socket().native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (!co_await Handshake()) {
    beast::error_code ec;
    tcp_->socket().close(ec);
    co_return;
  }
  for (;;) {
    if (server_.stopping_) {
      break;
    }
    parser_.emplace();
    parser_->header_limit(opt.header_limit);
    parser_->body_limit(boost::none);  // handlers enforce their own limits
    ExpireAfter(opt.idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream_, buffer_, *parser_, kAwait);
    (void)n;
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        bhttp::response<bhttp::string_body> res{bhttp::status::request_header_fields_too_large, 11};
        res.set(bhttp::field::content_type, "text/plain");
        res.set(bhttp::field::connection, "close");
        res.body() = "request headers too large\n";
        res.prepare_payload();
        ExpireAfter(opt.io_timeout);
        co_await bhttp::async_write(stream_, res, kAwait);
      } else if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
                 ec != beast::error::timeout && ec != asio::error::operation_aborted &&
                 ec != asio::error::connection_reset && ec != asio::error::bad_descriptor) {
        bhttp::response<bhttp::string_body> res{bhttp::status::bad_request, 11};
        res.set(bhttp::field::content_type, "text/plain");
        res.set(bhttp::field::connection, "close");
        res.body() = "malformed HTTP request\n";
        res.prepare_payload();
        ExpireAfter(opt.io_timeout);
        co_await bhttp::async_write(stream_, res, kAwait);
      }
      break;
    }
    busy_ = true;
    request_id_ = NextRequestId();
    auto start = std::chrono::steady_clock::now();
    Request req(*this);
    Response res;
    try {
      res = co_await server_.handler_(req);
    } catch (const std::exception& e) {
      // The one exception barrier of the data plane: answer 500 and close the connection.
      res = Response{};
      res.status = 500;
      res.Set("Content-Type", "text/plain");
      res.body = "internal error\n";
      res.route = "error";
      parser_->get().keep_alive(false);
      if (server_.on_error_) {
        server_.on_error_(std::string("handler threw: ") + e.what());
      }
    }
    bool keep_alive = parser_->get().keep_alive() && !server_.stopping_;
    co_await DrainBody(req, keep_alive);
    uint64_t bytes_out = 0;
    bool ok = co_await Write(res, keep_alive, bytes_out);
    busy_ = false;
    if (server_.on_complete_) {
      auto ua = req.header("User-Agent");
      server_.on_complete_(Completion{
          res.route.empty() ? std::string_view("other") : std::string_view(res.route),
          req.method_string(), req.target(), res.status, req.body_bytes_read(), bytes_out,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), remote_,
          request_id_, ua, &res});
    }
    if (!ok || !keep_alive) {
      break;
    }
  }
  co_await Close();
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::DrainBody(Request& req, bool& keep_alive) {
  if (req.BodyDone()) {
    co_return;
  }
  if (!req.sent_continue_ && beast::iequals(req.header("Expect"), "100-continue")) {
    // The client is waiting for 100 Continue before it sends the body; it will not come.
    keep_alive = false;
    co_return;
  }
  auto cl = req.content_length();
  if (!cl || *cl - req.body_bytes_read() > kDrainLimit) {
    keep_alive = false;  // too much left to read: close instead
    co_return;
  }
  char buf[16384];
  for (;;) {
    auto n = co_await req.ReadSome(buf);
    if (!n.ok()) {
      keep_alive = false;
      co_return;
    }
    if (*n == 0) {
      co_return;
    }
  }
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::Write(Response& res, bool keep_alive,
                                                      uint64_t& bytes_out) {
  const ServerOptions& opt = server_.options_;
  const bool no_body_status = res.status == 204 || res.status == 304 || res.status < 200;
  uint64_t length = res.file ? res.file->length : res.stream ? res.stream->length : res.body.size();
  if (res.head && res.head_length) {
    length = *res.head_length;
  }
  auto fill = [&](auto& msg) {
    for (auto& [k, v] : res.headers) {
      msg.insert(k, v);
    }
    msg.keep_alive(keep_alive);
    if (!no_body_status) {
      msg.content_length(length);
    }
    if (secure_ && opt.hsts_max_age_seconds > 0 &&
        msg.find(bhttp::field::strict_transport_security) == msg.end()) {
      msg.set(bhttp::field::strict_transport_security,
              "max-age=" + std::to_string(opt.hsts_max_age_seconds));
    }
  };
  ExpireAfter(opt.io_timeout);
  if (res.head || no_body_status || (!res.file && !res.stream)) {
    if (res.head || no_body_status) {
      bhttp::response<bhttp::empty_body> msg{static_cast<bhttp::status>(res.status), 11};
      fill(msg);
      auto [ec, n] = co_await bhttp::async_write(stream_, msg, kAwait);
      (void)n;
      co_return !ec;
    }
    bhttp::response<bhttp::string_body> msg{static_cast<bhttp::status>(res.status), 11};
    fill(msg);
    msg.body() = std::move(res.body);
    auto [ec, n] = co_await bhttp::async_write(stream_, msg, kAwait);
    (void)n;
    bytes_out = length;
    co_return !ec;
  }
  bhttp::response<bhttp::empty_body> msg{static_cast<bhttp::status>(res.status), 11};
  fill(msg);
  {
    auto [ec, n] = co_await bhttp::async_write(stream_, msg, kAwait);
    (void)n;
    if (ec) {
      co_return false;
    }
  }
  // (No conditional operator around co_await: GCC 12 miscompiles it.)
  beast::error_code ec;
  if (res.file) {
    ec = co_await SendFile(*res.file, bytes_out);
  } else {
    ec = co_await SendStream(*res.stream, bytes_out);
  }
  co_return !ec;
}

template <class Stream>
asio::awaitable<beast::error_code> StreamConnection<Stream>::SendFile(const FileBody& body,
                                                                      uint64_t& sent) {
  if constexpr (kTls) {
    co_return co_await SendFileCopy(body, sent);
  }
  auto& sock = tcp_->socket();
  beast::error_code ec;
  sock.native_non_blocking(true, ec);
  if (ec) {
    co_return ec;
  }
  off_t off = static_cast<off_t>(body.offset);
  uint64_t remaining = body.length;
  asio::steady_timer timer(tcp_->get_executor());
  while (remaining > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, 1u << 30));
    ssize_t n = ::sendfile(sock.native_handle(), body.fd, &off, want);
    if (n > 0) {
      remaining -= static_cast<uint64_t>(n);
      sent += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) {
      co_return asio::error::make_error_code(asio::error::eof);  // file shorter than promised
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      co_return beast::error_code(errno, boost::system::system_category());
    }
    timer.expires_after(server_.options_.io_timeout);
    timer.async_wait([&sock](beast::error_code e) {
      if (!e) {
        beast::error_code ignored;
        sock.cancel(ignored);
      }
    });
    auto [wec] = co_await sock.async_wait(tcp::socket::wait_write, kAwait);
    timer.cancel();
    if (wec) {
      co_return wec;
    }
  }
  co_return beast::error_code{};
}

// File bodies over TLS: the bytes must pass through the cipher, so read the range in large
// chunks (one buffer per connection while sending) and write each through the stream. The
// reads are pread(2) of files the page cache usually holds, as sendfile(2) reads them on the
// plain path.
template <class Stream>
asio::awaitable<beast::error_code> StreamConnection<Stream>::SendFileCopy(const FileBody& body,
                                                                          uint64_t& sent) {
  std::vector<char> buf(kStreamChunk);
  uint64_t off = body.offset;
  uint64_t remaining = body.length;
  while (remaining > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, buf.size()));
    ssize_t n = ::pread(body.fd, buf.data(), want, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      co_return beast::error_code(errno, boost::system::system_category());
    }
    if (n == 0) {
      co_return asio::error::make_error_code(asio::error::eof);  // file shorter than promised
    }
    ExpireAfter(server_.options_.io_timeout);
    auto [ec, w] = co_await asio::async_write(
        stream_, asio::buffer(buf.data(), static_cast<size_t>(n)), kAwait);
    if (ec) {
      co_return ec;
    }
    off += w;
    remaining -= w;
    sent += w;
  }
  co_return beast::error_code{};
}

template <class Stream>
asio::awaitable<beast::error_code> StreamConnection<Stream>::SendStream(StreamBody& body,
                                                                        uint64_t& sent) {
  std::vector<char> buf(kStreamChunk);
  uint64_t off = 0;
  while (off < body.length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), body.length - off));
    auto n = co_await body.read(off, std::span<char>(buf.data(), want));
    if (!n.ok() || *n == 0) {
      // Headers are out: the only honest signal left is to cut the connection short.
      if (server_.on_error_ && !n.ok()) {
        server_.on_error_("stream body: " + n.error().message);
      }
      co_return asio::error::make_error_code(asio::error::connection_aborted);
    }
    ExpireAfter(server_.options_.io_timeout);
    auto [ec, w] = co_await asio::async_write(stream_, asio::buffer(buf.data(), *n), kAwait);
    if (ec) {
      co_return ec;
    }
    off += *n;
    sent += w;
  }
  co_return beast::error_code{};
}

// --- Server -----------------------------------------------------------------------------------

Server::Server(asio::io_context& ioc, ServerOptions options, Handler handler,
               CompletionHook on_complete, ErrorHook on_error)
    : ioc_(ioc),
      options_(std::move(options)),
      handler_(std::move(handler)),
      on_complete_(std::move(on_complete)),
      on_error_(std::move(on_error)),
      acceptor_(asio::make_strand(ioc)) {}

Server::~Server() = default;

Status Server::Listen() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.host, ec);
  if (ec) {
    return MakeError(Errc::kInvalidArgument, "listen: bad address " + options_.host);
  }
  tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) {
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor_.bind(ep, ec);
  }
  if (!ec) {
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return MakeError(Errc::kUnavailable, "listen on " + options_.host + ":" +
                                             std::to_string(options_.port) + ": " + ec.message());
  }
  bound_port_ = acceptor_.local_endpoint().port();
  return Ok{};
}

void Server::Start() { asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached); }

asio::awaitable<void> Server::AcceptLoop() {
  asio::steady_timer backoff(acceptor_.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kAwait);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) {
        co_return;
      }
      // Out of descriptors or similar: back off briefly instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kAwait);
      continue;
    }
    std::shared_ptr<Connection> conn;
    if (options_.tls != nullptr) {
      conn = std::make_shared<StreamConnection<TlsStream>>(*this, std::move(socket),
                                                           options_.tls->Current());
    } else {
      conn = std::make_shared<StreamConnection<beast::tcp_stream>>(*this, std::move(socket));
    }
    {
      std::lock_guard lock(mu_);
      connections_.insert(conn);
    }
    ++active_;
    asio::co_spawn(conn->executor(), conn->Run(), [this, conn](std::exception_ptr e) {
      if (e && on_error_) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          on_error_(std::string("connection failed: ") + ex.what());
        }
      }
      {
        std::lock_guard lock(mu_);
        connections_.erase(conn);
      }
      --active_;
    });
  }
}

asio::awaitable<void> Server::Shutdown() {
  stopping_ = true;
  co_await asio::post(acceptor_.get_executor(), asio::use_awaitable);
  beast::error_code ec;
  acceptor_.close(ec);
  auto close_idle = [this](bool force) {
    std::lock_guard lock(mu_);
    for (const auto& c : connections_) {
      asio::post(c->executor(), [c, force] { force ? c->ForceClose() : c->CloseIfIdle(); });
    }
  };
  close_idle(false);
  asio::steady_timer timer(ioc_);
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kAwait);
    close_idle(false);  // connections that finished their request since
  }
  if (active_.load() > 0) {
    close_idle(true);
    for (int i = 0; i < 100 && active_.load() > 0; ++i) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kAwait);
    }
  }
}

}  // namespace berth::http
