// MetadataStore: everything the registry knows except blob bytes.
//
// Repositories, the global blob index, repository↔blob links, manifests with their references
// and subjects (for referrers), tags, and upload sessions. Every method is one atomic unit:
// the changes that belong together (a manifest, its references and its tag) commit together
// or not at all. Implementations: meta/sqlite (embedded default); PostgreSQL later. Both must
// pass meta/testing's conformance suite.
//
// Thread-safety: thread-safe. Every method blocks (disk/database): call through RunBlocking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::meta {

struct ManifestRecord {
  std::string digest;
  std::string media_type;
  std::string artifact_type;      // empty if none (for referrers: falls back to config type)
  std::string subject;            // digest of the subject manifest, empty if none
  std::string annotations_json;   // JSON object text, empty if none
  uint64_t size = 0;
  int64_t pushed_at = 0;          // unix seconds
  std::string body;               // the manifest bytes (filled by GetManifest/GetTaggedManifest)
};

// A descriptor a manifest points at: a blob (config, layer) or a child manifest (index).
struct ManifestRef {
  std::string digest;
  bool is_manifest = false;
};

struct UploadRecord {
  std::string id;
  std::string repository;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct StoreStats {
  uint64_t repositories = 0;
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  uint64_t manifests = 0;
  uint64_t uploads = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // --- repositories -------------------------------------------------------------------------
  // Whether the repository exists (it does once anything was pushed to it).
  virtual Result<bool> RepositoryExists(const std::string& repo) = 0;
  // Repository names in lexical order, strictly after `after` (empty: from the start), at most
  // `limit` of them.
  virtual Result<std::vector<std::string>> ListRepositories(const std::string& after,
                                                            uint32_t limit) = 0;

  // --- blobs ----------------------------------------------------------------------------------
  // Records a published blob and links it to `repo` (creating the repository). Idempotent.
  virtual Status PutBlobLink(const std::string& repo, const std::string& digest, uint64_t size,
                             int64_t now) = 0;
  // Size of a blob linked to `repo`. kNotFound if not linked.
  virtual Result<uint64_t> GetBlobLink(const std::string& repo, const std::string& digest) = 0;
  // Size of a blob known anywhere in the registry. kNotFound if unknown.
  virtual Result<uint64_t> GetBlob(const std::string& digest) = 0;
  // Removes the link. kNotFound if not linked. The blob bytes stay until garbage collection.
  virtual Status DeleteBlobLink(const std::string& repo, const std::string& digest) = 0;

  // --- manifests and tags ---------------------------------------------------------------------
  // In one transaction: creates the repository if needed, checks that every ref exists in the
  // repository (blobs linked, manifests present) — else kManifestBlobUnknown with the missing
  // digest in detail and no change — stores the manifest with its body (idempotent for the
  // same digest), its refs, and points `tag` (if non-empty) at it. Durable on return.
  virtual Status PutManifest(const std::string& repo, const ManifestRecord& manifest,
                             const std::vector<ManifestRef>& refs, const std::string& tag,
                             int64_t now) = 0;
  // The manifest with its body. kNotFound if absent.
  virtual Result<ManifestRecord> GetManifest(const std::string& repo,
                                             const std::string& digest) = 0;
  // The digest a tag points at. kNotFound if absent.
  virtual Result<std::string> GetTag(const std::string& repo, const std::string& tag) = 0;
  // The manifest a tag points at, with its body, in one read. kNotFound if absent.
  virtual Result<ManifestRecord> GetTaggedManifest(const std::string& repo,
                                                   const std::string& tag) = 0;
  // Removes a tag only. kNotFound if absent.
  virtual Status DeleteTag(const std::string& repo, const std::string& tag) = 0;
  // Removes a manifest, its refs and every tag pointing at it. kNotFound if absent.
  virtual Status DeleteManifest(const std::string& repo, const std::string& digest) = 0;
  // Tags in lexical order strictly after `after`, at most `limit`. kNotFound if no repository.
  virtual Result<std::vector<std::string>> ListTags(const std::string& repo,
                                                    const std::string& after, uint32_t limit) = 0;
  // Manifests of `repo` whose subject is `subject_digest`, ordered by digest (bodies empty).
  virtual Result<std::vector<ManifestRecord>> ListReferrers(const std::string& repo,
                                                            const std::string& subject_digest) = 0;

  // --- upload sessions ------------------------------------------------------------------------
  virtual Status CreateUpload(const UploadRecord& upload) = 0;
  // kNotFound if absent.
  virtual Result<UploadRecord> GetUpload(const std::string& id) = 0;
  virtual Status TouchUpload(const std::string& id, int64_t now) = 0;
  // kNotFound if absent.
  virtual Status DeleteUpload(const std::string& id) = 0;
  // Sessions not touched since `before` (unix seconds).
  virtual Result<std::vector<UploadRecord>> ListUploadsIdleSince(int64_t before) = 0;

  virtual Result<StoreStats> Stats() = 0;
};

}  // namespace berth::meta
