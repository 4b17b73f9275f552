#include "lifecycle/runner.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace berth::lifecycle {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kPreviewPrefix = "lifecycle.preview/";
// A preview still IN_PROGRESS after this long was lost (a node stopped mid-way): FAILED.
constexpr int64_t kPreviewStaleSeconds = 600;

Image ToImage(const meta::ImageRecord& r) {
  Image im;
  im.digest = r.digest;
  im.tags = r.tags;
  im.pushed_at = r.pushed_at;
  im.last_pulled_at = r.last_pulled_at;
  im.last_activated_at = r.activated_at;
  im.archived_at = r.archived_at;
  im.storage_class = r.status == "ARCHIVED" ? StorageClass::kArchive : StorageClass::kStandard;
  im.subject = r.subject;
  im.children = r.children;
  return im;
}

// The evaluator's actions, with what the caller reports about each image.
std::vector<AppliedAction> Describe(const std::string& repo, const std::vector<Action>& actions,
                                    const std::vector<meta::ImageRecord>& images) {
  std::vector<AppliedAction> out;
  for (const Action& a : actions) {
    AppliedAction x;
    x.repository = repo;
    x.digest = a.digest;
    x.type = a.type;
    x.target = a.target;
    x.rule_priority = a.rule_priority;
    x.referrer = a.referrer;
    for (const auto& im : images) {
      if (im.digest == a.digest) {
        x.tags = im.tags;
        x.pushed_at = im.pushed_at;
        x.storage_class =
            im.status == "ARCHIVED" ? StorageClass::kArchive : StorageClass::kStandard;
        break;
      }
    }
    out.push_back(std::move(x));
  }
  return out;
}

json::object ActionJson(const AppliedAction& a) {
  json::object o;
  o["digest"] = a.digest;
  json::array tags;
  for (const auto& t : a.tags) {
    tags.emplace_back(t);
  }
  o["tags"] = std::move(tags);
  o["pushedAt"] = a.pushed_at;
  o["type"] = ActionTypeName(a.type);
  o["target"] = StorageClassName(a.target);
  o["storageClass"] = StorageClassName(a.storage_class);
  o["priority"] = a.rule_priority;
  o["referrer"] = a.referrer;
  return o;
}

std::string PreviewJson(const Preview& p) {
  json::object o;
  o["status"] = p.status;
  o["policyText"] = p.policy_text;
  o["message"] = p.message;
  o["startedAt"] = p.started_at;
  json::array results;
  for (const auto& a : p.results) {
    results.push_back(ActionJson(a));
  }
  o["results"] = std::move(results);
  return json::serialize(o);
}

Result<Preview> ParsePreview(const std::string& repo, const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  const json::object* o = v.if_object();
  if (ec || o == nullptr) {
    return MakeError(Errc::kCorrupt, "stored lifecycle preview of " + repo + " is not JSON");
  }
  auto str = [](const json::object& obj, const char* k) -> std::string {
    auto it = obj.find(k);
    return it != obj.end() && it->value().is_string() ? std::string(it->value().get_string())
                                                      : std::string();
  };
  auto num = [](const json::object& obj, const char* k) -> int64_t {
    auto it = obj.find(k);
    return it != obj.end() && it->value().is_int64() ? it->value().get_int64() : 0;
  };
  Preview p;
  p.status = str(*o, "status");
  p.policy_text = str(*o, "policyText");
  p.message = str(*o, "message");
  p.started_at = num(*o, "startedAt");
  if (auto it = o->find("results"); it != o->end() && it->value().is_array()) {
    for (const auto& r : it->value().get_array()) {
      const json::object* ro = r.if_object();
      if (ro == nullptr) {
        continue;
      }
      AppliedAction a;
      a.repository = repo;
      a.digest = str(*ro, "digest");
      if (auto t = ro->find("tags"); t != ro->end() && t->value().is_array()) {
        for (const auto& tag : t->value().get_array()) {
          if (tag.is_string()) {
            a.tags.emplace_back(tag.get_string());
          }
        }
      }
      a.pushed_at = num(*ro, "pushedAt");
      a.type = str(*ro, "type") == "TRANSITION" ? ActionType::kTransition : ActionType::kExpire;
      a.storage_class =
          str(*ro, "storageClass") == "ARCHIVE" ? StorageClass::kArchive : StorageClass::kStandard;
      a.rule_priority = num(*ro, "priority");
      auto ref = ro->find("referrer");
      a.referrer = ref != ro->end() && ref->value().is_bool() && ref->value().get_bool();
      p.results.push_back(std::move(a));
    }
  }
  return p;
}

}  // namespace

Task<RepositoryRun> Runner::Evaluate(std::string repo, std::string policy_text) {
  auto policy = ParsePolicy(policy_text);
  if (!policy.ok()) {
    co_return std::move(policy).error();
  }
  auto records = co_await registry_.ListImages(repo);
  if (!records.ok()) {
    co_return std::move(records).error();
  }
  std::vector<Image> images;
  for (const auto& r : *records) {
    if (r.status == "ACTIVATING") {
      continue;  // being restored: neither standard nor archived until it lands
    }
    images.push_back(ToImage(r));
  }
  std::vector<Action> actions = lifecycle::Evaluate(*policy, images, clock_.NowSeconds());
  RepositoryRun run;
  run.repository = repo;
  run.has_policy = true;
  run.actions = Describe(repo, actions, *records);
  co_return run;
}

Task<RepositoryRun> Runner::Run(std::string repo, bool dry_run) {
  auto rec = co_await registry_.GetRepository(repo);
  if (!rec.ok()) {
    co_return std::move(rec).error();
  }
  RepositoryRun empty;
  empty.repository = repo;
  if (rec->lifecycle_policy.empty()) {
    co_return empty;
  }
  auto run = co_await Evaluate(repo, rec->lifecycle_policy);
  if (!run.ok() || dry_run) {
    co_return run;
  }
  bool archived = false;
  for (const AppliedAction& a : run->actions) {
    if (a.type == ActionType::kExpire) {
      auto gone = co_await registry_.ExpireImage(repo, a.digest);
      if (!gone.ok()) {
        if (gone.error().code == Errc::kManifestUnknown) {
          continue;  // deleted meanwhile (or with its subject)
        }
        co_return std::move(gone).error();
      }
    } else {
      auto s = co_await registry_.ArchiveImage(repo, a.digest);
      if (!s.ok()) {
        if (s.error().code == Errc::kManifestUnknown ||
            s.error().code == Errc::kPreconditionFailed) {
          continue;
        }
        co_return std::move(s).error();
      }
      archived = true;
    }
    if (sink_) {
      sink_(a);
    }
  }
  if (archived) {
    auto tiered = co_await registry_.TierBlobs();
    if (!tiered.ok()) {
      co_return std::move(tiered).error();
    }
  }
  auto marked = co_await registry_.MarkLifecycleEvaluated(repo, clock_.NowSeconds());
  if (!marked.ok()) {
    co_return std::move(marked).error();
  }
  co_return run;
}

Task<std::vector<RepositoryRun>> Runner::RunAll(bool dry_run, Progress progress) {
  std::vector<std::string> names;
  std::string after;
  for (;;) {
    auto page = co_await registry_.ListRepositoryRecords(after, 1000);
    if (!page.ok()) {
      co_return std::move(page).error();
    }
    for (const auto& r : *page) {
      if (!r.lifecycle_policy.empty()) {
        names.push_back(r.name);
      }
    }
    if (page->size() < 1000) {
      break;
    }
    after = page->back().name;
  }
  std::vector<RepositoryRun> runs;
  uint64_t done = 0;
  if (progress) {
    progress(0, names.size());
  }
  for (const auto& name : names) {
    auto run = co_await Run(name, dry_run);
    if (!run.ok()) {
      if (run.error().code != Errc::kNameUnknown) {
        co_return std::move(run).error();
      }
    } else {
      runs.push_back(std::move(*run));
    }
    ++done;
    if (progress) {
      progress(done, names.size());
    }
  }
  co_return runs;
}

Task<Ok> Runner::StorePreview(const std::string& repo, const Preview& p) {
  std::string key = std::string(kPreviewPrefix) + repo;
  std::string value = PreviewJson(p);
  co_return co_await registry_.PutSetting(key, value);
}

Task<Preview> Runner::GetPreview(std::string repo) {
  std::string key = std::string(kPreviewPrefix) + repo;
  auto text = co_await registry_.GetSetting(key);
  if (!text.ok()) {
    co_return std::move(text).error();
  }
  auto p = ParsePreview(repo, *text);
  if (p.ok() && p->status == "IN_PROGRESS" &&
      clock_.NowSeconds() - p->started_at > kPreviewStaleSeconds) {
    p->status = "FAILED";
    p->message = "the preview was interrupted";
  }
  co_return p;
}

Task<Preview> Runner::StartPreview(std::string repo, std::string policy_text) {
  auto rec = co_await registry_.GetRepository(repo);
  if (!rec.ok()) {
    co_return std::move(rec).error();
  }
  if (policy_text.empty()) {
    if (rec->lifecycle_policy.empty()) {
      co_return MakeError(Errc::kNotFound, "no lifecycle policy", repo);
    }
    policy_text = rec->lifecycle_policy;
  } else if (auto parsed = ParsePolicy(policy_text); !parsed.ok()) {
    co_return std::move(parsed).error();
  }
  auto current = co_await GetPreview(repo);
  if (current.ok() && current->status == "IN_PROGRESS") {
    co_return MakeError(Errc::kPreconditionFailed, "preview in progress", repo);
  }
  Preview p;
  p.status = "IN_PROGRESS";
  p.policy_text = policy_text;
  p.started_at = clock_.NowSeconds();
  auto stored = co_await StorePreview(repo, p);
  if (!stored.ok()) {
    co_return std::move(stored).error();
  }
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, CompletePreview(repo, p), asio::detached);
  co_return p;
}

asio::awaitable<void> Runner::CompletePreview(std::string repo, Preview preview) {
  auto run = co_await Evaluate(repo, preview.policy_text);
  if (run.ok()) {
    preview.status = "COMPLETE";
    preview.results = std::move(run->actions);
  } else {
    preview.status = "FAILED";
    preview.message = run.error().message;
  }
  auto stored = co_await StorePreview(repo, preview);
  if (!stored.ok()) {
    spdlog::warn("storing the lifecycle preview of {} failed: {}", repo, stored.error().message);
  }
}

}  // namespace berth::lifecycle
