"""The fast plan: a causal one-rate graph as GEMM-sized nodes (see :mod:`atrous.stream.lower`).

==============  ===========================================================================
``input``       a graph input: ``x`` (B, C_in), WaveNet's local ``c`` and global ``g``
``conv``        a causal convolution with state: the last ``d*(k-1)`` inputs
``linear``      a 1x1 convolution (no state)
``act``         a layer that is pointwise in time (activation, softmax over channels, PReLU)
``affine``      eval-mode BatchNorm that could not be folded into the layer before it
``add``         residual / skip sums
``gate``        WaveNet's ``tanh(f) * sigmoid(s)``
``condproj``    WaveNet's conditioning terms ``V c_t`` / ``U g`` of one layer
==============  ===========================================================================

:func:`atrous.stream.lower.lower` makes a plan from the traced streaming graph; a BatchNorm
after a convolution is folded into it. Two executors run a plan: :mod:`atrous.stream.chunk`
(the real convolutions over ``[state | chunk]``, also the exported step function) and
:mod:`atrous.stream.fast` (one GEMM per layer per step over ring buffers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from atrous.errors import SpecError
from atrous.geometry import ConvSpec

__all__ = ["Node", "Plan", "Residual", "register", "register_pointwise", "registered_leaves", "simplify"]


# --------------------------------------------------------------------------------------------
# the graph


@dataclass(eq=False)
class Node:
    """One operation of a plan (see the module docstring for the kinds)."""

    kind: str
    inputs: list[int]
    channels: int
    path: str = ""
    weight: Tensor | None = None  # conv: (out, in/groups, k); linear: (out, in) dense
    bias: Tensor | None = None
    dilation: int = 1
    kernel: int = 1
    groups: int = 1
    act: str = ""  # act: the name in _ACTS (or "module" for a registered pointwise layer)
    params: dict[str, Any] = field(default_factory=dict)  # act parameters, affine scale/shift...
    nonneg: bool = False  # the value is known to be >= 0 (ReLU output, sums of such)
    name: str = ""  # input nodes: "x", "c" or "g"

    @property
    def context(self) -> int:
        """Past samples a conv reads besides the present one: ``d * (k - 1)``, its effective
        kernel (from the geometry core) less the present sample."""
        if self.kind != "conv":
            return 0
        return ConvSpec(self.kernel, dilation=self.dilation).effective_kernel_size[0] - 1


@dataclass
class Plan:
    """The simplified graph of a model, in topological order (inputs first)."""

    nodes: list[Node]
    output: int
    in_channels: int
    out_channels: int
    cond_channels: int = 0
    global_cond_channels: int = 0
    model_name: str = ""

    @property
    def inputs(self) -> dict[str, int]:
        return {n.name: i for i, n in enumerate(self.nodes) if n.kind == "input"}

    @property
    def convs(self) -> list[int]:
        """Node ids of the stateful causal convolutions, in order."""
        return [i for i, n in enumerate(self.nodes) if n.kind == "conv"]

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for i, n in enumerate(self.nodes):
            for j in n.inputs:
                out[j].append(i)
        return out

    @property
    def receptive_field(self) -> int:
        """Inputs that one output depends on: ``1 + `` the longest sum of ``d*(k-1)`` on a path."""
        ctx = [0] * len(self.nodes)
        for i, n in enumerate(self.nodes):
            ctx[i] = max((ctx[j] for j in n.inputs), default=0) + n.context
        return ctx[self.output] + 1

    def describe(self) -> str:
        """One line per node: kind, path, channels and (for convs) kernel, dilation, context."""
        lines = []
        for i, n in enumerate(self.nodes):
            extra = ""
            if n.kind == "conv":
                extra = f" k={n.kernel} d={n.dilation} state={n.context}"
            elif n.kind == "act":
                extra = f" {n.act}"
            src = ",".join(map(str, n.inputs))
            lines.append(f"%{i} = {n.kind}({src}) C={n.channels}{extra}  [{n.path or n.name}]")
        lines.append(f"output %{self.output}, receptive field {self.receptive_field}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# pointwise layers


@dataclass(frozen=True)
class _Act:
    """How one pointwise layer is applied: ``expr`` is TorchScript-able source with ``{x}``
    and ``{p}`` (the node's parameter prefix); ``inplace`` an in-place method or function."""

    expr: str
    inplace: str | None = None  # e.g. "{x}.relu_()"
    nonneg: bool = False


_ACTS: dict[str, _Act] = {
    "relu": _Act("torch.relu({x})", "{x}.relu_()", nonneg=True),
    "relu6": _Act("F.hardtanh({x}, 0.0, 6.0)", "F.hardtanh_({x}, 0.0, 6.0)", nonneg=True),
    "tanh": _Act("torch.tanh({x})", "{x}.tanh_()"),
    "sigmoid": _Act("torch.sigmoid({x})", "{x}.sigmoid_()", nonneg=True),
    "leaky_relu": _Act("F.leaky_relu({x}, {slope})", "F.leaky_relu_({x}, {slope})"),
    "elu": _Act("F.elu({x}, {alpha})", "F.elu_({x}, {alpha})"),
    "celu": _Act("F.celu({x}, {alpha})", "F.celu_({x}, {alpha})"),
    "selu": _Act("F.selu({x})", "F.selu_({x})"),
    "gelu": _Act("F.gelu({x}, approximate={approximate!r})"),
    "silu": _Act("F.silu({x})", "F.silu({x}, inplace=True)"),
    "mish": _Act("F.mish({x})", "F.mish({x}, inplace=True)"),
    "hardtanh": _Act("F.hardtanh({x}, {min_val}, {max_val})", "F.hardtanh_({x}, {min_val}, {max_val})"),
    "hardsigmoid": _Act("F.hardsigmoid({x})", "F.hardsigmoid({x}, inplace=True)", nonneg=True),
    "hardswish": _Act("F.hardswish({x})", "F.hardswish({x}, inplace=True)"),
    "softplus": _Act("F.softplus({x}, {beta}, {threshold})", nonneg=True),
    "softsign": _Act("F.softsign({x})"),
    "tanhshrink": _Act("F.tanhshrink({x})"),
    "logsigmoid": _Act("F.logsigmoid({x})"),
    "threshold": _Act("F.threshold({x}, {threshold}, {value})", "F.threshold_({x}, {threshold}, {value})"),
    "prelu": _Act("F.prelu({x}, {p}weight)"),
    "softmax": _Act("torch.softmax({x}, 1)", nonneg=True),
    "log_softmax": _Act("torch.log_softmax({x}, 1)"),
    "softmin": _Act("torch.softmax(-{x}, 1)", nonneg=True),
    "module": _Act("{p}module({x})"),  # a layer registered with register_pointwise
}


def act_source(node: Node, x: str, prefix: str, inplace: bool = False) -> str | None:
    """Source of the activation of ``node`` applied to the expression ``x`` (None when there is
    no in-place form and ``inplace`` was asked). ``prefix`` names the node's tensors."""
    spec = _ACTS[node.act]
    template = spec.inplace if inplace else spec.expr
    if template is None:
        return None
    scalars = {k: v for k, v in node.params.items() if not isinstance(v, (Tensor, nn.Module))}
    return template.format(x=x, p=prefix, **scalars)


# --------------------------------------------------------------------------------------------
# registered layers


_POINTWISE_REGISTRY: set[type] = set()
_REGISTRY: dict[type, Any] = {}


def register(cls: type, spec: Any) -> None:
    """Teach :func:`atrous.stream.stream` a layer type that computes along time in a way of its
    own: ``spec`` (a :class:`~atrous.ConvSpec` / ``PoolSpec``) is its geometry along time,
    padding included. The layer is then called on windows of its input and only the outputs
    whose taps lie inside the window (or past the true ends of the stream) are kept.
    """
    from atrous.geometry import ConvSpec, PoolSpec

    if not isinstance(cls, type):
        raise SpecError(f"register() takes a class, got {cls!r}")
    if not isinstance(spec, (ConvSpec, PoolSpec)):
        raise SpecError(f"register() takes the layer's ConvSpec or PoolSpec along time, got {spec!r}")
    _REGISTRY[cls] = spec


def register_pointwise(cls: type) -> None:
    """Declare a layer type pointwise in time: ``module(x)`` on ``(B, C, T)`` equals applying it
    to every time step ``(B, C)`` on its own (you vouch for it; it is then called on chunks)."""
    if not isinstance(cls, type):
        raise SpecError(f"register_pointwise() takes a class, got {cls!r}")
    _POINTWISE_REGISTRY.add(cls)


def registered_leaves(model: nn.Module) -> dict[str, Any]:
    """Module paths of registered layers in ``model``, with their declaration."""
    out: dict[str, Any] = {}
    for path, m in model.named_modules():
        t = parametrize.type_before_parametrizations(m)
        if not path:
            continue
        if t in _POINTWISE_REGISTRY:
            out[path] = "pointwise"
        elif t in _REGISTRY:
            out[path] = _REGISTRY[t]
    return out


class Residual(nn.Module):
    """``activation(body(x) + shortcut(x))``: a residual composition that :func:`atrous.stream.stream`
    can walk (the shortcut defaults to the identity, the activation to none).

    Examples:
        >>> import torch
        >>> from atrous.nn import CausalConv1d
        >>> block = Residual(torch.nn.Sequential(CausalConv1d(4, 4, 3, dilation=2), torch.nn.ReLU()))
        >>> block(torch.randn(2, 4, 10)).shape
        torch.Size([2, 4, 10])
    """

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None, activation: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x) + (x if self.shortcut is None else self.shortcut(x))
        out: Tensor = y if self.activation is None else self.activation(y)
        return out


def _dense(w: Tensor, groups: int) -> Tensor:
    """A grouped 1x1 weight ``(out, in/groups)`` as the dense block-diagonal ``(out, in)``."""
    if groups == 1:
        return w
    out, per = w.shape
    dense = w.new_zeros(out, per * groups)
    step = out // groups
    for gi in range(groups):
        dense[gi * step : (gi + 1) * step, gi * per : (gi + 1) * per] = w[gi * step : (gi + 1) * step]
    return dense


# --------------------------------------------------------------------------------------------
# simplification


def simplify(plan: Plan, dtype: torch.dtype, device: torch.device) -> Plan:
    """BatchNorm folded into the convolution before it, dead nodes dropped, tensors cast."""
    nodes = plan.nodes
    # 1. fold BatchNorm (affine) into the conv / linear right before it, when that is its only use
    uses = plan.consumers()
    alias: dict[int, int] = {}
    for i, n in enumerate(nodes):
        n.inputs = [alias.get(j, j) for j in n.inputs]
        if n.kind == "affine":
            (j,) = n.inputs
            src = nodes[j]
            if src.kind in ("conv", "linear") and len(uses[j]) == 1:
                sc, sh = n.params["scale"], n.params["shift"]
                assert src.weight is not None  # conv and linear nodes carry their weights
                w = src.weight.double()
                src.weight = w * (sc.view(-1, 1, 1) if src.kind == "conv" else sc.view(-1, 1))
                b = src.bias.double() if src.bias is not None else torch.zeros_like(sc)
                src.bias = b * sc + sh
                src.path = f"{src.path}+{n.path}"
                alias[i] = j
    for n in nodes:
        n.inputs = [alias.get(j, j) for j in n.inputs]
    out = alias.get(plan.output, plan.output)
    # 3. keep what the output depends on (and every input), renumbered in order
    live = set()
    stack = [out]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(nodes[i].inputs)
    keep = [i for i, n in enumerate(nodes) if (i in live or n.kind == "input") and i not in alias]
    index = {old: new for new, old in enumerate(keep)}
    kept = []
    for old in keep:
        n = nodes[old]
        n.inputs = [index[j] for j in n.inputs]
        _cast(n, dtype, device)
        kept.append(n)
    return Plan(
        kept,
        index[out],
        plan.in_channels,
        plan.out_channels,
        plan.cond_channels,
        plan.global_cond_channels,
        plan.model_name,
    )


def _cast(n: Node, dtype: torch.dtype, device: torch.device) -> None:
    def c(t: Any) -> Any:
        if isinstance(t, Tensor):
            return t.detach().to(device=device, dtype=dtype).clone()
        if isinstance(t, list):
            return [c(v) for v in t]
        return t

    n.weight = c(n.weight)
    n.bias = c(n.bias)
    n.params = {k: c(v) for k, v in n.params.items()}
