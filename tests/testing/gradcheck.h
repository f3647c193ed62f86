// Test helpers shared by the suites: a finite-difference gradient check in
// double precision (what torch.autograd.gradcheck does in Python).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace moekit::testing {

/// Compares autograd's gradient of the scalar `loss()` with respect to every
/// element of every tensor in `inputs` (double, requires_grad) with central
/// differences of step `eps`. Fails the test on |analytic - numeric| >
/// atol + rtol·|numeric|. Returns the largest absolute difference seen.
inline double expect_grad_matches_finite_differences(const std::function<torch::Tensor()>& loss,
                                                     const std::vector<torch::Tensor>& inputs,
                                                     double eps = 1e-6, double atol = 1e-5,
                                                     double rtol = 1e-3) {
  for (const auto& t : inputs) {
    EXPECT_EQ(t.scalar_type(), torch::kDouble) << "gradcheck needs double tensors";
    EXPECT_TRUE(t.requires_grad());
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  torch::Tensor value = loss();
  auto analytic = torch::autograd::grad({value}, inputs, {}, /*retain_graph=*/false,
                                        /*create_graph=*/false, /*allow_unused=*/true);
  double worst = 0.0;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    torch::Tensor flat = inputs[i].view(-1);
    torch::Tensor grad = analytic[i].defined() ? analytic[i].reshape(-1)
                                               : torch::zeros_like(flat);
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double saved = flat[j].item<double>();
      flat[j] = saved + eps;
      const double plus = loss().item<double>();
      flat[j] = saved - eps;
      const double minus = loss().item<double>();
      flat[j] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      const double a = grad[j].item<double>();
      const double diff = std::abs(a - numeric);
      worst = std::max(worst, diff);
      EXPECT_LE(diff, atol + rtol * std::abs(numeric))
          << "input " << i << " element " << j << ": autograd " << a << " vs finite difference "
          << numeric;
    }
  }
  return worst;
}

/// x followed by every parameter of `module`: the inputs of a gradient check
/// over a module's input and weights.
inline std::vector<torch::Tensor> grad_inputs(torch::nn::Module& module, const torch::Tensor& x) {
  std::vector<torch::Tensor> inputs{x};
  for (auto& p : module.parameters()) inputs.push_back(p);
  return inputs;
}

}  // namespace moekit::testing
