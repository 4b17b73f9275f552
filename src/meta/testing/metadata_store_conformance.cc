#include "meta/testing/metadata_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/digest.h"

namespace berth::meta {
namespace {

constexpr int64_t kNow = 1700000000;
// PutManifest's protect_tag argument.
constexpr bool kMutableTag = false;
constexpr bool kProtectTag = true;
constexpr std::string_view kImageType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kIndexType = "application/vnd.oci.image.index.v1+json";

std::string DigestOf(std::string_view content) { return Digest::Sha256Of(content).str(); }

template <class R>
::testing::AssertionResult IsOk(const R& r) {
  if (r.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << ErrcName(r.error().code) << ": " << r.error().message
                                       << " [" << r.error().detail << "]";
}

template <class R>
::testing::AssertionResult HasCode(const R& r, Errc code) {
  if (r.ok()) {
    return ::testing::AssertionFailure() << "succeeded; expected " << ErrcName(code);
  }
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << ErrcName(r.error().code) << " (" << r.error().message
                                         << "); expected " << ErrcName(code);
  }
  return ::testing::AssertionSuccess();
}

// An image manifest record whose digest is that of its body.
ManifestRecord Manifest(std::string body, std::string subject = {},
                        std::string artifact_type = {}) {
  ManifestRecord m;
  m.digest = DigestOf(body);
  m.media_type = std::string(kImageType);
  m.artifact_type = std::move(artifact_type);
  m.subject = std::move(subject);
  m.size = body.size();
  m.pushed_at = kNow;
  m.body = std::move(body);
  return m;
}

void ExpectSameManifest(const ManifestRecord& got, const ManifestRecord& want, bool with_body) {
  EXPECT_EQ(got.digest, want.digest);
  EXPECT_EQ(got.media_type, want.media_type);
  EXPECT_EQ(got.artifact_type, want.artifact_type);
  EXPECT_EQ(got.subject, want.subject);
  EXPECT_EQ(got.annotations_json, want.annotations_json);
  EXPECT_EQ(got.size, want.size);
  EXPECT_EQ(got.pushed_at, want.pushed_at);
  if (with_body) {
    EXPECT_EQ(got.image_size, want.image_size);
    EXPECT_EQ(got.body, want.body);
  } else {
    EXPECT_TRUE(got.body.empty());
  }
}

std::vector<std::string> Digests(const std::vector<ManifestRecord>& ms) {
  std::vector<std::string> out;
  for (const ManifestRecord& m : ms) {
    out.push_back(m.digest);
  }
  return out;
}

std::vector<std::string> UploadIds(std::vector<UploadRecord> us) {
  std::vector<std::string> out;
  for (const UploadRecord& u : us) {
    out.push_back(u.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

void MetadataStoreConformanceTest::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr) << "factory returned no store";
}

void MetadataStoreConformanceTest::TearDown() { store_.reset(); }

// --- repositories ---------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, NewStoreIsEmpty) {
  auto exists = store().RepositoryExists("a");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_FALSE(*exists);
  auto repos = store().ListRepositories("", 100);
  ASSERT_TRUE(IsOk(repos));
  EXPECT_TRUE(repos->empty());
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, 0u);
  EXPECT_EQ(stats->blobs, 0u);
  EXPECT_EQ(stats->blob_bytes, 0u);
  EXPECT_EQ(stats->manifests, 0u);
  EXPECT_EQ(stats->uploads, 0u);
}

TEST_P(MetadataStoreConformanceTest, FirstBlobLinkCreatesRepository) {
  ASSERT_TRUE(IsOk(store().PutBlobLink("team/app", DigestOf("x"), 1, kNow)));
  auto exists = store().RepositoryExists("team/app");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_TRUE(*exists);
  auto other = store().RepositoryExists("team");
  ASSERT_TRUE(IsOk(other));
  EXPECT_FALSE(*other);  // no implicit parents
  auto repos = store().ListRepositories("", 100);
  ASSERT_TRUE(IsOk(repos));
  EXPECT_EQ(*repos, Strings({"team/app"}));
}

TEST_P(MetadataStoreConformanceTest, FirstManifestCreatesRepository) {
  ASSERT_TRUE(IsOk(store().PutManifest("r", Manifest("{}"), {}, "", kMutableTag, kNow)));
  auto exists = store().RepositoryExists("r");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_TRUE(*exists);
}

TEST_P(MetadataStoreConformanceTest, ListRepositoriesInLexicalOrder) {
  for (const char* repo : {"b", "a/x", "c", "a", "a-b"}) {
    ASSERT_TRUE(IsOk(store().PutBlobLink(repo, DigestOf(repo), 1, kNow)));
  }
  auto repos = store().ListRepositories("", 100);
  ASSERT_TRUE(IsOk(repos));
  EXPECT_EQ(*repos, Strings({"a", "a-b", "a/x", "b", "c"}));
}

TEST_P(MetadataStoreConformanceTest, ListRepositoriesPaginates) {
  for (const char* repo : {"a", "b", "c", "d", "e"}) {
    ASSERT_TRUE(IsOk(store().PutBlobLink(repo, DigestOf("x"), 1, kNow)));
  }
  auto first = store().ListRepositories("", 2);
  ASSERT_TRUE(IsOk(first));
  EXPECT_EQ(*first, Strings({"a", "b"}));
  auto second = store().ListRepositories("b", 2);
  ASSERT_TRUE(IsOk(second));
  EXPECT_EQ(*second, Strings({"c", "d"}));
  auto last = store().ListRepositories("d", 2);
  ASSERT_TRUE(IsOk(last));
  EXPECT_EQ(*last, Strings({"e"}));
  auto past_end = store().ListRepositories("e", 2);
  ASSERT_TRUE(IsOk(past_end));
  EXPECT_TRUE(past_end->empty());
  auto between = store().ListRepositories("bb", 10);  // `after` need not exist
  ASSERT_TRUE(IsOk(between));
  EXPECT_EQ(*between, Strings({"c", "d", "e"}));
  auto none = store().ListRepositories("", 0);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

// --- blobs ----------------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, PutBlobLinkIsIdempotent) {
  std::string d = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", d, 1234, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", d, 1234, kNow + 5)));
  auto size = store().GetBlobLink("r", d);
  ASSERT_TRUE(IsOk(size));
  EXPECT_EQ(*size, 1234u);
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, 1u);
  EXPECT_EQ(stats->blobs, 1u);
  EXPECT_EQ(stats->blob_bytes, 1234u);
}

TEST_P(MetadataStoreConformanceTest, GetBlobLinkIsPerRepository) {
  std::string d = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", d, 10, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", DigestOf("other"), 5, kNow)));
  EXPECT_TRUE(HasCode(store().GetBlobLink("b", d), Errc::kNotFound));  // known, not linked here
  EXPECT_TRUE(HasCode(store().GetBlobLink("nope", d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetBlobLink("a", DigestOf("unknown")), Errc::kNotFound));
  auto global = store().GetBlob(d);
  ASSERT_TRUE(IsOk(global));
  EXPECT_EQ(*global, 10u);
}

TEST_P(MetadataStoreConformanceTest, GetBlobIsGlobal) {
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", DigestOf("x"), 3, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", DigestOf("y"), 4, kNow)));
  auto x = store().GetBlob(DigestOf("x"));
  ASSERT_TRUE(IsOk(x));
  EXPECT_EQ(*x, 3u);
  auto y = store().GetBlob(DigestOf("y"));
  ASSERT_TRUE(IsOk(y));
  EXPECT_EQ(*y, 4u);
  EXPECT_TRUE(HasCode(store().GetBlob(DigestOf("z")), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, BlobLinkedInTwoRepositoriesIsOneBlob) {
  std::string d = DigestOf("shared");
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", d, 100, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", d, 100, kNow)));
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, 2u);
  EXPECT_EQ(stats->blobs, 1u);
  EXPECT_EQ(stats->blob_bytes, 100u);
}

TEST_P(MetadataStoreConformanceTest, DeleteBlobLinkRemovesOnlyThatLink) {
  std::string d = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", d, 7, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", d, 7, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteBlobLink("a", d)));
  EXPECT_TRUE(HasCode(store().GetBlobLink("a", d), Errc::kNotFound));
  auto in_b = store().GetBlobLink("b", d);
  ASSERT_TRUE(IsOk(in_b));
  EXPECT_EQ(*in_b, 7u);
  EXPECT_TRUE(IsOk(store().GetBlob(d)));
  EXPECT_TRUE(HasCode(store().DeleteBlobLink("a", d), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteBlobLink("a", DigestOf("never")), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteBlobLink("nope", d), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, BlobCanBeRelinkedAfterDelete) {
  std::string d = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", d, 7, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteBlobLink("a", d)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", d, 7, kNow)));
  EXPECT_TRUE(IsOk(store().GetBlobLink("a", d)));
}

// --- manifests and tags ---------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, PutManifestStoresRecordAndBody) {
  std::string config = DigestOf("config");
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", config, 6, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord m = Manifest(R"({"schemaVersion":2,"layers":[]})", DigestOf("subject"),
                              "application/vnd.example");
  m.annotations_json = R"({"a":"b"})";
  m.image_size = 11;
  m.pushed_at = kNow + 42;
  ASSERT_TRUE(
      IsOk(store().PutManifest("r", m, {{config, false}, {layer, false}}, "", kMutableTag, kNow)));
  auto got = store().GetManifest("r", m.digest);
  ASSERT_TRUE(IsOk(got));
  ExpectSameManifest(*got, m, /*with_body=*/true);
}

TEST_P(MetadataStoreConformanceTest, ManifestsArePerRepository) {
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("a", m, {}, "latest", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", DigestOf("x"), 1, kNow)));
  EXPECT_TRUE(HasCode(store().GetManifest("b", m.digest), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("b", "latest"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTaggedManifest("b", "latest"), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, PutManifestWithMissingBlobChangesNothing) {
  std::string missing = DigestOf("missing");
  ManifestRecord m = Manifest("{\"m\":1}");
  Status s = store().PutManifest("r", m, {{missing, false}}, "latest", kMutableTag, kNow);
  ASSERT_TRUE(HasCode(s, Errc::kManifestBlobUnknown));
  EXPECT_EQ(s.error().detail, missing);
  auto exists = store().RepositoryExists("r");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_FALSE(*exists) << "a failed push created the repository";
  EXPECT_TRUE(HasCode(store().GetManifest("r", m.digest), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "latest"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().ListTags("r", "", 100), Errc::kNotFound));
  auto repos = store().ListRepositories("", 100);
  ASSERT_TRUE(IsOk(repos));
  EXPECT_TRUE(repos->empty());
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, 0u);
  EXPECT_EQ(stats->manifests, 0u);
}

TEST_P(MetadataStoreConformanceTest, PutManifestWithOneMissingRefChangesNothing) {
  std::string present = DigestOf("present");
  std::string missing = DigestOf("missing");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", present, 7, kNow)));
  ManifestRecord old = Manifest("{\"old\":1}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", old, {{present, false}}, "latest", kMutableTag, kNow)));

  ManifestRecord m = Manifest("{\"new\":1}");
  Status s = store().PutManifest("r", m, {{present, false}, {missing, false}}, "latest",
                                 kMutableTag, kNow + 1);
  ASSERT_TRUE(HasCode(s, Errc::kManifestBlobUnknown));
  EXPECT_EQ(s.error().detail, missing);
  EXPECT_TRUE(HasCode(store().GetManifest("r", m.digest), Errc::kNotFound));
  auto tag = store().GetTag("r", "latest");
  ASSERT_TRUE(IsOk(tag));
  EXPECT_EQ(*tag, old.digest) << "a failed push moved the tag";
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->manifests, 1u);
}

TEST_P(MetadataStoreConformanceTest, PutManifestRequiresBlobLinkedInThisRepository) {
  std::string d = DigestOf("elsewhere");
  ASSERT_TRUE(IsOk(store().PutBlobLink("other", d, 3, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", DigestOf("mine"), 3, kNow)));
  ManifestRecord m = Manifest("{}");
  Status s = store().PutManifest("r", m, {{d, false}}, "v1", kMutableTag, kNow);
  ASSERT_TRUE(HasCode(s, Errc::kManifestBlobUnknown));
  EXPECT_EQ(s.error().detail, d);
  EXPECT_TRUE(HasCode(store().GetManifest("r", m.digest), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "v1"), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, PutIndexRequiresChildManifests) {
  ManifestRecord child = Manifest("{\"child\":1}");
  ManifestRecord index = Manifest("{\"index\":1}");
  index.media_type = std::string(kIndexType);

  Status missing =
      store().PutManifest("r", index, {{child.digest, true}}, "multi", kMutableTag, kNow);
  ASSERT_TRUE(HasCode(missing, Errc::kManifestBlobUnknown));
  EXPECT_EQ(missing.error().detail, child.digest);
  auto exists = store().RepositoryExists("r");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_FALSE(*exists);

  ASSERT_TRUE(IsOk(store().PutManifest("r", child, {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(
      IsOk(store().PutManifest("r", index, {{child.digest, true}}, "multi", kMutableTag, kNow)));
  auto got = store().GetTaggedManifest("r", "multi");
  ASSERT_TRUE(IsOk(got));
  ExpectSameManifest(*got, index, /*with_body=*/true);
}

TEST_P(MetadataStoreConformanceTest, PutIndexRequiresChildInThisRepository) {
  ManifestRecord child = Manifest("{\"child\":1}");
  ASSERT_TRUE(IsOk(store().PutManifest("other", child, {}, "", kMutableTag, kNow)));
  ManifestRecord index = Manifest("{\"index\":1}");
  index.media_type = std::string(kIndexType);
  Status s = store().PutManifest("r", index, {{child.digest, true}}, "", kMutableTag, kNow);
  ASSERT_TRUE(HasCode(s, Errc::kManifestBlobUnknown));
  EXPECT_EQ(s.error().detail, child.digest);
}

TEST_P(MetadataStoreConformanceTest, PutManifestIsIdempotent) {
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "", kMutableTag, kNow + 1)));
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->manifests, 1u);
  auto got = store().GetManifest("r", m.digest);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->body, m.body);
}

TEST_P(MetadataStoreConformanceTest, PutManifestWithTag) {
  ManifestRecord m = Manifest("{\"tagged\":true}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "latest", kMutableTag, kNow)));
  auto tag = store().GetTag("r", "latest");
  ASSERT_TRUE(IsOk(tag));
  EXPECT_EQ(*tag, m.digest);
  auto tagged = store().GetTaggedManifest("r", "latest");
  ASSERT_TRUE(IsOk(tagged));
  ExpectSameManifest(*tagged, m, /*with_body=*/true);
}

TEST_P(MetadataStoreConformanceTest, PutManifestWithoutTagAddsNoTag) {
  ASSERT_TRUE(IsOk(store().PutManifest("r", Manifest("{}"), {}, "", kMutableTag, kNow)));
  auto tags = store().ListTags("r", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_TRUE(tags->empty());
}

TEST_P(MetadataStoreConformanceTest, RetagMovesTag) {
  ManifestRecord m1 = Manifest("{\"v\":1}");
  ManifestRecord m2 = Manifest("{\"v\":2}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m1, {}, "latest", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m2, {}, "latest", kMutableTag, kNow + 1)));
  auto tag = store().GetTag("r", "latest");
  ASSERT_TRUE(IsOk(tag));
  EXPECT_EQ(*tag, m2.digest);
  auto tagged = store().GetTaggedManifest("r", "latest");
  ASSERT_TRUE(IsOk(tagged));
  EXPECT_EQ(tagged->body, m2.body);
  EXPECT_TRUE(IsOk(store().GetManifest("r", m1.digest)));  // the old manifest stays
  auto tags = store().ListTags("r", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(*tags, Strings({"latest"}));
}

TEST_P(MetadataStoreConformanceTest, RepushingAManifestWithAnotherTagAddsTheTag) {
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1.0", kMutableTag, kNow)));
  auto tags = store().ListTags("r", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(*tags, Strings({"v1", "v1.0"}));
  auto v1 = store().GetTag("r", "v1");
  ASSERT_TRUE(IsOk(v1));
  EXPECT_EQ(*v1, m.digest);
}

TEST_P(MetadataStoreConformanceTest, ProtectedTagRefusesToMove) {
  ManifestRecord m1 = Manifest("{\"v\":1}");
  ManifestRecord m2 = Manifest("{\"v\":2}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m1, {}, "v1", kMutableTag, kNow)));
  Status s = store().PutManifest("r", m2, {}, "v1", kProtectTag, kNow + 1);
  ASSERT_TRUE(HasCode(s, Errc::kTagImmutable));
  // Nothing changed: the tag, the manifest count, and m2 is not stored.
  auto tag = store().GetTag("r", "v1");
  ASSERT_TRUE(IsOk(tag));
  EXPECT_EQ(*tag, m1.digest);
  EXPECT_TRUE(HasCode(store().GetManifest("r", m2.digest), Errc::kNotFound));
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->manifests, 1u);
}

TEST_P(MetadataStoreConformanceTest, ProtectedTagAcceptsSameDigestAndNewTags) {
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1", kProtectTag, kNow)));  // new tag
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1", kProtectTag, kNow)));  // same digest
  ASSERT_TRUE(IsOk(store().PutManifest("r", Manifest("{\"2\":2}"), {}, "", kProtectTag, kNow)));
  auto tag = store().GetTag("r", "v1");
  ASSERT_TRUE(IsOk(tag));
  EXPECT_EQ(*tag, m.digest);
  // Protection is per tag: the same tag in another repository is independent.
  ASSERT_TRUE(
      IsOk(store().PutManifest("other", Manifest("{\"3\":3}"), {}, "v1", kProtectTag, kNow)));
}

TEST_P(MetadataStoreConformanceTest, UnknownManifestAndTagAreNotFound) {
  ASSERT_TRUE(IsOk(store().PutManifest("r", Manifest("{}"), {}, "latest", kMutableTag, kNow)));
  EXPECT_TRUE(HasCode(store().GetManifest("r", DigestOf("nope")), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "nope"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTaggedManifest("r", "nope"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetManifest("nope", DigestOf("{}")), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("nope", "latest"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTaggedManifest("nope", "latest"), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, DeleteTagRemovesOnlyTheTag) {
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "a", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "b", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteTag("r", "a")));
  EXPECT_TRUE(HasCode(store().GetTag("r", "a"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTaggedManifest("r", "a"), Errc::kNotFound));
  EXPECT_TRUE(IsOk(store().GetManifest("r", m.digest)));
  auto b = store().GetTag("r", "b");
  ASSERT_TRUE(IsOk(b));
  EXPECT_EQ(*b, m.digest);
  EXPECT_TRUE(HasCode(store().DeleteTag("r", "a"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteTag("r", "never"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteTag("nope", "b"), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, DeleteManifestRemovesItAndItsTags) {
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord m1 = Manifest("{\"v\":1}");
  ManifestRecord m2 = Manifest("{\"v\":2}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m1, {{layer, false}}, "a", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m1, {{layer, false}}, "b", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m2, {{layer, false}}, "c", kMutableTag, kNow)));

  ASSERT_TRUE(IsOk(store().DeleteManifest("r", m1.digest)));
  EXPECT_TRUE(HasCode(store().GetManifest("r", m1.digest), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "a"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "b"), Errc::kNotFound));
  auto tags = store().ListTags("r", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(*tags, Strings({"c"}));
  EXPECT_TRUE(IsOk(store().GetManifest("r", m2.digest)));
  EXPECT_TRUE(IsOk(store().GetBlobLink("r", layer)));  // blobs are not the manifest's to remove
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->manifests, 1u);

  EXPECT_TRUE(HasCode(store().DeleteManifest("r", m1.digest), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteManifest("nope", m2.digest), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, DeletedManifestCanBePushedAgain) {
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {{layer, false}}, "latest", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteManifest("r", m.digest)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {{layer, false}}, "latest", kMutableTag, kNow + 1)));
  auto tagged = store().GetTaggedManifest("r", "latest");
  ASSERT_TRUE(IsOk(tagged));
  EXPECT_EQ(tagged->body, m.body);
}

TEST_P(MetadataStoreConformanceTest, ListTagsInLexicalOrder) {
  ManifestRecord m = Manifest("{}");
  for (const char* tag : {"v2", "latest", "v10", "A", "_x", "1.0"}) {
    ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, tag, kMutableTag, kNow)));
  }
  auto tags = store().ListTags("r", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(*tags, Strings({"1.0", "A", "_x", "latest", "v10", "v2"}));
}

TEST_P(MetadataStoreConformanceTest, ListTagsPaginates) {
  ManifestRecord m = Manifest("{}");
  for (const char* tag : {"a", "b", "c", "d", "e"}) {
    ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, tag, kMutableTag, kNow)));
  }
  auto first = store().ListTags("r", "", 2);
  ASSERT_TRUE(IsOk(first));
  EXPECT_EQ(*first, Strings({"a", "b"}));
  auto second = store().ListTags("r", "b", 2);
  ASSERT_TRUE(IsOk(second));
  EXPECT_EQ(*second, Strings({"c", "d"}));
  auto last = store().ListTags("r", "d", 2);
  ASSERT_TRUE(IsOk(last));
  EXPECT_EQ(*last, Strings({"e"}));
  auto past_end = store().ListTags("r", "e", 2);
  ASSERT_TRUE(IsOk(past_end));
  EXPECT_TRUE(past_end->empty());
  auto between = store().ListTags("r", "bb", 100);
  ASSERT_TRUE(IsOk(between));
  EXPECT_EQ(*between, Strings({"c", "d", "e"}));
  auto none = store().ListTags("r", "", 0);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(MetadataStoreConformanceTest, ListTagsIsPerRepository) {
  ASSERT_TRUE(IsOk(store().PutManifest("a", Manifest("{}"), {}, "in-a", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("b", Manifest("{}"), {}, "in-b", kMutableTag, kNow)));
  auto tags = store().ListTags("a", "", 100);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(*tags, Strings({"in-a"}));
}

TEST_P(MetadataStoreConformanceTest, ListTagsOfUnknownRepositoryIsNotFound) {
  EXPECT_TRUE(HasCode(store().ListTags("nope", "", 100), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutBlobLink("blobs-only", DigestOf("x"), 1, kNow)));
  auto tags = store().ListTags("blobs-only", "", 100);  // exists, just has no tags
  ASSERT_TRUE(IsOk(tags));
  EXPECT_TRUE(tags->empty());
}

TEST_P(MetadataStoreConformanceTest, ListReferrersBySubjectOrderedByDigest) {
  ManifestRecord subject = Manifest("{\"subject\":1}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", subject, {}, "latest", kMutableTag, kNow)));
  std::vector<ManifestRecord> referrers;
  for (int i = 0; i < 5; ++i) {
    ManifestRecord m = Manifest("{\"sig\":" + std::to_string(i) + "}", subject.digest,
                                "application/vnd.example.sig." + std::to_string(i));
    m.annotations_json = "{\"n\":\"" + std::to_string(i) + "\"}";
    referrers.push_back(m);
    ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "", kMutableTag, kNow)));
  }
  // Noise: another subject in the same repository, the same subject in another repository.
  ASSERT_TRUE(IsOk(store().PutManifest("r", Manifest("{\"other\":1}", DigestOf("other")), {}, "",
                                       kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r2", Manifest("{\"elsewhere\":1}", subject.digest), {}, "",
                                       kMutableTag, kNow)));

  auto got = store().ListReferrers("r", subject.digest);
  ASSERT_TRUE(IsOk(got));
  std::sort(referrers.begin(), referrers.end(),
            [](const ManifestRecord& a, const ManifestRecord& b) { return a.digest < b.digest; });
  ASSERT_EQ(Digests(*got), Digests(referrers));
  for (size_t i = 0; i < got->size(); ++i) {
    ExpectSameManifest((*got)[i], referrers[i], /*with_body=*/false);
  }
}

TEST_P(MetadataStoreConformanceTest, ListReferrersWithoutReferrersIsEmpty) {
  ManifestRecord subject = Manifest("{\"subject\":1}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", subject, {}, "", kMutableTag, kNow)));
  auto got = store().ListReferrers("r", subject.digest);
  ASSERT_TRUE(IsOk(got));
  EXPECT_TRUE(got->empty());
}

TEST_P(MetadataStoreConformanceTest, ReferrersMayPrecedeTheirSubject) {
  std::string subject = DigestOf("not pushed yet");
  ManifestRecord sig = Manifest("{\"sig\":1}", subject);
  ASSERT_TRUE(IsOk(store().PutManifest("r", sig, {}, "", kMutableTag, kNow)));
  auto got = store().ListReferrers("r", subject);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(Digests(*got), Strings({sig.digest}));
}

TEST_P(MetadataStoreConformanceTest, DeletedReferrerIsNotListed) {
  std::string subject = DigestOf("subject");
  ManifestRecord a = Manifest("{\"a\":1}", subject);
  ManifestRecord b = Manifest("{\"b\":1}", subject);
  ASSERT_TRUE(IsOk(store().PutManifest("r", a, {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", b, {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteManifest("r", a.digest)));
  auto got = store().ListReferrers("r", subject);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(Digests(*got), Strings({b.digest}));
}

// --- upload sessions ------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, UploadLifecycle) {
  UploadRecord u{"0123abcd", "team/app", kNow, kNow};
  ASSERT_TRUE(IsOk(store().CreateUpload(u)));
  auto got = store().GetUpload(u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, u.id);
  EXPECT_EQ(got->repository, u.repository);
  EXPECT_EQ(got->created_at, kNow);
  EXPECT_EQ(got->updated_at, kNow);

  ASSERT_TRUE(IsOk(store().TouchUpload(u.id, kNow + 60)));
  auto touched = store().GetUpload(u.id);
  ASSERT_TRUE(IsOk(touched));
  EXPECT_EQ(touched->created_at, kNow);
  EXPECT_EQ(touched->updated_at, kNow + 60);

  ASSERT_TRUE(IsOk(store().DeleteUpload(u.id)));
  EXPECT_TRUE(HasCode(store().GetUpload(u.id), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteUpload(u.id), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, LinkUploadedBlobLinksAndEndsTheUpload) {
  std::string d = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().CreateUpload({"u1", "team/app", kNow, kNow})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u2", "team/app", kNow, kNow})));
  ASSERT_TRUE(IsOk(store().PutSetting("upload.hash/u1", "state")));
  ASSERT_TRUE(IsOk(store().PutSetting("upload.hash/u2", "state")));
  ASSERT_TRUE(IsOk(store().LinkUploadedBlob("team/app", d, 42, kNow + 5, "u1", "upload.hash/u1")));
  auto size = store().GetBlobLink("team/app", d);
  ASSERT_TRUE(IsOk(size));
  EXPECT_EQ(*size, 42u);
  EXPECT_TRUE(HasCode(store().GetUpload("u1"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetSetting("upload.hash/u1"), Errc::kNotFound));
  // Only that upload ends.
  EXPECT_TRUE(IsOk(store().GetUpload("u2")));
  EXPECT_TRUE(IsOk(store().GetSetting("upload.hash/u2")));
  // A session already gone (another node finished it, or it was purged) is not an error.
  EXPECT_TRUE(IsOk(store().LinkUploadedBlob("other", d, 42, kNow + 6, "u1", "upload.hash/u1")));
  EXPECT_TRUE(IsOk(store().GetBlobLink("other", d)));
  auto repos = store().ListRepositories("", 10);
  ASSERT_TRUE(IsOk(repos));
  EXPECT_EQ(*repos, (Strings{"other", "team/app"}));
}

TEST_P(MetadataStoreConformanceTest, UnknownUploadIsNotFound) {
  EXPECT_TRUE(HasCode(store().GetUpload("nope"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteUpload("nope"), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, UploadsAreIndependent) {
  ASSERT_TRUE(IsOk(store().CreateUpload({"u1", "a", kNow, kNow})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u2", "b", kNow + 1, kNow + 1})));
  ASSERT_TRUE(IsOk(store().DeleteUpload("u1")));
  auto u2 = store().GetUpload("u2");
  ASSERT_TRUE(IsOk(u2));
  EXPECT_EQ(u2->repository, "b");
  EXPECT_EQ(u2->created_at, kNow + 1);
}

TEST_P(MetadataStoreConformanceTest, ListUploadsIdleSince) {
  ASSERT_TRUE(IsOk(store().CreateUpload({"u1", "r", 100, 100})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u2", "r", 100, 200})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u3", "r", 100, 300})));

  auto none = store().ListUploadsIdleSince(100);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  // Touched at exactly `before` counts as touched since `before`: not idle.
  auto idle = store().ListUploadsIdleSince(200);
  ASSERT_TRUE(IsOk(idle));
  EXPECT_EQ(UploadIds(*idle), Strings({"u1"}));
  ASSERT_EQ(idle->size(), 1u);
  EXPECT_EQ((*idle)[0].repository, "r");
  EXPECT_EQ((*idle)[0].updated_at, 100);
  auto all = store().ListUploadsIdleSince(301);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(UploadIds(*all), Strings({"u1", "u2", "u3"}));

  ASSERT_TRUE(IsOk(store().TouchUpload("u1", 400)));
  auto after_touch = store().ListUploadsIdleSince(250);
  ASSERT_TRUE(IsOk(after_touch));
  EXPECT_EQ(UploadIds(*after_touch), Strings({"u2"}));

  ASSERT_TRUE(IsOk(store().DeleteUpload("u2")));
  auto after_delete = store().ListUploadsIdleSince(250);
  ASSERT_TRUE(IsOk(after_delete));
  EXPECT_TRUE(after_delete->empty());
}

// --- ECR repositories and images -----------------------------------------------------------

namespace {

RepositoryRecord FullRepository(std::string name) {
  RepositoryRecord r;
  r.name = std::move(name);
  r.created_at = kNow;
  r.image_tag_mutability = "IMMUTABLE";
  r.mutability_exclusions_json = R"([{"filterType":"WILDCARD","filter":"dev-*"}])";
  r.scan_on_push = true;
  r.encryption_type = "KMS";
  r.kms_key = "arn:aws:kms:us-east-1:123456789012:key/abc";
  r.key_id = "abc";
  r.policy_text = R"({"Version":"2012-10-17","Statement":[]})";
  r.tags_json = R"([{"Key":"team","Value":"a"}])";
  return r;
}

void ExpectSameRepository(const RepositoryRecord& got, const RepositoryRecord& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.image_tag_mutability, want.image_tag_mutability);
  EXPECT_EQ(got.mutability_exclusions_json, want.mutability_exclusions_json);
  EXPECT_EQ(got.scan_on_push, want.scan_on_push);
  EXPECT_EQ(got.encryption_type, want.encryption_type);
  EXPECT_EQ(got.kms_key, want.kms_key);
  EXPECT_EQ(got.key_id, want.key_id);
  EXPECT_EQ(got.policy_text, want.policy_text);
  EXPECT_EQ(got.tags_json, want.tags_json);
}

}  // namespace

TEST_P(MetadataStoreConformanceTest, CreateRepositoryStoresSettings) {
  RepositoryRecord r = FullRepository("team/app");
  ASSERT_TRUE(IsOk(store().CreateRepository(r)));
  auto got = store().GetRepository("team/app");
  ASSERT_TRUE(IsOk(got));
  ExpectSameRepository(*got, r);
  auto exists = store().RepositoryExists("team/app");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_TRUE(*exists);
  auto names = store().ListRepositories("", 10);
  ASSERT_TRUE(IsOk(names));
  EXPECT_EQ(*names, Strings({"team/app"}));
  auto tags = store().ListTags("team/app", "", 10);  // an empty repository, not an unknown one
  ASSERT_TRUE(IsOk(tags));
  EXPECT_TRUE(tags->empty());
}

TEST_P(MetadataStoreConformanceTest, CreateRepositoryTwiceIsAlreadyExists) {
  ASSERT_TRUE(IsOk(store().CreateRepository(FullRepository("r"))));
  RepositoryRecord again = FullRepository("r");
  again.image_tag_mutability = "MUTABLE";
  EXPECT_TRUE(HasCode(store().CreateRepository(again), Errc::kAlreadyExists));
  auto got = store().GetRepository("r");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->image_tag_mutability, "IMMUTABLE");  // unchanged
  // A repository created implicitly by a push exists too.
  ASSERT_TRUE(IsOk(store().PutBlobLink("pushed", DigestOf("x"), 1, kNow)));
  EXPECT_TRUE(HasCode(store().CreateRepository(FullRepository("pushed")), Errc::kAlreadyExists));
}

TEST_P(MetadataStoreConformanceTest, PushedRepositoryHasDefaultSettings) {
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", DigestOf("x"), 1, kNow)));
  auto got = store().GetRepository("r");
  ASSERT_TRUE(IsOk(got));
  RepositoryRecord defaults;
  defaults.name = "r";
  defaults.created_at = kNow;
  ExpectSameRepository(*got, defaults);
}

TEST_P(MetadataStoreConformanceTest, GetUnknownRepositoryIsNotFound) {
  EXPECT_TRUE(HasCode(store().GetRepository("nope"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().UpdateRepository(FullRepository("nope")), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteRepository("nope", /*force=*/true), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().ListImages("nope"), Errc::kNotFound));
  auto exists = store().RepositoryExists("nope");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_FALSE(*exists) << "a failed update or delete created the repository";
}

TEST_P(MetadataStoreConformanceTest, ListRepositoryRecordsPaginates) {
  for (const char* name : {"c", "a", "b", "d"}) {
    ASSERT_TRUE(IsOk(store().CreateRepository(FullRepository(name))));
  }
  auto first = store().ListRepositoryRecords("", 3);
  ASSERT_TRUE(IsOk(first));
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].name, "a");
  EXPECT_EQ((*first)[1].name, "b");
  EXPECT_EQ((*first)[2].name, "c");
  ExpectSameRepository((*first)[0], FullRepository("a"));
  auto rest = store().ListRepositoryRecords("c", 3);
  ASSERT_TRUE(IsOk(rest));
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].name, "d");
  auto none = store().ListRepositoryRecords("d", 3);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(MetadataStoreConformanceTest, UpdateRepositoryReplacesOnlyMutableSettings) {
  ASSERT_TRUE(IsOk(store().CreateRepository(FullRepository("r"))));
  RepositoryRecord update;
  update.name = "r";
  update.created_at = kNow + 999;  // not a setting
  update.image_tag_mutability = "MUTABLE";
  update.mutability_exclusions_json = "";
  update.scan_on_push = false;
  update.encryption_type = "AES256";  // immutable after creation
  update.kms_key = "";
  update.policy_text = "";
  update.tags_json = R"([{"Key":"team","Value":"b"}])";
  ASSERT_TRUE(IsOk(store().UpdateRepository(update)));
  auto got = store().GetRepository("r");
  ASSERT_TRUE(IsOk(got));
  RepositoryRecord want = FullRepository("r");
  want.image_tag_mutability = "MUTABLE";
  want.mutability_exclusions_json = "";
  want.scan_on_push = false;
  want.policy_text = "";
  want.tags_json = update.tags_json;
  ExpectSameRepository(*got, want);
}

TEST_P(MetadataStoreConformanceTest, DeleteRepositoryWithImagesNeedsForce) {
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord m = Manifest("{}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {{layer, false}}, "latest", kMutableTag, kNow)));
  EXPECT_TRUE(HasCode(store().DeleteRepository("r", /*force=*/false), Errc::kPreconditionFailed));
  // Nothing was deleted.
  EXPECT_TRUE(IsOk(store().GetRepository("r")));
  EXPECT_TRUE(IsOk(store().GetManifest("r", m.digest)));
  EXPECT_TRUE(IsOk(store().GetTag("r", "latest")));
  EXPECT_TRUE(IsOk(store().GetBlobLink("r", layer)));
}

TEST_P(MetadataStoreConformanceTest, DeleteRepositoryWithoutImages) {
  ASSERT_TRUE(IsOk(store().CreateRepository(FullRepository("empty"))));
  ASSERT_TRUE(IsOk(store().DeleteRepository("empty", /*force=*/false)));
  EXPECT_TRUE(HasCode(store().GetRepository("empty"), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutBlobLink("blobs-only", DigestOf("x"), 1, kNow)));
  ASSERT_TRUE(IsOk(store().DeleteRepository("blobs-only", /*force=*/false)));
  EXPECT_TRUE(HasCode(store().GetBlobLink("blobs-only", DigestOf("x")), Errc::kNotFound));
}

TEST_P(MetadataStoreConformanceTest, ForcedDeleteRepositoryRemovesEverythingInIt) {
  std::string layer = DigestOf("layer");
  for (const char* repo : {"r", "keep"}) {
    ASSERT_TRUE(IsOk(store().PutBlobLink(repo, layer, 5, kNow)));
    ASSERT_TRUE(IsOk(
        store().PutManifest(repo, Manifest("{}"), {{layer, false}}, "latest", kMutableTag, kNow)));
  }
  ASSERT_TRUE(IsOk(store().CreateUpload({"upload-r", "r", kNow, kNow})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"upload-keep", "keep", kNow, kNow})));

  ASSERT_TRUE(IsOk(store().DeleteRepository("r", /*force=*/true)));
  auto exists = store().RepositoryExists("r");
  ASSERT_TRUE(IsOk(exists));
  EXPECT_FALSE(*exists);
  EXPECT_TRUE(HasCode(store().GetRepository("r"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetManifest("r", DigestOf("{}")), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetTag("r", "latest"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetBlobLink("r", layer), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetUpload("upload-r"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().ListTags("r", "", 10), Errc::kNotFound));

  // The other repository is untouched.
  EXPECT_TRUE(IsOk(store().GetManifest("keep", DigestOf("{}"))));
  EXPECT_TRUE(IsOk(store().GetTag("keep", "latest")));
  EXPECT_TRUE(IsOk(store().GetBlobLink("keep", layer)));
  EXPECT_TRUE(IsOk(store().GetUpload("upload-keep")));

  // The name can be used again, starting empty.
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", DigestOf("new"), 1, kNow)));
  auto tags = store().ListTags("r", "", 10);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_TRUE(tags->empty());
}

TEST_P(MetadataStoreConformanceTest, ListImagesByPushTimeThenDigestWithTags) {
  ManifestRecord late = Manifest("{\"late\":1}");
  late.pushed_at = kNow + 10;
  late.image_size = 300;
  ManifestRecord early_a = Manifest("{\"early\":\"a\"}");
  ManifestRecord early_b = Manifest("{\"early\":\"b\"}");
  early_a.image_size = 100;
  early_b.image_size = 200;
  ASSERT_TRUE(IsOk(store().PutManifest("r", late, {}, "latest", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", late, {}, "v2", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", early_a, {}, "v1", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", early_b, {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(
      IsOk(store().PutManifest("other", Manifest("{\"o\":1}"), {}, "x", kMutableTag, kNow)));

  auto images = store().ListImages("r");
  ASSERT_TRUE(IsOk(images));
  ASSERT_EQ(images->size(), 3u);
  std::vector<ManifestRecord> early = {early_a, early_b};
  std::sort(early.begin(), early.end(),
            [](const ManifestRecord& a, const ManifestRecord& b) { return a.digest < b.digest; });
  std::vector<ManifestRecord> want = {early[0], early[1], late};
  for (size_t i = 0; i < want.size(); ++i) {
    const ImageRecord& got = (*images)[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(got.digest, want[i].digest);
    EXPECT_EQ(got.media_type, want[i].media_type);
    EXPECT_EQ(got.size, want[i].size);
    EXPECT_EQ(got.image_size, want[i].image_size);
    EXPECT_EQ(got.pushed_at, want[i].pushed_at);
    EXPECT_EQ(got.last_pulled_at, 0);
  }
  auto tags_of = [&](const std::string& digest) {
    for (const ImageRecord& im : *images) {
      if (im.digest == digest) {
        Strings tags = im.tags;
        std::sort(tags.begin(), tags.end());
        return tags;
      }
    }
    return Strings({"<missing>"});
  };
  EXPECT_EQ(tags_of(late.digest), Strings({"latest", "v2"}));
  EXPECT_EQ(tags_of(early_a.digest), Strings({"v1"}));
  EXPECT_EQ(tags_of(early_b.digest), Strings());
}

TEST_P(MetadataStoreConformanceTest, ListImagesOfEmptyRepository) {
  ASSERT_TRUE(IsOk(store().CreateRepository(FullRepository("r"))));
  auto images = store().ListImages("r");
  ASSERT_TRUE(IsOk(images));
  EXPECT_TRUE(images->empty());
}

TEST_P(MetadataStoreConformanceTest, ListParentsFindsIndexesOfAChild) {
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord child = Manifest("{\"child\":1}");
  ASSERT_TRUE(IsOk(store().PutManifest("r", child, {{layer, false}}, "", kMutableTag, kNow)));
  ManifestRecord index1 = Manifest("{\"index\":1}");
  ManifestRecord index2 = Manifest("{\"index\":2}");
  index1.media_type = index2.media_type = std::string(kIndexType);
  ASSERT_TRUE(
      IsOk(store().PutManifest("r", index1, {{child.digest, true}}, "", kMutableTag, kNow)));
  ASSERT_TRUE(
      IsOk(store().PutManifest("r", index2, {{child.digest, true}}, "", kMutableTag, kNow)));

  auto parents = store().ListParents("r", child.digest);
  ASSERT_TRUE(IsOk(parents));
  Strings got = *parents;
  std::sort(got.begin(), got.end());
  Strings want = {index1.digest, index2.digest};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);

  // A blob reference is not a parent link, and parents are per repository.
  auto of_layer = store().ListParents("r", layer);
  ASSERT_TRUE(IsOk(of_layer));
  EXPECT_TRUE(of_layer->empty());
  auto elsewhere = store().ListParents("other", child.digest);
  ASSERT_TRUE(IsOk(elsewhere));
  EXPECT_TRUE(elsewhere->empty());

  // Deleting an index removes its references.
  ASSERT_TRUE(IsOk(store().DeleteManifest("r", index1.digest)));
  auto after = store().ListParents("r", child.digest);
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(*after, Strings({index2.digest}));
}

// --- repository creation templates ----------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, TemplateLifecycle) {
  TemplateRecord root{"ROOT", R"({"imageTagMutability":"IMMUTABLE"})", kNow, kNow};
  TemplateRecord team{"team", R"({"scanOnPush":true})", kNow + 1, kNow + 1};
  ASSERT_TRUE(IsOk(store().CreateTemplate(team)));
  ASSERT_TRUE(IsOk(store().CreateTemplate(root)));
  EXPECT_TRUE(HasCode(store().CreateTemplate(team), Errc::kAlreadyExists));

  auto got = store().GetTemplate("team");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->prefix, "team");
  EXPECT_EQ(got->config_json, team.config_json);
  EXPECT_EQ(got->created_at, kNow + 1);
  EXPECT_EQ(got->updated_at, kNow + 1);

  auto all = store().ListTemplates();
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].prefix, "ROOT");  // prefix order
  EXPECT_EQ((*all)[1].prefix, "team");

  TemplateRecord update{"team", R"({"scanOnPush":false})", 0, kNow + 5};
  ASSERT_TRUE(IsOk(store().UpdateTemplate(update)));
  auto updated = store().GetTemplate("team");
  ASSERT_TRUE(IsOk(updated));
  EXPECT_EQ(updated->config_json, update.config_json);
  EXPECT_EQ(updated->updated_at, kNow + 5);

  ASSERT_TRUE(IsOk(store().DeleteTemplate("team")));
  EXPECT_TRUE(HasCode(store().GetTemplate("team"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteTemplate("team"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().UpdateTemplate(update), Errc::kNotFound));
  auto left = store().ListTemplates();
  ASSERT_TRUE(IsOk(left));
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].prefix, "ROOT");
}

// --- settings -------------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, CompareAndSwapSettingIsExclusive) {
  auto taken = store().CompareAndSwapSetting("lease/gc", "", "node-a 100");
  ASSERT_TRUE(IsOk(taken));
  EXPECT_TRUE(*taken);
  auto again = store().CompareAndSwapSetting("lease/gc", "", "node-b 100");
  ASSERT_TRUE(IsOk(again));
  EXPECT_FALSE(*again);  // present: an absent-only swap fails
  auto stale = store().CompareAndSwapSetting("lease/gc", "node-x 1", "node-b 200");
  ASSERT_TRUE(IsOk(stale));
  EXPECT_FALSE(*stale);  // not what it holds
  auto renewed = store().CompareAndSwapSetting("lease/gc", "node-a 100", "node-b 200");
  ASSERT_TRUE(IsOk(renewed));
  EXPECT_TRUE(*renewed);
  EXPECT_EQ(*store().GetSetting("lease/gc"), "node-b 200");
  // Many racers from one expected value: exactly one wins.
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = store().CompareAndSwapSetting("lease/gc", "node-b 200",
                                             "node-" + std::to_string(i) + " 300");
      if (r.ok() && *r) {
        ++wins;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(wins.load(), 1);
}

TEST_P(MetadataStoreConformanceTest, SettingsLifecycle) {
  EXPECT_TRUE(HasCode(store().GetSetting("registry_id"), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSetting("policy", "v1")));
  ASSERT_TRUE(IsOk(store().PutSetting("policy", "v2")));
  auto policy = store().GetSetting("policy");
  ASSERT_TRUE(IsOk(policy));
  EXPECT_EQ(*policy, "v2");

  auto first = store().PutSettingIfAbsent("registry_id", "111111111111");
  ASSERT_TRUE(IsOk(first));
  EXPECT_EQ(*first, "111111111111");
  auto second = store().PutSettingIfAbsent("registry_id", "222222222222");
  ASSERT_TRUE(IsOk(second));
  EXPECT_EQ(*second, "111111111111");  // the stored value wins
  auto id = store().GetSetting("registry_id");
  ASSERT_TRUE(IsOk(id));
  EXPECT_EQ(*id, "111111111111");

  ASSERT_TRUE(IsOk(store().DeleteSetting("policy")));
  EXPECT_TRUE(HasCode(store().GetSetting("policy"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteSetting("policy"), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().PutSetting("empty", "")));
  auto empty = store().GetSetting("empty");
  ASSERT_TRUE(IsOk(empty));
  EXPECT_EQ(*empty, "");
}

TEST_P(MetadataStoreConformanceTest, ListSettingsByPrefix) {
  ASSERT_TRUE(IsOk(store().PutSetting("iam.policy/b", "B")));
  ASSERT_TRUE(IsOk(store().PutSetting("iam.policy/a", "A")));
  ASSERT_TRUE(IsOk(store().PutSetting("iam.policyx", "X")));
  ASSERT_TRUE(IsOk(store().PutSetting("other", "O")));
  auto list = store().ListSettings("iam.policy/");
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].first, "iam.policy/a");
  EXPECT_EQ((*list)[0].second, "A");
  EXPECT_EQ((*list)[1].first, "iam.policy/b");
  auto none = store().ListSettings("nothing/");
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  // LIKE-style metacharacters in the prefix are literal.
  ASSERT_TRUE(IsOk(store().PutSetting("a%b", "1")));
  auto pct = store().ListSettings("a%");
  ASSERT_TRUE(IsOk(pct));
  EXPECT_EQ(pct->size(), 1u);
}

// --- identity -------------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, UserLifecycle) {
  UserRecord alice{
      "alice", "user", kNow, {"arn:aws:iam::aws:policy/B", "arn:aws:iam::aws:policy/A"}};
  UserRecord ci{"ci", "role", kNow + 1, {}};
  ASSERT_TRUE(IsOk(store().CreateUser(alice)));
  ASSERT_TRUE(IsOk(store().CreateUser(ci)));
  EXPECT_TRUE(HasCode(store().CreateUser(alice), Errc::kAlreadyExists));

  auto got = store().GetUser("alice");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->name, "alice");
  EXPECT_EQ(got->kind, "user");
  EXPECT_EQ(got->created_at, kNow);
  Strings arns = got->policy_arns;
  std::sort(arns.begin(), arns.end());
  EXPECT_EQ(arns, Strings({"arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"}));

  auto users = store().ListUsers();
  ASSERT_TRUE(IsOk(users));
  Strings names;
  for (const UserRecord& u : *users) {
    names.push_back(u.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, Strings({"alice", "ci"}));

  ASSERT_TRUE(IsOk(store().AttachPolicy("ci", "arn:aws:iam::aws:policy/C")));
  ASSERT_TRUE(IsOk(store().AttachPolicy("ci", "arn:aws:iam::aws:policy/C")));  // idempotent
  auto ci_got = store().GetUser("ci");
  ASSERT_TRUE(IsOk(ci_got));
  EXPECT_EQ(ci_got->kind, "role");
  EXPECT_EQ(ci_got->policy_arns, Strings({"arn:aws:iam::aws:policy/C"}));
  ASSERT_TRUE(IsOk(store().DetachPolicy("ci", "arn:aws:iam::aws:policy/C")));
  EXPECT_TRUE(HasCode(store().DetachPolicy("ci", "arn:aws:iam::aws:policy/C"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().AttachPolicy("nobody", "arn:x"), Errc::kNotFound));

  ASSERT_TRUE(IsOk(store().DeleteUser("alice")));
  EXPECT_TRUE(HasCode(store().GetUser("alice"), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteUser("alice"), Errc::kNotFound));
  // Re-creating the name starts without the old attachments.
  ASSERT_TRUE(IsOk(store().CreateUser({"alice", "user", kNow + 2, {}})));
  auto again = store().GetUser("alice");
  ASSERT_TRUE(IsOk(again));
  EXPECT_TRUE(again->policy_arns.empty());
}

TEST_P(MetadataStoreConformanceTest, AccessKeyLifecycle) {
  ASSERT_TRUE(IsOk(store().CreateUser({"alice", "user", kNow, {}})));
  ASSERT_TRUE(IsOk(store().CreateUser({"bob", "user", kNow, {}})));
  // Sealed secrets are binary: embedded NULs and high bytes must survive.
  std::string sealed("\x00\x01\xfe\xff sealed \x00", 12);
  AccessKeyRecord k1{"AKIA0000000000000002", "alice", sealed, "Active", kNow};
  AccessKeyRecord k2{"AKIA0000000000000001", "alice", "s2", "Inactive", kNow + 1};
  AccessKeyRecord k3{"AKIA0000000000000003", "bob", "s3", "Active", kNow + 2};
  for (const AccessKeyRecord& k : {k1, k2, k3}) {
    ASSERT_TRUE(IsOk(store().CreateAccessKey(k)));
  }
  EXPECT_TRUE(
      HasCode(store().CreateAccessKey({"AKIA9", "nobody", "s", "Active", kNow}), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().GetAccessKey("AKIA9"), Errc::kNotFound));

  auto got = store().GetAccessKey(k1.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, k1.id);
  EXPECT_EQ(got->user, "alice");
  EXPECT_EQ(got->secret_ciphertext, sealed);
  EXPECT_EQ(got->status, "Active");
  EXPECT_EQ(got->created_at, kNow);

  auto ids = [](const std::vector<AccessKeyRecord>& keys) {
    Strings out;
    for (const AccessKeyRecord& k : keys) {
      out.push_back(k.id);
    }
    return out;
  };
  auto alices = store().ListAccessKeys("alice");
  ASSERT_TRUE(IsOk(alices));
  EXPECT_EQ(ids(*alices), Strings({k2.id, k1.id}));  // by id
  auto all = store().ListAccessKeys("");
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(ids(*all), Strings({k2.id, k1.id, k3.id}));

  ASSERT_TRUE(IsOk(store().DeleteAccessKey(k2.id)));
  EXPECT_TRUE(HasCode(store().GetAccessKey(k2.id), Errc::kNotFound));
  EXPECT_TRUE(HasCode(store().DeleteAccessKey(k2.id), Errc::kNotFound));

  // Re-sealing (master-key rotation) replaces only the secret; binary survives.
  std::string resealed("\x00resealed\xff", 10);
  ASSERT_TRUE(IsOk(store().UpdateAccessKeySecret(k3.id, resealed)));
  auto k3got = store().GetAccessKey(k3.id);
  ASSERT_TRUE(IsOk(k3got));
  EXPECT_EQ(k3got->secret_ciphertext, resealed);
  EXPECT_EQ(k3got->user, "bob");
  EXPECT_EQ(k3got->status, "Active");
  EXPECT_EQ(k3got->created_at, kNow + 2);
  EXPECT_TRUE(HasCode(store().UpdateAccessKeySecret(k2.id, "x"), Errc::kNotFound));

  // Deleting a user deletes its keys.
  ASSERT_TRUE(IsOk(store().DeleteUser("alice")));
  EXPECT_TRUE(HasCode(store().GetAccessKey(k1.id), Errc::kNotFound));
  auto left = store().ListAccessKeys("");
  ASSERT_TRUE(IsOk(left));
  EXPECT_EQ(ids(*left), Strings({k3.id}));
}

// --- stats and concurrency ------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, StatsCountEverything) {
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", DigestOf("x"), 10, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("b", DigestOf("x"), 10, kNow)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("a", DigestOf("y"), 5, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("a", Manifest("{\"1\":1}"), {}, "v1", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("c", Manifest("{\"2\":2}"), {}, "", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u1", "a", kNow, kNow})));
  ASSERT_TRUE(IsOk(store().CreateUpload({"u2", "b", kNow, kNow})));
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, 3u);
  EXPECT_EQ(stats->blobs, 2u);
  EXPECT_EQ(stats->blob_bytes, 15u);
  EXPECT_EQ(stats->manifests, 2u);
  EXPECT_EQ(stats->uploads, 2u);

  ASSERT_TRUE(IsOk(store().DeleteUpload("u1")));
  ASSERT_TRUE(IsOk(store().DeleteManifest("c", DigestOf("{\"2\":2}"))));
  auto after = store().Stats();
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(after->manifests, 1u);
  EXPECT_EQ(after->uploads, 1u);
}

TEST_P(MetadataStoreConformanceTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 8;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &failures] {
      std::string repo = "repo" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        std::string d = DigestOf(repo + "/" + std::to_string(i));
        if (!store().PutBlobLink(repo, d, 1, kNow).ok() || !store().GetBlobLink(repo, d).ok() ||
            !store()
                 .PutManifest(repo, Manifest(d), {{d, false}}, "t" + std::to_string(i), kMutableTag,
                              kNow)
                 .ok() ||
            !store().ListTags(repo, "", 100).ok()) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  }
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->repositories, static_cast<uint64_t>(kThreads));
  EXPECT_EQ(stats->blobs, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats->manifests, static_cast<uint64_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    auto tags = store().ListTags("repo" + std::to_string(t), "", 100);
    ASSERT_TRUE(IsOk(tags));
    EXPECT_EQ(tags->size(), static_cast<size_t>(kPerThread));
  }
}

// {"<name>":1}, a manifest body of its own per name.
static std::string JsonKey(const std::string& name) {
  std::string body = "{\"";
  body += name;
  body += "\":1}";
  return body;
}

// Concurrent writes may share a transaction (group commit): a call that fails must report its
// own error and leave nothing behind, without taking the calls around it down.
TEST_P(MetadataStoreConformanceTest, FailingWritesAmongConcurrentOnesChangeNothing) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 12;
  std::string blob = DigestOf("shared layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", blob, 5, kNow)));
  std::vector<std::thread> threads;
  std::vector<int> wrong(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &blob, &wrong] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = std::to_string(t) + "-" + std::to_string(i);
        bool fail = (t + i) % 2 == 1;
        std::string child = fail ? DigestOf("missing " + name) : blob;
        Status s = store().PutManifest("r", Manifest(JsonKey(name)), {{child, false}}, "t" + name,
                                       kMutableTag, kNow);
        if (fail ? !HasCode(s, Errc::kManifestBlobUnknown) || s.error().detail != child : !s.ok()) {
          ++wrong[t];
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
  }
  auto tags = store().ListTags("r", "", 1000);
  ASSERT_TRUE(IsOk(tags));
  EXPECT_EQ(tags->size(), static_cast<size_t>(kThreads * kPerThread / 2));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string name = std::to_string(t) + "-" + std::to_string(i);
      bool failed = (t + i) % 2 == 1;
      auto got = store().GetManifest("r", DigestOf(JsonKey(name)));
      EXPECT_EQ(got.ok(), !failed) << name;
      EXPECT_EQ(store().GetTag("r", "t" + name).ok(), !failed) << name;
    }
  }
  auto stats = store().Stats();
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->manifests, static_cast<uint64_t>(kThreads * kPerThread / 2));
}

// --- lifecycle, archive, garbage collection -------------------------------------------------

TEST_P(MetadataStoreConformanceTest, LifecyclePolicyIsStoredOnTheRepository) {
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", DigestOf("b"), 1, kNow)));
  EXPECT_TRUE(HasCode(store().SetLifecyclePolicy("nope", "{}"), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().SetLifecyclePolicy("r", R"({"rules":[]})")));
  ASSERT_TRUE(IsOk(store().SetLifecycleEvaluatedAt("r", kNow + 5)));
  auto rec = store().GetRepository("r");
  ASSERT_TRUE(IsOk(rec));
  EXPECT_EQ(rec->lifecycle_policy, R"({"rules":[]})");
  EXPECT_EQ(rec->lifecycle_evaluated_at, kNow + 5);
  ASSERT_TRUE(IsOk(store().SetLifecyclePolicy("r", "")));
  EXPECT_EQ(store().GetRepository("r")->lifecycle_policy, "");
}

TEST_P(MetadataStoreConformanceTest, ImageStatusTransitionsStampTimes) {
  std::string layer = DigestOf("layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord m = Manifest(R"({"m":1})");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {{layer, false}}, "v1", kMutableTag, kNow)));
  EXPECT_EQ(store().GetManifest("r", m.digest)->status, "ACTIVE");
  EXPECT_TRUE(
      HasCode(store().SetImageStatus("r", DigestOf("x"), "ARCHIVED", kNow), Errc::kNotFound));
  ASSERT_TRUE(IsOk(store().SetImageStatus("r", m.digest, "ARCHIVED", kNow + 10)));
  auto images = store().ListImages("r");
  ASSERT_TRUE(IsOk(images));
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].status, "ARCHIVED");
  EXPECT_EQ((*images)[0].archived_at, kNow + 10);
  EXPECT_EQ((*images)[0].activated_at, 0);
  auto archived = store().ListImagesByStatus("ARCHIVED", 10);
  ASSERT_TRUE(IsOk(archived));
  ASSERT_EQ(archived->size(), 1u);
  EXPECT_EQ((*archived)[0].digest, m.digest);

  // Only blobs no active manifest uses are to be archived.
  auto to_archive = store().ListBlobsToArchive(10);
  ASSERT_TRUE(IsOk(to_archive));
  ASSERT_EQ(to_archive->size(), 1u);
  EXPECT_EQ((*to_archive)[0], layer);
  ASSERT_TRUE(IsOk(store().SetBlobArchived(layer, true)));
  EXPECT_TRUE(*store().IsBlobArchived(layer));
  EXPECT_TRUE(store().ListBlobsToArchive(10)->empty());
  EXPECT_EQ(*store().ImageBlobs("r", m.digest), std::vector<std::string>{layer});

  ASSERT_TRUE(IsOk(store().SetImageStatus("r", m.digest, "ACTIVATING", kNow + 20)));
  ASSERT_TRUE(IsOk(store().SetImageStatus("r", m.digest, "ACTIVE", kNow + 30)));
  images = store().ListImages("r");
  EXPECT_EQ((*images)[0].status, "ACTIVE");
  EXPECT_EQ((*images)[0].activated_at, kNow + 30);
  EXPECT_EQ((*images)[0].archived_at, kNow + 10);
}

TEST_P(MetadataStoreConformanceTest, RepushRestoresAnArchivedImage) {
  ManifestRecord m = Manifest(R"({"m":2})");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().SetImageStatus("r", m.digest, "ARCHIVED", kNow + 1)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {}, "v1", kMutableTag, kNow + 2)));
  auto got = store().GetManifest("r", m.digest);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, "ACTIVE");
  EXPECT_EQ(store().ListImages("r")->at(0).activated_at, kNow + 2);
}

TEST_P(MetadataStoreConformanceTest, SharedBlobOfAnActiveImageIsNotArchived) {
  std::string shared = DigestOf("shared");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", shared, 6, kNow)));
  ManifestRecord a = Manifest(R"({"a":1})");
  ManifestRecord b = Manifest(R"({"b":1})");
  ASSERT_TRUE(IsOk(store().PutManifest("r", a, {{shared, false}}, "a", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().PutManifest("r", b, {{shared, false}}, "b", kMutableTag, kNow)));
  ASSERT_TRUE(IsOk(store().SetImageStatus("r", a.digest, "ARCHIVED", kNow)));
  EXPECT_TRUE(store().ListBlobsToArchive(10)->empty());
}

TEST_P(MetadataStoreConformanceTest, IndexImageBlobsIncludeChildren) {
  std::string layer = DigestOf("child-layer");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", layer, 5, kNow)));
  ManifestRecord child = Manifest(R"({"child":2})");
  ManifestRecord index = Manifest(R"({"index":2})");
  index.media_type = std::string(kIndexType);
  ASSERT_TRUE(IsOk(store().PutManifest("r", child, {{layer, false}}, "", kMutableTag, kNow)));
  ASSERT_TRUE(
      IsOk(store().PutManifest("r", index, {{child.digest, true}}, "multi", kMutableTag, kNow)));
  EXPECT_EQ(*store().ImageBlobs("r", index.digest), std::vector<std::string>{layer});
  auto images = store().ListImages("r");
  ASSERT_TRUE(IsOk(images));
  for (const auto& im : *images) {
    if (im.digest == index.digest) {
      EXPECT_EQ(im.children, std::vector<std::string>{child.digest});
    } else {
      EXPECT_TRUE(im.children.empty());
    }
  }
}

TEST_P(MetadataStoreConformanceTest, GarbageCollectionHonoursReferencesAndGrace) {
  std::string used = DigestOf("used");
  std::string stale = DigestOf("stale");
  std::string fresh = DigestOf("fresh");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", used, 4, kNow - 100)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", stale, 5, kNow - 100)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", fresh, 6, kNow)));
  ManifestRecord m = Manifest(R"({"gc":1})");
  ASSERT_TRUE(IsOk(store().PutManifest("r", m, {{used, false}}, "v", kMutableTag, kNow)));
  int64_t cutoff = kNow - 10;

  auto reclaimable = store().UnreferencedBlobBytes();
  ASSERT_TRUE(IsOk(reclaimable));
  EXPECT_EQ(*reclaimable, 11u);  // stale + fresh: no manifest references them

  // A dry run counts what a real run removes; candidates already see stale links as gone.
  EXPECT_EQ(*store().DeleteStaleLinks(cutoff, /*dry_run=*/true), 1u);
  auto before = store().ListUnreferencedBlobs(cutoff, 100);
  ASSERT_TRUE(IsOk(before));
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].digest, stale);
  auto links = store().DeleteStaleLinks(cutoff, /*dry_run=*/false);
  ASSERT_TRUE(IsOk(links));
  EXPECT_EQ(*links, 1u);  // only the stale one: `used` is referenced, `fresh` is in its grace
  auto candidates = store().ListUnreferencedBlobs(cutoff, 100);
  ASSERT_TRUE(IsOk(candidates));
  ASSERT_EQ(candidates->size(), 1u);
  EXPECT_EQ((*candidates)[0].digest, stale);
  EXPECT_EQ((*candidates)[0].size, 5u);

  // Relinked meanwhile (a push): the delete must not happen.
  ASSERT_TRUE(IsOk(store().PutBlobLink("r2", stale, 5, kNow)));
  EXPECT_FALSE(*store().DeleteBlobIfUnreferenced(stale, cutoff));
  ASSERT_TRUE(IsOk(store().DeleteBlobLink("r2", stale)));
  EXPECT_TRUE(*store().DeleteBlobIfUnreferenced(stale, cutoff));
  EXPECT_TRUE(HasCode(store().GetBlob(stale), Errc::kNotFound));
  EXPECT_FALSE(*store().DeleteBlobIfUnreferenced(stale, cutoff));
  // The referenced blob survives.
  EXPECT_TRUE(IsOk(store().GetBlobLink("r", used)));
}

TEST_P(MetadataStoreConformanceTest, UploadingAgainRenewsAStaleLink) {
  std::string blob = DigestOf("again");
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", blob, 5, kNow - 100)));
  ASSERT_TRUE(IsOk(store().PutBlobLink("r", blob, 5, kNow)));  // uploaded again just now
  EXPECT_EQ(*store().DeleteStaleLinks(kNow - 10, false), 0u);
  EXPECT_TRUE(store().ListUnreferencedBlobs(kNow - 10, 100)->empty());
  EXPECT_TRUE(IsOk(store().GetBlobLink("r", blob)));
}

}  // namespace berth::meta
