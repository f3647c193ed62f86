// Dense softmax gate: weights = softmax(W x). The MoE/MMoE baseline.
#include <torch/nn/modules/linear.h>

#include "moekit/gates/gate.h"

namespace moekit::gates {
namespace {

class SoftmaxGate : public Gate {
 public:
  explicit SoftmaxGate(const GateOptions& options) : Gate("SoftmaxGate"), options_(options) {
    proj_ = register_module(
        "proj", torch::nn::Linear(torch::nn::LinearOptions(options.d_in(), options.n_experts())));
  }

  Routing forward(const GateInput& in) override {
    at::Tensor weights = at::softmax(proj_->forward(in.x), /*dim=*/1);
    return Routing::from_dense(weights, at::zeros({}, in.x.options()));
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "SoftmaxGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ")";
  }

 private:
  GateOptions options_;
  torch::nn::Linear proj_{nullptr};
};

}  // namespace

std::shared_ptr<Gate> make_softmax_gate(const GateOptions& options) {
  return std::make_shared<SoftmaxGate>(options);
}

}  // namespace moekit::gates
