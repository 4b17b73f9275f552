#include "server/audit.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace berth::server {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/berth-audit-XXXXXX";
  return std::string(mkdtemp(tmpl));
}

std::string Line(const std::string& principal, const std::string& action, const std::string& repo,
                 const std::string& time, const std::string& result) {
  return R"({"time":")" + time + R"(","principal":")" + principal + R"(","action":")" + action +
         R"(","repository":")" + repo + R"(","result":")" + result + R"("})";
}

std::vector<std::string> Read(const std::string& dir, const AuditFilter& f) {
  std::vector<std::string> out;
  auto s = ReadAudit(dir, f, [&](const std::string& l) { out.push_back(l); });
  EXPECT_TRUE(s.ok()) << s.error().message;
  return out;
}

TEST(AuditLogTest, AppendedLinesAreDurableAfterFlushAndFilterable) {
  std::string dir = TempDir();
  {
    auto log = AuditLog::Open(AuditOptions{dir, 1 << 20, 3});
    ASSERT_TRUE(log.ok()) << log.error().message;
    (*log)->Append(Line("arn:aws:iam::123456789012:user/alice", "ecr:PutImage", "app",
                        "2026-11-28T08:00:00.000Z", "success"));
    (*log)->Append(Line("arn:aws:iam::123456789012:user/bob", "ecr:InitiateLayerUpload", "app",
                        "2026-11-28T09:00:00.000Z", "denied"));
    (*log)->Append(
        Line("anonymous", "ecr:PutImage", "public/base", "2026-11-28T10:00:00.500Z", "denied"));
    (*log)->Flush();
    EXPECT_EQ((*log)->written(), 3u);
    // Durable before the log object goes away: another reader sees them now.
    EXPECT_EQ(Read(dir, AuditFilter{}).size(), 3u);
  }
  AuditFilter f;
  f.principal = "alice";
  EXPECT_EQ(Read(dir, f).size(), 1u);
  f = AuditFilter{};
  f.principal = "anonymous";
  EXPECT_EQ(Read(dir, f).size(), 1u);
  f = AuditFilter{};
  f.action = "ECR:PUTIMAGE";
  EXPECT_EQ(Read(dir, f).size(), 2u);
  f = AuditFilter{};
  f.repository = "public/base";
  EXPECT_EQ(Read(dir, f).size(), 1u);
  f = AuditFilter{};
  f.result = "denied";
  EXPECT_EQ(Read(dir, f).size(), 2u);
  f = AuditFilter{};
  f.since_ms = *ParseAuditTime("2026-11-28T09:00:00Z");
  f.until_ms = *ParseAuditTime("2026-11-28T10:00:00.500Z");
  auto window = Read(dir, f);
  ASSERT_EQ(window.size(), 1u);
  EXPECT_NE(window[0].find("bob"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(AuditLogTest, RotatesBySizeKeepingOrderAndDroppingTheOldest) {
  std::string dir = TempDir();
  {
    auto log = AuditLog::Open(AuditOptions{dir, 200, 2});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 12; ++i) {
      (*log)->Append(Line("p" + std::to_string(i), "ecr:PutImage", "r", "2026-11-28T08:00:00.000Z",
                          "success"));
      (*log)->Flush();  // one batch per line, so each crosses the size limit in turn
    }
  }
  EXPECT_TRUE(std::filesystem::exists(dir + "/audit.log"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/audit.log.1"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/audit.log.2"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/audit.log.3"));
  auto all = Read(dir, AuditFilter{});
  ASSERT_FALSE(all.empty());
  EXPECT_LT(all.size(), 12u) << "the oldest file was dropped";
  // Oldest first, ending with the newest line.
  EXPECT_NE(all.back().find("\"p11\""), std::string::npos);
  for (size_t i = 1; i < all.size(); ++i) {
    auto num = [](const std::string& l) { return std::stoi(l.substr(l.find(":\"p") + 3)); };
    EXPECT_LT(num(all[i - 1]), num(all[i]));
  }
  std::filesystem::remove_all(dir);
}

TEST(AuditLogTest, ReaderSkipsATornLastLine) {
  std::string dir = TempDir();
  {
    std::ofstream out(dir + "/audit.log");
    out << Line("a", "ecr:PutImage", "r", "2026-11-28T08:00:00Z", "success") << "\n"
        << R"({"time":"2026-11-28T08:)";
  }
  EXPECT_EQ(Read(dir, AuditFilter{}).size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(AuditLogTest, TimesRoundTrip) {
  EXPECT_EQ(FormatAuditTime(1'800'000'000'123), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(*ParseAuditTime("2027-01-15T08:00:00.123Z"), 1'800'000'000'123);
  EXPECT_EQ(*ParseAuditTime("2027-01-15T09:00:00+01:00"), 1'800'000'000'000);
  EXPECT_FALSE(ParseAuditTime("yesterday").ok());
}

}  // namespace
}  // namespace berth::server
