// A downstream project: find_package(moekit) and use a MoE layer.
#include <torch/torch.h>

#include <iostream>

#include "moekit/moe/moe_layer.h"

int main() {
  moekit::moe::MoELayer layer(moekit::moe::MoELayerOptions(8, 16, 4).gate("comet"));
  auto out = layer->forward(torch::randn({5, 8}));
  const bool ok = out.y.sizes() == torch::IntArrayRef({5, 8});
  std::cout << "consumer: output " << out.y.sizes() << (ok ? " ok" : " WRONG") << "\n";
  return ok ? 0 : 1;
}
