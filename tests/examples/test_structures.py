"""The lanes, lesions and point-cloud examples: quick runs, and their fields against independent oracles."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from atrous.geometry import ConvSpec, PoolSpec, UpsampleSpec, coverage, receptive_field, stack_receptive_field

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gradient_support(model, shape, index):
    """Input positions (rows, cols) with a non-zero gradient of the output at ``index`` (float64, eval)."""
    model = model.double().eval()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out = model(x)
    out[index].sum().backward()
    nz = x.grad[0].abs().sum(0) != 0
    return set(torch.nonzero(nz.any(1)).flatten().tolist()), set(torch.nonzero(nz.any(0)).flatten().tolist())


# --------------------------------------------------------------------------- lanes


@pytest.mark.slow
def test_lanes_quick(tmp_path):
    ex = load("lanes")
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    r = json.loads((tmp_path / "lanes.json").read_text())
    assert r["name"] == "lanes" and r["mode"] == "quick" and r["seeds"] == [0]
    for f in ("fields.png", "predictions.png", "recall.png"):
        assert (tmp_path / "lanes" / f).is_file()
    d = r["data"]
    h, fields = d["height"], d["fields"]
    # the dilated stack's vertical field covers the whole height for every output row
    rates = fields["dilated"]["dilations"]
    assert fields["dilated"]["rf"] == [stack_receptive_field(rates)] * 2 and coverage(rates, 3).ok
    assert fields["dilated"]["rf"][0] >= 2 * h - 1 > fields["plain"]["rf"][0] == 15
    assert len({f["params"] for f in fields.values()}) == 1
    for m in d["models"].values():
        run = m["runs"][0]
        assert len(m["runs"]) == 1 and m["iou"] == run["iou"] and 0 <= run["iou"] <= 1
        assert len(run["curve"]["steps"]) == len(run["curve"]["iou"]) >= 2
        assert run["curve"]["iou"][-1] == pytest.approx(run["iou"])  # the last evaluation is the final model


def test_lanes_encoder_decoder_field_from_geometry():
    """The field atrous.analyze reports for the U-Net is that of its deepest path, built from specs."""
    ex = load("lanes")
    net = ex.EncoderDecoder(4).eval()  # at inference: BatchNorm holds its running statistics
    import atrous

    got = atrous.analyze(net, (1, 1, 64, 96)).field()
    conv = ConvSpec(3, padding=1)
    pool, up = PoolSpec(2, stride=2), UpsampleSpec(2)
    deepest = [conv, pool, conv, pool, conv, pool, conv, up, conv, up, conv, up, conv]
    assert got.size[0] == receptive_field(deepest)[-1].size
    # and gradients never leave the reported support (an independent check of the tap sets)
    for y, x in ((10, 20), (60, 50)):
        rows, cols = _gradient_support(net, (1, 1, 64, 96), (0, y, x))
        sup_rows, sup_cols = got.support((y, x))
        assert rows <= set(sup_rows) and cols <= set(sup_cols) and len(rows) > 20


def test_lanes_dilation_schedule():
    ex = load("lanes")
    assert ex.dilations_for(64) == (1, 2, 4, 8, 16, 32, 1)
    assert ex.dilations_for(32) == (1, 2, 4, 8, 16, 1, 1)
    with pytest.raises(SystemExit):
        ex.dilations_for(1000)


def test_lanes_paint_distance():
    ex = load("lanes")
    label = torch.zeros(1, 6, 5, dtype=torch.long)
    label[0, :, 2] = 1
    visible = torch.zeros(1, 6, 5, dtype=torch.bool)
    visible[0, 0, 2] = True
    d = ex.paint_distance(label, visible)
    assert d[0, 1:, 2].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert torch.isnan(d[0, 0, 2]) and torch.isnan(d[0, :, 0]).all()


def test_lanes_bad_cli():
    ex = load("lanes")
    for argv in (["--quick", "--height", "20"], ["--quick", "--steps", "0"], ["--quick", "--seeds", "1", "1"]):
        with pytest.raises(SystemExit) as e:
            ex.main(argv)
        assert e.value.code == 2


# --------------------------------------------------------------------------- lesions


@pytest.mark.slow
def test_lesions_quick(tmp_path):
    ex = load("lesions")
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    r = json.loads((tmp_path / "lesions.json").read_text())
    assert r["name"] == "lesions" and r["mode"] == "quick"
    for f in ("miss_rate.png", "predictions.png"):
        assert (tmp_path / "lesions" / f).is_file()
    d = r["data"]
    size, step = d["size"], d["dilation"]
    info = d["info"]
    # the high-dilation path reads the period-d lattice and nothing else: 1/d^2 of the input
    assert info["dilated"]["read"] == [list(range(0, size, step))] * 2
    assert info["dilated"]["read_fraction"] == pytest.approx(1 / step**2)
    assert info["fused"]["read_fraction"] == 1.0 and info["aspp"]["read"] is None
    assert info["aspp"]["rf"] == ["global", "global"]
    assert d["estimate"] == {f"{h}x{w}": max(0.0, 1 - h * w / step**2) for h, w in d["sizes"]}
    for m in d["models"].values():
        run = m["runs"][0]
        assert m["miss"] == run["miss"] and 0 <= run["miss"] <= 1 and set(m["per_size"]) == set(d["estimate"])
        assert run["curve"]["miss"][-1] == pytest.approx(run["miss"])


def test_lesions_visibility_is_the_lattice_test():
    """A lesion is visible to the dilated path iff its box holds a multiple of d on both axes."""
    ex = load("lesions")
    from atrous.datasets.scans import lesion_scans

    size, step = 32, 4
    net = ex.Dilated(4, step)
    read = ex.read_positions(net, size)
    data = lesion_scans(12, size, lesion_sizes=((1, 1), (2, 2), (3, 3)), seed=5)
    pred = torch.zeros_like(data.label)
    table = ex.lesion_table(pred, data, read)
    boxes = [b for bs in data.boxes for b in bs.tolist()]
    assert len(table) == len(boxes) > 0
    for entry, (t, left, h, w) in zip(table, boxes, strict=True):
        lattice = any(y % step == 0 for y in range(t, t + h)) and any(x % step == 0 for x in range(left, left + w))
        assert entry["visible"] == lattice and entry["found"] is False
    # and the lattice is exactly what gradients reach (an independent check of analyze's supports)
    rows, cols = set(), set()
    for y, x in ((3, 5), (17, 20), (30, 9)):
        r_, c_ = _gradient_support(ex.Dilated(4, step), (1, 1, size, size), (0, slice(None), y, x))
        rows |= r_
        cols |= c_
    assert rows <= read[0] and cols <= read[1]


def test_lesions_bad_cli():
    ex = load("lesions")
    for argv in (["--quick", "--dilation", "3"], ["--quick", "--dilation", "1"], ["--quick", "--size", "16"]):
        with pytest.raises(SystemExit) as e:
            ex.main(argv)
        assert e.value.code == 2


# --------------------------------------------------------------------------- point clouds


def test_point_clouds_quick(tmp_path):
    ex = load("point_clouds")
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    r = json.loads((tmp_path / "point_clouds.json").read_text())
    assert r["name"] == "point_clouds" and r["mode"] == "quick"
    for f in ("accuracy_and_fields.png", "field_on_cloud.png"):
        assert (tmp_path / "point_clouds" / f).is_file()
    d = r["data"]
    models, fields = d["models"], d["fields"]
    # equal weights within each pair
    assert models["EdgeConv, plain k-NN"]["params"] == models["EdgeConv, dilated k-NN"]["params"]
    assert models["DilatedGraphConv, 1 hop"]["params"] == models["DilatedGraphConv, hops 1-4"]["params"]
    # four 1-hop rings read exactly the points within 4 hops
    cov = fields["DilatedGraphConv, 1 hop"]["coverage"]
    assert all(c == 1.0 for c in cov[:5]) and all(c in (0.0, None) for c in cov[5:])
    # the dilated neighbourhoods reach farther
    for plain, dil in (
        ("EdgeConv, plain k-NN", "EdgeConv, dilated k-NN"),
        ("DilatedGraphConv, 1 hop", "DilatedGraphConv, hops 1-4"),
    ):
        assert fields[dil]["farthest_hop"] > fields[plain]["farthest_hop"]
        assert fields[dil]["points"] >= fields[plain]["points"]
    for m in models.values():
        assert 0 <= m["accuracy"] <= 1


@pytest.mark.parametrize(
    "kind, rates", [("edge", (1, 1, 1)), ("edge", (1, 2, 3)), ("ring", (1, 1)), ("ring", (1, 2, 3))]
)
def test_point_cloud_field_matches_autograd(kind, rates):
    """The composed neighbourhoods equal the set of input points a per-point feature depends on."""
    ex = load("point_clouds")
    from atrous.nn import DilatedGraphConv, EdgeConv

    torch.manual_seed(0)
    data = ex.Clouds(2, 40, 3, seed=7, noise=0.02)
    i = 1
    reach = ex.receptive_field(kind, rates, data, i)
    f = 5
    if kind == "edge":  # mean aggregation and a leaky activation: no gradient is exactly zero by chance
        layers = [EdgeConv(3 if j == 0 else f, f, k=3, dilation=r, aggr="mean").double() for j, r in enumerate(rates)]
    else:
        layers = [DilatedGraphConv(3 if j == 0 else f, f, hops=r).double() for j, r in enumerate(rates)]
    x = data.points[i].double().requires_grad_(True)
    for p in (0, 17, 39):
        h = x
        for r, layer in zip(rates, layers, strict=True):
            h = layer(h, idx=data.knn[r][i]) if kind == "edge" else torch.tanh(layer(h, data.graph(i)))
        (grad,) = torch.autograd.grad(h[p].sum(), x)
        depends = grad.abs().sum(1) != 0
        assert torch.equal(depends, reach[p]), (p, int(depends.sum()), int(reach[p].sum()))


def test_point_cloud_hop_distances():
    ex = load("point_clouds")
    path = torch.tensor([[0, 1, 2, 4], [1, 2, 3, 5]])  # 0-1-2-3 and 4-5
    d = ex.hop_distances(path, 6)
    assert d[0, :4].tolist() == [0, 1, 2, 3] and d[4, 5] == 1 and math.isinf(float(d[0, 5]))


def test_point_clouds_bad_cli():
    ex = load("point_clouds")
    for argv in (["--quick", "--k", "20"], ["--quick", "--noise", "-1"], ["--quick", "--models", "nope"]):
        with pytest.raises(SystemExit) as e:
            ex.main(argv)
        assert e.value.code == 2
