#include "moekit/dist/process_group.h"

#include <torch/torch.h>

// NOTE: TorchConfig.cmake defines USE_C10D_GLOO for LibTorch builds with Gloo;
// the class below exists only under it, so builds without that flag still see it.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <map>
#include <mutex>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/core/torch_compat.h"

namespace moekit::dist {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// A number from the environment, `fallback` when unset or empty; moekit::Error
// naming the variable when it does not parse.
template <typename T>
T env_number(const char* name, T fallback) {
  const std::string text = env_or(name, "");
  return text.empty() ? fallback : parse_value<T>(text, std::string("environment: ") + name);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string seconds_text(double s) { return fmt::format("{:g} s", s); }

}  // namespace

GroupOptions GroupOptions::from_env() {
  GroupOptions o;
  o.rank(env_number<int64_t>("RANK", 0))
      .world_size(env_number<int64_t>("WORLD_SIZE", 1))
      .local_rank(env_number<int64_t>("LOCAL_RANK", env_number<int64_t>("RANK", 0)))
      .master_addr(env_or("MASTER_ADDR", "127.0.0.1"))
      .master_port(env_number<int64_t>("MASTER_PORT", 29500))
      .timeout_s(env_number<double>("MOEKIT_DIST_TIMEOUT", 60.0));
  o.validate();
  return o;
}

void GroupOptions::validate() const {
  MOEKIT_CHECK(world_size_ >= 1, "world_size", "must be >= 1, got {}", world_size_);
  MOEKIT_CHECK(rank_ >= 0 && rank_ < world_size_, "rank", "must lie in [0, world_size = {}), got {}",
               world_size_, rank_);
  MOEKIT_CHECK(local_rank_ >= 0, "local_rank", "must be >= 0, got {}", local_rank_);
  MOEKIT_CHECK(master_port_ > 0 && master_port_ < 65536, "master_port",
               "must lie in [1, 65535], got {}", master_port_);
  MOEKIT_CHECK(!master_addr_.empty(), "master_addr", "must not be empty");
  MOEKIT_CHECK(timeout_s_ > 0, "timeout_s", "must be > 0 seconds, got {}", timeout_s_);
  MOEKIT_CHECK(backend_ == "gloo" || backend_ == "nccl" || backend_ == "auto", "backend",
               "must be gloo, nccl or auto, got '{}'", backend_);
}

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  // NOTE: the concrete class, not its base: that base is c10d::ProcessGroup in
  // LibTorch 1.13 and c10d::Backend in 2.x, and both declare the collectives
  // used here, so this compiles against either without a version check.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout{60000};
};

Group::Group() = default;

Group::Group(GroupOptions options) : options_(std::move(options)) {
  options_.validate();
  if (!is_distributed()) return;
  MOEKIT_CHECK(options_.backend() != "nccl", "backend",
               "nccl needs a CUDA build of moekit (MOEKIT_WITH_CUDA); this one has gloo only");
  impl_ = std::make_unique<Impl>();
  impl_->timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s() * 1000));
  const std::string where = fmt::format("rank {}", rank());
  const std::string endpoint = fmt::format("{}:{}", options_.master_addr(), options_.master_port());
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(options_.master_port());
    store_options.isServer = rank() == 0;
    store_options.numWorkers = static_cast<size_t>(world_size());
    store_options.waitWorkers = true;
    store_options.timeout = impl_->timeout;
    compat::use_plain_tcp_store(store_options);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(options_.master_addr(), store_options);
  } catch (const std::exception& e) {
    throw Error(where, fmt::format("rendezvous at {} failed: not every one of the {} ranks "
                                   "connected within {} ({})",
                                   endpoint, world_size(), seconds_text(options_.timeout_s()),
                                   e.what()));
  }
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(impl_->timeout);
    // Loopback runs stay on 127.0.0.1: the machine's hostname may resolve to an
    // address other hosts (or this one) cannot reach. GLOO_SOCKET_IFNAME picks
    // the interface for multi-machine runs, as in PyTorch.
    const std::string ifname = env_or("GLOO_SOCKET_IFNAME", "");
    if (!ifname.empty()) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(options_.master_addr())) {
      gloo_options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    gloo_options->threads = 2;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl_->store, static_cast<int>(rank()), static_cast<int>(world_size()), gloo_options);
  } catch (const std::exception& e) {
    throw Error(where, fmt::format("connecting the {} ranks (store {}) failed: a peer exited or "
                                   "did not answer within {} ({})",
                                   world_size(), endpoint, seconds_text(options_.timeout_s()),
                                   e.what()));
  }
}

Group::~Group() = default;

namespace {

// Waits for `work` at most `timeout`, turning every failure into the one
// message the issue asks for.
void finish(const c10::intrusive_ptr<c10d::Work>& work, const Group& group, const char* op,
            std::chrono::milliseconds timeout) {
  try {
    work->wait(timeout);
  } catch (const std::exception& e) {
    std::string detail = e.what();
    // c10::Error appends a C++ backtrace; the first line says what happened.
    detail = detail.substr(0, detail.find('\n'));
    throw Error(fmt::format("rank {}", group.rank()),
                fmt::format("{}: a peer exited or did not answer within {} ({})", op,
                            seconds_text(group.options().timeout_s()), detail));
  }
}

template <typename F>
c10::intrusive_ptr<c10d::Work> start(const Group& group, const char* op, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::string detail = e.what();
    detail = detail.substr(0, detail.find('\n'));
    throw Error(fmt::format("rank {}", group.rank()), fmt::format("{} failed: {}", op, detail));
  }
}

}  // namespace

void Group::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  if (!is_distributed() || tensors.empty()) return;
  for (const auto& t : tensors) {
    MOEKIT_CHECK(t.is_contiguous(), fmt::format("rank {}", rank()),
                 "all_reduce needs contiguous tensors");
    std::vector<at::Tensor> one{t};
    c10d::AllreduceOptions opts;
    opts.timeout = impl_->timeout;
    auto work = start(*this, "all_reduce", [&] { return impl_->pg->allreduce(one, opts); });
    finish(work, *this, "all_reduce", impl_->timeout);
  }
}

void Group::all_reduce_mean(const std::vector<at::Tensor>& tensors) {
  if (!is_distributed()) return;
  all_reduce_sum(tensors);
  for (const auto& t : tensors) t.div_(static_cast<double>(world_size()));
}

void Group::broadcast(const std::vector<at::Tensor>& tensors, int64_t root) {
  MOEKIT_CHECK(root >= 0 && root < world_size(), "broadcast", "root {} is not a rank of {}", root,
               world_size());
  if (!is_distributed()) return;
  for (const auto& t : tensors) {
    MOEKIT_CHECK(t.is_contiguous(), fmt::format("rank {}", rank()),
                 "broadcast needs contiguous tensors");
    std::vector<at::Tensor> one{t};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = impl_->timeout;
    auto work = start(*this, "broadcast", [&] { return impl_->pg->broadcast(one, opts); });
    finish(work, *this, "broadcast", impl_->timeout);
  }
}

at::Tensor Group::all_to_all(const at::Tensor& input, const std::vector<int64_t>& send_splits,
                             const std::vector<int64_t>& recv_splits) {
  const std::string where = fmt::format("rank {}", rank());
  MOEKIT_CHECK(static_cast<int64_t>(send_splits.size()) == world_size() &&
                   static_cast<int64_t>(recv_splits.size()) == world_size(),
               where, "all_to_all needs {} send and receive splits, got {} and {}", world_size(),
               send_splits.size(), recv_splits.size());
  int64_t sent = 0, received = 0;
  for (int64_t s : send_splits) sent += s;
  for (int64_t s : recv_splits) received += s;
  MOEKIT_CHECK(input.dim() >= 1 && sent == input.size(0), where,
               "all_to_all send splits sum to {}, input has {} rows", sent,
               input.dim() >= 1 ? input.size(0) : 0);
  if (!is_distributed()) return input;
  std::vector<int64_t> shape = input.sizes().vec();
  shape[0] = received;
  at::Tensor in = input.contiguous();
  at::Tensor out = at::empty(shape, input.options());
  std::vector<int64_t> send = send_splits, recv = recv_splits;
  c10d::AllToAllOptions opts;
  opts.timeout = impl_->timeout;
  auto work = start(*this, "all_to_all",
                    [&] { return impl_->pg->alltoall_base(out, in, recv, send, opts); });
  finish(work, *this, "all_to_all", impl_->timeout);
  return out;
}

void Group::barrier() {
  if (!is_distributed()) return;
  c10d::BarrierOptions opts;
  opts.timeout = impl_->timeout;
  auto work = start(*this, "barrier", [&] { return impl_->pg->barrier(opts); });
  finish(work, *this, "barrier", impl_->timeout);
}

std::shared_ptr<Group> default_group() {
  static std::mutex mutex;
  static std::shared_ptr<Group> group;
  std::lock_guard<std::mutex> lock(mutex);
  if (!group) group = std::make_shared<Group>(GroupOptions::from_env());
  return group;
}

void broadcast_module(Group& group, torch::nn::Module& module) {
  if (!group.is_distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;
  for (auto& p : module.parameters()) tensors.push_back(p);
  for (auto& b : module.buffers()) tensors.push_back(b);
  // One flat buffer per dtype: one collective instead of one per tensor.
  std::map<at::ScalarType, std::vector<at::Tensor>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, list] : by_type) {
    std::vector<at::Tensor> flat_parts;
    for (auto& t : list) flat_parts.push_back(t.reshape(-1));
    at::Tensor flat = at::cat(flat_parts).contiguous();
    group.broadcast({flat}, 0);
    int64_t offset = 0;
    for (auto& t : list) {
      t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

void all_reduce_mean_gradients(Group& group, const std::vector<at::Tensor>& parameters) {
  if (!group.is_distributed()) return;
  torch::NoGradGuard no_grad;
  std::map<at::ScalarType, std::vector<at::Tensor>> by_type;
  for (const auto& p : parameters) by_type[p.scalar_type()].push_back(p);
  for (auto& [type, list] : by_type) {
    std::vector<at::Tensor> flat_parts;
    for (const auto& p : list) {
      flat_parts.push_back(p.grad().defined() ? p.grad().reshape(-1)
                                              : at::zeros({p.numel()}, p.options()));
    }
    at::Tensor flat = at::cat(flat_parts).contiguous();
    group.all_reduce_mean({flat});
    int64_t offset = 0;
    for (auto p : list) {
      at::Tensor reduced = flat.narrow(0, offset, p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(reduced);
      } else {
        p.mutable_grad() = reduced.clone();
      }
      offset += p.numel();
    }
  }
}

}  // namespace moekit::dist
