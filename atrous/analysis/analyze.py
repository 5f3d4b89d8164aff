"""Exact receptive fields of real networks: fields on the traced graph, and the Report.

Every operation of the traced graph (:mod:`atrous.analysis.trace`) becomes per-axis
:class:`~atrous.geometry.Axis` steps of the geometry core, so fields pass exactly through
dilated, strided, pooled, padded, cropped, upsampled (nearest and linear), pixel-shuffled and
transposed layers; branches merge with :meth:`Field.union`, which reports misalignment. Global
operations (adaptive pooling to 1, a mean over space, a linear layer after flatten) make the
field *global*: every output reads the whole input.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=2, dilation=2))
    >>> report = analyze(net, (1, 3, 32, 32))
    >>> report.field().size
    (7, 7)
    >>> report.field()[0].support(0)
    (0, 1, 2, 3)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Any

from torch import nn

from atrous.analysis.trace import INPUT, Call, TensorRef, Trace, trace
from atrous.errors import SpecError
from atrous.geometry import (
    Axis,
    ConvSpec,
    Field,
    FieldND,
    LayerSpec,
    PoolSpec,
    UpsampleSpec,
    coverage,
    layer_output_size,
    plan_dilations,
    stack_receptive_field,
)

__all__ = ["GLOBAL", "GriddingIssue", "Node", "Report", "analyze"]


class _Global:
    """Marker: the field covers the whole input along an axis."""

    def __repr__(self) -> str:
        return "GLOBAL"


GLOBAL = _Global()
AxisField = Field | _Global | None  # None: unknown

_POINTWISE_FUNCS = {
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "batch_norm",
    "instance_norm", "group_norm", "local_response_norm", "pointwise", "contiguous", "clone", "to", "float",
    "double", "half", "bfloat16", "type", "type_as", "detach", "abs", "neg", "exp", "log", "sqrt", "rsqrt",
    "pow", "clamp", "clamp_", "clip", "square", "sin", "cos", "erf", "reciprocal", "sign", "floor", "ceil",
    "round", "log1p", "expm1", "logsigmoid", "prelu", "glu", "threshold", "normalize", "chunk", "split",
    "tensor_split", "unbind", "__getitem_tuple__", "requires_grad_", "cpu", "cuda", "masked_fill", "nan_to_num",
    "real", "imag", "data", "conj", "angle",
}  # fmt: skip
_BINARY = {
    "add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__", "__isub__", "mul",
    "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_", "__truediv__", "__rtruediv__", "true_divide",
    "maximum", "minimum", "where", "addcmul", "lerp", "__and__", "__or__", "max_elementwise",
}  # fmt: skip
_REDUCE = {"mean", "sum", "amax", "amin", "max", "min", "logsumexp", "std", "var", "norm", "prod"}
_GLOBAL_FUNCS = {"matmul", "bmm", "einsum", "scaled_dot_product_attention", "multi_head_attention_forward", "baddbmm"}


@dataclass
class Node:
    """One analysed operation.

    Attributes:
        name, op: node name and the operation (``conv2d``, ``max_pool2d``, ``add``, ...).
        kind: ``"layer"`` (has a spec), ``"merge"``, ``"pointwise"``, ``"global"``,
            ``"reshape"``, ``"input"`` or ``"unknown"``.
        inputs: names of the nodes feeding it.
        shape: output shape ``(N, C, *spatial)``.
        spec: the layer's spec for convolutions, pools, upsamplings; ``None`` otherwise.
        fields: per spatial axis of the network input: a Field, ``GLOBAL`` or ``None``
            (unknown downstream of an unknown op).
        params: parameters of the operation.
        alignment: at a merge, the alignment report per axis (``"aligned"`` or what differs).
        notes: approximations and assumptions made for this node.
    """

    name: str
    op: str
    kind: str
    inputs: list[str]
    shape: tuple[int, ...]
    spec: LayerSpec | None
    fields: list[AxisField]
    params: int = 0
    module: str = ""
    module_type: str = ""
    alignment: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spatial: int = 0  # number of spatial axes the output still has

    def rf(self) -> list[int | str]:
        return [_size(f) for f in self.fields]


def _size(f: AxisField) -> int | str:
    if isinstance(f, Field):
        return f.size
    return "global" if f is GLOBAL else "?"


def _fmt_frac(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


@dataclass(frozen=True)
class GriddingIssue:
    """Holes in a node's field along one axis, who made them, and a gridding-free fix."""

    node: str
    axis: int
    holes: int
    size: int
    period: int | None
    layers: tuple[tuple[str, int], ...]  # (node name, dilation) of the dilated layers behind it
    repeated: bool  # one dilation repeated
    replacement: tuple[int, ...] | None  # gridding-free rates for those layers (same kernel)

    def describe(self) -> str:
        per = f", period {self.period}" if self.period else ""
        who = ", ".join(f"{n} (d={d})" for n, d in self.layers) or "no dilated layer (strides or transposed taps)"
        text = f"{self.node} axis {self.axis}: {self.holes} holes in a field of {self.size}{per}; from {who}"
        if self.repeated:
            text += "; one dilation repeated"
        if self.replacement:
            text += f"; gridding-free rates: {', '.join(map(str, self.replacement))}"
        return text


class Report:
    """The analysis of a network: one :class:`Node` per operation, in execution order."""

    def __init__(self, nodes: list[Node], output: str, trace: Trace) -> None:
        self.nodes = nodes
        self.by_name = {n.name: n for n in nodes}
        self.output = output
        self.trace = trace

    # ----------------------------------------------------------------- queries

    def node(self, name: str | None = None) -> Node:
        """The node called ``name`` (default: the output)."""
        key = self.output if name is None else name
        if key not in self.by_name:
            close = [n for n in self.by_name if key in n][:5]
            raise SpecError(f"no node named {key!r}" + (f"; similar: {', '.join(close)}" if close else ""))
        return self.by_name[key]

    def field(self, name: str | None = None) -> FieldND:
        """The per-axis fields of a node (default: the output) as a :class:`FieldND`.

        ``report.field()[axis].support(y)`` gives the exact input positions that output index
        ``y`` depends on. Raises SpecError when an axis is global or unknown.
        """
        node = self.node(name)
        fields = []
        for i, f in enumerate(node.fields):
            if not isinstance(f, Field):
                what = "global (it reads the whole input)" if f is GLOBAL else "unknown (an unknown op is upstream)"
                raise SpecError(f"the field of {node.name!r} on axis {i} is {what}")
            fields.append(f)
        return FieldND(fields, node.spec)

    @property
    def unknown(self) -> list[Node]:
        """Nodes whose operation atrous does not know (reported, never guessed silently)."""
        return [n for n in self.nodes if n.kind == "unknown"]

    @property
    def gridding(self) -> list[GriddingIssue]:
        """Nodes whose fields have holes, with the layers responsible and a fix."""
        issues = []
        for node in self.nodes:
            for axis, f in enumerate(node.fields):
                if isinstance(f, Field) and f.has_holes:
                    issues.append(self._diagnose(node, axis, f))
        return issues

    def _diagnose(self, node: Node, axis: int, f: Field) -> GriddingIssue:
        offsets = f.phases[0].offsets
        g = 0
        for a, b in itertools.pairwise(offsets):
            g = gcd(g, b - a)
        period = g if g > 1 else None
        layers: list[tuple[str, int, int]] = []  # name, dilation, kernel
        seen: set[str] = set()
        stack = [node.name]
        while stack:
            name = stack.pop()
            if name in seen or name not in self.by_name:
                continue
            seen.add(name)
            n = self.by_name[name]
            if isinstance(n.spec, ConvSpec) and not n.spec.transposed and axis < n.spec.ndim:
                d = n.spec.dilation[axis]
                if d > 1 and (period is None or d % period == 0):
                    layers.append((n.name, d, n.spec.kernel_size[axis]))
            stack.extend(n.inputs)
        layers.reverse()
        rates = [d for _, d, _ in layers]
        kernels = {k for _, _, k in layers}
        replacement = None
        if rates and len(kernels) == 1:
            replacement = replacement_rates(rates, kernels.pop())
        return GriddingIssue(
            node.name,
            axis,
            sum(len(p.holes) for p in f.phases),
            f.size,
            period,
            tuple((n, d) for n, d, _ in layers),
            len(rates) > 1 and len(set(rates)) == 1,
            replacement,
        )

    # ----------------------------------------------------------------- output

    def rows(self, all_nodes: bool = False) -> list[dict[str, Any]]:
        """One dict per node (layers, merges, globals and unknowns; ``all_nodes`` adds the
        pointwise and reshaping ones)."""
        out = []
        for n in self.nodes:
            if not all_nodes and n.kind in ("pointwise", "reshape"):
                continue
            row: dict[str, Any] = {
                "name": n.name,
                "op": n.spec.describe() if n.spec is not None else n.op,
                "kind": n.kind,
                "shape": list(n.shape),
                "params": n.params,
                "rf": n.rf(),
                "jump": [_fmt_frac(f.jump) if isinstance(f, Field) else None for f in n.fields],
                "start": [f.start if isinstance(f, Field) else None for f in n.fields],
                "centre": [_fmt_frac(f.centre) if isinstance(f, Field) else None for f in n.fields],
                "offset": [_fmt_frac(_offset(f)) if isinstance(f, Field) else None for f in n.fields],
                "holes": [sum(len(p.holes) for p in f.phases) if isinstance(f, Field) else None for f in n.fields],
                "period": [f.period if isinstance(f, Field) else None for f in n.fields],
                "alignment": "; ".join(n.alignment) if n.alignment else "",
                "notes": list(n.notes),
            }
            out.append(row)
        return out

    def to_json(self, all_nodes: bool = False) -> str:
        """The rows, the gridding diagnosis and the unknown ops as JSON."""
        return json.dumps(
            {
                "input_shape": list(self.trace.input_shape),
                "tracer": self.trace.method,
                "tracer_failure": self.trace.failure,
                "output": self.output,
                "nodes": self.rows(all_nodes),
                "gridding": [
                    {
                        "node": g.node,
                        "axis": g.axis,
                        "holes": g.holes,
                        "size": g.size,
                        "period": g.period,
                        "layers": [list(x) for x in g.layers],
                        "repeated": g.repeated,
                        "replacement": list(g.replacement) if g.replacement else None,
                    }
                    for g in self.gridding
                ],
                "unknown": [{"name": n.name, "op": n.op} for n in self.unknown],
            },
            indent=2,
        )

    def table(self, all_nodes: bool = False, title: str | None = None) -> Any:
        """A rich ``Table`` of the rows (print it with ``rich.print``)."""
        from rich.table import Table

        header, rows = self.display(all_nodes)
        t = Table(title=title or f"receptive fields (input {tuple(self.trace.input_shape)})", min_width=80)
        for col in header:
            t.add_column(col, justify="left" if col in ("name", "op", "notes") else "right", overflow="fold")
        for row in rows:
            t.add_row(*row)
        return t

    def display(self, all_nodes: bool = False) -> tuple[list[str], list[list[str]]]:
        """The rows as text, one column per header entry (for tables in a terminal or HTML)."""

        def axes(values: list[Any]) -> str:
            vals = ["-" if v is None else str(v) for v in values]
            return vals[0] if len(set(vals)) == 1 else "x".join(vals)

        header = ["name", "op", "output", "params", "RF", "jump", "pad", "offset", "holes", "notes"]
        out = []
        for r in self.rows(all_nodes):
            out.append(
                [
                    r["name"],
                    r["op"],
                    "x".join(map(str, r["shape"][1:])),
                    f"{r['params']:,}" if r["params"] else "",
                    axes(r["rf"]),
                    axes(r["jump"]),
                    axes([None if s is None else -s for s in r["start"]]),
                    axes(r["offset"]),
                    axes(r["holes"]),
                    "; ".join(([r["alignment"]] if r["alignment"] else []) + r["notes"]),
                ]
            )
        return header, out

    def __repr__(self) -> str:
        return f"Report({len(self.nodes)} nodes, output {self.output!r}, rf={self.node().rf()})"

    def _repr_html_(self) -> str:
        from atrous.viz.notebook import report_html

        return report_html(self)


def _offset(f: Field) -> Fraction:
    """Centre of output 0's field minus the centre of the input block it summarises."""
    return f.centre - (f.jump - 1) / 2


def replacement_rates(dilations: Sequence[int], kernel_size: int) -> tuple[int, ...]:
    """Gridding-free rates for a stack with the same kernel: as many layers (or the fewest
    more) reaching at least the same receptive field with no holes.

    Examples:
        >>> replacement_rates([2, 2, 2], 3)
        (1, 3, 2)
    """
    target = stack_receptive_field(dilations, kernel_size)
    plan = plan_dilations(target, kernel_size)
    rates = tuple(plan.dilations)
    if len(rates) < len(dilations):
        rates = (1,) * (len(dilations) - len(rates)) + rates
    assert coverage(rates, kernel_size).ok
    return rates


# --------------------------------------------------------------------------- interpretation


def _get(call: Call, index: int, name: str, default: Any = None) -> Any:
    if name in call.kwargs:
        return call.kwargs[name]
    if len(call.args) > index:
        return call.args[index]
    return default


def _in_shape(call: Call, nodes: Mapping[str, Node]) -> tuple[int, ...] | None:
    for r in _refs(call.args):
        if r.node is not None:
            return r.shape
    return None


def _refs(values: Any) -> list[TensorRef]:
    out: list[TensorRef] = []
    stack = [values]
    while stack:
        v = stack.pop(0)
        if isinstance(v, TensorRef):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            stack[0:0] = list(v)
        elif isinstance(v, dict):
            stack[0:0] = list(v.values())
    return out


def _tuple(v: Any, nd: int) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        return tuple(int(x) for x in v)
    return (int(v),) * nd


def _spec_of(call: Call, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[LayerSpec | None, list[str]]:
    """The layer spec of a conv / transposed conv / pool / upsample call, with notes."""
    f = call.func
    nd = len(in_shape) - 2
    notes: list[str] = []
    if f == "module":
        return call.spec, notes
    if f in ("conv1d", "conv2d", "conv3d"):
        w = _get(call, 1, "weight")
        padding = _get(call, 4, "padding", 0)
        if isinstance(padding, str):
            pass
        else:
            padding = _tuple(padding, nd)
        spec = ConvSpec(
            w.shape[2:],
            _tuple(_get(call, 3, "stride", 1), nd),
            padding,
            _tuple(_get(call, 5, "dilation", 1), nd),
            ndim=nd,
        )
        return spec, notes
    if f in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        w = _get(call, 1, "weight")
        k = w.shape[2:]
        stride = _tuple(_get(call, 3, "stride", 1), nd)
        padding = _tuple(_get(call, 4, "padding", 0), nd)
        dilation = _tuple(_get(call, 7, "dilation", 1), nd)
        base = ConvSpec(k, stride, padding, dilation, transposed=True, ndim=nd)
        zero = layer_output_size(base, in_shape[2:])
        ops = tuple(o - z for o, z in zip(out_shape[2:], zero))
        return base.replace(output_padding=ops), notes
    if f.startswith("max_pool") or f.startswith("avg_pool"):
        is_max = f.startswith("max")
        k = _tuple(_get(call, 1, "kernel_size"), nd)
        stride = _get(call, 2, "stride", None)
        stride = k if stride in (None, [], ()) else _tuple(stride, nd)
        padding = _tuple(_get(call, 3, "padding", 0), nd)
        if is_max:
            dilation = _tuple(_get(call, 4, "dilation", 1), nd)
            ceil = bool(_get(call, 5, "ceil_mode", False))
        else:
            dilation = (1,) * nd
            ceil = bool(_get(call, 4, "ceil_mode", False))
        return PoolSpec(k, stride, padding, dilation, mode="max" if is_max else "avg", ceil_mode=ceil, ndim=nd), notes
    return None, notes


def _scale_spec(in_shape: tuple[int, ...], out_shape: tuple[int, ...], mode: str) -> tuple[LayerSpec | None, list[str]]:
    nd = len(in_shape) - 2
    scales = []
    for n, o in zip(in_shape[2:], out_shape[2:]):
        if o % n:
            return None, [f"resize {n}->{o} is not an integer scale"]
        scales.append(o // n)
    if mode == "nearest":
        return UpsampleSpec(tuple(scales), ndim=nd), []
    if mode in ("linear", "bilinear", "trilinear"):
        return UpsampleSpec(tuple(scales), mode="linear", ndim=nd), []
    return UpsampleSpec(tuple(scales), ndim=nd), [f"{mode} interpolation approximated by nearest taps"]


def _steps(axes: Sequence[Axis], fields: Sequence[AxisField]) -> list[AxisField]:
    out: list[AxisField] = []
    for i, (ax, f) in enumerate(zip(axes, fields)):
        out.append(f.then(ax, i) if isinstance(f, Field) else f)
    return out


def analyze(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    specs: Mapping[str, LayerSpec | str] | None = None,
    method: str = "auto",
) -> Report:
    """Trace ``model`` and compute exact receptive fields at every node.

    Args:
        model: any ``torch.nn.Module`` taking one tensor ``(N, C, *spatial)``.
        input_shape: the input shape, e.g. ``(1, 3, 224, 224)``.
        specs: declare what atrous does not know: module path (``"backbone.block3"``) or
            op name (``"module:MyOp"``) -> a ``ConvSpec`` / ``PoolSpec`` / ``UpsampleSpec``,
            ``"pointwise"`` or ``"global"``.
        method: ``"auto"`` (torch.fx, falling back to hooks on the meta device), ``"fx"`` or
            ``"hooks"``.

    Returns:
        A :class:`Report`.
    """
    tr = trace(model, input_shape, method)
    declared = dict(specs or {})
    nd = len(tr.input_shape) - 2
    nodes: dict[str, Node] = {}
    inp = Node(
        INPUT,
        "input",
        "input",
        [],
        tr.input_shape,
        None,
        [Field.identity(n) for n in tr.input_shape[2:]],
        spatial=nd,
    )
    nodes[INPUT] = inp
    order = [inp]
    scopes: dict[str, list[AxisField]] = {}  # declared module path -> the field entering it
    for call in tr.calls:
        node = _interpret(call, nodes, nd, declared, scopes)
        nodes[node.name] = node
        order.append(node)
    output = tr.outputs[0] if tr.outputs else order[-1].name
    return Report(order, output, tr)


def _scope(module: str, declared: Mapping[str, LayerSpec | str]) -> str | None:
    """The declared module path that ``module`` lies in (itself or an ancestor), if any."""
    for key in declared:
        if module == key or module.startswith(key + "."):
            return key
    return None


def _interpret(
    call: Call,
    nodes: Mapping[str, Node],
    nd: int,
    declared: Mapping[str, LayerSpec | str],
    scopes: dict[str, list[AxisField]] | None = None,
) -> Node:
    ins = [nodes[n] for n in call.inputs if n in nodes]
    first = ins[0] if ins else None
    in_fields: list[AxisField] = list(first.fields) if first else [None] * nd
    in_shape = _in_shape(call, nodes) or (first.shape if first else ())
    out_shape = call.shape or ()
    node = Node(
        call.name,
        call.func,
        "pointwise",
        [n.name for n in ins],
        out_shape,
        None,
        in_fields,
        call.params,
        call.module,
        call.module_type,
        spatial=first.spatial if first else 0,
    )
    f = call.func
    scope = _scope(call.module, declared) if call.module else None
    if scope is not None and scopes is not None:
        # a declared module is one step, however many calls it makes: every call inside it
        # gets the declared field of what entered the module
        outside = [n for n in ins if not (n.module == scope or n.module.startswith(scope + "."))]
        if scope not in scopes or outside:
            entry = outside[0] if outside else first
            scopes[scope] = list(entry.fields) if entry else [None] * nd
            scope_in_shape = entry.shape if entry else in_shape
            scopes[scope + "\0shape"] = scope_in_shape  # type: ignore[assignment]
        node.fields = list(scopes[scope])
        return _apply_declared(node, declared[scope], scopes[scope + "\0shape"], out_shape, nd)  # type: ignore[arg-type]
    declaration = declared.get(f)
    if declaration is not None:
        return _apply_declared(node, declaration, in_shape, out_shape, nd)
    spatial_in = first.spatial if first else 0
    try:
        if (
            f == "module"
            or f in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
            or f.startswith(("max_pool", "avg_pool"))
        ):
            if spatial_in != nd or len(in_shape) != nd + 2:
                return _unknown(node, f"{f} on a tensor whose spatial axes are not the input's")
            spec, notes = _spec_of(call, in_shape, out_shape)
            if spec is None:
                return _unknown(node, f"cannot read the spec of {f}")
            return _layer(node, spec, in_shape, out_shape, notes)
        if f in ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear") or f.startswith("upsample_"):
            mode = (
                _get(call, 3, "mode", "nearest") if f == "interpolate" else ("nearest" if "nearest" in f else "linear")
            )
            if bool(_get(call, 4, "align_corners", False)) and mode != "nearest":
                spec, notes = _scale_spec(in_shape, out_shape, "nearest")
                notes = [f"{mode} with align_corners=True approximated by nearest taps"]
            else:
                spec, notes = _scale_spec(in_shape, out_shape, str(mode))
            if spec is None:
                node.fields = [GLOBAL if isinstance(x, _Global) else None for x in in_fields]
                return _unknown(node, notes[0]) if not all(isinstance(x, _Global) for x in in_fields) else node
            return _layer(node, spec, in_shape, out_shape, notes)
        if f in ("pixel_shuffle", "pixel_unshuffle"):
            r = int(_get(call, 1, "upscale_factor" if f == "pixel_shuffle" else "downscale_factor"))
            axes = [Axis("upsample", 1, r) if f == "pixel_shuffle" else Axis("conv", r, r) for _ in range(nd)]
            node.kind, node.fields = "layer", _steps(axes, in_fields)
            node.notes.append(f"{f} x{r}")
            return node
        if f == "pad":
            return _pad(node, call, in_fields, nd)
        if f == "__getitem__":
            return _getitem(node, call, in_shape, out_shape, in_fields, nd)
        if f in ("adaptive_pool",) or f.startswith("adaptive_"):
            return _adaptive(node, in_shape, out_shape, in_fields, nd)
        if f in _BINARY or f in ("cat", "concat", "concatenate", "stack", "hstack"):
            return _merge(node, call, ins, nd)
        if f in ("flatten", "view", "reshape", "squeeze", "unsqueeze", "permute", "transpose", "movedim", "swapaxes"):
            return _reshape(node, in_shape, out_shape, in_fields, nd)
        if f == "linear":
            if node.spatial == 0:
                node.kind, node.fields = "global", [GLOBAL] * nd
            else:
                node.kind = "global"
                node.fields = [*list(in_fields[:-1]), GLOBAL]
                node.notes.append("linear over the last spatial axis")
            return node
        if f in _REDUCE:
            return _reduce(node, call, in_shape, in_fields, nd)
        if f in _GLOBAL_FUNCS:
            node.kind, node.fields = "global", [GLOBAL] * nd
            node.notes.append(f"{f}: treated as global (it can mix positions)")
            return node
        if f in ("softmax", "log_softmax"):
            dim = _get(call, 1, "dim", None)
            if dim is not None and _spatial_dims([int(dim)], len(in_shape), nd):
                node.kind, node.fields = "global", [GLOBAL] * nd
            return node
        if f in _POINTWISE_FUNCS:
            return node
    except SpecError as exc:
        return _unknown(node, str(exc))
    if first is not None and len(in_shape) == len(out_shape) and in_shape[2:] == out_shape[2:]:
        node.kind = "unknown"
        node.notes.append(f"unknown op {f}: assumed pointwise (spatial shape unchanged); declare it with specs=")
        return node
    return _unknown(node, f"unknown op {f}; declare it with specs=")


def _unknown(node: Node, why: str) -> Node:
    node.kind = "unknown"
    node.fields = [GLOBAL if f is GLOBAL else None for f in node.fields]
    node.notes.append(why)
    return node


def _layer(
    node: Node, spec: LayerSpec, in_shape: tuple[int, ...], out_shape: tuple[int, ...], notes: list[str]
) -> Node:
    sizes = in_shape[2:]
    full = spec.for_ndim(len(sizes))
    node.spec = full
    node.kind = "layer"
    node.notes.extend(notes)
    node.fields = _steps(full.axes(sizes), node.fields)
    expected = layer_output_size(full, sizes)
    if tuple(out_shape[2:]) != expected:
        node.notes.append(f"traced output {tuple(out_shape[2:])} differs from the spec's {expected}")
    return node


def _apply_declared(
    node: Node, declaration: LayerSpec | str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], nd: int
) -> Node:
    node.notes.append("declared by the user")
    if declaration == "pointwise":
        return node
    if declaration == "global":
        node.kind, node.fields = "global", [GLOBAL] * nd
        return node
    if isinstance(declaration, (ConvSpec, PoolSpec, UpsampleSpec)):
        return _layer(node, declaration, in_shape, out_shape, [])
    raise SpecError(
        f"a declared spec must be a ConvSpec, PoolSpec, UpsampleSpec, 'pointwise' or 'global', got {declaration!r}"
    )


def _spatial_dims(dims: Sequence[int], rank: int, nd: int) -> list[int]:
    """Which network axes (0..nd-1) the tensor dims ``dims`` are, for an (N, C, *S) tensor."""
    out = []
    for d in dims:
        d = d % rank if rank else d
        if rank == nd + 2 and d >= 2:
            out.append(d - 2)
    return out


def _pad(node: Node, call: Call, fields: list[AxisField], nd: int) -> Node:
    pad = list(_get(call, 1, "pad"))
    mode = _get(call, 2, "mode", "constant")
    axes: list[Axis] = [Axis("conv", 1, 1, 1, 0, 0)] * nd
    for j in range(len(pad) // 2):
        axis = nd - 1 - j
        if axis < 0:
            return _unknown(node, "padding of non-spatial dimensions")
        axes[axis] = Axis("conv", 1, 1, 1, int(pad[2 * j]), int(pad[2 * j + 1]))
    node.kind = "layer"
    node.fields = _steps(axes, fields)
    node.notes.append(f"pad {tuple(pad)}" + ("" if mode == "constant" else f" ({mode}: border taps not exact)"))
    return node


def _getitem(
    node: Node, call: Call, in_shape: tuple[int, ...], out_shape: tuple[int, ...], fields: list[AxisField], nd: int
) -> Node:
    index = call.args[1] if len(call.args) > 1 else None
    if not isinstance(call.args[0], TensorRef) or call.args[0].multi:
        return node  # picking one output of a tuple (split, chunk, ...): same field
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        pos = index.index(Ellipsis)
        index = index[:pos] + (slice(None),) * (len(in_shape) - len(index) + 1) + index[pos + 1 :]
    index = index + (slice(None),) * (len(in_shape) - len(index))
    axes: list[Axis] = []
    for dim in range(2, len(in_shape)):
        idx = index[dim]
        if not isinstance(idx, slice):
            return _unknown(node, f"indexing a spatial axis with {idx!r}")
        n = in_shape[dim]
        start, stop, step = idx.indices(n)
        length = len(range(start, stop, step))
        if step < 1 or length < 1:
            return _unknown(node, f"slice {idx!r} of a spatial axis")
        lo = -start
        hi = (length - 1) * step + 1 - n - lo
        axes.append(Axis("conv", 1, step, 1, lo, hi))
    if len(in_shape) != nd + 2:
        return _unknown(node, "slicing a tensor whose spatial axes are not the input's")
    node.kind = "layer"
    node.fields = _steps(axes, fields)
    node.notes.append("crop")
    return node


def _adaptive(
    node: Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...], fields: list[AxisField], nd: int
) -> Node:
    out: list[AxisField] = []
    exact = True
    for i, (n, m, f) in enumerate(zip(in_shape[2:], out_shape[2:], fields)):
        if m == 1:
            out.append(GLOBAL)
        elif n % m == 0 and isinstance(f, Field):
            k = n // m
            out.append(f.then(Axis("pool", k, k), i))
        else:
            exact = False
            out.append(None)
    node.kind = "global" if all(x is GLOBAL for x in out) else "layer"
    node.fields = out
    if not exact:
        node.notes.append("adaptive pooling with uneven bins: not shift-equivariant, field unknown")
    return node


def _merge(node: Node, call: Call, ins: list[Node], nd: int) -> Node:
    if call.func in ("cat", "concat", "concatenate", "stack", "hstack"):
        dim = int(_get(call, 1, "dim", 0))
        rank = len(ins[0].shape) if ins else 0
        if _spatial_dims([dim], rank, nd):
            return _unknown(node, "concatenation along a spatial axis")
    node.kind = "merge"
    if len(ins) < 2:
        return node
    fields: list[AxisField] = []
    for axis in range(nd):
        branch = [n.fields[axis] for n in ins]
        local = [(n.name, f) for n, f in zip(ins, branch) if isinstance(f, Field)]
        if any(f is None for f in branch):
            fields.append(None)
            continue
        if any(f is GLOBAL for f in branch):
            fields.append(GLOBAL)
            continue
        lengths = {f.length for _, f in local}
        if len(lengths) > 1:
            fields.append(None)
            node.alignment.append(f"axis {axis}: branch lengths differ ({sorted(lengths)}): broadcasting")
            continue
        merged = Field.union([f for _, f in local], [n for n, _ in local])
        if not merged.alignment.aligned:
            node.alignment.append(f"axis {axis}: {merged.alignment.describe()}")
        fields.append(merged.field)
    node.fields = fields
    return node


def _reshape(
    node: Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...], fields: list[AxisField], nd: int
) -> Node:
    if (
        len(in_shape) >= 2
        and len(out_shape) >= 2
        and tuple(in_shape[2:]) == tuple(out_shape[2:])
        and in_shape[0] == out_shape[0]
    ):
        return node  # channels reshaped only
    if len(out_shape) <= 2 and in_shape[:1] == out_shape[:1]:
        node.kind = "reshape"
        node.spatial = 0
        node.notes.append("spatial axes flattened")
        return node
    return _unknown(node, f"reshape {tuple(in_shape)} -> {tuple(out_shape)} moves spatial axes")


def _reduce(node: Node, call: Call, in_shape: tuple[int, ...], fields: list[AxisField], nd: int) -> Node:
    dims = _get(call, 1, "dim", None)
    if dims is None:
        node.kind, node.fields = "global", [GLOBAL] * nd
        return node
    dims = [int(d) for d in (dims if isinstance(dims, (tuple, list)) else [dims])]
    axes = _spatial_dims(dims, len(in_shape), nd)
    if axes:
        node.kind = "global"
        node.fields = [GLOBAL if i in axes else f for i, f in enumerate(fields)]
        if not bool(_get(call, 2, "keepdim", False)):
            node.spatial = max(0, node.spatial - len(axes))
    return node
