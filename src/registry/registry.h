// Registry: the domain layer both APIs call — repositories, blobs, uploads, mounts, manifests,
// tags and referrers — with the rules of the OCI Distribution Spec. Protocol-free: no HTTP
// types enter here; api/oci (and later api/ecr) translate wire requests into these calls.
//
// Every method is a coroutine that runs its store and disk work on the blocking pool (via
// RunBlocking) and never blocks the calling io thread. Thread-safe: methods may be called from
// any number of connections concurrently. The Registry borrows its stores, pool and clock;
// they must outlive it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/clock.h"
#include "base/digest.h"
#include "base/error.h"
#include "kms/data_key_cache.h"
#include "kms/key_service.h"
#include "meta/metadata_store.h"
#include "storage/blob_store.h"

namespace berth::registry {

template <class T>
using Task = boost::asio::awaitable<Result<T>>;

struct RegistryOptions {
  int64_t upload_ttl_seconds = 24 * 3600;    // idle upload sessions older than this are purged
  uint32_t max_page_size = 10000;            // largest page of tags or catalog entries
  uint64_t max_blob_bytes = 52000ull << 20;  // ECR's layer size limit (52,000 MiB)
  // Pulls may be redirected to the blob store (S3 presigned URLs) for this long; 0: never.
  int64_t direct_url_ttl_seconds = 0;
};

struct BlobInfo {
  Digest digest;
  uint64_t size = 0;
};

struct OpenBlob {
  Digest digest;
  std::unique_ptr<storage::BlobReader> reader;
};

struct UploadStatus {
  std::string id;
  std::string repository;
  uint64_t size = 0;  // bytes received so far
};

// Outcome of POST with ?mount=: either the blob was linked (mounted) or a new session started.
struct MountResult {
  bool mounted = false;
  BlobInfo blob;        // when mounted
  UploadStatus upload;  // when not mounted
};

struct ManifestContent {
  Digest digest;
  std::string media_type;
  std::string subject;  // subject digest or empty
  std::shared_ptr<const std::string> body;
};

struct PutManifestResult {
  Digest digest;
  std::string subject;
};

struct Page {
  std::vector<std::string> items;
  bool more = false;  // another page follows the last item
};

struct Referrer {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;
};

// Encryption at rest, wired by the server when it is on (cli/ names the concrete stores).
// A repository's key is chosen once, at creation; its blobs are stored through the store that
// encrypts under that key, named by a per-key storage digest (so the same content pushed to
// repositories with different keys is stored once per key and never read under another), and
// its manifest bodies are sealed with per-manifest data keys from `keys`.
struct EncryptionHooks {
  // Chooses the key for a new repository from its encryptionConfiguration: returns the key id
  // ("" = plaintext) and may canonicalise record.kms_key (to the key ARN). Errors refuse the
  // creation: kNotFound (no such key), kKeyUnavailable (disabled).
  std::function<Result<std::string>(meta::RepositoryRecord&)> resolve_key;
  // The store that encrypts under `key_id` (over the same underlying store as the plaintext
  // one the Registry was given).
  std::function<storage::BlobStore&(const std::string& key_id)> store_for;
  kms::KeyService* keys = nullptr;
  std::shared_ptr<kms::DataKeyCache> key_cache;  // unwrapped manifest data keys
};

class Registry;

// An upload opened for appending. Exclusive: while one exists for an upload, other requests
// for the same session get kUploadInvalid. Append streams bytes into storage and the running
// digest. Not thread-safe; use from one coroutine.
class UploadWriter {
 public:
  ~UploadWriter();
  UploadWriter(const UploadWriter&) = delete;
  UploadWriter& operator=(const UploadWriter&) = delete;

  uint64_t size() const;
  // Appends bytes; the span must stay valid until the call completes.
  // Errors: kTooLarge (the blob would exceed max_blob_bytes; nothing appended),
  // kUnavailable (I/O; size() says what was kept).
  boost::asio::awaitable<Status> Append(std::span<const char> bytes);
  // Call when a request's chunk is in: flushes the chunk to the blob store (an error here means
  // the chunk is not stored and must not be acknowledged), then saves the running digest state
  // with the session, so the next chunk, on this node after a restart or on another node,
  // resumes hashing without re-reading the upload. Saving the state is best effort: without
  // one the upload is re-read.
  boost::asio::awaitable<Status> Checkpoint();

 private:
  friend class Registry;
  struct State;
  UploadWriter(Registry& registry, std::shared_ptr<State> state);
  Registry& registry_;
  std::shared_ptr<State> state_;
};

class Registry {
 public:
  Registry(meta::MetadataStore& meta, storage::BlobStore& blobs, boost::asio::thread_pool& pool,
           const Clock& clock, RegistryOptions options);
  ~Registry();

  // --- blobs ---------------------------------------------------------------------------------
  // kNameInvalid, kDigestInvalid/kUnsupported (digest text), kBlobUnknown.
  Task<BlobInfo> StatBlob(std::string repo, std::string digest);
  Task<OpenBlob> OpenBlobForRead(std::string repo, std::string digest);
  // A URL from which the client can GET the blob's bytes straight from the blob store (an S3
  // presigned URL), when direct URLs are enabled and the repository's blobs are stored as
  // their content (not encrypted). kUnsupported otherwise; kBlobUnknown as StatBlob.
  Task<std::string> BlobDirectUrl(std::string repo, std::string digest);
  // Reads part of an open blob on the blocking pool (for drivers without zero-copy).
  Task<size_t> ReadBlob(std::shared_ptr<storage::BlobReader> reader, uint64_t offset,
                        std::span<char> out);
  // Unlinks the blob from the repository. kBlobUnknown if not linked.
  Task<Ok> DeleteBlob(std::string repo, std::string digest);

  // --- uploads -------------------------------------------------------------------------------
  // Starts a session. kNameInvalid.
  Task<UploadStatus> StartUpload(std::string repo);
  // kUploadUnknown (absent, expired, or belongs to another repository).
  Task<UploadStatus> GetUpload(std::string repo, std::string id);
  // Opens the session for appending. If expected_offset is set it must equal the current size
  // (else kRangeInvalid). kUploadUnknown; kUploadInvalid if the session is busy.
  Task<std::unique_ptr<UploadWriter>> OpenUploadWriter(std::string repo, std::string id,
                                                       std::optional<uint64_t> expected_offset);
  // Verifies the digest of everything appended and publishes the blob, linked to the
  // repository. On kDigestInvalid (mismatch) the session is removed and nothing is published.
  // `writer` may be the writer the final chunk went through (releases it), or null.
  Task<BlobInfo> CompleteUpload(std::string repo, std::string id, std::string digest,
                                std::unique_ptr<UploadWriter> writer);
  // Cancels a session and deletes its data. kUploadUnknown.
  Task<Ok> CancelUpload(std::string repo, std::string id);
  // Mounts `digest` from repository `from` (or from anywhere in the registry when `from` is
  // empty) if it is there; otherwise starts a new session.
  Task<MountResult> MountOrStart(std::string repo, std::string digest, std::string from);
  // Removes sessions idle for longer than the TTL, and storage debris no session owns.
  // Returns the number of sessions removed.
  Task<uint64_t> PurgeExpiredUploads(bool startup);

  // --- manifests -----------------------------------------------------------------------------
  // reference: a tag or a digest. kNameInvalid, kTagInvalid, kDigestInvalid (malformed, or PUT
  // by digest that does not match the body), kManifestInvalid, kManifestBlobUnknown, kTooLarge.
  Task<PutManifestResult> PutManifest(std::string repo, std::string reference,
                                      std::string content_type, std::string body);
  // kNameInvalid, kNameUnknown (no repository), kManifestUnknown.
  Task<ManifestContent> GetManifest(std::string repo, std::string reference);
  // By tag: removes the tag only. By digest: removes the manifest and every tag on it.
  Task<Ok> DeleteManifest(std::string repo, std::string reference);

  // --- listing -------------------------------------------------------------------------------
  // limit 0 means "as many as max_page_size". kNameUnknown for an unknown repository.
  Task<Page> ListTags(std::string repo, std::string last, std::optional<uint32_t> n);
  Task<Page> ListRepositories(std::string last, std::optional<uint32_t> n);
  // Manifests whose subject is `digest`; artifact_type filters when non-empty.
  Task<std::vector<Referrer>> ListReferrers(std::string repo, std::string digest,
                                            std::string artifact_type);

  Task<meta::StoreStats> Stats();

  // Notes that an image was pulled; times are kept in memory and written in batches by
  // FlushPulls (periodically, and before images are listed), not one write per pull.
  void RecordPull(const std::string& repo, const std::string& digest);
  Task<Ok> FlushPulls();

  // --- ECR repository model (repositories.cc) ------------------------------------------------
  // Creates a repository with its settings. kNameInvalid, kAlreadyExists.
  Task<meta::RepositoryRecord> CreateRepository(meta::RepositoryRecord record);
  // kNameInvalid, kNameUnknown.
  Task<meta::RepositoryRecord> GetRepository(std::string name);
  Task<std::vector<meta::RepositoryRecord>> ListRepositoryRecords(std::string after,
                                                                  uint32_t limit);
  // Replaces mutable settings. kNameUnknown.
  Task<Ok> UpdateRepository(meta::RepositoryRecord record);
  // Returns the record as it was. kNameUnknown; kPreconditionFailed when not empty and not
  // forced.
  Task<meta::RepositoryRecord> DeleteRepository(std::string name, bool force);
  // Images with their tags. kNameUnknown.
  Task<std::vector<meta::ImageRecord>> ListImages(std::string repo);
  // Image indexes of `repo` that list `digest` as a child.
  Task<std::vector<std::string>> ListParents(std::string repo, std::string digest);
  // Makes sure a repository exists before a push: creates it from the longest matching
  // CREATE_ON_PUSH template, or fails with kNameUnknown when none matches.
  Task<Ok> EnsureRepositoryForPush(std::string repo);

  Task<meta::TemplateRecord> CreateTemplate(meta::TemplateRecord t);  // kAlreadyExists
  Task<meta::TemplateRecord> GetTemplate(std::string prefix);         // kNotFound
  Task<std::vector<meta::TemplateRecord>> ListTemplates();
  Task<meta::TemplateRecord> UpdateTemplate(meta::TemplateRecord t);  // kNotFound
  Task<meta::TemplateRecord> DeleteTemplate(std::string prefix);      // kNotFound

  // --- lifecycle, archive tier, garbage collection (archive_gc.cc) ---------------------------
  // Sets (empty: removes) a repository's lifecycle policy text (validated by the caller).
  // kNameUnknown.
  Task<Ok> SetLifecyclePolicy(std::string repo, std::string text);
  Task<Ok> MarkLifecycleEvaluated(std::string repo, int64_t at);
  // Deletes an image (manifest and tags) and, recursively, the referrers that point at it.
  // Returns the digests deleted (the image first). kManifestUnknown.
  Task<std::vector<std::string>> ExpireImage(std::string repo, std::string digest);
  // Moves an image to the archive storage class: it stays listed (ARCHIVED) but cannot be
  // pulled; blobs no active image uses move to the blob store's archive location (TierBlobs).
  // kManifestUnknown; kPreconditionFailed if already archived or being restored.
  Task<Ok> ArchiveImage(std::string repo, std::string digest);
  // Starts restoring an archived image: ACTIVATING now, ACTIVE once CompleteActivations has
  // brought its blobs back. kManifestUnknown; kPreconditionFailed if it is not archived.
  Task<Ok> RequestRestore(std::string repo, std::string digest);
  // Finishes pending restores. Returns how many images became ACTIVE.
  Task<uint64_t> CompleteActivations();
  // Moves blobs that only archived images reference to the archive location. Returns how many.
  Task<uint64_t> TierBlobs();

  struct GcOptions {
    bool dry_run = false;
    int64_t grace_seconds = 3600;  // never touch blobs or links younger than this
  };
  struct GcReport {
    uint64_t links_deleted = 0;  // repository↔blob links no manifest needs
    uint64_t blobs_deleted = 0;  // blobs no repository links any more
    uint64_t bytes_deleted = 0;
    uint64_t orphan_files_deleted = 0;  // stored bytes with no record (crash debris)
    uint64_t uploads_purged = 0;        // abandoned upload sessions
    uint64_t bytes_reclaimable = 0;     // after this run: bytes no manifest references
  };
  // Online mark-and-sweep: runs while pushes and pulls go on. A blob goes only when no
  // repository links it and it is older than the grace period, re-checked in the same
  // transaction that deletes its record, under the same per-digest lock that publishing and
  // mounting take, so a concurrent push either keeps it or re-publishes it. Pulls already
  // streaming keep reading (the open file outlives its name). `progress(done, total)` is
  // called as blobs are examined.
  Task<GcReport> CollectGarbage(GcOptions options,
                                std::function<void(uint64_t, uint64_t)> progress);

  // Takes or renews the lease `name` for `holder` until now + ttl_seconds, through the shared
  // metadata store: true while `holder` holds it. A lease whose holder stopped renewing is
  // taken over once it has expired, so with several nodes exactly one runs each background
  // job and another takes over when it dies.
  Task<bool> HoldLease(std::string name, std::string holder, int64_t ttl_seconds);
  // Gives the lease up (marks it expired) if `holder` holds it, so another node (or this one
  // restarted) takes it at once instead of after the TTL.
  Task<Ok> ReleaseLease(std::string name, std::string holder);
  Task<std::string> GetSetting(std::string key);  // kNotFound
  Task<Ok> PutSetting(std::string key, std::string value);
  Task<std::string> DeleteSetting(std::string key);  // returns the old value; kNotFound

  // Whether `tag` is protected from being moved under the repository's tag mutability setting
  // (IMMUTABLE, MUTABLE, and the *_WITH_EXCLUSION forms with wildcard filters).
  static bool IsTagImmutable(const meta::RepositoryRecord& repo, std::string_view tag);
  // ECR wildcard match: '*' matches any run of characters.
  static bool WildcardMatch(std::string_view pattern, std::string_view text);

  const RegistryOptions& options() const { return options_; }

  // Turns on encryption at rest for repositories created from now on. Call before serving.
  void SetEncryption(EncryptionHooks hooks) { encryption_ = std::move(hooks); }
  // The name under which `repo`'s copy of blob `d` is stored (and indexed in the metadata
  // store): `d` itself for plaintext repositories, a digest derived from (key, d) otherwise.
  static Digest StoredDigest(const std::string& key_id, const Digest& d);

 private:
  friend class UploadWriter;

  Result<std::shared_ptr<UploadWriter::State>> AcquireUpload(const std::string& id);
  void ReleaseUpload(const std::string& id);
  void ForgetUpload(const std::string& id);
  std::vector<meta::MetadataStore::PullRecord> TakePendingPulls();
  Status RemoveUploadBlocking(const std::string& id);
  // Moves an archived blob back to the standard location and clears its archived flag.
  Status RestoreBlobBlocking(const std::string& digest);
  // Per-digest lock striping: publishing, mounting and collecting one digest exclude each
  // other (held only inside blocking sections, never across co_await).
  std::mutex& DigestLock(std::string_view digest);
  // kNameUnknown when the repository is missing, else kManifestUnknown for `reference`.
  Error ManifestNotFoundBlocking(const std::string& repo, const std::string& reference);

  // The key id encrypting `repo` ("" for plaintext or unknown repositories), cached: a
  // repository's key never changes while it exists.
  Result<std::string> RepoKeyBlocking(const std::string& repo);
  void ForgetRepoKey(const std::string& repo);
  storage::BlobStore& StoreFor(const std::string& key_id);
  // How often an upload session's activity time is renewed: upload_ttl / 8, at least 1 s.
  int64_t UploadTouchInterval() const {
    return std::max<int64_t>(1, options_.upload_ttl_seconds / 8);
  }
  // EnsureRepositoryForPush on the blocking pool; returns the repository's record.
  Result<meta::RepositoryRecord> EnsureRepositoryBlocking(const std::string& repo, int64_t now);
  // Fills record.key_id for a repository about to be created.
  Status ResolveKeyBlocking(meta::RepositoryRecord& record);
  // Values kept in the metadata store for encrypted repositories — manifest bodies, saved
  // upload digest states (which hold up to a block of upload bytes) — are sealed under a fresh
  // data key of the repository's key, bound to `context`, repo and name. Plaintext for
  // repositories without a key.
  static constexpr std::string_view kManifestContext = "berth:manifest";
  static constexpr std::string_view kUploadStateContext = "berth:upload-state";
  Result<std::string> SealBlocking(const std::string& key_id, std::string_view context,
                                   const std::string& repo, const std::string& name,
                                   const std::string& value);
  Result<std::string> OpenSealedBlocking(const std::string& key_id, std::string_view context,
                                         const std::string& repo, const std::string& name,
                                         std::string stored);

  meta::MetadataStore& meta_;
  storage::BlobStore& blobs_;
  EncryptionHooks encryption_;
  std::mutex keys_mu_;
  std::unordered_map<std::string, std::string> repo_keys_;  // guarded by keys_mu_
  boost::asio::thread_pool& pool_;
  const Clock& clock_;
  RegistryOptions options_;

  // In-memory state of sessions being written: the running hash survives between requests.
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<UploadWriter::State>> uploads_;  // guarded by mu_
  // Pulls not yet written: (repo + '\n' + digest) → unix seconds.
  std::mutex pulls_mu_;
  std::unordered_map<std::string, int64_t> pending_pulls_;  // guarded by pulls_mu_
  std::array<std::mutex, 64> digest_locks_;
};

}  // namespace berth::registry
