#include "storage/fs/fs_blob_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/strings.h"

namespace berth::storage {
namespace {

constexpr const char* kSidecarSuffix = ".side";

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

Error IoError(std::string_view what, const std::string& path, int err = errno) {
  return MakeError(err == ENOENT ? Errc::kNotFound : Errc::kUnavailable,
                   "fs: " + std::string(what) + " " + path + ": " + std::strerror(err));
}

Status MkdirP(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
    return Ok{};
  }
  if (errno == ENOENT) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      BERTH_TRY(MkdirP(path.substr(0, slash)));
      if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
        return Ok{};
      }
    }
  }
  return IoError("mkdir", path);
}

Status FsyncPath(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return IoError("open dir", dir);
  }
  if (::fsync(fd.get()) != 0) {
    return IoError("fsync dir", dir);
  }
  return Ok{};
}

std::string Parent(const std::string& path) { return path.substr(0, path.rfind('/')); }

Status WriteAll(int fd, std::span<const char> bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return IoError("write", path);
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Ok{};
}

Result<size_t> PreadSome(int fd, uint64_t offset, std::span<char> out, const std::string& path) {
  for (;;) {
    ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (n >= 0) {
      return static_cast<size_t>(n);
    }
    if (errno != EINTR) {
      return IoError("read", path);
    }
  }
}

bool ValidUploadId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

class FsReader final : public BlobReader {
 public:
  FsReader(Fd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    return PreadSome(fd_.get(), offset, out, path_);
  }
  int ZeroCopyFd() const override { return fd_.get(); }

 private:
  Fd fd_;
  uint64_t size_;
  std::string path_;
};

class FsWriter final : public BlobWriter {
 public:
  FsWriter(Fd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  Status Append(std::span<const char> bytes) override {
    // pwrite at our notion of the end: a failed earlier write never leaves a hole.
    while (!bytes.empty()) {
      ssize_t n = ::pwrite(fd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(size_));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return IoError("write", path_);
      }
      size_ += static_cast<uint64_t>(n);
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return Ok{};
  }
  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    if (offset >= size_) {
      return size_t{0};
    }
    if (out.size() > size_ - offset) {
      out = out.first(static_cast<size_t>(size_ - offset));
    }
    return PreadSome(fd_.get(), offset, out, path_);
  }

 private:
  Fd fd_;
  uint64_t size_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<FsBlobStore>> FsBlobStore::Open(std::string root) {
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  BERTH_TRY(MkdirP(root + "/blobs/sha256"));
  BERTH_TRY(MkdirP(root + "/blobs/sha512"));
  BERTH_TRY(MkdirP(root + "/uploads"));
  return std::unique_ptr<FsBlobStore>(new FsBlobStore(std::move(root)));
}

std::string FsBlobStore::BlobPath(const Digest& d) const {
  std::string_view hex = d.hex();
  std::string p = root_;
  p += "/blobs/";
  p += d.algorithm_name();
  p += '/';
  p += hex.substr(0, 2);
  p += '/';
  p += hex;
  return p;
}

std::string FsBlobStore::ArchivePath(const Digest& d) const {
  std::string_view hex = d.hex();
  return root_ + "/archive/" + std::string(d.algorithm_name()) + "/" +
         std::string(hex.substr(0, 2)) + "/" + std::string(hex);
}

std::string FsBlobStore::UploadPath(std::string_view id) const {
  return root_ + "/uploads/" + std::string(id);
}

Status FsBlobStore::CreateUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kInvalidArgument, "fs: invalid upload id");
  }
  std::string path = UploadPath(upload_id);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    if (errno == EEXIST) {
      return MakeError(Errc::kAlreadyExists, "fs: upload exists " + path);
    }
    return IoError("create", path);
  }
  return Ok{};
}

Result<std::unique_ptr<BlobWriter>> FsBlobStore::OpenUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "fs: invalid upload id");
  }
  std::string path = UploadPath(upload_id);
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    return IoError("open", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return IoError("stat", path);
  }
  return std::unique_ptr<BlobWriter>(
      new FsWriter(std::move(fd), static_cast<uint64_t>(st.st_size), std::move(path)));
}

Status FsBlobStore::DeleteUpload(std::string_view upload_id) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "fs: invalid upload id");
  }
  std::string path = UploadPath(upload_id);
  if (::unlink(path.c_str()) != 0) {
    return IoError("unlink", path);
  }
  return Ok{};
}

Result<std::vector<std::pair<std::string, BlobStat>>> FsBlobStore::ListUploads() {
  std::string dir = root_ + "/uploads";
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) {
    return IoError("opendir", dir);
  }
  std::vector<std::pair<std::string, BlobStat>> out;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    struct stat st;
    if (::fstatat(::dirfd(d.get()), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    out.emplace_back(std::move(name), BlobStat{static_cast<uint64_t>(st.st_size),
                                               static_cast<int64_t>(st.st_mtime)});
  }
  return out;
}

Status FsBlobStore::Publish(const std::string& tmp_path, int fd, const Digest& digest) {
  if (::fdatasync(fd) != 0) {
    return IoError("fdatasync", tmp_path);
  }
  std::string dst = BlobPath(digest);
  std::string dir = Parent(dst);
  struct stat st;
  bool dir_is_new = ::stat(dir.c_str(), &st) != 0;
  if (dir_is_new) {
    BERTH_TRY(MkdirP(dir));
    BERTH_TRY(FsyncPath(Parent(dir)));
  }
  if (::rename(tmp_path.c_str(), dst.c_str()) != 0) {
    return IoError("rename", dst);
  }
  return FsyncPath(dir);
}

Status FsBlobStore::Commit(std::string_view upload_id, const Digest& digest) {
  if (!ValidUploadId(upload_id)) {
    return MakeError(Errc::kNotFound, "fs: invalid upload id");
  }
  std::string path = UploadPath(upload_id);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return IoError("open", path);
  }
  struct stat st;
  if (::stat(BlobPath(digest).c_str(), &st) == 0) {
    // Content-addressed: identical bytes are already published.
    ::unlink(path.c_str());
    return Ok{};
  }
  return Publish(path, fd.get(), digest);
}

Status FsBlobStore::PutSmall(const Digest& digest, std::string_view bytes) {
  struct stat st;
  if (::stat(BlobPath(digest).c_str(), &st) == 0) {
    return Ok{};
  }
  std::string tmp = root_ + "/uploads/put-" + RandomHexId();
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    return IoError("create", tmp);
  }
  Status s = WriteAll(fd.get(), std::span<const char>(bytes.data(), bytes.size()), tmp);
  if (s.ok()) {
    s = Publish(tmp, fd.get(), digest);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
  }
  return s;
}

Result<BlobStat> FsBlobStore::Stat(const Digest& digest) {
  std::string path = BlobPath(digest);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return IoError("stat", path);
  }
  return BlobStat{static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)};
}

Result<std::unique_ptr<BlobReader>> FsBlobStore::Open(const Digest& digest) {
  std::string path = BlobPath(digest);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return IoError("open", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return IoError("stat", path);
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<BlobReader>(
      new FsReader(std::move(fd), static_cast<uint64_t>(st.st_size), std::move(path)));
}

Result<std::string> FsBlobStore::ReadSmall(const Digest& digest, uint64_t max_bytes) {
  BERTH_ASSIGN_OR_RETURN(auto reader, Open(digest));
  if (reader->size() > max_bytes) {
    return MakeError(Errc::kTooLarge, "fs: blob larger than limit " + digest.str());
  }
  std::string out(static_cast<size_t>(reader->size()), '\0');
  size_t done = 0;
  while (done < out.size()) {
    BERTH_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(done, std::span<char>(out).subspan(done)));
    if (n == 0) {
      return MakeError(Errc::kCorrupt, "fs: short read " + digest.str());
    }
    done += n;
  }
  return out;
}

Status FsBlobStore::Delete(const Digest& digest) {
  std::string path = BlobPath(digest);
  bool standard = ::unlink(path.c_str()) == 0;
  if (!standard && errno != ENOENT) {
    return IoError("unlink", path);
  }
  std::string archived = ArchivePath(digest);
  bool in_archive = ::unlink(archived.c_str()) == 0;
  // Sidecars go after their blob: a crash in between leaves only a small orphan record.
  (void)::unlink((path + kSidecarSuffix).c_str());
  (void)::unlink((archived + kSidecarSuffix).c_str());
  if (!in_archive && errno != ENOENT) {
    return IoError("unlink", archived);
  }
  if (!standard && !in_archive) {
    return IoError("unlink", path, ENOENT);
  }
  return Ok{};
}

Status FsBlobStore::Move(const std::string& from, const std::string& to) {
  std::string dir = Parent(to);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    BERTH_TRY(MkdirP(dir));
    BERTH_TRY(FsyncPath(Parent(dir)));
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return IoError("rename", from);
  }
  BERTH_TRY(FsyncPath(dir));
  return FsyncPath(Parent(from));
}

Status FsBlobStore::Archive(const Digest& digest) {
  std::string from = BlobPath(digest);
  std::string to = ArchivePath(digest);
  struct stat st;
  if (::stat(from.c_str(), &st) != 0) {
    if (errno == ENOENT && ::stat(to.c_str(), &st) == 0) {
      return Ok{};  // already archived
    }
    return IoError("stat", from);
  }
  return MoveWithSidecar(from, to);
}

Status FsBlobStore::Restore(const Digest& digest) {
  std::string from = ArchivePath(digest);
  std::string to = BlobPath(digest);
  struct stat st;
  if (::stat(to.c_str(), &st) == 0) {
    // A standard copy exists (the blob was pushed again): the archived one is redundant.
    if (::unlink(from.c_str()) != 0 && errno != ENOENT) {
      return IoError("unlink", from);
    }
    (void)::unlink((from + kSidecarSuffix).c_str());
    return Ok{};
  }
  if (::stat(from.c_str(), &st) != 0) {
    return IoError("stat", from);
  }
  return MoveWithSidecar(from, to);
}

Status FsBlobStore::MoveWithSidecar(const std::string& from, const std::string& to) {
  // The sidecar moves first: a crash in between leaves the blob where readers look for it
  // with its sidecar already at the destination, which Get/PutSidecar also search.
  std::string side = from + kSidecarSuffix;
  struct stat st;
  if (::stat(side.c_str(), &st) == 0) {
    BERTH_TRY(Move(side, to + kSidecarSuffix));
  }
  return Move(from, to);
}

Status FsBlobStore::PutSidecar(const Digest& digest, std::string_view bytes) {
  std::string base = BlobPath(digest);
  struct stat st;
  if (::stat(base.c_str(), &st) != 0) {
    std::string archived = ArchivePath(digest);
    if (::stat(archived.c_str(), &st) != 0) {
      return IoError("stat", base);
    }
    base = archived;
  }
  std::string tmp = root_ + "/uploads/side-" + RandomHexId();
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    return IoError("create", tmp);
  }
  Status s = WriteAll(fd.get(), std::span<const char>(bytes.data(), bytes.size()), tmp);
  if (s.ok() && ::fdatasync(fd.get()) != 0) {
    s = IoError("fdatasync", tmp);
  }
  if (s.ok() && ::rename(tmp.c_str(), (base + kSidecarSuffix).c_str()) != 0) {
    s = IoError("rename", base + kSidecarSuffix);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncPath(Parent(base));
}

Result<std::string> FsBlobStore::GetSidecar(const Digest& digest) {
  for (const std::string& base : {BlobPath(digest), ArchivePath(digest)}) {
    std::string path = base + kSidecarSuffix;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) {
        continue;
      }
      return IoError("open", path);
    }
    std::string out;
    char buf[4096];
    for (;;) {
      BERTH_ASSIGN_OR_RETURN(size_t n, PreadSome(fd.get(), out.size(), buf, path));
      if (n == 0) {
        break;
      }
      out.append(buf, n);
      if (out.size() > (1u << 20)) {
        return MakeError(Errc::kCorrupt, "fs: sidecar too large " + path);
      }
    }
    return out;
  }
  return MakeError(Errc::kNotFound, "fs: no sidecar for " + digest.str());
}

Status FsBlobStore::List(const std::function<bool(const Digest&, const BlobStat&)>& fn) {
  for (std::string_view area :
       {"/blobs/sha256", "/blobs/sha512", "/archive/sha256", "/archive/sha512"}) {
    std::string_view algo = area.substr(area.rfind('/') + 1);
    std::string top = root_ + std::string(area);
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(top.c_str()), &::closedir);
    if (!d) {
      continue;
    }
    while (struct dirent* e = ::readdir(d.get())) {
      if (e->d_name[0] == '.') {
        continue;
      }
      std::string sub = top + "/" + e->d_name;
      std::unique_ptr<DIR, int (*)(DIR*)> sd(::opendir(sub.c_str()), &::closedir);
      if (!sd) {
        continue;
      }
      while (struct dirent* f = ::readdir(sd.get())) {
        if (f->d_name[0] == '.') {
          continue;
        }
        auto digest = Digest::Parse(std::string(algo) + ":" + f->d_name);
        struct stat st;
        if (!digest.ok() || ::fstatat(::dirfd(sd.get()), f->d_name, &st, 0) != 0) {
          continue;
        }
        if (!fn(*digest,
                BlobStat{static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)})) {
          return Ok{};
        }
      }
    }
  }
  return Ok{};
}

}  // namespace berth::storage
