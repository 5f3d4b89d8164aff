"""Tests of atrous.nn.upsample, atrous.nn.losses and atrous.nn.graph."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, receptive_field
from atrous.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from atrous.nn.graph import DilatedGraphConv, EdgeConv, dilated_knn, graph_aggregate, hop_neighbourhood
from atrous.nn.losses import ShiftConsistencyLoss, shift_consistency
from atrous.nn.upsample import (
    Checkerboard,
    ResizeConv,
    SubPixelConv,
    TransposedUpsample,
    bilinear_spec,
    checkerboard,
    icnr_,
)

torch.set_num_threads(2)


# =========================================================================== checkerboard


def _brute_counts(k: int, s: int, p: int, d: int) -> tuple[int, ...]:
    """Scatter ones through an all-ones transposed conv; read one period of the interior."""
    n = 4 * k * d + 8
    y = F.conv_transpose1d(
        torch.ones(1, 1, n, dtype=torch.float64), torch.ones(1, 1, k, dtype=torch.float64), None, s, p, 0, 1, d
    )
    y = y[0, 0]
    mid = (y.shape[0] // 2) // s * s  # a multiple of the stride, far from both borders
    return tuple(int(v) for v in y[mid : mid + s].round())


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_checkerboard_counts_match_brute_force(s: int) -> None:
    for k in range(1, 10):
        for d in (1, 2, 3):
            for p in range(0, d * (k - 1) + 1):
                cb = checkerboard(ConvSpec(k, stride=s, padding=p, dilation=d, transposed=True))
                brute = _brute_counts(k, s, p, d)
                assert cb.counts == (brute,), (k, s, p, d)
                assert cb.overlap == brute
                assert cb.uneven == (len(set(brute)) > 1)
                want = math.inf if min(brute) == 0 else max(brute) / min(brute)
                assert cb.ratio == want
                if d == 1:  # Odena et al.: even iff the kernel size is divisible by the stride
                    assert cb.uneven == (k % s != 0)


def test_checkerboard_facts() -> None:
    cb = checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True))
    assert cb.counts == ((1, 2),) and cb.uneven and cb.ratio == 2.0
    cb = checkerboard(ConvSpec(4, stride=2, padding=1, transposed=True))
    assert cb.counts == ((2, 2),) and not cb.uneven and cb.ratio == 1.0
    assert checkerboard(ConvSpec(3, stride=2, transposed=True)).counts == ((2, 1),)  # padding rotates phases
    assert checkerboard(ConvSpec(1, stride=2, transposed=True)).ratio == math.inf
    assert isinstance(cb, Checkerboard)
    with pytest.raises(AttributeError):
        cb.uneven = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("k", "s", "p"), [((3, 4), (2, 2), (1, 1)), ((5, 3), (3, 2), (2, 0)), ((3, 3), (2, 2), (1, 1))]
)
def test_checkerboard_2d_overlap_map_matches_brute_force(k, s, p) -> None:
    cb = checkerboard(ConvSpec(k, stride=s, padding=p, transposed=True))
    n = 16
    y = F.conv_transpose2d(
        torch.ones(1, 1, n, n, dtype=torch.float64), torch.ones(1, 1, *k, dtype=torch.float64), None, s, p
    )
    y = y[0, 0]
    m0, m1 = (y.shape[0] // 2) // s[0] * s[0], (y.shape[1] // 2) // s[1] * s[1]
    brute = tuple(tuple(int(v) for v in row) for row in y[m0 : m0 + s[0], m1 : m1 + s[1]].round())
    assert cb.overlap == brute
    assert cb.overlap == tuple(tuple(a * b for b in cb.counts[1]) for a in cb.counts[0])


def test_checkerboard_accepts_layers_and_sizes_and_rejects_plain_convs() -> None:
    layer = ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1)
    assert checkerboard(layer).counts == ((1, 2), (1, 2))
    assert checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True), input_size=(5, 6)).counts == ((1, 2), (1, 2))
    assert checkerboard(ConvSpec(4, stride=2, padding=1, transposed=True), input_size=5).counts == ((2, 2),)
    with pytest.raises(SpecError, match="transposed"):
        checkerboard(ConvSpec(3, stride=2))


# =========================================================================== upsampling layers


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_upsample_layers_give_exactly_input_times_scale(scale: int) -> None:
    for h, w in [(1, 1), (4, 7), (5, 3)]:
        x = torch.randn(2, 3, h, w)
        for layer in (
            TransposedUpsample(3, 5, scale),
            TransposedUpsample(3, 5, scale, kernel_size=3),
            ResizeConv(3, 5, scale),
            ResizeConv(3, 5, scale, mode="bilinear"),
            ResizeConv(3, 5, scale, kernel_size=4),
            SubPixelConv(3, 5, scale),
            SubPixelConv(3, 5, scale, kernel_size=4, icnr=False),
        ):
            assert layer(x).shape == (2, 5, h * scale, w * scale), (layer, h, w)


def test_transposed_upsample_defaults_are_checkerboard_free() -> None:
    for scale in (1, 2, 3, 4):
        up = TransposedUpsample(2, 2, scale)
        assert up.spec.kernel_size == (2 * scale, 2 * scale) and up.spec.stride == (scale, scale)
        assert not up.checkerboard.uneven
    assert TransposedUpsample(2, 2, 2, kernel_size=3).checkerboard.uneven
    assert TransposedUpsample(2, 2, (2, 3)).conv(torch.randn(1, 2, 4, 5)).shape == (1, 2, 8, 15)


def _support(
    module: Callable[[torch.Tensor], torch.Tensor], x_shape: tuple[int, ...], index: tuple[int, int]
) -> tuple[tuple[int, ...], ...]:
    """Exact support of one output pixel from autograd (all-positive weights, no cancellation)."""
    x = torch.rand(x_shape, dtype=torch.float64, requires_grad=True)
    y = module(x)
    y[0, 0, index[0], index[1]].backward()
    g = x.grad.abs().sum(dim=(0, 1))
    # PyTorch's bilinear resize leaves float-rounding weights (~1e-17 in float64) on taps that the
    # exact interpolation gives weight 0 (odd scales): ignore those
    g = g > 1e-9 * g.max() if g.max() > 0 else g > 0
    rows = tuple(int(i) for i in g.any(1).nonzero().flatten())
    cols = tuple(int(i) for i in g.any(0).nonzero().flatten())
    return rows, cols


def _positive(module: nn.Module) -> nn.Module:
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(0.5, 1.5)
    return module


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_layer_fields_match_autograd_supports(scale: int) -> None:
    size = (7, 6)
    for layer in (
        TransposedUpsample(1, 1, scale),
        TransposedUpsample(1, 1, scale, kernel_size=3),
        ResizeConv(1, 1, scale),
        ResizeConv(1, 1, scale, mode="bilinear"),
        SubPixelConv(1, 1, scale),
    ):
        layer = _positive(layer)
        field = layer.field(size)
        out = (size[0] * scale, size[1] * scale)
        for index in [(0, 0), (out[0] // 2, out[1] // 2 + 1), (out[0] - 1, out[1] - 2), (1, out[1] - 1)]:
            want = field.support(index)
            if not all(want):  # an empty axis (kernel shorter than the stride): the box is empty
                want = ((), ())
            assert _support(layer, (1, 1, *size), index) == want, (layer, index)
        assert isinstance(layer.receptive_field, tuple)


@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_bilinear_spec_has_the_tap_sets_of_bilinear_upsampling(scale: int) -> None:
    n = 6
    field = receptive_field([bilinear_spec(scale)], (n, n))[0]
    up = lambda t: F.interpolate(t, scale_factor=scale, mode="bilinear", align_corners=False)
    for y in range(n * scale):
        assert _support(up, (1, 1, n, n), (y, y))[0] == field.support((y, y))[0], y


def test_nearest_resize_is_exact_repetition() -> None:
    x = torch.randn(1, 2, 7, 5)
    for r in (2, 3, 5, 7):
        want = x.repeat_interleave(r, dim=-1).repeat_interleave(r, dim=-2)
        assert torch.equal(F.interpolate(x, scale_factor=r, mode="nearest"), want)


# ----------------------------------------------------------------------- ICNR


@pytest.mark.parametrize("scale", [2, 3])
def test_icnr_sub_pixel_conv_is_nearest_upsampling_of_a_conv_at_init(scale: int) -> None:
    torch.manual_seed(scale)
    layer = SubPixelConv(3, 4, scale)
    x = torch.randn(2, 3, 5, 6)
    y = layer(x)
    r2 = scale * scale
    # the same conv with one kernel per output channel, then nearest upsampling
    base = F.conv2d(x, layer.conv.weight[::r2], layer.conv.bias[::r2], padding=1)
    want = F.interpolate(base, scale_factor=scale, mode="nearest")
    torch.testing.assert_close(y, want, rtol=1e-6, atol=1e-6)
    # every r x r block constant
    blocks = y.unfold(-2, scale, scale).unfold(-2, scale, scale)  # (B, C, H, W, r, r)
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))


def test_icnr_with_repeat_instead_of_repeat_interleave_breaks_it() -> None:
    torch.manual_seed(0)
    scale, out_ch = 2, 3
    layer = SubPixelConv(2, out_ch, scale, icnr=False)
    sub = torch.empty(out_ch, 2, 3, 3)
    nn.init.kaiming_normal_(sub)
    with torch.no_grad():
        layer.conv.weight.copy_(sub.repeat(scale * scale, 1, 1, 1))  # wrong: groups by sub-pixel
        layer.conv.bias.zero_()
    y = layer(torch.randn(1, 2, 5, 5))
    blocks = y.unfold(-2, scale, scale).unfold(-2, scale, scale)
    assert (blocks - blocks[..., :1, :1]).abs().max() > 1e-2
    # and the right order makes it exact
    with torch.no_grad():
        layer.conv.weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    y = layer(torch.randn(1, 2, 5, 5))
    blocks = y.unfold(-2, scale, scale).unfold(-2, scale, scale)
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))


def test_icnr_weight_layout_and_errors() -> None:
    w = icnr_(torch.empty(12, 2, 3, 3), 2)
    for c in range(3):
        for i in range(4):
            assert torch.equal(w[4 * c + i], w[4 * c])
    assert not torch.equal(w[0], w[4])
    w1 = icnr_(torch.empty(6, 2, 3), 3, init=nn.init.ones_)  # 1-d: r sub-kernels
    assert torch.equal(w1, torch.ones(6, 2, 3))
    with pytest.raises(SpecError, match="divisible"):
        icnr_(torch.empty(6, 2, 3, 3), 2)


def test_upsample_layers_state_dict_and_gradients() -> None:
    for layer in (TransposedUpsample(2, 3, 2), ResizeConv(2, 3, 2), SubPixelConv(2, 3, 2)):
        x = torch.randn(1, 2, 4, 4, requires_grad=True)
        layer(x).square().sum().backward()
        assert x.grad is not None and all(p.grad is not None for p in layer.parameters())
        clone = type(layer)(2, 3, 2)
        clone.load_state_dict(layer.state_dict())
        assert torch.equal(clone(x), layer(x))


# =========================================================================== shift consistency


def _circular_stack() -> nn.Module:
    return nn.Sequential(
        Conv2d(1, 4, 3, padding="same", padding_mode="circular"),
        nn.ReLU(),
        Conv2d(4, 4, 3, dilation=2, padding="same", padding_mode="circular"),
        nn.ReLU(),
        Conv2d(4, 1, 3, dilation=2, padding="same", padding_mode="circular"),
    )


def test_shift_consistency_zero_for_an_equivariant_model() -> None:
    torch.manual_seed(0)
    model = _circular_stack().double()
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    for circular in (True, False):
        for shifts in ("axes", "grid"):
            loss = ShiftConsistencyLoss(model, 3, dims=(-2, -1), circular=circular, shifts=shifts)(x)
            assert loss.item() < 1e-24


def test_shift_consistency_positive_for_periodic_artifacts() -> None:
    torch.manual_seed(0)
    down_up = nn.Sequential(
        Conv1d(1, 4, 3, stride=2, padding="same", padding_mode="circular"), nn.Upsample(scale_factor=2)
    )
    encoder_decoder = nn.Sequential(
        Conv1d(1, 4, 3, stride=2, padding="same"), nn.ReLU(), ConvTranspose1d(4, 1, 3, stride=2, padding="same")
    )
    x = torch.randn(3, 1, 32)
    for model in (down_up, encoder_decoder):
        loss = ShiftConsistencyLoss(model, 2, margin=3)(x)
        assert loss.item() > 1e-3
        # shifting by the period itself is consistent: only shifts 1..period-1 are penalised
        y = model(x)
        z = model(torch.roll(x, 2, -1))
        torch.testing.assert_close(torch.roll(y, 2, -1)[..., 5:-3], z[..., 5:-3])


def test_transposed_then_strided_conv_is_shift_equivariant() -> None:
    # (input shift 1 -> shift 2 -> shift 1): no period-2 artifact at the output's resolution
    torch.manual_seed(0)
    model = nn.Sequential(
        ConvTranspose1d(1, 4, 3, stride=2, padding="same"), nn.ReLU(), Conv1d(4, 1, 3, stride=2, padding="same")
    ).double()
    x = torch.randn(2, 1, 40, dtype=torch.float64)
    assert ShiftConsistencyLoss(model, 2, margin=4)(x).item() < 1e-24


def test_shift_consistency_crop_handles_zero_padding() -> None:
    torch.manual_seed(0)
    model = Conv1d(1, 1, 5, padding="same").double()  # equivariant except at the borders (radius 2)
    x = torch.randn(2, 1, 20, dtype=torch.float64)
    assert ShiftConsistencyLoss(model, 3, circular=True)(x).item() > 1e-3  # the wrap seam shows
    assert ShiftConsistencyLoss(model, 3)(x).item() > 1e-6  # crop of s alone leaves the padding effects
    assert ShiftConsistencyLoss(model, 3, margin=2)(x).item() < 1e-24
    with pytest.raises(SpecError, match="nothing left"):
        ShiftConsistencyLoss(model, 3, margin=10)(x)


def test_shift_consistency_gradients_precomputed_output_and_reductions() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        Conv2d(1, 2, 3, stride=2, padding="same", padding_mode="circular"), nn.Upsample(scale_factor=2)
    )
    x = torch.randn(2, 1, 8, 8)
    loss_fn = ShiftConsistencyLoss(model, 2, dims=(-2, -1), circular=True)
    assert list(loss_fn.parameters()) == []  # the model stays the caller's
    loss = loss_fn(x)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    y = model(x)
    torch.testing.assert_close(loss_fn(x, y), loss)
    torch.testing.assert_close(loss_fn(x, y=y), loss)
    none = ShiftConsistencyLoss(model, 2, dims=(-2, -1), reduction="none", circular=True)(x)
    assert none.shape == (2,)
    torch.testing.assert_close(none.mean(), loss)
    grid = ShiftConsistencyLoss(model, 3, dims=(-2, -1), reduction="none", shifts="grid", circular=True)(x)
    assert grid.shape == (8,)
    batched = ShiftConsistencyLoss(model, 2, dims=(-2, -1), circular=True, batch_shifts=True)(x)
    torch.testing.assert_close(batched, loss)
    summed = shift_consistency(model, x, 2, (-2, -1), reduction="sum", circular=True)
    assert summed.item() > loss.item()
    assert ShiftConsistencyLoss(model, 1, dims=(-1,))(x).item() == 0.0


def test_shift_consistency_resolution_change_and_errors() -> None:
    torch.manual_seed(0)
    decoder = ConvTranspose1d(1, 1, 4, stride=2, padding=1).double()  # output 2n: shift s -> 2s
    x = torch.randn(1, 1, 16, dtype=torch.float64)
    assert ShiftConsistencyLoss(decoder, 2, margin=2)(x).item() < 1e-24
    encoder = Conv1d(1, 1, 3, stride=2, padding=1)
    with pytest.raises(SpecError, match="whole number"):
        ShiftConsistencyLoss(encoder, 2)(torch.randn(1, 1, 16))
    with pytest.raises(SpecError, match="reduction"):
        ShiftConsistencyLoss(encoder, 2, reduction="avg")
    with pytest.raises(SpecError, match="callable"):
        ShiftConsistencyLoss(3, 2)  # type: ignore[arg-type]


# =========================================================================== dilated k-NN


def _numpy_dilated_knn(x: np.ndarray, k: int, d: int, include_self: bool) -> np.ndarray:
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    n = x.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        order = [j for j in np.argsort(dist[i], kind="stable") if include_self or j != i]
        if include_self:
            order.remove(i)
            order.insert(0, i)
        out[i] = order[: k * d][::d]
    return out


@pytest.mark.parametrize("include_self", [False, True])
def test_dilated_knn_matches_numpy_brute_force(include_self: bool) -> None:
    rng = np.random.default_rng(0)
    for b, n, f, k, d in [(2, 40, 3, 4, 2), (1, 25, 5, 3, 3), (3, 30, 2, 5, 1), (1, 17, 4, 2, 8)]:
        pts = rng.standard_normal((b, n, f))
        got = dilated_knn(torch.from_numpy(pts), k, d, include_self)
        assert got.shape == (b, n, k) and got.dtype == torch.long
        for i in range(b):
            np.testing.assert_array_equal(got[i].numpy(), _numpy_dilated_knn(pts[i], k, d, include_self))
        unbatched = dilated_knn(torch.from_numpy(pts[0]), k, d, include_self)
        assert torch.equal(unbatched, got[0])


def test_dilated_knn_stochastic_and_errors() -> None:
    x = torch.randn(30, 3, dtype=torch.float64)
    full = dilated_knn(x, 12, 1)
    g = torch.Generator().manual_seed(0)
    pick = dilated_knn(x, 4, 3, stochastic=True, epsilon=1.0, generator=g)
    assert pick.shape == (30, 4)
    pos = [int((full[0] == j).nonzero()) for j in pick[0]]
    assert pos == sorted(pos)  # a subset of the k*d nearest, in distance order
    cols = {tuple(int((full[i] == j).nonzero()) for j in pick[i]) for i in range(30)}
    assert len(cols) == 1  # one draw shared by all points (DeepGCN)
    assert torch.equal(dilated_knn(x, 4, 3, stochastic=True, epsilon=1.0, training=False), full[:, ::3])
    assert torch.equal(dilated_knn(x, 4, 3, stochastic=True, epsilon=0.0), full[:, ::3])
    with pytest.raises(SpecError, match="candidates"):
        dilated_knn(x, 10, 3)
    assert dilated_knn(x, 10, 3, include_self=True).shape == (30, 10)
    with pytest.raises(SpecError):
        dilated_knn(torch.randn(5), 1)


# =========================================================================== hop rings


def _bfs_ring(n: int, edges: list[tuple[int, int]], d: int, directed: bool) -> set[tuple[int, int]]:
    adj: list[set[int]] = [set() for _ in range(n)]
    for u, v in edges:
        if u == v:
            continue
        adj[u].add(v)
        if not directed:
            adj[v].add(u)
    ring = set()
    for s in range(n):
        dist = {s: 0}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            if dist[u] == d:
                continue
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        ring |= {(s, v) for v, dv in dist.items() if dv == d}
    return ring


@pytest.mark.parametrize("directed", [False, True])
def test_hop_neighbourhood_matches_bfs(directed: bool) -> None:
    g = torch.Generator().manual_seed(1)
    for n, m in [(12, 14), (30, 45), (60, 70), (25, 120)]:
        ei = torch.randint(0, n, (2, m), generator=g)
        edges = [(int(a), int(b)) for a, b in ei.t()]
        for d in (1, 2, 3, 4, 6):
            want = _bfs_ring(n, edges, d, directed)
            for method in ("dense", "sparse"):
                got = hop_neighbourhood(ei, n, d, directed=directed, method=method)
                assert got.dtype == torch.long and got.shape[0] == 2
                pairs = [tuple(int(v) for v in e) for e in got.t()]
                assert pairs == sorted(want), (n, m, d, method)


def test_hop_neighbourhood_accepts_adjacencies() -> None:
    g = torch.Generator().manual_seed(2)
    n = 20
    ei = torch.randint(0, n, (2, 30), generator=g)
    dense = torch.zeros(n, n)
    dense[ei[0], ei[1]] = 1.0
    for d in (1, 2, 3):
        ref = hop_neighbourhood(ei, n, d)
        assert torch.equal(hop_neighbourhood(dense, hops=d), ref)
        assert torch.equal(hop_neighbourhood(dense.bool(), hops=d), ref)
        assert torch.equal(hop_neighbourhood(dense.to_sparse(), hops=d), ref)
    # isolated trailing nodes need num_nodes; an empty graph has empty rings
    assert hop_neighbourhood(torch.tensor([[0], [1]]), 5, 2).shape == (2, 0)
    with pytest.raises(SpecError, match="num_nodes"):
        hop_neighbourhood(torch.tensor([[0], [7]]), 5, 1)
    with pytest.raises(SpecError, match="hops"):
        hop_neighbourhood(ei, n, 0)


# =========================================================================== graph layers


def test_edge_conv_shapes_gradients_and_permutation_equivariance() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    for aggr in ("max", "mean", "sum"):
        layer = EdgeConv(3, 8, k=4, dilation=2, aggr=aggr).double()
        y = layer(x)
        assert y.shape == (2, 30, 8)
        assert layer(x[0]).shape == (30, 8)
        xr = x.clone().requires_grad_(True)
        layer(xr).sum().backward()
        assert xr.grad is not None and all(p.grad is not None for p in layer.parameters())
        perm = torch.randperm(30)
        torch.testing.assert_close(layer(x[:, perm]), y[:, perm])
    # a static graph from positions, and explicit indices
    layer = EdgeConv(3, 5, k=3).double()
    pos = torch.randn(2, 30, 2, dtype=torch.float64)
    idx = dilated_knn(pos, 3)
    torch.testing.assert_close(layer(x, pos=pos), layer(x, idx=idx))
    # EdgeConv with mean aggregation and a linear MLP, by hand for one point
    lin = nn.Linear(6, 4, bias=False).double()
    layer = EdgeConv(3, 4, k=3, dilation=2, aggr="mean", mlp=lin)
    idx = dilated_knn(x, 3, 2)
    i = 7
    xi, xj = x[0, i], x[0, idx[0, i]]
    want = lin(torch.cat([xi.expand_as(xj), xj - xi], -1)).mean(0)
    torch.testing.assert_close(layer(x)[0, i], want)


def test_dilated_graph_conv_shapes_gradients_and_permutation_equivariance() -> None:
    torch.manual_seed(0)
    n = 25
    ei = torch.randint(0, n, (2, 40))
    x = torch.randn(n, 4, dtype=torch.float64)
    for aggr in ("mean", "sum", "max", "gcn"):
        for hops in (1, 2, 3):
            layer = DilatedGraphConv(4, 6, hops=hops, aggr=aggr).double()
            y = layer(x, ei)
            assert y.shape == (n, 6)
            assert layer(torch.stack([x, x]), ei).shape == (2, n, 6)
            torch.testing.assert_close(layer(torch.stack([x, x]), ei)[1], y)
            xr = x.clone().requires_grad_(True)
            layer(xr, ei).square().sum().backward()
            assert xr.grad is not None and layer.lin.weight.grad is not None
            perm = torch.randperm(n)
            inv = torch.empty_like(perm)
            inv[perm] = torch.arange(n)
            torch.testing.assert_close(layer(x[perm], inv[ei]), y[perm])


def test_dilated_graph_conv_aggregates_over_the_exact_ring_plus_self() -> None:
    n = 8
    cycle = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    layer = DilatedGraphConv(1, 1, hops=2, aggr="mean", bias=False).double()
    with torch.no_grad():
        layer.lin.weight.fill_(1.0)
    x = torch.arange(n, dtype=torch.float64).unsqueeze(-1)
    y = layer(x, cycle).squeeze(-1)
    want = torch.tensor([(i + (i + 2) % n + (i - 2) % n) / 3 for i in range(n)], dtype=torch.float64)
    torch.testing.assert_close(y, want)
    layer = DilatedGraphConv(1, 1, hops=2, aggr="max", bias=False, cached=True).double()
    with torch.no_grad():
        layer.lin.weight.fill_(1.0)
    want = torch.tensor([max(i, (i + 2) % n, (i - 2) % n) for i in range(n)], dtype=torch.float64)
    torch.testing.assert_close(layer(x, cycle).squeeze(-1), want)
    torch.testing.assert_close(layer(x, cycle).squeeze(-1), want)  # cached ring
    # gcn: symmetric normalisation with self loops; every node of a cycle has ring degree 2 (+1)
    h = torch.randn(n, 3, dtype=torch.float64)
    ring = hop_neighbourhood(cycle, n, 2)
    out = graph_aggregate(h, ring, "gcn")
    torch.testing.assert_close(out, graph_aggregate(h, ring, "sum") / 3)
