"""The result of an analysis: one :class:`Node` per traced operation, and the :class:`Report`.

Every axis of every node has one of three answers, never anything in between:

- a :class:`~atrous.geometry.Field`: exact tap sets (``report.field(name)[axis].support(y)``);
- a :class:`Global`: every output reads the same input positions (``GLOBAL``: all of them),
  with the reason and the node that made it so (``node.why``);
- ``None``: unknown, with the node whose operation atrous does not know and the declaration
  that would resolve it (``node.why``; such nodes are listed in ``report.unknown``).

Normalisation layers whose statistics are taken over space (GroupNorm, InstanceNorm,
LayerNorm over a spatial axis, BatchNorm in training mode) make the exact field global; the
field with those statistics held fixed is a second, labelled answer:
``report.field(name, statistics="frozen")``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from atrous.analysis.trace import Trace
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, Field, FieldND, LayerSpec, replacement_rates

__all__ = ["GLOBAL", "AnalysisWarning", "Global", "GriddingIssue", "Node", "Report", "replacement_rates"]


class AnalysisWarning(UserWarning):
    """Something in an analysed model the user should look at (a traced size that disagrees
    with a layer's spec, branches merged out of alignment)."""


class Global:
    """Every output reads the same input positions along an axis: all of them (``GLOBAL``)
    or the runs ``runs`` (a global operation after a layer that skips positions)."""

    __slots__ = ("runs",)

    def __init__(self, runs: tuple[tuple[int, int], ...] | None = None) -> None:
        self.runs = runs

    @property
    def whole(self) -> bool:
        return self.runs is None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Global) and self.runs == other.runs

    def __hash__(self) -> int:
        return hash(("Global", self.runs))

    def __repr__(self) -> str:
        return "GLOBAL" if self.runs is None else f"Global(runs={self.runs})"


GLOBAL = Global()
AxisField = Field | Global | None  # None: unknown


@dataclass
class Node:
    """One analysed operation.

    Attributes:
        name, op: node name and the operation (``conv2d``, ``max_pool2d``, ``add``, ...).
        kind: ``"layer"`` (has a spec or moves positions), ``"merge"``, ``"pointwise"``,
            ``"global"``, ``"reshape"``, ``"input"`` or ``"unknown"``.
        inputs: names of the nodes feeding it.
        shape: output shape.
        spec: the layer's spec for convolutions, pools, upsamplings; ``None`` otherwise.
        fields: per spatial axis of the network input: a Field, a :class:`Global` or
            ``None`` (unknown).
        frozen: the fields with normalisation statistics held fixed (``None``: the same).
        why: per axis, for a global or unknown answer, the node that made it so and why.
        params: parameters of the operation.
        alignment: at a merge, the alignment report per axis (``"aligned"`` or what differs).
        notes: what atrous read from this node (pads, crops, declared specs, statistics).
        spatial: how many of the input's spatial axes the output still has.
        layout: the dimension labels of the output (:mod:`atrous.analysis.layout`).
        axes: for a layer, the input axes its spec's axes act on.
        moves: per input axis, what this operation did along it, in order: ``("step", Axis,
            boundary)`` (positions moved by the geometry core), ``("mix", how)`` (positions
            mixed: ``"global"``, ``"window"``, ``"strided"``) or ``("pin",)`` (one position
            picked). Streaming reads it to decide how each op runs along time.
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
    spatial: int = 0
    frozen: list[AxisField] | None = None
    why: list[str | None] = field(default_factory=list)
    layout: Any = None
    axes: tuple[int, ...] = ()
    elements: list[Any] | None = None  # per output of a multi-output call: (layout, fields, frozen, why)
    moves: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)  # axis -> what this op did along it

    def rf(self, statistics: str = "exact") -> list[int | str]:
        """Per axis: the receptive field size, ``"global"`` or ``"?"`` (unknown)."""
        return [_size(f) for f in self.fields_for(statistics)]

    def fields_for(self, statistics: str = "exact") -> list[AxisField]:
        if statistics not in ("exact", "frozen"):
            raise SpecError(f"statistics must be 'exact' or 'frozen', got {statistics!r}")
        if statistics == "frozen" and self.frozen is not None:
            return self.frozen
        return self.fields


def _size(f: AxisField) -> int | str:
    if isinstance(f, Field):
        return f.size
    if isinstance(f, Global):
        return "global" if f.whole else f"global ({sum(b - a + 1 for a, b in f.runs or ())} positions)"
    return "?"


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

    def field(self, name: str | None = None, *, statistics: str = "exact") -> FieldND:
        """The per-axis fields of a node (default: the output) as a :class:`FieldND`.

        ``report.field()[axis].support(y)`` gives the exact input positions that output index
        ``y`` depends on. ``statistics="frozen"`` holds normalisation statistics fixed (see
        the module docstring). Raises SpecError, with the reason and the node responsible,
        when an axis is global or unknown.
        """
        node = self.node(name)
        fields = []
        for i, f in enumerate(node.fields_for(statistics)):
            if not isinstance(f, Field):
                why = node.why[i] if i < len(node.why) and node.why[i] else ""
                what = (
                    "global (it reads the whole input)"
                    if isinstance(f, Global) and f.whole
                    else ("global (every output reads the same positions)" if isinstance(f, Global) else "unknown")
                )
                raise SpecError(f"the field of {node.name!r} on axis {i} is {what}" + (f": {why}" if why else ""))
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
        g = f.phases[0].spacing
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
            if isinstance(n.spec, ConvSpec) and not n.spec.transposed and axis in n.axes:
                i = n.axes.index(axis)
                d = n.spec.dilation[i]
                if d > 1 and (period is None or d % period == 0):
                    layers.append((n.name, d, n.spec.kernel_size[i]))
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
            sum(p.hole_count for p in f.phases),
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
                "holes": [sum(p.hole_count for p in f.phases) if isinstance(f, Field) else None for f in n.fields],
                "period": [f.period if isinstance(f, Field) else None for f in n.fields],
                "alignment": "; ".join(n.alignment) if n.alignment else "",
                "notes": list(n.notes),
                "why": [w for w in n.why] if any(n.why) else [],
            }
            if n.frozen is not None:
                row["rf_frozen"] = n.rf("frozen")
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
                "unknown": [{"name": n.name, "op": n.op, "why": n.notes[-1] if n.notes else ""} for n in self.unknown],
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
            rf = axes(r["rf"])
            if "rf_frozen" in r:
                rf += f" (frozen stats: {axes(r['rf_frozen'])})"
            out.append(
                [
                    r["name"],
                    r["op"],
                    "x".join(map(str, r["shape"][1:])),
                    f"{r['params']:,}" if r["params"] else "",
                    rf,
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


def warn(message: str) -> None:
    warnings.warn(message, AnalysisWarning, stacklevel=4)
