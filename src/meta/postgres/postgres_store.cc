#include "meta/postgres/postgres_store.h"

#include <algorithm>
#include <condition_variable>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace berth::meta {
namespace {

// Schema migrations. Never edit a shipped entry: append a new one. Open applies the missing
// ones in order, with their schema_version rows, in one transaction that holds
// pg_advisory_xact_lock(kMigrationLock): nodes starting at once queue on the lock, and the
// ones that get it after the first see the schema current and apply nothing. DDL is
// transactional in PostgreSQL, so a failed migration leaves the previous version intact.
//
// Migration 1 is the state the SQLite store reaches after its migrations 1-4 (see
// meta/sqlite/sqlite_store.cc for what each table holds), in PostgreSQL types:
//   - BIGINT for times and sizes, BOOLEAN for flags, BYTEA for manifest bodies and sealed
//     secrets (raw bytes, not text);
//   - every key column is COLLATE "C": ORDER BY and the `name > $after` paging compare bytes,
//     as SQLite does, whatever collation the database was created with;
//   - `user` is a reserved word in PostgreSQL, so those columns are quoted.
constexpr int64_t kMigrationLock = 0x6265727468000001;  // "berth" + 1
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE repositories (
  name TEXT COLLATE "C" PRIMARY KEY,
  created_at BIGINT NOT NULL,
  image_tag_mutability TEXT NOT NULL DEFAULT 'MUTABLE',
  mutability_exclusions TEXT NOT NULL DEFAULT '',
  scan_on_push BOOLEAN NOT NULL DEFAULT false,
  encryption_type TEXT NOT NULL DEFAULT 'AES256',
  kms_key TEXT NOT NULL DEFAULT '',
  policy_text TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  lifecycle_policy TEXT NOT NULL DEFAULT '',
  lifecycle_evaluated_at BIGINT NOT NULL DEFAULT 0,
  key_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE blobs (
  digest TEXT COLLATE "C" PRIMARY KEY,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  archived BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE repo_blobs (
  repo TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX repo_blobs_digest ON repo_blobs(digest);
CREATE TABLE manifests (
  repo TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  media_type TEXT NOT NULL,
  artifact_type TEXT NOT NULL,
  subject TEXT COLLATE "C" NOT NULL,
  annotations TEXT NOT NULL,
  size BIGINT NOT NULL,
  pushed_at BIGINT NOT NULL,
  body BYTEA NOT NULL,
  image_size BIGINT NOT NULL DEFAULT 0,
  last_pulled_at BIGINT NOT NULL DEFAULT 0,
  status TEXT COLLATE "C" NOT NULL DEFAULT 'ACTIVE',
  archived_at BIGINT NOT NULL DEFAULT 0,
  activated_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX manifests_subject ON manifests(repo, subject) WHERE subject <> '';
CREATE INDEX manifests_status ON manifests(status) WHERE status <> 'ACTIVE';
CREATE TABLE manifest_refs (
  repo TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  child TEXT COLLATE "C" NOT NULL,
  is_manifest BOOLEAN NOT NULL,
  PRIMARY KEY (repo, digest, child)
);
CREATE INDEX manifest_refs_child ON manifest_refs(repo, child);
CREATE INDEX manifest_refs_by_child ON manifest_refs(child);
CREATE TABLE tags (
  repo TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (repo, name)
);
CREATE INDEX tags_digest ON tags(repo, digest);
CREATE TABLE uploads (
  id TEXT COLLATE "C" PRIMARY KEY,
  repo TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_repo ON uploads(repo);
CREATE TABLE templates (
  prefix TEXT COLLATE "C" PRIMARY KEY,
  config TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE settings (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE users (
  name TEXT COLLATE "C" PRIMARY KEY,
  kind TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE user_policies (
  "user" TEXT COLLATE "C" NOT NULL,
  arn TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY ("user", arn)
);
CREATE TABLE access_keys (
  id TEXT COLLATE "C" PRIMARY KEY,
  "user" TEXT COLLATE "C" NOT NULL,
  secret BYTEA NOT NULL,
  status TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys("user");
)sql",
};

// Transactions. Every call that writes, or reads with more than one statement, is one
// transaction:
//   - writes run SERIALIZABLE and are retried from the start on serialization failure (40001)
//     or deadlock (40P01). The methods are the SQLite store's check-then-act sequences (tag
//     immutability check then upsert, "every ref is linked" then insert, "no images" then
//     delete the repository): under SERIALIZABLE PostgreSQL guarantees the outcome of any set
//     of concurrent calls equals some serial order, exactly the SQLite store's semantics,
//     without reasoning about which row (or missing row — a tag not yet created) each one
//     would have to lock under READ COMMITTED. The price is a retry under contention.
//   - multi-statement reads run REPEATABLE READ READ ONLY: one snapshot, never a conflict.
//   - single-statement reads run in autocommit (a statement is its own snapshot).
constexpr int kMaxAttempts = 40;
constexpr const char* kBeginWrite = "BEGIN ISOLATION LEVEL SERIALIZABLE";
constexpr const char* kBeginSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

// One query parameter, sent in text format (strings, integers, booleans) or binary (BYTEA).
// Strings are borrowed: a Param lives only for the call it is passed to. Text goes to libpq as
// a NUL-terminated string, which every source here (std::string, literals, num_) provides.
class Param {
 public:
  Param(const std::string& s) : view_(s) {}  // NOLINT: implicit by design
  Param(const char* s) : view_(s) {}         // NOLINT
  Param(bool b) : view_(b ? "t" : "f") {}    // NOLINT
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Param(T v)
      : num_(std::to_string(static_cast<int64_t>(v))), is_num_(true) {}  // NOLINT
  static Param Bytes(const std::string& s) {
    Param p(s);
    p.binary_ = true;
    return p;
  }

  const char* data() const { return is_num_ ? num_.c_str() : view_.data(); }
  int size() const { return static_cast<int>(is_num_ ? num_.size() : view_.size()); }
  int format() const { return binary_ ? 1 : 0; }

 private:
  std::string_view view_;
  std::string num_;
  bool is_num_ = false;
  bool binary_ = false;
};

// A query result (text format). Owns the PGresult.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}

  int rows() const { return PQntuples(r_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  int64_t Int(int row, int col) const {
    return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
  }
  uint64_t Uint(int row, int col) const { return static_cast<uint64_t>(Int(row, col)); }
  bool Bool(int row, int col) const { return PQgetvalue(r_.get(), row, col)[0] == 't'; }
  // A BYTEA column: the server sends it hex-escaped in text format.
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* p =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &n);
    if (p == nullptr) {
      return std::string();
    }
    std::string out(reinterpret_cast<const char*>(p), n);
    PQfreemem(p);
    return out;
  }
  // Rows an INSERT/UPDATE/DELETE changed.
  uint64_t Affected() const { return std::strtoull(PQcmdTuples(r_.get()), nullptr, 10); }
  PGresult* raw() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

bool IsConflict(std::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

// Retryable conditions: connection exceptions (08), insufficient resources (53), operator
// intervention (57: shutdown, cancel, statement timeout), lock not available (55P03) and
// serialization conflicts. Everything else (constraint violations included, as in the SQLite
// store) is kInternal.
Errc CodeFor(std::string_view sqlstate) {
  if (sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("53") ||
      sqlstate.starts_with("57") || sqlstate == "55P03" || IsConflict(sqlstate)) {
    return Errc::kUnavailable;
  }
  return Errc::kInternal;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// One server connection with its prepared statements. Used by one thread at a time (the pool
// hands it out exclusively).
class PgConn {
 public:
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  ~PgConn() = default;

  static Result<std::unique_ptr<PgConn>> Connect(const std::string& conninfo) {
    std::unique_ptr<PgConn> c(new PgConn(PQconnectdb(conninfo.c_str())));
    if (c->conn_ == nullptr) {
      return MakeError(Errc::kUnavailable, "postgres: connect: out of memory");
    }
    if (PQstatus(c->conn_.get()) != CONNECTION_OK) {
      return MakeError(Errc::kUnavailable,
                       "postgres: connect: " + Trim(PQerrorMessage(c->conn_.get())));
    }
    // Notices ("relation already exists, skipping") would go to stderr otherwise.
    PQsetNoticeProcessor(
        c->conn_.get(), [](void*, const char*) {}, nullptr);
    return c;
  }

  // Runs `sql` (a string literal: its address keys the prepared-statement cache) with
  // `params` as $1, $2, ...
  Result<PgResult> Exec(const char* sql, std::initializer_list<Param> params = {}) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "b" + std::to_string(prepared_.size());
      PgResult prep(PQprepare(conn_.get(), name.c_str(), sql, 0, nullptr));
      BERTH_TRY(Check(prep, "prepare"));
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const Param& p : params) {
      values.push_back(p.data());
      lengths.push_back(p.size());
      formats.push_back(p.format());
    }
    PgResult r(PQexecPrepared(conn_.get(), it->second.c_str(), static_cast<int>(params.size()),
                              values.data(), lengths.data(), formats.data(), 0));
    BERTH_TRY(Check(r, "query"));
    return r;
  }

  // Runs parameterless SQL (one or more statements) through the simple protocol.
  Status Run(const char* sql) {
    PgResult r(PQexec(conn_.get(), sql));
    return Check(r, sql);
  }

  bool broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }
  // Whether the last failure was a serialization failure or deadlock (retry the transaction).
  bool conflict() const { return IsConflict(last_sqlstate_); }
  void ClearError() { last_sqlstate_.clear(); }

 private:
  explicit PgConn(PGconn* c) : conn_(c, &PQfinish) {}

  Status Check(const PgResult& r, std::string_view what) {
    PGresult* res = r.raw();
    ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      return Ok{};
    }
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    last_sqlstate_ = state != nullptr ? state : "";
    std::string msg = res != nullptr ? PQresultErrorMessage(res) : "";
    if (msg.empty()) {
      msg = PQerrorMessage(conn_.get());
    }
    Errc code = broken() ? Errc::kUnavailable : CodeFor(last_sqlstate_);
    std::string w(what.substr(0, 60));
    return MakeError(code, "postgres: " + w + ": " + Trim(msg) +
                               (last_sqlstate_.empty() ? "" : " (" + last_sqlstate_ + ")"));
  }

  std::unique_ptr<PGconn, void (*)(PGconn*)> conn_;
  std::unordered_map<const char*, std::string> prepared_;  // SQL literal → statement name
  std::string last_sqlstate_;
};

// Bounded pool: at most `size` connections, opened on demand and kept open; a broken one is
// dropped when it comes back (with the idle ones), so the next Acquire opens a fresh one.
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<PgConn> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (c_ != nullptr) {
        pool_->Release(std::move(c_));
      }
    }
    PgConn& operator*() { return *c_; }
    PgConn* operator->() { return c_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<PgConn> c_;
  };

  Pool(std::string conninfo, int size, std::chrono::milliseconds timeout)
      : conninfo_(std::move(conninfo)), size_(std::max(size, 1)), timeout_(timeout) {}

  Result<Lease> Acquire() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout_, [&] { return !idle_.empty() || open_ < size_; })) {
      return MakeError(Errc::kUnavailable, "postgres: all " + std::to_string(size_) +
                                               " pooled connections busy for " +
                                               std::to_string(timeout_.count()) + " ms");
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConn> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    ++open_;  // reserve the slot, connect without holding the lock
    lock.unlock();
    auto c = PgConn::Connect(conninfo_);
    if (!c.ok()) {
      lock.lock();
      --open_;
      lock.unlock();
      cv_.notify_one();
      return std::move(c).error();
    }
    return Lease(this, std::move(*c));
  }

 private:
  // A broken connection usually means the server restarted or failed over, which broke the
  // idle ones too: drop them all, so the next calls open fresh connections instead of each
  // discovering a dead one.
  void Release(std::unique_ptr<PgConn> c) {
    std::vector<std::unique_ptr<PgConn>> drop;  // closed outside the lock
    {
      std::lock_guard lock(mu_);
      if (c->broken()) {
        drop.swap(idle_);
        drop.push_back(std::move(c));
        open_ -= static_cast<int>(drop.size());
      } else {
        idle_.push_back(std::move(c));
      }
    }
    cv_.notify_all();
  }

  const std::string conninfo_;
  const int size_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConn>> idle_;  // guarded by mu_
  int open_ = 0;                               // guarded by mu_: idle + leased
};

// Sleeps before retry `attempt` (1, 2, ...): full jitter over an exponential window capped at
// 50 ms, so conflicting transactions spread out instead of colliding again.
void Backoff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  int64_t cap_us = std::min<int64_t>(int64_t{200} << std::min(attempt, 8), 50000);
  std::uniform_int_distribution<int64_t> d(0, cap_us);
  std::this_thread::sleep_for(std::chrono::microseconds(d(rng)));
}

// The manifest columns RowToManifest reads (0-8); the body, when selected, follows as 9.
#define BERTH_MANIFEST_COLUMNS                                                                     \
  "m.digest,m.media_type,m.artifact_type,m.subject,m.annotations,m.size,m.pushed_at,m.image_size," \
  "m.status"
ManifestRecord RowToManifest(const PgResult& r, int i) {
  ManifestRecord m;
  m.digest = r.Text(i, 0);
  m.media_type = r.Text(i, 1);
  m.artifact_type = r.Text(i, 2);
  m.subject = r.Text(i, 3);
  m.annotations_json = r.Text(i, 4);
  m.size = r.Uint(i, 5);
  m.pushed_at = r.Int(i, 6);
  m.image_size = r.Uint(i, 7);
  m.status = r.Text(i, 8);
  return m;
}

// The columns RowToRepo reads, in its order.
#define BERTH_REPO_COLUMNS                                                                   \
  "name,created_at,image_tag_mutability,mutability_exclusions,scan_on_push,encryption_type," \
  "kms_key,policy_text,tags,lifecycle_policy,lifecycle_evaluated_at,key_id"
RepositoryRecord RowToRepo(const PgResult& q, int i) {
  RepositoryRecord r;
  r.name = q.Text(i, 0);
  r.created_at = q.Int(i, 1);
  r.image_tag_mutability = q.Text(i, 2);
  r.mutability_exclusions_json = q.Text(i, 3);
  r.scan_on_push = q.Bool(i, 4);
  r.encryption_type = q.Text(i, 5);
  r.kms_key = q.Text(i, 6);
  r.policy_text = q.Text(i, 7);
  r.tags_json = q.Text(i, 8);
  r.lifecycle_policy = q.Text(i, 9);
  r.lifecycle_evaluated_at = q.Int(i, 10);
  r.key_id = q.Text(i, 11);
  return r;
}

AccessKeyRecord RowToKey(const PgResult& r, int i) {
  return AccessKeyRecord{r.Text(i, 0), r.Text(i, 1), r.Bytes(i, 2), r.Text(i, 3), r.Int(i, 4)};
}

TemplateRecord RowToTemplate(const PgResult& r, int i) {
  return TemplateRecord{r.Text(i, 0), r.Text(i, 1), r.Int(i, 2), r.Int(i, 3)};
}

UploadRecord RowToUpload(const PgResult& r, int i) {
  return UploadRecord{r.Text(i, 0), r.Text(i, 1), r.Int(i, 2), r.Int(i, 3)};
}

std::vector<std::string> Column0(const PgResult& r) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(r.Text(i, 0));
  }
  return out;
}

template <class T, class F>
std::vector<T> Rows(const PgResult& r, F&& row) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(row(r, i));
  }
  return out;
}

// Users with their policies from rows (name, kind, created_at, arn-or-NULL) ordered by name.
std::vector<UserRecord> RowsToUsers(const PgResult& r) {
  std::vector<UserRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    std::string name = r.Text(i, 0);
    if (out.empty() || out.back().name != name) {
      UserRecord u;
      u.name = std::move(name);
      u.kind = r.Text(i, 1);
      u.created_at = r.Int(i, 2);
      out.push_back(std::move(u));
    }
    if (!r.IsNull(i, 3)) {
      out.back().policy_arns.push_back(r.Text(i, 3));
    }
  }
  return out;
}

class PostgresStoreImpl final : public MetadataStore {
 public:
  explicit PostgresStoreImpl(const PostgresOptions& o)
      : pool_(o.conninfo, o.pool_size, o.acquire_timeout) {}

  Status Open() { return Migrate(); }

  // --- repositories ----------------------------------------------------------------------------
  Result<bool> RepositoryExists(const std::string& repo) override {
    return Read([&](PgConn& c) -> Result<bool> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT 1 FROM repositories WHERE name=$1", {repo}));
      return r.rows() > 0;
    });
  }

  Result<std::vector<std::string>> ListRepositories(const std::string& after,
                                                    uint32_t limit) override {
    return Read([&](PgConn& c) -> Result<std::vector<std::string>> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT name FROM repositories WHERE name>$1 ORDER BY name LIMIT $2",
                         {after, limit}));
      return Column0(r);
    });
  }

  // --- blobs -----------------------------------------------------------------------------------
  static Status LinkBlob(PgConn& c, const std::string& repo, const std::string& digest,
                         uint64_t size, int64_t now) {
    BERTH_TRY(EnsureRepo(c, repo, now));
    BERTH_TRY(
        c.Exec("INSERT INTO blobs(digest,size,created_at) VALUES($1,$2,$3) ON CONFLICT "
               "DO NOTHING",
               {digest, size, now}));
    // A new upload or mount of a linked blob renews the link, restarting its grace period.
    BERTH_TRY(
        c.Exec("INSERT INTO repo_blobs(repo,digest,created_at) VALUES($1,$2,$3) ON "
               "CONFLICT(repo,digest) DO UPDATE SET created_at=GREATEST(repo_blobs."
               "created_at,excluded.created_at)",
               {repo, digest, now}));
    return Ok{};
  }

  Status PutBlobLink(const std::string& repo, const std::string& digest, uint64_t size,
                     int64_t now) override {
    return Write([&](PgConn& c) { return LinkBlob(c, repo, digest, size, now); });
  }

  Status LinkUploadedBlob(const std::string& repo, const std::string& digest, uint64_t size,
                          int64_t now, const std::string& upload_id,
                          const std::string& state_key) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(LinkBlob(c, repo, digest, size, now));
      BERTH_TRY(c.Exec("DELETE FROM uploads WHERE id=$1", {upload_id}));
      BERTH_TRY(c.Exec("DELETE FROM settings WHERE key=$1", {state_key}));
      return Ok{};
    });
  }

  Result<uint64_t> GetBlobLink(const std::string& repo, const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<uint64_t> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT b.size FROM repo_blobs l JOIN blobs b ON "
                                            "b.digest=l.digest WHERE l.repo=$1 AND l.digest=$2",
                                            {repo, digest}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "blob not linked", digest);
      }
      return r.Uint(0, 0);
    });
  }

  Result<uint64_t> GetBlob(const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<uint64_t> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT size FROM blobs WHERE digest=$1", {digest}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "blob unknown", digest);
      }
      return r.Uint(0, 0);
    });
  }

  Status DeleteBlobLink(const std::string& repo, const std::string& digest) override {
    return ChangeOne("DELETE FROM repo_blobs WHERE repo=$1 AND digest=$2", "blob not linked",
                     digest, repo, digest);
  }

  // --- manifests and tags ----------------------------------------------------------------------
  Status PutManifest(const std::string& repo, const ManifestRecord& m,
                     const std::vector<ManifestRef>& refs, const std::string& tag, bool protect_tag,
                     int64_t now) override {
    return Write([&](PgConn& c) -> Status {
      if (!tag.empty() && protect_tag) {
        BERTH_ASSIGN_OR_RETURN(
            auto r, c.Exec("SELECT digest FROM tags WHERE repo=$1 AND name=$2", {repo, tag}));
        if (r.rows() > 0 && r.Text(0, 0) != m.digest) {
          return MakeError(Errc::kTagImmutable,
                           "The image tag '" + tag + "' already exists in the '" + repo +
                               "' repository and cannot be overwritten because the tag is "
                               "immutable.",
                           tag);
        }
      }
      for (const ManifestRef& ref : refs) {
        BERTH_ASSIGN_OR_RETURN(
            auto r, c.Exec(ref.is_manifest ? "SELECT 1 FROM manifests WHERE repo=$1 AND digest=$2"
                                           : "SELECT 1 FROM repo_blobs WHERE repo=$1 AND digest=$2",
                           {repo, ref.digest}));
        if (r.rows() == 0) {
          return MakeError(Errc::kManifestBlobUnknown,
                           std::string(ref.is_manifest ? "manifest" : "blob") +
                               " unknown to repository: " + ref.digest,
                           ref.digest);
        }
      }
      BERTH_TRY(EnsureRepo(c, repo, now));
      BERTH_TRY(
          c.Exec("INSERT INTO manifests(repo,digest,media_type,artifact_type,subject,"
                 "annotations,size,pushed_at,body,image_size) VALUES($1,$2,$3,$4,$5,$6,$7,"
                 "$8,$9,$10) ON CONFLICT DO NOTHING",
                 {repo, m.digest, m.media_type, m.artifact_type, m.subject, m.annotations_json,
                  m.size, m.pushed_at, Param::Bytes(m.body), m.image_size}));
      // A push of an archived image restores it at once (as ECR does).
      BERTH_TRY(
          c.Exec("UPDATE manifests SET status='ACTIVE',activated_at=$1 WHERE repo=$2 AND "
                 "digest=$3 AND status<>'ACTIVE'",
                 {now, repo, m.digest}));
      for (const ManifestRef& ref : refs) {
        BERTH_TRY(
            c.Exec("INSERT INTO manifest_refs(repo,digest,child,is_manifest) VALUES($1,$2,"
                   "$3,$4) ON CONFLICT DO NOTHING",
                   {repo, m.digest, ref.digest, ref.is_manifest}));
      }
      if (!tag.empty()) {
        BERTH_TRY(
            c.Exec("INSERT INTO tags(repo,name,digest,updated_at) VALUES($1,$2,$3,$4) ON "
                   "CONFLICT(repo,name) DO UPDATE SET digest=excluded.digest,"
                   "updated_at=excluded.updated_at",
                   {repo, tag, m.digest, now}));
      }
      return Ok{};
    });
  }

  Result<ManifestRecord> GetManifest(const std::string& repo, const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<ManifestRecord> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT " BERTH_MANIFEST_COLUMNS
                                            ",m.body FROM manifests m WHERE m.repo=$1 AND "
                                            "m.digest=$2",
                                            {repo, digest}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "manifest unknown", digest);
      }
      ManifestRecord m = RowToManifest(r, 0);
      m.body = r.Bytes(0, 9);
      return m;
    });
  }

  Result<std::string> GetTag(const std::string& repo, const std::string& tag) override {
    return Read([&](PgConn& c) -> Result<std::string> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT digest FROM tags WHERE repo=$1 AND name=$2", {repo, tag}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "tag unknown", tag);
      }
      return r.Text(0, 0);
    });
  }

  Result<ManifestRecord> GetTaggedManifest(const std::string& repo,
                                           const std::string& tag) override {
    return Read([&](PgConn& c) -> Result<ManifestRecord> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT " BERTH_MANIFEST_COLUMNS ",m.body FROM tags t JOIN manifests m ON "
                         "m.repo=t.repo AND m.digest=t.digest WHERE "
                         "t.repo=$1 AND t.name=$2",
                         {repo, tag}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "tag unknown", tag);
      }
      ManifestRecord m = RowToManifest(r, 0);
      m.body = r.Bytes(0, 9);
      return m;
    });
  }

  Status DeleteTag(const std::string& repo, const std::string& tag) override {
    return ChangeOne("DELETE FROM tags WHERE repo=$1 AND name=$2", "tag unknown", tag, repo, tag);
  }

  Status DeleteManifest(const std::string& repo, const std::string& digest) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("DELETE FROM manifests WHERE repo=$1 AND digest=$2", {repo, digest}));
      if (r.Affected() == 0) {
        return MakeError(Errc::kNotFound, "manifest unknown", digest);
      }
      BERTH_TRY(c.Exec("DELETE FROM manifest_refs WHERE repo=$1 AND digest=$2", {repo, digest}));
      BERTH_TRY(c.Exec("DELETE FROM tags WHERE repo=$1 AND digest=$2", {repo, digest}));
      return Ok{};
    });
  }

  Result<std::vector<std::string>> ListTags(const std::string& repo, const std::string& after,
                                            uint32_t limit) override {
    return Snapshot([&](PgConn& c) -> Result<std::vector<std::string>> {
      BERTH_TRY(RequireRepo(c, repo));
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT name FROM tags WHERE repo=$1 AND name>$2 ORDER BY name LIMIT $3",
                         {repo, after, limit}));
      return Column0(r);
    });
  }

  Result<std::vector<ManifestRecord>> ListReferrers(const std::string& repo,
                                                    const std::string& subject) override {
    return Read([&](PgConn& c) -> Result<std::vector<ManifestRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT " BERTH_MANIFEST_COLUMNS
                                            " FROM manifests m WHERE m.repo=$1 AND m.subject=$2 "
                                            "AND m.subject<>'' ORDER BY m.digest",
                                            {repo, subject}));
      return Rows<ManifestRecord>(r, RowToManifest);
    });
  }

  // --- upload sessions -------------------------------------------------------------------------
  Status CreateUpload(const UploadRecord& u) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(c.Exec("INSERT INTO uploads(id,repo,created_at,updated_at) VALUES($1,$2,$3,$4)",
                       {u.id, u.repository, u.created_at, u.updated_at}));
      return Ok{};
    });
  }

  Result<UploadRecord> GetUpload(const std::string& id) override {
    return Read([&](PgConn& c) -> Result<UploadRecord> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT id,repo,created_at,updated_at FROM uploads WHERE id=$1", {id}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "upload unknown", id);
      }
      return RowToUpload(r, 0);
    });
  }

  Status TouchUpload(const std::string& id, int64_t now) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(c.Exec("UPDATE uploads SET updated_at=$1 WHERE id=$2", {now, id}));
      return Ok{};
    });
  }

  Status DeleteUpload(const std::string& id) override {
    return ChangeOne("DELETE FROM uploads WHERE id=$1", "upload unknown", id, id);
  }

  Result<std::vector<UploadRecord>> ListUploadsIdleSince(int64_t before) override {
    return Read([&](PgConn& c) -> Result<std::vector<UploadRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT id,repo,created_at,updated_at FROM uploads "
                                            "WHERE updated_at<$1 ORDER BY id",
                                            {before}));
      return Rows<UploadRecord>(r, RowToUpload);
    });
  }

  // --- ECR repositories ------------------------------------------------------------------------
  Status CreateRepository(const RepositoryRecord& r) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(
          auto q, c.Exec("INSERT INTO repositories(name,created_at,image_tag_mutability,"
                         "mutability_exclusions,scan_on_push,encryption_type,kms_key,policy_text,"
                         "tags,key_id) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO "
                         "NOTHING",
                         {r.name, r.created_at, r.image_tag_mutability,
                          r.mutability_exclusions_json, r.scan_on_push, r.encryption_type,
                          r.kms_key, r.policy_text, r.tags_json, r.key_id}));
      if (q.Affected() == 0) {
        return MakeError(Errc::kAlreadyExists, "repository exists", r.name);
      }
      return Ok{};
    });
  }

  Result<RepositoryRecord> GetRepository(const std::string& name) override {
    return Read([&](PgConn& c) -> Result<RepositoryRecord> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT " BERTH_REPO_COLUMNS " FROM repositories WHERE name=$1", {name}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "repository unknown", name);
      }
      return RowToRepo(r, 0);
    });
  }

  Result<std::vector<RepositoryRecord>> ListRepositoryRecords(const std::string& after,
                                                              uint32_t limit) override {
    return Read([&](PgConn& c) -> Result<std::vector<RepositoryRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT " BERTH_REPO_COLUMNS
                                            " FROM repositories WHERE name>$1 ORDER BY name "
                                            "LIMIT $2",
                                            {after, limit}));
      return Rows<RepositoryRecord>(r, RowToRepo);
    });
  }

  Status UpdateRepository(const RepositoryRecord& r) override {
    return ChangeOne(
        "UPDATE repositories SET image_tag_mutability=$1,mutability_exclusions=$2,"
        "scan_on_push=$3,policy_text=$4,tags=$5 WHERE name=$6",
        "repository unknown", r.name, r.image_tag_mutability, r.mutability_exclusions_json,
        r.scan_on_push, r.policy_text, r.tags_json, r.name);
  }

  Status DeleteRepository(const std::string& name, bool force) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(RequireRepo(c, name));
      if (!force) {
        BERTH_ASSIGN_OR_RETURN(auto r,
                               c.Exec("SELECT 1 FROM manifests WHERE repo=$1 LIMIT 1", {name}));
        if (r.rows() > 0) {
          return MakeError(Errc::kPreconditionFailed, "repository contains images", name);
        }
      }
      for (const char* sql :
           {"DELETE FROM tags WHERE repo=$1", "DELETE FROM manifest_refs WHERE repo=$1",
            "DELETE FROM manifests WHERE repo=$1", "DELETE FROM repo_blobs WHERE repo=$1",
            "DELETE FROM uploads WHERE repo=$1", "DELETE FROM repositories WHERE name=$1"}) {
        BERTH_TRY(c.Exec(sql, {name}));
      }
      return Ok{};
    });
  }

  Result<std::vector<ImageRecord>> ListImages(const std::string& repo) override {
    return Snapshot([&](PgConn& c) -> Result<std::vector<ImageRecord>> {
      BERTH_TRY(RequireRepo(c, repo));
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT m.digest,m.media_type,m.artifact_type,m.subject,m.size,"
                         "m.image_size,m.pushed_at,m.last_pulled_at,t.name,m.status,"
                         "m.archived_at,m.activated_at FROM manifests m LEFT JOIN tags t ON "
                         "t.repo=m.repo AND t.digest=m.digest WHERE m.repo=$1 ORDER BY "
                         "m.pushed_at,m.digest,t.name",
                         {repo}));
      std::vector<ImageRecord> out;
      for (int i = 0; i < r.rows(); ++i) {
        std::string digest = r.Text(i, 0);
        if (out.empty() || out.back().digest != digest) {
          ImageRecord im;
          im.digest = std::move(digest);
          im.media_type = r.Text(i, 1);
          im.artifact_type = r.Text(i, 2);
          im.subject = r.Text(i, 3);
          im.size = r.Uint(i, 4);
          im.image_size = r.Uint(i, 5);
          im.pushed_at = r.Int(i, 6);
          im.last_pulled_at = r.Int(i, 7);
          im.status = r.Text(i, 9);
          im.archived_at = r.Int(i, 10);
          im.activated_at = r.Int(i, 11);
          out.push_back(std::move(im));
        }
        if (!r.IsNull(i, 8)) {
          out.back().tags.push_back(r.Text(i, 8));
        }
      }
      // Children of image indexes.
      BERTH_ASSIGN_OR_RETURN(auto refs, c.Exec("SELECT digest,child FROM manifest_refs WHERE "
                                               "repo=$1 AND is_manifest ORDER BY digest,child",
                                               {repo}));
      std::unordered_map<std::string, size_t> index;
      for (size_t i = 0; i < out.size(); ++i) {
        index[out[i].digest] = i;
      }
      for (int i = 0; i < refs.rows(); ++i) {
        auto it = index.find(refs.Text(i, 0));
        if (it != index.end()) {
          out[it->second].children.push_back(refs.Text(i, 1));
        }
      }
      return out;
    });
  }

  Status RecordPulls(const std::vector<PullRecord>& pulls) override {
    return Write([&](PgConn& c) -> Status {
      for (const auto& p : pulls) {
        BERTH_TRY(
            c.Exec("UPDATE manifests SET last_pulled_at=$1 WHERE repo=$2 AND digest=$3 AND "
                   "last_pulled_at<$1",
                   {p.at, p.repo, p.digest}));
      }
      return Ok{};
    });
  }

  Result<std::vector<std::string>> ListParents(const std::string& repo,
                                               const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<std::vector<std::string>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT digest FROM manifest_refs WHERE repo=$1 AND "
                                            "child=$2 AND is_manifest ORDER BY digest",
                                            {repo, digest}));
      return Column0(r);
    });
  }

  // --- lifecycle and archive -------------------------------------------------------------------
  Status SetLifecyclePolicy(const std::string& repo, const std::string& text) override {
    return ChangeOne("UPDATE repositories SET lifecycle_policy=$1 WHERE name=$2",
                     "repository unknown", repo, text, repo);
  }

  Status SetLifecycleEvaluatedAt(const std::string& repo, int64_t at) override {
    return ChangeOne("UPDATE repositories SET lifecycle_evaluated_at=$1 WHERE name=$2",
                     "repository unknown", repo, at, repo);
  }

  Status SetImageStatus(const std::string& repo, const std::string& digest,
                        const std::string& status, int64_t now) override {
    return ChangeOne(
        "UPDATE manifests SET archived_at=CASE WHEN $1::text='ARCHIVED' AND status<>'ARCHIVED' "
        "THEN $2::bigint ELSE archived_at END, activated_at=CASE WHEN $1::text='ACTIVE' AND "
        "status<>'ACTIVE' THEN $2::bigint ELSE activated_at END, status=$1::text WHERE repo=$3 "
        "AND digest=$4",
        "manifest unknown", digest, status, now, repo, digest);
  }

  Result<std::vector<ImageRef>> ListImagesByStatus(const std::string& status,
                                                   uint32_t limit) override {
    return Read([&](PgConn& c) -> Result<std::vector<ImageRef>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT repo,digest FROM manifests WHERE status=$1 "
                                            "ORDER BY repo,digest LIMIT $2",
                                            {status, limit}));
      return Rows<ImageRef>(r, [](const PgResult& q, int i) {
        return ImageRef{q.Text(i, 0), q.Text(i, 1)};
      });
    });
  }

  Result<std::vector<std::string>> ImageBlobs(const std::string& repo,
                                              const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<std::vector<std::string>> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT child FROM manifest_refs WHERE repo=$1 AND digest=$2 AND NOT "
                         "is_manifest UNION SELECT r.child FROM manifest_refs i JOIN "
                         "manifest_refs r ON r.repo=i.repo AND r.digest=i.child WHERE i.repo=$1 "
                         "AND i.digest=$2 AND i.is_manifest AND NOT r.is_manifest ORDER BY 1",
                         {repo, digest}));
      return Column0(r);
    });
  }

  Result<std::vector<std::string>> ListBlobsToArchive(uint32_t limit) override {
    return Read([&](PgConn& c) -> Result<std::vector<std::string>> {
      BERTH_ASSIGN_OR_RETURN(
          auto r,
          c.Exec("SELECT b.digest FROM blobs b WHERE NOT b.archived AND EXISTS (SELECT 1 FROM "
                 "manifest_refs r JOIN manifests m ON m.repo=r.repo AND m.digest=r.digest WHERE "
                 "r.child=b.digest AND m.status='ARCHIVED') AND NOT EXISTS (SELECT 1 FROM "
                 "manifest_refs r JOIN manifests m ON m.repo=r.repo AND m.digest=r.digest WHERE "
                 "r.child=b.digest AND m.status<>'ARCHIVED') ORDER BY b.digest LIMIT $1",
                 {limit}));
      return Column0(r);
    });
  }

  Status SetBlobArchived(const std::string& digest, bool archived) override {
    return ChangeOne("UPDATE blobs SET archived=$1 WHERE digest=$2", "blob unknown", digest,
                     archived, digest);
  }

  Result<bool> IsBlobArchived(const std::string& digest) override {
    return Read([&](PgConn& c) -> Result<bool> {
      BERTH_ASSIGN_OR_RETURN(auto r,
                             c.Exec("SELECT archived FROM blobs WHERE digest=$1", {digest}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "blob unknown", digest);
      }
      return r.Bool(0, 0);
    });
  }

  // --- garbage collection ----------------------------------------------------------------------
  Result<uint64_t> DeleteStaleLinks(int64_t cutoff, bool dry_run) override {
#define BERTH_STALE_LINKS                                                                     \
  " FROM repo_blobs WHERE created_at<$1 AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE " \
  "r.repo=repo_blobs.repo AND r.child=repo_blobs.digest)"
    if (dry_run) {
      return Read([&](PgConn& c) -> Result<uint64_t> {
        BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT count(*)" BERTH_STALE_LINKS, {cutoff}));
        return r.Uint(0, 0);
      });
    }
    return Write([&](PgConn& c) -> Result<uint64_t> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("DELETE" BERTH_STALE_LINKS, {cutoff}));
      return r.Affected();
    });
#undef BERTH_STALE_LINKS
  }

  Result<std::vector<GcCandidate>> ListUnreferencedBlobs(int64_t cutoff, uint32_t limit) override {
    return Read([&](PgConn& c) -> Result<std::vector<GcCandidate>> {
      BERTH_ASSIGN_OR_RETURN(
          auto r,
          c.Exec("SELECT digest,size,archived FROM blobs b WHERE created_at<$1 AND NOT EXISTS "
                 "(SELECT 1 FROM repo_blobs l WHERE l.digest=b.digest AND (l.created_at>=$1 OR "
                 "EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo=l.repo AND "
                 "r.child=l.digest))) ORDER BY digest LIMIT $2",
                 {cutoff, limit}));
      return Rows<GcCandidate>(r, [](const PgResult& q, int i) {
        return GcCandidate{q.Text(i, 0), q.Uint(i, 1), q.Bool(i, 2)};
      });
    });
  }

  Result<bool> DeleteBlobIfUnreferenced(const std::string& digest, int64_t cutoff) override {
    return Write([&](PgConn& c) -> Result<bool> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("DELETE FROM blobs WHERE digest=$1 AND created_at<$2 AND NOT EXISTS "
                         "(SELECT 1 FROM repo_blobs l WHERE l.digest=blobs.digest)",
                         {digest, cutoff}));
      return r.Affected() > 0;
    });
  }

  Result<uint64_t> UnreferencedBlobBytes() override {
    return Read([&](PgConn& c) -> Result<uint64_t> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT coalesce(sum(size),0) FROM blobs b WHERE NOT EXISTS (SELECT 1 "
                         "FROM manifest_refs r WHERE r.child=b.digest)"));
      return r.Uint(0, 0);
    });
  }

  // --- templates -------------------------------------------------------------------------------
  Status CreateTemplate(const TemplateRecord& t) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("INSERT INTO templates(prefix,config,created_at,updated_at) VALUES($1,"
                         "$2,$3,$4) ON CONFLICT DO NOTHING",
                         {t.prefix, t.config_json, t.created_at, t.updated_at}));
      if (r.Affected() == 0) {
        return MakeError(Errc::kAlreadyExists, "template exists", t.prefix);
      }
      return Ok{};
    });
  }

  Result<TemplateRecord> GetTemplate(const std::string& prefix) override {
    return Read([&](PgConn& c) -> Result<TemplateRecord> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT prefix,config,created_at,updated_at FROM "
                                            "templates WHERE prefix=$1",
                                            {prefix}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "template unknown", prefix);
      }
      return RowToTemplate(r, 0);
    });
  }

  Result<std::vector<TemplateRecord>> ListTemplates() override {
    return Read([&](PgConn& c) -> Result<std::vector<TemplateRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT prefix,config,created_at,updated_at FROM "
                                            "templates ORDER BY prefix"));
      return Rows<TemplateRecord>(r, RowToTemplate);
    });
  }

  Status UpdateTemplate(const TemplateRecord& t) override {
    return ChangeOne("UPDATE templates SET config=$1,updated_at=$2 WHERE prefix=$3",
                     "template unknown", t.prefix, t.config_json, t.updated_at, t.prefix);
  }

  Status DeleteTemplate(const std::string& prefix) override {
    return ChangeOne("DELETE FROM templates WHERE prefix=$1", "template unknown", prefix, prefix);
  }

  // --- settings --------------------------------------------------------------------------------
  Result<std::string> GetSetting(const std::string& key) override {
    return Read([&](PgConn& c) -> Result<std::string> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT value FROM settings WHERE key=$1", {key}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "setting unknown", key);
      }
      return r.Text(0, 0);
    });
  }

  Status PutSetting(const std::string& key, const std::string& value) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(
          c.Exec("INSERT INTO settings(key,value) VALUES($1,$2) ON CONFLICT(key) DO UPDATE "
                 "SET value=excluded.value",
                 {key, value}));
      return Ok{};
    });
  }

  Result<std::string> PutSettingIfAbsent(const std::string& key,
                                         const std::string& value) override {
    return Write([&](PgConn& c) -> Result<std::string> {
      BERTH_TRY(c.Exec("INSERT INTO settings(key,value) VALUES($1,$2) ON CONFLICT DO NOTHING",
                       {key, value}));
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT value FROM settings WHERE key=$1", {key}));
      if (r.rows() == 0) {
        return MakeError(Errc::kInternal, "postgres: setting vanished", key);
      }
      return r.Text(0, 0);
    });
  }

  Status DeleteSetting(const std::string& key) override {
    return ChangeOne("DELETE FROM settings WHERE key=$1", "setting unknown", key, key);
  }

  Result<bool> CompareAndSwapSetting(const std::string& key, const std::string& expected,
                                     const std::string& value) override {
    return Write([&](PgConn& c) -> Result<bool> {
      if (expected.empty()) {
        BERTH_ASSIGN_OR_RETURN(
            auto r, c.Exec("INSERT INTO settings(key,value) VALUES($1,$2) ON CONFLICT DO NOTHING",
                           {key, value}));
        return r.Affected() == 1;
      }
      BERTH_ASSIGN_OR_RETURN(
          auto r,
          c.Exec("UPDATE settings SET value=$1 WHERE key=$2 AND value=$3", {value, key, expected}));
      return r.Affected() == 1;
    });
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListSettings(
      const std::string& prefix) override {
    return Read([&](PgConn& c) -> Result<std::vector<std::pair<std::string, std::string>>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT key,value FROM settings WHERE "
                                            "starts_with(key,$1) ORDER BY key",
                                            {prefix}));
      return Rows<std::pair<std::string, std::string>>(
          r, [](const PgResult& q, int i) { return std::make_pair(q.Text(i, 0), q.Text(i, 1)); });
    });
  }

  // --- identity --------------------------------------------------------------------------------
  Status CreateUser(const UserRecord& u) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("INSERT INTO users(name,kind,created_at) VALUES($1,"
                                            "$2,$3) ON CONFLICT DO NOTHING",
                                            {u.name, u.kind, u.created_at}));
      if (r.Affected() == 0) {
        return MakeError(Errc::kAlreadyExists, "user exists", u.name);
      }
      for (const auto& arn : u.policy_arns) {
        BERTH_TRY(
            c.Exec("INSERT INTO user_policies(\"user\",arn) VALUES($1,$2) ON CONFLICT DO "
                   "NOTHING",
                   {u.name, arn}));
      }
      return Ok{};
    });
  }

  Result<UserRecord> GetUser(const std::string& name) override {
    return Read([&](PgConn& c) -> Result<UserRecord> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT u.name,u.kind,u.created_at,p.arn FROM users "
                                            "u LEFT JOIN user_policies p ON p.\"user\"=u.name "
                                            "WHERE u.name=$1 ORDER BY p.arn",
                                            {name}));
      std::vector<UserRecord> users = RowsToUsers(r);
      if (users.empty()) {
        return MakeError(Errc::kNotFound, "user unknown", name);
      }
      return std::move(users.front());
    });
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    return Read([&](PgConn& c) -> Result<std::vector<UserRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT u.name,u.kind,u.created_at,p.arn FROM users "
                                            "u LEFT JOIN user_policies p ON p.\"user\"=u.name "
                                            "ORDER BY u.name,p.arn"));
      return RowsToUsers(r);
    });
  }

  Status DeleteUser(const std::string& name) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("DELETE FROM users WHERE name=$1", {name}));
      if (r.Affected() == 0) {
        return MakeError(Errc::kNotFound, "user unknown", name);
      }
      BERTH_TRY(c.Exec("DELETE FROM access_keys WHERE \"user\"=$1", {name}));
      BERTH_TRY(c.Exec("DELETE FROM user_policies WHERE \"user\"=$1", {name}));
      return Ok{};
    });
  }

  Status AttachPolicy(const std::string& user, const std::string& arn) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(RequireUser(c, user));
      BERTH_TRY(
          c.Exec("INSERT INTO user_policies(\"user\",arn) VALUES($1,$2) ON CONFLICT DO "
                 "NOTHING",
                 {user, arn}));
      return Ok{};
    });
  }

  Status DetachPolicy(const std::string& user, const std::string& arn) override {
    return ChangeOne("DELETE FROM user_policies WHERE \"user\"=$1 AND arn=$2",
                     "policy not attached", arn, user, arn);
  }

  Status CreateAccessKey(const AccessKeyRecord& k) override {
    return Write([&](PgConn& c) -> Status {
      BERTH_TRY(RequireUser(c, k.user));
      BERTH_TRY(
          c.Exec("INSERT INTO access_keys(id,\"user\",secret,status,created_at) VALUES($1,"
                 "$2,$3,$4,$5)",
                 {k.id, k.user, Param::Bytes(k.secret_ciphertext), k.status, k.created_at}));
      return Ok{};
    });
  }

  Result<AccessKeyRecord> GetAccessKey(const std::string& id) override {
    return Read([&](PgConn& c) -> Result<AccessKeyRecord> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT id,\"user\",secret,status,created_at FROM "
                                            "access_keys WHERE id=$1",
                                            {id}));
      if (r.rows() == 0) {
        return MakeError(Errc::kNotFound, "access key unknown", id);
      }
      return RowToKey(r, 0);
    });
  }

  Result<std::vector<AccessKeyRecord>> ListAccessKeys(const std::string& user) override {
    return Read([&](PgConn& c) -> Result<std::vector<AccessKeyRecord>> {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT id,\"user\",secret,status,created_at FROM "
                                            "access_keys WHERE \"user\"=$1 OR $1='' ORDER BY id",
                                            {user}));
      return Rows<AccessKeyRecord>(r, RowToKey);
    });
  }

  Status DeleteAccessKey(const std::string& id) override {
    return ChangeOne("DELETE FROM access_keys WHERE id=$1", "access key unknown", id, id);
  }

  Status UpdateAccessKeySecret(const std::string& id,
                               const std::string& secret_ciphertext) override {
    return ChangeOne("UPDATE access_keys SET secret=$1 WHERE id=$2", "access key unknown", id,
                     Param::Bytes(secret_ciphertext), id);
  }

  Result<StoreStats> Stats() override {
    return Read([&](PgConn& c) -> Result<StoreStats> {
      BERTH_ASSIGN_OR_RETURN(
          auto r, c.Exec("SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM "
                         "blobs), (SELECT coalesce(sum(size),0) FROM blobs), (SELECT count(*) "
                         "FROM manifests), (SELECT count(*) FROM uploads)"));
      StoreStats s;
      s.repositories = r.Uint(0, 0);
      s.blobs = r.Uint(0, 1);
      s.blob_bytes = r.Uint(0, 2);
      s.manifests = r.Uint(0, 3);
      s.uploads = r.Uint(0, 4);
      return s;
    });
  }

 private:
  // Runs one statement in autocommit. A pooled connection found dead (the server restarted
  // since it was last used) is dropped and the call runs once more on a fresh one.
  template <class F>
  auto Read(F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
    for (int attempt = 0;; ++attempt) {
      BERTH_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
      auto r = fn(*lease);
      if (!r.ok() && lease->broken() && attempt == 0) {
        continue;
      }
      return r;
    }
  }

  template <class F>
  auto Write(F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
    return InTransaction(kBeginWrite, std::forward<F>(fn));
  }

  template <class F>
  auto Snapshot(F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
    return InTransaction(kBeginSnapshot, std::forward<F>(fn));
  }

  // Runs fn in a transaction opened with `begin`, committing if it succeeds; on serialization
  // failure or deadlock (at any statement or at COMMIT) rolls back and runs it again from the
  // start, up to kMaxAttempts times. A connection lost before COMMIT is retried the same way;
  // one lost during COMMIT is not (the outcome is unknown): the caller sees kUnavailable.
  template <class F>
  auto InTransaction(const char* begin, F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
    Error last = MakeError(Errc::kUnavailable, "postgres: no attempt made");
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      if (attempt > 0) {
        Backoff(attempt);
      }
      BERTH_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
      PgConn& c = *lease;
      c.ClearError();
      if (Status s = c.Run(begin); !s.ok()) {
        if (c.broken() || c.conflict()) {
          last = std::move(s).error();
          continue;
        }
        return std::move(s).error();
      }
      auto r = fn(c);
      if (r.ok()) {
        Status commit = c.Run("COMMIT");
        if (commit.ok()) {
          return r;
        }
        if (!c.conflict()) {
          return std::move(commit).error();
        }
        last = std::move(commit).error();
        continue;
      }
      bool lost = c.broken();
      bool retry = lost || c.conflict();
      if (!lost) {
        (void)c.Run("ROLLBACK");
      }
      if (!retry) {
        return r;
      }
      last = std::move(r).error();
    }
    return MakeError(
        Errc::kUnavailable,
        "postgres: transaction failed " + std::to_string(kMaxAttempts) + " times: " + last.message);
  }

  // Runs one UPDATE/DELETE with `args` as $1, $2, ... in a write transaction; kNotFound
  // (`what`, `detail`) when it changed no row.
  template <class... Args>
  Status ChangeOne(const char* sql, const char* what, const std::string& detail,
                   const Args&... args) {
    return Write([&](PgConn& c) -> Status {
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec(sql, {Param(args)...}));
      if (r.Affected() == 0) {
        return MakeError(Errc::kNotFound, what, detail);
      }
      return Ok{};
    });
  }

  static Status EnsureRepo(PgConn& c, const std::string& repo, int64_t now) {
    BERTH_TRY(
        c.Exec("INSERT INTO repositories(name,created_at) VALUES($1,$2) ON CONFLICT DO "
               "NOTHING",
               {repo, now}));
    return Ok{};
  }

  static Status RequireRepo(PgConn& c, const std::string& repo) {
    BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT 1 FROM repositories WHERE name=$1", {repo}));
    if (r.rows() == 0) {
      return MakeError(Errc::kNotFound, "repository unknown", repo);
    }
    return Ok{};
  }

  static Status RequireUser(PgConn& c, const std::string& user) {
    BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT 1 FROM users WHERE name=$1", {user}));
    if (r.rows() == 0) {
      return MakeError(Errc::kNotFound, "user unknown", user);
    }
    return Ok{};
  }

  Status Migrate() {
    BERTH_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
    PgConn& c = *lease;
    BERTH_TRY(c.Run("BEGIN"));
    Status s = [&]() -> Status {
      // Taken before anything else, so concurrent CREATE TABLE IF NOT EXISTS cannot race.
      BERTH_TRY(c.Exec("SELECT pg_advisory_xact_lock($1)", {kMigrationLock}));
      BERTH_TRY(c.Run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
      // READ COMMITTED: this statement's snapshot is taken after the lock was granted, so it
      // sees what a node that held the lock before us committed.
      BERTH_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT coalesce(max(version),0) FROM schema_version"));
      int64_t version = r.Int(0, 0);
      constexpr int64_t kLatest = sizeof(kMigrations) / sizeof(kMigrations[0]);
      if (version > kLatest) {
        return MakeError(Errc::kInternal, "postgres: database schema version " +
                                              std::to_string(version) +
                                              " is newer than this berth understands");
      }
      for (int64_t v = version; v < kLatest; ++v) {
        BERTH_TRY(c.Run(kMigrations[v]));
        BERTH_TRY(c.Exec("INSERT INTO schema_version(version) VALUES($1)", {v + 1}));
      }
      return Ok{};
    }();
    if (!s.ok()) {
      if (!c.broken()) {
        (void)c.Run("ROLLBACK");
      }
      return s;
    }
    return c.Run("COMMIT");
  }

  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const PostgresOptions& options) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err != nullptr ? Trim(err) : "out of memory";
    PQfreemem(err);
    return MakeError(Errc::kInvalidArgument, "postgres: connection string: " + msg);
  }
  PQconninfoFree(parsed);
  auto store = std::make_unique<PostgresStoreImpl>(options);
  BERTH_TRY(store->Open());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace berth::meta
