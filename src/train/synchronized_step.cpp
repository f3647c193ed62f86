#include "moekit/train/synchronized_step.h"

#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/dist/data_parallel.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/train/finite_guard.h"
#include "moekit/train/stop_signal.h"

namespace moekit::train {

double accumulate_gradients(const dist::Group& group, const at::Tensor& loss, double weight) {
  // Scaled so that the mean over ranks is the loss of the whole batch.
  (loss * (weight * group.world_size())).backward();
  return loss.item<double>() * weight;
}

SynchronizedStep backward_and_agree(dist::Group& group, torch::nn::Module& model,
                                    const at::Tensor& loss, double weight,
                                    const std::string& where, const std::string& advice,
                                    double earlier_loss) {
  const double value = accumulate_gradients(group, loss, weight);
  dist::synchronize_gradients(group, model);
  std::vector<double> agreed = {earlier_loss + value,
                                gradients_finite(model) ? 0.0 : 1.0,
                                stop_requested() != 0 ? 1.0 : 0.0};
  dist::all_reduce_sum(group, agreed);
  MOEKIT_CHECK(std::isfinite(agreed[0]), where,
               "loss is {}; training stopped, the last good checkpoint is kept{}", agreed[0],
               advice);
  if (agreed[1] > 0) {
    check_finite_gradients(model, where);
    throw Error(where, "a gradient is NaN/Inf on another rank; training stopped, the last good "
                       "checkpoint is kept");
  }
  SynchronizedStep step;
  step.loss = agreed[0];
  if (agreed[2] > 0) step.stop_signal = stop_requested() != 0 ? stop_requested() : SIGTERM;
  return step;
}

}  // namespace moekit::train
