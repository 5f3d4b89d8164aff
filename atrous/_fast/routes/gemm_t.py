"""``gemm`` (transposed, 1-d): one matrix product and ``k`` overlap-adds.

Output ``z = j*s - lo + t*d`` receives input ``j`` through tap ``t``. The products of every
input with every tap are one GEMM, ``P = W^T x`` with ``W`` viewed as ``(C_in, C_out * k)``
(per group); tap ``t``'s row of ``P`` is added into the full output at ``t*d, t*d + s, ...``;
the padding is then cropped and the output padding appended. The same function as PyTorch's
call (float32 rounding aside): on short inputs with large kernels PyTorch's CPU kernel costs
tens of times the arithmetic (it repacks the whole weight on every call), while this costs
one GEMM.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atrous._fast.calls import Ints, Pads, out_sizes_t

__all__ = ["run", "why_not"]


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, output_padding: Ints,
    groups: int,
) -> Tensor:  # fmt: skip
    (o,) = out_sizes_t(x.shape[2:], weight.shape[2:], stride, pads, dilation, output_padding)
    (s,), (d,), ((lo, _),) = stride, dilation, pads
    n, cin, T = x.shape
    cout_g, k = weight.shape[1], weight.shape[2]
    cin_g = cin // groups
    # P[b, g, j, (co, t)] = sum_ci x[b, g*cin_g + ci, j] w[g*cin_g + ci, co, t]: the weight is
    # read in its own layout (a transposed view of it would be copied on every call)
    xt = x.reshape(n, groups, cin_g, T).transpose(2, 3)  # (n, g, T, cin_g)
    p = torch.matmul(xt, weight.reshape(groups, cin_g, cout_g * k))  # (n, g, T, cout_g*k)
    p = p.reshape(n, groups, T, cout_g, k).permute(0, 1, 3, 4, 2).reshape(n, groups * cout_g, k, T)
    (full,) = out_sizes_t((T,), (k,), stride, ((0, 0),), dilation, (0,))  # the uncropped output
    length = max(full, lo + o)  # the output padding reaches past the full output
    y = x.new_zeros((n, groups * cout_g, length))
    for t in range(k):  # tap t of input j lands on output j*s + t*d
        y[:, :, t * d :: s].narrow(2, 0, T).add_(p[:, :, t, :])
    y = y.narrow(2, lo, o)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1)
    return y


def why_not(x: Tensor, weight: Tensor, stride: Ints, dilation: Ints) -> str | None:
    if x.dim() != 3:
        return "the gemm route is 1-d"
    return None
