"""``onednn``: the oneDNN op (``aten.mkldnn_convolution``) called directly, with a oneDNN backward.

For small inputs that PyTorch's backend rule sends to its slow reference kernels
(``slow_conv3d``, ``slow_conv_dilated3d``). Its backward is oneDNN too (input gradient: the
convolution of the output gradient with the flipped kernel; weight gradient: a convolution of
space-to-depth rearranged input and output gradient), since autograd's own backward of that op
goes back to the slow kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import Ints, Pads, flat_pad
from atrous._fast.routes.backward import native_backward, needs_grad

__all__ = ["mkldnn_ok", "run", "slow_backend", "why_not"]

_MKL_DTYPES = (torch.float32, torch.bfloat16)
_SLOW_BACKENDS = ("Slow3d", "SlowDilated3d")


def mkldnn_ok() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)  # type: ignore[no-untyped-call]


def slow_backend(x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints, groups: int) -> bool:
    """Whether PyTorch would run this call with its slow reference kernels."""
    try:
        backend = torch._C._select_conv_backend(  # type: ignore[attr-defined]
            x, weight, None, list(stride), [lo if lo == hi else 0 for lo, hi in pads], list(dilation), False,
            [0] * len(pads), groups, None,
        )  # fmt: skip
    except (AttributeError, RuntimeError, TypeError):
        return False
    return str(backend).rsplit(".", 1)[-1] in _SLOW_BACKENDS


def _raw_conv(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding: Sequence[int], stride: Sequence[int],
    dilation: Sequence[int], groups: int,
) -> Tensor:  # fmt: skip
    """The oneDNN convolution (float32 / bfloat16 on CPU); PyTorch's generic one otherwise (for
    float64 gradchecks of the backward formulas)."""
    if x.dtype in _MKL_DTYPES and x.device.type == "cpu" and mkldnn_ok():
        out: Tensor = torch.ops.aten.mkldnn_convolution(
            x.contiguous(), weight.contiguous(), bias, list(padding), list(stride), list(dilation), groups
        )
        return out
    nd = x.dim() - 2
    return torch.convolution(x, weight, bias, list(stride), list(padding), list(dilation), False, [0] * nd, groups)


def _weight_grad(
    x: Tensor, gy: Tensor, weight_shape: Sequence[int], padding: Sequence[int], dilation: Sequence[int], groups: int
) -> Tensor:
    """``gw[o, i, t] = sum_{n, pos} gy[n, o, pos] * xpad[n, i, pos + t*d]`` (stride 1) as one
    oneDNN convolution per group: space-to-depth by ``d`` turns the dilated taps into adjacent
    ones (batch = input channels, channels = batch x phases, kernel = output gradient)."""
    nd = x.dim() - 2
    n, cin = x.shape[:2]
    cout = gy.shape[1]
    k = weight_shape[2:]
    out = gy.shape[2:]
    q = [-(-o // d) for o, d in zip(out, dilation, strict=True)]  # output blocks per axis
    xpad = F.pad(
        x,
        flat_pad(
            [
                (p, d * (qq + kk - 1) - s - p)
                for p, d, qq, kk, s in zip(padding, dilation, q, k, x.shape[2:], strict=True)
            ]
        ),
    )
    gpad = F.pad(gy, flat_pad([(0, d * qq - o) for d, qq, o in zip(dilation, q, out, strict=True)]))

    def s2d(t: Tensor, blocks: Sequence[int]) -> Tensor:
        c = t.shape[1]
        shape = [n, c]
        for b, d in zip(blocks, dilation, strict=True):
            shape += [b, d]
        t = t.reshape(shape)
        perm = [1, 0, *[3 + 2 * i for i in range(nd)], *[2 + 2 * i for i in range(nd)]]
        return t.permute(perm).reshape(c, n * math.prod(dilation), *blocks)

    xs = s2d(xpad, [qq + kk - 1 for qq, kk in zip(q, k, strict=True)])
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
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, padding: Ints, dilation: Ints,
        groups: int,
    ) -> Tensor:  # fmt: skip
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        return _raw_conv(x, weight, bias, padding, stride, dilation, groups)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled() or any(s != 1 for s in ctx.stride):
            gx, gw, gb = native_backward(ctx, gy, x, weight, ctx.has_bias)
            return gx, gw, gb, None, None, None, None
        nd = x.dim() - 2
        gy = gy.contiguous()
        gx = gw = gb = None
        k = weight.shape[2:]
        if ctx.needs_input_grad[0]:
            g = ctx.groups
            wt = weight.reshape(g, weight.shape[0] // g, *weight.shape[1:]).transpose(1, 2)
            wt = wt.reshape(weight.shape[1] * g, weight.shape[0] // g, *k).flip(list(range(2, 2 + nd)))
            q = [d * (kk - 1) - p for d, kk, p in zip(ctx.dilation, k, ctx.padding, strict=True)]
            src = gy
            if any(v < 0 for v in q):  # padding wider than the kernel: crop instead
                src = F.pad(gy, flat_pad([(min(v, 0), min(v, 0)) for v in q]))
                q = [max(v, 0) for v in q]
            gx = _raw_conv(src, wt, None, q, [1] * nd, ctx.dilation, g)
        if ctx.needs_input_grad[1]:
            gw = _weight_grad(x, gy, weight.shape, ctx.padding, ctx.dilation, ctx.groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum([0, *range(2, 2 + nd)])
        return gx, gw, gb, None, None, None, None


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    if any(lo != hi for lo, hi in pads):
        x = F.pad(x, flat_pad([(lo, hi) if lo != hi else (0, 0) for lo, hi in pads]))
    padding = tuple(lo if lo == hi else 0 for lo, hi in pads)
    stride, dilation = tuple(stride), tuple(dilation)
    if not needs_grad(x, weight, bias):
        return _raw_conv(x, weight, bias, padding, stride, dilation, groups)
    out: Tensor = _OneDNNConv.apply(x, weight, bias, stride, padding, dilation, groups)  # type: ignore[no-untyped-call]
    return out


def why_not(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    if x.device.type != "cpu" or not mkldnn_ok():
        return "oneDNN is not available"
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        return "negative padding"
    return None
