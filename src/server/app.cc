#include "server/app.h"

#include <signal.h>

#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/ecr/ecr_api.h"
#include "api/oci/errors.h"
#include "api/oci/oci_api.h"
#include "auth/authenticator.h"
#include "auth/authorizer.h"
#include "base/blocking.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/strings.h"
#include "kms/builtin_key_service.h"
#include "server/metrics.h"
#include "storage/crypto/encrypted_blob_store.h"

namespace berth::server {

namespace asio = boost::asio;

struct App::Impl {
  AppOptions options;
  std::unique_ptr<meta::MetadataStore> meta;
  std::unique_ptr<storage::BlobStore> blobs;
  asio::io_context ioc;
  asio::thread_pool pool;
  registry::Registry registry;
  std::unique_ptr<auth::Authorizer> authorizer;  // set by Bootstrap (needs the account)
  std::unique_ptr<api::oci::OciApi> oci;
  Secret master_key;
  registry::Identity identity;
  auth::TokenService tokens;
  auth::Authenticator authenticator;
  std::unique_ptr<lifecycle::Runner> runner;
  std::unique_ptr<Housekeeping> housekeeping;
  std::unique_ptr<api::ecr::EcrApi> ecr;
  Metrics metrics;
  std::unique_ptr<AuditLog> audit;
  // Encryption at rest (set up by Bootstrap when on).
  std::unique_ptr<kms::BuiltinKeyService> keys;
  std::shared_ptr<kms::DataKeyCache> key_cache;
  std::mutex enc_mu;
  std::unordered_map<std::string, std::unique_ptr<storage::EncryptedBlobStore>> enc_stores;
  std::unique_ptr<http::TlsContext> tls;
  std::unique_ptr<http::Server> server;      // plain HTTP, if served
  std::unique_ptr<http::Server> tls_server;  // HTTPS, if served
  asio::signal_set signals;
  asio::signal_set reload_signals;
  asio::steady_timer purge_timer;
  asio::steady_timer pull_timer;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};

  Impl(AppOptions opts, std::unique_ptr<meta::MetadataStore> m,
       std::unique_ptr<storage::BlobStore> b, Secret key, int io_threads, int blocking_threads)
      : options(std::move(opts)),
        meta(std::move(m)),
        blobs(std::move(b)),
        ioc(io_threads),
        pool(static_cast<size_t>(blocking_threads)),
        registry(*meta, *blobs, pool, SystemClock::Get(), options.registry),
        master_key(std::move(key)),
        identity(*meta, master_key, SystemClock::Get(), &pool),
        tokens(master_key, SystemClock::Get()),
        authenticator(identity, tokens, SystemClock::Get()),
        signals(ioc, SIGINT, SIGTERM),
        reload_signals(ioc, SIGHUP),
        purge_timer(ioc),
        pull_timer(ioc) {
    runner = std::make_unique<lifecycle::Runner>(
        registry, SystemClock::Get(),
        [this](const lifecycle::AppliedAction& a) { OnLifecycleAction(a); });
    housekeeping = std::make_unique<Housekeeping>(ioc, registry, *runner, SystemClock::Get(),
                                                  options.housekeeping);
  }

  // Every use of or change to a key, in the audit log (never key bytes).
  void OnKeyUsage(const kms::KeyUsageEvent& e) {
    if (audit) {
      audit->Append(KeyUsageRecord(e, "berth:storage", SystemClock::Get().NowMillis()));
    }
  }

  // The key a new repository is encrypted under, from its encryptionConfiguration: AES256 uses
  // the registry's service key, KMS a customer key (or ECR's default alias/aws/ecr).
  Result<std::string> ResolveRepositoryKey(meta::RepositoryRecord& r) {
    if (r.encryption_type == "AES256") {
      BERTH_ASSIGN_OR_RETURN(kms::KeyMetadata m, keys->EnsureManagedKey("alias/berth/aes256"));
      return m.key_id;
    }
    if (r.kms_key.empty()) {
      BERTH_ASSIGN_OR_RETURN(kms::KeyMetadata m, keys->EnsureManagedKey("alias/aws/ecr"));
      r.kms_key = m.arn;
      return m.key_id;
    }
    auto m = keys->DescribeKey(r.kms_key);
    if (!m.ok()) {
      if (m.error().code == Errc::kNotFound || m.error().code == Errc::kInvalidArgument) {
        return MakeError(Errc::kKeyUnavailable, "KMS key " + r.kms_key + " was not found");
      }
      return std::move(m).error();
    }
    if (m->state != kms::KeyState::kEnabled) {
      return MakeError(Errc::kKeyUnavailable,
                       m->arn + " is " + std::string(kms::KeyStateName(m->state)) + ".");
    }
    r.kms_key = m->arn;
    return m->key_id;
  }

  storage::BlobStore& EncryptingStore(const std::string& key_id) {
    std::lock_guard lock(enc_mu);
    auto& slot = enc_stores[key_id];
    if (!slot) {
      storage::EncryptionOptions eo;
      eo.segment_size = options.encryption_segment_size;
      slot = std::make_unique<storage::EncryptedBlobStore>(*blobs, *keys, key_id, key_cache, eo);
    }
    return *slot;
  }

  // The key service is always set up (keys can be managed, encrypted repositories read); new
  // repositories get a key only while encryption at rest is on.
  void SetUpEncryption(bool at_rest) {
    kms::BuiltinKeyServiceOptions ko;
    ko.on_key_usage = [this](const kms::KeyUsageEvent& e) { OnKeyUsage(e); };
    keys = std::make_unique<kms::BuiltinKeyService>(*meta, master_key, SystemClock::Get(),
                                                    identity.account().region,
                                                    identity.account().registry_id, ko);
    key_cache = std::make_shared<kms::DataKeyCache>(4096);
    registry::EncryptionHooks hooks;
    hooks.resolve_key = [this, at_rest](meta::RepositoryRecord& r) -> Result<std::string> {
      if (!at_rest) {
        return std::string();
      }
      return ResolveRepositoryKey(r);
    };
    hooks.store_for = [this](const std::string& id) -> storage::BlobStore& {
      return EncryptingStore(id);
    };
    hooks.keys = keys.get();
    hooks.key_cache = key_cache;
    registry.SetEncryption(std::move(hooks));
  }

  // Every image a lifecycle run expired or archived: counted, and written to the audit log
  // with the rule that took it.
  void OnLifecycleAction(const lifecycle::AppliedAction& a) {
    housekeeping->CountAction(a);
    if (!audit) {
      return;
    }
    boost::json::object o;
    o["time"] = FormatAuditTime(SystemClock::Get().NowMillis());
    o["api"] = "lifecycle";
    o["principal"] = "berth:lifecycle";
    o["action"] = a.type == lifecycle::ActionType::kExpire ? "lifecycle:Expire"
                                                           : "lifecycle:TransitionToArchive";
    o["resource"] = iam::RepositoryArn(identity.account(), a.repository);
    o["repository"] = a.repository;
    o["image_digest"] = a.digest;
    boost::json::array tags;
    for (const auto& t : a.tags) {
      tags.emplace_back(t);
    }
    o["image_tags"] = std::move(tags);
    o["rule_priority"] = a.rule_priority;
    if (a.referrer) {
      o["referrer_of_expired_image"] = true;
    }
    o["result"] = "success";
    audit->Append(boost::json::serialize(o));
  }

  asio::awaitable<http::Response> Handle(http::Request& req) {
    std::string_view target = req.target();
    std::string_view raw_path = target.substr(0, target.find('?'));
    std::string query;
    if (auto qm = target.find('?'); qm != std::string_view::npos) {
      query = std::string(target.substr(qm + 1));
    }
    std::string path;
    if (raw_path.find('%') == std::string_view::npos) {
      path = std::string(raw_path);
    } else {
      auto u = boost::urls::parse_origin_form(raw_path);
      if (!u) {
        http::Response r;
        r.status = 400;
        r.Set("Content-Type", "text/plain");
        r.body = "malformed request target\n";
        co_return r;
      }
      path = std::string(u->path());
    }
    if (path == "/healthz") {
      http::Response r;
      r.Set("Content-Type", "text/plain");
      r.body = "ok\n";
      r.route = "healthz";
      co_return r;
    }
    if (path == "/metrics") {
      http::Response r;
      r.Set("Content-Type", "text/plain; version=0.0.4");
      metrics.Render(r.body);
      housekeeping->RenderMetrics(r.body);
      auto stats = co_await registry.Stats();
      if (stats.ok()) {
        char buf[1024];
        std::snprintf(buf, sizeof buf,
                      "# HELP berth_repositories Repositories in the registry.\n"
                      "# TYPE berth_repositories gauge\nberth_repositories %llu\n"
                      "# HELP berth_blobs_stored Distinct blobs stored.\n"
                      "# TYPE berth_blobs_stored gauge\nberth_blobs_stored %llu\n"
                      "# HELP berth_blob_bytes_stored Bytes of distinct blobs stored.\n"
                      "# TYPE berth_blob_bytes_stored gauge\nberth_blob_bytes_stored %llu\n"
                      "# HELP berth_manifests_stored Manifests stored (per repository).\n"
                      "# TYPE berth_manifests_stored gauge\nberth_manifests_stored %llu\n"
                      "# HELP berth_uploads_in_progress Upload sessions open.\n"
                      "# TYPE berth_uploads_in_progress gauge\nberth_uploads_in_progress %llu\n",
                      static_cast<unsigned long long>(stats->repositories),
                      static_cast<unsigned long long>(stats->blobs),
                      static_cast<unsigned long long>(stats->blob_bytes),
                      static_cast<unsigned long long>(stats->manifests),
                      static_cast<unsigned long long>(stats->uploads));
        r.body += buf;
      }
      r.route = "metrics";
      co_return r;
    }
    if (path == "/" && req.method() == boost::beast::http::verb::post &&
        req.has_header("X-Amz-Target")) {
      co_return co_await ecr->Handle(req);
    }
    if (path == "/v2" || path.starts_with("/v2/")) {
      auto principal = co_await AuthenticateOci(req, query);
      const bool head = req.method() == boost::beast::http::verb::head;
      if (!principal.ok() && principal.error().code != Errc::kAuthMissing) {
        http::Response r = Unauthorized(principal.error(), head);
        api::oci::OciApi::AnnotateTarget(path, req.method(), query, req.has_body(),
                                         identity.account(), r);
        co_return r;
      }
      auth::Caller caller;
      if (principal.ok()) {
        caller.principal = std::move(*principal);  // else anonymous
      }
      caller.source_ip = req.remote_address();
      caller.secure_transport = req.secure();
      caller.user_agent = std::string(req.header("User-Agent"));
      if (path == "/v2/token") {
        if (caller.principal.anonymous()) {
          co_return Unauthorized(MakeError(Errc::kAuthMissing, "authentication required"), head);
        }
        if (caller.principal.access_key_id.empty()) {
          // A client certificate: tokens are revoked through their access key, and this
          // caller has none. The certificate authenticates every request by itself.
          co_return Unauthorized(
              MakeError(Errc::kAuthMalformed,
                        "bearer tokens need access-key credentials; a client certificate "
                        "authenticates each request without one"),
              head);
        }
        co_return IssueBearer(caller.principal, query);
      }
      http::Response r =
          co_await oci->Handle(req, std::move(path), std::move(query), std::move(caller));
      if (r.status == 401) {
        r.Set("WWW-Authenticate", "Basic realm=\"" + public_url + "\"");
      }
      co_return r;
    }
    http::Response r;
    r.status = 404;
    r.Set("Content-Type", "text/plain");
    r.body = "not found\n";
    co_return r;
  }

  // OCI credentials: a presigned URL (GetDownloadUrlForLayer), an Authorization header, or a
  // client certificate.
  asio::awaitable<Result<iam::Principal>> AuthenticateOci(http::Request& req,
                                                          const std::string& query) {
    if (query.find("X-Amz-Signature=") != std::string::npos) {
      auth::HttpRequestView view;
      view.method = std::string(req.method_string());
      view.target = std::string(req.target());
      view.headers = req.headers();
      co_return co_await authenticator.AuthenticateSigV4(std::move(view), "ecr",
                                                         identity.account().region);
    }
    // Credentials in the request win; a verified client certificate (TLS only) comes last.
    if (!req.has_header("Authorization") && !req.client_subject().empty()) {
      co_return co_await authenticator.AuthenticateClientCertificate(req.client_subject());
    }
    co_return co_await authenticator.AuthenticateHeader(std::string(req.header("Authorization")));
  }

  http::Response Unauthorized(const Error& e, bool head) {
    http::Response r = api::oci::ErrorResponse(
        401, "UNAUTHORIZED", e.code == Errc::kAuthMissing ? "authentication required" : e.message,
        {}, head);
    r.Set("WWW-Authenticate", "Basic realm=\"" + public_url + "\"");
    r.Set("Docker-Distribution-API-Version", "registry/2.0");
    r.route = "unauthorized";
    r.Annotate("principal", "anonymous");
    return r;
  }

  // Docker token authentication (distribution docs/spec/auth/token.md): a short-lived bearer
  // token for the requested scope, obtained with Basic credentials.
  http::Response IssueBearer(const iam::Principal& p, const std::string& query) {
    std::string scope;
    if (auto pos = query.find("scope="); pos != std::string::npos) {
      scope = query.substr(pos + 6, query.find('&', pos) - pos - 6);
    }
    int64_t now = SystemClock::Get().NowSeconds();
    constexpr int64_t kBearerTtl = 300;
    std::string token = tokens.Issue(
        auth::TokenClaims{"bearer", p.name, p.access_key_id, scope, now, now + kBearerTtl});
    boost::json::object o;
    o["token"] = token;
    o["access_token"] = token;
    o["expires_in"] = kBearerTtl;
    o["issued_at"] = FormatRfc3339(now);
    http::Response r;
    r.Set("Content-Type", "application/json");
    r.body = boost::json::serialize(o);
    r.route = "token";
    return r;
  }

  std::string public_url;

  // Records state-changing and refused requests in the audit trail.
  void Audit(const http::Completion& c) {
    if (!audit || c.response == nullptr) {
      return;
    }
    const http::Response& r = *c.response;
    std::string_view principal = r.Annotation("principal");
    if (principal.empty()) {
      return;  // not an API request (health, metrics, unknown paths)
    }
    std::string_view path = c.target.substr(0, c.target.find('?'));
    bool is_ecr = r.route.starts_with("ecr");
    std::string_view error = r.Annotation("error");
    bool denied = c.status == 401 || c.status == 403 || error == "AccessDeniedException";
    bool mutating =
        is_ecr ? !r.Annotation("mutating").empty() : (c.method != "GET" && c.method != "HEAD");
    if (!mutating && !denied) {
      return;
    }
    if (denied && principal == "anonymous" && (path == "/v2/" || path == "/v2")) {
      return;  // the anonymous ping that tells clients to send credentials
    }
    boost::json::object o;
    o["time"] = FormatAuditTime(SystemClock::Get().NowMillis());
    o["request_id"] = c.request_id;
    o["api"] = is_ecr ? "ecr" : "oci";
    o["principal"] = principal;
    if (auto k = r.Annotation("access_key_id"); !k.empty()) {
      o["access_key_id"] = k;
    }
    if (auto a = r.Annotation("action"); !a.empty()) {
      o["action"] = a;
    }
    if (auto res = r.Annotation("resource"); !res.empty()) {
      o["resource"] = res;
    }
    if (auto repo = r.Annotation("repository"); !repo.empty()) {
      o["repository"] = repo;
    }
    o["source_ip"] = c.remote;
    o["user_agent"] = c.user_agent;
    o["method"] = c.method;
    o["path"] = path;
    o["status"] = c.status;
    o["result"] = denied ? "denied" : (c.status < 400 ? "success" : "failure");
    if (!error.empty()) {
      o["error"] = error;
      o["message"] = r.Annotation("message");
    }
    audit->Append(boost::json::serialize(o));
  }

  void OnComplete(const http::Completion& c) {
    metrics.RecordRequest(c.route, c.method, c.status, c.seconds, c.bytes_in, c.bytes_out);
    Audit(c);
    if (!options.access_log) {
      return;
    }
    std::string_view path = c.target.substr(0, c.target.find('?'));
    boost::json::object line{
        {"time", FormatRfc3339(SystemClock::Get().NowSeconds())},
        {"msg", "request"},
        {"request_id", c.request_id},
        {"remote", c.remote},
        {"method", c.method},
        {"path", path},
        {"route", c.route},
        {"status", c.status},
        {"bytes_in", c.bytes_in},
        {"bytes_out", c.bytes_out},
        {"duration_us", static_cast<int64_t>(c.seconds * 1e6)},
        {"user_agent", c.user_agent},
    };
    spdlog::get("access")->info(boost::json::serialize(line));
  }

  asio::awaitable<void> PurgeLoop() {
    // Sessions left by a previous run resume; debris without a session record is removed.
    auto first = co_await registry.PurgeExpiredUploads(true);
    if (!first.ok()) {
      spdlog::warn("startup upload purge failed: {}", first.error().message);
    }
    for (;;) {
      purge_timer.expires_after(options.upload_purge_interval);
      auto [ec] = co_await purge_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || stopping) {
        co_return;
      }
      auto n = co_await registry.PurgeExpiredUploads(false);
      if (!n.ok()) {
        spdlog::warn("upload purge failed: {}", n.error().message);
      } else if (*n > 0) {
        spdlog::info("purged {} expired upload sessions", *n);
      }
      // Keys whose scheduled deletion date has passed are destroyed (as KMS does).
      if (keys) {
        int64_t now = SystemClock::Get().NowSeconds();
        auto purged = co_await RunBlocking(pool, [&] { return keys->PurgeDueDeletions(now); });
        if (!purged.ok()) {
          spdlog::warn("key deletion purge failed: {}", purged.error().message);
        } else {
          for (const auto& id : *purged) {
            spdlog::warn("key {} deleted after its waiting period; data it protected is lost", id);
          }
        }
      }
    }
  }

  // Writes batched pull times every few seconds.
  asio::awaitable<void> PullTimeLoop() {
    while (!stopping) {
      pull_timer.expires_after(std::chrono::seconds(5));
      co_await pull_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      auto s = co_await registry.FlushPulls();
      if (!s.ok()) {
        spdlog::warn("recording pull times failed: {}", s.error().message);
      }
    }
  }

  asio::awaitable<void> GracefulStop() {
    if (stopping.exchange(true)) {
      co_return;
    }
    spdlog::info("shutting down: finishing in-flight requests");
    purge_timer.cancel();
    pull_timer.cancel();
    housekeeping->Stop();
    co_await housekeeping->ReleaseLease();
    boost::system::error_code ec;
    signals.cancel(ec);
    reload_signals.cancel(ec);
    // Both listeners drain at once, under one deadline.
    if (server && tls_server) {
      using asio::experimental::awaitable_operators::operator&&;
      co_await (server->Shutdown() && tls_server->Shutdown());
    } else if (server) {
      co_await server->Shutdown();
    } else if (tls_server) {
      co_await tls_server->Shutdown();
    }
    (void)co_await registry.FlushPulls();
    spdlog::info("shutdown complete");
    ioc.stop();
  }

  // SIGHUP: re-read the certificate and key (on the blocking pool: file reads) for new
  // connections; established ones keep theirs.
  void ArmReload() {
    reload_signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec || stopping) {
        return;
      }
      if (!tls) {
        spdlog::info("SIGHUP: no TLS configured, nothing to reload");
      } else {
        asio::post(pool, [this] {
          Status s = tls->Reload();
          if (s.ok()) {
            spdlog::info("reloaded the TLS certificate: {}", tls->Describe());
          } else {
            spdlog::error("TLS reload failed, still serving the previous certificate: {}",
                          s.error().message);
          }
        });
      }
      ArmReload();
    });
  }
};

App::App(AppOptions options, std::unique_ptr<meta::MetadataStore> meta,
         std::unique_ptr<storage::BlobStore> blobs, Secret master_key) {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int io = options.io_threads > 0 ? options.io_threads : cores;
  // Metadata writes wait in the blocking pool for their group commit: a pool of 16 lets that
  // many share one fsync (manifest PUT at c=16: 975 → 1,165 ops/s with 4 threads → 16).
  int blocking = options.blocking_threads > 0 ? options.blocking_threads : std::max(16, 4 * cores);
  options.io_threads = io;
  const auto options_access_level =
      spdlog::get_level() <= spdlog::level::info ? spdlog::level::info : spdlog::level::off;
  impl_ = std::make_unique<Impl>(std::move(options), std::move(meta), std::move(blobs),
                                 std::move(master_key), io, blocking);
  const AppOptions& o = impl_->options;
  if (!o.public_url.empty()) {
    impl_->public_url = o.public_url;
  } else if (o.https) {
    impl_->public_url = "https://" + o.https->host + ":" + std::to_string(o.https->port);
  } else {
    impl_->public_url = "http://" + o.http.host + ":" + std::to_string(o.http.port);
  }
  if (!spdlog::get("access")) {
    // Its own sink: the access log is JSON lines whatever the main log format is.
    auto access = spdlog::stderr_logger_st("access");
    access->set_pattern("%v");
    access->set_level(options_access_level);
  }
}

App::~App() {
  if (impl_) {
    Stop();
    Wait();
  }
}

Result<std::optional<registry::NewAccessKey>> App::Bootstrap(
    std::optional<registry::NewAccessKey> preset_admin_key) {
  Impl& im = *impl_;
  auto key = im.identity.BootstrapBlocking(im.options.account_id, im.options.region,
                                           std::move(preset_admin_key));
  if (!key.ok()) {
    return std::move(key).error();
  }
  im.SetUpEncryption(im.options.encryption_at_rest);
  im.authorizer =
      std::make_unique<auth::Authorizer>(im.identity, im.identity.account(), SystemClock::Get());
  im.oci = std::make_unique<api::oci::OciApi>(im.registry, *im.authorizer);
  api::ecr::EcrOptions eo;
  eo.account = im.identity.account();
  eo.public_url = im.public_url;
  eo.token_ttl_seconds = im.options.token_ttl_seconds;
  im.ecr = std::make_unique<api::ecr::EcrApi>(im.registry, im.identity, im.authenticator,
                                              *im.authorizer, *im.runner, im.housekeeping.get(),
                                              im.tokens, SystemClock::Get(), std::move(eo));
  return key;
}

Status App::Start() {
  Impl& im = *impl_;
  if (!im.ecr) {
    BERTH_TRY(Bootstrap());
  }
  if (!im.options.audit.dir.empty()) {
    BERTH_ASSIGN_OR_RETURN(im.audit, AuditLog::Open(im.options.audit));
    spdlog::info("audit log: {}/audit.log", im.options.audit.dir);
  }
  if (!im.options.plain_http && !im.options.https) {
    return MakeError(Errc::kInvalidArgument, "no listener: neither plain HTTP nor HTTPS is on");
  }
  auto make_server = [&im](http::ServerOptions so) {
    return std::make_unique<http::Server>(
        im.ioc, std::move(so), [&im](http::Request& req) { return im.Handle(req); },
        [&im](const http::Completion& c) { im.OnComplete(c); },
        [](const std::string& msg) { spdlog::error("{}", msg); });
  };
  if (im.options.https) {
    BERTH_ASSIGN_OR_RETURN(im.tls, http::TlsContext::Create(im.options.https->tls));
    spdlog::info("TLS certificate: {}", im.tls->Describe());
    http::ServerOptions so = im.options.http;
    so.host = im.options.https->host;
    so.port = im.options.https->port;
    so.tls = im.tls.get();
    so.hsts_max_age_seconds = im.options.https->hsts_max_age_seconds;
    im.tls_server = make_server(std::move(so));
    BERTH_TRY(im.tls_server->Listen());
  }
  if (im.options.plain_http) {
    http::ServerOptions so = im.options.http;
    so.tls = nullptr;
    im.server = make_server(std::move(so));
    BERTH_TRY(im.server->Listen());
  }
  asio::co_spawn(im.ioc, im.PurgeLoop(), asio::detached);
  asio::co_spawn(im.ioc, im.PullTimeLoop(), asio::detached);
  im.housekeeping->Start();
  im.signals.async_wait([&im](const boost::system::error_code& ec, int sig) {
    if (!ec) {
      spdlog::info("received signal {}", sig);
      asio::co_spawn(im.ioc, im.GracefulStop(), asio::detached);
    }
  });
  im.ArmReload();
  if (im.tls_server) {
    im.tls_server->Start();
    spdlog::info("berth listening on https://{}:{}", im.options.https->host, im.tls_server->port());
  }
  if (im.server) {
    im.server->Start();
    spdlog::info("berth listening on {}:{}", im.options.http.host, im.server->port());
  }
  for (int i = 0; i < im.options.io_threads; ++i) {
    im.threads.emplace_back([&im] { im.ioc.run(); });
  }
  return Ok{};
}

uint16_t App::port() const { return impl_->server ? impl_->server->port() : 0; }
uint16_t App::tls_port() const { return impl_->tls_server ? impl_->tls_server->port() : 0; }

void App::Wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) {
      t.join();
    }
  }
  impl_->threads.clear();
  impl_->pool.join();
  // Run what the stop left queued (completions of pool work) so no coroutine frame that
  // borrows the registry outlives it.
  impl_->ioc.restart();
  impl_->ioc.poll();
  if (impl_->audit) {
    impl_->audit->Flush();
  }
}

void App::Stop() {
  if (impl_->threads.empty() || impl_->stopping) {
    return;
  }
  asio::co_spawn(impl_->ioc, impl_->GracefulStop(), asio::detached);
}

}  // namespace berth::server
