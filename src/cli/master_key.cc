#include "cli/master_key.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <boost/json.hpp>

#include "kms/builtin_key_service.h"
#include "registry/identity.h"

namespace berth::cli {
namespace {

constexpr const char* kKeyIdSetting = "master.key.id";
constexpr const char* kRotationSetting = "master.rotation";

Error FileError(const std::string& path, std::string_view what) {
  return MakeError(Errc::kUnavailable,
                   std::string(what) + " " + path + ": " + std::strerror(errno));
}

// Replaces `path` with `bytes` (mode 0600) atomically and durably: temporary file, fsync,
// rename, fsync of the directory.
Status WriteFileAtomic(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return FileError(tmp, "cannot create");
  }
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return FileError(path, "cannot write");
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

}  // namespace

Result<Secret> ReadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return FileError(path, "cannot open key file");
  }
  std::string buf(64, '\0');
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n != 32) {
    std::fill(buf.begin(), buf.end(), '\0');
    return MakeError(Errc::kInvalidArgument, "key file " + path +
                                                 " must hold exactly 32 bytes (e.g. head -c 32 "
                                                 "/dev/urandom > FILE)");
  }
  buf.resize(32);
  return Secret(std::move(buf));
}

Status CheckMasterKeyBlocking(meta::MetadataStore& meta, const Secret& master_key) {
  auto rotation = meta.GetSetting(kRotationSetting);
  if (rotation.ok()) {
    return MakeError(Errc::kPreconditionFailed,
                     "a master-key rotation is unfinished (" + *rotation +
                         "): run 'berth admin master-key rotate --new-key-file FILE' again with "
                         "the same new key to finish it");
  }
  if (rotation.error().code != Errc::kNotFound) {
    return std::move(rotation).error();
  }
  std::string mine = registry::MasterKeyFingerprint(master_key);
  BERTH_ASSIGN_OR_RETURN(std::string recorded, meta.PutSettingIfAbsent(kKeyIdSetting, mine));
  if (recorded != mine) {
    return MakeError(Errc::kPreconditionFailed,
                     "the master key (fingerprint " + mine +
                         ") is not the one this database is sealed under (fingerprint " + recorded +
                         "): check master_key_file / BERTH_MASTER_KEY");
  }
  return Ok{};
}

Result<MasterKeyRotation> RotateMasterKeyBlocking(meta::MetadataStore& meta,
                                                  const std::string& key_path,
                                                  const Secret& new_key) {
  if (new_key.size() != 32) {
    return MakeError(Errc::kInvalidArgument, "the new master key must be 32 bytes");
  }
  BERTH_ASSIGN_OR_RETURN(Secret current, ReadKeyFile(key_path));
  std::string fp_current = registry::MasterKeyFingerprint(current);
  std::string fp_new = registry::MasterKeyFingerprint(new_key);
  std::string fp_from;

  auto marker = meta.GetSetting(kRotationSetting);
  if (!marker.ok()) {
    if (marker.error().code != Errc::kNotFound) {
      return std::move(marker).error();
    }
    if (fp_current == fp_new) {
      return MakeError(Errc::kInvalidArgument, "the new key is already the master key");
    }
    auto recorded = meta.GetSetting(kKeyIdSetting);
    if (recorded.ok() && *recorded != fp_current) {
      return MakeError(Errc::kPreconditionFailed,
                       "the master key in " + key_path + " (fingerprint " + fp_current +
                           ") is not the one this database is sealed under (fingerprint " +
                           *recorded + ")");
    }
    boost::json::object m{{"from", fp_current}, {"to", fp_new}};
    BERTH_TRY(meta.PutSetting(kRotationSetting, boost::json::serialize(m)));
    fp_from = fp_current;
  } else {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*marker, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* from = o != nullptr ? o->if_contains("from") : nullptr;
    const auto* to = o != nullptr ? o->if_contains("to") : nullptr;
    if (from == nullptr || to == nullptr || !from->is_string() || !to->is_string()) {
      return MakeError(Errc::kCorrupt, "setting master.rotation is malformed: " + *marker);
    }
    fp_from = std::string(from->get_string());
    if (to->get_string() != fp_new) {
      return MakeError(Errc::kPreconditionFailed,
                       "an unfinished rotation to the master key with fingerprint " +
                           std::string(to->get_string()) +
                           " must be finished first: run this again with that key file");
    }
    if (fp_current != fp_from && fp_current != fp_new) {
      return MakeError(Errc::kPreconditionFailed,
                       key_path +
                           " holds neither the old nor the new key of the unfinished "
                           "rotation (" +
                           *marker + ")");
    }
  }

  MasterKeyRotation out;
  out.old_key_path = key_path + ".old-" + fp_from;
  // The key values are sealed under now: the current one, or, when an earlier run got as far
  // as switching the file, the one it kept. Without it only verification remains possible.
  Secret from_key;
  if (fp_current == fp_from) {
    from_key = current.Clone();
  } else if (auto kept = ReadKeyFile(out.old_key_path);
             kept.ok() && registry::MasterKeyFingerprint(*kept) == fp_from) {
    from_key = std::move(kept).value();
  } else {
    from_key = new_key.Clone();
  }

  BERTH_ASSIGN_OR_RETURN(out.kms_key_versions, kms::BuiltinKeyService::ResealKeyMaterialBlocking(
                                                   meta, from_key, new_key));
  BERTH_ASSIGN_OR_RETURN(out.access_keys,
                         registry::ResealAccessKeySecretsBlocking(meta, from_key, new_key));

  if (fp_current != fp_new) {
    BERTH_TRY(WriteFileAtomic(out.old_key_path, current.reveal()));
    BERTH_TRY(WriteFileAtomic(key_path, new_key.reveal()));
  }
  BERTH_TRY(meta.PutSetting(kKeyIdSetting, fp_new));
  BERTH_TRY(meta.DeleteSetting(kRotationSetting));
  return out;
}

}  // namespace berth::cli
