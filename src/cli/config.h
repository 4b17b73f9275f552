// Configuration of `berth serve`: defaults, then a YAML file (--config), then BERTH_*
// environment variables, then command-line flags — each later source wins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/error.h"

namespace berth::cli {

struct Config {
  // Plain HTTP listener. Without TLS it is always on (the zero-config quick start); with TLS
  // configured it is on only when `listen` was given explicitly (file, BERTH_LISTEN, --listen).
  std::string listen = "127.0.0.1:5000";
  bool listen_explicit = false;
  // HTTPS: on when tls_cert_file (and tls_key_file) are set.
  std::string tls_listen = "127.0.0.1:5443";
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;  // CA for client certificates (mTLS)
  std::string tls_client_auth;     // none | optional | require; empty: optional with a CA
  int64_t hsts_max_age_seconds = 365 * 86400;  // 0: no Strict-Transport-Security
  std::string data_dir = "./data";
  // Metadata store: "sqlite" (<data_dir>/meta.db, one node) or "postgres" (one database that
  // every node shares; postgres_url is a libpq connection string or URI, TLS via sslmode).
  std::string metadata_driver = "sqlite";
  std::string postgres_url;
  int postgres_pool_size = 16;  // connections per node
  // Blob store: "fs" (under data_dir) or "s3" (a bucket every node shares; see README
  // "Running more than one node"). Credentials: s3_access_key_id/s3_secret_access_key, else
  // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) in the environment.
  std::string storage_driver = "fs";
  std::string s3_endpoint;  // empty: https://s3.<region>.amazonaws.com
  std::string s3_region;    // empty: `region`
  std::string s3_bucket;
  std::string s3_prefix;
  std::optional<bool> s3_path_style;  // unset: path style with an endpoint, else virtual-host
  std::string s3_access_key_id;
  std::string s3_secret_access_key;
  std::string s3_ca_file;
  uint64_t s3_part_size = 8ull << 20;
  int s3_max_connections = 64;
  // Answer blob GETs of unencrypted repositories with a redirect to a presigned S3 URL (and
  // give GetDownloadUrlForLayer that URL), valid for s3_redirect_ttl_seconds.
  bool s3_redirect = false;
  int64_t s3_redirect_ttl_seconds = 20 * 60;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json
  bool access_log = true;
  int64_t upload_ttl_seconds = 24 * 3600;
  uint64_t max_blob_bytes = 52000ull << 20;  // ECR's layer size limit
  int64_t idle_timeout_seconds = 120;
  int64_t io_timeout_seconds = 300;
  int64_t drain_timeout_seconds = 30;
  uint32_t header_limit = 64 * 1024;
  int io_threads = 0;
  int blocking_threads = 0;
  // ECR model.
  std::string account_id;  // 12 digits; empty: generated at first start
  std::string region = "us-east-1";
  std::string public_url;  // proxyEndpoint and presigned URLs; empty: http://<listen>
  int64_t token_ttl_seconds = 12 * 3600;  // registry auth tokens (ECR: 12 hours)
  std::string master_key_file;            // empty: <data_dir>/master.key
  // Audit trail.
  std::string audit_dir;                        // empty: <data_dir>/audit
  uint64_t audit_max_file_bytes = 64ull << 20;  // rotate past this size
  int audit_keep_files = 10;
  // Housekeeping: 0 disables a schedule.
  int64_t lifecycle_interval_seconds = 24 * 3600;
  int64_t gc_interval_seconds = 3600;
  int64_t gc_grace_seconds = 3600;
  int64_t lease_ttl_seconds = 30;  // housekeeping lease shared by nodes
  // Encryption at rest of repositories created from now on (see README "Encryption").
  bool encryption_at_rest = true;
  uint32_t encryption_segment_size = 64 * 1024;
};
// kInvalidArgument unless the metadata settings, every source applied, name a known driver
// with what it needs (postgres: a URL; a pool size of 1 to 1000).
Status CheckMetadataConfig(const Config& config);
// kInvalidArgument unless the storage settings name a known driver with what it needs (s3: a
// bucket; a part size of 5 MiB to 5 GiB; 1 to 4096 connections).
Status CheckStorageConfig(const Config& config);
// Where the audit trail of `config` lives.
std::string AuditDir(const Config& config);
// Whether HTTPS is configured, and whether plain HTTP is served (see Config::listen).
bool TlsEnabled(const Config& config);
bool PlainHttpEnabled(const Config& config);
// "none", "optional" or "require": the client_auth setting, its default applied.
// kInvalidArgument for another value, or for optional/require without a client CA.
Result<std::string> EffectiveClientAuth(const Config& config);

// Applies the YAML file at `path` over `config`. Errors: kInvalidArgument with the file, key
// and reason.
Status ApplyConfigFile(const std::string& path, Config& config);
// Applies BERTH_* environment variables over `config`.
Status ApplyEnvironment(Config& config);
// Parses a duration: seconds, or a number with an s/m/h/d suffix. kInvalidArgument naming
// `where` if malformed.
Result<int64_t> ParseSeconds(const std::string& where, const std::string& value);
// Parses a size in bytes: a number, optionally with a K/M/G/T suffix (binary multiples,
// "KiB"/"MiB"/... also accepted). kInvalidArgument naming `where` if malformed.
Result<uint64_t> ParseBytes(const std::string& where, const std::string& value);
// Splits "host:port" ("[v6]:port" too). kInvalidArgument if malformed.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen);

}  // namespace berth::cli
