// SqliteStore: MetadataStore on an embedded SQLite database (WAL mode).
//
// One writer connection (serialised by a mutex, transactions BEGIN IMMEDIATE) and a small pool
// of reader connections, so reads never wait for writes. synchronous=FULL: an acknowledged
// change survives power loss. Schema changes are versioned migrations (see sqlite_store.cc),
// applied in order inside one transaction at Open.
#pragma once

#include <memory>
#include <string>

#include "meta/metadata_store.h"

namespace berth::meta {

struct SqliteOptions {
  std::string path;  // database file
  int readers = 4;   // reader connections
};

Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace berth::meta
