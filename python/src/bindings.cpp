// moekit._C: the library's gates, MoE layer, dispatch and losses for Python.
// The Python package (python/moekit) wraps these in torch.nn.Modules; this file
// only converts arguments and exposes the C++ objects, it holds no logic.
#include <torch/extension.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/gate_options.h"
#include "moekit/moe/dispatch.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/losses.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/train/thor_loss.h"

namespace py = pybind11;
using moekit::gates::Gate;
using moekit::gates::GateOptions;
using moekit::gates::Routing;
using moekit::moe::DispatchPlan;

namespace {

// A Python value as the text GateOptions::set parses (YAML scalar spelling).
std::string option_text(const std::string& key, const py::handle& value) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value) ||
      py::isinstance<py::str>(value)) {
    return py::str(value);
  }
  throw moekit::Error(key, "expected a bool, int, float or str, got " +
                               std::string(py::str(py::type::of(value).attr("__name__"))));
}

GateOptions gate_options(int64_t d_in, int64_t n_experts, const py::dict& options) {
  GateOptions result(d_in, n_experts);
  for (const auto& [key, value] : options) {
    const std::string name = py::str(key);
    result.set(name, option_text(name, value));
  }
  return result;
}

py::tuple routing_tuple(const Routing& r) { return py::make_tuple(r.weights, r.idx, r.w, r.aux_loss); }

std::string shape(at::IntArrayRef sizes) { return c10::str(sizes); }

at::Tensor optional_tensor(const c10::optional<at::Tensor>& t) { return t ? *t : at::Tensor(); }

std::vector<std::pair<std::string, at::Tensor>> pairs(
    const torch::OrderedDict<std::string, at::Tensor>& dict) {
  std::vector<std::pair<std::string, at::Tensor>> result;
  for (const auto& item : dict) result.emplace_back(item.key(), item.value());
  return result;
}

std::string module_repr(const torch::nn::Module& module) {
  std::ostringstream out;
  module.pretty_print(out);
  return out.str();
}

// FFN experts running on the caller's weights: the C++ module's tensors are
// swapped for the given ones, so gradients flow to them.
moekit::moe::FFNExperts experts_on(const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                                   const at::Tensor& b2, const std::string& activation) {
  MOEKIT_CHECK(w1.dim() == 3 && w2.dim() == 3, "w1", "expected w1 [E, d, H] and w2 [E, H, d_out]");
  MOEKIT_CHECK(b1.dim() == 2 && b2.dim() == 2, "b1", "expected b1 [E, H] and b2 [E, d_out]");
  MOEKIT_CHECK(w2.size(0) == w1.size(0) && w2.size(1) == w1.size(2), "w2",
               "expected [E, H, d_out] with E, H of w1 {}, got {}", shape(w1.sizes()),
               shape(w2.sizes()));
  MOEKIT_CHECK(b1.sizes() == at::IntArrayRef({w1.size(0), w1.size(2)}), "b1",
               "expected [E, H] = [{}, {}], got {}", w1.size(0), w1.size(2),
               shape(b1.sizes()));
  MOEKIT_CHECK(b2.sizes() == at::IntArrayRef({w2.size(0), w2.size(2)}), "b2",
               "expected [E, d_out] = [{}, {}], got {}", w2.size(0), w2.size(2),
               shape(b2.sizes()));
  moekit::moe::FFNExperts experts(
      moekit::moe::FFNExpertsOptions(w1.size(0), w1.size(1), w1.size(2))
          .d_out(w2.size(2))
          .activation(activation));
  experts->w1 = w1;
  experts->b1 = b1;
  experts->w2 = w2;
  experts->b2 = b2;
  return experts;
}

DispatchPlan plan(const at::Tensor& idx, int64_t n_experts) {
  MOEKIT_CHECK(idx.dim() == 2 && idx.scalar_type() == at::kLong, "idx",
               "expected [T, k] int64 expert indices (-1 = none), got {} {}", shape(idx.sizes()),
               c10::toString(idx.scalar_type()));
  return moekit::moe::plan_dispatch(idx, n_experts);
}

// Each planned assignment's weight: w [T, k] at the plan's slots.
at::Tensor slot_weights(const DispatchPlan& p, const at::Tensor& w) {
  MOEKIT_CHECK(w.dim() == 2 && w.size(0) == p.rows, "w", "expected [T, k] weights with T = {}, got {}",
               p.rows, shape(w.sizes()));
  return w.reshape(-1).index_select(0, p.slot);
}

void bind_modules(py::module_& m) {
  // module_local: torch's own _C may register torch::nn::Module with pybind11 too.
  py::class_<torch::nn::Module, std::shared_ptr<torch::nn::Module>>(m, "_Module",
                                                                      py::module_local())
      .def("named_parameters",
           [](torch::nn::Module& self) { return pairs(self.named_parameters(true)); })
      .def("named_buffers", [](torch::nn::Module& self) { return pairs(self.named_buffers(true)); })
      .def("train", [](torch::nn::Module& self, bool on) { self.train(on); })
      .def_property_readonly("training", [](torch::nn::Module& self) { return self.is_training(); })
      .def("optimizer_step",
           [](torch::nn::Module& self) { moekit::gates::step_gate_schedules(self); })
      .def("set_steps_per_epoch",
           [](torch::nn::Module& self, int64_t steps) {
             moekit::gates::set_gate_steps_per_epoch(self, steps);
           })
      .def("__repr__", [](torch::nn::Module& self) { return module_repr(self); });

  py::class_<Gate, torch::nn::Module, std::shared_ptr<Gate>>(m, "_Gate", py::module_local())
      .def("forward",
           [](Gate& self, const at::Tensor& x, const c10::optional<at::Tensor>& ids,
              const c10::optional<at::Tensor>& seq) {
             return routing_tuple(self.forward({x, optional_tensor(ids), optional_tensor(seq), {}}));
           },
           py::arg("x"), py::arg("ids") = py::none(), py::arg("seq") = py::none());

  using moekit::moe::MoELayerImpl;
  py::class_<MoELayerImpl, torch::nn::Module, std::shared_ptr<MoELayerImpl>>(m, "_MoELayer",
                                                                             py::module_local())
      .def("forward",
           [](MoELayerImpl& self, const at::Tensor& x, const c10::optional<at::Tensor>& ids,
              const c10::optional<at::Tensor>& seq) {
             auto out = self.forward(x, optional_tensor(ids), optional_tensor(seq));
             return py::make_tuple(out.y, routing_tuple(out.routing));
           },
           py::arg("x"), py::arg("ids") = py::none(), py::arg("seq") = py::none());

  m.def("make_gate",
        [](const std::string& name, int64_t d_in, int64_t n_experts, const py::dict& options) {
          return moekit::gates::make_gate(name, gate_options(d_in, n_experts, options));
        },
        py::arg("name"), py::arg("d_in"), py::arg("n_experts"), py::arg("options"));
  m.def("make_moe_layer",
        [](int64_t d_model, int64_t hidden, int64_t n_experts, const std::string& gate,
           const std::string& activation, const py::dict& options) {
          moekit::moe::MoELayerOptions o(d_model, hidden, n_experts);
          o.gate(gate).activation(activation).gate_options(gate_options(d_model, n_experts, options));
          return std::make_shared<MoELayerImpl>(o);
        },
        py::arg("d_model"), py::arg("hidden"), py::arg("n_experts"), py::arg("gate"),
        py::arg("activation"), py::arg("options"));
}

void bind_registry(py::module_& m) {
  m.def("registered_gates", [] {
    py::list result;
    for (const auto& info : moekit::gates::registered_gates()) {
      py::dict row;
      row["name"] = info.name;
      row["summary"] = info.summary;
      row["options"] = info.options;
      row["routes"] = info.routes;
      result.append(row);
    }
    return result;
  });
  m.def("local_search_options", [] { return moekit::gates::local_search_options(); });
  m.def("gate_option_table", [] {
    const GateOptions defaults(0, 0);
    py::list result;
    for (const auto& field : moekit::gates::gate_option_table()) {
      result.append(py::make_tuple(field.key, field.type, field.get(defaults), field.doc));
    }
    return result;
  });
}

void bind_ops(py::module_& m) {
  py::class_<DispatchPlan>(m, "DispatchPlan", py::module_local(),
                           "Assignments grouped by expert: expert e serves rows "
                           "[offsets[e], offsets[e+1]) of the gathered input.")
      .def_readonly("token", &DispatchPlan::token)
      .def_readonly("expert", &DispatchPlan::expert)
      .def_readonly("slot", &DispatchPlan::slot)
      .def_readonly("counts", &DispatchPlan::counts)
      .def_readonly("offsets", &DispatchPlan::offsets)
      .def_readonly("rows", &DispatchPlan::rows)
      .def("__repr__", [](const DispatchPlan& p) {
        return "DispatchPlan(rows=" + std::to_string(p.rows) +
               ", assignments=" + std::to_string(p.assignments()) +
               ", n_experts=" + std::to_string(p.n_experts()) + ")";
      });
  m.def("plan_dispatch", &plan, py::arg("idx"), py::arg("n_experts"));
  m.def("gather_rows", &moekit::moe::gather_rows, py::arg("x"), py::arg("plan"));
  m.def("combine",
        [](const at::Tensor& y, const at::Tensor& w, const DispatchPlan& p) {
          return moekit::moe::combine(y, slot_weights(p, w), p);
        },
        py::arg("y"), py::arg("w"), py::arg("plan"));
  m.def("expert_ffn",
        [](const at::Tensor& x_grouped, const DispatchPlan& p, const at::Tensor& w1,
           const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2,
           const std::string& activation) {
          MOEKIT_CHECK(w1.size(0) == p.n_experts(), "w1", "has {} experts, the plan {}", w1.size(0),
                       p.n_experts());
          return experts_on(w1, b1, w2, b2, activation)->forward(x_grouped, p.counts);
        },
        py::arg("x_grouped"), py::arg("plan"), py::arg("w1"), py::arg("b1"), py::arg("w2"),
        py::arg("b2"), py::arg("activation"));
  m.def("symmetric_kl",
        [](const at::Tensor& a, const at::Tensor& b, const c10::optional<at::Tensor>& mask) {
          return moekit::moe::symmetric_kl(a, b, optional_tensor(mask));
        },
        py::arg("logits_a"), py::arg("logits_b"), py::arg("mask") = py::none());
  m.def("thor_loss",
        [](const at::Tensor& a, const at::Tensor& b, const at::Tensor& target, int64_t pad_id,
           double alpha, double eps) {
          auto l = moekit::train::thor_loss(a, b, target, pad_id, alpha, eps);
          return py::make_tuple(l.total, l.ce1, l.ce2, l.consistency);
        },
        py::arg("logits_a"), py::arg("logits_b"), py::arg("target"), py::arg("pad_id"),
        py::arg("alpha"), py::arg("label_smoothing"));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "moekit's C++ core (gates, MoE layer, dispatch, losses); use the moekit package.";
  // moekit::Error (bad option, shape or value, with where it is) becomes
  // moekit.Error, a ValueError, with the same message; the interpreter never aborts.
  py::register_exception<moekit::Error>(m, "Error", PyExc_ValueError);
  bind_modules(m);
  bind_registry(m);
  bind_ops(m);
}
