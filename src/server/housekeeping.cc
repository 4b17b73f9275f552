#include "server/housekeeping.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "base/strings.h"

namespace berth::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr int64_t kJobRetentionSeconds = 3600;

json::object LifecycleSummary(const std::vector<lifecycle::RepositoryRun>& runs) {
  uint64_t expired = 0;
  uint64_t transitioned = 0;
  json::array actions;
  for (const auto& run : runs) {
    for (const auto& a : run.actions) {
      (a.type == lifecycle::ActionType::kExpire ? expired : transitioned)++;
      json::object o;
      o["repositoryName"] = a.repository;
      o["imageDigest"] = a.digest;
      json::array tags;
      for (const auto& t : a.tags) {
        tags.emplace_back(t);
      }
      o["imageTags"] = std::move(tags);
      o["action"] = lifecycle::ActionTypeName(a.type);
      o["appliedRulePriority"] = a.rule_priority;
      actions.push_back(std::move(o));
    }
  }
  json::object s;
  s["repositoriesEvaluated"] = runs.size();
  s["imagesExpired"] = expired;
  s["imagesTransitioned"] = transitioned;
  s["actions"] = std::move(actions);
  return s;
}

json::object GcSummary(const registry::Registry::GcReport& r) {
  json::object s;
  s["blobsDeleted"] = r.blobs_deleted;
  s["bytesDeleted"] = r.bytes_deleted;
  s["linksDeleted"] = r.links_deleted;
  s["uploadsPurged"] = r.uploads_purged;
  s["orphanFilesDeleted"] = r.orphan_files_deleted;
  s["bytesReclaimable"] = r.bytes_reclaimable;
  return s;
}

}  // namespace

Housekeeping::Housekeeping(asio::io_context& ioc, registry::Registry& registry,
                           lifecycle::Runner& runner, const Clock& clock,
                           HousekeepingOptions options)
    : ioc_(ioc),
      registry_(registry),
      runner_(runner),
      clock_(clock),
      options_(options),
      lifecycle_timer_(ioc),
      gc_timer_(ioc),
      lease_timer_(ioc),
      node_id_(RandomHexId()),
      activation_timer_(ioc) {}

void Housekeeping::Start() {
  asio::co_spawn(ioc_, LeaseLoop(), asio::detached);
  if (options_.lifecycle_interval.count() > 0) {
    asio::co_spawn(ioc_, LifecycleLoop(), asio::detached);
  }
  if (options_.gc_interval.count() > 0) {
    asio::co_spawn(ioc_, GcLoop(), asio::detached);
  }
  asio::co_spawn(ioc_, ActivationLoop(), asio::detached);
}

void Housekeeping::Stop() {
  stopping_ = true;
  lifecycle_timer_.cancel();
  gc_timer_.cancel();
  lease_timer_.cancel();
  activation_timer_.cancel();
}

asio::awaitable<void> Housekeeping::ReleaseLease() {
  if (leader_.exchange(false)) {
    auto r = co_await registry_.ReleaseLease("housekeeping", node_id_);
    if (!r.ok()) {
      spdlog::warn("releasing the housekeeping lease: {}", r.error().message);
    }
  }
}

asio::awaitable<void> Housekeeping::LeaseLoop() {
  int64_t ttl = std::max<int64_t>(3, options_.lease_ttl.count());
  while (!stopping_) {
    auto held = co_await registry_.HoldLease("housekeeping", node_id_, ttl);
    bool now_leader = held.ok() && *held;
    if (!held.ok()) {
      spdlog::warn("housekeeping lease: {}", held.error().message);
    }
    if (now_leader != leader_.exchange(now_leader)) {
      spdlog::info(now_leader ? "this node now runs scheduled lifecycle and GC jobs"
                              : "another node runs scheduled lifecycle and GC jobs");
    }
    lease_timer_.expires_after(std::chrono::seconds(ttl / 3));
    auto [ec] = co_await lease_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) {
      co_return;
    }
  }
}

std::string Housekeeping::NewJob(const std::string& kind, bool dry_run) {
  std::string id = RandomUuid();
  int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mu_);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second.finished_at > 0 && now - it->second.finished_at > kJobRetentionSeconds) {
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  Job job;
  job.kind = kind;
  job.dry_run = dry_run;
  jobs_[id] = std::move(job);
  return id;
}

void Housekeeping::Progress(const std::string& id, uint64_t done, uint64_t total) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second.done = done;
    it->second.total = total;
  }
}

void Housekeeping::Finish(const std::string& id, json::object summary) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second.status = "COMPLETE";
    it->second.summary = std::move(summary);
    it->second.finished_at = clock_.NowSeconds();
    it->second.done = std::max(it->second.done, it->second.total);
  }
}

void Housekeeping::Fail(const std::string& id, const std::string& message) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second.status = "FAILED";
    it->second.message = message;
    it->second.finished_at = clock_.NowSeconds();
  }
}

Result<std::string> Housekeeping::DescribeJob(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return MakeError(Errc::kNotFound, "no such job", id);
  }
  const Job& j = it->second;
  json::object o;
  o["jobId"] = id;
  o["kind"] = j.kind;
  o["status"] = j.status;
  o["dryRun"] = j.dry_run;
  json::object progress;
  progress["done"] = j.done;
  progress["total"] = j.total;
  progress["unit"] = j.kind == "gc" ? "blobs" : "repositories";
  o["progress"] = std::move(progress);
  o["summary"] = j.summary;
  if (!j.message.empty()) {
    o["message"] = j.message;
  }
  return json::serialize(o);
}

asio::awaitable<Result<std::string>> Housekeeping::StartLifecycleRun(std::string repository,
                                                                     bool dry_run) {
  if (!repository.empty()) {
    auto repo = co_await registry_.GetRepository(repository);
    if (!repo.ok()) {
      co_return std::move(repo).error();
    }
  }
  std::string id = NewJob("lifecycle", dry_run);
  asio::co_spawn(ioc_, LifecycleJob(id, repository, dry_run), asio::detached);
  co_return id;
}

Result<std::string> Housekeeping::StartGarbageCollection(bool dry_run) {
  if (gc_running_) {
    return MakeError(Errc::kLimitExceeded,
                     "a garbage collection is already running; try again when it finishes");
  }
  std::string id = NewJob("gc", dry_run);
  asio::co_spawn(ioc_, GcJob(id, dry_run), asio::detached);
  return id;
}

asio::awaitable<void> Housekeeping::LifecycleJob(std::string id, std::string repository,
                                                 bool dry_run) {
  std::vector<lifecycle::RepositoryRun> runs;
  if (!repository.empty()) {
    Progress(id, 0, 1);
    auto run = co_await runner_.Run(repository, dry_run);
    if (!run.ok()) {
      Fail(id, run.error().message);
      co_return;
    }
    runs.push_back(std::move(*run));
    Progress(id, 1, 1);
  } else {
    // A named function, not a capturing lambda temporary inside co_await: GCC 12 destroys the
    // latter's captures twice.
    lifecycle::Progress progress = [this, id](uint64_t done, uint64_t total) {
      Progress(id, done, total);
    };
    auto all = co_await runner_.RunAll(dry_run, progress);
    if (!all.ok()) {
      Fail(id, all.error().message);
      co_return;
    }
    runs = std::move(*all);
  }
  Finish(id, LifecycleSummary(runs));
}

asio::awaitable<Result<registry::Registry::GcReport>> Housekeeping::Collect(bool dry_run,
                                                                            std::string job_id) {
  if (gc_running_.exchange(true)) {
    co_return MakeError(Errc::kLimitExceeded, "a garbage collection is already running");
  }
  registry::Registry::GcOptions opts;
  opts.dry_run = dry_run;
  opts.grace_seconds = options_.gc_grace_seconds;
  std::function<void(uint64_t, uint64_t)> progress = [this, job_id](uint64_t done, uint64_t total) {
    if (!job_id.empty()) {
      Progress(job_id, done, total);
    }
  };
  auto report = co_await registry_.CollectGarbage(opts, progress);
  gc_running_ = false;
  if (report.ok()) {
    gc_bytes_reclaimable_ = report->bytes_reclaimable;
    if (!dry_run) {
      ++gc_runs_;
      gc_blobs_deleted_ += report->blobs_deleted;
      gc_bytes_deleted_ += report->bytes_deleted;
    }
  }
  co_return report;
}

asio::awaitable<void> Housekeeping::GcJob(std::string id, bool dry_run) {
  auto report = co_await Collect(dry_run, id);
  if (!report.ok()) {
    Fail(id, report.error().message);
    co_return;
  }
  Finish(id, GcSummary(*report));
}

void Housekeeping::CountAction(const lifecycle::AppliedAction& a) {
  if (a.type == lifecycle::ActionType::kExpire) {
    ++images_expired_;
  } else {
    ++images_transitioned_;
  }
}

asio::awaitable<void> Housekeeping::LifecycleLoop() {
  while (!stopping_) {
    lifecycle_timer_.expires_after(options_.lifecycle_interval);
    auto [ec] = co_await lifecycle_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) {
      co_return;
    }
    if (!leader()) {
      continue;  // the lease holder runs it
    }
    auto runs = co_await runner_.RunAll(false, nullptr);
    if (!runs.ok()) {
      spdlog::warn("scheduled lifecycle run failed: {}", runs.error().message);
    } else {
      spdlog::info("scheduled lifecycle run: {} repositories evaluated", runs->size());
    }
  }
}

asio::awaitable<void> Housekeeping::GcLoop() {
  while (!stopping_) {
    gc_timer_.expires_after(options_.gc_interval);
    auto [ec] = co_await gc_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) {
      co_return;
    }
    if (!leader()) {
      continue;
    }
    auto report = co_await Collect(false, std::string());
    if (!report.ok()) {
      if (report.error().code != Errc::kLimitExceeded) {
        spdlog::warn("scheduled garbage collection failed: {}", report.error().message);
      }
    } else if (report->blobs_deleted + report->links_deleted + report->orphan_files_deleted > 0) {
      spdlog::info("garbage collection: {} blobs ({} bytes), {} links, {} orphan files deleted",
                   report->blobs_deleted, report->bytes_deleted, report->links_deleted,
                   report->orphan_files_deleted);
    }
  }
}

asio::awaitable<void> Housekeeping::ActivationLoop() {
  while (!stopping_) {
    activation_timer_.expires_after(options_.activation_interval);
    auto [ec] = co_await activation_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) {
      co_return;
    }
    if (!leader()) {
      continue;
    }
    auto n = co_await registry_.CompleteActivations();
    if (!n.ok()) {
      spdlog::warn("finishing restores from the archive failed: {}", n.error().message);
    } else {
      images_restored_ += *n;
    }
  }
}

void Housekeeping::RenderMetrics(std::string& out) const {
  auto line = [&out](const char* name, const char* type, const char* help, uint64_t v) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  };
  line("berth_lifecycle_images_expired_total", "counter", "Images expired by lifecycle policies.",
       images_expired_);
  line("berth_lifecycle_images_transitioned_total", "counter",
       "Images moved to the archive by lifecycle policies.", images_transitioned_);
  line("berth_images_restored_total", "counter", "Images restored from the archive.",
       images_restored_);
  line("berth_gc_runs_total", "counter", "Garbage collections completed.", gc_runs_);
  line("berth_housekeeping_leader", "gauge",
       "1 while this node holds the lease to run scheduled lifecycle and GC jobs.",
       leader_.load() ? 1 : 0);
  line("berth_gc_blobs_deleted_total", "counter", "Blobs deleted by garbage collection.",
       gc_blobs_deleted_);
  line("berth_gc_reclaimed_bytes_total", "counter", "Bytes reclaimed by garbage collection.",
       gc_bytes_deleted_);
  line("berth_gc_reclaimable_bytes", "gauge",
       "Bytes of blobs no manifest references, as of the last collection (dry runs too).",
       gc_bytes_reclaimable_);
}

}  // namespace berth::server
