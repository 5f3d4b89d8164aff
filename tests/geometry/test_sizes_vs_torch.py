"""Output sizes from ``atrous.geometry`` against what PyTorch actually computes.

Small grids are swept exhaustively on tiny float64 CPU tensors; hypothesis covers larger
values in 2-d and 3-d on the ``meta`` device (shapes only, no data). Whenever PyTorch refuses
a configuration atrous must raise ``SpecError`` (from the spec constructor or from the size
function), and whenever atrous raises PyTorch must refuse.

Every sweep collects all disagreements and reports the first few, so a failure names the
exact ``(n, k, s, d, padding, ...)`` tuples.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from atrous.geometry import (  # noqa: E402
    ConvSpec,
    PoolSpec,
    SpecError,
    invert,
    layer_output_size,
    output_padding_range,
    output_size,
    same_padding,
    valid_output_sizes,
)

DT = torch.float64
NS = range(1, 13)
KS = range(1, 6)
SS = range(1, 4)
DS = range(1, 4)
PS = range(0, 5)
OPS = range(0, 4)
TORCH_ERRORS = (RuntimeError, ValueError)
REFUSED = "refused"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Thousands of tiny ops: one intra-op thread is much faster than an OpenMP pool (whose
    idle threads spin) when pytest-xdist already runs a worker per core. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def zeros(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape, dtype=DT)


def torch_len(fn, *args, **kwargs) -> int | str:
    """Last-axis length of ``fn(*args, **kwargs)``, or ``REFUSED`` when torch raises."""
    try:
        out = fn(*args, **kwargs)
    except TORCH_ERRORS:
        return REFUSED
    assert out.shape[-1] >= 1  # eager CPU ops never return an empty spatial axis
    return out.shape[-1]


def torch_shape(fn, *args, **kwargs) -> tuple[int, ...] | str:
    try:
        out = fn(*args, **kwargs)
    except TORCH_ERRORS:
        return REFUSED
    return tuple(out.shape[2:])


def atrous_val(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or ``REFUSED`` when atrous raises SpecError (anything else
    propagates)."""
    try:
        return fn(*args, **kwargs)
    except SpecError:
        return REFUSED


def pool_len_of(n: int, *args, **kwargs) -> int:
    """Output length of ``PoolSpec(*args, **kwargs)`` on a 1-d input of length ``n``."""
    return layer_output_size(PoolSpec(*args, **kwargs), (n,))[0]


def pool_size_nd(n: tuple[int, ...], *args, **kwargs) -> tuple[int, ...]:
    return layer_output_size(PoolSpec(*args, **kwargs), n)


def conv_spec_len(k: int, s: int, p: int, d: int, n: int) -> int:
    return layer_output_size(ConvSpec(k, s, p, d), (n,))[0]


def check(mismatches: list) -> None:
    assert not mismatches, f"{len(mismatches)} disagreements with torch, first ones:\n" + "\n".join(
        map(str, mismatches[:12])
    )


def conv1d_len(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int | str:
    """Torch's conv1d output length for an explicit (lo, hi) zero padding (F.pad then conv)."""
    return torch_len(F.conv1d, F.pad(zeros(1, 1, n), (lo, hi)), zeros(1, 1, k), stride=s, dilation=d)


def conv_transpose1d_len(n: int, k: int, s: int, lo: int, hi: int, d: int, op: int) -> int | str:
    """Torch's transposed conv with (lo, hi) padding: the unpadded result cropped by lo and hi."""
    full = torch_len(F.conv_transpose1d, zeros(1, 1, n), zeros(1, 1, k), stride=s, dilation=d, output_padding=op)
    if full == REFUSED or full - lo - hi < 1:
        return REFUSED
    return full - lo - hi


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding, written as TensorFlow documents it (independent of atrous)."""
    e = d * (k - 1) + 1
    total = max(e - s, 0) if n % s == 0 else max(e - n % s, 0)
    return total // 2, total - total // 2


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("k", KS)
def test_conv_symmetric_padding_matches_torch(k: int) -> None:
    bad = []
    for n, s, d, p in itertools.product(NS, SS, DS, PS):
        want = torch_len(F.conv1d, zeros(1, 1, n), zeros(1, 1, k), stride=s, padding=p, dilation=d)
        got = atrous_val(output_size, n, k, s, p, d)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, p=p, torch=want, atrous=got))
        spec_got = atrous_val(conv_spec_len, k, s, p, d, n)
        if spec_got != want:
            bad.append(dict(via="layer_output_size", n=n, k=k, s=s, d=d, p=p, torch=want, atrous=spec_got))
    check(bad)


@pytest.mark.parametrize("k", KS)
def test_conv_asymmetric_padding_matches_torch_pad(k: int) -> None:
    bad = []
    for n, s, d, lo, hi in itertools.product(NS, SS, DS, range(4), range(4)):
        want = conv1d_len(n, k, s, lo, hi, d)
        got = atrous_val(output_size, n, k, s, ((lo, hi),), d)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, pad=(lo, hi), torch=want, atrous=got))
    check(bad)


@pytest.mark.parametrize("mode", ["valid", "causal", "full"])
def test_conv_padding_modes_match_torch_pad(mode: str) -> None:
    bad = []
    for n, k, s, d in itertools.product(NS, KS, SS, DS):
        span = d * (k - 1)
        lo, hi = {"valid": (0, 0), "causal": (span, 0), "full": (span, span)}[mode]
        want = conv1d_len(n, k, s, lo, hi, d)
        got = atrous_val(output_size, n, k, s, mode, d)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, mode=mode, torch=want, atrous=got))
    check(bad)


# --------------------------------------------------------------------------- transposed


def _transposed_size(n, k, s, p, d, op):
    return output_size(n, k, s, p, d, transposed=True, output_padding=op)


@pytest.mark.parametrize("k", KS)
def test_conv_transpose_matches_torch(k: int) -> None:
    bad = []
    w = zeros(1, 1, k)
    for n, s, d, p, op in itertools.product(NS, SS, DS, PS, OPS):
        x = zeros(1, 1, n)
        want = torch_len(F.conv_transpose1d, x, w, stride=s, padding=p, output_padding=op, dilation=d)
        got = atrous_val(_transposed_size, n, k, s, p, d, op)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, p=p, op=op, torch=want, atrous=got))
    check(bad)


@pytest.mark.parametrize("k", KS)
def test_conv_transpose_asymmetric_padding_matches_torch_crop(k: int) -> None:
    bad = []
    for n, s, d, lo, hi in itertools.product(NS, SS, DS, range(4), range(4)):
        for op in range(max(s, d) + 1):
            want = conv_transpose1d_len(n, k, s, lo, hi, d, op)
            got = atrous_val(output_size, n, k, s, ((lo, hi),), d, transposed=True, output_padding=op)
            if got != want:
                bad.append(dict(n=n, k=k, s=s, d=d, pad=(lo, hi), op=op, torch=want, atrous=got))
    check(bad)


@pytest.mark.parametrize("k", KS)
def test_output_padding_range_matches_torch(k: int) -> None:
    bad = []
    w = zeros(1, 1, k)
    for n, s, d, p in itertools.product(NS, SS, DS, PS):
        x = zeros(1, 1, n)
        ok_ops, sizes = set(), set()
        for op in range(max(s, d) + 2):
            o = torch_len(F.conv_transpose1d, x, w, stride=s, padding=p, output_padding=op, dilation=d)
            if o != REFUSED:
                ok_ops.add(op)
                sizes.add(o)
        ops = atrous_val(output_padding_range, n, k, s, p, d)
        outs = atrous_val(valid_output_sizes, n, k, s, p, d)
        got_ops = set() if ops == REFUSED and not ok_ops else (ops if ops == REFUSED else set(ops))
        got_sizes = set() if outs == REFUSED and not sizes else (outs if outs == REFUSED else set(outs))
        if got_ops != ok_ops or got_sizes != sizes:
            bad.append(
                dict(n=n, k=k, s=s, d=d, p=p, torch_ops=ok_ops, atrous_ops=ops, torch_sizes=sizes, atrous_sizes=outs)
            )
    check(bad)


def test_output_padding_rule_matches_torch() -> None:
    """ConvSpec accepts output_padding exactly when torch does (smaller than stride or dilation)."""
    bad = []
    x = zeros(1, 1, 8)
    for k, s, d, op in itertools.product(KS, SS, DS, range(5)):
        want = torch_len(F.conv_transpose1d, x, zeros(1, 1, k), stride=s, output_padding=op, dilation=d)
        got = atrous_val(ConvSpec, k, s, 0, d, transposed=True, output_padding=op)
        if (want == REFUSED) != (got == REFUSED):
            bad.append(dict(k=k, s=s, d=d, op=op, torch=want, atrous=got))
    check(bad)


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("k", KS)
def test_max_pool_matches_torch(k: int, ceil_mode: bool) -> None:
    bad = []
    for n, s, d, p in itertools.product(NS, SS, DS, range(4)):
        want = torch_len(F.max_pool1d, zeros(1, 1, n), k, s, p, d, ceil_mode=ceil_mode)
        got = atrous_val(pool_len_of, n, k, s, p, d, ceil_mode=ceil_mode)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, p=p, ceil_mode=ceil_mode, torch=want, atrous=got))
    check(bad)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_avg_pool_matches_torch(ceil_mode: bool) -> None:
    bad = []
    for n, k, s, p in itertools.product(NS, KS, SS, range(4)):
        want = torch_len(F.avg_pool1d, zeros(1, 1, n), k, s, p, ceil_mode=ceil_mode)
        got = atrous_val(pool_len_of, n, k, s, p, mode="avg", ceil_mode=ceil_mode)
        if got != want:
            bad.append(dict(n=n, k=k, s=s, p=p, ceil_mode=ceil_mode, torch=want, atrous=got))
    check(bad)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_default_stride_is_kernel_size_like_torch(mode: str) -> None:
    bad = []
    pool = F.max_pool1d if mode == "max" else F.avg_pool1d
    for n, k, ceil_mode in itertools.product(NS, KS, [False, True]):
        want = torch_len(pool, zeros(1, 1, n), k, ceil_mode=ceil_mode)
        got = atrous_val(pool_len_of, n, k, mode=mode, ceil_mode=ceil_mode)
        if got != want:
            bad.append(dict(n=n, k=k, ceil_mode=ceil_mode, torch=want, atrous=got))
    check(bad)


def test_pool_overhanging_last_window_ceil_mode() -> None:
    """Minimal case of the ceil_mode rule: the only window starts inside the input but does
    not fit in input + padding; torch still produces it (and so must atrous)."""
    x = zeros(1, 1, 1)
    assert F.max_pool1d(x, 2, 2, ceil_mode=True).shape[-1] == 1
    assert F.avg_pool1d(x, 2, 2, ceil_mode=True).shape[-1] == 1
    assert layer_output_size(PoolSpec(2, 2, ceil_mode=True), (1,)) == (1,)
    assert layer_output_size(PoolSpec(2, 2, mode="avg", ceil_mode=True), (1,)) == (1,)


def _pool_cases(ndim: int, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        n = tuple(rng.randint(1, 9) for _ in range(ndim))
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        d = tuple(rng.randint(1, 3) for _ in range(ndim))
        p = tuple(rng.randint(0, 2) for _ in range(ndim))
        yield n, k, s, d, p


def _avg_pool3d_refuses_small_input(n: tuple[int, ...], k: tuple[int, ...]) -> bool:
    """torch's avg_pool3d (only it, not avg_pool2d nor max_pool3d) also refuses an unpadded
    input smaller than the kernel on some axis ("input image ... smaller than kernel size"),
    padding notwithstanding. That is a torch restriction, not arithmetic: atrous need not copy it."""
    return any(a < b for a, b in zip(n, k, strict=True))


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_pool_nd_spot_check(ndim: int, mode: str, ceil_mode: bool) -> None:
    bad = []
    fn = {("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d, ("avg", 2): F.avg_pool2d, ("avg", 3): F.avg_pool3d}[
        mode, ndim
    ]
    for n, k, s, d, p in _pool_cases(ndim, 250, seed=100 * ndim + (mode == "avg") * 10 + ceil_mode):
        if mode == "avg":
            d = (1,) * ndim
            want = torch_shape(fn, zeros(1, 1, *n), k, s, p, ceil_mode=ceil_mode)
        else:
            want = torch_shape(fn, zeros(1, 1, *n), k, s, p, d, ceil_mode=ceil_mode)
        got = atrous_val(pool_size_nd, n, k, s, p, d, mode=mode, ceil_mode=ceil_mode)
        if want == REFUSED and (mode, ndim) == ("avg", 3) and _avg_pool3d_refuses_small_input(n, k):
            continue  # see _avg_pool3d_refuses_small_input
        if got != want:
            bad.append(dict(n=n, k=k, s=s, d=d, p=p, torch=want, atrous=got))
    check(bad)


# --------------------------------------------------------------------------- 'same'


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_stride_one_equals_torch_same() -> None:
    """For stride 1, atrous's 'same' padding reproduces torch's padding='same' numerically."""
    gen = torch.Generator().manual_seed(0)
    bad = []
    for n, k, d in itertools.product(NS, KS, DS):
        x = torch.randn(1, 1, n, generator=gen, dtype=DT)
        w = torch.randn(1, 1, k, generator=gen, dtype=DT)
        want = F.conv1d(x, w, padding="same", dilation=d)
        lo, hi = same_padding(n, k, 1, d)
        got = F.conv1d(F.pad(x, (lo, hi)), w, dilation=d)
        if got.shape != want.shape or not torch.allclose(got, want, rtol=0, atol=1e-12):
            bad.append(dict(n=n, k=k, d=d, atrous_pad=(lo, hi)))
        if output_size(n, k, 1, "same", d) != n:
            bad.append(dict(n=n, k=k, d=d, output_size=output_size(n, k, 1, "same", d)))
        if ConvSpec(k, padding="same", dilation=d).resolve(n).padding != ((lo, hi),):
            bad.append(dict(n=n, k=k, d=d, resolve=ConvSpec(k, padding="same", dilation=d).resolve(n).padding))
    check(bad)


def test_same_padding_any_stride_is_tensorflow_rule() -> None:
    bad = []
    for n, k, s, d in itertools.product(range(1, 25), KS, range(1, 5), DS):
        want_pad = tf_same(n, k, s, d)
        got_pad = same_padding(n, k, s, d)
        got_size = output_size(n, k, s, "same", d)
        resolved = ConvSpec(k, s, "same", d).resolve(n).padding[0]
        torch_out = conv1d_len(n, k, s, *want_pad, d)
        if not (got_pad == want_pad == resolved and got_size == math.ceil(n / s) == torch_out):
            bad.append(
                dict(n=n, k=k, s=s, d=d, tf=want_pad, atrous=got_pad, resolved=resolved, size=got_size, torch=torch_out)
            )
    check(bad)


def test_same_padding_per_axis() -> None:
    rng = random.Random(7)
    for _ in range(200):
        n = tuple(rng.randint(1, 20) for _ in range(2))
        k = tuple(rng.randint(1, 5) for _ in range(2))
        s = tuple(rng.randint(1, 4) for _ in range(2))
        d = tuple(rng.randint(1, 3) for _ in range(2))
        want = tuple(tf_same(*args) for args in zip(n, k, s, d, strict=True))
        assert same_padding(n, k, s, d) == want, (n, k, s, d)
        assert output_size(n, k, s, "same", d) == tuple(-(-a // b) for a, b in zip(n, s, strict=True))


def test_transposed_same_gives_input_times_stride_in_torch() -> None:
    """A transposed 'same' resolves to a padding and output_padding that torch maps to n*s."""
    bad = []
    for n, k, s, d in itertools.product(range(1, 9), KS, SS, DS):
        spec = ConvSpec(k, s, "same", d, transposed=True)
        r = spec.resolve(n)
        (lo, hi), op = r.padding[0], r.output_padding[0]
        want = conv_transpose1d_len(n, k, s, lo, hi, d, op)
        got = atrous_val(output_size, n, k, s, "same", d, transposed=True)
        if not (want == got == n * s):
            bad.append(dict(n=n, k=k, s=s, d=d, resolved=(lo, hi, op), torch=want, atrous=got))
    check(bad)


# --------------------------------------------------------------------------- invert


def _conv_paddings(n: int, k: int, s: int, d: int):
    """(padding argument, explicit (lo, hi)) pairs, resolved without atrous."""
    span = d * (k - 1)
    out = [(p, (p, p)) for p in PS]
    out += [(((lo, hi),), (lo, hi)) for lo, hi in [(0, 1), (1, 0), (2, 1), (0, 3), (3, 1)]]
    out += [("valid", (0, 0)), ("causal", (span, 0)), ("full", (span, span)), ("same", tf_same(n, k, s, d))]
    return out


@pytest.mark.parametrize("k", KS)
def test_invert_conv_restores_input_size_in_torch(k: int) -> None:
    bad = []
    w = zeros(1, 1, k)
    for n, s, d in itertools.product(NS, SS, DS):
        for pad_arg, (lo, hi) in _conv_paddings(n, k, s, d):
            spec = ConvSpec(k, s, pad_arg, d)
            m = conv1d_len(n, k, s, lo, hi, d)
            inv = atrous_val(invert, spec, n)
            if m == REFUSED or inv == REFUSED:
                if m != inv:
                    bad.append(dict(n=n, k=k, s=s, d=d, pad=pad_arg, torch=m, invert=inv))
                continue
            if not inv.transposed or (inv.kernel_size, inv.stride, inv.dilation) != ((k,), (s,), (d,)):
                bad.append(dict(n=n, k=k, s=s, d=d, pad=pad_arg, invert=inv))
                continue
            if inv.padding != ((lo, hi),):
                bad.append(dict(n=n, k=k, s=s, d=d, pad=pad_arg, want_padding=(lo, hi), invert=inv))
            op = inv.output_padding[0]
            if lo == hi:
                back = torch_len(
                    F.conv_transpose1d, zeros(1, 1, m), w, stride=s, padding=lo, output_padding=op, dilation=d
                )
            else:
                back = conv_transpose1d_len(m, k, s, lo, hi, d, op)
            if back != n:
                bad.append(dict(n=n, k=k, s=s, d=d, pad=pad_arg, conv_out=m, invert=inv, torch_back=back))
    check(bad)


@pytest.mark.parametrize("k", KS)
def test_invert_transposed_restores_input_size_in_torch(k: int) -> None:
    """invert(transposed) is a convolution with the same k, s, d and lo; it must exist exactly
    when some non-negative hi' makes torch's conv map the transposed output back to n."""
    bad = []
    for n, s, d, p in itertools.product(range(1, 9), SS, DS, range(4)):
        for op in range(max(s, d)):
            spec = ConvSpec(k, s, p, d, transposed=True, output_padding=op)
            o = torch_len(
                F.conv_transpose1d, zeros(1, 1, n), zeros(1, 1, k), stride=s, padding=p, output_padding=op, dilation=d
            )
            inv = atrous_val(invert, spec, n)
            if o == REFUSED:
                if inv != REFUSED:
                    bad.append(dict(n=n, k=k, s=s, d=d, p=p, op=op, torch="refused", invert=inv))
                continue
            exists = [h for h in range(p + s + op + 1) if conv1d_len(o, k, s, p, h, d) == n]
            if inv == REFUSED:
                if exists:
                    bad.append(dict(n=n, k=k, s=s, d=d, p=p, op=op, invert="SpecError", working_hi=exists))
                continue
            ok = (
                not inv.transposed
                and (inv.kernel_size, inv.stride, inv.dilation) == ((k,), (s,), (d,))
                and inv.padding[0][0] == p
                and conv1d_len(o, k, s, *inv.padding[0], d) == n
            )
            if not ok:
                bad.append(dict(n=n, k=k, s=s, d=d, p=p, op=op, transposed_out=o, invert=inv))
    check(bad)


# --------------------------------------------------------------------------- hypothesis, N-d, meta


def _meta_shape(fn, *args, **kwargs) -> tuple[int, ...] | str:
    """Spatial shape from a meta-device call; an empty axis counts as a refusal (eager
    CPU raises 'Output size is too small' where meta returns size 0)."""
    try:
        out = fn(*args, **kwargs)
    except TORCH_ERRORS:
        return REFUSED
    shape = tuple(out.shape[2:])
    return REFUSED if min(shape) < 1 else shape


@st.composite
def nd_conv(draw, transposed: bool):
    ndim = draw(st.sampled_from([2, 3]))

    def ints(lo: int, hi: int):
        return st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim).map(tuple)

    n = draw(ints(1, 300))
    k = draw(ints(1, 9))
    s = draw(ints(1, 5))
    d = draw(ints(1, 8))
    p = draw(ints(0, 40))
    op = tuple(draw(st.integers(0, max(a, b) - 1)) for a, b in zip(s, d, strict=True)) if transposed else (0,) * ndim
    return n, k, s, d, p, op


@given(nd_conv(transposed=False))
def test_conv_nd_matches_torch_meta(case) -> None:
    n, k, s, d, p, _ = case
    fn = {2: F.conv2d, 3: F.conv3d}[len(n)]
    x = torch.empty(1, 1, *n, device="meta", dtype=DT)
    w = torch.empty(1, 1, *k, device="meta", dtype=DT)
    want = _meta_shape(fn, x, w, stride=s, padding=p, dilation=d)
    assert atrous_val(output_size, n, k, s, p, d) == want, case


@given(nd_conv(transposed=True))
def test_conv_transpose_nd_matches_torch_meta(case) -> None:
    n, k, s, d, p, op = case
    fn = {2: F.conv_transpose2d, 3: F.conv_transpose3d}[len(n)]
    x = torch.empty(1, 1, *n, device="meta", dtype=DT)
    w = torch.empty(1, 1, *k, device="meta", dtype=DT)
    want = _meta_shape(fn, x, w, stride=s, padding=p, output_padding=op, dilation=d)
    got = atrous_val(output_size, n, k, s, p, d, transposed=True, output_padding=op)
    assert got == want, case
    if got != REFUSED:
        ranges = output_padding_range(n, k, s, p, d)
        assert all(o in r for o, r in zip(op, ranges, strict=True)), (case, ranges)
        assert all(g in r for g, r in zip(got, valid_output_sizes(n, k, s, p, d), strict=True)), case


@given(nd_conv(transposed=False))
def test_invert_nd_round_trip_torch_meta(case) -> None:
    n, k, s, d, p, _ = case
    nd = len(n)
    conv = {2: F.conv2d, 3: F.conv3d}[nd]
    convt = {2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    w = torch.empty(1, 1, *k, device="meta", dtype=DT)
    out = _meta_shape(conv, torch.empty(1, 1, *n, device="meta", dtype=DT), w, stride=s, padding=p, dilation=d)
    inv = atrous_val(invert, ConvSpec(k, s, p, d), n)
    assert (out == REFUSED) == (inv == REFUSED), (case, out, inv)
    if out == REFUSED:
        return
    assert inv.padding == tuple((q, q) for q in p)
    back = _meta_shape(
        convt,
        torch.empty(1, 1, *out, device="meta", dtype=DT),
        w,
        stride=s,
        padding=p,
        output_padding=inv.output_padding,
        dilation=d,
    )
    assert back == n, (case, inv)
    # the meta kernels skip the output_padding check: torch's rule (smaller than stride or dilation)
    assert all(o < max(a, b) for o, a, b in zip(inv.output_padding, s, d, strict=True)), inv
