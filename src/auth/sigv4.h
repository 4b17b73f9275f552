// AWS Signature Version 4 (SigV4, AWS4-HMAC-SHA256): verifying signed requests and issuing
// presigned URLs.
//
// Verification runs in two steps so the caller can look the access key up in between:
//
//   BERTH_ASSIGN_OR_RETURN(SigV4Credential cred, ParseSigV4(req));
//   ... find the secret access key of cred.access_key_id (unknown → kUnknownAccessKey) ...
//   BERTH_TRY(VerifySigV4(req, cred, secret, "ecr", clock.NowSeconds()));
//
// Canonicalisation follows the AWS General Reference, "Create a canonical request for Signature
// Version 4", and is checked against the AWS SigV4 test suite and against botocore:
//
//   CanonicalRequest = Method '\n' CanonicalURI '\n' CanonicalQuery '\n'
//                      CanonicalHeaders '\n' SignedHeaders '\n' HashedPayload
//   - CanonicalURI: for every service but S3, the path as received (still percent-encoded) has
//     its dot segments removed and empty segments collapsed (RFC 3986 §5.2.4, as botocore's
//     normalize_url_path), and is then URI-encoded again, so "%20" becomes "%2520" (each segment
//     encoded twice from its decoded form). For service "s3" the path is decoded and encoded
//     once, without normalisation. An empty path is "/".
//   - CanonicalQuery: every parameter's name and value percent-decoded, then URI-encoded with
//     only A-Za-z0-9-_.~ left as is (uppercase hex), sorted by encoded name then value, joined
//     with '&'; a parameter without '=' keeps an empty value ("name="); '+' is a literal plus,
//     not a space. Presigned requests leave out X-Amz-Signature.
//   - CanonicalHeaders: for each name in SignedHeaders, in that order, "name:value\n", where
//     value is every received value of that header (names compared case-insensitively), each
//     trimmed with internal runs of whitespace collapsed to one space, joined with ','.
//   - HashedPayload: "UNSIGNED-PAYLOAD" for presigned requests; otherwise the value of the
//     x-amz-content-sha256 header when present, else the hex SHA-256 of the body.
//
// Everything here is a pure function of its arguments (the clock is a parameter), so it is
// thread-safe. Secrets are only read through Secret::reveal() for HMAC calls; no function here
// logs, and no error message contains a secret, a derived key or the expected signature.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/secret.h"

namespace berth::auth {

// The algorithm name of the Authorization header and of X-Amz-Algorithm.
inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
// Requests may be signed at most this far from the server's clock (either direction).
inline constexpr int64_t kMaxClockSkewSeconds = 15 * 60;
// Bounds of X-Amz-Expires for presigned requests: one second to seven days.
inline constexpr int64_t kMinPresignExpiresSeconds = 1;
inline constexpr int64_t kMaxPresignExpiresSeconds = 7 * 24 * 60 * 60;
// The x-amz-content-sha256 value of a request whose body is not signed.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// A request as the server received it, independent of the HTTP library. The adapter fills it
// from the parsed request without normalising anything.
struct HttpRequestView {
  std::string method;  // e.g. "POST", as received
  // Raw request target: path, then '?' and the query if any, exactly as received
  // (percent-encoded), e.g. "/?Action=List&Marker=a%2Fb".
  std::string target;
  // Header fields as received: names in any case, in arrival order, duplicates allowed.
  std::vector<std::pair<std::string, std::string>> headers;
  // Lowercase hex SHA-256 of the body the server received. Presigned requests sign
  // UNSIGNED-PAYLOAD instead, but an x-amz-content-sha256 header is still checked against it.
  std::string payload_sha256_hex;
};

// The signing parameters a request claims, from its Authorization header or, for a presigned
// URL, its X-Amz-* query parameters. Not yet verified.
struct SigV4Credential {
  std::string access_key_id;
  std::string date;     // YYYYMMDD, the scope date; equals the first 8 characters of amz_date
  std::string region;   // e.g. "us-east-1"
  std::string service;  // e.g. "ecr"
  std::vector<std::string> signed_headers;  // lowercase, in the order given (sorted by SDKs)
  std::string signature;                    // 64 lowercase hex digits
  std::string amz_date;                     // YYYYMMDDTHHMMSSZ (UTC), the signing time
  bool presigned = false;                   // from the query string rather than a header
  int64_t expires_seconds = 0;              // X-Amz-Expires; presigned only
  // An X-Amz-Security-Token header (or presigned query parameter) is present: the key is a
  // temporary one and the caller must validate the token.
  bool has_session_token = false;
};

// Extracts the signing parameters of `req` without checking the signature or the time.
//
// Header form: `Authorization: AWS4-HMAC-SHA256 Credential=<akid>/<YYYYMMDD>/<region>/<service>/
// aws4_request, SignedHeaders=<h1;h2;...>, Signature=<hex>` plus an X-Amz-Date header.
// Query form (presigned): X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders and X-Amz-Signature parameters.
//
// Errors:
//   kAuthMissing: no Authorization header and neither an X-Amz-Signature nor an X-Amz-Algorithm
//     query parameter (either one selects the presigned form).
//   kAuthMalformed: both forms at once; more than one Authorization header; an algorithm other
//     than AWS4-HMAC-SHA256 (including other schemes such as "Basic"); a missing, repeated or
//     unknown Credential/SignedHeaders/Signature component; a credential scope that is not
//     `<akid>/<YYYYMMDD>/<region>/<service>/aws4_request` with a valid date; SignedHeaders empty,
//     not lowercase tokens, or without "host"; a Signature that is not 64 lowercase hex digits;
//     X-Amz-Date missing, repeated or not a valid YYYYMMDDTHHMMSSZ; a scope date different from
//     the X-Amz-Date day; for presigned requests a missing parameter or X-Amz-Expires outside
//     1..604800.
Result<SigV4Credential> ParseSigV4(const HttpRequestView& req);

// The canonical request of `req` as signed with `cred` (see the top of this file). Total: a
// query name or value with an invalid percent escape is taken literally as a whole (each '%'
// becomes "%25"), which only makes the signature fail to match.
std::string CanonicalRequest(const HttpRequestView& req, const SigV4Credential& cred);

// "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex SHA-256 of the
// canonical request>".
std::string StringToSign(const SigV4Credential& cred, std::string_view canonical_request);

// The hex HMAC-SHA256 signature of `string_to_sign` under the key derived from
// `secret_access_key` and the scope of `cred` (date, region, service). Intermediate keys are
// wiped before returning.
std::string SignatureHex(const Secret& secret_access_key, const SigV4Credential& cred,
                         std::string_view string_to_sign);

// Verifies that `req` was signed as `cred` claims with `secret_access_key`, at a time
// acceptable at `now_unix_seconds`, for `expected_service`. Checks, in this order:
//   1. time. Header form: |now - amz_date| <= 15 minutes, else kSignatureExpired with AWS's
//      "Signature expired: <amz_date> is now earlier than <now-15min> (<now> - 15 min.)" or
//      "Signature not yet current: <amz_date> is still later than <now+15min> (<now> + 15
//      min.)". Presigned: amz_date no more than 15 minutes ahead (same "not yet current"
//      message) and now <= amz_date + expires_seconds, else kSignatureExpired "Request has
//      expired".
//   2. body: an x-amz-content-sha256 header, when present, must be "UNSIGNED-PAYLOAD" or equal
//      req.payload_sha256_hex, else kSignatureMismatch (the body was altered after signing).
//   3. scope: cred.service must equal expected_service, else kSignatureMismatch "Credential
//      should be scoped to correct service: '<expected_service>'. " (AWS answers
//      InvalidSignatureException).
//   4. signature: recomputed and compared in constant time, else kSignatureMismatch "The
//      request signature we calculated does not match the signature you provided. Check your
//      AWS Secret Access Key and signing method. Consult the service documentation for
//      details.". A presigned request verifies with either UNSIGNED-PAYLOAD or, as non-S3
//      presigners sign, req.payload_sha256_hex as its payload hash.
// kAuthMalformed also when cred.amz_date is not a valid timestamp (a hand-built credential).
// The region and the session token are not checked here: the caller compares cred.region with
// its own and validates any token.
Status VerifySigV4(const HttpRequestView& req, const SigV4Credential& cred,
                   const Secret& secret_access_key, std::string_view expected_service,
                   int64_t now_unix_seconds);

// The query string (without '?') of a presigned GET-style URL that VerifySigV4 accepts for a
// request with `method` on `host` + `path`, valid for `expires_seconds` (1..604800) from
// `now_unix_seconds`. `path` is the path exactly as it will appear in the URL (already
// percent-encoded); `extra_query` holds decoded names and values, emitted first and
// percent-encoded here. Only "host" is signed and the payload is UNSIGNED-PAYLOAD, like S3
// presigned URLs. The output is
//   <extra_query>&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<akid>%2F<date>%2F<region>
//   %2F<service>%2Faws4_request&X-Amz-Date=<amz_date>&X-Amz-Expires=<n>
//   &X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>
// (the parameter order botocore's presigner uses).
std::string PresignQuery(std::string_view method, std::string_view host, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& extra_query,
                         std::string_view access_key_id, const Secret& secret,
                         std::string_view region, std::string_view service,
                         int64_t now_unix_seconds, int64_t expires_seconds);

// Timestamps in the X-Amz-Date form YYYYMMDDTHHMMSSZ (UTC).
std::string FormatAmzDate(int64_t unix_seconds);
// Seconds since the Unix epoch, or an error (kAuthMalformed) unless `amz_date` is exactly
// YYYYMMDDTHHMMSSZ naming a real calendar date and time (no leap seconds).
Result<int64_t> ParseAmzDate(std::string_view amz_date);

}  // namespace berth::auth
