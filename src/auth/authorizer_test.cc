#include "auth/authorizer.h"

#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace berth::auth {
namespace {

namespace asio = boost::asio;

class FakeClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_ms; }
  int64_t now_ms = 1'800'000'000'000;
};

// Policies in memory; counts lookups so caching is visible.
class FakeSource final : public iam::PolicySource {
 public:
  std::map<std::string, std::vector<std::string>> identity;
  std::map<std::string, iam::RepositoryAccessInfo> repos;
  std::string registry_policy;
  int lookups = 0;

  asio::awaitable<Result<std::vector<std::string>>> IdentityPolicies(std::string p) override {
    ++lookups;
    co_return identity[p];
  }
  asio::awaitable<Result<iam::RepositoryAccessInfo>> RepositoryAccess(std::string r) override {
    ++lookups;
    co_return repos[r];
  }
  asio::awaitable<Result<std::string>> RegistryPolicy() override {
    ++lookups;
    co_return registry_policy;
  }
};

constexpr const char* kAccount = "123456789012";

// Runs a coroutine to completion on a private io_context.
template <class T>
Result<T> RunSync(asio::awaitable<Result<T>> task) {
  asio::io_context ioc;
  std::optional<Result<T>> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(task)); },
      asio::detached);
  ioc.run();
  return std::move(*out);
}

iam::Principal User(const std::string& name) {
  iam::Principal p;
  p.kind = iam::Principal::Kind::kUser;
  p.name = name;
  return p;
}

class AuthorizerTest : public ::testing::Test {
 protected:
  FakeClock clock;
  FakeSource source;
  Authorizer authz{source, iam::Account{kAccount, "us-east-1"}, clock};

  AccessDecision Check(const Caller& caller, const std::string& action, const std::string& repo,
                       std::vector<std::pair<std::string, std::string>> request_tags = {}) {
    AccessRequest r;
    r.action = action;
    r.repository = repo;
    r.request_tags = std::move(request_tags);
    auto d = RunSync(authz.Authorize(caller, r));
    EXPECT_TRUE(d.ok()) << d.error().message;
    return *d;
  }
  static Caller As(const std::string& user, const std::string& ip = "10.1.2.3") {
    Caller c;
    c.principal = User(user);
    c.source_ip = ip;
    return c;
  }
};

TEST_F(AuthorizerTest, NothingAttachedMeansDenied) {
  auto d = Check(As("nobody"), "ecr:BatchGetImage", "app");
  EXPECT_EQ(d.decision, iam::Decision::kImplicitDeny);
  EXPECT_EQ(d.resource, "arn:aws:ecr:us-east-1:123456789012:repository/app");
  EXPECT_NE(d.message.find("User: arn:aws:iam::123456789012:user/nobody is not authorized to "
                           "perform: ecr:BatchGetImage"),
            std::string::npos)
      << d.message;
}

TEST_F(AuthorizerTest, ManagedReadOnlyPullsButDoesNotPush) {
  source.identity["reader"].emplace_back(
      iam::FindManagedPolicy("AmazonEC2ContainerRegistryReadOnly")->document);
  EXPECT_TRUE(Check(As("reader"), "ecr:BatchGetImage", "app").allowed());
  EXPECT_TRUE(Check(As("reader"), "ecr:GetDownloadUrlForLayer", "team/x").allowed());
  EXPECT_FALSE(Check(As("reader"), "ecr:PutImage", "app").allowed());
  EXPECT_FALSE(Check(As("reader"), "ecr:BatchDeleteImage", "app").allowed());
}

TEST_F(AuthorizerTest, RepositoryDenyBeatsIdentityAllow) {
  source.identity["pusher"].emplace_back(
      iam::FindManagedPolicy("AmazonEC2ContainerRegistryPowerUser")->document);
  source.repos["app"].exists = true;
  source.repos["app"].policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny",
      "Principal":{"AWS":"arn:aws:iam::123456789012:user/pusher"},"Action":"ecr:PutImage"}]})";
  EXPECT_EQ(Check(As("pusher"), "ecr:PutImage", "app").decision, iam::Decision::kExplicitDeny);
  EXPECT_TRUE(Check(As("pusher"), "ecr:PutImage", "other").allowed());
  EXPECT_TRUE(Check(As("pusher"), "ecr:BatchGetImage", "app").allowed());
}

TEST_F(AuthorizerTest, AnonymousOnlyThroughARepositoryPolicyForEveryone) {
  source.repos["public/base"].exists = true;
  source.repos["public/base"].policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]})";
  Caller anon;
  EXPECT_TRUE(Check(anon, "ecr:BatchGetImage", "public/base").allowed());
  EXPECT_FALSE(Check(anon, "ecr:PutImage", "public/base").allowed());
  EXPECT_FALSE(Check(anon, "ecr:BatchGetImage", "app").allowed());
  EXPECT_NE(Check(anon, "ecr:PutImage", "public/base").message.find("anonymous"),
            std::string::npos);
}

TEST_F(AuthorizerTest, ContextKeysReachConditions) {
  // Per-user prefix via ${aws:username}, source network, resource and request tags.
  source.identity["team-a"].emplace_back(R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*",
       "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
      {"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*",
       "Condition":{"StringEquals":{"aws:ResourceTag/team":"a"}}},
      {"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*",
       "Condition":{"StringEquals":{"aws:RequestTag/team":"a"},
                    "ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}]})");
  source.repos["tagged"].exists = true;
  source.repos["tagged"].tags.emplace_back("team", "a");
  EXPECT_TRUE(Check(As("team-a"), "ecr:PutImage", "team-a/svc").allowed());
  EXPECT_FALSE(Check(As("team-a", "192.168.1.1"), "ecr:PutImage", "team-a/svc").allowed());
  EXPECT_FALSE(Check(As("team-a"), "ecr:PutImage", "team-b/svc").allowed());
  EXPECT_TRUE(Check(As("team-a"), "ecr:BatchGetImage", "tagged").allowed());
  EXPECT_FALSE(Check(As("team-a"), "ecr:BatchGetImage", "untagged").allowed());
  EXPECT_TRUE(Check(As("team-a"), "ecr:CreateRepository", "new", {{"team", "a"}}).allowed());
  EXPECT_FALSE(Check(As("team-a"), "ecr:CreateRepository", "new", {{"team", "b"}}).allowed());
  EXPECT_FALSE(Check(As("team-a"), "ecr:CreateRepository", "new", {{"team", "a"}, {"owner", "x"}})
                   .allowed());
}

TEST_F(AuthorizerTest, CachesUntilTtlOrInvalidate) {
  source.identity["u"].emplace_back(
      iam::FindManagedPolicy("AmazonEC2ContainerRegistryReadOnly")->document);
  source.repos["app"].exists = true;
  EXPECT_TRUE(Check(As("u"), "ecr:BatchGetImage", "app").allowed());
  int after_first = source.lookups;
  EXPECT_TRUE(Check(As("u"), "ecr:BatchGetImage", "app").allowed());
  EXPECT_EQ(source.lookups, after_first) << "a second check within the TTL hits the cache";

  source.identity["u"].clear();  // detached elsewhere
  EXPECT_TRUE(Check(As("u"), "ecr:BatchGetImage", "app").allowed()) << "still cached";
  clock.now_ms += 1001;
  EXPECT_FALSE(Check(As("u"), "ecr:BatchGetImage", "app").allowed()) << "TTL expired";

  source.identity["u"].emplace_back(
      iam::FindManagedPolicy("AmazonEC2ContainerRegistryFullAccess")->document);
  authz.Invalidate();
  EXPECT_TRUE(Check(As("u"), "ecr:DeleteRepository", "app").allowed()) << "invalidated";
}

TEST_F(AuthorizerTest, MissingRepositoriesAreNotCached) {
  EXPECT_FALSE(*RunSync(authz.RepositoryExists("new")));
  source.repos["new"].exists = true;  // created by a push
  EXPECT_TRUE(*RunSync(authz.RepositoryExists("new")));
}

TEST_F(AuthorizerTest, AStoredPolicyThatNoLongerParsesFailsClosed) {
  source.repos["app"].exists = true;
  source.repos["app"].policy = "{not json";
  AccessRequest r;
  r.action = "ecr:BatchGetImage";
  r.repository = "app";
  auto d = RunSync(authz.Authorize(As("u"), r));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::kInternal);
}

}  // namespace
}  // namespace berth::auth
