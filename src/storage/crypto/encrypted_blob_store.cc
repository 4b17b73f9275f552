#include "storage/crypto/encrypted_blob_store.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <openssl/evp.h>

#include "base/crypto.h"
#include "base/strings.h"

namespace berth::storage {
namespace {

constexpr size_t kHeaderSize = 256;
constexpr std::string_view kMagic = "BERTHENC";
constexpr uint8_t kFormatVersion = 1;
constexpr size_t kTag = 16;
constexpr size_t kLenPrefix = 4;
constexpr size_t kOverhead = kLenPrefix + kTag;  // per record
constexpr uint32_t kMaxSegment = 16u << 20;
// The encryption context bound to every blob data key.
constexpr std::string_view kContext = "berth:blob";

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<char>(v >> (8 * i));
  }
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

Error Corrupt(std::string what) { return MakeError(Errc::kCorrupt, "crypto: " + std::move(what)); }

struct Header {
  uint32_t segment_size = 0;
  std::string wrapped;
};

std::string EncodeHeader(uint32_t segment_size, std::string_view wrapped) {
  std::string h(kHeaderSize, '\0');
  std::memcpy(h.data(), kMagic.data(), kMagic.size());
  h[8] = static_cast<char>(kFormatVersion);
  PutU32(h.data() + 12, segment_size);
  PutU32(h.data() + 16, static_cast<uint32_t>(wrapped.size()));
  std::memcpy(h.data() + 20, wrapped.data(), wrapped.size());
  return h;
}

Result<Header> ParseHeader(std::string_view h) {
  if (h.size() < kHeaderSize || h.substr(0, kMagic.size()) != kMagic) {
    return Corrupt("not an encrypted object (bad header)");
  }
  if (static_cast<uint8_t>(h[8]) != kFormatVersion) {
    return Corrupt("unknown encrypted object version");
  }
  Header out;
  out.segment_size = GetU32(h.data() + 12);
  uint32_t wlen = GetU32(h.data() + 16);
  if (out.segment_size == 0 || out.segment_size > kMaxSegment || wlen == 0 ||
      wlen > kHeaderSize - 20) {
    return Corrupt("malformed encrypted object header");
  }
  out.wrapped.assign(h.data() + 20, wlen);
  return out;
}

// Plaintext size of a canonical published object of `raw` bytes, or kCorrupt.
Result<uint64_t> PlainSize(uint64_t raw, uint32_t segment_size) {
  if (raw < kHeaderSize + kOverhead) {
    return Corrupt("object shorter than its header and end marker");
  }
  uint64_t body = raw - kHeaderSize - kOverhead;
  uint64_t full = segment_size + kOverhead;
  uint64_t k = body / full;
  uint64_t rem = body % full;
  if (rem == 0) {
    return k * segment_size;
  }
  if (rem <= kOverhead) {
    return Corrupt("object size does not match its segment layout");
  }
  return k * segment_size + (rem - kOverhead);
}

// Reads exactly out.size() bytes at `offset` from a BlobReader or BlobWriter.
template <class Source>
Status ReadExact(Source& source, uint64_t offset, std::span<char> out) {
  size_t done = 0;
  while (done < out.size()) {
    BERTH_ASSIGN_OR_RETURN(size_t n, source.ReadAt(offset + done, out.subspan(done)));
    if (n == 0) {
      return Corrupt("object truncated");
    }
    done += n;
  }
  return Ok{};
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// AES-256-GCM over records with the nonce and associated data described in the header file.
class SegmentCipher {
 public:
  SegmentCipher(const Secret& key, uint32_t segment_size)
      : enc_(EVP_CIPHER_CTX_new()), dec_(EVP_CIPHER_CTX_new()), segment_size_(segment_size) {
    auto* k = reinterpret_cast<const unsigned char*>(key.reveal().data());
    ok_ = key.size() == 32 &&
          EVP_EncryptInit_ex(enc_.get(), EVP_aes_256_gcm(), nullptr, k, nullptr) == 1 &&
          EVP_DecryptInit_ex(dec_.get(), EVP_aes_256_gcm(), nullptr, k, nullptr) == 1;
  }
  bool ok() const { return ok_; }

  // Writes [len][ciphertext][tag] (plain.size() + kOverhead bytes) to `out`.
  Status Seal(uint64_t index, bool final, std::span<const char> plain, char* out) {
    unsigned char iv[12];
    unsigned char aad[25];
    Prepare(index, final, static_cast<uint32_t>(plain.size()), iv, aad);
    PutU32(out, static_cast<uint32_t>(plain.size()));
    auto* dst = reinterpret_cast<unsigned char*>(out + kLenPrefix);
    int len = 0;
    if (EVP_EncryptInit_ex(enc_.get(), nullptr, nullptr, nullptr, iv) != 1 ||
        EVP_EncryptUpdate(enc_.get(), nullptr, &len, aad, sizeof(aad)) != 1 ||
        (!plain.empty() && EVP_EncryptUpdate(enc_.get(), dst, &len,
                                             reinterpret_cast<const unsigned char*>(plain.data()),
                                             static_cast<int>(plain.size())) != 1) ||
        EVP_EncryptFinal_ex(enc_.get(), dst + plain.size(), &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(enc_.get(), EVP_CTRL_GCM_GET_TAG, kTag, dst + plain.size()) != 1) {
      return MakeError(Errc::kInternal, "crypto: AES-GCM encryption failed");
    }
    return Ok{};
  }

  // Verifies and decrypts one record (as written by Seal) into `out` (len bytes).
  Status Open(uint64_t index, bool final, const char* record, uint32_t len, char* out) {
    if (GetU32(record) != len) {
      return Corrupt("segment " + std::to_string(index) + " has the wrong length");
    }
    unsigned char iv[12];
    unsigned char aad[25];
    Prepare(index, final, len, iv, aad);
    auto* src = reinterpret_cast<const unsigned char*>(record + kLenPrefix);
    int n = 0;
    if (EVP_DecryptInit_ex(dec_.get(), nullptr, nullptr, nullptr, iv) != 1 ||
        EVP_DecryptUpdate(dec_.get(), nullptr, &n, aad, sizeof(aad)) != 1 ||
        (len > 0 && EVP_DecryptUpdate(dec_.get(), reinterpret_cast<unsigned char*>(out), &n, src,
                                      static_cast<int>(len)) != 1) ||
        EVP_CIPHER_CTX_ctrl(dec_.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                            const_cast<unsigned char*>(src + len)) != 1 ||
        EVP_DecryptFinal_ex(dec_.get(), reinterpret_cast<unsigned char*>(out) + len, &n) != 1) {
      return Corrupt("segment " + std::to_string(index) +
                     " failed authentication (tampered, truncated or wrong key)");
    }
    return Ok{};
  }

 private:
  void Prepare(uint64_t index, bool final, uint32_t len, unsigned char* iv, unsigned char* aad) {
    std::memset(iv, 0, 4);
    for (int i = 0; i < 8; ++i) {
      iv[4 + i] = static_cast<unsigned char>(index >> (8 * (7 - i)));
    }
    std::memcpy(aad, "BRTHSEG1", 8);
    PutU32(reinterpret_cast<char*>(aad + 8), segment_size_);
    for (int i = 0; i < 8; ++i) {
      aad[12 + i] = static_cast<unsigned char>(index >> (8 * (7 - i)));
    }
    PutU32(reinterpret_cast<char*>(aad + 20), len);
    aad[24] = final ? 1 : 0;
  }

  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> enc_;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> dec_;
  uint32_t segment_size_;
  bool ok_ = false;
};

// --- uploads --------------------------------------------------------------------------------

class EncWriter final : public BlobWriter {
 public:
  EncWriter(std::unique_ptr<BlobWriter> raw, const Secret& key, uint32_t segment_size)
      : raw_(std::move(raw)), cipher_(key, segment_size), segment_size_(segment_size) {}

  // Reads the record structure of an existing upload. kCorrupt when it is torn or malformed.
  // A canonical layout (every data record full but the last) is recognised from its size and
  // three length prefixes, so reopening an upload on a remote store costs a few small reads;
  // any other layout is walked record by record.
  Status Scan() {
    uint64_t end = raw_->size();
    if (end <= kHeaderSize) {
      return Ok{};
    }
    BERTH_ASSIGN_OR_RETURN(bool canonical, ScanCanonical(end));
    if (canonical) {
      return Ok{};
    }
    starts_.clear();
    lens_.clear();
    file_pos_.clear();
    plain_size_ = 0;
    canonical_ = true;
    sealed_ = false;
    uint64_t pos = kHeaderSize;
    while (pos < end) {
      if (sealed_) {
        return Corrupt("upload has data after its end marker");
      }
      if (end - pos < kOverhead) {
        return Corrupt("upload ends inside a segment (interrupted write); start the upload again");
      }
      BERTH_ASSIGN_OR_RETURN(uint32_t len, LenAt(pos));
      if (len > segment_size_ || end - pos < kOverhead + len) {
        return Corrupt("upload ends inside a segment (interrupted write); start the upload again");
      }
      if (len == 0) {
        sealed_ = true;
      } else {
        AddRecord(pos, len);
      }
      pos += kOverhead + len;
    }
    return Ok{};
  }

  uint64_t size() const override { return plain_size_ + pending_.size(); }

  // Seals whole segments as they fill; a partial one waits in pending_ for more bytes or for
  // Flush, so that uploads streamed in pieces of any size stay canonical.
  Status Append(std::span<const char> bytes) override {
    if (sealed_) {
      return MakeError(Errc::kPreconditionFailed, "crypto: upload already committed");
    }
    if (broken_) {
      return MakeError(Errc::kUnavailable, "crypto: upload damaged by an earlier write failure");
    }
    if (bytes.empty()) {
      return Ok{};
    }
    const size_t pending_before = pending_.size();
    // Plaintext of the records to write now: pending_ completed, then whole segments.
    size_t head = 0;
    if (!pending_.empty()) {
      head = std::min<size_t>(segment_size_ - pending_.size(), bytes.size());
      pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(head));
      bytes = bytes.subspan(head);
      if (pending_.size() < segment_size_) {
        return Ok{};  // still a partial segment
      }
    }
    size_t whole = bytes.size() / segment_size_ * segment_size_;
    size_t records = (pending_.empty() ? 0 : 1) + whole / segment_size_;
    buf_.resize(records * (segment_size_ + kOverhead));
    char* out = buf_.data();
    uint64_t index = starts_.size();
    if (!pending_.empty()) {
      BERTH_TRY(cipher_.Seal(index++, false, std::span<const char>(pending_), out));
      out += segment_size_ + kOverhead;
    }
    for (size_t off = 0; off < whole; off += segment_size_) {
      BERTH_TRY(cipher_.Seal(index++, false, bytes.subspan(off, segment_size_), out));
      out += segment_size_ + kOverhead;
    }
    if (records > 0) {
      BERTH_TRY(WriteRecords(records, segment_size_, [&] { pending_.resize(pending_before); }));
    }
    pending_.clear();
    pending_.insert(pending_.end(), bytes.begin() + static_cast<ptrdiff_t>(whole), bytes.end());
    return Ok{};
  }

  // Writes the partial segment as a short record, then flushes the store's writer.
  Status Flush() override {
    if (!pending_.empty()) {
      buf_.resize(pending_.size() + kOverhead);
      BERTH_TRY(cipher_.Seal(starts_.size(), false, std::span<const char>(pending_), buf_.data()));
      BERTH_TRY(WriteRecords(1, static_cast<uint32_t>(pending_.size()), [] {}));
      pending_.clear();
    }
    return raw_->Flush();
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    size_t done = 0;
    while (done < out.size() && offset + done < plain_size_) {
      BERTH_ASSIGN_OR_RETURN(size_t n, ReadRecord(offset + done, out.subspan(done)));
      done += n;
    }
    if (done < out.size() && offset + done >= plain_size_ && offset + done < size()) {
      uint64_t skip = offset + done - plain_size_;
      size_t n = static_cast<size_t>(std::min<uint64_t>(pending_.size() - skip, out.size() - done));
      std::memcpy(out.data() + done, pending_.data() + skip, n);
      done += n;
    }
    return done;
  }

  // Reads from the one record holding `offset`.
  Result<size_t> ReadRecord(uint64_t offset, std::span<char> out) {
    // Record r holds plaintext [starts_[r], starts_[r] + lens_[r]).
    size_t r = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) -
                                   starts_.begin() - 1);
    uint32_t len = lens_[r];
    rec_.resize(len + kOverhead);
    plain_.resize(len);
    BERTH_TRY(ReadExact(*raw_, file_pos_[r], std::span<char>(rec_.data(), rec_.size())));
    BERTH_TRY(cipher_.Open(r, false, rec_.data(), len, plain_.data()));
    uint64_t skip = offset - starts_[r];
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - skip, out.size()));
    std::memcpy(out.data(), plain_.data() + skip, n);
    return n;
  }

  // Flushes any partial segment, then appends the end marker (idempotent).
  Status Seal() {
    if (sealed_) {
      return Ok{};
    }
    BERTH_TRY(Flush());
    char marker[kOverhead];
    BERTH_TRY(cipher_.Seal(starts_.size(), true, {}, marker));
    BERTH_TRY(raw_->Append(std::span<const char>(marker, kOverhead)));
    sealed_ = true;
    return Ok{};
  }

  // Every data record but the last is full: the layout readers can address by arithmetic.
  bool canonical() const { return canonical_; }
  bool ok() const { return cipher_.ok(); }

 private:
  // Appends `records` records from buf_ (all of `len` plaintext bytes but a last partial one
  // when records == 1) to the store; on failure calls undo() and marks the upload broken if a
  // part reached the store.
  template <class Undo>
  Status WriteRecords(size_t records, uint32_t len, Undo undo) {
    uint64_t before = raw_->size();
    Status s = raw_->Append(std::span<const char>(buf_.data(), buf_.size()));
    if (!s.ok()) {
      broken_ = raw_->size() != before;  // a partial record would poison what follows
      undo();
      return s;
    }
    uint64_t pos = before;
    for (size_t i = 0; i < records; ++i) {
      AddRecord(pos, len);
      pos += len + kOverhead;
    }
    return Ok{};
  }

  Result<uint32_t> LenAt(uint64_t pos) {
    char len_buf[kLenPrefix];
    BERTH_TRY(ReadExact(*raw_, pos, std::span<char>(len_buf, kLenPrefix)));
    return GetU32(len_buf);
  }

  // The canonical reading of an upload of `end` stored bytes: full records, then at most one
  // short record, then perhaps the end marker. False (nothing recorded) if the prefixes at the
  // first and last full record and at the tail do not agree with it.
  Result<bool> ScanCanonical(uint64_t end) {
    const uint64_t rec = segment_size_ + kOverhead;
    const uint64_t full = (end - kHeaderSize) / rec;
    const uint64_t tail = (end - kHeaderSize) % rec;
    if (full > 0) {
      BERTH_ASSIGN_OR_RETURN(uint32_t first, LenAt(kHeaderSize));
      BERTH_ASSIGN_OR_RETURN(uint32_t last, LenAt(kHeaderSize + (full - 1) * rec));
      if (first != segment_size_ || last != segment_size_) {
        return false;
      }
    }
    uint32_t short_len = 0;
    bool sealed = false;
    if (tail != 0) {
      if (tail < kOverhead) {
        return false;
      }
      const uint64_t pos = kHeaderSize + full * rec;
      BERTH_ASSIGN_OR_RETURN(uint32_t len, LenAt(pos));
      if (len == 0) {
        sealed = tail == kOverhead;
      } else if (len < segment_size_ && tail == len + kOverhead) {
        short_len = len;
      } else if (len < segment_size_ && tail == len + 2 * kOverhead) {
        BERTH_ASSIGN_OR_RETURN(uint32_t marker, LenAt(pos + len + kOverhead));
        if (marker != 0) {
          return false;
        }
        short_len = len;
        sealed = true;
      }
      if (!sealed && short_len == 0) {
        return false;
      }
    }
    for (uint64_t i = 0; i < full; ++i) {
      AddRecord(kHeaderSize + i * rec, segment_size_);
    }
    if (short_len > 0) {
      AddRecord(kHeaderSize + full * rec, short_len);
    }
    sealed_ = sealed;
    return true;
  }

  void AddRecord(uint64_t file_pos, uint32_t len) {
    if (!lens_.empty() && lens_.back() != segment_size_) {
      canonical_ = false;
    }
    starts_.push_back(plain_size_);
    lens_.push_back(len);
    file_pos_.push_back(file_pos);
    plain_size_ += len;
  }

  std::unique_ptr<BlobWriter> raw_;
  SegmentCipher cipher_;
  uint32_t segment_size_;
  std::vector<uint64_t> starts_;
  std::vector<uint32_t> lens_;
  std::vector<uint64_t> file_pos_;
  uint64_t plain_size_ = 0;
  bool canonical_ = true;
  bool sealed_ = false;
  bool broken_ = false;
  std::vector<char> pending_;  // plaintext of the segment being filled (< segment_size_)
  std::vector<char> buf_;
  std::vector<char> rec_;
  std::vector<char> plain_;
};

// --- published blobs ------------------------------------------------------------------------

class EncReader final : public BlobReader {
 public:
  EncReader(std::unique_ptr<BlobReader> raw, const Secret& key, uint32_t segment_size,
            uint64_t plain_size)
      : raw_(std::move(raw)),
        cipher_(key, segment_size),
        segment_size_(segment_size),
        plain_size_(plain_size),
        records_((plain_size + segment_size - 1) / segment_size) {}

  bool ok() const { return cipher_.ok(); }
  uint64_t size() const override { return plain_size_; }

  // Checks the end marker: a blob cut short at a segment boundary is refused up front.
  Status VerifyEnd() {
    char marker[kOverhead];
    BERTH_TRY(RawRead(raw_->size() - kOverhead, std::span<char>(marker, kOverhead)));
    return cipher_.Open(records_, true, marker, 0, nullptr);
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    if (offset >= plain_size_ || out.empty()) {
      return size_t{0};
    }
    uint64_t first = offset / segment_size_;
    uint64_t skip = offset % segment_size_;
    if (skip == 0 && out.size() >= RecordLen(first)) {
      // Aligned: decrypt whole segments straight into the caller's buffer, one raw read.
      uint64_t count = 0;
      size_t bytes = 0;
      while (first + count < records_ && bytes + RecordLen(first + count) <= out.size() &&
             count < 64) {
        bytes += RecordLen(first + count);
        ++count;
      }
      size_t raw_bytes = bytes + count * kOverhead;
      rec_.resize(raw_bytes);
      BERTH_TRY(RawRead(RecordPos(first), std::span<char>(rec_.data(), raw_bytes)));
      const char* rec = rec_.data();
      char* dst = out.data();
      for (uint64_t i = 0; i < count; ++i) {
        uint32_t len = RecordLen(first + i);
        BERTH_TRY(cipher_.Open(first + i, false, rec, len, dst));
        rec += len + kOverhead;
        dst += len;
      }
      return bytes;
    }
    if (cached_ != first) {
      uint32_t len = RecordLen(first);
      rec_.resize(len + kOverhead);
      plain_.resize(segment_size_);
      cached_ = UINT64_MAX;
      BERTH_TRY(RawRead(RecordPos(first), std::span<char>(rec_.data(), len + kOverhead)));
      BERTH_TRY(cipher_.Open(first, false, rec_.data(), len, plain_.data()));
      cached_ = first;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(RecordLen(first) - skip, out.size()));
    std::memcpy(out.data(), plain_.data() + skip, n);
    return n;
  }

 private:
  uint32_t RecordLen(uint64_t i) const {
    uint64_t start = i * segment_size_;
    return static_cast<uint32_t>(std::min<uint64_t>(segment_size_, plain_size_ - start));
  }
  uint64_t RecordPos(uint64_t i) const {
    return kHeaderSize + i * (static_cast<uint64_t>(segment_size_) + kOverhead);
  }
  Status RawRead(uint64_t pos, std::span<char> out) { return ReadExact(*raw_, pos, out); }

  std::unique_ptr<BlobReader> raw_;
  SegmentCipher cipher_;
  uint32_t segment_size_;
  uint64_t plain_size_;
  uint64_t records_;
  uint64_t cached_ = UINT64_MAX;
  std::vector<char> rec_;
  std::vector<char> plain_;
};

// The header of a stored object (published blob or upload).
template <class Source>
Result<std::string> ReadHeaderBytes(Source& raw) {
  std::string h(kHeaderSize, '\0');
  if (raw.size() < kHeaderSize) {
    return Corrupt("object shorter than its header (interrupted creation?)");
  }
  BERTH_TRY(ReadExact(raw, 0, std::span<char>(h)));
  return h;
}

}  // namespace

// --- EncryptedBlobStore ---------------------------------------------------------------------

// Private helpers with access to the store's members.
struct EncryptedAccess {
  static Result<std::unique_ptr<EncWriter>> OpenWriter(EncryptedBlobStore& s, std::string_view id) {
    BERTH_ASSIGN_OR_RETURN(auto raw, s.inner_.OpenUpload(id));
    BERTH_ASSIGN_OR_RETURN(std::string h, ReadHeaderBytes(*raw));
    BERTH_ASSIGN_OR_RETURN(Header header, ParseHeader(h));
    BERTH_ASSIGN_OR_RETURN(Secret key, s.DataKeyFor(header.wrapped));
    auto w = std::make_unique<EncWriter>(std::move(raw), key, header.segment_size);
    if (!w->ok()) {
      return MakeError(Errc::kInternal, "crypto: cipher setup failed");
    }
    BERTH_TRY(w->Scan());
    return w;
  }
};

EncryptedBlobStore::EncryptedBlobStore(BlobStore& inner, kms::KeyService& keys, std::string key,
                                       std::shared_ptr<kms::DataKeyCache> cache,
                                       EncryptionOptions options)
    : inner_(inner),
      keys_(keys),
      key_(std::move(key)),
      cache_(std::move(cache)),
      options_(options) {
  if (!cache_) {
    cache_ = std::make_shared<kms::DataKeyCache>(options_.data_key_cache);
  }
}

Result<Secret> EncryptedBlobStore::DataKeyFor(const std::string& wrapped) {
  BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, keys_.Inspect(wrapped));
  // Checked on every use, cached key or not: a disabled key stops reads and writes at once.
  BERTH_TRY(keys_.CheckUsable(info.key_id));
  Secret cached = cache_->Get(wrapped);
  if (!cached.empty()) {
    return cached;
  }
  BERTH_ASSIGN_OR_RETURN(Secret key, keys_.Decrypt(wrapped, kContext));
  cache_->Put(wrapped, key);
  return key;
}

Status EncryptedBlobStore::CreateUpload(std::string_view upload_id) {
  BERTH_ASSIGN_OR_RETURN(kms::DataKey dk, keys_.GenerateDataKey(key_, kContext));
  if (dk.wrapped.size() > kHeaderSize - 20) {
    return MakeError(Errc::kInternal, "crypto: wrapped data key too large for the header");
  }
  BERTH_TRY(inner_.CreateUpload(upload_id));
  std::string header = EncodeHeader(options_.segment_size, dk.wrapped);
  auto raw = inner_.OpenUpload(upload_id);
  Status s = raw.ok() ? (*raw)->Append(std::span<const char>(header.data(), header.size()))
                      : Status(std::move(raw).error());
  if (s.ok()) {
    s = (*raw)->Flush();
  }
  if (!s.ok()) {
    (void)inner_.DeleteUpload(upload_id);
    return s;
  }
  cache_->Put(dk.wrapped, dk.plaintext);
  return Ok{};
}

Result<std::unique_ptr<BlobWriter>> EncryptedBlobStore::OpenUpload(std::string_view upload_id) {
  BERTH_ASSIGN_OR_RETURN(auto w, EncryptedAccess::OpenWriter(*this, upload_id));
  return std::unique_ptr<BlobWriter>(std::move(w));
}

bool EncryptedBlobStore::CommitsWithoutRepackForTest(std::string_view upload_id) {
  auto w = EncryptedAccess::OpenWriter(*this, upload_id);
  return w.ok() && (*w)->canonical();
}

Status EncryptedBlobStore::DeleteUpload(std::string_view upload_id) {
  return inner_.DeleteUpload(upload_id);
}

Result<std::vector<std::pair<std::string, BlobStat>>> EncryptedBlobStore::ListUploads() {
  BERTH_ASSIGN_OR_RETURN(auto list, inner_.ListUploads());
  for (auto& [id, stat] : list) {
    auto w = EncryptedAccess::OpenWriter(*this, id);
    stat.size = w.ok() ? (*w)->size() : 0;
  }
  return list;
}

Status EncryptedBlobStore::Commit(std::string_view upload_id, const Digest& digest) {
  BERTH_ASSIGN_OR_RETURN(auto w, EncryptedAccess::OpenWriter(*this, upload_id));
  if (w->canonical()) {
    BERTH_TRY(w->Seal());
    BERTH_TRY(w->Flush());
    w.reset();
    return inner_.Commit(upload_id, digest);
  }
  if (inner_.Stat(digest).ok()) {
    w.reset();
    return inner_.Commit(upload_id, digest);  // already published: discards the upload
  }
  // Chunks ended mid-segment: re-pack into the canonical layout under a fresh data key (the
  // old key must not seal different plaintext under the same record nonces).
  std::string repack = std::string(upload_id) + "-repack";
  (void)inner_.DeleteUpload(repack);
  BERTH_TRY(CreateUpload(repack));
  Status s = [&]() -> Status {
    BERTH_ASSIGN_OR_RETURN(auto out, EncryptedAccess::OpenWriter(*this, repack));
    std::vector<char> buf(options_.segment_size * size_t{16});
    uint64_t off = 0;
    while (off < w->size()) {
      size_t filled = 0;
      while (filled < buf.size() && off + filled < w->size()) {
        BERTH_ASSIGN_OR_RETURN(size_t n,
                               w->ReadAt(off + filled, std::span<char>(buf).subspan(filled)));
        if (n == 0) {
          return Corrupt("upload shorter than recorded");
        }
        filled += n;
      }
      BERTH_TRY(out->Append(std::span<const char>(buf.data(), filled)));
      off += filled;
    }
    BERTH_TRY(out->Seal());
    BERTH_TRY(out->Flush());
    out.reset();
    return inner_.Commit(repack, digest);
  }();
  if (!s.ok()) {
    (void)inner_.DeleteUpload(repack);
    return s;
  }
  w.reset();
  Status d = inner_.DeleteUpload(upload_id);
  if (!d.ok() && d.error().code != Errc::kNotFound) {
    return d;
  }
  return Ok{};
}

Status EncryptedBlobStore::PutSmall(const Digest& digest, std::string_view bytes) {
  if (inner_.Stat(digest).ok()) {
    return Ok{};
  }
  std::string id = "put-" + RandomHexId();
  BERTH_TRY(CreateUpload(id));
  Status s = [&]() -> Status {
    BERTH_ASSIGN_OR_RETURN(auto w, EncryptedAccess::OpenWriter(*this, id));
    BERTH_TRY(w->Append(std::span<const char>(bytes.data(), bytes.size())));
    BERTH_TRY(w->Flush());
    w.reset();
    return Commit(id, digest);
  }();
  if (!s.ok()) {
    (void)inner_.DeleteUpload(id);
  }
  return s;
}

Result<BlobStat> EncryptedBlobStore::Stat(const Digest& digest) {
  BERTH_ASSIGN_OR_RETURN(BlobStat st, inner_.Stat(digest));
  BERTH_ASSIGN_OR_RETURN(auto raw, inner_.Open(digest));
  BERTH_ASSIGN_OR_RETURN(std::string h, ReadHeaderBytes(*raw));
  BERTH_ASSIGN_OR_RETURN(Header header, ParseHeader(h));
  BERTH_ASSIGN_OR_RETURN(st.size, PlainSize(raw->size(), header.segment_size));
  return st;
}

Result<std::unique_ptr<BlobReader>> EncryptedBlobStore::Open(const Digest& digest) {
  BERTH_ASSIGN_OR_RETURN(auto raw, inner_.Open(digest));
  BERTH_ASSIGN_OR_RETURN(std::string h, ReadHeaderBytes(*raw));
  BERTH_ASSIGN_OR_RETURN(Header header, ParseHeader(h));
  BERTH_ASSIGN_OR_RETURN(uint64_t size, PlainSize(raw->size(), header.segment_size));
  // After a rotation the re-wrapped data key (newest key version) sits in the sidecar.
  std::string wrapped = std::move(header.wrapped);
  BERTH_ASSIGN_OR_RETURN(kms::WrappedKeyInfo info, keys_.Inspect(wrapped));
  auto meta = keys_.DescribeKey(info.key_id);
  if (meta.ok() && info.version < meta->current_version) {
    auto side = inner_.GetSidecar(digest);
    if (side.ok()) {
      wrapped = std::move(*side);
    }
  }
  BERTH_ASSIGN_OR_RETURN(Secret key, DataKeyFor(wrapped));
  auto reader = std::make_unique<EncReader>(std::move(raw), key, header.segment_size, size);
  if (!reader->ok()) {
    return MakeError(Errc::kInternal, "crypto: cipher setup failed");
  }
  Status end = reader->VerifyEnd();
  if (!end.ok()) {
    return MakeError(end.error().code, end.error().message + " in " + digest.str());
  }
  return std::unique_ptr<BlobReader>(std::move(reader));
}

Result<std::string> EncryptedBlobStore::ReadSmall(const Digest& digest, uint64_t max_bytes) {
  BERTH_ASSIGN_OR_RETURN(auto reader, Open(digest));
  if (reader->size() > max_bytes) {
    return MakeError(Errc::kTooLarge, "crypto: blob larger than limit " + digest.str());
  }
  std::string out(static_cast<size_t>(reader->size()), '\0');
  BERTH_TRY(ReadExact(*reader, 0, std::span<char>(out)));
  return out;
}

Status EncryptedBlobStore::Delete(const Digest& digest) { return inner_.Delete(digest); }

Status EncryptedBlobStore::List(const std::function<bool(const Digest&, const BlobStat&)>& fn) {
  return inner_.List([&](const Digest& d, const BlobStat& st) {
    BlobStat plain = st;
    auto size = PlainSize(st.size, options_.segment_size);
    plain.size = size.ok() ? *size : 0;
    return fn(d, plain);
  });
}

Status EncryptedBlobStore::Archive(const Digest& digest) { return inner_.Archive(digest); }
Status EncryptedBlobStore::Restore(const Digest& digest) { return inner_.Restore(digest); }
Status EncryptedBlobStore::PutSidecar(const Digest& digest, std::string_view bytes) {
  return inner_.PutSidecar(digest, bytes);
}
Result<std::string> EncryptedBlobStore::GetSidecar(const Digest& digest) {
  return inner_.GetSidecar(digest);
}

bool IsEncryptedObject(std::string_view header) {
  return header.size() >= kMagic.size() && header.substr(0, kMagic.size()) == kMagic;
}

Result<RewrapReport> RewrapDataKeys(BlobStore& store, kms::KeyService& keys,
                                    std::string_view only_key,
                                    const std::function<void(uint64_t)>& progress) {
  std::vector<Digest> all;
  BERTH_TRY(store.List([&](const Digest& d, const BlobStat&) {
    all.push_back(d);
    return true;
  }));
  RewrapReport report;
  uint64_t done = 0;
  for (const Digest& d : all) {
    if (progress) {
      progress(++done);
    }
    auto raw = store.Open(d);
    if (!raw.ok()) {
      continue;  // archived or deleted meanwhile: old key versions keep decrypting it
    }
    auto h = ReadHeaderBytes(**raw);
    if (!h.ok() || !IsEncryptedObject(*h)) {
      continue;
    }
    auto header = ParseHeader(*h);
    if (!header.ok()) {
      ++report.failed;
      continue;
    }
    std::string wrapped = header->wrapped;
    auto side = store.GetSidecar(d);
    if (side.ok()) {
      wrapped = std::move(*side);
    }
    auto info = keys.Inspect(wrapped);
    if (!info.ok()) {
      ++report.failed;
      continue;
    }
    if (!only_key.empty() && info->key_id != only_key) {
      continue;
    }
    ++report.examined;
    auto meta = keys.DescribeKey(info->key_id);
    if (!meta.ok()) {
      ++report.failed;
      continue;
    }
    if (info->version >= meta->current_version) {
      continue;
    }
    auto fresh = keys.ReEncrypt(wrapped, kContext);
    if (!fresh.ok()) {
      ++report.failed;
      continue;
    }
    Status s = store.PutSidecar(d, *fresh);
    if (!s.ok()) {
      ++report.failed;
      continue;
    }
    ++report.rewrapped;
  }
  return report;
}

}  // namespace berth::storage
