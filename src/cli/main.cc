// berth: the command-line entry point. The only place that names concrete stores and drivers:
// it parses configuration, opens SQLite and the filesystem blob store, and runs the server.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "base/strings.h"
#include "cli/config.h"
#include "cli/master_key.h"
#include "cli/remote.h"
#include "cli/tls_certs.h"
#include "kms/builtin_key_service.h"
#include "meta/postgres/postgres_store.h"
#include "meta/sqlite/sqlite_store.h"
#include "registry/identity.h"
#include "server/app.h"
#include "server/audit.h"
#include "storage/crypto/encrypted_blob_store.h"
#include "storage/fs/fs_blob_store.h"
#include "storage/s3/s3_blob_store.h"

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "berth: %s\n", msg.c_str());
  return 2;
}

// Writes the administrator's key as an AWS shared-credentials file (mode 0600), atomically.
bool WriteCredentialsFile(const std::string& path, const berth::registry::NewAccessKey& key) {
  std::string text = "[default]\naws_access_key_id = " + key.id +
                     "\naws_secret_access_key = " + std::string(key.secret.reveal()) + "\n";
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  std::fill(text.begin(), text.end(), '\0');
  return ok && ::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string MasterKeyPath(const berth::cli::Config& c) {
  return c.master_key_file.empty() ? c.data_dir + "/master.key" : c.master_key_file;
}

// The metadata store `c` names: the one place that knows the drivers. `sqlite_readers`: reader
// connections of the embedded store (PostgreSQL sizes its pool from the config).
berth::Result<std::unique_ptr<berth::meta::MetadataStore>> OpenMetadataStore(
    const berth::cli::Config& c, int sqlite_readers) {
  BERTH_TRY(berth::cli::CheckMetadataConfig(c));
  if (c.metadata_driver == "postgres") {
    berth::meta::PostgresOptions options;
    options.conninfo = c.postgres_url;
    options.pool_size = c.postgres_pool_size;
    return berth::meta::OpenPostgresStore(options);
  }
  return berth::meta::OpenSqliteStore({c.data_dir + "/meta.db", sqlite_readers});
}

// The blob store `c` names: the other place that knows the drivers.
berth::Result<std::unique_ptr<berth::storage::BlobStore>> OpenBlobStore(
    const berth::cli::Config& c) {
  BERTH_TRY(berth::cli::CheckStorageConfig(c));
  if (c.storage_driver == "s3") {
    berth::storage::S3BlobStoreOptions o;
    o.s3.endpoint = c.s3_endpoint;
    o.s3.region = c.s3_region.empty() ? c.region : c.s3_region;
    o.s3.bucket = c.s3_bucket;
    o.s3.path_style = c.s3_path_style.value_or(!c.s3_endpoint.empty());
    o.s3.ca_file = c.s3_ca_file;
    o.s3.max_connections = c.s3_max_connections;
    o.prefix = c.s3_prefix;
    o.part_size = c.s3_part_size;
    auto env = [](const char* name) -> std::string {
      const char* v = std::getenv(name);
      return v != nullptr ? v : "";
    };
    if (!c.s3_access_key_id.empty()) {
      o.s3.access_key_id = c.s3_access_key_id;
      o.s3.secret_access_key = berth::Secret(c.s3_secret_access_key);
    } else {
      o.s3.access_key_id = env("AWS_ACCESS_KEY_ID");
      o.s3.secret_access_key = berth::Secret(env("AWS_SECRET_ACCESS_KEY"));
      o.s3.session_token = berth::Secret(env("AWS_SESSION_TOKEN"));
    }
    BERTH_ASSIGN_OR_RETURN(auto store, berth::storage::S3BlobStore::Open(std::move(o)));
    return std::unique_ptr<berth::storage::BlobStore>(std::move(store));
  }
  ::mkdir(c.data_dir.c_str(), 0750);
  BERTH_ASSIGN_OR_RETURN(auto store, berth::storage::FsBlobStore::Open(c.data_dir));
  return std::unique_ptr<berth::storage::BlobStore>(std::move(store));
}

int Serve(berth::cli::Config config) {
  auto level = spdlog::level::from_str(config.log_level);
  if (level == spdlog::level::off && config.log_level != "off") {
    return Fail("unknown log level '" + config.log_level + "' (trace|debug|info|warn|error|off)");
  }
  spdlog::set_level(level);
  if (config.log_format == "json") {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else if (config.log_format != "text") {
    return Fail("unknown log format '" + config.log_format + "' (text|json)");
  }
  // Every client connection is a descriptor: allow as many as the hard limit permits (the
  // usual soft limit of 1024 would cap a registry far below what it can hold).
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto listen = berth::cli::ParseListen(config.listen);
  if (!listen.ok()) {
    return Fail(listen.error().message);
  }
  ::mkdir(config.data_dir.c_str(), 0750);
  auto blobs = OpenBlobStore(config);
  if (!blobs.ok()) {
    return Fail("cannot open the blob store: " + blobs.error().message);
  }
  auto meta = OpenMetadataStore(config, 4);
  if (!meta.ok()) {
    return Fail("cannot open metadata database: " + meta.error().message);
  }
  berth::server::AppOptions opts;
  opts.http.host = listen->first;
  opts.http.port = listen->second;
  opts.plain_http = berth::cli::PlainHttpEnabled(config);
  if (berth::cli::TlsEnabled(config)) {
    auto tls_listen = berth::cli::ParseListen(config.tls_listen);
    if (!tls_listen.ok()) {
      return Fail("tls.listen: " + tls_listen.error().message);
    }
    auto mode = berth::cli::EffectiveClientAuth(config);
    if (!mode.ok()) {
      return Fail(mode.error().message);
    }
    berth::server::HttpsOptions https;
    https.host = tls_listen->first;
    https.port = tls_listen->second;
    https.tls.cert_file = config.tls_cert_file;
    https.tls.key_file = config.tls_key_file;
    https.tls.client_ca_file = config.tls_client_ca_file;
    https.tls.client_auth = *berth::http::ParseClientAuth(*mode);
    https.hsts_max_age_seconds = static_cast<uint64_t>(config.hsts_max_age_seconds);
    opts.https = std::move(https);
  }
  opts.http.header_limit = config.header_limit;
  opts.http.idle_timeout = std::chrono::seconds(config.idle_timeout_seconds);
  opts.http.io_timeout = std::chrono::seconds(config.io_timeout_seconds);
  opts.http.drain_timeout = std::chrono::seconds(config.drain_timeout_seconds);
  opts.registry.upload_ttl_seconds = config.upload_ttl_seconds;
  opts.registry.max_blob_bytes = config.max_blob_bytes;
  if (config.storage_driver == "s3" && config.s3_redirect) {
    opts.registry.direct_url_ttl_seconds = config.s3_redirect_ttl_seconds;
  }
  opts.upload_purge_interval =
      std::chrono::seconds(std::clamp<int64_t>(config.upload_ttl_seconds / 2, 1, 60));
  opts.access_log = config.access_log;
  opts.io_threads = config.io_threads;
  opts.blocking_threads = config.blocking_threads;
  if (opts.blocking_threads == 0 && config.storage_driver == "s3") {
    // Blob reads and writes wait on the network for their whole duration: enough threads that
    // concurrent transfers are bounded by S3 connections, not by the pool.
    opts.blocking_threads = 32;
  }
  opts.account_id = config.account_id;
  opts.region = config.region;
  opts.public_url = config.public_url;
  opts.token_ttl_seconds = config.token_ttl_seconds;
  opts.audit.dir = berth::cli::AuditDir(config);
  opts.audit.max_file_bytes = config.audit_max_file_bytes;
  opts.audit.keep_files = config.audit_keep_files;
  opts.housekeeping.lifecycle_interval = std::chrono::seconds(config.lifecycle_interval_seconds);
  opts.housekeeping.gc_interval = std::chrono::seconds(config.gc_interval_seconds);
  opts.housekeeping.gc_grace_seconds = config.gc_grace_seconds;
  opts.housekeeping.lease_ttl = std::chrono::seconds(config.lease_ttl_seconds);
  opts.encryption_at_rest = config.encryption_at_rest;
  opts.encryption_segment_size = config.encryption_segment_size;
  auto master = berth::registry::LoadOrCreateMasterKey(MasterKeyPath(config));
  if (!master.ok()) {
    return Fail("master key: " + master.error().message);
  }
  if (auto s = berth::cli::CheckMasterKeyBlocking(**meta, *master); !s.ok()) {
    return Fail("master key: " + s.error().message);
  }
  spdlog::info("data directory {}", config.data_dir);
  berth::server::App app(std::move(opts), std::move(*meta), std::move(*blobs), std::move(*master));
  // Provisioning automation may fix the administrator's first key (like other servers' root
  // credentials); read once at first start, otherwise ignored.
  std::optional<berth::registry::NewAccessKey> preset;
  const char* preset_id = std::getenv("BERTH_ADMIN_ACCESS_KEY_ID");
  const char* preset_secret = std::getenv("BERTH_ADMIN_SECRET_ACCESS_KEY");
  if (preset_id != nullptr && preset_secret != nullptr && *preset_id != '\0') {
    preset = berth::registry::NewAccessKey{preset_id, berth::Secret(preset_secret)};
  }
  auto admin = app.Bootstrap(std::move(preset));
  if (!admin.ok()) {
    return Fail("bootstrap: " + admin.error().message);
  }
  if (*admin) {
    std::string path = config.data_dir + "/admin-credentials";
    if (!WriteCredentialsFile(path, **admin)) {
      return Fail("cannot write " + path);
    }
    spdlog::info(
        "created the administrator 'admin'; its access key {} is in {} (AWS "
        "shared-credentials format: AWS_SHARED_CREDENTIALS_FILE={})",
        (*admin)->id, path, path);
  }
  if (auto s = app.Start(); !s.ok()) {
    return Fail(s.error().message);
  }
  app.Wait();
  return 0;
}

// `berth admin audit`: prints matching entries, as stored (--json) or as a table.
int ShowAudit(const std::string& dir, berth::server::AuditFilter filter, const std::string& since,
              const std::string& until, bool json) {
  if (!since.empty()) {
    auto t = berth::server::ParseAuditTime(since);
    if (!t.ok()) {
      return Fail("--since: " + t.error().message);
    }
    filter.since_ms = *t;
  }
  if (!until.empty()) {
    auto t = berth::server::ParseAuditTime(until);
    if (!t.ok()) {
      return Fail("--until: " + t.error().message);
    }
    filter.until_ms = *t;
  }
  auto s = berth::server::ReadAudit(dir, filter, [json](const std::string& line) {
    if (json) {
      std::printf("%s\n", line.c_str());
      return;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    auto field = [&](const char* k) -> std::string {
      const auto* o = v.if_object();
      if (o == nullptr || !o->contains(k)) {
        return "-";
      }
      const auto& f = o->at(k);
      return f.is_string() ? std::string(f.get_string()) : boost::json::serialize(f);
    };
    std::printf("%s  %-8s %-3s %-28s %-55s %-30s %s %s\n", field("time").c_str(),
                field("result").c_str(), field("status").c_str(), field("action").c_str(),
                field("principal").c_str(), field("repository").c_str(), field("source_ip").c_str(),
                field("error") == "-" ? "" : field("error").c_str());
  });
  if (!s.ok()) {
    return Fail(s.error().message);
  }
  return 0;
}

// A KMS key as `aws kms describe-key` prints its KeyMetadata, plus the key's aliases and
// current version (berth's additions, so one command shows what KMS spreads over several).
boost::json::object KeyJson(const berth::kms::KeyMetadata& k, const std::string& account_id) {
  boost::json::object o;
  o["AWSAccountId"] = account_id;
  o["KeyId"] = k.key_id;
  o["Arn"] = k.arn;
  o["CreationDate"] = berth::FormatRfc3339(k.created_at);
  o["Enabled"] = k.state == berth::kms::KeyState::kEnabled;
  o["Description"] = k.description;
  o["KeyUsage"] = "ENCRYPT_DECRYPT";
  o["KeyState"] = berth::kms::KeyStateName(k.state);
  if (k.deletion_date != 0) {
    o["DeletionDate"] = berth::FormatRfc3339(k.deletion_date);
  }
  o["Origin"] = "AWS_KMS";
  o["KeyManager"] = k.aws_managed ? "AWS" : "CUSTOMER";
  o["KeySpec"] = "SYMMETRIC_DEFAULT";
  boost::json::array aliases;
  for (const auto& a : k.aliases) {
    aliases.emplace_back(a);
  }
  o["Aliases"] = std::move(aliases);
  o["CurrentKeyVersion"] = k.current_version;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berth: a self-hosted container image registry with Amazon ECR's model"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "berth 0.1.0");

  berth::cli::Config config;
  std::string config_file;
  std::optional<std::string> listen, data_dir, log_level, log_format, upload_ttl;
  bool no_access_log = false;

  CLI::App* serve = app.add_subcommand("serve", "Run the registry server");
  serve->add_option("--config", config_file, "YAML configuration file");
  serve->add_option("--listen", listen,
                    "HOST:PORT for plain HTTP (default 127.0.0.1:5000; with TLS configured, "
                    "plain HTTP is served only when this is given)");
  std::optional<std::string> tls_listen, tls_cert, tls_key, tls_client_ca, tls_client_auth;
  serve->add_option("--tls-listen", tls_listen, "HOST:PORT for HTTPS (default 127.0.0.1:5443)");
  serve->add_option("--tls-cert-file", tls_cert, "PEM certificate (chain): turns HTTPS on");
  serve->add_option("--tls-key-file", tls_key, "PEM private key of the certificate");
  serve->add_option("--tls-client-ca-file", tls_client_ca,
                    "PEM CA that issues client certificates (mTLS)");
  serve->add_option("--tls-client-auth", tls_client_auth,
                    "none|optional|require (default: optional with a client CA)");
  serve->add_option("--data-dir", data_dir, "Directory for blobs and metadata (default ./data)");
  serve->add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  serve->add_option("--log-format", log_format, "text|json");
  serve->add_option("--upload-ttl", upload_ttl,
                    "Idle time after which an unfinished upload is removed (e.g. 3600, 24h)");
  serve->add_flag("--no-access-log", no_access_log, "Do not log every request");
  std::optional<std::string> account_id, region, public_url, token_ttl;
  serve->add_option("--account-id", account_id, "12-digit registry id (first start only)");
  serve->add_option("--region", region, "Region in ARNs and signatures (default us-east-1)");
  serve->add_option("--public-url", public_url,
                    "URL clients reach this registry at (default https://<tls-listen> with TLS, "
                    "else http://<listen>)");
  serve->add_option("--token-ttl", token_ttl, "Lifetime of registry auth tokens (default 12h)");

  // berth admin: offline administration of a data directory (safe while the server runs).
  std::string admin_dir = "./data";
  CLI::App* admin =
      app.add_subcommand("admin", "Administer users, access keys, policies and KMS keys");
  admin->add_option("--data-dir", admin_dir, "Data directory (default ./data)");
  admin->require_subcommand(1);
  CLI::App* user = admin->add_subcommand("user", "Users")->require_subcommand(1);
  std::string user_name, user_kind = "user";
  CLI::App* user_create = user->add_subcommand("create", "Create a user");
  user_create->add_option("name", user_name)->required();
  user_create->add_option("--kind", user_kind, "user or role");
  CLI::App* user_list = user->add_subcommand("list", "List users");
  CLI::App* user_delete = user->add_subcommand("delete", "Delete a user and its keys");
  user_delete->add_option("name", user_name)->required();
  CLI::App* access_key =
      admin->add_subcommand("access-key", "Access keys (AWS credentials)")->require_subcommand(1);
  std::string key_user, key_id;
  CLI::App* key_create = access_key->add_subcommand("create", "Create an access key for a user");
  key_create->add_option("user", key_user)->required();
  CLI::App* key_list = access_key->add_subcommand("list", "List access keys");
  key_list->add_option("--user", key_user);
  CLI::App* key_delete = access_key->add_subcommand("delete", "Delete an access key");
  key_delete->add_option("id", key_id)->required();
  // berth admin key: the built-in KMS keys that encrypt data keys (kms/builtin_key_service.h).
  CLI::App* kms =
      admin->add_subcommand("key", "KMS keys (encryption at rest)")->require_subcommand(1);
  std::string kms_key, kms_alias, kms_description;
  int kms_window_days = 30;
  CLI::App* kms_create = kms->add_subcommand("create", "Create a customer managed key");
  kms_create->add_option("--alias", kms_alias, "Also create this alias (alias/NAME)");
  kms_create->add_option("--description", kms_description, "Description");
  CLI::App* kms_list = kms->add_subcommand("list", "List keys (customer and AWS managed)");
  CLI::App* kms_describe = kms->add_subcommand("describe", "Print one key");
  CLI::App* kms_enable = kms->add_subcommand("enable", "Enable a disabled key");
  CLI::App* kms_disable =
      kms->add_subcommand("disable", "Disable a key: data it protects cannot be read meanwhile");
  CLI::App* kms_rotate =
      kms->add_subcommand("rotate", "Add a key version for new data; old data stays readable");
  CLI::App* kms_schedule = kms->add_subcommand(
      "schedule-deletion", "Schedule deletion: after the window, data it protects is lost");
  kms_schedule->add_option("--pending-window-days", kms_window_days, "7-30 (default 30)")
      ->check(CLI::Range(7, 30));
  CLI::App* kms_cancel = kms->add_subcommand(
      "cancel-deletion", "Cancel a scheduled deletion (the key stays disabled)");
  for (CLI::App* cmd :
       {kms_describe, kms_enable, kms_disable, kms_rotate, kms_schedule, kms_cancel}) {
    cmd->add_option("key", kms_key, "Key id, key ARN, alias name or alias ARN")->required();
  }
  CLI::App* kms_alias_create = kms->add_subcommand("create-alias", "Point a new alias at a key");
  kms_alias_create->add_option("alias", kms_alias, "alias/NAME")->required();
  kms_alias_create->add_option("key", kms_key, "Key id, key ARN, alias name or alias ARN")
      ->required();
  std::string rewrap_key;
  CLI::App* kms_rewrap = kms->add_subcommand(
      "rewrap", "Move stored data keys to their key's newest version (after rotate)");
  kms_rewrap->add_option("key", rewrap_key, "Only this key (default: every key)");
  CLI::App* kms_alias_delete = kms->add_subcommand("delete-alias", "Delete an alias");
  kms_alias_delete->add_option("alias", kms_alias, "alias/NAME")->required();
  CLI::App* policy = admin->add_subcommand("policy", "Identity policies")->require_subcommand(1);
  std::string policy_user, policy_name;
  CLI::App* policy_attach = policy->add_subcommand("attach", "Attach a managed policy");
  policy_attach->add_option("user", policy_user)->required();
  policy_attach->add_option("policy", policy_name, "name or ARN")->required();
  CLI::App* policy_detach = policy->add_subcommand("detach", "Detach a policy");
  policy_detach->add_option("user", policy_user)->required();
  policy_detach->add_option("policy", policy_name, "name or ARN")->required();
  CLI::App* policy_list = policy->add_subcommand("list", "List AWS managed and customer policies");
  std::string policy_document;
  CLI::App* policy_create =
      policy->add_subcommand("create", "Create a customer-managed identity policy");
  policy_create->add_option("name", policy_name)->required();
  policy_create->add_option("--document", policy_document, "IAM policy JSON file ('-': stdin)")
      ->required();
  CLI::App* policy_show = policy->add_subcommand("show", "Print a policy document");
  policy_show->add_option("policy", policy_name, "name or ARN")->required();
  CLI::App* policy_delete =
      policy->add_subcommand("delete", "Delete a customer policy (detach it first)");
  policy_delete->add_option("policy", policy_name, "name or ARN")->required();

  // berth admin tls: certificates for development and for client authentication.
  CLI::App* tls = admin->add_subcommand("tls", "TLS certificates")->require_subcommand(1);
  berth::cli::SelfSignedOptions self_signed;
  CLI::App* tls_self_signed = tls->add_subcommand(
      "self-signed", "Create a development CA (kept if present) and a server certificate");
  tls_self_signed->add_option("--host", self_signed.hosts, "DNS name or IP address (repeatable)")
      ->required();
  tls_self_signed->add_option("--out-dir", self_signed.out_dir, "Output directory (default .)");
  tls_self_signed->add_option("--days", self_signed.days, "Server certificate lifetime (365)");
  berth::cli::ClientCertOptions client_cert;
  CLI::App* tls_client_cert = tls->add_subcommand(
      "client-cert", "Issue a client certificate (CN = a berth user) from the development CA");
  tls_client_cert->add_option("--ca-dir", client_cert.ca_dir, "Directory with ca.pem, ca-key.pem")
      ->required();
  tls_client_cert->add_option("--user", client_cert.user, "berth user name")->required();
  tls_client_cert->add_option("--out-dir", client_cert.out_dir, "Output directory (default: CA's)");
  tls_client_cert->add_option("--days", client_cert.days, "Lifetime in days (365)");
  // berth admin master-key rotate: re-seal everything under a new master key (cli/master_key.h).
  std::string new_key_file;
  CLI::App* master_key =
      admin->add_subcommand("master-key", "The master key that seals keys and secrets")
          ->require_subcommand(1);
  CLI::App* master_rotate = master_key->add_subcommand(
      "rotate", "Re-seal everything under a new master key (stop the server first)");
  master_rotate
      ->add_option("--new-key-file", new_key_file, "File holding the new key (exactly 32 bytes)")
      ->required();

  // berth admin audit: read the audit trail.
  berth::server::AuditFilter audit_filter;
  std::string audit_since, audit_until, audit_dir;
  bool audit_json = false;
  CLI::App* audit = admin->add_subcommand("audit", "Show audit-log entries (oldest first)");
  audit->add_option("--principal", audit_filter.principal, "ARN, user or role name, or anonymous");
  audit->add_option("--action", audit_filter.action, "e.g. ecr:PutImage");
  audit->add_option("--repository", audit_filter.repository, "repository name");
  audit->add_option("--result", audit_filter.result, "success, denied or failure")
      ->check(CLI::IsMember({"success", "denied", "failure"}));
  audit->add_option("--since", audit_since, "RFC 3339 time (inclusive)");
  audit->add_option("--until", audit_until, "RFC 3339 time (exclusive)");
  audit->add_option("--audit-dir", audit_dir, "Audit directory (default <data-dir>/audit)");
  audit->add_flag("--json", audit_json, "Print the JSON lines as stored");

  // berth lifecycle run, berth gc: ask a running server to do the work (its admin API).
  berth::cli::RemoteOptions remote;
  std::string lifecycle_repository;
  CLI::App* lifecycle = app.add_subcommand("lifecycle", "Lifecycle policies on a running server");
  lifecycle->require_subcommand(1);
  CLI::App* lifecycle_run =
      lifecycle->add_subcommand("run", "Apply lifecycle policies now and report what was done");
  lifecycle_run->add_option("--repository", lifecycle_repository,
                            "Only this repository (default: every repository with a policy)");
  CLI::App* gc = app.add_subcommand(
      "gc", "Collect garbage now on a running server: unreferenced blobs, stale uploads");
  for (CLI::App* cmd : {lifecycle_run, gc}) {
    cmd->add_flag("--dry-run", remote.dry_run, "Report what would be done; change nothing");
    cmd->add_option("--endpoint", remote.endpoint, "URL of the berth server (http://HOST:PORT)")
        ->required();
    cmd->add_option("--region", remote.region,
                    "Signing region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)");
    cmd->add_flag("--json", remote.json, "Print the final job state as JSON");
  }

  CLI11_PARSE(app, argc, argv);

  if (lifecycle_run->parsed()) {
    return berth::cli::RunLifecycle(remote, lifecycle_repository);
  }
  if (gc->parsed()) {
    return berth::cli::RunGc(remote);
  }

  if (tls_self_signed->parsed() || tls_client_cert->parsed()) {
    berth::Status s = tls_self_signed->parsed() ? berth::cli::WriteSelfSigned(self_signed)
                                                : berth::cli::WriteClientCert(client_cert);
    if (!s.ok()) {
      return Fail(s.error().message);
    }
    return 0;
  }

  if (admin->parsed()) {
    berth::cli::Config c;
    c.data_dir = admin_dir;
    if (auto s = berth::cli::ApplyEnvironment(c); !s.ok()) {
      return Fail(s.error().message);
    }
    c.data_dir = admin_dir;
    if (audit->parsed()) {
      if (!audit_dir.empty()) {
        c.audit_dir = audit_dir;
      }
      return ShowAudit(berth::cli::AuditDir(c), audit_filter, audit_since, audit_until, audit_json);
    }
    auto meta = OpenMetadataStore(c, 1);
    if (!meta.ok()) {
      return Fail("cannot open metadata database: " + meta.error().message);
    }
    auto master = berth::registry::LoadOrCreateMasterKey(MasterKeyPath(c));
    if (!master.ok()) {
      return Fail("master key: " + master.error().message);
    }
    if (master_rotate->parsed()) {
      // Runs before the master-key check below: that check refuses an unfinished rotation,
      // which this command exists to finish.
      if (const char* env = std::getenv("BERTH_MASTER_KEY"); env != nullptr && *env != '\0') {
        return Fail(
            "the master key comes from BERTH_MASTER_KEY; rotation replaces the key file: put "
            "the current key in a file (master_key_file) and unset BERTH_MASTER_KEY first");
      }
      auto fresh = berth::cli::ReadKeyFile(new_key_file);
      if (!fresh.ok()) {
        return Fail(fresh.error().message);
      }
      auto r = berth::cli::RotateMasterKeyBlocking(**meta, MasterKeyPath(c), *fresh);
      if (!r.ok()) {
        return Fail("master-key rotate: " + r.error().message);
      }
      std::printf(
          "re-sealed %zu KMS key versions and %zu access-key secrets; %s now holds the new key "
          "(fingerprint %s); the previous key is kept in %s. Start the server with the new key; "
          "registry login tokens issued before are no longer valid.\n",
          r->kms_key_versions, r->access_keys, MasterKeyPath(c).c_str(),
          berth::registry::MasterKeyFingerprint(*fresh).c_str(), r->old_key_path.c_str());
      return 0;
    }
    if (auto s = berth::cli::CheckMasterKeyBlocking(**meta, *master); !s.ok()) {
      return Fail("master key: " + s.error().message);
    }
    berth::registry::Identity id(**meta, *master, berth::SystemClock::Get(), nullptr);
    auto boot = id.BootstrapBlocking(c.account_id, c.region);
    if (!boot.ok()) {
      return Fail(boot.error().message);
    }
    if (*boot) {
      WriteCredentialsFile(c.data_dir + "/admin-credentials", **boot);
    }
    auto check = [](const berth::Status& s) {
      if (!s.ok()) {
        return Fail(s.error().message);
      }
      return 0;
    };
    if (user_create->parsed()) {
      return check(id.CreateUserBlocking(user_name, user_kind));
    }
    if (user_delete->parsed()) {
      return check(id.DeleteUserBlocking(user_name));
    }
    if (user_list->parsed()) {
      auto users = id.ListUsersBlocking();
      if (!users.ok()) {
        return Fail(users.error().message);
      }
      for (const auto& u : *users) {
        std::string policies;
        for (const auto& p : u.policy_arns) {
          policies += (policies.empty() ? "" : ",") + p;
        }
        std::printf("%s\t%s\t%s\n", u.name.c_str(), u.kind.c_str(), policies.c_str());
      }
      return 0;
    }
    if (key_create->parsed()) {
      auto k = id.CreateAccessKeyBlocking(key_user);
      if (!k.ok()) {
        return Fail(k.error().message);
      }
      std::printf("{\"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", \"UserName\": \"%s\"}\n",
                  k->id.c_str(), std::string(k->secret.reveal()).c_str(), key_user.c_str());
      return 0;
    }
    if (key_list->parsed()) {
      auto keys = id.ListAccessKeysBlocking(key_user);
      if (!keys.ok()) {
        return Fail(keys.error().message);
      }
      for (const auto& k : *keys) {
        std::printf("%s\t%s\t%s\n", k.id.c_str(), k.user.c_str(), k.status.c_str());
      }
      return 0;
    }
    if (key_delete->parsed()) {
      return check(id.DeleteAccessKeyBlocking(key_id));
    }
    if (kms->parsed()) {
      // Changes made here are audited like the server's key usage.
      std::unique_ptr<berth::server::AuditLog> key_audit;
      if (auto a = berth::server::AuditLog::Open(
              {berth::cli::AuditDir(c), c.audit_max_file_bytes, c.audit_keep_files});
          a.ok()) {
        key_audit = std::move(*a);
      }
      berth::kms::BuiltinKeyServiceOptions ko;
      ko.on_key_usage = [&key_audit](const berth::kms::KeyUsageEvent& e) {
        if (key_audit) {
          key_audit->Append(berth::server::KeyUsageRecord(e, "berth:admin-cli",
                                                          berth::SystemClock::Get().NowMillis()));
        }
      };
      berth::kms::BuiltinKeyService keys(**meta, *master, berth::SystemClock::Get(),
                                         id.account().region, id.account().registry_id, ko);
      const std::string& account = id.account().registry_id;
      auto print = [&](const berth::Result<berth::kms::KeyMetadata>& k) {
        if (!k.ok()) {
          return Fail(k.error().message);
        }
        std::printf("%s\n", boost::json::serialize(KeyJson(*k, account)).c_str());
        return 0;
      };
      if (kms_create->parsed()) {
        std::optional<std::string> alias;
        if (!kms_alias.empty()) {
          alias = kms_alias;
        }
        return print(keys.CreateKey(kms_description, alias));
      }
      if (kms_list->parsed()) {
        auto all = keys.ListKeys();
        if (!all.ok()) {
          return Fail(all.error().message);
        }
        boost::json::array out;
        for (const auto& k : *all) {
          out.emplace_back(KeyJson(k, account));
        }
        std::printf("%s\n", boost::json::serialize(boost::json::object{{"Keys", out}}).c_str());
        return 0;
      }
      if (kms_describe->parsed()) {
        return print(keys.DescribeKey(kms_key));
      }
      if (kms_enable->parsed()) {
        return print(keys.EnableKey(kms_key));
      }
      if (kms_disable->parsed()) {
        return print(keys.DisableKey(kms_key));
      }
      if (kms_rotate->parsed()) {
        return print(keys.RotateKey(kms_key));
      }
      if (kms_schedule->parsed()) {
        return print(keys.ScheduleKeyDeletion(kms_key, kms_window_days));
      }
      if (kms_cancel->parsed()) {
        return print(keys.CancelKeyDeletion(kms_key));
      }
      if (kms_alias_create->parsed()) {
        if (auto s = keys.CreateAlias(kms_alias, kms_key); !s.ok()) {
          return Fail(s.error().message);
        }
        return print(keys.DescribeKey(kms_alias));
      }
      if (kms_alias_delete->parsed()) {
        return check(keys.DeleteAlias(kms_alias));
      }
      if (kms_rewrap->parsed()) {
        std::string only;
        if (!rewrap_key.empty()) {
          auto k = keys.DescribeKey(rewrap_key);
          if (!k.ok()) {
            return Fail(k.error().message);
          }
          only = k->key_id;
        }
        auto blobs = OpenBlobStore(c);
        if (!blobs.ok()) {
          return Fail(blobs.error().message);
        }
        auto report = berth::storage::RewrapDataKeys(**blobs, keys, only, nullptr);
        if (!report.ok()) {
          return Fail(report.error().message);
        }
        std::printf("{\"Examined\": %llu, \"Rewrapped\": %llu, \"Failed\": %llu}\n",
                    static_cast<unsigned long long>(report->examined),
                    static_cast<unsigned long long>(report->rewrapped),
                    static_cast<unsigned long long>(report->failed));
        return report->failed == 0 ? 0 : 1;
      }
      return 0;
    }
    if (policy_attach->parsed()) {
      return check(id.AttachPolicyBlocking(policy_user, policy_name));
    }
    if (policy_detach->parsed()) {
      return check(id.DetachPolicyBlocking(policy_user, policy_name));
    }
    if (policy_list->parsed()) {
      for (const auto& p : berth::iam::ManagedPolicies()) {
        std::printf("%.*s\t%.*s\tAWS managed\n", static_cast<int>(p.name.size()), p.name.data(),
                    static_cast<int>(p.arn.size()), p.arn.data());
      }
      auto custom = id.ListPoliciesBlocking();
      if (!custom.ok()) {
        return Fail(custom.error().message);
      }
      for (const auto& p : *custom) {
        std::printf("%s\t%s\tcustomer managed\n", p.name.c_str(), p.arn.c_str());
      }
      return 0;
    }
    if (policy_create->parsed()) {
      std::string doc;
      if (policy_document == "-") {
        doc.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      } else {
        std::ifstream in(policy_document);
        if (!in) {
          return Fail("cannot read " + policy_document);
        }
        doc.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      auto s = id.CreatePolicyBlocking(policy_name, doc);
      if (!s.ok()) {
        return Fail(s.error().message);
      }
      std::printf("arn:aws:iam::%s:policy/%s\n", id.account().registry_id.c_str(),
                  policy_name.c_str());
      return 0;
    }
    if (policy_show->parsed()) {
      if (const auto* m = berth::iam::FindManagedPolicy(policy_name)) {
        std::printf("%.*s\n", static_cast<int>(m->document.size()), m->document.data());
        return 0;
      }
      auto p = id.GetPolicyBlocking(policy_name);
      if (!p.ok()) {
        return Fail(p.error().message);
      }
      std::printf("%s\n", p->document.c_str());
      return 0;
    }
    if (policy_delete->parsed()) {
      return check(id.DeletePolicyBlocking(policy_name));
    }
    return 0;
  }

  if (serve->parsed()) {
    if (!config_file.empty()) {
      if (auto s = berth::cli::ApplyConfigFile(config_file, config); !s.ok()) {
        return Fail(s.error().message);
      }
    }
    if (auto s = berth::cli::ApplyEnvironment(config); !s.ok()) {
      return Fail(s.error().message);
    }
    if (listen) {
      config.listen = *listen;
      config.listen_explicit = true;
    }
    if (tls_listen) {
      config.tls_listen = *tls_listen;
    }
    if (tls_cert) {
      config.tls_cert_file = *tls_cert;
    }
    if (tls_key) {
      config.tls_key_file = *tls_key;
    }
    if (tls_client_ca) {
      config.tls_client_ca_file = *tls_client_ca;
    }
    if (tls_client_auth) {
      config.tls_client_auth = *tls_client_auth;
    }
    if (data_dir) {
      config.data_dir = *data_dir;
    }
    if (log_level) {
      config.log_level = *log_level;
    }
    if (log_format) {
      config.log_format = *log_format;
    }
    if (upload_ttl) {
      auto ttl = berth::cli::ParseSeconds("--upload-ttl", *upload_ttl);
      if (!ttl.ok()) {
        return Fail(ttl.error().message);
      }
      config.upload_ttl_seconds = *ttl;
    }
    if (no_access_log) {
      config.access_log = false;
    }
    if (account_id) {
      config.account_id = *account_id;
    }
    if (region) {
      config.region = *region;
    }
    if (public_url) {
      config.public_url = *public_url;
    }
    if (token_ttl) {
      auto ttl = berth::cli::ParseSeconds("--token-ttl", *token_ttl);
      if (!ttl.ok()) {
        return Fail(ttl.error().message);
      }
      config.token_ttl_seconds = *ttl;
    }
    return Serve(std::move(config));
  }
  return 0;
}
