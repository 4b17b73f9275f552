#include "kms/builtin_key_service.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "meta/sqlite/sqlite_store.h"

namespace berth::kms {
namespace {

class FakeClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t millis) { now_ += millis; }

 private:
  std::atomic<int64_t> now_{1'800'000'000'000};
};

class KmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "berth-kms-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = meta::OpenSqliteStore({dir_ + "/meta.db", 2});
    ASSERT_TRUE(store.ok()) << store.error().message;
    meta_ = std::move(store).value();
    BuiltinKeyServiceOptions options;
    options.on_key_usage = [this](const KeyUsageEvent& e) { events_.push_back(e); };
    kms_ = NewService(master_, std::move(options));
  }
  void TearDown() override {
    kms_.reset();
    meta_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<BuiltinKeyService> NewService(const Secret& master,
                                                BuiltinKeyServiceOptions options = {}) {
    return std::make_unique<BuiltinKeyService>(*meta_, master, clock_, "eu-west-1", "123456789012",
                                               std::move(options));
  }

  std::string NewKey(std::optional<std::string> alias = std::nullopt) {
    auto k = kms_->CreateKey("test key", std::move(alias));
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k.ok() ? k->key_id : std::string();
  }

  std::string dir_;
  FakeClock clock_;
  Secret master_{std::string(32, 'm')};
  std::unique_ptr<meta::MetadataStore> meta_;
  std::unique_ptr<BuiltinKeyService> kms_;
  std::vector<KeyUsageEvent> events_;
};

TEST_F(KmsTest, GenerateDataKeyRoundTrips) {
  std::string id = NewKey();
  auto dk = kms_->GenerateDataKey(id, "repo/a");
  ASSERT_TRUE(dk.ok()) << dk.error().message;
  EXPECT_EQ(dk->plaintext.size(), 32u);
  auto info = kms_->Inspect(dk->wrapped);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->key_id, id);
  EXPECT_EQ(info->version, 1u);
  auto back = kms_->Decrypt(dk->wrapped, "repo/a");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->ConstantTimeEquals(dk->plaintext));
  auto other = kms_->GenerateDataKey(id, "repo/a");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->plaintext.ConstantTimeEquals(dk->plaintext));
  EXPECT_TRUE(kms_->CheckUsable(id).ok());
}

TEST_F(KmsTest, DecryptRefusesAnotherContext) {
  std::string id = NewKey();
  auto dk = kms_->GenerateDataKey(id, "repo/a");
  ASSERT_TRUE(dk.ok());
  for (std::string_view ctx : {"repo/b", "", "repo/a "}) {
    auto r = kms_->Decrypt(dk->wrapped, ctx);
    ASSERT_FALSE(r.ok()) << ctx;
    EXPECT_EQ(r.error().code, Errc::kCorrupt);
  }
}

TEST_F(KmsTest, DecryptRefusesTamperedKeys) {
  std::string id = NewKey();
  ASSERT_TRUE(kms_->RotateKey(id).ok());  // version 1 exists too: a header edit to it must fail
  auto dk = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(dk.ok());
  const std::string& w = dk->wrapped;
  size_t header = 3 + 1 + 36 + 4;
  ASSERT_EQ(w.size(), header + 61);
  for (size_t i : {size_t{0}, size_t{3}, header - 1, header, header + 13, w.size() - 1}) {
    std::string bad = w;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = kms_->Decrypt(bad, "ctx");
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().code, Errc::kCorrupt) << "byte " << i << ": " << r.error().message;
  }
  std::string v1 = w;
  v1[header - 1] = 1;  // names version 1, which exists: still refused
  EXPECT_EQ(kms_->Decrypt(v1, "ctx").error().code, Errc::kCorrupt);
  for (size_t n : {size_t{0}, size_t{5}, header, w.size() - 1}) {
    auto r = kms_->Decrypt(w.substr(0, n), "ctx");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kCorrupt);
  }
  EXPECT_EQ(kms_->Inspect("not wrapped").error().code, Errc::kCorrupt);
}

TEST_F(KmsTest, WrongMasterKeyCannotOpenMaterial) {
  std::string id = NewKey();
  auto dk = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(dk.ok());
  auto other = NewService(Secret(std::string(32, 'x')));
  auto r = other->Decrypt(dk->wrapped, "ctx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kCorrupt);
  EXPECT_EQ(other->GenerateDataKey(id, "ctx").error().code, Errc::kCorrupt);
  // The database holds no plaintext material, nor the master key.
  auto rows = meta_->ListSettings("kms.");
  ASSERT_TRUE(rows.ok());
  for (const auto& [k, v] : *rows) {
    EXPECT_EQ(v.find(std::string(32, 'm')), std::string::npos) << k;
  }
}

TEST_F(KmsTest, RotationKeepsOldVersionsAndReEncryptMovesToNewest) {
  std::string id = NewKey();
  auto v1 = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(v1.ok());
  auto rotated = kms_->RotateKey(id);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_EQ(rotated->current_version, 2u);
  auto v2 = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(kms_->Inspect(v2->wrapped)->version, 2u);
  auto old = kms_->Decrypt(v1->wrapped, "ctx");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->ConstantTimeEquals(v1->plaintext));

  auto moved = kms_->ReEncrypt(v1->wrapped, "ctx");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(kms_->Inspect(*moved)->version, 2u);
  auto same = kms_->Decrypt(*moved, "ctx");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->ConstantTimeEquals(v1->plaintext));
  auto unchanged = kms_->ReEncrypt(v2->wrapped, "ctx");
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(*unchanged, v2->wrapped);
  EXPECT_EQ(kms_->ReEncrypt(v1->wrapped, "other").error().code, Errc::kCorrupt);
}

TEST_F(KmsTest, DisabledKeysRefuseUseUntilEnabled) {
  std::string id = NewKey();
  auto dk = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(dk.ok());
  auto d = kms_->DisableKey(id);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->state, KeyState::kDisabled);
  std::string arn = "arn:aws:kms:eu-west-1:123456789012:key/" + id;
  auto gen = kms_->GenerateDataKey(id, "ctx");
  ASSERT_FALSE(gen.ok());
  EXPECT_EQ(gen.error().code, Errc::kKeyUnavailable);
  EXPECT_EQ(gen.error().message, arn + " is disabled.");
  EXPECT_EQ(kms_->Decrypt(dk->wrapped, "ctx").error().code, Errc::kKeyUnavailable);
  EXPECT_EQ(kms_->ReEncrypt(dk->wrapped, "ctx").error().code, Errc::kKeyUnavailable);
  EXPECT_EQ(kms_->CheckUsable(id).error().code, Errc::kKeyUnavailable);
  EXPECT_EQ(kms_->RotateKey(id).error().code, Errc::kPreconditionFailed);
  ASSERT_TRUE(kms_->EnableKey(id).ok());
  EXPECT_TRUE(kms_->Decrypt(dk->wrapped, "ctx").ok());
  EXPECT_TRUE(kms_->CheckUsable(id).ok());
}

TEST_F(KmsTest, PendingDeletionCancelAndPurge) {
  std::string id = NewKey("alias/doomed");
  auto dk = kms_->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(dk.ok());
  EXPECT_EQ(kms_->ScheduleKeyDeletion(id, 6).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(kms_->ScheduleKeyDeletion(id, 31).error().code, Errc::kInvalidArgument);
  auto s = kms_->ScheduleKeyDeletion(id, 7);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->state, KeyState::kPendingDeletion);
  EXPECT_EQ(s->deletion_date, clock_.NowSeconds() + 7 * 86400);
  auto dec = kms_->Decrypt(dk->wrapped, "ctx");
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.error().code, Errc::kKeyUnavailable);
  EXPECT_NE(dec.error().message.find("is pending deletion."), std::string::npos);
  EXPECT_EQ(kms_->EnableKey(id).error().code, Errc::kPreconditionFailed);
  EXPECT_EQ(kms_->ScheduleKeyDeletion(id).error().code, Errc::kPreconditionFailed);

  auto c = kms_->CancelKeyDeletion(id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, KeyState::kDisabled);  // as KMS: cancelled keys come back disabled
  EXPECT_EQ(c->deletion_date, 0);
  EXPECT_EQ(kms_->CancelKeyDeletion(id).error().code, Errc::kPreconditionFailed);

  auto again = kms_->ScheduleKeyDeletion("alias/doomed");  // default window: 30 days
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->deletion_date, clock_.NowSeconds() + 30 * 86400);
  std::string keep = NewKey();
  auto none = kms_->PurgeDueDeletions(again->deletion_date - 1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto purged = kms_->PurgeDueDeletions(again->deletion_date);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, std::vector<std::string>{id});
  EXPECT_EQ(kms_->DescribeKey(id).error().code, Errc::kNotFound);
  EXPECT_EQ(kms_->DescribeKey("alias/doomed").error().code, Errc::kNotFound);
  EXPECT_EQ(kms_->Decrypt(dk->wrapped, "ctx").error().code, Errc::kKeyUnavailable);
  EXPECT_TRUE(meta_->ListSettings("kms.material/" + id)->empty());
  auto keys = kms_->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key_id, keep);
}

TEST_F(KmsTest, DescribeKeyResolvesEveryReferenceForm) {
  std::string id = NewKey("alias/team-a/app_1");
  ASSERT_TRUE(kms_->CreateAlias("alias/second", id).ok());
  for (std::string ref :
       {id, "arn:aws:kms:eu-west-1:123456789012:key/" + id, std::string("alias/team-a/app_1"),
        std::string("arn:aws:kms:eu-west-1:123456789012:alias/team-a/app_1"),
        std::string("alias/second")}) {
    auto m = kms_->DescribeKey(ref);
    ASSERT_TRUE(m.ok()) << ref << ": " << m.error().message;
    EXPECT_EQ(m->key_id, id);
    EXPECT_EQ(m->arn, "arn:aws:kms:eu-west-1:123456789012:key/" + id);
    EXPECT_EQ(m->aliases, (std::vector<std::string>{"alias/second", "alias/team-a/app_1"}));
    EXPECT_FALSE(m->aws_managed);
    EXPECT_EQ(m->description, "test key");
  }
  EXPECT_EQ(kms_->DescribeKey("alias/none").error().code, Errc::kNotFound);
  EXPECT_EQ(kms_->DescribeKey("00000000-0000-4000-8000-000000000000").error().code,
            Errc::kNotFound);
  EXPECT_EQ(kms_->DescribeKey("arn:aws:kms:us-east-1:123456789012:key/" + id).error().code,
            Errc::kNotFound);  // another region
  EXPECT_EQ(kms_->DescribeKey("not-a-key").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(kms_->CreateAlias("alias/second", id).error().code, Errc::kAlreadyExists);
  ASSERT_TRUE(kms_->DeleteAlias("alias/second").ok());
  EXPECT_EQ(kms_->DeleteAlias("alias/second").error().code, Errc::kNotFound);
  EXPECT_EQ(kms_->DescribeKey(id)->aliases, std::vector<std::string>{"alias/team-a/app_1"});
}

TEST_F(KmsTest, InvalidAndReservedAliasNamesAreRefused) {
  for (std::string bad : {std::string("alias/"), std::string("team"), std::string("alias/a b"),
                          std::string("alias/a.b"), std::string("alias/aws/ecr"),
                          std::string("alias/berth/aes256"), "alias/" + std::string(251, 'x')}) {
    auto k = kms_->CreateKey("x", bad);
    ASSERT_FALSE(k.ok()) << bad;
    EXPECT_EQ(k.error().code, Errc::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(kms_->ListKeys()->empty());  // nothing half-created
  std::string id = NewKey("alias/ok");
  EXPECT_EQ(kms_->CreateKey("dup", std::string("alias/ok")).error().code, Errc::kAlreadyExists);
  EXPECT_EQ(kms_->ListKeys()->size(), 1u);
  EXPECT_EQ(kms_->CreateAlias("alias/aws/mine", id).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(kms_->DeleteAlias("alias/aws/ecr").error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(IsValidAliasName("alias/" + std::string(250, 'x')));
}

TEST_F(KmsTest, ManagedKeysAreCreatedOnceAndProtected) {
  auto ecr = kms_->EnsureManagedKey("alias/aws/ecr");
  ASSERT_TRUE(ecr.ok()) << ecr.error().message;
  EXPECT_TRUE(ecr->aws_managed);
  EXPECT_EQ(ecr->aliases, std::vector<std::string>{"alias/aws/ecr"});
  auto again = kms_->EnsureManagedKey("alias/aws/ecr");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->key_id, ecr->key_id);
  auto service = kms_->EnsureManagedKey("alias/berth/aes256");
  ASSERT_TRUE(service.ok());
  EXPECT_NE(service->key_id, ecr->key_id);
  EXPECT_EQ(kms_->EnsureManagedKey("alias/mine").error().code, Errc::kInvalidArgument);

  EXPECT_EQ(kms_->DisableKey(ecr->key_id).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(kms_->ScheduleKeyDeletion("alias/aws/ecr").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(kms_->CreateAlias("alias/custom", ecr->key_id).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(kms_->RotateKey("alias/aws/ecr").ok());
  EXPECT_TRUE(kms_->GenerateDataKey("alias/aws/ecr", "ctx").ok());
}

TEST_F(KmsTest, ManagedKeyCreationRaceHasOneWinner) {
  for (int round = 0; round < 5; ++round) {
    std::string alias = "alias/aws/race" + std::to_string(round);
    auto a = NewService(master_);
    auto b = NewService(master_);
    Result<KeyMetadata> ra = MakeError(Errc::kInternal, "unset");
    Result<KeyMetadata> rb = MakeError(Errc::kInternal, "unset");
    std::thread ta([&] { ra = a->EnsureManagedKey(alias); });
    std::thread tb([&] { rb = b->EnsureManagedKey(alias); });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra.ok()) << ra.error().message;
    ASSERT_TRUE(rb.ok()) << rb.error().message;
    EXPECT_EQ(ra->key_id, rb->key_id);
  }
  auto keys = kms_->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 5u);  // losers' keys were removed
}

TEST_F(KmsTest, OtherInstancesSeeChangesWithinOneSecond) {
  auto server = NewService(master_);
  std::string id = NewKey();
  auto dk = server->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(dk.ok());
  ASSERT_TRUE(kms_->DisableKey(id).ok());  // the CLI, in another process
  clock_.Advance(500);
  EXPECT_TRUE(server->CheckUsable(id).ok());  // still the cached record
  clock_.Advance(500);
  EXPECT_EQ(server->CheckUsable(id).error().code, Errc::kKeyUnavailable);
  EXPECT_EQ(server->Decrypt(dk->wrapped, "ctx").error().code, Errc::kKeyUnavailable);

  ASSERT_TRUE(kms_->EnableKey(id).ok());
  ASSERT_TRUE(kms_->RotateKey(id).ok());
  clock_.Advance(1000);
  auto next = server->GenerateDataKey(id, "ctx");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(server->Inspect(next->wrapped)->version, 2u);
  // An alias made elsewhere resolves at once (a miss re-reads the alias table).
  ASSERT_TRUE(kms_->CreateAlias("alias/late", id).ok());
  EXPECT_TRUE(server->DescribeKey("alias/late").ok());
}

TEST_F(KmsTest, AuditHookSeesUsesAndChangesButNoKeyBytes) {
  std::string id = NewKey();
  auto dk = kms_->GenerateDataKey(id, "repo/x");
  ASSERT_TRUE(dk.ok());
  ASSERT_TRUE(kms_->Decrypt(dk->wrapped, "repo/x").ok());
  EXPECT_FALSE(kms_->Decrypt(dk->wrapped, "repo/y").ok());
  ASSERT_TRUE(kms_->DisableKey(id).ok());
  EXPECT_FALSE(kms_->GenerateDataKey("alias/nope", "repo/x").ok());
  ASSERT_EQ(events_.size(), 6u);
  EXPECT_EQ(events_[0].operation, "CreateKey");
  EXPECT_EQ(events_[1].operation, "GenerateDataKey");
  EXPECT_TRUE(events_[1].ok);
  EXPECT_EQ(events_[1].key_id, id);
  EXPECT_EQ(events_[1].key_arn, "arn:aws:kms:eu-west-1:123456789012:key/" + id);
  EXPECT_EQ(events_[1].purpose, "repo/x");
  EXPECT_EQ(events_[2].operation, "Decrypt");
  EXPECT_TRUE(events_[2].ok);
  EXPECT_FALSE(events_[3].ok);
  EXPECT_EQ(events_[3].error_code, Errc::kCorrupt);
  EXPECT_EQ(events_[3].key_id, id);
  EXPECT_EQ(events_[4].operation, "DisableKey");
  EXPECT_FALSE(events_[5].ok);
  EXPECT_EQ(events_[5].error_code, Errc::kNotFound);
  std::string raw(dk->plaintext.reveal());
  for (const auto& e : events_) {
    EXPECT_EQ(e.error_message.find(raw), std::string::npos);
    EXPECT_EQ(e.purpose.find(raw), std::string::npos);
  }
}

}  // namespace
}  // namespace berth::kms
