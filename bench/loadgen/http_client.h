// Connection: one keep-alive HTTP/1.1 client connection of the load generator.
//
// A request is written with one gathered write (header text + up to two body slices straight from
// pre-generated memory); the response header is parsed by Beast, and a Content-Length body is
// read directly from the socket: dropped in the kernel when nobody looks at it (MSG_TRUNC), else
// read into a fixed per-connection buffer and hashed or captured. Chunked bodies go through
// Beast's parser with the same buffer.
// Nothing is allocated per request beyond the header fields Beast parses.
//
// Not thread-safe: a Connection is used by one coroutine at a time, on its own strand. Transport
// and protocol errors are values (Reply::ec); the connection is closed after an error or a
// response without keep-alive, and the next RoundTrip reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "loadgen/blob_data.h"

namespace berth::bench {

struct Target {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host_header;  // "127.0.0.1:5000"
  std::string auth_line;    // "Authorization: Basic …\r\n", or empty
  std::chrono::seconds timeout{600};
};

// Parses "http://HOST:PORT" (resolving HOST once) and "user:pass"; throws std::invalid_argument.
Target MakeTarget(const std::string& url, const std::string& creds, std::chrono::seconds timeout);

enum class BodyMode { kDiscard, kHash, kCapture };

struct Request {
  std::string_view method;
  std::string_view target;   // origin-form path and query
  std::string_view headers;  // extra header lines, each ending in "\r\n"
  bool send_length = false;  // send Content-Length (bodies, and empty POST/PUT/PATCH)
  BufferPair body;
};

struct Reply {
  boost::system::error_code ec;  // transport or protocol failure; status is 0 then
  unsigned status = 0;
  uint64_t body_bytes = 0;
  std::string location;  // Location header, made origin-form
  std::string link;      // Link header
  std::string digest;    // BodyMode::kHash: "sha256:…" of the body
  std::string body;      // BodyMode::kCapture, or the start of a non-2xx body
  bool ok() const { return !ec && status >= 200 && status < 300; }
};

class Connection {
 public:
  Connection(boost::asio::any_io_executor ex, const Target& target);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  boost::asio::awaitable<boost::system::error_code> Connect();
  // Sends `req` and reads the whole response. `capture_limit` bounds Reply::body for kCapture.
  // `req` must stay alive until the returned awaitable completes (callers co_await it at once).
  boost::asio::awaitable<Reply> RoundTrip(const Request& req, BodyMode mode,
                                          size_t capture_limit = 1 << 20);
  uint64_t reconnects() const { return reconnects_; }

 private:
  void BuildHeader(const Request& req);
  void Sink(const char* data, size_t n, BodyMode mode, size_t limit, Reply& reply);
  void Close();

  const Target& target_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer fb_;
  std::unique_ptr<char[]> rbuf_;
  std::string header_;
  Sha256 hasher_;
  bool connected_ = false;
  uint64_t reconnects_ = 0;
};

// Appends "?key=value" or "&key=value" to an origin-form target.
void AppendQuery(std::string& target, std::string_view key, std::string_view value);

}  // namespace berth::bench
