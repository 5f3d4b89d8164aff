"""``fft``: 1-d, dense, very long kernels: overlap-save FFT cross-correlation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous._fast.calls import Ints, Pads

__all__ = ["good_size", "run", "why_not"]


def good_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (sizes pocketfft transforms fast).

    Examples:
        >>> [good_size(n) for n in (7, 11, 17, 1000)]
        [8, 12, 18, 1000]
    """
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


def run(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    """Overlap-save FFT cross-correlation (1-d, stride 1, groups 1)."""
    ((lo, hi),) = pads
    d = dilation[0]
    n, c, _ = x.shape
    o_ch, _, k = weight.shape
    span = d * (k - 1) + 1
    xp = F.pad(x, (lo, hi))
    lp = xp.shape[-1]
    out = lp - span + 1
    nfft = min(good_size(lp), good_size(max(4 * span, 2048)))
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
    y: Tensor = torch.fft.irfft(yf, n=nfft)[..., :step].reshape(n, o_ch, blocks * step)[..., :out].to(x.dtype)
    if bias is not None:
        y = y + bias[:, None]
    return y


def why_not(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    if len(pads) != 1 or any(s != 1 for s in stride) or groups != 1:
        return "fft needs a 1-d convolution with stride 1 and groups 1"
    if x.dtype not in (torch.float32, torch.float64):
        return "fft needs float32 or float64"
    return None
