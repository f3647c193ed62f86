#!/usr/bin/env python3
"""The peer of `moekit bench moe-layer` in plain PyTorch 2.x (issue #16).

The same MoE FFN layer as moekit's benchmark (E experts d -> H -> d with bias
and ReLU, a noisy top-k gate picking k, sort-by-expert dispatch, weighted
scatter-add back) written with `torch._grouped_mm` for the expert GEMMs, the
same layer with a per-expert slice loop, and the dense FFN of equal active
FLOPs (hidden = k*H). The variants take turns within each repetition and the
fastest repetition counts, as in moekit's benchmark. Prints one JSON object per
pass (forward without grad, forward + backward), keys as in
`moekit bench moe-layer --json`: `<variant>_ms` and `<variant>/dense`.

Run it with Debian's python3-torch (2.x) inside the LibTorch 2.x chroot:

    scripts/torch2-env.sh -- python3 bench/grouped_moe_peer.py --threads 1
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = torch's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true",
                   help="only check that the grouped and loop layers agree (no timing)")
    return p.parse_args()


def uniform(shape, fan_in, dtype, device):
    bound = fan_in ** -0.5
    return torch.empty(shape).uniform_(-bound, bound).to(dtype=dtype, device=device).requires_grad_()


class MoELayer:
    """Noisy top-k gate + FFN experts with batched weights w1 [E, d, H], w2 [E, H, d]."""

    def __init__(self, E, k, d, H, dtype, device):
        self.E, self.k = E, k
        self.w_gate = uniform((d, E), d, dtype, device)
        self.w_noise = uniform((d, E), d, dtype, device)
        self.w1, self.b1 = uniform((E, d, H), d, dtype, device), uniform((E, H), d, dtype, device)
        self.w2, self.b2 = uniform((E, H, d), H, dtype, device), uniform((E, d), H, dtype, device)

    def route(self, x):
        # Shazeer et al.'s noisy top-k (training): H = xW + N(0,1)·softplus(xW_noise),
        # softmax over the k kept; importance CV² as the auxiliary loss.
        logits = x @ self.w_gate
        logits = logits + torch.randn_like(logits) * F.softplus(x @ self.w_noise)
        top, idx = logits.topk(self.k, dim=1)
        w = top.softmax(dim=1)
        importance = torch.zeros(x.shape[0], self.E, dtype=w.dtype, device=x.device)
        importance = importance.scatter(1, idx, w).sum(0)
        aux = importance.var() / (importance.mean() ** 2 + 1e-10)
        return idx, w, aux

    def forward(self, x, experts):
        T = x.shape[0]
        idx, w, aux = self.route(x)
        flat = idx.reshape(-1)                                   # [T·k]
        order = torch.sort(flat, stable=True).indices           # assignments by expert
        token = order // self.k
        counts = torch.bincount(flat, minlength=self.E)          # [E]
        x_grouped = x.index_select(0, token)                     # [A, d]
        y_grouped = experts(self, x_grouped, counts)             # [A, d]
        y_grouped = y_grouped * w.reshape(-1)[order].unsqueeze(1)
        y = torch.zeros_like(x).index_add(0, token, y_grouped)   # [T, d]
        return y  # the auxiliary loss is computed, as in moekit's layer, but not used


def grouped_mm_experts(layer, x, counts):
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    rows = torch.repeat_interleave(torch.arange(layer.E, device=x.device), counts,
                                   output_size=x.shape[0])
    h = torch._grouped_mm(x, layer.w1, offs=offs) + layer.b1[rows]
    return torch._grouped_mm(h.relu(), layer.w2, offs=offs) + layer.b2[rows]


def slice_loop_experts(layer, x, counts):
    out, begin = [], 0
    for e, c in enumerate(counts.tolist()):
        if c:
            x_e = x[begin:begin + c]
            out.append(torch.addmm(layer.b2[e], torch.addmm(layer.b1[e], x_e, layer.w1[e]).relu(),
                                   layer.w2[e]))
        begin += c
    return torch.cat(out)


def measure(cases, repeats, warmup, device):
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    results = {}
    for backward in (False, True):
        def call(case):
            fwd, probe = case
            if backward:
                fwd().backward(probe)
            else:
                with torch.no_grad():
                    fwd()

        for _ in range(warmup):
            for case in cases.values():
                call(case)
        best = {name: float("inf") for name in cases}
        for _ in range(repeats):
            for name, case in cases.items():
                sync()
                start = time.perf_counter()
                call(case)
                sync()
                best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
        results["forward_backward" if backward else "forward"] = best
    return results


def main():
    a = parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    E, k, d, H, T = a.experts, a.k, a.d, a.hidden, a.tokens
    layer = MoELayer(E, k, d, H, dtype, a.device)
    w1, b1 = uniform((d, k * H), d, dtype, a.device), uniform((k * H,), d, dtype, a.device)
    w2, b2 = uniform((k * H, d), k * H, dtype, a.device), uniform((d,), k * H, dtype, a.device)
    x = torch.randn(T, d, dtype=dtype, device=a.device, requires_grad=True)
    probe = torch.randn(T, d, dtype=dtype, device=a.device)

    if a.check:
        torch.manual_seed(1)
        y_grouped = layer.forward(x, grouped_mm_experts)
        torch.manual_seed(1)
        y_loop = layer.forward(x, slice_loop_experts)
        err = (y_grouped - y_loop).abs().max().item()
        print(json.dumps({"torch": torch.__version__, "max_abs_diff": err}))
        raise SystemExit(0 if err < (1e-4 if dtype == torch.float32 else 5e-2) else 1)

    cases = {
        "torch_grouped_mm": (lambda: layer.forward(x, grouped_mm_experts), probe),
        "torch_slice_loop": (lambda: layer.forward(x, slice_loop_experts), probe),
        "dense": (lambda: torch.addmm(b2, torch.addmm(b1, x, w1).relu_(), w2), probe),
    }
    # Where this torch has no _grouped_mm for the device and dtype (e.g. CUDA
    # fp32 in 2.8), the other variants are still timed.
    unsupported = None
    try:
        layer.forward(x, grouped_mm_experts).backward(probe)
    except (RuntimeError, AttributeError) as e:
        unsupported = str(e).splitlines()[0]
        del cases["torch_grouped_mm"]
    results = measure(cases, a.repeats, a.warmup, a.device)
    for pass_name, best in results.items():
        line = {"pass": pass_name, "impl": "pytorch", "torch": torch.__version__,
                "device": a.device, "dtype": a.dtype, "experts": E, "k": k, "d": d,
                "hidden": H, "tokens": T, "threads": torch.get_num_threads()}
        if unsupported:
            line["torch_grouped_mm_unsupported"] = unsupported
        for name, ms in best.items():
            line[f"{name}_ms"] = ms
        for name in ("torch_grouped_mm", "torch_slice_loop"):
            if name in best:
                line[f"{name}/dense"] = best[name] / best["dense"]
        print(json.dumps(line))


if __name__ == "__main__":
    main()
