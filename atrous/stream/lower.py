"""Lowering a streaming graph to the fast plan: one GEMM per layer per step.

A causal graph at one rate (every convolution padded ``(d*(k-1), 0)`` with zeros, stride 1)
built from convolutions, 1x1 convolutions, pointwise activations, sums, eval-mode
BatchNorm, dropout in eval mode, WaveNet's gate (``tanh(f) * sigmoid(s)`` of the two halves of
one value) and its conditioning (a 1x1 convolution of ``c``, and of a static ``g``) becomes a
:class:`~atrous.stream.plan.Plan` that :mod:`atrous.stream.fast` runs over ring buffers and
:mod:`atrous.stream.chunk` runs (and exports) as one module. Anything else returns ``None``
and the generic engine runs the graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from atrous.analysis.ops import get, number
from atrous.analysis.trace import Call, TensorRef
from atrous.stream import nodes as N
from atrous.stream.graph import Graph
from atrous.stream.plan import Node, Plan, _dense, simplify

__all__ = ["lower"]

_IDENTITY = {
    "contiguous",
    "clone",
    "detach",
    "dropout",
    "dropout1d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "identity",
}


class _NotLowerable(Exception):
    pass


def _path(name: str) -> str:
    """A node's module path as the model names it (``blocks.0.conv1``)."""
    return name.replace("/", ".")


def _value(ref: Any) -> Tensor | None:
    if isinstance(ref, TensorRef) and ref.node is None:
        return ref.value
    return None


def _act(call: Call) -> tuple[str, dict[str, Any]] | None:
    f = call.func.rstrip("_") if not call.func.endswith("__") else call.func
    if f in ("relu", "tanh", "sigmoid", "selu", "silu", "mish", "hardsigmoid", "hardswish", "softsign", "tanhshrink",
             "logsigmoid", "relu6"):  # fmt: skip
        return f, {}
    if f == "leaky_relu":
        return f, {"slope": float(number(get(call, 1, "negative_slope", 0.01)))}
    if f in ("elu", "celu"):
        return f, {"alpha": float(number(get(call, 1, "alpha", 1.0)))}
    if f == "gelu":
        return f, {"approximate": str(get(call, 1, "approximate", "none"))}
    if f == "hardtanh":
        return f, {
            "min_val": float(number(get(call, 1, "min_val", -1.0))),
            "max_val": float(number(get(call, 2, "max_val", 1.0))),
        }
    if f == "softplus":
        return f, {
            "beta": float(number(get(call, 1, "beta", 1.0))),
            "threshold": float(number(get(call, 2, "threshold", 20.0))),
        }
    if f == "threshold":
        return f, {"threshold": float(number(get(call, 1, "threshold"))), "value": float(number(get(call, 2, "value")))}
    if f == "prelu":
        w = _value(get(call, 1, "weight"))
        return (f, {"weight": w}) if w is not None else None
    if f in ("softmax", "log_softmax") and int(get(call, 1, "dim", -1)) in (1, -2):
        return f, {}
    return None


def lower(graph: Graph, dtype: torch.dtype, device: torch.device) -> Plan | None:
    """The fast plan of a causal one-rate graph, or ``None`` (see the module docstring)."""
    if graph.rate != 1 or graph.latency != 0 or len(graph.in_shape) != 3 or graph.in_time_dim != 2:
        return None
    try:
        return _Lowerer(graph, dtype, device).run()
    except _NotLowerable:
        return None


class _Lowerer:
    def __init__(self, graph: Graph, dtype: torch.dtype, device: torch.device) -> None:
        self.g = graph
        self.dtype, self.device = dtype, device
        self.nodes: list[Node] = []
        self.val: dict[int, int] = {}  # graph node -> plan node
        self.cond_terms: dict[int, tuple[int, Tensor]] = {}  # graph node -> (c input, V): V c_t
        self.c_node: dict[int, int] = {}
        self.consumers: dict[int, list[int]] = {}
        for i, n in enumerate(graph.nodes):
            for j in n.inputs:
                self.consumers.setdefault(j, []).append(i)

    def emit(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def channels(self, v: int) -> int:
        return self.nodes[v].channels

    def run(self) -> Plan:
        g = self.g
        cond = gcond = 0
        for i, n in enumerate(g.nodes):
            if isinstance(n, N.Input):
                if n.rate != 1 or n.time_dim != 2:
                    raise _NotLowerable
                if n.name == "x":
                    self.val[i] = self.emit(Node("input", [], g.in_shape[1], name="x"))
        for i, n in enumerate(g.nodes):
            if i in self.val or isinstance(n, N.Input):
                continue
            self.visit(i, n)
        if g.output not in self.val:
            raise _NotLowerable
        for pn in self.nodes:
            if pn.kind == "input" and pn.name == "c":
                cond = pn.channels
            if pn.kind == "input" and pn.name == "g":
                gcond = pn.channels
        plan = Plan(self.nodes, self.val[g.output], self.nodes[0].channels, self.nodes[self.val[g.output]].channels,
                    cond, gcond, g.model_name)  # fmt: skip
        if not any(n.kind in ("conv", "linear") for n in plan.nodes):
            raise _NotLowerable
        return simplify(plan, self.dtype, self.device)

    def src(self, i: int) -> int:
        if i not in self.val:
            raise _NotLowerable
        return self.val[i]

    def visit(self, i: int, n: N.StreamNode) -> None:
        g = self.g
        if isinstance(n, N.Static):
            return  # handled where it is used (WaveNet's global conditioning)
        if isinstance(n, N.Input):
            raise _NotLowerable
        if isinstance(n, N.Pad):
            # only the causal zero padding right before a convolution
            users = self.consumers.get(i, [])
            if not (n.mode == "constant" and n.value == 0 and n.hi == 0 and n.lo > 0 and len(users) == 1
                    and isinstance(g.nodes[users[0]], N.Window)):  # fmt: skip
                raise _NotLowerable
            return
        if isinstance(n, N.Window):
            self.window(i, n)
            return
        if isinstance(n, N.Elementwise):
            self.elementwise(i, n)
            return
        if isinstance(n, N.Item):
            return  # only inside the gate pattern
        raise _NotLowerable

    def window(self, i: int, n: N.Window) -> None:
        g = self.g
        call: Call | None = getattr(n.fn, "call", None)
        if call is None or n.s != 1:
            raise _NotLowerable
        (j,) = n.inputs
        pad = g.nodes[j]
        lo = pad.lo if isinstance(pad, N.Pad) else 0
        src = pad.inputs[0] if isinstance(pad, N.Pad) else j
        if lo != n.e - 1:
            raise _NotLowerable  # not causal
        if call.func == "module":
            m = call.fn
            spec = call.spec
            if getattr(spec, "ndim", 1) != 1 or getattr(spec, "transposed", False):
                raise _NotLowerable
            w, b = m.weight.detach(), None if m.bias is None else m.bias.detach()  # type: ignore[union-attr]
            d, groups = spec.dilation[0], getattr(m, "groups", 1)  # type: ignore[union-attr]
        elif call.func == "conv1d":
            w, b = _value(get(call, 1, "weight")), _value(get(call, 2, "bias"))
            if w is None:
                raise _NotLowerable
            d = get(call, 5, "dilation", 1)
            d = int(d[0] if isinstance(d, (tuple, list)) else d)
            groups = int(get(call, 6, "groups", 1))
        else:
            raise _NotLowerable
        k = w.shape[2]
        kw = self.g.nodes[src]
        if isinstance(kw, N.Input) and kw.name == "c":
            if k != 1 or b is not None or lo:
                raise _NotLowerable
            self.cond_terms[i] = (self.keyword_input(src), w.detach()[:, :, 0])
            return
        x = self.src(src)
        if k == 1:
            self.val[i] = self.emit(
                Node("linear", [x], w.shape[0], _path(n.name), weight=_dense(w[:, :, 0], groups), bias=b)
            )
        else:
            self.val[i] = self.emit(Node("conv", [x], w.shape[0], _path(n.name), weight=w, bias=b, dilation=d, kernel=k,
                                         groups=groups))  # fmt: skip

    def keyword_input(self, j: int) -> int:
        n = self.g.nodes[j]
        if not isinstance(n, N.Input) or n.name != "c" or n.rate != 1:
            raise _NotLowerable
        if j not in self.c_node:
            call = next(getattr(getattr(u, "fn", None), "call", None) for u in self.g.nodes if j in u.inputs)
            if call is None:
                raise _NotLowerable
            self.c_node[j] = self.emit(Node("input", [], int(call.args[0].shape[1]), name="c"))
        return self.c_node[j]

    def elementwise(self, i: int, n: N.Elementwise) -> None:
        call = n.call
        if not isinstance(call, Call):
            raise _NotLowerable
        f = call.func
        if f in ("split", "chunk"):
            # only as the two halves of a gate: every consumer must be such an item
            users = self.consumers.get(i, [])
            if not all(isinstance(self.g.nodes[u], N.Item) for u in users):
                raise _NotLowerable
            return
        if f in _IDENTITY or (f == "to" and len(n.inputs) == 1):
            if "dropout" in f and bool(get(call, 2, "training", False)) and number(get(call, 1, "p", 0.5)):
                raise _NotLowerable
            self.val[i] = self.src(n.inputs[0])
            return
        act = _act(call)
        if act is not None and len(n.inputs) == 1 and isinstance(self.g.nodes[n.inputs[0]], N.Item):
            if call.func.rstrip("_") not in ("tanh", "sigmoid"):
                raise _NotLowerable
            return  # a half of a gate: lowered with the product (checked there)
        if act is not None and len(n.inputs) == 1:
            x = self.src(n.inputs[0])
            self.val[i] = self.emit(Node("act", [x], self.channels(x), _path(n.name), act=act[0], params=act[1]))
            return
        if f == "batch_norm" and len(n.inputs) == 1:
            rm, rv = _value(get(call, 1, "running_mean")), _value(get(call, 2, "running_var"))
            w, b = _value(get(call, 3, "weight")), _value(get(call, 4, "bias"))
            eps = float(number(get(call, 7, "eps", 1e-5)))
            if rm is None or rv is None:
                raise _NotLowerable
            inv = torch.rsqrt(rv.double() + eps)
            scale = inv if w is None else inv * w.double()
            shift = -rm.double() * scale + (0 if b is None else b.double())
            x = self.src(n.inputs[0])
            self.val[i] = self.emit(
                Node("affine", [x], self.channels(x), _path(n.name), params={"scale": scale, "shift": shift})
            )
            return
        if f == "add" and len(call.args) == 2 and "alpha" not in call.kwargs:
            a, b = call.args
            if len(n.inputs) == 2:
                terms = [j for j in n.inputs if j in self.cond_terms]
                if len(terms) == 1:  # h + V c: the conditioning projection
                    (j,) = terms
                    h = self.src(next(k for k in n.inputs if k != j))
                    cin, w = self.cond_terms[j]
                    cp = self.emit(Node("condproj", [cin], self.channels(h), n.name + ".c", params={"weights": [w]}))
                    self.val[i] = self.emit(Node("add", [h, cp], self.channels(h), n.name))
                    return
                x, y = (self.src(j) for j in n.inputs)
                self.val[i] = self.emit(Node("add", [x, y], self.channels(x), _path(n.name)))
                return
            if len(n.inputs) == 1:
                static = next((r for r in (a, b) if isinstance(r, TensorRef) and r.node is not None
                               and r.node not in n.names), None)  # fmt: skip
                if static is not None:
                    self.val[i] = self.global_cond(n, static)
                    return
        if f == "mul" and len(n.inputs) == 2:
            gate = self.gate(n)
            if gate is not None:
                self.val[i] = gate
                return
        raise _NotLowerable

    def gate(self, n: N.Elementwise) -> int | None:
        """``tanh(f) * sigmoid(s)`` with ``f, s`` the two halves (along channels) of one value."""
        g = self.g
        a, b = (g.nodes[j] for j in n.inputs)
        if not (isinstance(a, N.Elementwise) and isinstance(b, N.Elementwise)):
            return None
        if not (isinstance(a.call, Call) and isinstance(b.call, Call)):
            return None
        kinds = {a.call.func.rstrip("_"), b.call.func.rstrip("_")}
        if kinds != {"tanh", "sigmoid"}:
            return None
        me = next(k for k, node in enumerate(g.nodes) if node is n)
        if any(self.consumers.get(j, []) != [me] for j in n.inputs):
            return None  # the halves are used elsewhere too
        tanh, sig = (a, b) if a.call.func.startswith("tanh") else (b, a)
        ia, ib = (g.nodes[tanh.inputs[0]], g.nodes[sig.inputs[0]])
        if not (
            isinstance(ia, N.Item)
            and isinstance(ib, N.Item)
            and ia.inputs == ib.inputs
            and (ia.index, ib.index) == (0, 1)
        ):
            return None
        if any(len(self.consumers.get(j, [])) != 1 for j in (tanh.inputs[0], sig.inputs[0])):
            return None
        split = g.nodes[ia.inputs[0]]
        if not (
            isinstance(split, N.Elementwise) and isinstance(split.call, Call) and split.call.func in ("split", "chunk")
        ):
            return None
        dim = int(get(split.call, 2, "dim", 0))
        if dim not in (1, -2):
            return None
        h = self.src(split.inputs[0])
        c = self.channels(h)
        if c % 2:
            return None
        return self.emit(Node("gate", [h], c // 2, _path(n.name)))

    def global_cond(self, n: N.Elementwise, static: TensorRef) -> int:
        """``h + U g`` with ``U g`` a 1x1 convolution (no bias) of the static input ``g``."""
        g = self.g
        node = next((s for s in g.nodes if isinstance(s, N.Static) and s.name == static.node), None)
        if node is None or node.call.func != "module":
            raise _NotLowerable
        m = node.call.fn
        if getattr(m, "bias", None) is not None or tuple(m.weight.shape[2:]) != (1,):  # type: ignore[union-attr]
            raise _NotLowerable
        inner = node.call.args[0]
        source = next((s for s in g.nodes if isinstance(s, N.Static) and s.name == inner.node), None)
        if source is None or source.call.func != "unsqueeze" or source.call.args[0].node != "(input:g)":
            raise _NotLowerable
        gin = next((k for k, v in enumerate(self.nodes) if v.kind == "input" and v.name == "g"), None)
        if gin is None:
            gin = self.emit(Node("input", [], int(m.weight.shape[1]), name="g"))  # type: ignore[union-attr]
        h = self.src(n.inputs[0])
        cp = self.emit(Node("condproj", [gin], self.channels(h), n.name + ".g",
                            params={"weights": [m.weight.detach()[:, :, 0]]}))  # type: ignore[union-attr]  # fmt: skip
        return self.emit(Node("add", [h, cp], self.channels(h), n.name))
