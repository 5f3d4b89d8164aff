"""Autograd brute force for the zoo: which input positions an output position depends on.

The model runs in float64 with every parameter set to a positive random value; the gradient
of a random positive combination of the output's entries at one spatial position (every
channel, every non-spatial index) is taken for several random positive inputs, and the input
positions with a nonzero gradient in any of them form the brute-force support. With
``frozen=True`` the library's normalisation functions compute their statistics detached, so
the gradient flows only through the normalised values: the "statistics frozen" oracle.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from atrous.analysis import Global
from atrous.analysis.report import Node


def positive(model: nn.Module, seed: int = 0) -> nn.Module:
    """The model in float64 with every parameter positive (in place): uniform in [0.2, 1.0],
    divided by the fan-in for weight matrices and kernels so that activations stay of order
    one (saturated tanh / sigmoid units would give exact zeros in autograd)."""
    model = model.double()
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    # weight norm's magnitude g: ||w|| = g, so g ~ 1/sqrt(fan-in) keeps w's entries ~ 1/fan-in
    siblings = {"weight_g": "weight_v", "original0": "original1"}
    with torch.no_grad():
        for name, p in params.items():
            value = torch.rand(p.shape, generator=g, dtype=p.dtype) * 0.8 + 0.2
            stem, _, leaf = name.rpartition(".")
            if leaf in siblings and f"{stem}.{siblings[leaf]}" in params:
                value /= params[f"{stem}.{siblings[leaf]}"][0].numel() ** 0.5
            elif p.dim() >= 2:
                value /= p[0].numel()
            p.copy_(value)
    return model


def first_tensor(out: Any, key: str | None = None) -> torch.Tensor:
    if key is not None:
        return out[key]
    if hasattr(out, "to_tuple"):  # a transformers ModelOutput: its first non-scalar tensor
        out = [v for v in out.to_tuple() if isinstance(v, torch.Tensor) and v.dim() > 1] or out.to_tuple()
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        return next(v for v in out.values() if isinstance(v, torch.Tensor))
    return next(v for v in out if isinstance(v, torch.Tensor))


class FrozenStatistics(TorchFunctionMode):
    """Normalisation with its mean and variance detached."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is F.group_norm:
            x, groups = args[0], args[1]
            w = kwargs.get("weight", args[2] if len(args) > 2 else None)
            b = kwargs.get("bias", args[3] if len(args) > 3 else None)
            eps = kwargs.get("eps", args[4] if len(args) > 4 else 1e-5)
            n, c = x.shape[:2]
            xg = x.reshape(n, groups, -1)
            mean = xg.mean(-1, keepdim=True).detach()
            var = xg.var(-1, unbiased=False, keepdim=True).detach()
            y = ((xg - mean) / torch.sqrt(var + eps)).reshape(x.shape)
            shape = (1, c) + (1,) * (x.dim() - 2)
            if w is not None:
                y = y * w.reshape(shape)
            if b is not None:
                y = y + b.reshape(shape)
            return y
        if func is F.instance_norm:
            x = args[0]
            w, b = kwargs.get("weight"), kwargs.get("bias")
            dims = tuple(range(2, x.dim()))
            mean = x.mean(dims, keepdim=True).detach()
            var = x.var(dims, unbiased=False, keepdim=True).detach()
            y = (x - mean) / torch.sqrt(var + kwargs.get("eps", 1e-5))
            shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
            if w is not None:
                y = y * w.reshape(shape) + b.reshape(shape)
            return y
        if func is F.batch_norm and (kwargs.get("training", args[5] if len(args) > 5 else False) or args[1] is None):
            x = args[0]
            w = kwargs.get("weight", args[3] if len(args) > 3 else None)
            b = kwargs.get("bias", args[4] if len(args) > 4 else None)
            eps = kwargs.get("eps", args[7] if len(args) > 7 else 1e-5)
            dims = (0, *range(2, x.dim()))
            mean = x.mean(dims, keepdim=True).detach()
            var = x.var(dims, unbiased=False, keepdim=True).detach()
            y = (x - mean) / torch.sqrt(var + eps)
            shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
            if w is not None:
                y = y * w.reshape(shape)
            if b is not None:
                y = y + b.reshape(shape)
            return y
        if func is F.layer_norm:
            x, shape = args[0], args[1]
            w = kwargs.get("weight", args[2] if len(args) > 2 else None)
            b = kwargs.get("bias", args[3] if len(args) > 3 else None)
            eps = kwargs.get("eps", args[4] if len(args) > 4 else 1e-5)
            dims = tuple(range(x.dim() - len(shape), x.dim()))
            mean = x.mean(dims, keepdim=True).detach()
            var = x.var(dims, unbiased=False, keepdim=True).detach()
            y = (x - mean) / torch.sqrt(var + eps)
            if w is not None:
                y = y * w
            if b is not None:
                y = y + b
            return y
        return func(*args, **kwargs)


def _indices(layout: Any, shape: tuple[int, ...], position: dict[int, int]) -> tuple[Any, ...]:
    """For each tensor dimension, the indices whose spatial digits match ``position``."""
    out = []
    for d, n in zip(layout, shape, strict=True):
        keep = []
        for i in range(n):
            rest, ok = i, True
            digits = []
            for f in reversed(d):
                digits.append((f, rest % f.size))
                rest //= f.size
            for f, digit in digits:
                if f.kind == "s" and f.axis in position and (position[f.axis] // f.stride) % f.size != digit:
                    ok = False
            if ok:
                keep.append(i)
        out.append(torch.tensor(keep))
    return tuple(out)


def brute_support(
    model: nn.Module,
    input_shape: tuple[int, ...],
    node: Node,
    position: dict[int, int],
    *,
    pick: Any = None,
    frozen: bool = False,
    samples: int = 2,
    input_layout: str | None = None,
) -> set[tuple[int, ...]]:
    """Input positions (spatial multi-indices) that the node's entries at ``position`` (axis
    -> index) depend on, by autograd. ``pick(model, x)`` returns the node's tensor."""
    from atrous.analysis.layout import parse_layout

    letters = parse_layout(input_layout, len(input_shape))
    other = tuple(i for i, ch in enumerate(letters) if ch in "NC")
    g = torch.Generator().manual_seed(1)
    found: set[tuple[int, ...]] = set()
    for s in range(samples):
        x = (torch.rand((1, *input_shape[1:]), generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
        if frozen:
            with FrozenStatistics():
                y = pick(model, x)
        else:
            y = pick(model, x)
        assert tuple(y.shape) == tuple(node.shape), (y.shape, node.shape)
        idx = _indices(node.layout, tuple(y.shape), position)
        sel = y[torch.meshgrid(*idx, indexing="ij")]
        w = torch.rand(sel.shape, generator=torch.Generator().manual_seed(100 + s), dtype=torch.float64) + 0.5
        (grad,) = torch.autograd.grad((sel * w).sum(), x)
        mag = grad.abs().sum(dim=other) if other else grad.abs()
        found |= {tuple(int(v) for v in p) for p in torch.nonzero(mag)}
    return found


def expected_support(fields: list[Any], position: dict[int, int], sizes: tuple[int, ...]) -> set[tuple[int, ...]]:
    per_axis = []
    for a, f in enumerate(fields):
        if isinstance(f, Global):
            runs = f.runs if f.runs is not None else ((0, sizes[a] - 1),)
            per_axis.append([p for lo, hi in runs for p in range(lo, hi + 1)])
        else:
            per_axis.append(list(f.support(position[a])))
    return set(itertools.product(*per_axis))
