// The master key's bond to its database, and rotating it (`berth admin master-key rotate`).
//
// Everything berth seals with keys derived from the master key lives in the metadata store:
// KMS key material (kms/builtin_key_service.h) and access-key secrets (registry/identity.h).
// The settings table records which master key sealed them:
//
//   master.key.id     MasterKeyFingerprint of the master key everything is sealed under
//   master.rotation   while a rotation is unfinished: {"from": <fingerprint>, "to": <fingerprint>}
//
// Rotation, crash-safe at every step:
//   1. record master.rotation {from: current, to: new};
//   2. re-seal every KMS key version and access-key secret under the new key, one value at a
//      time (each write atomic; a value that already opens under the new key is skipped);
//   3. keep the old key as <master key file>.old, then atomically replace the master key file
//      with the new key (write temporary, fsync, rename, fsync the directory);
//   4. set master.key.id to the new fingerprint and delete master.rotation.
// Until step 4 no value is lost: each one opens under the old key or the new one, the old key
// stays in the key file (before 3) or in .old (after), the new key is in the operator's file,
// and servers refuse to start (CheckMasterKeyBlocking) so nothing runs half-rotated. Running
// the same rotation again finishes it from wherever it stopped.
//
// Not safe while a server runs: stop every server on the database first (they
// hold the old key in memory), rotate, then start them with the new key.
#pragma once

#include <cstddef>
#include <string>

#include "base/error.h"
#include "base/secret.h"
#include "meta/metadata_store.h"

namespace berth::cli {

// Start-up check for servers and admin commands. kPreconditionFailed when a rotation is
// unfinished or `master_key` is not the key this database was sealed under (both messages say
// what to do). Records the fingerprint on first use.
Status CheckMasterKeyBlocking(meta::MetadataStore& meta, const Secret& master_key);

struct MasterKeyRotation {
  size_t kms_key_versions = 0;  // re-sealed by this run
  size_t access_keys = 0;
  std::string old_key_path;  // where the previous master key was kept
};

// Rotates the master key held in the file `key_path` to `new_key` (32 bytes), as described
// above; resumes an unfinished rotation to the same key. Errors: kInvalidArgument (new key not
// 32 bytes, or already the master key with nothing to finish), kPreconditionFailed (an
// unfinished rotation to another key; the current key is not this database's), kCorrupt (a
// value opens under neither key: nothing is switched), kUnavailable (files).
Result<MasterKeyRotation> RotateMasterKeyBlocking(meta::MetadataStore& meta,
                                                  const std::string& key_path,
                                                  const Secret& new_key);

// Reads a key file holding exactly 32 bytes. kInvalidArgument / kUnavailable.
Result<Secret> ReadKeyFile(const std::string& path);

}  // namespace berth::cli
