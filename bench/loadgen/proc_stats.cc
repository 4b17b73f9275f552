#include "loadgen/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace berth::bench {

std::optional<double> ReadCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) {
    return std::nullopt;
  }
  // Field 2 (comm) may contain spaces; fields after the last ')' are space-separated, starting
  // with field 3 (state). utime and stime are fields 14 and 15.
  size_t close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream in(line.substr(close + 2));
  std::string skip;
  for (int field = 3; field < 14; ++field) {
    in >> skip;
  }
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (!(in >> utime >> stime)) {
    return std::nullopt;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<uint64_t> ReadStatusKb(int pid, std::string_view field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::stoull(line.substr(field.size() + 1));
    }
  }
  return std::nullopt;
}

void RssSampler::Start() {
  if (pid_ <= 0 || thread_.joinable()) {
    return;
  }
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      auto kb = ReadStatusKb(pid_, "VmRSS");
      if (kb && *kb > max_kb_.load()) {
        max_kb_ = *kb;
      }
      std::this_thread::sleep_for(period_);
    }
  });
}

uint64_t RssSampler::Stop() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
    auto kb = ReadStatusKb(pid_, "VmRSS");
    if (kb && *kb > max_kb_.load()) {
      max_kb_ = *kb;
    }
  }
  return max_kb_.load();
}

}  // namespace berth::bench
