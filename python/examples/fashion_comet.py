"""A COMET MoE layer with permutation local search inside a small PyTorch
classifier, trained on Fashion-MNIST (Debian's dataset-fashion-mnist).

    PYTHONPATH=build/python /usr/bin/python3 python/examples/fashion_comet.py [--train 12000 --epochs 3]
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import moekit

DATA = "/usr/share/datasets/fashion-mnist"


def load(split: str, limit: int):
    def idx(name):
        with gzip.open(os.path.join(DATA, name), "rb") as f:
            raw = f.read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)[:limit]
    prefix = "train" if split == "train" else "t10k"
    x = idx(f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class Classifier(nn.Module):
    """conv features -> COMET MoE (4 experts, k = 2, local search) -> 10 classes."""

    def __init__(self, search_steps: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 5, stride=2), nn.ReLU(),
                                      nn.Conv2d(16, 32, 5, stride=2), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.moe = moekit.MoELayer(64, 128, 4, gate="comet", k=2, gamma=0.1,
                                   entropy_weight=0.1, local_search=True,
                                   search_steps=search_steps)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        h = self.features(x)
        y, aux = self.moe(h)
        return self.head(h + y), aux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=12000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = load("train", args.train)
    x_test, y_test = load("test", args.test)
    steps_per_epoch = (len(x) + args.batch - 1) // args.batch
    model = Classifier(search_steps=steps_per_epoch)  # search for one epoch, then harden Π
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), args.batch):
            batch = order[start:start + args.batch]
            logits, aux = model(x[batch])
            loss = F.cross_entropy(logits, y[batch]) + aux
            opt.zero_grad()
            loss.backward()
            opt.step()
            moekit.step_schedules(model)
        model.eval()
        with torch.no_grad():
            logits, _ = model(x_test)
            _, _, routing = model.moe(model.features(x_test), return_routing=True)
        accuracy = (logits.argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: train loss {loss.item():.3f}, test accuracy {accuracy:.3f}, "
              f"active experts {routing.active_experts():.2f}, "
              f"Π hardened {bool(model.moe.state_dict()['gate.hardened'])}")


if __name__ == "__main__":
    main()
