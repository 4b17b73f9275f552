#include "auth/authorizer.h"

#include "base/strings.h"

namespace berth::auth {

namespace asio = boost::asio;

namespace {

// Parses a stored policy. A stored policy was validated when written; one that no longer
// parses (edited behind our back) fails closed.
Result<std::shared_ptr<const iam::Policy>> ParseStored(const std::string& text,
                                                       iam::PolicyKind kind,
                                                       const std::string& what) {
  auto p = iam::Policy::Parse(text, kind);
  if (!p.ok()) {
    return MakeError(Errc::kInternal, what + " is not a valid policy: " + p.error().message);
  }
  return std::make_shared<const iam::Policy>(std::move(*p));
}

}  // namespace

Authorizer::Authorizer(iam::PolicySource& source, iam::Account account, const Clock& clock,
                       std::chrono::milliseconds cache_ttl)
    : source_(source), account_(std::move(account)), clock_(clock), ttl_ms_(cache_ttl.count()) {}

std::string Authorizer::ResourceArn(const std::string& repository) const {
  if (repository.empty()) {
    return "*";
  }
  return iam::RepositoryArn(account_, repository);
}

void Authorizer::Invalidate() {
  std::lock_guard lock(mu_);
  identities_.clear();
  repositories_.clear();
  registry_ = RegistryEntry{};
}

asio::awaitable<Result<Authorizer::IdentityEntry>> Authorizer::Identity(std::string principal) {
  int64_t now = clock_.NowMillis();
  {
    std::lock_guard lock(mu_);
    auto it = identities_.find(principal);
    if (it != identities_.end() && it->second.expires > now) {
      co_return it->second;
    }
  }
  auto docs = co_await source_.IdentityPolicies(principal);
  if (!docs.ok()) {
    co_return std::move(docs).error();
  }
  IdentityEntry e;
  e.expires = now + ttl_ms_;
  for (const auto& d : *docs) {
    auto p = ParseStored(d, iam::PolicyKind::kIdentity, "an identity policy of " + principal);
    if (!p.ok()) {
      co_return std::move(p).error();
    }
    e.policies.push_back(std::move(*p));
  }
  std::lock_guard lock(mu_);
  identities_[principal] = e;
  co_return e;
}

asio::awaitable<Result<Authorizer::RepositoryEntry>> Authorizer::Repository(
    std::string repository) {
  int64_t now = clock_.NowMillis();
  {
    std::lock_guard lock(mu_);
    auto it = repositories_.find(repository);
    if (it != repositories_.end() && it->second.expires > now) {
      co_return it->second;
    }
  }
  auto info = co_await source_.RepositoryAccess(repository);
  if (!info.ok()) {
    co_return std::move(info).error();
  }
  RepositoryEntry e;
  e.expires = now + ttl_ms_;
  e.exists = info->exists;
  e.tags = std::move(info->tags);
  if (!info->policy.empty()) {
    auto p = ParseStored(info->policy, iam::PolicyKind::kResource,
                         "the policy of repository " + repository);
    if (!p.ok()) {
      co_return std::move(p).error();
    }
    e.policy = std::move(*p);
  }
  // Missing repositories are not cached: one may be created (by a push) at any moment.
  if (e.exists) {
    std::lock_guard lock(mu_);
    if (repositories_.size() > 100000) {
      repositories_.clear();
    }
    repositories_[repository] = e;
  }
  co_return e;
}

asio::awaitable<Result<Authorizer::RegistryEntry>> Authorizer::Registry() {
  int64_t now = clock_.NowMillis();
  {
    std::lock_guard lock(mu_);
    if (registry_.expires > now) {
      co_return registry_;
    }
  }
  auto text = co_await source_.RegistryPolicy();
  if (!text.ok()) {
    co_return std::move(text).error();
  }
  RegistryEntry e;
  e.expires = now + ttl_ms_;
  if (!text->empty()) {
    auto p = ParseStored(*text, iam::PolicyKind::kResource, "the registry policy");
    if (!p.ok()) {
      co_return std::move(p).error();
    }
    e.policy = std::move(*p);
  }
  std::lock_guard lock(mu_);
  registry_ = e;
  co_return e;
}

asio::awaitable<Result<bool>> Authorizer::RepositoryExists(std::string repository) {
  auto r = co_await Repository(std::move(repository));
  if (!r.ok()) {
    co_return std::move(r).error();
  }
  co_return r->exists;
}

asio::awaitable<Result<AccessDecision>> Authorizer::Authorize(const Caller& caller,
                                                              AccessRequest request) {
  iam::RequestContext ctx;
  ctx.action = request.action;
  ctx.resource = ResourceArn(request.repository);
  ctx.resource_account = account_.registry_id;
  int64_t now_ms = clock_.NowMillis();
  ctx.Set("aws:CurrentTime", FormatRfc3339(now_ms / 1000));
  ctx.Set("aws:EpochTime", std::to_string(now_ms / 1000));
  ctx.Set("aws:SecureTransport", std::string(caller.secure_transport ? "true" : "false"));
  if (!caller.source_ip.empty()) {
    ctx.Set("aws:SourceIp", caller.source_ip);
  }
  if (!caller.user_agent.empty()) {
    ctx.Set("aws:UserAgent", caller.user_agent);
  }
  ctx.Set("aws:RequestedRegion", account_.region);
  ctx.Set("aws:ResourceAccount", account_.registry_id);

  iam::PolicySet set;
  IdentityEntry identity;
  if (!caller.principal.anonymous()) {
    ctx.principal_arn = caller.principal.Arn(account_);
    ctx.principal_account = account_.registry_id;
    ctx.Set("aws:PrincipalArn", ctx.principal_arn);
    ctx.Set("aws:PrincipalAccount", account_.registry_id);
    bool role = caller.principal.kind == iam::Principal::Kind::kRole;
    ctx.Set("aws:PrincipalType", std::string(role ? "AssumedRole" : "User"));
    if (!role) {
      ctx.Set("aws:username", caller.principal.name);
    }
    ctx.Set("aws:userid", caller.principal.name);
    auto id = co_await Identity(caller.principal.name);
    if (!id.ok()) {
      co_return std::move(id).error();
    }
    identity = std::move(*id);
    for (const auto& p : identity.policies) {
      set.identity.push_back(p.get());
    }
  }
  RepositoryEntry repo;
  if (!request.repository.empty()) {
    auto r = co_await Repository(request.repository);
    if (!r.ok()) {
      co_return std::move(r).error();
    }
    repo = std::move(*r);
    set.repository = repo.policy.get();
    for (const auto& [k, v] : repo.tags) {
      ctx.Set("aws:ResourceTag/" + k, v);
      ctx.Set("ecr:ResourceTag/" + k, v);
    }
  }
  auto reg = co_await Registry();
  if (!reg.ok()) {
    co_return std::move(reg).error();
  }
  set.registry = reg->policy.get();
  std::vector<std::string> keys;
  for (const auto& [k, v] : request.request_tags) {
    ctx.Set("aws:RequestTag/" + k, v);
    keys.push_back(k);
  }
  for (const auto& k : request.tag_keys) {
    keys.push_back(k);
  }
  if (!keys.empty()) {
    ctx.Set("aws:TagKeys", std::move(keys));
  }

  AccessDecision out;
  out.decision = iam::Evaluate(set, ctx);
  out.resource = ctx.resource;
  if (!out.allowed()) {
    std::string who =
        caller.principal.anonymous() ? std::string("anonymous") : "User: " + ctx.principal_arn;
    out.message =
        who + " is not authorized to perform: " + request.action + " on resource: " + ctx.resource;
    if (out.decision == iam::Decision::kExplicitDeny) {
      out.message += " with an explicit deny";
    } else if (caller.principal.anonymous()) {
      out.message += " because no resource-based policy allows anonymous access";
    } else {
      out.message += " because no identity-based policy allows the " + request.action + " action";
    }
  }
  co_return out;
}

}  // namespace berth::auth
