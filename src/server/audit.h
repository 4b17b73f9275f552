// AuditLog: the registry's CloudTrail. Every state-changing request and every refused request
// becomes one JSON line:
//
//   {"time":"2026-11-28T08:40:00.123Z","request_id":"…","api":"oci","principal":"arn:aws:iam::…:user/ci",
//    "action":"ecr:PutImage","resource":"arn:aws:ecr:…:repository/app","repository":"app",
//    "source_ip":"10.0.0.7","user_agent":"skopeo/1.9","method":"PUT","path":"/v2/app/manifests/v1",
//    "status":201,"result":"success"}            (+ "error","message" when it failed)
//
// Files: <dir>/audit.log, rotated by size to audit.log.1 … audit.log.<keep> (oldest dropped).
// Durability: a dedicated writer appends queued lines and fdatasyncs after each batch (group
// commit), so an entry reaches the disk within one fsync of its request completing, without
// the request path waiting on the disk. Secrets are never written: callers pass only the
// fields above. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "kms/builtin_key_service.h"

namespace berth::server {

struct AuditOptions {
  std::string dir;                        // created if missing
  uint64_t max_file_bytes = 64ull << 20;  // rotate audit.log past this size
  int keep_files = 10;                    // rotated files kept
};

class AuditLog {
 public:
  // Opens (creating) <dir>/audit.log for appending. kUnavailable with the reason.
  static Result<std::unique_ptr<AuditLog>> Open(AuditOptions options);
  ~AuditLog();  // writes and syncs what is queued
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues one record (a JSON object without a trailing newline). Never blocks on the disk.
  void Append(std::string line);
  // Blocks until everything appended before the call is durable.
  void Flush();
  // Lines written since start, and write failures (also logged).
  uint64_t written() const;
  uint64_t failures() const;

 private:
  explicit AuditLog(AuditOptions options);
  void Run();
  Status WriteBatch(const std::vector<std::string>& batch);
  Status Rotate();
  Status OpenFile();

  AuditOptions options_;
  int fd_ = -1;
  uint64_t size_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work arrived / stopping
  std::condition_variable done_cv_;  // a batch became durable
  std::vector<std::string> queue_;   // guarded by mu_
  uint64_t appended_ = 0;            // guarded by mu_
  uint64_t durable_ = 0;             // guarded by mu_
  uint64_t failures_ = 0;            // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  std::thread thread_;
};

// Reading the trail back (`berth admin audit`).
struct AuditFilter {
  std::string principal;            // an ARN, a user/role name, or "anonymous"
  std::string action;               // e.g. ecr:PutImage (case-insensitive)
  std::string repository;           // exact
  std::string result;               // success | denied | failure
  std::optional<int64_t> since_ms;  // inclusive
  std::optional<int64_t> until_ms;  // exclusive
};
// Calls `fn` with each matching line, oldest first, across the rotated files.
// kUnavailable if the directory cannot be read.
Status ReadAudit(const std::string& dir, const AuditFilter& filter,
                 const std::function<void(const std::string&)>& fn);
// Parses an RFC 3339 time ("2026-11-28T08:00:00Z", fractions and offsets allowed) or a date
// ("2026-11-28") to milliseconds since the epoch. kInvalidArgument.
Result<int64_t> ParseAuditTime(const std::string& text);
// Formats milliseconds since the epoch as RFC 3339 with milliseconds, UTC.
std::string FormatAuditTime(int64_t ms);

// The audit record of one use of, or change to, a key-service key (`principal`: who used it,
// e.g. "berth:storage" for the data path). Never holds key bytes: there are none in `e`.
std::string KeyUsageRecord(const kms::KeyUsageEvent& e, std::string_view principal, int64_t now_ms);

}  // namespace berth::server
