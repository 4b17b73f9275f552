// Authenticator: who is calling. Resolves a request's credentials to an iam::Principal:
//
//   ECR API   AWS SigV4 (header or presigned query), against the access key's secret.
//   OCI API   HTTP Basic with user "AWS" and a registry token from GetAuthorizationToken, or
//             with an access key id and secret; or a Bearer token from the token endpoint;
//             or, with none of these, a verified TLS client certificate naming a user.
//
// Registry tokens are stateless: base64url(JSON claims) "." base64url(HMAC-SHA256), keyed by a
// key derived from the master key, so any node sharing the master key verifies them. Each
// token names the access key that obtained it; deleting or deactivating that key revokes
// every token it issued. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "auth/sigv4.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/secret.h"
#include "iam/iam.h"

namespace berth::auth {

struct TokenClaims {
  std::string kind;  // "registry" | "bearer"
  std::string user;
  std::string access_key_id;
  std::string scope;  // bearer tokens: the requested scope
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

class TokenService {
 public:
  TokenService(const Secret& master_key, const Clock& clock);
  std::string Issue(const TokenClaims& claims) const;
  // kAuthMalformed (not a token of ours / tampered), kSignatureExpired (past expires_at).
  Result<TokenClaims> Verify(std::string_view token, std::string_view kind) const;

 private:
  Secret key_;
  const Clock& clock_;
};

class Authenticator {
 public:
  Authenticator(iam::CredentialSource& keys, const TokenService& tokens, const Clock& clock)
      : keys_(keys), tokens_(tokens), clock_(clock) {}

  // ECR: verifies SigV4 for `service`. Errors: kAuthMissing, kAuthMalformed,
  // kSignatureMismatch, kSignatureExpired, kUnknownAccessKey (unknown or inactive key, or a
  // session token, which berth never issues).
  // The credential scope must name `region` (kSignatureMismatch otherwise, as AWS answers).
  boost::asio::awaitable<Result<iam::Principal>> AuthenticateSigV4(HttpRequestView req,
                                                                   std::string service,
                                                                   std::string region);
  // OCI: an Authorization header value ("Basic ..." or "Bearer ..."); empty, or Basic with
  // an empty user and password → kAuthMissing (the caller is anonymous).
  // Errors: kAuthMalformed, kUnknownAccessKey, kSignatureMismatch (wrong secret),
  // kSignatureExpired (token expired).
  boost::asio::awaitable<Result<iam::Principal>> AuthenticateHeader(std::string authorization);
  // mTLS: the common name of a client certificate the TLS layer verified against the
  // configured client CA (http::Request::client_subject()). The name must be an existing
  // berth user (not a role); the principal carries no access key id. Empty → kAuthMissing;
  // no such user → kUnknownAccessKey.
  boost::asio::awaitable<Result<iam::Principal>> AuthenticateClientCertificate(
      std::string common_name);

 private:
  boost::asio::awaitable<Result<iam::Principal>> FromToken(std::string token, std::string kind);
  iam::CredentialSource& keys_;
  const TokenService& tokens_;
  const Clock& clock_;
};

}  // namespace berth::auth
