#include "cli/master_key.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "kms/builtin_key_service.h"
#include "meta/sqlite/sqlite_store.h"
#include "registry/identity.h"

namespace berth::cli {
namespace {

class MasterKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "berth-master-key-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    key_path_ = dir_ + "/master.key";
    auto store = meta::OpenSqliteStore({dir_ + "/meta.db", 2});
    ASSERT_TRUE(store.ok()) << store.error().message;
    meta_ = std::move(store).value();
    WriteKey(key_path_, old_key_);
    ASSERT_TRUE(CheckMasterKeyBlocking(*meta_, old_key_).ok());

    // Something of each kind sealed under the old key.
    registry::Identity id(*meta_, old_key_, SystemClock::Get(), nullptr);
    ASSERT_TRUE(id.BootstrapBlocking("123456789012", "us-east-1").ok());
    ASSERT_TRUE(id.CreateUserBlocking("bob", "user").ok());
    auto ak = id.CreateAccessKeyBlocking("bob");
    ASSERT_TRUE(ak.ok());
    access_key_id_ = ak->id;
    access_secret_ = std::string(ak->secret.reveal());
    auto kms = Kms(old_key_);
    auto key = kms->CreateKey("data");
    ASSERT_TRUE(key.ok());
    auto dk = kms->GenerateDataKey(key->key_id, "ctx");
    ASSERT_TRUE(dk.ok());
    ASSERT_TRUE(kms->RotateKey(key->key_id).ok());  // two versions to re-seal
    wrapped_ = dk->wrapped;
    data_key_ = std::string(dk->plaintext.reveal());
  }
  void TearDown() override {
    meta_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static void WriteKey(const std::string& path, const Secret& key) {
    std::ofstream(path, std::ios::binary) << key.reveal();
  }
  std::unique_ptr<kms::BuiltinKeyService> Kms(const Secret& master) {
    return std::make_unique<kms::BuiltinKeyService>(*meta_, master, SystemClock::Get(), "us-east-1",
                                                    "123456789012");
  }
  // Whether everything sealed in SetUp opens under `master`.
  void ExpectAllOpenUnder(const Secret& master) {
    registry::Identity id(*meta_, master, SystemClock::Get(), nullptr);
    auto ak = id.LookupAccessKeyBlocking(access_key_id_);
    ASSERT_TRUE(ak.ok()) << ak.error().message;
    EXPECT_EQ(ak->secret.reveal(), access_secret_);
    auto dk = Kms(master)->Decrypt(wrapped_, "ctx");
    ASSERT_TRUE(dk.ok()) << dk.error().message;
    EXPECT_EQ(dk->reveal(), data_key_);
  }

  std::string dir_, key_path_;
  Secret old_key_{std::string(32, 'o')};
  Secret new_key_{std::string(32, 'n')};
  std::unique_ptr<meta::MetadataStore> meta_;
  std::string access_key_id_, access_secret_, wrapped_, data_key_;
};

TEST_F(MasterKeyTest, RotationResealsEverythingAndSwitchesTheFile) {
  auto r = RotateMasterKeyBlocking(*meta_, key_path_, new_key_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kms_key_versions, 2u);
  EXPECT_EQ(r->access_keys, 2u);  // admin's and bob's
  ExpectAllOpenUnder(new_key_);
  EXPECT_FALSE(Kms(old_key_)->Decrypt(wrapped_, "ctx").ok());

  auto installed = ReadKeyFile(key_path_);
  ASSERT_TRUE(installed.ok());
  EXPECT_TRUE(installed->ConstantTimeEquals(new_key_));
  auto kept = ReadKeyFile(r->old_key_path);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->ConstantTimeEquals(old_key_));
  EXPECT_TRUE(CheckMasterKeyBlocking(*meta_, new_key_).ok());
  auto stale = CheckMasterKeyBlocking(*meta_, old_key_);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::kPreconditionFailed);
  EXPECT_EQ(RotateMasterKeyBlocking(*meta_, key_path_, new_key_).error().code,
            Errc::kInvalidArgument);  // nothing left to do
}

TEST_F(MasterKeyTest, ResumesAfterACrashWhileResealing) {
  // A run that recorded its intent and re-sealed the KMS material, then died.
  ASSERT_TRUE(meta_
                  ->PutSetting("master.rotation",
                               R"({"from":")" + registry::MasterKeyFingerprint(old_key_) +
                                   R"(","to":")" + registry::MasterKeyFingerprint(new_key_) +
                                   R"("})")
                  .ok());
  ASSERT_TRUE(kms::BuiltinKeyService::ResealKeyMaterialBlocking(*meta_, old_key_, new_key_).ok());
  // Servers refuse to start half-rotated, whichever key they hold.
  EXPECT_EQ(CheckMasterKeyBlocking(*meta_, old_key_).error().code, Errc::kPreconditionFailed);
  EXPECT_EQ(CheckMasterKeyBlocking(*meta_, new_key_).error().code, Errc::kPreconditionFailed);
  // Another new key may not start meanwhile.
  EXPECT_EQ(RotateMasterKeyBlocking(*meta_, key_path_, Secret(std::string(32, 'z'))).error().code,
            Errc::kPreconditionFailed);

  auto r = RotateMasterKeyBlocking(*meta_, key_path_, new_key_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kms_key_versions, 0u);  // already done
  EXPECT_EQ(r->access_keys, 2u);
  ExpectAllOpenUnder(new_key_);
  EXPECT_TRUE(CheckMasterKeyBlocking(*meta_, new_key_).ok());
}

TEST_F(MasterKeyTest, ResumesAfterACrashAfterSwitchingTheFile) {
  auto first = RotateMasterKeyBlocking(*meta_, key_path_, new_key_);
  ASSERT_TRUE(first.ok());
  // As if the run had died between switching the file and clearing the marker.
  ASSERT_TRUE(meta_
                  ->PutSetting("master.rotation",
                               R"({"from":")" + registry::MasterKeyFingerprint(old_key_) +
                                   R"(","to":")" + registry::MasterKeyFingerprint(new_key_) +
                                   R"("})")
                  .ok());
  auto r = RotateMasterKeyBlocking(*meta_, key_path_, new_key_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kms_key_versions + r->access_keys, 0u);
  ExpectAllOpenUnder(new_key_);
  EXPECT_TRUE(CheckMasterKeyBlocking(*meta_, new_key_).ok());
}

TEST_F(MasterKeyTest, RefusesAKeyFileThatIsNotTheDatabasesKey) {
  WriteKey(key_path_, Secret(std::string(32, 'w')));
  auto r = RotateMasterKeyBlocking(*meta_, key_path_, new_key_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kPreconditionFailed);
  EXPECT_FALSE(meta_->GetSetting("master.rotation").ok());  // nothing started
  ExpectAllOpenUnder(old_key_);
  std::ofstream(dir_ + "/short.key") << "short";
  EXPECT_EQ(ReadKeyFile(dir_ + "/short.key").error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace berth::cli
