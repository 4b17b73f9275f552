// berth-bench: HTTP load generator for OCI Distribution registries (issue 6).
//
//   berth-bench SCENARIO --target http://127.0.0.1:5000 --concurrency 16 --duration 5
//       [--size 16MiB] [--server-pid PID] [--json]
//
// See bench/README.md for the scenarios and what is measured.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "loadgen/report.h"
#include "loadgen/runner.h"
#include "loadgen/scenarios.h"

namespace {

using berth::bench::kGiB;
using berth::bench::kKiB;
using berth::bench::kMiB;

// "1048576", "4KiB", "16MiB", "16M", "1GiB".
uint64_t ParseSize(const std::string& s) {
  size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(s, &pos);
  } catch (const std::exception&) {
    throw std::invalid_argument("bad size '" + s + "'");
  }
  std::string unit = s.substr(pos);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    mult = kKiB;
  } else if (unit == "M" || unit == "MiB") {
    mult = kMiB;
  } else if (unit == "G" || unit == "GiB") {
    mult = kGiB;
  } else {
    throw std::invalid_argument("bad size unit in '" + s + "' (use B, KiB, MiB, GiB)");
  }
  return n * mult;
}

}  // namespace

int main(int argc, char** argv) {
  berth::bench::Options opts;
  std::string size = "1MiB";
  std::string chunk = "8MiB";
  std::string positional;
  bool list = false;

  CLI::App app{"berth-bench: load generator for OCI Distribution registries"};
  app.add_option("scenario", positional, "Scenario (same as --scenario)");
  app.add_option("--scenario", opts.scenario,
                 "push-mono | push-chunked | pull | head-blob | manifest-put | manifest-get | "
                 "manifest-head | tags-list | mixed");
  app.add_flag("--list", list, "List the scenarios and exit");
  app.add_option("--target", opts.target, "Registry base URL, http://HOST:PORT")
      ->capture_default_str();
  app.add_option("--creds", opts.creds,
                 "user:pass for HTTP Basic auth on every request (or env BERTH_BENCH_CREDS)");
  app.add_option("-c,--concurrency", opts.concurrency,
                 "Simulated clients, one keep-alive connection each")
      ->capture_default_str();
  app.add_option("--duration", opts.duration_s,
                 "Seconds during which clients start operations (each finishes its last one)")
      ->capture_default_str();
  app.add_option("--requests", opts.requests,
                 "Run exactly this many operations instead of --duration");
  app.add_option("--size", size, "Blob size (push, pull, head-blob; mixed: pushed layer)")
      ->capture_default_str();
  app.add_option("--chunk", chunk, "PATCH size for push-chunked")->capture_default_str();
  app.add_option("--push-mode", opts.push_mode,
                 "push-mono: patch (POST, PATCH blob, PUT ?digest=; skopeo) | put (POST, PUT "
                 "?digest= with blob; containerd) | single (POST ?digest= with blob)")
      ->capture_default_str();
  app.add_option("--page-size", opts.page_size,
                 "tags-list: tags per page (?n=), 0 for the whole list")
      ->capture_default_str();
  app.add_option("--tags", opts.tags, "tags-list: tags in the repository")->capture_default_str();
  app.add_option("--verify-every", opts.verify_every,
                 "Hash every Nth pulled body per client and compare with its digest (0: never)")
      ->capture_default_str();
  app.add_option("--threads", opts.threads, "io_context threads of the client")
      ->capture_default_str();
  app.add_option("--server-pid", opts.server_pid,
                 "Server process to sample: CPU time from /proc/PID/stat, VmRSS, VmHWM");
  app.add_flag("--json", opts.json, "Print one JSON object instead of text");
  app.add_option("--repo-prefix", opts.repo_prefix, "First path component of the repositories")
      ->capture_default_str();
  app.add_option("--seed", opts.seed, "Random seed for unique blobs and tags (0: random)");
  app.add_option("--timeout", opts.timeout_s, "Per-request socket timeout, seconds")
      ->capture_default_str();
  app.add_option("--setup-concurrency", opts.setup_concurrency, "Connections used for fixtures")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (list) {
    for (const std::string& s : berth::bench::ScenarioNames()) {
      std::printf("%s\n", s.c_str());
    }
    return 0;
  }
  if (!positional.empty()) {
    opts.scenario = positional;
  }
  // Credentials may come from the environment, to keep them out of argv and of saved commands.
  if (opts.creds.empty()) {
    if (const char* env = std::getenv("BERTH_BENCH_CREDS"); env != nullptr) {
      opts.creds = env;
    }
  }
  if (opts.scenario.empty()) {
    std::fprintf(stderr, "berth-bench: a scenario is required (--list shows them)\n");
    return 2;
  }
  try {
    opts.size = ParseSize(size);
    opts.chunk = ParseSize(chunk);
    if (opts.size == 0) {
      throw std::invalid_argument("--size must be positive");
    }
    berth::bench::RunResult r = berth::bench::Run(opts);
    if (opts.json) {
      std::printf("%s\n", berth::bench::FormatJson(r).c_str());
    } else {
      std::printf("%s", berth::bench::FormatText(r).c_str());
    }
    if (r.exhausted) {
      std::fprintf(stderr, "berth-bench: warning: pre-generated data ran out; run ended early\n");
    }
    return r.errors > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth-bench: %s\n", e.what());
    return 2;
  }
}
