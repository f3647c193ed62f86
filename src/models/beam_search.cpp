#include "moekit/models/beam_search.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "moekit/core/error.h"

namespace moekit::models {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double normalize(double score, int64_t length, double length_penalty) {
  if (length_penalty == 0.0 || length == 0) return score;
  return score / std::pow(static_cast<double>(length), length_penalty);
}

// Log-probabilities of the next token, [rows, V] double on the CPU. Like fairseq, PAD and
// BOS are never generated; the other entries stay the model's log-probabilities.
at::Tensor next_log_probs(Transformer& model, const at::Tensor& tokens, DecoderState& state) {
  at::Tensor logp = at::log_softmax(model->decode_step(tokens, state).to(at::kDouble), -1).cpu();
  logp.select(1, model->options.pad_id()).fill_(kNegInf);
  logp.select(1, model->options.bos_id()).fill_(kNegInf);
  return logp;
}

void check_src(const Transformer& model, const at::Tensor& src) {
  MOEKIT_CHECK(src.dim() == 2 && src.scalar_type() == at::kLong, "src",
               "expected [B, S] int64 token ids, got {}", c10::str(src.sizes()));
}

}  // namespace

void BeamSearchOptions::validate() const {
  MOEKIT_CHECK(beam_ > 0, "beam", "must be > 0, got {}", beam_);
  MOEKIT_CHECK(max_len_ > 0, "max_len", "must be > 0, got {}", max_len_);
  MOEKIT_CHECK(std::isfinite(length_penalty_), "length_penalty", "must be finite, got {}",
               length_penalty_);
}

std::vector<Hypothesis> greedy_search(Transformer& model, const at::Tensor& src, int64_t max_len,
                                      double length_penalty) {
  BeamSearchOptions().beam(1).max_len(max_len).length_penalty(length_penalty).validate();
  check_src(model, src);
  torch::NoGradGuard no_grad;
  const int64_t batch = src.size(0), eos = model->options.eos_id();
  DecoderState state = model->start_decoding(model->encode(src));
  at::Tensor last = at::full({batch}, model->options.bos_id(), src.options());
  std::vector<Hypothesis> out(batch);
  int64_t remaining = batch;
  for (int64_t step = 0; step < max_len && remaining > 0; ++step) {
    auto best = next_log_probs(model, last, state).max(1);
    const at::Tensor values = std::get<0>(best), tokens = std::get<1>(best);
    auto value = values.accessor<double, 1>();
    auto token = tokens.accessor<int64_t, 1>();
    for (int64_t b = 0; b < batch; ++b) {
      if (out[b].finished) continue;
      out[b].score += value[b];
      if (token[b] == eos) {
        out[b].finished = true;
        --remaining;
      } else {
        out[b].tokens.push_back(token[b]);
      }
    }
    // Finished rows keep decoding whatever they chose; their output is ignored.
    last = tokens.to(src.device());
  }
  for (Hypothesis& h : out) {
    h.normalized_score =
        normalize(h.score, static_cast<int64_t>(h.tokens.size()) + h.finished, length_penalty);
  }
  return out;
}

std::vector<Hypothesis> beam_search(Transformer& model, const at::Tensor& src,
                                    const BeamSearchOptions& options) {
  options.validate();
  check_src(model, src);
  torch::NoGradGuard no_grad;
  const int64_t batch = src.size(0), k = options.beam(), vocab = model->options.vocab_size();
  const int64_t eos = model->options.eos_id(), pad = model->options.pad_id();
  const double lp = options.length_penalty();

  // The encoder runs once per sentence; its beams share the output and the sentence index.
  EncoderOutput encoded = model->encode(src);
  const at::Tensor sentence_of_row =
      at::arange(batch, src.options()).repeat_interleave(k);  // [B·K]
  encoded.memory = encoded.memory.index_select(0, sentence_of_row);
  encoded.pad_mask = encoded.pad_mask.index_select(0, sentence_of_row);
  DecoderState state = model->start_decoding(std::move(encoded), sentence_of_row);

  std::vector<double> scores(batch * k, kNegInf);
  for (int64_t b = 0; b < batch; ++b) scores[b * k] = 0.0;  // one live beam to start
  std::vector<std::vector<int64_t>> history(batch * k);
  std::vector<std::vector<Hypothesis>> finished(batch);
  std::vector<bool> done(batch, false);
  at::Tensor last = at::full({batch * k}, model->options.bos_id(), src.options());

  for (int64_t step = 0; step < options.max_len(); ++step) {
    const at::Tensor logp = next_log_probs(model, last, state);  // [B·K, V]
    const at::Tensor candidates =
        (at::tensor(scores, at::kDouble).unsqueeze(1) + logp).view({batch, k * vocab});
    auto top = candidates.topk(std::min(2 * k, k * vocab), 1);
    auto top_value = std::get<0>(top).accessor<double, 2>();
    auto top_index = std::get<1>(top).accessor<int64_t, 2>();
    const int64_t n_top = std::get<0>(top).size(1);
    const bool last_step = step + 1 == options.max_len();

    std::vector<int64_t> rows(batch * k), next(batch * k, pad);
    std::vector<double> next_scores(batch * k, kNegInf);
    std::vector<std::vector<int64_t>> next_history(batch * k);
    for (int64_t b = 0; b < batch; ++b) {
      int64_t alive = 0;
      for (int64_t j = 0; j < n_top && !done[b]; ++j) {
        const double value = top_value[b][j];
        if (value == kNegInf) break;  // sorted: the rest extend dead beams
        const int64_t row = b * k + top_index[b][j] / vocab, token = top_index[b][j] % vocab;
        if (token == eos) {
          // Only EOS among the top K ends a hypothesis (fairseq), so beam 1 is greedy.
          if (j < k) {
            finished[b].push_back(Hypothesis{
                history[row], value,
                normalize(value, static_cast<int64_t>(history[row].size()) + 1, lp), true});
          }
          continue;
        }
        if (alive == k) continue;
        const int64_t slot = b * k + alive++;
        rows[slot] = row;
        next[slot] = token;
        next_scores[slot] = value;
        next_history[slot] = history[row];
        next_history[slot].push_back(token);
      }
      for (int64_t slot = b * k + alive; slot < (b + 1) * k; ++slot) rows[slot] = b * k;
      if (done[b]) continue;
      if (static_cast<int64_t>(finished[b].size()) >= k) {
        done[b] = true;
      } else if (last_step) {
        for (int64_t slot = b * k; slot < b * k + alive; ++slot) {
          const auto length = static_cast<int64_t>(next_history[slot].size());
          finished[b].push_back(Hypothesis{next_history[slot], next_scores[slot],
                                           normalize(next_scores[slot], length, lp), false});
        }
      }
    }
    if (last_step || std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    state.select_rows(at::tensor(rows, at::kLong).to(src.device()));
    scores = std::move(next_scores);
    history = std::move(next_history);
    last = at::tensor(next, at::kLong).to(src.device());
  }

  std::vector<Hypothesis> best(batch);
  for (int64_t b = 0; b < batch; ++b) {
    TORCH_INTERNAL_ASSERT(!finished[b].empty(), "beam search ended with no hypothesis");
    best[b] = *std::max_element(finished[b].begin(), finished[b].end(),
                                [](const Hypothesis& x, const Hypothesis& y) {
                                  return x.normalized_score < y.normalized_score;
                                });
  }
  return best;
}

std::vector<double> score_hypotheses(Transformer& model, const at::Tensor& src,
                                     const std::vector<Hypothesis>& hypotheses) {
  check_src(model, src);
  const int64_t batch = src.size(0);
  MOEKIT_CHECK(static_cast<int64_t>(hypotheses.size()) == batch, "hypotheses",
               "expected one per source row ({}), got {}", batch, hypotheses.size());
  torch::NoGradGuard no_grad;
  const int64_t pad = model->options.pad_id();
  int64_t length = 1;
  for (const Hypothesis& h : hypotheses) {
    length = std::max<int64_t>(length, static_cast<int64_t>(h.tokens.size()) + 1);
  }
  at::Tensor tgt_in = at::full({batch, length}, pad, at::kLong);
  at::Tensor target = at::full({batch, length}, pad, at::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const auto& tokens = hypotheses[b].tokens;
    const auto n = static_cast<int64_t>(tokens.size());
    tgt_in[b][0] = model->options.bos_id();
    for (int64_t t = 0; t < n; ++t) {
      tgt_in[b][t + 1] = tokens[t];
      target[b][t] = tokens[t];
    }
    if (hypotheses[b].finished) target[b][n] = model->options.eos_id();
  }
  // The last input position is only read for a finished hypothesis' EOS.
  const at::Tensor logits = model->forward(src, tgt_in.to(src.device())).logits;
  const at::Tensor logp = at::log_softmax(logits.to(at::kDouble), -1).cpu();
  const at::Tensor mask = target.ne(pad);
  const at::Tensor picked =
      logp.gather(2, target.masked_fill(mask.logical_not(), 0).unsqueeze(2)).squeeze(2);
  const at::Tensor sums = (picked * mask.to(at::kDouble)).sum(1);
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + batch);
}

}  // namespace moekit::models
