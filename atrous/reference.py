"""NumPy oracles written from the definition, in float64.

The dilated convolution of Yu & Koltun, ``(F *_l k)(p) = sum_{s + l t = p} F(s) k(t)``, in
PyTorch's cross-correlation form: output ``i`` of an axis reads input ``i*s - lo + t*d`` for
tap ``t``. The transposed convolution scatters instead: input ``j`` writes
``j*s - lo + t*d``. Sizes and paddings come from :mod:`atrous.geometry`; the sums here are
plain loops over taps, slow and obviously right.

Layouts are PyTorch's: ``x`` is ``(N, C, *spatial)``; a convolution's weight is
``(C_out, C_in / groups, *kernel)``; a transposed convolution's weight is
``(C_in, C_out / groups, *kernel)``.

Examples:
    >>> import numpy as np
    >>> x = np.arange(81.0).reshape(1, 1, 9, 9)
    >>> w = np.ones((1, 1, 3, 3))
    >>> conv(x, w, dilation=4)[0, 0].tolist()  # x[0,0] + x[0,4] + ... + x[8,8]
    [[360.0]]
    >>> conv(x, w, stride=2).shape
    (1, 1, 4, 4)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import EllipsisType
from typing import Any

import numpy as np

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, PaddingLike, layer_output_size
from atrous.geometry.spec import check_int

__all__ = ["conv", "conv_matrix", "conv_transpose", "conv_transpose_matrix", "dilate_kernel"]

Array = np.ndarray[Any, Any]


def _as_array(name: str, value: object, min_ndim: int) -> Array:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < min_ndim:
        raise SpecError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    return arr


def _spec(
    x: Array,
    weight: Array,
    stride: int | Sequence[int],
    padding: PaddingLike,
    dilation: int | Sequence[int],
    transposed: bool,
    output_padding: int | Sequence[int],
) -> tuple[ConvSpec, tuple[int, ...]]:
    nd = x.ndim - 2
    if nd < 1 or nd > 3:
        raise SpecError(f"x must have shape (N, C, *spatial) with 1 to 3 spatial axes, got shape {x.shape}")
    if weight.ndim != nd + 2:
        raise SpecError(f"weight must have {nd + 2} dimensions for {nd}-d input, got shape {weight.shape}")
    spec = ConvSpec(
        weight.shape[2:],
        stride,
        padding,
        dilation,
        transposed=transposed,
        output_padding=output_padding,
        ndim=nd,
    )
    sizes = tuple(int(n) for n in x.shape[2:])
    return spec.resolve(sizes), sizes


def _check_groups(groups: int, c_in: int, c_out: int) -> int:
    g = check_int("groups", groups, 1)
    if c_in % g or c_out % g:
        raise SpecError(f"groups={g} must divide both channel counts (in {c_in}, out {c_out})")
    return g


def conv(
    x: object,
    weight: object,
    bias: object | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Array:
    """N-d (1 to 3) convolution from the definition, float64.

    Args:
        x: ``(N, C_in, *spatial)``.
        weight: ``(C_out, C_in / groups, *kernel)``.
        bias: ``(C_out,)`` or ``None``.
        stride, padding, dilation: as :class:`atrous.ConvSpec` (any padding form, modes too).
        groups: channel groups.

    Returns:
        ``(N, C_out, *out)`` with ``out`` from :func:`atrous.output_size`.
    """
    xa = _as_array("x", x, 3)
    w = _as_array("weight", weight, 3)
    spec, sizes = _spec(xa, w, stride, padding, dilation, False, 0)
    out_sizes = layer_output_size(spec, sizes)
    n, c_in = xa.shape[:2]
    c_out = w.shape[0]
    g = _check_groups(groups, c_in, c_out)
    if w.shape[1] * g != c_in:
        raise SpecError(f"weight.shape[1]={w.shape[1]} times groups={g} must equal the input channels {c_in}")
    pads = [(0, 0), (0, 0), *spec.pads]
    xp = np.pad(xa, pads)
    out = np.zeros((n, c_out, *out_sizes))
    cin_g, cout_g = c_in // g, c_out // g
    for taps in itertools.product(*(range(k) for k in spec.kernel_size)):
        # input position read by output i along each axis: i*s + t*d in padded coordinates
        index = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, s, o in zip(taps, spec.dilation, spec.stride, out_sizes, strict=True)
        )
        for gi in range(g):
            patch_key: tuple[slice, ...] = (slice(None), slice(gi * cin_g, (gi + 1) * cin_g), *index)
            w_key: tuple[slice | int, ...] = (slice(gi * cout_g, (gi + 1) * cout_g), slice(None), *taps)
            patch = xp[patch_key]
            wt = w[w_key]
            out[:, gi * cout_g : (gi + 1) * cout_g] += np.einsum("nc...,oc->no...", patch, wt)
    if bias is not None:
        b = _as_array("bias", bias, 1)
        out += b.reshape((1, c_out) + (1,) * len(out_sizes))
    return out


def conv_transpose(
    x: object,
    weight: object,
    bias: object | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Array:
    """N-d transposed convolution from the definition (a scatter), float64.

    The argument order follows ``torch.nn.functional.conv_transpose2d``. Padding may be
    asymmetric: ``lo`` is removed from the start of each axis and ``hi`` from its end.

    Args:
        x: ``(N, C_in, *spatial)``.
        weight: ``(C_in, C_out / groups, *kernel)``.

    Returns:
        ``(N, C_out, *out)``, ``out = (n-1)*s - lo - hi + d*(k-1) + output_padding + 1``.
    """
    xa = _as_array("x", x, 3)
    w = _as_array("weight", weight, 3)
    spec, sizes = _spec(xa, w, stride, padding, dilation, True, output_padding)
    out_sizes = layer_output_size(spec, sizes)
    n, c_in = xa.shape[:2]
    if w.shape[0] != c_in:
        raise SpecError(f"weight.shape[0]={w.shape[0]} must equal the input channels {c_in}")
    g = check_int("groups", groups, 1)
    if c_in % g:
        raise SpecError(f"groups={g} must divide the input channels {c_in}")
    cout_g = w.shape[1]
    c_out = cout_g * g
    cin_g = c_in // g
    # full[u] collects input j through tap t at u = j*s + t*d; output y is full[y + lo]
    full_sizes = [
        max(lo + o, (m - 1) * s + d * (k - 1) + 1)
        for (lo, _), o, m, s, d, k in zip(
            spec.pads, out_sizes, sizes, spec.stride, spec.dilation, spec.kernel_size, strict=True
        )
    ]
    full = np.zeros((n, c_out, *full_sizes))
    for taps in itertools.product(*(range(k) for k in spec.kernel_size)):
        index = tuple(
            slice(t * d, t * d + (m - 1) * s + 1, s)
            for t, d, s, m in zip(taps, spec.dilation, spec.stride, sizes, strict=True)
        )
        for gi in range(g):
            xin = xa[:, gi * cin_g : (gi + 1) * cin_g]
            w_key: tuple[slice | int, ...] = (slice(gi * cin_g, (gi + 1) * cin_g), slice(None), *taps)
            full_key: tuple[slice, ...] = (slice(None), slice(gi * cout_g, (gi + 1) * cout_g), *index)
            wt = w[w_key]
            full[full_key] += np.einsum("nc...,co->no...", xin, wt)
    crop = tuple(slice(lo, lo + o) for (lo, _), o in zip(spec.pads, out_sizes, strict=True))
    crop_key: tuple[slice, ...] = (slice(None), slice(None), *crop)
    out: Array = full[crop_key].copy()
    if bias is not None:
        b = _as_array("bias", bias, 1)
        out += b.reshape((1, c_out) + (1,) * len(out_sizes))
    return out


def dilate_kernel(weight: object, dilation: int | Sequence[int]) -> Array:
    """Insert ``d - 1`` zeros between the taps of the last ``len(dilation)`` axes.

    For an int ``dilation``: an array of 1 or 2 axes is a bare kernel and every axis is
    dilated; an array of 3 or more axes is in PyTorch's layout ``(C_out, C_in, *kernel)`` and
    the axes after the first two are. A sequence dilates that many trailing axes. An
    undilated convolution with the dilated kernel equals the dilated convolution with the
    original.

    Examples:
        >>> dilate_kernel(np.array([1.0, 2.0, 3.0]), 2).tolist()
        [1.0, 0.0, 2.0, 0.0, 3.0]
        >>> dilate_kernel(np.ones((3, 3)), 2).shape
        (5, 5)
        >>> dilate_kernel(np.ones((4, 2, 3, 3)), (1, 3)).shape
        (4, 2, 3, 7)
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 0:
        raise SpecError("weight must have at least one dimension")
    if isinstance(dilation, Sequence):
        ds = tuple(check_int(f"dilation[{i}]", d, 1) for i, d in enumerate(dilation))
    else:
        d0 = check_int("dilation", dilation, 1)
        ds = (d0,) * (w.ndim if w.ndim <= 2 else w.ndim - 2)
    if len(ds) > w.ndim:
        raise SpecError(f"dilation has {len(ds)} entries but weight has only {w.ndim} axes")
    lead = w.ndim - len(ds)
    shape = list(w.shape[:lead]) + [d * (k - 1) + 1 for k, d in zip(w.shape[lead:], ds, strict=True)]
    out = np.zeros(shape)
    key: tuple[EllipsisType | slice, ...] = (Ellipsis, *(slice(None, None, d) for d in ds))
    out[key] = w
    return out


def conv_matrix(
    kernel: object,
    input_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> Any:
    """The convolution of a single-channel signal as a sparse matrix ``A``: ``y = A @ x.ravel()``.

    ``A.T`` is the matrix of the transposed convolution with the same parameters (and the
    ``output_padding`` that restores ``input_size``, see :func:`atrous.invert`).

    Args:
        kernel: the spatial kernel, shape ``(*k)``.
        input_size: spatial input size.

    Returns:
        A ``scipy.sparse.csr_matrix`` of shape ``(prod(out), prod(input_size))``.

    Examples:
        >>> A = conv_matrix(np.array([1.0, 2.0, 3.0]), 5)
        >>> A.toarray().tolist()[0]
        [1.0, 2.0, 3.0, 0.0, 0.0]
    """
    import scipy.sparse as sp  # type: ignore[import-untyped]  # scipy ships no stubs

    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 0:
        raise SpecError("kernel must have at least one axis")
    sizes = (input_size,) * k.ndim if isinstance(input_size, int) else tuple(input_size)
    if len(sizes) != k.ndim:
        raise SpecError(f"input_size has {len(sizes)} entries, expected {k.ndim} (the kernel's axes)")
    spec = ConvSpec(k.shape, stride, padding, dilation, ndim=k.ndim).resolve(sizes)
    out_sizes = layer_output_size(spec, sizes)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for out_idx in itertools.product(*(range(o) for o in out_sizes)):
        r = int(np.ravel_multi_index(out_idx, out_sizes))
        for taps in itertools.product(*(range(n) for n in k.shape)):
            pos = [
                i * s - lo + t * d
                for i, s, (lo, _), t, d in zip(out_idx, spec.stride, spec.pads, taps, spec.dilation, strict=True)
            ]
            if all(0 <= p < n for p, n in zip(pos, sizes, strict=True)):
                rows.append(r)
                cols.append(int(np.ravel_multi_index(pos, sizes)))
                vals.append(float(k[taps]))
    shape = (int(np.prod(out_sizes)), int(np.prod(sizes)))
    return sp.csr_matrix((vals, (rows, cols)), shape=shape)


def conv_transpose_matrix(
    kernel: object,
    input_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
) -> Any:
    """The transposed convolution that maps back to ``input_size``, as a matrix: ``conv_matrix(...).T``."""
    return conv_matrix(kernel, input_size, stride, padding, dilation).T.tocsr()
