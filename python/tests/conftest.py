import gzip
import os

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path: str) -> np.ndarray:
    """An IDX file (gzip) as an array: big-endian header, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.fixture(scope="session")
def fashion_slice():
    """The first 1024 Fashion-MNIST training images (flattened, in [0, 1]) and labels."""
    if not os.path.isdir(FASHION_DIR):
        pytest.skip("dataset-fashion-mnist is not installed")
    images = read_idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))[:1024]
    labels = read_idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))[:1024]
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))
