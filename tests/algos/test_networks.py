"""Tests for marlpipe.algos.networks: ensemble forward, mutations, config round-trips, RNG."""

import json

import pytest
import torch
import torch.nn.functional as F

from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.registry import ACTIVATIONS


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_mlp(hidden=(32, 48), ensemble_size=1, seed=0, **kw) -> EvolvableMLP:
    return EvolvableMLP(5, 3, hidden, ensemble_size=ensemble_size, generator=gen(seed), **kw)


def make_cnn(seed=0, **kw) -> EvolvableCNN:
    kw = {"channel_sizes": (8, 16), "hidden_sizes": (16,), **kw}
    return EvolvableCNN((3, 6, 6), 4, generator=gen(seed), **kw)


def snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- forward / ensemble


def test_state_dict_layout_and_init_bounds():
    net = make_mlp(ensemble_size=2)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == {
        "weights.0": (2, 5, 32), "weights.1": (2, 32, 48), "weights.2": (2, 48, 3),
        "biases.0": (2, 1, 32), "biases.1": (2, 1, 48), "biases.2": (2, 1, 3),
    }  # fmt: skip
    for w, b in zip(net.weights, net.biases, strict=True):
        bound = w.shape[1] ** -0.5
        assert w.abs().max() <= bound and b.abs().max() <= bound
        assert w.abs().max() > 0.5 * bound  # actually spread over the range, not tiny


def test_forward_shapes_single_member():
    net = make_mlp()
    assert net(torch.randn(7, 5)).shape == (7, 3)
    assert net(torch.randn(4, 7, 5)).shape == (4, 7, 3)  # extra leading dims are batch dims


def test_ensemble_equals_separate_members():
    net = make_mlp(ensemble_size=3, output_activation="Tanh")
    x = torch.randn(3, 6, 5)
    out = net(x)
    assert out.shape == (3, 6, 3)
    for e in range(3):
        h = x[e]
        for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[e] + b[e]
            h = torch.tanh(h) if i == len(net.weights) - 1 else F.relu(h)
        torch.testing.assert_close(out[e], h)
    xb = torch.randn(6, 5)
    torch.testing.assert_close(net(xb), net(xb.expand(3, 6, 5).contiguous()))
    with pytest.raises(ValueError, match="expected"):
        net(torch.randn(2, 6, 5))


def test_construction_with_generator_leaves_global_rng_alone():
    state = torch.get_rng_state()
    make_mlp()
    make_cnn()
    assert torch.equal(state, torch.get_rng_state())


def test_invalid_construction():
    with pytest.raises(ValueError, match="hidden size"):
        make_mlp(hidden=(8,))
    with pytest.raises(ValueError, match="hidden layers"):
        make_mlp(hidden=(32,) * 5)
    with pytest.raises(ValueError, match="ReLU"):
        make_mlp(activation="relu")
    with pytest.raises(ValueError, match="nothing"):
        EvolvableCNN((3, 4, 4), 2, channel_sizes=(8, 8), kernel_sizes=(3, 3), stride_sizes=(2, 2))


# ---------------------------------------------------------------- MLP mutations


def test_add_layer_keeps_trained_layers():
    net = make_mlp(ensemble_size=2)
    old = snapshot(net)
    report = net.add_layer(gen(1))
    assert report == {"op": "add_layer", "old": [32, 48], "new": [32, 48, 48]}
    shapes = [tuple(w.shape) for w in net.weights]
    assert shapes == [(2, 5, 32), (2, 32, 48), (2, 48, 48), (2, 48, 3)]
    for new_idx, old_idx in [(0, 0), (1, 1), (3, 2)]:  # the output layer moves from 2 to 3
        assert torch.equal(net.weights[new_idx], old[f"weights.{old_idx}"])
        assert torch.equal(net.biases[new_idx], old[f"biases.{old_idx}"])
    assert net(torch.randn(4, 5)).shape == (2, 4, 3)


def test_add_nodes_keeps_overlap_and_function():
    net = make_mlp(ensemble_size=2)
    x = torch.randn(2, 4, 5)
    before, old = net(x), snapshot(net)
    report = net.add_nodes(layer=0, num_nodes=16, generator=gen(1))
    assert report == {"op": "add_nodes", "layer": 0, "nodes": 16, "old": [32, 48], "new": [48, 48]}
    assert torch.equal(net.weights[0][:, :, :32], old["weights.0"])
    assert torch.equal(net.biases[0][:, :, :32], old["biases.0"])
    assert torch.equal(net.weights[1][:, :32, :], old["weights.1"])
    assert torch.equal(net.weights[2], old["weights.2"])
    assert net.weights[0][:, :, 32:].abs().sum() > 0  # new units are initialised, not zero
    # Silencing the new units' outgoing weights must restore the old function exactly-ish.
    with torch.no_grad():
        net.weights[1][:, 32:, :] = 0
    torch.testing.assert_close(net(x), before)


def test_mutations_respect_bounds():
    net = make_mlp(hidden=(500, 16), max_hidden_layers=2, max_nodes=512)
    old = snapshot(net)
    assert net.add_layer()["op"] == "none"  # max_hidden_layers=2
    assert all(torch.equal(old[k], v) for k, v in net.state_dict().items())
    report = net.add_nodes(layer=0, num_nodes=64)  # capped at max_nodes
    assert report["new"] == [512, 16] and report["nodes"] == 12
    assert net.add_nodes(layer=0, num_nodes=16)["op"] == "none"
    assert not hasattr(net, "remove_layer") and not hasattr(net, "remove_nodes")  # only growth
    with pytest.raises(IndexError):
        net.add_nodes(layer=3)


def test_mutation_keeps_dtype_and_frozen_state():
    net = make_mlp().double().requires_grad_(False)
    params_before = list(net.parameters())  # hold references so ids cannot be recycled
    net.add_nodes(layer=1, num_nodes=16, generator=gen(2))
    net.add_layer(gen(3))
    assert all(p.dtype == torch.float64 and not p.requires_grad for p in net.parameters())
    assert not {id(p) for p in params_before} & {id(p) for p in net.parameters()}
    assert net(torch.randn(2, 5, dtype=torch.float64)).dtype == torch.float64


def test_change_activation_changes_outputs_not_parameters():
    net = make_mlp(output_activation="Tanh")
    x = torch.randn(8, 5)
    before, old = net(x), snapshot(net)
    assert net.change_activation("ELU") == {"op": "change_activation", "old": "ReLU", "new": "ELU"}
    assert not torch.allclose(net(x), before)
    assert all(torch.equal(old[k], v) for k, v in net.state_dict().items())
    assert net.output_activation == "Tanh"
    with pytest.raises(ValueError, match="LeakyReLU"):
        net.change_activation("Swish")
    assert net.activation == "ELU"
    for name in ACTIVATIONS:
        net.change_activation(name)
        assert net(x).shape == (8, 3)


def test_clone_is_independent():
    net = make_mlp(ensemble_size=2)
    twin = net.clone()
    assert same_state(net, twin)
    old = snapshot(net)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    twin.add_nodes(layer=0, num_nodes=16)
    assert all(torch.equal(old[k], v) for k, v in net.state_dict().items())
    assert net.hidden_sizes == [32, 48]


def test_config_round_trip_after_mutations():
    net = make_mlp(ensemble_size=2, output_activation="Sigmoid")
    net.add_layer(gen(1))
    net.add_nodes(generator=gen(2))
    net.change_activation("GELU")
    config = json.loads(json.dumps(net.config))  # must be JSON-able
    rebuilt = EvolvableMLP(**config)
    rebuilt.load_state_dict(net.state_dict())
    x = torch.randn(4, 5)
    assert torch.equal(rebuilt(x), net(x))


def test_reproducible_with_seeded_generators():
    a, b = make_mlp(seed=7), make_mlp(seed=7)
    assert same_state(a, b) and not same_state(a, make_mlp(seed=8))
    ga, gb = gen(3), gen(3)
    for net, g in ((a, ga), (b, gb)):
        for _ in range(4):
            net.add_nodes(generator=g)
            net.add_layer(g)
    assert a.hidden_sizes == b.hidden_sizes and same_state(a, b)


# ---------------------------------------------------------------- CNN


def test_cnn_forward_and_layout():
    net = make_cnn()
    assert net(torch.randn(2, 3, 6, 6)).shape == (2, 4)
    keys = set(net.state_dict())
    assert {"convs.0.weight", "convs.1.bias", "head.weights.0", "head.biases.1"} <= keys
    assert net.head.input_dim == 16 * 2 * 2  # 6x6 -> 4x4 -> 2x2 with 3x3 valid convs
    strided = make_cnn(stride_sizes=(2, 1), padding_sizes=(1, 1))
    assert strided.head.input_dim == 16 * 3 * 3  # 6 -> 3 -> 3
    assert strided(torch.randn(2, 3, 6, 6)).shape == (2, 4)


def test_cnn_add_channels_middle_layer():
    net = make_cnn()
    old = snapshot(net)
    report = net.add_channels(layer=0, num=8, generator=gen(1))
    assert report == {
        "op": "add_channels", "layer": 0, "channels": 8, "old": [8, 16], "new": [16, 16]
    }  # fmt: skip
    assert torch.equal(net.convs[0].weight[:8], old["convs.0.weight"])
    assert torch.equal(net.convs[0].bias[:8], old["convs.0.bias"])
    assert torch.equal(net.convs[1].weight[:, :8], old["convs.1.weight"])
    assert net.convs[1].weight.shape == (16, 16, 3, 3)
    assert torch.equal(net.head.weights[0], old["head.weights.0"])  # flat size unchanged
    assert net(torch.randn(2, 3, 6, 6)).shape == (2, 4)


def test_cnn_last_layer_channels_resize_head():
    net = make_cnn(max_channels=32)
    x = torch.randn(2, 3, 6, 6)
    before, old = net(x), snapshot(net)
    net.add_channels(layer=1, num=8, generator=gen(1))
    assert net.head.input_dim == 24 * 4
    assert torch.equal(net.convs[1].weight[:16], old["convs.1.weight"])
    assert torch.equal(net.head.weights[0][:, :64, :], old["head.weights.0"])
    assert torch.equal(net.head.weights[1], old["head.weights.1"])
    # Channel-major flattening: new channels are exactly the appended head inputs.
    with torch.no_grad():
        net.head.weights[0][:, 64:, :] = 0
    torch.testing.assert_close(net(x), before)
    report = net.add_channels(layer=1, num=64, generator=gen(2))  # capped at max_channels
    assert report["new"] == [8, 32] and net.add_channels(layer=1)["op"] == "none"


def test_cnn_conv_layer_mutations():
    net = make_cnn(max_conv_layers=3)
    old = snapshot(net)
    report = net.add_conv_layer(gen(1))
    assert report["new"] == [8, 16, 16] and net.config["kernel_sizes"] == [3, 3, 3]
    assert net.head.input_dim == 64  # padded 3x3 conv keeps the spatial size and channels
    for k in ("convs.0.weight", "convs.1.weight", "head.weights.0", "head.biases.0"):
        assert torch.equal(net.state_dict()[k], old[k])
    assert net.add_conv_layer()["op"] == "none"
    assert net(torch.randn(2, 3, 6, 6)).shape == (2, 4)


def test_cnn_head_mutations_and_activation():
    net = make_cnn()
    x = torch.randn(2, 3, 6, 6)
    before, old = net(x), snapshot(net)
    assert net.change_activation("Tanh")["new"] == "Tanh"
    assert net.head.activation == "Tanh" and net.activation == "Tanh"
    assert not torch.allclose(net(x), before)
    assert all(torch.equal(old[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="ReLU"):
        net.change_activation("tanh")
    assert net.head.add_layer(gen(1))["new"] == [16, 16]  # the head is an EvolvableMLP
    assert torch.equal(net.head.weights[0], old["head.weights.0"])


def test_cnn_config_round_trip_clone_and_reproducibility():
    a, b = make_cnn(seed=5), make_cnn(seed=5)
    assert same_state(a, b)
    for net, g in ((a, gen(9)), (b, gen(9))):
        net.add_channels(generator=g)
        net.add_conv_layer(g)
        net.head.add_nodes(generator=g)
    assert a.config == b.config and same_state(a, b)
    twin = a.clone()
    with torch.no_grad():
        twin.convs[0].weight.add_(1.0)
    assert torch.equal(a.convs[0].weight, b.convs[0].weight)
    rebuilt = EvolvableCNN(**json.loads(json.dumps(a.config)))
    rebuilt.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(rebuilt(x), a(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mutations_stay_on_device_with_cpu_generator():
    net = make_cnn().cuda()
    net.add_channels(layer=1, num=8, generator=gen(1))
    net.add_conv_layer(gen(2))
    assert all(p.is_cuda for p in net.parameters())
    assert net(torch.randn(2, 3, 6, 6, device="cuda")).shape == (2, 4)
