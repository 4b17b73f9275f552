// Encryption at rest inside the registry: which key a repository uses, the per-key storage
// names of its blobs, and sealed manifest bodies. (Blob bytes are encrypted by the store
// EncryptionHooks::store_for returns; see storage/crypto.)
#include <cstring>

#include "base/crypto.h"
#include "registry/registry.h"

namespace berth::registry {

namespace {

// Sealed value (manifest bodies, saved upload hash states): magic ‖ wrapped-key length
// (u32 LE) ‖ wrapped data key ‖ Seal(data key, value, aad = context ‖ repo ‖ name).
constexpr std::string_view kSealedMagic = "BRTHMAN1";

std::string SealAad(std::string_view context, const std::string& repo, const std::string& name) {
  std::string aad(context);
  aad += '\0';
  aad += repo;
  aad += '\0';
  aad += name;
  return aad;
}

}  // namespace

Digest Registry::StoredDigest(const std::string& key_id, const Digest& d) {
  if (key_id.empty()) {
    return d;
  }
  // Domain-separated, so names of different keys never collide with each other or with a
  // plaintext digest (whose preimage would have to start with this prefix).
  std::string in = "berth-key-domain/v1";
  in += '\0';
  in += key_id;
  in += '\0';
  in += d.str();
  return Digest::Sha256Of(in);
}

Result<std::string> Registry::RepoKeyBlocking(const std::string& repo) {
  {
    std::lock_guard lock(keys_mu_);
    auto it = repo_keys_.find(repo);
    if (it != repo_keys_.end()) {
      return it->second;
    }
  }
  auto rec = meta_.GetRepository(repo);
  if (!rec.ok()) {
    if (rec.error().code == Errc::kNotFound) {
      return std::string();  // nothing stored for it anyway; not cached
    }
    return std::move(rec).error();
  }
  std::lock_guard lock(keys_mu_);
  if (repo_keys_.size() > 100000) {
    repo_keys_.clear();
  }
  repo_keys_[repo] = rec->key_id;
  return rec->key_id;
}

void Registry::ForgetRepoKey(const std::string& repo) {
  std::lock_guard lock(keys_mu_);
  repo_keys_.erase(repo);
}

storage::BlobStore& Registry::StoreFor(const std::string& key_id) {
  if (key_id.empty() || !encryption_.store_for) {
    return blobs_;
  }
  return encryption_.store_for(key_id);
}

Status Registry::ResolveKeyBlocking(meta::RepositoryRecord& record) {
  record.key_id.clear();
  if (!encryption_.resolve_key) {
    return Ok{};
  }
  BERTH_ASSIGN_OR_RETURN(record.key_id, encryption_.resolve_key(record));
  return Ok{};
}

Result<std::string> Registry::SealBlocking(const std::string& key_id, std::string_view context,
                                           const std::string& repo, const std::string& name,
                                           const std::string& value) {
  if (key_id.empty() || encryption_.keys == nullptr) {
    return value;
  }
  BERTH_ASSIGN_OR_RETURN(kms::DataKey dk, encryption_.keys->GenerateDataKey(key_id, context));
  BERTH_ASSIGN_OR_RETURN(std::string sealed,
                         Seal(dk.plaintext, value, SealAad(context, repo, name)));
  std::string out(kSealedMagic);
  char len[4];
  uint32_t n = static_cast<uint32_t>(dk.wrapped.size());
  for (int i = 0; i < 4; ++i) {
    len[i] = static_cast<char>(n >> (8 * i));
  }
  out.append(len, 4);
  out += dk.wrapped;
  out += sealed;
  if (encryption_.key_cache) {
    encryption_.key_cache->Put(dk.wrapped, dk.plaintext);
  }
  return out;
}

Result<std::string> Registry::OpenSealedBlocking(const std::string& key_id,
                                                 std::string_view context, const std::string& repo,
                                                 const std::string& name, std::string stored) {
  if (key_id.empty()) {
    return stored;
  }
  if (encryption_.keys == nullptr) {
    return MakeError(Errc::kKeyUnavailable,
                     "the repository is encrypted but no key service is configured", repo);
  }
  if (stored.size() < kSealedMagic.size() + 4 ||
      std::string_view(stored).substr(0, kSealedMagic.size()) != kSealedMagic) {
    return MakeError(Errc::kCorrupt, "stored value is not sealed", name);
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<uint32_t>(static_cast<unsigned char>(stored[kSealedMagic.size() + i]))
         << (8 * i);
  }
  size_t off = kSealedMagic.size() + 4;
  if (stored.size() < off + n) {
    return MakeError(Errc::kCorrupt, "stored value is truncated", name);
  }
  std::string wrapped = stored.substr(off, n);
  kms::KeyService& keys = *encryption_.keys;
  BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, keys.Inspect(wrapped));
  BERTH_TRY(keys.CheckUsable(info.key_id));
  Secret dk = encryption_.key_cache ? encryption_.key_cache->Get(wrapped) : Secret();
  if (dk.empty()) {
    BERTH_ASSIGN_OR_RETURN(dk, keys.Decrypt(wrapped, context));
    if (encryption_.key_cache) {
      encryption_.key_cache->Put(wrapped, dk);
    }
  }
  auto value = Unseal(dk, std::string_view(stored).substr(off + n), SealAad(context, repo, name));
  if (!value.ok()) {
    return MakeError(Errc::kCorrupt, "stored value failed authentication", name);
  }
  return std::string(value->reveal());
}

}  // namespace berth::registry
