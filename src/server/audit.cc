#include "server/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "base/strings.h"

namespace berth::server {

namespace {

std::string LogPath(const std::string& dir, int n) {
  return n == 0 ? dir + "/audit.log" : dir + "/audit.log." + std::to_string(n);
}

Error Sys(const std::string& what) {
  return MakeError(Errc::kUnavailable, "audit log " + what + ": " + std::strerror(errno));
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Sys(dir);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) {
    return Sys(dir);
  }
  return Ok{};
}

}  // namespace

std::string KeyUsageRecord(const kms::KeyUsageEvent& e, std::string_view principal,
                           int64_t now_ms) {
  boost::json::object o;
  o["time"] = FormatAuditTime(now_ms);
  o["api"] = "kms";
  o["principal"] = principal;
  o["action"] = "kms:" + e.operation;
  o["resource"] = e.key_arn;
  o["key_id"] = e.key_id;
  o["encryption_context"] = e.purpose;
  o["result"] = e.ok ? "success" : "error";
  if (!e.ok) {
    o["error"] = std::string(ErrcName(e.error_code));
    o["message"] = e.error_message;
  }
  return boost::json::serialize(o);
}

std::string FormatAuditTime(int64_t ms) {
  std::string s = FormatRfc3339(ms / 1000);  // ...SSZ
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  s.pop_back();
  return s + frac;
}

Result<int64_t> ParseAuditTime(const std::string& text) {
  auto t = ParseIso8601(text);
  if (!t) {
    return MakeError(Errc::kInvalidArgument,
                     "invalid time '" + text + "': use RFC 3339, e.g. 2026-11-28T08:00:00Z");
  }
  return static_cast<int64_t>(std::llround(*t * 1000));
}

AuditLog::AuditLog(AuditOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(AuditOptions options) {
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Sys(options.dir);
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  BERTH_TRY(log->OpenFile());
  log->thread_ = std::thread([l = log.get()] { l->Run(); });
  return log;
}

Status AuditLog::OpenFile() {
  std::string path = LogPath(options_.dir, 0);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    return Sys(path);
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    return Sys(path);
  }
  size_ = static_cast<uint64_t>(st.st_size);
  return SyncDir(options_.dir);
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void AuditLog::Append(std::string line) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(line));
    ++appended_;
  }
  cv_.notify_one();
}

void AuditLog::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = appended_;
  done_cv_.wait(lock, [&] { return durable_ >= target || (stop_ && queue_.empty()); });
}

uint64_t AuditLog::written() const {
  std::lock_guard lock(mu_);
  return durable_;
}

uint64_t AuditLog::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

Status AuditLog::Rotate() {
  ::close(fd_);
  fd_ = -1;
  // audit.log.<keep> falls off; every other file moves one up.
  ::unlink(LogPath(options_.dir, options_.keep_files).c_str());
  for (int n = options_.keep_files - 1; n >= 0; --n) {
    std::string from = LogPath(options_.dir, n);
    if (::rename(from.c_str(), LogPath(options_.dir, n + 1).c_str()) != 0 && errno != ENOENT) {
      return Sys("rotate " + from);
    }
  }
  return OpenFile();
}

Status AuditLog::WriteBatch(const std::vector<std::string>& batch) {
  if (fd_ < 0) {
    BERTH_TRY(OpenFile());
  }
  std::string buf;
  for (const auto& line : batch) {
    buf += line;
    buf += '\n';
  }
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Sys("write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return Sys("fdatasync");
  }
  size_ += buf.size();
  if (size_ >= options_.max_file_bytes && options_.keep_files > 0) {
    BERTH_TRY(Rotate());
  }
  return Ok{};
}

void AuditLog::Run() {
  std::vector<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) {
        done_cv_.notify_all();
        return;
      }
      batch.swap(queue_);
    }
    Status s = WriteBatch(batch);
    {
      std::lock_guard lock(mu_);
      durable_ += batch.size();
      if (!s.ok()) {
        ++failures_;
      }
    }
    if (!s.ok()) {
      spdlog::error("{} ({} audit records may be lost)", s.error().message, batch.size());
    }
    batch.clear();
    done_cv_.notify_all();
  }
}

Status ReadAudit(const std::string& dir, const AuditFilter& f,
                 const std::function<void(const std::string&)>& fn) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return Sys(dir);
  }
  int oldest = 0;
  for (int n = 1; n < 10000; ++n) {
    if (::access(LogPath(dir, n).c_str(), F_OK) != 0) {
      break;
    }
    oldest = n;
  }
  for (int n = oldest; n >= 0; --n) {
    std::ifstream in(LogPath(dir, n));
    std::string line;
    while (std::getline(in, line)) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(line, ec);
      const boost::json::object* o = v.if_object();
      if (ec || o == nullptr) {
        continue;  // a torn last line after a crash
      }
      auto str = [&](const char* key) -> std::string {
        auto it = o->find(key);
        if (it == o->end() || !it->value().is_string()) {
          return {};
        }
        return std::string(it->value().get_string());
      };
      if (!f.principal.empty()) {
        std::string p = str("principal");
        bool match = p == f.principal || p.ends_with(":user/" + f.principal) ||
                     p.ends_with(":role/" + f.principal);
        if (!match) {
          continue;
        }
      }
      if (!f.action.empty() && !EqualsIgnoreCase(str("action"), f.action)) {
        continue;
      }
      if (!f.repository.empty() && str("repository") != f.repository) {
        continue;
      }
      if (!f.result.empty() && str("result") != f.result) {
        continue;
      }
      if (f.since_ms || f.until_ms) {
        auto t = ParseIso8601(str("time"));
        if (!t) {
          continue;
        }
        int64_t ms = static_cast<int64_t>(std::llround(*t * 1000));
        if ((f.since_ms && ms < *f.since_ms) || (f.until_ms && ms >= *f.until_ms)) {
          continue;
        }
      }
      fn(line);
    }
  }
  return Ok{};
}

}  // namespace berth::server
