// CPU kernels of dispatch (dispatch_kernels.h): gather and combine for float
// and double, each one autograd node.
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

#include "moe/dispatch_kernels.h"

namespace moekit::moe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// NOTE: index_add (the gradient of index_select, and the ATen combine) runs on one
// thread over a zero-filled output in LibTorch 1.13; these write each output row
// from one thread, once, and fuse the combine weight and its gradient into the
// same pass over the rows.

// Rows per parallel chunk: ~32K elements, so small D still amortises the fork.
int64_t grain_rows(int64_t width) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, width));
}

template <typename T>
void gather_kernel(const T* x, const int64_t* token, int64_t count, int64_t width, T* out) {
  at::parallel_for(0, count, grain_rows(width), [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
      std::memcpy(out + a * width, x + token[a] * width, width * sizeof(T));
    }
  });
}

// out[t] = Σ_{a of row t} w[a]·y[a] (w = 1 where null); rows without assignments get 0.
template <typename T>
void sum_rows_kernel(const T* y, const T* w, const int64_t* by_row, const int64_t* row_offsets,
                     int64_t rows, int64_t width, T* out) {
  at::parallel_for(0, rows, grain_rows(width), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      T* o = out + t * width;
      const int64_t first = row_offsets[t], last = row_offsets[t + 1];
      if (first == last) {
        std::fill(o, o + width, T(0));
        continue;
      }
      for (int64_t j = first; j < last; ++j) {
        const int64_t a = by_row[j];
        const T wa = w ? w[a] : T(1);
        const T* ya = y + a * width;
        if (j == first) {
          for (int64_t i = 0; i < width; ++i) o[i] = wa * ya[i];
        } else {
          for (int64_t i = 0; i < width; ++i) o[i] += wa * ya[i];
        }
      }
    }
  });
}

// gy[a] = w[a]·g[token[a]] and gw[a] = <g[token[a]], y[a]>; either output may be null.
template <typename T>
void combine_backward_kernel(const T* g, const T* y, const T* w, const int64_t* token,
                             int64_t count, int64_t width, T* gy, T* gw) {
  at::parallel_for(0, count, grain_rows(width), [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
      const T* ga = g + token[a] * width;
      if (gy) {
        const T wa = w[a];
        T* out = gy + a * width;
        for (int64_t i = 0; i < width; ++i) out[i] = wa * ga[i];
      }
      if (gw) {
        // Eight partial sums: a vectorisable reduction without -ffast-math.
        T acc[8] = {};
        const T* ya = y + a * width;
        int64_t i = 0;
        for (; i + 8 <= width; i += 8) {
          for (int l = 0; l < 8; ++l) acc[l] += ga[i + l] * ya[i + l];
        }
        for (; i < width; ++i) acc[0] += ga[i] * ya[i];
        gw[a] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      }
    }
  });
}

// [N, ...] as [N, width], contiguous.
at::Tensor as_rows(const at::Tensor& t) {
  int64_t width = 1;
  for (int64_t i = 1; i < t.dim(); ++i) width *= t.size(i);
  return t.reshape({t.size(0), width}).contiguous();
}

std::vector<int64_t> with_rows(const at::Tensor& t, int64_t rows) {
  std::vector<int64_t> shape = t.sizes().vec();
  shape[0] = rows;
  return shape;
}

// Σ over each row's assignments of g [A, ...] -> [rows, ...] (w: [A] or undefined).
at::Tensor sum_rows(const at::Tensor& g, const at::Tensor& w, const at::Tensor& by_row,
                    const at::Tensor& row_offsets, int64_t rows) {
  const at::Tensor g2 = as_rows(g);
  at::Tensor out = at::empty({rows, g2.size(1)}, g2.options());
  AT_DISPATCH_FLOATING_TYPES(g2.scalar_type(), "moekit_sum_rows", [&] {
    sum_rows_kernel<scalar_t>(g2.data_ptr<scalar_t>(),
                              w.defined() ? w.data_ptr<scalar_t>() : nullptr,
                              by_row.data_ptr<int64_t>(), row_offsets.data_ptr<int64_t>(), rows,
                              g2.size(1), out.data_ptr<scalar_t>());
  });
  return out.view(with_rows(g, rows));
}

// x [T, ...] -> x[token] [A, ...]; its gradient sums each row's assignments.
struct GatherRowsFunction : torch::autograd::Function<GatherRowsFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& token,
                            const at::Tensor& by_row, const at::Tensor& row_offsets) {
    ctx->saved_data["by_row"] = by_row;
    ctx->saved_data["row_offsets"] = row_offsets;
    const at::Tensor x2 = as_rows(x);
    at::Tensor out = at::empty({token.size(0), x2.size(1)}, x2.options());
    AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "moekit_gather_rows", [&] {
      gather_kernel<scalar_t>(x2.data_ptr<scalar_t>(), token.data_ptr<int64_t>(), token.size(0),
                              x2.size(1), out.data_ptr<scalar_t>());
    });
    return out.view(with_rows(x, token.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const at::Tensor row_offsets = ctx->saved_data["row_offsets"].toTensor();
    const at::Tensor by_row = ctx->saved_data["by_row"].toTensor();
    const at::Tensor gx =
        sum_rows(grad_outputs[0], at::Tensor(), by_row, row_offsets, row_offsets.size(0) - 1);
    return {gx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// y [A, ...], weight [A] -> out [rows, ...] with out[token[a]] += weight[a]·y[a].
struct CombineFunction : torch::autograd::Function<CombineFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& weight,
                            const at::Tensor& token, const at::Tensor& by_row,
                            const at::Tensor& row_offsets) {
    const at::Tensor w = weight.contiguous();
    ctx->save_for_backward({y, w});
    ctx->saved_data["token"] = token;
    return sum_rows(y, w, by_row, row_offsets, row_offsets.size(0) - 1);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor y = as_rows(saved[0]), w = saved[1];
    const at::Tensor g = as_rows(grad_outputs[0]);
    const at::Tensor token = ctx->saved_data["token"].toTensor();
    at::Tensor gy, gw;
    if (ctx->needs_input_grad(0)) gy = at::empty_like(y);
    if (ctx->needs_input_grad(1)) gw = at::empty_like(w);
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "moekit_combine_backward", [&] {
      combine_backward_kernel<scalar_t>(
          g.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
          token.data_ptr<int64_t>(), y.size(0), y.size(1),
          gy.defined() ? gy.data_ptr<scalar_t>() : nullptr,
          gw.defined() ? gw.data_ptr<scalar_t>() : nullptr);
    });
    if (gy.defined()) gy = gy.view(saved[0].sizes());
    return {gy, gw, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor gather_rows_cpu(const at::Tensor& x, const DispatchPlan& plan) {
  return GatherRowsFunction::apply(x, plan.token.contiguous(), plan.by_row, plan.row_offsets);
}

at::Tensor combine_cpu(const at::Tensor& y, const at::Tensor& weight, const DispatchPlan& plan) {
  return CombineFunction::apply(y, weight, plan.token.contiguous(), plan.by_row,
                                plan.row_offsets);
}

}  // namespace moekit::moe
