"""``subpixel``: a transposed convolution as one ordinary convolution per output phase.

Per axis, output ``y = s*i + a`` receives input ``j`` through tap ``t`` when ``j*s - lo + t =
y``: the taps ``t = s*m + r`` with ``r = (a + lo) % s`` and ``j = i + c - m`` with
``c = (a + lo) // s``, a correlation with the flipped taps ``w[r::s]`` and padding
``M - 1 - c`` on the low side (dilation 1). The phases are interleaved into the output.
"""

from __future__ import annotations

from itertools import product

import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import CONV, Ints, Pads, flat_pad, out_sizes_t

__all__ = ["run", "why_not"]


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, output_padding: Ints,
    groups: int,
) -> Tensor:  # fmt: skip
    out_sizes = out_sizes_t(x.shape[2:], weight.shape[2:], stride, pads, dilation, output_padding)
    nd = len(pads)
    n, cin = x.shape[:2]
    cout = weight.shape[1] * groups
    y = (
        x.new_zeros((n, cout, *out_sizes))
        if bias is None
        else bias.reshape(1, cout, *([1] * nd)).expand(n, cout, *out_sizes).clone()
    )
    axes = []
    for (lo, _), s, k, o, size in zip(pads, stride, weight.shape[2:], out_sizes, x.shape[2:], strict=True):
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
        index = tuple(slice(r, None, s) for (_, r, _, _, _, _), s in zip(combo, stride, strict=True))
        taps = (slice(None), slice(None), *index)
        w = weight[taps]  # (cin, cout/g, m...)
        w = w.reshape(groups, cin // groups, *w.shape[1:]).transpose(1, 2)
        w = w.reshape(cout, cin // groups, *w.shape[3:]).flip(list(range(2, 2 + nd)))
        pad = [(m - 1 - c, count - 1 + c - (size - 1)) for _, _, c, m, count, size in combo]
        src = F.pad(x, flat_pad(pad)) if any(lo or hi for lo, hi in pad) else x
        part = CONV[nd](src, w, None, 1, 0, 1, groups)
        phase = (slice(None), slice(None), *(slice(a, None, s) for (a, *_), s in zip(combo, stride, strict=True)))
        y[phase] += part
    return y


def why_not(x: Tensor, weight: Tensor, stride: Ints, dilation: Ints) -> str | None:
    if any(d != 1 for d in dilation):
        return "the sub-pixel form needs dilation 1"
    return None
