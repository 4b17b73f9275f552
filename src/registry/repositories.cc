// The ECR repository model: repository settings, create-on-push templates, tag immutability.
#include <boost/json.hpp>

#include "base/blocking.h"
#include "registry/names.h"
#include "registry/registry.h"

namespace berth::registry {
namespace {

namespace json = boost::json;

Error RepoNotFound(const std::string& name) {
  return MakeError(Errc::kNameUnknown,
                   "The repository with name '" + name + "' does not exist in the registry", name);
}

template <class T>
Result<T> MapRepoNotFound(Result<T> r, const std::string& name) {
  if (!r.ok() && r.error().code == Errc::kNotFound) {
    return RepoNotFound(name);
  }
  return r;
}

// Whether template `prefix` applies to repository `repo` (ECR: ROOT matches everything; a
// prefix matches the repositories under it).
bool TemplateMatches(std::string_view prefix, std::string_view repo) {
  if (prefix == "ROOT") {
    return true;
  }
  std::string p(prefix);
  if (!p.empty() && p.back() == '/') {
    p.pop_back();
  }
  return repo == p ||
         (repo.size() > p.size() && repo.substr(0, p.size()) == p && repo[p.size()] == '/');
}

// Builds the repository a template creates.
meta::RepositoryRecord FromTemplate(const std::string& repo, const meta::TemplateRecord& t,
                                    int64_t now) {
  meta::RepositoryRecord r;
  r.name = repo;
  r.created_at = now;
  boost::system::error_code ec;
  json::value v = json::parse(t.config_json, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) {
    return r;
  }
  auto str = [&](std::string_view k) -> std::string {
    auto it = o->find(k);
    return it != o->end() && it->value().is_string() ? std::string(it->value().get_string())
                                                     : std::string();
  };
  if (auto m = str("imageTagMutability"); !m.empty()) {
    r.image_tag_mutability = m;
  }
  if (auto it = o->find("imageTagMutabilityExclusionFilters"); it != o->end()) {
    r.mutability_exclusions_json = json::serialize(it->value());
  }
  if (auto it = o->find("encryptionConfiguration"); it != o->end() && it->value().is_object()) {
    const auto& ec_obj = it->value().get_object();
    if (auto t2 = ec_obj.find("encryptionType"); t2 != ec_obj.end() && t2->value().is_string()) {
      r.encryption_type = std::string(t2->value().get_string());
    }
    if (auto k = ec_obj.find("kmsKey"); k != ec_obj.end() && k->value().is_string()) {
      r.kms_key = std::string(k->value().get_string());
    }
  }
  if (auto it = o->find("resourceTags");
      it != o->end() && it->value().is_array() && !it->value().get_array().empty()) {
    r.tags_json = json::serialize(it->value());
  }
  r.policy_text = str("repositoryPolicy");
  return r;
}

bool AppliesToCreateOnPush(const meta::TemplateRecord& t) {
  boost::system::error_code ec;
  json::value v = json::parse(t.config_json, ec);
  if (ec || !v.is_object()) {
    return false;
  }
  auto it = v.get_object().find("appliedFor");
  if (it == v.get_object().end() || !it->value().is_array()) {
    return false;
  }
  for (const auto& a : it->value().get_array()) {
    if (a.is_string() && a.get_string() == "CREATE_ON_PUSH") {
      return true;
    }
  }
  return false;
}

}  // namespace

bool Registry::WildcardMatch(std::string_view p, std::string_view t) {
  // Iterative glob with backtracking on the last '*'.
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') {
    ++pi;
  }
  return pi == p.size();
}

bool Registry::IsTagImmutable(const meta::RepositoryRecord& repo, std::string_view tag) {
  const std::string& m = repo.image_tag_mutability;
  if (m == "IMMUTABLE") {
    return true;
  }
  if (m != "IMMUTABLE_WITH_EXCLUSION" && m != "MUTABLE_WITH_EXCLUSION") {
    return false;
  }
  bool matched = false;
  boost::system::error_code ec;
  json::value v = json::parse(repo.mutability_exclusions_json, ec);
  if (!ec && v.is_array()) {
    for (const auto& f : v.get_array()) {
      const json::object* o = f.if_object();
      if (o == nullptr) {
        continue;
      }
      auto it = o->find("filter");
      if (it != o->end() && it->value().is_string() &&
          WildcardMatch(std::string_view(it->value().get_string()), tag)) {
        matched = true;
        break;
      }
    }
  }
  // IMMUTABLE_WITH_EXCLUSION: immutable except tags matching a filter;
  // MUTABLE_WITH_EXCLUSION: mutable except tags matching a filter.
  return m == "IMMUTABLE_WITH_EXCLUSION" ? !matched : matched;
}

Task<meta::RepositoryRecord> Registry::CreateRepository(meta::RepositoryRecord record) {
  BERTH_CO_TRY(ValidateRepositoryName(record.name));
  if (record.created_at == 0) {
    record.created_at = clock_.NowSeconds();
  }
  Status s = co_await RunBlocking(pool_, [&]() -> Status {
    BERTH_TRY(ResolveKeyBlocking(record));
    ForgetRepoKey(record.name);
    return meta_.CreateRepository(record);
  });
  if (!s.ok()) {
    if (s.error().code == Errc::kAlreadyExists) {
      co_return MakeError(
          Errc::kAlreadyExists,
          "The repository with name '" + record.name + "' already exists in the registry",
          record.name);
    }
    co_return std::move(s).error();
  }
  co_return record;
}

Task<meta::RepositoryRecord> Registry::GetRepository(std::string name) {
  BERTH_CO_TRY(ValidateRepositoryName(name));
  auto r = co_await RunBlocking(pool_, [&] { return meta_.GetRepository(name); });
  co_return MapRepoNotFound(std::move(r), name);
}

Task<std::vector<meta::RepositoryRecord>> Registry::ListRepositoryRecords(std::string after,
                                                                          uint32_t limit) {
  co_return co_await RunBlocking(pool_, [&] { return meta_.ListRepositoryRecords(after, limit); });
}

Task<Ok> Registry::UpdateRepository(meta::RepositoryRecord record) {
  Status s = co_await RunBlocking(pool_, [&] { return meta_.UpdateRepository(record); });
  if (!s.ok()) {
    if (s.error().code == Errc::kNotFound) {
      co_return RepoNotFound(record.name);
    }
    co_return std::move(s).error();
  }
  co_return Ok{};
}

Task<meta::RepositoryRecord> Registry::DeleteRepository(std::string name, bool force) {
  BERTH_CO_TRY(ValidateRepositoryName(name));
  auto r = co_await RunBlocking(pool_, [&]() -> Result<meta::RepositoryRecord> {
    BERTH_ASSIGN_OR_RETURN(auto rec, meta_.GetRepository(name));
    BERTH_TRY(meta_.DeleteRepository(name, force));
    ForgetRepoKey(name);
    return rec;
  });
  if (!r.ok()) {
    if (r.error().code == Errc::kNotFound) {
      co_return RepoNotFound(name);
    }
    if (r.error().code == Errc::kPreconditionFailed) {
      co_return MakeError(Errc::kPreconditionFailed,
                          "The repository with name '" + name +
                              "' in registry cannot be deleted because it still contains images",
                          name);
    }
  }
  co_return r;
}

Task<std::vector<meta::ImageRecord>> Registry::ListImages(std::string repo) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  (void)co_await FlushPulls();  // listings show every pull recorded so far
  auto r = co_await RunBlocking(pool_, [&] { return meta_.ListImages(repo); });
  co_return MapRepoNotFound(std::move(r), repo);
}

Task<std::vector<std::string>> Registry::ListParents(std::string repo, std::string digest) {
  co_return co_await RunBlocking(pool_, [&] { return meta_.ListParents(repo, digest); });
}

Task<Ok> Registry::EnsureRepositoryForPush(std::string repo) {
  BERTH_CO_TRY(ValidateRepositoryName(repo));
  int64_t now = clock_.NowSeconds();
  auto rec = co_await RunBlocking(pool_, [&] { return EnsureRepositoryBlocking(repo, now); });
  BERTH_CO_TRY(rec);
  co_return Ok{};
}

Result<meta::RepositoryRecord> Registry::EnsureRepositoryBlocking(const std::string& repo,
                                                                  int64_t now) {
  auto existing = meta_.GetRepository(repo);
  if (existing.ok() || existing.error().code != Errc::kNotFound) {
    return existing;
  }
  BERTH_ASSIGN_OR_RETURN(auto templates, meta_.ListTemplates());
  const meta::TemplateRecord* best = nullptr;
  for (const auto& t : templates) {
    if (!AppliesToCreateOnPush(t) || !TemplateMatches(t.prefix, repo)) {
      continue;
    }
    // The longest matching prefix wins; ROOT is the shortest of all.
    size_t len = t.prefix == "ROOT" ? 0 : t.prefix.size();
    size_t best_len = best == nullptr ? 0 : (best->prefix == "ROOT" ? 0 : best->prefix.size());
    if (best == nullptr || len > best_len) {
      best = &t;
    }
  }
  if (best == nullptr) {
    return RepoNotFound(repo);
  }
  meta::RepositoryRecord record = FromTemplate(repo, *best, now);
  BERTH_TRY(ResolveKeyBlocking(record));
  ForgetRepoKey(repo);
  Status created = meta_.CreateRepository(record);
  if (created.ok()) {
    return record;
  }
  if (created.error().code != Errc::kAlreadyExists) {
    return std::move(created).error();
  }
  // A concurrent push created it first, from the same template or not: read theirs.
  return meta_.GetRepository(repo);
}

Task<meta::TemplateRecord> Registry::CreateTemplate(meta::TemplateRecord t) {
  int64_t now = clock_.NowSeconds();
  t.created_at = now;
  t.updated_at = now;
  Status s = co_await RunBlocking(pool_, [&] { return meta_.CreateTemplate(t); });
  BERTH_CO_TRY(s);
  co_return t;
}

Task<meta::TemplateRecord> Registry::GetTemplate(std::string prefix) {
  co_return co_await RunBlocking(pool_, [&] { return meta_.GetTemplate(prefix); });
}

Task<std::vector<meta::TemplateRecord>> Registry::ListTemplates() {
  co_return co_await RunBlocking(pool_, [&] { return meta_.ListTemplates(); });
}

Task<meta::TemplateRecord> Registry::UpdateTemplate(meta::TemplateRecord t) {
  t.updated_at = clock_.NowSeconds();
  auto r = co_await RunBlocking(pool_, [&]() -> Result<meta::TemplateRecord> {
    BERTH_ASSIGN_OR_RETURN(auto old, meta_.GetTemplate(t.prefix));
    t.created_at = old.created_at;
    BERTH_TRY(meta_.UpdateTemplate(t));
    return t;
  });
  co_return r;
}

Task<meta::TemplateRecord> Registry::DeleteTemplate(std::string prefix) {
  co_return co_await RunBlocking(pool_, [&]() -> Result<meta::TemplateRecord> {
    BERTH_ASSIGN_OR_RETURN(auto old, meta_.GetTemplate(prefix));
    BERTH_TRY(meta_.DeleteTemplate(prefix));
    return old;
  });
}

Task<std::string> Registry::GetSetting(std::string key) {
  co_return co_await RunBlocking(pool_, [&] { return meta_.GetSetting(key); });
}

Task<bool> Registry::HoldLease(std::string name, std::string holder, int64_t ttl_seconds) {
  int64_t now = clock_.NowSeconds();
  co_return co_await RunBlocking(pool_, [&]() -> Result<bool> {
    std::string key = "lease/" + name;
    std::string current;
    auto got = meta_.GetSetting(key);
    if (got.ok()) {
      current = std::move(*got);
    } else if (got.error().code != Errc::kNotFound) {
      return std::move(got).error();
    }
    if (!current.empty()) {
      // "<holder> <expires unix seconds>"
      size_t sp = current.rfind(' ');
      std::string who = current.substr(0, sp == std::string::npos ? 0 : sp);
      int64_t expires = sp == std::string::npos ? 0 : std::atoll(current.c_str() + sp + 1);
      if (who != holder && expires > now) {
        return false;  // another live holder
      }
    }
    return meta_.CompareAndSwapSetting(key, current,
                                       holder + " " + std::to_string(now + ttl_seconds));
  });
}

Task<Ok> Registry::ReleaseLease(std::string name, std::string holder) {
  Status s = co_await RunBlocking(pool_, [&]() -> Status {
    std::string key = "lease/" + name;
    BERTH_ASSIGN_OR_RETURN(std::string current, meta_.GetSetting(key));
    if (current.rfind(holder + " ", 0) != 0) {
      return Ok{};  // not ours (any more)
    }
    BERTH_ASSIGN_OR_RETURN(bool swapped, meta_.CompareAndSwapSetting(key, current, holder + " 0"));
    (void)swapped;
    return Ok{};
  });
  BERTH_CO_TRY(s);
  co_return Ok{};
}

Task<Ok> Registry::PutSetting(std::string key, std::string value) {
  Status s = co_await RunBlocking(pool_, [&] { return meta_.PutSetting(key, value); });
  BERTH_CO_TRY(s);
  co_return Ok{};
}

Task<std::string> Registry::DeleteSetting(std::string key) {
  co_return co_await RunBlocking(pool_, [&]() -> Result<std::string> {
    BERTH_ASSIGN_OR_RETURN(auto old, meta_.GetSetting(key));
    BERTH_TRY(meta_.DeleteSetting(key));
    return old;
  });
}

}  // namespace berth::registry
