"""Fast paths: the per-call choice of an exact formulation of a convolution.

:func:`atrous.functional.apply_conv` (and so :func:`atrous.functional.conv` and the layers)
hands every zero-padded convolution to :func:`conv`, which picks one of these *routes*; each
computes the same function (float32 rounding aside) and is differentiable:

``native``
    PyTorch's own call, exactly as before: symmetric padding is passed to PyTorch, asymmetric
    padding is applied with ``F.pad`` first.
``pad_w``
    ``F.pad`` the last (W) axis, native call with W-padding 0. oneDNN's direct kernels slow down
    (dense) or fall back to im2col + GEMM (depthwise) when the left padding along W is large.
``pad_all``
    ``F.pad`` every axis, native call with padding 0.
``channels_last``
    The native call on a channels-last copy, converted back (oneDNN's NHWC kernels handle a large
    padding differently; an autotune candidate for big dense convolutions).
``fold``
    Stride 1 along the last axis (W), dilation ``d``: with ``f`` the largest factor of the width,
    the dilation and both paddings, W is viewed (no copy) as ``(W/f, f)`` and the convolution
    runs with one more axis, kernel ``(..., k, 1)``, dilation ``(..., d/f, 1)`` and W padding
    ``lo/f`` on the new axis: output ``q*f + r`` reads inputs ``(q - lo/f + t*d/f)*f + r``. The
    dilation and the padding leave the innermost axis, where oneDNN's kernels pay for them
    (1-d -> 2-d, 2-d -> 3-d).
``fold_pad``
    The same with ``f`` a divisor of ``d`` that need not divide the width or the paddings
    (2-d, where the view's factor is small): W is padded by a few columns (less than ``f``
    plus the part of the padding that is not a multiple of ``f``) and the extra output columns
    cropped.
``onednn``
    The oneDNN op (``aten.mkldnn_convolution``) called directly, for small inputs that
    PyTorch's backend rule sends to its slow reference kernels (``slow_conv3d``,
    ``slow_conv_dilated3d``). Its backward is oneDNN too (input gradient: the convolution of
    the output gradient with the flipped kernel; weight gradient: a convolution of
    space-to-depth rearranged input and output gradient), since autograd's own backward of
    that op goes back to the slow kernels.
``dw_direct``
    Depthwise convolution by a small C kernel (:mod:`atrous._ckernel`) whose cost does not
    depend on the dilation; forward, input gradient and weight gradient. For 3x3 kernels it is
    faster than oneDNN's depthwise call at every measured shape, dilated or not.
``taps``
    1-d, groups 1: one matrix product per tap (``y[:, span] += W_t @ x[:, span's inputs]``), over
    the outputs where the tap reads the input (:func:`atrous.geometry.tap_spans`): the padding
    is neither copied nor multiplied. For small calls (0.03-0.3 ms) with a large padding, where
    PyTorch's call costs more than the arithmetic.
``fft``
    1-d, dense, very long kernels: overlap-save FFT correlation.

Transposed convolutions have ``native`` and ``subpixel`` (one ordinary convolution per output
phase, interleaved; the "sub-pixel" form).

The choice comes from the rules in :func:`_rule` (each justified by ``benchmarks/bench_ops.py``,
see BENCHMARKS.md). Where a rule is ambiguous (the oneDNN W-padding cliff of dense
convolutions depends on batch, channels and width in ways that are not worth modelling) and the
call is big enough to matter, a one-time autotune times the candidates interleaved and keeps the
fastest; a route other than PyTorch's own call has to beat that call by 7% (so the autotune
also sends a rule's route back to native where it is not clearly faster). Its results are cached in
``<cache dir>/autotune.json`` (written atomically; a corrupt or stale file is ignored with a
warning).

Environment (read at import and by :func:`reset`):

- ``ATROUS_FAST_PATHS=0``: every call takes the native route.
- ``ATROUS_AUTOTUNE=0``: no autotune and no autotune cache; the rules alone decide.
- ``ATROUS_COMPILE=0``: never compile the C kernel (depthwise then uses ``pad_w``).
- ``ATROUS_CACHE_DIR``: the cache directory (default ``$XDG_CACHE_HOME/atrous`` or
  ``~/.cache/atrous``).

Only CPU tensors (plain, contiguous, not traced or compiled, no functorch transform) are
dispatched, and the rules only pick a non-native route for float32; everything else runs natively.
Tests force a route with :func:`force`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from itertools import product
from pathlib import Path

import torch
import torch.autograd.forward_ad as _fwAD
import torch.nn.functional as F
from torch import Tensor

from atrous import _ckernel
from atrous.errors import SpecError
from atrous.geometry.field import TapSpan, tap_spans
from atrous.geometry.shape import axis_length
from atrous.geometry.spec import Axis

__all__ = [
    "ROUTES",
    "ROUTES_T",
    "conv",
    "conv_transpose",
    "force",
    "reset",
    "route_for",
]

ROUTES = ("native", "pad_w", "pad_all", "channels_last", "fold", "fold_pad", "onednn", "dw_direct", "taps", "fft")
ROUTES_T = ("native", "subpixel")

RULES_VERSION = 5  # bump when the rules change: autotune entries of older rules are stale

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

Pads = tuple[tuple[int, int], ...]

# --------------------------------------------------------------------------- thresholds
# Each one is measured by benchmarks/bench_ops.py on the reference machine (see BENCHMARKS.md).

#: oneDNN's depthwise jit kernel refuses a W padding of 7 or more (and a padding wider than the
#: dilated kernel) and PyTorch falls back to im2col + GEMM: 5-9x slower.
DW_CLIFF_PAD = 7
#: below the cliff the C kernel's 3x3 loop beat oneDNN at every shape measured (2-d: N 1/8, C
#: 32-256, 33x33-128x128, d 1-4: 0.26-0.87 of the native time forward, 0.14-0.93 forward +
#: backward; tiny inputs 0.02-0.6, where PyTorch's call costs >= 50 us). Other kernel sizes
#: (the general loop) win only with few planes (N*C <= 64: 0.26-0.44) or big tensors
#: (>= 2^22 elements: 0.21-0.57); between the two oneDNN was faster (up to 1.6x)
DW_FEW_PLANES = 64
DW_BIG_ELEMENTS = 1 << 22
#: dense convolutions slow down 1.3-2.4x once the W padding exceeds the kernel's register block
#: (between 7 and 16 depending on channels, width and batch): ambiguous from here on.
DENSE_CLIFF_PAD = 7
#: with at least this many output channels the cliff appeared at every width >= 33 measured.
DENSE_SURE_CHANNELS = 128
#: 1-d: a W padding this large is always slower natively than padded (measured at d >= 64).
ONE_D_SURE_PAD = 32
#: fold, 1-d: the smallest fold factor that beat the native call at every measured shape.
FOLD_MIN_FACTOR = 16
#: fold / fold_pad, 2-d (as a 3-d convolution): with a batch of >= 2 the fold beat the native
#: call, ``pad_w`` and ``channels_last`` past the W-padding cliff at the measured shapes from
#: ``f = 4`` on (0.64-1.04 of dilation 1's time; padded widths 0.94-1.13); ``f = 2`` was mixed
#: (an autotune candidate only), and a batch of 1 was erratic (up to 5x slower): other routes.
FOLD2_MIN_FACTOR = 4
FOLD2_MAX_FACTOR = 32
#: ... padding W by at most this fraction of its width (measured: 3-9%)
FOLD2_MAX_PAD = 0.125
FOLD2_MIN_BATCH = 2
#: 1-d inputs below this many elements (N*C*L; 0.1 ms calls) are not folded: the fold beat
#: native(d) there in separate timings (0.48-1.01 with channels in whole blocks, k >= 3) but not
#: in the benchmark's (N1 C32 L1024 k3 d=512: 1.09), and with its call plan it measured
#: 0.95-0.97 of native(d) at C32 k3, 1.08-1.13 at k2 and 1.21 at d=16: not proven (``taps`` below).
ONE_D_MIN_ELEMENTS = 1 << 16
#: taps, 1-d below ``ONE_D_MIN_ELEMENTS`` (0.03-0.3 ms calls): with stride 1, a padding of at
#: least ``TAPS_MIN_PAD`` on one side, batch 1, at most ``TAPS_MAX_TAPS`` taps, ``TAPS_MIN_IN``
#: or more input and at most ``TAPS_MAX_OUT`` output channels, one matrix product per tap
#: measured 0.49-1.02 of native(d) forward (16 shapes: "same" and causal padding, C 8-64, L
#: 512-1024, d 16-512; 1.02 once, causal d=16, else <= 0.85), 0.41-1.01 forward + backward.
#: Outside: batch 2 (1.05, backward 1.26), 5-9 taps (1.08-1.21), 64 output channels
#: (1.04-1.28), one input channel (backward 1.27), padding 8 (1.10).
TAPS_MIN_PAD = 32
TAPS_MAX_TAPS = 3
TAPS_MIN_IN = 8
TAPS_MAX_OUT = 32
#: oneDNN's channel block on this CPU (AVX-512: 16): the 1-d cliff the fold avoids belongs to its
#: blocked kernel; with input channels not in whole blocks (C8/C24/C40) native(d) was as fast as
#: dilation 1 and the fold up to 1.33x slower (N1 C40 L4096 d=64), so those stay native.
CHANNEL_BLOCK = 16
#: transposed (2-d, stride > 1, dilation 1): the sub-pixel form beat oneDNN's deconvolution
#: only with >= 128 input channels on >= 128x128 inputs (0.73-0.87); elsewhere it lost
#: (up to 2.5x), so it is only an autotune candidate there.
SUBPIXEL_MIN_CHANNELS = 128
SUBPIXEL_MIN_PIXELS = 128 * 128
#: fft: the fewest taps (dense 1-d, dilation 1) from which the FFT route was faster.
FFT_MIN_TAPS = 128
#: autotune only calls of at least this many multiply-adds (about a millisecond).
AUTOTUNE_MIN_MACS = 5e7
#: ... and keeps a route other than native only if it is this much faster than native.
AUTOTUNE_MARGIN = 0.93
#: a ratio within this much of the margin is timed a second time and the two medians averaged
#: (N1 C128 L1024 k3 d=8: pad_w measured 0.87-0.91 of native in separate runs, yet one
#: benchmark run's autotune saw it above 0.93 and kept native, 1.24x dilation 1)
AUTOTUNE_RECHECK = 0.05

_SLOW_BACKENDS = ("Slow3d", "SlowDilated3d")

# --------------------------------------------------------------------------- state


def _env_flag(name: str, default: str = "1") -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off", "")


_enabled = True
_autotune = True
_decisions: dict[tuple, str] = {}
#: the call per shape decided native, a pure-view fold or taps (:func:`_call_plan`)
_plans: dict[tuple, tuple] = {}
#: the same for transposed calls decided native with symmetric padding, keyed by the spec
#: object's identity (checked: the value keeps the spec): (spec, function, stride, padding,
#: output_padding, dilation)
_native_plans_t: dict[tuple, tuple] = {}
_forced: str | None = None
_forced_strict = True
last_route: str = "native"  # the route of the most recent dispatched call (for tests)
_cache_state: dict[str, object] = {}


def reset() -> None:
    """Re-read the environment and forget every decision (in memory; the autotune file stays)."""
    global _enabled, _autotune
    _enabled = _env_flag("ATROUS_FAST_PATHS")
    _autotune = _env_flag("ATROUS_AUTOTUNE")
    _decisions.clear()
    _plans.clear()
    _native_plans_t.clear()
    _cache_state.clear()


reset()


@contextlib.contextmanager
def force(route: str, strict: bool = True) -> Iterator[None]:
    """Force ``route`` (a name from :data:`ROUTES` or :data:`ROUTES_T`) for the calls inside the
    block, whatever the rules say and whatever the dtype. With ``strict`` a call the route
    cannot compute raises ``ValueError``; otherwise that call runs natively."""
    global _forced, _forced_strict
    if route not in ROUTES and route not in ROUTES_T:
        raise ValueError(f"unknown route {route!r}: expected one of {ROUTES + ROUTES_T[1:]}")
    old = (_forced, _forced_strict)
    _forced, _forced_strict = route, strict
    try:
        yield
    finally:
        _forced, _forced_strict = old


def _plain(x: Tensor, weight: Tensor) -> bool:
    """Whether a call may leave the native route at all."""
    if type(x) is not Tensor or not isinstance(weight, Tensor) or type(weight) not in (Tensor, torch.nn.Parameter):
        return False
    if x.device.type != "cpu" or weight.device != x.device or x.layout != torch.strided:
        return False
    if torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active() or _fwAD._current_level >= 0:
        return False  # (forward-mode AD: the routes' autograd Functions define no jvp)
    if torch.is_autocast_enabled("cpu"):
        return False  # (autocast casts PyTorch's convolution, not the routes' own arithmetic)
    return x.is_contiguous()


# --------------------------------------------------------------------------- helpers


def _flat_pad(pads: Sequence[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    for lo, hi in reversed(pads):
        out += [lo, hi]
    return out


@functools.lru_cache(maxsize=4096)
def _out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """One axis's output length, by atrous.geometry; 0 where the input is smaller than the kernel."""
    try:
        return axis_length(Axis("conv", k, s, d, lo, hi), n)
    except SpecError:
        return 0


def _out_sizes(sizes: Sequence[int], k: Sequence[int], stride, pads, dilation) -> tuple[int, ...]:
    return tuple(_out_size(n, kk, s, lo, hi, d) for n, kk, s, (lo, hi), d in zip(sizes, k, stride, pads, dilation))


def _macs(x: Tensor, weight: Tensor, stride, pads, dilation) -> float:
    out = _out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    return float(x.shape[0]) * math.prod(out) * weight.numel()


def _fold_factor(n: int, d: int, lo: int, hi: int) -> int:
    """The largest ``f`` that divides the width, the dilation and both paddings (a pure view)."""
    return math.gcd(math.gcd(n, d), math.gcd(lo, hi))


def _fold_plan(n: int, d: int, lo: int, hi: int, f: int) -> tuple[int, int, int, int]:
    """How ``fold`` by ``f`` (a divisor of ``d``) computes an axis of width ``n`` with paddings
    ``(lo, hi)``: ``(a, b, units, crop)``: pad the axis by ``(a, b)`` (``(0, 0)``: no copy), pad
    the ``W/f`` axis by ``units`` on both sides in the convolution, crop ``crop`` output columns
    at the end (the zeros added to make the width a multiple of ``f``)."""
    units = min(lo, hi) // f
    a = lo - units * f
    b = hi - units * f
    crop = -(a + n + b) % f
    return a, b + crop, units, crop


def _fold_pad_factor(n: int, d: int, lo: int, hi: int) -> int:
    """``fold_pad``'s factor: the divisor of ``d`` in ``[FOLD2_MIN_FACTOR, FOLD2_MAX_FACTOR]``
    that pads least (the larger on a tie); otherwise the smallest divisor above 1; 0 for d = 1."""
    best, best_width = 0, 0
    for f in range(FOLD2_MIN_FACTOR, min(d, FOLD2_MAX_FACTOR) + 1):
        if d % f == 0:
            a, b, _, _ = _fold_plan(n, d, lo, hi, f)
            if not best or a + b <= best_width:
                best, best_width = f, a + b
    return best or next((f for f in range(2, d + 1) if d % f == 0), 0)


def _is_depthwise(x: Tensor, weight: Tensor, groups: int) -> bool:
    return groups > 1 and groups == x.shape[1] == weight.shape[0] and weight.shape[1] == 1


# --------------------------------------------------------------------------- routes: convolution


def _run_native(x, weight, bias, stride, pads, dilation, groups):
    padding, flat = _native_padding(pads)
    if flat is not None:
        x = torch.constant_pad_nd(x, flat)
    return _CONV[len(pads)](x, weight, bias, stride, padding, dilation, groups)


def _run_pad_w(x, weight, bias, stride, pads, dilation, groups):
    nd = len(pads)
    pre = [(lo, hi) if (i == nd - 1 or lo != hi) else (0, 0) for i, (lo, hi) in enumerate(pads)]
    keep = tuple(0 if (i == nd - 1 or lo != hi) else lo for i, (lo, hi) in enumerate(pads))
    return _CONV[nd](F.pad(x, _flat_pad(pre)), weight, bias, stride, keep, dilation, groups)


def _run_pad_all(x, weight, bias, stride, pads, dilation, groups):
    nd = len(pads)
    if any(lo or hi for lo, hi in pads):
        x = F.pad(x, _flat_pad(pads))
    return _CONV[nd](x, weight, bias, stride, 0, dilation, groups)


def _run_channels_last(x, weight, bias, stride, pads, dilation, groups):
    """The native call on a channels-last copy (oneDNN's NHWC kernels have their own padding
    behaviour), converted back to the contiguous layout the caller gave."""
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    return _run_native(x.contiguous(memory_format=fmt), weight, bias, stride, pads, dilation, groups).contiguous()


def _fold_call(sizes: Sequence[int], stride, pads: Pads, dilation, f: int):  # type: ignore[no-untyped-def]
    """How ``fold`` by ``f`` runs: ``(pre, stride, padding, dilation, crop)``: the padding copy
    per axis (``(lo, hi)``; all zero: a pure view), the arguments of the convolution with one
    more axis, and the output columns to crop."""
    lo, hi = pads[-1]
    d = dilation[-1]
    a, b, units, crop = _fold_plan(sizes[-1], d, lo, hi, f)
    outer = list(pads[:-1])
    pre = [(lo_, hi_) if lo_ != hi_ else (0, 0) for lo_, hi_ in outer] + [(a, b)]
    padding = (*(lo_ if lo_ == hi_ else 0 for lo_, hi_ in outer), units, 0)
    return pre, (*stride[:-1], 1, 1), padding, (*dilation[:-1], d // f, 1), crop


def _fold(x, weight, bias, stride, pads, dilation, groups, f: int):
    nd = len(pads)
    pre, s, padding, d, crop = _fold_call(x.shape[2:], stride, pads, dilation, f)
    if any(p for pair in pre for p in pair):
        x = F.pad(x, _flat_pad(pre))
    xv = x.reshape(*x.shape[:-1], x.shape[-1] // f, f)
    y = _CONV[nd + 1](xv, weight.unsqueeze(-1), bias, s, padding, d, groups)
    y = y.reshape(*y.shape[:-2], -1)
    return y[..., : y.shape[-1] - crop].contiguous() if crop else y


def _run_fold(x, weight, bias, stride, pads, dilation, groups):
    lo, hi = pads[-1]
    f = _fold_factor(x.shape[-1], dilation[-1], lo, hi)
    return _fold(x, weight, bias, stride, pads, dilation, groups, f)


def _run_fold_pad(x, weight, bias, stride, pads, dilation, groups):
    lo, hi = pads[-1]
    f = _fold_pad_factor(x.shape[-1], dilation[-1], lo, hi)
    return _fold(x, weight, bias, stride, pads, dilation, groups, f)


# ---- onednn: the direct oneDNN op with a oneDNN backward

_MKL_DTYPES = (torch.float32, torch.bfloat16)


def _mkldnn_ok() -> bool:
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def _raw_conv(x, weight, bias, padding, stride, dilation, groups):
    """The oneDNN convolution (float32 / bfloat16 on CPU); PyTorch's generic one otherwise (for
    float64 gradchecks of the backward formulas)."""
    if x.dtype in _MKL_DTYPES and x.device.type == "cpu" and _mkldnn_ok():
        return torch.ops.aten.mkldnn_convolution(
            x.contiguous(), weight.contiguous(), bias, list(padding), list(stride), list(dilation), groups
        )
    nd = x.dim() - 2
    return torch.convolution(x, weight, bias, list(stride), list(padding), list(dilation), False, [0] * nd, groups)


def _native_backward(ctx, gy, x, weight, has_bias):
    nd = x.dim() - 2
    mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
    gx, gw, gb = torch.ops.aten.convolution_backward(
        gy, x, weight, [weight.shape[0]] if has_bias else None, list(ctx.stride), list(ctx.padding),
        list(ctx.dilation), False, [0] * nd, ctx.groups, mask,
    )  # fmt: skip
    return (gx if mask[0] else None), (gw if mask[1] else None), (gb if mask[2] else None)


def _padded_native_backward(ctx, gy, x, weight):
    """PyTorch's differentiable backward formulas (for double backward) on the input padded by
    ``ctx.pads``, the input gradient cropped back to the input."""
    ctx.padding = (0,) * (x.dim() - 2)
    gx, gw, gb = _native_backward(ctx, gy, F.pad(x, _flat_pad(ctx.pads)), weight, ctx.has_bias)
    if gx is not None:
        gx = gx[(slice(None), slice(None), *(slice(lo, lo + s) for (lo, _), s in zip(ctx.pads, x.shape[2:])))]
    return gx, gw, gb


def _onednn_weight_grad(x, gy, weight_shape, padding, dilation, groups):
    """``gw[o, i, t] = sum_{n, pos} gy[n, o, pos] * xpad[n, i, pos + t*d]`` (stride 1) as one
    oneDNN convolution per group: space-to-depth by ``d`` turns the dilated taps into adjacent
    ones (batch = input channels, channels = batch x phases, kernel = output gradient)."""
    nd = x.dim() - 2
    n, cin = x.shape[:2]
    cout = gy.shape[1]
    k = weight_shape[2:]
    out = gy.shape[2:]
    q = [-(-o // d) for o, d in zip(out, dilation)]  # output blocks per axis
    xpad = F.pad(
        x, _flat_pad([(p, d * (qq + kk - 1) - s - p) for p, d, qq, kk, s in zip(padding, dilation, q, k, x.shape[2:])])
    )
    gpad = F.pad(gy, _flat_pad([(0, d * qq - o) for d, qq, o in zip(dilation, q, out)]))

    def s2d(t: Tensor, blocks: Sequence[int]) -> Tensor:
        c = t.shape[1]
        shape = [n, c]
        for b, d in zip(blocks, dilation):
            shape += [b, d]
        t = t.reshape(shape)
        perm = [1, 0, *[3 + 2 * i for i in range(nd)], *[2 + 2 * i for i in range(nd)]]
        return t.permute(perm).reshape(c, n * math.prod(dilation), *blocks)

    xs = s2d(xpad, [qq + kk - 1 for qq, kk in zip(q, k)])
    gs = s2d(gpad, q)
    ones = [1] * nd
    if groups == 1:
        return _raw_conv(xs, gs, None, [0] * nd, ones, ones, 1).transpose(0, 1)
    ci, co = cin // groups, cout // groups
    parts = [
        _raw_conv(xs[g * ci : (g + 1) * ci], gs[g * co : (g + 1) * co], None, [0] * nd, ones, ones, 1).transpose(0, 1)
        for g in range(groups)
    ]
    return torch.cat(parts, 0)


class _OneDNNConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        return _raw_conv(x, weight, bias, padding, stride, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled() or any(s != 1 for s in ctx.stride):
            gx, gw, gb = _native_backward(ctx, gy, x, weight, ctx.has_bias)
            return gx, gw, gb, None, None, None, None
        nd = x.dim() - 2
        gy = gy.contiguous()
        gx = gw = gb = None
        k = weight.shape[2:]
        if ctx.needs_input_grad[0]:
            g = ctx.groups
            wt = weight.reshape(g, weight.shape[0] // g, *weight.shape[1:]).transpose(1, 2)
            wt = wt.reshape(weight.shape[1] * g, weight.shape[0] // g, *k).flip(list(range(2, 2 + nd)))
            q = [d * (kk - 1) - p for d, kk, p in zip(ctx.dilation, k, ctx.padding)]
            src = gy
            if any(v < 0 for v in q):  # padding wider than the kernel: crop instead
                src = F.pad(gy, _flat_pad([(min(v, 0), min(v, 0)) for v in q]))
                q = [max(v, 0) for v in q]
            gx = _raw_conv(src, wt, None, q, [1] * nd, ctx.dilation, g)
        if ctx.needs_input_grad[1]:
            gw = _onednn_weight_grad(x, gy, weight.shape, ctx.padding, ctx.dilation, ctx.groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum([0, *range(2, 2 + nd)])
        return gx, gw, gb, None, None, None, None


def _run_onednn(x, weight, bias, stride, pads, dilation, groups):
    if any(lo != hi for lo, hi in pads):
        x = F.pad(x, _flat_pad([(lo, hi) if lo != hi else (0, 0) for lo, hi in pads]))
    padding = tuple(lo if lo == hi else 0 for lo, hi in pads)
    stride, dilation = tuple(stride), tuple(dilation)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    if not needs_grad:
        return _raw_conv(x, weight, bias, padding, stride, dilation, groups)
    return _OneDNNConv.apply(x, weight, bias, stride, padding, dilation, groups)


# ---- dw_direct: the C kernel


def _kernel_args(nd: int, sizes, out, k, dilation, lo):
    pad3 = lambda v, fill: (fill,) * (3 - nd) + tuple(v)
    return [*pad3(sizes, 1), *pad3(out, 1), *pad3(k, 1), *pad3(dilation, 1), *pad3(lo, 0)]


def _dw_forward(lib, x: Tensor, weight: Tensor, bias: Tensor | None, lo, out_sizes, dilation) -> Tensor:
    nd = x.dim() - 2
    n, c = x.shape[:2]
    x = x.contiguous()
    w = weight.contiguous()
    b = bias.contiguous() if bias is not None else None
    out = x.new_empty((n, c, *out_sizes))
    fn = lib.dw_fwd_f32 if x.dtype == torch.float32 else lib.dw_fwd_f64
    err = fn(
        x.data_ptr(), w.data_ptr(), b.data_ptr() if b is not None else None, out.data_ptr(), n * c, c,
        *_kernel_args(nd, x.shape[2:], out_sizes, w.shape[2:], dilation, lo), torch.get_num_threads(),
    )  # fmt: skip
    if err:
        raise MemoryError("atrous depthwise kernel: out of memory for its row buffers")
    return out


def _dw_weight_grad(lib, x: Tensor, gy: Tensor, weight_shape, lo, dilation) -> Tensor:
    nd = x.dim() - 2
    n, c = x.shape[:2]
    x = x.contiguous()
    gy = gy.contiguous()
    gw = x.new_empty(weight_shape)
    fn = lib.dw_gw_f32 if x.dtype == torch.float32 else lib.dw_gw_f64
    err = fn(
        x.data_ptr(), gy.data_ptr(), gw.data_ptr(), n, c,
        *_kernel_args(nd, x.shape[2:], gy.shape[2:], weight_shape[2:], dilation, lo), torch.get_num_threads(),
    )  # fmt: skip
    if err:
        raise MemoryError("atrous depthwise kernel: out of memory for its row buffers")
    return gw


class _DWConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, pads, dilation, out_sizes):
        lib = _ckernel.load()
        ctx.pads, ctx.dilation = pads, dilation
        ctx.stride, ctx.padding, ctx.groups = (1,) * len(pads), None, x.shape[1]
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        return _dw_forward(lib, x, weight, bias, [lo for lo, _ in pads], out_sizes, dilation)

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        nd = x.dim() - 2
        if torch.is_grad_enabled():  # double backward: PyTorch's differentiable formulas
            return (*_padded_native_backward(ctx, gy, x, weight), None, None, None)
        lib = _ckernel.load()
        gx = gw = gb = None
        k = weight.shape[2:]
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(list(range(2, 2 + nd)))
            lo = [d * (kk - 1) - low for d, kk, (low, _) in zip(ctx.dilation, k, ctx.pads)]
            gx = _dw_forward(lib, gy, flipped, None, lo, x.shape[2:], ctx.dilation)
        if ctx.needs_input_grad[1]:
            gw = _dw_weight_grad(lib, x, gy, weight.shape, [lo for lo, _ in ctx.pads], ctx.dilation)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum([0, *range(2, 2 + nd)])
        return gx, gw, gb, None, None, None


def _run_dw_direct(x, weight, bias, stride, pads, dilation, groups):
    lib = _ckernel.load()
    if lib is None:  # no compiler: the padded oneDNN route is the next best
        return _run_pad_w(x, weight, bias, stride, pads, dilation, groups)
    out_sizes = _out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    dilation = tuple(dilation)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    if not needs_grad:
        return _dw_forward(lib, x, weight, bias, [lo for lo, _ in pads], out_sizes, dilation)
    return _DWConv.apply(x, weight, bias, tuple(pads), dilation, out_sizes)


# ---- taps: one matrix product per tap, over the outputs where the tap reads the input


def _taps_plan(x, weight, stride, pads, dilation) -> tuple[tuple[TapSpan, ...], int]:
    """The spans of the taps that read the input at all, and the output length."""
    ((lo, hi),) = pads
    axis = Axis("conv", weight.shape[-1], stride[0], dilation[0], lo, hi)
    return tuple(t for t in tap_spans(axis, x.shape[-1]) if t.count), axis_length(axis, x.shape[-1])


def _taps_call(x, weight, bias, stride, pads, dilation, spans, out):
    if weight.dtype != x.dtype or (bias is not None and (bias.dtype != x.dtype or bias.shape != (weight.shape[0],))):
        # (a call plan is keyed by the shapes of x and the weight only: PyTorch reports the rest)
        return _run_native(x, weight, bias, stride, pads, dilation, 1)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    if not needs_grad:
        return _taps_forward(x, weight.permute(2, 0, 1).contiguous(), bias, spans, out, stride[0])
    return _TapsConv.apply(x, weight, bias, stride, pads, dilation, spans, out)


def _cols(t: Tensor, start: int, count: int, step: int) -> Tensor:
    return t[..., start : start + step * (count - 1) + 1 : step]


def _acc(dst: Tensor, a: Tensor, b: Tensor) -> None:
    """``dst += a @ b`` in place (``dst``, ``b``: one matrix or a batch of them; ``a``: one)."""
    if dst.dim() == 2:
        dst.addmm_(a, b)
    else:
        dst.baddbmm_(a.expand(dst.shape[0], *a.shape), b)


def _taps_forward(x: Tensor, wk: Tensor, bias: Tensor | None, spans, out: int, s: int) -> Tensor:
    """``y[:, :, span] += W_t @ x[:, :, span's inputs]`` for each tap ``t`` (``wk``: the kernel as
    ``(k, out channels, in channels)``); a tap covering every output writes ``y`` first."""
    n = x.shape[0]
    o = wk.shape[1]
    full = next((t for t in spans if t.count == out), None)
    if full is not None and n == 1:  # (products on the batch's matrix: y is returned, not a view)
        y = x.new_empty((1, o, out))
        src = _cols(x[0], full.in_start, out, s)
        if bias is None:
            torch.mm(wk[full.tap], src, out=y[0])
        else:
            torch.addmm(bias[:, None], wk[full.tap], src, out=y[0])
    elif full is not None:
        src = _cols(x, full.in_start, out, s)
        w = wk[full.tap].expand(n, *wk.shape[1:])
        y = torch.bmm(w, src) if bias is None else torch.baddbmm(bias[:, None].expand(n, o, out), w, src)
    else:
        y = x.new_zeros((n, o, out)) if bias is None else bias[:, None].expand(n, o, out).contiguous()
    ys, xs = (y[0], x[0]) if n == 1 else (y, x)
    for t in spans:
        if t is not full:
            _acc(ys[..., t.out_start : t.out_start + t.count], wk[t.tap], _cols(xs, t.in_start, t.count, s))
    return y


class _TapsConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, pads, dilation, spans, out):
        ctx.stride, ctx.pads, ctx.dilation, ctx.groups = stride, pads, dilation, 1
        ctx.spans, ctx.has_bias = spans, bias is not None
        ctx.save_for_backward(x, weight)
        return _taps_forward(x, weight.permute(2, 0, 1).contiguous(), bias, spans, out, stride[0])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: PyTorch's differentiable formulas
            return (*_padded_native_backward(ctx, gy, x, weight), None, None, None, None, None)
        s = ctx.stride[0]
        n = x.shape[0]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # the adjoint: gx[:, :, span's inputs] += W_t^T @ gy[:, :, span]
            wt = weight.permute(2, 1, 0)  # (k, in, out): W_t^T
            gx = x.new_zeros(x.shape)
            for t in ctx.spans:
                dst = _cols(gx[0] if n == 1 else gx, t.in_start, t.count, s)
                src = gy[0] if n == 1 else gy
                _acc(dst, wt[t.tap], src[..., t.out_start : t.out_start + t.count])
        if ctx.needs_input_grad[1]:
            gwk = x.new_zeros((weight.shape[2], weight.shape[0], weight.shape[1]))
            for t in ctx.spans:
                g = gy[..., t.out_start : t.out_start + t.count]
                xt = _cols(x, t.in_start, t.count, s)
                if n == 1:
                    torch.mm(g[0], xt[0].t(), out=gwk[t.tap])
                else:
                    gwk[t.tap] = torch.tensordot(g, xt, dims=([0, 2], [0, 2]))
            gw = gwk.permute(1, 2, 0).contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum([0, 2])
        return gx, gw, gb, None, None, None, None, None


def _run_taps(x, weight, bias, stride, pads, dilation, groups):
    """1-d, groups 1: ``k`` matrix products, each over the outputs where its tap reads the input
    (a tap reading padding is skipped, not multiplied by zeros)."""
    stride, pads, dilation = tuple(stride), tuple(pads), tuple(dilation)
    return _taps_call(x, weight, bias, stride, pads, dilation, *_taps_plan(x, weight, stride, pads, dilation))


# ---- fft


def _good_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (sizes pocketfft transforms fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _run_fft(x, weight, bias, stride, pads, dilation, groups):
    """Overlap-save FFT cross-correlation (1-d, stride 1, groups 1)."""
    ((lo, hi),) = pads
    d = dilation[0]
    n, c, _ = x.shape
    o_ch, _, k = weight.shape
    span = d * (k - 1) + 1
    xp = F.pad(x, (lo, hi))
    lp = xp.shape[-1]
    out = lp - span + 1
    nfft = min(_good_size(lp), _good_size(max(4 * span, 2048)))
    step = nfft - span + 1
    blocks = -(-out // step)
    xp = F.pad(xp, (0, (blocks - 1) * step + nfft - lp))
    xb = xp.unfold(-1, nfft, step)  # (n, c, blocks, nfft)
    wd = weight if d == 1 else F.pad(weight.unsqueeze(-1), (0, d - 1)).reshape(o_ch, c, k * d)[..., :span]
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = torch.fft.rfft(xb.to(real), n=nfft)  # (n, c, blocks, nf)
    wf = torch.fft.rfft(wd.to(real), n=nfft).conj()  # (o, c, nf)
    nf = xf.shape[-1]
    yf = torch.matmul(xf.permute(3, 0, 2, 1).reshape(nf, n * blocks, c), wf.permute(2, 1, 0))  # (nf, n*blocks, o)
    yf = yf.reshape(nf, n, blocks, o_ch).permute(1, 3, 2, 0)  # (n, o, blocks, nf)
    y = torch.fft.irfft(yf, n=nfft)[..., :step].reshape(n, o_ch, blocks * step)[..., :out].to(x.dtype)
    if bias is not None:
        y = y + bias[:, None]
    return y


_RUN: dict[str, Callable[..., Tensor]] = {
    "native": _run_native,
    "pad_w": _run_pad_w,
    "pad_all": _run_pad_all,
    "channels_last": _run_channels_last,
    "fold": _run_fold,
    "fold_pad": _run_fold_pad,
    "onednn": _run_onednn,
    "dw_direct": _run_dw_direct,
    "taps": _run_taps,
    "fft": _run_fft,
}


def _why_not(route: str, x: Tensor, weight: Tensor, bias: Tensor | None, stride, pads, dilation, groups) -> str | None:
    """``None`` where ``route`` computes this call, else the reason it cannot."""
    nd = len(pads)
    unit = all(s == 1 for s in stride)
    if route == "native":
        return None
    if weight.dtype != x.dtype or weight.device != x.device or weight.dim() != x.dim():
        return "weight and input differ in dtype, device or rank"
    if bias is not None and (bias.dtype != x.dtype or bias.device != x.device or bias.shape != (weight.shape[0],)):
        return "the bias does not match the weight (dtype, device or length)"
    if any(o < 1 for o in _out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)):
        return "the input is smaller than the kernel"
    if route == "pad_all":
        return None
    if route == "pad_w":
        return None if any(pads[-1]) else "no padding along the last axis"
    if route == "channels_last":
        return None if nd in (2, 3) else "channels-last layouts exist for 2-d and 3-d only"
    if route in ("fold", "fold_pad"):
        if nd not in (1, 2) or stride[-1] != 1:
            return "fold needs a 1-d or 2-d convolution with stride 1 along the last axis"
        if any(lo < 0 or hi < 0 for lo, hi in pads) or dilation[-1] < 2:
            return "fold needs a dilation of at least 2 along the last axis and no negative padding"
        if route == "fold" and _fold_factor(x.shape[-1], dilation[-1], *pads[-1]) < 2:
            return "no factor >= 2 divides the width, the dilation and both paddings (fold_pad pads)"
        return None
    if route == "onednn":
        if x.device.type != "cpu" or not _mkldnn_ok():
            return "oneDNN is not available"
        if any(lo < 0 or hi < 0 for lo, hi in pads):
            return "negative padding"
        return None
    if route == "dw_direct":
        if not unit or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return "the depthwise kernel needs stride 1 and float32/float64 CPU tensors"
        if not _is_depthwise(x, weight, groups):
            return "not a depthwise convolution (groups == in == out channels)"
        return None
    if route == "taps":
        if nd != 1 or groups != 1:
            return "taps needs a 1-d convolution with groups 1"
        if not x.is_floating_point():
            return "taps needs a floating-point dtype"
        return None
    if route == "fft":
        if nd != 1 or not unit or groups != 1:
            return "fft needs a 1-d convolution with stride 1 and groups 1"
        if x.dtype not in (torch.float32, torch.float64):
            return "fft needs float32 or float64"
        return None
    return f"unknown route {route!r}"


def _slow_backend(x: Tensor, weight: Tensor, stride, pads, dilation, groups) -> bool:
    """Whether PyTorch would run this call with its slow reference kernels."""
    try:
        backend = torch._C._select_conv_backend(
            x, weight, None, list(stride), [lo if lo == hi else 0 for lo, hi in pads], list(dilation), False,
            [0] * len(pads), groups, None,
        )  # fmt: skip
    except (AttributeError, RuntimeError, TypeError):
        return False
    return str(backend).rsplit(".", 1)[-1] in _SLOW_BACKENDS


def _fold2_routes(x: Tensor, weight: Tensor, pads, dilation) -> list[str]:
    """The 2-d folds worth running here: ``fold`` where the view's factor is at least 2,
    ``fold_pad`` where its factor is in ``[FOLD2_MIN_FACTOR, FOLD2_MAX_FACTOR]`` and it pads W by
    at most ``FOLD2_MAX_PAD`` of its width; each only where PyTorch runs the folded 3-d
    convolution with oneDNN (not its slow reference kernels). The rule's choice comes first."""
    lo, hi = pads[-1]
    d = dilation[-1]
    n = x.shape[-1]
    found: list[tuple[bool, str, int]] = []  # (preferred, route, factor)
    pure = _fold_factor(n, d, lo, hi)
    if pure >= 2:
        found.append((pure >= FOLD2_MIN_FACTOR, "fold", pure))
    f = _fold_pad_factor(n, d, lo, hi)
    if FOLD2_MIN_FACTOR <= f <= FOLD2_MAX_FACTOR and f != pure:
        a, b, _, _ = _fold_plan(n, d, lo, hi, f)
        if a + b <= FOLD2_MAX_PAD * n:  # more would cost more than it saves
            found.append((pure < FOLD2_MIN_FACTOR, "fold_pad", f))
    routes = []
    for preferred, route, f in sorted(found, key=lambda t: not t[0]):
        a, b, units, _ = _fold_plan(n, d, lo, hi, f)
        folded = x.new_empty((*x.shape[:-1], (n + a + b) // f, f))
        slow = _slow_backend(
            folded, weight.unsqueeze(-1), (1, 1, 1), (pads[0], (units, units), (0, 0)), (dilation[0], d // f, 1), 1
        )
        if not slow and (preferred or routes):
            routes.append(route)
    return routes


def _rule(x: Tensor, weight: Tensor, stride, pads, dilation, groups) -> tuple[str, tuple[str, ...]]:
    """The rule's route and the candidates an autotune may compare (measured on a 2-core AVX-512
    CPU, torch 2.13, float32; see BENCHMARKS.md)."""
    if x.dtype != torch.float32:
        return "native", ()
    nd = len(pads)
    unit = all(s == 1 for s in stride)
    lo_w, hi_w = pads[-1]
    pad_w = max(lo_w, hi_w)
    # 1. small 3-d inputs: PyTorch's rule picks slow_conv3d / slow_conv_dilated3d (14-40x slower)
    if (
        nd == 3
        and unit
        and not _is_depthwise(x, weight, groups)
        and _mkldnn_ok()
        and _slow_backend(x, weight, stride, pads, dilation, groups)
    ):
        return "onednn", ()
    # 2. depthwise past oneDNN's padding cliff: the C kernel (cost independent of dilation)
    if _is_depthwise(x, weight, groups) and unit and nd in (1, 2):
        span_w = dilation[-1] * (weight.shape[-1] - 1)
        if pad_w >= DW_CLIFF_PAD or pad_w > span_w:
            return ("dw_direct" if _ckernel.load() is not None else "pad_w"), ()
        planes = x.shape[0] * x.shape[1]
        if (
            nd == 2
            and (weight.shape[-2:] == (3, 3) or planes <= DW_FEW_PLANES or x.numel() >= DW_BIG_ELEMENTS)
            and _ckernel.load() is not None
        ):
            return "dw_direct", ()
        return "native", ()
    big = x.numel() >= ONE_D_MIN_ELEMENTS
    # 3. small 1-d with a large padding: one matrix product per tap, over the outputs where the
    #    tap reads the input (the padding is neither copied nor multiplied)
    if (
        nd == 1
        and unit
        and groups == 1
        and not big
        and x.shape[0] == 1
        and weight.shape[-1] <= TAPS_MAX_TAPS
        and x.shape[1] >= TAPS_MIN_IN
        and weight.shape[0] <= TAPS_MAX_OUT
        and pad_w >= TAPS_MIN_PAD
        and min(lo_w, hi_w) >= 0
    ):
        return "taps", ()
    # 4. 1-d with a large dilation: fold the length (no copy, no W padding) where oneDNN's
    #    blocked kernel has the cliff (input channels in whole blocks); elsewhere the autotune
    if nd == 1 and unit and big and min(lo_w, hi_w) >= 0:
        span = dilation[0] * (weight.shape[-1] - 1)
        if span >= FOLD_MIN_FACTOR and _fold_factor(x.shape[-1], dilation[0], lo_w, hi_w) >= FOLD_MIN_FACTOR:
            blocked = x.shape[1] % CHANNEL_BLOCK == 0
            return ("fold" if blocked else "native"), ("fold", "pad_w", "native")
    # 5. very long dense kernels: FFT
    if nd == 1 and unit and groups == 1 and dilation[0] == 1 and weight.shape[-1] >= FFT_MIN_TAPS:
        return "fft", ("fft", "native")
    # 6. the W-padding cliff of oneDNN's direct kernels (only where PyTorch gets the padding);
    #    unmeasured cases (stride > 1, grouped) are left to the autotune
    if pad_w >= DENSE_CLIFF_PAD and lo_w == hi_w:
        measured = unit and groups == 1
        candidates: tuple[str, ...] = ("native", "pad_w", "channels_last") if nd > 1 else ("native", "pad_w")
        # 6a. dense 2-d with a batch: fold W into a third axis (the dilation leaves the innermost axis)
        if nd == 2 and measured and x.shape[0] >= FOLD2_MIN_BATCH:
            folds = _fold2_routes(x, weight, pads, dilation)
            if folds:
                return folds[0], (*folds, *candidates)
        sure = measured and (weight.shape[0] >= DENSE_SURE_CHANNELS or (nd == 1 and big and pad_w >= ONE_D_SURE_PAD))
        return ("pad_w" if sure else "native"), candidates
    return "native", ()


# --------------------------------------------------------------------------- autotune cache


def _cache_path() -> Path:
    return _ckernel.cache_dir() / "autotune.json"


def _env_id() -> str:
    cpu = hashlib.sha256(_ckernel._cpu_id().encode()).hexdigest()[:12]
    return f"rules={RULES_VERSION};torch={torch.__version__};cpu={cpu}"


def _load_cache() -> dict[str, str]:
    if "routes" not in _cache_state:
        _cache_state["routes"] = _read_cache(warn=True)
    return _cache_state["routes"]  # type: ignore[return-value]


def _read_cache(warn: bool) -> dict[str, str]:
    """The routes of the cache file; a corrupt or stale file counts as empty (with a warning)."""
    routes: dict[str, str] = {}
    path = _cache_path()
    if path.exists():
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("routes"), dict):
                raise ValueError("not an atrous autotune cache")
            if data.get("env") != _env_id():
                if warn:
                    warnings.warn(
                        f"atrous: ignoring the stale autotune cache {path} (made for {data.get('env')!r}, "
                        f"this is {_env_id()!r}); it will be rewritten",
                        RuntimeWarning,
                        stacklevel=5,
                    )
            else:
                routes = {str(k): str(v) for k, v in data["routes"].items() if v in ROUTES or v in ROUTES_T}
        except (OSError, ValueError) as e:
            if warn:
                warnings.warn(
                    f"atrous: ignoring the corrupt autotune cache {path} ({e}); it will be rewritten",
                    RuntimeWarning,
                    stacklevel=5,
                )
    return routes


def _save_cache(routes: dict[str, str]) -> None:
    """Write the cache atomically (a temporary file in the same directory, then rename)."""
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".autotune-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"env": _env_id(), "routes": routes}, f, indent=0, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        if not _cache_state.get("warned"):
            _cache_state["warned"] = True
            warnings.warn(f"atrous: cannot write the autotune cache {path} ({e})", RuntimeWarning, stacklevel=4)


def _cache_key(kind: str, x: Tensor, weight: Tensor, stride, pads, dilation, groups, extra=()) -> str:
    return (
        f"{kind}|x={tuple(x.shape)}|w={tuple(weight.shape)}|s={tuple(stride)}|p={tuple(pads)}|"
        f"d={tuple(dilation)}|g={groups}|{extra}|{str(x.dtype).replace('torch.', '')}|t={torch.get_num_threads()}"
    )


def _time_candidates(fns: dict[str, Callable[[], object]], reference: str, budget: float = 1.0) -> dict[str, float]:
    """Each candidate's time relative to ``reference``'s: the median over rounds of the ratio of
    the two times within the round (both timed in the same round, so a slow moment of the
    machine counts on both sides). The calls of a round run in a shuffled order (a
    convolution right after one with other parameters can pay for the switch)."""
    order = list(fns)
    rng = random.Random(len(order))
    with torch.no_grad():
        for fn in fns.values():
            fn()
        t = time.perf_counter()
        fns[reference]()
        one = max(time.perf_counter() - t, 1e-6)
        reps = max(1, int(0.005 / one))
        rounds = max(5, min(15, int(budget / (one * reps * len(fns)))))
        ratios: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(rounds):
            rng.shuffle(order)
            times = {}
            for name in order:
                fn = fns[name]
                t = time.perf_counter()
                for _ in range(reps):
                    fn()
                times[name] = time.perf_counter() - t
            for name in fns:
                ratios[name].append(times[name] / max(times[reference], 1e-9))
    return {name: statistics.median(v) for name, v in ratios.items()}


def _autotuned(key: str, default: str, candidates: Sequence[str], make: Callable[[str], Callable[[], object]]) -> str:
    routes = _load_cache()
    if key in routes and routes[key] in candidates:
        return routes[key]
    fns = {r: make(r) for r in candidates}
    timings = _time_candidates(fns, default)
    # another formulation than PyTorch's own call has to beat it clearly (never slower than
    # native); without native among the candidates, it has to beat the rule's choice
    base = "native" if "native" in timings else default
    best = min(timings, key=timings.__getitem__)
    if best != base and abs(timings[best] / timings[base] - AUTOTUNE_MARGIN) <= AUTOTUNE_RECHECK:
        again = _time_candidates(fns, default)  # too close to call on one measurement
        timings = {r: (timings[r] + again[r]) / 2 for r in timings}
        best = min(timings, key=timings.__getitem__)
    choice = best if best == base or timings[best] < AUTOTUNE_MARGIN * timings[base] else base
    routes[key] = choice
    for k, v in _read_cache(warn=False).items():  # keep what other processes found meanwhile
        routes.setdefault(k, v)
    _save_cache(routes)
    return choice


# --------------------------------------------------------------------------- entry points


def route_for(x: Tensor, weight: Tensor, bias: Tensor | None, stride, pads: Pads, dilation, groups: int) -> str:
    """The route :func:`conv` takes for these arguments (deciding, and autotuning, if needed)."""
    if _forced is not None and _forced in ROUTES:
        why = _why_not(_forced, x, weight, bias, stride, pads, dilation, groups)
        if why is None:
            return _forced
        if _forced_strict:
            raise ValueError(f"forced route {_forced!r} cannot compute this convolution: {why}")
        return "native"
    if not _enabled or torch.compiler.is_compiling():  # (dynamo: no guards on the decision dict)
        return "native"
    key = (x.shape, weight.shape, stride, pads, dilation, groups, x.dtype, x.device)
    route = _decisions.get(key)
    if route == "native":
        return route
    if not _plain(x, weight):
        return "native"
    if route is None:
        if len(_decisions) > 4096:  # many distinct shapes (e.g. variable lengths): start over
            _decisions.clear()
        if _why_not("pad_all", x, weight, bias, stride, pads, dilation, groups) is not None:
            _decisions[key] = "native"  # let PyTorch report (or handle) the unusual arguments
            return "native"
        route, candidates = _rule(x, weight, stride, pads, dilation, groups)
        if _autotune and len(candidates) > 1 and _macs(x, weight, stride, pads, dilation) >= AUTOTUNE_MIN_MACS:
            xx, ww = x.detach(), weight.detach()
            bb = bias.detach() if bias is not None else None
            route = _autotuned(
                _cache_key("conv", x, weight, stride, pads, dilation, groups),
                route,
                candidates,
                lambda r: lambda: _RUN[r](xx, ww, bb, stride, pads, dilation, groups),
            )
        _decisions[key] = route
    return route


def conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride, pads: Pads, dilation, groups: int) -> Tensor:
    """A zero-padded convolution (padding ``pads``: one ``(lo, hi)`` per axis) by the chosen route."""
    global last_route
    key = None
    if _forced is None and _enabled and not torch.compiler.is_compiling():
        # the hot path: a shape already decided native (or a pure-view fold, or taps) costs one
        # dict lookup and the route's call
        key = (x.shape, weight.shape, stride, pads, dilation, groups, x.dtype, x.device)
        plan = _plans.get(key)
        if plan is not None:
            kind, fn, s, p, d, extra = plan
            if kind == "native":
                last_route = kind
                if extra is not None:
                    x = torch.constant_pad_nd(x, extra)
                return fn(x, weight, bias, s, p, d, groups)
            if _plain(x, weight):  # (else: the route is native, below)
                last_route = kind
                if kind == "fold":
                    return fn(x.view(extra[0]), weight.unsqueeze(-1), bias, s, p, d, groups).reshape(extra[1])
                return _taps_call(x, weight, bias, s, p, d, *extra)
    route = route_for(x, weight, bias, stride, pads, dilation, groups)
    last_route = route
    if key is not None and route in ("native", "fold", "taps") and _decisions.get(key) == route:
        plan = _call_plan(route, x, weight, stride, pads, dilation)
        if plan is not None:
            if len(_plans) >= 4096:
                _plans.clear()
            _plans[key] = plan
    return _RUN[route](x, weight, bias, stride, pads, dilation, groups)


def _call_plan(route: str, x: Tensor, weight: Tensor, stride, pads: Pads, dilation) -> tuple | None:
    """The hot path's plan for a decided shape: ``(route, function, stride, padding, dilation,
    extra)``. ``native``: PyTorch's call (``extra``: the F.pad list or None). ``fold`` where it
    is a pure view (no padding copy, no crop, symmetric outer paddings): the call on
    ``x.view(extra[0])`` with the kernel unsqueezed, the output viewed as ``extra[1]`` -- what
    :func:`_fold` computes, without its ~10 us of Python per call (measured on 0.1 ms 1-d
    calls). ``taps``: its spans and output length (``extra``), saving ~8 us. Else None."""
    nd = len(pads)
    if route == "native":
        padding, flat = _native_padding(pads)
        return ("native", _CONV[nd], _arg(stride), _arg(padding), _arg(dilation), flat)
    if route == "taps":
        return (
            "taps",
            None,
            tuple(stride),
            tuple(pads),
            tuple(dilation),
            _taps_plan(x, weight, stride, pads, dilation),
        )
    lo, hi = pads[-1]
    f = _fold_factor(x.shape[-1], dilation[-1], lo, hi)
    pre, s, padding, d, crop = _fold_call(x.shape[2:], stride, pads, dilation, f)
    if crop or any(p for pair in pre for p in pair) or nd + 1 not in _CONV:
        return None
    out = _out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    view = ((*x.shape[:-1], x.shape[-1] // f, f), (x.shape[0], weight.shape[0], *out))
    return ("fold", _CONV[nd + 1], s, padding, d, view)


def _arg(values: Sequence[int]) -> int | tuple[int, ...]:
    """One int where every axis has the same value: PyTorch parses an int argument faster than a
    tuple (0.9 us per call measured on a 2-d call)."""
    return values[0] if len(set(values)) == 1 else tuple(values)


_native_pads: dict[Pads, tuple[tuple[int, ...], list[int] | None]] = {}


def _native_padding(pads: Pads) -> tuple[tuple[int, ...], list[int] | None]:
    """How PyTorch's call takes ``pads``: ``(padding, None)`` where every axis is symmetric,
    else ``(zeros, F.pad's list)`` (cached: the hot path of the native route)."""
    plan = _native_pads.get(pads)
    if plan is None:
        if all(lo == hi for lo, hi in pads):
            plan = (tuple(lo for lo, _ in pads), None)
        else:
            plan = ((0,) * len(pads), _flat_pad(pads))
        if len(_native_pads) < 4096:
            _native_pads[pads] = plan
    return plan


# --------------------------------------------------------------------------- transposed


def _run_subpixel(x, weight, bias, stride, pads, dilation, groups, output_padding, out_sizes):
    """Transposed convolution as one ordinary convolution per output phase (dilation 1).

    Per axis, output ``y = s*i + a`` receives input ``j`` through tap ``t`` when ``j*s - lo + t =
    y``: the taps ``t = s*m + r`` with ``r = (a + lo) % s`` and ``j = i + c - m`` with
    ``c = (a + lo) // s``, a correlation with the flipped taps ``w[r::s]`` and padding
    ``M - 1 - c`` on the low side.
    """
    nd = len(pads)
    n, cin = x.shape[:2]
    cout = weight.shape[1] * groups
    y = (
        x.new_zeros((n, cout, *out_sizes))
        if bias is None
        else bias.reshape(1, cout, *([1] * nd)).expand(n, cout, *out_sizes).clone()
    )
    axes = []
    for (lo, _), s, k, o, size in zip(pads, stride, weight.shape[2:], out_sizes, x.shape[2:]):
        phases = []
        for a in range(min(s, o)):
            r, c = (a + lo) % s, (a + lo) // s
            m = len(range(r, k, s))
            count = -(-(o - a) // s)
            phases.append((a, r, c, m, count, size))
        axes.append(phases)
    for combo in product(*axes):
        if any(m == 0 or count <= 0 for _, _, _, m, count, _ in combo):
            continue  # no tap reaches this phase: zeros (or the bias)
        index = tuple(slice(r, None, s) for (_, r, _, _, _, _), s in zip(combo, stride))
        w = weight[(slice(None), slice(None), *index)]  # (cin, cout/g, m...)
        w = w.reshape(groups, cin // groups, *w.shape[1:]).transpose(1, 2)
        w = w.reshape(cout, cin // groups, *w.shape[3:]).flip(list(range(2, 2 + nd)))
        pad = [(m - 1 - c, count - 1 + c - (size - 1)) for _, _, c, m, count, size in combo]
        src = F.pad(x, _flat_pad(pad)) if any(lo or hi for lo, hi in pad) else x
        part = _CONV[nd](src, w, None, 1, 0, 1, groups)
        y[(slice(None), slice(None), *(slice(a, None, s) for (a, *_), s in zip(combo, stride)))] += part
    return y


def _why_not_t(route: str, x: Tensor, weight: Tensor, stride, dilation) -> str | None:
    if route == "native":
        return None
    if route == "subpixel":
        if any(d != 1 for d in dilation):
            return "the sub-pixel form needs dilation 1"
        return None
    return f"unknown transposed route {route!r}"


def conv_transpose(
    x: Tensor, weight: Tensor, bias: Tensor | None, spec, groups: int, native: Callable[[], Tensor],
    out_sizes: Callable[[], Sequence[int]],
) -> Tensor:  # fmt: skip
    """A transposed convolution (resolved ``spec``) by the chosen route; ``native()`` runs
    PyTorch's own call and ``out_sizes()`` gives the output's spatial sizes."""
    global last_route
    plan_key = (id(spec), groups, x.shape, weight.shape, x.dtype, x.device)
    plan = _native_plans_t.get(plan_key)
    if plan is not None and plan[0] is spec and _forced is None and _enabled and not torch.compiler.is_compiling():
        # the hot path: a shape decided native with symmetric padding is PyTorch's call
        last_route = "native"
        _, fn, s, p, op, d = plan
        return fn(x, weight, bias, s, p, op, groups, d)
    route = "native"
    if _forced is not None and _forced in ROUTES_T:
        why = _why_not_t(_forced, x, weight, spec.stride, spec.dilation)
        if why is None:
            route = _forced
        elif _forced_strict:
            raise ValueError(f"forced route {_forced!r} cannot compute this transposed convolution: {why}")
    elif _enabled and _autotune and _plain(x, weight) and x.dtype == torch.float32:
        key = ("T", x.shape, weight.shape, spec, groups)
        route = _decisions.get(key)  # type: ignore[assignment]
        if route is None:
            route = "native"  # the rule: the sub-pixel form is never the default (BENCHMARKS.md)
            if (
                x.dim() == 4
                and any(s > 1 for s in spec.stride)
                and all(d == 1 for d in spec.dilation)
                and x.shape[1] >= SUBPIXEL_MIN_CHANNELS
                and x.shape[2] * x.shape[3] >= SUBPIXEL_MIN_PIXELS
                and (bias is None or bias.dtype == x.dtype)
                and weight.dtype == x.dtype
            ):
                xx, ww = x.detach(), weight.detach()
                bb = bias.detach() if bias is not None else None
                sizes = tuple(out_sizes())
                runs = {
                    "native": native,
                    "subpixel": lambda: _run_subpixel(
                        xx, ww, bb, spec.stride, spec.pads, spec.dilation, groups, spec.output_padding, sizes
                    ),
                }
                ckey = _cache_key(
                    "convT", x, weight, spec.stride, spec.pads, spec.dilation, groups, spec.output_padding
                )
                route = _autotuned(ckey, "native", ("native", "subpixel"), lambda r: runs[r])
            if len(_decisions) > 4096:
                _decisions.clear()
            _decisions[key] = route
    if (
        route == "native"
        and _forced is None
        and _enabled
        and _plain(x, weight)
        and all(lo == hi for lo, hi in spec.pads)
    ):
        if len(_native_plans_t) >= 4096:
            _native_plans_t.clear()
        padding = tuple(lo for lo, _ in spec.pads)
        _native_plans_t[plan_key] = (
            spec, _CONV_T[x.dim() - 2], _arg(spec.stride), _arg(padding), _arg(spec.output_padding),
            _arg(spec.dilation),
        )  # fmt: skip
    last_route = route
    if route == "subpixel":
        return _run_subpixel(
            x, weight, bias, spec.stride, spec.pads, spec.dilation, groups, spec.output_padding, tuple(out_sizes())
        )
    return native()
