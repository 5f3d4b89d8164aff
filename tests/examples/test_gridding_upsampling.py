"""Gridding and upsampling examples, their data generators and ``periodic_power``."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from atrous.analysis.spectra import periodic_power
from atrous.datasets.dense import gaussian_matrix, smooth_fields, sparse_dots
from atrous.errors import SpecError
from atrous.geometry import coverage
from atrous.nn import Conv2d, ShiftConsistencyLoss, checkerboard

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gridding():
    return _load("gridding")


@pytest.fixture(scope="module")
def upsampling():
    return _load("upsampling")


# --------------------------------------------------------------------------- periodic_power


def test_periodic_power_checkerboard_constant_and_stripes():
    i, j = np.indices((16, 16))
    assert periodic_power((-1.0) ** (i + j), 2) == pytest.approx(1.0, abs=1e-12)
    assert periodic_power((-1.0) ** i, 2) == pytest.approx(1.0, abs=1e-12)  # (pi, 0)
    assert periodic_power(np.full((16, 16), 2.5), 2) == 0.0
    assert periodic_power(np.full((16, 16), 2.5), 2, include_dc=True) == 0.0
    # a period-4 pattern: all its power is at period 4, and none of it at period 2
    p4 = np.cos(np.pi * i / 2)
    assert periodic_power(p4, 4) == pytest.approx(1.0, abs=1e-12)
    assert periodic_power(p4, 2) == pytest.approx(0.0, abs=1e-12)
    # a smooth image has almost none
    assert periodic_power(np.cos(2 * np.pi * i / 16) + np.sin(2 * np.pi * j / 16), 2) < 1e-12


def test_periodic_power_is_the_fft_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12, 8))
    for period in (2, (3, 4), (4, 2)):
        py, px = (period, period) if isinstance(period, int) else period
        periodic = total = 0.0
        for img in x:
            p = np.abs(np.fft.fft2(img - img.mean())) ** 2
            total += p.sum()
            periodic += p[:: 12 // py, :: 8 // px].sum()  # (0, 0) is zero after removing the mean
        assert periodic_power(x, period) == pytest.approx(periodic / total, rel=1e-10)
        assert periodic_power(torch.tensor(x), period) == pytest.approx(periodic / total, rel=1e-10)
    energy = float((x**2).sum())
    dc_removed = float(((x - x.mean(axis=(1, 2), keepdims=True)) ** 2).sum())
    assert periodic_power(x, 2, include_dc=True) == pytest.approx(periodic_power(x, 2) * dc_removed / energy)


@pytest.mark.parametrize(
    ("image", "period", "word"),
    [
        (np.zeros((6, 6)), 4, "period"),
        (np.zeros((6, 6)), 0, "period"),
        (np.zeros((6, 6)), (2, 2, 2), "period"),
        (np.zeros(6), 2, "two axes"),
        (np.full((4, 4), np.nan), 2, "finite"),
    ],
)
def test_periodic_power_bad_arguments(image, period, word):
    with pytest.raises(SpecError, match=word):
        periodic_power(image, period)


# --------------------------------------------------------------------------- generators


def test_sparse_dots_definition_on_a_small_case():
    dots, target = sparse_dots(3, 9, 0.1, 1.3, seed=5)
    assert dots.shape == target.shape == (3, 1, 9, 9)
    assert dots.dtype == target.dtype == torch.float32
    for img, tgt in zip(dots[:, 0], target[:, 0], strict=True):
        ys, xs = torch.nonzero(img, as_tuple=True)
        want = np.zeros((9, 9))
        for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
            for i in range(9):
                for j in range(9):
                    want[i, j] += math.exp(-((i - y) ** 2 + (j - x) ** 2) / (2 * 1.3**2))
        np.testing.assert_allclose(tgt.numpy(), want, rtol=1e-6, atol=1e-6)
    assert gaussian_matrix(4, 2.0)[0, 3].item() == pytest.approx(math.exp(-9 / 8))


def test_sparse_dots_seeds_and_density():
    a = sparse_dots(4, 16, 0.05, 2.0, seed=1)
    b = sparse_dots(4, 16, 0.05, 2.0, seed=1)
    c = sparse_dots(4, 16, 0.05, 2.0, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    dots, _ = sparse_dots(64, 64, 0.02, 1.0, seed=0)
    # 262144 Bernoulli(0.02) draws: the mean is within 5 standard deviations of 0.02
    assert abs(dots.mean().item() - 0.02) < 5 * math.sqrt(0.02 * 0.98 / dots.numel())
    assert torch.equal(sparse_dots(2, 5, 1.0, 1.0, seed=0)[0], torch.ones(2, 1, 5, 5))


def test_smooth_fields_statistics_and_seeds():
    f = smooth_fields(5, 32, 3.0, seed=4)
    assert f.shape == (5, 1, 32, 32)
    assert torch.equal(f, smooth_fields(5, 32, 3.0, seed=4))
    assert not torch.equal(f, smooth_fields(5, 32, 3.0, seed=5))
    d = f.double()
    assert torch.allclose(d.mean(dim=(-2, -1)), torch.zeros(5, 1, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(d.std(dim=(-2, -1), unbiased=False), torch.ones(5, 1, dtype=torch.float64), atol=1e-5)
    # the Gaussian spectrum leaves (almost) nothing at the Nyquist frequencies
    assert periodic_power(f, 2) < 1e-8
    # circular: the field is smooth across the wrap-around too
    assert (f[..., 0] - f[..., -1]).abs().max() < 4 * (f[..., 1:] - f[..., :-1]).abs().max()


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: sparse_dots(0, 8, 0.1, 1.0, seed=0), "n"),
        (lambda: sparse_dots(2, 0, 0.1, 1.0, seed=0), "size"),
        (lambda: sparse_dots(2, 8, 0.0, 1.0, seed=0), "density"),
        (lambda: sparse_dots(2, 8, 1.5, 1.0, seed=0), "density"),
        (lambda: sparse_dots(2, 8, 0.1, -1.0, seed=0), "sigma"),
        (lambda: sparse_dots(2, 8, 0.1, "wide", seed=0), "sigma"),
        (lambda: sparse_dots(2, 8, 0.1, 1.0, seed=-1), "seed"),
        (lambda: smooth_fields(0, 8, 1.0, seed=0), "n"),
        (lambda: smooth_fields(2, 1, 1.0, seed=0), "size"),
        (lambda: smooth_fields(2, 8, 0.0, seed=0), "length_scale"),
        (lambda: smooth_fields(2, 8, float("inf"), seed=0), "length_scale"),
        (lambda: smooth_fields(2, 8, 1.0, seed=1.5), "seed"),
        (lambda: gaussian_matrix(3, float("nan")), "sigma"),
    ],
)
def test_generators_bad_arguments(call, word):
    with pytest.raises(SpecError, match=rf"^{word} must"):
        call()


# --------------------------------------------------------------------------- gridding


def _linear_impulse_response(model, size, centre):
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    x[0, 0, centre, centre] = 1.0
    with torch.no_grad():
        return (model(x) - model(torch.zeros_like(x)))[0, 0]


def test_impulse_of_a_222_stack_has_exactly_the_coverage_holes():
    torch.manual_seed(0)
    stack = torch.nn.Sequential(
        Conv2d(1, 4, 3, dilation=2, padding="same"),
        Conv2d(4, 4, 3, dilation=2, padding="same"),
        Conv2d(4, 1, 3, dilation=2, padding="same"),
    ).double()
    cov = coverage([2, 2, 2], 3)
    size, c = 31, 15
    row = _linear_impulse_response(stack, size, c)[c]  # a random init: no cancellation
    half = (cov.size - 1) // 2
    offsets = range(-half, half + 1)
    holes = {h - half for h in cov.holes}
    assert {o for o in offsets if abs(row[c + o].item()) < 1e-12} == holes
    assert all(abs(row[c + o].item()) > 1e-8 for o in offsets if o not in holes)
    assert row[: c - half].abs().max() == 0 and row[c + half + 1 :].abs().max() == 0


def test_gridnet_impulse_matches_the_analysed_field(gridding):
    import atrous

    size = 32
    for rates in ((2, 2, 2), (1, 2, 5)):
        torch.manual_seed(1)
        net = gridding.GridNet(rates, channels=4, act=False).double()
        field = atrous.analyze(net, (1, 1, size, size)).field()
        c = 15
        resp = _linear_impulse_response(net, size, c)
        seen = resp.abs() > 1e-12
        # output y depends on input c exactly when c is in its tap set (per axis: a product)
        want = torch.zeros(size, size, dtype=torch.bool)
        reads = [c in field[0].support(y) for y in range(size)]
        for y in range(size):
            for x in range(size):
                want[y, x] = reads[y] and reads[x]
        assert torch.equal(seen, want), rates
        assert field.has_holes == (rates == (2, 2, 2))


def test_gridnet_is_not_shift_equivariant_so_the_loss_acts(gridding):
    torch.manual_seed(2)
    net = gridding.GridNet((2, 2, 2), channels=4)
    x, _ = sparse_dots(2, 16, 0.05, 1.5, seed=3)
    loss = ShiftConsistencyLoss(net, period=2, dims=(-2, -1), shifts="grid", margin=4)(x)
    assert loss.item() > 1e-6
    body = torch.nn.Sequential(*list(net.body)[2:])  # the stride-1 dilated part alone
    h = torch.randn(2, 4, 32, 32)
    stride1 = ShiftConsistencyLoss(body, period=2, dims=(-2, -1), circular=False, margin=7)(h)
    assert stride1.item() < 1e-12


def test_mse_floor_against_a_direct_sum(gridding):
    size, sigma, p = 12, 1.5, 0.1

    def support(y):
        return [x for x in range(size) if (x - y) % 3 == 0]

    direct = 0.0
    for y0 in range(size):
        for y1 in range(size):
            for x0 in range(size):
                for x1 in range(size):
                    if x0 in support(y0) and x1 in support(y1):
                        continue
                    direct += math.exp(-((x0 - y0) ** 2 + (x1 - y1) ** 2) / sigma**2)
    direct *= p * (1 - p) / size**2
    assert gridding.mse_floor([support, support], size, sigma, p) == pytest.approx(direct, rel=1e-12)
    assert gridding.mse_floor([lambda y: range(size)] * 2, size, sigma, p) == pytest.approx(0.0, abs=1e-15)


def test_lattice_share_and_common_offsets(gridding):
    r = torch.zeros(16, 16)
    r[8, 8], r[8, 12], r[9, 8] = 1.0, 1.0, 2.0
    assert gridding.lattice_share(r, 8, [-4, 0, 4]) == pytest.approx(2 / 6)
    import atrous

    field = atrous.analyze(gridding.GridNet((2, 2, 2), channels=2), (1, 1, 48, 48)).field()
    assert gridding.common_offsets(field[0], 48) == (-12, -8, -4, 0, 4, 8, 12)


@pytest.mark.slow
def test_gridding_quick_run(gridding, tmp_path):
    assert gridding.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    rec = json.loads((tmp_path / "gridding.json").read_text())
    assert rec["name"] == "gridding" and rec["mode"] == "quick"
    for f in rec["figures"]:
        assert (tmp_path / f["file"]).is_file()
    data = rec["data"]
    labels = [v[0] for v in gridding.VARIANTS]
    assert set(data["results"]) == set(labels) == set(data["curves"])
    assert len({data["results"][lb]["params"] for lb in labels}) == 1  # equal parameter counts
    for lb in labels:
        c = data["curves"][lb]
        assert len(c["step"]) == len(c["test_mse"]) == len(c["train_loss"]) == 5
        assert c["test_mse"][-1] < c["test_mse"][0]  # the quick run learns
        assert 0.0 <= data["results"][lb]["periodic_power_4"] <= 1.0
        assert 0.0 <= data["results"][lb]["one_dot_on_common_offsets"] <= 1.0
    assert data["curves"]["(2,2,2)"]["shift"] == [0.0] * 5
    assert all(v > 0 for v in data["curves"]["(2,2,2) + shift loss"]["shift"])
    # the reported fields and holes are the geometry's: the stem (2x2, stride 2) doubles the
    # half-resolution stack's field, the head (2x2, stride 2) reads one feature per output
    g222, g125 = data["geometry"]["(2,2,2)"], data["geometry"]["(1,2,5)"]
    for g, rates in ((g222, (2, 2, 2)), (g125, (1, 2, 5))):
        cov = coverage(rates, 3)
        assert g["rf"] == [2 * (cov.size - 1) + 2] * 2
        assert g["holes_per_axis"] == 2 * len(cov.holes)
        assert g["body_coverage"]["holes"] == list(cov.holes)
    assert g222["holes_per_axis"] == 12 and g125["holes_per_axis"] == 0
    assert g222["mse_floor"] > 100 * g125["mse_floor"]
    assert g222["equivariant_mse_floor"] > g222["mse_floor"]


# --------------------------------------------------------------------------- upsampling


def test_transposed_k3_checkerboard_at_init_on_a_constant(upsampling):
    torch.manual_seed(0)
    const = torch.ones(1, 1, upsampling.LOW, upsampling.LOW)
    m = 2 * upsampling.FACTOR
    with torch.no_grad():
        k3 = upsampling.Decoder("transposed k=3", 8)(const)[..., m:-m, m:-m]
        rc = upsampling.Decoder("resize-conv nearest", 8)(const)[..., m:-m, m:-m]
        icnr = upsampling.Decoder("sub-pixel + ICNR", 8)(const)[..., m:-m, m:-m]
    assert periodic_power(k3, 2, include_dc=True) > 1e-6
    assert periodic_power(k3, 8) > 0.9  # what is not DC is the checkerboard of the three stages
    assert periodic_power(rc, 2, include_dc=True) < 1e-12
    assert periodic_power(icnr, 8, include_dc=True) < 1e-12


@pytest.mark.slow
def test_upsampling_quick_run(upsampling, tmp_path):
    assert upsampling.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    rec = json.loads((tmp_path / "upsampling.json").read_text())
    assert rec["name"] == "upsampling" and rec["mode"] == "quick"
    for f in rec["figures"]:
        assert (tmp_path / f["file"]).is_file()
    data = rec["data"]
    kinds = upsampling.KINDS
    assert set(data["init"]) == set(kinds) == set(data["trained"]) == set(data["curves"])
    inits = data["config"]["inits"]
    for kind in kinds:
        assert all(len(v) == inits for v in data["init"][kind].values())
        c = data["curves"][kind]
        assert len(c["step"]) == len(c["test_mse"]) == 4
    mean = data["init_mean"]
    # at init, on a constant input: the transposed k=3 decoder has a checkerboard, resize-conv
    # and ICNR have none (their sub-kernels are equal)
    assert mean["transposed k=3"]["init_constant_8"] > 1e-4
    for kind in ("resize-conv nearest", "sub-pixel + ICNR"):
        assert mean[kind]["init_constant_8"] < 1e-10
        assert mean["transposed k=3"]["init_constant_8"] > 1e6 * max(mean[kind]["init_constant_8"], 1e-300)
    # smooth inputs: the transposed and default sub-pixel decoders put far more power at period 8
    for bad in ("transposed k=3", "transposed k=4", "sub-pixel, default init"):
        assert mean[bad]["init_smooth_8"] > 5 * mean["sub-pixel + ICNR"]["init_smooth_8"]
    # the overlap pattern is the geometry's, and one layer follows it
    for k in (3, 4):
        o = data["overlap"][f"k={k}"]
        cb = checkerboard(upsampling.TransposedUpsample(2, 1, 2, kernel_size=k).spec)
        assert o["counts"] == [list(c) for c in cb.counts]
        assert o["ratio"] == cb.ratio
    assert data["overlap"]["k=3"]["measured_ratio"] > 2.0  # predicted 4
    assert data["overlap"]["k=4"]["measured_ratio"] < 2.0  # predicted 1
    # the quick training moves the smooth decoders' loss down
    for kind in ("resize-conv nearest", "sub-pixel + ICNR"):
        assert data["curves"][kind]["test_mse"][-1] < data["curves"][kind]["test_mse"][0]


def test_bad_command_lines_exit_2(gridding, upsampling):
    for module, argv in (
        (gridding, ["--quick", "--size", "20"]),
        (gridding, ["--quick", "--density", "2"]),
        (gridding, ["--quick", "--steps", "0"]),
        (upsampling, ["--quick", "--inits", "-1"]),
    ):
        with pytest.raises(SystemExit) as exc:
            module.main(argv)
        assert exc.value.code == 2
