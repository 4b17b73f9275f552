// Scenarios of the load generator: what one timed operation is, and the untimed fixtures it needs.
//
// A Scenario's constructor generates and hashes every blob it will send (before any clock
// starts). Setup() then pre-pushes fixtures over a few setup connections (untimed, idempotent:
// fixtures are deterministic, so a second run against the same registry finds them present).
// Op() performs one operation for one client and is called concurrently for different clients;
// per-client state lives in Client, shared state is immutable or atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "loadgen/http_client.h"
#include "loadgen/rng.h"
#include "loadgen/stats.h"

namespace berth::bench {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

struct Options {
  std::string scenario;
  std::string target = "http://127.0.0.1:5000";
  std::string creds;
  int concurrency = 1;
  double duration_s = 5;
  int64_t requests = 0;  // > 0: exactly this many operations instead of --duration
  uint64_t size = kMiB;
  uint64_t chunk = 8 * kMiB;
  std::string push_mode = "patch";  // patch | single | put
  int page_size = 0;                // tags-list: 0 = the whole list (following Link)
  int tags = 10000;
  int verify_every = 10;
  int threads = 2;
  int server_pid = 0;
  bool json = false;
  std::string repo_prefix = "bench";
  uint64_t seed = 0;  // 0: random
  int timeout_s = 600;
  int setup_concurrency = 16;
};

struct Client {
  Client(size_t i, boost::asio::any_io_executor ex, const Target& tgt, uint64_t seed)
      : index(i), executor(ex), conn(ex, tgt), rng(seed) {}

  size_t index;
  boost::asio::any_io_executor executor;  // the client's strand; its coroutines run there
  Connection conn;
  Rng rng;
  uint64_t seq = 0;     // operations started by this client
  std::string target;   // reusable request-target buffer
  std::string target2;  // second one (upload locations)
  std::string headers;  // reusable header-lines buffer
  std::string body;     // reusable small-body buffer (manifests)
  ClientStats stats;
};

struct OpResult {
  bool ok = false;
  bool exhausted = false;  // no pre-generated data left: the client stops
  int cls = 0;
  uint64_t bytes = 0;
};

// Shared by all clients of a run.
struct RunContext {
  const Options& opts;
  ErrorLog& errors;
  uint64_t run_id;  // distinguishes this run's tags from earlier runs' against the same registry
  std::atomic<uint64_t> verify_counter{0};  // every --verify-every'th checked read is verified
};

// Runs fixture work over the setup connections; blocking, called from the main thread.
class SetupEnv {
 public:
  using Task = std::function<boost::asio::awaitable<bool>(Client&, size_t)>;
  virtual ~SetupEnv() = default;
  // Runs task(client, i) for i in [0, n) over the setup connections; true if all returned true.
  virtual bool ParallelFor(size_t n, Task task) = 0;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual bool Setup(SetupEnv& env) = 0;
  virtual boost::asio::awaitable<OpResult> Op(Client& c) = 0;
  // Names of the operation classes reported (index = OpResult::cls).
  virtual std::vector<std::string> Classes() const { return {"op"}; }
  // Bandwidth scenarios report server CPU per GiB; the others per 1,000 operations.
  virtual bool Bandwidth() const = 0;
  // Free-form parameter shown next to the size: push mode, page size, …
  virtual std::string Variant() const { return ""; }
  // Payload size the scenario used (0 when size does not apply).
  virtual uint64_t Size() const { return 0; }
};

// Throws std::invalid_argument for an unknown scenario or bad option combination.
std::unique_ptr<Scenario> MakeScenario(RunContext& ctx);
std::vector<std::string> ScenarioNames();

}  // namespace berth::bench
