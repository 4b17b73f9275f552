#include "registry/registry.h"

#include <algorithm>

#include <boost/json.hpp>

#include "base/blocking.h"
#include "base/crypto.h"
#include "base/strings.h"
#include "registry/manifest.h"
#include "registry/names.h"

namespace berth::registry {
namespace {

namespace asio = boost::asio;

// Parses a digest from the wire; unsupported algorithms are reported as invalid digests
// (distribution-spec: DIGEST_INVALID covers both).
Result<Digest> ParseDigest(std::string_view text) {
  auto d = Digest::Parse(text);
  if (!d.ok()) {
    return MakeError(Errc::kDigestInvalid, d.error().message, std::string(text.substr(0, 256)));
  }
  return d;
}

Error MapUploadNotFound(const Error& e, const std::string& id) {
  if (e.code == Errc::kNotFound) {
    return MakeError(Errc::kUploadUnknown, "upload unknown", id);
  }
  return e;
}

bool IsDigestReference(std::string_view reference) {
  return reference.find(':') != std::string_view::npos;
}

// A manifest reference is a digest (it has a ':') or a tag.
Status ValidateReference(std::string_view reference) {
  if (IsDigestReference(reference)) {
    auto d = ParseDigest(reference);
    if (!d.ok()) {
      return std::move(d).error();
    }
    return Ok{};
  }
  return ValidateTag(reference);
}

constexpr size_t kRehashChunk = 1 << 20;

// Hashes an upload's bytes from storage: rebuilds state lost on restart, or computes a digest
// with another algorithm than the running one.
Result<Hasher> HashStored(storage::BlobWriter& w, DigestAlgorithm algorithm) {
  Hasher h(algorithm);
  if (w.size() == 0) {
    return h;  // a new upload: nothing to read (and no buffer to allocate)
  }
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(kRehashChunk, w.size())));
  uint64_t off = 0;
  while (off < w.size()) {
    BERTH_ASSIGN_OR_RETURN(size_t n, w.ReadAt(off, buf));
    if (n == 0) {
      return MakeError(Errc::kCorrupt, "upload shorter than recorded");
    }
    h.Update(std::span<const char>(buf.data(), n));
    off += n;
  }
  return h;
}

}  // namespace

// --- UploadWriter -----------------------------------------------------------------------------

struct UploadWriter::State {
  std::string id;
  std::string repo;
  std::unique_ptr<storage::BlobWriter> writer;  // opened lazily on the blocking pool
  std::optional<Hasher> hasher;
  // The digest state this process last saved or loaded (as stored): when the stored one
  // differs, another node has appended since, and the in-memory writer is stale.
  std::string saved_state;
  bool busy = false;
};

UploadWriter::UploadWriter(Registry& registry, std::shared_ptr<State> state)
    : registry_(registry), state_(std::move(state)) {}

UploadWriter::~UploadWriter() { registry_.ReleaseUpload(state_->id); }

uint64_t UploadWriter::size() const { return state_->writer ? state_->writer->size() : 0; }

namespace {
// Where an upload's saved digest state lives (the settings table, shared by every node).
std::string HashStateKey(const std::string& upload_id) { return "upload.hash/" + upload_id; }
}  // namespace

asio::awaitable<Status> UploadWriter::Checkpoint() {
  State* st = state_.get();
  Registry* reg = &registry_;
  co_return co_await RunBlocking(registry_.pool_, [st, reg]() -> Status {
    // The chunk is acknowledged only once the store holds it (drivers may buffer).
    Status flushed = st->writer->Flush();
    if (!flushed.ok()) {
      // What this writer buffered is lost: the next request starts over from the stores.
      st->writer.reset();
      st->hasher.reset();
      st->saved_state.clear();
      return flushed;
    }
    if (!st->hasher || st->hasher->bytes() != st->writer->size()) {
      return Ok{};
    }
    // Best effort: without a saved state the next chunk re-reads the upload.
    (void)[&]()->Status {
      BERTH_ASSIGN_OR_RETURN(std::string key, reg->RepoKeyBlocking(st->repo));
      BERTH_ASSIGN_OR_RETURN(std::string sealed,
                             reg->SealBlocking(key, Registry::kUploadStateContext, st->repo, st->id,
                                               st->hasher->SaveState()));
      std::string encoded = Base64Encode(sealed);
      BERTH_TRY(reg->meta_.PutSetting(HashStateKey(st->id), encoded));
      st->saved_state = std::move(encoded);
      return Ok{};
    }
    ();
    return Ok{};
  });
}

asio::awaitable<Status> UploadWriter::Append(std::span<const char> bytes) {
  State* st = state_.get();
  if (st->writer->size() + bytes.size() > registry_.options_.max_blob_bytes) {
    co_return MakeError(Errc::kTooLarge, "blob exceeds the size limit of " +
                                             std::to_string(registry_.options_.max_blob_bytes) +
                                             " bytes");
  }
  co_return co_await RunBlocking(registry_.pool_, [st, bytes]() -> Status {
    uint64_t before = st->writer->size();
    Status s = st->writer->Append(bytes);
    st->hasher->Update(bytes.first(static_cast<size_t>(st->writer->size() - before)));
    return s;
  });
}

// --- Registry ---------------------------------------------------------------------------------

Registry::Registry(meta::MetadataStore& meta, storage::BlobStore& blobs, asio::thread_pool& pool,
                   const Clock& clock, RegistryOptions options)
    : meta_(meta), blobs_(blobs), pool_(pool), clock_(clock), options_(options) {}

Registry::~Registry() = default;

Task<BlobInfo> Registry::StatBlob(std::string repo, std::string digest) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  BERTH_CO_ASSIGN_OR_RETURN(Digest d, ParseDigest(digest));
  auto size = co_await RunBlocking(pool_, [&]() -> Result<uint64_t> {
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    return meta_.GetBlobLink(repo, StoredDigest(key, d).str());
  });
  if (!size.ok()) {
    if (size.error().code == Errc::kNotFound) {
      co_return MakeError(Errc::kBlobUnknown, "blob unknown to registry", d.str());
    }
    co_return std::move(size).error();
  }
  co_return BlobInfo{d, *size};
}

Task<OpenBlob> Registry::OpenBlobForRead(std::string repo, std::string digest) {
  BERTH_CO_ASSIGN_OR_RETURN(BlobInfo info, co_await StatBlob(repo, digest));
  auto reader = co_await RunBlocking(pool_, [&]() -> Result<std::unique_ptr<storage::BlobReader>> {
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    return StoreFor(key).Open(StoredDigest(key, info.digest));
  });
  if (!reader.ok()) {
    if (reader.error().code == Errc::kNotFound) {
      co_return MakeError(Errc::kBlobUnknown, "blob content missing from storage",
                          info.digest.str());
    }
    co_return std::move(reader).error();
  }
  co_return OpenBlob{info.digest, std::move(*reader)};
}

Task<std::string> Registry::BlobDirectUrl(std::string repo, std::string digest) {
  if (options_.direct_url_ttl_seconds <= 0) {
    co_return MakeError(Errc::kUnsupported, "direct blob URLs are disabled");
  }
  BERTH_CO_ASSIGN_OR_RETURN(BlobInfo info, co_await StatBlob(repo, digest));
  int64_t now = clock_.NowSeconds();
  co_return co_await RunBlocking(pool_, [&]() -> Result<std::string> {
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    return StoreFor(key).PresignedGetUrl(StoredDigest(key, info.digest), now,
                                         options_.direct_url_ttl_seconds);
  });
}

Task<size_t> Registry::ReadBlob(std::shared_ptr<storage::BlobReader> reader, uint64_t offset,
                                std::span<char> out) {
  co_return co_await RunBlocking(pool_, [&] { return reader->ReadAt(offset, out); });
}

Task<Ok> Registry::DeleteBlob(std::string repo, std::string digest) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  BERTH_CO_ASSIGN_OR_RETURN(Digest d, ParseDigest(digest));
  Status s = co_await RunBlocking(pool_, [&]() -> Status {
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    return meta_.DeleteBlobLink(repo, StoredDigest(key, d).str());
  });
  if (!s.ok()) {
    if (s.error().code == Errc::kNotFound) {
      co_return MakeError(Errc::kBlobUnknown, "blob unknown to repository", d.str());
    }
    co_return std::move(s).error();
  }
  co_return Ok{};
}

Task<UploadStatus> Registry::StartUpload(std::string repo) {
  BERTH_CO_TRY(co_await EnsureRepositoryForPush(repo));
  std::string id = RandomUuid();
  int64_t now = clock_.NowSeconds();
  Status s = co_await RunBlocking(pool_, [&]() -> Status {
    // Record the session first: storage debris without a record is purged, never served.
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    BERTH_TRY(meta_.CreateUpload(meta::UploadRecord{id, repo, now, now}));
    Status created = StoreFor(key).CreateUpload(id);
    if (!created.ok()) {
      (void)meta_.DeleteUpload(id);
    }
    return created;
  });
  BERTH_CO_TRY(s);
  co_return UploadStatus{id, repo, 0};
}

Task<UploadStatus> Registry::GetUpload(std::string repo, std::string id) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  auto rec = co_await RunBlocking(pool_, [&] { return meta_.GetUpload(id); });
  if (!rec.ok()) {
    co_return MapUploadNotFound(rec.error(), id);
  }
  if (rec->repository != repo) {
    co_return MakeError(Errc::kUploadUnknown, "upload unknown to repository", id);
  }
  // From the store, not from a writer this process holds: another node may have appended.
  auto size = co_await RunBlocking(pool_, [&]() -> Result<uint64_t> {
    BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
    BERTH_ASSIGN_OR_RETURN(auto w, StoreFor(key).OpenUpload(id));
    return w->size();
  });
  if (!size.ok()) {
    co_return MapUploadNotFound(size.error(), id);
  }
  co_return UploadStatus{id, repo, *size};
}

Result<std::shared_ptr<UploadWriter::State>> Registry::AcquireUpload(const std::string& id) {
  std::lock_guard lock(mu_);
  auto& slot = uploads_[id];
  if (!slot) {
    slot = std::make_shared<UploadWriter::State>();
    slot->id = id;
  }
  if (slot->busy) {
    return MakeError(Errc::kUploadInvalid,
                     "upload is in use by another request; retry when it completes", id);
  }
  slot->busy = true;
  return slot;
}

void Registry::ReleaseUpload(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = uploads_.find(id);
  if (it != uploads_.end()) {
    it->second->busy = false;
  }
}

void Registry::ForgetUpload(const std::string& id) {
  std::lock_guard lock(mu_);
  uploads_.erase(id);
}

Task<std::unique_ptr<UploadWriter>> Registry::OpenUploadWriter(
    std::string repo, std::string id, std::optional<uint64_t> expected_offset) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  int64_t now = clock_.NowSeconds();
  auto rec = co_await RunBlocking(pool_, [&]() -> Result<meta::UploadRecord> {
    BERTH_ASSIGN_OR_RETURN(auto r, meta_.GetUpload(id));
    // The idle time only decides when an abandoned session is purged, so it is renewed at most
    // every UploadTouchInterval: most requests of a push then write no metadata here.
    if (now - r.updated_at >= UploadTouchInterval()) {
      BERTH_TRY(meta_.TouchUpload(id, now));
    }
    return r;
  });
  if (!rec.ok()) {
    co_return MapUploadNotFound(rec.error(), id);
  }
  if (rec->repository != repo) {
    co_return MakeError(Errc::kUploadUnknown, "upload unknown to repository", id);
  }
  BERTH_CO_ASSIGN_OR_RETURN(auto state, AcquireUpload(id));
  // From here the writer owns the busy flag and releases it on every path.
  auto writer = std::unique_ptr<UploadWriter>(new UploadWriter(*this, state));
  state->repo = repo;
  if (state->writer) {
    // Another node may have taken chunks of this session since this one did (its saved state
    // differs from ours): start over from the shared stores.
    UploadWriter::State* st = state.get();
    auto stored =
        co_await RunBlocking(pool_, [this, st] { return meta_.GetSetting(HashStateKey(st->id)); });
    if (stored.ok() ? *stored != state->saved_state : !state->saved_state.empty()) {
      state->writer.reset();
      state->hasher.reset();
      state->saved_state.clear();
    }
  }
  if (!state->writer) {
    UploadWriter::State* st = state.get();
    Status opened = co_await RunBlocking(pool_, [this, st]() -> Status {
      BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(st->repo));
      BERTH_ASSIGN_OR_RETURN(st->writer, StoreFor(key).OpenUpload(st->id));
      // Resume from the state the last request saved; re-read the upload only without one.
      auto saved = meta_.GetSetting(HashStateKey(st->id));
      if (saved.ok()) {
        auto raw = Base64Decode(*saved);
        Result<std::string> plain = raw.ok()
                                        ? OpenSealedBlocking(key, kUploadStateContext, st->repo,
                                                             st->id, std::move(raw).value())
                                        : Result<std::string>(std::move(raw).error());
        if (plain.ok()) {
          auto h = Hasher::RestoreState(*plain, DigestAlgorithm::kSha256, st->writer->size());
          if (h.ok()) {
            st->hasher.emplace(std::move(h).value());
            st->saved_state = *saved;
            return Ok{};
          }
        }
      }
      BERTH_ASSIGN_OR_RETURN(Hasher h, HashStored(*st->writer, DigestAlgorithm::kSha256));
      st->hasher.emplace(std::move(h));
      return Ok{};
    });
    if (!opened.ok()) {
      state->writer.reset();
      co_return MapUploadNotFound(opened.error(), id);
    }
  }
  if (expected_offset && *expected_offset != state->writer->size()) {
    co_return MakeError(Errc::kRangeInvalid,
                        "chunk starts at " + std::to_string(*expected_offset) +
                            " but the upload has " + std::to_string(state->writer->size()) +
                            " bytes",
                        id);
  }
  co_return writer;
}

Status Registry::RemoveUploadBlocking(const std::string& id) {
  (void)meta_.DeleteSetting(HashStateKey(id));
  Status s = blobs_.DeleteUpload(id);
  if (!s.ok() && s.error().code != Errc::kNotFound) {
    return s;
  }
  Status m = meta_.DeleteUpload(id);
  if (!m.ok() && m.error().code != Errc::kNotFound) {
    return m;
  }
  return Ok{};
}

Task<BlobInfo> Registry::CompleteUpload(std::string repo, std::string id, std::string digest,
                                        std::unique_ptr<UploadWriter> writer) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  auto parsed = ParseDigest(digest);
  if (!parsed.ok()) {
    co_return std::move(parsed).error();
  }
  Digest want = *parsed;
  if (!writer) {
    BERTH_CO_ASSIGN_OR_RETURN(writer, co_await OpenUploadWriter(repo, id, std::nullopt));
  }
  UploadWriter::State* st = writer->state_.get();
  uint64_t size = st->writer->size();
  auto result = co_await RunBlocking(pool_, [&]() -> Result<BlobInfo> {
    BERTH_TRY(st->writer->Flush());  // the last request's bytes, which Commit publishes
    Digest got = st->hasher->Finish();
    if (want.algorithm() != got.algorithm()) {
      BERTH_ASSIGN_OR_RETURN(Hasher h, HashStored(*st->writer, want.algorithm()));
      got = h.Finish();
    }
    if (got != want) {
      BERTH_TRY(RemoveUploadBlocking(id));
      return MakeError(Errc::kDigestInvalid,
                       "digest does not match uploaded content (computed " + got.str() + ")",
                       want.str());
    }
    {
      BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
      Digest stored = StoredDigest(key, want);
      // Excludes a garbage collection of the same digest between publishing and linking.
      std::lock_guard lock(DigestLock(stored.str()));
      BERTH_TRY(StoreFor(key).Commit(id, stored));
      // Timed after the (possibly long) publication: GC's grace period counts from here.
      const int64_t now = clock_.NowSeconds();
      auto archived = meta_.IsBlobArchived(stored.str());
      if (archived.ok() && *archived) {
        BERTH_TRY(RestoreBlobBlocking(stored.str()));  // pushed again: standard copy wins
      }
      // One transaction links the blob and ends the session.
      BERTH_TRY(meta_.LinkUploadedBlob(repo, stored.str(), size, now, id, HashStateKey(id)));
    }
    return BlobInfo{want, size};
  });
  if (result.ok() || result.error().code == Errc::kDigestInvalid) {
    writer.reset();
    ForgetUpload(id);
  }
  co_return result;
}

Task<Ok> Registry::CancelUpload(std::string repo, std::string id) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  BERTH_CO_ASSIGN_OR_RETURN(UploadStatus status, co_await GetUpload(repo, id));
  BERTH_CO_ASSIGN_OR_RETURN(auto state, AcquireUpload(id));
  (void)status;
  auto writer = std::unique_ptr<UploadWriter>(new UploadWriter(*this, state));
  Status s = co_await RunBlocking(pool_, [&] {
    state->writer.reset();
    return RemoveUploadBlocking(id);
  });
  writer.reset();
  ForgetUpload(id);
  BERTH_CO_TRY(s);
  co_return Ok{};
}

Task<MountResult> Registry::MountOrStart(std::string repo, std::string digest, std::string from) {
  BERTH_CO_TRY(co_await EnsureRepositoryForPush(repo));
  auto d = ParseDigest(digest);
  if (d.ok() && (from.empty() || IsValidRepositoryName(from))) {
    int64_t now = clock_.NowSeconds();
    auto size = co_await RunBlocking(pool_, [&]() -> Result<uint64_t> {
      BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
      Digest stored = StoredDigest(key, *d);
      std::lock_guard lock(DigestLock(stored.str()));
      uint64_t n = 0;
      if (from.empty()) {
        BERTH_ASSIGN_OR_RETURN(n, meta_.GetBlob(stored.str()));
      } else {
        // The source must hold the blob. Under another key its copy cannot be linked (it is
        // sealed under that key): mount this key's copy if one exists, else upload.
        BERTH_ASSIGN_OR_RETURN(std::string from_key, RepoKeyBlocking(from));
        BERTH_ASSIGN_OR_RETURN(n, meta_.GetBlobLink(from, StoredDigest(from_key, *d).str()));
        if (from_key != key) {
          BERTH_ASSIGN_OR_RETURN(n, meta_.GetBlob(stored.str()));
        }
      }
      // The index says the blob exists; make sure its bytes really do before linking.
      BERTH_TRY(blobs_.Stat(stored));
      BERTH_TRY(meta_.PutBlobLink(repo, stored.str(), n, now));
      return n;
    });
    if (size.ok()) {
      co_return MountResult{true, BlobInfo{*d, *size}, {}};
    }
    if (size.error().code != Errc::kNotFound) {
      co_return std::move(size).error();
    }
  }
  // Not mountable (or a malformed mount request): fall back to a normal upload session, as
  // the spec prescribes.
  BERTH_CO_ASSIGN_OR_RETURN(UploadStatus up, co_await StartUpload(repo));
  co_return MountResult{false, BlobInfo{Digest::Sha256Of(""), 0}, std::move(up)};
}

Task<uint64_t> Registry::PurgeExpiredUploads(bool startup) {
  int64_t now = clock_.NowSeconds();
  // A session's recorded activity may lag its last request by up to UploadTouchInterval: none
  // is purged before it has been idle for the whole upload_ttl.
  int64_t cutoff = now - options_.upload_ttl_seconds - UploadTouchInterval();
  auto expired = co_await RunBlocking(pool_, [&] { return meta_.ListUploadsIdleSince(cutoff); });
  BERTH_CO_TRY(expired);
  uint64_t removed = 0;
  for (const auto& rec : *expired) {
    auto state = AcquireUpload(rec.id);
    if (!state.ok()) {
      continue;  // in use right now: not idle after all
    }
    auto writer = std::unique_ptr<UploadWriter>(new UploadWriter(*this, *state));
    UploadWriter::State* st = state->get();
    Status s = co_await RunBlocking(pool_, [&] {
      st->writer.reset();
      return RemoveUploadBlocking(rec.id);
    });
    writer.reset();
    ForgetUpload(rec.id);
    if (s.ok()) {
      ++removed;
    }
  }
  // Storage debris: upload data with no session record (a crash between steps, or a driver's
  // interrupted temp write). Give in-flight creations a grace minute.
  Status debris = co_await RunBlocking(pool_, [&]() -> Status {
    BERTH_ASSIGN_OR_RETURN(auto files, blobs_.ListUploads());
    for (const auto& [name, stat] : files) {
      if (!startup && stat.modified_unix > now - 60) {
        continue;
      }
      auto rec = meta_.GetUpload(name);
      if (!rec.ok() && rec.error().code == Errc::kNotFound) {
        (void)blobs_.DeleteUpload(name);
      }
    }
    return Ok{};
  });
  BERTH_CO_TRY(debris);
  co_return removed;
}

Task<PutManifestResult> Registry::PutManifest(std::string repo, std::string reference,
                                              std::string content_type, std::string body) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  std::string tag;
  std::optional<Digest> by_digest;
  if (IsDigestReference(reference)) {
    BERTH_CO_ASSIGN_OR_RETURN(by_digest, ParseDigest(reference));
  } else {
    BERTH_CO_TRY(ValidateTag(reference));
    tag = reference;
  }
  if (body.size() > kMaxManifestBytes) {
    co_return MakeError(Errc::kTooLarge, "manifest exceeds the 4 MiB limit");
  }
  int64_t now = clock_.NowSeconds();
  auto result = co_await RunBlocking(pool_, [&]() -> Result<PutManifestResult> {
    // One hop to the blocking pool for the whole PUT: the repository (created on push from a
    // template if need be), then the metadata transaction.
    BERTH_ASSIGN_OR_RETURN(meta::RepositoryRecord repo_rec, EnsureRepositoryBlocking(repo, now));
    BERTH_ASSIGN_OR_RETURN(ParsedManifest parsed, ParseManifest(content_type, body));
    const std::string& key = repo_rec.key_id;
    Hasher h(by_digest ? by_digest->algorithm() : DigestAlgorithm::kSha256);
    h.Update(std::string_view(body));
    Digest digest = h.Finish();
    if (by_digest && *by_digest != digest) {
      return MakeError(Errc::kDigestInvalid,
                       "manifest digest " + digest.str() + " does not match the reference",
                       by_digest->str());
    }
    meta::ManifestRecord rec;
    rec.digest = digest.str();
    rec.media_type = parsed.media_type;
    rec.artifact_type = parsed.artifact_type;
    rec.subject = parsed.subject;
    // Annotations are indexed only where the referrers API lists them (manifests with a
    // subject); in encrypted repositories nothing else of a manifest is kept in plaintext.
    if (key.empty() || !parsed.subject.empty()) {
      rec.annotations_json = parsed.annotations_json;
    }
    rec.size = body.size();
    rec.pushed_at = now;
    BERTH_ASSIGN_OR_RETURN(rec.body, SealBlocking(key, kManifestContext, repo, rec.digest, body));
    // Blobs are indexed under their stored names (per key), child manifests by digest.
    std::vector<std::string> stored_blobs;
    for (const Descriptor& d : parsed.blobs) {
      BERTH_ASSIGN_OR_RETURN(Digest bd, Digest::Parse(d.digest));
      stored_blobs.push_back(StoredDigest(key, bd).str());
    }
    std::vector<meta::ManifestRef> refs;
    for (const std::string& b : stored_blobs) {
      refs.push_back({b, false});
    }
    for (const Descriptor& d : parsed.manifests) {
      refs.push_back({d.digest, true});
    }
    for (const Descriptor& d : parsed.blobs) {
      rec.image_size += d.size;
    }
    bool protect = !tag.empty() && IsTagImmutable(repo_rec, tag);
    // Blobs only archived images used live in the archive location: bring back what this
    // manifest needs before it becomes pullable (a re-push restores an archived image).
    for (const std::string& b : stored_blobs) {
      auto archived = meta_.IsBlobArchived(b);
      if (archived.ok() && *archived) {
        BERTH_TRY(RestoreBlobBlocking(b));
      }
    }
    Status put = meta_.PutManifest(repo, rec, refs, tag, protect, now);
    if (!put.ok() && put.error().code == Errc::kManifestBlobUnknown) {
      // The store names the blob by its stored name: tell the client the digest it sent.
      for (size_t i = 0; i < stored_blobs.size(); ++i) {
        if (put.error().detail == stored_blobs[i]) {
          return MakeError(Errc::kManifestBlobUnknown,
                           "blob unknown to repository: " + parsed.blobs[i].digest,
                           parsed.blobs[i].digest);
        }
      }
    }
    BERTH_TRY(put);
    return PutManifestResult{digest, parsed.subject};
  });
  co_return result;
}

Task<ManifestContent> Registry::GetManifest(std::string repo, std::string reference) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  bool by_digest = IsDigestReference(reference);
  BERTH_CO_TRY(ValidateReference(reference));
  auto rec = co_await RunBlocking(pool_, [&]() -> Result<meta::ManifestRecord> {
    auto r =
        by_digest ? meta_.GetManifest(repo, reference) : meta_.GetTaggedManifest(repo, reference);
    if (!r.ok() && r.error().code == Errc::kNotFound) {
      return ManifestNotFoundBlocking(repo, reference);
    }
    if (r.ok() && r->status == "ACTIVE") {
      BERTH_ASSIGN_OR_RETURN(std::string key, RepoKeyBlocking(repo));
      BERTH_ASSIGN_OR_RETURN(
          r->body, OpenSealedBlocking(key, kManifestContext, repo, r->digest, std::move(r->body)));
    }
    return r;
  });
  BERTH_CO_TRY(rec);
  if (rec->status != "ACTIVE") {
    co_return MakeError(Errc::kImageArchived,
                        "The requested image is in an inaccessible state (" + rec->status +
                            "). Please restore if needed",
                        reference);
  }
  BERTH_CO_ASSIGN_OR_RETURN(Digest d, Digest::Parse(rec->digest));
  co_return ManifestContent{d, std::move(rec->media_type), std::move(rec->subject),
                            std::make_shared<const std::string>(std::move(rec->body))};
}

Error Registry::ManifestNotFoundBlocking(const std::string& repo, const std::string& reference) {
  auto exists = meta_.RepositoryExists(repo);
  if (!exists.ok()) {
    return exists.error();
  }
  if (!*exists) {
    return MakeError(Errc::kNameUnknown, "repository name not known to registry", repo);
  }
  return MakeError(Errc::kManifestUnknown, "manifest unknown", reference);
}

Task<Ok> Registry::DeleteManifest(std::string repo, std::string reference) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  bool by_digest = IsDigestReference(reference);
  BERTH_CO_TRY(ValidateReference(reference));
  Status s = co_await RunBlocking(pool_, [&]() -> Status {
    Status r = by_digest ? meta_.DeleteManifest(repo, reference) : meta_.DeleteTag(repo, reference);
    if (!r.ok() && r.error().code == Errc::kNotFound) {
      return ManifestNotFoundBlocking(repo, reference);
    }
    return r;
  });
  BERTH_CO_TRY(s);
  co_return Ok{};
}

Task<Page> Registry::ListTags(std::string repo, std::string last, std::optional<uint32_t> n) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  uint32_t limit = n ? std::min(*n, options_.max_page_size) : options_.max_page_size;
  if (n && *n == 0) {
    // Still report an unknown repository.
    auto exists = co_await RunBlocking(pool_, [&] { return meta_.RepositoryExists(repo); });
    BERTH_CO_TRY(exists);
    if (!*exists) {
      co_return MakeError(Errc::kNameUnknown, "repository name not known to registry", repo);
    }
    co_return Page{};
  }
  auto tags = co_await RunBlocking(pool_, [&] { return meta_.ListTags(repo, last, limit + 1); });
  if (!tags.ok()) {
    if (tags.error().code == Errc::kNotFound) {
      co_return MakeError(Errc::kNameUnknown, "repository name not known to registry", repo);
    }
    co_return std::move(tags).error();
  }
  Page page{std::move(*tags), false};
  if (page.items.size() > limit) {
    page.items.resize(limit);
    page.more = true;
  }
  co_return page;
}

Task<Page> Registry::ListRepositories(std::string last, std::optional<uint32_t> n) {
  uint32_t limit = n ? std::min(*n, options_.max_page_size) : options_.max_page_size;
  if (limit == 0) {
    co_return Page{};
  }
  auto repos = co_await RunBlocking(pool_, [&] { return meta_.ListRepositories(last, limit + 1); });
  BERTH_CO_TRY(repos);
  Page page{std::move(*repos), false};
  if (page.items.size() > limit) {
    page.items.resize(limit);
    page.more = true;
  }
  co_return page;
}

Task<std::vector<Referrer>> Registry::ListReferrers(std::string repo, std::string digest,
                                                    std::string artifact_type) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  BERTH_CO_ASSIGN_OR_RETURN(Digest d, ParseDigest(digest));
  auto recs = co_await RunBlocking(pool_, [&] { return meta_.ListReferrers(repo, d.str()); });
  BERTH_CO_TRY(recs);
  std::vector<Referrer> out;
  for (auto& r : *recs) {
    if (!artifact_type.empty() && r.artifact_type != artifact_type) {
      continue;
    }
    out.push_back(Referrer{std::move(r.media_type), std::move(r.digest), r.size,
                           std::move(r.artifact_type), std::move(r.annotations_json)});
  }
  co_return out;
}

void Registry::RecordPull(const std::string& repo, const std::string& digest) {
  int64_t now = clock_.NowSeconds();
  std::lock_guard lock(pulls_mu_);
  pending_pulls_[repo + '\n' + digest] = now;
}

std::vector<meta::MetadataStore::PullRecord> Registry::TakePendingPulls() {
  std::vector<meta::MetadataStore::PullRecord> batch;
  std::lock_guard lock(pulls_mu_);
  for (const auto& [key, at] : pending_pulls_) {
    auto nl = key.find('\n');
    batch.push_back({key.substr(0, nl), key.substr(nl + 1), at});
  }
  pending_pulls_.clear();
  return batch;
}

Task<Ok> Registry::FlushPulls() {
  std::vector<meta::MetadataStore::PullRecord> batch = TakePendingPulls();
  if (batch.empty()) {
    co_return Ok{};
  }
  Status s = co_await RunBlocking(pool_, [&] { return meta_.RecordPulls(batch); });
  BERTH_CO_TRY(s);
  co_return Ok{};
}

Task<meta::StoreStats> Registry::Stats() {
  co_return co_await RunBlocking(pool_, [&] { return meta_.Stats(); });
}

}  // namespace berth::registry
