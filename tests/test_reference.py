"""``atrous.reference`` (the float64 NumPy oracle) against PyTorch and SciPy.

Convolutions and transposed convolutions in 1, 2 and 3-d with stride, symmetric and
asymmetric padding (torch: ``F.pad`` for a convolution; for a transposed convolution torch's
symmetric-padding output, cropped), dilation, groups, bias and output_padding, over a seeded
sweep and hypothesis. Where torch refuses a configuration the oracle must raise
``SpecError``. Then ``dilate_kernel`` (zero insertion), the ``scipy.signal.convolve2d``
demonstration, and ``conv_matrix`` (the Toeplitz form, its adjoint and torch's transposed
convolution with the ``output_padding`` chosen by ``atrous.geometry.invert``).
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import signal  # noqa: E402

from atrous import reference as ref  # noqa: E402
from atrous.geometry import ConvSpec, SpecError, invert  # noqa: E402

DT = torch.float64
TOL = 1e-10
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
REFUSED = "refused"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Thousands of tiny ops: one intra-op thread is much faster than an OpenMP pool (whose
    idle threads spin) when pytest-xdist already runs a worker per core. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    e = d * (k - 1) + 1
    total = max(e - s, 0) if n % s == 0 else max(e - n % s, 0)
    return total // 2, total - total // 2


def flat_pad(pads) -> list[int]:
    """(lo, hi) per axis, first axis first -> F.pad's order (last axis first)."""
    return [v for lo_hi in reversed(pads) for v in lo_hi]


def torch_conv(x, w, b, stride, pads, dilation, groups):
    """torch convolution with explicit (lo, hi) zero padding per axis; REFUSED if torch raises."""
    nd = x.ndim - 2
    try:
        out = CONV[nd](
            F.pad(torch.from_numpy(x), flat_pad(pads)),
            torch.from_numpy(w),
            None if b is None else torch.from_numpy(b),
            stride,
            0,
            dilation,
            groups,
        )
    except RuntimeError:
        return REFUSED
    return out.numpy()


def torch_conv_transpose(x, w, b, stride, pads, output_padding, groups, dilation):
    """torch transposed convolution with (lo, hi) per axis: torch with the symmetric padding
    min(lo, hi), then the rest cropped (lo from the start, hi from the end)."""
    nd = x.ndim - 2
    sym = [min(lo, hi) for lo, hi in pads]
    try:
        out = CONVT[nd](
            torch.from_numpy(x),
            torch.from_numpy(w),
            None if b is None else torch.from_numpy(b),
            stride,
            sym,
            output_padding,
            groups,
            dilation,
        )
    except RuntimeError:
        return REFUSED
    crop = tuple(
        slice(lo - p, out.shape[2 + i] - (hi - p)) for i, ((lo, hi), p) in enumerate(zip(pads, sym, strict=True))
    )
    out = out[(slice(None), slice(None), *crop)]
    if min(out.shape[2:]) < 1:
        return REFUSED
    return out.numpy()


def oracle(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except SpecError:
        return REFUSED


def assert_same(got, want, context) -> None:
    if isinstance(want, str) or isinstance(got, str):
        assert isinstance(got, str) and isinstance(want, str), (
            context,
            "torch" if isinstance(want, str) else "oracle",
            "refused",
        )
        return
    assert got.shape == want.shape, (context, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=str(context))


# --------------------------------------------------------------------------- random cases


class _Picker:
    """``integers(lo, hi)`` and ``choice(seq)`` from a seeded ``random.Random`` or from a
    hypothesis ``draw`` (so that hypothesis shrinks the shapes themselves)."""

    def __init__(self, rng: random.Random | None = None, draw=None) -> None:
        self.rng, self.draw = rng, draw

    def integers(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi) if self.draw is None else self.draw(st.integers(lo, hi))

    def choice(self, seq):
        return self.rng.choice(seq) if self.draw is None else self.draw(st.sampled_from(seq))


def _case(pick: _Picker, nd: int, transposed: bool) -> dict:
    g = pick.choice([1, 1, 2, 3])
    c_in, c_out = g * pick.integers(1, 2), g * pick.integers(1, 2)
    top = {1: 12, 2: 8, 3: 5}[nd]
    n = [pick.integers(1, top) for _ in range(nd)]
    k = [pick.integers(1, 4 if nd < 3 else 3) for _ in range(nd)]
    s = [pick.integers(1, 3) for _ in range(nd)]
    d = [pick.integers(1, 3) for _ in range(nd)]
    style = pick.choice(["sym", "asym"] + ([] if transposed else ["mode"]))
    if style == "sym":
        pads = [(p, p) for p in (pick.integers(0, 3) for _ in range(nd))]
        padding = [p for p, _ in pads] if nd > 1 or pick.choice([True, False]) else pads[0][0]
    elif style == "asym":
        pads = [(pick.integers(0, 3), pick.integers(0, 3)) for _ in range(nd)]
        padding = tuple(pads)
    else:
        padding = pick.choice(["valid", "same", "causal", "full"])
        spans = [dd * (kk - 1) for kk, dd in zip(k, d, strict=True)]
        pads = [
            {"valid": (0, 0), "causal": (sp, 0), "full": (sp, sp), "same": tf_same(nn, kk, ss, dd)}[padding]
            for sp, nn, kk, ss, dd in zip(spans, n, k, s, d, strict=True)
        ]
    op = [pick.integers(0, max(a, b) - 1) for a, b in zip(s, d, strict=True)] if transposed else [0] * nd
    return dict(
        g=g,
        c_in=c_in,
        c_out=c_out,
        n=n,
        k=k,
        s=s,
        d=d,
        padding=padding,
        pads=pads,
        op=op,
        bias=pick.choice([True, False]),
        batch=pick.integers(1, 2),
    )


@st.composite
def cases(draw, transposed: bool) -> dict:
    return _case(_Picker(draw=draw), draw(st.integers(1, 3)), transposed)


def _arrays(case: dict, seed: int, transposed: bool):
    gen = np.random.default_rng(seed)
    x = gen.standard_normal((case["batch"], case["c_in"], *case["n"]))
    if transposed:
        w = gen.standard_normal((case["c_in"], case["c_out"] // case["g"], *case["k"]))
    else:
        w = gen.standard_normal((case["c_out"], case["c_in"] // case["g"], *case["k"]))
    b = gen.standard_normal(case["c_out"]) if case["bias"] else None
    return x, w, b


def run_conv_case(case: dict, seed: int) -> None:
    x, w, b = _arrays(case, seed, False)
    want = torch_conv(x, w, b, case["s"], case["pads"], case["d"], case["g"])
    got = oracle(ref.conv, x, w, b, stride=case["s"], padding=case["padding"], dilation=case["d"], groups=case["g"])
    assert_same(got, want, case)


def run_conv_transpose_case(case: dict, seed: int) -> None:
    x, w, b = _arrays(case, seed, True)
    want = torch_conv_transpose(x, w, b, case["s"], case["pads"], case["op"], case["g"], case["d"])
    got = oracle(
        ref.conv_transpose,
        x,
        w,
        b,
        stride=case["s"],
        padding=case["padding"],
        output_padding=case["op"],
        groups=case["g"],
        dilation=case["d"],
    )
    assert_same(got, want, case)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_torch_seeded_sweep(nd: int) -> None:
    rng = random.Random(nd)
    for i in range(150 if nd < 3 else 80):
        run_conv_case(_case(_Picker(rng), nd, transposed=False), seed=1000 * nd + i)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_matches_torch_seeded_sweep(nd: int) -> None:
    rng = random.Random(10 + nd)
    for i in range(150 if nd < 3 else 80):
        run_conv_transpose_case(_case(_Picker(rng), nd, transposed=True), seed=1000 * nd + i)


@given(cases(transposed=False), st.integers(0, 2**16))
def test_conv_matches_torch_hypothesis(case: dict, seed: int) -> None:
    run_conv_case(case, seed)


@given(cases(transposed=True), st.integers(0, 2**16))
def test_conv_transpose_matches_torch_hypothesis(case: dict, seed: int) -> None:
    run_conv_transpose_case(case, seed)


def test_conv_exhaustive_1d_small() -> None:
    """Every (n, k, s, d, lo, hi) in a small grid, one channel, against torch (refusals too)."""
    gen = np.random.default_rng(0)
    for n, k, s, d, lo, hi in itertools.product(range(1, 8), range(1, 4), range(1, 3), range(1, 3), range(3), range(3)):
        x = gen.standard_normal((1, 1, n))
        w = gen.standard_normal((1, 1, k))
        case = dict(n=n, k=k, s=s, d=d, pad=(lo, hi))
        assert_same(
            oracle(ref.conv, x, w, stride=s, padding=((lo, hi),), dilation=d),
            torch_conv(x, w, None, [s], [(lo, hi)], [d], 1),
            case,
        )
        for op in range(max(s, d)):
            want = torch_conv_transpose(x, w, None, [s], [(lo, hi)], [op], 1, [d])
            got = oracle(ref.conv_transpose, x, w, stride=s, padding=((lo, hi),), output_padding=op, dilation=d)
            assert_same(got, want, {**case, "op": op})


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv_same_stride_one_matches_torch_same() -> None:
    gen = np.random.default_rng(1)
    for nd, n, k, d in itertools.product([1, 2], range(1, 7), range(1, 5), range(1, 3)):
        x = gen.standard_normal((1, 2, *[n + i for i in range(nd)]))
        w = gen.standard_normal((3, 2, *[k] * nd))
        want = CONV[nd](torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=d).numpy()
        assert_same(ref.conv(x, w, padding="same", dilation=d), want, (nd, n, k, d))


# --------------------------------------------------------------------------- dilate_kernel


def test_dilate_kernel_examples() -> None:
    assert ref.dilate_kernel(np.array([1.0, 2.0, 3.0]), 2).tolist() == [1.0, 0.0, 2.0, 0.0, 3.0]
    w = np.arange(1.0, 1 + 2 * 3 * 2 * 3).reshape(2, 3, 2, 3)
    dk = ref.dilate_kernel(w, (3, 2))
    assert dk.shape == (2, 3, 4, 5)
    assert np.array_equal(dk[..., ::3, ::2], w)
    assert dk.sum() == w.sum() and np.count_nonzero(dk) == w.size
    assert ref.dilate_kernel(w, 1).shape == w.shape
    assert ref.dilate_kernel(w, 2).shape == (2, 3, 3, 5)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_undilated_conv_with_dilated_kernel_equals_dilated_conv(nd: int) -> None:
    rng = random.Random(50 + nd)
    gen = np.random.default_rng(nd)
    for _ in range(40):
        k = [rng.randint(1, 3) for _ in range(nd)]
        d = [rng.randint(1, 4) for _ in range(nd)]
        s = [rng.randint(1, 2) for _ in range(nd)]
        p = [rng.randint(0, 3) for _ in range(nd)]
        n = [dd * (kk - 1) + 1 + rng.randint(0, 5) for kk, dd in zip(k, d, strict=True)]
        x = gen.standard_normal((1, 2, *n))
        w = gen.standard_normal((3, 2, *k))
        dk = ref.dilate_kernel(w, d)
        assert dk.shape == (3, 2, *[dd * (kk - 1) + 1 for kk, dd in zip(k, d, strict=True)])
        dilated = ref.conv(x, w, stride=s, padding=p, dilation=d)
        np.testing.assert_allclose(ref.conv(x, dk, stride=s, padding=p), dilated, rtol=0, atol=TOL)
        tx, tw, tdk = map(torch.from_numpy, (x, w, dk))
        np.testing.assert_allclose(CONV[nd](tx, tdk, stride=s, padding=p).numpy(), dilated, rtol=0, atol=TOL)
        np.testing.assert_allclose(CONV[nd](tx, tw, stride=s, padding=p, dilation=d).numpy(), dilated, rtol=0, atol=TOL)


def test_scipy_convolve2d_demonstration() -> None:
    """scipy's convolve2d flips the kernel: convolve2d(x, flipped dilated kernel, 'valid')
    is the dilated cross-correlation (the reference convolution with dilation)."""
    rng = random.Random(3)
    gen = np.random.default_rng(3)
    for _ in range(40):
        k = (rng.randint(1, 4), rng.randint(1, 4))
        d = (rng.randint(1, 4), rng.randint(1, 4))
        n = tuple(dd * (kk - 1) + 1 + rng.randint(0, 6) for kk, dd in zip(k, d, strict=True))
        x = gen.standard_normal(n)
        w = gen.standard_normal(k)
        dk = ref.dilate_kernel(w, d)
        want = ref.conv(x[None, None], w[None, None], dilation=d)[0, 0]
        np.testing.assert_allclose(signal.convolve2d(x, dk[::-1, ::-1], mode="valid"), want, rtol=0, atol=TOL)
        np.testing.assert_allclose(signal.correlate2d(x, dk, mode="valid"), want, rtol=0, atol=TOL)


def test_nine_by_nine_dilation_four_reads_the_corners() -> None:
    x = np.arange(81.0).reshape(9, 9)
    w = np.ones((3, 3))
    out = ref.conv(x[None, None], w[None, None], dilation=4)
    assert out.shape == (1, 1, 1, 1)
    assert out[0, 0, 0, 0] == x[::4, ::4].sum() == signal.convolve2d(x, ref.dilate_kernel(w, (4, 4)), "valid")[0, 0]
    assert ref.conv(x[None, None], w[None, None], stride=2).shape == (1, 1, 4, 4)


# --------------------------------------------------------------------------- conv_matrix


def _matrix_cases(nd: int, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        k = [rng.randint(1, 4) for _ in range(nd)]
        s = [rng.randint(1, 3) for _ in range(nd)]
        d = [rng.randint(1, 3) for _ in range(nd)]
        style = rng.choice(["sym", "asym", "same", "causal", "full"])
        if style == "sym":
            padding = [rng.randint(0, 3) for _ in range(nd)]
        elif style == "asym":
            padding = tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(nd))
        else:
            padding = style
        n = [max(1, dd * (kk - 1) + 1 - 2 + rng.randint(0, 8)) for kk, dd in zip(k, d, strict=True)]
        yield k, s, d, padding, n


def _explicit(k, s, d, padding, n):
    return [tuple(p) for p in ConvSpec(k, s, padding, d).resolve(n).padding]


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_matrix_matches_conv_adjoint_and_torch_transpose(nd: int) -> None:
    gen = np.random.default_rng(nd)
    checked = 0
    for k, s, d, padding, n in _matrix_cases(nd, 120 if nd == 1 else 60, seed=70 + nd):
        kernel = gen.standard_normal(k)
        spec = ConvSpec(k, s, padding, d)
        pads = [tuple(p) for p in spec.resolve(n).padding]
        if (
            padding not in ("same", "causal", "full")
            and torch_conv(np.zeros((1, 1, *n)), np.zeros((1, 1, *k)), None, s, pads, d, 1) is REFUSED
        ):
            with pytest.raises(SpecError):
                ref.conv_matrix(kernel, n, s, padding, d)
            continue
        checked += 1
        A = ref.conv_matrix(kernel, n if nd > 1 else n[0], s, padding, d)
        x = gen.standard_normal(n)
        want = torch_conv(x[None, None], kernel[None, None], None, s, pads, d, 1)
        assert not isinstance(want, str), (k, s, d, padding, n)
        out_sizes = want.shape[2:]
        assert A.shape == (int(np.prod(out_sizes)), int(np.prod(n)))
        np.testing.assert_allclose(A @ x.ravel(), want.ravel(), rtol=0, atol=TOL)
        np.testing.assert_allclose(
            (A @ x.ravel()).reshape(out_sizes),
            ref.conv(x[None, None], kernel[None, None], stride=s, padding=padding, dilation=d)[0, 0],
            rtol=0,
            atol=TOL,
        )
        # adjoint identity <A x, y> = <x, A^T y>
        y = gen.standard_normal(out_sizes)
        assert abs(float((A @ x.ravel()) @ y.ravel()) - float(x.ravel() @ (A.T @ y.ravel()))) < TOL
        # A^T is torch's transposed convolution with the output_padding chosen by invert
        inv = invert(ConvSpec(k, s, padding, d), n)
        assert inv.transposed and [tuple(p) for p in inv.padding] == pads
        back = torch_conv_transpose(y[None, None], kernel[None, None], None, s, pads, list(inv.output_padding), 1, d)
        assert not isinstance(back, str), (k, s, d, padding, n, inv)
        assert back.shape[2:] == tuple(n)
        np.testing.assert_allclose(A.T @ y.ravel(), back.ravel(), rtol=0, atol=TOL)
        np.testing.assert_allclose(
            ref.conv_transpose_matrix(kernel, n, s, padding, d).toarray(), A.T.toarray(), rtol=0, atol=0
        )
        # and the reference transposed convolution agrees
        rt = ref.conv_transpose(
            y[None, None],
            kernel[None, None],
            stride=s,
            padding=tuple(pads),
            output_padding=inv.output_padding,
            dilation=d,
        )
        np.testing.assert_allclose(rt.ravel(), A.T @ y.ravel(), rtol=0, atol=TOL)
    assert checked >= 40


def test_conv_matrix_dense_toeplitz_example() -> None:
    A = ref.conv_matrix(np.array([1.0, 2.0, 3.0]), 6, stride=2, padding=1, dilation=1).toarray()
    assert A.tolist() == [
        [2.0, 3.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 2.0, 3.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 2.0, 3.0],
    ]
    B = ref.conv_matrix(np.array([1.0, 2.0]), 5, dilation=3).toarray()
    assert B.tolist() == [[1.0, 0.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 0.0, 2.0]]
