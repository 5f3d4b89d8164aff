"""``fold`` and ``fold_pad``: the dilation and the padding leave the innermost axis.

Stride 1 along the last axis (W), dilation ``d``: with ``f`` the largest factor of the width,
the dilation and both paddings, W is viewed (no copy) as ``(W/f, f)`` and the convolution runs
with one more axis, kernel ``(..., k, 1)``, dilation ``(..., d/f, 1)`` and W padding ``lo/f`` on
the new axis: output ``q*f + r`` reads inputs ``(q - lo/f + t*d/f)*f + r``. The dilation and
the padding leave the innermost axis, where oneDNN's kernels pay for them (1-d -> 2-d,
2-d -> 3-d).

``fold_pad`` does the same with ``f`` a divisor of ``d`` that need not divide the width or the
paddings (2-d, where the view's factor is small): W is padded by a few columns (less than ``f``
plus the part of the padding that is not a multiple of ``f``) and the extra output columns
cropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import CONV, Ints, Pads, flat_pad

__all__ = [
    "FOLD2_MAX_FACTOR",
    "FOLD2_MIN_FACTOR",
    "fold_call",
    "fold_factor",
    "fold_pad_factor",
    "fold_plan",
    "run_fold",
    "run_fold_pad",
    "why_not_fold",
    "why_not_fold_pad",
]

#: fold_pad's factors (2-d, as a 3-d convolution): with a batch of >= 2 the fold beat the native
#: call, ``pad_w`` and ``channels_last`` past the W-padding cliff at the measured shapes from
#: ``f = 4`` on (0.64-1.04 of dilation 1's time; padded widths 0.94-1.13); ``f = 2`` was mixed
#: (an autotune candidate only), and a batch of 1 was erratic (up to 5x slower): other routes.
FOLD2_MIN_FACTOR = 4
FOLD2_MAX_FACTOR = 32


def fold_factor(n: int, d: int, lo: int, hi: int) -> int:
    """The largest ``f`` that divides the width, the dilation and both paddings (a pure view)."""
    return math.gcd(math.gcd(n, d), math.gcd(lo, hi))


def fold_plan(n: int, d: int, lo: int, hi: int, f: int) -> tuple[int, int, int, int]:
    """How ``fold`` by ``f`` (a divisor of ``d``) computes an axis of width ``n`` with paddings
    ``(lo, hi)``: ``(a, b, units, crop)``: pad the axis by ``(a, b)`` (``(0, 0)``: no copy), pad
    the ``W/f`` axis by ``units`` on both sides in the convolution, crop ``crop`` output columns
    at the end (the zeros added to make the width a multiple of ``f``)."""
    units = min(lo, hi) // f
    a = lo - units * f
    b = hi - units * f
    crop = -(a + n + b) % f
    return a, b + crop, units, crop


def fold_pad_factor(n: int, d: int, lo: int, hi: int) -> int:
    """``fold_pad``'s factor: the divisor of ``d`` in ``[FOLD2_MIN_FACTOR, FOLD2_MAX_FACTOR]``
    that pads least (the larger on a tie); otherwise the smallest divisor above 1; 0 for d = 1."""
    best, best_width = 0, 0
    for f in range(FOLD2_MIN_FACTOR, min(d, FOLD2_MAX_FACTOR) + 1):
        if d % f == 0:
            a, b, _, _ = fold_plan(n, d, lo, hi, f)
            if not best or a + b <= best_width:
                best, best_width = f, a + b
    return best or next((f for f in range(2, d + 1) if d % f == 0), 0)


def fold_call(
    sizes: Sequence[int], stride: Ints, pads: Pads, dilation: Ints, f: int
) -> tuple[list[tuple[int, int]], Ints, Ints, Ints, int]:
    """How ``fold`` by ``f`` runs: ``(pre, stride, padding, dilation, crop)``: the padding copy
    per axis (``(lo, hi)``; all zero: a pure view), the arguments of the convolution with one
    more axis, and the output columns to crop."""
    lo, hi = pads[-1]
    d = dilation[-1]
    a, b, units, crop = fold_plan(sizes[-1], d, lo, hi, f)
    outer = list(pads[:-1])
    pre = [(lo_, hi_) if lo_ != hi_ else (0, 0) for lo_, hi_ in outer] + [(a, b)]
    padding = (*(lo_ if lo_ == hi_ else 0 for lo_, hi_ in outer), units, 0)
    return pre, (*stride[:-1], 1, 1), padding, (*dilation[:-1], d // f, 1), crop


def _fold(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int, f: int
) -> Tensor:
    nd = len(pads)
    pre, s, padding, d, crop = fold_call(x.shape[2:], stride, pads, dilation, f)
    if any(p for pair in pre for p in pair):
        x = F.pad(x, flat_pad(pre))
    xv = x.reshape(*x.shape[:-1], x.shape[-1] // f, f)
    y = CONV[nd + 1](xv, weight.unsqueeze(-1), bias, s, padding, d, groups)
    y = y.reshape(*y.shape[:-2], -1)
    return y[..., : y.shape[-1] - crop].contiguous() if crop else y


def run_fold(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    lo, hi = pads[-1]
    return _fold(x, weight, bias, stride, pads, dilation, groups, fold_factor(x.shape[-1], dilation[-1], lo, hi))


def run_fold_pad(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    lo, hi = pads[-1]
    return _fold(x, weight, bias, stride, pads, dilation, groups, fold_pad_factor(x.shape[-1], dilation[-1], lo, hi))


def why_not_fold_pad(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    if len(pads) not in (1, 2) or stride[-1] != 1:
        return "fold needs a 1-d or 2-d convolution with stride 1 along the last axis"
    if any(lo < 0 or hi < 0 for lo, hi in pads) or dilation[-1] < 2:
        return "fold needs a dilation of at least 2 along the last axis and no negative padding"
    return None


def why_not_fold(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    why = why_not_fold_pad(x, weight, bias, stride, pads, dilation, groups)
    if why is None and fold_factor(x.shape[-1], dilation[-1], *pads[-1]) < 2:
        return "no factor >= 2 divides the width, the dilation and both paddings (fold_pad pads)"
    return why
