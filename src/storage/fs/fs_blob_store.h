// FsBlobStore: BlobStore on a local directory.
//
// On-disk layout (all under the root directory given at Open):
//
//   <root>/
//   ├── blobs/
//   │   └── sha256/
//   │       └── ab/
//   │           ├── abcdef…   published content, immutable, named by its digest
//   │           └── abcdef….side  its sidecar record, if any (replaced by rename)
//   ├── archive/
//   │   └── sha256/ab/abcdef…    blobs of archived images (same naming; moved by rename)
//   └── uploads/
//       ├── <upload id>       bytes of an in-progress upload session
//       └── put-<random>      short-lived temp file of PutSmall (an upload no session owns)
//
// Publication is rename(2) of a fully written, fdatasync'ed upload into blobs/, followed by
// an fsync of the destination directory, so a crash leaves either no blob or a whole one.
// Anything left in uploads/ after a crash is garbage the registry purges.
// Thread-safe; readers get an fd so pulls can use sendfile(2).
#pragma once

#include <memory>
#include <string>

#include "storage/blob_store.h"

namespace berth::storage {

class FsBlobStore final : public BlobStore {
 public:
  // Creates the layout if missing. Errors: kUnavailable if the directory is unusable.
  static Result<std::unique_ptr<FsBlobStore>> Open(std::string root);

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

  std::string BlobPathForTest(const Digest& d) const { return BlobPath(d); }

 private:
  explicit FsBlobStore(std::string root) : root_(std::move(root)) {}
  std::string BlobPath(const Digest& d) const;
  std::string ArchivePath(const Digest& d) const;
  // rename(2) `from` → `to`, creating the destination directory; both directories synced.
  Status Move(const std::string& from, const std::string& to);
  // Moves the blob at `from` and its sidecar (if any) to `to`.
  Status MoveWithSidecar(const std::string& from, const std::string& to);
  std::string UploadPath(std::string_view id) const;
  Status Publish(const std::string& tmp_path, int fd, const Digest& digest);

  std::string root_;
};

}  // namespace berth::storage
