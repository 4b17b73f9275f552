#include "loadgen/stats.h"

#include <algorithm>
#include <numeric>

namespace berth::bench {
namespace {

double At(std::vector<uint32_t>& us, double q) {
  size_t k = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(k), us.end());
  return us[k] / 1000.0;
}

}  // namespace

Percentiles ComputePercentiles(std::vector<uint32_t>& us) {
  Percentiles p;
  if (us.empty()) {
    return p;
  }
  p.mean = std::accumulate(us.begin(), us.end(), 0.0) / 1000.0 / static_cast<double>(us.size());
  p.max = *std::max_element(us.begin(), us.end()) / 1000.0;
  p.p50 = At(us, 0.50);
  p.p90 = At(us, 0.90);
  p.p99 = At(us, 0.99);
  return p;
}

void ErrorLog::Add(std::string what) {
  std::lock_guard<std::mutex> lock(mu_);
  ++total_;
  if (samples_.size() < kKeep) {
    samples_.push_back(std::move(what));
  }
}

std::vector<std::string> ErrorLog::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

uint64_t ErrorLog::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

void ErrorLog::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.clear();
  total_ = 0;
}

}  // namespace berth::bench
