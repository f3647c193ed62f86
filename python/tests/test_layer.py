"""moekit.MoELayer as a torch.nn.Module: gradients, equality with an
independent PyTorch computation, training, state_dict, eval sparsity, errors."""
import pytest
import torch
import torch.nn.functional as F

import moekit

D, H, E, T = 4, 5, 4, 6

# Options that make each gate a deterministic function for gradcheck.
GATE_CASES = {
    "softmax": {},
    "topk": {"noisy": False},
    "switch": {"capacity_factor": 0.0},
    "hash": {"n_ids": 16},
    "random": {"eval_mode": "mean"},  # checked in eval(): training draws experts
    "dselectk": {"gamma": 2.0},
    "comet": {"gamma": 2.0},
    "comet+ls": {"gamma": 2.0, "local_search": True},
    "topk+ls": {"noisy": False, "local_search": True},
}


def make_layer(case: str, dtype=torch.float64) -> moekit.MoELayer:
    torch.manual_seed(0)
    gate = case.split("+")[0]
    layer = moekit.MoELayer(D, H, E, gate=gate, k=2, **GATE_CASES[case]).to(dtype)
    if gate == "random":
        layer.eval()
    return layer


def inputs(dtype=torch.float64):
    torch.manual_seed(1)
    x = torch.randn(T, D, dtype=dtype, requires_grad=True)
    ids = torch.arange(T) * 3 % 16
    return x, ids


def test_every_registered_gate_has_a_case():
    assert {g.name for g in moekit.gates.list()} <= {c.split("+")[0] for c in GATE_CASES}


@pytest.mark.parametrize("case", sorted(GATE_CASES))
def test_gradients_match_finite_differences(case):
    layer = make_layer(case)
    x, ids = inputs()
    params = [p for p in layer.parameters() if p.requires_grad]
    assert params, "the layer exposes its parameters"

    def f(x, *_):  # the parameters are perturbed in place by gradcheck
        y, aux = layer(x, ids=ids)
        return y, aux

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def plain_moe(layer: moekit.MoELayer, x: torch.Tensor, routing: moekit.Routing) -> torch.Tensor:
    """The layer's output recomputed in PyTorch from its parameters and routing:
    y_t = sum_j w_tj * FFN_{idx_tj}(x_t)."""
    e = layer.experts
    y = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(routing.idx.shape[1]):
            i = int(routing.idx[t, j])
            if i < 0:
                continue
            h = F.relu(x[t] @ e.w1[i] + e.b1[i])
            y[t] += routing.w[t, j] * (h @ e.w2[i] + e.b2[i])
    return y


@pytest.mark.parametrize("case", sorted(GATE_CASES))
def test_output_equals_pytorch_recomputation(case):
    layer = make_layer(case)
    x, ids = inputs()
    y, aux, routing = layer(x, ids=ids, return_routing=True)
    assert y.shape == x.shape and aux.dim() == 0
    torch.testing.assert_close(y, plain_moe(layer, x.detach(), routing), rtol=1e-10, atol=1e-12)
    # The compact and dense forms agree.
    dense = torch.zeros(T, E, dtype=y.dtype)
    valid = routing.idx >= 0
    dense[torch.arange(T).unsqueeze(1).expand_as(routing.idx)[valid], routing.idx[valid]] += \
        routing.w[valid]
    torch.testing.assert_close(dense, routing.weights.detach())


def test_gate_module_routes_like_the_layer():
    torch.manual_seed(0)
    layer = moekit.MoELayer(D, H, E, gate="comet", k=2, gamma=2.0).double()
    gate = moekit.gates.make("comet", D, E, k=2, gamma=2.0).double()
    gate.load_state_dict({k[len("gate."):]: v for k, v in layer.state_dict().items()
                          if k.startswith("gate.")})
    x, _ = inputs()
    _, _, routing = layer(x, return_routing=True)
    torch.testing.assert_close(gate(x).weights, routing.weights)


def test_a_pytorch_model_with_a_comet_layer_trains(fashion_slice):
    images, labels = fashion_slice
    torch.manual_seed(0)
    moe = moekit.MoELayer(32, 64, 4, gate="comet", k=2, gamma=1.0, local_search=True,
                          search_steps=20)
    model = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU())
    head = torch.nn.Linear(32, 10)
    params = list(model.parameters()) + list(moe.parameters()) + list(head.parameters())
    assert len(list(moe.parameters())) == len(moe._cpp.named_parameters())
    opt = torch.optim.Adam(params, lr=3e-3)

    def loss_on(batch):
        y, aux = moe(model(images[batch]))
        return F.cross_entropy(head(y), labels[batch]) + aux

    with torch.no_grad():
        before = float(loss_on(slice(0, 1024)))
    for step in range(40):
        batch = slice((step % 8) * 128, (step % 8 + 1) * 128)
        opt.zero_grad()
        loss_on(batch).backward()
        opt.step()
        moekit.step_schedules(moe)
    with torch.no_grad():
        after = float(loss_on(slice(0, 1024)))
    assert after < 0.7 * before, (before, after)
    assert bool(moe.state_dict()["gate.hardened"])  # 40 steps > search_steps


def test_state_dict_round_trip_restores_outputs_and_search_state():
    a = make_layer("comet+ls")
    torch.manual_seed(5)
    b = moekit.MoELayer(D, H, E, gate="comet", k=2, gamma=2.0, local_search=True).double()
    x, _ = inputs()
    a(x)[0].sum().backward()
    a.optimizer_step()
    state = a.state_dict()
    assert {"gate.step", "experts.w1", "experts.b2"} <= set(state)
    b.load_state_dict(state)
    torch.testing.assert_close(b(x)[0], a(x)[0])
    assert int(b.state_dict()["gate.step"]) == 1


@pytest.mark.parametrize("gate,options,routed", [
    ("topk", {"noisy": True}, 2), ("switch", {"capacity_factor": 0.0}, 1), ("hash", {"n_ids": 16}, 1),
    ("random", {}, 1), ("topk", {"local_search": True}, 2)])
def test_eval_routes_each_row_to_its_k_experts(gate, options, routed):
    torch.manual_seed(0)
    layer = moekit.MoELayer(D, H, E, gate=gate, k=2, **options).eval()
    assert not layer._cpp.training
    x, ids = inputs(torch.float32)
    _, _, routing = layer(x, ids=ids, return_routing=True)
    active = (routing.weights > 1e-5).sum(dim=1)
    assert torch.all(active == routed), active
    layer.train()
    assert layer._cpp.training


def test_to_dtype_converts_the_cpp_tensors():
    layer = make_layer("topk", torch.float32)
    x, _ = inputs(torch.float32)
    y32 = layer(x)[0]
    layer.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    y64 = layer(x.double())[0]
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64.float(), y32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,named", [
    ({"gamma": -1.0}, "gamma"),
    ({"gama": 1.0}, "gama"),
    ({"gate": "topq"}, "topq"),
    ({"eval_mode": "median"}, "eval_mode"),
    ({"noisy": [1]}, "noisy"),
])
def test_bad_options_raise_a_python_error_naming_them(kwargs, named):
    args = dict(gate="comet")
    args.update(kwargs)
    with pytest.raises(moekit.Error, match=named):
        moekit.MoELayer(D, H, E, **args)
    assert issubclass(moekit.Error, ValueError)


def test_gate_list_and_options_mirror_the_registry():
    names = [g.name for g in moekit.gates.list()]
    assert names[:3] == ["softmax", "topk", "switch"] and "comet" in names
    options = {o.name: o for o in moekit.gates.options()}
    assert options["gamma"].default == "1" and options["local_search"].type == "bool"


def test_tensors_replaced_by_module_apply_stay_the_cpp_layers():
    # nn.Module._apply (behind .to(), .cuda(), .float()) swaps buffers for new
    # tensors: the C++ gate must route with the new ones.
    torch.manual_seed(0)
    layer = moekit.MoELayer(D, H, E, gate="hash", n_ids=16)
    table = layer.gate.table
    layer._apply(lambda t: t.clone())
    assert layer.gate.table is table  # handed back to the C++ module, same object
    with torch.no_grad():
        layer.gate.table.fill_(3)
    x, ids = inputs(torch.float32)
    _, _, routing = layer(x, ids=ids, return_routing=True)
    assert torch.all(routing.idx[:, 0] == 3)
