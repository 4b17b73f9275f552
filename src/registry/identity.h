// Identity: the account, users, access keys and attached policies of this registry, over the
// metadata store, with access-key secrets sealed (AES-256-GCM) under a key derived from the
// server master key. The master key lives outside the database (a file or an environment
// variable); a stolen database alone reveals no secret.
//
// Thread-safe. Methods block on the store: the server calls them through RunBlocking or at
// start-up; the CLI calls them directly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "base/clock.h"
#include "base/secret.h"
#include "iam/iam.h"
#include "meta/metadata_store.h"

namespace berth::registry {

struct NewAccessKey {
  std::string id;
  Secret secret;
};

// A customer-managed identity policy (ARN arn:aws:iam::<account>:policy/<name>).
struct CustomerPolicy {
  std::string name;
  std::string arn;
  std::string document;
};

class Identity final : public iam::CredentialSource, public iam::PolicySource {
 public:
  Identity(meta::MetadataStore& meta, const Secret& master_key, const Clock& clock,
           boost::asio::thread_pool* pool);

  // First start: fixes the account id (the configured one, else a random one; later starts
  // keep what was stored), creates the `admin` user with full access and an access key, and
  // the ROOT create-on-push template. Returns the admin key when it was created now.
  // `preset_admin_key`, when given, becomes the administrator's key instead of a generated
  // one (provisioning automation; the id must look like an access key id).
  Result<std::optional<NewAccessKey>> BootstrapBlocking(
      const std::string& configured_account_id, const std::string& region,
      std::optional<NewAccessKey> preset_admin_key = std::nullopt);
  const iam::Account& account() const { return account_; }

  // kInvalidArgument (name), kAlreadyExists.
  Status CreateUserBlocking(const std::string& name, const std::string& kind);
  Result<std::vector<meta::UserRecord>> ListUsersBlocking();
  Status DeleteUserBlocking(const std::string& name);  // kNotFound
  // Customer-managed identity policies, validated on write. Create: kInvalidArgument (name or
  // document, the message names the problem), kAlreadyExists. Delete: kNotFound,
  // kPreconditionFailed while attached to a user.
  Status CreatePolicyBlocking(const std::string& name, const std::string& document);
  Result<std::vector<CustomerPolicy>> ListPoliciesBlocking();
  Result<CustomerPolicy> GetPolicyBlocking(const std::string& name_or_arn);  // kNotFound
  Status DeletePolicyBlocking(const std::string& name_or_arn);
  // Attaches an AWS managed or customer policy (by name or ARN). kInvalidArgument for unknown
  // policies, kNotFound for unknown users.
  Status AttachPolicyBlocking(const std::string& user, const std::string& policy);
  Status DetachPolicyBlocking(const std::string& user, const std::string& policy);
  Result<NewAccessKey> CreateAccessKeyBlocking(const std::string& user);  // kNotFound
  // Stores a given key (kInvalidArgument if the id or secret is malformed).
  Result<NewAccessKey> ImportAccessKeyBlocking(const std::string& user, NewAccessKey key);
  Result<std::vector<meta::AccessKeyRecord>> ListAccessKeysBlocking(const std::string& user);
  Status DeleteAccessKeyBlocking(const std::string& id);  // kNotFound
  // Unseals a key. kUnknownAccessKey if absent or its user is gone.
  Result<iam::AccessKeyInfo> LookupAccessKeyBlocking(const std::string& id);

  // iam::CredentialSource (runs on the pool given at construction).
  boost::asio::awaitable<Result<iam::AccessKeyInfo>> LookupAccessKey(std::string id) override;
  // kNotFound if no user or role is called `name`.
  Result<iam::Principal::Kind> LookupPrincipalBlocking(const std::string& name);
  boost::asio::awaitable<Result<iam::Principal::Kind>> LookupPrincipal(std::string name) override;

  // iam::PolicySource (runs on the pool given at construction).
  Result<std::vector<std::string>> IdentityPoliciesBlocking(const std::string& principal);
  boost::asio::awaitable<Result<std::vector<std::string>>> IdentityPolicies(
      std::string principal) override;
  boost::asio::awaitable<Result<iam::RepositoryAccessInfo>> RepositoryAccess(
      std::string repository) override;
  boost::asio::awaitable<Result<std::string>> RegistryPolicy() override;

 private:
  // The managed or customer policy `name_or_arn` names, as its ARN. kInvalidArgument.
  Result<std::string> PolicyArnBlocking(const std::string& name_or_arn);
  meta::MetadataStore& meta_;
  Secret key_;  // derived sealing key for access-key secrets
  const Clock& clock_;
  boost::asio::thread_pool* pool_;
  iam::Account account_;
};

// Reads the master key from `path`, creating it (32 random bytes, mode 0600) if absent; or
// from the environment variable BERTH_MASTER_KEY (base64 of 32 bytes) when set.
// kInvalidArgument / kUnavailable with the reason.
Result<Secret> LoadOrCreateMasterKey(const std::string& path);

// A short public name for a master key (16 hex digits of HMAC-SHA256(key, a constant label)):
// tells which master key sealed a database without revealing anything about the key.
std::string MasterKeyFingerprint(const Secret& master_key);

// Master-key rotation: re-seals every access-key secret sealed under `from_master` so it is
// sealed under `to_master`, one key at a time (each update is atomic). Idempotent: secrets that
// already open under `to_master` are left alone, so an interrupted run is finished by running
// it again. Returns how many it re-sealed. kCorrupt (naming the key) if a secret opens under
// neither key; the keys before it stay re-sealed, the rest untouched.
Result<size_t> ResealAccessKeySecretsBlocking(meta::MetadataStore& meta, const Secret& from_master,
                                              const Secret& to_master);

}  // namespace berth::registry
