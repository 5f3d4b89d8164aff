"""Exact tap sets and path counts of ``atrous.geometry`` fields against PyTorch autograd.

Random (seeded) chains of convolutions, transposed convolutions, max / average pooling and
nearest upsampling are run in plain torch, float64, with all-ones weights and no
nonlinearity. The chain is then linear with non-negative integer coefficients: the gradient of
output ``y`` w.r.t. the input counts the paths from each input position to ``y``. So

* the nonzero positions of that gradient must be ``Field.support(y)``, and
* its values must be ``Field.paths(y)``, exactly.

Pooling is not differentiated through ``max_pool`` (its gradient only reaches the argmax).
Each pooling layer is replaced by the *sum* over its windows, and the window membership is
read off torch itself: pooling the one-hot inputs ``eye(n)`` gives a nonzero at ``(j, i)``
exactly when input ``j`` is in window ``i``. The chains never use atrous to decide anything.

The unbounded fields (built without an input size) are checked by running the same chain on
a much longer input in which the small input sits far from both borders: every chain is
shift-equivariant, so output ``y + m*Y`` of the long chain reads the positions of output
``y`` moved by ``m*P`` (``P``, ``Y`` computed from the strides).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from atrous.geometry import ConvSpec, FieldND, PoolSpec, UpsampleSpec, receptive_field  # noqa: E402

DT = torch.float64
MODES = ("valid", "causal", "full", "same")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Thousands of tiny ops: one intra-op thread is much faster than an OpenMP pool (whose
    idle threads spin) when pytest-xdist already runs a worker per core. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding as TensorFlow documents it."""
    e = d * (k - 1) + 1
    total = max(e - s, 0) if n % s == 0 else max(e - n % s, 0)
    return total // 2, total - total // 2


class Refused(Exception):
    """torch refuses the layer for this input size (or the construction gives no output)."""


# --------------------------------------------------------------------------- torch layers


@dataclass
class Layer:
    """One layer, N-d, parameters per axis; ``apply`` runs it in torch."""

    kind: str  # conv | convT | max | avg | up
    k: tuple[int, ...]
    s: tuple[int, ...]
    d: tuple[int, ...]
    style: str = "sym"  # conv: sym | asym | a padding mode; convT: sym | asym
    pad: tuple[tuple[int, int], ...] = ()  # explicit (lo, hi) per axis for sym / asym
    op: tuple[int, ...] = ()
    ceil_mode: bool = False
    resolved: tuple[tuple[int, int], ...] = ()  # (lo, hi) torch used on the sampled chain

    @property
    def ndim(self) -> int:
        return len(self.k)

    def _arg(self, values):
        return values[0] if self.ndim == 1 else tuple(values)

    def spec(self, explicit: bool = False):
        """The atrous spec, written as a user would (``explicit``: padding as (lo, hi) pairs)."""
        a = self._arg
        if self.kind == "up":
            return UpsampleSpec(a(self.s))
        if self.kind in ("max", "avg"):
            return PoolSpec(
                a(self.k), a(self.s), a([p[0] for p in self.pad]), a(self.d), mode=self.kind, ceil_mode=self.ceil_mode
            )
        if self.kind == "convT":
            pad = a([p[0] for p in self.pad]) if self.style == "sym" else tuple(self.pad)
            return ConvSpec(a(self.k), a(self.s), pad, a(self.d), transposed=True, output_padding=a(self.op))
        if explicit:
            pad = tuple(self.resolved)
        elif self.style == "sym":
            pad = a([p[0] for p in self.pad])
        elif self.style == "asym":
            pad = tuple(self.pad)
        else:
            pad = self.style
        return ConvSpec(a(self.k), a(self.s), pad, a(self.d))

    def conv_padding(self, sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        out = []
        for i, n in enumerate(sizes):
            k, s, d = self.k[i], self.s[i], self.d[i]
            span = d * (k - 1)
            if self.style in ("sym", "asym"):
                out.append(self.pad[i])
            else:
                out.append(
                    {"valid": (0, 0), "causal": (span, 0), "full": (span, span)}.get(self.style) or tf_same(n, k, s, d)
                )
        return tuple(out)

    def apply(self, x: torch.Tensor, explicit: bool = False) -> torch.Tensor:
        sizes = tuple(x.shape[2:])
        nd = self.ndim
        try:
            if self.kind == "conv":
                pads = self.resolved if explicit else self.conv_padding(sizes)
                flat = [v for lo_hi in reversed(pads) for v in lo_hi]  # F.pad: last axis first
                w = torch.ones(1, 1, *self.k, dtype=DT)
                conv = (F.conv1d, F.conv2d)[nd - 1]
                out = conv(F.pad(x, flat), w, stride=self.s, dilation=self.d)
                if not explicit:
                    self.resolved = pads
                return out
            if self.kind == "convT":
                w = torch.ones(1, 1, *self.k, dtype=DT)
                convt = (F.conv_transpose1d, F.conv_transpose2d)[nd - 1]
                if self.style == "sym":
                    return convt(
                        x, w, stride=self.s, padding=[p[0] for p in self.pad], output_padding=self.op, dilation=self.d
                    )
                full = convt(x, w, stride=self.s, output_padding=self.op, dilation=self.d)
                crop = tuple(slice(lo, full.shape[2 + i] - hi) for i, (lo, hi) in enumerate(self.pad))
                out = full[(slice(None), slice(None), *crop)]
                if min(out.shape[2:]) < 1:
                    raise Refused
                return out
            if self.kind == "up":
                return F.interpolate(x, scale_factor=tuple(float(r) for r in self.s), mode="nearest")
            m, out_sizes = self.membership(sizes)
            return (x.flatten(2) @ m).reshape(*x.shape[:2], *out_sizes)
        except RuntimeError as exc:
            raise Refused from exc

    def membership(self, sizes: tuple[int, ...]) -> tuple[torch.Tensor, tuple[int, ...]]:
        """``M[j, i] = 1`` when input ``j`` lies in pooling window ``i`` (flattened indices),
        read off torch pooling of one-hot inputs, and the pooled size: ``x @ M`` sum-pools."""
        count = math.prod(sizes)
        eye = torch.eye(count, dtype=DT).reshape(count, 1, *sizes)
        p = [q[0] for q in self.pad]
        if self.kind == "max":
            pool = (F.max_pool1d, F.max_pool2d)[self.ndim - 1]
            out = pool(eye, self.k, self.s, p, self.d, ceil_mode=self.ceil_mode)
        else:
            pool = (F.avg_pool1d, F.avg_pool2d)[self.ndim - 1]
            out = pool(eye, self.k, self.s, p, ceil_mode=self.ceil_mode, count_include_pad=True)
        # max: 1 inside the window, 0 outside, -inf for a window that holds padding only;
        # avg: 1/divisor inside, 0 outside
        member = out == 1 if self.kind == "max" else out > 0
        return member.to(DT).reshape(count, -1), tuple(out.shape[2:])


# --------------------------------------------------------------------------- sampling chains


def sample_layer(rng: random.Random, ndim: int) -> Layer:
    kind = rng.choice(["conv", "conv", "conv", "convT", "convT", "max", "avg", "up"])
    ax = range(ndim)
    if kind == "up":
        return Layer("up", (1,) * ndim, tuple(rng.randint(1, 3) for _ in ax), (1,) * ndim)
    k = tuple(rng.randint(1, 4) for _ in ax)
    s = tuple(rng.randint(1, 3) for _ in ax)
    d = tuple(rng.randint(1, 3) for _ in ax)
    if kind in ("max", "avg"):
        if kind == "avg":
            d = (1,) * ndim
        p = tuple(rng.randint(0, ki // 2) for ki in k)
        return Layer(kind, k, s, d, pad=tuple((q, q) for q in p), ceil_mode=rng.random() < 0.5)
    style = rng.choice(["sym", "sym", "asym"] + (list(MODES) if kind == "conv" else []))
    if style == "sym":
        pad = tuple((q, q) for q in (rng.randint(0, 3) for _ in ax))
    else:
        pad = tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in ax)
    op = tuple(rng.randint(0, max(a, b) - 1) for a, b in zip(s, d, strict=True)) if kind == "convT" else ()
    return Layer(kind, k, s, d, style, pad, op)


def pool_overhangs(layer: Layer, sizes: tuple[int, ...]) -> bool:
    """A ceil_mode window that does not fit in input + padding (see
    ``test_ceil_mode_overhanging_window``); kept out of the random chains."""
    if layer.kind not in ("max", "avg"):
        return False
    return any(n + 2 * p[0] < d * (k - 1) + 1 for n, p, k, d in zip(sizes, layer.pad, layer.k, layer.d, strict=True))


def sample_chain(seed: int, ndim: int, max_len: int, max_size: int) -> tuple[tuple[int, ...], list[Layer]]:
    rng = random.Random(seed)
    sizes = tuple(rng.randint(1, max_size if ndim == 1 else 8) for _ in range(ndim))
    n_layers = rng.randint(1, 4)
    layers: list[Layer] = []
    cur = sizes
    for _ in range(n_layers):
        for _attempt in range(200):
            layer = sample_layer(rng, ndim)
            if pool_overhangs(layer, cur):
                continue
            try:
                out = run_layer(layer, torch.zeros(1, 1, *cur, dtype=DT))
            except Refused:
                continue
            if max(out.shape[2:]) > max_len:
                continue
            layers.append(layer)
            cur = tuple(out.shape[2:])
            break
    assert layers
    return sizes, layers


def run_layer(layer: Layer, x: torch.Tensor, explicit: bool = False) -> torch.Tensor:
    return layer.apply(x, explicit)


def run_chain(layers: list[Layer], x: torch.Tensor, explicit: bool = False) -> list[torch.Tensor]:
    outs = []
    for layer in layers:
        x = run_layer(layer, x, explicit)
        outs.append(x)
    return outs


# --------------------------------------------------------------------------- jacobians


def jacobian_rows(out: torch.Tensor, x: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``J[r, :]`` = gradient of ``out.flatten()[rows[r]]`` w.r.t. ``x`` (flattened), by autograd."""
    numel = out.numel()
    onehot = torch.zeros(len(rows), numel, dtype=DT)
    onehot[torch.arange(len(rows)), torch.tensor(rows)] = 1
    (g,) = torch.autograd.grad(
        out, x, grad_outputs=onehot.reshape(len(rows), *out.shape), is_grads_batched=True, retain_graph=True
    )
    return g.reshape(len(rows), -1)


def nonzero_counts(row: torch.Tensor) -> dict[int, int]:
    idx = torch.nonzero(row).flatten().tolist()
    vals = row[idx]
    assert torch.equal(vals, vals.round()), "path counts must be integers"
    return {i: int(v) for i, v in zip(idx, vals.tolist(), strict=True)}


def flat_index(pos: tuple[int, ...], sizes: tuple[int, ...]) -> int:
    """Row-major flat index of ``pos`` in an array of shape ``sizes``."""
    out = 0
    for p, n in zip(pos, sizes, strict=True):
        out = out * n + p
    return out


def chain_text(sizes, layers) -> str:
    return f"input {sizes}: " + " -> ".join(repr(layer.spec()) for layer in layers)


# --------------------------------------------------------------------------- the tests


def _check_bounded(sizes, layers, x, outs) -> list:
    ndim = len(sizes)
    fields = receptive_field([layer.spec() for layer in layers], input_size=sizes[0] if ndim == 1 else sizes)
    bad = []
    for li, (field, out) in enumerate(zip(fields, outs, strict=True)):
        out_sizes = tuple(out.shape[2:])
        length = field.length
        want_len = out_sizes[0] if ndim == 1 else out_sizes
        if length != want_len:
            bad.append(dict(layer=li, atrous_length=length, torch_length=want_len))
            continue
        rows = list(range(out.numel()))
        jac = jacobian_rows(out, x, rows)
        for r in rows:
            got = nonzero_counts(jac[r])
            if ndim == 1:
                support, paths = field.support(r), field.paths(r)
                want_support = tuple(sorted(got))
            else:
                y = tuple(int(v) for v in torch.unravel_index(torch.tensor(r), out_sizes))
                per_axis_paths = [field[i].paths(y[i]) for i in range(ndim)]
                assert field.support(y) == tuple(tuple(p) for p in per_axis_paths)  # sorted keys
                # the tap set is the product of the per-axis ones, the path counts multiply
                paths = {
                    flat_index(pos, sizes): math.prod(per_axis_paths[i][pos[i]] for i in range(ndim))
                    for pos in itertools.product(*per_axis_paths)
                }
                support = tuple(sorted(paths))
                want_support = tuple(sorted(got))
            if tuple(support) != want_support or dict(paths) != got:
                bad.append(
                    dict(
                        layer=li,
                        y=r,
                        atrous_support=support,
                        autograd_support=want_support,
                        atrous_paths=dict(paths),
                        autograd_paths=got,
                    )
                )
                break
    return bad


def _equivariance(layers: list[Layer]) -> tuple[int, int, int]:
    """(P, Y, B): shifting the input by m*P shifts the output by m*Y; B bounds, in input
    positions, how far any path strays from an output's nominal position (generously)."""
    P = math.prod(layer.s[0] for layer in layers if layer.kind in ("conv", "max", "avg"))
    scale = Fraction(1)  # input positions per position of the current layer's input
    cur = Fraction(P)
    bound = Fraction(0)
    for layer in layers:
        k, s, d = layer.k[0], layer.s[0], layer.d[0]
        lo, hi = (layer.resolved or layer.pad or ((0, 0),))[0]
        op = layer.op[0] if layer.op else 0
        bound += scale * (d * (k - 1) + 1 + lo + hi + op + 2 * s + 2)
        if layer.kind in ("conv", "max", "avg"):
            cur /= s
            scale *= s
        else:
            cur *= s
            scale /= s
    assert cur.denominator == 1
    return P, int(cur), math.ceil(bound) + 4


CHAINS_1D = range(200)


@pytest.mark.parametrize("block", range(10))
def test_chains_1d_support_and_paths_match_autograd(block: int) -> None:
    """200 seeded 1-d chains (20 per test): every output of every layer."""
    failures = []
    for seed in CHAINS_1D[block::10]:
        sizes, layers = sample_chain(seed, 1, max_len=80, max_size=24)
        x = torch.randn(1, 1, *sizes, dtype=DT, requires_grad=True)
        outs = run_chain(layers, x)
        bad = _check_bounded(sizes, layers, x, outs)
        if bad:
            failures.append((seed, chain_text(sizes, layers), bad[:2]))
    assert not failures, "\n".join(map(str, failures[:5]))


@pytest.mark.parametrize("block", range(4))
def test_chains_2d_support_is_product_and_paths_match_autograd(block: int) -> None:
    """40 seeded 2-d chains with different parameters per axis."""
    failures = []
    for seed in range(1000 + block, 1040, 4):
        sizes, layers = sample_chain(seed, 2, max_len=16, max_size=8)
        x = torch.randn(1, 1, *sizes, dtype=DT, requires_grad=True)
        outs = run_chain(layers, x)
        bad = _check_bounded(sizes, layers, x, outs)
        if bad:
            failures.append((seed, chain_text(sizes, layers), bad[:2]))
    assert not failures, "\n".join(map(str, failures[:5]))


@pytest.mark.parametrize("block", range(4))
def test_unbounded_fields_match_autograd_far_from_borders(block: int) -> None:
    """Fields built without an input size describe an unbounded signal: checked on a long
    input where the chain's paths never reach a border; there the bounded field of the long
    chain equals the (shifted) unbounded field too."""
    failures = []
    for seed in range(block, 200, 4):
        sizes, layers = sample_chain(seed, 1, max_len=80, max_size=24)
        # (running the small chain also records the paddings torch used, for explicit specs)
        small_len = run_chain(layers, torch.zeros(1, 1, *sizes, dtype=DT))[-1].shape[-1]
        P, Y, B = _equivariance(layers)
        m = -(-B // P) + 1
        big_n = sizes[0] + 2 * m * P
        x = torch.randn(1, 1, big_n, dtype=DT, requires_grad=True)
        out = run_chain(layers, x, explicit=True)[-1]
        rows = [y + m * Y for y in range(small_len)]
        assert rows[-1] < out.shape[-1]
        jac = jacobian_rows(out, x, rows)
        # 'same' with a stride depends on the input size: the unbounded chain uses the
        # padding torch used on the small input, written out
        specs = [layer.spec(explicit=layer.style == "same" and layer.s[0] > 1) for layer in layers]
        unbounded = receptive_field(specs)[-1]
        if isinstance(unbounded, FieldND):  # specs with per-axis padding pairs give 1-axis FieldNDs
            unbounded = unbounded[0]
        long_field = receptive_field([layer.spec(explicit=True) for layer in layers], input_size=big_n)[-1]
        for y, row in zip(range(small_len), jac, strict=True):
            got = nonzero_counts(row)
            if got and (min(got) < 2 or max(got) > big_n - 3):
                failures.append((seed, "test construction: the long input is not long enough", y))
                break
            shifted = {pos - m * P: c for pos, c in got.items()}
            want_support = tuple(sorted(shifted))
            sup = unbounded.support(y)
            pth = unbounded.paths(y)
            long_sup = tuple(v - m * P for v in long_field.support(y + m * Y))
            if sup != want_support or dict(pth) != shifted or long_sup != sup:
                failures.append(
                    (
                        seed,
                        chain_text(sizes, layers),
                        dict(
                            y=y,
                            unbounded=sup,
                            autograd=want_support,
                            long_bounded=long_sup,
                            paths=dict(pth),
                            autograd_paths=shifted,
                        ),
                    )
                )
                break
    assert not failures, "\n".join(map(str, failures[:5]))


def test_interior_output_of_a_long_input_is_border_free() -> None:
    """The plain statement: for an output far from the borders, support with and without an
    input size agree (a classic VGG-like stack with dilation and a transposed layer)."""
    specs = [
        ConvSpec(3, padding=1),
        ConvSpec(3, dilation=2, padding=2),
        PoolSpec(2),
        ConvSpec(4, 2, 1, transposed=True),
    ]
    bounded = receptive_field(specs, input_size=200)[-1]
    unbounded = receptive_field(specs)[-1]
    layers = [
        Layer("conv", (3,), (1,), (1,), "sym", ((1, 1),)),
        Layer("conv", (3,), (1,), (2,), "sym", ((2, 2),)),
        Layer("max", (2,), (2,), (1,), pad=((0, 0),)),
        Layer("convT", (4,), (2,), (1,), "sym", ((1, 1),), (0,)),
    ]
    x = torch.randn(1, 1, 200, dtype=DT, requires_grad=True)
    out = run_chain(layers, x)[-1]
    assert out.shape[-1] == bounded.length == 200
    ys = [60, 61, 100, 101, 139]
    jac = jacobian_rows(out, x, ys)
    for y, row in zip(ys, jac, strict=True):
        got = nonzero_counts(row)
        assert bounded.support(y) == unbounded.support(y) == tuple(sorted(got)), y
        assert bounded.paths(y) == unbounded.paths(y) == got, y


@pytest.mark.parametrize(
    ("n", "k", "s", "p", "d", "mode"),
    [
        (1, 2, 2, 0, 1, "max"),
        (1, 2, 2, 0, 1, "avg"),
        (2, 3, 2, 0, 1, "max"),
        (3, 2, 2, 0, 3, "max"),
        (2, 5, 2, 1, 1, "avg"),
    ],
)
def test_ceil_mode_overhanging_window(n: int, k: int, s: int, p: int, d: int, mode: str) -> None:
    """With ceil_mode, torch keeps a last window that starts inside the input even when it
    does not fit in input + padding (here: the only window). Its members, from torch."""
    layer = Layer(mode, (k,), (s,), (d,), pad=((p, p),), ceil_mode=True)
    x = torch.randn(1, 1, n, dtype=DT, requires_grad=True)
    out = run_layer(layer, x)
    field = receptive_field([layer.spec()], input_size=n)[-1]
    assert field.length == out.shape[-1]
    jac = jacobian_rows(out, x, list(range(out.shape[-1])))
    for y, row in enumerate(jac):
        got = nonzero_counts(row)
        assert field.support(y) == tuple(sorted(got))
        assert field.paths(y) == got
