// EcrApi: Amazon ECR's control plane (AWS JSON 1.1 over `POST /` with
// `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Action>`) as a thin adapter over
// registry::Registry — the same rules as the OCI API, because both call the same functions.
// Request and response shapes, limits and exception names follow botocore's ECR service
// model. Every request is authenticated with SigV4 (service "ecr") and authorized as
// ecr:<Action> on the repository it names (or "*" for registry-level actions); refusals are
// AccessDeniedException. DescribeRepositories without names lists only what the caller may
// describe.
//
// Thread-safe; borrows everything it is given.
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>

#include "auth/authenticator.h"
#include "auth/authorizer.h"
#include "http/server.h"
#include "iam/iam.h"
#include "lifecycle/runner.h"
#include "registry/identity.h"
#include "registry/registry.h"

namespace berth::api::ecr {

struct EcrOptions {
  iam::Account account;
  std::string public_url;  // e.g. http://127.0.0.1:5000 (proxyEndpoint, repositoryUri host)
  int64_t token_ttl_seconds = 12 * 3600;
  int64_t download_url_ttl_seconds = 3600;
};

inline constexpr std::string_view kTargetPrefix = "AmazonEC2ContainerRegistry_V20150921.";
// berth's own operations (not ECR's), same protocol and signing; IAM actions "berth:<Action>":
// StartLifecycleRun {repositoryName?, dryRun}, StartGarbageCollection {dryRun},
// DescribeJob {jobId}. Used by `berth lifecycle run` and `berth gc`.
inline constexpr std::string_view kAdminTargetPrefix = "Berth_20261128.";

// Background jobs the admin operations start; implemented by the server.
class AdminJobs {
 public:
  virtual ~AdminJobs() = default;
  // The new job's id. kNameUnknown for an unknown repository.
  virtual boost::asio::awaitable<Result<std::string>> StartLifecycleRun(std::string repository,
                                                                        bool dry_run) = 0;
  virtual Result<std::string> StartGarbageCollection(bool dry_run) = 0;
  // DescribeJob's answer: {jobId, kind, status, dryRun, progress{done,total,unit}, summary,
  // message}. kNotFound.
  virtual Result<std::string> DescribeJob(const std::string& id) = 0;
};
// Largest request body accepted (UploadLayerPart carries up to 20 MiB, base64-encoded).
inline constexpr uint64_t kMaxRequestBytes = 32ull << 20;

class EcrApi {
 public:
  EcrApi(registry::Registry& registry, registry::Identity& identity,
         auth::Authenticator& authenticator, auth::Authorizer& authorizer,
         lifecycle::Runner& runner, AdminJobs* jobs, const auth::TokenService& tokens,
         const Clock& clock, EcrOptions options);

  // Serves `POST /` with an X-Amz-Target header.
  boost::asio::awaitable<http::Response> Handle(http::Request& req);

 private:
  struct Call;
  boost::asio::awaitable<http::Response> Dispatch(Call& call);
  boost::asio::awaitable<http::Response> DispatchAdmin(Call& call);

  registry::Registry& registry_;
  registry::Identity& identity_;
  auth::Authenticator& authenticator_;
  auth::Authorizer& authorizer_;
  lifecycle::Runner& runner_;
  AdminJobs* jobs_;
  const auth::TokenService& tokens_;
  const Clock& clock_;
  EcrOptions options_;
};

}  // namespace berth::api::ecr
