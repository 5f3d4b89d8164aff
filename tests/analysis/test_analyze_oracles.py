"""atrous.analysis.analyze against brute-force oracles computed by plain torch autograd.

The oracle of a receptive field: set every convolution weight to one and every bias to zero,
feed a positive float64 input and differentiate one output; the input positions with a
nonzero gradient are exactly the positions that output depends on (all terms are positive, so
nothing cancels), and for chains of convolutions, transposed convolutions, nearest upsampling,
zero padding and cropping the gradient *is* the number of paths (times the product of the
layers' input widths, which sum over channels). Max pooling's gradient reaches only the argmax,
so the oracle model replaces every max pool by a window *sum* with the same geometry (kernel,
stride, padding, dilation, ceil mode) while the analysis sees the max pool.

Covered: random chains (1-D and 2-D) of torch.nn layers, random DAGs merged by ``+`` and by
``torch.cat`` (support = union, alignment notes exactly when the branch centres differ),
agreement of the meta-device and real-input traces and the fallback between them, global operations,
unknown operations and user declarations, and Luo et al.'s uniform-weight ERF variance
``n (k^2 - 1) / 12``.
"""

from __future__ import annotations

import copy
import itertools
import random
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous.analysis import GLOBAL, analyze, erf
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, Field, receptive_field

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")

# --------------------------------------------------------------------------- helpers

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d}
ZEROPAD = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d}
LINEAR_MODE = {1: "linear", 2: "bilinear"}
MAX_POOL_FN = {1: F.max_pool1d, 2: F.max_pool2d}
CONV_FN = {1: F.conv1d, 2: F.conv2d}


class Crop(nn.Module):
    """``x[..., a0:b0:s0, a1:b1:s1]``: cropping (and subsampling) the spatial axes."""

    def __init__(self, slices: tuple[slice, ...]) -> None:
        super().__init__()
        self.slices = slices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[(Ellipsis, *self.slices)]


class WindowSum(nn.Module):
    """The oracle of a max pool: the sum over the same windows (same output size as torch's
    max pool, ceil mode included), so that every position of a window gets a gradient."""

    def __init__(self, pool: nn.Module, nd: int) -> None:
        super().__init__()
        self.pool = pool
        self.nd = nd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd, p = self.nd, self.pool
        k, s, pad, d = (_nd(v, nd) for v in (p.kernel_size, p.stride, p.padding, p.dilation))
        out = MAX_POOL_FN[nd](x.detach(), k, s, pad, d, ceil_mode=p.ceil_mode).shape[2:]
        pads: list[int] = []
        for i in reversed(range(nd)):  # F.pad lists the last axis first
            pads += [pad[i], pad[i] + s[i] * k[i] + d[i] * k[i]]
        c = x.shape[1]
        w = torch.ones((c, 1, *k), dtype=x.dtype)
        y = CONV_FN[nd](F.pad(x, pads), w, stride=s, dilation=d, groups=c)
        return y[(Ellipsis, *(slice(0, o) for o in out))]


def _nd(v: object, nd: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * nd  # type: ignore[union-attr]


def ones_weights(model: nn.Module) -> nn.Module:
    """All conv / linear weights one, biases zero (in place; the model stays float32: the
    analysis traces float32 models, see test_analyze_float64_model)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)):
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()
    return model.eval()


def oracle_of(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` with every max pool replaced by its window sum."""
    oracle = copy.deepcopy(model).double()
    for m in list(oracle.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, (nn.MaxPool1d, nn.MaxPool2d)):
                setattr(m, child_name, WindowSum(child, 1 if isinstance(child, nn.MaxPool1d) else 2))
    return oracle


def positive_input(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) + 0.5


def grads(oracle: nn.Module, in_shape: tuple[int, ...], indices: list[tuple[int, ...]], pick=None) -> torch.Tensor:
    """Input gradients (summed over input channels) of output channel 0 at each spatial index:
    one batched backward pass, copy ``b`` of the input differentiates output ``indices[b]``.
    ``pick`` maps the model's output to the tensor to differentiate (default: the output)."""
    b = len(indices)
    x = positive_input((1, *in_shape[1:])).repeat(b, *([1] * (len(in_shape) - 1))).requires_grad_(True)
    out = oracle(x)
    if pick is not None:
        out = pick(out)
    total = sum(out[(i, 0, *idx)] for i, idx in enumerate(indices))
    (g,) = torch.autograd.grad(total, x)
    return g.sum(dim=1)  # (b, *spatial)


def nonzero_set(g: torch.Tensor) -> set[tuple[int, ...]]:
    assert torch.isfinite(g).all()
    return {tuple(int(v) for v in p) for p in torch.nonzero(g)}


def sample_indices(out_spatial: tuple[int, ...], rng: random.Random, count: int) -> list[tuple[int, ...]]:
    """All indices in 1-D; in N-d the corners, the centre and random ones."""
    if len(out_spatial) == 1:
        return [(y,) for y in range(out_spatial[0])]
    corners = list(itertools.product(*[(0, n - 1) for n in out_spatial]))
    centre = [tuple(n // 2 for n in out_spatial)]
    rand = [tuple(rng.randrange(n) for n in out_spatial) for _ in range(count)]
    return list(dict.fromkeys(corners + centre + rand))


def assert_support_matches(report, oracle, in_shape, rng, count=8, paths_factor=None, name=None, pick=None):
    """The report's per-axis supports (and path counts) of node ``name`` == autograd's."""
    fnd = report.field(name)
    node = report.node(name)
    spatial = tuple(node.shape[2:])
    assert fnd.length == spatial, (fnd.length, spatial)
    idx = sample_indices(spatial, rng, count)
    g = grads(oracle, in_shape, idx, pick)
    for b, y in enumerate(idx):
        supports = [fnd[a].support(y[a]) for a in range(len(y))]
        expected = set(itertools.product(*supports))
        got = nonzero_set(g[b])
        assert got == expected, f"output {y}: autograd {sorted(got)} != analysis {sorted(expected)}"
        if paths_factor is not None:
            per_axis = [fnd[a].paths(y[a]) for a in range(len(y))]
            assert all(set(p) == set(s) for p, s in zip(per_axis, supports, strict=True))
            for pos in expected:
                count_paths = 1
                for a, p in enumerate(pos):
                    count_paths *= per_axis[a][p]
                assert g[b][pos].item() == count_paths * paths_factor, (y, pos, g[b][pos].item(), count_paths)


def fields_equal(r1, r2, name=None, indices=None) -> None:
    """Two reports give the same per-axis supports and path counts at ``name``."""
    f1, f2 = r1.field(name), r2.field(name)
    assert f1.length == f2.length
    for a in range(len(f1)):
        ys = range(f1[a].length) if indices is None else indices
        for y in ys:
            assert f1[a].support(y) == f2[a].support(y), (a, y)
            assert f1[a].paths(y) == f2[a].paths(y), (a, y)


def node_summary(report) -> list[tuple]:
    return [(n.name, n.op, n.kind, tuple(n.shape), tuple(map(str, n.rf())), tuple(n.alignment)) for n in report.nodes]


# --------------------------------------------------------------------------- 1. random chains


def _try_layer(layer: nn.Module, x: torch.Tensor, cap: int) -> torch.Tensor | None:
    try:
        with torch.no_grad():
            y = layer(x)
    except (RuntimeError, ValueError):
        return None  # torch refuses this configuration (too small, bad padding, ...)
    if y.dim() != x.dim() or any(n < 1 or n > cap for n in y.shape[2:]):
        return None
    return y


def random_chain(seed: int, nd: int):
    """A seeded random chain: (model, input shape, path-exact flag, product of conv in-widths)."""
    rng = random.Random(seed * 7919 + nd)
    lo_n, hi_n, cap = (8, 40, 120) if nd == 1 else (6, 24, 48)
    in_shape = (1, rng.choice([1, 2]), *[rng.randint(lo_n, hi_n) for _ in range(nd)])
    x = torch.zeros(in_shape)
    layers: list[nn.Module] = []
    exact, factor = True, 1
    n_layers = rng.randint(1, 5)
    kinds = ["conv", "conv", "convT", "maxpool", "avgpool", "nearest", "linear", "pad", "crop"]

    def per_axis(f):
        vals = tuple(f() for _ in range(nd))
        return vals[0] if nd == 1 else vals

    attempts = 0
    while len(layers) < n_layers and attempts < 200:
        attempts += 1
        kind = rng.choice(kinds)
        c = x.shape[1]
        if kind == "conv":
            k = per_axis(lambda: rng.randint(1, 4))
            d = per_axis(lambda: rng.randint(1, 3))
            if rng.random() < 0.25:
                s, p = 1, "same"
            else:
                s = per_axis(lambda: rng.randint(1, 3))
                p = per_axis(lambda: rng.randint(0, 3))
            layer = CONV[nd](c, rng.choice([1, 2]), k, stride=s, padding=p, dilation=d)
        elif kind == "convT":
            k = [rng.randint(1, 4) for _ in range(nd)]
            s = [rng.randint(1, 3) for _ in range(nd)]
            d = [rng.randint(1, 3) for _ in range(nd)]
            p = [rng.randint(0, 3) for _ in range(nd)]
            op = [rng.randrange(max(si, di)) for si, di in zip(s, d, strict=True)]
            unpack = (lambda v: v[0]) if nd == 1 else tuple
            layer = CONVT[nd](
                c, rng.choice([1, 2]), unpack(k), stride=unpack(s), padding=unpack(p),
                output_padding=unpack(op), dilation=unpack(d),
            )  # fmt: skip
        elif kind == "maxpool":
            k = [rng.randint(1, 4) for _ in range(nd)]
            s = [rng.randint(1, 3) for _ in range(nd)]
            p = [rng.randint(0, ki // 2) for ki in k]
            d = [rng.randint(1, 2) for _ in range(nd)]
            unpack = (lambda v: v[0]) if nd == 1 else tuple
            layer = MAXPOOL[nd](unpack(k), unpack(s), unpack(p), unpack(d), ceil_mode=rng.random() < 0.5)
        elif kind == "avgpool":
            k = [rng.randint(1, 4) for _ in range(nd)]
            s = [rng.randint(1, 3) for _ in range(nd)]
            p = [rng.randint(0, ki // 2) for ki in k]
            unpack = (lambda v: v[0]) if nd == 1 else tuple
            layer = AVGPOOL[nd](unpack(k), unpack(s), unpack(p), ceil_mode=rng.random() < 0.5)
        elif kind == "nearest":
            scale = per_axis(lambda: rng.randint(1, 3))
            layer = nn.Upsample(scale_factor=scale, mode="nearest")
        elif kind == "linear":
            scale = per_axis(lambda: rng.randint(1, 3))
            layer = nn.Upsample(scale_factor=scale, mode=LINEAR_MODE[nd], align_corners=False)
        elif kind == "pad":
            layer = ZEROPAD[nd](tuple(rng.randint(0, 3) for _ in range(2 * nd)))
        else:
            slices = []
            for n in x.shape[2:]:
                a = rng.randint(0, min(3, n - 1))
                b = rng.randint(max(a + 1, n - 3), n)
                slices.append(slice(a, b if b < n or rng.random() < 0.5 else None, rng.choice([1, 1, 1, 2])))
            layer = Crop(tuple(slices))
        y = _try_layer(layer, x, cap)
        if y is None:
            continue
        layers.append(layer)
        if kind in ("conv", "convT"):
            factor *= c
        if kind in ("maxpool", "avgpool", "linear"):
            exact = False
        x = y
    model = ones_weights(nn.Sequential(*layers))
    return model, in_shape, exact, factor


CHAINS_1D = list(range(100))
CHAINS_2D = list(range(50))


def _check_chain(seed: int, nd: int) -> None:
    model, in_shape, exact, factor = random_chain(seed, nd)
    oracle = oracle_of(model)
    rng = random.Random(seed)
    reports = {m: analyze(model, in_shape, method=m) for m in ("meta", "real")}
    out_shape = tuple(oracle(positive_input(in_shape)).shape)
    for method, report in reports.items():
        assert report.trace.method == method
        assert report.unknown == [], [(n.name, n.op, n.notes) for n in report.unknown]
        assert tuple(report.node().shape) == out_shape
        assert not any("differs from the spec" in note for n in report.nodes for note in n.notes)
    report = reports["meta"]
    assert_support_matches(report, oracle, in_shape, rng, count=8, paths_factor=factor if exact else None)
    # every intermediate layer too, against the oracle of the chain's prefix
    for i in range(len(model) - 1):
        assert_support_matches(report, oracle[: i + 1], in_shape, rng, count=3, name=str(i))
    # 3. the two tracers agree, node by node and on every field
    assert node_summary(reports["meta"]) == node_summary(reports["real"])
    idx = None if nd == 1 else [0, 1, 2, 5]
    for node in report.nodes:
        if all(isinstance(f, Field) for f in node.fields):
            short = None if idx is None else [i for i in idx if i < min(f.length for f in node.fields)]
            fields_equal(reports["meta"], reports["real"], node.name, short)


@pytest.mark.parametrize("seed", CHAINS_1D)
def test_random_chain_1d(seed: int) -> None:
    _check_chain(seed, 1)


@pytest.mark.parametrize("seed", CHAINS_2D)
def test_random_chain_2d(seed: int) -> None:
    _check_chain(seed, 2)


def test_random_chains_cover_the_layer_zoo() -> None:
    """The generator really builds every kind of layer, path-exact chains and pooled ones."""
    seen: set[str] = set()
    exact_count = 0
    for nd, seeds in ((1, CHAINS_1D), (2, CHAINS_2D)):
        for seed in seeds:
            model, _, exact, _ = random_chain(seed, nd)
            exact_count += exact
            for m in model:
                name = type(m).__name__
                if isinstance(m, nn.Upsample):
                    name += ":" + m.mode
                if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)) and m.ceil_mode:
                    seen.add(name + ":ceil")
                if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.padding == "same":
                    seen.add(name + ":same")
                if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)) and any(m.output_padding):
                    seen.add(name + ":output_padding")
                if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) and _nd(m.dilation, 1)[0] > 1:
                    seen.add(name + ":dilated")
                seen.add(name)
    for nd in ("1d", "2d"):
        for base in ("Conv", "ConvTranspose", "MaxPool", "AvgPool", "ZeroPad"):
            assert f"{base}{nd}" in seen, f"{base}{nd}"
        assert f"Conv{nd}:same" in seen and f"MaxPool{nd}:ceil" in seen and f"AvgPool{nd}:ceil" in seen
        assert f"ConvTranspose{nd}:output_padding" in seen and f"MaxPool{nd}:dilated" in seen
    for name in ("Crop", "Upsample:nearest", "Upsample:linear", "Upsample:bilinear"):
        assert name in seen, name
    assert exact_count >= 40


def test_window_sum_oracle_is_the_max_pools_windows() -> None:
    """The oracle's window sum reads exactly the windows of torch's max pool (ceil mode and
    dilation included): with one-hot inputs, a max pool of nonnegative values is nonzero
    exactly where the window sum is."""
    for n, k, s, p, d, ceil in [
        (11, 3, 2, 1, 1, True),
        (10, 2, 3, 1, 2, True),
        (9, 4, 2, 2, 1, False),
        (7, 3, 3, 0, 2, True),
    ]:
        pool = nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)
        ws = WindowSum(pool, 1)
        for x0 in range(n):
            x = torch.zeros(1, 1, n, dtype=torch.float64)
            x[0, 0, x0] = 1.0
            assert torch.equal(pool(x) != 0, ws(x) != 0), (n, k, s, p, d, ceil, x0)


# --------------------------------------------------------------------------- 2. random DAGs


def _branch(kind: str, c: int, nd: int) -> nn.Module:
    conv, convt = CONV[nd], CONVT[nd]
    if kind == "k3same":
        return conv(c, c, 3, padding="same")
    if kind == "k3d2p2":
        return conv(c, c, 3, padding=2, dilation=2)
    if kind == "k2same":
        return conv(c, c, 2, padding="same")
    if kind == "k4same":
        return conv(c, c, 4, padding="same")
    if kind == "k5p2":
        return conv(c, c, 5, padding=2)
    if kind == "pool_up":
        return nn.Sequential(MAXPOOL[nd](2), nn.Upsample(scale_factor=2, mode="nearest"))
    if kind == "s2_t4":
        return nn.Sequential(conv(c, c, 3, stride=2, padding=1), convt(c, c, 4, stride=2, padding=1))
    if kind == "s2_t3":
        return nn.Sequential(conv(c, c, 3, stride=2, padding=1), convt(c, c, 3, stride=2, padding=1, output_padding=1))
    if kind == "avg3":
        return AVGPOOL[nd](3, stride=1, padding=1)
    if kind == "lin_up":
        return nn.Sequential(AVGPOOL[nd](2), nn.Upsample(scale_factor=2, mode=LINEAR_MODE[nd], align_corners=False))
    if kind == "shift":  # one position to the right: pad on the left, crop the right end
        return nn.Sequential(ZEROPAD[nd]((1, 0) * nd), Crop(tuple(slice(0, -1) for _ in range(nd))))
    if kind == "identity":
        return nn.Identity()
    raise AssertionError(kind)


BRANCHES = [
    "k3same",
    "k3d2p2",
    "k2same",
    "k4same",
    "k5p2",
    "pool_up",
    "s2_t4",
    "s2_t3",
    "avg3",
    "lin_up",
    "shift",
    "identity",
]


class DAG(nn.Module):
    """A stem, branches with identical output shapes, merged by ``+`` (chained) or ``cat``."""

    def __init__(self, branches: list[str], merge: str, nd: int, c: int = 2, head: bool = True) -> None:
        super().__init__()
        self.stem = CONV[nd](1, c, 3, padding=1)
        self.branches = nn.ModuleList([_branch(b, c, nd) for b in branches])
        self.merge = merge
        width = c * len(branches) if merge == "cat" else c
        self.head = CONV[nd](width, 1, 3, padding=1) if head else nn.Identity()
        self.record: dict[str, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        outs = [b(h) for b in self.branches]
        if self.merge == "cat":
            merged = torch.cat(outs, dim=1)
            seq = []
        else:
            merged = outs[0]
            seq = []
            for o in outs[1:]:
                merged = merged + o
                seq.append(merged)
        if self.record is not None:
            self.record.update({f"branch{i}": o for i, o in enumerate(outs)})
            self.record.update({f"acc{i}": o for i, o in enumerate(seq)})
        return self.head(merged)


def oracle_centres(oracle: DAG, in_shape, tensor: str) -> list[Fraction]:
    """Per axis: centre of the field of the recorded tensor's interior outputs, minus ``y``,
    averaged over four consecutive outputs (whole periods of every branch here)."""
    nd = len(in_shape) - 2
    spatial = in_shape[2:]
    centres = []
    for a in range(nd):
        mid = [n // 2 for n in spatial]
        idx = []
        for t in range(4):
            y = list(mid)
            y[a] = mid[a] - 2 + t
            idx.append(tuple(y))

        def pick(_out, name=tensor):
            assert oracle.record is not None
            return oracle.record[name]

        oracle.record = {}
        g = grads(oracle, in_shape, idx, pick)
        oracle.record = None
        total = Fraction(0)
        for b, y in enumerate(idx):
            pos = sorted({p[a] for p in nonzero_set(g[b])})
            assert pos[0] > 0 and pos[-1] < spatial[a] - 1, "the oracle needs an interior output"
            total += Fraction(pos[0] + pos[-1], 2) - y[a]
        centres.append(total / 4)
    return centres


def _check_dag(branches: list[str], merge: str, nd: int, n: int, head: bool = True) -> None:
    model = ones_weights(DAG(branches, merge, nd, head=head))
    oracle = oracle_of(model)
    in_shape = (1, 1, *([n] * nd))
    reports = {m: analyze(model, in_shape, method=m) for m in ("meta", "real")}
    report = reports["meta"]
    assert report.unknown == []
    assert node_summary(reports["meta"]) == node_summary(reports["real"])
    # the merged field (then the head) is the union that autograd sees
    assert_support_matches(report, oracle, in_shape, random.Random(n), count=10)
    merges = [node for node in report.nodes if node.kind == "merge"]
    if merge == "cat":
        assert len(merges) == 1
        groups = [[f"branch{i}" for i in range(len(branches))]]
    else:
        assert len(merges) == len(branches) - 1
        groups = [["branch0", "branch1"]] + [[f"acc{i - 1}", f"branch{i + 1}"] for i in range(1, len(branches) - 1)]
    for node, group in zip(merges, groups, strict=True):
        assert len(node.inputs) == len(group)
        centres = [oracle_centres(oracle, in_shape, t) for t in group]
        # each merge input's field (as analysed) has the oracle's centre
        for inp, c in zip(node.inputs, centres, strict=True):
            assert list(report.field(inp).centre) == c, (inp, report.field(inp).centre, c)
        for a in range(nd):
            differ = len({c[a] for c in centres}) > 1
            notes = [t for t in node.alignment if t.startswith(f"axis {a}:")]
            assert bool(notes) == differ, (node.name, a, centres, node.alignment)
            if differ:
                for c in centres[1:]:
                    off = c[a] - centres[0][a]
                    if off:
                        assert f"centred {off} input positions" in notes[0], (notes, off)
        # the merged support at an interior output is the union of the inputs' supports
        merged = report.field(node.name)
        for a in range(nd):
            y = n // 2
            union = set().union(*[set(report.field(inp)[a].support(y)) for inp in node.inputs])
            assert set(merged[a].support(y)) == union


def random_dag(seed: int) -> tuple[list[str], str, int, int, bool]:
    rng = random.Random(1000 + seed)
    nd = 1 if seed < 20 else 2
    branches = rng.sample(BRANCHES, rng.choice([2, 2, 3]))
    merge = rng.choice(["add", "cat"])
    n = rng.choice([20, 24, 28]) if nd == 1 else rng.choice([16, 20])
    return branches, merge, nd, n, rng.random() < 0.7


@pytest.mark.parametrize("seed", range(30))
def test_random_dag(seed: int) -> None:
    _check_dag(*random_dag(seed))


@pytest.mark.parametrize(
    ("branches", "offsets"),
    [
        (["k3same", "k3d2p2"], []),
        (["k3same", "pool_up"], []),
        (["k3same", "k2same"], ["1/2"]),
        (["k3same", "k4same"], ["1/2"]),
        (["k3same", "shift"], ["-1"]),
        # stride 2 then transposed k4 s2 p1: phase 0 reads x[-3..1], phase 1 x[-1..3]: centre -1/2
        (["k3same", "s2_t4"], ["-1/2"]),
        (["k3same", "s2_t3"], []),
        (["k3same", "k3d2p2", "pool_up"], []),
        (["k3same", "pool_up", "s2_t4"], ["-1/2"]),
    ],
)
@pytest.mark.parametrize("merge", ["add", "cat"])
def test_named_dags_alignment(branches: list[str], offsets: list[str], merge: str) -> None:
    """The brief's branches: 'same' k3, k3 d2 p2 and max pool 2 -> nearest 2 centre on the
    output; a k=2 or k=4 'same' conv is half a position off, and so (averaged over its two
    phases) is stride 2 -> transposed k4 s2 p1."""
    _check_dag(branches, merge, 1, 24)
    report = analyze(ones_weights(DAG(branches, merge, 1)), (1, 1, 24))
    merges = [node for node in report.nodes if node.kind == "merge"]
    text = "; ".join(t for node in merges for t in node.alignment)
    assert bool(text) == bool(offsets), text
    for off in offsets:
        assert f"is centred {off} input positions from" in text, text


def test_dag_2d_per_axis_alignment() -> None:
    """A 2-D merge misaligned along one axis only: the note names that axis alone."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding="same")
            self.b = nn.Conv2d(1, 1, (3, 2), padding="same")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(x)

    model = ones_weights(Net())
    report = analyze(model, (1, 1, 12, 12))
    node = report.node("add")
    assert len(node.alignment) == 1 and node.alignment[0].startswith("axis 1:"), node.alignment
    assert_support_matches(report, oracle_of(model), (1, 1, 12, 12), random.Random(0), count=12)


# --------------------------------------------------------------------------- 3. tracers


@pytest.mark.parametrize("method", ["auto", "meta", "real"])
def test_analyze_float64_model(method: str) -> None:
    report = analyze(nn.Conv1d(1, 1, 3).double(), (1, 1, 8), method=method)
    assert report.field()[0].support(0) == (0, 1, 2)


class ShapeBranch(nn.Module):
    """Control flow on the input's size: the meta run follows it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 1, 3, dilation=2)
        self.b = nn.Conv1d(1, 1, 5)
        self.c = nn.Conv1d(1, 1, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 16:
            x = self.a(x)
        else:
            x = self.b(x)
        return self.c(x)


class ValueBranch(nn.Module):
    """The brief's data-dependent control flow: ``if x.sum() > 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 1, 3, dilation=2)
        self.b = nn.Conv1d(1, 1, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


@pytest.mark.parametrize("n", [12, 30])
def test_shape_dependent_control_flow_runs_on_meta(n: int) -> None:
    model = ones_weights(ShapeBranch())
    report = analyze(model, (1, 1, n))
    assert report.trace.method == "meta"
    assert not report.trace.failure
    assert report.unknown == []
    used = "a" if n > 16 else "b"
    assert [node.name for node in report.nodes] == ["(input)", used, "c"]
    assert_support_matches(report, oracle_of(model), (1, 1, n), random.Random(0), paths_factor=1)
    fields_equal(report, analyze(model, (1, 1, n), method="real"))


def test_auto_falls_back_to_a_real_input_on_value_dependent_control_flow() -> None:
    model = ones_weights(ValueBranch())
    with pytest.raises(SpecError, match="cannot run on the meta device"):
        analyze(model, (1, 1, 20), method="meta")
    report = analyze(model, (1, 1, 20))
    assert report.trace.method == "real"
    assert report.trace.failure
    assert_support_matches(report, oracle_of(model), (1, 1, 20), random.Random(0), paths_factor=1)


def test_meta_and_real_traces_agree_on_builtin_style_blocks() -> None:
    """A residual block with a strided shortcut, functional calls and in-place ops."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(2, 2, 3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(2, 2, 3, padding=2, dilation=2)
            self.down = nn.Conv2d(2, 2, 1, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.conv1(x))
            y = self.conv2(y)
            y = y + self.down(x)
            return F.max_pool2d(y, 3, 1, 1)

    model = ones_weights(Block())
    shape = (1, 2, 17, 14)
    r_fx, r_hooks = analyze(model, shape, method="meta"), analyze(model, shape, method="real")
    assert node_summary(r_fx) == node_summary(r_hooks)
    fields_equal(r_fx, r_hooks)
    # F.max_pool2d is a functional call: the oracle swaps it through a flag-free copy
    oracle = copy.deepcopy(model).double()
    oracle.forward = lambda x: F.avg_pool2d(oracle.conv2(F.relu(oracle.conv1(x))) + oracle.down(x), 3, 1, 1)  # type: ignore[method-assign]
    assert_support_matches(r_fx, oracle, shape, random.Random(1), count=16)


# --------------------------------------------------------------------------- 4. global ops


class ImagePool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.local = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.interpolate(self.proj(self.pool(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.local(x) + g


class FlattenLinear(nn.Module):
    def __init__(self, shape: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(2 * shape[0] * shape[1], 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flat(self.conv(x)))


class SpatialMean(nn.Module):
    def __init__(self, dims: tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.conv(x), dim=self.dims, keepdim=self.keepdim)


def _every_input(model: nn.Module, shape: tuple[int, ...], out_index: tuple[int, ...]) -> bool:
    x = positive_input(shape).requires_grad_(True)
    out = oracle_of(model)(x)
    (g,) = torch.autograd.grad(out[out_index], x)
    return bool((g != 0).all())


@pytest.mark.parametrize("method", ["meta", "real"])
def test_image_pooling_branch_is_global(method: str) -> None:
    model = ones_weights(ImagePool())
    shape = (1, 2, 9, 11)
    report = analyze(model, shape, method=method)
    assert report.node().rf() == ["global", "global"]
    assert report.node().fields == [GLOBAL, GLOBAL]
    assert report.node("pool").rf() == ["global", "global"]
    assert report.node("local").rf() == [3, 3]
    with pytest.raises(SpecError, match="global"):
        report.field()
    for idx in [(0, 0, 0, 0), (0, 1, 4, 5), (0, 0, 8, 10)]:
        assert _every_input(model, shape, idx)
    assert report.unknown == []


@pytest.mark.parametrize("method", ["meta", "real"])
def test_linear_after_flatten_is_global(method: str) -> None:
    model = ones_weights(FlattenLinear((7, 6)))
    report = analyze(model, (1, 1, 7, 6), method=method)
    assert report.node().rf() == ["global", "global"]
    assert report.node().kind == "global"
    assert _every_input(model, (1, 1, 7, 6), (0, 2))
    assert report.unknown == []


@pytest.mark.parametrize("method", ["meta", "real"])
@pytest.mark.parametrize("dims", [(2, 3), (-2, -1), (-1, -2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mean_over_space_is_global(method: str, dims: tuple[int, ...], keepdim: bool) -> None:
    model = ones_weights(SpatialMean(dims, keepdim))
    report = analyze(model, (1, 1, 8, 10), method=method)
    assert report.node().rf() == ["global", "global"]
    assert _every_input(model, (1, 1, 8, 10), (0, 0, 0, 0) if keepdim else (0, 0))


@pytest.mark.parametrize("method", ["meta", "real"])
def test_mean_over_one_axis_keeps_the_other_exact(method: str) -> None:
    model = ones_weights(SpatialMean((-1,), True))
    shape = (1, 1, 9, 10)
    report = analyze(model, shape, method=method)
    node = report.node()
    assert node.rf() == [3, "global"]
    f0 = node.fields[0]
    assert isinstance(f0, Field)
    for y in range(node.shape[2]):
        x = positive_input(shape).requires_grad_(True)
        (g,) = torch.autograd.grad(oracle_of(model)(x)[0, 0, y, 0], x)
        rows = sorted({int(p[2]) for p in torch.nonzero(g)})
        assert tuple(rows) == f0.support(y)
        assert (g[0, 0, rows] != 0).all()  # every column of those rows: global along axis 1


# --------------------------------------------------------------------------- 5. unknown and known-global ops


class Roll(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 1, -1)


class RollTwice(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(torch.roll(x, 1, -1), -1, -1)


class Flip(nn.Module):
    """Not shift-equivariant, not known: the analysis must say 'unknown'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, [-1])


class FlipTwice(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(torch.flip(x, [-1]), [-1])


class FFTReal(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(x, dim=-1).real


class RFFTAbs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(x, dim=-1).abs()


class Body(nn.Module):
    def __init__(self, mix: nn.Module) -> None:
        super().__init__()
        self.mix = mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x)


def _wrapped(mix: nn.Module, nd: int = 1) -> nn.Module:
    """conv k3 -> body.mix -> conv k3 d2 (the op under test sits at path '1.mix')."""
    return ones_weights(nn.Sequential(CONV[nd](1, 1, 3), Body(mix), CONV[nd](1, 1, 3, dilation=2)))


def _expected(extra: list, n: int):
    return receptive_field([ConvSpec(3), *extra, ConvSpec(3, dilation=2)], input_size=n)[-1]


@pytest.mark.parametrize("method", ["meta", "real"])
def test_roll_is_an_exact_circular_shift(method: str) -> None:
    n = 20
    model = _wrapped(Roll())
    report = analyze(model, (1, 1, n), method=method)
    assert report.unknown == []
    assert_support_matches(report, oracle_of(model), (1, 1, n), random.Random(0), paths_factor=1)


@pytest.mark.parametrize("method", ["meta", "real"])
def test_unknown_op_is_reported_and_declarations_fix_it(method: str) -> None:
    n = 20
    model = _wrapped(Flip())
    report = analyze(model, (1, 1, n), method=method)  # does not crash
    assert [(u.name, u.op) for u in report.unknown] == [("1/mix", "flip")]
    assert any("flip" in note and "specs=" in note for note in report.unknown[0].notes)
    assert report.node().rf() == ["?"]
    with pytest.raises(SpecError, match=r"unknown.*1/mix.*flip"):
        report.field()
    assert "flip" in report.to_json()
    for key in ("1.mix", "flip"):
        declared = analyze(model, (1, 1, n), method=method, specs={key: "pointwise"})
        assert declared.unknown == []
        assert "declared by the user" in declared.node("1/mix").notes
        want = _expected([], n)
        got = declared.field()[0]
        assert got.length == want.length
        assert [got.support(y) for y in range(got.length)] == [want.support(y) for y in range(want.length)]
        assert [got.paths(y) for y in range(got.length)] == [want.paths(y) for y in range(want.length)]
    spec = ConvSpec(3, padding=1)
    declared = analyze(model, (1, 1, n), method=method, specs={"1.mix": spec})
    assert declared.unknown == []
    assert declared.node("1/mix").spec == spec
    want = _expected([spec], n)
    got = declared.field()[0]
    assert [got.support(y) for y in range(got.length)] == [want.support(y) for y in range(want.length)]
    assert [got.paths(y) for y in range(got.length)] == [want.paths(y) for y in range(want.length)]


@pytest.mark.parametrize("method", ["meta", "real"])
def test_unknown_op_in_2d(method: str) -> None:
    model = _wrapped(Flip(), nd=2)
    shape = (1, 1, 12, 13)
    report = analyze(model, shape, method=method)
    assert [u.op for u in report.unknown] == ["flip"]
    spec = ConvSpec((1, 3), padding=(0, 1))
    declared = analyze(model, shape, method=method, specs={"1.mix": spec})
    assert declared.unknown == []
    want = receptive_field([ConvSpec(3), spec, ConvSpec(3, dilation=2)], input_size=(12, 13))[-1]
    got = declared.field()
    for a in range(2):
        assert [got[a].support(y) for y in range(got[a].length)] == [want[a].support(y) for y in range(want[a].length)]


@pytest.mark.parametrize("method", ["meta", "real"])
@pytest.mark.parametrize("mix", [RFFTAbs, FFTReal])
def test_fft_is_global(method: str, mix: type) -> None:
    """fft / rfft read the whole axis (rfft changes the length too): the output is global,
    exactly as autograd says; declaring the module pointwise overrides it."""
    model = _wrapped(mix())
    report = analyze(model, (1, 1, 20), method=method)
    assert report.unknown == []
    assert report.node().rf() == ["global"]
    with pytest.raises(SpecError, match=r"global.*fft"):
        report.field()
    out = report.node().shape[-1]
    if mix is RFFTAbs:  # |X_j| moves with every input (Re X_j alone has exact zeros: cos(2 pi j p / n))
        for y in (0, out - 1):
            assert _every_input(model, (1, 1, 20), (0, 0, y))
    if mix is FFTReal:
        declared = analyze(model, (1, 1, 20), method=method, specs={"1.mix": "pointwise"})
        assert declared.unknown == []
        want = _expected([], 20)
        got = declared.field()[0]
        assert [got.support(y) for y in range(got.length)] == [want.support(y) for y in range(want.length)]


@pytest.mark.parametrize("method", ["meta", "real"])
def test_declared_spec_of_a_module_making_two_calls(method: str) -> None:
    n = 20
    model = _wrapped(FlipTwice())
    spec = ConvSpec(3, padding=1)
    declared = analyze(model, (1, 1, n), method=method, specs={"1.mix": spec})
    assert declared.unknown == []
    want = _expected([spec], n)
    got = declared.field()[0]
    assert got.size == want.size == 9, (got.size, want.size)
    assert [got.support(y) for y in range(got.length)] == [want.support(y) for y in range(want.length)]


# --------------------------------------------------------------------------- 6. Luo et al. 2016


def _variance(paths: dict[int, int]) -> Fraction:
    total = sum(paths.values())
    mean = Fraction(sum(p * c for p, c in paths.items()), total)
    return sum((Fraction(p) - mean) ** 2 * c for p, c in paths.items()) / total


@pytest.mark.parametrize(("n_layers", "k"), [(1, 2), (1, 3), (2, 2), (3, 3), (4, 3), (2, 5), (5, 4), (6, 2), (3, 6)])
def test_uniform_weights_variance(n_layers: int, k: int) -> None:
    length = 41
    model = nn.Sequential(*[nn.Conv1d(1, 1, k, padding="same", bias=False) for _ in range(n_layers)])
    for conv in model:
        nn.init.constant_(conv.weight, 1.0)
    report = analyze(model, (1, 1, length))
    centre = length // 2
    paths = report.field()[0].paths(centre)
    assert sum(paths.values()) == k**n_layers  # no path lost at the border
    assert _variance(paths) == Fraction(n_layers * (k * k - 1), 12)
    # the path counts are the all-ones network's gradient, exactly
    g = grads(oracle_of(model), (1, 1, length), [(centre,)])[0]
    assert {int(p[0]): g[p[0]].item() for p in torch.nonzero(g)} == {p: float(c) for p, c in paths.items()}
    e = erf(model, (1, 1, length), samples=2)
    assert e.output_index == (centre,)
    assert abs(e.sigma[0] ** 2 - n_layers * (k * k - 1) / 12) < 1e-9
    total = sum(paths.values())
    for p in range(length):
        assert abs(e.map[p] - paths.get(p, 0) / total) < 1e-12


@pytest.mark.parametrize(("n_layers", "k"), [(2, 3), (3, 2)])
def test_uniform_weights_variance_2d(n_layers: int, k: int) -> None:
    shape = (1, 1, 15, 17)
    model = nn.Sequential(*[nn.Conv2d(1, 1, k, padding="same", bias=False) for _ in range(n_layers)])
    for conv in model:
        nn.init.constant_(conv.weight, 1.0)
    report = analyze(model, shape)
    e = erf(model, shape, samples=2)
    want = Fraction(n_layers * (k * k - 1), 12)
    for a in range(2):
        paths = report.field()[a].paths(shape[2 + a] // 2)
        assert _variance(paths) == want
        assert abs(e.sigma[a] ** 2 - float(want)) < 1e-9


def test_a_causal_residual_is_noted_but_not_warned_about() -> None:
    """``x + conv(F.pad(x, (2, 0)))``: the branches' centres differ (noted on the node) but
    both fields end at the present sample, as in every causal TCN: no warning. A residual
    whose conv branch ends one sample in the past is out of alignment: warned."""
    import warnings

    class Res(nn.Module):
        def __init__(self, pad: tuple[int, int], crop: bool) -> None:
            super().__init__()
            self.conv, self.pad, self.crop = nn.Conv1d(1, 1, 3), pad, crop

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(F.pad(x, self.pad))
            return x + (y[..., : x.shape[-1]] if self.crop else y)

    for pad, crop, warned in (((2, 0), False, False), ((3, 0), True, True)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            report = analyze(Res(pad, crop), (1, 1, 32))
        assert any("out of alignment" in str(w.message) for w in seen) == warned, (pad, [str(w.message) for w in seen])
        assert any(node.alignment for node in report.nodes)  # the centres differ either way
