// EncryptedBlobStore: envelope encryption at rest as a decorator over any BlobStore.
//
// Every stored object (upload or published blob) gets its own random 256-bit data key from the
// key service (kms::KeyService), which returns it wrapped under a key-encryption key; only the
// wrapped form is stored. Content is encrypted with AES-256-GCM in fixed-size authenticated
// segments, so a ranged read decrypts only the segments it touches, and any flipped byte,
// truncation, reordering or splice from another object fails verification (kCorrupt) instead
// of being served. Digests stay over the plaintext: callers see the same bytes, sizes and
// ranges as with the inner store.
//
// Stored object layout (in the inner store, under the same upload id / digest):
//
//   header   256 bytes: "BERTHENC" | version u8 (1) | 3 zero | segment size u32 LE |
//            wrapped-key length u32 LE | wrapped data key | zero padding
//   records  [len u32 LE][ciphertext, len bytes][GCM tag, 16 bytes], one per segment:
//            every record of a published blob holds `segment size` bytes but the last
//            data record; then a final record with len 0 that marks the end.
//
// Record i is sealed with nonce = 0x00000000 ‖ i (u64 BE) and authenticates
// "BRTHSEG1" ‖ segment size ‖ i ‖ len ‖ final-flag; a data key is never used for two objects,
// so (key, nonce) pairs never repeat. Uploads append records as bytes arrive (a chunk that
// ends mid-segment leaves a short record); Commit re-packs such an upload into the canonical
// layout under a fresh data key, so published blobs always allow offset arithmetic.
//
// Key rotation: a published blob's header keeps the data key as first wrapped. Re-wrapping
// (RewrapDataKeys) stores the same data key wrapped under the key's newest version in the
// blob's sidecar, without rewriting blob data; readers use the sidecar when the header's key
// version is older than the key's current one.
//
// Data keys are unwrapped through the key service once and cached (bounded), but every open
// asks the key service whether the key is still usable, so disabling a key blocks reads and
// writes of its objects at once (kKeyUnavailable).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kms/data_key_cache.h"
#include "kms/key_service.h"
#include "storage/blob_store.h"

namespace berth::storage {

struct EncryptionOptions {
  uint32_t segment_size = 64 * 1024;  // plaintext bytes per authenticated segment
  size_t data_key_cache = 1024;       // unwrapped data keys kept in memory
};

class EncryptedBlobStore final : public BlobStore {
 public:
  // Stores into `inner`; new objects get data keys wrapped under `key` (id, ARN or alias).
  // `inner`, `keys` and `cache` must outlive the store.
  EncryptedBlobStore(BlobStore& inner, kms::KeyService& keys, std::string key,
                     std::shared_ptr<kms::DataKeyCache> cache, EncryptionOptions options = {});

  Status CreateUpload(std::string_view upload_id) override;
  Result<std::unique_ptr<BlobWriter>> OpenUpload(std::string_view upload_id) override;
  Status DeleteUpload(std::string_view upload_id) override;
  Result<std::vector<std::pair<std::string, BlobStat>>> ListUploads() override;
  Status Commit(std::string_view upload_id, const Digest& digest) override;
  Status PutSmall(const Digest& digest, std::string_view bytes) override;
  Result<BlobStat> Stat(const Digest& digest) override;
  Result<std::unique_ptr<BlobReader>> Open(const Digest& digest) override;
  Result<std::string> ReadSmall(const Digest& digest, uint64_t max_bytes) override;
  Status Delete(const Digest& digest) override;
  Status List(const std::function<bool(const Digest&, const BlobStat&)>& fn) override;
  Status Archive(const Digest& digest) override;
  Status Restore(const Digest& digest) override;
  Status PutSidecar(const Digest& digest, std::string_view bytes) override;
  Result<std::string> GetSidecar(const Digest& digest) override;

  const std::string& key() const { return key_; }
  // Whether Commit would publish the upload as stored, without a re-pack (for tests).
  bool CommitsWithoutRepackForTest(std::string_view upload_id);

 private:
  friend struct EncryptedAccess;
  // Unwraps (or finds cached) the data key of an object and checks its key is usable.
  Result<Secret> DataKeyFor(const std::string& wrapped);

  BlobStore& inner_;
  kms::KeyService& keys_;
  std::string key_;
  std::shared_ptr<kms::DataKeyCache> cache_;
  EncryptionOptions options_;
};

struct RewrapReport {
  uint64_t examined = 0;   // encrypted blobs looked at
  uint64_t rewrapped = 0;  // data keys moved to their key's newest version
  uint64_t failed = 0;     // blobs whose key could not be used (disabled, missing)
};

// Moves the data key of every encrypted blob in `store` whose wrapping key version is older
// than its key's newest version to that version (a sidecar write per blob; blob data is not
// rewritten). Blobs stored without encryption are skipped. `only_key`, when not empty,
// restricts the job to one key id.
Result<RewrapReport> RewrapDataKeys(BlobStore& store, kms::KeyService& keys,
                                    std::string_view only_key,
                                    const std::function<void(uint64_t)>& progress);

// Whether `header` (the first bytes of a stored object) starts an encrypted object.
bool IsEncryptedObject(std::string_view header);

}  // namespace berth::storage
