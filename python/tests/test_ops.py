"""moekit.ops: dispatch, expert compute and combine on the caller's weights."""
import pytest
import torch
import torch.nn.functional as F

import moekit

T, D, HID, E = 7, 3, 4, 4


def weights(dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(E, D, HID), (E, HID), (E, HID, D), (E, D)]
    return [torch.randn(*s, generator=g, dtype=dtype).requires_grad_() for s in shapes]


def routing():
    # Row 2 has an empty slot, row 5 lists expert 1 twice, expert 3 gets no row.
    idx = torch.tensor([[0, 1], [1, 2], [2, -1], [0, 2], [1, 0], [1, 1], [2, 0]])
    g = torch.Generator().manual_seed(1)
    w = torch.rand(T, 2, generator=g, dtype=torch.float64)
    w[2, 1] = 0.0
    return idx, w.requires_grad_()


def loop_moe(x, idx, w, w1, b1, w2, b2):
    rows = []
    for t in range(x.shape[0]):
        out = torch.zeros(D, dtype=x.dtype)
        for j in range(idx.shape[1]):
            e = int(idx[t, j])
            if e >= 0:
                out = out + w[t, j] * (F.relu(x[t] @ w1[e] + b1[e]) @ w2[e] + b2[e])
        rows.append(out)
    return torch.stack(rows)


def test_plan_groups_assignments_by_expert():
    idx, _ = routing()
    plan = moekit.ops.plan(idx, E)
    assert plan.counts == [4, 5, 4, 0]
    assert plan.offsets == [0, 4, 9, 13, 13]
    assert plan.rows == T
    assert torch.all(plan.expert[1:] >= plan.expert[:-1])
    # Every (row, slot) that names an expert appears once.
    assert sorted(plan.slot.tolist()) == [s for s in range(2 * T) if idx.view(-1)[s] >= 0]


def test_moe_ffn_equals_the_loop_and_its_gradients():
    torch.manual_seed(0)
    x = torch.randn(T, D, dtype=torch.float64, requires_grad=True)
    idx, w = routing()
    params = weights()
    torch.testing.assert_close(moekit.ops.moe_ffn(x, idx, w, *params),
                               loop_moe(x, idx, w, *params))
    assert torch.autograd.gradcheck(
        lambda x, w, *p: moekit.ops.moe_ffn(x, idx, w, *p), (x, w, *params))


def test_gather_and_combine_are_inverse_for_one_expert_per_row():
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([[2], [0], [2], [1], [0]])
    plan = moekit.ops.plan(idx, 3)
    rows = moekit.ops.gather(x, plan)
    assert rows.shape == (5, 2)
    back = moekit.ops.combine(rows, torch.ones(5, 1, dtype=torch.float64), plan)
    torch.testing.assert_close(back, x)
    assert torch.autograd.gradcheck(lambda x: moekit.ops.gather(x, plan), (x,))


def test_bad_shapes_raise_moekit_errors():
    idx, w = routing()
    w1, b1, w2, b2 = weights()
    plan = moekit.ops.plan(idx, E)
    with pytest.raises(moekit.Error, match="b1"):
        moekit.ops.expert_ffn(torch.zeros(13, D, dtype=torch.float64), plan, w1, b1[:, :2], w2, b2)
    with pytest.raises(moekit.Error, match="idx"):
        moekit.ops.plan(idx.float(), E)
