"""Dense prediction that needs a receptive field as large as the objects: quadrants of squares.

Every image holds filled squares of given sides ``S`` (value ``contrast``) on a zero
background, plus Gaussian noise everywhere. Each pixel is labelled ``0`` (background) or, inside
a square, by the **quadrant of its own square** it lies in: ``1`` top-left, ``2`` top-right,
``3`` bottom-left, ``4`` bottom-right. Inside a square every pixel looks alike locally; only the
square's edges tell where in it a pixel is. A centred receptive field of ``R = 2h + 1`` pixels
sees an edge of a square at distance at most ``h``: a pixel whose nearer left/right edge is
farther than ``h`` (there are ``max(0, S - 2h)`` such columns) cannot tell left from right, and
likewise for rows. So the best a model with field ``R`` can do on squares of side ``S`` is

``acc(R, S) = a(R, S)^2``,  ``a(R, S) = 1 - max(0, S - 2h) / (2 S)``,

(:func:`quadrant_accuracy_bound`) which is 1 once ``R >= S + 1`` and falls to ``1/4`` (chance)
as ``R / S -> 0``: accuracy depends on the receptive field relative to the object size.

Examples:
    >>> data = square_objects(2, 48, sizes=(4, 8, 16), seed=0)
    >>> data.image.shape, data.label.shape, data.side.shape
    (torch.Size([2, 1, 48, 48]), torch.Size([2, 48, 48]), torch.Size([2, 48, 48]))
    >>> sorted(data.label.unique().tolist())
    [0, 1, 2, 3, 4]
    >>> [int((data.label[data.side == s] > 0).sum()) // (s * s) for s in (4, 8, 16)]
    [2, 2, 2]
    >>> round(quadrant_accuracy_bound(13, 32), 4), quadrant_accuracy_bound(33, 32)
    (0.4727, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = ["ObjectsData", "quadrant_accuracy_bound", "quadrant_labels", "square_objects"]


class ObjectsData(NamedTuple):
    """Images, labels and object sides of :func:`square_objects`.

    Attributes:
        image: float32 ``(n, 1, H, W)``.
        label: int64 ``(n, H, W)``: 0 background, 1..4 the quadrant of the pixel's square
            (top-left, top-right, bottom-left, bottom-right).
        side: int64 ``(n, H, W)``: the side of the pixel's square, 0 on the background.
        boxes: one ``(k, 3)`` int64 tensor per image: ``(top, left, side)`` of its squares.
    """

    image: Tensor
    label: Tensor
    side: Tensor
    boxes: list[Tensor]


def quadrant_labels(side: int) -> np.ndarray:
    """The ``side x side`` label block of one square: 1 2 over 3 4, each quadrant ``side/2`` wide.

    Examples:
        >>> quadrant_labels(4).tolist()
        [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    """
    s = check_int("side", side, 2)
    if s % 2:
        raise SpecError(f"side must be an even integer >= 2 (quadrants of equal size), got {s}")
    half = np.arange(s) >= s // 2
    return (1 + half[None, :].astype(np.int64) + 2 * half[:, None].astype(np.int64)).astype(np.int64)


def quadrant_accuracy_bound(receptive_field: int, side: int) -> float:
    """Best pixel accuracy on squares of side ``S`` with a centred field of ``R`` pixels.

    ``a^2`` with ``a = 1 - max(0, S - 2h) / (2S)``, ``h = (R - 1) // 2``: per axis, the
    ``S - 2h`` middle columns see neither edge and are guessed (half right). See the module
    docstring.

    Examples:
        >>> quadrant_accuracy_bound(1, 64), quadrant_accuracy_bound(63, 64), quadrant_accuracy_bound(65, 64)
        (0.25, 0.968994140625, 1.0)
    """
    r = check_int("receptive_field", receptive_field, 1)
    s = check_int("side", side, 2)
    h = (r - 1) // 2
    a = 1.0 - max(0, s - 2 * h) / (2 * s)
    return a * a


def square_objects(
    n: int,
    size: int = 96,
    *,
    sizes: Sequence[int] = (4, 8, 16, 32, 64),
    per_size: int = 1,
    gap: int = 2,
    noise: float = 0.3,
    contrast: float = 1.0,
    tries: int = 200,
    seed: int = 0,
) -> ObjectsData:
    """Images of non-overlapping squares on noise, labelled by quadrant.

    Each image places ``per_size`` squares of every side in ``sizes``, largest first, each at
    the first of up to ``tries`` uniformly random positions that keeps ``gap`` background
    pixels to every square already placed; a square that finds no room is left out (so
    crowded settings hold fewer squares; ``boxes`` lists those placed).

    Args:
        n: number of images (>= 1).
        size: image side ``H = W`` (>= 4).
        sizes: square sides, even integers in ``[2, size]``.
        per_size: squares of each side per image (>= 1).
        gap: background pixels kept between squares (>= 1, so every square has its own edge).
        noise: standard deviation of the Gaussian noise (>= 0, finite).
        contrast: value of the squares before noise (> 0, finite).
        tries: random positions tried per square (>= 1).
        seed: seed of the ``numpy`` generator (>= 0).

    Returns:
        An :class:`ObjectsData`.

    Raises:
        SpecError: a bad argument (the message names it, its value and the valid range).
    """
    n = check_int("n", n, 1)
    size = check_int("size", size, 4)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) == 0:
        raise SpecError(f"sizes must be a non-empty sequence of even integers in [2, {size}], got {sizes!r}")
    sides = [check_int(f"sizes[{i}]", s, 2, size) for i, s in enumerate(sizes)]
    for i, s in enumerate(sides):
        if s % 2:
            raise SpecError(f"sizes[{i}] must be an even integer in [2, {size}], got {s}")
    per_size = check_int("per_size", per_size, 1)
    gap = check_int("gap", gap, 1)
    tries = check_int("tries", tries, 1)
    seed = check_int("seed", seed, 0)
    for name, value, low in (("noise", noise, 0.0), ("contrast", contrast, None)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise SpecError(f"{name} must be a finite number {'>= 0' if low == 0.0 else '> 0'}, got {value!r}")
        if (low == 0.0 and value < 0) or (low is None and value <= 0):
            raise SpecError(f"{name} must be a finite number {'>= 0' if low == 0.0 else '> 0'}, got {value!r}")
    rng = np.random.default_rng(seed)
    order = sorted(sides * per_size, reverse=True)
    blocks = {s: quadrant_labels(s) for s in set(sides)}
    clean = np.zeros((n, size, size), dtype=np.float32)
    label = np.zeros((n, size, size), dtype=np.int64)
    side = np.zeros((n, size, size), dtype=np.int64)
    boxes: list[Tensor] = []
    for i in range(n):
        taken = np.zeros((size, size), dtype=bool)  # squares grown by `gap`
        placed = []
        for s in order:
            for _ in range(tries):
                top, left = (int(v) for v in rng.integers(0, size - s + 1, size=2))
                if not taken[top : top + s, left : left + s].any():
                    break
            else:
                continue
            taken[max(0, top - gap) : top + s + gap, max(0, left - gap) : left + s + gap] = True
            clean[i, top : top + s, left : left + s] = contrast
            label[i, top : top + s, left : left + s] = blocks[s]
            side[i, top : top + s, left : left + s] = s
            placed.append((top, left, s))
        boxes.append(torch.tensor(placed, dtype=torch.int64).reshape(-1, 3))
    image = clean + rng.normal(0.0, float(noise), size=clean.shape).astype(np.float32)
    return ObjectsData(torch.from_numpy(image[:, None]), torch.from_numpy(label), torch.from_numpy(side), boxes)
