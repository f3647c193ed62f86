// Random gate of THOR (Zuo et al. 2022, "Taming Sparsely Activated Transformer with
// Stochastic Experts"): in training one expert is drawn uniformly per forward pass (per
// batch, sequence or token), weight 1, no parameters. At inference (sec. 3) a sentence
// samples one expert, uses a fixed one, or averages all experts' outputs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"

namespace moekit::gates {
namespace {

const std::vector<std::string> kGranularities = {"batch", "sequence", "token"};
const std::vector<std::string> kEvalModes = {"sample", "fixed", "mean"};

bool is_one_of(const std::string& value, const std::vector<std::string>& allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

class RandomGate : public Gate {
 public:
  explicit RandomGate(const GateOptions& options) : Gate("RandomGate"), options_(options) {
    MOEKIT_CHECK(is_one_of(options.granularity(), kGranularities), "granularity",
                 "must be one of {}, got '{}'", fmt::join(kGranularities, ", "),
                 options.granularity());
    MOEKIT_CHECK(is_one_of(options.eval_mode(), kEvalModes), "eval_mode",
                 "must be one of {}, got '{}'", fmt::join(kEvalModes, ", "), options.eval_mode());
    if (options.eval_mode() == "fixed") {
      MOEKIT_CHECK(options.fixed_expert() >= 0 && options.fixed_expert() < options.n_experts(),
                   "fixed_expert", "must lie in [0, n_experts = {}), got {}", options.n_experts(),
                   options.fixed_expert());
    }
  }

  Routing forward(const GateInput& in) override {
    const int64_t rows = in.x.size(0);
    const int64_t n = options_.n_experts();
    at::Tensor idx;  // [T, k_eff]
    if (is_training()) {
      const std::string& granularity = options_.granularity();
      if (granularity == "batch") {
        idx = draw(1).expand({rows});
      } else if (granularity == "sequence") {
        MOEKIT_CHECK(in.seq.defined(), "seq",
                     "granularity=sequence needs GateInput::seq ([T] int64 sequence index)");
        idx = draw_per_sequence(in.seq, rows);
      } else {
        idx = draw(rows);
      }
      idx = idx.unsqueeze(1);
    } else if (options_.eval_mode() == "sample") {
      // THOR's default inference: one expert per sentence (kept across decoding
      // steps through the state start_sequences drew); without sequence ids the
      // batch is the best unit we know.
      if (in.state.defined()) {
        MOEKIT_CHECK(in.state.dim() == 1 && in.state.size(0) == rows, "state",
                     "must have shape [T] = [{}], got {}", rows, c10::str(in.state.sizes()));
        idx = in.state.to(at::kCPU, at::kLong);
      } else {
        idx = in.seq.defined() ? draw_per_sequence(in.seq, rows) : draw(1).expand({rows});
      }
      idx = idx.unsqueeze(1);
    } else if (options_.eval_mode() == "fixed") {
      idx = at::full({rows, 1}, options_.fixed_expert(), at::TensorOptions(at::kLong));
    } else {
      // "mean": every expert with weight 1/n, i.e. the average of the expert outputs.
      idx = at::arange(n, at::TensorOptions(at::kLong)).expand({rows, n});
    }
    idx = idx.contiguous().to(in.x.device());
    at::Tensor w = at::full(idx.sizes(), 1.0 / static_cast<double>(idx.size(1)), in.x.options());
    return Routing::from_compact(idx, w, n, at::zeros({}, in.x.options()));
  }

  at::Tensor start_sequences(const at::Tensor& seq) override {
    if (is_training() || options_.eval_mode() != "sample") return {};
    return draw_per_sequence(seq, seq.size(0)).to(seq.device());
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "RandomGate(n_experts=" << options_.n_experts()
           << ", granularity=" << options_.granularity() << ", eval_mode=" << options_.eval_mode();
    if (options_.eval_mode() == "fixed") stream << ", fixed_expert=" << options_.fixed_expert();
    stream << ")";
  }

 private:
  // NOTE: draws come from the global CPU generator whatever the device, so a run is
  // reproducible from torch::manual_seed alone and identical on CPU and GPU.
  at::Tensor draw(int64_t count) const {
    return at::randint(options_.n_experts(), {count}, at::TensorOptions(at::kLong));
  }

  // One draw per distinct sequence index, in ascending order of the index.
  at::Tensor draw_per_sequence(const at::Tensor& seq, int64_t rows) const {
    MOEKIT_CHECK(seq.dim() == 1 && seq.size(0) == rows, "seq", "must have shape [T] = [{}], got {}",
                 rows, c10::str(seq.sizes()));
    at::Tensor unique, inverse;
    std::tie(unique, inverse) =
        at::_unique(seq.to(at::kCPU, at::kLong), /*sorted=*/true, /*return_inverse=*/true);
    return draw(unique.size(0)).index_select(0, inverse);
  }

  GateOptions options_;
};

}  // namespace

std::shared_ptr<Gate> make_random_gate(const GateOptions& options) {
  return std::make_shared<RandomGate>(options);
}

}  // namespace moekit::gates
