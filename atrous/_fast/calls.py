"""How a resolved convolution is handed to PyTorch: the one table of PyTorch's calls, the
``F.pad`` argument of per-axis ``(lo, hi)`` paddings, and the output sizes (from
:mod:`atrous.geometry`). Shared by :mod:`atrous.functional`, the routes and the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from atrous._fast.cache import memo
from atrous.errors import SpecError
from atrous.geometry.shape import axis_length
from atrous.geometry.spec import Axis

__all__ = [
    "CONV",
    "CONV_T",
    "Ints",
    "Pads",
    "arg",
    "check_pads",
    "flat_pad",
    "native_padding",
    "out_sizes",
    "out_sizes_t",
    "transposed_call",
]

#: per-axis ``(lo, hi)`` paddings, resolved
Pads = tuple[tuple[int, int], ...]
Ints = tuple[int, ...]

#: PyTorch's convolutions by the number of spatial axes
CONV: dict[int, Callable[..., Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
#: PyTorch's transposed convolutions (argument order: x, w, b, stride, padding, output_padding,
#: groups, dilation)
CONV_T: dict[int, Callable[..., Tensor]] = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def flat_pad(pads: Sequence[tuple[int, int]]) -> list[int]:
    """``F.pad``'s argument for per-axis ``(lo, hi)`` paddings (last axis first).

    Examples:
        >>> flat_pad(((1, 2), (3, 4)))
        [3, 4, 1, 2]
    """
    out: list[int] = []
    for lo, hi in reversed(pads):
        out += [lo, hi]
    return out


@memo(4096)
def native_padding(pads: Pads) -> tuple[Ints, list[int] | None]:
    """How PyTorch's call takes ``pads``: ``(padding, None)`` where every axis is symmetric, else
    ``(zeros, F.pad's list)`` for a padding copy first (the returned list is shared: do not
    modify it).

    Examples:
        >>> native_padding(((2, 2), (1, 1)))
        ((2, 1), None)
        >>> native_padding(((2, 0),))
        ((0,), [2, 0])
    """
    if all(lo == hi for lo, hi in pads):
        return tuple(lo for lo, _ in pads), None
    return (0,) * len(pads), flat_pad(pads)


def transposed_call(pads: Pads, output_padding: Ints) -> tuple[Ints, Ints, Ints | None]:
    """How PyTorch's transposed call takes ``pads``: ``(padding, output_padding, None)`` where
    every axis is symmetric; else ``(zeros, output_padding', crop)``: no padding in the call,
    ``output_padding' = max(0, op - hi)`` (enough to cover the high side) and ``crop`` the
    columns to drop at the high end of each axis afterwards (``lo`` are dropped at the low end).

    Examples:
        >>> transposed_call(((1, 1),), (0,))
        ((1,), (0,), None)
        >>> transposed_call(((2, 0), (1, 3)), (1, 1))
        ((0, 0), (1, 0), (0, 2))
    """
    if all(lo == hi for lo, hi in pads):
        return tuple(lo for lo, _ in pads), output_padding, None
    extra = tuple(max(0, op - hi) for op, (_, hi) in zip(output_padding, pads, strict=True))
    crop = tuple(max(0, hi - op) for op, (_, hi) in zip(output_padding, pads, strict=True))
    return (0,) * len(pads), extra, crop


def check_pads(pads: Sequence[object]) -> None:
    """Raise where ``pads`` is not one ``(lo, hi)`` pair per axis (a spec not resolved yet)."""
    for i, p in enumerate(pads):
        if type(p) is not tuple:
            raise SpecError(f"padding[{i}]={p!r} is a mode: call resolve(input_size) first")


def arg(values: Sequence[int]) -> int | tuple[int, ...]:
    """One int where every axis has the same value: PyTorch parses an int argument faster than a
    tuple (0.9 us per call measured on a 2-d call)."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def _axis_out(kind: Any, n: int, k: int, s: int, d: int, lo: int, hi: int, op: int) -> int:
    """One axis's output length, by atrous.geometry; 0 where the output would be empty."""
    try:
        return axis_length(Axis(kind, k, s, d, lo, hi, op), n)
    except SpecError:
        return 0


@memo(4096)
def out_sizes(sizes: Sequence[int], kernel: Sequence[int], stride: Ints, pads: Pads, dilation: Ints) -> Ints:
    """The spatial output sizes of a convolution (0 on an axis whose output is empty)."""
    return tuple(
        _axis_out("conv", n, k, s, d, lo, hi, 0)
        for n, k, s, (lo, hi), d in zip(sizes, kernel, stride, pads, dilation, strict=True)
    )


@memo(4096)
def out_sizes_t(
    sizes: Sequence[int], kernel: Sequence[int], stride: Ints, pads: Pads, dilation: Ints, output_padding: Ints
) -> Ints:
    """The spatial output sizes of a transposed convolution (0 on an axis whose output is empty)."""
    return tuple(
        _axis_out("transposed", n, k, s, d, lo, hi, op)
        for n, k, s, (lo, hi), d, op in zip(sizes, kernel, stride, pads, dilation, output_padding, strict=True)
    )
