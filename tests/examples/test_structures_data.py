"""The generators of the lanes, lesions and point-cloud examples: roads, scans, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from atrous.datasets.roads import road_lanes
from atrous.datasets.scans import BACKGROUND, LESION, ORGAN, lesion_scans
from atrous.datasets.shapes import SHAPES, point_clouds, random_rotations, sample_surface
from atrous.errors import SpecError


def _match(name: str) -> str:
    return name.replace("[", r"\[").replace("]", r"\]")


# --------------------------------------------------------------------------- roads


def test_roads_seeded():
    a = road_lanes(3, 32, 48, seed=4)
    b = road_lanes(3, 32, 48, seed=4)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.image, road_lanes(3, 32, 48, seed=5).image)
    assert a.image.dtype == torch.float32 and a.label.dtype == torch.int64
    assert a.visible.dtype == torch.bool and a.distractor.dtype == torch.bool


def test_roads_labels_are_lines_in_perspective():
    d = road_lanes(24, 64, 96, seed=0)
    cols = torch.arange(96)
    for i in range(len(d.image)):
        h0 = int(d.horizon[i])
        lab = d.label[i].bool()
        # nothing at or above the horizon and the margin; paint is seen only on lane pixels
        assert not lab[: h0 + 3].any()
        assert not (d.visible[i] & ~lab).any()
        # distractors are off the lines
        assert not (d.distractor[i] & lab).any()
        # every labelled row below the margin holds lane pixels (the lines are continuous)
        rows = lab.any(dim=1)
        assert rows[h0 + 3 :].all()

        # perspective: the lines converge towards the horizon
        def spread(row: int, lab=lab) -> int:
            on = cols[lab[row]]
            return int(on.max() - on.min())

        assert 2 * spread(h0 + 4) < max(spread(r) for r in range(h0 + 4, 64))
    # the dashes leave gaps: a good part of the labelled pixels shows no paint
    hidden = (d.label.bool() & ~d.visible).sum() / d.label.sum()
    assert 0.2 < float(hidden) < 0.8
    # paint is brighter than the asphalt around it
    road = torch.zeros_like(d.visible)
    for i in range(len(d.image)):
        road[i, int(d.horizon[i]) + 3 :] = True
    img = d.image[:, 0]
    assert float(img[d.visible].mean()) > float(img[road & (d.label == 0) & ~d.distractor].mean()) + 0.15
    assert d.distractor.any()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(height=8), "height"),
        (dict(width=4), "width"),
        (dict(horizon=(0.5, 0.4)), "horizon[1]"),
        (dict(horizon=(0.0, 0.4)), "horizon[0]"),
        (dict(horizon=0.3), "horizon"),
        (dict(line_width=0.0), "line_width"),
        (dict(period=(1.0, float("nan"))), "period[1]"),
        (dict(duty=(0.3, 1.0)), "duty[1]"),
        (dict(vehicles=-1), "vehicles"),
        (dict(distractors=1.5), "distractors"),
        (dict(noise=-0.1), "noise"),
        (dict(paint=0), "paint"),
        (dict(margin=100), "margin"),
        (dict(seed=-1), "seed"),
    ],
)
def test_roads_bad_arguments(kwargs, name):
    args = dict(n=1, height=32, width=48)
    args.update(kwargs)
    with pytest.raises(SpecError, match=_match(name)):
        road_lanes(**args)


# --------------------------------------------------------------------------- scans


def test_scans_seeded_and_labelled():
    a = lesion_scans(6, 48, seed=2)
    b = lesion_scans(6, 48, seed=2)
    assert torch.equal(a.image, b.image) and torch.equal(a.label, b.label)
    assert all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes, strict=True))
    assert not torch.equal(a.image, lesion_scans(6, 48, seed=3).image)
    for i in range(6):
        lab = a.label[i]
        for t, left, h, w in a.boxes[i].tolist():
            assert (lab[t : t + h, left : left + w] == LESION).all()
            # surrounded by organ: the box grown by one pixel holds organ and this lesion only
            ring = lab[t - 1 : t + h + 1, left - 1 : left + w + 1]
            assert ((ring == ORGAN) | (ring == LESION)).all()
            assert int((ring == LESION).sum()) == h * w
        for t, left, h, w in a.spots[i].tolist():
            assert (lab[t - 1 : t + h + 1, left - 1 : left + w + 1] == BACKGROUND).all()
            # a spot looks like a lesion: as bright above its surroundings
            assert float(a.image[i, 0, t : t + h, left : left + w].mean()) > 0.4
        assert int((lab == LESION).sum()) == sum(h * w for _, _, h, w in a.boxes[i].tolist())
        assert len(a.boxes[i]) == 6 and len(a.spots[i]) == 4


def test_scans_lesion_sizes_and_lattice_phases():
    sizes = ((1, 1), (2, 3), (3, 3))
    d = lesion_scans(200, 64, lesion_sizes=sizes, seed=0)
    boxes = torch.cat(d.boxes)
    counts = {s: int(((boxes[:, 2] == s[0]) & (boxes[:, 3] == s[1])).sum()) for s in sizes}
    assert sum(counts.values()) == len(boxes) and min(counts.values()) > 0.3 * len(boxes)
    # positions relative to a period-4 lattice are close to uniform, as the w_y w_x / d^2
    # estimate assumes: each of the 16 phases holds 1/16 of the lesions within 3.5 sigma
    phase = (boxes[:, 0] % 4) * 4 + boxes[:, 1] % 4
    freq = torch.bincount(phase, minlength=16).double() / len(boxes)
    sigma = math.sqrt((1 / 16) * (15 / 16) / len(boxes))
    assert float((freq - 1 / 16).abs().max()) < 3.5 * sigma


def test_scans_organ_is_faint_and_large():
    d = lesion_scans(20, 64, seed=1)
    img, lab = d.image[:, 0], d.label
    diff = float(img[lab == ORGAN].mean() - img[lab == BACKGROUND].mean())
    assert 0.2 < diff < 0.35  # +0.25 (and a thin brighter capsule), about the noise level
    organ = (lab > 0).flatten(1).sum(1).float() / 64**2
    assert float(organ.min()) > 0.2


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(size=16), "size"),
        (dict(lesion_sizes=()), "lesion_sizes"),
        (dict(lesion_sizes=((1, 2, 3),)), "lesion_sizes[0]"),
        (dict(lesion_sizes=((1, 1), (0, 1))), "lesion_sizes[1][0]"),
        (dict(lesion_sizes=((1, 7),)), "lesion_sizes[0][1]"),
        (dict(lesions=0), "lesions"),
        (dict(spots=-1), "spots"),
        (dict(axes=(0.3, 0.6)), "axes[1]"),
        (dict(organ=0.0), "organ"),
        (dict(lesion=-1.0), "lesion"),
        (dict(noise=float("inf")), "noise"),
        (dict(gap=0), "gap"),
        (dict(seed=-3), "seed"),
    ],
)
def test_scans_bad_arguments(kwargs, name):
    args = dict(n=1, size=48)
    args.update(kwargs)
    with pytest.raises(SpecError, match=_match(name)):
        lesion_scans(**args)


# --------------------------------------------------------------------------- shapes


def test_surfaces_lie_on_their_solids():
    rng = np.random.default_rng(0)
    m = 20000
    s = sample_surface("sphere", m, rng)
    assert np.allclose(np.linalg.norm(s, axis=1), 1)
    c = sample_surface("cube", m, rng)
    assert np.allclose(np.abs(c).max(axis=1), 1)
    t = sample_surface("torus", m, rng, tube=0.3)
    assert np.allclose((np.hypot(t[:, 0], t[:, 1]) - 1) ** 2 + t[:, 2] ** 2, 0.09)
    # uniform by area: the outer half of the tube (cos > 0) holds (pi + 2r) / (2 pi) of the points
    outer = float(np.mean(np.hypot(t[:, 0], t[:, 1]) > 1))
    assert abs(outer - (math.pi + 0.6) / (2 * math.pi)) < 4 * math.sqrt(0.25 / m)
    h = 2.0
    y = sample_surface("cylinder", m, rng, height=h)
    rad = np.hypot(y[:, 0], y[:, 1])
    side = np.isclose(rad, 1) & (np.abs(y[:, 2]) <= h / 2 + 1e-12)
    cap = np.isclose(np.abs(y[:, 2]), h / 2) & (rad <= 1 + 1e-12)
    assert (side | cap).all()
    assert abs(float(np.mean(~cap)) - h / (h + 1)) < 4 * math.sqrt(0.25 / m)
    k = sample_surface("cone", m, rng, height=h)
    rad = np.hypot(k[:, 0], k[:, 1])
    base = np.isclose(k[:, 2], -h / 2)
    assert np.allclose(rad[~base], (h / 2 - k[~base, 2]) / h)
    slant = math.sqrt(1 + h * h)
    assert abs(float(np.mean(~base)) - slant / (slant + 1)) < 4 * math.sqrt(0.25 / m)


def test_rotations_are_uniform_rotations():
    q = random_rotations(20000, np.random.default_rng(1))
    assert np.allclose(q @ q.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(q), 1)
    # Haar measure: every entry has mean 0 and variance 1/3
    assert np.abs(q.mean(axis=0)).max() < 0.02
    assert np.abs((q**2).mean(axis=0) - 1 / 3).max() < 0.02


def test_point_clouds_are_normalised_rotated_solids():
    d = point_clouds(10, 4000, noise=0.0, stretch=0.0, seed=3)
    assert d.points.shape == (10, 4000, 3) and d.label.tolist() == [i % 5 for i in range(10)]
    assert d.classes == SHAPES
    p = d.points.double()
    assert torch.allclose(p.mean(1), torch.zeros(10, 3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(p.pow(2).sum(-1).mean(1), torch.ones(10, dtype=torch.float64), atol=1e-5)
    # undoing the recorded rotation of a cube (class 1) puts every point on a face: max |coordinate|
    # is one value (up to the small shift of the centring, which uses the sample mean)
    for i in (1, 6):
        m = (p[i] @ d.rotation[i].double()).abs().amax(1)
        assert float(m.max() - m.min()) < 0.08 * float(m.max())
        assert not torch.allclose(p[i].abs().amax(1), m, atol=0.1)  # it was rotated
    # a sphere (class 0) stays a sphere: every point at about the same distance from the centre
    r = p[0].norm(dim=1)
    assert float(r.max() - r.min()) < 0.06
    same = point_clouds(10, 4000, noise=0.0, stretch=0.0, seed=3)
    assert torch.equal(same.points, d.points)
    # noise is added after the normalisation, with the given spread
    noisy = point_clouds(10, 4000, noise=0.05, stretch=0.0, seed=3)
    assert abs(float((noisy.points - d.points).std()) - 0.05) < 0.002


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(points=3), "points"),
        (dict(classes=()), "classes"),
        (dict(classes=("sphere", "pyramid")), "classes[1]"),
        (dict(classes=("cube", "cube")), "classes"),
        (dict(noise=-0.01), "noise"),
        (dict(stretch=float("nan")), "stretch"),
        (dict(tube=(0.2, 1.0)), "tube[1]"),
        (dict(height=(2.0, 1.0)), "height[1]"),
        (dict(rotate=1), "rotate"),
        (dict(seed=-1), "seed"),
    ],
)
def test_point_clouds_bad_arguments(kwargs, name):
    args = dict(n=2, points=16)
    args.update(kwargs)
    with pytest.raises(SpecError, match=_match(name)):
        point_clouds(**args)


def test_sample_surface_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(SpecError, match="shape"):
        sample_surface("pyramid", 4, rng)
    with pytest.raises(SpecError, match="tube"):
        sample_surface("torus", 4, rng, tube=1.0)
    with pytest.raises(SpecError, match="height"):
        sample_surface("cone", 4, rng, height=0.0)
