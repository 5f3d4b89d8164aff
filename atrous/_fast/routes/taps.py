"""``taps``: 1-d, groups 1, one matrix product per tap over the outputs where it reads the input.

``y[:, span] += W_t @ x[:, span's inputs]`` for each tap ``t``, over the outputs where the tap
reads the input (:func:`atrous.geometry.tap_spans`): the padding is neither copied nor
multiplied. For small calls (0.03-0.3 ms) with a large padding, where PyTorch's call costs more
than the arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from atrous._fast.calls import Ints, Pads
from atrous._fast.routes import native
from atrous._fast.routes.backward import needs_grad, padded_native_backward
from atrous.geometry.field import TapSpan, tap_spans
from atrous.geometry.shape import axis_length
from atrous.geometry.spec import Axis

__all__ = ["call", "plan", "run", "why_not"]


def plan(x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints) -> tuple[tuple[TapSpan, ...], int]:
    """The spans of the taps that read the input at all, and the output length."""
    ((lo, hi),) = pads
    axis = Axis("conv", weight.shape[-1], stride[0], dilation[0], lo, hi)
    return tuple(t for t in tap_spans(axis, x.shape[-1]) if t.count), axis_length(axis, x.shape[-1])


def call(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints,
    spans: Sequence[TapSpan], out: int,
) -> Tensor:  # fmt: skip
    """The route with its plan (``spans``, ``out``) made already."""
    if weight.dtype != x.dtype or (bias is not None and (bias.dtype != x.dtype or bias.shape != (weight.shape[0],))):
        # (a call plan is keyed by the shapes of x and the weight only: PyTorch reports the rest)
        return native.run(x, weight, bias, stride, pads, dilation, 1)
    if not needs_grad(x, weight, bias):
        return _forward(x, weight.permute(2, 0, 1).contiguous(), bias, spans, out, stride[0])
    result: Tensor = _TapsConv.apply(x, weight, bias, stride, pads, dilation, spans, out)  # type: ignore[no-untyped-call]
    return result


def _cols(t: Tensor, start: int, count: int, step: int) -> Tensor:
    return t[..., start : start + step * (count - 1) + 1 : step]


def _acc(dst: Tensor, a: Tensor, b: Tensor) -> None:
    """``dst += a @ b`` in place (``dst``, ``b``: one matrix or a batch of them; ``a``: one)."""
    if dst.dim() == 2:
        dst.addmm_(a, b)
    else:
        dst.baddbmm_(a.expand(dst.shape[0], *a.shape), b)


def _forward(x: Tensor, wk: Tensor, bias: Tensor | None, spans: Sequence[TapSpan], out: int, s: int) -> Tensor:
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
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints,
        spans: Sequence[TapSpan], out: int,
    ) -> Tensor:  # fmt: skip
        ctx.stride, ctx.pads, ctx.dilation, ctx.groups = stride, pads, dilation, 1
        ctx.spans, ctx.has_bias = spans, bias is not None
        ctx.save_for_backward(x, weight)
        return _forward(x, weight.permute(2, 0, 1).contiguous(), bias, spans, out, stride[0])

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: PyTorch's differentiable formulas
            return (*padded_native_backward(ctx, gy, x, weight), None, None, None, None, None)
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


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    """1-d, groups 1: ``k`` matrix products, each over the outputs where its tap reads the input
    (a tap reading padding is skipped, not multiplied by zeros)."""
    stride, pads, dilation = tuple(stride), tuple(pads), tuple(dilation)
    return call(x, weight, bias, stride, pads, dilation, *plan(x, weight, stride, pads, dilation))


def why_not(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    if len(pads) != 1 or groups != 1:
        return "taps needs a 1-d convolution with groups 1"
    if not x.is_floating_point():
        return "taps needs a floating-point dtype"
    return None
