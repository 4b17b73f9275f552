// BuiltinKeyService: berth's own KeyService (standing in for AWS KMS), keeping its keys in the
// metadata store's settings table with every byte of key material sealed under the server
// master key. The master key itself never enters the database: a stolen database alone opens
// no data key.
//
// Layout in the settings table (values are text):
//
//   kms.key/<key-id>                   JSON: {"KeyId","Description","KeyState","Managed",
//                                            "CreationDate","DeletionDate"} (unix seconds)
//   kms.material/<key-id>/<version>    JSON: {"Version","CreationDate","Sealed"}; <version> is
//                                      10 zero-padded digits so they list in order. "Sealed" is
//                                      base64 of base/crypto.h Seal(DeriveKey(master,
//                                      "berth kms key material v1"), 32 random bytes,
//                                      aad = "<key-id>/<version>"). Written once (only a master-
//                                      key rotation re-seals the same material):
//                                      rotation adds one with PutSettingIfAbsent, so concurrent
//                                      rotations (server and CLI are separate processes) can
//                                      never overwrite material a data key was wrapped with.
//   kms.alias/<alias-name>             the key id, e.g. kms.alias/alias/aws/ecr → 1f0e…
//
// Wrapped data key (what GenerateDataKey returns and storage keeps), binary:
//
//   'B' 'K' 0x01                       magic and format version (3 bytes)
//   n (1 byte) ‖ key id (n bytes)      the KEK's id (a 36-character UUID today)
//   version (4 bytes, big-endian)      the KEK version that wrapped it
//   sealed (61 bytes)                  Seal(material of that version, data key (32 bytes),
//                                      aad = the header above ‖ context): format byte ‖
//                                      96-bit random nonce ‖ AES-256-GCM ciphertext ‖ tag
//
// The header is self-delimiting, so header ‖ context is an unambiguous AAD: a wrapped key
// presented with another context, with an edited header (pointing at another key or version)
// or with flipped bits fails authentication (kCorrupt). A random 96-bit nonce per wrap bounds a
// key version at ~2^32 wraps, far beyond one registry's blob count; rotate to reset.
//
// Caching: the server and the `berth admin` CLI are separate processes sharing the database,
// so key records and aliases are cached for at most `cache_ttl_millis` (1 s) of the injected
// clock; a disable or deletion made by another process takes effect within that time. Changes
// made through this object take effect at once in this object. Key material is unsealed per
// operation (one AES-GCM of 32 bytes) and wiped right after, so no plaintext KEK outlives a
// call.
//
// Managed keys ("AWS managed" in KMS terms): keys berth creates for itself through
// EnsureManagedKey — alias/aws/ecr (ECR's default KMS key) and alias/berth/aes256 (the AES256
// service key). Alias names under alias/aws/ and alias/berth/ are reserved for them; users may
// not create, delete or retarget such aliases, nor disable or delete managed keys
// (kInvalidArgument). Rotation of managed keys is allowed (an operator's remedy).
//
// Thread-safe. Every method may block on the metadata store (call from the blocking pool).
// The master key is used only in the constructor (to derive the sealing key); `meta` and
// `clock` are borrowed and must outlive this object.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/secret.h"
#include "kms/key_service.h"
#include "meta/metadata_store.h"

namespace berth::kms {

// One use of a key or one change to it, for the audit log. Never holds key bytes.
struct KeyUsageEvent {
  std::string operation;  // "GenerateDataKey", "Decrypt", "ReEncrypt", "CreateKey",
                          // "EnableKey", "DisableKey", "RotateKey", "ScheduleKeyDeletion",
                          // "CancelKeyDeletion", "CreateAlias", "DeleteAlias", "DeleteKey"
                          // (purged after its waiting period)
  std::string key_id;     // empty when the reference did not resolve
  std::string key_arn;    // likewise
  bool ok = true;
  Errc error_code = Errc::kOk;
  std::string error_message;
  std::string purpose;  // the encryption context, or the alias for alias changes
};

struct BuiltinKeyServiceOptions {
  // How long a key record or the alias table read from the store may be used.
  int64_t cache_ttl_millis = 1000;
  // Called (synchronously, on the calling thread) after every GenerateDataKey, Decrypt,
  // ReEncrypt and admin change, successful or not. Must not call back into the service.
  std::function<void(const KeyUsageEvent&)> on_key_usage;
};

class BuiltinKeyService final : public KeyService {
 public:
  // `region` and `account_id` form the ARNs (arn:aws:kms:<region>:<account_id>:key/<id>).
  BuiltinKeyService(meta::MetadataStore& meta, const Secret& master_key, const Clock& clock,
                    std::string region, std::string account_id,
                    BuiltinKeyServiceOptions options = {});
  ~BuiltinKeyService() override;
  BuiltinKeyService(const BuiltinKeyService&) = delete;
  BuiltinKeyService& operator=(const BuiltinKeyService&) = delete;

  // --- KeyService ------------------------------------------------------------------------------
  Result<KeyMetadata> DescribeKey(std::string_view key) override;
  Result<DataKey> GenerateDataKey(std::string_view key, std::string_view context) override;
  Result<Secret> Decrypt(std::string_view wrapped, std::string_view context) override;
  Result<std::string> ReEncrypt(std::string_view wrapped, std::string_view context) override;
  Status CheckUsable(std::string_view key_id) override;
  Result<WrappedKeyInfo> Inspect(std::string_view wrapped) override;

  // --- administration (the `berth admin key` commands) ------------------------------------------
  // A new enabled customer-managed key with one version. With `alias`, also creates that alias
  // (validated first: nothing is created when it is invalid, reserved or taken).
  // Errors: kInvalidArgument (alias name or description longer than 8192), kAlreadyExists.
  Result<KeyMetadata> CreateKey(std::string description,
                                std::optional<std::string> alias = std::nullopt);
  // All keys (customer and managed, any state), ordered by key id.
  Result<std::vector<KeyMetadata>> ListKeys();
  // Enabled → Enabled, Disabled → Enabled. kPreconditionFailed when pending deletion.
  Result<KeyMetadata> EnableKey(std::string_view key);
  // Enabled/Disabled → Disabled. kPreconditionFailed when pending deletion; kInvalidArgument
  // for managed keys.
  Result<KeyMetadata> DisableKey(std::string_view key);
  // Adds a version that new data keys use; older versions keep decrypting. kPreconditionFailed
  // unless enabled.
  Result<KeyMetadata> RotateKey(std::string_view key);
  // Enabled/Disabled → PendingDeletion with DeletionDate = now + days (7..30, as KMS).
  // kInvalidArgument (window, managed key), kPreconditionFailed (already pending).
  Result<KeyMetadata> ScheduleKeyDeletion(std::string_view key, int pending_window_days = 30);
  // PendingDeletion → Disabled (as KMS: re-enable explicitly). kPreconditionFailed otherwise.
  Result<KeyMetadata> CancelKeyDeletion(std::string_view key);
  // `alias` must match alias/[a-zA-Z0-9/_-]+ (at most 256 characters) and not be reserved.
  // Errors: kInvalidArgument, kAlreadyExists, kNotFound (target).
  Status CreateAlias(std::string_view alias, std::string_view target_key);
  Status DeleteAlias(std::string_view alias);  // kNotFound, kInvalidArgument (reserved)
  // Destroys every key whose deletion date is at or before `now_seconds` (its material, its
  // aliases, then its record, in that order so a crash leaves a record the next call finishes).
  // Returns the ids destroyed. Data keys wrapped under them can never be decrypted again.
  Result<std::vector<std::string>> PurgeDueDeletions(int64_t now_seconds);
  // The managed key `alias` (alias/aws/<name> or alias/berth/<name>) names, created on first
  // use. Race-safe across threads and processes: exactly one key wins the alias; a loser's
  // key is removed. kInvalidArgument (alias not in a reserved namespace), kPreconditionFailed
  // (the alias names a customer key).
  Result<KeyMetadata> EnsureManagedKey(std::string_view alias);

  // Master-key rotation: re-seals the material of every key version sealed under
  // `from_master` so it is sealed under `to_master` (the material itself is unchanged, so every
  // wrapped data key stays valid). One version at a time, each write atomic; idempotent
  // (versions that already open under `to_master` are skipped), so an interrupted run is
  // finished by running it again. Returns how many it re-sealed. kCorrupt (naming the key
  // version) if one opens under neither. Running services must be restarted with the new key.
  static Result<size_t> ResealKeyMaterialBlocking(meta::MetadataStore& meta,
                                                  const Secret& from_master,
                                                  const Secret& to_master);

  // The ARN of `key_id` (no lookup).
  std::string KeyArn(std::string_view key_id) const;

 private:
  struct Version;  // one version's sealed material
  struct Loaded;   // a key record with its versions, as read from the store
  struct Ref;      // a parsed key reference

  Result<Ref> ParseRef(std::string_view key) const;
  Result<std::string> ResolveId(std::string_view key);  // id `key` names; kNotFound
  // The key, from the cache when younger than the TTL and !fresh.
  Result<std::shared_ptr<const Loaded>> Load(const std::string& key_id, bool fresh);
  Result<std::shared_ptr<const Loaded>> LoadRef(std::string_view key, bool fresh);
  Result<std::map<std::string, std::string>> Aliases(bool fresh);  // alias name → key id
  void Invalidate(const std::string& key_id);
  KeyMetadata ToMetadata(const Loaded& k, const std::map<std::string, std::string>& aliases) const;
  Result<KeyMetadata> Describe(const Loaded& k);
  Status Usable(const Loaded& k) const;
  Result<Secret> Material(const Loaded& k, uint32_t version) const;
  Result<std::string> Wrap(const Loaded& k, uint32_t version, const Secret& data_key,
                           std::string_view context) const;
  // Opens a wrapped data key (Decrypt and ReEncrypt): its key (usable), version and bytes.
  // Sets `key_id` as soon as the header names it (for the audit record).
  struct Opened;
  Result<Opened> Unwrap(std::string_view wrapped, std::string_view context, std::string& key_id);
  Status AddVersion(const std::string& key_id, uint32_t version);
  Status StoreRecord(const Loaded& k);
  Result<std::string> NewKey(std::string description, bool managed);  // its id
  Status DestroyKey(const std::string& key_id);  // material, aliases, then the record
  Status CheckAliasForUser(std::string_view alias) const;
  Error AliasExists(std::string_view alias) const;
  // Applies `change` to a fresh copy of `key`'s record, stores it and audits `operation`.
  Result<KeyMetadata> Change(std::string_view operation, std::string_view key,
                             const std::function<Status(Loaded&)>& change);
  void Audit(std::string_view operation, const std::string& key_id, const Error* error,
             std::string_view purpose) const;
  template <class T>
  T Audited(std::string_view operation, const std::string& key_id, T r,
            std::string_view purpose) const;

  meta::MetadataStore& meta_;
  const Clock& clock_;
  Secret sealing_key_;  // DeriveKey(master, "berth kms key material v1")
  std::string region_;
  std::string account_id_;
  BuiltinKeyServiceOptions options_;

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Loaded>> keys_;  // guarded by mu_
  std::map<std::string, std::string> aliases_;                           // guarded by mu_
  int64_t aliases_loaded_at_ = -1;                                       // guarded by mu_
};

// Whether `alias` is a syntactically valid alias name (alias/[a-zA-Z0-9/_-]+, ≤ 256 chars).
bool IsValidAliasName(std::string_view alias);
// Whether `alias` is in a namespace reserved for managed keys (alias/aws/, alias/berth/).
bool IsReservedAliasName(std::string_view alias);

}  // namespace berth::kms
