"""The genomics and objects examples (quick runs) and their data generators."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from atrous.datasets.genomics import DECOY, ENHANCER, PROMOTER, encode, labels_from_sequence, long_range_dna
from atrous.datasets.objects import quadrant_accuracy_bound, quadrant_labels, square_objects
from atrous.errors import SpecError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- genomics data

SMALL = dict(length=1024, distance=600, jitter=2, pairs=4, gap=(16, 32))


def test_genomics_seeded_and_one_hot():
    a = long_range_dna(3, seed=5, **SMALL)
    b = long_range_dna(3, seed=5, **SMALL)
    c = long_range_dna(3, seed=6, **SMALL)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (3, 4, 1024) and a.x.dtype == torch.float32
    assert torch.equal(a.x.sum(dim=1), torch.ones(3, 1024))
    assert a.mask.sum() == 3 * 2 * 4 and a.y[~a.mask].abs().sum() == 0


def test_genomics_labels_follow_the_motif_at_the_distance():
    d = long_range_dna(8, seed=1, **SMALL)
    tokens = d.x.argmax(1).numpy()
    enh, dec, prom = encode(ENHANCER), encode(DECOY), encode(PROMOTER)
    m = len(enh)
    for i in range(8):
        pos = d.promoters[i].tolist()
        for k, p in enumerate(pos):
            assert (tokens[i, p : p + m] == prom).all() and d.mask[i, p]
            # the label is 1 iff the enhancer starts within distance +- jitter upstream
            starts = [p - 600 + j for j in range(-2, 3)]
            has_enh = any((tokens[i, s : s + m] == enh).all() for s in starts)
            has_dec = any((tokens[i, s : s + m] == dec).all() for s in starts)
            assert d.y[i, p] == float(has_enh)
            assert has_enh != has_dec
            if k % 2:  # the two promoters of a pair: close, opposite labels
                assert 16 <= p - pos[k - 1] <= 32
                assert d.y[i, p] != d.y[i, pos[k - 1]]
    assert torch.equal(labels_from_sequence(d.x, d.promoters, 600, 2), d.y.gather(1, d.promoters))


def test_genomics_label_changes_only_with_the_motif_at_the_distance():
    d = long_range_dna(1, seed=2, **SMALL)
    p = int(d.promoters[0, 0])
    label = float(d.y[0, p])
    x = d.x.clone()
    # scrambling bases far from both the promoter and its enhancer window leaves the label alone
    far = torch.arange(p - 600 + 40, p - 40)
    x[0, :, far] = torch.roll(x[0, :, far], 1, dims=0)
    assert float(labels_from_sequence(x, d.promoters[:, :1], 600, 2)[0, 0]) == label
    # writing the other motif at the distance flips it
    x = d.x.clone()
    new = DECOY if label else ENHANCER
    start = p - 600 - 2
    for j in range(start, start + 13):  # clear the whole window (jitter 2 + motif 8)
        x[0, :, j] = torch.tensor([1.0, 0, 0, 0])
    for j, base in enumerate(encode(new)):
        x[0, :, start + 2 + j] = torch.nn.functional.one_hot(torch.tensor(int(base)), 4).float()
    assert float(labels_from_sequence(x, d.promoters[:, :1], 600, 2)[0, 0]) == 1.0 - label


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(length=16), "length"),
        (dict(distance=100), "distance"),
        (dict(jitter=-1), "jitter"),
        (dict(pairs=0), "pairs"),
        (dict(pairs=100), "pairs"),
        (dict(gap=(8, 32)), "gap[0]"),
        (dict(gap=(20, 16)), "gap[1]"),
        (dict(gap=5), "gap"),
        (dict(seed=-1), "seed"),
    ],
)
def test_genomics_bad_arguments(kwargs, name):
    args = dict(n=1, **SMALL)
    args.update(kwargs)
    with pytest.raises(SpecError, match=name.replace("[", r"\[")):
        long_range_dna(**args)


# --------------------------------------------------------------------------- objects data


def test_objects_seeded_and_labels_are_quadrants():
    a = square_objects(4, 48, sizes=(4, 8, 16), seed=3)
    b = square_objects(4, 48, sizes=(4, 8, 16), seed=3)
    assert torch.equal(a.image, b.image) and torch.equal(a.label, b.label)
    assert not torch.equal(a.image, square_objects(4, 48, sizes=(4, 8, 16), seed=4).image)
    for i in range(4):
        for top, left, s in a.boxes[i].tolist():
            block = a.label[i, top : top + s, left : left + s].numpy()
            assert np.array_equal(block, quadrant_labels(s))
            assert (a.side[i, top : top + s, left : left + s] == s).all()
        covered = sum(s * s for _, _, s in a.boxes[i].tolist())
        assert int((a.label[i] > 0).sum()) == covered
    # the noise is zero-mean with the given spread on the background
    bg = a.image[:, 0][a.label == 0]
    assert abs(float(bg.mean())) < 0.02 and abs(float(bg.std()) - 0.3) < 0.02


def test_objects_bound():
    assert quadrant_accuracy_bound(1, 32) == 0.25
    assert quadrant_accuracy_bound(33, 32) == 1.0 and quadrant_accuracy_bound(31, 32) < 1.0
    vals = [quadrant_accuracy_bound(r, 48) for r in range(1, 60, 2)]
    assert vals == sorted(vals)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(size=2), "size"),
        (dict(sizes=(3,)), "sizes[0]"),
        (dict(sizes=(4, 64)), "sizes[1]"),
        (dict(sizes=()), "sizes"),
        (dict(per_size=0), "per_size"),
        (dict(gap=0), "gap"),
        (dict(noise=-1.0), "noise"),
        (dict(contrast=0.0), "contrast"),
        (dict(noise=float("nan")), "noise"),
        (dict(seed=-2), "seed"),
    ],
)
def test_objects_bad_arguments(kwargs, name):
    args = dict(n=1, size=48, sizes=(4, 8))
    args.update(kwargs)
    with pytest.raises(SpecError, match=name.replace("[", r"\[")):
        square_objects(**args)


# --------------------------------------------------------------------------- the examples


@pytest.mark.slow
def test_genomics_quick(tmp_path):
    ex = load("genomics")
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    r = json.loads((tmp_path / "genomics.json").read_text())
    assert r["name"] == "genomics" and r["mode"] == "quick"
    assert (tmp_path / "genomics" / "accuracy.png").is_file()
    d = r["data"]
    models = d["models"]
    assert set(models) == {"dilated", "plain", "pooling"}
    n, pools = d["layers"], d["pools"]
    # the receptive fields atrous.analyze reports equal the geometry's closed forms
    assert models["dilated"]["rf"] == 2 ** (n + 1) - 1 == models["dilated"]["expected_rf"]
    assert models["plain"]["rf"] == 2 * n + 1
    assert models["pooling"]["rf"] == 1 + 3 * (2**pools - 1) + 2 * (n - pools) * 2**pools
    # the dilated and the pooling models see past the enhancer; the plain one does not
    reach = 2 * (d["distance"] + d["jitter"]) + 1
    assert models["dilated"]["rf"] >= reach and models["pooling"]["rf"] >= reach > models["plain"]["rf"]
    # equal weights
    assert len({m["params"] for m in models.values()}) == 1
    for m in models.values():
        assert len(m["steps"]) == len(m["loss"]) == len(m["accuracy"]) >= 2
        assert all(0.0 <= a <= 1.0 for a in m["accuracy"]) and all(math.isfinite(v) for v in m["loss"])


def test_genomics_bad_cli():
    ex = load("genomics")
    with pytest.raises(SystemExit) as e:
        ex.main(["--quick", "--steps", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        ex.main(["--quick", "--distance", "100"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        ex.main(["--quick", "--second-distance", "5000"])
    assert e.value.code == 2


def test_objects_quick(tmp_path):
    ex = load("objects")
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    r = json.loads((tmp_path / "objects.json").read_text())
    assert r["name"] == "objects" and r["mode"] == "quick"
    for f in ("accuracy_vs_rf.png", "miss_rate.png", "examples.png"):
        assert (tmp_path / "objects" / f).is_file()
    d = r["data"]
    # receptive fields from atrous.analyze equal 1 + 2 sum(d); same weights everywhere
    for key, m in d["models"].items():
        assert m["rf"] == [int(key), int(key)] == [1 + 2 * sum(m["dilations"])] * 2
        assert set(m["accuracy"]) == {str(s) for s in d["sizes"]}
    assert len({m["params"] for m in d["models"].values()}) == 1
    # the simulated miss rate of the real layer agrees with 1 - w^2/d^2 within binomial error
    for v in d["miss"].values():
        for meas, model, se, exact in zip(v["measured"], v["model"], v["stderr"], v["exact"], strict=True):
            assert abs(meas - model) <= 4 * se + 1e-9
            assert exact == pytest.approx(model)
    assert d["worst_sigma"] < 4


def test_miss_rate_small_case():
    ex = load("objects")
    # a 1x1 object and dilation 3: hit 1/9 of the time
    rate, n = ex.miss_rate(1, 1, 3, 4000, seed=0)
    se = math.sqrt(8 / 81 / n)
    assert abs(rate - 8 / 9) < 4 * se
    # an object as wide as the grid period is never missed
    assert ex.miss_rate(3, 3, 3, 500, seed=1)[0] == 0.0
