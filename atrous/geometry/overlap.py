"""The overlap pattern of transposed convolutions: the checkerboard of Odena et al. (2016).

A transposed convolution with kernel ``k`` and stride ``s`` writes each input to ``k`` outputs
spaced by ``s``; output phase ``y mod s`` then receives a number of kernel taps that depends on
the phase whenever ``k`` is not divisible by ``s`` ("Deconvolution and Checkerboard Artifacts").
:func:`checkerboard` reads those counts from the exact per-phase tap sets of
:func:`~atrous.geometry.receptive_field` (never by hand).

Examples:
    >>> from atrous.geometry import ConvSpec, checkerboard
    >>> checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True)).counts
    ((1, 2),)
    >>> checkerboard(ConvSpec(4, stride=2, padding=1, transposed=True)).uneven
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atrous.errors import SpecError
from atrous.geometry.field import FieldND, receptive_field
from atrous.geometry.spec import ConvSpec, as_spec, check_int

__all__ = ["MAX_CHECKERBOARD_PHASES", "Checkerboard", "checkerboard"]


@dataclass(frozen=True)
class Checkerboard:
    """The overlap pattern of a transposed convolution (Odena et al. 2016).

    Attributes:
        counts: per axis, the number of kernel taps that reach output phase ``r = y mod stride``
            (``counts[axis][r]``), read from the exact tap sets of :mod:`atrous.geometry`. These are
            the counts of an output away from the borders (padding only removes taps there).
        overlap: the N-d overlap map, ``overlap[r0][r1]... = counts[0][r0] * counts[1][r1] * ...``
            (nested tuples; a tuple of ints for one axis): the picture of Odena et al., one period.
        stride: per axis.
        kernel_size: per axis.
        uneven: True when the counts differ between phases (the checkerboard).
        ratio: ``max / min`` of the overlap map; ``inf`` when a phase receives no tap at all
            (kernel shorter than the stride), ``1.0`` when even.
    """

    counts: tuple[tuple[int, ...], ...]
    overlap: tuple[Any, ...]
    stride: tuple[int, ...]
    kernel_size: tuple[int, ...]
    uneven: bool
    ratio: float

    @property
    def ndim(self) -> int:
        return len(self.counts)

    def table(self) -> str:
        """The overlap map as text (2-d: one row per phase of axis 0), for quick inspection."""
        if self.ndim == 1:
            return " ".join(str(v) for v in self.overlap)
        if self.ndim == 2:
            return "\n".join(" ".join(str(v) for v in row) for row in self.overlap)
        return repr(self.overlap)


def _outer(counts: Sequence[Sequence[int]]) -> tuple[Any, ...]:
    if len(counts) == 1:
        return tuple(counts[0])
    inner = _outer(counts[1:])
    return tuple(_scale(inner, c) for c in counts[0])


def _scale(nested: Any, c: int) -> Any:
    if isinstance(nested, tuple):
        return tuple(_scale(v, c) for v in nested)
    return nested * c


#: checkerboard() tabulates one count per output phase: at most this many (the product of the strides).
MAX_CHECKERBOARD_PHASES = 1 << 20


def checkerboard(spec: ConvSpec | object, input_size: int | Sequence[int] | None = None) -> Checkerboard:
    """Per-phase overlap counts of a transposed convolution, from atrous.geometry's phases.

    Args:
        spec: a transposed :class:`~atrous.ConvSpec` (N-d) or a layer with ``.spec`` (e.g.
            :class:`atrous.nn.ConvTranspose2d`).
        input_size: optional spatial input size: sets the number of axes of a spec built from
            scalars and is checked against the layer (``"same"`` etc. need no size here).

    Returns:
        A :class:`Checkerboard`. Output phase ``r`` is ``y mod stride`` with ``y`` the output index
        (so the padding rotates the counts: ``k=3, s=2`` gives ``(2, 1)`` with ``padding=0`` and
        ``(1, 2)`` with ``padding=1``).

    Raises:
        SpecError: ``spec`` is not a transposed convolution.

    Examples:
        >>> from atrous.geometry import ConvSpec, checkerboard
        >>> cb = checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True))
        >>> cb.counts, cb.uneven, cb.ratio
        (((1, 2),), True, 2.0)
        >>> cb = checkerboard(ConvSpec(4, stride=2, padding=1, transposed=True))
        >>> cb.counts, cb.uneven, cb.ratio
        (((2, 2),), False, 1.0)
        >>> print(checkerboard(ConvSpec((3, 3), stride=2, padding=1, transposed=True)).table())
        1 2
        2 4
    """
    layer_spec = as_spec(spec)
    if not isinstance(layer_spec, ConvSpec) or not layer_spec.transposed:
        raise SpecError(
            f"checkerboard needs a transposed convolution (ConvSpec(..., transposed=True)), got {layer_spec!r}"
        )
    if input_size is None:
        ndim = layer_spec.ndim
        sizes: tuple[int, ...] | None = None
    elif isinstance(input_size, Sequence) and not isinstance(input_size, str):
        sizes = tuple(input_size)
        ndim = len(sizes)
    else:
        sizes = (check_int("input_size", input_size, 1),) * layer_spec.ndim
        ndim = layer_spec.ndim
    full = layer_spec.for_ndim(ndim)
    phases = math.prod(full.stride)
    if phases > MAX_CHECKERBOARD_PHASES:
        raise SpecError(
            f"stride={full.stride} gives {phases} output phases; checkerboard tabulates at most "
            f"MAX_CHECKERBOARD_PHASES={MAX_CHECKERBOARD_PHASES}"
        )
    field = receptive_field([full], sizes if sizes is not None else None)[0]
    axes = field.axes if isinstance(field, FieldND) else (field,)
    counts = tuple(tuple(p.taps for p in f.phases) for f in axes)
    overlap = _outer(counts)
    lows = [min(c) for c in counts]
    highs = [max(c) for c in counts]
    lo, hi = math.prod(lows), math.prod(highs)
    ratio = math.inf if lo == 0 else hi / lo
    uneven = any(len(set(c)) > 1 for c in counts)
    return Checkerboard(counts, overlap, full.stride, full.kernel_size, uneven, float(ratio))
