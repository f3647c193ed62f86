"""``python3 -m moekit.bench``: moekit's MoE layer against the same MoE in plain
PyTorch and a dense FFN of equal active FLOPs, in one process and one run.

Rows: the moekit layer from Python (``moekit.MoELayer``), the same C++ layer
called without the Python module around it (what ``moekit bench moe-layer``
times), a plain-PyTorch MoE (top-k gate, sort by expert, one matmul pair per
expert, ``index_add_``) and a dense FFN of hidden k*H. Prints the median time
of forward (no grad) and forward+backward, and each row's ratio to the moekit
layer.
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from torch import nn

import moekit


class PlainMoE(nn.Module):
    """A sparse top-k MoE FFN in plain PyTorch: the peer moekit should beat."""

    def __init__(self, d: int, hidden: int, n_experts: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.gate = nn.Linear(d, n_experts, bias=False)
        scale = d ** -0.5
        self.w1 = nn.Parameter(torch.randn(n_experts, d, hidden) * scale)
        self.b1 = nn.Parameter(torch.zeros(n_experts, hidden))
        self.w2 = nn.Parameter(torch.randn(n_experts, hidden, d) * hidden ** -0.5)
        self.b2 = nn.Parameter(torch.zeros(n_experts, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, idx = self.gate(x).topk(self.k, dim=1)
        w = F.softmax(top, dim=1).reshape(-1)
        expert = idx.reshape(-1)
        order = expert.argsort()
        token = order // self.k
        counts = torch.bincount(expert, minlength=self.w1.shape[0]).tolist()
        rows = x.index_select(0, token)
        outs = []
        start = 0
        for e, count in enumerate(counts):
            if count:
                h = F.relu(rows[start:start + count] @ self.w1[e] + self.b1[e])
                outs.append(h @ self.w2[e] + self.b2[e])
            start += count
        y = torch.cat(outs) * w.index_select(0, order).unsqueeze(1)
        return torch.zeros_like(x).index_add_(0, token, y)


def median_ms(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run(args: argparse.Namespace, threads: int) -> Dict[str, List[float]]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    layer = moekit.MoELayer(args.d, args.hidden, args.experts, gate="topk", k=args.k,
                            noisy=False, balance_weight=0.0).to(dtype)
    plain = PlainMoE(args.d, args.hidden, args.experts, args.k).to(dtype)
    dense = nn.Sequential(nn.Linear(args.d, args.k * args.hidden), nn.ReLU(),
                          nn.Linear(args.k * args.hidden, args.d)).to(dtype)
    x = torch.randn(args.tokens, args.d, dtype=dtype)
    models = {
        "moekit (Python)": lambda x: layer(x)[0],
        "moekit (C++ layer)": lambda x: layer._cpp.forward(x)[0],
        "plain PyTorch MoE": plain,
        f"dense FFN (hidden {args.k}H)": dense,
    }
    results = {}
    for name, model in models.items():
        def forward():
            with torch.no_grad():
                model(x)

        def forward_backward():
            xg = x.detach().requires_grad_()
            model(xg).sum().backward()

        results[name] = [median_ms(forward, args.repeats), median_ms(forward_backward, args.repeats)]
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m moekit.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16"])
    args = parser.parse_args(argv)
    print(f"E={args.experts} k={args.k} d={args.d} H={args.hidden} T={args.tokens} {args.dtype}, "
          f"median of {args.repeats}, torch {torch.__version__}")
    for threads in [int(t) for t in args.threads.split(",")]:
        results = run(args, threads)
        base = results["moekit (Python)"]
        print(f"\n{threads} thread(s)        forward ms  ratio   fwd+bwd ms  ratio")
        for name, (fwd, fwdbwd) in results.items():
            print(f"{name:24s} {fwd:9.1f}  {fwd / base[0]:5.2f}  {fwdbwd:10.1f}  {fwdbwd / base[1]:5.2f}")


if __name__ == "__main__":
    main()
