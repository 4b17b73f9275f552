// Table-driven tests of the IAM policy parser and evaluator, written against AWS's documented
// semantics (IAM User Guide: "Policy evaluation logic", "Cross-account policy evaluation logic",
// "IAM JSON policy elements: Condition operators", "Conditions with multiple context keys or
// values", "Single-valued vs. multivalued context keys", "Action", "NotAction", "NotResource",
// "Principal", "NotPrincipal", "Variables and tags", "Grammar of the IAM JSON policy language"),
// not against the implementation.
//
// 337 table cases (PolicyTablesTest.Hold337CasesAtLeast170 recounts them):
//   PolicyParseTest      52  Parse(): valid and invalid documents
//   PolicyConditionTest 150  every operator, IfExists, Null, sets, AND/OR, key-name case; each
//                            condition is checked on an Allow and on a Deny statement
//   PolicyMatchTest      72  Action/NotAction, Resource/NotResource, variables, Principal
//   PolicyEvaluateTest   38  Evaluate(): identity x repository x registry, cross-account, anonymous
//   GlobMatchTest        25  GlobMatch()
#include "iam/policy.h"

#include <cctype>
#include <iostream>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace berth::iam {
namespace {

// The resource account; a second account for cross-account cases.
constexpr char kAccount[] = "123456789012";
constexpr char kAlice[] = "arn:aws:iam::123456789012:user/alice";
constexpr char kBob[] = "arn:aws:iam::123456789012:user/bob";
constexpr char kCiRole[] = "arn:aws:iam::123456789012:role/ci";
constexpr char kDave[] = "arn:aws:iam::210987654321:user/dave";  // another account
constexpr char kAnonymous[] = "";
constexpr char kAppRepo[] = "arn:aws:ecr:us-east-1:123456789012:repository/app";
constexpr char kRepoPrefix[] = "arn:aws:ecr:us-east-1:123456789012:repository/";

std::string Repo(std::string_view name) { return std::string(kRepoPrefix) + std::string(name); }

using Keys = std::vector<std::pair<std::string, std::vector<std::string>>>;

// A request: who, what, on which resource (always owned by kAccount), with which keys.
struct Req {
  std::string principal = kAlice;  // kAnonymous for an anonymous caller
  std::string action = "ecr:BatchGetImage";
  std::string resource = kAppRepo;
  Keys keys = {};
};

// "arn:aws:iam::<account>:..." → "<account>"; "" for anonymous.
std::string AccountOf(std::string_view arn) {
  size_t pos = 0;
  for (int field = 0; field < 4; ++field) {
    pos = arn.find(':', pos);
    if (pos == std::string_view::npos) {
      return "";
    }
    ++pos;
  }
  size_t end = arn.find(':', pos);
  return std::string(arn.substr(pos, end == std::string_view::npos ? end : end - pos));
}

RequestContext MakeContext(const Req& r) {
  RequestContext ctx;
  ctx.principal_arn = r.principal;
  ctx.principal_account = AccountOf(r.principal);
  ctx.action = r.action;
  ctx.resource = r.resource;
  ctx.resource_account = kAccount;
  for (const auto& [key, values] : r.keys) {
    ctx.Set(key, values);
  }
  return ctx;
}

std::string Doc(std::string_view statements) {
  return R"({"Version":"2012-10-17","Statement":[)" + std::string(statements) + "]}";
}

std::string DescribeError(const Error& e) {
  return std::string(ErrcName(e.code)) + ": " + e.message;
}

// Test names: letters, digits and '_' only.
std::string SafeName(std::string_view name) {
  std::string n;
  for (char c : name) {
    n.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return n;
}

template <class Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return SafeName(info.param.name);
}

// Every table's names must be unique, or gtest refuses to register the suite.
template <class Case>
bool NamesAreUnique(const std::vector<Case>& cases) {
  std::set<std::string> seen;
  for (const auto& c : cases) {
    if (!seen.insert(SafeName(c.name)).second) {
      ADD_FAILURE() << "duplicate case name " << c.name;
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Parse()

struct ParseCase {
  std::string name;
  PolicyKind kind;
  std::string text;
  bool valid;
  std::vector<std::string> message_parts;  // each must occur in the error message
};
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

constexpr PolicyKind kId = PolicyKind::kIdentity;
constexpr PolicyKind kRes = PolicyKind::kResource;

// A valid first statement, so that the faulty one is Statement[1].
constexpr char kOkIdStmt[] = R"({"Effect":"Allow","Action":"ecr:*","Resource":"*"})";
constexpr char kOkResStmt[] = R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"})";

// An identity policy whose second statement carries `condition`.
std::string WithCondition(std::string_view condition) {
  return Doc(std::string(kOkIdStmt) +
             R"(,{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":)" +
             std::string(condition) + "}");
}

const std::vector<ParseCase>& ParseCases() {
  static const auto* cases = new std::vector<ParseCase>{
      // Valid documents.
      {"identity statement list", kId, Doc(kOkIdStmt), true, {}},
      {"identity statement as single object",
       kId,
       R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ecr:*","Resource":"*"}})",
       true,
       {}},
      {"resource statement as single object",
       kRes,
       R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}})",
       true,
       {}},
      {"version 2008-10-17",
       kId,
       R"({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]})",
       true,
       {}},
      {"version omitted",
       kId,
       R"({"Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]})",
       true,
       {}},
      {"id and sid",
       kId,
       R"({"Version":"2012-10-17","Id":"p1","Statement":[{"Sid":"s1","Effect":"Allow","Action":"ecr:*","Resource":"*"}]})",
       true,
       {}},
      {"action string resource list",
       kId,
       Doc(R"({"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":["arn:aws:ecr:us-east-1:123456789012:repository/a","arn:aws:ecr:us-east-1:123456789012:repository/b"]})"),
       true,
       {}},
      {"action list resource string",
       kId,
       Doc(R"({"Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"})"),
       true,
       {}},
      {"not action not resource",
       kId,
       Doc(R"({"Effect":"Deny","NotAction":"ecr:BatchGetImage","NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/app"})"),
       true,
       {}},
      {"resource policy without resource", kRes, Doc(kOkResStmt), true, {}},
      {"resource policy principal aws string",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"})"),
       true,
       {}},
      {"resource policy principal aws list",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","arn:aws:iam::210987654321:user/dave"]},"Action":"ecr:*"})"),
       true,
       {}},
      {"resource policy not principal deny",
       kRes,
       Doc(R"({"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})"),
       true,
       {}},
      {"condition operators with qualifiers and IfExists",
       kId,
       WithCondition(
           R"({"StringEqualsIfExists":{"aws:username":"alice"},"ForAllValues:StringLike":{"aws:TagKeys":["team-*"]},"ForAnyValue:StringEquals":{"aws:TagKeys":"env"},"Null":{"aws:TokenIssueTime":"true"}})"),
       true,
       {}},
      {"condition ipv6 cidr and single address",
       kId,
       WithCondition(R"({"IpAddress":{"aws:SourceIp":["2001:db8::/32","203.0.113.7"]}})"),
       true,
       {}},
      {"condition date iso and epoch",
       kId,
       WithCondition(
           R"({"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"1798761600"}})"),
       true,
       {}},
      // Grammar: "Quotation marks are optional for numeric and Boolean values."
      {"condition unquoted number and boolean",
       kId,
       WithCondition(
           R"({"NumericLessThan":{"aws:MultiFactorAuthAge":3600},"Bool":{"aws:SecureTransport":true}})"),
       true,
       {}},
      {"condition bool and null false",
       kId,
       WithCondition(R"({"Bool":{"aws:SecureTransport":"false"},"Null":{"aws:username":"false"}})"),
       true,
       {}},

      // Invalid documents.
      {"bad json", kId, "{", false, {}},
      {"truncated json", kId, R"({"Version":"2012-10-17","Statement":[)", false, {}},
      {"not an object", kId, "[]", false, {}},
      {"wrong version",
       kId,
       R"({"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]})",
       false,
       {"Version"}},
      {"missing statement", kId, R"({"Version":"2012-10-17"})", false, {"Statement"}},
      {"statement not an object",
       kId,
       R"({"Version":"2012-10-17","Statement":[1]})",
       false,
       {"Statement"}},
      {"missing effect",
       kId,
       Doc(std::string(kOkIdStmt) + R"(,{"Action":"ecr:*","Resource":"*"})"),
       false,
       {"Statement[1]", "Effect"}},
      {"bad effect",
       kId,
       Doc(std::string(kOkIdStmt) + R"(,{"Effect":"Maybe","Action":"ecr:*","Resource":"*"})"),
       false,
       {"Statement[1]", "Effect"}},
      {"both action and not action",
       kId,
       Doc(std::string(kOkIdStmt) +
           R"(,{"Effect":"Allow","Action":"ecr:*","NotAction":"ecr:PutImage","Resource":"*"})"),
       false,
       {"Statement[1]", "Action"}},
      {"neither action nor not action",
       kId,
       Doc(std::string(kOkIdStmt) + R"(,{"Effect":"Allow","Resource":"*"})"),
       false,
       {"Statement[1]", "Action"}},
      {"both resource and not resource",
       kId,
       Doc(std::string(kOkIdStmt) +
           R"(,{"Effect":"Allow","Action":"ecr:*","Resource":"*","NotResource":"*"})"),
       false,
       {"Statement[1]", "Resource"}},
      {"identity policy without resource",
       kId,
       Doc(std::string(kOkIdStmt) + R"(,{"Effect":"Allow","Action":"ecr:*"})"),
       false,
       {"Statement[1]", "Resource"}},
      {"identity policy with principal",
       kId,
       Doc(std::string(kOkIdStmt) +
           R"(,{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"})"),
       false,
       {"Statement[1]", "Principal"}},
      {"identity policy with not principal",
       kId,
       Doc(std::string(kOkIdStmt) +
           R"(,{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"ecr:*","Resource":"*"})"),
       false,
       {"Statement[1]", "Principal"}},
      {"resource policy without principal",
       kRes,
       Doc(std::string(kOkResStmt) + R"(,{"Effect":"Allow","Action":"ecr:*"})"),
       false,
       {"Statement[1]", "Principal"}},
      {"resource policy principal and not principal",
       kRes,
       Doc(std::string(kOkResStmt) +
           R"(,{"Effect":"Deny","Principal":"*","NotPrincipal":{"AWS":"123456789012"},"Action":"ecr:*"})"),
       false,
       {"Statement[1]", "Principal"}},
      {"resource policy unknown principal type",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"ecr:*"})"),
       false,
       {"Bogus"}},
      {"unknown statement element",
       kId,
       Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":"*","Foo":1})"),
       false,
       {"Foo"}},
      {"unknown condition operator",
       kId,
       WithCondition(R"({"StringEqual":{"aws:username":"a"}})"),
       false,
       {"Statement[1]", "StringEqual"}},
      {"unknown condition qualifier",
       kId,
       WithCondition(R"({"ForSomeValues:StringLike":{"aws:TagKeys":"a*"}})"),
       false,
       {"Statement[1]", "ForSomeValues"}},
      {"condition not an object",
       kId,
       WithCondition(R"("StringEquals")"),
       false,
       {"Statement[1]", "Condition"}},
      {"condition operator block not an object",
       kId,
       WithCondition(R"({"StringEquals":"x"})"),
       false,
       {"Statement[1]", "Condition"}},
      {"condition value an object",
       kId,
       WithCondition(R"({"StringEquals":{"aws:username":{"a":"b"}}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"ip cidr mask too long",
       kId,
       WithCondition(R"({"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"ip octet out of range",
       kId,
       WithCondition(R"({"NotIpAddress":{"aws:SourceIp":"300.1.1.1/24"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"ip not an address",
       kId,
       WithCondition(R"({"IpAddress":{"aws:SourceIp":"localhost"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"ipv6 cidr mask too long",
       kId,
       WithCondition(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/129"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"date not a date",
       kId,
       WithCondition(R"({"DateGreaterThan":{"aws:CurrentTime":"tomorrow"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"date month out of range",
       kId,
       WithCondition(R"({"DateLessThan":{"aws:CurrentTime":"2026-13-01T00:00:00Z"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"numeric not a number",
       kId,
       WithCondition(R"({"NumericLessThan":{"aws:MultiFactorAuthAge":"abc"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"bool yes",
       kId,
       WithCondition(R"({"Bool":{"aws:SecureTransport":"yes"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"bool empty",
       kId,
       WithCondition(R"({"Bool":{"aws:SecureTransport":""}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"null maybe",
       kId,
       WithCondition(R"({"Null":{"aws:username":"maybe"}})"),
       false,
       {"Statement[1]", "Condition"}},
      {"null one",
       kId,
       WithCondition(R"({"Null":{"aws:username":"1"}})"),
       false,
       {"Statement[1]", "Condition"}},
  };
  return *cases;
}

class PolicyParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(PolicyParseTest, AcceptsOrRefuses) {
  const ParseCase& c = GetParam();
  Result<Policy> p = Policy::Parse(c.text, c.kind);
  if (c.valid) {
    EXPECT_TRUE(p.ok()) << c.text << "\n" << DescribeError(p.error());
    return;
  }
  ASSERT_FALSE(p.ok()) << "accepted: " << c.text;
  EXPECT_EQ(p.error().code, Errc::kInvalidArgument) << DescribeError(p.error());
  for (const auto& part : c.message_parts) {
    EXPECT_NE(p.error().message.find(part), std::string::npos)
        << "message lacks \"" << part << "\": " << p.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyParseTest, ::testing::ValuesIn(ParseCases()),
                         CaseName<ParseCase>);

// ---------------------------------------------------------------------------------------------
// Conditions. Each case's condition is placed on an Allow statement (holds → kAllow, else
// kImplicitDeny) and on a Deny statement beside an allow-all one (holds → kExplicitDeny, else
// kAllow: a Deny whose condition fails does not deny).

struct ConditionCase {
  std::string name;
  std::string condition;  // the value of "Condition"
  Keys keys = {};
  bool holds;
};
void PrintTo(const ConditionCase& c, std::ostream* os) { *os << c.name; }

const std::vector<ConditionCase>& ConditionCases() {
  static const auto* cases = new std::vector<ConditionCase>{
      // String operators (values case-sensitive unless IgnoreCase).
      {"StringEquals match",
       R"({"StringEquals":{"aws:username":"alice"}})",
       {{"aws:username", {"alice"}}},
       true},
      {"StringEquals value case differs",
       R"({"StringEquals":{"aws:username":"alice"}})",
       {{"aws:username", {"Alice"}}},
       false},
      {"StringEquals missing key", R"({"StringEquals":{"aws:username":"alice"}})", {}, false},
      {"StringEquals values ORed match",
       R"({"StringEquals":{"aws:username":["bob","alice"]}})",
       {{"aws:username", {"alice"}}},
       true},
      {"StringEquals values ORed none",
       R"({"StringEquals":{"aws:username":["bob","alice"]}})",
       {{"aws:username", {"carol"}}},
       false},
      {"StringNotEquals differs",
       R"({"StringNotEquals":{"aws:username":"alice"}})",
       {{"aws:username", {"carol"}}},
       true},
      {"StringNotEquals equal",
       R"({"StringNotEquals":{"aws:username":"alice"}})",
       {{"aws:username", {"alice"}}},
       false},
      {"StringNotEquals missing key", R"({"StringNotEquals":{"aws:username":"alice"}})", {}, true},
      {"StringNotEquals values NORed one matches",
       R"({"StringNotEquals":{"aws:username":["bob","alice"]}})",
       {{"aws:username", {"alice"}}},
       false},
      {"StringNotEquals values NORed none match",
       R"({"StringNotEquals":{"aws:username":["bob","alice"]}})",
       {{"aws:username", {"carol"}}},
       true},
      {"StringEqualsIgnoreCase match",
       R"({"StringEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {{"aws:username", {"alice"}}},
       true},
      {"StringEqualsIgnoreCase differs",
       R"({"StringEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {{"aws:username", {"alicia"}}},
       false},
      {"StringEqualsIgnoreCase missing key",
       R"({"StringEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {},
       false},
      {"StringNotEqualsIgnoreCase equal ignoring case",
       R"({"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {{"aws:username", {"alice"}}},
       false},
      {"StringNotEqualsIgnoreCase differs",
       R"({"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {{"aws:username", {"bob"}}},
       true},
      {"StringNotEqualsIgnoreCase missing key",
       R"({"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}})",
       {},
       true},
      {"StringLike star",
       R"({"StringLike":{"aws:ResourceTag/team":"team-*"}})",
       {{"aws:ResourceTag/team", {"team-a"}}},
       true},
      {"StringLike star empty run",
       R"({"StringLike":{"aws:ResourceTag/team":"team-*"}})",
       {{"aws:ResourceTag/team", {"team-"}}},
       true},
      {"StringLike question needs one char",
       R"({"StringLike":{"aws:ResourceTag/team":"team-?"}})",
       {{"aws:ResourceTag/team", {"team-ab"}}},
       false},
      {"StringLike case sensitive",
       R"({"StringLike":{"aws:ResourceTag/team":"Team-*"}})",
       {{"aws:ResourceTag/team", {"team-a"}}},
       false},
      {"StringLike missing key", R"({"StringLike":{"aws:ResourceTag/team":"*"}})", {}, false},
      {"StringLike values ORed",
       R"({"StringLike":{"aws:ResourceTag/team":["ops*","team-*"]}})",
       {{"aws:ResourceTag/team", {"team-a"}}},
       true},
      {"StringNotLike no match",
       R"({"StringNotLike":{"aws:ResourceTag/team":"team-*"}})",
       {{"aws:ResourceTag/team", {"ops"}}},
       true},
      {"StringNotLike match",
       R"({"StringNotLike":{"aws:ResourceTag/team":"team-*"}})",
       {{"aws:ResourceTag/team", {"team-a"}}},
       false},
      {"StringNotLike missing key",
       R"({"StringNotLike":{"aws:ResourceTag/team":"team-*"}})",
       {},
       true},
      {"StringNotLike values NORed one matches",
       R"({"StringNotLike":{"aws:ResourceTag/team":["ops*","team-*"]}})",
       {{"aws:ResourceTag/team", {"ops-1"}}},
       false},
      // Numeric operators (integers and decimals, compared as numbers).
      {"NumericEquals match",
       R"({"NumericEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"10"}}},
       true},
      {"NumericEquals differs",
       R"({"NumericEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"11"}}},
       false},
      {"NumericEquals decimal",
       R"({"NumericEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"10.0"}}},
       true},
      {"NumericEquals missing key",
       R"({"NumericEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {},
       false},
      {"NumericNotEquals differs",
       R"({"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"11"}}},
       true},
      {"NumericNotEquals equal",
       R"({"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"10"}}},
       false},
      {"NumericNotEquals missing key",
       R"({"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {},
       true},
      {"NumericLessThan below",
       R"({"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}})",
       {{"aws:MultiFactorAuthAge", {"100"}}},
       true},
      {"NumericLessThan equal",
       R"({"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}})",
       {{"aws:MultiFactorAuthAge", {"3600"}}},
       false},
      {"NumericLessThan compares numbers not text",
       R"({"NumericLessThan":{"aws:MultiFactorAuthAge":"100"}})",
       {{"aws:MultiFactorAuthAge", {"20"}}},
       true},
      {"NumericLessThan missing key",
       R"({"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}})",
       {},
       false},
      {"NumericLessThan unquoted number",
       R"({"NumericLessThan":{"aws:MultiFactorAuthAge":3600}})",
       {{"aws:MultiFactorAuthAge", {"100"}}},
       true},
      {"NumericLessThanEquals equal",
       R"({"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}})",
       {{"aws:MultiFactorAuthAge", {"3600"}}},
       true},
      {"NumericLessThanEquals above",
       R"({"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}})",
       {{"aws:MultiFactorAuthAge", {"3601"}}},
       false},
      {"NumericGreaterThan above",
       R"({"NumericGreaterThan":{"aws:MultiFactorAuthAge":"100"}})",
       {{"aws:MultiFactorAuthAge", {"101"}}},
       true},
      {"NumericGreaterThan equal",
       R"({"NumericGreaterThan":{"aws:MultiFactorAuthAge":"100"}})",
       {{"aws:MultiFactorAuthAge", {"100"}}},
       false},
      {"NumericGreaterThan negative",
       R"({"NumericGreaterThan":{"aws:MultiFactorAuthAge":"-5"}})",
       {{"aws:MultiFactorAuthAge", {"0"}}},
       true},
      {"NumericGreaterThanEquals equal",
       R"({"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":"100"}})",
       {{"aws:MultiFactorAuthAge", {"100"}}},
       true},
      {"NumericGreaterThanEquals below",
       R"({"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":"100"}})",
       {{"aws:MultiFactorAuthAge", {"99"}}},
       false},
      // Date operators (ISO 8601 and epoch seconds; 1767225600 = 2026-01-01T00:00:00Z).
      {"DateEquals match",
       R"({"DateEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"DateEquals differs",
       R"({"DateEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:01Z"}}},
       false},
      {"DateEquals epoch policy value",
       R"({"DateEquals":{"aws:CurrentTime":"1767225600"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"DateEquals time zone offset",
       R"({"DateEquals":{"aws:CurrentTime":"2026-01-01T01:00:00+01:00"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"DateNotEquals differs",
       R"({"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-06-01T00:00:00Z"}}},
       true},
      {"DateNotEquals equal",
       R"({"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       false},
      {"DateNotEquals missing key",
       R"({"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {},
       true},
      {"DateLessThan before",
       R"({"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2025-12-31T23:59:59Z"}}},
       true},
      {"DateLessThan equal",
       R"({"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       false},
      {"DateLessThan epoch policy value",
       R"({"DateLessThan":{"aws:CurrentTime":"1767225600"}})",
       {{"aws:CurrentTime", {"2025-12-31T23:59:59Z"}}},
       true},
      {"DateLessThan missing key",
       R"({"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {},
       false},
      {"DateLessThanEquals equal",
       R"({"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"DateLessThanEquals after",
       R"({"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:01Z"}}},
       false},
      {"DateGreaterThan after",
       R"({"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-06-01T12:00:00Z"}}},
       true},
      {"DateGreaterThan before",
       R"({"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2025-06-01T12:00:00Z"}}},
       false},
      {"DateGreaterThan missing key",
       R"({"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {},
       false},
      {"DateGreaterThan epoch request value",
       R"({"DateGreaterThan":{"aws:EpochTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:EpochTime", {"1780000000"}}},
       true},
      {"DateGreaterThanEquals equal",
       R"({"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"DateGreaterThanEquals before",
       R"({"DateGreaterThanEquals":{"aws:CurrentTime":"1767225600"}})",
       {{"aws:CurrentTime", {"2025-12-31T23:59:59Z"}}},
       false},
      {"DateLessThan W3C date only",
       R"({"DateLessThan":{"aws:CurrentTime":"2026-01-01"}})",
       {{"aws:CurrentTime", {"2025-12-31T23:59:59Z"}}},
       true},
      {"DateGreaterThanIfExists present before",
       R"({"DateGreaterThanIfExists":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2025-01-01T00:00:00Z"}}},
       false},
      {"NumericEquals request not a number",
       R"({"NumericEquals":{"aws:MultiFactorAuthAge":"10"}})",
       {{"aws:MultiFactorAuthAge", {"ten"}}},
       false},
      {"IpAddress request not an address",
       R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})",
       {{"aws:SourceIp", {"not-an-ip"}}},
       false},
      // Bool.
      {"Bool true matches",
       R"({"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"true"}}},
       true},
      {"Bool true vs false",
       R"({"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"false"}}},
       false},
      {"Bool false matches",
       R"({"Bool":{"aws:SecureTransport":"false"}})",
       {{"aws:SecureTransport", {"false"}}},
       true},
      {"Bool missing key", R"({"Bool":{"aws:SecureTransport":"true"}})", {}, false},
      // IP addresses (IPv4, IPv6, CIDR or single address).
      {"IpAddress in cidr",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"IpAddress outside cidr",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.114.1"}}},
       false},
      {"IpAddress unaligned cidr inside",
       R"({"IpAddress":{"aws:SourceIp":"10.0.16.0/20"}})",
       {{"aws:SourceIp", {"10.0.31.255"}}},
       true},
      {"IpAddress unaligned cidr outside",
       R"({"IpAddress":{"aws:SourceIp":"10.0.16.0/20"}})",
       {{"aws:SourceIp", {"10.0.32.0"}}},
       false},
      {"IpAddress single address match",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.7"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"IpAddress single address differs",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.7"}})",
       {{"aws:SourceIp", {"203.0.113.8"}}},
       false},
      {"IpAddress any",
       R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})",
       {{"aws:SourceIp", {"198.51.100.1"}}},
       true},
      {"IpAddress missing key", R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})", {}, false},
      {"IpAddress ipv6 in cidr",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})",
       {{"aws:SourceIp", {"2001:db8:1234::1"}}},
       true},
      {"IpAddress ipv6 long form in cidr",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::/64"}})",
       {{"aws:SourceIp", {"2001:0db8:0000:0000:0000:0000:0000:0001"}}},
       true},
      {"IpAddress ipv6 outside cidr",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})",
       {{"aws:SourceIp", {"2001:db9::1"}}},
       false},
      {"IpAddress ipv6 single address",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::1"}})",
       {{"aws:SourceIp", {"2001:db8::1"}}},
       true},
      {"IpAddress ipv4 cidr vs ipv6 address",
       R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})",
       {{"aws:SourceIp", {"2001:db8::1"}}},
       false},
      {"IpAddress values ORed",
       R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"NotIpAddress outside",
       R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"NotIpAddress inside",
       R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})",
       {{"aws:SourceIp", {"10.1.2.3"}}},
       false},
      {"NotIpAddress missing key", R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})", {}, true},
      {"NotIpAddress values NORed one matches",
       R"({"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       false},
      // ARN operators (case-sensitive).
      {"ArnEquals match",
       R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       true},
      {"ArnEquals differs",
       R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {{"aws:PrincipalArn", {kBob}}},
       false},
      {"ArnEquals case sensitive",
       R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/Alice"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       false},
      {"ArnEquals missing key",
       R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {},
       false},
      {"ArnEquals wildcards like ArnLike",
       R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       true},
      {"ArnNotEquals differs",
       R"({"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {{"aws:PrincipalArn", {kBob}}},
       true},
      {"ArnNotEquals equal",
       R"({"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       false},
      {"ArnNotEquals missing key",
       R"({"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}})",
       {},
       true},
      {"ArnLike star",
       R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       true},
      {"ArnLike star in account and question mark",
       R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/ci-?"}})",
       {{"aws:PrincipalArn", {"arn:aws:iam::210987654321:role/ci-1"}}},
       true},
      {"ArnLike question mark one char",
       R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/ci-?"}})",
       {{"aws:PrincipalArn", {"arn:aws:iam::210987654321:role/ci-12"}}},
       false},
      {"ArnLike missing key",
       R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}})",
       {},
       false},
      {"ArnNotLike no match",
       R"({"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}})",
       {{"aws:PrincipalArn", {kCiRole}}},
       true},
      {"ArnNotLike match",
       R"({"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}})",
       {{"aws:PrincipalArn", {kAlice}}},
       false},
      {"ArnNotLike missing key",
       R"({"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}})",
       {},
       true},
      // Null tests presence.
      {"Null true key absent", R"({"Null":{"aws:TokenIssueTime":"true"}})", {}, true},
      {"Null true key present",
       R"({"Null":{"aws:TokenIssueTime":"true"}})",
       {{"aws:TokenIssueTime", {"2026-01-01T00:00:00Z"}}},
       false},
      {"Null false key present",
       R"({"Null":{"aws:TokenIssueTime":"false"}})",
       {{"aws:TokenIssueTime", {"2026-01-01T00:00:00Z"}}},
       true},
      {"Null false key absent", R"({"Null":{"aws:TokenIssueTime":"false"}})", {}, false},
      // ...IfExists: a missing key makes the condition true; a present key is evaluated.
      {"StringEqualsIfExists missing key",
       R"({"StringEqualsIfExists":{"aws:username":"alice"}})",
       {},
       true},
      {"StringEqualsIfExists present match",
       R"({"StringEqualsIfExists":{"aws:username":"alice"}})",
       {{"aws:username", {"alice"}}},
       true},
      {"StringEqualsIfExists present mismatch",
       R"({"StringEqualsIfExists":{"aws:username":"alice"}})",
       {{"aws:username", {"bob"}}},
       false},
      {"StringNotEqualsIfExists present equal",
       R"({"StringNotEqualsIfExists":{"aws:username":"alice"}})",
       {{"aws:username", {"alice"}}},
       false},
      {"StringLikeIfExists present mismatch",
       R"({"StringLikeIfExists":{"aws:ResourceTag/team":"team-*"}})",
       {{"aws:ResourceTag/team", {"ops"}}},
       false},
      {"NumericLessThanIfExists missing key",
       R"({"NumericLessThanIfExists":{"aws:MultiFactorAuthAge":"3600"}})",
       {},
       true},
      {"DateGreaterThanIfExists missing key",
       R"({"DateGreaterThanIfExists":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}})",
       {},
       true},
      {"BoolIfExists missing key", R"({"BoolIfExists":{"aws:SecureTransport":"true"}})", {}, true},
      {"BoolIfExists present false",
       R"({"BoolIfExists":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"false"}}},
       false},
      {"IpAddressIfExists missing key",
       R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})",
       {},
       true},
      {"IpAddressIfExists present outside",
       R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})",
       {{"aws:SourceIp", {"192.0.2.1"}}},
       false},
      {"ArnLikeIfExists missing key",
       R"({"ArnLikeIfExists":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}})",
       {},
       true},
      {"StringNotEqualsIfExists missing key",
       R"({"StringNotEqualsIfExists":{"aws:username":"alice"}})",
       {},
       true},
      // Several keys under one operator AND'ed; several operators AND'ed.
      {"two keys one operator both hold",
       R"({"StringEquals":{"aws:username":"alice","aws:ResourceTag/team":"a"}})",
       {{"aws:username", {"alice"}}, {"aws:ResourceTag/team", {"a"}}},
       true},
      {"two keys one operator one fails",
       R"({"StringEquals":{"aws:username":"alice","aws:ResourceTag/team":"a"}})",
       {{"aws:username", {"alice"}}, {"aws:ResourceTag/team", {"b"}}},
       false},
      {"two keys one operator one missing",
       R"({"StringEquals":{"aws:username":"alice","aws:ResourceTag/team":"a"}})",
       {{"aws:username", {"alice"}}},
       false},
      {"two operators both hold",
       R"({"StringEquals":{"aws:username":"alice"},"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:username", {"alice"}}, {"aws:SecureTransport", {"true"}}},
       true},
      {"two operators one fails",
       R"({"StringEquals":{"aws:username":"alice"},"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:username", {"alice"}}, {"aws:SecureTransport", {"false"}}},
       false},
      // Multivalued keys: ForAnyValue / ForAllValues over aws:TagKeys.
      {"ForAnyValue one value in set",
       R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"env"}}},
       true},
      {"ForAnyValue several values one in set",
       R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"owner", "team"}}},
       true},
      {"ForAnyValue several values none in set",
       R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"owner", "cost"}}},
       false},
      {"ForAnyValue zero values",
       R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {}}},
       false},
      {"ForAnyValue absent key",
       R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {},
       false},
      {"ForAnyValue StringLike",
       R"({"ForAnyValue:StringLike":{"aws:TagKeys":"team-*"}})",
       {{"aws:TagKeys", {"env", "team-a"}}},
       true},
      {"ForAllValues one value in set",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"env"}}},
       true},
      {"ForAllValues several values all in set",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"team", "env"}}},
       true},
      {"ForAllValues several values one outside",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"env", "owner"}}},
       false},
      {"ForAllValues values case sensitive",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {"Env"}}},
       false},
      {"ForAllValues zero values",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {{"aws:TagKeys", {}}},
       true},
      {"ForAllValues absent key",
       R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
       {},
       true},
      {"ForAllValues StringLike",
       R"({"ForAllValues:StringLike":{"aws:TagKeys":"team-*"}})",
       {{"aws:TagKeys", {"team-a", "team-b"}}},
       true},
      {"ForAnyValue StringEqualsIgnoreCase",
       R"({"ForAnyValue:StringEqualsIgnoreCase":{"aws:TagKeys":"ENV"}})",
       {{"aws:TagKeys", {"owner", "env"}}},
       true},
      {"ForAllValues key name case",
       R"({"ForAllValues:StringEquals":{"AWS:TAGKEYS":"env"}})",
       {{"aws:TagKeys", {"owner"}}},
       false},
      // Condition key names are case-insensitive, in the policy and in the request.
      {"key name case policy upper",
       R"({"IpAddress":{"AWS:SourceIP":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"key name case request upper",
       R"({"StringEquals":{"aws:username":"alice"}})",
       {{"AWS:UserName", {"alice"}}},
       true},
      // Global keys used by the registry.
      {"aws:RequestTag match",
       R"({"StringEquals":{"aws:RequestTag/env":"prod"}})",
       {{"aws:RequestTag/env", {"prod"}}},
       true},
      {"aws:RequestTag absent",
       R"({"StringEquals":{"aws:RequestTag/env":"prod"}})",
       {{"aws:ResourceTag/env", {"prod"}}},
       false},
      {"aws:ResourceTag mismatch",
       R"({"StringEquals":{"aws:ResourceTag/team":"a"}})",
       {{"aws:ResourceTag/team", {"b"}}},
       false},
      {"policy variable in condition value",
       R"({"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}})",
       {{"aws:ResourceTag/owner", {"alice"}}, {"aws:username", {"alice"}}},
       true},
      {"policy variable in condition value differs",
       R"({"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}})",
       {{"aws:ResourceTag/owner", {"alice"}}, {"aws:username", {"bob"}}},
       false},
      {"policy variable inside StringLike pattern",
       R"({"StringLike":{"aws:ResourceTag/owner":"${aws:username}-*"}})",
       {{"aws:ResourceTag/owner", {"alice-ci"}}, {"aws:username", {"alice"}}},
       true},
  };
  return *cases;
}

class PolicyConditionTest : public ::testing::TestWithParam<ConditionCase> {};

TEST_P(PolicyConditionTest, OnAllowAndOnDeny) {
  const ConditionCase& c = GetParam();
  RequestContext ctx = MakeContext(Req{.keys = c.keys});

  std::string allow =
      Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":)" + c.condition + "}");
  Result<Policy> p = Policy::Parse(allow, PolicyKind::kIdentity);
  ASSERT_TRUE(p.ok()) << allow << "\n" << DescribeError(p.error());
  Decision got = EvaluatePolicy(*p, ctx);
  EXPECT_EQ(got, c.holds ? Decision::kAllow : Decision::kImplicitDeny)
      << "Allow statement: " << DecisionName(got) << "\n"
      << c.condition;

  std::string deny = Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":"*"},)"
                         R"({"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":)" +
                         c.condition + "}");
  Result<Policy> d = Policy::Parse(deny, PolicyKind::kIdentity);
  ASSERT_TRUE(d.ok()) << deny << "\n" << DescribeError(d.error());
  got = EvaluatePolicy(*d, ctx);
  EXPECT_EQ(got, c.holds ? Decision::kExplicitDeny : Decision::kAllow)
      << "Deny statement: " << DecisionName(got) << "\n"
      << c.condition;
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyConditionTest, ::testing::ValuesIn(ConditionCases()),
                         CaseName<ConditionCase>);

// ---------------------------------------------------------------------------------------------
// Action, Resource and Principal matching through EvaluatePolicy().

struct MatchCase {
  std::string name;
  PolicyKind kind;
  std::string policy;
  Req req;
  Decision want;
};
void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name; }

constexpr Decision kAllow = Decision::kAllow;
constexpr Decision kImplicit = Decision::kImplicitDeny;
constexpr Decision kExplicit = Decision::kExplicitDeny;

// An identity policy allowing `action` (a JSON value) on every resource.
std::string AllowAction(std::string_view action) {
  return Doc(R"({"Effect":"Allow","Action":)" + std::string(action) + R"(,"Resource":"*"})");
}
// An identity policy allowing every action on `resource` (a JSON value).
std::string AllowResource(std::string_view resource) {
  return Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":)" + std::string(resource) + "}");
}
// A resource policy allowing every ECR action to `principal` (a JSON value).
std::string AllowPrincipal(std::string_view principal) {
  return Doc(R"({"Effect":"Allow","Principal":)" + std::string(principal) +
             R"(,"Action":"ecr:*"})");
}

const std::vector<MatchCase>& MatchCases() {
  static const auto* cases = new std::vector<MatchCase>{
      // Actions: case-insensitive, '*' and '?'.
      {"action exact", kId, AllowAction(R"("ecr:BatchGetImage")"), {}, kAllow},
      {"action exact other", kId, AllowAction(R"("ecr:PutImage")"), {}, kImplicit},
      {"action case insensitive", kId, AllowAction(R"("ECR:batchgetimage")"), {}, kAllow},
      {"action service wildcard", kId, AllowAction(R"("ecr:*")"), {}, kAllow},
      {"action service wildcard other service",
       kId,
       AllowAction(R"("ecr:*")"),
       {.action = "s3:GetObject"},
       kImplicit},
      {"action prefix wildcard", kId, AllowAction(R"("ecr:Batch*")"), {}, kAllow},
      {"action prefix wildcard second",
       kId,
       AllowAction(R"("ecr:Batch*")"),
       {.action = "ecr:BatchCheckLayerAvailability"},
       kAllow},
      {"action prefix wildcard no match",
       kId,
       AllowAction(R"("ecr:Batch*")"),
       {.action = "ecr:GetAuthorizationToken"},
       kImplicit},
      {"action question mark",
       kId,
       AllowAction(R"("ecr:Get?ownloadUrlForLayer")"),
       {.action = "ecr:GetDownloadUrlForLayer"},
       kAllow},
      {"action question mark exactly one",
       kId,
       AllowAction(R"("ecr:Get?ownloadUrlForLayer")"),
       {.action = "ecr:GetDDownloadUrlForLayer"},
       kImplicit},
      {"action suffix wildcard", kId, AllowAction(R"("ecr:*Image")"), {}, kAllow},
      {"action suffix wildcard no match",
       kId,
       AllowAction(R"("ecr:*Image")"),
       {.action = "ecr:GetDownloadUrlForLayer"},
       kImplicit},
      {"action star", kId, AllowAction(R"("*")"), {.action = "ecr:DeleteRepository"}, kAllow},
      {"action list match",
       kId,
       AllowAction(R"(["ecr:PutImage","ecr:BatchGetImage"])"),
       {},
       kAllow},
      {"action list no match",
       kId,
       AllowAction(R"(["ecr:PutImage","ecr:InitiateLayerUpload"])"),
       {},
       kImplicit},
      {"not action unlisted allowed",
       kId,
       Doc(R"({"Effect":"Allow","NotAction":"ecr:DeleteRepository","Resource":"*"})"),
       {},
       kAllow},
      {"not action listed not allowed",
       kId,
       Doc(R"({"Effect":"Allow","NotAction":"ecr:DeleteRepository","Resource":"*"})"),
       {.action = "ecr:DeleteRepository"},
       kImplicit},
      {"not action case insensitive",
       kId,
       Doc(R"({"Effect":"Allow","NotAction":"ECR:deleterepository","Resource":"*"})"),
       {.action = "ecr:DeleteRepository"},
       kImplicit},
      {"not action list wildcard listed",
       kId,
       Doc(R"({"Effect":"Allow","NotAction":["ecr:Delete*","ecr:Put*"],"Resource":"*"})"),
       {.action = "ecr:PutImage"},
       kImplicit},
      {"not action list wildcard unlisted",
       kId,
       Doc(R"({"Effect":"Allow","NotAction":["ecr:Delete*","ecr:Put*"],"Resource":"*"})"),
       {},
       kAllow},
      {"deny not action denies unlisted",
       kId,
       Doc(R"({"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"ecr:BatchGetImage","Resource":"*"})"),
       {.action = "ecr:PutImage"},
       kExplicit},
      {"deny not action spares listed",
       kId,
       Doc(R"({"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"ecr:BatchGetImage","Resource":"*"})"),
       {},
       kAllow},
      // Resources: case-sensitive ARN globs.
      {"resource exact",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/app")"),
       {},
       kAllow},
      {"resource exact other repo",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/app")"),
       {.resource = Repo("web")},
       kImplicit},
      {"resource exact is not prefix",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/app")"),
       {.resource = Repo("app2")},
       kImplicit},
      {"resource star", kId, AllowResource(R"("*")"), {}, kAllow},
      {"resource star account level",
       kId,
       AllowResource(R"("*")"),
       {.action = "ecr:GetAuthorizationToken", .resource = "*"},
       kAllow},
      {"resource repository glob vs account level",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/*")"),
       {.action = "ecr:GetAuthorizationToken", .resource = "*"},
       kImplicit},
      {"resource namespace wildcard",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*")"),
       {.resource = Repo("team-a/app")},
       kAllow},
      {"resource namespace wildcard nested",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*")"),
       {.resource = Repo("team-a/svc/api")},
       kAllow},
      {"resource namespace wildcard other namespace",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*")"),
       {.resource = Repo("team-b/app")},
       kImplicit},
      {"resource namespace wildcard not the bare name",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*")"),
       {.resource = Repo("team-a")},
       kImplicit},
      {"resource question mark",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/app-?")"),
       {.resource = Repo("app-1")},
       kAllow},
      {"resource question mark exactly one",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/app-?")"),
       {.resource = Repo("app-10")},
       kImplicit},
      {"resource case sensitive",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/App")"),
       {},
       kImplicit},
      {"resource region wildcard",
       kId,
       AllowResource(R"("arn:aws:ecr:*:123456789012:repository/app")"),
       {},
       kAllow},
      {"resource other account",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:210987654321:repository/app")"),
       {},
       kImplicit},
      {"resource account wide wildcard",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:*")"),
       {.resource = Repo("team-a/app")},
       kAllow},
      {"resource list",
       kId,
       AllowResource(
           R"(["arn:aws:ecr:us-east-1:123456789012:repository/web","arn:aws:ecr:us-east-1:123456789012:repository/app"])"),
       {},
       kAllow},
      {"not resource outside listed",
       kId,
       Doc(R"({"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/team-a/*"})"),
       {},
       kAllow},
      {"not resource listed",
       kId,
       Doc(R"({"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/team-a/*"})"),
       {.resource = Repo("team-a/app")},
       kImplicit},
      {"deny not resource denies others",
       kId,
       Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:*","NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/team-a/*"})"),
       {},
       kExplicit},
      {"policy variable username matches",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*")"),
       {.resource = Repo("alice/app"), .keys = {{"aws:username", {"alice"}}}},
       kAllow},
      {"policy variable other user",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*")"),
       {.resource = Repo("alice/app"), .keys = {{"aws:username", {"bob"}}}},
       kImplicit},
      {"policy variable absent",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*")"),
       {.resource = Repo("alice/app")},
       kImplicit},
      {"policy variable not literal",
       kId,
       AllowResource(R"("arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*")"),
       {.resource = Repo("${aws:username}/app")},
       kImplicit},
      // Principals (resource policies).
      {"principal star user", kRes, AllowPrincipal(R"("*")"), {}, kAllow},
      {"principal star anonymous",
       kRes,
       AllowPrincipal(R"("*")"),
       {.principal = kAnonymous},
       kAllow},
      {"principal aws star user",
       kRes,
       AllowPrincipal(R"({"AWS":"*"})"),
       {.principal = kDave},
       kAllow},
      {"principal aws star anonymous",
       kRes,
       AllowPrincipal(R"({"AWS":"*"})"),
       {.principal = kAnonymous},
       kAllow},
      {"principal aws star list anonymous",
       kRes,
       AllowPrincipal(R"({"AWS":["*"]})"),
       {.principal = kAnonymous},
       kAllow},
      {"principal account root arn anonymous",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:root"})"),
       {.principal = kAnonymous},
       kImplicit},
      {"principal account id same account",
       kRes,
       AllowPrincipal(R"({"AWS":"123456789012"})"),
       {},
       kAllow},
      {"principal account id role",
       kRes,
       AllowPrincipal(R"({"AWS":"123456789012"})"),
       {.principal = kCiRole},
       kAllow},
      {"principal account id other account",
       kRes,
       AllowPrincipal(R"({"AWS":"123456789012"})"),
       {.principal = kDave},
       kImplicit},
      {"principal account id anonymous",
       kRes,
       AllowPrincipal(R"({"AWS":"123456789012"})"),
       {.principal = kAnonymous},
       kImplicit},
      {"principal account root arn",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:root"})"),
       {},
       kAllow},
      {"principal account root arn other account",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::210987654321:root"})"),
       {},
       kImplicit},
      {"principal account root arn cross account",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::210987654321:root"})"),
       {.principal = kDave},
       kAllow},
      {"principal user arn",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:user/alice"})"),
       {},
       kAllow},
      {"principal user arn other user",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:user/alice"})"),
       {.principal = kBob},
       kImplicit},
      {"principal user arn anonymous",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:user/alice"})"),
       {.principal = kAnonymous},
       kImplicit},
      {"principal role arn",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:role/ci"})"),
       {.principal = kCiRole},
       kAllow},
      {"principal role arn not user of same name",
       kRes,
       AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:role/ci"})"),
       {.principal = "arn:aws:iam::123456789012:user/ci"},
       kImplicit},
      {"principal list match",
       kRes,
       AllowPrincipal(
           R"({"AWS":["arn:aws:iam::123456789012:user/bob","arn:aws:iam::123456789012:user/alice"]})"),
       {},
       kAllow},
      {"principal list no match",
       kRes,
       AllowPrincipal(
           R"({"AWS":["arn:aws:iam::123456789012:user/bob","arn:aws:iam::210987654321:root"]})"),
       {.principal = kCiRole},
       kImplicit},
      {"not principal spares listed",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})"),
       {},
       kAllow},
      {"not principal denies others",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})"),
       {.principal = kBob},
       kExplicit},
      {"not principal denies anonymous",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})"),
       {.principal = kAnonymous},
       kExplicit},
      {"not principal account spares its users",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"ecr:*"})"),
       {.principal = kCiRole},
       kAllow},
      {"not principal account denies other account",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"ecr:*"})"),
       {.principal = kDave},
       kExplicit},
      {"resource policy with resource element",
       kRes,
       Doc(R"({"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-1:123456789012:repository/web"})"),
       {},
       kImplicit},
  };
  return *cases;
}

class PolicyMatchTest : public ::testing::TestWithParam<MatchCase> {};

TEST_P(PolicyMatchTest, EvaluatePolicy) {
  const MatchCase& c = GetParam();
  Result<Policy> p = Policy::Parse(c.policy, c.kind);
  ASSERT_TRUE(p.ok()) << c.policy << "\n" << DescribeError(p.error());
  Decision got = EvaluatePolicy(*p, MakeContext(c.req));
  EXPECT_EQ(got, c.want) << "got " << DecisionName(got) << ", want " << DecisionName(c.want) << "\n"
                         << c.policy;
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyMatchTest, ::testing::ValuesIn(MatchCases()),
                         CaseName<MatchCase>);

// ---------------------------------------------------------------------------------------------
// Evaluate(): identity policies × repository policy × registry policy.

struct EvaluateCase {
  std::string name;
  std::vector<std::string> identity;
  std::string repository;  // "" = none
  std::string registry;    // "" = none
  Req req;
  Decision want;
};
void PrintTo(const EvaluateCase& c, std::ostream* os) { *os << c.name; }

const std::vector<EvaluateCase>& EvaluateCases() {
  const std::string id_allow = Doc(R"({"Effect":"Allow","Action":"ecr:*","Resource":"*"})");
  const std::string id_deny = Doc(R"({"Effect":"Deny","Action":"ecr:*","Resource":"*"})");
  const std::string id_allow_push =
      Doc(R"({"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"})");
  const std::string id_allow_tls = Doc(
      R"({"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}})");
  const std::string id_deny_plain = Doc(
      R"({"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}})");
  const std::string allow_alice =
      AllowPrincipal(R"({"AWS":"arn:aws:iam::123456789012:user/alice"})");
  const std::string deny_alice = Doc(
      R"({"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})");
  const std::string allow_dave = AllowPrincipal(R"({"AWS":"arn:aws:iam::210987654321:user/dave"})");
  const std::string allow_other_account = AllowPrincipal(R"({"AWS":"210987654321"})");
  const std::string deny_all = Doc(R"({"Effect":"Deny","Principal":"*","Action":"ecr:*"})");
  const std::string allow_all = AllowPrincipal(R"("*")");
  const std::string allow_aws_all = AllowPrincipal(R"({"AWS":"*"})");
  const std::string allow_account = AllowPrincipal(R"({"AWS":"123456789012"})");
  const std::string allow_alice_push = Doc(
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:PutImage"})");
  const std::string deny_all_but_alice = Doc(
      R"({"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"ecr:*"})");
  const Keys tls = {{"aws:SecureTransport", {"true"}}};
  const Keys plain = {{"aws:SecureTransport", {"false"}}};

  static const auto* cases = new std::vector<EvaluateCase>{
      // Same account.
      {"no policies", {}, "", "", {}, kImplicit},
      {"identity allow alone", {id_allow}, "", "", {}, kAllow},
      {"identity allow other action", {id_allow_push}, "", "", {}, kImplicit},
      {"repository allow alone", {}, allow_alice, "", {}, kAllow},
      {"registry allow alone", {}, "", allow_alice, {}, kAllow},
      {"repository allow other action", {}, allow_alice_push, "", {}, kImplicit},
      {"repository allow other user", {}, allow_alice, "", {.principal = kBob}, kImplicit},
      {"identity allow and repository allow", {id_allow}, allow_alice, "", {}, kAllow},
      {"identity deny alone", {id_deny}, "", "", {}, kExplicit},
      {"identity deny beats repository allow", {id_deny}, allow_alice, "", {}, kExplicit},
      {"identity deny beats registry allow", {id_deny}, "", allow_alice, {}, kExplicit},
      {"repository deny beats identity allow", {id_allow}, deny_alice, "", {}, kExplicit},
      {"registry deny beats identity allow", {id_allow}, "", deny_all, {}, kExplicit},
      {"registry deny beats repository allow", {}, allow_alice, deny_alice, {}, kExplicit},
      {"deny in second identity policy", {id_allow, id_deny}, "", "", {}, kExplicit},
      {"allow in second identity policy", {id_allow_push, id_allow}, "", "", {}, kAllow},
      {"allow condition fails", {id_allow_tls}, "", "", {.keys = plain}, kImplicit},
      {"allow condition holds", {id_allow_tls}, "", "", {.keys = tls}, kAllow},
      {"deny condition fails does not deny",
       {id_allow, id_deny_plain},
       "",
       "",
       {.keys = tls},
       kAllow},
      {"deny condition holds denies",
       {id_allow, id_deny_plain},
       "",
       "",
       {.keys = plain},
       kExplicit},
      {"not principal deny spares alice", {id_allow}, deny_all_but_alice, "", {}, kAllow},
      {"not principal deny hits bob",
       {id_allow},
       deny_all_but_alice,
       "",
       {.principal = kBob},
       kExplicit},
      // Cross account: identity Allow and resource-policy Allow are both needed.
      {"cross account identity only", {id_allow}, "", "", {.principal = kDave}, kImplicit},
      {"cross account repository only", {}, allow_dave, "", {.principal = kDave}, kImplicit},
      {"cross account identity and repository",
       {id_allow},
       allow_dave,
       "",
       {.principal = kDave},
       kAllow},
      {"cross account identity and registry by account",
       {id_allow},
       "",
       allow_other_account,
       {.principal = kDave},
       kAllow},
      {"cross account repository names someone else",
       {id_allow},
       allow_alice,
       "",
       {.principal = kDave},
       kImplicit},
      {"cross account repository deny",
       {id_allow},
       allow_dave,
       deny_all,
       {.principal = kDave},
       kExplicit},
      {"cross account repository star without identity",
       {},
       allow_all,
       "",
       {.principal = kDave},
       kImplicit},
      {"cross account repository star with identity",
       {id_allow},
       allow_all,
       "",
       {.principal = kDave},
       kAllow},
      {"cross account identity deny beats repository allow",
       {id_deny},
       allow_dave,
       "",
       {.principal = kDave},
       kExplicit},
      // Anonymous: only a resource policy naming "*" allows.
      {"anonymous repository star", {}, allow_all, "", {.principal = kAnonymous}, kAllow},
      {"anonymous repository aws star", {}, allow_aws_all, "", {.principal = kAnonymous}, kAllow},
      {"anonymous registry star", {}, "", allow_all, {.principal = kAnonymous}, kAllow},
      {"anonymous registry aws star", {}, "", allow_aws_all, {.principal = kAnonymous}, kAllow},
      {"anonymous identity policy never allows",
       {id_allow},
       "",
       "",
       {.principal = kAnonymous},
       kImplicit},
      {"anonymous repository account", {}, allow_account, "", {.principal = kAnonymous}, kImplicit},
      {"anonymous star then registry deny",
       {},
       allow_all,
       deny_all,
       {.principal = kAnonymous},
       kExplicit},
  };
  return *cases;
}

class PolicyEvaluateTest : public ::testing::TestWithParam<EvaluateCase> {};

TEST_P(PolicyEvaluateTest, Evaluate) {
  const EvaluateCase& c = GetParam();
  std::vector<Policy> identity;
  for (const auto& text : c.identity) {
    Result<Policy> p = Policy::Parse(text, PolicyKind::kIdentity);
    ASSERT_TRUE(p.ok()) << text << "\n" << DescribeError(p.error());
    identity.push_back(std::move(*p));
  }
  std::unique_ptr<Policy> repository;
  std::unique_ptr<Policy> registry;
  for (auto [text, out] :
       {std::pair{&c.repository, &repository}, std::pair{&c.registry, &registry}}) {
    if (text->empty()) {
      continue;
    }
    Result<Policy> p = Policy::Parse(*text, PolicyKind::kResource);
    ASSERT_TRUE(p.ok()) << *text << "\n" << DescribeError(p.error());
    *out = std::make_unique<Policy>(std::move(*p));
  }
  PolicySet set;
  for (const auto& p : identity) {
    set.identity.push_back(&p);
  }
  set.repository = repository.get();
  set.registry = registry.get();
  Decision got = Evaluate(set, MakeContext(c.req));
  EXPECT_EQ(got, c.want) << "got " << DecisionName(got) << ", want " << DecisionName(c.want);
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyEvaluateTest, ::testing::ValuesIn(EvaluateCases()),
                         CaseName<EvaluateCase>);

// ---------------------------------------------------------------------------------------------
// GlobMatch()

struct GlobCase {
  std::string name;
  std::string pattern;
  std::string text;
  bool ignore_case;
  bool want;
};
void PrintTo(const GlobCase& c, std::ostream* os) { *os << c.name; }

const std::vector<GlobCase>& GlobCases() {
  static const auto* cases = new std::vector<GlobCase>{
      {"empty pattern empty text", "", "", false, true},
      {"empty pattern text", "", "a", false, false},
      {"star empty text", "*", "", false, true},
      {"star any text", "*", "arn:aws:ecr:x", false, true},
      {"trailing star empty run", "a*", "a", false, true},
      {"middle star empty run", "a*b", "ab", false, true},
      {"middle star run", "a*b", "axxb", false, true},
      {"middle star wrong end", "a*b", "axxc", false, false},
      {"stars around", "*a*b*", "xaybz", false, true},
      {"double star", "a**", "a", false, true},
      {"star backtracks", "*ab", "aab", false, true},
      {"question empty text", "?", "", false, false},
      {"question one char", "?", "a", false, true},
      {"question two chars", "?", "ab", false, false},
      {"two questions one char", "??", "a", false, false},
      {"question in middle", "a?c", "abc", false, true},
      {"question not empty", "a?c", "ac", false, false},
      {"literal prefix only", "abc", "abcd", false, false},
      {"case sensitive", "ABC", "abc", false, false},
      {"ignore case", "ABC", "abc", true, true},
      {"ignore case star", "ecr:batch*", "ecr:BatchGetImage", true, true},
      {"ignore case question", "ECR:GET?OWNLOADURLFORLAYER", "ecr:GetDownloadUrlForLayer", true,
       true},
      {"action prefix", "ecr:Batch*", "ecr:BatchGetImage", false, true},
      {"question needs a char at end", "ecr:Batch?", "ecr:Batch", false, false},
      {"slash is ordinary", "team-a/*", "team-a/svc/api", false, true},
  };
  return *cases;
}

class GlobMatchTest : public ::testing::TestWithParam<GlobCase> {};

TEST_P(GlobMatchTest, Matches) {
  const GlobCase& c = GetParam();
  EXPECT_EQ(GlobMatch(c.pattern, c.text, c.ignore_case), c.want)
      << "pattern \"" << c.pattern << "\" text \"" << c.text << "\" ignore_case " << c.ignore_case;
}

INSTANTIATE_TEST_SUITE_P(Cases, GlobMatchTest, ::testing::ValuesIn(GlobCases()),
                         CaseName<GlobCase>);

// ---------------------------------------------------------------------------------------------

TEST(PolicyTablesTest, Hold337CasesAtLeast170) {
  EXPECT_TRUE(NamesAreUnique(ParseCases()));
  EXPECT_TRUE(NamesAreUnique(ConditionCases()));
  EXPECT_TRUE(NamesAreUnique(MatchCases()));
  EXPECT_TRUE(NamesAreUnique(EvaluateCases()));
  EXPECT_TRUE(NamesAreUnique(GlobCases()));
  size_t total = ParseCases().size() + ConditionCases().size() + MatchCases().size() +
                 EvaluateCases().size() + GlobCases().size();
  std::cout << "policy_test: " << ParseCases().size() << " parse + " << ConditionCases().size()
            << " condition + " << MatchCases().size() << " match + " << EvaluateCases().size()
            << " evaluate + " << GlobCases().size() << " glob = " << total << " cases\n";
  EXPECT_EQ(total, 337u);  // keep the header comment in step
  EXPECT_GE(total, 170u);
}

TEST(PolicyTest, ParseKeepsStatementElements) {
  Result<Policy> p = Policy::Parse(
      Doc(R"({"Sid":"s","Effect":"Deny","NotPrincipal":{"AWS":["123456789012"]},"NotAction":"ecr:PutImage",)"
          R"("Condition":{"ForAllValues:StringLikeIfExists":{"aws:TagKeys":["a*","b"]}}})"),
      PolicyKind::kResource);
  ASSERT_TRUE(p.ok()) << DescribeError(p.error());
  EXPECT_EQ(p->kind(), PolicyKind::kResource);
  ASSERT_EQ(p->statements().size(), 1u);
  const Statement& s = p->statements()[0];
  EXPECT_EQ(s.sid, "s");
  EXPECT_EQ(s.effect, Statement::Effect::kDeny);
  EXPECT_TRUE(s.has_principal);
  EXPECT_TRUE(s.not_principal);
  EXPECT_EQ(s.principals, std::vector<std::string>{"123456789012"});
  EXPECT_TRUE(s.not_action);
  EXPECT_EQ(s.actions, std::vector<std::string>{"ecr:PutImage"});
  EXPECT_FALSE(s.has_resource);
  ASSERT_EQ(s.conditions.size(), 1u);
  EXPECT_EQ(s.conditions[0].op, "StringLike");
  EXPECT_TRUE(s.conditions[0].if_exists);
  EXPECT_EQ(s.conditions[0].set, Statement::Condition::Set::kForAllValues);
  EXPECT_EQ(s.conditions[0].key, "aws:TagKeys");
  EXPECT_EQ(s.conditions[0].values, (std::vector<std::string>{"a*", "b"}));
}

}  // namespace
}  // namespace berth::iam
