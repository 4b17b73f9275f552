// Housekeeping: the registry cleaning itself while it serves. Runs lifecycle policies on a
// schedule, online garbage collection on a schedule, finishes restores from the archive, and
// runs the jobs `berth lifecycle run` and `berth gc` ask for through the admin API (progress
// and summaries kept per job). Exposes its counters on /metrics.
//
// Thread-safe. Loops and jobs are coroutines on the server's io_context; the heavy work runs
// on the registry's blocking pool.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "api/ecr/ecr_api.h"
#include "base/clock.h"
#include "lifecycle/runner.h"
#include "registry/registry.h"

namespace berth::server {

struct HousekeepingOptions {
  std::chrono::seconds lifecycle_interval{24 * 3600};  // 0: no scheduled lifecycle runs
  std::chrono::seconds gc_interval{3600};              // 0: no scheduled collections
  int64_t gc_grace_seconds = 3600;
  std::chrono::seconds activation_interval{2};  // how often pending restores are finished
  // Scheduled jobs run only on the node holding the "housekeeping" lease in the shared
  // metadata store (renewed every third of it); another node takes over once it expires.
  std::chrono::seconds lease_ttl{30};
};

class Housekeeping final : public api::ecr::AdminJobs {
 public:
  Housekeeping(boost::asio::io_context& ioc, registry::Registry& registry,
               lifecycle::Runner& runner, const Clock& clock, HousekeepingOptions options);

  // Starts the scheduled loops.
  void Start();
  // Cancels the loops' timers (jobs in flight finish on their own).
  void Stop();
  // Gives up the housekeeping lease (graceful shutdown), so another node takes over at once.
  boost::asio::awaitable<void> ReleaseLease();

  // api::ecr::AdminJobs
  boost::asio::awaitable<Result<std::string>> StartLifecycleRun(std::string repository,
                                                                bool dry_run) override;
  Result<std::string> StartGarbageCollection(bool dry_run) override;
  Result<std::string> DescribeJob(const std::string& id) override;

  // Called for every image a lifecycle run acted on (counts it).
  void CountAction(const lifecycle::AppliedAction& a);
  // Appends the housekeeping metrics (Prometheus text).
  void RenderMetrics(std::string& out) const;

 private:
  struct Job {
    std::string kind;  // lifecycle | gc
    std::string status = "IN_PROGRESS";
    bool dry_run = false;
    uint64_t done = 0;
    uint64_t total = 0;
    boost::json::object summary;
    std::string message;
    int64_t finished_at = 0;
  };
  std::string NewJob(const std::string& kind, bool dry_run);
  void Progress(const std::string& id, uint64_t done, uint64_t total);
  void Finish(const std::string& id, boost::json::object summary);
  void Fail(const std::string& id, const std::string& message);

  boost::asio::awaitable<void> LifecycleJob(std::string id, std::string repository, bool dry_run);
  boost::asio::awaitable<void> GcJob(std::string id, bool dry_run);
  // One collection at a time, scheduled or asked for.
  boost::asio::awaitable<Result<registry::Registry::GcReport>> Collect(bool dry_run,
                                                                       std::string job_id);
  boost::asio::awaitable<void> LifecycleLoop();
  boost::asio::awaitable<void> GcLoop();
  boost::asio::awaitable<void> ActivationLoop();
  boost::asio::awaitable<void> LeaseLoop();
  bool leader() const { return leader_.load(); }

  boost::asio::io_context& ioc_;
  registry::Registry& registry_;
  lifecycle::Runner& runner_;
  const Clock& clock_;
  HousekeepingOptions options_;
  boost::asio::steady_timer lifecycle_timer_;
  boost::asio::steady_timer gc_timer_;
  boost::asio::steady_timer lease_timer_;
  std::string node_id_;              // this process, as a lease holder
  std::atomic<bool> leader_{false};  // holds the housekeeping lease
  boost::asio::steady_timer activation_timer_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> gc_running_{false};

  mutable std::mutex mu_;
  std::map<std::string, Job> jobs_;  // guarded by mu_

  std::atomic<uint64_t> images_expired_{0};
  std::atomic<uint64_t> images_transitioned_{0};
  std::atomic<uint64_t> gc_runs_{0};
  std::atomic<uint64_t> gc_blobs_deleted_{0};
  std::atomic<uint64_t> gc_bytes_deleted_{0};
  std::atomic<uint64_t> gc_bytes_reclaimable_{0};
  std::atomic<uint64_t> images_restored_{0};
};

}  // namespace berth::server
