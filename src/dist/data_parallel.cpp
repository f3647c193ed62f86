#include "moekit/dist/data_parallel.h"

#include <ATen/CPUGeneratorImpl.h>

namespace moekit::dist {

BatchShare batch_share(int64_t rows, const Group& group) {
  const int64_t W = group.world_size(), r = group.rank();
  const int64_t begin = rows * r / W, end = rows * (r + 1) / W;
  return {begin, end - begin};
}

at::Tensor gather_rows(Group& group, const at::Tensor& local, const BatchShare& share,
                       int64_t rows) {
  if (!group.is_distributed()) return local;
  auto shape = local.sizes().vec();
  shape[0] = rows;
  at::Tensor full = at::zeros(shape, local.options());
  if (share.size > 0) full.narrow(0, share.begin, share.size).copy_(local.narrow(0, 0, share.size));
  group.all_reduce_sum({full});
  return full;
}

void all_reduce_sum(Group& group, std::vector<double>& values) {
  if (!group.is_distributed() || values.empty()) return;
  at::Tensor t = at::tensor(values, at::kDouble);
  group.all_reduce_sum({t});
  for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
}

void seed_rank_generator(const Group& group, int64_t seed) {
  if (group.rank() == 0) return;
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(static_cast<uint64_t>(seed) * 1000003ULL + static_cast<uint64_t>(group.rank()));
}

at::Tensor gather_generator_states(Group& group) {
  const at::Tensor mine = at::detail::getDefaultCPUGenerator().get_state();
  if (!group.is_distributed()) return mine.unsqueeze(0);
  at::Tensor all = at::zeros({group.world_size(), mine.numel()}, at::kInt);
  all[group.rank()].copy_(mine.to(at::kInt));
  group.all_reduce_sum({all});
  return all.to(at::kByte);
}

bool restore_generator_state(const Group& group, const at::Tensor& states) {
  if (!states.defined() || states.dim() != 2 || states.size(0) <= group.rank()) return false;
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(states[group.rank()].contiguous());
  return true;
}

}  // namespace moekit::dist
