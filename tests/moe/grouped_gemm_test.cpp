#include "moekit/moe/grouped_gemm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/core/torch_compat.h"
#include "moekit/moe/experts.h"

namespace moekit::moe {
namespace {

TEST(MoeGroupedGemm, ChoicesRoundTripAndGuardRestores) {
  for (ExpertGemm c : {ExpertGemm::kAuto, ExpertGemm::kGroupedMm, ExpertGemm::kSliceLoop}) {
    EXPECT_EQ(parse_expert_gemm(to_string(c)), c);
  }
  EXPECT_THROW(parse_expert_gemm("cutlass"), Error);
  ASSERT_EQ(expert_gemm(), ExpertGemm::kAuto);
  {
    ExpertGemmGuard guard(ExpertGemm::kSliceLoop);
    EXPECT_EQ(expert_gemm(), ExpertGemm::kSliceLoop);
  }
  EXPECT_EQ(expert_gemm(), ExpertGemm::kAuto);
}

TEST(MoeGroupedGemm, AutoPrefersGroupedMmOnCudaOnly) {
  // fp32 and bf16 grouped GEMMs both beat the slice loop on CUDA (H200 run);
  // on CPU torch's grouped GEMM is serial, so auto keeps the loop.
  EXPECT_TRUE(auto_prefers_grouped_mm(at::Device(at::kCUDA, 0), at::kFloat));
  EXPECT_TRUE(auto_prefers_grouped_mm(at::Device(at::kCUDA, 0), at::kBFloat16));
  EXPECT_FALSE(auto_prefers_grouped_mm(at::Device(at::kCPU), at::kFloat));
  EXPECT_FALSE(auto_prefers_grouped_mm(at::Device(at::kCPU), at::kBFloat16));
}

TEST(MoeGroupedGemm, FitsOnlyAlignedWidths) {
  // 16-byte rows: fp32 widths in multiples of 4, bf16 in multiples of 8.
  EXPECT_TRUE(grouped_mm_fits(torch::zeros({5, 8}), torch::zeros({3, 8, 12})));
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({5, 6}), torch::zeros({3, 6, 12})));
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({5, 8}), torch::zeros({3, 8, 6})));
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({5, 4}, torch::kBFloat16),
                               torch::zeros({3, 4, 8}, torch::kBFloat16)));
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({0, 8}), torch::zeros({3, 8, 12})));  // no rows
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({5, 8}), torch::zeros({3, 8, 12}, torch::kBFloat16)));
  // A row-offset view whose data is not 16-byte aligned.
  EXPECT_FALSE(grouped_mm_fits(torch::zeros({41}).narrow(0, 1, 40).view({5, 8}),
                               torch::zeros({3, 8, 12})));
}

// The probe says whether _grouped_mm runs and is exact, and why not when not.
TEST(MoeGroupedGemm, ProbeSaysWhetherAndWhyNot) {
  const GroupedMmSupport fp32 = grouped_mm_support(torch::kCPU, torch::kFloat);
  EXPECT_EQ(grouped_mm_available(torch::kCPU, torch::kFloat), fp32.runs && fp32.exact);
  if (!grouped_mm_compiled()) {
    EXPECT_FALSE(fp32.runs);
    EXPECT_NE(fp32.note.find("no at::_grouped_mm"), std::string::npos) << fp32.note;
    return;
  }
  if (!fp32.exact || !fp32.transposed_weight) EXPECT_FALSE(fp32.note.empty());
  const GroupedMmSupport fp64 = grouped_mm_support(torch::kCPU, torch::kDouble);
  EXPECT_FALSE(fp64.runs);  // _grouped_mm takes fp32, bf16, fp16 only
  EXPECT_NE(fp64.note.find("does not run"), std::string::npos) << fp64.note;
  // Probing draws nothing from the global RNG (a seeded run stays the same).
  torch::manual_seed(7);
  const auto before = torch::rand({1});
  torch::manual_seed(7);
  grouped_mm_support(torch::kCPU, torch::kHalf);
  EXPECT_TRUE(torch::equal(torch::rand({1}), before));
}

TEST(MoeGroupedGemm, AutoKeepsTheSliceLoopOnCpu) {
  const auto x = torch::zeros({5, 8});
  const auto w = torch::zeros({3, 8, 12});
  EXPECT_FALSE(uses_grouped_mm(x, w));
  ExpertGemmGuard guard(ExpertGemm::kSliceLoop);
  EXPECT_FALSE(uses_grouped_mm(x, w));
}

// --- the _grouped_mm path against the per-expert slice loop ---------------------------

// Output and the gradients of x, w1, b1, w2, b2 (in that order), as fp32 on the CPU.
struct Pass {
  torch::Tensor y;
  std::vector<torch::Tensor> grads;
};

// The reference: each expert's FFN on its own slice, written out in fp32 from
// the experts' own (possibly bf16-rounded) parameters, differentiated by autograd.
Pass slice_loop_reference(FFNExpertsImpl& f, const torch::Tensor& x, const torch::Tensor& probe,
                          const std::vector<int64_t>& counts) {
  auto leaf = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kFloat).requires_grad_(true);
  };
  std::vector<torch::Tensor> leaves{leaf(x), leaf(f.w1), leaf(f.b1), leaf(f.w2), leaf(f.b2)};
  std::vector<torch::Tensor> slices;
  int64_t offset = 0;
  for (int64_t e = 0; e < static_cast<int64_t>(counts.size()); ++e) {
    const torch::Tensor x_e = leaves[0].narrow(0, offset, counts[e]);
    const torch::Tensor h = apply_activation(f.options.activation(),
                                             torch::addmm(leaves[2][e], x_e, leaves[1][e]));
    slices.push_back(torch::addmm(leaves[4][e], h, leaves[3][e]));
    offset += counts[e];
  }
  Pass p;
  p.y = torch::cat(slices, 0);
  p.grads = torch::autograd::grad({(p.y * probe.to(torch::kCPU, torch::kFloat)).sum()}, leaves);
  p.y = p.y.detach();
  return p;
}

// FFNExperts' grouped forward under `choice`, and its gradients.
Pass run_experts(FFNExpertsImpl& f, const torch::Tensor& x, const torch::Tensor& probe,
                 const std::vector<int64_t>& counts, ExpertGemm choice) {
  ExpertGemmGuard guard(choice);
  const torch::Tensor xg = x.detach().requires_grad_(true);
  const torch::Tensor y = f.forward(xg, counts);
  auto grads = torch::autograd::grad({(y * probe).sum()}, {xg, f.w1, f.b1, f.w2, f.b2});
  Pass p;
  p.y = y.detach().to(torch::kCPU, torch::kFloat);
  for (auto& g : grads) p.grads.push_back(g.to(torch::kCPU, torch::kFloat));
  return p;
}

// max |a - b| relative to max |reference| (at least 1).
double relative_error(const torch::Tensor& a, const torch::Tensor& reference) {
  const double scale = std::max(1.0, reference.abs().max().item<double>());
  return (a - reference).abs().max().item<double>() / scale;
}

struct GroupedCase {
  torch::DeviceType device;
  torch::ScalarType dtype;
};

// How ctest and gtest name a case's parameter ("cpu Float"), instead of its bytes.
void PrintTo(const GroupedCase& c, std::ostream* os) {
  *os << c10::DeviceTypeName(c.device, /*lower_case=*/true) << " " << c10::toString(c.dtype);
}

std::string case_name(const ::testing::TestParamInfo<GroupedCase>& info) {
  return std::string(info.param.dtype == torch::kBFloat16 ? "Bf16" : "Fp32") +
         (info.param.device == torch::kCUDA ? "_CUDA" : "_CPU");
}

class MoeGroupedGemmPath : public ::testing::TestWithParam<GroupedCase> {
 protected:
  void SetUp() override {
    const auto [device, dtype] = GetParam();
    if (device == torch::kCUDA && !torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device: the CUDA _grouped_mm path is not tested here";
    }
    const GroupedMmSupport support = grouped_mm_support(device, dtype);
    if (!support.runs || !support.exact) {
      GTEST_SKIP() << "LibTorch " << compat::torch_version() << ": at::_grouped_mm is not used on "
                   << c10::DeviceTypeName(device) << " in " << c10::toString(dtype) << " ("
                   << support.note << "); where it runs, make test-torch2 tests it";
    }
  }

  // fp32: 1e-5 (the bound). bf16: a few units of bf16 rounding (2^-8)
  // of the largest reference value; the slice loop in bf16 must meet it too.
  double tolerance() const { return GetParam().dtype == torch::kBFloat16 ? 4.0 / 256 : 1e-5; }
};

// Empty experts, all rows on one expert, counts divisible by nothing, one row;
// each with the fused ReLU pair and with a separate activation.
TEST_P(MoeGroupedGemmPath, MatchesTheSliceLoopForwardAndBackward) {
  const auto [device, dtype] = GetParam();
  const std::vector<std::vector<int64_t>> count_sets{
      {13, 0, 7, 1, 0, 29}, {0, 0, 53, 0, 0, 0}, {3, 5, 7, 11, 13, 17}, {0, 1, 0, 0, 0, 0}};
  for (const std::string activation : {"relu", "gelu"}) {
    for (const auto& counts : count_sets) {
      int64_t rows = 0;
      for (int64_t c : counts) rows += c;
      torch::manual_seed(rows);
      auto experts = FFNExperts(FFNExpertsOptions(6, 16, 24).d_out(8).activation(activation));
      experts->to(device, dtype);
      const auto options = torch::TensorOptions(dtype).device(device);
      const torch::Tensor x = torch::randn({rows, 16}, options);
      const torch::Tensor probe = torch::randn({rows, 8}, options);
      const std::string where = activation + " counts " + c10::str(c10::IntArrayRef(counts));

      {
        ExpertGemmGuard guard(ExpertGemm::kGroupedMm);
        ASSERT_TRUE(uses_grouped_mm(x, experts->w1)) << where << ": not the _grouped_mm path";
        ASSERT_TRUE(uses_grouped_mm(torch::empty({rows, 24}, options), experts->w2)) << where;
      }
      const Pass reference = slice_loop_reference(*experts, x, probe, counts);
      const Pass grouped = run_experts(*experts, x, probe, counts, ExpertGemm::kGroupedMm);
      const Pass loop = run_experts(*experts, x, probe, counts, ExpertGemm::kSliceLoop);
      for (const auto* p : {&grouped, &loop}) {
        const char* path = p == &grouped ? "grouped_mm" : "slice loop";
        EXPECT_LE(relative_error(p->y, reference.y), tolerance()) << where << " " << path;
        for (size_t i = 0; i < reference.grads.size(); ++i) {
          EXPECT_LE(relative_error(p->grads[i], reference.grads[i]), tolerance())
              << where << " " << path << ": gradient " << i << " (x, w1, b1, w2, b2)";
        }
      }
      // Experts without rows get exactly zero weight gradients.
      for (size_t e = 0; e < counts.size(); ++e) {
        if (counts[e] == 0) {
          EXPECT_EQ(grouped.grads[1][e].abs().max().item<double>(), 0.0) << where;
          EXPECT_EQ(grouped.grads[4][e].abs().max().item<double>(), 0.0) << where;
        }
      }
    }
  }
}

// Without autograd (inference) the grouped path gives what training gives.
TEST_P(MoeGroupedGemmPath, InferenceMatchesTrainingPath) {
  const auto [device, dtype] = GetParam();
  torch::manual_seed(3);
  auto experts = FFNExperts(FFNExpertsOptions(4, 16, 32));
  experts->to(device, dtype);
  const std::vector<int64_t> counts{0, 30, 7, 0};
  const torch::Tensor x = torch::randn({37, 16}, torch::TensorOptions(dtype).device(device));
  ExpertGemmGuard guard(ExpertGemm::kGroupedMm);
  const torch::Tensor train = experts->forward(x, counts);
  ASSERT_TRUE(train.requires_grad());
  torch::NoGradGuard no_grad;
  const torch::Tensor infer = experts->forward(x, counts);
  EXPECT_TRUE(torch::equal(infer, train.detach()));
}

// Widths that break _grouped_mm's 16-byte rule fall back to the slice loop.
TEST_P(MoeGroupedGemmPath, FallsBackToTheSliceLoopOnUnalignedWidths) {
  const auto [device, dtype] = GetParam();
  torch::manual_seed(4);
  auto experts = FFNExperts(FFNExpertsOptions(3, 6, 10).d_out(5));
  experts->to(device, dtype);
  const std::vector<int64_t> counts{4, 0, 9};
  const auto options = torch::TensorOptions(dtype).device(device);
  const torch::Tensor x = torch::randn({13, 6}, options);
  const torch::Tensor probe = torch::randn({13, 5}, options);
  ExpertGemmGuard guard(ExpertGemm::kGroupedMm);
  EXPECT_FALSE(uses_grouped_mm(x, experts->w1));
  const Pass grouped = run_experts(*experts, x, probe, counts, ExpertGemm::kGroupedMm);
  const Pass loop = run_experts(*experts, x, probe, counts, ExpertGemm::kSliceLoop);
  EXPECT_TRUE(torch::equal(grouped.y, loop.y));
  for (size_t i = 0; i < loop.grads.size(); ++i) {
    EXPECT_TRUE(torch::equal(grouped.grads[i], loop.grads[i])) << "gradient " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, MoeGroupedGemmPath,
                         ::testing::Values(GroupedCase{torch::kCPU, torch::kFloat},
                                           GroupedCase{torch::kCPU, torch::kBFloat16},
                                           GroupedCase{torch::kCUDA, torch::kFloat},
                                           GroupedCase{torch::kCUDA, torch::kBFloat16}),
                         case_name);

}  // namespace
}  // namespace moekit::moe
