"""Sampling for autoregressive generation: logits ``(B, C_out)`` -> next input ``(B, C_in)``.

The default of :meth:`atrous.stream.Streamer.generate` picks by the model's widths:

- ``C_in == C_out`` (a WaveNet fed the one-hot of its previous sample, e.g. 256 mu-law
  classes): :func:`argmax_one_hot`, the one-hot of the most likely class;
- ``C_in == 1`` (a WaveNet fed the waveform itself): :func:`argmax_mu_law`, the most likely
  class decoded to ``[-1, 1]`` with mu-law, ``mu = C_out - 1``.

:func:`categorical` makes a random sampler (reproducible with a ``torch.Generator``).

Examples:
    >>> import torch
    >>> argmax_one_hot(torch.tensor([[0.1, 2.0, -1.0]]))
    tensor([[0., 1., 0.]])
    >>> q = mu_law_encode(torch.tensor([-1.0, 0.0, 1.0]), 256)
    >>> q
    tensor([  0, 128, 255])
    >>> mu_law_decode(q, 256).round(decimals=3)
    tensor([-1.,  0.,  1.])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["argmax_mu_law", "argmax_one_hot", "categorical", "mu_law_decode", "mu_law_encode"]


def mu_law_encode(x: Tensor, quantization: int = 256) -> Tensor:
    """Class index ``0 .. quantization-1`` of samples ``x`` in ``[-1, 1]`` (mu-law companding)."""
    mu = quantization - 1
    y = torch.sign(x) * torch.log1p(mu * x.abs().clamp(max=1.0)) / torch.log1p(torch.tensor(float(mu)))
    return ((y + 1) / 2 * mu + 0.5).floor().clamp(0, mu).long()


def mu_law_decode(q: Tensor, quantization: int = 256) -> Tensor:
    """Samples in ``[-1, 1]`` of class indices ``q`` (the inverse of :func:`mu_law_encode`, up to
    the quantization step)."""
    mu = quantization - 1
    y = 2 * q.double() / mu - 1
    x = torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu
    return x.float() if q.dtype in (torch.int64, torch.int32) else x.to(q.dtype)


def argmax_one_hot(logits: Tensor) -> Tensor:
    """The one-hot ``(B, C)`` of the most likely class of each stream."""
    out = torch.zeros_like(logits)
    return out.scatter_(1, logits.argmax(1, keepdim=True), 1.0)


def argmax_mu_law(logits: Tensor) -> Tensor:
    """The most likely class of each stream decoded to a sample in ``[-1, 1]``: ``(B, 1)``."""
    return mu_law_decode(logits.argmax(1, keepdim=True), logits.shape[1]).to(logits.dtype)


def categorical(
    temperature: float = 1.0, generator: torch.Generator | None = None, one_hot: bool = True
) -> Callable[[Tensor], Tensor]:
    """A sampler that draws a class from ``softmax(logits / temperature)``.

    Args:
        temperature: > 0; small values approach the argmax.
        generator: a ``torch.Generator`` for reproducible draws.
        one_hot: return the one-hot ``(B, C)`` (else the mu-law decoded sample ``(B, 1)``).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")

    def sample(logits: Tensor) -> Tensor:
        p = torch.softmax(logits.double() / temperature, 1)
        idx = torch.multinomial(p, 1, generator=generator)
        if one_hot:
            return torch.zeros_like(logits).scatter_(1, idx, 1.0)
        return mu_law_decode(idx, logits.shape[1]).to(logits.dtype)

    return sample
