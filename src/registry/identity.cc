#include "registry/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <boost/json.hpp>

#include "base/blocking.h"
#include "base/crypto.h"

namespace berth::registry {

namespace {
constexpr const char* kAccountSetting = "account.registry_id";
constexpr const char* kBootstrapSetting = "bootstrap.done";
// Customer policies live in the settings table: "iam.policy/<name>" → document.
constexpr std::string_view kPolicySettingPrefix = "iam.policy/";
constexpr const char* kRegistryPolicySetting = "registry.policy";

}  // namespace

Result<Secret> LoadOrCreateMasterKey(const std::string& path) {
  if (const char* env = std::getenv("BERTH_MASTER_KEY"); env != nullptr && *env != '\0') {
    auto raw = Base64Decode(env);
    if (!raw.ok() || raw->size() != 32) {
      return MakeError(Errc::kInvalidArgument,
                       "BERTH_MASTER_KEY must be the base64 encoding of 32 bytes");
    }
    return Secret(std::move(*raw));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    std::string buf(64, '\0');
    ssize_t n = ::read(fd, buf.data(), buf.size());
    ::close(fd);
    if (n != 32) {
      return MakeError(Errc::kInvalidArgument,
                       "master key file " + path + " must hold exactly 32 bytes");
    }
    buf.resize(32);
    return Secret(std::move(buf));
  }
  if (errno != ENOENT) {
    return MakeError(Errc::kUnavailable, "master key " + path + ": " + std::strerror(errno));
  }
  std::string key = RandomBytes(32);
  std::string tmp = path + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(Errc::kUnavailable, "master key " + tmp + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, key.data(), key.size()) == 32 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError(Errc::kUnavailable, "master key " + path + ": cannot write");
  }
  return Secret(std::move(key));
}

namespace {
constexpr std::string_view kAccessKeySealPurpose = "berth access-key secrets v1";
}  // namespace

std::string MasterKeyFingerprint(const Secret& master_key) {
  return HexEncode(HmacSha256(master_key.reveal(), "berth master key fingerprint v1"))
      .substr(0, 16);
}

Result<size_t> ResealAccessKeySecretsBlocking(meta::MetadataStore& meta, const Secret& from_master,
                                              const Secret& to_master) {
  Secret from = DeriveKey(from_master, kAccessKeySealPurpose);
  Secret to = DeriveKey(to_master, kAccessKeySealPurpose);
  BERTH_ASSIGN_OR_RETURN(auto keys, meta.ListAccessKeys(""));
  size_t resealed = 0;
  for (const auto& k : keys) {
    if (Unseal(to, k.secret_ciphertext, k.id).ok()) {
      continue;  // done by an earlier, interrupted run
    }
    auto secret = Unseal(from, k.secret_ciphertext, k.id);
    if (!secret.ok()) {
      return MakeError(Errc::kCorrupt, "the secret of access key " + k.id +
                                           " opens under neither the old nor the new master key");
    }
    BERTH_ASSIGN_OR_RETURN(std::string sealed, Seal(to, secret->reveal(), k.id));
    BERTH_TRY(meta.UpdateAccessKeySecret(k.id, sealed));
    ++resealed;
  }
  return resealed;
}

Identity::Identity(meta::MetadataStore& meta, const Secret& master_key, const Clock& clock,
                   boost::asio::thread_pool* pool)
    : meta_(meta), key_(DeriveKey(master_key, kAccessKeySealPurpose)), clock_(clock), pool_(pool) {}

Result<std::optional<NewAccessKey>> Identity::BootstrapBlocking(
    const std::string& configured_account_id, const std::string& region,
    std::optional<NewAccessKey> preset_admin_key) {
  std::string want = configured_account_id.empty() ? iam::NewRegistryId() : configured_account_id;
  if (!iam::IsValidRegistryId(want)) {
    return MakeError(Errc::kInvalidArgument, "account id must be 12 digits");
  }
  BERTH_ASSIGN_OR_RETURN(std::string id, meta_.PutSettingIfAbsent(kAccountSetting, want));
  if (!configured_account_id.empty() && id != configured_account_id) {
    return MakeError(Errc::kInvalidArgument, "this data directory belongs to account " + id +
                                                 ", not " + configured_account_id);
  }
  account_ = iam::Account{id, region};
  auto done = meta_.GetSetting(kBootstrapSetting);
  if (done.ok()) {
    return std::optional<NewAccessKey>();
  }
  int64_t now = clock_.NowSeconds();
  Status u = meta_.CreateUser(
      meta::UserRecord{"admin",
                       "user",
                       now,
                       {"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess",
                        "arn:aws:iam::aws:policy/BerthAdministratorAccess"}});
  if (!u.ok() && u.error().code != Errc::kAlreadyExists) {
    return std::move(u).error();
  }
  Result<NewAccessKey> created =
      preset_admin_key ? ImportAccessKeyBlocking("admin", std::move(*preset_admin_key))
                       : CreateAccessKeyBlocking("admin");
  BERTH_ASSIGN_OR_RETURN(NewAccessKey key, std::move(created));
  boost::json::object root_template;
  root_template["appliedFor"] = boost::json::array{"CREATE_ON_PUSH"};
  root_template["description"] = "Created by berth: pushing to a new repository creates it.";
  root_template["imageTagMutability"] = "MUTABLE";
  Status t = meta_.CreateTemplate(
      meta::TemplateRecord{"ROOT", boost::json::serialize(root_template), now, now});
  if (!t.ok() && t.error().code != Errc::kAlreadyExists) {
    return std::move(t).error();
  }
  BERTH_TRY(meta_.PutSetting(kBootstrapSetting, std::to_string(now)));
  return std::optional<NewAccessKey>(std::move(key));
}

Status Identity::CreateUserBlocking(const std::string& name, const std::string& kind) {
  if (!iam::IsValidPrincipalName(name)) {
    return MakeError(Errc::kInvalidArgument, "invalid user name: use 1-64 of [A-Za-z0-9+=,.@_-]");
  }
  return meta_.CreateUser(meta::UserRecord{name, kind, clock_.NowSeconds(), {}});
}

Result<std::vector<meta::UserRecord>> Identity::ListUsersBlocking() { return meta_.ListUsers(); }

Status Identity::DeleteUserBlocking(const std::string& name) { return meta_.DeleteUser(name); }

Result<std::string> Identity::PolicyArnBlocking(const std::string& name_or_arn) {
  if (const iam::ManagedPolicy* p = iam::FindManagedPolicy(name_or_arn)) {
    return std::string(p->arn);
  }
  auto c = GetPolicyBlocking(name_or_arn);
  if (!c.ok()) {
    if (c.error().code == Errc::kNotFound) {
      return MakeError(Errc::kInvalidArgument, "unknown policy " + name_or_arn +
                                                   " (neither an AWS managed nor a customer "
                                                   "policy; see `berth admin policy list`)");
    }
    return std::move(c).error();
  }
  return c->arn;
}

Status Identity::AttachPolicyBlocking(const std::string& user, const std::string& policy) {
  BERTH_ASSIGN_OR_RETURN(std::string arn, PolicyArnBlocking(policy));
  return meta_.AttachPolicy(user, arn);
}

Status Identity::DetachPolicyBlocking(const std::string& user, const std::string& policy) {
  auto arn = PolicyArnBlocking(policy);
  return meta_.DetachPolicy(user, arn.ok() ? *arn : policy);
}

Status Identity::CreatePolicyBlocking(const std::string& name, const std::string& document) {
  if (!iam::IsValidPolicyName(name)) {
    return MakeError(Errc::kInvalidArgument,
                     "invalid policy name: use 1-128 of [A-Za-z0-9+=,.@_-]");
  }
  if (iam::FindManagedPolicy(name) != nullptr) {
    return MakeError(Errc::kAlreadyExists, "policy " + name + " is an AWS managed policy");
  }
  BERTH_TRY(iam::ValidatePolicyDocument(document, /*resource_policy=*/false));
  BERTH_ASSIGN_OR_RETURN(
      std::string stored,
      meta_.PutSettingIfAbsent(std::string(kPolicySettingPrefix) + name, document));
  if (stored != document) {
    return MakeError(Errc::kAlreadyExists, "policy " + name + " already exists");
  }
  return Ok{};
}

Result<std::vector<CustomerPolicy>> Identity::ListPoliciesBlocking() {
  std::vector<CustomerPolicy> out;
  BERTH_ASSIGN_OR_RETURN(auto all, meta_.ListSettings(std::string(kPolicySettingPrefix)));
  for (auto& [key, doc] : all) {
    std::string name = key.substr(kPolicySettingPrefix.size());
    out.push_back(CustomerPolicy{name, "arn:aws:iam::" + account_.registry_id + ":policy/" + name,
                                 std::move(doc)});
  }
  return out;
}

Result<CustomerPolicy> Identity::GetPolicyBlocking(const std::string& name_or_arn) {
  std::string prefix = "arn:aws:iam::" + account_.registry_id + ":policy/";
  std::string name =
      name_or_arn.starts_with(prefix) ? name_or_arn.substr(prefix.size()) : name_or_arn;
  if (!iam::IsValidPolicyName(name)) {
    return MakeError(Errc::kNotFound, "no policy " + name_or_arn);
  }
  auto doc = meta_.GetSetting(std::string(kPolicySettingPrefix) + name);
  if (!doc.ok()) {
    if (doc.error().code == Errc::kNotFound) {
      return MakeError(Errc::kNotFound, "no policy " + name_or_arn);
    }
    return std::move(doc).error();
  }
  return CustomerPolicy{name, prefix + name, std::move(*doc)};
}

Status Identity::DeletePolicyBlocking(const std::string& name_or_arn) {
  BERTH_ASSIGN_OR_RETURN(CustomerPolicy p, GetPolicyBlocking(name_or_arn));
  BERTH_ASSIGN_OR_RETURN(auto users, meta_.ListUsers());
  for (const auto& u : users) {
    for (const auto& arn : u.policy_arns) {
      if (arn == p.arn) {
        return MakeError(Errc::kPreconditionFailed,
                         "policy " + p.name + " is attached to " + u.name + "; detach it first");
      }
    }
  }
  return meta_.DeleteSetting(std::string(kPolicySettingPrefix) + p.name);
}

Result<NewAccessKey> Identity::CreateAccessKeyBlocking(const std::string& user) {
  NewAccessKey key{iam::NewAccessKeyId(), iam::NewSecretAccessKey()};
  // The key id is the associated data: a sealed secret copied to another key fails to open.
  BERTH_ASSIGN_OR_RETURN(std::string sealed, Seal(key_, key.secret.reveal(), key.id));
  BERTH_TRY(meta_.CreateAccessKey(
      meta::AccessKeyRecord{key.id, user, std::move(sealed), "Active", clock_.NowSeconds()}));
  return key;
}

Result<NewAccessKey> Identity::ImportAccessKeyBlocking(const std::string& user, NewAccessKey key) {
  bool id_ok = key.id.size() >= 16 && key.id.size() <= 128;
  for (char c : key.id) {
    id_ok = id_ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
  }
  if (!id_ok || key.secret.size() < 16 || key.secret.size() > 128) {
    return MakeError(Errc::kInvalidArgument,
                     "an access key id is 16-128 of [A-Z0-9]; a secret 16-128 characters");
  }
  BERTH_ASSIGN_OR_RETURN(std::string sealed, Seal(key_, key.secret.reveal(), key.id));
  BERTH_TRY(meta_.CreateAccessKey(
      meta::AccessKeyRecord{key.id, user, std::move(sealed), "Active", clock_.NowSeconds()}));
  return key;
}

Result<std::vector<meta::AccessKeyRecord>> Identity::ListAccessKeysBlocking(
    const std::string& user) {
  BERTH_ASSIGN_OR_RETURN(auto keys, meta_.ListAccessKeys(user));
  for (auto& k : keys) {
    k.secret_ciphertext.clear();  // callers list keys; they never need the sealed bytes
  }
  return keys;
}

Status Identity::DeleteAccessKeyBlocking(const std::string& id) {
  return meta_.DeleteAccessKey(id);
}

Result<iam::AccessKeyInfo> Identity::LookupAccessKeyBlocking(const std::string& id) {
  auto rec = meta_.GetAccessKey(id);
  if (!rec.ok()) {
    if (rec.error().code == Errc::kNotFound) {
      return MakeError(Errc::kUnknownAccessKey,
                       "The security token included in the request is invalid.");
    }
    return std::move(rec).error();
  }
  BERTH_ASSIGN_OR_RETURN(Secret secret, Unseal(key_, rec->secret_ciphertext, rec->id));
  return iam::AccessKeyInfo{rec->user, std::move(secret), rec->status == "Active"};
}

boost::asio::awaitable<Result<iam::AccessKeyInfo>> Identity::LookupAccessKey(std::string id) {
  // Capture by reference only: GCC 12 destroys by-value captures of a lambda temporary in a
  // co_await expression twice.
  co_return co_await RunBlocking(*pool_, [&] { return LookupAccessKeyBlocking(id); });
}

Result<iam::Principal::Kind> Identity::LookupPrincipalBlocking(const std::string& name) {
  BERTH_ASSIGN_OR_RETURN(meta::UserRecord user, meta_.GetUser(name));
  return user.kind == "role" ? iam::Principal::Kind::kRole : iam::Principal::Kind::kUser;
}

boost::asio::awaitable<Result<iam::Principal::Kind>> Identity::LookupPrincipal(std::string name) {
  // By-reference capture only (see LookupAccessKey).
  co_return co_await RunBlocking(*pool_, [&] { return LookupPrincipalBlocking(name); });
}

Result<std::vector<std::string>> Identity::IdentityPoliciesBlocking(const std::string& principal) {
  std::vector<std::string> docs;
  auto user = meta_.GetUser(principal);
  if (!user.ok()) {
    if (user.error().code == Errc::kNotFound) {
      return docs;  // deleted since its key was checked: nothing is allowed
    }
    return std::move(user).error();
  }
  for (const auto& arn : user->policy_arns) {
    if (const iam::ManagedPolicy* m = iam::FindManagedPolicy(arn)) {
      docs.emplace_back(m->document);
      continue;
    }
    auto c = GetPolicyBlocking(arn);
    if (c.ok()) {
      docs.push_back(std::move(c->document));
    } else if (c.error().code != Errc::kNotFound) {
      return std::move(c).error();
    }
  }
  return docs;
}

boost::asio::awaitable<Result<std::vector<std::string>>> Identity::IdentityPolicies(
    std::string principal) {
  co_return co_await RunBlocking(*pool_, [&] { return IdentityPoliciesBlocking(principal); });
}

boost::asio::awaitable<Result<iam::RepositoryAccessInfo>> Identity::RepositoryAccess(
    std::string repository) {
  co_return co_await RunBlocking(*pool_, [&]() -> Result<iam::RepositoryAccessInfo> {
    iam::RepositoryAccessInfo info;
    auto rec = meta_.GetRepository(repository);
    if (!rec.ok()) {
      if (rec.error().code == Errc::kNotFound) {
        return info;
      }
      return std::move(rec).error();
    }
    info.exists = true;
    info.policy = rec->policy_text;
    if (!rec->tags_json.empty()) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(rec->tags_json, ec);
      if (!ec && v.is_array()) {
        for (const auto& t : v.get_array()) {
          const auto* o = t.if_object();
          if (o == nullptr) {
            continue;
          }
          auto k = o->find("Key");
          auto val = o->find("Value");
          if (k != o->end() && val != o->end() && k->value().is_string() &&
              val->value().is_string()) {
            info.tags.emplace_back(std::string(k->value().get_string()),
                                   std::string(val->value().get_string()));
          }
        }
      }
    }
    return info;
  });
}

boost::asio::awaitable<Result<std::string>> Identity::RegistryPolicy() {
  co_return co_await RunBlocking(*pool_, [&]() -> Result<std::string> {
    auto text = meta_.GetSetting(kRegistryPolicySetting);
    if (!text.ok() && text.error().code == Errc::kNotFound) {
      return std::string();
    }
    return text;
  });
}

}  // namespace berth::registry
