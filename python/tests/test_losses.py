"""moekit.losses: THOR's consistency term and loss against torch's own formulas."""
import torch
import torch.nn.functional as F

import moekit


def logits(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 5, generator=g, dtype=torch.float64).requires_grad_()


def symmetric_kl_rows(a, b):
    la, lb = F.log_softmax(a, -1), F.log_softmax(b, -1)
    kl_ab = F.kl_div(lb, la, log_target=True, reduction="none").sum(-1)  # KL(p_a || p_b)
    kl_ba = F.kl_div(la, lb, log_target=True, reduction="none").sum(-1)
    return 0.5 * (kl_ab + kl_ba)


def test_consistency_is_alpha_times_the_mean_symmetric_kl():
    a, b = logits(0), logits(1)
    got = moekit.losses.thor_consistency(a, b, alpha=2.0)
    torch.testing.assert_close(got, 2.0 * symmetric_kl_rows(a, b).mean())
    mask = torch.tensor([[True, False, True], [False, False, True]])
    got = moekit.losses.thor_consistency(a, b, alpha=1.0, mask=mask)
    torch.testing.assert_close(got, symmetric_kl_rows(a, b)[mask].mean())
    assert torch.autograd.gradcheck(lambda a, b: moekit.losses.thor_consistency(a, b), (a, b))


def test_thor_loss_is_two_smoothed_cross_entropies_plus_consistency():
    a, b = logits(2), logits(3)
    target = torch.tensor([[1, 4, 0], [2, 0, 3]])
    pad = 0
    loss = moekit.losses.thor_loss(a, b, target, pad_id=pad, alpha=0.5, label_smoothing=0.1)
    ce = [F.cross_entropy(l.reshape(-1, 5), target.reshape(-1), ignore_index=pad,
                          label_smoothing=0.1) for l in (a, b)]
    torch.testing.assert_close(loss.ce_a, ce[0])
    torch.testing.assert_close(loss.ce_b, ce[1])
    kl = symmetric_kl_rows(a, b)[target != pad].mean()
    torch.testing.assert_close(loss.consistency, kl)
    torch.testing.assert_close(loss.total, ce[0] + ce[1] + 0.5 * kl)
