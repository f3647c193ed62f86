#include "moekit/train/moefy.h"

#include <torch/torch.h>

#include <algorithm>

#include "moekit/core/error.h"
#include "moekit/models/expert_split.h"
#include "moekit/models/transformer_layers.h"

namespace moekit::train {
namespace {

models::FeedForwardBlockImpl& block_of(models::Transformer& model, const std::string& name) {
  const bool encoder = name.rfind("encoder.", 0) == 0;
  const int64_t i = std::stoll(name.substr(name.find('.') + 1));
  return encoder ? *model->encoder_layer(i).ffn : *model->decoder_layer(i).ffn;
}

}  // namespace

models::TransformerOptions moefied_options(const models::TransformerOptions& teacher,
                                           const MoefyOptions& options) {
  models::TransformerOptions student = teacher;
  gates::GateOptions gate = teacher.gate_options();
  gate.eval_mode("mean");
  student.moe_layers(options.moe_layers())
      .n_experts(options.n_experts())
      .expert_hidden(options.expert_hidden())
      .gate("random")
      .gate_options(gate);
  return student;
}

MoefyResult moefy(models::Transformer& teacher, const data::ParallelCorpus& corpus,
                  const MoefyOptions& options) {
  MOEKIT_CHECK(!teacher->options.has_moe(), "model",
               "the teacher has MoE layers: moefy splits the FFNs of a dense model "
               "(model.moe_layers: none, or moe_every: 0)");
  MoefyResult result;
  result.importance = ffn_importance(teacher, corpus, options.samples(), options.max_tokens());
  result.student = models::Transformer(moefied_options(teacher->options, options));
  result.student->to(teacher->parameters().front().scalar_type());

  // Every weight of the same name and shape is the teacher's (attention,
  // norms, embeddings, and the FFNs of layers that stay dense).
  torch::NoGradGuard no_grad;
  const auto teacher_params = teacher->named_parameters(/*recurse=*/true);
  for (auto& p : result.student->named_parameters(/*recurse=*/true)) {
    const at::Tensor* t = teacher_params.find(p.key());
    if (t != nullptr && t->sizes() == p.value().sizes()) p.value().copy_(*t);
  }
  for (size_t b = 0; b < result.importance.blocks.size(); ++b) {
    const std::string& name = result.importance.blocks[b];
    auto& target = block_of(result.student, name);
    if (!target.is_moe()) continue;
    auto* experts = dynamic_cast<moe::FFNExpertsImpl*>(&target.moe->experts());
    MOEKIT_CHECK(experts != nullptr, name, "the MoE layer's experts are not FFN experts");
    const at::Tensor plan = models::plan_expert_split(result.importance.importance[b], options.n_experts(),
                                                      options.expert_hidden(), options.shared());
    const auto& source = block_of(teacher, name);
    models::copy_split_weights(source.fc1, source.fc2, plan, *experts);
    result.split.push_back(name);
    result.plans.push_back(plan);
  }
  return result;
}

}  // namespace moekit::train
