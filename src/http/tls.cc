#include "http/tls.h"

#include <cstdio>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

namespace berth::http {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 suites: ECDHE (forward secrecy) with an AEAD cipher, nothing else. TLS 1.3 suites
// are OpenSSL's defaults (AES-GCM and ChaCha20-Poly1305, all AEAD with ephemeral keys).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Sessions resumed by id must come from this application (OpenSSL refuses resumption with
// client verification unless a session id context is set).
constexpr std::string_view kSessionIdContext = "berth";

// The OpenSSL error queue as one line (and emptied), after `what`.
Error OpensslError(const std::string& what) {
  std::string msg = what;
  unsigned long e = 0;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return MakeError(Errc::kInvalidArgument, msg);
}

std::string Asn1TimeText(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) {
    return "?";
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string DescribeCertificate(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) {
    return "no certificate";
  }
  std::string out = "subject=";
  char name[512];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
  out += name;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr), &BN_free);
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    if (hex != nullptr) {
      out += ", serial=";
      out += hex;
      OPENSSL_free(hex);
    }
  }
  out += ", not after ";
  out += Asn1TimeText(X509_get0_notAfter(cert));
  return out;
}

}  // namespace

Result<ClientAuth> ParseClientAuth(std::string_view text) {
  if (text == "none" || text.empty()) {
    return ClientAuth::kNone;
  }
  if (text == "optional") {
    return ClientAuth::kOptional;
  }
  if (text == "require") {
    return ClientAuth::kRequire;
  }
  return MakeError(Errc::kInvalidArgument, "client_auth must be none, optional or require, not '" +
                                               std::string(text) + "'");
}

Result<std::unique_ptr<TlsContext>> TlsContext::Create(TlsOptions options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return MakeError(Errc::kInvalidArgument, "tls: both a certificate and a key file are needed");
  }
  if (options.client_auth != ClientAuth::kNone && options.client_ca_file.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "tls: client certificate authentication needs client_ca_file");
  }
  std::unique_ptr<TlsContext> tls(new TlsContext(std::move(options)));
  BERTH_TRY(tls->Reload());
  return tls;
}

std::shared_ptr<ssl::context> TlsContext::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string TlsContext::Describe() const {
  std::lock_guard lock(mu_);
  return description_;
}

Status TlsContext::Reload() {
  auto ctx = Build();
  if (!ctx.ok()) {
    return std::move(ctx).error();
  }
  std::string description = DescribeCertificate((*ctx)->native_handle());
  std::lock_guard lock(mu_);
  current_ = std::move(*ctx);
  description_ = std::move(description);
  return Ok{};
}

Result<std::shared_ptr<ssl::context>> TlsContext::Build() const {
  ERR_clear_error();
  std::shared_ptr<ssl::context> ctx;
  try {
    ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  } catch (const std::exception& e) {
    return MakeError(Errc::kInternal, std::string("tls: cannot create a context: ") + e.what());
  }
  SSL_CTX* c = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return OpensslError("tls: setting protocol versions");
  }
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections give their read/write buffers back (~34 KiB each).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    return OpensslError("tls: cipher list");
  }
  if (SSL_CTX_set1_groups_list(c, kGroups) != 1) {
    return OpensslError("tls: key exchange groups");
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(c,
                                 reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                                 static_cast<unsigned int>(kSessionIdContext.size()));
  if (SSL_CTX_use_certificate_chain_file(c, options_.cert_file.c_str()) != 1) {
    return OpensslError("tls: certificate file " + options_.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(c, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return OpensslError("tls: key file " + options_.key_file);
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return OpensslError("tls: key " + options_.key_file + " does not match certificate " +
                        options_.cert_file);
  }
  if (options_.client_auth != ClientAuth::kNone) {
    // Only the configured CA vouches for clients: no system trust store here.
    if (SSL_CTX_load_verify_locations(c, options_.client_ca_file.c_str(), nullptr) != 1) {
      return OpensslError("tls: client CA file " + options_.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.client_ca_file.c_str());
    if (names == nullptr) {
      return OpensslError("tls: client CA file " + options_.client_ca_file);
    }
    SSL_CTX_set_client_CA_list(c, names);  // takes ownership
    int mode = SSL_VERIFY_PEER;
    if (options_.client_auth == ClientAuth::kRequire) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(c, mode, nullptr);
  }
  return ctx;
}

std::string VerifiedPeerCommonName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) {
    return {};
  }
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
    return {};  // no common name, or several: no identity
  }
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  if (out.find('\0') != std::string::npos) {
    return {};
  }
  return out;
}

}  // namespace berth::http
