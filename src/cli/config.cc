#include "cli/config.h"

#include <cstdlib>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "base/strings.h"

namespace berth::cli {
namespace {

Error Bad(const std::string& where, const std::string& what) {
  return MakeError(Errc::kInvalidArgument, where + ": " + what);
}

}  // namespace

Result<int64_t> ParseSeconds(const std::string& where, const std::string& v) {
  // Accepts a plain number of seconds, or a number with an s/m/h/d suffix.
  if (v.empty()) {
    return Bad(where, "empty duration");
  }
  int64_t mult = 1;
  std::string num = v;
  switch (v.back()) {
    case 's':
      mult = 1;
      num.pop_back();
      break;
    case 'm':
      mult = 60;
      num.pop_back();
      break;
    case 'h':
      mult = 3600;
      num.pop_back();
      break;
    case 'd':
      mult = 86400;
      num.pop_back();
      break;
    default:
      break;
  }
  auto n = ParseUint(num);
  if (!n || *n > (1ull << 40)) {
    return Bad(where, "invalid duration '" + v + "' (use seconds, or a number with s/m/h/d)");
  }
  return static_cast<int64_t>(*n) * mult;
}

Result<uint64_t> ParseBytes(const std::string& where, const std::string& v) {
  std::string num = v;
  uint64_t mult = 1;
  for (const auto& [suffix, m] :
       std::initializer_list<std::pair<const char*, uint64_t>>{{"KiB", 1ull << 10},
                                                               {"MiB", 1ull << 20},
                                                               {"GiB", 1ull << 30},
                                                               {"TiB", 1ull << 40},
                                                               {"K", 1ull << 10},
                                                               {"M", 1ull << 20},
                                                               {"G", 1ull << 30},
                                                               {"T", 1ull << 40}}) {
    std::string_view sv(suffix);
    if (num.size() > sv.size() && num.compare(num.size() - sv.size(), sv.size(), sv) == 0) {
      num.resize(num.size() - sv.size());
      mult = m;
      break;
    }
  }
  auto n = ParseUint(num);
  if (!n || *n == 0 || *n > (UINT64_MAX / mult)) {
    return Bad(where, "invalid size '" + v + "' (bytes, or a number with K/M/G/T)");
  }
  return *n * mult;
}

Status ApplyConfigFile(const std::string& path, Config& c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return Bad(path, e.what());
  }
  if (!root.IsMap()) {
    return Bad(path, "top level must be a mapping");
  }
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      std::string where = path + ": " + key;
      if (key == "listen") {
        c.listen = v.as<std::string>();
        c.listen_explicit = true;
      } else if (key == "data_dir") {
        c.data_dir = v.as<std::string>();
      } else if (key == "log_level") {
        c.log_level = v.as<std::string>();
      } else if (key == "log_format") {
        c.log_format = v.as<std::string>();
      } else if (key == "access_log") {
        c.access_log = v.as<bool>();
      } else if (key == "account_id") {
        c.account_id = v.as<std::string>();
      } else if (key == "region") {
        c.region = v.as<std::string>();
      } else if (key == "public_url") {
        c.public_url = v.as<std::string>();
      } else if (key == "master_key_file") {
        c.master_key_file = v.as<std::string>();
      } else if (key == "token_ttl") {
        BERTH_ASSIGN_OR_RETURN(c.token_ttl_seconds, ParseSeconds(where, v.as<std::string>()));
      } else if (key == "io_threads") {
        c.io_threads = v.as<int>();
      } else if (key == "blocking_threads") {
        c.blocking_threads = v.as<int>();
      } else if (key == "uploads") {
        for (const auto& u : v) {
          std::string k = u.first.as<std::string>();
          if (k == "ttl") {
            BERTH_ASSIGN_OR_RETURN(c.upload_ttl_seconds,
                                   ParseSeconds(where + ".ttl", u.second.as<std::string>()));
          } else if (k == "max_blob_size") {
            BERTH_ASSIGN_OR_RETURN(
                c.max_blob_bytes, ParseBytes(where + ".max_blob_size", u.second.as<std::string>()));
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "lifecycle" || key == "gc") {
        for (const auto& a : v) {
          std::string k = a.first.as<std::string>();
          std::string val = a.second.as<std::string>();
          std::string w = where + "." + k;
          if (key == "lifecycle" && k == "interval") {
            BERTH_ASSIGN_OR_RETURN(c.lifecycle_interval_seconds, ParseSeconds(w, val));
          } else if (key == "gc" && k == "interval") {
            BERTH_ASSIGN_OR_RETURN(c.gc_interval_seconds, ParseSeconds(w, val));
          } else if (key == "gc" && k == "grace_period") {
            BERTH_ASSIGN_OR_RETURN(c.gc_grace_seconds, ParseSeconds(w, val));
          } else if (key == "gc" && k == "lease_ttl") {
            BERTH_ASSIGN_OR_RETURN(c.lease_ttl_seconds, ParseSeconds(w, val));
            if (c.lease_ttl_seconds < 3) {
              return Bad(w, "must be at least 3s");
            }
          } else {
            return Bad(w, "unknown key");
          }
        }
      } else if (key == "encryption") {
        for (const auto& a : v) {
          std::string k = a.first.as<std::string>();
          if (k == "at_rest") {
            c.encryption_at_rest = a.second.as<bool>();
          } else if (k == "segment_size") {
            BERTH_ASSIGN_OR_RETURN(uint64_t n,
                                   ParseBytes(where + "." + k, a.second.as<std::string>()));
            if (n < 4096 || n > (16u << 20)) {
              return Bad(where + "." + k, "must be between 4KiB and 16MiB");
            }
            c.encryption_segment_size = static_cast<uint32_t>(n);
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "audit") {
        for (const auto& a : v) {
          std::string k = a.first.as<std::string>();
          if (k == "dir") {
            c.audit_dir = a.second.as<std::string>();
          } else if (k == "max_file_size") {
            BERTH_ASSIGN_OR_RETURN(c.audit_max_file_bytes,
                                   ParseBytes(where + "." + k, a.second.as<std::string>()));
          } else if (k == "keep_files") {
            c.audit_keep_files = a.second.as<int>();
            if (c.audit_keep_files < 1 || c.audit_keep_files > 1000) {
              return Bad(where + "." + k, "must be between 1 and 1000");
            }
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "metadata") {
        for (const auto& m : v) {
          std::string k = m.first.as<std::string>();
          if (k == "driver") {
            c.metadata_driver = m.second.as<std::string>();
            if (c.metadata_driver != "sqlite" && c.metadata_driver != "postgres") {
              return Bad(where + "." + k, "must be sqlite or postgres");
            }
          } else if (k == "postgres") {
            for (const auto& p : m.second) {
              std::string pk = p.first.as<std::string>();
              if (pk == "url") {
                c.postgres_url = p.second.as<std::string>();
              } else if (pk == "pool_size") {
                c.postgres_pool_size = p.second.as<int>();
                if (c.postgres_pool_size < 1 || c.postgres_pool_size > 1000) {
                  return Bad(where + ".postgres." + pk, "must be between 1 and 1000");
                }
              } else {
                return Bad(where + ".postgres." + pk, "unknown key");
              }
            }
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "storage") {
        for (const auto& m : v) {
          std::string k = m.first.as<std::string>();
          if (k == "driver") {
            c.storage_driver = m.second.as<std::string>();
          } else if (k == "s3") {
            for (const auto& p : m.second) {
              std::string pk = p.first.as<std::string>();
              const std::string at = where + ".s3." + pk;
              if (pk == "endpoint") {
                c.s3_endpoint = p.second.as<std::string>();
              } else if (pk == "region") {
                c.s3_region = p.second.as<std::string>();
              } else if (pk == "bucket") {
                c.s3_bucket = p.second.as<std::string>();
              } else if (pk == "prefix") {
                c.s3_prefix = p.second.as<std::string>();
              } else if (pk == "path_style") {
                c.s3_path_style = p.second.as<bool>();
              } else if (pk == "access_key_id") {
                c.s3_access_key_id = p.second.as<std::string>();
              } else if (pk == "secret_access_key") {
                c.s3_secret_access_key = p.second.as<std::string>();
              } else if (pk == "ca_file") {
                c.s3_ca_file = p.second.as<std::string>();
              } else if (pk == "part_size") {
                auto n = ParseUint(p.second.as<std::string>());
                if (!n) {
                  return Bad(at, "must be a number of bytes");
                }
                c.s3_part_size = *n;
              } else if (pk == "max_connections") {
                c.s3_max_connections = p.second.as<int>();
              } else if (pk == "redirect") {
                c.s3_redirect = p.second.as<bool>();
              } else if (pk == "redirect_ttl") {
                BERTH_ASSIGN_OR_RETURN(c.s3_redirect_ttl_seconds,
                                       ParseSeconds(at, p.second.as<std::string>()));
              } else {
                return Bad(at, "unknown key");
              }
            }
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "tls") {
        for (const auto& t : v) {
          std::string k = t.first.as<std::string>();
          std::string val = t.second.as<std::string>();
          if (k == "listen") {
            c.tls_listen = val;
          } else if (k == "cert_file") {
            c.tls_cert_file = val;
          } else if (k == "key_file") {
            c.tls_key_file = val;
          } else if (k == "client_ca_file") {
            c.tls_client_ca_file = val;
          } else if (k == "client_auth") {
            c.tls_client_auth = val;
          } else if (k == "hsts_max_age") {
            BERTH_ASSIGN_OR_RETURN(c.hsts_max_age_seconds, ParseSeconds(where + "." + k, val));
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else if (key == "http") {
        for (const auto& h : v) {
          std::string k = h.first.as<std::string>();
          std::string val = h.second.as<std::string>();
          if (k == "idle_timeout") {
            BERTH_ASSIGN_OR_RETURN(c.idle_timeout_seconds, ParseSeconds(where + "." + k, val));
          } else if (k == "io_timeout") {
            BERTH_ASSIGN_OR_RETURN(c.io_timeout_seconds, ParseSeconds(where + "." + k, val));
          } else if (k == "drain_timeout") {
            BERTH_ASSIGN_OR_RETURN(c.drain_timeout_seconds, ParseSeconds(where + "." + k, val));
          } else if (k == "header_limit") {
            auto n = ParseUint(val);
            if (!n || *n < 1024 || *n > (1u << 24)) {
              return Bad(where + "." + k, "must be between 1024 and 16777216 bytes");
            }
            c.header_limit = static_cast<uint32_t>(*n);
          } else {
            return Bad(where + "." + k, "unknown key");
          }
        }
      } else {
        return Bad(where, "unknown key");
      }
    }
  } catch (const YAML::Exception& e) {
    return Bad(path, e.what());
  }
  return Ok{};
}

Status ApplyEnvironment(Config& c) {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
  };
  if (const char* v = env("BERTH_LISTEN")) {
    c.listen = v;
    c.listen_explicit = true;
  }
  if (const char* v = env("BERTH_TLS_LISTEN")) {
    c.tls_listen = v;
  }
  if (const char* v = env("BERTH_TLS_CERT_FILE")) {
    c.tls_cert_file = v;
  }
  if (const char* v = env("BERTH_TLS_KEY_FILE")) {
    c.tls_key_file = v;
  }
  if (const char* v = env("BERTH_TLS_CLIENT_CA_FILE")) {
    c.tls_client_ca_file = v;
  }
  if (const char* v = env("BERTH_TLS_CLIENT_AUTH")) {
    c.tls_client_auth = v;
  }
  if (const char* v = env("BERTH_TLS_HSTS_MAX_AGE")) {
    BERTH_ASSIGN_OR_RETURN(c.hsts_max_age_seconds, ParseSeconds("BERTH_TLS_HSTS_MAX_AGE", v));
  }
  if (const char* v = env("BERTH_DATA_DIR")) {
    c.data_dir = v;
  }
  if (const char* v = env("BERTH_LOG_LEVEL")) {
    c.log_level = v;
  }
  if (const char* v = env("BERTH_LOG_FORMAT")) {
    c.log_format = v;
  }
  if (const char* v = env("BERTH_ACCOUNT_ID")) {
    c.account_id = v;
  }
  if (const char* v = env("BERTH_REGION")) {
    c.region = v;
  }
  if (const char* v = env("BERTH_PUBLIC_URL")) {
    c.public_url = v;
  }
  if (const char* v = env("BERTH_MASTER_KEY_FILE")) {
    c.master_key_file = v;
  }
  if (const char* v = env("BERTH_LIFECYCLE_INTERVAL")) {
    BERTH_ASSIGN_OR_RETURN(c.lifecycle_interval_seconds,
                           ParseSeconds("BERTH_LIFECYCLE_INTERVAL", v));
  }
  if (const char* v = env("BERTH_GC_INTERVAL")) {
    BERTH_ASSIGN_OR_RETURN(c.gc_interval_seconds, ParseSeconds("BERTH_GC_INTERVAL", v));
  }
  if (const char* v = env("BERTH_GC_GRACE_PERIOD")) {
    BERTH_ASSIGN_OR_RETURN(c.gc_grace_seconds, ParseSeconds("BERTH_GC_GRACE_PERIOD", v));
  }
  if (const char* v = env("BERTH_ENCRYPTION_AT_REST")) {
    std::string s = v;
    if (s == "true" || s == "1" || s == "on") {
      c.encryption_at_rest = true;
    } else if (s == "false" || s == "0" || s == "off") {
      c.encryption_at_rest = false;
    } else {
      return MakeError(Errc::kInvalidArgument, "BERTH_ENCRYPTION_AT_REST: expected true or false");
    }
  }
  if (const char* v = env("BERTH_LEASE_TTL")) {
    BERTH_ASSIGN_OR_RETURN(c.lease_ttl_seconds, ParseSeconds("BERTH_LEASE_TTL", v));
    if (c.lease_ttl_seconds < 3) {
      return MakeError(Errc::kInvalidArgument, "BERTH_LEASE_TTL: must be at least 3s");
    }
  }
  if (const char* v = env("BERTH_AUDIT_DIR")) {
    c.audit_dir = v;
  }
  if (const char* v = env("BERTH_UPLOAD_TTL")) {
    BERTH_ASSIGN_OR_RETURN(c.upload_ttl_seconds, ParseSeconds("BERTH_UPLOAD_TTL", v));
  }
  if (const char* v = env("BERTH_METADATA_DRIVER")) {
    c.metadata_driver = v;
  }
  if (const char* v = env("BERTH_POSTGRES_URL")) {
    c.postgres_url = v;
  }
  for (auto [name, field] :
       {std::pair{"BERTH_STORAGE_DRIVER", &c.storage_driver},
        std::pair{"BERTH_S3_ENDPOINT", &c.s3_endpoint}, std::pair{"BERTH_S3_REGION", &c.s3_region},
        std::pair{"BERTH_S3_BUCKET", &c.s3_bucket}, std::pair{"BERTH_S3_PREFIX", &c.s3_prefix},
        std::pair{"BERTH_S3_CA_FILE", &c.s3_ca_file}}) {
    if (const char* v = env(name)) {
      *field = v;
    }
  }
  auto env_bool = [&](const char* name) -> Result<std::optional<bool>> {
    const char* v = env(name);
    if (v == nullptr) {
      return std::optional<bool>();
    }
    std::string t = v;
    if (t != "true" && t != "false") {
      return Bad(name, "expected true or false");
    }
    return std::optional<bool>(t == "true");
  };
  BERTH_ASSIGN_OR_RETURN(auto path_style, env_bool("BERTH_S3_PATH_STYLE"));
  if (path_style) {
    c.s3_path_style = path_style;
  }
  BERTH_ASSIGN_OR_RETURN(auto redirect, env_bool("BERTH_S3_REDIRECT"));
  if (redirect) {
    c.s3_redirect = *redirect;
  }
  if (const char* v = env("BERTH_POSTGRES_POOL_SIZE")) {
    auto n = ParseUint(v);
    if (!n || *n < 1 || *n > 1000) {
      return Bad("BERTH_POSTGRES_POOL_SIZE", "must be between 1 and 1000");
    }
    c.postgres_pool_size = static_cast<int>(*n);
  }
  return Ok{};
}

Status CheckMetadataConfig(const Config& c) {
  if (c.metadata_driver != "sqlite" && c.metadata_driver != "postgres") {
    return Bad("metadata.driver", "must be sqlite or postgres, not '" + c.metadata_driver + "'");
  }
  if (c.postgres_pool_size < 1 || c.postgres_pool_size > 1000) {
    return Bad("metadata.postgres.pool_size", "must be between 1 and 1000");
  }
  if (c.metadata_driver == "postgres" && c.postgres_url.empty()) {
    return Bad("metadata.postgres.url",
               "the postgres driver needs a connection URL (or BERTH_POSTGRES_URL)");
  }
  return Ok{};
}

Status CheckStorageConfig(const Config& c) {
  if (c.storage_driver != "fs" && c.storage_driver != "s3") {
    return Bad("storage.driver", "must be fs or s3, not '" + c.storage_driver + "'");
  }
  if (c.storage_driver != "s3") {
    return Ok{};
  }
  if (c.s3_bucket.empty()) {
    return Bad("storage.s3.bucket", "the s3 driver needs a bucket (or BERTH_S3_BUCKET)");
  }
  if (c.s3_part_size < (5ull << 20) || c.s3_part_size > (5ull << 30)) {
    return Bad("storage.s3.part_size", "must be between 5 MiB and 5 GiB");
  }
  if (c.s3_max_connections < 1 || c.s3_max_connections > 4096) {
    return Bad("storage.s3.max_connections", "must be between 1 and 4096");
  }
  if (c.s3_redirect_ttl_seconds < 1 || c.s3_redirect_ttl_seconds > 7 * 86400) {
    return Bad("storage.s3.redirect_ttl", "must be between 1s and 7d");
  }
  return Ok{};
}

bool TlsEnabled(const Config& c) { return !c.tls_cert_file.empty() || !c.tls_key_file.empty(); }

bool PlainHttpEnabled(const Config& c) { return !TlsEnabled(c) || c.listen_explicit; }

Result<std::string> EffectiveClientAuth(const Config& c) {
  std::string mode = c.tls_client_auth;
  if (mode.empty()) {
    mode = c.tls_client_ca_file.empty() ? "none" : "optional";
  }
  if (mode != "none" && mode != "optional" && mode != "require") {
    return Bad("tls.client_auth", "must be none, optional or require, not '" + mode + "'");
  }
  if (mode != "none" && c.tls_client_ca_file.empty()) {
    return Bad("tls.client_auth", mode + " needs tls.client_ca_file");
  }
  return mode;
}

std::string AuditDir(const Config& c) {
  return c.audit_dir.empty() ? c.data_dir + "/audit" : c.audit_dir;
}

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Bad("listen", "expected HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port = ParseUint(listen.substr(colon + 1));
  if (!port || *port > 65535) {
    return Bad("listen", "invalid port in '" + listen + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(*port));
}

}  // namespace berth::cli
