// KeyService: the key-encryption keys (KEKs) that protect berth's data keys, standing in for
// AWS KMS. Storage encrypts every blob with its own random data key (envelope encryption) and
// keeps only the data key wrapped by a KEK from here; the KEK material never leaves the key
// service. This interface is what storage/crypto and the ECR control plane use; a real KMS
// (AWS KMS, Vault transit) can implement it later. The built-in implementation is
// kms/builtin_key_service.h.
//
// Keys are addressed like KMS keys: by key id (a UUID), key ARN
// (arn:aws:kms:<region>:<account>:key/<id>), alias name ("alias/team-a") or alias ARN.
// A key has versions: rotation adds a version; new data keys are wrapped with the newest, and
// every older version keeps decrypting what it wrapped.
//
// Thread-safety: implementations are thread-safe. Methods may block on the metadata store;
// call them from the blocking pool.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/secret.h"

namespace berth::kms {

enum class KeyState { kEnabled, kDisabled, kPendingDeletion };
std::string_view KeyStateName(KeyState s);  // "Enabled" | "Disabled" | "PendingDeletion"

struct KeyMetadata {
  std::string key_id;                // UUID
  std::string arn;                   // arn:aws:kms:<region>:<account>:key/<key_id>
  std::vector<std::string> aliases;  // "alias/..." names pointing at this key
  std::string description;
  KeyState state = KeyState::kEnabled;
  bool aws_managed = false;      // created by berth itself (the service key, alias/aws/ecr)
  int64_t created_at = 0;        // unix seconds
  int64_t deletion_date = 0;     // unix seconds; set while kPendingDeletion
  uint32_t current_version = 1;  // newest version (1-based); new data keys use it
  int64_t rotated_at = 0;        // when the newest version was created
};

// A fresh data key: use `plaintext` (32 bytes) to encrypt, store only `wrapped`.
struct DataKey {
  Secret plaintext;
  std::string wrapped;  // opaque bytes naming the key id and version that wrapped it
};

// What a wrapped data key names, read without unwrapping it.
struct WrappedKeyInfo {
  std::string key_id;
  uint32_t version = 0;
};

class KeyService {
 public:
  virtual ~KeyService() = default;

  // kNotFound (no such key or alias), kInvalidArgument (malformed reference).
  virtual Result<KeyMetadata> DescribeKey(std::string_view key) = 0;

  // A new random 32-byte data key wrapped under `key`'s newest version. `context` (an
  // encryption context) is authenticated with the wrapped key: Decrypt must be given the same.
  // Errors: kNotFound; kKeyUnavailable (disabled or pending deletion).
  virtual Result<DataKey> GenerateDataKey(std::string_view key, std::string_view context) = 0;

  // Unwraps a data key. Errors: kKeyUnavailable (its key is disabled, pending deletion or
  // gone), kCorrupt (tampered, wrong context).
  virtual Result<Secret> Decrypt(std::string_view wrapped, std::string_view context) = 0;

  // The same data key wrapped under its key's newest version (for re-wrap after rotation).
  // Returns `wrapped` unchanged when it already uses the newest version. Errors as Decrypt.
  virtual Result<std::string> ReEncrypt(std::string_view wrapped, std::string_view context) = 0;

  // Whether `key_id` may be used now (enabled). Cheap (cached for at most a second); for hot
  // paths that already hold an unwrapped data key and must still honour a disable.
  // kNotFound when the key does not exist, kKeyUnavailable when it may not be used.
  virtual Status CheckUsable(std::string_view key_id) = 0;

  // Which key and version a wrapped data key names, without unwrapping it. kCorrupt if it is
  // not one of this service's.
  virtual Result<WrappedKeyInfo> Inspect(std::string_view wrapped) = 0;
};

}  // namespace berth::kms
