// Per-client counters and latency samples, merged after a run; the shared error log.
//
// ClientStats is owned by one client and touched only from its strand, so it needs no lock; the
// runner merges all of them after every client has finished. ErrorLog is thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace berth::bench {

// Operation classes per scenario: most have one ("op"); mixed has "pull" and "push".
inline constexpr int kMaxClasses = 2;

struct ClientStats {
  std::vector<uint32_t> latency_us[kMaxClasses];  // successful ops only
  uint64_t ops[kMaxClasses] = {};
  uint64_t bytes = 0;        // payload bytes moved by successful ops
  uint64_t requests = 0;     // HTTP requests sent
  uint64_t failed_ops = 0;   // ops with at least one error
  uint64_t http_errors = 0;  // responses that were not 2xx (or not what the op needs)
  uint64_t transport_errors = 0;
  uint64_t digest_checks = 0;  // sampled bodies hashed by the client
  uint64_t digest_mismatches = 0;
  uint64_t fallbacks = 0;  // single-POST uploads the server answered with 202
};

struct Percentiles {
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// Milliseconds; reorders `us`.
Percentiles ComputePercentiles(std::vector<uint32_t>& us);

class ErrorLog {
 public:
  // Keeps the first kKeep descriptions and counts all.
  void Add(std::string what);
  std::vector<std::string> Samples() const;
  uint64_t total() const;
  void Clear();

 private:
  static constexpr size_t kKeep = 20;
  mutable std::mutex mu_;
  std::vector<std::string> samples_;  // guarded by mu_
  uint64_t total_ = 0;                // guarded by mu_
};

}  // namespace berth::bench
