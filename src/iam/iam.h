// iam: principals, access keys, ARNs and policy documents — pure logic, no I/O.
//
// An account (12-digit registry id) owns one registry in one region. Principals are users
// and roles of that account, or anonymous. Access keys are AKIA… ids with 40-character
// secrets. Policy documents are IAM JSON; this module validates their grammar (evaluation
// arrives with access control). CredentialSource is the seam through which authentication
// finds a key's secret without knowing where keys are stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/error.h"
#include "base/secret.h"

namespace berth::iam {

struct Account {
  std::string registry_id;  // 12 digits
  std::string region;       // e.g. us-east-1
};

struct Principal {
  enum class Kind { kAnonymous, kUser, kRole };
  Kind kind = Kind::kAnonymous;
  std::string name;           // user or role name
  std::string access_key_id;  // key that authenticated the request, if any
  std::string Arn(const Account& account) const;
  bool anonymous() const { return kind == Kind::kAnonymous; }
};

std::string RepositoryArn(const Account& account, std::string_view repository);
// The repository name of `arn` if it is a repository ARN of `account`. kInvalidArgument.
Result<std::string> ParseRepositoryArn(const Account& account, std::string_view arn);

// Generates "AKIA" + 16 characters of [A-Z2-7].
std::string NewAccessKeyId();
// Generates a 40-character secret of [A-Za-z0-9+/].
Secret NewSecretAccessKey();
// A random 12-digit account id (first digit non-zero).
std::string NewRegistryId();
bool IsValidRegistryId(std::string_view id);
// User and role names: [A-Za-z0-9+=,.@_-]{1,64}.
bool IsValidPrincipalName(std::string_view name);
// Customer policy names: [A-Za-z0-9+=,.@_-]{1,128}.
bool IsValidPolicyName(std::string_view name);

// AWS managed policies for ECR (security-iam-awsmanpol.md).
struct ManagedPolicy {
  std::string_view name;
  std::string_view arn;
  std::string_view document;
};
const std::vector<ManagedPolicy>& ManagedPolicies();
// Finds a managed policy by name or ARN.
const ManagedPolicy* FindManagedPolicy(std::string_view name_or_arn);

// Validates an IAM JSON policy document (Version, Statement[] with Effect, Action/NotAction,
// Resource/NotResource, Principal/NotPrincipal where `resource_policy`, Condition shape).
// kInvalidArgument with a message naming the problem.
Status ValidatePolicyDocument(std::string_view text, bool resource_policy);

// Where authentication finds access keys. Implemented by the registry over its store.
struct AccessKeyInfo {
  std::string user;
  Secret secret;
  bool active = true;
};
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // kUnknownAccessKey if the key does not exist.
  virtual boost::asio::awaitable<Result<AccessKeyInfo>> LookupAccessKey(std::string id) = 0;
  // The kind (user or role) of the principal called `name`; kNotFound if there is none.
  virtual boost::asio::awaitable<Result<Principal::Kind>> LookupPrincipal(std::string name) = 0;
};

// Where authorization finds the policies that apply to a request. Implemented by the registry
// over its store; the authorizer caches what it returns.
struct RepositoryAccessInfo {
  bool exists = false;
  std::string policy;  // repository policy text, empty if none
  std::vector<std::pair<std::string, std::string>> tags;
};
class PolicySource {
 public:
  virtual ~PolicySource() = default;
  // Documents of the identity policies attached to a user or role (empty for unknown names).
  virtual boost::asio::awaitable<Result<std::vector<std::string>>> IdentityPolicies(
      std::string principal) = 0;
  virtual boost::asio::awaitable<Result<RepositoryAccessInfo>> RepositoryAccess(
      std::string repository) = 0;
  // The registry policy text, empty if none.
  virtual boost::asio::awaitable<Result<std::string>> RegistryPolicy() = 0;
};

}  // namespace berth::iam
