// http::Server: an HTTP/1.1 server on Boost.Beast with C++20 coroutines.
//
// One io_context run by N threads; each connection is a coroutine on its own strand. A
// request's body is not read before the handler runs: the handler streams it with
// Request::ReadSome (bounded memory per connection), or reads a small one with ReadAll under
// a size limit. Responses carry a string body, a file range sent with sendfile(2), or a
// streamed body from a callback. Limits: header size, per-read and idle timeouts.
// Graceful shutdown: Shutdown() stops accepting, closes idle connections, lets in-flight
// requests finish up to a deadline.
//
// TLS: with ServerOptions::tls set, every connection starts with a TLS handshake (under the io
// timeout) using the context current at accept time (see tls.h), responses carry
// Strict-Transport-Security, and file bodies are read in chunks and encrypted (sendfile cannot
// see through TLS). The connection loop is the same for both transports: it is a template over
// the stream type.
//
// Knows nothing of registries: the handler is a function from Request to Response.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>

#include "base/error.h"
#include "http/tls.h"

namespace berth::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5000;
  uint32_t header_limit = 64 * 1024;       // bytes of request line + headers
  std::chrono::seconds idle_timeout{120};  // keep-alive wait for the next request
  std::chrono::seconds io_timeout{300};    // one read or write making no progress
  std::chrono::seconds drain_timeout{30};  // graceful shutdown deadline
  // Serve HTTPS with this context (borrowed; outlives the server). Null: plain HTTP.
  TlsContext* tls = nullptr;
  // Strict-Transport-Security max-age sent on TLS responses; 0: no header.
  uint64_t hsts_max_age_seconds = 31536000;
};

class Connection;

// One request being served. Valid only during the handler call.
class Request {
 public:
  boost::beast::http::verb method() const;
  std::string_view method_string() const;
  // Raw request target (path and query, still percent-encoded).
  std::string_view target() const;
  // Header value or empty.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // Every header field as received (for signature verification).
  std::vector<std::pair<std::string, std::string>> headers() const;
  // Declared Content-Length, if any (absent for chunked bodies).
  std::optional<uint64_t> content_length() const;
  // Whether the request carries a body (Content-Length > 0 or chunked).
  bool has_body() const;
  const std::string& remote_address() const;
  const std::string& request_id() const;
  // Whether the request came over TLS (aws:SecureTransport).
  bool secure() const;
  // The common name of the client certificate the TLS handshake verified against the client
  // CA; empty without one, and always empty on plain HTTP.
  const std::string& client_subject() const;

  // Reads the next part of the body into `out`; 0 means the body is complete.
  // Errors: kUnavailable (connection failed or timed out), kInvalidArgument (malformed body).
  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<char> out);
  // Reads the whole body; kTooLarge if it exceeds `limit` (the rest is left unread).
  boost::asio::awaitable<Result<std::string>> ReadAll(uint64_t limit);
  uint64_t body_bytes_read() const { return body_read_; }

 private:
  friend class Connection;
  template <class Stream>
  friend class StreamConnection;
  explicit Request(Connection& c) : conn_(c) {}
  Connection& conn_;
  bool BodyDone() const;
  uint64_t body_read_ = 0;
  bool sent_continue_ = false;
  bool direct_ = false;  // body read straight from the socket (Content-Length)
  uint64_t direct_remaining_ = 0;
};

// A body streamed from a file descriptor range: sent with sendfile(2), zero-copy.
struct FileBody {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::shared_ptr<void> owner;  // keeps whatever owns the fd alive until sent
};

// A body produced by a callback: read(offset, buffer) → bytes (0 = end).
struct StreamBody {
  uint64_t length = 0;
  std::function<boost::asio::awaitable<Result<size_t>>(uint64_t, std::span<char>)> read;
  std::shared_ptr<void> owner;
};

struct Response {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<FileBody> file;      // instead of body
  std::optional<StreamBody> stream;  // instead of body
  // HEAD: headers (with Content-Length of the would-be body) but no body.
  bool head = false;
  std::optional<uint64_t> head_length;
  // Label for metrics and logs (e.g. "blob_get"); empty = "other".
  std::string route;
  // Facts the handler wants the completion hook to see (who called, what it meant, which
  // error); never sent to the client.
  std::vector<std::pair<std::string, std::string>> annotations;
  void Annotate(std::string key, std::string value) {
    annotations.emplace_back(std::move(key), std::move(value));
  }
  // The value of an annotation, or empty.
  std::string_view Annotation(std::string_view key) const {
    for (const auto& [k, v] : annotations) {
      if (k == key) {
        return v;
      }
    }
    return {};
  }

  void Set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Called after each response: route, method, status, bytes in/out, seconds.
struct Completion {
  std::string_view route;
  std::string_view method;
  std::string_view target;
  unsigned status;
  uint64_t bytes_in;
  uint64_t bytes_out;
  double seconds;
  std::string_view remote;
  std::string_view request_id;
  std::string_view user_agent;
  const Response* response = nullptr;  // status, route and annotations of what was sent
};
using CompletionHook = std::function<void(const Completion&)>;
// Called for unexpected failures (a handler threw, a stream body failed mid-way).
using ErrorHook = std::function<void(const std::string&)>;

class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerOptions options, Handler handler,
         CompletionHook on_complete, ErrorHook on_error);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Errors: kUnavailable (address in use, permission).
  Status Listen();
  uint16_t port() const { return bound_port_; }
  // Starts accepting (spawns the accept loop on the io_context).
  void Start();
  // Stops accepting, closes idle connections, waits for in-flight requests (up to
  // drain_timeout), then closes the rest. Completes when no connection is left.
  boost::asio::awaitable<void> Shutdown();
  size_t active_connections() const { return active_.load(); }

 private:
  friend class Connection;
  template <class Stream>
  friend class StreamConnection;
  friend class Request;
  boost::asio::awaitable<void> AcceptLoop();

  boost::asio::io_context& ioc_;
  ServerOptions options_;
  Handler handler_;
  CompletionHook on_complete_;
  ErrorHook on_error_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_{0};
  std::mutex mu_;
  std::set<std::shared_ptr<Connection>> connections_;  // guarded by mu_
};

}  // namespace berth::http
