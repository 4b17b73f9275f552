#include "loadgen/report.h"

#include <cstdio>

namespace berth::bench {
namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

class JsonObject {
 public:
  void Str(std::string_view k, std::string_view v) { Key(k) += Quote(v); }
  void Num(std::string_view k, double v) { Key(k) += Fmt("%.6g", v); }
  void Int(std::string_view k, uint64_t v) { Key(k) += std::to_string(v); }
  void Bool(std::string_view k, bool v) { Key(k) += v ? "true" : "false"; }
  void Raw(std::string_view k, std::string_view v) { Key(k) += v; }
  std::string Done() { return s_ + "}"; }

 private:
  std::string& Key(std::string_view k) {
    s_ += s_.size() > 1 ? "," : "";
    s_ += Quote(k);
    s_ += ':';
    return s_;
  }
  std::string s_ = "{";
};

std::string LatencyJson(const Percentiles& p) {
  JsonObject o;
  o.Num("p50", p.p50);
  o.Num("p90", p.p90);
  o.Num("p99", p.p99);
  o.Num("max", p.max);
  o.Num("mean", p.mean);
  return o.Done();
}

std::string LatencyText(const Percentiles& p) {
  return "p50 " + Fmt("%.3f", p.p50) + "  p90 " + Fmt("%.3f", p.p90) + "  p99 " +
         Fmt("%.3f", p.p99) + "  max " + Fmt("%.3f", p.max) + " ms";
}

}  // namespace

std::string HumanSize(uint64_t bytes) {
  if (bytes >= kGiB && bytes % kGiB == 0) {
    return std::to_string(bytes / kGiB) + " GiB";
  }
  if (bytes >= kMiB && bytes % kMiB == 0) {
    return std::to_string(bytes / kMiB) + " MiB";
  }
  if (bytes >= kKiB && bytes % kKiB == 0) {
    return std::to_string(bytes / kKiB) + " KiB";
  }
  return std::to_string(bytes) + " B";
}

std::string FormatText(const RunResult& r) {
  std::string s = r.opts.scenario;
  if (!r.variant.empty()) {
    s += " (" + r.variant + ")";
  }
  if (r.size > 0) {
    s += "  size " + HumanSize(r.size);
  }
  s += "  c=" + std::to_string(r.opts.concurrency) + "  " + r.opts.target + "  " +
       Fmt("%.2f", r.elapsed_s) + " s\n";
  s += "  ops " + std::to_string(r.ops) + "  " + Fmt("%.1f", r.ops_per_s) + " ops/s  " +
       Fmt("%.1f", r.mib_per_s) + " MiB/s  (" + std::to_string(r.requests) + " requests)\n";
  for (const ClassResult& c : r.classes) {
    s += "  latency " + c.name + " (" + std::to_string(c.ops) + "): " + LatencyText(c.latency_ms) +
         "\n";
  }
  s += "  errors " + std::to_string(r.errors) + " (http " + std::to_string(r.http_errors) +
       ", transport " + std::to_string(r.transport_errors) + ", digest " +
       std::to_string(r.digest_mismatches) + " of " + std::to_string(r.digest_checks) + " checked)";
  if (r.fallbacks > 0) {
    s += "  single-POST fallbacks " + std::to_string(r.fallbacks);
  }
  if (r.exhausted) {
    s += "  [pre-generated data exhausted: run ended early]";
  }
  s += "\n";
  if (r.server_sampled) {
    s += "  server cpu " + Fmt("%.2f", r.server_cpu_s) + " s";
    if (r.bandwidth) {
      s += " (" + Fmt("%.3f", r.server_cpu_s_per_gib) + " s/GiB)";
    } else {
      s += " (" + Fmt("%.3f", r.server_cpu_s_per_kop) + " s/1k ops)";
    }
    s += "  rss peak " + Fmt("%.1f", r.server_rss_peak_kb / 1024.0) + " MiB (VmHWM " +
         Fmt("%.1f", r.server_hwm_kb / 1024.0) + " MiB)\n";
  }
  s += "  client cpu " + Fmt("%.2f", r.client_cpu_s) + " s  prep " + Fmt("%.2f", r.prep_s) +
       " s  setup " + Fmt("%.2f", r.setup_s) + " s\n";
  for (const std::string& e : r.error_samples) {
    s += "  error: " + e + "\n";
  }
  return s;
}

std::string FormatJson(const RunResult& r) {
  JsonObject o;
  o.Str("scenario", r.opts.scenario);
  o.Str("variant", r.variant);
  o.Int("size", r.size);
  o.Int("concurrency", static_cast<uint64_t>(r.opts.concurrency));
  o.Str("target", r.opts.target);
  o.Num("duration_s", r.opts.duration_s);
  o.Int("requests_limit", static_cast<uint64_t>(r.opts.requests));
  o.Bool("bandwidth", r.bandwidth);
  o.Num("prep_s", r.prep_s);
  o.Num("setup_s", r.setup_s);
  o.Num("elapsed_s", r.elapsed_s);
  o.Int("ops", r.ops);
  o.Int("failed_ops", r.failed_ops);
  o.Int("requests", r.requests);
  o.Int("bytes", r.bytes);
  o.Num("ops_per_s", r.ops_per_s);
  o.Num("mib_per_s", r.mib_per_s);
  o.Raw("latency_ms", LatencyJson(r.latency_ms));
  std::string classes = "[";
  for (const ClassResult& c : r.classes) {
    JsonObject co;
    co.Str("name", c.name);
    co.Int("ops", c.ops);
    co.Num("ops_per_s", c.ops_per_s);
    co.Raw("latency_ms", LatencyJson(c.latency_ms));
    classes += classes.size() > 1 ? "," : "";
    classes += co.Done();
  }
  o.Raw("classes", classes + "]");
  o.Int("errors", r.errors);
  o.Int("http_errors", r.http_errors);
  o.Int("transport_errors", r.transport_errors);
  o.Int("digest_checks", r.digest_checks);
  o.Int("digest_mismatches", r.digest_mismatches);
  o.Int("fallbacks", r.fallbacks);
  o.Int("reconnects", r.reconnects);
  o.Bool("exhausted", r.exhausted);
  o.Bool("server_sampled", r.server_sampled);
  o.Num("server_cpu_s", r.server_cpu_s);
  o.Num("server_cpu_s_per_gib", r.server_cpu_s_per_gib);
  o.Num("server_cpu_s_per_kop", r.server_cpu_s_per_kop);
  o.Num("server_rss_peak_mib", r.server_rss_peak_kb / 1024.0);
  o.Num("server_hwm_mib", r.server_hwm_kb / 1024.0);
  o.Num("client_cpu_s", r.client_cpu_s);
  std::string samples = "[";
  for (const std::string& e : r.error_samples) {
    samples += samples.size() > 1 ? "," : "";
    samples += Quote(e);
  }
  o.Raw("error_samples", samples + "]");
  return o.Done();
}

}  // namespace berth::bench
