#include "loadgen/http_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <openssl/evp.h>

namespace berth::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadBuf = 256 * 1024;
constexpr size_t kErrorBodyLimit = 512;

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Location may be absolute (Distribution) or origin-form (berth); keep origin-form.
std::string OriginForm(std::string_view loc) {
  if (loc.starts_with("http://") || loc.starts_with("https://")) {
    size_t slash = loc.find('/', loc.find("//") + 2);
    if (slash == std::string_view::npos) {
      return "/";
    }
    loc.remove_prefix(slash);
  }
  return std::string(loc);
}

std::array<asio::const_buffer, 3> Gather(const std::string& header, const BufferPair& body) {
  std::array<asio::const_buffer, 3> out;
  out[0] = asio::buffer(header);
  out[1] = body.b[0];
  out[2] = body.b[1];
  return out;
}

void TakeHeader(const bhttp::response_parser<bhttp::buffer_body>& parser, Reply& reply) {
  const auto& msg = parser.get();
  reply.status = msg.result_int();
  auto loc = msg.find(bhttp::field::location);
  if (loc != msg.end()) {
    reply.location = OriginForm(loc->value());
  }
  auto link = msg.find(bhttp::field::link);
  if (link != msg.end()) {
    reply.link.assign(link->value());
  }
}

BodyMode EffectiveMode(BodyMode mode, unsigned status) {
  if (status < 200 || status >= 300) {
    return BodyMode::kCapture;
  }
  return mode;
}

}  // namespace

Target MakeTarget(const std::string& url, const std::string& creds, std::chrono::seconds timeout) {
  std::string_view u = url;
  if (!u.starts_with("http://")) {
    throw std::invalid_argument("--target must be http://HOST:PORT, got " + url);
  }
  u.remove_prefix(7);
  while (u.ends_with("/")) {
    u.remove_suffix(1);
  }
  size_t colon = u.rfind(':');
  if (colon == std::string_view::npos || u.find('/') != std::string_view::npos) {
    throw std::invalid_argument("--target must be http://HOST:PORT, got " + url);
  }
  std::string host(u.substr(0, colon));
  std::string port(u.substr(colon + 1));
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    throw std::invalid_argument("cannot resolve " + url + ": " + ec.message());
  }
  Target t;
  t.endpoint = results.begin()->endpoint();
  t.host_header = std::string(u);
  if (!creds.empty()) {
    if (creds.find(':') == std::string::npos) {
      throw std::invalid_argument("--creds must be user:pass");
    }
    t.auth_line = "Authorization: Basic " + Base64(creds) + "\r\n";
  }
  t.timeout = timeout;
  return t;
}

void AppendQuery(std::string& target, std::string_view key, std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += value;
}

Connection::Connection(asio::any_io_executor ex, const Target& target)
    : target_(target), stream_(std::move(ex)), fb_(64 * 1024), rbuf_(new char[kReadBuf]) {
  header_.reserve(1024);
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (connected_) {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }
  connected_ = false;
  fb_.consume(fb_.size());
}

asio::awaitable<boost::system::error_code> Connection::Connect() {
  Close();
  stream_.expires_after(target_.timeout);
  auto [ec] = co_await stream_.async_connect(target_.endpoint, kAwait);
  if (ec) {
    co_return ec;
  }
  boost::system::error_code opt_ec;
  stream_.socket().set_option(tcp::no_delay(true), opt_ec);
  connected_ = true;
  co_return opt_ec;
}

void Connection::BuildHeader(const Request& req) {
  header_.clear();
  header_ += req.method;
  header_ += ' ';
  header_ += req.target;
  header_ += " HTTP/1.1\r\nHost: ";
  header_ += target_.host_header;
  header_ += "\r\nUser-Agent: berth-bench/1\r\n";
  header_ += target_.auth_line;
  header_ += req.headers;
  if (req.send_length) {
    header_ += "Content-Length: ";
    header_ += std::to_string(req.body.size());
    header_ += "\r\n";
  }
  header_ += "\r\n";
}

void Connection::Sink(const char* data, size_t n, BodyMode mode, size_t limit, Reply& reply) {
  reply.body_bytes += n;
  if (mode == BodyMode::kDiscard) {
    return;
  }
  if (mode == BodyMode::kHash) {
    hasher_.Update(data, n);
  } else if (mode == BodyMode::kCapture && reply.body.size() < limit) {
    reply.body.append(data, std::min(n, limit - reply.body.size()));
  }
}

asio::awaitable<Reply> Connection::RoundTrip(const Request& req, BodyMode mode,
                                             size_t capture_limit) {
  Reply reply;
  if (!connected_) {
    boost::system::error_code cec = co_await Connect();
    if (cec) {
      reply.ec = cec;
      co_return reply;
    }
    ++reconnects_;
  }
  BuildHeader(req);
  stream_.expires_after(target_.timeout);
  auto bufs = Gather(header_, req.body);
  auto [wec, written] = co_await asio::async_write(stream_, bufs, kAwait);
  if (wec) {
    reply.ec = wec;
    Close();
    co_return reply;
  }

  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(UINT64_MAX);
  if (req.method == "HEAD") {
    parser.skip(true);
  }
  auto [hec, hn] = co_await bhttp::async_read_header(stream_, fb_, parser, kAwait);
  if (hec) {
    reply.ec = hec;
    Close();
    co_return reply;
  }
  TakeHeader(parser, reply);
  const BodyMode eff = EffectiveMode(mode, reply.status);
  size_t limit = capture_limit;
  if (eff != mode) {
    limit = kErrorBodyLimit;
  }
  if (eff == BodyMode::kHash) {
    hasher_.Init();
  }

  if (!parser.is_done() && !parser.chunked() && parser.content_length()) {
    // Content-Length body: take what is already buffered, then read the socket directly.
    uint64_t remaining = *parser.content_length_remaining();
    const size_t buffered = static_cast<size_t>(std::min<uint64_t>(remaining, fb_.size()));
    Sink(static_cast<const char*>(fb_.data().data()), buffered, eff, limit, reply);
    fb_.consume(buffered);
    remaining -= buffered;
    // Bodies nobody looks at are dropped in the kernel (Linux TCP MSG_TRUNC: no copy to user
    // space), so the client spends its CPU on requests, not on memcpy the server is measured
    // without. The buffer is passed but not written.
    int flags = 0;
    if (eff == BodyMode::kDiscard) {
      flags = MSG_TRUNC;
    }
    while (remaining > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, kReadBuf));
      auto [rec, got] =
          co_await stream_.socket().async_receive(asio::buffer(rbuf_.get(), want), flags, kAwait);
      if (rec) {
        reply.ec = rec;
        Close();
        co_return reply;
      }
      Sink(rbuf_.get(), got, eff, limit, reply);
      remaining -= got;
    }
  } else {
    while (!parser.is_done()) {
      parser.get().body().data = rbuf_.get();
      parser.get().body().size = kReadBuf;
      auto [rec, got] = co_await bhttp::async_read(stream_, fb_, parser, kAwait);
      if (rec == bhttp::error::need_buffer) {
        rec = {};
      }
      if (rec) {
        reply.ec = rec;
        Close();
        co_return reply;
      }
      Sink(rbuf_.get(), kReadBuf - parser.get().body().size, eff, limit, reply);
    }
  }
  if (eff == BodyMode::kHash) {
    reply.digest = hasher_.Final();
  }
  if (!parser.get().keep_alive()) {
    Close();
  }
  co_return reply;
}

}  // namespace berth::bench
