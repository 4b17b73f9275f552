// MetadataStore: everything the registry knows except blob bytes.
//
// Repositories, the global blob index, repository↔blob links, manifests with their references
// and subjects (for referrers), tags, and upload sessions. Every method is one atomic unit:
// the changes that belong together (a manifest, its references and its tag) commit together
// or not at all. Implementations: meta/sqlite (embedded default), meta/postgres. Both must
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
  std::string artifact_type;     // empty if none (for referrers: falls back to config type)
  std::string subject;           // digest of the subject manifest, empty if none
  std::string annotations_json;  // JSON object text, empty if none
  uint64_t size = 0;
  uint64_t image_size = 0;        // sum of the sizes of referenced blobs
  int64_t pushed_at = 0;          // unix seconds
  std::string body;               // the manifest bytes (filled by GetManifest/GetTaggedManifest)
  std::string status = "ACTIVE";  // ACTIVE | ARCHIVED | ACTIVATING (ECR image status)
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

// A repository and its ECR settings. JSON-valued fields hold the ECR wire shapes verbatim.
struct RepositoryRecord {
  std::string name;
  int64_t created_at = 0;
  std::string image_tag_mutability = "MUTABLE";  // MUTABLE | IMMUTABLE | *_WITH_EXCLUSION
  std::string mutability_exclusions_json;        // JSON array of {filterType, filter}, or empty
  bool scan_on_push = false;
  std::string encryption_type = "AES256";  // AES256 | KMS | KMS_DSSE (immutable)
  std::string kms_key;
  // The key-service key id that encrypts this repository's blobs and manifests at rest, fixed
  // at creation; empty: stored in plaintext (encryption at rest off, or created before it).
  std::string key_id;
  std::string policy_text;             // repository policy, empty if none
  std::string tags_json;               // JSON array of {Key, Value}, or empty
  std::string lifecycle_policy;        // lifecycle policy text, empty if none
  int64_t lifecycle_evaluated_at = 0;  // last run of the lifecycle policy, 0: never
};

// One image (manifest) of a repository with the tags that point at it.
struct ImageRecord {
  std::string digest;
  std::string media_type;
  std::string artifact_type;
  std::string subject;
  uint64_t size = 0;        // manifest bytes
  uint64_t image_size = 0;  // sum of referenced blob sizes (layers and config)
  int64_t pushed_at = 0;
  int64_t last_pulled_at = 0;  // 0: never recorded
  std::vector<std::string> tags;
  std::string status = "ACTIVE";      // ACTIVE | ARCHIVED | ACTIVATING
  int64_t archived_at = 0;            // last move to the archive, 0: never
  int64_t activated_at = 0;           // last restore from the archive, 0: never
  std::vector<std::string> children;  // manifests an image index lists
};

// An image somewhere in the registry.
struct ImageRef {
  std::string repo;
  std::string digest;
};

// A blob garbage collection may remove.
struct GcCandidate {
  std::string digest;
  uint64_t size = 0;
  bool archived = false;
};

// A repository creation template (ECR CreateRepositoryCreationTemplate); config_json holds
// the template's settings in ECR's wire shape.
struct TemplateRecord {
  std::string prefix;  // "ROOT" or a repository name prefix
  std::string config_json;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct UserRecord {
  std::string name;
  std::string kind = "user";  // user | role
  int64_t created_at = 0;
  std::vector<std::string> policy_arns;  // attached identity policies
};

struct AccessKeyRecord {
  std::string id;  // AKIA...
  std::string user;
  std::string secret_ciphertext;  // the secret, sealed under the master key (never plaintext)
  std::string status = "Active";  // Active | Inactive
  int64_t created_at = 0;
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
  // Records a published blob and links it to `repo` (creating the repository). Idempotent; an
  // existing link is renewed (its time moves to `now`).
  virtual Status PutBlobLink(const std::string& repo, const std::string& digest, uint64_t size,
                             int64_t now) = 0;
  // PutBlobLink for the blob a finished upload published, and in the same transaction the end
  // of that upload: its session `upload_id` and the setting `state_key` (its saved digest
  // state) are deleted. Either may already be gone.
  virtual Status LinkUploadedBlob(const std::string& repo, const std::string& digest, uint64_t size,
                                  int64_t now, const std::string& upload_id,
                                  const std::string& state_key) = 0;
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
  // If `protect_tag` is set and the tag already points at another digest, nothing changes and
  // kTagImmutable is returned (tag immutability is decided by the caller, enforced atomically
  // here).
  virtual Status PutManifest(const std::string& repo, const ManifestRecord& manifest,
                             const std::vector<ManifestRef>& refs, const std::string& tag,
                             bool protect_tag, int64_t now) = 0;
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

  // --- ECR repositories, images, templates, settings --------------------------------------
  // kAlreadyExists if the repository exists.
  virtual Status CreateRepository(const RepositoryRecord& repo) = 0;
  // kNotFound.
  virtual Result<RepositoryRecord> GetRepository(const std::string& name) = 0;
  // Repositories in name order strictly after `after`, at most `limit`.
  virtual Result<std::vector<RepositoryRecord>> ListRepositoryRecords(const std::string& after,
                                                                      uint32_t limit) = 0;
  // Replaces the mutable settings (mutability, exclusions, scanning, policy, tags). kNotFound.
  virtual Status UpdateRepository(const RepositoryRecord& repo) = 0;
  // Deletes the repository with its manifests, tags, links and upload sessions. kNotFound;
  // kPreconditionFailed if it still holds images and `force` is false (nothing deleted).
  virtual Status DeleteRepository(const std::string& name, bool force) = 0;
  // Every image of the repository, ordered by push time then digest. kNotFound (repository).
  virtual Result<std::vector<ImageRecord>> ListImages(const std::string& repo) = 0;
  // Records pull times: (repository, digest, unix seconds) triples; later times win, unknown
  // images are skipped. One transaction.
  struct PullRecord {
    std::string repo;
    std::string digest;
    int64_t at = 0;
  };
  virtual Status RecordPulls(const std::vector<PullRecord>& pulls) = 0;
  // Digests of manifests in `repo` that reference `digest` as a child (image indexes).
  virtual Result<std::vector<std::string>> ListParents(const std::string& repo,
                                                       const std::string& digest) = 0;

  // --- lifecycle and archive ------------------------------------------------------------------
  // Sets (empty text: removes) the repository's lifecycle policy. kNotFound.
  virtual Status SetLifecyclePolicy(const std::string& repo, const std::string& text) = 0;
  virtual Status SetLifecycleEvaluatedAt(const std::string& repo, int64_t at) = 0;  // kNotFound
  // Sets an image's status (ACTIVE, ARCHIVED, ACTIVATING), stamping archived_at when it becomes
  // ARCHIVED and activated_at when it becomes ACTIVE again. kNotFound.
  virtual Status SetImageStatus(const std::string& repo, const std::string& digest,
                                const std::string& status, int64_t now) = 0;
  // Images (any repository) with `status`, at most `limit`.
  virtual Result<std::vector<ImageRef>> ListImagesByStatus(const std::string& status,
                                                           uint32_t limit) = 0;
  // Blobs an image needs: what it references, and for an index what its children reference.
  virtual Result<std::vector<std::string>> ImageBlobs(const std::string& repo,
                                                      const std::string& digest) = 0;
  // Blobs not yet archived whose every referencing manifest is ARCHIVED (at most `limit`).
  virtual Result<std::vector<std::string>> ListBlobsToArchive(uint32_t limit) = 0;
  virtual Status SetBlobArchived(const std::string& digest, bool archived) = 0;  // kNotFound
  virtual Result<bool> IsBlobArchived(const std::string& digest) = 0;            // kNotFound

  // --- garbage collection ---------------------------------------------------------------------
  // Removes repository↔blob links created (or last renewed by an upload or mount) before
  // `cutoff` that no manifest of that repository references. Returns how many; with `dry_run`
  // only counts them.
  virtual Result<uint64_t> DeleteStaleLinks(int64_t cutoff, bool dry_run) = 0;
  // Blobs created before `cutoff` with no live link: every link they have is stale in the sense
  // of DeleteStaleLinks (so a dry run sees what a real run deletes). At most `limit`.
  virtual Result<std::vector<GcCandidate>> ListUnreferencedBlobs(int64_t cutoff,
                                                                 uint32_t limit) = 0;
  // In one transaction: deletes the blob's record if it is still unlinked and was created
  // before `cutoff`. Returns whether it did (then the caller deletes the bytes).
  virtual Result<bool> DeleteBlobIfUnreferenced(const std::string& digest, int64_t cutoff) = 0;
  // Bytes of blobs that no manifest references (reclaimable once past the grace period).
  virtual Result<uint64_t> UnreferencedBlobBytes() = 0;

  virtual Status CreateTemplate(const TemplateRecord& t) = 0;                 // kAlreadyExists
  virtual Result<TemplateRecord> GetTemplate(const std::string& prefix) = 0;  // kNotFound
  virtual Result<std::vector<TemplateRecord>> ListTemplates() = 0;            // prefix order
  virtual Status UpdateTemplate(const TemplateRecord& t) = 0;                 // kNotFound
  virtual Status DeleteTemplate(const std::string& prefix) = 0;               // kNotFound

  // Registry-wide settings (registry id, registry policy, ...). GetSetting: kNotFound.
  virtual Result<std::string> GetSetting(const std::string& key) = 0;
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;
  // Stores `value` only if the key is absent; returns the value now stored.
  virtual Result<std::string> PutSettingIfAbsent(const std::string& key,
                                                 const std::string& value) = 0;
  virtual Status DeleteSetting(const std::string& key) = 0;  // kNotFound
  // Sets `key` to `value` only if it currently holds `expected` (empty `expected`: only if the
  // key is absent). Returns whether it was set. The building block of leases.
  virtual Result<bool> CompareAndSwapSetting(const std::string& key, const std::string& expected,
                                             const std::string& value) = 0;
  // Settings whose key starts with `prefix`, in key order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListSettings(
      const std::string& prefix) = 0;

  // --- identity ------------------------------------------------------------------------------
  virtual Status CreateUser(const UserRecord& user) = 0;            // kAlreadyExists
  virtual Result<UserRecord> GetUser(const std::string& name) = 0;  // kNotFound
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;
  // Deletes the user, its access keys and attachments. kNotFound.
  virtual Status DeleteUser(const std::string& name) = 0;
  virtual Status AttachPolicy(const std::string& user, const std::string& arn) = 0;  // kNotFound
  virtual Status DetachPolicy(const std::string& user, const std::string& arn) = 0;  // kNotFound
  virtual Status CreateAccessKey(const AccessKeyRecord& key) = 0;           // kNotFound (user)
  virtual Result<AccessKeyRecord> GetAccessKey(const std::string& id) = 0;  // kNotFound
  // Keys of `user` (every key if empty), by id.
  virtual Result<std::vector<AccessKeyRecord>> ListAccessKeys(const std::string& user) = 0;
  virtual Status DeleteAccessKey(const std::string& id) = 0;  // kNotFound
  // Replaces the sealed secret of key `id` (master-key rotation re-seals it). kNotFound.
  virtual Status UpdateAccessKeySecret(const std::string& id,
                                       const std::string& secret_ciphertext) = 0;

  virtual Result<StoreStats> Stats() = 0;
};

}  // namespace berth::meta
