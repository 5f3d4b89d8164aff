"""atrous.functional against the float64 reference, numpy padding modes, and torch itself."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atrous import functional as AF
from atrous import nn as ann
from atrous import reference as R
from atrous.errors import SpecError
from atrous.geometry import ConvSpec

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _oracle(x, w, b, stride, padding, dilation, groups, mode):
    """Pad with numpy in the given mode (an independent implementation), then the reference conv."""
    spec = ConvSpec(w.shape[2:], stride, padding, dilation, ndim=w.ndim - 2).resolve(x.shape[2:])
    xp = np.pad(x, [(0, 0), (0, 0), *spec.pads], mode=NP_MODES[mode])
    return R.conv(xp, w, b, stride, 0, dilation, groups)


def _configs(nd, count, seed):
    rng = np.random.default_rng(seed)
    paddings = ["valid", "same", "causal", "full", 0, 1, 2]
    for _ in range(count):
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 3, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        choice = rng.integers(0, len(paddings) + 1)
        if choice == len(paddings):
            pad = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(nd))
        else:
            pad = paddings[choice]
        groups = int(rng.choice([1, 2]))
        mode = str(rng.choice(list(NP_MODES)))
        n = tuple(int(v) for v in rng.integers(5, 9, nd))
        yield k, s, d, pad, groups, mode, n


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_reference_every_padding_form_and_mode(nd):
    rng = np.random.default_rng(nd)
    checked = 0
    for k, s, d, pad, groups, mode, n in _configs(nd, 60 if nd < 3 else 25, nd):
        x = rng.standard_normal((2, 2 * groups, *n))
        w = rng.standard_normal((2 * groups, 2, *k))
        b = rng.standard_normal(2 * groups)
        try:
            expected = _oracle(x, w, b, s, pad, d, groups, mode)
        except (SpecError, ValueError):
            with pytest.raises(SpecError):
                AF.conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), s, pad, d, groups, mode)
            continue
        got = AF.conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), s, pad, d, groups, mode)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-10, err_msg=str((k, s, d, pad, mode)))
        checked += 1
    assert checked > 10


def test_same_with_stride_where_torch_refuses():
    x = torch.randn(1, 3, 11, 10, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w, stride=2, padding="same")
    y = AF.conv(x, w, stride=2, padding="same", dilation=2)
    assert y.shape[2:] == (6, 5)
    np.testing.assert_allclose(
        y.numpy(), R.conv(x.numpy(), w.numpy(), stride=2, padding="same", dilation=2), atol=1e-10
    )


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_same_stride_one_equals_torch_same():
    for k, d in itertools.product((2, 3, 4, 5), (1, 2, 3)):
        x = torch.randn(2, 2, 13, dtype=torch.float64)
        w = torch.randn(3, 2, k, dtype=torch.float64)
        torch.testing.assert_close(
            AF.conv(x, w, padding="same", dilation=d), F.conv1d(x, w, padding="same", dilation=d)
        )


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_matches_reference(nd):
    rng = np.random.default_rng(10 + nd)
    checked = 0
    for _ in range(40 if nd < 3 else 15):
        k = tuple(int(v) for v in rng.integers(1, 5, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        pad = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(nd))
        op = tuple(int(rng.integers(0, max(a, b))) for a, b in zip(s, d, strict=True))
        groups = int(rng.choice([1, 2]))
        n = tuple(int(v) for v in rng.integers(2, 6, nd))
        x = rng.standard_normal((2, 2 * groups, *n))
        w = rng.standard_normal((2 * groups, 3, *k))
        b = rng.standard_normal(3 * groups)
        try:
            expected = R.conv_transpose(x, w, b, s, pad, op, groups, d)
        except SpecError:
            continue
        got = AF.conv_transpose(torch.tensor(x), torch.tensor(w), torch.tensor(b), s, pad, op, groups, d)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-10)
        checked += 1
    assert checked > 5


def test_conv_transpose_output_size_and_errors():
    x = torch.randn(1, 4, 5, dtype=torch.float64)
    w = torch.randn(4, 2, 3, dtype=torch.float64)
    for target in (9, 10):
        y = AF.conv_transpose(x, w, stride=2, padding=1, output_size=target)
        torch.testing.assert_close(y, F.conv_transpose1d(x, w, stride=2, padding=1, output_padding=target - 9))
    y = AF.conv_transpose(x, w, stride=2, padding=1, output_size=[1, 2, 10])  # torch's full shape
    assert y.shape[-1] == 10
    with pytest.raises(SpecError, match="valid output sizes are 9 to 10"):
        AF.conv_transpose(x, w, stride=2, padding=1, output_size=11)
    # transposed 'same' gives n * s
    assert AF.conv_transpose(x, w, stride=3, padding="same").shape[-1] == 15


def test_conv_is_adjoint_of_conv_transpose():
    torch.manual_seed(0)
    for k, s, d, pad in [(3, 2, 1, ((1, 0),)), (4, 3, 2, ((2, 3),)), (2, 2, 3, "same")]:
        n = 11
        x = torch.randn(1, 1, n, dtype=torch.float64)
        w = torch.randn(1, 1, k, dtype=torch.float64)
        spec = ConvSpec(k, s, pad, d).resolve(n)
        y = AF.conv(x, w, stride=s, padding=spec.pads, dilation=d)
        v = torch.randn_like(y)
        back = AF.conv_transpose(v, w, stride=s, padding=spec.pads, dilation=d, output_size=n)
        torch.testing.assert_close((y * v).sum(), (x * back).sum())


def test_gradcheck():
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: AF.conv(x, w, b, (2, 1), ((2, 0), (1, 1)), (1, 2), 2, "reflect"), (x, w, b)
    )
    wt = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w: AF.conv_transpose(x, w, None, 2, ((2, 0), (0, 1)), 1, 1, (1, 2)), (x, wt)
    )


def test_unbatched_and_errors():
    x = torch.randn(2, 9)
    w = torch.randn(3, 2, 3)
    assert AF.conv(x, w, padding="same").shape == (3, 9)
    with pytest.raises(SpecError, match=r"input has 2 channels but weight.shape\[1\]=1 with groups=1 expects 1"):
        AF.conv(x, torch.randn(3, 1, 3))
    with pytest.raises(SpecError, match="padding_mode must be one of"):
        AF.conv(x, w, padding=1, padding_mode="mirror")
    with pytest.raises(SpecError, match="needs padding of at most 8"):
        AF.conv(x, w, padding=9, padding_mode="reflect")
    with pytest.raises(SpecError, match="minimum input size is 9"):
        AF.conv(x[:, :5], w, dilation=4)
    with pytest.raises(SpecError, match=r"1 to 3 spatial axes|3 to 5 dimensions"):
        AF.conv(x, torch.randn(3, 2))


def test_front_end_cache_never_accepts_what_it_would_reject():
    """conv() caches resolved specs by their raw arguments: equal-comparing arguments of other
    types (True, 2.0, NumPy ints) are checked every time, and a too-small input still raises
    after the same arguments succeeded on a larger one."""
    x, w = torch.randn(1, 2, 16), torch.randn(2, 2, 3)
    ref = F.conv1d(x, w, None, 1, 2, 2)
    for _ in range(2):
        torch.testing.assert_close(AF.conv(x, w, None, 1, 2, 2), ref)
    with pytest.raises(SpecError, match="dilation"):
        AF.conv(x, w, None, 1, 2, True)
    with pytest.raises(SpecError, match="stride"):
        AF.conv(x, w, None, 1.0, 2, 2)
    torch.testing.assert_close(AF.conv(x, w, None, np.int64(1), 2, np.int64(2)), ref)
    with pytest.raises(SpecError):
        AF.conv(torch.randn(1, 2, 1), w, None, 1, 0, 2)
    AF.conv(torch.randn(1, 2, 8), w, None, 1, 0, 2)
    with pytest.raises(SpecError):
        AF.conv(torch.randn(1, 2, 1), w, None, 1, 0, 2)
    assert AF.resolve_conv((3,), (16,), 1, "same", 2) is AF.resolve_conv((3,), (16,), 1, "same", 2)


def test_transposed_front_end_cache_keeps_its_checks():
    x, w = torch.randn(1, 2, 5), torch.randn(2, 2, 4)
    for _ in range(2):
        y = AF.conv_transpose(x, w, None, 2, 1, output_size=(11,))
        torch.testing.assert_close(y, F.conv_transpose1d(x, w, None, 2, 1, 1))
    for _ in range(2):
        with pytest.raises(SpecError, match="output_size"):
            AF.conv_transpose(x, w, None, 2, 1, output_size=(13,))
    with pytest.raises(SpecError, match="stride"):
        AF.conv_transpose(x, w, None, 2.0, 1, output_size=(11,))
    spec = AF.resolve_conv_transpose((4,), (5,), 2, 1, output_size=(11,))
    assert spec is AF.resolve_conv_transpose((4,), (5,), 2, 1, output_size=(11,))
    assert spec.output_padding == (1,)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((1, 2, 3), (2, 2, 3), dict(padding=5)),  # output -5
        ((1, 2, 3), (2, 2, 3), dict(padding=((2, 3),))),  # output 0 (used to be an empty tensor)
        ((1, 2, 4, 4), (2, 3, 3, 3), dict(padding=((0, 0), (5, 5)), stride=2)),
        ((1, 2, 4, 4), (2, 3, 3, 3), dict(padding=((0, 9), (0, 0)))),
    ],
)
def test_conv_transpose_with_an_empty_output_raises_the_layers_error(xs, ws, kw):
    x, w = torch.randn(*xs), torch.randn(*ws)
    with pytest.raises(SpecError, match="removes more than the transposed convolution produces") as functional:
        AF.conv_transpose(x, w, **kw)
    layer = (ann.ConvTranspose1d if len(xs) == 3 else ann.ConvTranspose2d)(ws[0], ws[1], ws[2:], **kw)
    with pytest.raises(SpecError) as module:
        layer(x)
    assert str(functional.value) == str(module.value)
    with pytest.raises(SpecError, match="removes more than"):  # and again (the front end's cache keeps the check)
        AF.conv_transpose(x, w, **kw)


def test_apply_with_an_unresolved_spec_says_so():
    x, w = torch.randn(1, 2, 9), torch.randn(2, 2, 3)
    spec = ConvSpec(3, padding="same")
    for mode in ("zeros", "reflect"):
        with pytest.raises(SpecError, match=r"padding\[0\]='same' is a mode: call resolve\(input_size\) first"):
            AF.apply_conv(x, w, None, spec, 1, mode)
    with pytest.raises(SpecError, match="is a mode"):
        AF.apply_conv_transpose(x, w, None, ConvSpec(3, padding="full", transposed=True), 1)
