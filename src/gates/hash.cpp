// Hash gate (Roller et al. 2021, "Hash Layers For Large Sparse Models"): a fixed random
// map id -> expert, drawn once from the seed; no learned parameters, weight 1.
#include <ATen/CPUGeneratorImpl.h>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"

namespace moekit::gates {
namespace {

class HashGate : public Gate {
 public:
  explicit HashGate(const GateOptions& options) : Gate("HashGate"), options_(options) {
    MOEKIT_CHECK(options.n_ids() > 0, "n_ids", "must be > 0, got {}", options.n_ids());
    // A private generator keeps the map a function of `seed` alone, whatever the global
    // RNG has done. The buffer is saved with the model, so a loaded model keeps its map
    // even if it was built from another seed.
    at::Generator generator = at::detail::createCPUGenerator(static_cast<uint64_t>(options.seed()));
    table_ = register_buffer("table", at::randint(options.n_experts(), {options.n_ids()}, generator,
                                                  at::TensorOptions(at::kLong)));
  }

  Routing forward(const GateInput& in) override {
    MOEKIT_CHECK(in.ids.defined(), "ids", "the hash gate needs GateInput::ids ([T] int64)");
    MOEKIT_CHECK(in.ids.dim() == 1 && in.ids.size(0) == in.x.size(0), "ids",
                 "must have shape [T] = [{}], got {}", in.x.size(0), c10::str(in.ids.sizes()));
    const at::ScalarType id_type = in.ids.scalar_type();
    MOEKIT_CHECK(at::isIntegralType(id_type, /*includeBool=*/false), "ids",
                 "must be an integer tensor, got {}", c10::toString(id_type));
    at::Tensor ids = in.ids.to(table_.device(), at::kLong);
    const int64_t n_ids = options_.n_ids();
    at::Tensor bad = ids.lt(0).logical_or(ids.ge(n_ids));
    if (bad.any().item<bool>()) {
      const int64_t value = ids.masked_select(bad)[0].item<int64_t>();
      MOEKIT_CHECK(false, "ids", "id {} lies outside [0, n_ids = {})", value, n_ids);
    }
    // NOTE: Module::to(dtype) casts buffers too (unlike PyTorch's), so the table may have
    // been turned into floats; expert indices stay exact there for any realistic n.
    at::Tensor idx = table_.to(at::kLong).index_select(0, ids).unsqueeze(1).to(in.x.device());
    at::Tensor w = at::ones({ids.size(0), 1}, in.x.options());
    return Routing::from_compact(idx, w, options_.n_experts(), at::zeros({}, in.x.options()));
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "HashGate(n_experts=" << options_.n_experts() << ", n_ids=" << options_.n_ids()
           << ", seed=" << options_.seed() << ")";
  }

 private:
  GateOptions options_;
  at::Tensor table_;  // [n_ids] int64: id -> expert
};

}  // namespace

std::shared_ptr<Gate> make_hash_gate(const GateOptions& options) {
  return std::make_shared<HashGate>(options);
}

}  // namespace moekit::gates
