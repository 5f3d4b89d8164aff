"""Point clouds of simple solids: sphere, cube, torus, cylinder and cone, rotated and noisy.

Each cloud holds ``points`` samples drawn uniformly by area from the surface of one solid (a
unit sphere; a cube of side 2; a torus with tube radius ``r`` around a circle of radius 1; a
cylinder and a cone of radius 1 with their flat caps), stretched by a random factor per axis
(``stretch``), rotated by a uniformly random rotation (a normalised Gaussian quaternion),
centred on its mean, scaled to a root-mean-square radius of 1 and perturbed by Gaussian noise of
standard deviation ``noise``. The class is the solid, in the order of :data:`SHAPES`.

A point's class is a property of the whole surface: near a single point a sphere, a torus and a
cylinder all look like a gently curved patch, and a cube and a cone like a plane. A graph
network built on the points' k nearest neighbours sees a patch of ``k`` points per layer; the
classification needs the patches to grow (more layers, or dilated neighbourhoods).

Examples:
    >>> data = point_clouds(5, 128, seed=0)
    >>> tuple(data.points.shape), data.label.tolist()
    ((5, 128, 3), [0, 1, 2, 3, 4])
    >>> bool((data.points.pow(2).sum(-1).mean(1) - 1).abs().max() < 0.1)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from atrous.datasets._args import check_range
from atrous.datasets.dense import _check_float
from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = ["SHAPES", "PointClouds", "point_clouds", "random_rotations", "sample_surface"]

#: the solids, in class order
SHAPES = ("sphere", "cube", "torus", "cylinder", "cone")


class PointClouds(NamedTuple):
    """Clouds and classes of :func:`point_clouds`.

    Attributes:
        points: float32 ``(n, P, 3)``, each cloud centred with RMS radius 1 before the noise.
        label: int64 ``(n,)``: the index of the solid in ``classes``.
        classes: the class names, ``label`` indexes them.
        rotation: float32 ``(n, 3, 3)``: the rotation applied to each cloud.
    """

    points: Tensor
    label: Tensor
    classes: tuple[str, ...]
    rotation: Tensor


def _unit(rng: np.random.Generator, m: int) -> np.ndarray:
    v = rng.normal(size=(m, 3))
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


def sample_surface(
    shape: str, m: int, rng: np.random.Generator, *, tube: float = 0.35, height: float = 2.0
) -> np.ndarray:
    """``m`` points drawn uniformly by area from the surface of ``shape`` (float64 ``(m, 3)``).

    Args:
        shape: one of :data:`SHAPES`.
        m: number of points (>= 1).
        rng: the numpy generator to draw from.
        tube: the torus's tube radius, in ``(0, 1)`` (the centre circle has radius 1).
        height: the cylinder's and the cone's height (> 0; their radius is 1).

    Examples:
        >>> p = sample_surface("sphere", 1000, np.random.default_rng(0))
        >>> bool(np.allclose(np.linalg.norm(p, axis=1), 1.0))
        True
        >>> c = sample_surface("cube", 1000, np.random.default_rng(0))
        >>> bool(np.allclose(np.abs(c).max(axis=1), 1.0))
        True
    """
    if shape not in SHAPES:
        raise SpecError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    m = check_int("m", m, 1)
    r = _check_float("tube", tube, 0.0, 1.0, low_open=True, high_open=True)
    h = _check_float("height", height, 0.0, math.inf, low_open=True, high_open=True)
    if shape == "sphere":
        return _unit(rng, m)
    if shape == "cube":
        face = rng.integers(0, 6, size=m)
        p = rng.uniform(-1.0, 1.0, size=(m, 3))
        axis = face // 2
        p[np.arange(m), axis] = np.where(face % 2 == 0, -1.0, 1.0)
        return p
    if shape == "torus":
        # tube angle t with density proportional to the circumference 1 + r cos t (rejection)
        t = np.empty(0)
        while t.size < m:
            cand = rng.uniform(0.0, 2 * math.pi, size=2 * m)
            keep = rng.uniform(0.0, 1.0 + r, size=2 * m) < 1.0 + r * np.cos(cand)
            t = np.concatenate([t, cand[keep]])
        t = t[:m]
        phi = rng.uniform(0.0, 2 * math.pi, size=m)
        ring = 1.0 + r * np.cos(t)
        return np.stack([ring * np.cos(phi), ring * np.sin(phi), r * np.sin(t)], axis=1)
    phi = rng.uniform(0.0, 2 * math.pi, size=m)
    if shape == "cylinder":
        side, cap = 2 * math.pi * h, 2 * math.pi  # areas: lateral, both caps
        on_side = rng.uniform(0.0, side + cap, size=m) < side
        rad = np.where(on_side, 1.0, np.sqrt(rng.uniform(0.0, 1.0, size=m)))
        z = np.where(on_side, rng.uniform(-h / 2, h / 2, size=m), np.where(rng.integers(0, 2, size=m) == 0, -h, h) / 2)
        return np.stack([rad * np.cos(phi), rad * np.sin(phi), z], axis=1)
    # cone: apex at z = h/2, base of radius 1 at z = -h/2
    side, base = math.pi * math.sqrt(1.0 + h * h), math.pi
    on_side = rng.uniform(0.0, side + base, size=m) < side
    frac = np.sqrt(rng.uniform(0.0, 1.0, size=m))  # radius fraction, uniform by area on both
    z = np.where(on_side, h / 2 - h * frac, -h / 2)
    return np.stack([frac * np.cos(phi), frac * np.sin(phi), z], axis=1)


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly from SO(3) (normalised Gaussian quaternions).

    Examples:
        >>> q = random_rotations(3, np.random.default_rng(0))
        >>> bool(np.allclose(q @ q.transpose(0, 2, 1), np.eye(3))), bool(np.allclose(np.linalg.det(q), 1))
        (True, True)
    """
    n = check_int("n", n, 1)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )


def point_clouds(
    n: int,
    points: int = 256,
    *,
    classes: Sequence[str] = SHAPES,
    noise: float = 0.02,
    stretch: float = 0.2,
    tube: tuple[float, float] = (0.25, 0.45),
    height: tuple[float, float] = (1.5, 2.5),
    rotate: bool = True,
    seed: int = 0,
) -> PointClouds:
    """``n`` labelled point clouds, the classes in turn (cloud ``i`` is of class ``i % len(classes)``).

    Args:
        n: number of clouds (>= 1).
        points: points per cloud (>= 4).
        classes: the solids to draw, distinct names from :data:`SHAPES`.
        noise: standard deviation of the Gaussian noise added to each coordinate after the
            normalisation to RMS radius 1 (>= 0).
        stretch: each axis is scaled by ``exp(u)``, ``u`` uniform in ``[-stretch, stretch]``,
            before the rotation (>= 0; 0 keeps the solids' proportions).
        tube: range of the torus's tube radius, ``0 < tube[0] <= tube[1] < 1``.
        height: range of the cylinder's and cone's height, ``0 < height[0] <= height[1]``.
        rotate: apply a uniformly random rotation to each cloud.
        seed: seed of the numpy generator (>= 0).

    Returns:
        A :class:`PointClouds`.

    Raises:
        SpecError: a bad argument (the message names it, its value and the valid range).
    """
    n = check_int("n", n, 1)
    points = check_int("points", points, 4)
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise SpecError(f"classes must be a non-empty sequence of names from {', '.join(SHAPES)}, got {classes!r}")
    for i, c in enumerate(classes):
        if c not in SHAPES:
            raise SpecError(f"classes[{i}] must be one of {', '.join(SHAPES)}, got {c!r}")
    if len(set(classes)) != len(classes):
        raise SpecError(f"classes must be distinct, got {tuple(classes)}")
    noise = _check_float("noise", noise, 0.0, math.inf, low_open=False, high_open=True)
    stretch = _check_float("stretch", stretch, 0.0, math.inf, low_open=False, high_open=True)
    t_lo, t_hi = check_range("tube", tube, 0.0, 1.0)
    h_lo, h_hi = check_range("height", height, 0.0)
    if not isinstance(rotate, bool):
        raise SpecError(f"rotate must be True or False, got {rotate!r}")
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    label = np.arange(n) % len(classes)
    rot = random_rotations(n, rng) if rotate else np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    out = np.empty((n, points, 3))
    for i in range(n):
        p = sample_surface(classes[label[i]], points, rng, tube=rng.uniform(t_lo, t_hi), height=rng.uniform(h_lo, h_hi))
        p = p * np.exp(rng.uniform(-stretch, stretch, size=3))
        p = p @ rot[i].T
        p -= p.mean(axis=0)
        p /= math.sqrt(float((p * p).sum(axis=1).mean()))
        out[i] = p + rng.normal(0.0, noise, size=p.shape)
    return PointClouds(
        torch.from_numpy(out.astype(np.float32)),
        torch.from_numpy(label.astype(np.int64)),
        tuple(classes),
        torch.from_numpy(rot.astype(np.float32)),
    )
