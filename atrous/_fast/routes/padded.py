"""``pad_w`` and ``pad_all``: a padding copy first, then PyTorch's call with less padding.

``pad_w`` pads the last (W) axis and calls PyTorch with W-padding 0: oneDNN's direct kernels
slow down (dense) or fall back to im2col + GEMM (depthwise) when the left padding along W is
large. ``pad_all`` pads every axis and calls with padding 0.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import CONV, Ints, Pads, flat_pad

__all__ = ["run_pad_all", "run_pad_w", "why_not_pad_w"]


def run_pad_w(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    nd = len(pads)
    pre = [(lo, hi) if (i == nd - 1 or lo != hi) else (0, 0) for i, (lo, hi) in enumerate(pads)]
    keep = tuple(0 if (i == nd - 1 or lo != hi) else lo for i, (lo, hi) in enumerate(pads))
    return CONV[nd](F.pad(x, flat_pad(pre)), weight, bias, stride, keep, dilation, groups)


def why_not_pad_w(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    return None if any(pads[-1]) else "no padding along the last axis"


def run_pad_all(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    if any(lo or hi for lo, hi in pads):
        x = F.pad(x, flat_pad(pads))
    return CONV[len(pads)](x, weight, bias, stride, 0, dilation, groups)
