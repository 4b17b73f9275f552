// BlobStore: a dumb, content-addressed byte store under the registry.
//
// It knows keys, bytes, ranges and atomic publication; it knows nothing of repositories,
// manifests or who may read what (registry/ and meta/ do). Content is published under its
// digest only after the caller has verified the digest, and publication is atomic: a crash
// leaves an unpublished upload behind, never a partial blob under a digest name.
//
// Thread-safety: implementations are thread-safe; a single BlobWriter or BlobReader object is
// used by one thread at a time. All methods may block on disk or network: call them through
// RunBlocking from io threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"
#include "base/error.h"

namespace berth::storage {

// Reads one published blob. The blob is immutable, so concurrent readers see the same bytes
// even if the blob is deleted meanwhile: on disk the open handle keeps it alive; on S3 a
// reader holds blobs up to 256 KiB whole from Open, and a larger one only as far as its
// current GET reaches (garbage collection's grace period covers pulls in flight).
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual uint64_t size() const = 0;
  // Reads up to out.size() bytes at offset. Returns the count (0 only at end of blob).
  // Errors: kUnavailable (I/O), kCorrupt (stored data failed verification).
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<char> out) = 0;
  // A file descriptor whose bytes [0, size) are the blob, for zero-copy sendfile; -1 if the
  // driver cannot offer one. Valid while this reader lives.
  virtual int ZeroCopyFd() const { return -1; }
};

// Appends to one in-progress upload. Bytes become a blob only through BlobStore::Commit.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Bytes accepted so far (the upload's current size).
  virtual uint64_t size() const = 0;
  // Appends bytes. Errors: kUnavailable (I/O; the upload keeps what was written before the
  // call, size() tells how much).
  virtual Status Append(std::span<const char> bytes) = 0;
  // Makes every byte appended so far part of the stored upload: visible to OpenUpload,
  // ListUploads and Commit from any process. A driver may buffer appended bytes until then
  // (the S3 driver does, up to one part); bytes not flushed when the writer is destroyed are
  // discarded. Errors: kUnavailable (nothing appended since the last successful Flush is
  // stored; size() still counts it, so callers drop the writer and reopen the upload).
  virtual Status Flush() { return Ok{}; }
  // Reads back upload bytes (used to rebuild hash state after a restart).
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<char> out) = 0;
};

struct BlobStat {
  uint64_t size = 0;
  int64_t modified_unix = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Creates an empty upload named `upload_id` (caller-chosen, [a-z0-9-]). kAlreadyExists if
  // present.
  virtual Status CreateUpload(std::string_view upload_id) = 0;
  // Opens an existing upload for appending. kNotFound if absent.
  virtual Result<std::unique_ptr<BlobWriter>> OpenUpload(std::string_view upload_id) = 0;
  // Removes an upload and its data. kNotFound if absent.
  virtual Status DeleteUpload(std::string_view upload_id) = 0;
  // Every upload present, with its size and last modification time.
  virtual Result<std::vector<std::pair<std::string, BlobStat>>> ListUploads() = 0;

  // Publishes the upload's bytes under `digest`, which the caller has verified. Durable when it
  // returns (data and name synced). If the digest is already published the upload is simply
  // discarded. On success the upload no longer exists. Errors: kNotFound (no upload),
  // kUnavailable (I/O; nothing is published under the digest and the upload remains).
  virtual Status Commit(std::string_view upload_id, const Digest& digest) = 0;
  // Publishes small content (manifests) in one step; same guarantees as Commit.
  virtual Status PutSmall(const Digest& digest, std::string_view bytes) = 0;

  // Size of a published blob. kNotFound if absent.
  virtual Result<BlobStat> Stat(const Digest& digest) = 0;
  // Opens a published blob. kNotFound if absent.
  virtual Result<std::unique_ptr<BlobReader>> Open(const Digest& digest) = 0;
  // Reads a whole small blob (manifests). kNotFound; kTooLarge if over max_bytes.
  virtual Result<std::string> ReadSmall(const Digest& digest, uint64_t max_bytes) = 0;
  // Removes a published blob, from the standard and the archive location. kNotFound if absent
  // from both.
  virtual Status Delete(const Digest& digest) = 0;
  // Calls fn for every published blob, archived ones included (for garbage collection; a blob
  // present in both locations may be reported twice). Stops early if fn returns false.
  virtual Status List(const std::function<bool(const Digest&, const BlobStat&)>& fn) = 0;

  // Archive tier (ECR's archive storage class). Archive moves a published blob to the archive
  // location, where Stat/Open/ReadSmall no longer find it; idempotent when already archived.
  // Restore moves it back (if a standard copy exists, the archived one is discarded). Both are
  // atomic and durable on return. kNotFound if the blob is in neither location.
  virtual Status Archive(const Digest& digest) = 0;
  virtual Status Restore(const Digest& digest) = 0;

  // A small mutable record kept beside a published blob (storage/crypto keeps a re-wrapped
  // data key there). PutSidecar replaces it atomically and durably; it follows the blob on
  // Archive/Restore and goes with it on Delete. PutSidecar: kNotFound when the blob is in
  // neither location. GetSidecar: kNotFound when there is none.
  virtual Status PutSidecar(const Digest& digest, std::string_view bytes) = 0;
  virtual Result<std::string> GetSidecar(const Digest& digest) = 0;

  // A URL from which a client can GET the published blob's stored bytes directly, valid for
  // `expires_seconds` from `now_unix_seconds` (S3: a presigned URL). kUnsupported when the
  // driver cannot offer one, or when stored bytes are not the content (encryption).
  virtual Result<std::string> PresignedGetUrl(const Digest& digest, int64_t now_unix_seconds,
                                              int64_t expires_seconds) {
    (void)digest;
    (void)now_unix_seconds;
    (void)expires_seconds;
    return MakeError(Errc::kUnsupported, "this blob store cannot hand out direct URLs");
  }
};

}  // namespace berth::storage
