#include "loadgen/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include "loadgen/proc_stats.h"

namespace berth::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

asio::awaitable<void> SetupWorker(SetupEnv::Task& task, Client& c, std::atomic<size_t>& next,
                                  size_t n, std::atomic<bool>& all_ok) {
  for (;;) {
    const size_t i = next.fetch_add(1);
    if (i >= n) {
      break;
    }
    bool ok = co_await task(c, i);
    if (!ok) {
      all_ok = false;
    }
  }
}

class PoolSetupEnv : public SetupEnv {
 public:
  explicit PoolSetupEnv(std::vector<std::unique_ptr<Client>>& clients) : clients_(clients) {}

  bool ParallelFor(size_t n, Task task) override {
    std::atomic<size_t> next{0};
    std::atomic<bool> all_ok{true};
    std::vector<std::future<void>> done;
    const size_t workers = std::min(n, clients_.size());
    for (size_t w = 0; w < workers; ++w) {
      Client& c = *clients_[w];
      done.push_back(
          asio::co_spawn(c.executor, SetupWorker(task, c, next, n, all_ok), asio::use_future));
    }
    for (auto& f : done) {
      f.get();
    }
    return all_ok.load();
  }

 private:
  std::vector<std::unique_ptr<Client>>& clients_;
};

struct Control {
  bool by_requests = false;
  Clock::time_point deadline;
  std::atomic<int64_t> remaining{0};
  std::atomic<bool> exhausted{false};

  bool Next() {
    if (by_requests) {
      return remaining.fetch_sub(1) > 0;
    }
    return Clock::now() < deadline;
  }
};

asio::awaitable<Clock::time_point> ClientLoop(Scenario& s, Client& c, Control& ctl) {
  while (ctl.Next()) {
    const Clock::time_point t0 = Clock::now();
    OpResult r = co_await s.Op(c);
    const Clock::time_point t1 = Clock::now();
    if (r.exhausted) {
      ctl.exhausted = true;
      break;
    }
    if (!r.ok) {
      ++c.stats.failed_ops;
      continue;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
    const int cls = std::clamp(r.cls, 0, kMaxClasses - 1);
    c.stats.latency_us[cls].push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
    ++c.stats.ops[cls];
    c.stats.bytes += r.bytes;
  }
  co_return Clock::now();
}

asio::awaitable<boost::system::error_code> ConnectClient(Client& c) {
  boost::system::error_code ec = co_await c.conn.Connect();
  co_return ec;
}

void ConnectAll(std::vector<std::unique_ptr<Client>>& clients) {
  std::vector<std::future<boost::system::error_code>> done;
  for (auto& c : clients) {
    done.push_back(asio::co_spawn(c->executor, ConnectClient(*c), asio::use_future));
  }
  for (auto& f : done) {
    boost::system::error_code ec = f.get();
    if (ec) {
      throw std::runtime_error("cannot connect: " + ec.message());
    }
  }
}

}  // namespace

RunResult Run(const Options& opts) {
  if (opts.concurrency < 1 || opts.threads < 1) {
    throw std::invalid_argument("--concurrency and --threads must be at least 1");
  }
  const Target target = MakeTarget(opts.target, opts.creds, std::chrono::seconds(opts.timeout_s));
  uint64_t seed = opts.seed;
  if (seed == 0) {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  }
  ErrorLog errors;
  RunContext ctx{opts, errors, seed};
  RunResult res;
  res.opts = opts;

  // 1. Data, before any clock.
  const Clock::time_point prep0 = Clock::now();
  std::unique_ptr<Scenario> scenario = MakeScenario(ctx);
  res.prep_s = Seconds(Clock::now() - prep0);
  res.variant = scenario->Variant();
  res.size = scenario->Size();
  res.bandwidth = scenario->Bandwidth();

  asio::io_context ioc(opts.threads);
  auto guard = asio::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int i = 0; i < opts.threads; ++i) {
    threads.emplace_back([&ioc] { ioc.run(); });
  }
  auto stop_threads = [&] {
    guard.reset();
    ioc.stop();
    for (auto& t : threads) {
      t.join();
    }
    threads.clear();
  };

  std::vector<std::unique_ptr<Client>> setup_clients;
  std::vector<std::unique_ptr<Client>> clients;
  Control ctl;
  std::vector<std::future<Clock::time_point>> finished;
  Clock::time_point start;
  Clock::time_point end;
  std::optional<double> cpu0;
  std::optional<double> cpu1;
  double client_cpu0 = 0;
  RssSampler rss(opts.server_pid, std::chrono::milliseconds(20));
  try {
    // 2. Fixtures (untimed).
    const Clock::time_point setup0 = Clock::now();
    for (int i = 0; i < std::max(1, opts.setup_concurrency); ++i) {
      setup_clients.push_back(std::make_unique<Client>(
          static_cast<size_t>(i), asio::make_strand(ioc), target, seed ^ (0x5e7u + i)));
    }
    PoolSetupEnv env(setup_clients);
    if (!scenario->Setup(env)) {
      auto samples = errors.Samples();
      std::string why = "unknown";
      if (!samples.empty()) {
        why = samples.front();
      }
      throw std::runtime_error("setup failed: " + why);
    }
    setup_clients.clear();
    errors.Clear();
    res.setup_s = Seconds(Clock::now() - setup0);

    // 3. Connections (untimed).
    for (int i = 0; i < opts.concurrency; ++i) {
      clients.push_back(std::make_unique<Client>(static_cast<size_t>(i), asio::make_strand(ioc),
                                                 target, seed + 1000003ULL * (i + 1)));
      clients.back()->stats.latency_us[0].reserve(4096);
    }
    ConnectAll(clients);

    // 4. The timed window.
    if (opts.server_pid > 0) {
      cpu0 = ReadCpuSeconds(opts.server_pid);
      if (!cpu0) {
        throw std::runtime_error("cannot read /proc/" + std::to_string(opts.server_pid) + "/stat");
      }
      rss.Start();
    }
    client_cpu0 = ProcessCpuSeconds();
    start = Clock::now();
    ctl.by_requests = opts.requests > 0;
    ctl.remaining = opts.requests;
    ctl.deadline = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(opts.duration_s));
    for (auto& c : clients) {
      finished.push_back(
          asio::co_spawn(c->executor, ClientLoop(*scenario, *c, ctl), asio::use_future));
    }
    end = start;
    for (auto& f : finished) {
      end = std::max(end, f.get());
    }
    res.client_cpu_s = ProcessCpuSeconds() - client_cpu0;
    if (opts.server_pid > 0) {
      cpu1 = ReadCpuSeconds(opts.server_pid);
      res.server_rss_peak_kb = rss.Stop();
      res.server_hwm_kb = ReadStatusKb(opts.server_pid, "VmHWM").value_or(0);
    }
  } catch (...) {
    stop_threads();
    throw;
  }
  for (auto& c : clients) {
    res.reconnects += c->conn.reconnects();
  }
  stop_threads();

  // 5. Aggregate.
  res.elapsed_s = std::max(Seconds(end - start), 1e-9);
  res.exhausted = ctl.exhausted.load();
  const std::vector<std::string> names = scenario->Classes();
  std::vector<uint32_t> merged[kMaxClasses];
  for (auto& c : clients) {
    const ClientStats& s = c->stats;
    for (int k = 0; k < kMaxClasses; ++k) {
      merged[k].insert(merged[k].end(), s.latency_us[k].begin(), s.latency_us[k].end());
      res.ops += s.ops[k];
    }
    res.failed_ops += s.failed_ops;
    res.requests += s.requests;
    res.bytes += s.bytes;
    res.http_errors += s.http_errors;
    res.transport_errors += s.transport_errors;
    res.digest_checks += s.digest_checks;
    res.digest_mismatches += s.digest_mismatches;
    res.fallbacks += s.fallbacks;
  }
  for (size_t k = 0; k < names.size() && k < static_cast<size_t>(kMaxClasses); ++k) {
    ClassResult cr;
    cr.name = names[k];
    cr.ops = merged[k].size();
    cr.ops_per_s = static_cast<double>(cr.ops) / res.elapsed_s;
    cr.latency_ms = ComputePercentiles(merged[k]);
    res.classes.push_back(cr);
  }
  if (!res.classes.empty()) {
    res.latency_ms = res.classes[0].latency_ms;
  }
  res.errors = res.http_errors + res.transport_errors + res.digest_mismatches;
  res.ops_per_s = static_cast<double>(res.ops) / res.elapsed_s;
  res.mib_per_s = static_cast<double>(res.bytes) / static_cast<double>(kMiB) / res.elapsed_s;
  if (cpu0 && cpu1) {
    res.server_sampled = true;
    res.server_cpu_s = *cpu1 - *cpu0;
    if (res.bytes > 0) {
      res.server_cpu_s_per_gib =
          res.server_cpu_s / (static_cast<double>(res.bytes) / static_cast<double>(kGiB));
    }
    if (res.ops > 0) {
      res.server_cpu_s_per_kop = res.server_cpu_s * 1000.0 / static_cast<double>(res.ops);
    }
  }
  res.error_samples = errors.Samples();
  return res;
}

}  // namespace berth::bench
