// Metrics: Prometheus counters and latency histograms for the HTTP front end, rendered in the
// text exposition format (version 0.0.4). Thread-safe (one mutex; recording is a few map
// updates per request, far below the cost of serving it).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace berth::server {

class Metrics {
 public:
  void RecordRequest(std::string_view route, std::string_view method, unsigned status,
                     double seconds, uint64_t bytes_in, uint64_t bytes_out);
  // Appends the exposition text of everything recorded.
  void Render(std::string& out) const;

 private:
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, unsigned>, uint64_t> requests_;  // by mu_
  std::map<std::string, Histogram> latency_;                                     // by mu_
  uint64_t bytes_in_ = 0;                                                        // by mu_
  uint64_t bytes_out_ = 0;                                                       // by mu_
};

}  // namespace berth::server
