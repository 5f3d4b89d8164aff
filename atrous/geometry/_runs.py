"""Sets of integers as sorted runs: the representation behind every tap set of a field.

A run set is a list of ``(first, last)`` pairs (inclusive), sorted, disjoint and not adjacent.
Receptive fields are unions of shifted copies of smaller fields (Minkowski sums of arithmetic
progressions), which stay a handful of runs in practice even when they span millions of
positions; every operation here costs time in the number of runs, not in the span, and every
result is checked against :data:`MAX_RUNS` so that no input can make it unbounded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from atrous.errors import SpecError

__all__ = ["LIMIT", "MAX_RUNS", "Runs"]

#: The most positions that any query materialises as a tuple (supports, holes, offsets).
LIMIT = 1 << 22
#: The most separate runs one tap set may have (a field with more is refused, never truncated).
MAX_RUNS = 1 << 16
#: Spans up to this many positions fall back to a bitset when runs would fragment.
_BITSET_SPAN = 1 << 22

Runs = list[tuple[int, int]]


def coalesce(runs: Iterable[tuple[int, int]]) -> Runs:
    """Sort and merge overlapping or adjacent runs."""
    items = sorted(runs)
    out: Runs = []
    for a, b in items:
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    if len(out) > MAX_RUNS:
        raise SpecError(
            f"a tap set of {len(out):,} separate runs exceeds the limit of {MAX_RUNS:,} "
            "(the field is too fragmented to represent exactly)"
        )
    return out


def count(runs: Runs) -> int:
    """Number of positions in the set."""
    return sum(b - a + 1 for a, b in runs)


def shift(runs: Runs, by: int) -> Runs:
    return [(a + by, b + by) for a, b in runs]


def smear(runs: Runs, step: int, copies: int) -> Runs:
    """The union over ``j`` in ``range(copies)`` of ``runs`` shifted by ``j * step``."""
    if copies <= 1 or step == 0 or not runs:
        return list(runs)
    if step < 0:
        runs = shift(runs, (copies - 1) * step)
        step = -step
    ext = (copies - 1) * step
    pieces = sum(1 if b - a + 1 >= step else copies for a, b in runs)
    if pieces <= 4 * MAX_RUNS:
        out: Runs = []
        for a, b in runs:
            if b - a + 1 >= step:
                out.append((a, b + ext))
            else:
                out.extend((a + j * step, b + j * step) for j in range(copies))
        return coalesce(out)
    span = runs[-1][1] - runs[0][0] + 1 + ext
    if span > _BITSET_SPAN:
        raise SpecError(
            f"a tap set spanning {span:,} positions in more than {MAX_RUNS:,} runs exceeds the limits "
            "of exact field arithmetic"
        )
    base = runs[0][0]
    mask = to_mask(runs, base)
    covered = 1
    while covered < copies:
        c = min(covered, copies - covered)
        mask |= mask << (c * step)
        covered += c
    return from_mask(mask, base)


def minkowski_ap(first: int, step_a: int, count_a: int, step_b: int, count_b: int) -> Runs:
    """Runs of ``{first + i*step_a + j*step_b : i < count_a, j < count_b}`` (steps >= 0)."""
    if count_a <= 0 or count_b <= 0:
        return []

    def ap(step: int, n: int) -> Runs:
        if n == 1 or step == 0:
            return [(0, 0)]
        if step == 1:
            return [(0, n - 1)]
        return [(i * step, i * step) for i in range(n)]

    # smear the progression with fewer pieces by the other one
    if (count_a if step_a > 1 else 1) <= (count_b if step_b > 1 else 1):
        return shift(smear(ap(step_a, count_a), step_b, count_b), first)
    return shift(smear(ap(step_b, count_b), step_a, count_a), first)


def to_mask(runs: Runs, base: int) -> int:
    mask = 0
    for a, b in runs:
        mask |= ((1 << (b - a + 1)) - 1) << (a - base)
    return mask


def from_mask(mask: int, base: int) -> Runs:
    out: Runs = []
    pos = base
    while mask:
        low = (mask & -mask).bit_length() - 1
        mask >>= low
        pos += low
        ones = ((mask + 1) & ~mask).bit_length() - 1
        out.append((pos, pos + ones - 1))
        if len(out) > MAX_RUNS:
            raise SpecError(f"a tap set of more than {MAX_RUNS:,} separate runs exceeds the limit")
        mask >>= ones
        pos += ones
    return out


def complement(runs: Runs) -> Runs:
    """The gaps between the runs (inside their bounding interval)."""
    return [(b + 1, a2 - 1) for (_, b), (a2, _) in itertools.pairwise(runs)]


def materialise(runs: Runs, what: str) -> tuple[int, ...]:
    """The positions as a tuple, refused above :data:`LIMIT`."""
    n = count(runs)
    if n > LIMIT:
        raise SpecError(
            f"{what} has {n:,} positions; materialising more than {LIMIT:,} is refused "
            "(ask for the counts or the runs instead)"
        )
    out: list[int] = []
    for a, b in runs:
        out.extend(range(a, b + 1))
    return tuple(out)


def clip(runs: Runs, n: int, boundary: str) -> Runs:
    """Map positions onto ``[0, n)``: outside positions are dropped (``zeros``), wrapped
    (``circular``), mirrored without repeating the edge (``reflect``, PyTorch's) or clamped
    (``replicate``)."""
    inside: Runs = []
    outside: Runs = []
    for a, b in runs:
        if a < 0:
            outside.append((a, min(b, -1)))
        if b >= n:
            outside.append((max(a, n), b))
        lo, hi = max(a, 0), min(b, n - 1)
        if lo <= hi:
            inside.append((lo, hi))
    if not outside or boundary == "zeros":
        return inside
    for a, b in outside:
        inside.extend(_fold(a, b, n, boundary))
    return coalesce(inside)


def _fold(a: int, b: int, n: int, boundary: str) -> Runs:
    if boundary == "replicate":
        return [(0, 0)] if b < 0 else [(n - 1, n - 1)]
    if boundary == "circular":
        if b - a + 1 >= n:
            return [(0, n - 1)]
        a2, b2 = a % n, b % n
        return [(a2, b2)] if a2 <= b2 else [(0, b2), (a2, n - 1)]
    if boundary == "reflect":
        if n == 1:
            return [(0, 0)]
        period = 2 * (n - 1)
        if b - a + 1 >= period:
            return [(0, n - 1)]
        out: Runs = []
        for x in range(a, b + 1):  # at most one period of positions
            r = x % period
            r = period - r if r >= n else r
            out.append((r, r))
        return coalesce(out)
    raise SpecError(f"boundary must be 'zeros', 'circular', 'reflect' or 'replicate', got {boundary!r}")


def fold_position(x: int, n: int, boundary: str) -> int | None:
    """Where position ``x`` reads from in ``[0, n)`` (``None``: it reads a zero)."""
    if 0 <= x < n:
        return x
    if boundary == "zeros":
        return None
    if boundary == "replicate":
        return 0 if x < 0 else n - 1
    if boundary == "circular":
        return x % n
    if n == 1:
        return 0
    period = 2 * (n - 1)
    r = x % period
    return period - r if r >= n else r
