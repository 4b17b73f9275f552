#include "kms/data_key_cache.h"

namespace berth::kms {

Secret DataKeyCache::Get(const std::string& wrapped) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(wrapped);
  if (it == entries_.end()) {
    return Secret();
  }
  order_.splice(order_.begin(), order_, it->second.pos);
  return it->second.key.Clone();
}

void DataKeyCache::Put(const std::string& wrapped, const Secret& key) {
  if (capacity_ == 0) {
    return;
  }
  std::lock_guard lock(mu_);
  if (entries_.count(wrapped) != 0) {
    return;
  }
  order_.push_front(wrapped);
  entries_.emplace(wrapped, Entry{key.Clone(), order_.begin()});
  while (entries_.size() > capacity_) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace berth::kms
