// PostgresStore: MetadataStore on PostgreSQL (15+) through libpq, for stateless nodes that
// share one database.
//
// A bounded pool of connections (opened lazily, at most `pool_size`); a call that finds every
// connection busy waits up to `acquire_timeout` and then fails with kUnavailable. Every method
// blocks on the network: callers run it on the blocking pool (RunBlocking), never on an io
// thread.
//
// Schema changes are versioned migrations (see postgres_store.cc) applied at Open in one
// transaction under a database-wide advisory lock, so several nodes starting at once migrate
// exactly once. A database whose schema is newer than this build is refused (kInternal).
//
// Errors: connection failures, server shutdown, resource exhaustion and serialization
// conflicts that persist after retries are kUnavailable (retryable); the conninfo failing to
// parse is kInvalidArgument; other database errors are kInternal, as in the SQLite store.
//
// Thread-safety: thread-safe. The store owns its connections; destroy it only after every
// call has returned.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "meta/metadata_store.h"

namespace berth::meta {

struct PostgresOptions {
  // libpq connection string or URI ("host=db port=5432 dbname=berth sslmode=verify-full" or
  // "postgresql://berth@db/berth?sslmode=require"); TLS, timeouts and credentials are set here.
  std::string conninfo;
  int pool_size = 16;  // most connections open at once (clamped to at least 1)
  // How long a call waits for a free connection before failing with kUnavailable.
  std::chrono::milliseconds acquire_timeout{10000};
};

// Connects, migrates the schema and returns the store. kInvalidArgument for a malformed
// conninfo, kUnavailable if the server cannot be reached, kInternal if the schema is newer
// than this build or a migration fails.
Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const PostgresOptions& options);

}  // namespace berth::meta
