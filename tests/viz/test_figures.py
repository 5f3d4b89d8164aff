"""Tests of atrous.viz.figures: every figure draws, saves a readable PNG, fits in its canvas and
shows exactly the numbers of atrous.geometry / atrous.analysis / atrous.nn.upsample."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

import matplotlib  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from atrous.geometry import ConvSpec, PoolSpec, coverage, receptive_field  # noqa: E402
from atrous.viz import figures as F  # noqa: E402

K3S2 = ConvSpec(3, stride=2, padding=1, transposed=True)
K4S2 = ConvSpec(4, stride=2, padding=1, transposed=True)


def check_png(fig: Figure, path: Path) -> None:
    """A non-empty PNG that Pillow opens, of the figure's size at 110 dpi."""
    assert isinstance(fig, Figure)
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        w, h = fig.get_size_inches() * F.DPI
        assert abs(im.size[0] - w) <= 1 and abs(im.size[1] - h) <= 1, (im.size, (w, h))


def check_fits(fig: Figure) -> None:
    """No title, label, tick label, legend or colour bar sticks out of the figure."""
    over_w, over_h = F._overflow(fig)
    assert over_w <= 0.01 and over_h <= 0.01, (over_w, over_h)


def image_of(ax):  # the single AxesImage of a panel
    assert len(ax.images) == 1
    return ax.images[0]


def line(fig: Figure, gid: str):
    found = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, (gid, [ln.get_gid() for ax in fig.axes for ln in ax.get_lines()])
    return found[0]


# --------------------------------------------------------------------------- the module


def test_import_is_light_and_public_names():
    tree = ast.parse(Path(F.__file__).read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module)
    assert not any(m.split(".")[0] in ("matplotlib", "numpy", "torch") for m in top), top
    assert not any(m.startswith(("atrous.analysis", "atrous.nn")) for m in top), top
    for name in F.__all__:
        assert hasattr(F, name), name
    assert {"rf_growth", "coverage_map", "erf_heatmap", "frequency_response", "checkerboard_map"} <= set(F.__all__)
    assert {"detection_probability", "save_all"} <= set(F.__all__)


def test_no_global_state_touched(tmp_path):
    import sys

    backend = matplotlib.get_backend()
    rc = dict(matplotlib.rcParams)
    pyplot = sys.modules.get("matplotlib.pyplot")
    before = pyplot.get_fignums() if pyplot else None
    F.coverage_map((1, 2, 4), path=tmp_path / "c.png")
    F.detection_probability(sizes=(1, 2), dilations=range(1, 5))
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == rc
    if pyplot is not None:
        assert pyplot.get_fignums() == before


# --------------------------------------------------------------------------- coverage_map


@pytest.mark.parametrize("rates", [(2, 2, 2), (1, 2, 5), (1, 2, 4), (3, 3)])
def test_coverage_map_2d_is_the_geometry(tmp_path, rates):
    path = tmp_path / "cov.png"
    fig = F.coverage_map(rates, path=path)
    check_png(fig, path)
    check_fits(fig)
    arr = image_of(fig.axes[0]).get_array()
    field = receptive_field([ConvSpec(3, dilation=d) for d in rates])[-1]
    counts = np.zeros(field.size, dtype=np.int64)
    for x, c in field.paths(0).items():
        counts[x - field.start] = c
    np.testing.assert_array_equal(np.ma.getdata(arr), np.multiply.outer(counts, counts))
    # the holes are exactly the geometry's: cells whose row or column offset is a hole
    holes = set(field.holes)
    assert holes == set(coverage(rates, 3).holes)
    expected = np.array([[i in holes or j in holes for j in range(field.size)] for i in range(field.size)])
    np.testing.assert_array_equal(np.ma.getmaskarray(arr), expected)
    # and the cells that are read are exactly the 2-d support of the centre output
    fnd = receptive_field([ConvSpec(3, dilation=d, ndim=2) for d in rates])[-1]
    sup0, sup1 = fnd.support((0, 0))
    read = np.zeros_like(expected)
    for i in sup0:
        for j in sup1:
            read[i - fnd.start[0], j - fnd.start[1]] = True
    np.testing.assert_array_equal(read, ~expected)
    assert f"RF {field.size}\u00d7{field.size}" in fig.axes[0].get_title()


def test_coverage_map_side_by_side_gridding(tmp_path):
    path = tmp_path / "grid.png"
    fig = F.coverage_map([(2, 2, 2), (1, 2, 5)], path=path)
    check_png(fig, path)
    check_fits(fig)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    t222, t125 = (ax.get_title() for ax in panels)
    assert "RF 13\u00d713" in t222 and "120 holes of 169" in t222 and "6 per axis" in t222
    assert "RF 17\u00d717" in t125 and "no holes" in t125
    assert not np.ma.getmaskarray(image_of(panels[1]).get_array()).any()


def test_coverage_map_1d(tmp_path):
    fig = F.coverage_map([(2, 2, 2), (1, 2, 5)], dims=1, path=tmp_path / "c1.png")
    check_png(fig, tmp_path / "c1.png")
    check_fits(fig)
    ax = fig.axes[0]
    bars = [p for c in ax.containers for p in c]
    field = receptive_field([ConvSpec(3, dilation=2)] * 3)[-1]
    paths = field.paths(0)
    assert [b.get_height() for b in bars] == [paths.get(field.start + i, 0) for i in range(field.size)]
    holes = next(ln for ln in ax.get_lines() if ln.get_gid() == "holes")
    centre = float(field.centre)
    assert sorted(holes.get_xdata() + centre - field.start) == list(field.holes)
    assert not [ln for ln in fig.axes[1].get_lines() if ln.get_gid() == "holes"]


def test_coverage_map_rejects_bad_input():
    from atrous.errors import SpecError

    with pytest.raises(SpecError, match="dims"):
        F.coverage_map((1, 2), dims=3)
    with pytest.raises(SpecError, match="dilations"):
        F.coverage_map((1, 0))


# --------------------------------------------------------------------------- checkerboard_map


def _torch_overlap(spec, sizes):
    """Kernel taps reaching each output, as PyTorch computes them: all-ones through an all-ones
    transposed convolution."""
    import torch

    resolved = spec.resolve(sizes)
    (lo, hi), *_ = resolved.pads
    assert all(p == (lo, hi) for p in resolved.pads) and lo == hi
    fn = torch.nn.functional.conv_transpose2d if len(sizes) == 2 else torch.nn.functional.conv_transpose1d
    out = fn(
        torch.ones(1, 1, *sizes, dtype=torch.float64), torch.ones(1, 1, *spec.kernel_size, dtype=torch.float64),
        stride=spec.stride, padding=lo, output_padding=resolved.output_padding,
    )  # fmt: skip
    return out[0, 0].numpy().astype(np.int64)


def test_checkerboard_map_is_pytorchs_overlap_borders_included(tmp_path):
    from atrous.nn.upsample import checkerboard

    path = tmp_path / "cb.png"
    fig = F.checkerboard_map([K3S2, K4S2], path=path)
    check_png(fig, path)
    check_fits(fig)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    for ax, spec in zip(panels, (K3S2, K4S2), strict=True):
        full = spec.for_ndim(2)
        data = np.ma.getdata(image_of(ax).get_array())
        np.testing.assert_array_equal(data, _torch_overlap(full, (5, 5)))
        # away from the borders, the per-phase counts of checkerboard() tile the map
        cb = checkerboard(full)
        inner = data[2:-2, 2:-2]
        s0, s1 = full.stride
        for (i, j), v in np.ndenumerate(inner):
            assert v == cb.overlap[(i + 2) % s0][(j + 2) % s1]
        assert ax.get_xlabel() == "output position, axis 1"
    assert panels[0].get_title().count("uneven") == 1 and "1, 2" in panels[0].get_title()
    assert "even overlap" in panels[1].get_title() and "uneven" not in panels[1].get_title()


def test_checkerboard_zero_padding_first_output_reads_one_tap():
    """k=3, s=2, padding 0: output 0 receives one tap (PyTorch), not the interior phase's two."""
    spec = ConvSpec((3, 3), stride=2, padding=0, transposed=True)
    fig = F.checkerboard_map(spec)
    data = np.ma.getdata(image_of(fig.axes[0]).get_array())
    assert data[0, 0] == 1 == _torch_overlap(spec, (5, 5))[0, 0]
    np.testing.assert_array_equal(data, _torch_overlap(spec, (5, 5)))


def test_checkerboard_map_of_a_kernel_longer_than_the_drawing_is_its_interior():
    """k=1001, s=2: the output of a 5x5 input is 1009 positions a side (past the drawing's
    bound), so the map is the interior: the phase counts of checkerboard(), tiled; a concrete
    input_size that large is refused with the bound named."""
    from atrous.errors import SpecError
    from atrous.nn.upsample import checkerboard

    spec = ConvSpec(1001, stride=2, padding=1, transposed=True)
    fig = F.checkerboard_map(spec, periods=3)
    data = np.ma.getdata(image_of(fig.axes[0]).get_array())
    counts = checkerboard(spec.for_ndim(2)).counts
    np.testing.assert_array_equal(data, np.multiply.outer(np.tile(counts[0], 3), np.tile(counts[1], 3)))
    assert set(counts[0]) == {500, 501}  # the taps of each phase: ceil / floor of 1001 / 2
    with pytest.raises(SpecError, match="MAX_CHECKERBOARD_SIDE"):
        F.checkerboard_map(spec, input_size=5)


def test_checkerboard_map_2d_spec_and_input_size(tmp_path):
    spec = ConvSpec((3, 5), stride=(2, 3), padding=0, transposed=True)
    fig = F.checkerboard_map(spec, input_size=(3, 4), path=tmp_path / "one.png")
    check_png(fig, tmp_path / "one.png")
    data = np.ma.getdata(image_of(fig.axes[0]).get_array())
    np.testing.assert_array_equal(data, _torch_overlap(spec, (3, 4)))
    assert data.shape == (7, 14)


def test_checkerboard_map_1d_spec():
    spec = ConvSpec(3, stride=2, transposed=True, ndim=1)
    fig = F.checkerboard_map(spec)
    bars = [p.get_height() for c in fig.axes[0].containers for p in c]
    assert bars == list(_torch_overlap(spec, (5,)))


# --------------------------------------------------------------------------- detection_probability


def test_detection_probability_exact_and_model(tmp_path):
    sizes = (1, 2, 3, 4, 6, 8)
    ds = list(range(1, 17))
    path = tmp_path / "det.png"
    fig = F.detection_probability(sizes, range(1, 17), path=path)
    check_png(fig, path)
    check_fits(fig)
    for w in sizes:
        exact = line(fig, f"exact-w{w}")
        model = line(fig, f"model-w{w}")
        np.testing.assert_array_equal(exact.get_xdata(), ds)
        want = [min(w, d) ** 2 / d**2 for d in ds]
        np.testing.assert_allclose(exact.get_ydata(), want, rtol=0, atol=1e-15)
        for d, m, e in zip(ds, model.get_ydata(), exact.get_ydata(), strict=True):
            assert m == pytest.approx(min(1.0, w * w / d**2))
            if w <= d:
                assert m == pytest.approx(e)


def test_detection_probability_rectangles_differ_from_the_model():
    fig = F.detection_probability(sizes=[(1, 8)], dilations=[2, 4, 8, 16])
    exact = line(fig, "exact-1x8").get_ydata()
    model = line(fig, "model-1x8").get_ydata()
    ds = np.array([2, 4, 8, 16])
    np.testing.assert_allclose(exact, np.minimum(1, ds) * np.minimum(8, ds) / ds**2)
    np.testing.assert_allclose(model, np.minimum(1.0, 8 / ds**2))
    assert model[0] > exact[0]  # d = 2: the model says 1, the count says 1/2


# --------------------------------------------------------------------------- frequency_response


def test_frequency_response_curves_are_the_spectra(tmp_path):
    from atrous.analysis import spectra

    kernel = [0.25, 0.5, 0.25]
    path = tmp_path / "fr.png"
    fig = F.frequency_response(kernel, dilations=(1, 2, 4), n=257, path=path)
    check_png(fig, path)
    check_fits(fig)
    for d in (1, 2, 4):
        ln = line(fig, f"response-d{d}")
        w, mag = spectra.magnitude_response(kernel, d, 257)
        np.testing.assert_array_equal(ln.get_xdata(), w)
        np.testing.assert_array_equal(ln.get_ydata(), mag)
        cut = line(fig, f"cutoff-d{d}")
        assert cut.get_xdata()[0] == spectra.cutoff(kernel, d)
    assert fig.axes[0].get_legend() is not None
    assert fig.axes[0].get_xlim() == (0.0, math.pi)


def test_frequency_response_highpass_has_no_cutoff():
    fig = F.frequency_response([1.0, -1.0], dilations=(1, 3), n=64)
    assert [ln.get_gid() for ln in fig.axes[0].get_lines() if (ln.get_gid() or "").startswith("cutoff")] == []
    assert "no cut-off" in line(fig, "response-d3").get_label()


# --------------------------------------------------------------------------- rf_growth


def test_rf_growth_layers_are_the_geometry(tmp_path):
    layers = [ConvSpec(3, padding=1), ConvSpec(3, padding=1), PoolSpec(2), ConvSpec(3, padding=2, dilation=2)]
    path = tmp_path / "rf.svg"
    fig = F.rf_growth(layers, erf_sizes=[3, 4.5, None, 9.0], path=path)
    assert path.is_file() and path.read_text().lstrip().startswith("<?xml")
    check_png(fig, path.with_suffix(".png"))
    check_fits(fig)
    trf = line(fig, "trf")
    assert list(trf.get_ydata()) == [f.size for f in receptive_field(layers)] == [3, 5, 6, 14]
    eff = line(fig, "erf").get_ydata()
    assert eff[0] == 3 and eff[1] == 4.5 and math.isnan(eff[2]) and eff[3] == 9
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1: conv k3 p1", "2: conv k3 p1", "3: maxpool k2 s2", "4: conv k3 p2 d2"]
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())


def test_rf_growth_log_scale_beyond_two_decades():
    layers = [ConvSpec(3, dilation=2**i) for i in range(9)]  # 3 .. 1023
    fig = F.rf_growth(layers)
    assert fig.axes[0].get_yscale() == "log"
    assert list(line(fig, "trf").get_ydata()) == [2 ** (i + 2) - 1 for i in range(9)]
    check_fits(fig)


def test_rf_growth_of_a_report_and_a_model():
    import torch  # noqa: F401

    from atrous.analysis import analyze
    from atrous.analysis.builtin import DEFAULT_INPUT, get_builtin

    model = get_builtin("context")
    report = analyze(model, DEFAULT_INPUT["context"])
    fig = F.rf_growth(report)
    assert list(line(fig, "trf").get_ydata()) == [3, 5, 9, 17, 33, 65, 67, 67]  # DESIGN section 4
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [f"conv{i}" for i in range(1, 9)]
    fig2 = F.rf_growth(model, DEFAULT_INPUT["context"], erf_sizes={"conv8": 50.0})
    eff = line(fig2, "erf").get_ydata()
    assert eff[-1] == 50.0 and np.isnan(eff[:-1]).all()
    check_fits(fig2)


def test_rf_growth_differing_axes_and_errors():
    from atrous.errors import SpecError

    fig = F.rf_growth([ConvSpec((3, 5)), ConvSpec((3, 1), dilation=(2, 1))])
    assert list(line(fig, "trf-axis0").get_ydata()) == [3, 7]
    assert list(line(fig, "trf-axis1").get_ydata()) == [5, 5]
    with pytest.raises(SpecError, match="erf_sizes"):
        F.rf_growth([ConvSpec(3)], erf_sizes=[1, 2])
    import torch

    with pytest.raises(SpecError, match="input_shape"):
        F.rf_growth(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3)))


# --------------------------------------------------------------------------- erf_heatmap


@pytest.fixture(scope="module")
def erf2d():
    import torch
    from torch import nn

    from atrous.analysis import erf

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=2, dilation=2))
    return erf(net, (1, 1, 17, 17), samples=4)


def test_erf_heatmap_2d(tmp_path, erf2d):
    path = tmp_path / "erf.png"
    fig = F.erf_heatmap(erf2d, path=path)
    check_png(fig, path)
    check_fits(fig)
    ax = fig.axes[0]
    np.testing.assert_array_equal(np.ma.getdata(image_of(ax).get_array()), erf2d.map)
    patches = {p.get_gid(): p for p in ax.patches}
    for m in (1, 2):
        e = patches[f"sigma{m}"]
        assert e.width == pytest.approx(2 * m * erf2d.sigma[1]) and e.height == pytest.approx(2 * m * erf2d.sigma[0])
        assert e.center == pytest.approx((erf2d.centre[1], erf2d.centre[0]))
    for q in (0.5, 0.9, 0.99):
        assert patches[f"radius{round(q * 100)}"].radius == pytest.approx(erf2d.radii[q])
    trf = patches["trf"]
    assert (trf.get_width(), trf.get_height()) == (erf2d.trf[1], erf2d.trf[0]) == (7, 7)
    assert (trf.get_x(), trf.get_y()) == (8 - 3 - 0.5, 8 - 3 - 0.5)  # centre output (8, 8): rows 5 .. 11
    assert "TRF 7\u00d77" in ax.get_title()
    # an ERF as an effective size in rf_growth: 2 r90 + 1 of its widest marginal
    rf = F.rf_growth([ConvSpec(3, ndim=2), ConvSpec(3, dilation=2, ndim=2)], erf_sizes=[None, erf2d])
    assert line(rf, "erf").get_ydata()[1] == pytest.approx(2 * max(erf2d.axis_radii[0.9]) + 1)
    fig2 = F.erf_heatmap(erf2d, title="mine", trf_box=[(4, 10), (5, 11)])
    box = next(p for p in fig2.axes[0].patches if p.get_gid() == "trf")
    assert (box.get_x(), box.get_y()) == (4.5, 3.5) and fig2.axes[0].get_title() == "mine"
    assert type(image_of(ax).norm).__name__ == "Normalize"  # a smooth field: linear colours


def test_erf_heatmap_log_scale_for_a_spike(erf2d):
    from matplotlib.colors import LogNorm

    fig = F.erf_heatmap(erf2d, log=True)
    im = image_of(fig.axes[0])
    assert isinstance(im.norm, LogNorm)
    data = im.get_array()
    np.testing.assert_array_equal(np.ma.getdata(data), erf2d.map)
    np.testing.assert_array_equal(np.ma.getmaskarray(data), erf2d.map <= 0)
    check_fits(fig)


def test_erf_heatmap_1d(tmp_path):
    import torch

    from atrous.analysis import erf

    net = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, 3, padding=1, bias=False) for _ in range(4)])
    for c in net:
        torch.nn.init.constant_(c.weight, 1.0)
    e = erf(net, (1, 1, 41), samples=2)
    path = tmp_path / "erf1.png"
    fig = F.erf_heatmap(e, path=path)
    check_png(fig, path)
    check_fits(fig)
    np.testing.assert_array_equal(line(fig, "erf").get_ydata(), e.map)
    np.testing.assert_allclose(line(fig, "gaussian").get_ydata(), e.gaussian())
    r90 = line(fig, "radius90").get_xdata()
    assert r90 == pytest.approx([e.centre[0] - e.radii[0.9], e.centre[0] + e.radii[0.9]])
    assert fig.axes[0].get_yscale() == "linear"
    # a residual connection puts most of the mass on one position: a log axis by default
    spike = type(e)(**{**e.__dict__, "map": np.where(np.arange(41) == 20, 0.9, 0.1 / 40)})
    assert F.erf_heatmap(spike).axes[0].get_yscale() == "log"


# --------------------------------------------------------------------------- save_all


@pytest.mark.slow
def test_save_all(tmp_path):
    paths = F.save_all(tmp_path / "figs")
    expected = {"rf_growth", "coverage_map", "erf_heatmap", "frequency_response", "checkerboard_map"}
    assert expected | {"detection_probability"} == set(paths)
    for name, p in paths.items():
        assert p == tmp_path / "figs" / f"{name}.png"
        assert p.stat().st_size > 1000
        with Image.open(p) as im:
            im.load()
            assert im.format == "PNG" and min(im.size) > 300


def test_erf_of_a_causal_field_counts_back_from_the_present():
    """A causal stack (all-ones weights, linear): the ERF is the path counts, one-sided; the fit and
    the mass bars are counted back from the present step, never past it."""
    import torch

    from atrous.analysis import erf
    from atrous.geometry import receptive_field
    from atrous.nn import CausalConv1d

    net = torch.nn.Sequential(*[CausalConv1d(1, 1, 3, dilation=d, bias=False) for d in (1, 2, 4)])
    for c in net:
        torch.nn.init.constant_(c.weight, 1.0)
    n = 40
    e = erf(net, (1, 1, n), samples=2, output_index=(n - 1,))
    assert e.one_sided == (True,) and e.present == (n - 1,)
    paths = receptive_field([c.spec for c in net], input_size=n)[-1].paths(n - 1)
    share = np.zeros(n)
    for x, c in paths.items():
        share[x] = c
    share /= share.sum()
    np.testing.assert_allclose(e.map, share, atol=1e-12)
    for q, (back,) in e.back_radii.items():
        cum = np.cumsum(share[::-1])
        assert back == int(np.searchsorted(cum, q - 1e-12))
    fig = F.erf_heatmap(e)
    for q in (0.5, 0.9, 0.99):
        xs = line(fig, f"radius{round(q * 100)}").get_xdata()
        assert list(xs) == [n - 1 - e.back_radii[q][0], n - 1]  # ends at the present step
    model = line(fig, "fit").get_ydata()
    assert model[n - 1] > 0 and np.isclose(model.sum(), 1.0)
    assert np.all(model[:-1] <= model[1:] + 1e-15)  # decays back from the present
    # a two-sided field keeps the Gaussian
    sym = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, 3, padding=1, bias=False) for _ in range(3)])
    assert erf(sym, (1, 1, 21), samples=1).one_sided == (False,)
