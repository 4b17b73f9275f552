// S3BlobStore: BlobStore on an S3-compatible bucket (AWS S3, Ceph RGW, MinIO), so that several
// berth nodes can share one set of blobs.
//
// Object layout (every key below starts with the configured prefix, e.g. "berth/"):
//
//   <prefix>
//   ├── blobs/
//   │   └── sha256/
//   │       └── ab/
//   │           ├── abcdef…          published content, immutable, named by its digest
//   │           └── abcdef….side     its sidecar record, if any (replaced by a PUT)
//   ├── archive/
//   │   └── sha256/ab/abcdef…        blobs of archived images (same naming; moved by copy+delete)
//   └── uploads/
//       └── <upload id>/
//           ├── info                 marker: the session exists (empty; created first)
//           └── data/<offset>        the session's bytes from <offset> (16 hex digits), one
//                                    object per flushed piece, contiguous and in order
//
// Uploads. A writer buffers appended bytes and stores a piece object once `part_size` bytes
// are buffered, and on Flush() (the registry flushes at the end of every request), so any node
// can continue an upload: OpenUpload lists the pieces, and ReadAt reads them back for
// rehashing. A piece never splits the bytes of one Append call, so what a caller appends in
// one call survives a crash whole or not at all. No upload is held whole in memory: at most
// one part (plus one call's bytes) per writer.
//
// Commit publishes the pieces under the digest name in one atomic step, server-side: a single
// piece is copied (CopyObject); several become one multipart upload whose parts are copied
// from the pieces (UploadPartCopy, byte ranges), except that pieces shorter than S3's 5 MiB
// minimum part size are read and sent together with their neighbours (at most 5 MiB is held).
// The blob object exists only once CompleteMultipartUpload (or the copy) has succeeded, so a
// crash leaves garbage under uploads/, never a partial blob. Then the pieces are deleted.
//
// Reads stream ranged GETs: a reader keeps one GET open while it is read sequentially, with a
// window that doubles from 1 MiB (small random reads such as the encrypted format's header cost
// one small GET), so a pull is a handful of requests and never buffers the blob.
//
// Archive/Restore copy the object to the other location and then delete the original, so a
// blob is always in at least one location. Sidecars follow the blob.
//
// Thread-safe (the client is); a writer or reader is used by one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "storage/blob_store.h"
#include "storage/s3/s3_client.h"

namespace berth::storage {

struct S3BlobStoreOptions {
  s3::S3Options s3;
  std::string prefix;               // key prefix, e.g. "berth/" ('/' appended if missing)
  uint64_t part_size = 8ull << 20;  // upload piece size: 5 MiB .. 5 GiB
};

class S3BlobStore final : public BlobStore {
 public:
  // Checks the options and that the bucket answers (a ListObjectsV2 of one key). Errors:
  // kInvalidArgument (options), kUnavailable (unreachable), kDenied (credentials refused),
  // kNotFound (no such bucket).
  static Result<std::unique_ptr<S3BlobStore>> Open(S3BlobStoreOptions options);

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
  Result<std::string> PresignedGetUrl(const Digest& digest, int64_t now_unix_seconds,
                                      int64_t expires_seconds) override;

  // Object keys, for tests and tools.
  std::string BlobKey(const Digest& d) const;
  std::string ArchiveKey(const Digest& d) const;
  std::string UploadPrefix(std::string_view id) const;
  s3::S3Client& client() { return *client_; }

  struct Piece {
    uint64_t offset = 0;
    uint64_t size = 0;
    std::string key;
  };

 private:
  friend class S3Writer;
  friend class S3Reader;
  S3BlobStore(std::unique_ptr<s3::S3Client> client, S3BlobStoreOptions options);

  // Status of a HEAD: size and time, kNotFound, or an error.
  Result<BlobStat> Head(const std::string& key);
  Status PutObject(const std::string& key, std::string_view bytes,
                   std::vector<std::pair<std::string, std::string>> headers = {});
  Status DeleteObject(const std::string& key);
  // Server-side copy of a whole object of `size` bytes (multipart beyond 5 GiB).
  Status CopyObject(const std::string& from, const std::string& to, uint64_t size);
  // Calls fn(key, size, mtime) for every object under `prefix`. Stops when fn returns false.
  Status ListObjects(const std::string& prefix,
                     const std::function<bool(std::string_view, uint64_t, int64_t)>& fn);
  // The pieces of an upload in offset order; kNotFound without the info marker.
  Result<std::vector<Piece>> Pieces(std::string_view id, bool* has_marker = nullptr);
  // Deletes an upload's objects `keys` (its info marker last).
  Status DeleteUploadObjects(std::string_view upload_id, std::vector<std::string> keys);
  // Builds `to` from the pieces (Commit's multipart assembly).
  Status Assemble(const std::vector<Piece>& pieces, const std::string& to);
  Status MoveWithSidecar(const std::string& from, const std::string& to, uint64_t size);
  // Maps an unexpected answer to an error naming the operation and key.
  Error Unexpected(std::string_view op, const std::string& key, const s3::S3Response& r) const;

  std::unique_ptr<s3::S3Client> client_;
  S3BlobStoreOptions options_;
};

}  // namespace berth::storage
