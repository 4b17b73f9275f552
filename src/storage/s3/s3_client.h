// S3Client: a small, synchronous S3 REST client on Beast, for the blocking pool.
//
// Requests are signed with AWS Signature Version 4 (auth/sigv4.h canonicalisation, service
// "s3"), path-style (http://host/bucket/key) or virtual-host style (http://bucket.host/key),
// over plain HTTP or TLS (peer and host name verified). Connections are kept alive in a bounded
// pool: at most `max_connections` exist at once, and a caller waits up to `pool_wait` for one.
//
// Send() retries what is safe to retry, with exponential backoff and jitter: failures to
// connect, send or read an answer (a kept-alive connection the server closed included), 5xx
// answers, and 429/503 throttling. Every S3 request berth sends is idempotent (keys are
// content-addressed or per-upload, bodies are in memory), so all of them are retried. The last
// answer is returned whatever its status: callers map statuses to errors. A transport failure
// on every attempt is kUnavailable.
//
// Download() streams one GET body into caller buffers without holding it: a connection whose
// body was read to the end goes back to the pool, one abandoned half-way is closed.
//
// Thread-safe: any number of threads may call Send/Download at once. An S3Download is used by
// one thread at a time. Secrets are held in berth::Secret and never logged; error messages name
// the method, key and status, never a header value.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/secret.h"

namespace berth::storage::s3 {

struct S3Options {
  // "http://host[:port]" or "https://host[:port]"; empty: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Path-style addressing (host/bucket/key) rather than virtual-host style (bucket.host/key).
  bool path_style = true;
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;  // temporary credentials only
  std::string ca_file;   // https: CA bundle (PEM) to trust instead of the system store
  // Sign the SHA-256 of request bodies (S3 then checks them) rather than UNSIGNED-PAYLOAD.
  // Unset: signed over plain HTTP, unsigned over TLS (TLS protects integrity already).
  std::optional<bool> sign_payload;
  int max_connections = 64;
  int max_attempts = 5;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds io_timeout{60000};  // per socket operation
  std::chrono::milliseconds pool_wait{60000};   // waiting for a free connection
  std::chrono::milliseconds backoff_base{50};   // first retry delay; doubles, capped at 2 s
};

struct S3Request {
  std::string method = "GET";
  std::string key;  // object key without a leading '/'; empty: the bucket itself
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, lowercase names
  std::string_view body;
};

struct S3Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;
  // The first value of a header (lowercase name), or nullptr.
  const std::string* Header(std::string_view name) const;
};

class S3Client;

// One streaming GET answer.
class S3Download {
 public:
  ~S3Download();
  int status() const { return status_; }
  const S3Response& head() const { return head_; }  // status and headers; body empty
  // Bytes of the body still to come (Content-Length minus what was read).
  uint64_t remaining() const { return remaining_; }
  // Reads up to out.size() body bytes. Returns 0 at the end of the body. kUnavailable on a
  // transport error (the connection is then dropped).
  Result<size_t> Read(std::span<char> out);

 private:
  friend class S3Client;
  struct Impl;
  explicit S3Download(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int status_ = 0;
  S3Response head_;
  uint64_t remaining_ = 0;
};

class S3Client {
 public:
  // Validates the options (endpoint URL, bucket name, credentials present). kInvalidArgument
  // with the reason; nothing is connected yet.
  static Result<std::unique_ptr<S3Client>> Create(S3Options options);
  ~S3Client();

  // Sends `req` and reads the whole answer (a body over `max_body` bytes is kUnavailable).
  Result<S3Response> Send(const S3Request& req, size_t max_body = 16u << 20);

  // GET `key` from byte `first` to `last` inclusive (to the end without `last`), retried like
  // Send until the answer's headers arrive. The caller checks status(): 200/206 carry the body,
  // other statuses have had their (small) body read into head().body.
  Result<std::unique_ptr<S3Download>> Download(const std::string& key, uint64_t first,
                                               std::optional<uint64_t> last);

  // A presigned GET URL for `key`, valid for `expires_seconds` from `now_unix_seconds`.
  std::string PresignGet(const std::string& key, int64_t now_unix_seconds,
                         int64_t expires_seconds) const;

  const S3Options& options() const { return options_; }
  // "s3://bucket" for messages.
  std::string Describe() const;

  struct Pool;  // the connection pool (s3_client.cc)

 private:
  explicit S3Client(S3Options options);
  S3Options options_;
  std::unique_ptr<Pool> pool_;
};

// The S3 error code of an error answer (<Error><Code>...</Code>), or "" if there is none.
std::string S3ErrorCode(const S3Response& r);
// Text of every <tag>...</tag> element in `xml`, entities decoded, in document order. Enough
// for S3's flat answers (ListObjectsV2, InitiateMultipartUpload, CopyPartResult, Error).
std::vector<std::string> XmlElements(std::string_view xml, std::string_view tag);
// Splits `xml` into the inner text of each <tag>...</tag> block (not decoded).
std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag);
// Escapes &, <, >, " and ' for XML text.
std::string XmlEscape(std::string_view text);
// Seconds since the epoch of an HTTP date (RFC 7231 IMF-fixdate) or an ISO 8601 timestamp as
// S3 lists them; 0 if unparseable.
int64_t ParseS3Time(std::string_view text);

}  // namespace berth::storage::s3
