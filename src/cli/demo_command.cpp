// `moekit demo`: trains a MoE layer with every registered gate on regression
// data drawn from a known sparse mixture of experts, and prints one table:
// gate, test loss, mean active experts per example, training time.
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "moekit/data/synthetic_mixture.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/moe_layer.h"

namespace moekit::cli {
namespace {

struct DemoArgs {
  int64_t steps = 600;
  int64_t batch = 256;
  int64_t experts = 8;
  int64_t k = 2;
  int64_t hidden = 32;
  double lr = 5e-3;
  int64_t seed = 0;
  std::vector<std::string> gates;
};

struct DemoRow {
  std::string gate;
  double test_mse = 0, active = 0, seconds = 0;
};

DemoRow train_one(const std::string& gate_name, const DemoArgs& args,
                  const data::SyntheticMixtureOptions& data_options,
                  const data::SyntheticMixture& train, const data::SyntheticMixture& test) {
  torch::manual_seed(args.seed);
  auto gate_options = gates::GateOptions(data_options.d_in(), args.experts)
                          .k(args.k)
                          .n_ids(data_options.n_clusters())
                          .seed(args.seed);
  auto experts = moe::FFNExperts(moe::FFNExpertsOptions(args.experts, data_options.d_in(),
                                                        args.hidden)
                                     .d_out(data_options.d_out()));
  moe::MoELayer model(gates::make_gate(gate_name, gate_options), experts.ptr());
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(args.lr));

  const auto start = std::chrono::steady_clock::now();
  const int64_t rows = train.x.size(0);
  model->train();
  for (int64_t step = 0; step < args.steps; ++step) {
    const auto idx = torch::randint(rows, {args.batch}, torch::kLong);
    auto out = model->forward(train.x.index_select(0, idx), train.ids.index_select(0, idx));
    auto loss = torch::mse_loss(out.y, train.y.index_select(0, idx)) + out.aux_loss;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    gates::step_gate_schedules(*model);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  torch::NoGradGuard no_grad;
  model->eval();
  auto out = model->forward(test.x, test.ids);
  return DemoRow{gate_name, torch::mse_loss(out.y, test.y).item<double>(),
                 out.routing.mean_active_experts(), seconds};
}

void run_demo(const DemoArgs& args) {
  auto data_options = data::SyntheticMixtureOptions().n_experts(args.experts).k(args.k).seed(args.seed);
  const auto train = data::make_synthetic_mixture(data_options.rows(8192), args.seed + 1);
  const auto test = data::make_synthetic_mixture(data_options.rows(2048), args.seed + 2);
  const double variance = test.y.var().item<double>();

  std::vector<std::string> names = args.gates;
  if (names.empty()) {
    for (const auto& info : gates::registered_gates()) names.push_back(info.name);
  }
  std::cout << fmt::format(
      "Synthetic sparse mixture: {} experts, each input mixes {}; d_in {}, d_out {}; "
      "{} steps of batch {}; target variance {:.4f}\n\n",
      data_options.n_experts(), data_options.k(), data_options.d_in(), data_options.d_out(),
      args.steps, args.batch, variance);
  std::cout << "| gate | test MSE | active experts / example | train time (s) |\n"
               "| --- | ---: | ---: | ---: |\n";
  for (const auto& name : names) {
    const DemoRow row = train_one(name, args, data_options, train, test);
    std::cout << fmt::format("| {} | {:.4f} | {:.2f} | {:.1f} |\n", row.gate, row.test_mse,
                             row.active, row.seconds)
              << std::flush;
  }
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo", "Train a MoE with every gate on data from a known sparse mixture; print a table");
  cmd->add_option("--steps", args->steps, "training steps per gate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "rows per step")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--experts", args->experts, "experts (teacher and student)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--k", args->k, "experts per input (teacher) and gate slots")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--hidden", args->hidden, "hidden width of each expert")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--lr", args->lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->seed, "seed of data and models")->capture_default_str();
  cmd->add_option("--gates", args->gates, "gates to train (default: all registered)")->delimiter(',');
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace moekit::cli
