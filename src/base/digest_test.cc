#include "base/digest.h"

#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth {
namespace {

constexpr std::string_view kSha256Empty =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kSha256Abc =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr std::string_view kSha512Abc =
    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

std::string Hex(size_t n, char c = 'a') { return std::string(n, c); }

TEST(DigestTest, ParseAcceptsSha256) {
  auto d = Digest::Parse(kSha256Abc);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->algorithm(), DigestAlgorithm::kSha256);
  EXPECT_EQ(d->algorithm_name(), "sha256");
  EXPECT_EQ(d->hex(), kSha256Abc.substr(7));
  EXPECT_EQ(d->str(), kSha256Abc);
}

TEST(DigestTest, ParseAcceptsSha512) {
  auto d = Digest::Parse(kSha512Abc);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->algorithm(), DigestAlgorithm::kSha512);
  EXPECT_EQ(d->algorithm_name(), "sha512");
  EXPECT_EQ(d->hex().size(), 128u);
  EXPECT_EQ(d->str(), kSha512Abc);
}

struct ParseCase {
  std::string text;
  Errc want;  // kOk: accepted
};

void PrintTo(const ParseCase& c, std::ostream* os) { *os << "'" << c.text << "'"; }

class DigestParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(DigestParseTest, Classifies) {
  const ParseCase& c = GetParam();
  auto d = Digest::Parse(c.text);
  if (c.want == Errc::kOk) {
    ASSERT_TRUE(d.ok()) << "'" << c.text << "': " << d.error().message;
    EXPECT_EQ(d->str(), c.text);
  } else {
    ASSERT_FALSE(d.ok()) << "'" << c.text << "' was accepted";
    EXPECT_EQ(d.error().code, c.want)
        << "'" << c.text << "': got " << ErrcName(d.error().code) << ": " << d.error().message;
    EXPECT_FALSE(d.error().message.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, DigestParseTest,
    ::testing::Values(
        // Accepted: registered algorithms, exact length, lowercase hex.
        ParseCase{"sha256:" + Hex(64), Errc::kOk}, ParseCase{"sha256:" + Hex(64, '0'), Errc::kOk},
        ParseCase{"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                  Errc::kOk},
        ParseCase{"sha512:" + Hex(128), Errc::kOk},
        // Malformed: uppercase hex, wrong length, non-hex encoded characters.
        ParseCase{"sha256:" + Hex(64, 'A'), Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(63) + "F", Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(63), Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(65), Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(128), Errc::kDigestInvalid},
        ParseCase{"sha512:" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"sha512:" + Hex(127), Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(64, 'g'), Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(63) + "/", Errc::kDigestInvalid},
        ParseCase{"sha256:" + Hex(63) + " ", Errc::kDigestInvalid},
        // Missing colon or empty parts.
        ParseCase{"", Errc::kDigestInvalid}, ParseCase{":", Errc::kDigestInvalid},
        ParseCase{"sha256" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"sha256:", Errc::kDigestInvalid}, ParseCase{":" + Hex(64), Errc::kDigestInvalid},
        // Algorithm grammar: [a-z0-9]+ components joined by one of [+._-].
        ParseCase{"SHA256:" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"sha256+:" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"+sha256:" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"sha++256:" + Hex(64), Errc::kDigestInvalid},
        ParseCase{"sha 256:" + Hex(64), Errc::kDigestInvalid},
        // Over the 256-character cap.
        ParseCase{"sha256:" + Hex(300), Errc::kDigestInvalid},
        // Well-formed but not an algorithm berth can verify.
        ParseCase{"md5:" + Hex(32), Errc::kUnsupported},
        ParseCase{"sha384:" + Hex(96), Errc::kUnsupported},
        ParseCase{"blake3:" + Hex(64), Errc::kUnsupported},
        ParseCase{"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", Errc::kUnsupported},
        ParseCase{"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
                  Errc::kUnsupported}));

TEST(DigestTest, EqualityAndOrderFollowText) {
  auto a = Digest::Parse("sha256:" + Hex(64, 'a'));
  auto a2 = Digest::Parse("sha256:" + Hex(64, 'a'));
  auto b = Digest::Parse("sha256:" + Hex(64, 'b'));
  ASSERT_TRUE(a.ok() && a2.ok() && b.ok());
  EXPECT_EQ(*a, *a2);
  EXPECT_NE(*a, *b);
  EXPECT_LT(*a, *b);
}

TEST(DigestTest, Sha256OfKnownVectors) {
  EXPECT_EQ(Digest::Sha256Of("").str(), kSha256Empty);
  EXPECT_EQ(Digest::Sha256Of("abc").str(), kSha256Abc);
  EXPECT_EQ(Digest::Sha256Of("abc").algorithm(), DigestAlgorithm::kSha256);
}

// Update(std::span<const char>) and Update(std::string_view) are both viable for string literals
// and std::string, so every call names std::string_view explicitly.
TEST(HasherTest, KnownVectors) {
  EXPECT_EQ(Hasher().Finish().str(), kSha256Empty);

  Hasher sha256;
  sha256.Update(std::string_view("abc"));
  EXPECT_EQ(sha256.Finish().str(), kSha256Abc);

  Hasher sha512(DigestAlgorithm::kSha512);
  EXPECT_EQ(sha512.algorithm(), DigestAlgorithm::kSha512);
  sha512.Update(std::string_view("abc"));
  Digest d = sha512.Finish();
  EXPECT_EQ(d.str(), kSha512Abc);
  EXPECT_EQ(d.algorithm(), DigestAlgorithm::kSha512);
}

TEST(HasherTest, FinishedDigestRoundTripsThroughParse) {
  for (DigestAlgorithm a : {DigestAlgorithm::kSha256, DigestAlgorithm::kSha512}) {
    Hasher h(a);
    h.Update(std::string_view("round trip"));
    Digest d = h.Finish();
    auto parsed = Digest::Parse(d.str());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(*parsed, d);
    EXPECT_EQ(parsed->algorithm(), a);
  }
}

TEST(HasherTest, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) {
    data.push_back(static_cast<char>('a' + (i * 7) % 26));
  }
  for (DigestAlgorithm a : {DigestAlgorithm::kSha256, DigestAlgorithm::kSha512}) {
    Hasher one_shot(a);
    one_shot.Update(std::string_view(data));
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{64}, size_t{4093}, data.size()}) {
      Hasher incremental(a);
      for (size_t off = 0; off < data.size(); off += chunk) {
        incremental.Update(std::string_view(data).substr(off, chunk));
      }
      EXPECT_EQ(incremental.Finish(), one_shot.Finish()) << "chunk " << chunk;
      EXPECT_EQ(incremental.bytes(), data.size());
    }
  }
}

TEST(HasherTest, SpanAndStringViewUpdatesAgree) {
  std::vector<char> bytes = {'a', 'b', 'c'};
  Hasher h;
  h.Update(std::span<const char>(bytes));
  EXPECT_EQ(h.Finish().str(), kSha256Abc);
}

TEST(HasherTest, EmptyUpdatesChangeNothing) {
  Hasher h;
  h.Update(std::string_view(""));
  h.Update(std::span<const char>());
  h.Update(std::string_view("abc"));
  h.Update(std::string_view(""));
  EXPECT_EQ(h.Finish().str(), kSha256Abc);
  EXPECT_EQ(h.bytes(), 3u);
}

TEST(HasherTest, FinishTwiceKeepsHasherUsable) {
  Hasher h;
  h.Update(std::string_view("a"));
  Digest first = h.Finish();
  EXPECT_EQ(h.Finish(), first);  // Finish does not consume the state
  EXPECT_EQ(first, Digest::Sha256Of("a"));
  h.Update(std::string_view("bc"));
  EXPECT_EQ(h.Finish().str(), kSha256Abc);
  EXPECT_EQ(h.bytes(), 3u);
}

TEST(HasherTest, MovedHasherContinues) {
  Hasher h;
  h.Update(std::string_view("ab"));
  Hasher moved(std::move(h));
  moved.Update(std::string_view("c"));
  EXPECT_EQ(moved.Finish().str(), kSha256Abc);
  EXPECT_EQ(moved.bytes(), 3u);

  Hasher assigned(DigestAlgorithm::kSha512);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.algorithm(), DigestAlgorithm::kSha256);
  EXPECT_EQ(assigned.Finish().str(), kSha256Abc);
}

TEST(HasherTest, CountsBytes) {
  Hasher h;
  EXPECT_EQ(h.bytes(), 0u);
  h.Update(std::string_view("hello"));
  h.Update(std::string_view(" world"));
  EXPECT_EQ(h.bytes(), 11u);
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(HasherStateTest, SavedStateResumesExactly) {
  for (DigestAlgorithm a : {DigestAlgorithm::kSha256, DigestAlgorithm::kSha512}) {
    std::string first(100000, 'a');
    std::string second = "and the rest of the upload";
    Hasher whole(a);
    whole.Update(first);
    whole.Update(second);
    Hasher part(a);
    part.Update(first);
    std::string state = part.SaveState();
    auto resumed = Hasher::RestoreState(state, a, first.size());
    ASSERT_TRUE(resumed.ok()) << resumed.error().message;
    resumed->Update(second);
    EXPECT_EQ(resumed->Finish(), whole.Finish());
    EXPECT_EQ(resumed->bytes(), first.size() + second.size());
  }
}

TEST(HasherStateTest, MismatchedStateIsRefused) {
  Hasher h(DigestAlgorithm::kSha256);
  h.Update(std::string_view("abc"));
  std::string state = h.SaveState();
  EXPECT_FALSE(Hasher::RestoreState(state, DigestAlgorithm::kSha256, 4).ok());  // byte count
  EXPECT_FALSE(Hasher::RestoreState(state, DigestAlgorithm::kSha512, 3).ok());  // algorithm
  EXPECT_FALSE(Hasher::RestoreState(state.substr(0, state.size() - 1), DigestAlgorithm::kSha256,
                                    3)
                   .ok());  // truncated
  EXPECT_FALSE(Hasher::RestoreState("garbage", DigestAlgorithm::kSha256, 3).ok());
  EXPECT_TRUE(Hasher::RestoreState(state, DigestAlgorithm::kSha256, 3).ok());
}

}  // namespace
}  // namespace berth
