// MetadataStore conformance suite: the contract of meta/metadata_store.h as value-parameterised
// tests, run against every implementation (distribution `testsuites`, RocksDB `env_basic_test`).
//
// An implementation's test file instantiates the suite with a factory that returns a new,
// empty store each time it is called (one per test):
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, MetadataStoreConformanceTest,
//                            ::testing::Values(MetadataStoreFactory(&OpenFreshSqliteStore)));
//
// The factory owns whatever backs the store (a temp directory, a database schema) and must
// keep it alive at least until the test ends. Behaviour a single store object cannot show
// (reopening the same database) belongs in the implementation's own tests.
#pragma once

#include <functional>
#include <memory>
#include <ostream>

#include <gtest/gtest.h>

#include "meta/metadata_store.h"

namespace berth::meta {

using MetadataStoreFactory = std::function<std::unique_ptr<MetadataStore>()>;

// Prints the parameter as its type name (ADL finds this through the factory's return type)
// instead of dumping the std::function's bytes in failure messages.
inline void PrintTo(const MetadataStoreFactory& /*factory*/, std::ostream* os) {
  *os << "MetadataStoreFactory";
}

class MetadataStoreConformanceTest : public ::testing::TestWithParam<MetadataStoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  MetadataStore& store() { return *store_; }

  std::unique_ptr<MetadataStore> store_;
};

}  // namespace berth::meta
