// Resource usage of the server under test, read from /proc/PID (Linux).
//
// CPU: utime + stime from /proc/PID/stat (clock-tick resolution, 10 ms). Memory: VmRSS sampled
// by a background thread during the timed window (its maximum is the run's peak), and VmHWM (the
// lifetime peak, which includes earlier runs and setup against the same process).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <thread>

namespace berth::bench {

std::optional<double> ReadCpuSeconds(int pid);
// A "kB" field of /proc/PID/status, e.g. "VmRSS" or "VmHWM".
std::optional<uint64_t> ReadStatusKb(int pid, std::string_view field);

// Samples VmRSS of `pid` every `period` from Start() until Stop(). Start/Stop from one thread.
class RssSampler {
 public:
  RssSampler(int pid, std::chrono::milliseconds period) : pid_(pid), period_(period) {}
  ~RssSampler() { Stop(); }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  void Start();
  // Returns the largest VmRSS seen, in kB (0 if none could be read).
  uint64_t Stop();

 private:
  int pid_;
  std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> max_kb_{0};
  std::thread thread_;
};

}  // namespace berth::bench
