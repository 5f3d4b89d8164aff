"""Synthetic scans: one large organ and tiny lesions in it, next to look-alike spots outside it.

Each ``size x size`` image holds one large organ, a rotated ellipse whose semi-axes are a large
fraction of the image, faintly brighter than the background (``organ`` above it, about the
noise level, so a pixel alone does not say whether it is inside: the organ is found by averaging
over a large area) and ringed by a thin capsule. Inside it lie ``lesions`` tiny bright boxes of
the sizes ``lesion_sizes`` (``w_y x w_x`` pixels, e.g. 1x1 to 3x3), at uniformly random integer
positions; outside it, ``spots`` boxes that look exactly the same are labelled background. A
pixel is a lesion only if it is bright *and* inside the organ: labelling needs the pixel itself
(the lesion is a few pixels wide) and a large context (the organ is tens of pixels wide).

Labels per pixel: 0 background, 1 organ, 2 lesion. ``boxes`` lists every lesion's
``(top, left, h, w)`` for per-lesion detection.

Examples:
    >>> data = lesion_scans(2, 48, seed=0)
    >>> data.image.shape, data.label.shape
    (torch.Size([2, 1, 48, 48]), torch.Size([2, 48, 48]))
    >>> [sorted(data.label[i].unique().tolist()) for i in range(2)]
    [[0, 1, 2], [0, 1, 2]]
    >>> t, l, h, w = data.boxes[0][0].tolist()
    >>> bool((data.label[0, t : t + h, l : l + w] == 2).all())
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

__all__ = ["BACKGROUND", "LESION", "ORGAN", "Scans", "lesion_scans"]

BACKGROUND, ORGAN, LESION = 0, 1, 2


class Scans(NamedTuple):
    """Images, labels and lesion boxes of :func:`lesion_scans`.

    Attributes:
        image: float32 ``(n, 1, size, size)``.
        label: int64 ``(n, size, size)``: 0 background, 1 organ, 2 lesion.
        boxes: one int64 ``(k, 4)`` tensor per image: ``(top, left, h, w)`` of its lesions.
        spots: one int64 ``(m, 4)`` tensor per image: the look-alike spots outside the organ.
    """

    image: Tensor
    label: Tensor
    boxes: list[Tensor]
    spots: list[Tensor]


def lesion_scans(
    n: int,
    size: int = 64,
    *,
    lesion_sizes: Sequence[tuple[int, int]] = ((1, 1), (1, 2), (2, 2), (2, 3), (3, 3)),
    lesions: int = 6,
    spots: int = 4,
    axes: tuple[float, float] = (0.28, 0.42),
    organ: float = 0.25,
    lesion: float = 1.0,
    noise: float = 0.2,
    gap: int = 2,
    tries: int = 200,
    seed: int = 0,
) -> Scans:
    """``n`` scans with their labels.

    Lesion sizes cycle through ``lesion_sizes`` (each image starts at a random one), so every
    size is about equally common. Lesions keep ``gap`` pixels from each other, from the
    capsule and from the spots; a lesion or spot that finds no room in ``tries`` random
    positions is left out (``boxes`` and ``spots`` list those placed).

    Args:
        n: number of images (>= 1).
        size: image side (>= 24).
        lesion_sizes: ``(w_y, w_x)`` of the lesions, each side in ``[1, size // 8]``.
        lesions: lesions per image (>= 1).
        spots: look-alike spots outside the organ per image (>= 0).
        axes: range of the ellipse's semi-axes as fractions of ``size``, within ``(0, 0.5)``.
        organ: brightness of the organ above the background (> 0).
        lesion: brightness of a lesion (and a spot) above what surrounds it (> 0).
        noise: standard deviation of the Gaussian noise (>= 0).
        gap: background pixels kept around every lesion and spot (>= 1).
        tries: random positions tried per lesion or spot (>= 1).
        seed: seed of the numpy generator (>= 0).

    Returns:
        A :class:`Scans`.

    Raises:
        SpecError: a bad argument (the message names it, its value and the valid range).
    """
    n = check_int("n", n, 1)
    size = check_int("size", size, 24)
    if isinstance(lesion_sizes, (str, bytes)) or not isinstance(lesion_sizes, Sequence) or not lesion_sizes:
        raise SpecError(f"lesion_sizes must be a non-empty sequence of (w_y, w_x) pairs, got {lesion_sizes!r}")
    shapes = []
    for i, s in enumerate(lesion_sizes):
        if isinstance(s, (str, bytes)) or not isinstance(s, Sequence) or len(s) != 2:
            raise SpecError(f"lesion_sizes[{i}] must be a pair (w_y, w_x), got {s!r}")
        shapes.append(tuple(check_int(f"lesion_sizes[{i}][{j}]", v, 1, max(1, size // 8)) for j, v in enumerate(s)))
    lesions = check_int("lesions", lesions, 1)
    n_spots = check_int("spots", spots, 0)
    a_lo, a_hi = check_range("axes", axes, 0.0, 0.5)
    organ = _check_float("organ", organ, 0.0, math.inf, low_open=True, high_open=True)
    lesion = _check_float("lesion", lesion, 0.0, math.inf, low_open=True, high_open=True)
    noise = _check_float("noise", noise, 0.0, math.inf, low_open=False, high_open=True)
    gap = check_int("gap", gap, 1)
    tries = check_int("tries", tries, 1)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    image = np.empty((n, size, size), dtype=np.float32)
    label = np.zeros((n, size, size), dtype=np.int64)
    boxes: list[Tensor] = []
    spot_boxes: list[Tensor] = []
    for i in range(n):
        ay, ax = (rng.uniform(a_lo, a_hi) * size for _ in range(2))
        cy, cx = (size / 2 + rng.uniform(-0.08, 0.08) * size for _ in range(2))
        ang = rng.uniform(0.0, math.pi)
        u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
        v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
        rho = np.sqrt((u / ax) ** 2 + (v / ay) ** 2)  # 1 on the ellipse
        inside = rho <= 1.0
        # the capsule: a ring about 1.5 px wide just inside the boundary
        capsule = inside & (rho >= 1.0 - 1.5 / min(ax, ay))
        img = organ * inside + 0.5 * organ * capsule
        lab = np.where(inside, ORGAN, BACKGROUND).astype(np.int64)
        # where a lesion may go: inside and `gap` px clear of the capsule; spots: clear of the organ
        deep = rho <= 1.0 - (1.5 + gap + 1) / min(ax, ay)
        away = rho >= 1.0 + (gap + 1) / min(ax, ay)
        taken = np.zeros((size, size), dtype=bool)
        placed: list[tuple[int, int, int, int]] = []
        start = int(rng.integers(0, len(shapes)))
        for k in range(lesions):
            h, w = shapes[(start + k) % len(shapes)]
            box = _place(rng, deep, taken, h, w, gap, tries)
            if box is not None:
                placed.append(box)
        outside: list[tuple[int, int, int, int]] = []
        for _ in range(n_spots):
            h, w = shapes[int(rng.integers(0, len(shapes)))]
            box = _place(rng, away, taken, h, w, gap, tries)
            if box is not None:
                outside.append(box)
        for t, left, h, w in placed:
            img[t : t + h, left : left + w] += lesion
            lab[t : t + h, left : left + w] = LESION
        for t, left, h, w in outside:
            img[t : t + h, left : left + w] += lesion
        image[i] = img + rng.normal(0.0, noise, size=img.shape)
        label[i] = lab
        boxes.append(torch.tensor(placed, dtype=torch.int64).reshape(-1, 4))
        spot_boxes.append(torch.tensor(outside, dtype=torch.int64).reshape(-1, 4))
    return Scans(torch.from_numpy(image[:, None]), torch.from_numpy(label), boxes, spot_boxes)


def _place(
    rng: np.random.Generator, allowed: np.ndarray, taken: np.ndarray, h: int, w: int, gap: int, tries: int
) -> tuple[int, int, int, int] | None:
    """A random ``h x w`` box inside ``allowed`` clear of ``taken`` (marked with its ``gap``), or None."""
    size = allowed.shape[0]
    for _ in range(tries):
        t, left = (int(v) for v in rng.integers(0, size - max(h, w) + 1, size=2))
        if t + h > size or left + w > size:
            continue
        if not allowed[t : t + h, left : left + w].all() or taken[t : t + h, left : left + w].any():
            continue
        taken[max(0, t - gap) : t + h + gap, max(0, left - gap) : left + w + gap] = True
        return (t, left, h, w)
    return None
