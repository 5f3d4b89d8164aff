"""``dw_direct``: depthwise convolution by the small C kernel (:mod:`atrous._fast.ckernel`).

Its cost does not depend on the dilation; forward, input gradient and weight gradient. For 3x3
kernels it is faster than oneDNN's depthwise call at every measured shape, dilated or not.
Without a compiler the route runs ``pad_w`` instead.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from atrous._fast import ckernel
from atrous._fast.calls import Ints, Pads, out_sizes
from atrous._fast.routes.backward import needs_grad, padded_native_backward
from atrous._fast.routes.padded import run_pad_w

__all__ = ["is_depthwise", "run", "why_not"]


def is_depthwise(x: Tensor, weight: Tensor, groups: int) -> bool:
    return groups > 1 and groups == x.shape[1] == weight.shape[0] and weight.shape[1] == 1


def _kernel_args(
    nd: int, sizes: Sequence[int], out: Sequence[int], k: Sequence[int], dilation: Sequence[int], lo: Sequence[int]
) -> list[int]:
    def pad3(v: Sequence[int], fill: int) -> tuple[int, ...]:
        return (fill,) * (3 - nd) + tuple(v)

    return [*pad3(sizes, 1), *pad3(out, 1), *pad3(k, 1), *pad3(dilation, 1), *pad3(lo, 0)]


def _forward(
    lib: ctypes.CDLL, x: Tensor, weight: Tensor, bias: Tensor | None, lo: Sequence[int], out_sizes: Sequence[int],
    dilation: Sequence[int],
) -> Tensor:  # fmt: skip
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


def _weight_grad(
    lib: ctypes.CDLL, x: Tensor, gy: Tensor, weight_shape: Sequence[int], lo: Sequence[int], dilation: Sequence[int]
) -> Tensor:
    nd = x.dim() - 2
    n, c = x.shape[:2]
    x = x.contiguous()
    gy = gy.contiguous()
    gw = x.new_empty(tuple(weight_shape))
    fn = lib.dw_gw_f32 if x.dtype == torch.float32 else lib.dw_gw_f64
    err = fn(
        x.data_ptr(), gy.data_ptr(), gw.data_ptr(), n, c,
        *_kernel_args(nd, x.shape[2:], gy.shape[2:], weight_shape[2:], dilation, lo), torch.get_num_threads(),
    )  # fmt: skip
    if err:
        raise MemoryError("atrous depthwise kernel: out of memory for its row buffers")
    return gw


def _library() -> ctypes.CDLL:
    lib = ckernel.load()
    if lib is None:  # (load() succeeded when the call was dispatched: it is remembered)
        raise RuntimeError("atrous: the depthwise C kernel is unavailable")
    return lib


class _DWConv(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, pads: Pads, dilation: Ints, out_sizes: Ints
    ) -> Tensor:
        lib = _library()
        ctx.pads, ctx.dilation = pads, dilation
        ctx.stride, ctx.padding, ctx.groups = (1,) * len(pads), None, x.shape[1]
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        return _forward(lib, x, weight, bias, [lo for lo, _ in pads], out_sizes, dilation)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        nd = x.dim() - 2
        if torch.is_grad_enabled():  # double backward: PyTorch's differentiable formulas
            return (*padded_native_backward(ctx, gy, x, weight), None, None, None)
        lib = _library()
        gx = gw = gb = None
        k = weight.shape[2:]
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(list(range(2, 2 + nd)))
            lo = [d * (kk - 1) - low for d, kk, (low, _) in zip(ctx.dilation, k, ctx.pads, strict=True)]
            gx = _forward(lib, gy, flipped, None, lo, x.shape[2:], ctx.dilation)
        if ctx.needs_input_grad[1]:
            gw = _weight_grad(lib, x, gy, weight.shape, [lo for lo, _ in ctx.pads], ctx.dilation)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum([0, *range(2, 2 + nd)])
        return gx, gw, gb, None, None, None


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    lib = ckernel.load()
    if lib is None:  # no compiler: the padded oneDNN route is the next best
        return run_pad_w(x, weight, bias, stride, pads, dilation, groups)
    out = out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    dilation = tuple(dilation)
    if not needs_grad(x, weight, bias):
        return _forward(lib, x, weight, bias, [lo for lo, _ in pads], out, dilation)
    result: Tensor = _DWConv.apply(x, weight, bias, tuple(pads), dilation, out)  # type: ignore[no-untyped-call]
    return result


def why_not(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    if any(s != 1 for s in stride) or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return "the depthwise kernel needs stride 1 and float32/float64 CPU tensors"
    if not is_depthwise(x, weight, groups):
        return "not a depthwise convolution (groups == in == out channels)"
    return None
