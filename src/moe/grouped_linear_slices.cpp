// The slice loop of grouped_linear.h: one GEMM per expert slice, split into
// blocks that run in one parallel region on CPU and in order elsewhere.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>

#include "moe/grouped_linear.h"

namespace moekit::moe {
namespace {

// A piece of one expert's GEMM: rows [begin, begin + size) of that expert's
// slice, or (for weight gradients) rows [begin, begin + size) of w[e].
struct Block {
  int64_t expert, offset, count;  // the expert's slice of the grouped rows
  int64_t begin, size;
};

// Rows per block: at most 2 blocks per thread's share, so that static scheduling
// stays balanced when one expert gets most rows; no fewer than 256, since each
// block repacks its expert's whole weight and small GEMMs waste that.
int64_t block_rows(int64_t total_rows) {
  const int64_t pieces = 2 * static_cast<int64_t>(at::get_num_threads());
  return std::max<int64_t>(256, (total_rows + pieces - 1) / pieces);
}

// Splits each expert's slice into blocks over `extent(e, count)` rows of
// output, as many as its slice has blocks of block_rows rows.
template <typename Extent>
std::vector<Block> make_blocks(const std::vector<int64_t>& counts, Extent&& extent) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const int64_t rows = block_rows(total);
  std::vector<Block> blocks;
  int64_t offset = 0;
  for (int64_t e = 0; e < static_cast<int64_t>(counts.size()); ++e) {
    const int64_t c = counts[e];
    if (c > 0) {
      const int64_t length = extent(c);
      const int64_t pieces = std::min(length, (c + rows - 1) / rows);
      const int64_t step = (length + pieces - 1) / pieces;
      for (int64_t begin = 0; begin < length; begin += step) {
        blocks.push_back(Block{e, offset, c, begin, std::min(step, length - begin)});
      }
    }
    offset += c;
  }
  return blocks;
}

std::vector<Block> row_blocks(const std::vector<int64_t>& counts) {
  return make_blocks(counts, [](int64_t c) { return c; });
}

// NOTE: on CPU the blocks run in one parallel region, each GEMM single-threaded
// (BLAS does not fork inside a parallel region): one fork/join per grouped GEMM
// instead of one per expert, which is what small expert GEMMs lose time to
// when the cores are shared. The threads take blocks from a shared counter
// rather than a fixed half each: on shared cores a descheduled thread would
// otherwise hold back its whole share (measured: 2 threads twice as slow as 1
// under load). Other devices run them in order.
template <typename F>
void run_blocks(const at::Tensor& x, const std::vector<Block>& blocks, F&& f) {
  if (!x.is_cpu()) {
    for (const Block& block : blocks) f(block);
    return;
  }
  const auto n = static_cast<int64_t>(blocks.size());
  std::atomic<int64_t> next{0};
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    for (int64_t i = next++; i < n; i = next++) f(blocks[i]);
  });
}

// Weight gradients of experts with no rows are zero; the per-slice GEMMs write
// every other slice, so only these need clearing.
void zero_empty_experts(const std::vector<int64_t>& counts, const at::Tensor& grad) {
  for (int64_t e = 0; e < static_cast<int64_t>(counts.size()); ++e) {
    if (counts[e] == 0) grad[e].zero_();
  }
}

}  // namespace

at::Tensor slice_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                        const std::vector<int64_t>& counts, bool relu) {
  at::Tensor y = at::empty({x.size(0), w.size(2)}, x.options());
  run_blocks(x, row_blocks(counts), [&](const Block& k) {
    at::Tensor y_k = y.narrow(0, k.offset + k.begin, k.size);
    at::addmm_out(y_k, b[k.expert], x.narrow(0, k.offset + k.begin, k.size), w[k.expert]);
    if (relu) y_k.relu_();
  });
  return y;
}

GroupedLinearGrads slice_linear_backward(const at::Tensor& x, const at::Tensor& w,
                                         const at::Tensor& gy, const std::vector<int64_t>& counts,
                                         bool need_x, bool need_w, bool need_b, bool relu_input) {
  GroupedLinearGrads g;
  const int64_t n = w.size(0);
  if (need_x) g.x = at::empty_like(x);
  if (need_w) g.w = at::empty_like(w);
  if (need_b) g.b = at::empty({n, gy.size(1)}, gy.options());
  if (need_x) {
    run_blocks(x, row_blocks(counts), [&](const Block& k) {
      at::Tensor gx_k = g.x.narrow(0, k.offset + k.begin, k.size);
      at::mm_out(gx_k, gy.narrow(0, k.offset + k.begin, k.size), w[k.expert].t());
      if (relu_input) {
        at::threshold_backward_out(gx_k, gx_k, x.narrow(0, k.offset + k.begin, k.size), 0);
      }
    });
  }
  if (need_w || need_b) {
    // Blocks over the rows of w[e] (x's columns): each writes its own rows of
    // the gradient, so no two blocks add into the same memory.
    const int64_t in_features = w.size(1);
    const auto blocks = make_blocks(counts, [&](int64_t) { return in_features; });
    run_blocks(x, blocks, [&](const Block& k) {
      const at::Tensor gy_e = gy.narrow(0, k.offset, k.count);
      if (need_w) {
        at::Tensor gw_k = g.w[k.expert].narrow(0, k.begin, k.size);
        at::mm_out(gw_k, x.narrow(0, k.offset, k.count).narrow(1, k.begin, k.size).t(), gy_e);
      }
      if (need_b && k.begin == 0) {
        at::Tensor gb_e = g.b[k.expert];
        at::sum_out(gb_e, gy_e, at::IntArrayRef{0});
      }
    });
  }
  if (need_w) zero_empty_experts(counts, g.w);
  if (need_b) zero_empty_experts(counts, g.b);
  return g;
}

at::Tensor slice_ffn_inference(
    const at::Tensor& x, int64_t width, const std::vector<int64_t>& counts,
    const std::function<void(int64_t e, const at::Tensor& x_block, at::Tensor& y_block)>& expert) {
  at::Tensor y = at::empty({x.size(0), width}, x.options());
  run_blocks(x, row_blocks(counts), [&](const Block& k) {
    at::Tensor y_k = y.narrow(0, k.offset + k.begin, k.size);
    expert(k.expert, x.narrow(0, k.offset + k.begin, k.size), y_k);
  });
  return y;
}

}  // namespace moekit::moe
