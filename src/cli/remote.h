// Client side of berth's admin API: `berth lifecycle run` and `berth gc` ask a running server to
// do the work, then follow the job it started until it ends.
//
// Wire contract (the server implements it in its admin API):
//   POST / with Content-Type application/x-amz-json-1.1, X-Amz-Target Berth_20261128.<Action>
//   and a JSON body, signed with AWS Signature Version 4 for service "ecr" (SignHeaders, built on
//   auth/sigv4.h). Actions: StartLifecycleRun {"repositoryName"?, "dryRun"} and
//   StartGarbageCollection {"dryRun"} → {"jobId", "status"}; DescribeJob {"jobId"} → {"jobId",
//   "kind", "status": IN_PROGRESS|COMPLETE|FAILED, "dryRun", "progress": {"done", "total",
//   "unit"}, "summary": {...}, "message"}. Errors are non-2xx answers with {"__type", "message"}.
//
// Credentials come from the usual AWS chain (LoadAwsCredentials): the AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) environment variables, else the shared credentials
// file. Secrets stay in berth::Secret: no function here prints, logs or puts one in an error
// message; the session token leaves the process only in the X-Amz-Security-Token header.
//
// Only plain HTTP endpoints are supported; https:// is refused with a clear error.
//
// Everything is synchronous and single-threaded: RunLifecycle and RunGc block until the job
// ends (each HTTP request has its own deadline). The pure helpers are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "base/error.h"
#include "base/secret.h"

namespace berth::cli {

// The admin API's X-Amz-Target prefix.
inline constexpr std::string_view kAdminTargetPrefix = "Berth_20261128.";

// Reads one environment variable: nullopt when it is unset. Injected so tests need not touch the
// process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (std::getenv).
EnvLookup ProcessEnvironment();

// An AWS access key. Move-only, because the secret parts are.
struct AwsCredentials {
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;  // empty for a long-term key
  // Where the key came from, for messages: "environment" or "<file> (profile <name>)".
  std::string source;
};

// The credential chain of the AWS CLI, first match wins:
//   1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN if set) from `env`.
//      Empty values count as unset, as in botocore.
//   2. The shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials;
//      profile AWS_PROFILE, else "default" (see ParseSharedCredentials).
// Errors (never containing a secret):
//   kInvalidArgument: only one of the two variables of step 1 is set; the selected profile
//     lacks aws_access_key_id or aws_secret_access_key.
//   kAuthMissing: no key in the environment and no credentials file; the profile is not in it.
//   kUnavailable: the credentials file exists but cannot be read.
Result<AwsCredentials> LoadAwsCredentials(const EnvLookup& env);
Result<AwsCredentials> LoadAwsCredentials();  // with ProcessEnvironment()

// Reads `profile` from the text of a shared credentials file (INI): "[name]" section headers;
// "key = value" lines with optional spaces around '=' and key names compared case-insensitively
// (aws_access_key_id, aws_secret_access_key, aws_session_token; other keys are ignored); full
// lines starting with '#' or ';' are comments, and so is the rest of a line from a '#' or ';'
// preceded by a space or tab. A profile that appears twice is merged, later values winning.
// `file_name` only labels messages and AwsCredentials::source.
// Errors: kAuthMissing (no such profile), kInvalidArgument (the profile lacks a key or secret).
Result<AwsCredentials> ParseSharedCredentials(std::string_view text, std::string_view profile,
                                              std::string_view file_name);

// The signing region: `flag` if not empty, else AWS_REGION, else AWS_DEFAULT_REGION, else
// "us-east-1".
std::string ResolveRegion(const std::string& flag, const EnvLookup& env);

// Where the server listens, from --endpoint.
struct Endpoint {
  std::string host;         // to connect to: a name, an IPv4 address or an IPv6 address
  uint16_t port = 80;       // 80 unless the URL names one
  std::string host_header;  // Host header value: the URL's host, plus ":port" unless it is 80
};

// Parses "http://HOST[:PORT][/]". Errors: kUnsupported for https:// ("TLS not supported yet");
// kInvalidArgument for anything else that is not such a URL (other schemes, no host, a bad
// port, user info, a path other than "/", a query or a fragment).
Result<Endpoint> ParseEndpoint(std::string_view url);

// What SignHeaders signs: one request as it will be sent, minus the headers SignHeaders adds.
struct SigningRequest {
  std::string method = "POST";
  std::string host;          // the Host header value (Endpoint::host_header)
  std::string target = "/";  // path and query as sent (percent-encoded)
  // Further headers to send and sign, e.g. content-type and x-amz-target.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
  std::string region;
  std::string service = "ecr";
  int64_t now_unix_seconds = 0;  // the signing time
};

// Signs `request` with AWS Signature Version 4 (auth/sigv4.h canonicalisation) and returns every
// header to send, names in lowercase and sorted: request.headers, host, x-amz-content-sha256
// (hex SHA-256 of the body), x-amz-date, x-amz-security-token when `credentials` has a session
// token (all of them signed), then authorization. Total.
std::vector<std::pair<std::string, std::string>> SignHeaders(const SigningRequest& request,
                                                             const AwsCredentials& credentials);

// Options shared by `berth lifecycle run` and `berth gc`.
struct RemoteOptions {
  std::string endpoint;  // --endpoint, e.g. http://127.0.0.1:5000
  std::string region;    // --region; empty: ResolveRegion's fallbacks
  bool dry_run = false;  // --dry-run: report what would be done, change nothing
  bool json = false;     // --json: print the final DescribeJob answer instead of a summary
  std::chrono::milliseconds poll_interval{200};
  std::chrono::seconds request_timeout{30};  // per HTTP request: connect, send and receive
  EnvLookup env = ProcessEnvironment();      // credentials and region
  std::FILE* out = stdout;                   // summary or JSON
  std::FILE* err = stderr;                   // errors, and the progress bar when it is a terminal
};

// `berth lifecycle run`: starts a lifecycle run over `repository` (every repository with a
// lifecycle policy when empty), follows it and prints its outcome. The start request is sent
// once; DescribeJob is retried, with a growing wait, after up to four consecutive failures to
// reach the server or 5xx answers. Returns the process exit
// code: 0 when the job completed, 1 when it failed or a request failed (message on options.err),
// 2 when the endpoint is unusable.
int RunLifecycle(const RemoteOptions& options, const std::string& repository);
// `berth gc`: the same for a garbage collection.
int RunGc(const RemoteOptions& options);

// Output helpers, exposed for tests.
// "[#########-----------]  45/100 repositories": a 20-cell bar, then `done` right-aligned to
// the width of `total`. total == 0 draws an empty bar.
std::string FormatProgressBar(uint64_t done, uint64_t total, std::string_view unit);
// 1023 → "1023 B", 1536 → "1.5 KiB", up to EiB (powers of 1024, one decimal).
std::string HumanBytes(uint64_t bytes);
// The human summary of a COMPLETE DescribeJob answer, one '\n'-terminated line each.
std::string FormatLifecycleSummary(const boost::json::object& job);
std::string FormatGcSummary(const boost::json::object& job);

}  // namespace berth::cli
