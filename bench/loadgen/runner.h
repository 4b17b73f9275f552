// Run: one measurement of one scenario against one registry.
//
// Order: generate and hash data (scenario constructor) → setup fixtures over --setup-concurrency
// connections → open --concurrency keep-alive connections → sample the server's CPU time →
// start the clock → every client loops over operations until --duration has passed or
// --requests operations were started → stop the clock when the last client finishes → sample
// again. Only the timed window is reported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/scenarios.h"
#include "loadgen/stats.h"

namespace berth::bench {

struct ClassResult {
  std::string name;
  uint64_t ops = 0;
  double ops_per_s = 0;
  Percentiles latency_ms;
};

struct RunResult {
  Options opts;
  std::string variant;
  uint64_t size = 0;
  bool bandwidth = false;
  double prep_s = 0;   // generating and hashing data
  double setup_s = 0;  // fixtures
  double elapsed_s = 0;
  uint64_t ops = 0;  // successful operations
  uint64_t failed_ops = 0;
  uint64_t requests = 0;
  uint64_t bytes = 0;
  double ops_per_s = 0;
  double mib_per_s = 0;
  Percentiles latency_ms;  // class 0 (the only class but in mixed, where it is "pull")
  std::vector<ClassResult> classes;
  uint64_t errors = 0;  // http_errors + transport_errors + digest_mismatches
  uint64_t http_errors = 0;
  uint64_t transport_errors = 0;
  uint64_t digest_checks = 0;
  uint64_t digest_mismatches = 0;
  uint64_t fallbacks = 0;
  uint64_t reconnects = 0;
  bool exhausted = false;
  bool server_sampled = false;
  double server_cpu_s = 0;
  double server_cpu_s_per_gib = 0;
  double server_cpu_s_per_kop = 0;
  uint64_t server_rss_peak_kb = 0;  // max VmRSS sampled during the timed window
  uint64_t server_hwm_kb = 0;       // VmHWM: lifetime peak of the server process
  double client_cpu_s = 0;
  std::vector<std::string> error_samples;
};

// Throws std::runtime_error if setup fails, std::invalid_argument on bad options.
RunResult Run(const Options& opts);

}  // namespace berth::bench
