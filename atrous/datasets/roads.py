"""Road images with perspective lane lines: long thin structures that need a tall receptive field.

A camera looks down a straight road. Above the horizon row ``h0`` is sky; below it, asphalt
with a smooth texture and noise. Lane lines are straight in the image and meet at a vanishing
point ``(v, h0)``; a ground point at image row ``y`` lies at depth ``Z(y) = (H - h0) / (y + 1/2 - h0)``
(1 at the bottom row, growing towards the horizon), so everything painted on the road shrinks
in proportion to ``1 / Z``: line widths, dash lengths and the vehicles standing on it.

Every lane line is **labelled as a continuous line** (as the lane benchmarks annotate them) from
``margin`` rows below the horizon to the bottom, but its paint is visible only in places:

* inner lines are dashed: paint where ``frac((Z + phase) / period) < duty``, so near the camera a
  gap spans tens of rows;
* vehicles (dark or bright boxes standing in a lane) hide the paint behind them;
* shadows across the road darken everything under them.

Short painted strokes that lie on no lane line (road marks, patches) are *distractors*: they
look like paint and are labelled background. A pixel in a gap can only be labelled from the
paint above and below it, and a distractor only rejected by seeing that no line continues it:
both need a receptive field that is tall compared with the gaps.

Examples:
    >>> data = road_lanes(2, 48, 64, seed=0)
    >>> data.image.shape, data.label.shape, data.visible.shape
    (torch.Size([2, 1, 48, 64]), torch.Size([2, 48, 64]), torch.Size([2, 48, 64]))
    >>> bool((data.visible <= (data.label == 1)).all())  # paint is seen only on lane pixels
    True
    >>> bool(data.label[:, : int(data.horizon.max())].eq(0).all())  # nothing above the horizon
    True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from atrous.datasets._args import check_range
from atrous.datasets.dense import _check_float
from atrous.geometry.spec import check_int

__all__ = ["Lanes", "road_lanes"]

_SUB = 4  # supersampling per axis for the painted coverage


class Lanes(NamedTuple):
    """Images and labels of :func:`road_lanes`.

    Attributes:
        image: float32 ``(n, 1, H, W)``.
        label: int64 ``(n, H, W)``: 1 on the lane lines (continuous through gaps and vehicles),
            0 elsewhere.
        visible: bool ``(n, H, W)``: lane pixels whose paint is visible (a dash, not hidden);
            ``label == 1`` and not ``visible`` are the pixels only context can label.
        distractor: bool ``(n, H, W)``: pixels painted by a distractor stroke (label 0).
        horizon: int64 ``(n,)``: the horizon row ``h0`` of each image.
    """

    image: Tensor
    label: Tensor
    visible: Tensor
    distractor: Tensor
    horizon: Tensor


def _segment_distance(px: np.ndarray, py: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Distance of points ``(px, py)`` to the segment ``a``-``b``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


def road_lanes(
    n: int,
    height: int = 64,
    width: int = 96,
    *,
    horizon: tuple[float, float] = (0.3, 0.4),
    line_width: float = 2.0,
    period: tuple[float, float] = (0.9, 1.3),
    duty: tuple[float, float] = (0.3, 0.45),
    vehicles: int = 2,
    distractors: int = 4,
    shadows: int = 1,
    noise: float = 0.08,
    paint: float = 0.45,
    margin: int = 3,
    seed: int = 0,
) -> Lanes:
    """``n`` road images with their lane labels.

    Each image has four lane lines (lane width drawn per image, the camera offset from the lane
    centre random): the outer two solid, the inner two dashed with a ``period`` and ``duty``
    drawn per line and a random phase. Up to ``vehicles`` boxes stand in random lanes,
    ``distractors`` strokes lie off the lines, ``shadows`` dark bands cross the road.

    Args:
        n: number of images (>= 1).
        height, width: image size ``H x W`` (``H >= 16``, ``W >= 16``).
        horizon: range of the horizon row as a fraction of ``H``, ``0 < low <= high < 0.75``.
        line_width: paint width at the bottom row in pixels (> 0); it shrinks as ``1 / Z``.
        period: range of the dash period in depth units (the bottom row is at depth 1), > 0.
        duty: range of the painted fraction of a dash period, in ``(0, 1)``.
        vehicles, distractors, shadows: how many of each at most per image (each >= 0; the
            count is drawn uniformly from ``0..max``).
        noise: standard deviation of the pixel noise (>= 0).
        paint: brightness the paint adds to the asphalt (> 0).
        margin: rows below the horizon left unlabelled, where the lines merge (>= 0).
        seed: seed of the numpy generator (>= 0).

    Returns:
        A :class:`Lanes`.

    Raises:
        SpecError: a bad argument (the message names it, its value and the valid range).
    """
    n = check_int("n", n, 1)
    H = check_int("height", height, 16)
    W = check_int("width", width, 16)
    h_lo, h_hi = check_range("horizon", horizon, 0.0, 0.75)
    lw = _check_float("line_width", line_width, 0.0, math.inf, low_open=True, high_open=True)
    p_lo, p_hi = check_range("period", period, 0.0, math.inf)
    d_lo, d_hi = check_range("duty", duty, 0.0, 1.0)
    vehicles = check_int("vehicles", vehicles, 0)
    distractors = check_int("distractors", distractors, 0)
    shadows = check_int("shadows", shadows, 0)
    noise = _check_float("noise", noise, 0.0, math.inf, low_open=False, high_open=True)
    paint = _check_float("paint", paint, 0.0, math.inf, low_open=True, high_open=True)
    margin = check_int("margin", margin, 0, H // 4)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)

    # pixel centres at full resolution and on the supersampled grid
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    sub = (np.arange(_SUB) + 0.5) / _SUB
    sy = (np.arange(H)[:, None] + sub[None, :]).reshape(-1)
    sx = (np.arange(W)[:, None] + sub[None, :]).reshape(-1)
    syy, sxx = np.meshgrid(sy, sx, indexing="ij")

    def pool(a: np.ndarray) -> np.ndarray:  # supersampled (H*S, W*S) -> mean per pixel (H, W)
        pooled: np.ndarray = a.reshape(H, _SUB, W, _SUB).mean(axis=(1, 3))
        return pooled

    images = np.empty((n, H, W), dtype=np.float32)
    labels = np.zeros((n, H, W), dtype=np.int64)
    visible = np.zeros((n, H, W), dtype=bool)
    distract = np.zeros((n, H, W), dtype=bool)
    horizons = np.empty(n, dtype=np.int64)
    for i in range(n):
        h0 = round(rng.uniform(h_lo, h_hi) * H)
        horizons[i] = h0
        depth_rows = H - h0
        v = rng.uniform(0.4, 0.6) * W  # vanishing point column
        spacing = rng.uniform(0.45, 0.6) * W  # lane width at the bottom row, pixels
        offset = rng.uniform(-0.3, 0.3)  # camera offset from the centre of its lane, in lanes
        # per sub-row: depth and the scale 1/Z (0 above the horizon)
        above = syy < h0
        rel = np.where(above, 1.0, syy - h0)
        depth = np.where(above, np.inf, depth_rows / rel)
        scale = np.where(above, 0.0, rel / depth_rows)
        road = ~above
        lane_paint = np.zeros_like(syy)
        lane_label = np.zeros((H, W), dtype=bool)
        lines = []
        for j, slot in enumerate((-1.5, -0.5, 0.5, 1.5)):
            bottom = v + (slot - offset) * spacing  # column of the line at the bottom edge (y = H)
            lines.append(bottom)
            # perpendicular distance to the line through (v, h0) and (bottom, H), in pixels
            dx, dy = bottom - v, float(depth_rows)
            norm = math.hypot(dx, dy)
            dist_sub = np.abs((sxx - v) * dy - (syy - h0) * dx) / norm
            half = lw * scale / 2
            on = road & (dist_sub <= half)
            if j in (1, 2):  # dashed
                per, dut, phase = rng.uniform(p_lo, p_hi), rng.uniform(d_lo, d_hi), rng.uniform(0.0, 1.0)
                with np.errstate(invalid="ignore"):
                    on &= np.mod(depth / per + phase, 1.0) < dut
            lane_paint = np.maximum(lane_paint, on)
            # the label: the whole line, at least one pixel wide, from `margin` rows below h0
            dist = np.abs((xx - v) * dy - (yy - h0) * dx) / norm
            lab_half = np.maximum(lw * np.clip((yy - h0) / depth_rows, 0.0, None), 1.0) / 2
            lane_label |= (dist <= lab_half) & (yy - 0.5 >= h0 + margin)
        # asphalt with a smooth texture; sky above
        tex = _smooth(rng, H, W, 6.0)
        img = np.where(yy < h0, 0.75 + 0.05 * tex, 0.3 + 0.05 * tex)
        coverage = pool(lane_paint)
        # distractors: short strokes of paint width at their row, away from every line
        strokes = np.zeros_like(syy)
        for _ in range(int(rng.integers(0, distractors + 1))):
            for _try in range(50):
                cy = rng.uniform(h0 + margin + 2, H - 1)
                s = (cy - h0) / depth_rows
                length = rng.uniform(3.0, 10.0) * max(s, 0.3)
                ang = rng.uniform(0.0, math.pi)
                cx = rng.uniform(0.0, W)
                a = (cx - 0.5 * length * math.cos(ang), cy - 0.5 * length * math.sin(ang))
                b = (cx + 0.5 * length * math.cos(ang), cy + 0.5 * length * math.sin(ang))
                mask = road & (_segment_distance(sxx, syy, a, b) <= max(lw * s, 0.7) / 2)
                if not (pool(mask.astype(np.float64)) > 0).any():
                    continue
                near = np.zeros((H, W), dtype=bool)
                near[lane_label] = True
                grown = _grow(near, 3)
                if (pool(mask.astype(np.float64))[grown] > 0).any():
                    continue  # touches a lane line (or nearly): try elsewhere
                strokes = np.maximum(strokes, mask)
                break
        stroke_cov = pool(strokes)
        img = img + paint * np.maximum(coverage, stroke_cov)
        # vehicles: boxes standing on the road at a lane centre, hiding what is behind them
        hidden = np.zeros((H, W), dtype=bool)
        for _ in range(int(rng.integers(0, vehicles + 1))):
            base = rng.uniform(h0 + 0.25 * depth_rows, h0 + 0.9 * depth_rows)  # row of the wheels
            s = (base - h0) / depth_rows
            lane = int(rng.integers(0, 3))
            centre_bottom = (lines[lane] + lines[lane + 1]) / 2
            cx = v + (centre_bottom - v) * s
            half_w = rng.uniform(0.3, 0.4) * spacing * s
            tall = rng.uniform(0.7, 1.0) * 2 * half_w
            box = (xx >= cx - half_w) & (xx < cx + half_w) & (yy >= base - tall) & (yy < base)
            shade = rng.choice([rng.uniform(0.05, 0.15), rng.uniform(0.6, 0.7)])
            img = np.where(box, shade + 0.05 * tex, img)
            hidden |= box
        # shadows: darker bands across the road
        for _ in range(int(rng.integers(0, shadows + 1))):
            y0 = rng.uniform(h0 + margin, H)
            thick = rng.uniform(2.0, 8.0) * (y0 - h0) / depth_rows + 1.0
            band = np.clip(1.0 - np.abs(yy - y0) / thick, 0.0, 1.0) * (yy >= h0)
            img = img * (1.0 - 0.45 * band)
        img = img + rng.normal(0.0, noise, size=img.shape)
        images[i] = img
        labels[i] = lane_label
        visible[i] = lane_label & (coverage > 0) & ~hidden
        distract[i] = (stroke_cov > 0) & ~hidden
    return Lanes(
        torch.from_numpy(images[:, None]),
        torch.from_numpy(labels),
        torch.from_numpy(visible),
        torch.from_numpy(distract),
        torch.from_numpy(horizons),
    )


def _smooth(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """A smooth zero-mean field of unit standard deviation (white noise blurred by a Gaussian)."""
    noise = rng.normal(size=(h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    field = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-2 * (math.pi * scale) ** 2 * (fy**2 + fx**2))).real
    return field / max(float(field.std()), 1e-12)


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    """``mask`` dilated by a ``(2r + 1)^2`` square."""
    h, w = mask.shape
    padded = np.zeros((h + 2 * r, w + 2 * r), dtype=bool)
    padded[r : r + h, r : r + w] = mask
    out = np.zeros_like(mask)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= padded[dy : dy + h, dx : dx + w]
    return out
