"""``native`` and ``channels_last``: PyTorch's own call, as given and on a channels-last copy.

``native`` passes symmetric padding to PyTorch and applies asymmetric padding with a padding
copy first; its transposed form crops instead (no padding in the call, enough
``output_padding`` for the high side). ``channels_last`` is the native call on a channels-last
copy, converted back (oneDNN's NHWC kernels handle a large padding differently; an autotune
candidate for big dense convolutions).
"""

from __future__ import annotations

import torch
from torch import Tensor

from atrous._fast.calls import CONV, CONV_T, Ints, Pads, native_padding, out_sizes_t, transposed_call

__all__ = ["run", "run_channels_last", "run_t", "why_not_channels_last"]


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    padding, flat = native_padding(pads)
    if flat is not None:
        x = torch.constant_pad_nd(x, flat)
    return CONV[len(pads)](x, weight, bias, stride, padding, dilation, groups)


def run_channels_last(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    return run(x.contiguous(memory_format=fmt), weight, bias, stride, pads, dilation, groups).contiguous()


def why_not_channels_last(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    return None if len(pads) in (2, 3) else "channels-last layouts exist for 2-d and 3-d only"


def run_t(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, output_padding: Ints,
    groups: int,
) -> Tensor:  # fmt: skip
    """PyTorch's transposed call; an asymmetric padding by cropping."""
    nd = len(pads)
    padding, extra, crop = transposed_call(pads, output_padding)
    if crop is None:
        return CONV_T[nd](x, weight, bias, stride, padding, output_padding, groups, dilation)
    out = out_sizes_t(x.shape[2:], weight.shape[2:], stride, pads, dilation, output_padding)
    full = CONV_T[nd](x, weight, bias, stride, 0, extra, groups, dilation)
    keep = (slice(None), slice(None), *(slice(lo, lo + o) for (lo, _), o in zip(pads, out, strict=True)))
    return full[keep]
