// App: the running registry server — the HTTP listener, the OCI API, health and metrics
// endpoints, the access log, and background upload expiry — over stores that cli/ has
// opened. Owns the io_context threads and the blocking pool.
//
// Lifecycle: construct → Start() (listens; runs until Stop or a signal) → Wait(). Stop() is
// the graceful shutdown: stop accepting, finish in-flight requests, then return from Wait().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/secret.h"
#include "http/server.h"
#include "http/tls.h"
#include "meta/metadata_store.h"
#include "registry/identity.h"
#include "registry/registry.h"
#include "server/audit.h"
#include "server/housekeeping.h"
#include "storage/blob_store.h"

namespace berth::server {

// The HTTPS listener (see http/tls.h for the TLS policy).
struct HttpsOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5443;
  http::TlsOptions tls;
  uint64_t hsts_max_age_seconds = 31536000;  // 0: no Strict-Transport-Security header
};

struct AppOptions {
  // Limits and timeouts of both listeners, and the plain-HTTP listener's address.
  http::ServerOptions http;
  bool plain_http = true;             // serve plain HTTP at http.host:http.port
  std::optional<HttpsOptions> https;  // serve HTTPS too (or only, without plain_http)
  registry::RegistryOptions registry;
  int io_threads = 0;        // 0: one per core
  int blocking_threads = 0;  // 0: max(16, 4 per core)
  bool access_log = true;
  std::chrono::seconds upload_purge_interval{60};
  // ECR model.
  std::string account_id;  // empty: generated at first start
  std::string region = "us-east-1";
  std::string public_url;  // empty: https://<https host:port>, else http://<host>:<port>
  int64_t token_ttl_seconds = 12 * 3600;
  // Audit trail (see audit.h); an empty dir disables it.
  AuditOptions audit;
  // Lifecycle and garbage-collection schedules (see housekeeping.h).
  HousekeepingOptions housekeeping;
  // Encryption at rest: repositories created while it is on are encrypted (blobs and
  // manifests) under keys of the built-in key service; off, new repositories are stored in
  // plaintext and pulls use zero-copy sendfile. Existing repositories keep what they have.
  bool encryption_at_rest = true;
  uint32_t encryption_segment_size = 64 * 1024;
};

class App {
 public:
  App(AppOptions options, std::unique_ptr<meta::MetadataStore> meta,
      std::unique_ptr<storage::BlobStore> blobs, Secret master_key);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Sets up the account on first start (see registry::Identity::BootstrapBlocking); returns the
  // administrator's new access key when it was created now. Call once, before Start().
  Result<std::optional<registry::NewAccessKey>> Bootstrap(
      std::optional<registry::NewAccessKey> preset_admin_key = std::nullopt);
  // Loads the TLS certificate, binds the listeners and starts serving. Handles SIGTERM/SIGINT
  // as graceful shutdown and SIGHUP as "reload the TLS certificate and key" (a bad new pair
  // is logged and the current one kept).
  Status Start();
  uint16_t port() const;      // plain HTTP (0 if not served)
  uint16_t tls_port() const;  // HTTPS (0 if not served)
  // Blocks until the server has shut down.
  void Wait();
  // Requests graceful shutdown (thread-safe).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::server
