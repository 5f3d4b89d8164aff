"""Which tensor dimensions carry which spatial axes: layouts through permutes and reshapes.

A traced tensor's dimensions are labelled with *factors*. A dimension is a mixed-radix
product of factors (outer to inner); each factor is one of

- ``b``: batch (samples never mix through it),
- ``c``: channels or features (any op may mix them: they do not move a field),
- ``s``: positions along spatial axis ``axis`` of the network input, ``stride`` positions per
  step (a whole axis is one ``s`` factor of stride 1; Swin's windows split an axis into an
  outer factor of stride ``ws`` and an inner one of stride 1),
- ``m``: a dimension whose entries have been *mixed in advance* (the second token dimension
  of attention scores): its index is no position, and an op that picks single entries of it
  makes the field unknown,
- ``x``: an expanded dimension (``expand``): the value is the same along it, so it broadcasts
  against any other labels,
- ``k``: constant entries before or after a dimension's factors (a class token concatenated
  to flattened positions); its ``size`` counts entries, not a product.

``permute`` / ``transpose`` / ``movedim`` move dimensions; ``view`` / ``reshape`` / ``flatten``
/ ``unflatten`` / ``squeeze`` / ``unsqueeze`` regroup the factors in order (splitting one where
a new dimension boundary falls inside it). A regrouping that no factorisation explains returns
``None`` (the analysis then says the field is unknown, naming the node).

Examples:
    >>> lay = initial((2, 8, 12), 1)
    >>> describe(lay)
    'b2 | c8 | s0:12'
    >>> describe(reshape(permute(lay, (0, 2, 1)), (2, 3, 4, 8)))
    'b2 | s0:3*4 | s0:4 | c8'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Dim", "Factor", "Layout", "axis_factors", "describe", "initial", "permute", "reshape", "whole_axis"]


@dataclass(frozen=True)
class Factor:
    """One factor of a dimension (see the module docstring)."""

    kind: str  # "b", "c", "s", "m", "x" or "k"
    size: int
    axis: int = -1
    stride: int = 1

    def split(self, outer: int) -> tuple[Factor, Factor]:
        """``(outer part, inner part)`` with ``outer * inner == size``."""
        inner = self.size // outer
        if self.kind == "s":
            return Factor("s", outer, self.axis, self.stride * inner), Factor("s", inner, self.axis, self.stride)
        return Factor(self.kind, outer, self.axis), Factor(self.kind, inner, self.axis)

    def __str__(self) -> str:
        if self.kind == "k":
            return f"+{self.size}"
        if self.kind == "s":
            return f"s{self.axis}:{self.size}" + (f"*{self.stride}" if self.stride != 1 else "")
        return f"{self.kind}{self.size}"


Dim = tuple[Factor, ...]
Layout = tuple[Dim, ...]


def dim_size(dim: Dim) -> int:
    """Entries of a dimension: the product of its factors, plus its constant entries."""
    n = 1
    extra = 0
    for f in dim:
        if f.kind == "k":
            extra += f.size
        else:
            n *= f.size
    return n + extra


def extended(dim: Dim) -> bool:
    """A dimension with constant entries before or after its factors (a class token)."""
    return any(f.kind == "k" for f in dim)


def parse_layout(layout: str | None, rank: int) -> str:
    """Validate an input layout string: ``N`` batch, ``C`` channels, any other letter a
    spatial axis (numbered in order). Default: ``NL`` for rank 2, ``NC`` + spatial above."""
    from atrous.errors import SpecError

    if layout is None:
        if rank == 2:
            return "NL"
        if rank >= 3:
            return "NC" + "".join("LHWDTUVXYZ"[i] if rank - 2 <= 10 else "S" for i in range(rank - 2))
        raise SpecError(f"an input of rank {rank} needs input_layout (letters: N batch, C channels, others spatial)")
    if not isinstance(layout, str) or not layout.isalpha() or len(layout) != rank:
        raise SpecError(
            f"input_layout must be {rank} letters (N batch, C channels, any other letter a spatial axis), got {layout!r}"
        )
    up = layout.upper()
    if up.count("N") > 1 or up.count("C") > 1:
        raise SpecError(f"input_layout names at most one batch (N) and one channel (C) dimension, got {layout!r}")
    if all(ch in "NC" for ch in up):
        raise SpecError(
            f"input_layout needs at least one spatial dimension (a letter other than N and C), got {layout!r}"
        )
    return up


def spatial_sizes(shape: Sequence[int], layout: str) -> tuple[int, ...]:
    return tuple(n for n, ch in zip(shape, layout, strict=True) if ch not in "NC")


def initial(shape: Sequence[int], nd: int | str) -> Layout:
    """The layout of the network input (``nd`` axes after ``(N, C)``, or a layout string)."""
    letters = parse_layout(None, len(shape)) if isinstance(nd, int) else nd
    dims: list[Dim] = []
    axis = 0
    for n, ch in zip(shape, letters, strict=True):
        if ch == "N":
            dims.append(canon((Factor("b", n),)))
        elif ch == "C":
            dims.append(canon((Factor("c", n),)))
        else:
            dims.append((Factor("s", n, axis, 1),))
            axis += 1
    return tuple(dims)


def canon(dim: Dim) -> Dim:
    """Size-1 factors dropped (except a length-1 axis), adjacent factors that form one range
    merged (an axis split and regrouped in order is whole again; channel factors fuse)."""
    out: list[Factor] = []
    for f in dim:
        if f.size == 1 and f.kind not in ("s", "k"):
            continue
        if out:
            g = out[-1]
            if f.kind == g.kind == "s" and f.axis == g.axis and g.stride == f.stride * f.size:
                out[-1] = Factor("s", g.size * f.size, f.axis, f.stride)
                continue
            if f.kind == g.kind and f.kind in ("b", "c", "x"):
                out[-1] = Factor(f.kind, g.size * f.size)
                continue
        out.append(f)
    return tuple(out)


def channels(size: int) -> Dim:
    """A fresh channel dimension (conv outputs, linear outputs, stacked branches)."""
    return (Factor("c", size),) if size != 1 else ()


def describe(layout: Layout) -> str:
    return " | ".join(" ".join(str(f) for f in d) or "1" for d in layout)


def permute(layout: Layout, perm: Sequence[int]) -> Layout:
    return tuple(layout[p] for p in perm)


def axis_factors(layout: Layout, axis: int) -> list[tuple[int, Factor]]:
    """``(dimension, factor)`` of every factor of spatial ``axis``, outer to inner."""
    return [(i, f) for i, d in enumerate(layout) for f in d if f.kind == "s" and f.axis == axis]


def whole_axis(dim: Dim, layout: Layout) -> int | None:
    """The axis this dimension holds whole (one ``s`` factor of stride 1, no other factor of
    that axis anywhere), or ``None``."""
    spatial = [f for f in dim if f.kind == "s"]
    if len(spatial) != 1 or len(dim) != 1 or spatial[0].stride != 1:
        return None
    a = spatial[0].axis
    return a if len(axis_factors(layout, a)) == 1 else None


def spatial_axes(dim: Dim) -> set[int]:
    return {f.axis for f in dim if f.kind == "s"}


def reshape(layout: Layout, shape: Sequence[int]) -> Layout | None:
    """The layout after a row-major regrouping into ``shape`` (``None``: not a regrouping of
    whole factors, e.g. a reshape that interleaves two axes)."""
    for i, d in enumerate(layout):
        if extended(d):
            # a dimension with constant entries regroups with nothing: it must stay whole
            before = math.prod(dim_size(x) for x in layout[:i])
            acc, j = 1, 0
            while j < len(shape) and acc < before:
                acc *= int(shape[j])
                j += 1
            while j < len(shape) and int(shape[j]) == 1 and before == acc and dim_size(d) != 1:
                j += 1
            if acc != before or j >= len(shape) or int(shape[j]) != dim_size(d):
                return None
            left = reshape(layout[:i], shape[:j]) if i else ()
            right = reshape(layout[i + 1 :], shape[j + 1 :])
            if left is None or right is None:
                return None
            return (*left, d, *right)
    queue = [f for d in layout for f in d if f.size != 1]
    out: list[Dim] = []
    for n in shape:
        n = int(n)
        dim: list[Factor] = []
        prod = 1
        while prod < n:
            if not queue:
                return None
            f = queue.pop(0)
            if n % (prod * f.size) == 0:
                dim.append(f)
                prod *= f.size
            elif n % prod == 0 and f.size % (n // prod) == 0:
                outer, inner = f.split(n // prod)
                dim.append(outer)
                queue.insert(0, inner)
                prod = n
            else:
                return None
        if prod != n:
            return None
        out.append(canon(tuple(dim)))
    if queue:
        return None
    return tuple(out)


def same(a: Dim, b: Dim) -> bool:
    """Two dimension labels are the same (up to size-1 factors and merged ranges)."""
    return canon(a) == canon(b)


def resize(dim: Dim, size: int) -> Dim:
    """A dimension of channels or batch whose extent changed (a channel slice, a repeat)."""
    kinds = {f.kind for f in dim}
    kind = "b" if kinds == {"b"} else "c"
    return (Factor(kind, size),) if size != 1 else ()


def entries(layout: Layout, shape: Sequence[int], position: dict[int, int]) -> list[list[int]]:
    """Per tensor dimension, the indices whose spatial digits equal ``position`` (axis ->
    index along that axis); every index of a dimension without those axes."""
    out: list[list[int]] = []
    for d, n in zip(layout, shape, strict=True):
        if not any(f.kind == "s" and f.axis in position for f in d):
            out.append(list(range(int(n))))
            continue
        keep = []
        for i in range(int(n)):
            rest, ok = i, True
            for f in reversed(d):
                if f.kind == "k":
                    ok = False  # constant entries hold no position
                    break
                digit = rest % f.size
                rest //= f.size
                if f.kind == "s" and f.axis in position and (position[f.axis] // f.stride) % f.size != digit:
                    ok = False
                    break
            if ok:
                keep.append(i)
        out.append(keep)
    return out
