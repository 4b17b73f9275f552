// BlobStore conformance suite: the contract of storage/blob_store.h as value-parameterised
// tests, run against every driver (distribution `testsuites`, RocksDB `env_basic_test`).
//
// A driver's test file instantiates the suite with a factory that returns a new, empty store
// each time it is called (one per test):
//
//   INSTANTIATE_TEST_SUITE_P(Fs, BlobStoreConformanceTest,
//                            ::testing::Values(BlobStoreFactory(&OpenFreshFsStore)));
//
// The factory owns whatever backs the store (a temp directory, a bucket) and must keep it
// alive at least until the test ends. Driver-specific behaviour (on-disk layout, zero-copy)
// belongs in the driver's own tests.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "storage/blob_store.h"

namespace berth::storage {

using BlobStoreFactory = std::function<std::unique_ptr<BlobStore>()>;

// Prints the parameter as its type name (ADL finds this through the factory's return type)
// instead of dumping the std::function's bytes in failure messages.
inline void PrintTo(const BlobStoreFactory& /*factory*/, std::ostream* os) {
  *os << "BlobStoreFactory";
}

// Deterministic, non-repeating-looking content of `n` bytes (test data for drivers' tests).
std::string TestPattern(size_t n, unsigned seed = 1);

class BlobStoreConformanceTest : public ::testing::TestWithParam<BlobStoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  BlobStore& store() { return *store_; }

  std::unique_ptr<BlobStore> store_;
};

}  // namespace berth::storage
