#pragma once
// Data parallelism: each rank takes a contiguous share of every global batch,
// and what it computes on its rows is put back together on every rank.
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "moekit/dist/process_group.h"

namespace moekit::dist {

/// Rows [begin, begin + size) of a global batch of `rows` that this rank takes:
/// shares differ by at most one row; a rank gets none when rows < world size.
struct BatchShare {
  int64_t begin = 0;
  int64_t size = 0;
  /// This share's fraction of the global batch (its weight in the global mean).
  double weight(int64_t rows) const { return rows > 0 ? static_cast<double>(size) / rows : 0.0; }
  /// The rows this rank runs: its share or, when it has none, the batch's first
  /// row alone (weight 0), since every rank must join the expert exchange.
  int64_t run_begin() const { return size > 0 ? begin : 0; }
  int64_t run_size() const { return size > 0 ? size : 1; }
};
BatchShare batch_share(int64_t rows, const Group& group);

/// Collective: the [rows, ...] tensor whose rows [share.begin, + local.size(0))
/// come from each rank's `local` (all_reduce_sum of zero-padded copies).
at::Tensor gather_rows(Group& group, const at::Tensor& local, const BatchShare& share,
                       int64_t rows);

/// Collective: each value becomes its sum over ranks (one all-reduce).
void all_reduce_sum(Group& group, std::vector<double>& values);

/// Random draws (dropout, gate noise, random experts) differ per rank, as they
/// would over the rows of one big batch: ranks > 0 reseed the CPU generator
/// from (seed, rank); rank 0 keeps the single-process stream.
void seed_rank_generator(const Group& group, int64_t seed);

/// Collective: the CPU generator state of every rank, [world_size, S] uint8.
at::Tensor gather_generator_states(Group& group);

/// Restores this rank's generator from gather_generator_states' tensor when it
/// has a row for this rank; returns false (generator untouched) otherwise.
bool restore_generator_state(const Group& group, const at::Tensor& states);

}  // namespace moekit::dist
