#include "kms/builtin_key_service.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <boost/json.hpp>

#include "base/crypto.h"

namespace berth::kms {
namespace json = boost::json;

namespace {

constexpr std::string_view kKeyPrefix = "kms.key/";
constexpr std::string_view kMaterialPrefix = "kms.material/";
constexpr std::string_view kAliasPrefix = "kms.alias/";
constexpr std::string_view kSealPurpose = "berth kms key material v1";
constexpr std::string_view kMagic = "BK\x01";
constexpr size_t kDataKeyBytes = 32;
constexpr size_t kMaxDescription = 8192;
constexpr size_t kMaxAlias = 256;
constexpr int64_t kDaySeconds = 86400;

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A lowercase 8-4-4-4-12 UUID, as KMS key ids are.
bool IsKeyId(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) {
      return false;
    }
  }
  return true;
}

// A random (version 4) UUID.
std::string NewKeyId() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string VersionSuffix(uint32_t version) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%010u", version);
  return buf;
}

std::string MaterialKey(std::string_view key_id, uint32_t version) {
  return std::string(kMaterialPrefix) + std::string(key_id) + "/" + VersionSuffix(version);
}

std::string MaterialAad(std::string_view key_id, uint32_t version) {
  return std::string(key_id) + "/" + std::to_string(version);
}

std::optional<KeyState> ParseState(std::string_view s) {
  for (KeyState k : {KeyState::kEnabled, KeyState::kDisabled, KeyState::kPendingDeletion}) {
    if (KeyStateName(k) == s) {
      return k;
    }
  }
  return std::nullopt;
}

const json::object* ParseObject(std::string_view text, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(text, ec);
  return ec ? nullptr : holder.if_object();
}

std::string StringField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

int64_t IntField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_int64()) {
    return v->get_int64();
  }
  if (v->is_uint64()) {
    return static_cast<int64_t>(v->get_uint64());
  }
  return 0;
}

// The parts of a wrapped data key (see the header for the layout).
struct Wrapped {
  std::string_view header;  // magic ‖ id length ‖ id ‖ version: part of the AAD
  std::string key_id;
  uint32_t version = 0;
  std::string_view sealed;
};

Result<Wrapped> ParseWrapped(std::string_view w) {
  auto corrupt = [] {
    return MakeError(Errc::kCorrupt, "the wrapped data key is malformed or not berth's");
  };
  if (w.size() < kMagic.size() + 1 || w.substr(0, kMagic.size()) != kMagic) {
    return corrupt();
  }
  size_t n = static_cast<unsigned char>(w[kMagic.size()]);
  size_t header = kMagic.size() + 1 + n + 4;
  if (w.size() <= header) {
    return corrupt();
  }
  Wrapped out;
  out.header = w.substr(0, header);
  out.key_id = std::string(w.substr(kMagic.size() + 1, n));
  if (!IsKeyId(out.key_id)) {
    return corrupt();
  }
  for (size_t i = 0; i < 4; ++i) {
    out.version = (out.version << 8) | static_cast<unsigned char>(w[kMagic.size() + 1 + n + i]);
  }
  if (out.version == 0) {
    return corrupt();
  }
  out.sealed = w.substr(header);
  return out;
}

std::string WrappedHeader(std::string_view key_id, uint32_t version) {
  std::string h(kMagic);
  h.push_back(static_cast<char>(key_id.size()));
  h += key_id;
  for (int shift = 24; shift >= 0; shift -= 8) {
    h.push_back(static_cast<char>((version >> shift) & 0xff));
  }
  return h;
}

std::string ManagedDescription(std::string_view alias) {
  if (alias == "alias/aws/ecr") {
    return "Default key that protects my ECR data when no other key is defined";
  }
  if (alias == "alias/berth/aes256") {
    return "berth service key for AES256 encryption at rest";
  }
  return "berth managed key for " + std::string(alias);
}

Error StateError(const std::string& arn, KeyState state) {
  return MakeError(
      Errc::kKeyUnavailable,
      arn + (state == KeyState::kDisabled ? " is disabled." : " is pending deletion."));
}

}  // namespace

std::string_view KeyStateName(KeyState s) {
  switch (s) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
  }
  return "Unknown";
}

bool IsValidAliasName(std::string_view alias) {
  constexpr std::string_view kPrefix = "alias/";
  if (alias.size() <= kPrefix.size() || alias.size() > kMaxAlias ||
      alias.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  for (char c : alias.substr(kPrefix.size())) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool IsReservedAliasName(std::string_view alias) {
  return alias.substr(0, 10) == "alias/aws/" || alias.substr(0, 12) == "alias/berth/";
}

struct BuiltinKeyService::Version {
  int64_t created_at = 0;
  std::string sealed;  // raw Seal output (base64 only in the store)
};

struct BuiltinKeyService::Loaded {
  int64_t loaded_at = 0;  // clock millis when read from the store
  std::string id;
  std::string description;
  KeyState state = KeyState::kEnabled;
  bool managed = false;
  int64_t created_at = 0;
  int64_t deletion_date = 0;
  std::map<uint32_t, Version> versions;  // never empty
  uint32_t current() const { return versions.rbegin()->first; }
};

struct BuiltinKeyService::Ref {
  bool alias = false;
  std::string name;  // key id or alias name
};

BuiltinKeyService::BuiltinKeyService(meta::MetadataStore& meta, const Secret& master_key,
                                     const Clock& clock, std::string region, std::string account_id,
                                     BuiltinKeyServiceOptions options)
    : meta_(meta),
      clock_(clock),
      sealing_key_(DeriveKey(master_key, kSealPurpose)),
      region_(std::move(region)),
      account_id_(std::move(account_id)),
      options_(std::move(options)) {}

BuiltinKeyService::~BuiltinKeyService() = default;

std::string BuiltinKeyService::KeyArn(std::string_view key_id) const {
  return "arn:aws:kms:" + region_ + ":" + account_id_ + ":key/" + std::string(key_id);
}

// --- references, loading and caching -------------------------------------------------------------

Result<BuiltinKeyService::Ref> BuiltinKeyService::ParseRef(std::string_view key) const {
  if (key.substr(0, 6) == "alias/") {
    return Ref{true, std::string(key)};
  }
  if (key.substr(0, 4) == "arn:") {
    std::string prefix = "arn:aws:kms:" + region_ + ":" + account_id_ + ":";
    if (key.substr(0, prefix.size()) != prefix) {
      return MakeError(Errc::kNotFound, "Invalid arn " + std::string(key) +
                                            ": not a KMS key or alias of account " + account_id_ +
                                            " in " + region_);
    }
    std::string_view rest = key.substr(prefix.size());
    if (rest.substr(0, 6) == "alias/") {
      return Ref{true, std::string(rest)};
    }
    if (rest.substr(0, 4) == "key/" && IsKeyId(rest.substr(4))) {
      return Ref{false, std::string(rest.substr(4))};
    }
    return MakeError(Errc::kInvalidArgument, "Invalid arn " + std::string(key));
  }
  if (IsKeyId(key)) {
    return Ref{false, std::string(key)};
  }
  return MakeError(Errc::kInvalidArgument,
                   "Invalid keyId '" + std::string(key) +
                       "': use a key id, key ARN, alias name (alias/...) or alias ARN");
}

Result<std::map<std::string, std::string>> BuiltinKeyService::Aliases(bool fresh) {
  int64_t now = clock_.NowMillis();
  if (!fresh) {
    std::lock_guard lock(mu_);
    if (aliases_loaded_at_ >= 0 && now - aliases_loaded_at_ < options_.cache_ttl_millis) {
      return aliases_;
    }
  }
  BERTH_ASSIGN_OR_RETURN(auto rows, meta_.ListSettings(std::string(kAliasPrefix)));
  std::map<std::string, std::string> out;
  for (auto& [k, v] : rows) {
    out.emplace(k.substr(kAliasPrefix.size()), std::move(v));
  }
  std::lock_guard lock(mu_);
  aliases_ = out;
  aliases_loaded_at_ = now;
  return out;
}

Result<std::string> BuiltinKeyService::ResolveId(std::string_view key) {
  BERTH_ASSIGN_OR_RETURN(Ref ref, ParseRef(key));
  if (!ref.alias) {
    return ref.name;
  }
  if (!IsValidAliasName(ref.name)) {
    return MakeError(Errc::kInvalidArgument, "Invalid alias name " + ref.name);
  }
  for (bool fresh : {false, true}) {
    BERTH_ASSIGN_OR_RETURN(auto aliases, Aliases(fresh));
    if (auto it = aliases.find(ref.name); it != aliases.end()) {
      return it->second;
    }
  }
  return MakeError(Errc::kNotFound, "Alias arn:aws:kms:" + region_ + ":" + account_id_ + ":" +
                                        ref.name + " is not found.");
}

Result<std::shared_ptr<const BuiltinKeyService::Loaded>> BuiltinKeyService::Load(
    const std::string& key_id, bool fresh) {
  int64_t now = clock_.NowMillis();
  if (!fresh) {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(key_id);
        it != keys_.end() && now - it->second->loaded_at < options_.cache_ttl_millis) {
      return it->second;
    }
  }
  auto text = meta_.GetSetting(std::string(kKeyPrefix) + key_id);
  if (!text.ok()) {
    if (text.error().code == Errc::kNotFound) {
      Invalidate(key_id);
      return MakeError(Errc::kNotFound, "Key '" + KeyArn(key_id) + "' does not exist");
    }
    return std::move(text).error();
  }
  auto corrupt = [&](std::string_view what) {
    return MakeError(Errc::kCorrupt, "KMS key record " + key_id + ": " + std::string(what));
  };
  json::value holder;
  const json::object* o = ParseObject(*text, holder);
  if (o == nullptr) {
    return corrupt("not a JSON object");
  }
  auto k = std::make_shared<Loaded>();
  k->loaded_at = now;
  k->id = key_id;
  k->description = StringField(*o, "Description");
  auto state = ParseState(StringField(*o, "KeyState"));
  if (!state) {
    return corrupt("unknown KeyState");
  }
  k->state = *state;
  const json::value* managed = o->if_contains("Managed");
  k->managed = managed != nullptr && managed->is_bool() && managed->get_bool();
  k->created_at = IntField(*o, "CreationDate");
  k->deletion_date = IntField(*o, "DeletionDate");
  BERTH_ASSIGN_OR_RETURN(auto rows,
                         meta_.ListSettings(std::string(kMaterialPrefix) + key_id + "/"));
  for (const auto& [name, value] : rows) {
    json::value vh;
    const json::object* v = ParseObject(value, vh);
    if (v == nullptr) {
      return corrupt("key material " + name + " is not a JSON object");
    }
    int64_t n = IntField(*v, "Version");
    auto sealed = Base64Decode(StringField(*v, "Sealed"));
    if (n <= 0 || n > UINT32_MAX || !sealed.ok() || name != MaterialKey(key_id, n)) {
      return corrupt("key material " + name + " is malformed");
    }
    k->versions[static_cast<uint32_t>(n)] = Version{IntField(*v, "CreationDate"), *sealed};
  }
  if (k->versions.empty()) {
    return corrupt("no key material");
  }
  std::shared_ptr<const Loaded> out = std::move(k);
  std::lock_guard lock(mu_);
  keys_[key_id] = out;
  return out;
}

Result<std::shared_ptr<const BuiltinKeyService::Loaded>> BuiltinKeyService::LoadRef(
    std::string_view key, bool fresh) {
  BERTH_ASSIGN_OR_RETURN(std::string id, ResolveId(key));
  return Load(id, fresh);
}

void BuiltinKeyService::Invalidate(const std::string& key_id) {
  std::lock_guard lock(mu_);
  keys_.erase(key_id);
  aliases_loaded_at_ = -1;
}

KeyMetadata BuiltinKeyService::ToMetadata(const Loaded& k,
                                          const std::map<std::string, std::string>& aliases) const {
  KeyMetadata m;
  m.key_id = k.id;
  m.arn = KeyArn(k.id);
  for (const auto& [name, id] : aliases) {
    if (id == k.id) {
      m.aliases.push_back(name);
    }
  }
  m.description = k.description;
  m.state = k.state;
  m.aws_managed = k.managed;
  m.created_at = k.created_at;
  m.deletion_date = k.state == KeyState::kPendingDeletion ? k.deletion_date : 0;
  m.current_version = k.current();
  m.rotated_at = k.versions.rbegin()->second.created_at;
  return m;
}

Result<KeyMetadata> BuiltinKeyService::Describe(const Loaded& k) {
  BERTH_ASSIGN_OR_RETURN(auto aliases, Aliases(false));
  return ToMetadata(k, aliases);
}

Status BuiltinKeyService::Usable(const Loaded& k) const {
  if (k.state != KeyState::kEnabled) {
    return StateError(KeyArn(k.id), k.state);
  }
  return Ok{};
}

// --- key material and wrapping
// ---------------------------------------------------------------------

Result<Secret> BuiltinKeyService::Material(const Loaded& k, uint32_t version) const {
  auto it = k.versions.find(version);
  if (it == k.versions.end()) {
    return MakeError(Errc::kCorrupt, "the wrapped data key names version " +
                                         std::to_string(version) + " of " + KeyArn(k.id) +
                                         ", which does not exist");
  }
  auto m = Unseal(sealing_key_, it->second.sealed, MaterialAad(k.id, version));
  if (!m.ok() || m->size() != kDataKeyBytes) {
    return MakeError(Errc::kCorrupt, "the key material of " + KeyArn(k.id) + " version " +
                                         std::to_string(version) +
                                         " does not open with this master key");
  }
  return std::move(m).value();
}

Result<std::string> BuiltinKeyService::Wrap(const Loaded& k, uint32_t version,
                                            const Secret& data_key,
                                            std::string_view context) const {
  BERTH_ASSIGN_OR_RETURN(Secret kek, Material(k, version));
  std::string header = WrappedHeader(k.id, version);
  BERTH_ASSIGN_OR_RETURN(std::string sealed,
                         Seal(kek, data_key.reveal(), header + std::string(context)));
  return header + sealed;
}

Status BuiltinKeyService::AddVersion(const std::string& key_id, uint32_t version) {
  std::string aad = MaterialAad(key_id, version);
  Secret material(RandomBytes(kDataKeyBytes));
  BERTH_ASSIGN_OR_RETURN(std::string sealed, Seal(sealing_key_, material.reveal(), aad));
  json::object v;
  v["Version"] = version;
  v["CreationDate"] = clock_.NowSeconds();
  v["Sealed"] = Base64Encode(sealed);
  // Never overwrite: material may already wrap data keys. Losing a race to a concurrent
  // rotation is fine; that rotation added the version.
  BERTH_ASSIGN_OR_RETURN(std::string stored, meta_.PutSettingIfAbsent(MaterialKey(key_id, version),
                                                                      json::serialize(v)));
  (void)stored;
  return Ok{};
}

Status BuiltinKeyService::StoreRecord(const Loaded& k) {
  json::object o;
  o["KeyId"] = k.id;
  o["Description"] = k.description;
  o["KeyState"] = KeyStateName(k.state);
  o["Managed"] = k.managed;
  o["CreationDate"] = k.created_at;
  o["DeletionDate"] = k.deletion_date;
  return meta_.PutSetting(std::string(kKeyPrefix) + k.id, json::serialize(o));
}

// --- audit
// -------------------------------------------------------------------------------------------

void BuiltinKeyService::Audit(std::string_view operation, const std::string& key_id,
                              const Error* error, std::string_view purpose) const {
  if (!options_.on_key_usage) {
    return;
  }
  KeyUsageEvent e;
  e.operation = std::string(operation);
  e.key_id = key_id;
  e.key_arn = key_id.empty() ? std::string() : KeyArn(key_id);
  e.ok = error == nullptr;
  if (error != nullptr) {
    e.error_code = error->code;
    e.error_message = error->message;
  }
  e.purpose = std::string(purpose);
  options_.on_key_usage(e);
}

template <class T>
T BuiltinKeyService::Audited(std::string_view operation, const std::string& key_id, T r,
                             std::string_view purpose) const {
  Audit(operation, key_id, r.ok() ? nullptr : &r.error(), purpose);
  return r;
}

// --- KeyService
// ----------------------------------------------------------------------------------------

Result<KeyMetadata> BuiltinKeyService::DescribeKey(std::string_view key) {
  BERTH_ASSIGN_OR_RETURN(auto k, LoadRef(key, false));
  return Describe(*k);
}

Result<DataKey> BuiltinKeyService::GenerateDataKey(std::string_view key, std::string_view context) {
  std::string id;
  auto run = [&]() -> Result<DataKey> {
    BERTH_ASSIGN_OR_RETURN(id, ResolveId(key));
    BERTH_ASSIGN_OR_RETURN(auto k, Load(id, false));
    BERTH_TRY(Usable(*k));
    DataKey dk;
    dk.plaintext = Secret(RandomBytes(kDataKeyBytes));
    BERTH_ASSIGN_OR_RETURN(dk.wrapped, Wrap(*k, k->current(), dk.plaintext, context));
    return dk;
  };
  auto r = run();
  return Audited("GenerateDataKey", id, std::move(r), context);
}

struct BuiltinKeyService::Opened {
  std::shared_ptr<const Loaded> key;
  uint32_t version = 0;
  Secret data_key;
};

Result<BuiltinKeyService::Opened> BuiltinKeyService::Unwrap(std::string_view wrapped,
                                                            std::string_view context,
                                                            std::string& key_id) {
  BERTH_ASSIGN_OR_RETURN(Wrapped w, ParseWrapped(wrapped));
  key_id = w.key_id;
  auto k = Load(key_id, false);
  if (!k.ok()) {
    if (k.error().code == Errc::kNotFound) {
      return MakeError(Errc::kKeyUnavailable, KeyArn(key_id) + " no longer exists.");
    }
    return std::move(k).error();
  }
  BERTH_TRY(Usable(**k));
  BERTH_ASSIGN_OR_RETURN(Secret kek, Material(**k, w.version));
  auto dk = Unseal(kek, w.sealed, std::string(w.header) + std::string(context));
  if (!dk.ok() || dk->size() != kDataKeyBytes) {
    return MakeError(Errc::kCorrupt,
                     "the wrapped data key does not open under " + KeyArn(key_id) +
                         " (tampered, or presented with another encryption context)");
  }
  return Opened{std::move(*k), w.version, std::move(dk).value()};
}

Result<Secret> BuiltinKeyService::Decrypt(std::string_view wrapped, std::string_view context) {
  std::string id;
  auto run = [&]() -> Result<Secret> {
    BERTH_ASSIGN_OR_RETURN(Opened o, Unwrap(wrapped, context, id));
    return std::move(o.data_key);
  };
  auto r = run();
  return Audited("Decrypt", id, std::move(r), context);
}

Result<std::string> BuiltinKeyService::ReEncrypt(std::string_view wrapped,
                                                 std::string_view context) {
  std::string id;
  auto run = [&]() -> Result<std::string> {
    BERTH_ASSIGN_OR_RETURN(Opened o, Unwrap(wrapped, context, id));
    if (o.version == o.key->current()) {
      return std::string(wrapped);
    }
    return Wrap(*o.key, o.key->current(), o.data_key, context);
  };
  auto r = run();
  return Audited("ReEncrypt", id, std::move(r), context);
}

Status BuiltinKeyService::CheckUsable(std::string_view key_id) {
  BERTH_ASSIGN_OR_RETURN(auto k, LoadRef(key_id, false));
  return Usable(*k);
}

Result<WrappedKeyInfo> BuiltinKeyService::Inspect(std::string_view wrapped) {
  BERTH_ASSIGN_OR_RETURN(Wrapped w, ParseWrapped(wrapped));
  return WrappedKeyInfo{std::move(w.key_id), w.version};
}

// --- administration
// ------------------------------------------------------------------------------------

Result<std::string> BuiltinKeyService::NewKey(std::string description, bool managed) {
  std::string id = NewKeyId();
  Loaded k;
  k.id = id;
  k.description = std::move(description);
  k.managed = managed;
  k.created_at = clock_.NowSeconds();
  // Material first: a record is never visible without it.
  BERTH_TRY(AddVersion(id, 1));
  BERTH_TRY(StoreRecord(k));
  return id;
}

Status BuiltinKeyService::DestroyKey(const std::string& key_id) {
  BERTH_ASSIGN_OR_RETURN(auto material,
                         meta_.ListSettings(std::string(kMaterialPrefix) + key_id + "/"));
  for (const auto& [name, value] : material) {
    auto s = meta_.DeleteSetting(name);
    if (!s.ok() && s.error().code != Errc::kNotFound) {
      return s;
    }
  }
  BERTH_ASSIGN_OR_RETURN(auto aliases, meta_.ListSettings(std::string(kAliasPrefix)));
  for (const auto& [name, target] : aliases) {
    if (target == key_id) {
      auto s = meta_.DeleteSetting(name);
      if (!s.ok() && s.error().code != Errc::kNotFound) {
        return s;
      }
    }
  }
  auto s = meta_.DeleteSetting(std::string(kKeyPrefix) + key_id);
  Invalidate(key_id);
  if (!s.ok() && s.error().code != Errc::kNotFound) {
    return s;
  }
  return Ok{};
}

Status BuiltinKeyService::CheckAliasForUser(std::string_view alias) const {
  if (!IsValidAliasName(alias)) {
    return MakeError(Errc::kInvalidArgument,
                     "Alias name '" + std::string(alias) +
                         "' is invalid: it must match alias/[a-zA-Z0-9/_-]+ (at most 256 "
                         "characters)");
  }
  if (IsReservedAliasName(alias)) {
    return MakeError(Errc::kInvalidArgument,
                     "Alias name '" + std::string(alias) +
                         "' is reserved: alias/aws/ and alias/berth/ name AWS managed keys");
  }
  return Ok{};
}

Result<KeyMetadata> BuiltinKeyService::CreateKey(std::string description,
                                                 std::optional<std::string> alias) {
  std::string id;
  auto run = [&]() -> Result<KeyMetadata> {
    if (description.size() > kMaxDescription) {
      return MakeError(Errc::kInvalidArgument, "Description is longer than 8192 characters");
    }
    if (alias) {
      BERTH_TRY(CheckAliasForUser(*alias));
      auto existing = meta_.GetSetting(std::string(kAliasPrefix) + *alias);
      if (existing.ok()) {
        return AliasExists(*alias);
      }
      if (existing.error().code != Errc::kNotFound) {
        return std::move(existing).error();
      }
    }
    BERTH_ASSIGN_OR_RETURN(id, NewKey(std::move(description), false));
    if (alias) {
      auto won = meta_.PutSettingIfAbsent(std::string(kAliasPrefix) + *alias, id);
      if (!won.ok() || *won != id) {
        // Lost a race for the alias: leave nothing behind.
        (void)DestroyKey(id);
        if (!won.ok()) {
          return std::move(won).error();
        }
        return AliasExists(*alias);
      }
    }
    Invalidate(id);
    BERTH_ASSIGN_OR_RETURN(auto k, Load(id, true));
    return Describe(*k);
  };
  auto r = run();
  return Audited("CreateKey", id, std::move(r), alias.value_or(""));
}

Error BuiltinKeyService::AliasExists(std::string_view alias) const {
  return MakeError(Errc::kAlreadyExists, "An alias with the name arn:aws:kms:" + region_ + ":" +
                                             account_id_ + ":" + std::string(alias) +
                                             " already exists");
}

Result<std::vector<KeyMetadata>> BuiltinKeyService::ListKeys() {
  BERTH_ASSIGN_OR_RETURN(auto rows, meta_.ListSettings(std::string(kKeyPrefix)));
  BERTH_ASSIGN_OR_RETURN(auto aliases, Aliases(true));
  std::vector<KeyMetadata> out;
  for (const auto& [name, value] : rows) {
    auto k = Load(name.substr(kKeyPrefix.size()), true);
    if (!k.ok()) {
      if (k.error().code == Errc::kNotFound) {
        continue;  // purged meanwhile
      }
      return std::move(k).error();
    }
    out.push_back(ToMetadata(**k, aliases));
  }
  return out;
}

Result<KeyMetadata> BuiltinKeyService::Change(std::string_view operation, std::string_view key,
                                              const std::function<Status(Loaded&)>& change) {
  std::string id;
  auto run = [&]() -> Result<KeyMetadata> {
    BERTH_ASSIGN_OR_RETURN(id, ResolveId(key));
    BERTH_ASSIGN_OR_RETURN(auto k, Load(id, true));
    Loaded copy = *k;
    BERTH_TRY(change(copy));
    BERTH_TRY(StoreRecord(copy));
    Invalidate(id);
    BERTH_ASSIGN_OR_RETURN(auto now, Load(id, true));
    return Describe(*now);
  };
  auto r = run();
  return Audited(operation, id, std::move(r), "");
}

Result<KeyMetadata> BuiltinKeyService::EnableKey(std::string_view key) {
  return Change("EnableKey", key, [&](Loaded& k) -> Status {
    if (k.state == KeyState::kPendingDeletion) {
      return MakeError(Errc::kPreconditionFailed, KeyArn(k.id) + " is pending deletion.");
    }
    k.state = KeyState::kEnabled;
    return Ok{};
  });
}

Result<KeyMetadata> BuiltinKeyService::DisableKey(std::string_view key) {
  return Change("DisableKey", key, [&](Loaded& k) -> Status {
    if (k.managed) {
      return MakeError(Errc::kInvalidArgument,
                       KeyArn(k.id) + " is an AWS managed key: it cannot be disabled.");
    }
    if (k.state == KeyState::kPendingDeletion) {
      return MakeError(Errc::kPreconditionFailed, KeyArn(k.id) + " is pending deletion.");
    }
    k.state = KeyState::kDisabled;
    return Ok{};
  });
}

Result<KeyMetadata> BuiltinKeyService::ScheduleKeyDeletion(std::string_view key,
                                                           int pending_window_days) {
  return Change("ScheduleKeyDeletion", key, [&](Loaded& k) -> Status {
    if (pending_window_days < 7 || pending_window_days > 30) {
      return MakeError(Errc::kInvalidArgument,
                       "PendingWindowInDays must be between 7 and 30, not " +
                           std::to_string(pending_window_days));
    }
    if (k.managed) {
      return MakeError(Errc::kInvalidArgument,
                       KeyArn(k.id) + " is an AWS managed key: it cannot be deleted.");
    }
    if (k.state == KeyState::kPendingDeletion) {
      return MakeError(Errc::kPreconditionFailed, KeyArn(k.id) + " is pending deletion.");
    }
    k.state = KeyState::kPendingDeletion;
    k.deletion_date = clock_.NowSeconds() + pending_window_days * kDaySeconds;
    return Ok{};
  });
}

Result<KeyMetadata> BuiltinKeyService::CancelKeyDeletion(std::string_view key) {
  return Change("CancelKeyDeletion", key, [&](Loaded& k) -> Status {
    if (k.state != KeyState::kPendingDeletion) {
      return MakeError(Errc::kPreconditionFailed, KeyArn(k.id) +
                                                      " is not pending deletion (it is " +
                                                      std::string(KeyStateName(k.state)) + ").");
    }
    k.state = KeyState::kDisabled;
    k.deletion_date = 0;
    return Ok{};
  });
}

Result<KeyMetadata> BuiltinKeyService::RotateKey(std::string_view key) {
  std::string id;
  auto run = [&]() -> Result<KeyMetadata> {
    BERTH_ASSIGN_OR_RETURN(id, ResolveId(key));
    BERTH_ASSIGN_OR_RETURN(auto k, Load(id, true));
    if (k->state != KeyState::kEnabled) {
      Error e = StateError(KeyArn(id), k->state);
      e.code = Errc::kPreconditionFailed;
      return e;
    }
    BERTH_TRY(AddVersion(id, k->current() + 1));
    Invalidate(id);
    BERTH_ASSIGN_OR_RETURN(auto now, Load(id, true));
    return Describe(*now);
  };
  auto r = run();
  return Audited("RotateKey", id, std::move(r), "");
}

Status BuiltinKeyService::CreateAlias(std::string_view alias, std::string_view target_key) {
  std::string id;
  auto run = [&]() -> Status {
    BERTH_TRY(CheckAliasForUser(alias));
    BERTH_ASSIGN_OR_RETURN(id, ResolveId(target_key));
    BERTH_ASSIGN_OR_RETURN(auto k, Load(id, true));
    if (k->managed) {
      return MakeError(Errc::kInvalidArgument,
                       KeyArn(id) + " is an AWS managed key: it cannot take customer aliases.");
    }
    if (k->state == KeyState::kPendingDeletion) {
      return MakeError(Errc::kPreconditionFailed, KeyArn(id) + " is pending deletion.");
    }
    std::string name = std::string(kAliasPrefix) + std::string(alias);
    auto existing = meta_.GetSetting(name);
    if (existing.ok()) {
      return AliasExists(alias);
    }
    if (existing.error().code != Errc::kNotFound) {
      return std::move(existing).error();
    }
    BERTH_ASSIGN_OR_RETURN(std::string won, meta_.PutSettingIfAbsent(name, id));
    Invalidate(id);
    if (won != id) {
      return AliasExists(alias);
    }
    return Ok{};
  };
  return Audited("CreateAlias", id, run(), alias);
}

Status BuiltinKeyService::DeleteAlias(std::string_view alias) {
  std::string id;
  auto run = [&]() -> Status {
    BERTH_TRY(CheckAliasForUser(alias));
    std::string name = std::string(kAliasPrefix) + std::string(alias);
    auto target = meta_.GetSetting(name);
    if (target.ok()) {
      id = *target;
    }
    auto s = meta_.DeleteSetting(name);
    {
      std::lock_guard lock(mu_);
      aliases_loaded_at_ = -1;
    }
    if (!s.ok() && s.error().code == Errc::kNotFound) {
      return MakeError(Errc::kNotFound, "Alias arn:aws:kms:" + region_ + ":" + account_id_ + ":" +
                                            std::string(alias) + " is not found.");
    }
    return s;
  };
  return Audited("DeleteAlias", id, run(), alias);
}

Result<std::vector<std::string>> BuiltinKeyService::PurgeDueDeletions(int64_t now_seconds) {
  BERTH_ASSIGN_OR_RETURN(auto rows, meta_.ListSettings(std::string(kKeyPrefix)));
  std::vector<std::string> purged;
  for (const auto& [name, value] : rows) {
    json::value holder;
    const json::object* o = ParseObject(value, holder);
    if (o == nullptr || StringField(*o, "KeyState") != KeyStateName(KeyState::kPendingDeletion) ||
        IntField(*o, "DeletionDate") > now_seconds) {
      continue;
    }
    std::string id = name.substr(kKeyPrefix.size());
    BERTH_TRY(Audited("DeleteKey", id, DestroyKey(id), ""));
    purged.push_back(std::move(id));
  }
  return purged;
}

Result<size_t> BuiltinKeyService::ResealKeyMaterialBlocking(meta::MetadataStore& meta,
                                                            const Secret& from_master,
                                                            const Secret& to_master) {
  Secret from = DeriveKey(from_master, kSealPurpose);
  Secret to = DeriveKey(to_master, kSealPurpose);
  BERTH_ASSIGN_OR_RETURN(auto rows, meta.ListSettings(std::string(kMaterialPrefix)));
  size_t resealed = 0;
  for (const auto& [name, value] : rows) {
    json::value holder;
    const json::object* v = ParseObject(value, holder);
    std::string_view rest = std::string_view(name).substr(kMaterialPrefix.size());
    size_t slash = rest.find('/');
    int64_t version = v != nullptr ? IntField(*v, "Version") : 0;
    auto sealed = Base64Decode(v != nullptr ? StringField(*v, "Sealed") : "");
    if (slash == std::string_view::npos || version <= 0 || version > UINT32_MAX || !sealed.ok()) {
      return MakeError(Errc::kCorrupt, "KMS key material " + name + " is malformed");
    }
    std::string aad = MaterialAad(rest.substr(0, slash), static_cast<uint32_t>(version));
    if (Unseal(to, *sealed, aad).ok()) {
      continue;  // done by an earlier, interrupted run
    }
    auto material = Unseal(from, *sealed, aad);
    if (!material.ok()) {
      return MakeError(Errc::kCorrupt, "KMS key material " + name +
                                           " opens under neither the old nor the new master key");
    }
    BERTH_ASSIGN_OR_RETURN(std::string resealed_bytes, Seal(to, material->reveal(), aad));
    json::object updated = *v;
    updated["Sealed"] = Base64Encode(resealed_bytes);
    BERTH_TRY(meta.PutSetting(name, json::serialize(updated)));
    ++resealed;
  }
  return resealed;
}

Result<KeyMetadata> BuiltinKeyService::EnsureManagedKey(std::string_view alias) {
  if (!IsValidAliasName(alias) || !IsReservedAliasName(alias)) {
    // (Built with append: GCC 12 warns -Wrestrict on "literal" + std::string here, wrongly.)
    std::string msg = "'";
    msg.append(alias).append("' is not a managed-key alias (alias/aws/... or alias/berth/...)");
    return MakeError(Errc::kInvalidArgument, std::move(msg));
  }
  std::string name = std::string(kAliasPrefix) + std::string(alias);
  auto existing = ResolveId(alias);
  std::string id;
  if (existing.ok()) {
    id = *existing;
  } else if (existing.error().code != Errc::kNotFound) {
    return std::move(existing).error();
  } else {
    std::string mine;
    auto created = [&]() -> Result<std::string> {
      BERTH_ASSIGN_OR_RETURN(mine, NewKey(ManagedDescription(alias), true));
      auto won = meta_.PutSettingIfAbsent(name, mine);
      if (!won.ok() || *won != mine) {
        (void)DestroyKey(mine);  // another thread or process won the alias
      }
      return won;
    }();
    Audit("CreateKey", mine, created.ok() ? nullptr : &created.error(), alias);
    if (!created.ok()) {
      return std::move(created).error();
    }
    id = *created;
    Invalidate(id);
  }
  BERTH_ASSIGN_OR_RETURN(auto k, Load(id, false));
  if (!k->managed) {
    return MakeError(Errc::kPreconditionFailed,
                     std::string(alias) + " names " + KeyArn(id) + ", a customer managed key");
  }
  return Describe(*k);
}

}  // namespace berth::kms
