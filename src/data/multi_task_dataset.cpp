#include "moekit/data/multi_task_dataset.h"

namespace moekit::data {
namespace {
at::Tensor rows_of(const at::Tensor& t, const at::Tensor& rows) {
  return t.defined() ? t.index_select(0, rows) : t;
}
}  // namespace

MultiTaskDataset MultiTaskDataset::select(const at::Tensor& rows) const {
  MultiTaskDataset out{rows_of(input, rows), rows_of(categorical, rows), rows_of(ids, rows), {}};
  for (const auto& t : targets) out.targets.push_back(rows_of(t, rows));
  for (const auto& m : masks) out.masks.push_back(rows_of(m, rows));
  return out;
}

}  // namespace moekit::data
