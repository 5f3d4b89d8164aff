"""PyTorch's own backward formulas, shared by the routes' autograd Functions (their double
backward, and the onednn route's strided backward)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import flat_pad

__all__ = ["native_backward", "needs_grad", "padded_native_backward"]


def needs_grad(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether autograd records this call (an autograd Function is needed)."""
    return torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )


def native_backward(
    ctx: Any, gy: Tensor, x: Tensor, weight: Tensor, has_bias: bool
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """``aten.convolution_backward`` with the call's ``ctx.stride / padding / dilation / groups``."""
    nd = x.dim() - 2
    mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
    gx, gw, gb = torch.ops.aten.convolution_backward(
        gy, x, weight, [weight.shape[0]] if has_bias else None, list(ctx.stride), list(ctx.padding),
        list(ctx.dilation), False, [0] * nd, ctx.groups, mask,
    )  # fmt: skip
    return (gx if mask[0] else None), (gw if mask[1] else None), (gb if mask[2] else None)


def padded_native_backward(
    ctx: Any, gy: Tensor, x: Tensor, weight: Tensor
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """PyTorch's differentiable backward formulas (for double backward) on the input padded by
    ``ctx.pads``, the input gradient cropped back to the input."""
    ctx.padding = (0,) * (x.dim() - 2)
    gx, gw, gb = native_backward(ctx, gy, F.pad(x, flat_pad(ctx.pads)), weight, ctx.has_bias)
    if gx is not None:
        keep = (
            slice(None),
            slice(None),
            *(slice(lo, lo + s) for (lo, _), s in zip(ctx.pads, x.shape[2:], strict=True)),
        )
        gx = gx[keep]
    return gx, gw, gb
