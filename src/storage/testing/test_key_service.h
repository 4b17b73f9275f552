// TestKeyService: an in-memory kms::KeyService for storage tests, and OwningEncryptedStore,
// the encrypted store over any driver. Keys have versions and an enabled flag; data keys are
// wrapped by AES-GCM sealing under per-version material, like the built-in service, so tampering
// and context mismatches fail the same way. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "base/secret.h"
#include "kms/key_service.h"
#include "storage/blob_store.h"
#include "storage/crypto/encrypted_blob_store.h"

namespace berth::storage {

class TestKeyService final : public kms::KeyService {
 public:
  void AddKey(const std::string& id) {
    std::lock_guard lock(mu_);
    keys_[id].versions.push_back(Secret(RandomBytes(32)));
  }
  void Rotate(const std::string& id) { AddKey(id); }
  void SetEnabled(const std::string& id, bool on) {
    std::lock_guard lock(mu_);
    keys_[id].enabled = on;
  }
  int decrypts() const { return decrypts_.load(); }

  Result<kms::KeyMetadata> DescribeKey(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key " + std::string(key));
    }
    kms::KeyMetadata m;
    m.key_id = it->first;
    m.state = it->second.enabled ? kms::KeyState::kEnabled : kms::KeyState::kDisabled;
    m.current_version = static_cast<uint32_t>(it->second.versions.size());
    return m;
  }
  Result<kms::DataKey> GenerateDataKey(std::string_view key, std::string_view context) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, std::string(key) + " is disabled");
    }
    kms::DataKey dk{Secret(RandomBytes(32)), ""};
    dk.wrapped = WrapLocked(it->first, static_cast<uint32_t>(it->second.versions.size()),
                            dk.plaintext, context);
    return dk;
  }
  Result<Secret> Decrypt(std::string_view wrapped, std::string_view context) override {
    ++decrypts_;
    std::lock_guard lock(mu_);
    return UnwrapLocked(wrapped, context);
  }
  Result<std::string> ReEncrypt(std::string_view wrapped, std::string_view context) override {
    std::lock_guard lock(mu_);
    BERTH_ASSIGN_OR_RETURN(Secret dk, UnwrapLocked(wrapped, context));
    BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, InspectLocked(wrapped));
    return WrapLocked(info.key_id, static_cast<uint32_t>(keys_[info.key_id].versions.size()), dk,
                      context);
  }
  Status CheckUsable(std::string_view key_id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(key_id));
    if (it == keys_.end()) {
      return MakeError(Errc::kNotFound, "no key");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, std::string(key_id) + " is disabled");
    }
    return Ok{};
  }
  Result<kms::WrappedKeyInfo> Inspect(std::string_view wrapped) override {
    std::lock_guard lock(mu_);
    return InspectLocked(wrapped);
  }

 private:
  struct Key {
    std::vector<Secret> versions;
    bool enabled = true;
  };
  // "<id>|<version>|<sealed>"
  std::string WrapLocked(const std::string& id, uint32_t version, const Secret& dk,
                         std::string_view context) {
    std::string head = id + "|" + std::to_string(version) + "|";
    auto sealed = Seal(keys_[id].versions[version - 1], dk.reveal(), head + std::string(context));
    return head + *sealed;
  }
  Result<kms::WrappedKeyInfo> InspectLocked(std::string_view wrapped) {
    size_t a = wrapped.find('|');
    size_t b = a == std::string_view::npos ? a : wrapped.find('|', a + 1);
    if (b == std::string_view::npos) {
      return MakeError(Errc::kCorrupt, "not a wrapped key");
    }
    kms::WrappedKeyInfo info;
    info.key_id = std::string(wrapped.substr(0, a));
    info.version = static_cast<uint32_t>(std::stoul(std::string(wrapped.substr(a + 1, b - a - 1))));
    return info;
  }
  Result<Secret> UnwrapLocked(std::string_view wrapped, std::string_view context) {
    BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, InspectLocked(wrapped));
    auto it = keys_.find(info.key_id);
    if (it == keys_.end() || info.version == 0 || info.version > it->second.versions.size()) {
      return MakeError(Errc::kKeyUnavailable, "key gone");
    }
    if (!it->second.enabled) {
      return MakeError(Errc::kKeyUnavailable, info.key_id + " is disabled");
    }
    size_t head = wrapped.find('|', wrapped.find('|') + 1) + 1;
    return Unseal(it->second.versions[info.version - 1], wrapped.substr(head),
                  std::string(wrapped.substr(0, head)) + std::string(context));
  }

  std::mutex mu_;
  std::map<std::string, Key> keys_;
  std::atomic<int> decrypts_{0};
};

// An encrypted store (key "k1", 4 KiB segments so tests cross many) over `inner`, owning the
// inner store and the key service: what the conformance suite and driver tests run against.
class OwningEncryptedStore : public BlobStore {
 public:
  explicit OwningEncryptedStore(std::unique_ptr<BlobStore> inner_store)
      : inner(std::move(inner_store)) {
    keys.AddKey("k1");
    enc = std::make_unique<EncryptedBlobStore>(*inner, keys, "k1", nullptr,
                                               EncryptionOptions{.segment_size = 4096});
  }
  Status CreateUpload(std::string_view id) override { return enc->CreateUpload(id); }
  Result<std::unique_ptr<BlobWriter>> OpenUpload(std::string_view id) override {
    return enc->OpenUpload(id);
  }
  Status DeleteUpload(std::string_view id) override { return enc->DeleteUpload(id); }
  Result<std::vector<std::pair<std::string, BlobStat>>> ListUploads() override {
    return enc->ListUploads();
  }
  Status Commit(std::string_view id, const Digest& d) override { return enc->Commit(id, d); }
  Status PutSmall(const Digest& d, std::string_view b) override { return enc->PutSmall(d, b); }
  Result<BlobStat> Stat(const Digest& d) override { return enc->Stat(d); }
  Result<std::unique_ptr<BlobReader>> Open(const Digest& d) override { return enc->Open(d); }
  Result<std::string> ReadSmall(const Digest& d, uint64_t m) override {
    return enc->ReadSmall(d, m);
  }
  Status Delete(const Digest& d) override { return enc->Delete(d); }
  Status List(const std::function<bool(const Digest&, const BlobStat&)>& fn) override {
    return enc->List(fn);
  }
  Status Archive(const Digest& d) override { return enc->Archive(d); }
  Status Restore(const Digest& d) override { return enc->Restore(d); }
  Status PutSidecar(const Digest& d, std::string_view b) override { return enc->PutSidecar(d, b); }
  Result<std::string> GetSidecar(const Digest& d) override { return enc->GetSidecar(d); }

  std::unique_ptr<BlobStore> inner;
  TestKeyService keys;
  std::unique_ptr<EncryptedBlobStore> enc;
};

}  // namespace berth::storage
