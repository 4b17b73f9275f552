// DataKeyCache: unwrapped data keys by their wrapped form, bounded (least recently used go
// first), so hot objects are not unwrapped by the key service on every read. Holding a cached
// key is not permission to use it: callers still ask KeyService::CheckUsable on every use.
// Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/secret.h"

namespace berth::kms {

class DataKeyCache {
 public:
  explicit DataKeyCache(size_t capacity) : capacity_(capacity) {}
  // The unwrapped key (a copy), or an empty Secret.
  Secret Get(const std::string& wrapped);
  void Put(const std::string& wrapped, const Secret& key);

 private:
  std::mutex mu_;
  size_t capacity_;
  std::list<std::string> order_;  // most recent first
  struct Entry {
    Secret key;
    std::list<std::string>::iterator pos;
  };
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace berth::kms
