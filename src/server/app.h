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
#include <string>

#include "base/error.h"
#include "http/server.h"
#include "meta/metadata_store.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace berth::server {

struct AppOptions {
  http::ServerOptions http;
  registry::RegistryOptions registry;
  int io_threads = 0;        // 0: one per core
  int blocking_threads = 0;  // 0: max(4, 2 per core)
  bool access_log = true;
  std::chrono::seconds upload_purge_interval{60};
};

class App {
 public:
  App(AppOptions options, std::unique_ptr<meta::MetadataStore> meta,
      std::unique_ptr<storage::BlobStore> blobs);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Binds the listener and starts serving. Handles SIGTERM/SIGINT as graceful shutdown.
  Status Start();
  uint16_t port() const;
  // Blocks until the server has shut down.
  void Wait();
  // Requests graceful shutdown (thread-safe).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::server
