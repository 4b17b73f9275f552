#include "auth/authenticator.h"

#include <boost/json.hpp>

#include "base/crypto.h"

namespace berth::auth {
namespace {

namespace json = boost::json;

Error Malformed(std::string msg) { return MakeError(Errc::kAuthMalformed, std::move(msg)); }

iam::Principal UserPrincipal(const std::string& user, const std::string& key_id) {
  iam::Principal p;
  p.kind = iam::Principal::Kind::kUser;
  p.name = user;
  p.access_key_id = key_id;
  return p;
}

}  // namespace

TokenService::TokenService(const Secret& master_key, const Clock& clock)
    : key_(DeriveKey(master_key, "berth registry tokens v1")), clock_(clock) {}

std::string TokenService::Issue(const TokenClaims& c) const {
  json::object o;
  o["t"] = c.kind;
  o["u"] = c.user;
  o["k"] = c.access_key_id;
  if (!c.scope.empty()) {
    o["s"] = c.scope;
  }
  o["i"] = c.issued_at;
  o["e"] = c.expires_at;
  o["n"] = Base64UrlEncode(RandomBytes(9));
  std::string payload = Base64UrlEncode(json::serialize(o));
  return payload + "." + Base64UrlEncode(HmacSha256(key_.reveal(), payload));
}

Result<TokenClaims> TokenService::Verify(std::string_view token, std::string_view kind) const {
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.size() > 4096) {
    return Malformed("malformed registry token");
  }
  std::string_view payload = token.substr(0, dot);
  auto sig = Base64UrlDecode(token.substr(dot + 1));
  if (!sig.ok() || !ConstantTimeEquals(*sig, HmacSha256(key_.reveal(), payload))) {
    return Malformed("invalid registry token");
  }
  auto raw = Base64UrlDecode(payload);
  if (!raw.ok()) {
    return Malformed("malformed registry token");
  }
  boost::system::error_code ec;
  json::value v = json::parse(*raw, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) {
    return Malformed("malformed registry token");
  }
  TokenClaims c;
  auto str = [&](const char* k) {
    auto it = o->find(k);
    return it != o->end() && it->value().is_string() ? std::string(it->value().get_string())
                                                     : std::string();
  };
  auto num = [&](const char* k) -> int64_t {
    auto it = o->find(k);
    return it != o->end() && it->value().is_int64() ? it->value().get_int64() : 0;
  };
  c.kind = str("t");
  c.user = str("u");
  c.access_key_id = str("k");
  c.scope = str("s");
  c.issued_at = num("i");
  c.expires_at = num("e");
  if (c.kind != kind || c.user.empty() || c.access_key_id.empty()) {
    return Malformed("invalid registry token");
  }
  if (clock_.NowSeconds() >= c.expires_at) {
    return MakeError(Errc::kSignatureExpired, "the registry token has expired");
  }
  return c;
}

boost::asio::awaitable<Result<iam::Principal>> Authenticator::AuthenticateSigV4(
    HttpRequestView req, std::string service, std::string region) {
  auto cred = ParseSigV4(req);
  if (!cred.ok()) {
    co_return std::move(cred).error();
  }
  if (cred->region != region) {
    co_return MakeError(Errc::kSignatureMismatch,
                        "Credential should be scoped to a valid region. ");
  }
  if (cred->has_session_token) {
    co_return MakeError(Errc::kUnknownAccessKey,
                        "The security token included in the request is invalid.");
  }
  auto key = co_await keys_.LookupAccessKey(cred->access_key_id);
  if (!key.ok()) {
    co_return std::move(key).error();
  }
  if (!key->active) {
    co_return MakeError(Errc::kUnknownAccessKey,
                        "The security token included in the request is invalid.");
  }
  Status s = VerifySigV4(req, *cred, key->secret, service, clock_.NowSeconds());
  if (!s.ok()) {
    co_return std::move(s).error();
  }
  co_return UserPrincipal(key->user, cred->access_key_id);
}

boost::asio::awaitable<Result<iam::Principal>> Authenticator::FromToken(std::string token,
                                                                        std::string kind) {
  auto claims = tokens_.Verify(token, kind);
  if (!claims.ok()) {
    co_return std::move(claims).error();
  }
  // The key that obtained the token must still exist and be active.
  auto key = co_await keys_.LookupAccessKey(claims->access_key_id);
  if (!key.ok()) {
    co_return std::move(key).error();
  }
  if (!key->active || key->user != claims->user) {
    co_return MakeError(Errc::kUnknownAccessKey, "the access key behind this token is gone");
  }
  co_return UserPrincipal(claims->user, claims->access_key_id);
}

boost::asio::awaitable<Result<iam::Principal>> Authenticator::AuthenticateHeader(
    std::string authorization) {
  std::string_view h = authorization;
  while (!h.empty() && h.front() == ' ') {
    h.remove_prefix(1);
  }
  if (h.empty()) {
    co_return MakeError(Errc::kAuthMissing, "authentication required");
  }
  auto scheme_end = h.find(' ');
  std::string scheme(h.substr(0, scheme_end));
  std::string_view rest = scheme_end == std::string_view::npos ? "" : h.substr(scheme_end + 1);
  for (char& c : scheme) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
  }
  if (scheme == "bearer") {
    co_return co_await FromToken(std::string(rest), "bearer");
  }
  if (scheme != "basic") {
    co_return Malformed("unsupported authorization scheme");
  }
  auto decoded = Base64Decode(rest);
  if (!decoded.ok()) {
    co_return Malformed("malformed basic credentials");
  }
  auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    co_return Malformed("malformed basic credentials");
  }
  std::string user = decoded->substr(0, colon);
  Secret password(decoded->substr(colon + 1));
  decoded->assign(decoded->size(), '\0');
  if (user.empty() && password.size() == 0) {
    // What clients told to use no credentials send (skopeo --no-creds): anonymous.
    co_return MakeError(Errc::kAuthMissing, "authentication required");
  }
  if (user == "AWS") {
    co_return co_await FromToken(std::string(password.reveal()), "registry");
  }
  auto key = co_await keys_.LookupAccessKey(user);
  if (!key.ok()) {
    co_return std::move(key).error();
  }
  if (!key->active) {
    co_return MakeError(Errc::kUnknownAccessKey, "access key is inactive");
  }
  if (!key->secret.ConstantTimeEquals(password)) {
    co_return MakeError(Errc::kSignatureMismatch, "invalid username or password");
  }
  co_return UserPrincipal(key->user, user);
}

boost::asio::awaitable<Result<iam::Principal>> Authenticator::AuthenticateClientCertificate(
    std::string common_name) {
  if (common_name.empty()) {
    co_return MakeError(Errc::kAuthMissing, "authentication required");
  }
  auto kind = co_await keys_.LookupPrincipal(common_name);
  if (!kind.ok() && kind.error().code != Errc::kNotFound) {
    co_return std::move(kind).error();
  }
  if (!kind.ok() || *kind != iam::Principal::Kind::kUser) {
    co_return MakeError(Errc::kUnknownAccessKey,
                        "the client certificate names '" + common_name + "', not a berth user");
  }
  co_return UserPrincipal(common_name, "");
}

}  // namespace berth::auth
