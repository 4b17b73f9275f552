#include "iam/iam.h"

#include <gtest/gtest.h>

namespace berth::iam {
namespace {

TEST(IamTest, AccessKeyIdsAndSecretsHaveAwsShapes) {
  std::string id = NewAccessKeyId();
  ASSERT_EQ(id.size(), 20u);
  EXPECT_EQ(id.substr(0, 4), "AKIA");
  for (char c : id.substr(4)) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) << id;
  }
  EXPECT_EQ(NewSecretAccessKey().size(), 40u);
  EXPECT_NE(NewAccessKeyId(), NewAccessKeyId());
}

TEST(IamTest, RegistryIdsAreTwelveDigits) {
  for (int i = 0; i < 20; ++i) {
    std::string id = NewRegistryId();
    EXPECT_TRUE(IsValidRegistryId(id)) << id;
    EXPECT_NE(id[0], '0');
  }
  EXPECT_FALSE(IsValidRegistryId("12345678901"));
  EXPECT_FALSE(IsValidRegistryId("12345678901a"));
}

TEST(IamTest, RepositoryArnRoundTrips) {
  Account a{"123456789012", "eu-west-1"};
  std::string arn = RepositoryArn(a, "team/app");
  EXPECT_EQ(arn, "arn:aws:ecr:eu-west-1:123456789012:repository/team/app");
  auto name = ParseRepositoryArn(a, arn);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "team/app");
  EXPECT_FALSE(ParseRepositoryArn(a, "arn:aws:ecr:us-east-1:123456789012:repository/x").ok());
  EXPECT_FALSE(ParseRepositoryArn(a, "arn:aws:ecr:eu-west-1:123456789012:repository/").ok());
}

TEST(IamTest, PrincipalNames) {
  EXPECT_TRUE(IsValidPrincipalName("alice"));
  EXPECT_TRUE(IsValidPrincipalName("ci+bot@example.com"));
  EXPECT_FALSE(IsValidPrincipalName(""));
  EXPECT_FALSE(IsValidPrincipalName("a b"));
  EXPECT_FALSE(IsValidPrincipalName(std::string(65, 'a')));
}

TEST(IamTest, ManagedPoliciesAreFoundByNameAndArnAndValid) {
  ASSERT_EQ(ManagedPolicies().size(), 4u);
  for (const auto& p : ManagedPolicies()) {
    EXPECT_EQ(FindManagedPolicy(p.name), &p);
    EXPECT_EQ(FindManagedPolicy(p.arn), &p);
    EXPECT_TRUE(ValidatePolicyDocument(p.document, false).ok()) << p.name;
  }
  EXPECT_EQ(FindManagedPolicy("NoSuchPolicy"), nullptr);
}

struct PolicyCase {
  const char* name;
  const char* text;
  bool resource_policy;
  bool valid;
  const char* message_part;
};

class PolicyValidationTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(PolicyValidationTest, ValidatesGrammar) {
  const PolicyCase& c = GetParam();
  Status s = ValidatePolicyDocument(c.text, c.resource_policy);
  EXPECT_EQ(s.ok(), c.valid) << c.name << ": " << (s.ok() ? "" : s.error().message);
  if (!s.ok() && c.message_part[0] != '\0') {
    EXPECT_NE(s.error().message.find(c.message_part), std::string::npos) << s.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyValidationTest,
    ::testing::Values(
        PolicyCase{
            "public pull",
            R"({"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]})",
            true, true, ""},
        PolicyCase{
            "identity",
            R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ecr:*","Resource":"*"}})",
            false, true, ""},
        PolicyCase{"not json", "{", true, false, "JSON"},
        PolicyCase{"array", "[]", true, false, "object"},
        PolicyCase{"bad version", R"({"Version":"2020","Statement":[]})", true, false, "Version"},
        PolicyCase{"no statement", R"({"Version":"2012-10-17"})", true, false, "Statement"},
        PolicyCase{"empty statement", R"({"Statement":[]})", true, false, "Statement"},
        PolicyCase{"bad effect",
                   R"({"Statement":[{"Effect":"Maybe","Principal":"*","Action":"ecr:*"}]})", true,
                   false, "Effect"},
        PolicyCase{"no action", R"({"Statement":[{"Effect":"Allow","Principal":"*"}]})", true,
                   false, "Action"},
        PolicyCase{
            "both actions",
            R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","NotAction":"b"}]})",
            true, false, "Action"},
        PolicyCase{"resource policy without principal",
                   R"({"Statement":[{"Effect":"Allow","Action":"ecr:*"}]})", true, false,
                   "Principal"},
        PolicyCase{
            "identity policy with principal",
            R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}]})",
            false, false, "Principal"},
        PolicyCase{"identity policy without resource",
                   R"({"Statement":[{"Effect":"Allow","Action":"ecr:*"}]})", false, false,
                   "Resource"},
        PolicyCase{"unknown element",
                   R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:X","Foo":1}]})",
                   true, false, "Foo"},
        PolicyCase{
            "bad principal type",
            R"({"Statement":[{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"ecr:X"}]})",
            true, false, "Bogus"},
        PolicyCase{
            "aws principal list",
            R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},"Action":"ecr:*"}]})",
            true, true, ""},
        PolicyCase{
            "condition shape",
            R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:X","Condition":{"IpAddress":"x"}}]})",
            true, false, "Condition"},
        PolicyCase{
            "condition ok",
            R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:X","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]})",
            true, true, ""}),
    [](const ::testing::TestParamInfo<PolicyCase>& param_info) {
      std::string n;
      for (const char* p = param_info.param.name; *p != '\0'; ++p) {
        n.push_back(std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_');
      }
      return n;
    });

}  // namespace
}  // namespace berth::iam
