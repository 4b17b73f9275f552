#include "server/metrics.h"

#include <cstdio>

namespace berth::server {

void Metrics::RecordRequest(std::string_view route, std::string_view method, unsigned status,
                            double seconds, uint64_t bytes_in, uint64_t bytes_out) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), std::string(method), status}];
  Histogram& h = latency_[std::string(route)];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.counts[i];
    }
  }
  ++h.count;
  h.sum += seconds;
  bytes_in_ += bytes_in;
  bytes_out_ += bytes_out;
}

void Metrics::Render(std::string& out) const {
  std::lock_guard lock(mu_);
  char buf[1024];
  out += "# HELP berth_http_requests_total HTTP requests served, by route, method and status.\n";
  out += "# TYPE berth_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    std::snprintf(buf, sizeof buf,
                  "berth_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
                  route.c_str(), method.c_str(), status, static_cast<unsigned long long>(n));
    out += buf;
  }
  out += "# HELP berth_http_request_duration_seconds Time to serve a request, by route.\n";
  out += "# TYPE berth_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      std::snprintf(buf, sizeof buf,
                    "berth_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    route.c_str(), kBuckets[i], static_cast<unsigned long long>(h.counts[i]));
      out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "berth_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                  "berth_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "berth_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  route.c_str(), static_cast<unsigned long long>(h.count), route.c_str(), h.sum,
                  route.c_str(), static_cast<unsigned long long>(h.count));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "# HELP berth_http_received_bytes_total Request body bytes received.\n"
                "# TYPE berth_http_received_bytes_total counter\n"
                "berth_http_received_bytes_total %llu\n"
                "# HELP berth_http_sent_bytes_total Response body bytes sent.\n"
                "# TYPE berth_http_sent_bytes_total counter\n"
                "berth_http_sent_bytes_total %llu\n",
                static_cast<unsigned long long>(bytes_in_),
                static_cast<unsigned long long>(bytes_out_));
  out += buf;
}

}  // namespace berth::server
