#include "registry/manifest.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "base/digest.h"

namespace berth::registry {
namespace {

constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";

std::string DigestOf(std::string_view content) { return Digest::Sha256Of(content).str(); }

std::string Quote(std::string_view s) {
  std::string q = "\"";
  q.append(s);
  q.push_back('"');
  return q;
}

// `s` with the first occurrence of `from` replaced by `to`.
std::string ReplaceFirst(const std::string& s, std::string_view from, std::string_view to) {
  size_t pos = s.find(from);
  if (pos == std::string::npos) {
    ADD_FAILURE() << "'" << from << "' not in " << s;
    return s;
  }
  std::string out = s.substr(0, pos);
  out.append(to);
  out.append(s, pos + from.size());
  return out;
}

// A descriptor object; `extra` is spliced in verbatim (e.g. R"("urls":["https://x"])").
std::string Desc(std::string_view media_type, std::string_view digest, std::string_view size,
                 std::string_view extra = "") {
  std::string s = "{\"mediaType\":" + Quote(media_type) + ",\"digest\":" + Quote(digest) +
                  ",\"size\":" + std::string(size);
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  return s + "}";
}

std::string Desc(std::string_view media_type, std::string_view content) {
  return Desc(media_type, DigestOf(content), std::to_string(content.size()));
}

// An image manifest; `media_type` empty omits the field, `extra` is spliced in at the end.
std::string Image(std::string_view media_type, const std::string& config, const std::string& layers,
                  std::string_view extra = "") {
  std::string s = "{\"schemaVersion\":2,";
  if (!media_type.empty()) {
    s += "\"mediaType\":" + Quote(media_type) + ",";
  }
  s += "\"config\":" + config + ",\"layers\":[" + layers + "]";
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  return s + "}";
}

std::string OciImage(std::string_view extra = "") {
  return Image(kOciManifest, Desc(kOciConfig, "config"),
               Desc(kOciLayer, "layer1") + "," + Desc(kOciLayer, "layer2"), extra);
}

std::string Index(std::string_view media_type, const std::string& manifests,
                  std::string_view extra = "") {
  std::string s = "{\"schemaVersion\":2,";
  if (!media_type.empty()) {
    s += "\"mediaType\":" + Quote(media_type) + ",";
  }
  s += "\"manifests\":[" + manifests + "]";
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  return s + "}";
}

constexpr std::string_view kPlatformAmd64 = R"("platform":{"architecture":"amd64","os":"linux"})";
constexpr std::string_view kPlatformArm64 = R"("platform":{"architecture":"arm64","os":"linux"})";

void ExpectError(const Result<ParsedManifest>& r, Errc code, std::string_view body_hint = "") {
  ASSERT_FALSE(r.ok()) << "accepted: " << body_hint;
  EXPECT_EQ(r.error().code, code) << ErrcName(r.error().code) << ": " << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
}

TEST(ManifestTest, ParsesOciImageManifest) {
  std::string body = OciImage();
  auto m = ParseManifest(kOciManifest, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciManifest);
  EXPECT_FALSE(m->is_index);
  ASSERT_EQ(m->blobs.size(), 3u);
  EXPECT_EQ(m->blobs[0].media_type, kOciConfig);  // config first, then layers in order
  EXPECT_EQ(m->blobs[0].digest, DigestOf("config"));
  EXPECT_EQ(m->blobs[0].size, 6u);
  EXPECT_EQ(m->blobs[1].media_type, kOciLayer);
  EXPECT_EQ(m->blobs[1].digest, DigestOf("layer1"));
  EXPECT_EQ(m->blobs[2].digest, DigestOf("layer2"));
  EXPECT_FALSE(m->blobs[1].has_urls);
  EXPECT_TRUE(m->manifests.empty());
  EXPECT_TRUE(m->subject.empty());
  EXPECT_EQ(m->artifact_type, kOciConfig);
  EXPECT_TRUE(m->annotations_json.empty());
}

TEST(ManifestTest, ParsesOciIndex) {
  std::string body =
      Index(kOciIndex, Desc(kOciManifest, DigestOf("m1"), "100", kPlatformAmd64) + "," +
                           Desc(kOciManifest, DigestOf("m2"), "200", kPlatformArm64));
  auto m = ParseManifest(kOciIndex, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciIndex);
  EXPECT_TRUE(m->is_index);
  EXPECT_TRUE(m->blobs.empty());
  ASSERT_EQ(m->manifests.size(), 2u);
  EXPECT_EQ(m->manifests[0].media_type, kOciManifest);
  EXPECT_EQ(m->manifests[0].digest, DigestOf("m1"));
  EXPECT_EQ(m->manifests[0].size, 100u);
  EXPECT_EQ(m->manifests[1].digest, DigestOf("m2"));
  EXPECT_EQ(m->manifests[1].size, 200u);
}

TEST(ManifestTest, ParsesEmptyIndex) {
  auto m = ParseManifest(kOciIndex, Index(kOciIndex, ""));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->is_index);
  EXPECT_TRUE(m->manifests.empty());
}

TEST(ManifestTest, ParsesDockerManifestV2) {
  std::string body =
      Image(kDockerManifest, Desc(kDockerConfig, "config"), Desc(kDockerLayer, "layer1"));
  auto m = ParseManifest(kDockerManifest, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kDockerManifest);
  EXPECT_FALSE(m->is_index);
  ASSERT_EQ(m->blobs.size(), 2u);
  EXPECT_EQ(m->blobs[0].media_type, kDockerConfig);
  EXPECT_EQ(m->blobs[1].media_type, kDockerLayer);
  EXPECT_EQ(m->artifact_type, kDockerConfig);
}

TEST(ManifestTest, ParsesDockerManifestList) {
  std::string body =
      Index(kDockerManifestList, Desc(kDockerManifest, DigestOf("m1"), "10", kPlatformAmd64));
  auto m = ParseManifest(kDockerManifestList, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kDockerManifestList);
  EXPECT_TRUE(m->is_index);
  ASSERT_EQ(m->manifests.size(), 1u);
  EXPECT_EQ(m->manifests[0].media_type, kDockerManifest);
}

TEST(ManifestTest, DockerTypesRequireMediaTypeInBody) {
  ExpectError(
      ParseManifest(kDockerManifest, Image("", Desc(kDockerConfig, "c"), Desc(kDockerLayer, "l"))),
      Errc::kManifestInvalid);
  ExpectError(
      ParseManifest(kDockerManifestList, Index("", Desc(kDockerManifest, DigestOf("m"), "1"))),
      Errc::kManifestInvalid);
}

TEST(ManifestTest, ArtifactTypeComesFromArtifactType) {
  std::string body =
      Image(kOciManifest, Desc(kOciEmpty, "{}"), Desc("application/spdx+json", "sbom"),
            R"("artifactType":"application/vnd.example.sbom.v1")");
  auto m = ParseManifest(kOciManifest, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.sbom.v1");
  ASSERT_EQ(m->blobs.size(), 2u);
  EXPECT_EQ(m->blobs[0].media_type, kOciEmpty);
}

TEST(ManifestTest, ArtifactTypeFallsBackToConfigMediaType) {
  std::string body = Image(kOciManifest, Desc("application/vnd.example.config.v1+json", "cfg"),
                           Desc("application/vnd.example.data", "data"));
  auto m = ParseManifest(kOciManifest, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.config.v1+json");
}

TEST(ManifestTest, IndexArtifactType) {
  std::string body = Index(kOciIndex, Desc(kOciManifest, DigestOf("m1"), "1"),
                           R"("artifactType":"application/vnd.example.bundle")");
  auto m = ParseManifest(kOciIndex, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.bundle");
}

TEST(ManifestTest, ArtifactTypeMustBeString) {
  ExpectError(ParseManifest(kOciManifest, OciImage(R"("artifactType":5)")), Errc::kManifestInvalid);
}

TEST(ManifestTest, ExtractsSubject) {
  std::string subject = DigestOf("subject manifest");
  std::string body = Image(kOciManifest, Desc(kOciEmpty, "{}"), Desc(kOciLayer, "sig"),
                           "\"subject\":" + Desc(kOciManifest, subject, "123"));
  auto m = ParseManifest(kOciManifest, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->subject, subject);
  // The subject is not something the manifest stores: it is neither a blob nor a child.
  ASSERT_EQ(m->blobs.size(), 2u);
  EXPECT_NE(m->blobs[0].digest, subject);
  EXPECT_NE(m->blobs[1].digest, subject);
  EXPECT_TRUE(m->manifests.empty());
}

TEST(ManifestTest, ExtractsIndexSubject) {
  std::string subject = DigestOf("subject");
  std::string body = Index(kOciIndex, Desc(kOciManifest, DigestOf("m1"), "1"),
                           "\"subject\":" + Desc(kOciManifest, subject, "9"));
  auto m = ParseManifest(kOciIndex, body);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->subject, subject);
}

TEST(ManifestTest, SubjectMustBeADescriptor) {
  ExpectError(ParseManifest(kOciManifest, OciImage(R"("subject":"sha256:abc")")),
              Errc::kManifestInvalid);
  ExpectError(
      ParseManifest(kOciManifest, OciImage("\"subject\":" + Desc(kOciManifest, "sha256:abc", "1"))),
      Errc::kDigestInvalid);
}

TEST(ManifestTest, SerializesAnnotations) {
  auto m = ParseManifest(
      kOciManifest,
      OciImage(
          R"("annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z","a":"b"})"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->annotations_json,
            R"({"org.opencontainers.image.created":"2024-01-01T00:00:00Z","a":"b"})");
}

TEST(ManifestTest, EmptyAnnotationsObject) {
  auto m = ParseManifest(kOciManifest, OciImage(R"("annotations":{})"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->annotations_json, "{}");
}

TEST(ManifestTest, RejectsBadAnnotations) {
  ExpectError(ParseManifest(kOciManifest, OciImage(R"("annotations":["a"])")),
              Errc::kManifestInvalid);
  ExpectError(ParseManifest(kOciManifest, OciImage(R"("annotations":{"a":1})")),
              Errc::kManifestInvalid);
  ExpectError(ParseManifest(kOciManifest,
                            Image(kOciManifest, Desc(kOciConfig, "c"),
                                  Desc(kOciLayer, DigestOf("l"), "1", R"("annotations":"x")"))),
              Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsMediaTypeContentTypeMismatch) {
  ExpectError(ParseManifest(kOciIndex, OciImage()), Errc::kManifestInvalid);
  ExpectError(ParseManifest(kDockerManifest, OciImage()), Errc::kManifestInvalid);
  ExpectError(ParseManifest(kOciManifest, Index(kOciIndex, "")), Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsSchema1ByContentType) {
  for (std::string_view ct : {kDockerSchema1, kDockerSchema1Signed}) {
    for (std::string_view body : {std::string_view(R"({"schemaVersion":1,"name":"a","tag":"b"})"),
                                  std::string_view("not even json")}) {
      auto m = ParseManifest(ct, body);
      ExpectError(m, Errc::kManifestInvalid, body);
      if (!m.ok()) {
        EXPECT_NE(m.error().message.find("schema 1"), std::string::npos) << m.error().message;
      }
    }
  }
}

TEST(ManifestTest, RejectsSchema1BySchemaVersion) {
  std::string_view body = R"({"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]})";
  for (std::string_view ct : {std::string_view(""), std::string_view("application/json")}) {
    auto m = ParseManifest(ct, body);
    ExpectError(m, Errc::kManifestInvalid, ct);
    if (!m.ok()) {
      EXPECT_NE(m.error().message.find("schema 1"), std::string::npos) << m.error().message;
    }
  }
}

TEST(ManifestTest, RequiresSchemaVersion2) {
  std::string no_version = R"({"mediaType":")" + std::string(kOciManifest) + R"(","config":)" +
                           Desc(kOciConfig, "c") + R"(,"layers":[]})";
  ExpectError(ParseManifest(kOciManifest, no_version), Errc::kManifestInvalid);
  std::string v3 = ReplaceFirst(OciImage(), "\"schemaVersion\":2", "\"schemaVersion\":3");
  ExpectError(ParseManifest(kOciManifest, v3), Errc::kManifestInvalid);
  std::string v_str = ReplaceFirst(OciImage(), "\"schemaVersion\":2", "\"schemaVersion\":\"2\"");
  ExpectError(ParseManifest(kOciManifest, v_str), Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsMalformedJson) {
  for (std::string_view body : {"", "{", "{\"schemaVersion\":2,}", "nul", "{}}"}) {
    ExpectError(ParseManifest(kOciManifest, body), Errc::kManifestInvalid, body);
  }
}

TEST(ManifestTest, RejectsNonObject) {
  for (std::string_view body : {"[]", "\"manifest\"", "42", "null", "true"}) {
    ExpectError(ParseManifest(kOciManifest, body), Errc::kManifestInvalid, body);
  }
}

TEST(ManifestTest, RejectsMissingConfig) {
  std::string body =
      R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) + R"(","layers":[]})";
  ExpectError(ParseManifest(kOciManifest, body), Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsMissingOrNonArrayLayers) {
  std::string missing = R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) +
                        R"(","config":)" + Desc(kOciConfig, "c") + "}";
  ExpectError(ParseManifest(kOciManifest, missing), Errc::kManifestInvalid);
  std::string object = R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) +
                       R"(","config":)" + Desc(kOciConfig, "c") + R"(,"layers":{}})";
  ExpectError(ParseManifest(kOciManifest, object), Errc::kManifestInvalid);
}

TEST(ManifestTest, AcceptsEmptyLayers) {
  auto m = ParseManifest(kOciManifest, Image(kOciManifest, Desc(kOciConfig, "c"), ""));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->blobs.size(), 1u);
}

TEST(ManifestTest, RejectsMissingOrNonArrayManifests) {
  ExpectError(ParseManifest(kOciIndex, R"({"schemaVersion":2,"mediaType":")" +
                                           std::string(kOciIndex) + R"("})"),
              Errc::kManifestInvalid);
  ExpectError(ParseManifest(kOciIndex, R"({"schemaVersion":2,"mediaType":")" +
                                           std::string(kOciIndex) + R"(","manifests":{}})"),
              Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsMixedImageAndIndexFields) {
  ExpectError(ParseManifest(kOciIndex, Index(kOciIndex, "", "\"config\":" + Desc(kOciConfig, "c"))),
              Errc::kManifestInvalid);
  ExpectError(ParseManifest(kOciManifest, OciImage(R"("manifests":[])")), Errc::kManifestInvalid);
}

struct BadDescriptorCase {
  const char* what;
  std::string descriptor;
  Errc want;
};

void PrintTo(const BadDescriptorCase& c, std::ostream* os) { *os << c.what; }

class BadDescriptorTest : public ::testing::TestWithParam<BadDescriptorCase> {};

TEST_P(BadDescriptorTest, RejectedAsConfigLayerAndChild) {
  const BadDescriptorCase& c = GetParam();
  ExpectError(ParseManifest(kOciManifest, Image(kOciManifest, c.descriptor, "")), c.want, "config");
  ExpectError(ParseManifest(kOciManifest, Image(kOciManifest, Desc(kOciConfig, "c"), c.descriptor)),
              c.want, "layer");
  ExpectError(ParseManifest(kOciIndex, Index(kOciIndex, c.descriptor)), c.want, "child");
}

std::string GoodDigest() { return DigestOf("x"); }

INSTANTIATE_TEST_SUITE_P(
    Table, BadDescriptorTest,
    ::testing::Values(
        BadDescriptorCase{"not an object", "\"sha256:abc\"", Errc::kManifestInvalid},
        BadDescriptorCase{"no digest",
                          "{\"mediaType\":\"" + std::string(kOciLayer) + "\",\"size\":1}",
                          Errc::kManifestInvalid},
        BadDescriptorCase{
            "digest not a string",
            "{\"mediaType\":\"" + std::string(kOciLayer) + "\",\"digest\":5,\"size\":1}",
            Errc::kManifestInvalid},
        BadDescriptorCase{"no mediaType", "{\"digest\":\"" + GoodDigest() + "\",\"size\":1}",
                          Errc::kManifestInvalid},
        BadDescriptorCase{"no size",
                          "{\"mediaType\":\"" + std::string(kOciLayer) + "\",\"digest\":\"" +
                              GoodDigest() + "\"}",
                          Errc::kManifestInvalid},
        BadDescriptorCase{"negative size", Desc(kOciLayer, GoodDigest(), "-1"),
                          Errc::kManifestInvalid},
        BadDescriptorCase{"size as string", Desc(kOciLayer, GoodDigest(), "\"1\""),
                          Errc::kManifestInvalid},
        BadDescriptorCase{"fractional size", Desc(kOciLayer, GoodDigest(), "1.5"),
                          Errc::kManifestInvalid},
        BadDescriptorCase{"urls not an array",
                          Desc(kOciLayer, GoodDigest(), "1", R"("urls":"https://x")"),
                          Errc::kManifestInvalid},
        BadDescriptorCase{"malformed digest", Desc(kOciLayer, "sha256:abc", "1"),
                          Errc::kDigestInvalid},
        BadDescriptorCase{"uppercase digest",
                          Desc(kOciLayer, "sha256:" + std::string(64, 'A'), "1"),
                          Errc::kDigestInvalid},
        BadDescriptorCase{"digest without algorithm", Desc(kOciLayer, std::string(64, 'a'), "1"),
                          Errc::kDigestInvalid},
        BadDescriptorCase{"unsupported algorithm",
                          Desc(kOciLayer, "md5:" + std::string(32, 'a'), "1"),
                          Errc::kDigestInvalid}));

TEST(ManifestTest, AcceptsLargeSizes) {
  auto m = ParseManifest(kOciManifest,
                         Image(kOciManifest, Desc(kOciConfig, "c"),
                               Desc(kOciLayer, GoodDigest(), "5000000000") + "," +
                                   Desc(kOciLayer, DigestOf("y"), "18446744073709551615")));
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->blobs.size(), 3u);
  EXPECT_EQ(m->blobs[1].size, 5000000000u);
  EXPECT_EQ(m->blobs[2].size, UINT64_MAX);
}

TEST(ManifestTest, EnforcesSizeLimit) {
  std::string body = OciImage();
  body.resize(kMaxManifestBytes, ' ');  // trailing whitespace is still valid JSON
  auto at_limit = ParseManifest(kOciManifest, body);
  EXPECT_TRUE(at_limit.ok()) << at_limit.error().message;

  body.push_back(' ');
  ExpectError(ParseManifest(kOciManifest, body), Errc::kTooLarge);
}

TEST(ManifestTest, SkipsForeignLayersWithUrls) {
  std::string foreign_docker =
      Desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", DigestOf("win"), "10",
           R"("urls":["https://mcr.microsoft.com/x"])");
  std::string nondistributable =
      Desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", DigestOf("nd"), "10",
           R"("urls":["https://example.com/nd"])");
  std::string nondistributable_no_urls =
      Desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "kept-nd");
  std::string regular = Desc(kOciLayer, "regular");
  auto m =
      ParseManifest(kOciManifest, Image(kOciManifest, Desc(kOciConfig, "c"),
                                        foreign_docker + "," + regular + "," + nondistributable +
                                            "," + nondistributable_no_urls));
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->blobs.size(), 3u);
  EXPECT_EQ(m->blobs[0].digest, DigestOf("c"));
  EXPECT_EQ(m->blobs[1].digest, DigestOf("regular"));
  EXPECT_EQ(m->blobs[2].digest, DigestOf("kept-nd"));
}

TEST(ManifestTest, KeepsDistributableLayersWithUrls) {
  auto m = ParseManifest(kOciManifest, Image(kOciManifest, Desc(kOciConfig, "c"),
                                             Desc(kOciLayer, DigestOf("l"), "1",
                                                  R"("urls":["https://mirror.example/l"])")));
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->blobs.size(), 2u);
  EXPECT_TRUE(m->blobs[1].has_urls);
}

TEST(ManifestTest, IgnoresContentTypeParameters) {
  for (std::string ct :
       {std::string(kOciManifest) + "; charset=utf-8", std::string(kOciManifest) + ";charset=utf-8",
        " " + std::string(kOciManifest) + " ; q=1"}) {
    auto m = ParseManifest(ct, OciImage());
    ASSERT_TRUE(m.ok()) << ct << ": " << m.error().message;
    EXPECT_EQ(m->media_type, kOciManifest) << ct;
  }
}

TEST(ManifestTest, TakesMediaTypeFromBodyWithoutContentType) {
  auto m = ParseManifest("", Index(kDockerManifestList, Desc(kDockerManifest, DigestOf("m"), "1")));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kDockerManifestList);
  EXPECT_TRUE(m->is_index);

  auto generic = ParseManifest("application/json", OciImage());
  ASSERT_TRUE(generic.ok()) << generic.error().message;
  EXPECT_EQ(generic->media_type, kOciManifest);
}

TEST(ManifestTest, InfersOciTypeWhenNeitherHeaderNorBodyNamesIt) {
  auto image = ParseManifest("", Image("", Desc(kOciConfig, "c"), Desc(kOciLayer, "l")));
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->media_type, kOciManifest);
  EXPECT_FALSE(image->is_index);

  auto index = ParseManifest("", Index("", Desc(kOciManifest, DigestOf("m"), "1")));
  ASSERT_TRUE(index.ok()) << index.error().message;
  EXPECT_EQ(index->media_type, kOciIndex);
  EXPECT_TRUE(index->is_index);
}

TEST(ManifestTest, ContentTypeNamesTypeWhenBodyOmitsIt) {
  auto m = ParseManifest(kOciIndex, Index("", Desc(kOciManifest, DigestOf("m"), "1")));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciIndex);
}

TEST(ManifestTest, RejectsUnknownContentType) {
  ExpectError(ParseManifest("application/x-foo", OciImage()), Errc::kManifestInvalid);
  ExpectError(ParseManifest("application/x-foo", Image("", Desc(kOciConfig, "c"), "")),
              Errc::kManifestInvalid);
}

TEST(ManifestTest, RejectsUnknownBodyMediaType) {
  std::string body = Image("application/vnd.example.manifest+json", Desc(kOciConfig, "c"), "");
  ExpectError(ParseManifest("", body), Errc::kManifestInvalid);
  ExpectError(ParseManifest("application/json", body), Errc::kManifestInvalid);
  std::string not_string = ReplaceFirst(OciImage(), Quote(kOciManifest), "7");
  ExpectError(ParseManifest("", not_string), Errc::kManifestInvalid);
}

TEST(ManifestTest, IsManifestMediaType) {
  EXPECT_TRUE(IsManifestMediaType(kOciManifest));
  EXPECT_TRUE(IsManifestMediaType(kOciIndex));
  EXPECT_TRUE(IsManifestMediaType(kDockerManifest));
  EXPECT_TRUE(IsManifestMediaType(kDockerManifestList));
  EXPECT_FALSE(IsManifestMediaType(kDockerSchema1));
  EXPECT_FALSE(IsManifestMediaType(kDockerSchema1Signed));
  EXPECT_FALSE(IsManifestMediaType("application/json"));
  EXPECT_FALSE(IsManifestMediaType(""));
  EXPECT_FALSE(IsManifestMediaType(std::string(kOciManifest) + "; charset=utf-8"));
}

}  // namespace
}  // namespace berth::registry
