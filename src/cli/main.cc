// berth: the command-line entry point. The only place that names concrete stores and drivers:
// it parses configuration, opens SQLite and the filesystem blob store, and runs the server.
#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/config.h"
#include "meta/sqlite/sqlite_store.h"
#include "server/app.h"
#include "storage/fs/fs_blob_store.h"

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "berth: %s\n", msg.c_str());
  return 2;
}

int Serve(berth::cli::Config config) {
  auto level = spdlog::level::from_str(config.log_level);
  if (level == spdlog::level::off && config.log_level != "off") {
    return Fail("unknown log level '" + config.log_level + "' (trace|debug|info|warn|error|off)");
  }
  spdlog::set_level(level);
  if (config.log_format == "json") {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else if (config.log_format != "text") {
    return Fail("unknown log format '" + config.log_format + "' (text|json)");
  }
  auto listen = berth::cli::ParseListen(config.listen);
  if (!listen.ok()) {
    return Fail(listen.error().message);
  }
  ::mkdir(config.data_dir.c_str(), 0750);
  auto blobs = berth::storage::FsBlobStore::Open(config.data_dir);
  if (!blobs.ok()) {
    return Fail("cannot open data directory: " + blobs.error().message);
  }
  auto meta = berth::meta::OpenSqliteStore({config.data_dir + "/meta.db", 4});
  if (!meta.ok()) {
    return Fail("cannot open metadata database: " + meta.error().message);
  }
  berth::server::AppOptions opts;
  opts.http.host = listen->first;
  opts.http.port = listen->second;
  opts.http.header_limit = config.header_limit;
  opts.http.idle_timeout = std::chrono::seconds(config.idle_timeout_seconds);
  opts.http.io_timeout = std::chrono::seconds(config.io_timeout_seconds);
  opts.http.drain_timeout = std::chrono::seconds(config.drain_timeout_seconds);
  opts.registry.upload_ttl_seconds = config.upload_ttl_seconds;
  opts.upload_purge_interval =
      std::chrono::seconds(std::clamp<int64_t>(config.upload_ttl_seconds / 2, 1, 60));
  opts.access_log = config.access_log;
  opts.io_threads = config.io_threads;
  opts.blocking_threads = config.blocking_threads;
  spdlog::info("data directory {}", config.data_dir);
  berth::server::App app(std::move(opts), std::move(*meta), std::move(*blobs));
  if (auto s = app.Start(); !s.ok()) {
    return Fail(s.error().message);
  }
  app.Wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berth: a self-hosted container image registry with Amazon ECR's model"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "berth 0.1.0");

  berth::cli::Config config;
  std::string config_file;
  std::optional<std::string> listen, data_dir, log_level, log_format, upload_ttl;
  bool no_access_log = false;

  CLI::App* serve = app.add_subcommand("serve", "Run the registry server");
  serve->add_option("--config", config_file, "YAML configuration file");
  serve->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:5000)");
  serve->add_option("--data-dir", data_dir, "Directory for blobs and metadata (default ./data)");
  serve->add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  serve->add_option("--log-format", log_format, "text|json");
  serve->add_option("--upload-ttl", upload_ttl,
                    "Idle time after which an unfinished upload is removed (e.g. 3600, 24h)");
  serve->add_flag("--no-access-log", no_access_log, "Do not log every request");

  CLI11_PARSE(app, argc, argv);

  if (serve->parsed()) {
    if (!config_file.empty()) {
      if (auto s = berth::cli::ApplyConfigFile(config_file, config); !s.ok()) {
        return Fail(s.error().message);
      }
    }
    if (auto s = berth::cli::ApplyEnvironment(config); !s.ok()) {
      return Fail(s.error().message);
    }
    if (listen) {
      config.listen = *listen;
    }
    if (data_dir) {
      config.data_dir = *data_dir;
    }
    if (log_level) {
      config.log_level = *log_level;
    }
    if (log_format) {
      config.log_format = *log_format;
    }
    if (upload_ttl) {
      auto ttl = berth::cli::ParseSeconds("--upload-ttl", *upload_ttl);
      if (!ttl.ok()) {
        return Fail(ttl.error().message);
      }
      config.upload_ttl_seconds = *ttl;
    }
    if (no_access_log) {
      config.access_log = false;
    }
    return Serve(std::move(config));
  }
  return 0;
}
