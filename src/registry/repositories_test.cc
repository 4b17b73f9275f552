#include <gtest/gtest.h>

#include "registry/registry.h"

namespace berth::registry {
namespace {

TEST(RepositoriesTest, WildcardMatch) {
  EXPECT_TRUE(Registry::WildcardMatch("release-*", "release-1"));
  EXPECT_TRUE(Registry::WildcardMatch("*", ""));
  EXPECT_TRUE(Registry::WildcardMatch("*-rc*", "v1-rc2"));
  EXPECT_TRUE(Registry::WildcardMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(Registry::WildcardMatch("release-*", "prerelease-1"));
  EXPECT_FALSE(Registry::WildcardMatch("a*b", "a"));
  EXPECT_TRUE(Registry::WildcardMatch("latest", "latest"));
  EXPECT_FALSE(Registry::WildcardMatch("latest", "latest2"));
}

meta::RepositoryRecord Repo(std::string mode, std::string filters = "") {
  meta::RepositoryRecord r;
  r.name = "r";
  r.image_tag_mutability = std::move(mode);
  r.mutability_exclusions_json = std::move(filters);
  return r;
}

TEST(RepositoriesTest, TagImmutabilityModes) {
  const std::string filters = R"([{"filterType":"WILDCARD","filter":"release-*"}])";
  EXPECT_FALSE(Registry::IsTagImmutable(Repo("MUTABLE"), "latest"));
  EXPECT_TRUE(Registry::IsTagImmutable(Repo("IMMUTABLE"), "latest"));
  // Immutable except the excluded tags.
  EXPECT_FALSE(Registry::IsTagImmutable(Repo("IMMUTABLE_WITH_EXCLUSION", filters), "release-1"));
  EXPECT_TRUE(Registry::IsTagImmutable(Repo("IMMUTABLE_WITH_EXCLUSION", filters), "latest"));
  // Mutable except the excluded tags.
  EXPECT_TRUE(Registry::IsTagImmutable(Repo("MUTABLE_WITH_EXCLUSION", filters), "release-1"));
  EXPECT_FALSE(Registry::IsTagImmutable(Repo("MUTABLE_WITH_EXCLUSION", filters), "latest"));
}

}  // namespace
}  // namespace berth::registry
