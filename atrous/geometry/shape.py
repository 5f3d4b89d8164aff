"""Output sizes, padding solvers and the inverse of a convolution: exact integer arithmetic.

Conventions (per axis, PyTorch's): input length ``n``, kernel ``k``, stride ``s``, dilation
``d``, padding ``(lo, hi)``, effective kernel ``e = d*(k-1) + 1``.

* convolution: ``o = floor((n + lo + hi - e) / s) + 1``
* transposed convolution: ``o = (n-1)*s - lo - hi + d*(k-1) + output_padding + 1``
* pooling: as convolution; with ``ceil_mode`` the division rounds up, and a last window that
  would start beyond the input and its left padding is dropped
* nearest upsampling by ``r``: ``o = n*r``

Examples:
    >>> output_size(9, 3, stride=2)
    4
    >>> output_size((9, 9), 3, dilation=4)
    (1, 1)
    >>> output_size(4, 3, stride=2, padding=1, transposed=True, output_padding=1)
    8
    >>> same_padding(10, 3, stride=2)
    (0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from atrous.errors import SpecError
from atrous.geometry.spec import Axis, ConvSpec, LayerSpec, PaddingLike, PadEntry, as_spec, check_int

__all__ = [
    "axis_length",
    "causal_padding",
    "full_padding",
    "invert",
    "layer_output_size",
    "min_input_size",
    "output_padding_range",
    "output_size",
    "resolve_axis",
    "same_padding",
    "valid_output_sizes",
]

Size = int | tuple[int, ...]


def _axis_name(axis: int | None) -> str:
    return "" if axis is None else f" on axis {axis}"


# --------------------------------------------------------------------------- padding solvers


def _same_1d(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max(0, (out - 1) * s + d * (k - 1) + 1 - n)
    return total // 2, total - total // 2


def resolve_axis(
    pad: PadEntry,
    k: int,
    s: int,
    d: int,
    transposed: bool,
    n: int | None,
    axis: int | None = None,
) -> tuple[int, int, int]:
    """Resolve one axis's padding entry to ``(lo, hi, output_padding)``.

    ``output_padding`` is meaningful only for a transposed axis with mode ``"same"``.
    """
    if not isinstance(pad, str):
        return pad[0], pad[1], 0
    span = d * (k - 1)
    if pad == "valid":
        return 0, 0, 0
    if pad == "causal":
        return span, 0, 0
    if pad == "full":
        return span, span, 0
    assert pad == "same", pad
    if transposed:
        total = max(0, span + 1 - s)
        return total // 2, total - total // 2, max(0, s - span - 1)
    if s == 1:
        return span // 2, span - span // 2, 0
    if n is None:
        raise SpecError(f"padding='same' with stride={s}{_axis_name(axis)} depends on the input size: pass input_size")
    lo, hi = _same_1d(n, k, s, d)
    return lo, hi, 0


def _normalise_size(name: str, value: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0:
            raise SpecError(f"{name} must have at least one entry, got ()")
        return tuple(check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(value)), True
    return (check_int(name, value, 1),), False


def _per_axis_pairs(
    input_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
) -> tuple[tuple[int, ...], bool, ConvSpec]:
    sizes, is_tuple = _normalise_size("input_size", input_size)
    return sizes, is_tuple, ConvSpec(kernel_size, stride, 0, dilation).for_ndim(len(sizes))


@overload
def same_padding(
    input_size: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[int, int]: ...
@overload
def same_padding(
    input_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[tuple[int, int], ...]: ...
def same_padding(input_size, kernel_size, stride=1, dilation=1):  # type: ignore[no-untyped-def]
    """TensorFlow's 'same' padding for any stride and dilation: ``o = ceil(n / s)``.

    ``total = max(0, (o-1)*s + d*(k-1) + 1 - n)``, ``lo = total // 2``, ``hi = total - lo``
    (the extra element goes on the high side).

    Returns:
        ``(lo, hi)`` for an int size; a tuple of pairs for a tuple of sizes.

    Examples:
        >>> same_padding(5, 3)
        (1, 1)
        >>> same_padding((9, 10), 3, stride=2)
        ((1, 1), (0, 1))
        >>> same_padding(7, 3, dilation=2)
        (2, 2)
    """
    sizes, is_tuple, spec = _per_axis_pairs(input_size, kernel_size, stride, dilation)
    pairs = tuple(
        _same_1d(n, k, s, d) for n, k, s, d in zip(sizes, spec.kernel_size, spec.stride, spec.dilation, strict=True)
    )
    return pairs if is_tuple else pairs[0]


def causal_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Causal padding of a 1-d time axis: ``(d*(k-1), 0)``; output ``t`` sees inputs ``<= t``.

    Examples:
        >>> causal_padding(3, dilation=4)
        (8, 0)
    """
    k = check_int("kernel_size", kernel_size, 1)
    d = check_int("dilation", dilation, 1)
    return d * (k - 1), 0


def full_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Full padding: ``(d*(k-1), d*(k-1))``; every partial overlap produces an output.

    Examples:
        >>> full_padding(3)
        (2, 2)
    """
    k = check_int("kernel_size", kernel_size, 1)
    d = check_int("dilation", dilation, 1)
    return d * (k - 1), d * (k - 1)


# --------------------------------------------------------------------------- output sizes


def min_input_size(axis: Axis) -> int:
    """The smallest input length for which ``axis`` produces an output of length >= 1."""
    if axis.kind == "pool" and axis.ceil_mode:
        # rounding up admits a last window that overhangs the high padding by up to s-1
        return max(1, axis.effective_kernel - axis.lo - axis.hi - axis.stride + 1)
    if axis.kind in ("conv", "pool"):
        return max(1, axis.effective_kernel - axis.lo - axis.hi)
    if axis.kind == "transposed":
        # (n-1)*s - lo - hi + e + op >= 1
        need = axis.lo + axis.hi + 1 - axis.effective_kernel - axis.output_padding
        return max(1, -(-need // axis.stride) + 1) if need > 0 else 1
    return 1


def _transposed_length(axis: Axis, n: int, output_padding: int) -> int:
    """``(n-1)*s - lo - hi + d*(k-1) + output_padding + 1`` (may be < 1: the caller checks)."""
    return (n - 1) * axis.stride - axis.lo - axis.hi + axis.effective_kernel + output_padding


def axis_length(axis: Axis, n: int, index: int | None = None) -> int:
    """Output length of one resolved axis for input length ``n`` (raises SpecError)."""
    k, s, d, lo, hi = axis.kernel, axis.stride, axis.dilation, axis.lo, axis.hi
    e = d * (k - 1) + 1
    where = _axis_name(index)
    if axis.kind in ("upsample", "linear"):
        return n * s
    if axis.kind == "transposed":
        o = _transposed_length(axis, n, axis.output_padding)
        if o < 1:
            raise SpecError(
                f"padding=({lo}, {hi}){where} removes more than the transposed convolution produces for "
                f"input size {n} (output size would be {o}); the minimum input size is {min_input_size(axis)}"
            )
        return o
    if n < min_input_size(axis):
        mode = ", ceil_mode" if axis.kind == "pool" and axis.ceil_mode else ""
        raise SpecError(
            f"input size {n}{where} is too small for kernel_size={k} with dilation={d}, stride={s} and padding=({lo}, {hi}){mode} "
            f"(effective kernel {e}): the minimum input size is {min_input_size(axis)}"
        )
    if axis.kind == "pool" and axis.ceil_mode:
        o = -(-(n + lo + hi - e) // s) + 1
        if (o - 1) * s >= n + lo:  # the last window must start inside the input or its left padding
            o -= 1
        return o
    return (n + lo + hi - e) // s + 1


def layer_output_size(layer: LayerSpec | object, input_size: Sequence[int]) -> tuple[int, ...]:
    """Output spatial size of one layer spec (or object with ``.spec``) for ``input_size``."""
    spec = as_spec(layer).for_ndim(len(input_size))
    sizes = tuple(check_int(f"input_size[{i}]", v, 1) for i, v in enumerate(input_size))
    axes = spec.axes(sizes)
    return tuple(
        axis_length(a, n, i if len(sizes) > 1 else None) for i, (a, n) in enumerate(zip(axes, sizes, strict=True))
    )


@overload
def output_size(
    input_size: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    *,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> int: ...
@overload
def output_size(
    input_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    *,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> tuple[int, ...]: ...
def output_size(input_size, kernel_size, stride=1, padding=0, dilation=1, *, transposed=False, output_padding=0):  # type: ignore[no-untyped-def]
    """Output size of a convolution or transposed convolution, exactly as PyTorch computes it.

    Args:
        input_size: spatial size, an int or one int per axis.
        kernel_size, stride, padding, dilation, transposed, output_padding: as :class:`ConvSpec`.

    Returns:
        An int for an int ``input_size``, a tuple for a tuple.

    Raises:
        SpecError: a parameter is out of range, or the input is too small (the message gives
            the minimum input size).

    Examples:
        >>> output_size(9, 3, stride=2)
        4
        >>> output_size(5, 3, stride=2, padding=1, transposed=True)
        9
        >>> output_size((7, 7), 3, padding="same", stride=2)
        (4, 4)
    """
    sizes, is_tuple = _normalise_size("input_size", input_size)
    spec = ConvSpec(kernel_size, stride, padding, dilation, transposed=transposed, output_padding=output_padding)
    out = layer_output_size(spec.for_ndim(len(sizes)), sizes)
    return out if is_tuple else out[0]


@overload
def output_padding_range(
    input_size: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> range: ...
@overload
def output_padding_range(
    input_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[range, ...]: ...
def output_padding_range(input_size, kernel_size, stride=1, padding=0, dilation=1):  # type: ignore[no-untyped-def]
    """The valid ``output_padding`` values of a transposed convolution (``range`` per axis).

    ``output_padding`` must be smaller than ``max(stride, dilation)`` and leave an output of at
    least one element.

    Examples:
        >>> output_padding_range(4, 3, stride=2, padding=1)
        range(0, 2)
        >>> output_padding_range((4, 4), 3, stride=(1, 3))
        (range(0, 1), range(0, 3))
    """
    ranges, is_tuple = _transposed_ranges(input_size, kernel_size, stride, padding, dilation)
    ops = [r for _, r in ranges]
    return tuple(ops) if is_tuple else ops[0]


def _transposed_ranges(
    input_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    padding: PaddingLike,
    dilation: int | Sequence[int],
) -> tuple[list[tuple[int, range]], bool]:
    """Per axis: the output length without output_padding, and the valid output_padding values."""
    sizes, is_tuple = _normalise_size("input_size", input_size)
    spec = ConvSpec(kernel_size, stride, padding, dilation, transposed=True).for_ndim(len(sizes))
    out = []
    for i, ax in enumerate(spec.axes(sizes)):
        base = _transposed_length(ax, sizes[i], 0)
        if spec.padding[i] == "same":  # the mode chooses output_padding
            ops = range(ax.output_padding, ax.output_padding + 1)
        else:
            first = max(0, 1 - base)
            ops = range(first, max(first, max(ax.stride, ax.dilation)))
        out.append((base, ops))
    return out, is_tuple


@overload
def valid_output_sizes(
    input_size: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> range: ...
@overload
def valid_output_sizes(
    input_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[range, ...]: ...
def valid_output_sizes(input_size, kernel_size, stride=1, padding=0, dilation=1):  # type: ignore[no-untyped-def]
    """The output sizes a transposed convolution can produce (over valid ``output_padding``).

    Examples:
        >>> valid_output_sizes(4, 3, stride=2, padding=1)
        range(7, 9)
    """
    ranges, is_tuple = _transposed_ranges(input_size, kernel_size, stride, padding, dilation)
    out = [range(base + ops.start, base + ops.stop) for base, ops in ranges]
    return tuple(out) if is_tuple else out[0]


# --------------------------------------------------------------------------- invert


def invert(spec: ConvSpec, input_size: int | Sequence[int]) -> ConvSpec:
    """The spec that maps ``spec``'s output back to exactly ``input_size``.

    For a convolution this is the transposed convolution with the same kernel, stride,
    dilation and (resolved) padding, and the ``output_padding`` that restores the size:
    ``output_padding = (n + lo + hi - e) mod s``. For a transposed convolution it is the
    convolution with the same parameters.

    Examples:
        >>> invert(ConvSpec(3, stride=2, padding=1), 10)
        ConvSpec(kernel_size=3, stride=2, padding=1, transposed=True, output_padding=1)
        >>> output_size(5, 3, 2, 1, transposed=True, output_padding=1)
        10
    """
    if not isinstance(spec, ConvSpec):
        raise SpecError(f"spec must be a ConvSpec, got {type(spec).__name__}")
    sizes, is_tuple = _normalise_size("input_size", input_size)
    full = spec.for_ndim(len(sizes))
    assert isinstance(full, ConvSpec)
    resolved = full.resolve(sizes)
    out = layer_output_size(resolved, sizes)
    if not resolved.transposed:
        ops = tuple(
            (n + lo + hi - (d * (k - 1) + 1)) % s
            for n, (lo, hi), k, s, d in zip(
                sizes, resolved.pads, resolved.kernel_size, resolved.stride, resolved.dilation, strict=True
            )
        )
        result = resolved.replace(transposed=True, output_padding=ops)
    else:
        pads = []
        for i, ((lo, hi), s, op) in enumerate(
            zip(resolved.pads, resolved.stride, resolved.output_padding, strict=True)
        ):
            # the convolution reads floor(((n-1)*s + op + hi' - hi) / s) + 1 outputs: it restores n
            # when 0 <= op + hi' - hi < s; keep hi' as close to hi as that allows
            lowest, highest = max(0, hi - op), hi - op + s - 1
            if highest < lowest:
                raise SpecError(
                    f"output_padding={op} on axis {i} exceeds padding hi={hi} plus stride-1={s - 1}: no "
                    f"convolution with non-negative padding maps the output back to {sizes[i]}"
                )
            pads.append((lo, min(max(hi, lowest), highest)))
        result = resolved.replace(transposed=False, output_padding=0, padding=tuple(pads))
    if spec.broadcasts and not is_tuple:
        result = _collapse(result)
    back = layer_output_size(result, out)
    assert back == sizes, (spec, sizes, result, back)
    return result


def _collapse(spec: ConvSpec) -> ConvSpec:
    """A 1-axis spec built from scalars again (so that it prints and broadcasts as the input)."""
    pad = spec.padding[0]
    return ConvSpec(
        spec.kernel_size[0],
        spec.stride[0],
        pad if isinstance(pad, str) else (pad[0] if pad[0] == pad[1] else (pad,)),
        spec.dilation[0],
        transposed=spec.transposed,
        output_padding=spec.output_padding[0],
    )
