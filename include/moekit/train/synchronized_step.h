#pragma once
// The part of a training step that every rank of a data-parallel run must do
// together: backward, gradient synchronisation and the decisions all ranks
// have to share (a NaN on one rank stops all; a signal to one stops all).
#include <ATen/ATen.h>

#include <string>

#include "moekit/dist/process_group.h"

namespace torch::nn {
class Module;
}

namespace moekit::train {

struct SynchronizedStep {
  /// Loss of the whole batch: the sum over ranks of weight · local loss.
  double loss = 0;
  /// 0, or the signal to stop with (this rank's; SIGTERM when another rank got it).
  int stop_signal = 0;
};

/// Backpropagates this rank's `loss`, weighted as its share `weight` of the
/// global batch, synchronises the gradients of `model` over `group` and agrees
/// with the other ranks (one all-reduce) on the batch loss, finite gradients and
/// a stop request. Throws moekit::Error at `where`, on every rank and before
/// any optimizer step, when the loss or a gradient is NaN/Inf anywhere
/// (`advice` ends the loss message). On one process: a plain backward with the
/// same checks. `earlier_loss`: what accumulate_gradients returned for the
/// earlier batches of the same step (gradient accumulation), added to the loss.
SynchronizedStep backward_and_agree(dist::Group& group, torch::nn::Module& model,
                                    const at::Tensor& loss, double weight,
                                    const std::string& where, const std::string& advice = "",
                                    double earlier_loss = 0);

/// Backpropagates one batch of a step that accumulates several, scaled as
/// backward_and_agree scales it, without synchronising anything (the step's last
/// batch goes through backward_and_agree). Returns weight · loss.
double accumulate_gradients(const dist::Group& group, const at::Tensor& loss, double weight);

}  // namespace moekit::train
