"""The streaming plan: a model's module structure walked into a small dataflow graph.

:func:`build_plan` walks the modules (it never traces) and emits one :class:`Node` per
operation that matters for streaming:

==============  ===========================================================================
``input``       a graph input: ``x`` (B, C_in), WaveNet's local ``c`` and global ``g``
``conv``        a causal convolution with state: the last ``d*(k-1)`` inputs
``linear``      a 1x1 convolution (no state)
``act``         a layer that is pointwise in time (activation, softmax over channels, PReLU)
``affine``      eval-mode BatchNorm that could not be folded into the layer before it
``add``         residual / skip sums
``gate``        WaveNet's ``tanh(f) * sigmoid(s)``
``condproj``    WaveNet's conditioning terms ``V c_t + U g`` of one layer
==============  ===========================================================================

Weights are read once (weight-norm parametrizations folded into plain tensors) and the plan
is simplified: eval-mode dropout and identities disappear, a BatchNorm after a convolution is
folded into it, and a ReLU of a value that is known to be non-negative is dropped (it is the
identity there, exactly). Anything the walker cannot stream exactly raises
:class:`atrous.errors.SpecError` naming the layer's path and why.

Two executors run a plan: :mod:`atrous.stream.chunk` (the real convolutions over
``[state | chunk]``, also the exported step function) and :mod:`atrous.stream.fast` (one GEMM
per layer per step over ring buffers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from atrous.errors import SpecError

__all__ = ["Node", "Plan", "Residual", "build_plan", "register", "register_pointwise"]


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
        """Past samples a conv reads besides the present one: ``d * (k - 1)``."""
        return self.dilation * (self.kernel - 1) if self.kind == "conv" else 0


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


def _float(v: Any) -> float:
    return float(v)


def _act_of(m: nn.Module, path: str) -> tuple[str, dict[str, Any]] | None:
    """The pointwise kind of an activation module, or None if it is not one."""
    t = parametrize.type_before_parametrizations(m)
    simple = {
        nn.ReLU: "relu",
        nn.ReLU6: "relu6",
        nn.Tanh: "tanh",
        nn.Sigmoid: "sigmoid",
        nn.SELU: "selu",
        nn.SiLU: "silu",
        nn.Mish: "mish",
        nn.Hardsigmoid: "hardsigmoid",
        nn.Hardswish: "hardswish",
        nn.Softsign: "softsign",
        nn.Tanhshrink: "tanhshrink",
        nn.LogSigmoid: "logsigmoid",
    }
    if t in simple:
        return simple[t], {}
    if t is nn.LeakyReLU:
        return "leaky_relu", {"slope": _float(m.negative_slope)}
    if t is nn.ELU:
        return "elu", {"alpha": _float(m.alpha)}
    if t is nn.CELU:
        return "celu", {"alpha": _float(m.alpha)}
    if t is nn.GELU:
        return "gelu", {"approximate": str(m.approximate)}
    if t is nn.Hardtanh:
        return "hardtanh", {"min_val": _float(m.min_val), "max_val": _float(m.max_val)}
    if t is nn.Softplus:
        return "softplus", {"beta": _float(m.beta), "threshold": _float(m.threshold)}
    if t is nn.Threshold:
        return "threshold", {"threshold": _float(m.threshold), "value": _float(m.value)}
    if t is nn.PReLU:
        return "prelu", {"weight": m.weight.detach()}
    if t in (nn.Softmax, nn.LogSoftmax, nn.Softmin):
        if m.dim not in (1, -2):
            raise SpecError(
                f"layer {path!r} ({t.__name__}) normalises over dim={m.dim!r}: only dim=1 (the channels) "
                "is pointwise in time and can be streamed"
            )
        return {nn.Softmax: "softmax", nn.LogSoftmax: "log_softmax", nn.Softmin: "softmin"}[t], {}
    return None


# --------------------------------------------------------------------------------------------
# the builder


_Builder = Callable[["PlanBuilder", nn.Module, int, str], int]
_REGISTRY: dict[type, _Builder] = {}
_POINTWISE_REGISTRY: set[type] = set()


def register(cls: type, builder: _Builder) -> None:
    """Teach :func:`atrous.stream.stream` a layer type.

    Args:
        cls: the module class (exact type; subclasses must be registered on their own).
        builder: ``builder(pb, module, x, path) -> y`` that emits nodes with the
            :class:`PlanBuilder` ``pb`` (``pb.module(sub, x, path)``, ``pb.conv``, ``pb.linear``,
            ``pb.act``, ``pb.add``) for the input value ``x`` and returns the output value.
    """
    _REGISTRY[cls] = builder


def register_pointwise(cls: type) -> None:
    """Declare a layer type pointwise in time: ``module(x)`` on ``(B, C, T)`` equals applying it
    to every time step ``(B, C)`` on its own (you vouch for it; it is then called on both)."""
    _POINTWISE_REGISTRY.add(cls)


def _type_name(m: nn.Module) -> str:
    return parametrize.type_before_parametrizations(m).__name__


def _check_hooks(m: nn.Module, path: str) -> None:
    hooks = list(m._forward_hooks.values()) + list(m._forward_pre_hooks.values())
    for h in hooks:
        if type(h).__name__ == "WeightNorm":  # torch.nn.utils.weight_norm (old style): folded
            continue
        raise SpecError(
            f"layer {path or '<model>'!r} ({_type_name(m)}) has forward hooks: the streamer walks the "
            "module structure and would not run them, so it refuses (remove the hooks first)"
        )


def _same_forward(m: nn.Module, cls: type) -> bool:
    return getattr(type(m), "forward", None) is getattr(cls, "forward", None)


def _conv_weight(m: nn.Module) -> Tensor:
    """The effective weight, with weight-norm (either API) folded in."""
    for h in m._forward_pre_hooks.values():
        if type(h).__name__ == "WeightNorm":
            g = getattr(m, h.name + "_g")
            v = getattr(m, h.name + "_v")
            return torch._weight_norm(v, g, h.dim).detach()
    return m.weight.detach()


class PlanBuilder:
    """Emits :class:`Node` s while :func:`build_plan` walks a model."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def _emit(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def channels(self, v: int) -> int:
        return self.nodes[v].channels

    # -- primitive emitters ------------------------------------------------------------------

    def input(self, name: str, channels: int) -> int:
        return self._emit(Node("input", [], channels, name=name))

    def conv(
        self,
        x: int,
        weight: Tensor,
        bias: Tensor | None,
        dilation: int,
        groups: int,
        path: str,
    ) -> int:
        """A causal convolution ``(out, in/groups, k)`` with dilation ``dilation``; a kernel of one
        tap becomes a ``linear`` node."""
        out, _, k = weight.shape
        if k == 1:
            return self.linear(x, _dense(weight[:, :, 0], groups), bias, path)
        cin = self.channels(x)
        if weight.shape[1] * groups != cin:
            raise SpecError(f"layer {path!r} expects {weight.shape[1] * groups} input channels, its input has {cin}")
        return self._emit(
            Node("conv", [x], out, path, weight=weight, bias=bias, dilation=dilation, kernel=k, groups=groups)
        )

    def linear(self, x: int, weight: Tensor, bias: Tensor | None, path: str) -> int:
        cin = self.channels(x)
        if weight.shape[1] != cin:
            raise SpecError(f"layer {path!r} expects {weight.shape[1]} input channels, its input has {cin}")
        return self._emit(Node("linear", [x], weight.shape[0], path, weight=weight, bias=bias))

    def act(self, x: int, kind: str, params: dict[str, Any], path: str) -> int:
        return self._emit(Node("act", [x], self.channels(x), path, act=kind, params=params))

    def add(self, a: int, b: int, path: str = "") -> int:
        ca, cb = self.channels(a), self.channels(b)
        if ca != cb:
            raise SpecError(f"{path or 'residual sum'}: cannot add {ca} channels to {cb} channels")
        return self._emit(Node("add", [a, b], ca, path))

    def affine(self, x: int, scale: Tensor, shift: Tensor, path: str) -> int:
        return self._emit(Node("affine", [x], self.channels(x), path, params={"scale": scale, "shift": shift}))

    def gate(self, h: int, gate_channels: int, path: str) -> int:
        return self._emit(Node("gate", [h], gate_channels, path))

    def condproj(self, srcs: list[int], weights: list[Tensor], channels: int, path: str) -> int:
        return self._emit(Node("condproj", srcs, channels, path, params={"weights": weights}))

    # -- modules -----------------------------------------------------------------------------

    def module(self, m: nn.Module, x: int, path: str) -> int:
        """Emit the nodes of module ``m`` applied to value ``x``; returns the output value."""
        from atrous.nn.conv import ConvNd, ConvTransposeNd
        from atrous.nn.tcn import TCN, TemporalBlock
        from atrous.nn.wavenet import WaveNet, WaveNetLayer

        t = parametrize.type_before_parametrizations(m)
        name = t.__name__
        where = path or "<model>"
        _check_hooks(m, path)
        if t in _REGISTRY:
            return _REGISTRY[t](self, m, x, path)
        if t in _POINTWISE_REGISTRY:
            return self.act(x, "module", {"module": m}, path)
        if isinstance(m, (ConvTransposeNd, nn.modules.conv._ConvTransposeNd)):
            raise SpecError(f"layer {where!r} ({name}) is a transposed convolution: it cannot be streamed causally")
        if isinstance(m, ConvNd) and _same_forward(m, ConvNd):
            return self._atrous_conv(m, x, where)
        if t is nn.Conv1d:
            return self._torch_conv(m, x, where)
        if isinstance(m, (ConvNd, nn.Conv2d, nn.Conv3d)):
            raise SpecError(f"layer {where!r} ({name}) is not a 1-d convolution: only (N, C, T) stacks can be streamed")
        act = _act_of(m, where)
        if act is not None:
            return self.act(x, act[0], act[1], path)
        if t in (nn.Identity,):
            return x
        if t in (nn.Dropout, nn.Dropout1d, nn.AlphaDropout, nn.FeatureAlphaDropout):
            if m.training and m.p > 0:
                raise SpecError(
                    f"layer {where!r} ({name}, p={m.p}) is in training mode: random dropout cannot be "
                    "streamed exactly (call model.eval())"
                )
            return x
        if t is nn.BatchNorm1d:
            return self._batchnorm(m, x, where)
        if t in (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.LocalResponseNorm):
            raise SpecError(
                f"layer {where!r} ({name}) normalises over the time axis (or over statistics of the "
                "whole input): it is not pointwise in time and cannot be streamed"
            )
        for cls in (nn.Sequential, Residual, TemporalBlock, TCN):
            if isinstance(m, cls) and not _same_forward(m, cls):
                raise SpecError(f"layer {where!r} ({name}) overrides forward(): the streamer cannot know what it does")
        if isinstance(m, nn.Sequential):
            for child_name, child in m.named_children():
                x = self.module(child, x, _join(path, child_name))
            return x
        if isinstance(m, Residual):
            body = self.module(m.body, x, _join(path, "body"))
            short = x if m.shortcut is None else self.module(m.shortcut, x, _join(path, "shortcut"))
            y = self.add(body, short, path)
            return y if m.activation is None else self.module(m.activation, y, _join(path, "activation"))
        if isinstance(m, TemporalBlock):
            return self._temporal_block(m, x, path)
        if isinstance(m, TCN):
            return self._tcn(m, x, path)
        if isinstance(m, WaveNet):
            raise SpecError(f"layer {where!r} (WaveNet) must be the model itself: stream(wavenet)")
        if isinstance(m, WaveNetLayer):
            raise SpecError(f"layer {where!r} (WaveNetLayer) streams only inside a WaveNet")
        raise SpecError(
            f"layer {where!r} ({name}) is not known to atrous.stream: it streams causal convolutions "
            "(CausalConv1d, TCN, WaveNet), 1x1 convolutions, pointwise activations, eval-mode "
            "BatchNorm1d and Dropout, nn.Sequential and atrous.stream.Residual "
            "(atrous.stream.register_pointwise(type) declares a pointwise layer)"
        )

    def _conv_common(self, m: nn.Module, x: int, where: str, lo: int, hi: int) -> int:
        (k,) = m.kernel_size
        (d,) = m.dilation
        (s,) = m.stride
        ctx = d * (k - 1)
        if s != 1:
            raise SpecError(
                f"layer {where!r} ({_type_name(m)}) has stride {s}: only stride 1 keeps one output per input sample"
            )
        if (lo, hi) != (ctx, 0):
            if hi > 0:
                why = f"output t reads inputs up to t+{hi} (non-causal)"
            else:
                why = f"it shifts or shortens the sequence (causal padding is ({ctx}, 0))"
            raise SpecError(
                f"layer {where!r} ({_type_name(m)}) has padding ({lo}, {hi}): {why}; only causal padding "
                "(d*(k-1), 0) streams exactly"
            )
        if ctx and m.padding_mode != "zeros":
            raise SpecError(
                f"layer {where!r} ({_type_name(m)}) pads with {m.padding_mode!r}: only zero padding "
                "is an all-zero past that a stream can start from"
            )
        w = _conv_weight(m)
        b = None if m.bias is None else m.bias.detach()
        return self.conv(x, w, b, d, m.groups, where)

    def _atrous_conv(self, m: nn.Module, x: int, where: str) -> int:
        if m.ndim != 1:
            raise SpecError(f"layer {where!r} ({_type_name(m)}) is {m.ndim}-d: only 1-d (N, C, T) layers stream")
        if m._static is None:
            raise SpecError(f"layer {where!r} ({_type_name(m)}): 'same' padding with stride > 1 is not causal")
        ((lo, hi),) = m._static.padding
        return self._conv_common(m, x, where, lo, hi)

    def _torch_conv(self, m: nn.Conv1d, x: int, where: str) -> int:
        if isinstance(m.padding, str):
            (k,) = m.kernel_size
            (d,) = m.dilation
            total = d * (k - 1) if m.padding == "same" else 0
            lo, hi = (total // 2, total - total // 2)
        else:
            lo = hi = m.padding[0]
        return self._conv_common(m, x, where, lo, hi)

    def _batchnorm(self, m: nn.BatchNorm1d, x: int, where: str) -> int:
        if m.training or m.running_mean is None:
            raise SpecError(
                f"layer {where!r} (BatchNorm1d) is in training mode or has no running statistics: it "
                "normalises with statistics over the whole batch and time axis, which a stream never sees "
                "(call model.eval())"
            )
        inv = torch.rsqrt(m.running_var.detach().double() + m.eps)
        scale = inv if m.weight is None else inv * m.weight.detach().double()
        shift = -m.running_mean.detach().double() * scale
        if m.bias is not None:
            shift = shift + m.bias.detach().double()
        if self.channels(x) != scale.numel():
            raise SpecError(f"layer {where!r} (BatchNorm1d) has {scale.numel()} features, its input {self.channels(x)}")
        return self.affine(x, scale, shift, where)

    def _temporal_block(self, m: nn.Module, x: int, path: str) -> int:
        out = self.module(m.conv1, x, _join(path, "conv1"))
        out = self.module(m.act1, out, _join(path, "act1"))
        out = self.module(m.drop1, out, _join(path, "drop1"))
        out = self.module(m.conv2, out, _join(path, "conv2"))
        out = self.module(m.act2, out, _join(path, "act2"))
        out = self.module(m.drop2, out, _join(path, "drop2"))
        res = x if m.downsample is None else self.module(m.downsample, x, _join(path, "downsample"))
        y = self.add(out, res, path)
        return self.module(m.act_out, y, _join(path, "act_out"))

    def _tcn(self, m: nn.Module, x: int, path: str) -> int:
        if m.skips is None:
            for i, block in enumerate(m.blocks):
                x = self.module(block, x, _join(path, f"blocks.{i}"))
            return x
        total = None
        for i, (block, skip) in enumerate(zip(m.blocks, m.skips)):
            x = self.module(block, x, _join(path, f"blocks.{i}"))
            s = self.module(skip, x, _join(path, f"skips.{i}"))
            total = s if total is None else self.add(total, s, _join(path, "skips"))
        assert total is not None
        return total

    def wavenet(self, m: nn.Module) -> int:
        from atrous.nn.wavenet import WaveNet, WaveNetLayer

        if not _same_forward(m, WaveNet):
            raise SpecError("the model (WaveNet) overrides forward(): the streamer cannot know what it does")
        x = self.input("x", m.input.in_channels)
        c = self.input("c", m.cond_channels) if m.cond_channels else None
        g = self.input("g", m.global_cond_channels) if m.global_cond_channels else None
        h = self.module(m.input, x, "input")
        total = None
        for i, layer in enumerate(m.layers):
            p = f"layers.{i}"
            _check_hooks(layer, p)
            if not (_same_forward(layer, WaveNetLayer) and type(layer).gate is WaveNetLayer.gate):
                raise SpecError(
                    f"layer {p!r} (WaveNetLayer) overrides forward(): the streamer cannot know what it does"
                )
            a = self.module(layer.conv, h, f"{p}.conv")
            srcs, ws = [], []
            for src, mod, sub in ((c, layer.cond, "cond"), (g, layer.global_cond, "global_cond")):
                if mod is not None:
                    _check_hooks(mod, f"{p}.{sub}")
                    if mod.bias is not None or mod.kernel_size != (1,):
                        raise SpecError(f"layer {p}.{sub!r} must be a 1x1 convolution without bias")
                    srcs.append(src)
                    ws.append(_conv_weight(mod)[:, :, 0])
            if srcs:
                cp = self.condproj(srcs, ws, self.channels(a), f"{p}.cond")
                a = self.add(a, cp, p)
            z = self.gate(a, layer.gate_channels, f"{p}.gate")
            r = self.module(layer.residual, z, f"{p}.residual")
            s = self.module(layer.skip, z, f"{p}.skip")
            h = self.add(h, r, p)
            total = s if total is None else self.add(total, s, "skips")
        assert total is not None
        return self.module(m.head, total, "head")


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
        return y if self.activation is None else self.activation(y)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


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
# entry point and simplification


def build_plan(model: nn.Module, dtype: torch.dtype, device: torch.device) -> Plan:
    """Walk ``model`` into a simplified :class:`Plan` with tensors in ``dtype`` on ``device``."""
    from atrous.nn.wavenet import WaveNet

    if not isinstance(model, nn.Module):
        raise SpecError(f"stream() needs a torch.nn.Module, got {type(model).__name__}")
    pb = PlanBuilder()
    cond = gcond = 0
    with torch.no_grad():
        if isinstance(model, WaveNet):
            _check_hooks(model, "")
            out = pb.wavenet(model)
            cond, gcond = model.cond_channels, model.global_cond_channels
        else:
            cin = _in_channels(model)
            x = pb.input("x", cin)
            out = pb.module(model, x, "")
    plan = Plan(
        pb.nodes,
        out,
        pb.nodes[0].channels,
        pb.nodes[out].channels,
        cond,
        gcond,
        _type_name(model),
    )
    if not any(n.kind in ("conv", "linear") for n in plan.nodes):
        raise SpecError(f"the model ({_type_name(model)}) has no convolution: nothing to stream")
    return _simplify(plan, dtype, device)


def _in_channels(model: nn.Module) -> int:
    """Input channels: those of the first convolution met in module order."""
    from atrous.nn.conv import ConvNd

    for m in model.modules():
        if isinstance(m, (ConvNd, nn.Conv1d)):
            return int(m.in_channels)
    raise SpecError(f"the model ({_type_name(model)}) has no convolution: nothing to stream")


def _simplify(plan: Plan, dtype: torch.dtype, device: torch.device) -> Plan:
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
                w = src.weight.double()
                src.weight = w * (sc.view(-1, 1, 1) if src.kind == "conv" else sc.view(-1, 1))
                b = src.bias.double() if src.bias is not None else torch.zeros_like(sc)
                src.bias = b * sc + sh
                src.path = f"{src.path}+{n.path}"
                alias[i] = j
    # 2. ReLU-like of a non-negative value is the identity
    for i, n in enumerate(nodes):
        if i in alias:
            continue
        n.inputs = [alias.get(j, j) for j in n.inputs]
        if n.kind == "act":
            src = nodes[n.inputs[0]]
            if n.act == "relu" and src.nonneg:
                alias[i] = n.inputs[0]
                continue
            n.nonneg = _ACTS[n.act].nonneg
        elif n.kind == "add":
            n.nonneg = all(nodes[j].nonneg for j in n.inputs)
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
