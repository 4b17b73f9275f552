#include "iam/iam.h"

#include <boost/json.hpp>
#include <openssl/rand.h>

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

Status CheckStringOrList(const json::value& v, std::string_view what, size_t index) {
  auto where = "Statement[" + std::to_string(index) + "]." + std::string(what);
  if (v.is_string()) {
    if (v.get_string().empty()) {
      return Bad(where + " must not be empty");
    }
    return Ok{};
  }
  if (const json::array* a = v.if_array()) {
    if (a->empty()) {
      return Bad(where + " must not be an empty list");
    }
    for (const auto& e : *a) {
      if (!e.is_string() || e.get_string().empty()) {
        return Bad(where + " must hold non-empty strings");
      }
    }
    return Ok{};
  }
  return Bad(where + " must be a string or a list of strings");
}

Status CheckPrincipal(const json::value& v, size_t index) {
  auto where = "Statement[" + std::to_string(index) + "].Principal";
  if (v.is_string()) {
    if (v.get_string() != "*") {
      return Bad(where + " must be \"*\" or an object such as {\"AWS\": [...]}");
    }
    return Ok{};
  }
  const json::object* o = v.if_object();
  if (o == nullptr || o->empty()) {
    return Bad(where + " must be \"*\" or a non-empty object");
  }
  for (const auto& kv : *o) {
    if (kv.key() != "AWS" && kv.key() != "Service" && kv.key() != "Federated" &&
        kv.key() != "CanonicalUser") {
      return Bad(where + " has unknown principal type '" + std::string(kv.key()) + "'");
    }
    BERTH_TRY(CheckStringOrList(kv.value(), "Principal." + std::string(kv.key()), index));
  }
  return Ok{};
}

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

bool IsValidPrincipalName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
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
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    return Bad("Invalid policy text: not valid JSON (" + ec.message() + ")");
  }
  const json::object* o = root.if_object();
  if (o == nullptr) {
    return Bad("Invalid policy text: the policy must be a JSON object");
  }
  for (const auto& kv : *o) {
    if (kv.key() != "Version" && kv.key() != "Id" && kv.key() != "Statement") {
      return Bad("Invalid policy text: unknown top-level element '" + std::string(kv.key()) + "'");
    }
  }
  if (auto it = o->find("Version"); it != o->end()) {
    if (!it->value().is_string() ||
        (it->value().get_string() != "2012-10-17" && it->value().get_string() != "2008-10-17")) {
      return Bad("Invalid policy text: Version must be \"2012-10-17\" or \"2008-10-17\"");
    }
  }
  auto st = o->find("Statement");
  if (st == o->end()) {
    return Bad("Invalid policy text: missing Statement");
  }
  json::array statements;
  if (st->value().is_object()) {
    statements.push_back(st->value());
  } else if (st->value().is_array() && !st->value().get_array().empty()) {
    statements = st->value().get_array();
  } else {
    return Bad("Invalid policy text: Statement must be an object or a non-empty list");
  }
  for (size_t i = 0; i < statements.size(); ++i) {
    const json::object* s = statements[i].if_object();
    std::string where = "Statement[" + std::to_string(i) + "]";
    if (s == nullptr) {
      return Bad("Invalid policy text: " + where + " must be an object");
    }
    for (const auto& kv : *s) {
      static const char* kKnown[] = {"Sid",          "Effect",      "Principal",
                                     "NotPrincipal", "Action",      "NotAction",
                                     "Resource",     "NotResource", "Condition"};
      bool known = false;
      for (const char* k : kKnown) {
        known = known || kv.key() == k;
      }
      if (!known) {
        return Bad("Invalid policy text: " + where + " has unknown element '" +
                   std::string(kv.key()) + "'");
      }
    }
    auto effect = s->find("Effect");
    if (effect == s->end() || !effect->value().is_string() ||
        (effect->value().get_string() != "Allow" && effect->value().get_string() != "Deny")) {
      return Bad("Invalid policy text: " + where + ".Effect must be \"Allow\" or \"Deny\"");
    }
    bool has_action = s->contains("Action");
    if (has_action == s->contains("NotAction")) {
      return Bad("Invalid policy text: " + where + " needs exactly one of Action or NotAction");
    }
    for (const char* k : {"Action", "NotAction", "Resource", "NotResource"}) {
      if (auto it = s->find(k); it != s->end()) {
        BERTH_TRY(CheckStringOrList(it->value(), k, i));
      }
    }
    if (s->contains("Resource") && s->contains("NotResource")) {
      return Bad("Invalid policy text: " + where + " has both Resource and NotResource");
    }
    bool has_principal = s->contains("Principal") || s->contains("NotPrincipal");
    if (resource_policy) {
      if (s->contains("Principal") == s->contains("NotPrincipal")) {
        return Bad("Invalid policy text: " + where +
                   " of a resource policy needs exactly one of Principal or NotPrincipal");
      }
      for (const char* k : {"Principal", "NotPrincipal"}) {
        if (auto it = s->find(k); it != s->end()) {
          BERTH_TRY(CheckPrincipal(it->value(), i));
        }
      }
    } else {
      if (has_principal) {
        return Bad("Invalid policy text: " + where +
                   " of an identity policy must not have Principal or NotPrincipal");
      }
      if (!s->contains("Resource") && !s->contains("NotResource")) {
        return Bad("Invalid policy text: " + where + " needs Resource or NotResource");
      }
    }
    if (auto it = s->find("Condition"); it != s->end()) {
      const json::object* c = it->value().if_object();
      if (c == nullptr) {
        return Bad("Invalid policy text: " + where + ".Condition must be an object");
      }
      for (const auto& op : *c) {
        const json::object* keys = op.value().if_object();
        if (keys == nullptr || keys->empty()) {
          return Bad("Invalid policy text: " + where + ".Condition." + std::string(op.key()) +
                     " must map condition keys to values");
        }
      }
    }
  }
  return Ok{};
}

}  // namespace berth::iam
