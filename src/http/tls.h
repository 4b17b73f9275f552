// TLS for http::Server: the server's SSL context, built from certificate and key files, and
// replaced as a whole on Reload() (SIGHUP) so that new connections use the new certificate
// while connections already established keep the context they started with (each connection
// holds a shared_ptr to its context).
//
// Policy (Mozilla "intermediate", minus the non-forward-secret and CBC suites): TLS 1.2 and 1.3
// only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305);
// TLS 1.3 keeps OpenSSL's default suites (all AEAD); groups X25519, P-256, P-384; no
// renegotiation, no compression; a server-side session cache and session tickets (keys per
// context: a reload invalidates old tickets, which only costs a full handshake).
//
// Client certificates (mTLS): with a client CA file, the server asks for a certificate
// (kOptional) or insists on one (kRequire: the handshake fails without it). A certificate that
// does not verify against the client CA always fails the handshake; the verified subject's
// common name is what VerifiedPeerCommonName() returns, for the application to map to a user.
//
// Thread-safe: Current() and Reload() may run concurrently from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "base/error.h"

namespace berth::http {

enum class ClientAuth { kNone, kOptional, kRequire };

// "none" | "optional" | "require". kInvalidArgument otherwise.
Result<ClientAuth> ParseClientAuth(std::string_view text);

struct TlsOptions {
  std::string cert_file;       // PEM: the server certificate, then any intermediates
  std::string key_file;        // PEM private key (unencrypted)
  std::string client_ca_file;  // PEM CA certificate(s) for client certificates; empty: none
  ClientAuth client_auth = ClientAuth::kNone;
};

class TlsContext {
 public:
  // Loads the files and builds the first context. Errors: kInvalidArgument (unreadable or
  // malformed file, key not matching the certificate, client_auth without client_ca_file).
  static Result<std::unique_ptr<TlsContext>> Create(TlsOptions options);

  // The context new connections should use (never null).
  std::shared_ptr<boost::asio::ssl::context> Current() const;

  // Re-reads the files into a new context and makes it current. On failure the current
  // context stays in use and the error (kInvalidArgument) says what was wrong.
  Status Reload();

  // "subject=..., serial=..., not after ..." of the current certificate, for logs.
  std::string Describe() const;

  const TlsOptions& options() const { return options_; }

 private:
  explicit TlsContext(TlsOptions options) : options_(std::move(options)) {}
  Result<std::shared_ptr<boost::asio::ssl::context>> Build() const;

  const TlsOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // guarded by mu_
  std::string description_;                             // guarded by mu_
};

// The subject common name of the peer's certificate if the handshake on `ssl` verified one
// against the client CA; empty otherwise (no certificate, or no client CA configured).
std::string VerifiedPeerCommonName(SSL* ssl);

}  // namespace berth::http
