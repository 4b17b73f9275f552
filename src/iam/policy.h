// IAM policy documents and their evaluation — pure logic, no I/O.
//
// Grammar (IAM "JSON policy element reference"): Version, Id, Statement (an object or a list)
// of Sid, Effect, Principal/NotPrincipal (resource policies only), Action/NotAction,
// Resource/NotResource, Condition. Parsing validates everything evaluation relies on, so a
// policy that parses evaluates without surprises; the error names the element at fault.
//
// Matching:
//   Action       case-insensitive, '*' and '?' wildcards ("ecr:Batch*").
//   Resource     case-sensitive ARN glob, '*' and '?'; policy variables ${aws:username} etc.
//   Principal    "*" / {"AWS": "*"} (everyone, anonymous included), an account id or
//                "arn:aws:iam::<account>:root" (every principal of that account), a user or
//                role ARN (exact; '*' and '?' allowed).
//   Condition    operators AND'ed, keys within an operator AND'ed, values of one key OR'ed
//                (negated operators: the value must match none). A key missing from the
//                request makes positive operators false and negated ones true; ...IfExists
//                makes a missing key true; Null tests presence. ForAnyValue:/ForAllValues:
//                qualify multi-valued keys (aws:TagKeys). Condition key names are
//                case-insensitive; values are case-sensitive unless the operator says otherwise.
//
// Evaluation (IAM "Policy evaluation logic"): an explicit Deny in any applicable policy wins;
// otherwise, for a principal of the resource's own account, an Allow in an identity policy or
// in a resource policy (repository or registry) allows; for a principal of another account
// both an identity Allow (from its own account's policies) and a resource-policy Allow are
// needed; an anonymous caller is allowed only by a resource policy naming "*". Anything else
// is an implicit deny.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::iam {

enum class PolicyKind { kIdentity, kResource };

// A request as the evaluator sees it.
struct RequestContext {
  // Caller. Anonymous callers have an empty ARN and account.
  std::string principal_arn;      // arn:aws:iam::<account>:user/<name> or :role/<name>
  std::string principal_account;  // 12 digits
  bool anonymous() const { return principal_arn.empty(); }

  std::string action;            // "ecr:BatchGetImage"
  std::string resource;          // a repository ARN, or "*" for account-level actions
  std::string resource_account;  // owner of the resource (the registry's account)

  // Condition keys → values (most keys hold one value; aws:TagKeys holds several). Keys are
  // matched case-insensitively; set them with Set().
  std::map<std::string, std::vector<std::string>> keys;
  void Set(std::string_view key, std::vector<std::string> values);
  void Set(std::string_view key, std::string value);
  // Values of a key (lookup is case-insensitive) or null when absent.
  const std::vector<std::string>* Find(std::string_view key) const;
};

// One parsed statement. Lists hold the policy's strings as written.
struct Statement {
  enum class Effect { kAllow, kDeny };
  struct Condition {
    std::string op;          // base operator, e.g. "StringLike" (without qualifier/IfExists)
    bool if_exists = false;  // ...IfExists
    enum class Set { kNone, kForAnyValue, kForAllValues } set = Set::kNone;
    std::string key;  // as written
    std::vector<std::string> values;
  };
  std::string sid;
  Effect effect = Effect::kAllow;
  bool has_principal = false;  // resource policies: Principal or NotPrincipal present
  bool not_principal = false;
  std::vector<std::string> principals;  // "*" or AWS principal strings
  bool not_action = false;
  std::vector<std::string> actions;
  bool has_resource = false;  // resource policies may omit Resource (the attached resource)
  bool not_resource = false;
  std::vector<std::string> resources;
  std::vector<Condition> conditions;
};

class Policy {
 public:
  // Parses and validates. kInvalidArgument with a message such as
  // "Invalid policy text: Statement[1].Condition: unknown operator 'StringEqual'".
  static Result<Policy> Parse(std::string_view text, PolicyKind kind);
  const std::vector<Statement>& statements() const { return statements_; }
  PolicyKind kind() const { return kind_; }
  // Policy variables (${aws:username}) are substituted only under Version 2012-10-17.
  bool variables_enabled() const { return variables_; }

 private:
  PolicyKind kind_ = PolicyKind::kIdentity;
  bool variables_ = false;
  std::vector<Statement> statements_;
};

enum class Decision {
  kImplicitDeny,  // nothing allowed it
  kAllow,
  kExplicitDeny,
};
std::string_view DecisionName(Decision d);

// Evaluates one policy: kExplicitDeny if a matching Deny statement applies, else kAllow if a
// matching Allow applies, else kImplicitDeny.
Decision EvaluatePolicy(const Policy& policy, const RequestContext& ctx);

// The policies that apply to one request.
struct PolicySet {
  std::vector<const Policy*> identity;  // attached to the caller (any account's own policies)
  const Policy* repository = nullptr;   // the repository's resource policy, if any
  const Policy* registry = nullptr;     // the registry's resource policy, if any
};
Decision Evaluate(const PolicySet& policies, const RequestContext& ctx);

// Wildcard match: '*' any run (including empty), '?' exactly one character.
bool GlobMatch(std::string_view pattern, std::string_view text, bool ignore_case);

}  // namespace berth::iam
