"""PyTorch ops for dilated and transposed convolution, with every padding form.

``conv`` accepts what :class:`atrous.ConvSpec` accepts: an int, per-axis ints, per-axis
``(lo, hi)`` pairs, or ``"valid" | "same" | "causal" | "full"``; ``"same"`` works with any
stride and dilation (TensorFlow's rule: ``o = ceil(n / s)``, the odd element of padding on the
high side), where PyTorch refuses a stride above 1. Padding modes ``zeros``, ``reflect``,
``replicate`` and ``circular`` work with every padding form.

``conv_transpose`` accepts asymmetric padding and an ``output_size`` from which it chooses
``output_padding`` through the geometry core (and names the valid sizes when the request is
impossible).

Sizes and paddings come from :mod:`atrous.geometry`; the arithmetic is done by PyTorch's own
convolution, in one of several exact formulations chosen per shape by the fast paths
(:mod:`atrous._fast`): ``ATROUS_FAST_PATHS=0`` keeps PyTorch's call as it is, and
``ATROUS_DETERMINISTIC=1`` (or ``torch.use_deterministic_algorithms(True)``) fixes the
formulation of every shape by rule, with nothing timed, so that a run reproduces bit for bit;
``atrous._fast.route_table()`` (or ``ATROUS_ROUTE_TABLE=<file>``, written at exit) lists the
formulations a run used.

Examples:
    >>> import torch
    >>> x = torch.randn(1, 2, 10)
    >>> w = torch.randn(4, 2, 3)
    >>> conv(x, w, stride=2, padding="same").shape
    torch.Size([1, 4, 5])
    >>> conv(x, w, padding="causal", dilation=4).shape
    torch.Size([1, 4, 10])
    >>> conv_transpose(torch.randn(1, 4, 5), torch.randn(4, 2, 3), stride=2, padding=1, output_size=10).shape
    torch.Size([1, 2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from atrous import _fast
from atrous._fast.cache import memo
from atrous._fast.calls import Pads, flat_pad
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, PaddingLike, layer_output_size, valid_output_sizes

__all__ = [
    "PADDING_MODES_TORCH",
    "PaddingLike",
    "apply_conv",
    "apply_conv_transpose",
    "conv",
    "conv_transpose",
    "resolve_conv",
    "resolve_conv_transpose",
]

PADDING_MODES_TORCH = ("zeros", "reflect", "replicate", "circular")

#: the resolved specs of the public functions' raw arguments (their per-call front end: two
#: ConvSpec constructions and their checks cost ~60 us per call without it)
_CACHE_SIZE = 4096


def _ndim(x: Tensor, weight: Tensor, name: str = "x") -> tuple[int, bool]:
    """Spatial axes of ``x`` for ``weight`` and whether ``x`` lacks the batch axis."""
    if not isinstance(x, Tensor):
        raise SpecError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not isinstance(weight, Tensor):
        raise SpecError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    nd = weight.dim() - 2
    if nd not in (1, 2, 3):
        raise SpecError(f"weight must have 3 to 5 dimensions (1-d to 3-d), got shape {tuple(weight.shape)}")
    if x.dim() == nd + 2:
        return nd, False
    if x.dim() == nd + 1:
        return nd, True
    raise SpecError(
        f"{name} must have shape (N, C, *spatial) or (C, *spatial) with {nd} spatial axes for a "
        f"{nd}-d kernel, got shape {tuple(x.shape)}"
    )


@memo(_CACHE_SIZE)
def _resolve(spec_key: ConvSpec, sizes: tuple[int, ...]) -> ConvSpec:
    return spec_key.resolve(sizes)


def _exact(value: object) -> bool:
    """Whether ``value`` is made of plain ints, strings and ``None`` only (so that an equal cache
    key means equal arguments: ``True``, ``2.0`` or a NumPy integer compare equal to an int but
    are checked, or rejected, by :class:`ConvSpec` every time)."""
    if value is None or type(value) is int or type(value) is str:
        return True
    return type(value) is tuple and all(_exact(v) for v in value)


def resolve_conv(
    kernel_size: Sequence[int],
    sizes: Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> ConvSpec:
    """The resolved :class:`ConvSpec` of a convolution on input ``sizes`` (cached).

    Examples:
        >>> resolve_conv((3,), (10,), 2, "same", 1).pads  # TensorFlow's rule: the odd element on the high side
        ((0, 1),)
    """
    return _conv_spec(tuple(kernel_size), tuple(sizes), stride, padding, dilation, False)


def _conv_spec(
    kernel_size: tuple[int, ...], sizes: tuple[int, ...], stride: int | Sequence[int], padding: PaddingLike,
    dilation: int | Sequence[int], check: bool,
) -> ConvSpec:  # fmt: skip
    """:func:`resolve_conv`, cached by its raw arguments where they are :func:`_exact`;
    ``check`` also checks that the input is large enough (a clear SpecError otherwise)."""
    if _exact(stride) and _exact(padding) and _exact(dilation) and _exact(sizes) and _exact(kernel_size):
        return _conv_spec_cached(kernel_size, sizes, stride, padding, dilation, check)
    return _conv_spec_uncached(kernel_size, sizes, stride, padding, dilation, check)


def _conv_spec_uncached(
    kernel_size: tuple[int, ...], sizes: tuple[int, ...], stride: int | Sequence[int], padding: PaddingLike,
    dilation: int | Sequence[int], check: bool,
) -> ConvSpec:  # fmt: skip
    spec = ConvSpec(kernel_size, stride, padding, dilation, ndim=len(kernel_size))
    resolved = _resolve(spec, tuple(int(n) for n in sizes))
    if check:
        layer_output_size(resolved, sizes)
    return resolved


_conv_spec_cached = memo(_CACHE_SIZE)(_conv_spec_uncached)


def resolve_conv_transpose(
    kernel_size: Sequence[int],
    sizes: Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    output_padding: int | Sequence[int] = 0,
    output_size: Sequence[int] | int | None = None,
) -> ConvSpec:
    """The resolved transposed :class:`ConvSpec`; ``output_size`` (if given) picks
    ``output_padding`` and must be one of the valid output sizes. Raises :class:`SpecError`
    where the output would be empty (a padding that removes more than the convolution makes).

    Examples:
        >>> resolve_conv_transpose((4,), (5,), 2, 1, output_size=11).output_padding
        (1,)
    """
    args = (tuple(kernel_size), tuple(sizes), stride, padding, dilation, output_padding, output_size)
    if all(_exact(v) for v in args):
        return _conv_transpose_spec_cached(*args)
    return _conv_transpose_spec(*args)


def _conv_transpose_spec(
    kernel_size: tuple[int, ...], sizes: tuple[int, ...], stride: int | Sequence[int], padding: PaddingLike,
    dilation: int | Sequence[int], output_padding: int | Sequence[int], output_size: Sequence[int] | int | None,
) -> ConvSpec:  # fmt: skip
    nd = len(kernel_size)
    sizes = tuple(int(n) for n in sizes)
    if output_size is None:
        spec = ConvSpec(
            kernel_size,
            stride,
            padding,
            dilation,
            transposed=True,
            output_padding=output_padding,
            ndim=nd,
        )
        resolved = _resolve(spec, sizes)
        layer_output_size(resolved, sizes)  # an empty output: the SpecError that says why
        return resolved
    target = _target_size(output_size, nd)
    base = _resolve(ConvSpec(kernel_size, stride, padding, dilation, transposed=True, ndim=nd), sizes)
    valid = valid_output_sizes(sizes, base.kernel_size, base.stride, padding, base.dilation)
    zero = layer_output_size(base.replace(output_padding=0), sizes)
    for i, (t, r) in enumerate(zip(target, valid, strict=True)):
        if t not in r:
            raise SpecError(
                f"output_size={t} on axis {i} is not reachable from input size {sizes[i]}: "
                f"the valid output sizes are {r.start} to {r.stop - 1}"
            )
    return base.replace(output_padding=tuple(t - z for t, z in zip(target, zero, strict=True)))


_conv_transpose_spec_cached = memo(_CACHE_SIZE)(_conv_transpose_spec)


def _target_size(output_size: Sequence[int] | int, nd: int) -> tuple[int, ...]:
    if isinstance(output_size, int):
        return (output_size,) * nd
    target = tuple(int(v) for v in output_size)
    if len(target) == nd + 2:  # PyTorch also accepts the full shape
        target = target[2:]
    if len(target) != nd:
        raise SpecError(f"output_size must have {nd} entries (one per spatial axis), got {tuple(output_size)!r}")
    return target


def _check_channels(x_channels: int, weight: Tensor, groups: int, transposed: bool) -> None:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise SpecError(f"groups must be an integer >= 1, got {groups!r}")
    if transposed:
        if weight.shape[0] != x_channels:
            raise SpecError(
                f"input has {x_channels} channels but weight.shape[0]={weight.shape[0]} (transposed layout: in, out/groups, *k)"
            )
        if x_channels % groups:
            raise SpecError(f"groups={groups} must divide the input channels ({x_channels})")
    else:
        if weight.shape[1] * groups != x_channels:
            raise SpecError(
                f"input has {x_channels} channels but weight.shape[1]={weight.shape[1]} with groups={groups} "
                f"expects {weight.shape[1] * groups}"
            )
        if weight.shape[0] % groups:
            raise SpecError(f"groups={groups} must divide the output channels ({weight.shape[0]})")


def conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> Tensor:
    """Convolution (1-3 d) with any padding form and mode.

    Args:
        x: ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``.
        weight: ``(C_out, C_in / groups, *kernel)``.
        bias: ``(C_out,)`` or ``None``.
        stride, dilation: int or one per axis.
        padding: int, per-axis ints, per-axis ``(lo, hi)``, or a mode name.
        groups: channel groups.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns:
        ``(N, C_out, *out)``, ``out`` as :func:`atrous.output_size` computes it.

    Shape:
        ``out[i] = floor((n[i] + lo[i] + hi[i] - d[i]*(k[i]-1) - 1) / s[i]) + 1``.
    """
    _nd, unbatched = _ndim(x, weight)
    if unbatched:
        return conv(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups, padding_mode).squeeze(0)
    if padding_mode not in PADDING_MODES_TORCH:
        raise SpecError(f"padding_mode must be one of {', '.join(PADDING_MODES_TORCH)}, got {padding_mode!r}")
    _check_channels(x.shape[1], weight, groups, transposed=False)
    # resolved and checked (a clear SpecError for a too-small input), cached per arguments
    spec = _conv_spec(tuple(weight.shape[2:]), tuple(x.shape[2:]), stride, padding, dilation, True)
    return apply_conv(x, weight, bias, spec, groups, padding_mode)


def apply_conv(
    x: Tensor, weight: Tensor, bias: Tensor | None, spec: ConvSpec, groups: int, padding_mode: str
) -> Tensor:
    """Run a resolved convolution spec (batched input, checked arguments): the one place that
    turns a spec into PyTorch calls.

    Non-zero padding modes pad first; the zero-padded convolution then goes to the fast-path
    dispatcher (:mod:`atrous._fast`), which picks an exact formulation per shape, dtype and
    device (PyTorch's own call wherever nothing faster is proven)."""
    # (a resolved spec's padding is its pads: the dispatcher checks it where it decides a shape,
    # so that a decided shape does not pay for ConvSpec.pads' check on every call)
    pads: Pads = spec.padding  # type: ignore[assignment]
    if padding_mode != "zeros" and any(lo or hi for lo, hi in spec.pads):
        mode = padding_mode
        if mode in ("reflect", "circular"):
            for i, ((lo, hi), n) in enumerate(zip(pads, x.shape[2:], strict=True)):
                limit = n - 1 if mode == "reflect" else n
                if max(lo, hi) > limit:
                    raise SpecError(
                        f"padding_mode={padding_mode!r} needs padding of at most {limit} on axis {i} "
                        f"(input size {n}), got ({lo}, {hi})"
                    )
        x = F.pad(x, flat_pad(pads), mode=mode)
        pads = ((0, 0),) * len(pads)
    return _fast.conv(x, weight, bias, spec.stride, pads, spec.dilation, groups)


def conv_transpose(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
    output_size: Sequence[int] | int | None = None,
) -> Tensor:
    """Transposed convolution (1-3 d): the adjoint of :func:`conv` with the same parameters.

    The argument order follows ``torch.nn.functional.conv_transpose2d``; ``padding`` may be
    asymmetric or a mode; ``output_size`` (spatial sizes, or PyTorch's full shape) chooses
    ``output_padding``.

    Args:
        x: ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``.
        weight: ``(C_in, C_out / groups, *kernel)``.

    Raises:
        SpecError: an unreachable ``output_size`` (the message names the valid sizes), or a
            padding that leaves no output (as the layers raise it).
    """
    _nd, unbatched = _ndim(x, weight)
    if unbatched:
        return conv_transpose(
            x.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation, output_size
        ).squeeze(0)
    _check_channels(x.shape[1], weight, groups, transposed=True)
    sizes = tuple(x.shape[2:])
    spec = resolve_conv_transpose(
        tuple(weight.shape[2:]), sizes, stride, padding, dilation, output_padding, output_size
    )
    return apply_conv_transpose(x, weight, bias, spec, groups)


def apply_conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None, spec: ConvSpec, groups: int) -> Tensor:
    """Run a resolved transposed-convolution spec (batched input, checked arguments), through the
    fast-path dispatcher (:mod:`atrous._fast`): PyTorch's transposed call, an asymmetric padding
    by cropping."""
    pads: Pads = spec.padding  # type: ignore[assignment]  # (checked by the dispatcher, as in apply_conv)
    return _fast.conv_transpose(x, weight, bias, spec.stride, pads, spec.dilation, spec.output_padding, groups)
