#include "iam/iam.h"

#include <boost/json.hpp>
#include <openssl/rand.h>

#include "iam/policy.h"

namespace berth::iam {
namespace {

namespace json = boost::json;

std::string RandomFrom(std::string_view alphabet, size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    unsigned char b[64];
    BERTH_CHECK(RAND_bytes(b, sizeof b) == 1);
    for (unsigned char c : b) {
      // Rejection sampling keeps the distribution uniform.
      size_t limit = 256 - (256 % alphabet.size());
      if (c < limit && out.size() < n) {
        out.push_back(alphabet[c % alphabet.size()]);
      }
    }
  }
  return out;
}

Error Bad(std::string msg) { return MakeError(Errc::kInvalidArgument, std::move(msg)); }

}  // namespace

std::string Principal::Arn(const Account& account) const {
  switch (kind) {
    case Kind::kAnonymous:
      return "anonymous";
    case Kind::kUser:
      return "arn:aws:iam::" + account.registry_id + ":user/" + name;
    case Kind::kRole:
      return "arn:aws:iam::" + account.registry_id + ":role/" + name;
  }
  return "anonymous";
}

std::string RepositoryArn(const Account& account, std::string_view repository) {
  return "arn:aws:ecr:" + account.region + ":" + account.registry_id + ":repository/" +
         std::string(repository);
}

Result<std::string> ParseRepositoryArn(const Account& account, std::string_view arn) {
  std::string prefix = "arn:aws:ecr:" + account.region + ":" + account.registry_id + ":repository/";
  if (arn.substr(0, prefix.size()) != prefix || arn.size() == prefix.size()) {
    return Bad(
        "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'must be a "
        "repository ARN of this registry'");
  }
  return std::string(arn.substr(prefix.size()));
}

std::string NewAccessKeyId() { return "AKIA" + RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16); }

Secret NewSecretAccessKey() {
  return Secret(RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40));
}

std::string NewRegistryId() { return RandomFrom("123456789", 1) + RandomFrom("0123456789", 11); }

bool IsValidRegistryId(std::string_view id) {
  if (id.size() != 12) {
    return false;
  }
  for (char c : id) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

namespace {
// IAM names: [A-Za-z0-9+=,.@_-], 1..max characters.
bool IsIamName(std::string_view name, size_t max) {
  if (name.empty() || name.size() > max) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}
}  // namespace

bool IsValidPrincipalName(std::string_view name) { return IsIamName(name, 64); }
bool IsValidPolicyName(std::string_view name) { return IsIamName(name, 128); }

const std::vector<ManagedPolicy>& ManagedPolicies() {
  static const std::vector<ManagedPolicy> kPolicies = {
      {"AmazonEC2ContainerRegistryReadOnly",
       "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:GetRepositoryPolicy","ecr:DescribeRepositories","ecr:ListImages","ecr:DescribeImages","ecr:BatchGetImage","ecr:GetLifecyclePolicy","ecr:GetLifecyclePolicyPreview","ecr:ListTagsForResource","ecr:DescribeImageScanFindings"],"Resource":"*"}]})"},
      {"AmazonEC2ContainerRegistryPowerUser",
       "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser",
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:GetRepositoryPolicy","ecr:DescribeRepositories","ecr:ListImages","ecr:DescribeImages","ecr:BatchGetImage","ecr:GetLifecyclePolicy","ecr:GetLifecyclePolicyPreview","ecr:ListTagsForResource","ecr:DescribeImageScanFindings","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage"],"Resource":"*"}]})"},
      {"AmazonEC2ContainerRegistryFullAccess",
       "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess",
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:*"],"Resource":"*"}]})"},
      // berth's own: everything, including berth's operations (lifecycle runs, garbage
      // collection: IAM actions berth:*). Attached to the first administrator.
      {"BerthAdministratorAccess", "arn:aws:iam::aws:policy/BerthAdministratorAccess",
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:*","berth:*"],"Resource":"*"}]})"},
  };
  return kPolicies;
}

const ManagedPolicy* FindManagedPolicy(std::string_view name_or_arn) {
  for (const auto& p : ManagedPolicies()) {
    if (p.name == name_or_arn || p.arn == name_or_arn) {
      return &p;
    }
  }
  return nullptr;
}

Status ValidatePolicyDocument(std::string_view text, bool resource_policy) {
  auto p = Policy::Parse(text, resource_policy ? PolicyKind::kResource : PolicyKind::kIdentity);
  if (!p.ok()) {
    return std::move(p).error();
  }
  return Ok{};
}

}  // namespace berth::iam
