// Authorizer: may this caller perform this ECR action on this repository? Gathers the
// policies that apply (the caller's identity policies, the repository policy, the registry
// policy) from an iam::PolicySource, builds the request context (aws:SourceIp,
// aws:username, aws:PrincipalArn, aws:CurrentTime, aws:SecureTransport, aws:ResourceTag/*,
// aws:RequestTag/*, aws:TagKeys, ...) and asks iam::Evaluate.
//
// Parsed policies are cached for `cache_ttl` so the hot paths (manifest and blob reads) do no
// store lookups; Invalidate() drops the cache at once after a local policy change, and the
// TTL bounds how long a change made elsewhere (another node, `berth admin`) takes to apply.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "iam/iam.h"
#include "iam/policy.h"

namespace berth::auth {

// Who is calling, and how.
struct Caller {
  iam::Principal principal;
  std::string source_ip;
  bool secure_transport = false;
  std::string user_agent;
};

struct AccessRequest {
  std::string action;      // "ecr:PutImage"
  std::string repository;  // empty: an account-level action (resource "*")
  // Tags the request sets (CreateRepository, TagResource): aws:RequestTag/<k>, aws:TagKeys.
  std::vector<std::pair<std::string, std::string>> request_tags;
  std::vector<std::string> tag_keys;  // UntagResource: the keys it removes
};

struct AccessDecision {
  iam::Decision decision = iam::Decision::kImplicitDeny;
  bool allowed() const { return decision == iam::Decision::kAllow; }
  std::string resource;  // the ARN evaluated
  // AWS-style explanation for denials: "User: arn:... is not authorized to perform: ecr:X on
  // resource: arn:... because no identity-based policy allows the ecr:X action".
  std::string message;
};

class Authorizer {
 public:
  Authorizer(iam::PolicySource& source, iam::Account account, const Clock& clock,
             std::chrono::milliseconds cache_ttl = std::chrono::milliseconds(1000));

  boost::asio::awaitable<Result<AccessDecision>> Authorize(const Caller& caller,
                                                           AccessRequest request);
  // Whether a repository exists (create-on-push needs ecr:CreateRepository when it does not).
  boost::asio::awaitable<Result<bool>> RepositoryExists(std::string repository);
  // Forgets every cached policy (call after changing one).
  void Invalidate();

  const iam::Account& account() const { return account_; }
  std::string ResourceArn(const std::string& repository) const;

 private:
  using PolicyPtr = std::shared_ptr<const iam::Policy>;
  struct IdentityEntry {
    int64_t expires = 0;
    std::vector<PolicyPtr> policies;
  };
  struct RepositoryEntry {
    int64_t expires = 0;
    bool exists = false;
    PolicyPtr policy;
    std::vector<std::pair<std::string, std::string>> tags;
  };
  struct RegistryEntry {
    int64_t expires = 0;
    PolicyPtr policy;
  };
  boost::asio::awaitable<Result<IdentityEntry>> Identity(std::string principal);
  boost::asio::awaitable<Result<RepositoryEntry>> Repository(std::string repository);
  boost::asio::awaitable<Result<RegistryEntry>> Registry();

  iam::PolicySource& source_;
  iam::Account account_;
  const Clock& clock_;
  int64_t ttl_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, IdentityEntry> identities_;      // guarded by mu_
  std::unordered_map<std::string, RepositoryEntry> repositories_;  // guarded by mu_
  RegistryEntry registry_;                                         // guarded by mu_
};

}  // namespace berth::auth
