#include "storage/s3/s3_blob_store.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/crypto.h"

namespace berth::storage {

using s3::S3Request;
using s3::S3Response;

namespace {

constexpr uint64_t kMinPart = 5ull << 20;        // S3's smallest part but the last
constexpr uint64_t kMaxCopy = 5ull << 30;        // largest CopyObject / part
constexpr uint64_t kCopyPart = 1ull << 30;       // part size of large server-side copies
constexpr uint64_t kFirstWindow = 256ull << 10;  // first ranged GET of a reader
constexpr uint64_t kDrainLimit = 256ull << 10;   // read the rest rather than drop a conn
constexpr std::string_view kSidecarSuffix = ".side";
constexpr size_t kSmallRead = 4096;          // reads below this go through a cache
constexpr uint64_t kReadCache = 2ull << 20;  // its window

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ValidUploadId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Error Unavailable(std::string msg) {
  return MakeError(Errc::kUnavailable, "s3: " + std::move(msg));
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

Error S3BlobStore::Unexpected(std::string_view op, const std::string& key,
                              const S3Response& r) const {
  std::string code = s3::S3ErrorCode(r);
  std::string msg = "s3: " + std::string(op) + " " + client_->Describe() + "/" + key + ": HTTP " +
                    std::to_string(r.status) + (code.empty() ? "" : " " + code);
  if (r.status == 403) {
    return MakeError(Errc::kDenied, msg);
  }
  if (r.status == 404) {
    return MakeError(Errc::kNotFound, msg);
  }
  if (r.status == 507 || code == "QuotaExceeded" || code == "EntityTooLarge") {
    return MakeError(Errc::kLimitExceeded, msg);
  }
  return MakeError(Errc::kUnavailable, msg);
}

// --- writer -----------------------------------------------------------------------------------

class S3Writer final : public BlobWriter {
 public:
  S3Writer(S3BlobStore& store, std::string id, std::vector<S3BlobStore::Piece> pieces)
      : store_(store), id_(std::move(id)), pieces_(std::move(pieces)) {
    for (const auto& p : pieces_) {
      stored_ = p.offset + p.size;
    }
  }

  uint64_t size() const override { return stored_ + buf_.size(); }

  // A piece never splits one call's bytes: whatever a caller appends in one call (the
  // encryption decorator appends whole records) is stored whole or not at all, even if this
  // process dies between pieces.
  Status Append(std::span<const char> bytes) override {
    const size_t before = buf_.size();
    const uint64_t part = store_.options_.part_size;
    if (buf_.capacity() < part) {
      buf_.reserve(static_cast<size_t>(part));
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    if (buf_.size() >= part) {
      Status s = Store();
      if (!s.ok()) {
        buf_.resize(before);  // nothing of this call is kept: the caller's count stays exact
        return s;
      }
    }
    return Ok{};
  }

  // Between requests a writer holds no buffers: an upload session idle on this node costs no
  // part-sized allocation.
  Status Flush() override {
    if (!buf_.empty()) {
      BERTH_TRY(Store());
    }
    buf_.shrink_to_fit();
    cache_.clear();
    cache_.shrink_to_fit();
    cache_at_ = 0;
    return Ok{};
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    size_t done = 0;
    while (done < out.size() && offset + done < size()) {
      BERTH_ASSIGN_OR_RETURN(size_t n, ReadSome(offset + done, out.subspan(done)));
      done += n;
    }
    return done;
  }

 private:
  // Reads from the one piece (or the buffer) holding `offset`.
  Result<size_t> ReadSome(uint64_t offset, std::span<char> out) {
    if (offset >= stored_) {
      size_t n =
          static_cast<size_t>(std::min<uint64_t>(out.size(), buf_.size() - (offset - stored_)));
      std::memcpy(out.data(), buf_.data() + (offset - stored_), n);
      return n;
    }
    if (offset >= cache_at_ && offset < cache_at_ + cache_.size()) {
      size_t n =
          static_cast<size_t>(std::min<uint64_t>(out.size(), cache_at_ + cache_.size() - offset));
      std::memcpy(out.data(), cache_.data() + (offset - cache_at_), n);
      return n;
    }
    auto it = std::upper_bound(pieces_.begin(), pieces_.end(), offset,
                               [](uint64_t off, const auto& p) { return off < p.offset; });
    const S3BlobStore::Piece& p = *(it - 1);
    uint64_t first = offset - p.offset;
    if (out.size() < kSmallRead) {
      // Small reads (record prefixes while the encryption layer walks an upload) come in
      // strides: fetch a window once instead of one GET per read.
      uint64_t len = std::min<uint64_t>(p.size - first, kReadCache);
      cache_.resize(static_cast<size_t>(len));
      cache_at_ = offset;
      Result<size_t> got = ReadRange(p, first, std::span<char>(cache_));
      if (!got.ok()) {
        cache_.clear();
        return got;
      }
      return ReadSome(offset, out);
    }
    return ReadRange(
        p, first, out.first(static_cast<size_t>(std::min<uint64_t>(p.size - first, out.size()))));
  }

  // Reads exactly out.size() bytes of piece `p` from `first`.
  Result<size_t> ReadRange(const S3BlobStore::Piece& p, uint64_t first, std::span<char> out) {
    uint64_t last = first + out.size() - 1;
    BERTH_ASSIGN_OR_RETURN(auto dl, store_.client_->Download(p.key, first, last));
    if (dl->status() != 206 && dl->status() != 200) {
      return store_.Unexpected("GET", p.key, dl->head());
    }
    size_t want = static_cast<size_t>(last - first + 1);
    size_t done = 0;
    while (done < want) {
      BERTH_ASSIGN_OR_RETURN(size_t n, dl->Read(out.subspan(done, want - done)));
      if (n == 0) {
        return MakeError(Errc::kCorrupt, "s3: upload piece " + p.key + " shorter than listed");
      }
      done += n;
    }
    return done;
  }

  // Stores the buffer as the piece at stored_.
  Status Store() {
    std::string key = store_.UploadPrefix(id_) + "data/" + Hex16(stored_);
    BERTH_TRY(store_.PutObject(key, std::string_view(buf_.data(), buf_.size())));
    pieces_.push_back({stored_, buf_.size(), key});
    stored_ += buf_.size();
    buf_.clear();
    return Ok{};
  }

  S3BlobStore& store_;
  std::string id_;
  std::vector<S3BlobStore::Piece> pieces_;
  uint64_t stored_ = 0;
  std::vector<char> buf_;
  std::vector<char> cache_;  // stored bytes [cache_at_, cache_at_ + size) read ahead
  uint64_t cache_at_ = 0;
};

// --- reader -----------------------------------------------------------------------------------

class S3Reader final : public BlobReader {
 public:
  S3Reader(S3BlobStore& store, std::string key) : store_(store), key_(std::move(key)) {}

  // Starts the first GET, which also tells the size. A blob that fits the first window is read
  // whole now (so it stays readable if deleted meanwhile); a larger one keeps the GET open.
  Status Begin() {
    BERTH_ASSIGN_OR_RETURN(dl_, store_.client_->Download(key_, 0, kFirstWindow - 1));
    if (dl_->status() == 416) {  // an empty object has no byte 0
      dl_.reset();
      BERTH_ASSIGN_OR_RETURN(BlobStat st, store_.Head(key_));
      size_ = st.size;
      return Ok{};
    }
    if (dl_->status() != 206 && dl_->status() != 200) {
      Error e = store_.Unexpected("GET", key_, dl_->head());
      dl_.reset();
      return e;
    }
    const std::string* range = dl_->head().Header("content-range");  // bytes 0-N/TOTAL
    size_t slash = range != nullptr ? range->rfind('/') : std::string::npos;
    if (dl_->status() == 206 && slash != std::string::npos) {
      size_ = std::strtoull(range->c_str() + slash + 1, nullptr, 10);
    } else {
      size_ = dl_->remaining();  // 200: the whole object
    }
    pos_ = 0;
    end_ = std::min<uint64_t>(size_, kFirstWindow);
    if (size_ <= kFirstWindow) {
      small_.resize(static_cast<size_t>(size_));
      size_t done = 0;
      while (done < small_.size()) {
        BERTH_ASSIGN_OR_RETURN(size_t n, dl_->Read(std::span<char>(small_).subspan(done)));
        if (n == 0) {
          return MakeError(Errc::kCorrupt, "s3: " + key_ + " is shorter than its listed size");
        }
        done += n;
      }
      dl_.reset();
      whole_ = true;
    }
    return Ok{};
  }

  uint64_t size() const override { return size_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    if (out.empty() || offset >= size_) {
      return size_t{0};
    }
    if (whole_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - offset));
      std::memcpy(out.data(), small_.data() + offset, n);
      return n;
    }
    for (int attempt = 0;; ++attempt) {
      if (!dl_ || offset != pos_ || pos_ >= end_) {
        BERTH_TRY(Start(offset, out.size()));
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), end_ - pos_));
      auto n = dl_->Read(out.first(want));
      if (n.ok() && *n > 0) {
        pos_ += *n;
        return *n;
      }
      dl_.reset();  // broken or short: reopen from here (the blob is immutable)
      if (attempt >= 2) {
        if (!n.ok()) {
          return std::move(n).error();
        }
        return MakeError(Errc::kCorrupt, "s3: " + key_ + " is shorter than its listed size");
      }
    }
  }

 private:
  // Opens a GET from `offset`: the next window when reading on sequentially, else a small one.
  Status Start(uint64_t offset, size_t want) {
    if (dl_) {
      if (dl_->remaining() > 0 && dl_->remaining() <= kDrainLimit) {
        char sink[16384];
        while (dl_->remaining() > 0) {
          auto n = dl_->Read(sink);
          if (!n.ok() || *n == 0) {
            break;
          }
        }
      }
      dl_.reset();
    }
    window_ = (offset == end_ && end_ != 0) ? window_ * 2 : kFirstWindow;
    uint64_t len = std::max<uint64_t>(window_, want);
    uint64_t last = std::min<uint64_t>(size_, offset + len) - 1;
    BERTH_ASSIGN_OR_RETURN(dl_, store_.client_->Download(key_, offset, last));
    if (dl_->status() != 206 && dl_->status() != 200) {
      Error e = store_.Unexpected("GET", key_, dl_->head());
      dl_.reset();
      return e;
    }
    if (dl_->status() == 200 && offset != 0) {
      dl_.reset();
      return Unavailable("GET " + key_ + " ignored the Range header");
    }
    pos_ = offset;
    end_ = last + 1;
    return Ok{};
  }

  S3BlobStore& store_;
  std::string key_;
  uint64_t size_ = 0;
  bool whole_ = false;
  std::vector<char> small_;  // the whole blob when it fits the first window
  std::unique_ptr<s3::S3Download> dl_;
  uint64_t pos_ = 0;
  uint64_t end_ = 0;
  uint64_t window_ = kFirstWindow;
};

// --- store ------------------------------------------------------------------------------------

S3BlobStore::S3BlobStore(std::unique_ptr<s3::S3Client> client, S3BlobStoreOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(S3BlobStoreOptions options) {
  if (options.part_size < kMinPart || options.part_size > kMaxCopy) {
    return MakeError(Errc::kInvalidArgument, "s3: part_size must be between 5 MiB and 5 GiB");
  }
  if (!options.prefix.empty() && options.prefix.back() != '/') {
    options.prefix += '/';
  }
  if (!options.prefix.empty() && options.prefix.front() == '/') {
    return MakeError(Errc::kInvalidArgument, "s3: prefix must not start with '/'");
  }
  BERTH_ASSIGN_OR_RETURN(auto client, s3::S3Client::Create(std::move(options.s3)));
  std::unique_ptr<S3BlobStore> store(new S3BlobStore(std::move(client), std::move(options)));
  S3Request probe;
  probe.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", store->options_.prefix}};
  BERTH_ASSIGN_OR_RETURN(S3Response r, store->client_->Send(probe));
  if (r.status != 200) {
    return store->Unexpected("ListObjectsV2", "", r);
  }
  return store;
}

std::string S3BlobStore::BlobKey(const Digest& d) const {
  std::string_view hex = d.hex();
  return options_.prefix + "blobs/" + std::string(d.algorithm_name()) + "/" +
         std::string(hex.substr(0, 2)) + "/" + std::string(hex);
}

std::string S3BlobStore::ArchiveKey(const Digest& d) const {
  std::string_view hex = d.hex();
  return options_.prefix + "archive/" + std::string(d.algorithm_name()) + "/" +
         std::string(hex.substr(0, 2)) + "/" + std::string(hex);
}

std::string S3BlobStore::UploadPrefix(std::string_view id) const {
  return options_.prefix + "uploads/" + std::string(id) + "/";
}

Result<BlobStat> S3BlobStore::Head(const std::string& key) {
  S3Request req;
  req.method = "HEAD";
  req.key = key;
  BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
  if (r.status != 200) {
    return Unexpected("HEAD", key, r);
  }
  BlobStat st;
  const std::string* len = r.Header("content-length");
  st.size = len != nullptr ? std::strtoull(len->c_str(), nullptr, 10) : 0;
  const std::string* mod = r.Header("last-modified");
  st.modified_unix = mod != nullptr ? s3::ParseS3Time(*mod) : 0;
  return st;
}

Status S3BlobStore::PutObject(const std::string& key, std::string_view bytes,
                              std::vector<std::pair<std::string, std::string>> headers) {
  S3Request req;
  req.method = "PUT";
  req.key = key;
  req.body = bytes;
  req.headers = std::move(headers);
  BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
  if (r.status != 200) {
    return Unexpected("PUT", key, r);
  }
  return Ok{};
}

Status S3BlobStore::DeleteObject(const std::string& key) {
  S3Request req;
  req.method = "DELETE";
  req.key = key;
  BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
  if (r.status != 204 && r.status != 200 && r.status != 404) {
    return Unexpected("DELETE", key, r);
  }
  return Ok{};
}

Status S3BlobStore::ListObjects(
    const std::string& prefix, const std::function<bool(std::string_view, uint64_t, int64_t)>& fn) {
  std::string token;
  for (;;) {
    S3Request req;
    req.query = {{"list-type", "2"}, {"prefix", prefix}, {"max-keys", "1000"}};
    if (!token.empty()) {
      req.query.emplace_back("continuation-token", token);
    }
    BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
    if (r.status != 200) {
      return Unexpected("ListObjectsV2", prefix, r);
    }
    for (std::string_view c : s3::XmlBlocks(r.body, "Contents")) {
      auto keys = s3::XmlElements(c, "Key");
      auto sizes = s3::XmlElements(c, "Size");
      auto times = s3::XmlElements(c, "LastModified");
      if (keys.empty() || sizes.empty()) {
        return Unavailable("ListObjectsV2 " + prefix + ": malformed answer");
      }
      if (!fn(keys[0], std::strtoull(sizes[0].c_str(), nullptr, 10),
              times.empty() ? 0 : s3::ParseS3Time(times[0]))) {
        return Ok{};
      }
    }
    auto truncated = s3::XmlElements(r.body, "IsTruncated");
    auto next = s3::XmlElements(r.body, "NextContinuationToken");
    if (truncated.empty() || truncated[0] != "true" || next.empty() || next[0].empty()) {
      return Ok{};
    }
    token = next[0];
  }
}

Result<std::vector<S3BlobStore::Piece>> S3BlobStore::Pieces(std::string_view id, bool* has_marker) {
  const std::string prefix = UploadPrefix(id);
  const std::string data = prefix + "data/";
  bool marker = false;
  std::vector<Piece> pieces;
  BERTH_TRY(ListObjects(prefix, [&](std::string_view key, uint64_t size, int64_t) {
    if (key == prefix + "info") {
      marker = true;
    } else if (key.substr(0, data.size()) == data && key.size() == data.size() + 16) {
      pieces.push_back({std::strtoull(std::string(key.substr(data.size())).c_str(), nullptr, 16),
                        size, std::string(key)});
    }
    return true;
  }));
  if (has_marker != nullptr) {
    *has_marker = marker;
  }
  if (!marker) {
    return MakeError(Errc::kNotFound, "s3: no upload " + std::string(id));
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  uint64_t next = 0;
  for (const Piece& p : pieces) {
    if (p.offset != next) {
      return MakeError(Errc::kCorrupt, "s3: upload " + std::string(id) + " has a " +
                                           (p.offset > next ? "gap" : "overlap") + " at byte " +
                                           std::to_string(next));
    }
    next += p.size;
  }
  return pieces;
}

Status S3BlobStore::CreateUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kInvalidArgument, "s3: bad upload id");
  }
  const std::string key = UploadPrefix(upload_id) + "info";
  auto existing = Head(key);
  if (existing.ok()) {
    return MakeError(Errc::kAlreadyExists, "s3: upload " + std::string(upload_id) + " exists");
  }
  if (existing.error().code != Errc::kNotFound) {
    return std::move(existing).error();
  }
  Status s = PutObject(key, {}, {{"if-none-match", "*"}});
  if (!s.ok() && s.error().message.find("HTTP 412") != std::string::npos) {
    return MakeError(Errc::kAlreadyExists, "s3: upload " + std::string(upload_id) + " exists");
  }
  return s;
}

Result<std::unique_ptr<BlobWriter>> S3BlobStore::OpenUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "s3: no upload " + std::string(upload_id));
  }
  BERTH_ASSIGN_OR_RETURN(auto pieces, Pieces(upload_id));
  return std::unique_ptr<BlobWriter>(
      new S3Writer(*this, std::string(upload_id), std::move(pieces)));
}

Status S3BlobStore::DeleteUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "s3: no upload " + std::string(upload_id));
  }
  std::vector<std::string> keys;
  const std::string prefix = UploadPrefix(upload_id);
  BERTH_TRY(ListObjects(prefix, [&](std::string_view key, uint64_t, int64_t) {
    keys.emplace_back(key);
    return true;
  }));
  if (keys.empty()) {
    return MakeError(Errc::kNotFound, "s3: no upload " + std::string(upload_id));
  }
  return DeleteUploadObjects(upload_id, std::move(keys));
}

Status S3BlobStore::DeleteUploadObjects(std::string_view upload_id, std::vector<std::string> keys) {
  // Data first, the marker last: an interrupted delete still lists as an upload to purge.
  const std::string marker = UploadPrefix(upload_id) + "info";
  std::stable_partition(keys.begin(), keys.end(),
                        [&](const std::string& k) { return k != marker; });
  for (const auto& k : keys) {
    BERTH_TRY(DeleteObject(k));
  }
  return Ok{};
}

Result<std::vector<std::pair<std::string, BlobStat>>> S3BlobStore::ListUploads() {
  std::vector<std::pair<std::string, BlobStat>> out;
  const std::string prefix = options_.prefix + "uploads/";
  BERTH_TRY(ListObjects(prefix, [&](std::string_view key, uint64_t size, int64_t mtime) {
    std::string_view rest = key.substr(prefix.size());
    std::string_view id = rest.substr(0, rest.find('/'));
    if (out.empty() || out.back().first != id) {
      out.emplace_back(std::string(id), BlobStat{});
    }
    BlobStat& st = out.back().second;
    if (rest.substr(id.size()) != "/info") {
      st.size += size;
    }
    st.modified_unix = std::max(st.modified_unix, mtime);
    return true;
  }));
  return out;
}

Status S3BlobStore::Assemble(const std::vector<Piece>& pieces, const std::string& to) {
  S3Request init;
  init.method = "POST";
  init.key = to;
  init.query = {{"uploads", ""}};
  BERTH_ASSIGN_OR_RETURN(S3Response ir, client_->Send(init));
  auto ids = s3::XmlElements(ir.body, "UploadId");
  if (ir.status != 200 || ids.empty()) {
    return Unexpected("CreateMultipartUpload", to, ir);
  }
  const std::string upload = ids[0];
  std::vector<std::string> etags;

  auto upload_part = [&](std::string_view bytes) -> Status {
    S3Request req;
    req.method = "PUT";
    req.key = to;
    req.query = {{"partNumber", std::to_string(etags.size() + 1)}, {"uploadId", upload}};
    req.body = bytes;
    BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
    const std::string* etag = r.Header("etag");
    if (r.status != 200 || etag == nullptr) {
      return Unexpected("UploadPart", to, r);
    }
    etags.push_back(Unquote(*etag));
    return Ok{};
  };
  auto copy_part = [&](const std::string& from, uint64_t first, uint64_t last) -> Status {
    S3Request req;
    req.method = "PUT";
    req.key = to;
    req.query = {{"partNumber", std::to_string(etags.size() + 1)}, {"uploadId", upload}};
    req.headers = {
        {"x-amz-copy-source", client_->options().bucket + "/" + from},
        {"x-amz-copy-source-range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)}};
    BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
    auto etag = s3::XmlElements(r.body, "ETag");
    if (r.status != 200 || etag.empty()) {
      return Unexpected("UploadPartCopy", to, r);
    }
    etags.push_back(Unquote(etag[0]));
    return Ok{};
  };
  auto read_into = [&](const Piece& p, uint64_t first, uint64_t len, std::string& out) -> Status {
    BERTH_ASSIGN_OR_RETURN(auto dl, client_->Download(p.key, first, first + len - 1));
    if (dl->status() != 206 && dl->status() != 200) {
      return Unexpected("GET", p.key, dl->head());
    }
    size_t base = out.size();
    out.resize(base + len);
    size_t done = 0;
    while (done < len) {
      BERTH_ASSIGN_OR_RETURN(size_t n,
                             dl->Read(std::span<char>(out).subspan(base + done, len - done)));
      if (n == 0) {
        return MakeError(Errc::kCorrupt, "s3: upload piece " + p.key + " shorter than listed");
      }
      done += n;
    }
    return Ok{};
  };

  Status s = [&]() -> Status {
    std::string pending;  // small pieces gathered into one part (< 5 MiB + one piece's head)
    for (size_t i = 0; i < pieces.size(); ++i) {
      const Piece& p = pieces[i];
      const bool last_piece = i + 1 == pieces.size();
      uint64_t pos = 0;
      if (!pending.empty()) {
        uint64_t take = std::min<uint64_t>(kMinPart - pending.size(), p.size);
        BERTH_TRY(read_into(p, 0, take, pending));
        pos = take;
        if (pending.size() >= kMinPart) {
          BERTH_TRY(upload_part(pending));
          pending.clear();
        }
      }
      uint64_t rest = p.size - pos;
      if (rest == 0) {
        continue;
      }
      if (pending.empty() && (rest >= kMinPart || last_piece)) {
        while (rest > 0) {  // parts of at most 1 GiB, none but the last under 5 MiB
          uint64_t len = rest <= kCopyPart + kMinPart ? rest : kCopyPart;
          BERTH_TRY(copy_part(p.key, pos, pos + len - 1));
          pos += len;
          rest -= len;
        }
      } else {
        BERTH_TRY(read_into(p, pos, rest, pending));
      }
    }
    if (!pending.empty()) {
      BERTH_TRY(upload_part(pending));
    }
    std::string xml = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < etags.size(); ++i) {
      xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" +
             s3::XmlEscape(etags[i]) + "\"</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    S3Request done;
    done.method = "POST";
    done.key = to;
    done.query = {{"uploadId", upload}};
    done.body = xml;
    done.headers = {{"content-type", "application/xml"}};
    BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(done));
    // S3 may answer 200 and report a failure in the body.
    if (r.status != 200 || r.body.find("<Error>") != std::string::npos) {
      return Unexpected("CompleteMultipartUpload", to, r);
    }
    return Ok{};
  }();
  if (!s.ok()) {
    S3Request abort;
    abort.method = "DELETE";
    abort.key = to;
    abort.query = {{"uploadId", upload}};
    (void)client_->Send(abort);
  }
  return s;
}

Status S3BlobStore::CopyObject(const std::string& from, const std::string& to, uint64_t size) {
  if (size > kMaxCopy) {
    return Assemble({Piece{0, size, from}}, to);
  }
  S3Request req;
  req.method = "PUT";
  req.key = to;
  req.headers = {{"x-amz-copy-source", client_->options().bucket + "/" + from}};
  BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req));
  if (r.status != 200 || r.body.find("<Error>") != std::string::npos) {
    return Unexpected("CopyObject", to, r);
  }
  return Ok{};
}

Status S3BlobStore::Commit(std::string_view upload_id, const Digest& digest) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "s3: no upload " + std::string(upload_id));
  }
  BERTH_ASSIGN_OR_RETURN(auto pieces, Pieces(upload_id));
  const std::string key = BlobKey(digest);
  auto existing = Head(key);
  if (!existing.ok() && existing.error().code != Errc::kNotFound) {
    return std::move(existing).error();
  }
  if (!existing.ok()) {  // content-addressed: identical bytes need not be published twice
    if (pieces.empty()) {
      BERTH_TRY(PutObject(key, {}));
    } else if (pieces.size() == 1) {
      BERTH_TRY(CopyObject(pieces[0].key, key, pieces[0].size));
    } else {
      BERTH_TRY(Assemble(pieces, key));
    }
  }
  // The pieces are known from the listing above: no second listing to delete them.
  std::vector<std::string> keys;
  for (const Piece& p : pieces) {
    keys.push_back(p.key);
  }
  keys.push_back(UploadPrefix(upload_id) + "info");
  return DeleteUploadObjects(upload_id, std::move(keys));
}

Status S3BlobStore::PutSmall(const Digest& digest, std::string_view bytes) {
  const std::string key = BlobKey(digest);
  if (Head(key).ok()) {
    return Ok{};
  }
  return PutObject(key, bytes);
}

Result<BlobStat> S3BlobStore::Stat(const Digest& digest) { return Head(BlobKey(digest)); }

Result<std::unique_ptr<BlobReader>> S3BlobStore::Open(const Digest& digest) {
  auto reader = std::make_unique<S3Reader>(*this, BlobKey(digest));
  BERTH_TRY(reader->Begin());
  return std::unique_ptr<BlobReader>(std::move(reader));
}

Result<std::string> S3BlobStore::ReadSmall(const Digest& digest, uint64_t max_bytes) {
  const std::string key = BlobKey(digest);
  BERTH_ASSIGN_OR_RETURN(auto dl, client_->Download(key, 0, std::nullopt));
  if (dl->status() == 416) {
    return std::string();  // an empty object has no byte 0
  }
  if (dl->status() != 206 && dl->status() != 200) {
    return Unexpected("GET", key, dl->head());
  }
  if (dl->remaining() > max_bytes) {
    return MakeError(Errc::kTooLarge,
                     "s3: " + key + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string out(static_cast<size_t>(dl->remaining()), '\0');
  size_t done = 0;
  while (done < out.size()) {
    BERTH_ASSIGN_OR_RETURN(size_t n, dl->Read(std::span<char>(out).subspan(done)));
    if (n == 0) {
      return MakeError(Errc::kCorrupt, "s3: " + key + " is shorter than its listed size");
    }
    done += n;
  }
  return out;
}

Status S3BlobStore::Delete(const Digest& digest) {
  const std::string keys[] = {BlobKey(digest), ArchiveKey(digest)};
  bool found = false;
  for (const auto& key : keys) {
    auto st = Head(key);
    if (!st.ok() && st.error().code != Errc::kNotFound) {
      return std::move(st).error();
    }
    if (st.ok()) {
      found = true;
      BERTH_TRY(DeleteObject(key));
    }
    BERTH_TRY(DeleteObject(key + std::string(kSidecarSuffix)));
  }
  if (!found) {
    return MakeError(Errc::kNotFound, "s3: no blob " + digest.str());
  }
  return Ok{};
}

Status S3BlobStore::List(const std::function<bool(const Digest&, const BlobStat&)>& fn) {
  bool stopped = false;
  for (const char* area : {"blobs/", "archive/"}) {
    const std::string prefix = options_.prefix + area;
    BERTH_TRY(ListObjects(prefix, [&](std::string_view key, uint64_t size, int64_t mtime) {
      // <alg>/<2 hex>/<hex>
      std::string_view rest = key.substr(prefix.size());
      size_t a = rest.find('/');
      size_t b = a == std::string_view::npos ? a : rest.find('/', a + 1);
      if (b == std::string_view::npos || rest.ends_with(kSidecarSuffix)) {
        return true;
      }
      auto d =
          Digest::Parse(std::string(rest.substr(0, a)) + ":" + std::string(rest.substr(b + 1)));
      if (!d.ok()) {
        return true;  // not ours
      }
      if (!fn(*d, BlobStat{size, mtime})) {
        stopped = true;
        return false;
      }
      return true;
    }));
    if (stopped) {
      break;
    }
  }
  return Ok{};
}

Status S3BlobStore::MoveWithSidecar(const std::string& from, const std::string& to, uint64_t size) {
  BERTH_TRY(CopyObject(from, to, size));
  const std::string side_from = from + std::string(kSidecarSuffix);
  auto side = Head(side_from);
  if (side.ok()) {
    BERTH_TRY(CopyObject(side_from, to + std::string(kSidecarSuffix), side->size));
  } else if (side.error().code != Errc::kNotFound) {
    return std::move(side).error();
  }
  // The copy is complete before the original goes: the blob is never in neither place.
  BERTH_TRY(DeleteObject(side_from));
  return DeleteObject(from);
}

Status S3BlobStore::Archive(const Digest& digest) {
  auto st = Head(BlobKey(digest));
  if (st.ok()) {
    return MoveWithSidecar(BlobKey(digest), ArchiveKey(digest), st->size);
  }
  if (st.error().code != Errc::kNotFound) {
    return std::move(st).error();
  }
  auto archived = Head(ArchiveKey(digest));
  if (archived.ok()) {
    return Ok{};  // already archived
  }
  if (archived.error().code == Errc::kNotFound) {
    return MakeError(Errc::kNotFound, "s3: no blob " + digest.str());
  }
  return std::move(archived).error();
}

Status S3BlobStore::Restore(const Digest& digest) {
  auto archived = Head(ArchiveKey(digest));
  auto standard = Head(BlobKey(digest));
  if (!archived.ok() && archived.error().code != Errc::kNotFound) {
    return std::move(archived).error();
  }
  if (!standard.ok() && standard.error().code != Errc::kNotFound) {
    return std::move(standard).error();
  }
  if (!archived.ok()) {
    if (standard.ok()) {
      return Ok{};
    }
    return MakeError(Errc::kNotFound, "s3: no blob " + digest.str());
  }
  if (standard.ok()) {  // published again meanwhile: the standard copy wins
    BERTH_TRY(DeleteObject(ArchiveKey(digest) + std::string(kSidecarSuffix)));
    return DeleteObject(ArchiveKey(digest));
  }
  return MoveWithSidecar(ArchiveKey(digest), BlobKey(digest), archived->size);
}

Status S3BlobStore::PutSidecar(const Digest& digest, std::string_view bytes) {
  std::string key = BlobKey(digest);
  auto st = Head(key);
  if (!st.ok()) {
    if (st.error().code != Errc::kNotFound) {
      return std::move(st).error();
    }
    key = ArchiveKey(digest);
    auto archived = Head(key);
    if (!archived.ok()) {
      if (archived.error().code == Errc::kNotFound) {
        return MakeError(Errc::kNotFound, "s3: no blob " + digest.str());
      }
      return std::move(archived).error();
    }
  }
  return PutObject(key + std::string(kSidecarSuffix), bytes);
}

Result<std::string> S3BlobStore::GetSidecar(const Digest& digest) {
  for (const std::string& key : {BlobKey(digest), ArchiveKey(digest)}) {
    S3Request req;
    req.key = key + std::string(kSidecarSuffix);
    BERTH_ASSIGN_OR_RETURN(S3Response r, client_->Send(req, 1u << 20));
    if (r.status == 200) {
      return std::move(r.body);
    }
    if (r.status != 404) {
      return Unexpected("GET", req.key, r);
    }
  }
  return MakeError(Errc::kNotFound, "s3: no sidecar for " + digest.str());
}

Result<std::string> S3BlobStore::PresignedGetUrl(const Digest& digest, int64_t now_unix_seconds,
                                                 int64_t expires_seconds) {
  if (expires_seconds < 1 || expires_seconds > 7 * 24 * 3600) {
    return MakeError(Errc::kInvalidArgument, "s3: presigned URLs last 1 s to 7 days");
  }
  return client_->PresignGet(BlobKey(digest), now_unix_seconds, expires_seconds);
}

}  // namespace berth::storage
