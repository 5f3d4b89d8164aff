"""The convolution fast paths (atrous._fast): every route is exact and differentiable, the
rules pick the expected routes, the dispatcher never changes results, the autotune cache is
handled safely. Routes are forced through the private switch and read with its recorder, so
nothing here depends on timing."""

import json
import random
import warnings

import pytest
import torch
import torch.nn.functional as F

import atrous.functional as AF
from atrous import _fast as D
from atrous import nn as ann
from atrous._fast import autotune, state
from atrous._fast import ckernel as _ckernel
from atrous._fast.routes import fold


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    # (the cache directory is the test session's own: the root conftest.py)
    monkeypatch.setenv("ATROUS_AUTOTUNE", "0")
    monkeypatch.delenv("ATROUS_DETERMINISTIC", raising=False)
    monkeypatch.delenv("ATROUS_FAST_PATHS", raising=False)
    monkeypatch.delenv("ATROUS_COMPILE", raising=False)
    D.reset()
    yield
    D.reset()


def _conv(route, x, w, b, **kw):
    with D.force(route), D.record() as seen:
        y = AF.conv(x, w, b, **kw)
    assert seen == [route]
    return y


def _conv_t(route, x, w, b, **kw):
    with D.force(route), D.record() as seen:
        y = AF.conv_transpose(x, w, b, **kw)
    assert seen == [route]
    return y


def _close(a, b):
    scale = max(1.0, b.detach().abs().max().item())
    torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-6 * scale)


def _compare(fn, route, x, w, b, **kw):
    """Forward and backward of ``route`` against the native route (float32)."""
    leaves = [t.clone().requires_grad_() for t in (x, w, *([b] if b is not None else []))]
    ref_leaves = [t.clone().requires_grad_() for t in (x, w, *([b] if b is not None else []))]
    y = fn(route, *leaves[:2], leaves[2] if b is not None else None, **kw)
    ref = fn("native", *ref_leaves[:2], ref_leaves[2] if b is not None else None, **kw)
    _close(y, ref)
    g = torch.randn_like(ref)
    (y * g).sum().backward()
    (ref * g).sum().backward()
    for a, r in zip(leaves, ref_leaves, strict=True):
        _close(a.grad, r.grad)


def _t(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


CONV_CASES = [
    # route, x shape, w shape, bias?, kwargs  (each shape is one that the route is meant for)
    ("dw_direct", (2, 8, 33, 33), (8, 1, 3, 3), True, dict(padding=8, dilation=8, groups=8)),
    ("dw_direct", (2, 6, 20, 21), (6, 1, 3, 3), False, dict(padding=((5, 2), (0, 9)), dilation=(2, 4), groups=6)),
    ("dw_direct", (2, 4, 9, 10), (4, 1, 3, 3), True, dict(padding=24, dilation=24, groups=4)),
    ("dw_direct", (2, 4, 11, 12), (4, 1, 5, 4), True, dict(padding=((7, 7), (9, 2)), dilation=3, groups=4)),
    ("dw_direct", (3, 5, 64), (5, 1, 3), True, dict(padding="causal", dilation=16, groups=5)),
    ("dw_direct", (1, 3, 6, 7, 8), (3, 1, 3, 3, 3), True, dict(padding=7, dilation=(1, 2, 7), groups=3)),
    ("fold", (2, 6, 1024), (4, 6, 3), True, dict(padding="same", dilation=64)),
    ("fold", (2, 6, 512), (6, 3, 2), True, dict(padding="causal", dilation=32, groups=2)),
    ("fold", (1, 4, 160), (4, 4, 3), False, dict(padding="same", dilation=16)),
    ("fold", (2, 5, 13, 24), (6, 5, 3, 3), True, dict(padding=8, dilation=8)),  # 2-d, a pure view
    ("fold_pad", (2, 5, 13, 21), (6, 5, 3, 3), True, dict(padding=12, dilation=12)),  # W padded, output cropped
    ("fold_pad", (2, 4, 14, 22), (6, 2, 3, 2), False, dict(padding=((3, 1), (7, 2)), dilation=(2, 6), groups=2)),
    ("fold", (2, 4, 14, 24), (6, 2, 3, 2), False, dict(padding=((3, 1), (6, 3)), dilation=(2, 6), groups=2)),
    ("fold", (2, 3, 17, 24), (4, 3, 2, 3), True, dict(padding=((4, 4), (9, 9)), dilation=(4, 9), stride=(2, 1))),
    ("onednn", (1, 4, 10, 11, 12), (6, 4, 3, 3, 3), True, dict(padding=2, dilation=2)),
    ("onednn", (1, 4, 9, 10, 11), (6, 4, 3, 3, 3), True, dict(padding=((1, 3), (2, 2), (0, 5)), dilation=(1, 2, 3))),
    ("onednn", (1, 4, 9, 10, 11), (6, 2, 3, 3, 3), True, dict(padding=5, dilation=(1, 2, 2), groups=2)),
    ("onednn", (1, 4, 9, 10, 11), (6, 4, 3, 3, 3), True, dict(padding=1, stride=2)),
    ("onednn", (2, 3, 17, 18), (5, 3, 3, 3), True, dict(padding=4, dilation=4)),
    ("pad_w", (2, 8, 33, 33), (16, 8, 3, 3), True, dict(padding=12, dilation=12)),
    ("pad_w", (2, 4, 100), (4, 4, 3), True, dict(padding="causal", dilation=8)),
    ("pad_w", (1, 4, 9, 10, 11), (6, 4, 3, 3, 3), True, dict(padding=((1, 3), (2, 2), (0, 5)), dilation=(1, 2, 3))),
    ("pad_all", (2, 6, 20, 21), (6, 1, 3, 3), True, dict(padding=((5, 2), (0, 9)), dilation=(2, 4), groups=6)),
    ("channels_last", (2, 8, 33, 33), (16, 8, 3, 3), True, dict(padding=12, dilation=12)),
    ("channels_last", (1, 4, 9, 10, 11), (6, 2, 3, 3, 3), True, dict(padding=((1, 3), (2, 2), (0, 5)), groups=2)),
    ("pad_all", (2, 4, 20, 21), (6, 4, 3, 3), True, dict(padding=7, dilation=7, stride=2)),
    ("taps", (1, 32, 1024), (32, 32, 3), True, dict(padding="same", dilation=64)),
    ("taps", (1, 8, 300), (5, 8, 2), False, dict(padding="causal", dilation=100)),
    ("taps", (1, 4, 6), (3, 4, 3), True, dict(padding=9, dilation=9)),  # two taps read only padding
    ("taps", (3, 6, 40), (4, 6, 3), True, dict(padding=((9, 2),), dilation=5, stride=2)),  # batch, stride
    ("taps", (2, 4, 30), (3, 4, 4), True, dict(padding=((40, 40),), dilation=11)),  # no tap covers all outputs
    ("taps", (1, 3, 12), (2, 3, 3), False, dict(padding=0, dilation=3, stride=3)),
    ("fft", (2, 6, 300), (5, 6, 130), True, dict(padding="same")),
    ("fft", (2, 3, 100), (4, 3, 20), False, dict(padding="causal", dilation=3)),
]

T_CASES = [
    ((2, 3, 7, 7), (3, 5, 4, 4), True, dict(stride=2, padding=1)),
    ((2, 3, 7, 8), (3, 5, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
    ((2, 3, 7, 8), (3, 5, 3, 3), False, dict(stride=(3, 2), padding=((2, 0), (1, 1)), output_padding=(2, 0))),
    ((2, 4, 9), (4, 3, 5), True, dict(stride=3, padding=2, groups=2)),
    ((2, 4, 9), (4, 3, 2), False, dict(stride=3, padding=0)),
    ((1, 2, 4, 5, 3), (2, 3, 4, 4, 4), True, dict(stride=2, padding=1)),
    ((2, 3, 7, 7), (3, 5, 4, 4), True, dict(stride=2, padding="same")),
]


@pytest.mark.parametrize("route, xs, ws, bias, kw", CONV_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONV_CASES)])
def test_route_equals_native_forward_and_backward(route, xs, ws, bias, kw):
    x, w = _t(*xs), _t(*ws, seed=1)
    b = _t(ws[0], seed=2) if bias else None
    _compare(_conv, route, x, w, b, **kw)


@pytest.mark.parametrize("xs, ws, bias, kw", T_CASES)
def test_subpixel_equals_native_forward_and_backward(xs, ws, bias, kw):
    x, w = _t(*xs), _t(*ws, seed=1)
    b = _t(ws[1] * kw.get("groups", 1), seed=2) if bias else None
    _compare(_conv_t, "subpixel", x, w, b, **kw)


@pytest.mark.parametrize("xs, ws, bias, kw", [c for c in T_CASES if len(c[0]) == 3])
def test_gemm_transposed_equals_native_forward_and_backward(xs, ws, bias, kw):
    x, w = _t(*xs), _t(*ws, seed=1)
    b = _t(ws[1] * kw.get("groups", 1), seed=2) if bias else None
    _compare(_conv_t, "gemm", x, w, b, **kw)


@pytest.mark.parametrize(
    "kw",
    [dict(stride=8, padding=4), dict(stride=3, padding=((2, 0),), groups=2, output_padding=1, dilation=2),
     dict(stride=1, padding=((0, 3),), dilation=3)],
)  # fmt: skip
def test_gemm_transposed_float64_matches_pytorch_and_gradcheck(kw):
    """Every stride / padding / output padding / dilation / groups case to float64 precision,
    and autograd's numerical gradient."""
    x = _t(2, 4, 5).double().requires_grad_()
    w = _t(4, 3, 16 if kw["stride"] == 8 else 5, seed=1).double().requires_grad_()
    b = _t(3 * kw.get("groups", 1), seed=2).double().requires_grad_()
    ref = torch.nn.functional.conv_transpose1d(
        x, w, b, kw["stride"], 0, 0, kw.get("groups", 1), kw.get("dilation", 1)
    )  # the full output, cropped and extended by hand below
    (lo, hi), op = (
        (kw["padding"][0] if isinstance(kw["padding"], tuple) else (kw["padding"],) * 2),
        kw.get("output_padding", 0),
    )
    o = ref.shape[2] - lo - hi + op
    want = torch.cat([ref, b.reshape(1, -1, 1).expand(2, -1, max(0, lo + o - ref.shape[2]))], 2)[:, :, lo : lo + o]
    torch.testing.assert_close(_conv_t("gemm", x, w, b, **kw), want, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *a: _conv_t("gemm", *a, **kw), (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_short_inputs_through_large_transposed_weights_take_the_gemm_route():
    x, w = torch.randn(1, 512, 2), torch.randn(512, 256, 16)
    with D.record() as seen:
        y = AF.conv_transpose(x, w, None, stride=8, padding=4)
    assert seen == ["gemm"]
    torch.testing.assert_close(y, torch.nn.functional.conv_transpose1d(x, w, None, 8, 4), rtol=1e-5, atol=1e-4)
    with D.record() as seen:
        AF.conv_transpose(torch.randn(1, 512, 200), w, None, stride=8, padding=4)
    assert seen == ["native"]  # a long input: PyTorch's own kernel


GRADCHECK = [
    ("dw_direct", (2, 3, 6, 7), (3, 1, 3, 3), dict(padding=((2, 1), (7, 3)), dilation=(2, 3), groups=3)),
    ("dw_direct", (2, 3, 9), (3, 1, 2), dict(padding="causal", dilation=4, groups=3)),
    ("onednn", (1, 2, 5, 5, 6), (3, 2, 3, 3, 3), dict(padding=2, dilation=(1, 2, 2))),
    ("onednn", (1, 4, 5, 5, 6), (4, 2, 2, 3, 3), dict(padding=((1, 0), (2, 2), (3, 3)), dilation=(1, 2, 3), groups=2)),
    ("fold", (2, 3, 16), (2, 3, 3), dict(padding=4, dilation=4)),
    ("fold", (2, 3, 16), (2, 3, 2), dict(padding="causal", dilation=8)),
    ("fold", (2, 2, 7, 12), (3, 2, 3, 3), dict(padding=6, dilation=6)),
    ("fold_pad", (2, 2, 7, 10), (3, 2, 3, 3), dict(padding=6, dilation=6)),
    ("fft", (2, 3, 20), (2, 3, 7), dict(padding="same", dilation=2)),
    ("taps", (1, 3, 16), (2, 3, 3), dict(padding="same", dilation=6)),
    ("taps", (2, 3, 13), (2, 3, 2), dict(padding=((9, 1),), dilation=8, stride=2)),
    ("pad_w", (2, 3, 6, 7), (2, 3, 3, 3), dict(padding=3, dilation=3)),
    ("pad_all", (2, 3, 6, 7), (2, 3, 3, 3), dict(padding=((3, 1), (0, 2)), dilation=2)),
    ("channels_last", (2, 3, 6, 7), (2, 3, 3, 3), dict(padding=3, dilation=3)),
]


@pytest.mark.parametrize("route, xs, ws, kw", GRADCHECK, ids=[f"{c[0]}-{i}" for i, c in enumerate(GRADCHECK)])
def test_gradcheck_float64(route, xs, ws, kw):
    x = _t(*xs).double().requires_grad_()
    w = _t(*ws, seed=1).double().requires_grad_()
    b = _t(ws[0], seed=2).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: _conv(route, *a, **kw), (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 3, 4, 5), (3, 2, 4, 4), dict(stride=2, padding=1)),
        ((2, 4, 5), (4, 2, 5), dict(stride=3, padding=((2, 0),), groups=2, output_padding=1)),
    ],
)
def test_gradcheck_subpixel_float64(xs, ws, kw):
    x = _t(*xs).double().requires_grad_()
    w = _t(*ws, seed=1).double().requires_grad_()
    b = _t(ws[1] * kw.get("groups", 1), seed=2).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: _conv_t("subpixel", *a, **kw), (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "route, xs, ws, kw",
    [
        ("dw_direct", (1, 2, 5, 6), (2, 1, 3, 3), dict(padding=7, dilation=2, groups=2)),
        ("onednn", (1, 2, 4, 4, 5), (2, 2, 3, 3, 3), dict(padding=2, dilation=2)),
        ("taps", (2, 2, 9), (3, 2, 3), dict(padding=((8, 1),), dilation=4, stride=2)),
    ],
)
def test_double_backward_float64(route, xs, ws, kw):
    x = _t(*xs).double().requires_grad_()
    w = _t(*ws, seed=1).double().requires_grad_()
    b = _t(ws[0], seed=2).double().requires_grad_()
    assert torch.autograd.gradgradcheck(lambda *a: _conv(route, *a, **kw), (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_forced_route_that_cannot_apply_raises_or_falls_back():
    x, w = _t(1, 4, 10, 10), _t(4, 4, 3, 3)
    with pytest.raises(ValueError, match="depthwise"):
        _conv("dw_direct", x, w, None, padding=1)
    with D.force("fold", strict=False), D.record() as seen:
        AF.conv(x, w, padding=1)
    assert seen == ["native"]
    with pytest.raises(ValueError, match="unknown route"), D.force("nope"):
        pass


# --------------------------------------------------------------------------- the rules


def _route(x, w, **kw):
    with D.record() as seen:
        AF.conv(x, w, **kw)
    assert len(seen) == 1
    return seen[0]


def test_rules_pick_the_expected_routes():
    # depthwise past oneDNN's padding cliff -> C kernel; below it: C kernel for 3x3 kernels, and
    # for other sizes with few planes or big tensors, native between
    assert _route(_t(2, 8, 33, 33), _t(8, 1, 3, 3), padding=8, dilation=8, groups=8) == "dw_direct"
    assert _route(_t(2, 8, 33, 33), _t(8, 1, 3, 3), padding=2, dilation=2, groups=8) == "dw_direct"
    assert _route(_t(8, 256, 9, 9), _t(256, 1, 3, 3), padding=2, dilation=2, groups=256) == "dw_direct"
    assert _route(_t(8, 256, 9, 9), _t(256, 1, 5, 5), padding=4, dilation=2, groups=256) == "native"
    assert _route(_t(8, 256, 9, 9), _t(256, 1, 3, 5), padding=2, dilation=1, groups=256) == "native"
    assert _route(_t(2, 8, 33, 33), _t(8, 1, 5, 5), padding=2, groups=8) == "dw_direct"  # few planes
    assert _route(_t(2, 128, 128, 128), _t(128, 1, 5, 5), padding=2, groups=128) == "dw_direct"  # big
    assert _route(_t(2, 8, 64), _t(8, 1, 3), padding=2, dilation=2, groups=8) == "native"  # 1-d: not measured
    # 1-d with a dilation that folds (f >= 16) -> fold; small dilation -> native
    assert _route(_t(2, 128, 1024), _t(4, 128, 3), padding="same", dilation=64) == "fold"
    assert _route(_t(2, 128, 1024), _t(4, 128, 2), padding="causal", dilation=512) == "fold"
    assert _route(_t(2, 128, 1024), _t(4, 128, 3), padding="same", dilation=2) == "native"
    assert _route(_t(1, 4, 1024), _t(4, 4, 3), padding="same", dilation=64) == "native"  # tiny: native
    # ... only where oneDNN's blocked kernel has the cliff: input channels in whole blocks
    assert _route(_t(1, 40, 4096), _t(40, 40, 3), padding="same", dilation=64) == "native"
    assert _route(_t(1, 32, 4096), _t(40, 32, 3), padding="same", dilation=64) == "fold"
    # small 1-d (< 2^16 elements) with a padding >= 32, batch 1, <= 3 taps, 8+ input and <= 32
    # output channels: one matrix product per tap; elsewhere native
    assert _route(_t(1, 32, 1024), _t(32, 32, 3), padding="same", dilation=64) == "taps"
    assert _route(_t(1, 32, 1024), _t(32, 32, 2), padding="causal", dilation=512) == "taps"
    assert _route(_t(1, 64, 512), _t(32, 64, 3), padding="same", dilation=32) == "taps"
    assert _route(_t(1, 32, 1024), _t(32, 32, 3), padding="same", dilation=8) == "native"  # padding 8
    assert _route(_t(2, 16, 1024), _t(16, 16, 3), padding="same", dilation=64) == "native"  # batch 2
    assert _route(_t(1, 32, 1024), _t(32, 32, 5), padding="same", dilation=64) == "native"  # 5 taps
    assert _route(_t(1, 32, 1024), _t(64, 32, 3), padding="same", dilation=64) == "native"  # 64 out
    assert _route(_t(1, 1, 1024), _t(32, 1, 3), padding="same", dilation=64) == "native"  # 1 in
    assert _route(_t(1, 32, 1024), _t(32, 32, 3), padding="same", dilation=64, stride=2) == "native"
    # small 3-d inputs that PyTorch sends to slow_conv3d -> oneDNN directly
    assert _route(_t(1, 4, 12, 12, 12), _t(4, 4, 3, 3, 3), padding=2, dilation=2) == "onednn"
    # dense 2-d past the W-padding cliff: sure with >= 128 output channels, else native (autotune off)
    assert _route(_t(1, 4, 20, 20), _t(128, 4, 3, 3), padding=12, dilation=12) == "pad_w"
    assert _route(_t(1, 4, 20, 20), _t(32, 4, 3, 3), padding=12, dilation=12) == "native"
    # dense 2-d with a batch past the cliff: fold W (a pure view for 128 wide and d=12, W padded
    # to 132 for d=18: f=6); batch 1 keeps the other rules; too much padding: no fold
    assert _route(_t(2, 4, 16, 128), _t(32, 4, 3, 3), padding=12, dilation=12) == "fold"
    assert _route(_t(2, 4, 16, 128), _t(32, 4, 3, 3), padding=18, dilation=18) == "fold_pad"
    assert fold.fold_pad_factor(128, 18, 18, 18) == 6 and fold.fold_plan(128, 18, 18, 18, 6) == (0, 4, 3, 4)
    assert _route(_t(1, 4, 16, 128), _t(32, 4, 3, 3), padding=12, dilation=12) == "native"
    assert _route(_t(2, 4, 16, 9), _t(32, 4, 3, 3), padding=24, dilation=24) == "native"
    assert _route(_t(2, 4, 16, 128), _t(32, 4, 3, 3), padding=4, dilation=4) == "native"  # no cliff
    # long dense kernels -> fft
    assert _route(_t(1, 4, 600), _t(4, 4, 128), padding="same") == "fft"
    # the rules only leave the native call for float32 CPU plain contiguous tensors
    assert _route(_t(2, 8, 33, 33).double(), _t(8, 1, 3, 3).double(), padding=8, dilation=8, groups=8) == "native"
    cl = _t(2, 8, 33, 33).contiguous(memory_format=torch.channels_last)
    assert _route(cl, _t(8, 1, 3, 3), padding=8, dilation=8, groups=8) == "native"
    # transposed: native
    with D.record() as seen:
        AF.conv_transpose(_t(1, 4, 9, 9), _t(4, 4, 4, 4), stride=2, padding=1)
    assert seen == ["native"]


def test_unusual_arguments_are_left_to_pytorch():
    x, w = _t(2, 8, 33, 33), _t(8, 1, 3, 3)
    with D.record() as seen, pytest.raises(RuntimeError):  # PyTorch's own dtype error, not a silent kernel misread
        AF.conv(x, w.double(), padding=8, dilation=8, groups=8)
    assert seen == ["native"]
    with D.record() as seen, pytest.raises(RuntimeError):
        AF.conv(x, w, _t(5), padding=8, dilation=8, groups=8)
    assert seen == ["native"]


def test_fast_paths_switch_off(monkeypatch):
    monkeypatch.setenv("ATROUS_FAST_PATHS", "0")
    D.reset()
    assert _route(_t(2, 8, 33, 33), _t(8, 1, 3, 3), padding=8, dilation=8, groups=8) == "native"


def test_layers_use_the_dispatcher():
    layer = ann.Conv2d(8, 8, 3, padding=8, dilation=8, groups=8)
    ref = torch.nn.Conv2d(8, 8, 3, padding=8, dilation=8, groups=8)
    ref.load_state_dict(layer.state_dict())
    x = _t(2, 8, 33, 33)
    with D.record() as seen:
        y = layer(x)
    assert seen == ["dw_direct"]
    _close(y, ref(x))
    tcn_like = ann.Conv1d(64, 64, 3, padding="causal", dilation=64)
    with D.record() as seen:
        y = tcn_like(_t(4, 64, 1024))
    assert seen == ["fold"]


def test_taps_output_is_a_tensor_of_its_own_and_its_plan_checks_the_bias():
    x, w, b = _t(1, 32, 1024), _t(32, 32, 3), _t(32)
    kw = dict(padding="same", dilation=64)
    with D.record() as seen:
        for _ in range(3):  # decide, keep the plan, use it
            _close(AF.conv(x, w, b, **kw), F.conv1d(x, w, b, 1, "same", 64))
    assert seen == ["taps"] * 3
    assert [p.route for p in state.STATE.plans.values()] == ["taps"]
    # modified in place, with autograd (an output that is a view would refuse) and without
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    with D.record() as seen:
        AF.conv(xg, w, b, **kw).relu_().square().sum().backward()
    assert seen == ["taps"]
    F.conv1d(xr, w, b, 1, "same", 64).relu_().square().sum().backward()
    _close(xg.grad, xr.grad)
    with torch.no_grad():
        y = AF.conv(x, w, b, **kw)
    y.add_(1.0)
    # the plan is keyed by the shapes of x and the weight: a wrong bias gets PyTorch's error
    with pytest.raises(RuntimeError, match="bias"):
        AF.conv(x, w, torch.ones(1), **kw)
    with pytest.raises(RuntimeError):
        AF.conv(x, w.double(), b, **kw)


def test_autocast_and_forward_mode_ad_take_the_native_route():
    import torch.autograd.forward_ad as fwAD

    cases = [
        ((1, 32, 1024), (32, 32, 3), dict(padding="same", dilation=64), "taps"),
        ((2, 8, 33, 33), (8, 1, 3, 3), dict(padding=8, dilation=8, groups=8), "dw_direct"),
        ((2, 128, 1024), (4, 128, 3), dict(padding="same", dilation=64), "fold"),
    ]
    for xs, ws, kw, route in cases:
        x, w = _t(*xs), _t(*ws, seed=1)
        with D.record() as seen:
            for _ in range(2):  # the decision and (where there is one) the call plan
                AF.conv(x, w, **kw)
        assert seen == [route] * 2
        with torch.autocast("cpu", dtype=torch.bfloat16):
            with D.record() as seen:
                y = AF.conv(x, w, **kw)
            assert seen == ["native"]
            ref = F.conv1d(x, w, None, 1, "same", 64) if x.dim() == 3 else F.conv2d(x, w, None, 1, 8, 8, 8)
        assert y.dtype == ref.dtype == torch.bfloat16
        torch.testing.assert_close(y, ref, rtol=0, atol=0)
        tangent = _t(*xs, seed=5)
        with fwAD.dual_level(), D.record() as seen:
            out = AF.conv(fwAD.make_dual(x, tangent), w, **kw)
            jvp = fwAD.unpack_dual(out).tangent
        assert seen == ["native"]
        _close(jvp, AF.conv(tangent, w, **kw))


def test_functorch_and_tracing_take_the_native_route():
    w = _t(8, 1, 3, 3)
    xs = _t(3, 2, 8, 20, 20)
    with D.record() as seen:
        out = torch.func.vmap(lambda xi: AF.conv(xi, w, padding=8, dilation=8, groups=8))(xs)
    assert seen == ["native"]
    _close(out, torch.stack([F.conv2d(xi, w, None, 1, 8, 8, 8) for xi in xs]))
    with warnings.catch_warnings(), D.record() as seen:
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda x: AF.conv(x, w, padding=8, dilation=8, groups=8), (xs[0],), check_trace=False)
    assert seen == ["native"]
    assert "conv" in str(traced.graph)
    _close(traced(xs[1]), F.conv2d(xs[1], w, None, 1, 8, 8, 8))


# --------------------------------------------------------------------------- never changes results


def _random_config(rng: random.Random):
    nd = rng.choice([1, 1, 2, 2, 3])
    n = rng.choice([1, 2])
    if nd == 1:
        n = rng.choice([1, 2, 4])
    kind = rng.choice(["dense", "depthwise", "grouped"])
    cin = rng.choice([2, 4, 6, 16])  # 16: a whole oneDNN channel block (the 1-d fold rule)
    if kind == "depthwise":
        groups, cout = cin, cin
    elif kind == "grouped":
        groups, cout = 2, rng.choice([2, 4])
    else:
        groups, cout = 1, rng.choice([1, 3, 4])
    k = tuple(rng.choice([1, 2, 3, 3, 5]) for _ in range(nd))
    if nd == 1:
        length = rng.choice([17, 64, 96, 128, 256, 32768])
        sizes = (length,)
        d = (rng.choice([1, 2, 8, 16, 32, 64]),)
    else:
        sizes = tuple(rng.choice([5, 9, 12, 16]) for _ in range(nd))
        d = tuple(rng.choice([1, 2, 3, 8]) for _ in range(nd))
    stride = tuple(rng.choice([1, 1, 1, 2]) for _ in range(nd))
    modes = ["zeros", "zeros", "reflect", "replicate", "circular"]
    mode = rng.choice(modes)
    choice = rng.choice(["int", "pairs", "same", "causal", "full", "valid"])
    if choice == "int":
        padding = rng.choice([0, 1, 3, 7, 8, 12])
    elif choice == "pairs":
        padding = tuple((rng.choice([0, 1, 4, 8]), rng.choice([0, 2, 7, 9])) for _ in range(nd))
    elif choice == "causal" and nd == 1:
        padding = "causal"
    elif choice == "full":
        padding = "full"
    elif choice == "valid":
        padding = "valid"
    else:
        padding = "same"
    return dict(
        nd=nd,
        x=(n, cin, *sizes),
        w=(cout, cin // groups, *k),
        groups=groups,
        stride=stride,
        padding=padding,
        dilation=d,
        padding_mode=mode,
    )


def test_dispatcher_never_changes_results():
    rng = random.Random(1234)
    routes, checked = set(), 0
    for i in range(400):
        c = _random_config(rng)
        x, w, b = _t(*c["x"], seed=i), _t(*c["w"], seed=i + 1), _t(c["w"][0], seed=i + 2)
        kw = dict(
            stride=c["stride"],
            padding=c["padding"],
            dilation=c["dilation"],
            groups=c["groups"],
            padding_mode=c["padding_mode"],
        )
        try:
            with D.force("native"):
                ref = AF.conv(x, w, b, **kw)
        except Exception:  # an impossible configuration (input too small, padding too large for the mode)
            continue
        with D.record() as seen:
            y = AF.conv(x, w, b, **kw)
        routes.update(seen)
        _close(y, ref)
        checked += 1
    assert checked > 150
    assert {"native", "dw_direct", "fold"} <= routes


def test_every_fold_plan_is_exact():
    """The fold route forced on random configurations (pure views, padded and cropped widths,
    asymmetric paddings, strides along the other axis) against the native call, with gradients."""
    rng = random.Random(99)
    checked = 0
    for i in range(500):
        c = _random_config(rng)
        if c["nd"] == 3 or c["padding_mode"] != "zeros":
            continue
        # float64: the plan is what is tested, not float32 rounding of long gradient sums
        x, w, b = (_t(*c["x"], seed=i).double(), _t(*c["w"], seed=i + 1).double(), _t(c["w"][0], seed=i + 2).double())
        kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
        try:
            with D.force("native"):
                AF.conv(x, w, b, **kw)
        except Exception:
            continue
        for route in ("fold", "fold_pad"):
            with D.force(route, strict=False), D.record() as seen:
                AF.conv(x, w, b, **kw)
            if seen == [route]:
                _compare(_conv, route, x, w, b, **kw)
                checked += 1
    assert checked > 80


def test_autotune_times_relative_to_the_rule():
    calls = []
    timings = autotune.time_candidates(
        {"native": lambda: calls.append("native"), "pad_w": lambda: calls.append("pad_w")}, "native", budget=0.01
    )
    assert timings["native"] == 1.0 and timings["pad_w"] > 0
    assert calls.count("native") == calls.count("pad_w") + 1 >= 6  # (+1: the call that sizes the rounds)


def test_dispatcher_never_changes_gradients_of_layers():
    rng = random.Random(99)
    for i in range(12):
        c = _random_config(rng)
        if c["padding_mode"] != "zeros":
            continue
        cls = {1: ann.Conv1d, 2: ann.Conv2d, 3: ann.Conv3d}[c["nd"]]
        try:
            layer = cls(
                c["x"][1],
                c["w"][0],
                c["w"][2:],
                stride=c["stride"],
                padding=c["padding"],
                dilation=c["dilation"],
                groups=c["groups"],
            )
            x = _t(*c["x"], seed=i).requires_grad_()
            with D.force("native"):
                ref = layer(x)
        except Exception:
            continue
        (gx_ref, gw_ref) = torch.autograd.grad(ref.sum(), (x, layer.weight))
        y = layer(x)
        gx, gw = torch.autograd.grad(y.sum(), (x, layer.weight))
        _close(y, ref)
        _close(gx, gx_ref)
        _close(gw, gw_ref)


# --------------------------------------------------------------------------- autotune cache


def _tune_case():
    return _t(1, 8, 24, 24), _t(32, 8, 3, 3)  # dense, batch 1, 32 channels, W padding 12: ambiguous


@pytest.fixture
def tuning(monkeypatch, tmp_path):
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ATROUS_AUTOTUNE", "1")
    monkeypatch.setattr(autotune, "AUTOTUNE_MIN_MACS", 0)
    calls = []

    def fake(fns, reference, budget=1.0):  # deterministic "timings": pad_w wins by 20%
        calls.append(sorted(fns))
        return {name: (0.8 if name == "pad_w" else 1.0) for name in fns}

    monkeypatch.setattr(autotune, "time_candidates", fake)
    D.reset()
    return tmp_path, calls


def test_autotune_picks_the_winner_and_caches_it_atomically(tuning, monkeypatch):
    path, calls = tuning
    x, w = _tune_case()
    assert _route(x, w, padding=12, dilation=12) == "pad_w"
    assert calls == [["channels_last", "native", "pad_w"]]
    data = json.loads((path / "autotune.json").read_text())
    assert data["env"] == autotune.env_id() and list(data["routes"].values()) == ["pad_w"]
    assert sorted(p.name for p in path.iterdir() if "autotune" in p.name) == ["autotune.json"]  # no temp file left
    # a new process (reset) reads the cache instead of timing again
    D.reset()
    monkeypatch.setattr(autotune, "time_candidates", lambda *a, **k: pytest.fail("timed again"))
    assert _route(x, w, padding=12, dilation=12) == "pad_w"


def test_autotune_keeps_the_rule_without_a_clear_win(tuning, monkeypatch):
    monkeypatch.setattr(
        autotune,
        "time_candidates",
        lambda fns, reference, budget=1.0: {n: (0.97 if n == "pad_w" else 1.0) for n in fns},
    )
    x, w = _tune_case()
    assert _route(x, w, padding=12, dilation=12) == "native"


def test_autotune_keeps_native_unless_another_route_beats_it(tuning, monkeypatch):
    x, w = _t(1, 32, 4096), _t(32, 32, 3)  # 1-d, big, blocked channels: the rule folds
    for ratio, expected in ((0.97, "native"), (0.8, "fold")):
        monkeypatch.setattr(
            autotune,
            "time_candidates",
            lambda fns, reference, budget=1.0, f=ratio: {n: (f if n == "fold" else 1.0) for n in fns},
        )
        D.reset()
        assert _route(x, w, padding="same", dilation=64) == expected
        (tuning[0] / "autotune.json").unlink()


def test_autotune_times_a_close_call_twice(tuning, monkeypatch):
    x, w = _t(1, 32, 4096), _t(32, 32, 3)  # 1-d, big, blocked channels: the rule folds
    for first, second, expected, calls in (
        (0.95, 0.85, "fold", 2),  # close to the margin: measured again, the mean (0.90) decides
        (0.95, 0.97, "native", 2),
        (0.80, None, "fold", 1),  # clear: one measurement
        (1.10, None, "native", 1),
    ):
        seen = []

        def fake(fns, reference, budget=1.0, first=first, second=second, seen=seen):
            seen.append(reference)
            f = first if len(seen) == 1 else second
            return {n: (f if n == "fold" else 1.0) for n in fns}

        monkeypatch.setattr(autotune, "time_candidates", fake)
        D.reset()
        assert _route(x, w, padding="same", dilation=64) == expected
        assert len(seen) == calls
        (tuning[0] / "autotune.json").unlink()


def test_autotune_write_failure_leaves_the_old_cache(tuning, monkeypatch):
    path, _ = tuning
    x, w = _tune_case()
    _route(x, w, padding=12, dilation=12)
    before = (path / "autotune.json").read_text()

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken)
    D.reset()
    with pytest.warns(RuntimeWarning, match="cannot write"):
        _route(x, w, padding=9, dilation=9)
    assert (path / "autotune.json").read_text() == before
    assert sorted(p.name for p in path.iterdir() if "autotune" in p.name) == ["autotune.json"]


def test_corrupt_cache_is_ignored_with_a_warning(tuning):
    path, calls = tuning
    (path / "autotune.json").write_text("{not json")
    x, w = _tune_case()
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert _route(x, w, padding=12, dilation=12) == "pad_w"
    assert calls  # it re-tuned
    json.loads((path / "autotune.json").read_text())  # and rewrote a valid file


def test_stale_cache_is_ignored_with_a_warning(tuning):
    path, calls = tuning
    x, w = _tune_case()
    key = autotune.cache_key("conv", x, w, (1, 1), ((12, 12), (12, 12)), (12, 12), 1)
    (path / "autotune.json").write_text(json.dumps({"env": "rules=0;torch=0.0", "routes": {key: "native"}}))
    with pytest.warns(RuntimeWarning, match="stale"):
        assert _route(x, w, padding=12, dilation=12) == "pad_w"
    assert calls


def test_autotune_may_pick_the_subpixel_form_for_big_transposed_convolutions(tuning, monkeypatch):
    monkeypatch.setattr(
        autotune,
        "time_candidates",
        lambda fns, reference, budget=1.0: {n: (0.8 if n == "subpixel" else 1.0) for n in fns},
    )
    x, w = _t(1, 128, 128, 128), _t(128, 2, 4, 4)
    with D.record() as seen:
        y = AF.conv_transpose(x, w, stride=2, padding=1)
    assert seen == ["subpixel"]
    _close(y, F.conv_transpose2d(x, w, None, 2, 1))
    small = _t(1, 128, 16, 16)
    with D.record() as seen:
        AF.conv_transpose(small, w, stride=2, padding=1)
    assert seen == ["native"]  # not a candidate: too small


def test_autotune_opt_out(tuning, monkeypatch):
    path, calls = tuning
    monkeypatch.setenv("ATROUS_AUTOTUNE", "0")
    D.reset()
    x, w = _tune_case()
    assert _route(x, w, padding=12, dilation=12) == "native"
    assert calls == [] and not (path / "autotune.json").exists()


AMBIGUOUS = dict(padding=12, dilation=12)  # dense, batch 1, 32 channels, W padding 12: the autotune decides


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 200000,
        b'{"a":' * 100000 + b"1" + b"}" * 100000,
        b"\xff\xfe garbage",
        b"",
        b'{"env": 1, "routes": [1, 2]}',
        b"null",
    ],
    ids=["nested-200000", "nested-objects", "not-utf8", "empty", "wrong-types", "null"],
)
def test_an_unreadable_autotune_cache_is_reported_once_and_rewritten(tuning, content):
    path, calls = tuning[0] / "autotune.json", tuning[1]
    path.write_bytes(content)
    x, w = _t(1, 8, 24, 24), _t(32, 8, 3, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _route(x, w, **AMBIGUOUS) == "pad_w"
        assert _route(x, w, padding=9, dilation=9) == "pad_w"  # a second decision: no second warning
    messages = [str(m.message) for m in caught if issubclass(m.category, RuntimeWarning)]
    assert len(messages) == 1 and "corrupt autotune cache" in messages[0] and "rewritten" in messages[0]
    data = json.loads(path.read_text())
    assert data["env"] == autotune.env_id() and sorted(data["routes"].values()) == ["pad_w", "pad_w"]
    # the next process finds a good file: no warning, nothing timed again
    D.reset()
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _route(x, w, **AMBIGUOUS) == "pad_w"
    assert calls == []


def test_a_huge_autotune_cache_is_not_read(tuning, monkeypatch):
    path = tuning[0] / "autotune.json"
    monkeypatch.setattr(autotune, "MAX_CACHE_BYTES", 100)
    path.write_text(json.dumps({"env": autotune.env_id(), "routes": {str(i): "native" for i in range(20)}}))
    with pytest.warns(RuntimeWarning, match="more than the 100"):
        assert _route(_t(1, 8, 24, 24), _t(32, 8, 3, 3), **AMBIGUOUS) == "pad_w"


# --------------------------------------------------------------------------- deterministic mode


@pytest.mark.parametrize("how", ["env", "torch"])
def test_deterministic_mode_never_times_nor_reads_the_autotune_cache(tuning, monkeypatch, how):
    path, calls = tuning[0] / "autotune.json", tuning[1]
    x, w = _t(1, 8, 24, 24), _t(32, 8, 3, 3)
    key = autotune.cache_key("conv", x, w, (1, 1), ((12, 12), (12, 12)), (12, 12), 1)
    path.write_text(json.dumps({"env": autotune.env_id(), "routes": {key: "pad_w"}}))
    before = path.read_text()
    if how == "env":
        monkeypatch.setenv("ATROUS_DETERMINISTIC", "1")
        D.reset()
    was = torch.are_deterministic_algorithms_enabled()
    try:
        if how == "torch":
            torch.use_deterministic_algorithms(True)
        assert D.deterministic()
        assert _route(x, w, **AMBIGUOUS) == "native"  # the rule's route, not the cached or timed one
    finally:
        torch.use_deterministic_algorithms(was)
    assert calls == [] and path.read_text() == before
    table = D.route_table()
    assert [(r["route"], r["by"]) for r in table] == [("native", "rule")]


def test_a_timed_decision_is_not_used_once_deterministic_mode_is_on(tuning, monkeypatch):
    calls = tuning[1]
    x, w = _t(1, 8, 24, 24), _t(32, 8, 3, 3)
    assert _route(x, w, **AMBIGUOUS) == "pad_w" and len(calls) == 1
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    for _ in range(2):
        assert _route(x, w, **AMBIGUOUS) == "native"
    # a timed native decision's call plan is not used either
    big = _t(1, 32, 4096), _t(32, 32, 3)  # 1-d, big, blocked channels: the rule folds
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: False)
    monkeypatch.setattr(autotune, "time_candidates", lambda fns, reference, budget=1.0: dict.fromkeys(fns, 1.0))
    for _ in range(2):
        assert _route(*big, padding="same", dilation=64) == "native"  # timed: no clear win
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert _route(*big, padding="same", dilation=64) == "fold"


# --------------------------------------------------------------------------- the C kernel


def test_kernel_is_built_once_into_the_cache_dir(tmp_path, monkeypatch):
    if _ckernel._compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_ckernel, "_state", {})
    assert _ckernel.load() is not None
    built = list(tmp_path.glob("dwconv-*.so"))
    assert len(built) == 1
    monkeypatch.setattr(_ckernel, "_state", {})
    monkeypatch.setattr(_ckernel, "_build", lambda *a: pytest.fail("rebuilt"))
    assert _ckernel.load() is not None


def test_without_the_kernel_depthwise_falls_back_to_padding(monkeypatch):
    monkeypatch.setattr(_ckernel, "_state", {})
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setattr(_ckernel.shutil, "which", lambda name: None)
    with pytest.warns(RuntimeWarning, match="unavailable"):
        assert _ckernel.load() is None
    D.reset()
    x, w, b = _t(2, 8, 33, 33), _t(8, 1, 3, 3), _t(8)
    with D.record() as seen:
        y = AF.conv(x, w, b, padding=8, dilation=8, groups=8)
    assert seen == ["pad_w"]
    _close(y, F.conv2d(x, w, b, 1, 8, 8, 8))
    _close(_conv("dw_direct", x, w, b, padding=8, dilation=8, groups=8), F.conv2d(x, w, b, 1, 8, 8, 8))
    monkeypatch.setattr(_ckernel, "_state", {})
    monkeypatch.setenv("ATROUS_COMPILE", "0")
    assert _ckernel.load() is None  # opted out: silent


def test_fold_call_plans_are_exact_in_value_and_gradient():
    x, w, b = _t(2, 32, 4096), _t(8, 32, 3), _t(8)  # big 1-d, channels in blocks: the rule folds
    spec = AF.resolve_conv((3,), (4096,), 1, "same", 64)
    ref = F.conv1d(x, w, b, 1, "same", 64)
    with D.record() as seen:
        for _ in range(3):  # decide, keep the plan, use it
            _close(AF.apply_conv(x, w, b, spec, 1, "zeros"), ref)
    assert seen == ["fold"] * 3
    plans = [p for p in state.STATE.plans.values() if p.route == "fold"]
    assert len(plans) == 1 and plans[0].extra == ((2, 32, 64, 64), (2, 8, 4096))
    # through the plan with autograd: the same gradients as PyTorch's call
    xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
    with D.record() as seen:
        AF.apply_conv(xg, wg, bg, spec, 1, "zeros").square().sum().backward()
    assert seen == ["fold"]
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    F.conv1d(xr, wr, br, 1, "same", 64).square().sum().backward()
    for a, r in ((xg, xr), (wg, wr), (bg, br)):
        _close(a.grad, r.grad)
    # a non-contiguous input of the same shape leaves the plan for the native route
    xt = x.transpose(0, 1).contiguous().transpose(0, 1)
    assert not xt.is_contiguous()
    with D.record() as seen:
        _close(AF.apply_conv(xt, w, b, spec, 1, "zeros"), ref)
    assert seen == ["native"]
    # asymmetric padding (a padded fold) keeps no plan
    spec_c = AF.resolve_conv((3,), (4096,), 1, "causal", 64)
    for _ in range(2):
        _close(AF.apply_conv(x, w, b, spec_c, 1, "zeros"), F.conv1d(F.pad(x, (128, 0)), w, b, 1, 0, 64))
    assert len([p for p in state.STATE.plans.values() if p.route == "fold"]) == 1


def test_transposed_native_plans_are_exact_and_yield_to_forced_routes():
    x, w, b = _t(2, 16, 12, 12), _t(16, 8, 4, 4), _t(8)
    spec = AF.resolve_conv_transpose((4, 4), (12, 12), 2, 1, 1, 0, None)
    ref = F.conv_transpose2d(x, w, b, 2, 1)
    with D.record() as seen:
        for _ in range(3):  # the first call decides and keeps a plan, the next ones use it
            _close(AF.apply_conv_transpose(x, w, b, spec, 1), ref)
    assert seen == ["native"] * 3
    plans_t = state.STATE.plans_t
    assert len(plans_t) == 1 and next(iter(plans_t))[:2] == (x.shape, w.shape)
    with D.force("subpixel"), D.record() as seen:
        _close(AF.apply_conv_transpose(x, w, b, spec, 1), ref)
    assert seen == ["subpixel"]
    # another input size with the same spec object, and output_padding through the plan
    x2 = _t(1, 16, 7, 9)
    _close(AF.apply_conv_transpose(x2, w, b, spec, 1), F.conv_transpose2d(x2, w, b, 2, 1))
    spec_op = AF.resolve_conv_transpose((4, 4), (7, 9), 2, 1, 1, (1, 0), None)
    for _ in range(2):
        _close(AF.apply_conv_transpose(x2, w, b, spec_op, 1), F.conv_transpose2d(x2, w, b, 2, 1, (1, 0)))
    # asymmetric padding keeps no plan and stays exact
    spec_asym = AF.resolve_conv_transpose((4, 4), (12, 12), 2, ((1, 2), (2, 1)), 1, 0, None)
    full = F.conv_transpose2d(x, w, b, 2, 0)
    before = len(plans_t)
    for _ in range(2):
        _close(AF.apply_conv_transpose(x, w, b, spec_asym, 1), full[:, :, 1:-2, 2:-1])
    assert len(plans_t) == before
    D.reset()
    assert not plans_t


# --------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_calls_stay_native_and_exact():
    x = _t(2, 8, 33, 33).cuda()
    w = _t(8, 1, 3, 3).cuda()
    with D.record() as seen:
        y = AF.conv(x, w, padding=8, dilation=8, groups=8)
    assert seen == ["native"]
    _close(y, F.conv2d(x, w, None, 1, 8, 8, 8))
    wt = _t(8, 4, 4, 4).cuda()
    _close(AF.conv_transpose(x, wt, stride=2, padding=1), F.conv_transpose2d(x, wt, None, 2, 1))
