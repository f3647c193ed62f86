#include "moekit/dist/data_parallel.h"

#include <gtest/gtest.h>

#include "moekit/dist/process_group.h"

namespace moekit::dist {
namespace {

TEST(DistDataParallel, OneProcessTakesTheWholeBatch) {
  Group group;
  const BatchShare share = batch_share(5, group);
  EXPECT_EQ(share.begin, 0);
  EXPECT_EQ(share.size, 5);
  EXPECT_DOUBLE_EQ(share.weight(5), 1.0);
  EXPECT_EQ(share.run_begin(), 0);
  EXPECT_EQ(share.run_size(), 5);
}

TEST(DistDataParallel, ARankWithoutRowsRunsTheFirstRowWithWeightZero) {
  // What rank 0 of 2 gets for a one-row batch: rows [0, 0).
  const BatchShare empty{0, 0};
  EXPECT_DOUBLE_EQ(empty.weight(1), 0.0);
  EXPECT_EQ(empty.run_begin(), 0);
  EXPECT_EQ(empty.run_size(), 1);
  // A rank whose share starts later runs exactly its share.
  const BatchShare later{3, 2};
  EXPECT_DOUBLE_EQ(later.weight(5), 0.4);
  EXPECT_EQ(later.run_begin(), 3);
  EXPECT_EQ(later.run_size(), 2);
}

}  // namespace
}  // namespace moekit::dist
