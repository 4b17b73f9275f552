#include "auth/sigv4.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <tuple>

#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/digest.h"
#include "base/strings.h"

namespace berth::auth {
namespace {

namespace urls = boost::urls;

constexpr std::string_view kScopeTerminator = "aws4_request";
constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// Characters a canonical URI keeps as is: RFC 3986 unreserved plus the segment separator.
constexpr urls::grammar::lut_chars kPathSafeChars = urls::unreserved_chars + '/';

// Query parameters of the presigned (query-string) form.
constexpr std::string_view kQueryAlgorithm = "X-Amz-Algorithm";
constexpr std::string_view kQueryCredential = "X-Amz-Credential";
constexpr std::string_view kQueryDate = "X-Amz-Date";
constexpr std::string_view kQueryExpires = "X-Amz-Expires";
constexpr std::string_view kQuerySignedHeaders = "X-Amz-SignedHeaders";
constexpr std::string_view kQuerySignature = "X-Amz-Signature";
constexpr std::string_view kQuerySecurityToken = "X-Amz-Security-Token";

using Params = std::vector<std::pair<std::string, std::string>>;

Error Malformed(std::string message) { return MakeError(Errc::kAuthMalformed, std::move(message)); }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiLower(x) == AsciiLower(y);
         });
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); });
}

// A lowercase RFC 9110 token: the form SignedHeaders names must have.
bool IsLowercaseToken(std::string_view s) {
  constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || kTokenPunct.find(c) != std::string_view::npos;
  });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) {
      return parts;
    }
    s.remove_prefix(pos + 1);
  }
}

// Percent-decodes `s` as RFC 3986 does ('+' stays a plus). A string with an invalid escape is
// returned unchanged, so that re-encoding it turns its '%' into "%25".
std::string PercentDecode(std::string_view s) {
  auto pct = urls::make_pct_string_view(urls::string_view(s.data(), s.size()));
  if (!pct) {
    return std::string(s);
  }
  return pct->decode();
}

// URI-encodes every byte outside `safe` as %XX with uppercase hex.
template <class CharSet>
std::string UriEncode(std::string_view s, const CharSet& safe) {
  return urls::encode(urls::string_view(s.data(), s.size()), safe);
}

std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, q), target.substr(q + 1)};
}

// The decoded name/value pairs of a raw query string, in order. Empty pieces ("a=1&&b=2") are
// not parameters and are skipped.
Params DecodeQuery(std::string_view query) {
  Params params;
  if (query.empty()) {
    return params;
  }
  for (std::string_view piece : Split(query, '&')) {
    if (piece.empty()) {
      continue;
    }
    const size_t eq = piece.find('=');
    std::string_view name = piece.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    params.emplace_back(PercentDecode(name), PercentDecode(value));
  }
  return params;
}

// RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments, exactly as botocore's
// normalize_url_path (which AWS services other than S3 expect).
std::string NormalizePath(std::string_view path) {
  if (path.empty()) {
    return "/";
  }
  std::vector<std::string_view> out;
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") {
      continue;
    }
    if (segment == "..") {
      if (!out.empty()) {
        out.pop_back();
      }
      continue;
    }
    out.push_back(segment);
  }
  std::string normalized = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) {
      normalized += '/';
    }
    normalized += out[i];
  }
  if (path.back() == '/' && !out.empty()) {
    normalized += '/';
  }
  return normalized;
}

std::string CanonicalUri(std::string_view raw_path, std::string_view service) {
  if (service == "s3") {
    // S3 signs the decoded path encoded once, without normalisation.
    return raw_path.empty() ? std::string("/") : UriEncode(PercentDecode(raw_path), kPathSafeChars);
  }
  return UriEncode(NormalizePath(raw_path), kPathSafeChars);
}

std::string CanonicalQuery(std::string_view raw_query, bool presigned) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [name, value] : DecodeQuery(raw_query)) {
    if (presigned && name == kQuerySignature) {
      continue;
    }
    encoded.emplace_back(UriEncode(name, urls::unreserved_chars),
                         UriEncode(value, urls::unreserved_chars));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out += '&';
    }
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// Trims a header value and collapses every internal run of whitespace to one space (the
// Trimall of the SigV4 specification; whitespace as Python's str.split, which botocore uses).
void AppendTrimAll(std::string_view value, std::string& out) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  bool pending_space = false;
  bool wrote = false;
  for (char c : value) {
    if (kSpace.find(c) != std::string_view::npos) {
      pending_space = wrote;
      continue;
    }
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out += c;
    wrote = true;
  }
}

std::vector<std::string_view> HeaderValues(const HttpRequestView& req, std::string_view name) {
  std::vector<std::string_view> values;
  for (const auto& [n, v] : req.headers) {
    if (EqualsIgnoreCase(n, name)) {
      values.push_back(v);
    }
  }
  return values;
}

std::optional<std::string_view> SingleHeader(const HttpRequestView& req, std::string_view name) {
  std::vector<std::string_view> values = HeaderValues(req, name);
  if (values.empty()) {
    return std::nullopt;
  }
  return TrimSpace(values.front());
}

std::string HexEncode(const unsigned char* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

// An HMAC-SHA256 output used as the next key of the signing-key chain; wiped on destruction.
class Mac {
 public:
  static constexpr size_t kSize = 32;

  Mac(std::string_view key, std::string_view data) {
    unsigned int len = 0;
    const unsigned char* result =
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), bytes_, &len);
    BERTH_CHECK(result != nullptr && len == kSize);  // fails only if OpenSSL cannot allocate
  }
  ~Mac() { OPENSSL_cleanse(bytes_, sizeof(bytes_)); }
  Mac(const Mac&) = delete;
  Mac& operator=(const Mac&) = delete;
  Mac(Mac&&) = delete;
  Mac& operator=(Mac&&) = delete;

  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(bytes_), kSize);
  }
  std::string hex() const { return HexEncode(bytes_, kSize); }

 private:
  unsigned char bytes_[kSize];
};

struct Scope {
  std::string access_key_id, date, region, service;
};

Result<Scope> ParseScope(std::string_view credential) {
  std::vector<std::string_view> parts = Split(credential, '/');
  if (parts.size() != 5) {
    return Malformed(
        "Credential must have the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/aws4_request.");
  }
  if (parts[4] != kScopeTerminator) {
    return Malformed("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                     std::string(parts[4]) + "'.");
  }
  if (parts[0].empty()) {
    return Malformed("Credential has an empty access key id.");
  }
  if (parts[1].size() != 8 || !ParseAmzDate(std::string(parts[1]) + "T000000Z").ok()) {
    return Malformed("Credential should be scoped to a valid date (YYYYMMDD), not '" +
                     std::string(parts[1]) + "'.");
  }
  if (parts[2].empty()) {
    return Malformed("Credential should be scoped to a valid region.");
  }
  if (parts[3].empty()) {
    return Malformed("Credential should be scoped to a valid service.");
  }
  return Scope{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
               std::string(parts[3])};
}

Result<std::vector<std::string>> ParseSignedHeaders(std::string_view list) {
  std::vector<std::string> names;
  for (std::string_view name : Split(list, ';')) {
    if (!IsLowercaseToken(name)) {
      return Malformed("SignedHeaders must be a ';'-separated list of lowercase header names.");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return Malformed("SignedHeaders names '" + std::string(name) + "' more than once.");
    }
    names.emplace_back(name);
  }
  if (std::find(names.begin(), names.end(), "host") == names.end()) {
    return Malformed("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  return names;
}

Status CheckSignatureForm(std::string_view signature) {
  if (signature.size() != 64 || !IsLowerHex(signature)) {
    return Malformed("Signature must be 64 lowercase hexadecimal digits.");
  }
  return Ok{};
}

// Fills the fields every form shares from already-extracted component strings.
Result<SigV4Credential> BuildCredential(std::string_view credential,
                                        std::string_view signed_headers, std::string_view signature,
                                        std::string_view amz_date) {
  BERTH_ASSIGN_OR_RETURN(Scope scope, ParseScope(credential));
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> names, ParseSignedHeaders(signed_headers));
  BERTH_TRY(CheckSignatureForm(signature));
  if (!ParseAmzDate(amz_date).ok()) {
    return Malformed("X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', not '" +
                     std::string(amz_date) + "'.");
  }
  if (amz_date.substr(0, 8) != scope.date) {
    return Malformed(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '" +
        scope.date + "' != '" + std::string(amz_date.substr(0, 8)) + "', from '" +
        std::string(amz_date) + "'.");
  }
  SigV4Credential cred;
  cred.access_key_id = std::move(scope.access_key_id);
  cred.date = std::move(scope.date);
  cred.region = std::move(scope.region);
  cred.service = std::move(scope.service);
  cred.signed_headers = std::move(names);
  cred.signature = std::string(signature);
  cred.amz_date = std::string(amz_date);
  return cred;
}

Result<SigV4Credential> ParseAuthorizationHeader(const HttpRequestView& req,
                                                 std::string_view header) {
  header = TrimSpace(header);
  const size_t space = header.find(' ');
  const std::string_view algorithm = header.substr(0, space);
  if (algorithm != kSigV4Algorithm) {
    // Only the scheme is echoed: the rest may be a credential (e.g. "Basic <base64>").
    return Malformed("Unsupported AWS 'algorithm': '" + std::string(algorithm) +
                     "'. Only AWS4-HMAC-SHA256 is supported.");
  }
  std::optional<std::string_view> credential, signed_headers, signature;
  const std::string_view rest = space == std::string_view::npos ? "" : header.substr(space + 1);
  for (std::string_view component : Split(rest, ',')) {
    component = TrimSpace(component);
    const size_t eq = component.find('=');
    const std::string_view key = component.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : component.substr(eq + 1);
    std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                            : key == "SignedHeaders" ? &signed_headers
                                            : key == "Signature"     ? &signature
                                                                     : nullptr;
    if (slot == nullptr || eq == std::string_view::npos) {
      return Malformed("Authorization header has an unknown or malformed component '" +
                       std::string(key) + "'.");
    }
    if (slot->has_value()) {
      return Malformed("Authorization header repeats the '" + std::string(key) + "' parameter.");
    }
    *slot = value;
  }
  if (!credential) {
    return Malformed("Authorization header requires 'Credential' parameter.");
  }
  if (!signed_headers) {
    return Malformed("Authorization header requires 'SignedHeaders' parameter.");
  }
  if (!signature) {
    return Malformed("Authorization header requires 'Signature' parameter.");
  }
  std::vector<std::string_view> dates = HeaderValues(req, "x-amz-date");
  if (dates.empty()) {
    return Malformed("Authorization header requires existence of a 'X-Amz-Date' header.");
  }
  if (dates.size() > 1) {
    return Malformed("The request has more than one 'X-Amz-Date' header.");
  }
  BERTH_ASSIGN_OR_RETURN(
      SigV4Credential cred,
      BuildCredential(*credential, *signed_headers, *signature, TrimSpace(dates.front())));
  cred.has_session_token = !HeaderValues(req, "x-amz-security-token").empty();
  return cred;
}

Result<SigV4Credential> ParsePresigned(const HttpRequestView& req, const Params& params) {
  std::optional<std::string_view> algorithm, credential, date, expires, signed_headers, signature;
  bool has_token = false;
  for (const auto& [name, value] : params) {
    std::optional<std::string_view>* slot = name == kQueryAlgorithm       ? &algorithm
                                            : name == kQueryCredential    ? &credential
                                            : name == kQueryDate          ? &date
                                            : name == kQueryExpires       ? &expires
                                            : name == kQuerySignedHeaders ? &signed_headers
                                            : name == kQuerySignature     ? &signature
                                                                          : nullptr;
    if (name == kQuerySecurityToken) {
      has_token = true;
    }
    if (slot == nullptr) {
      continue;
    }
    if (slot->has_value()) {
      return Malformed("The query repeats the '" + name + "' parameter.");
    }
    *slot = value;
  }
  struct Required {
    std::string_view name;
    const std::optional<std::string_view>& value;
  };
  for (const Required& r :
       {Required{kQueryAlgorithm, algorithm}, Required{kQueryCredential, credential},
        Required{kQueryDate, date}, Required{kQueryExpires, expires},
        Required{kQuerySignedHeaders, signed_headers}, Required{kQuerySignature, signature}}) {
    if (!r.value.has_value()) {
      return Malformed("AWS query-string parameters must include '" + std::string(r.name) + "'.");
    }
  }
  if (*algorithm != kSigV4Algorithm) {
    return Malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".");
  }
  std::optional<uint64_t> seconds = ParseUint(*expires);
  if (!seconds.has_value()) {
    return Malformed("X-Amz-Expires should be a number.");
  }
  if (*seconds < static_cast<uint64_t>(kMinPresignExpiresSeconds)) {
    return Malformed("X-Amz-Expires must be at least 1 second.");
  }
  if (*seconds > static_cast<uint64_t>(kMaxPresignExpiresSeconds)) {
    return Malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800.");
  }
  BERTH_ASSIGN_OR_RETURN(SigV4Credential cred,
                         BuildCredential(*credential, *signed_headers, *signature, *date));
  cred.presigned = true;
  cred.expires_seconds = static_cast<int64_t>(*seconds);
  cred.has_session_token = has_token || !HeaderValues(req, "x-amz-security-token").empty();
  return cred;
}

}  // namespace

std::string FormatAmzDate(int64_t unix_seconds) {
  namespace chrono = std::chrono;
  const chrono::sys_seconds tp{chrono::seconds(unix_seconds)};
  const chrono::sys_days day = chrono::floor<chrono::days>(tp);
  const chrono::year_month_day ymd(day);
  const chrono::hh_mm_ss<chrono::seconds> hms(tp - day);
  char buf[48];  // 17 bytes for years 0000-9999; room for the widest values snprintf can see
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02lld%02lld%02lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

Result<int64_t> ParseAmzDate(std::string_view amz_date) {
  namespace chrono = std::chrono;
  auto invalid = [&] {
    return Malformed("Invalid X-Amz-Date '" + std::string(amz_date) +
                     "': expected YYYYMMDD'T'HHMMSS'Z'.");
  };
  if (amz_date.size() != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z') {
    return invalid();
  }
  auto number = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    for (char c : amz_date.substr(pos, len)) {
      if (!IsDigit(c)) {
        return std::nullopt;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto year = number(0, 4), month = number(4, 2), day = number(6, 2);
  auto hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
  if (!year || !month || !day || !hour || !minute || !second || *hour > 23 || *minute > 59 ||
      *second > 59) {
    return invalid();
  }
  const chrono::year_month_day ymd{chrono::year(*year),
                                   chrono::month(static_cast<unsigned>(*month)),
                                   chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok()) {
    return invalid();
  }
  const int64_t days = chrono::sys_days(ymd).time_since_epoch().count();
  return days * 86400 + int64_t{*hour} * 3600 + int64_t{*minute} * 60 + *second;
}

Result<SigV4Credential> ParseSigV4(const HttpRequestView& req) {
  const std::vector<std::string_view> authorization = HeaderValues(req, "authorization");
  const Params params = DecodeQuery(SplitTarget(req.target).second);
  const bool query_auth = std::any_of(params.begin(), params.end(), [](const auto& p) {
    return p.first == kQuerySignature || p.first == kQueryAlgorithm;
  });
  if (authorization.empty() && !query_auth) {
    return MakeError(Errc::kAuthMissing,
                     "Missing Authentication Token: the request has neither an Authorization "
                     "header nor an X-Amz-Signature query parameter.");
  }
  if (!authorization.empty() && query_auth) {
    return Malformed(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
        "query string parameter or the Authorization header should be specified.");
  }
  if (authorization.size() > 1) {
    return Malformed("The request has more than one Authorization header.");
  }
  if (query_auth) {
    return ParsePresigned(req, params);
  }
  return ParseAuthorizationHeader(req, authorization.front());
}

std::string CanonicalRequest(const HttpRequestView& req, const SigV4Credential& cred) {
  const auto [raw_path, raw_query] = SplitTarget(req.target);
  std::string out = req.method;
  out += '\n';
  out += CanonicalUri(raw_path, cred.service);
  out += '\n';
  out += CanonicalQuery(raw_query, cred.presigned);
  out += '\n';
  for (const std::string& name : cred.signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (std::string_view value : HeaderValues(req, name)) {
      if (!first) {
        out += ',';
      }
      first = false;
      AppendTrimAll(value, out);
    }
    out += '\n';
  }
  out += '\n';
  for (size_t i = 0; i < cred.signed_headers.size(); ++i) {
    if (i > 0) {
      out += ';';
    }
    out += cred.signed_headers[i];
  }
  out += '\n';
  if (cred.presigned) {
    out += kUnsignedPayload;
  } else if (std::optional<std::string_view> declared = SingleHeader(req, "x-amz-content-sha256")) {
    out += *declared;
  } else {
    out += req.payload_sha256_hex;
  }
  return out;
}

std::string StringToSign(const SigV4Credential& cred, std::string_view canonical_request) {
  std::string out(kSigV4Algorithm);
  out += '\n';
  out += cred.amz_date;
  out += '\n';
  out += cred.date + '/' + cred.region + '/' + cred.service + '/' + std::string(kScopeTerminator);
  out += '\n';
  out += Digest::Sha256Of(canonical_request).hex();
  return out;
}

std::string SignatureHex(const Secret& secret_access_key, const SigV4Credential& cred,
                         std::string_view string_to_sign) {
  std::string prefixed;
  prefixed.reserve(4 + secret_access_key.size());  // one allocation: no stray copy to wipe
  prefixed += "AWS4";
  prefixed += secret_access_key.reveal();
  const Secret k_secret(std::move(prefixed));  // wipes `prefixed`
  const Mac k_date(k_secret.reveal(), cred.date);
  const Mac k_region(k_date.view(), cred.region);
  const Mac k_service(k_region.view(), cred.service);
  const Mac k_signing(k_service.view(), kScopeTerminator);
  return Mac(k_signing.view(), string_to_sign).hex();
}

Status VerifySigV4(const HttpRequestView& req, const SigV4Credential& cred,
                   const Secret& secret_access_key, std::string_view expected_service,
                   int64_t now_unix_seconds) {
  BERTH_ASSIGN_OR_RETURN(const int64_t signed_at, ParseAmzDate(cred.amz_date));

  // 1. Time.
  if (signed_at - now_unix_seconds > kMaxClockSkewSeconds) {
    return MakeError(Errc::kSignatureExpired,
                     "Signature not yet current: " + cred.amz_date + " is still later than " +
                         FormatAmzDate(now_unix_seconds + kMaxClockSkewSeconds) + " (" +
                         FormatAmzDate(now_unix_seconds) + " + 15 min.)");
  }
  if (cred.presigned) {
    if (now_unix_seconds - signed_at > cred.expires_seconds) {
      return MakeError(Errc::kSignatureExpired, "Request has expired");
    }
  } else if (now_unix_seconds - signed_at > kMaxClockSkewSeconds) {
    return MakeError(Errc::kSignatureExpired,
                     "Signature expired: " + cred.amz_date + " is now earlier than " +
                         FormatAmzDate(now_unix_seconds - kMaxClockSkewSeconds) + " (" +
                         FormatAmzDate(now_unix_seconds) + " - 15 min.)");
  }

  // 2. Body: a declared payload hash must be the hash of what arrived.
  if (std::optional<std::string_view> declared = SingleHeader(req, "x-amz-content-sha256")) {
    if (*declared != kUnsignedPayload && *declared != req.payload_sha256_hex) {
      return MakeError(Errc::kSignatureMismatch,
                       "The provided 'x-amz-content-sha256' header does not match what was "
                       "computed.");
    }
  }

  // 3. Scope (AWS answers InvalidSignatureException for a wrong service).
  if (cred.service != expected_service) {
    return MakeError(Errc::kSignatureMismatch, "Credential should be scoped to correct service: '" +
                                                   std::string(expected_service) + "'. ");
  }

  // 4. Signature.
  const std::string creq = CanonicalRequest(req, cred);
  const std::string expected = SignatureHex(secret_access_key, cred, StringToSign(cred, creq));
  if (ConstantTimeEquals(expected, cred.signature)) {
    return Ok{};
  }
  // A presigned request of a non-S3 service may sign the payload hash instead of
  // UNSIGNED-PAYLOAD (botocore's SigV4QueryAuth does): accept either form.
  if (cred.presigned && !req.payload_sha256_hex.empty()) {
    std::string alt =
        creq.substr(0, creq.size() - kUnsignedPayload.size()) + req.payload_sha256_hex;
    if (ConstantTimeEquals(SignatureHex(secret_access_key, cred, StringToSign(cred, alt)),
                           cred.signature)) {
      return Ok{};
    }
  }
  return MakeError(Errc::kSignatureMismatch, std::string(kMismatchMessage));
}

std::string PresignQuery(std::string_view method, std::string_view host, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& extra_query,
                         std::string_view access_key_id, const Secret& secret,
                         std::string_view region, std::string_view service,
                         int64_t now_unix_seconds, int64_t expires_seconds) {
  BERTH_DCHECK(expires_seconds >= kMinPresignExpiresSeconds &&
               expires_seconds <= kMaxPresignExpiresSeconds);
  SigV4Credential cred;
  cred.access_key_id = std::string(access_key_id);
  cred.amz_date = FormatAmzDate(now_unix_seconds);
  cred.date = cred.amz_date.substr(0, 8);
  cred.region = std::string(region);
  cred.service = std::string(service);
  cred.signed_headers = {"host"};
  cred.presigned = true;
  cred.expires_seconds = expires_seconds;

  const std::string scope = cred.access_key_id + '/' + cred.date + '/' + cred.region + '/' +
                            cred.service + '/' + std::string(kScopeTerminator);
  const std::pair<std::string_view, std::string> auth_params[] = {
      {kQueryAlgorithm, std::string(kSigV4Algorithm)},
      {kQueryCredential, scope},
      {kQueryDate, cred.amz_date},
      {kQueryExpires, std::to_string(expires_seconds)},
      {kQuerySignedHeaders, "host"},
  };
  std::string query;
  auto append = [&](std::string_view name, std::string_view value) {
    if (!query.empty()) {
      query += '&';
    }
    query += UriEncode(name, urls::unreserved_chars);
    query += '=';
    query += UriEncode(value, urls::unreserved_chars);
  };
  for (const auto& [name, value] : extra_query) {
    append(name, value);
  }
  for (const auto& [name, value] : auth_params) {
    append(name, value);
  }

  HttpRequestView view;
  view.method = std::string(method);
  view.target = std::string(path) + '?' + query;
  view.headers = {{"host", std::string(host)}};
  const std::string signature =
      SignatureHex(secret, cred, StringToSign(cred, CanonicalRequest(view, cred)));
  append(kQuerySignature, signature);
  return query;
}

}  // namespace berth::auth
