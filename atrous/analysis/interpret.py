"""The interpreter: every traced call becomes layout moves and exact field steps.

Each node carries a :mod:`layout <atrous.analysis.layout>` (which tensor dimensions hold which
spatial axes) and per-axis answers (:class:`~atrous.geometry.Field`, :class:`Global` or
``None``). An op that moves positions along a dimension holding a whole axis becomes steps
of the geometry core (convolutions, pools, pads, crops, upsamplings, circular shifts,
cumulative sums); an op that mixes a dimension makes the axes in it global, or window-local
when it mixes only the inner part of a split axis (Swin's windows); ops on channel or batch
dimensions leave fields alone. Anything else is unknown, named, and never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from atrous.analysis import layout as L
from atrous.analysis.layout import Dim, Factor, Layout
from atrous.analysis.ops import family, get, number, refs
from atrous.analysis.report import GLOBAL, AxisField, Global, Node, warn
from atrous.analysis.trace import INPUT, Call, TensorRef, Trace, conv_spec_of
from atrous.errors import SpecError
from atrous.geometry import Axis, ConvSpec, Field, LayerSpec, PoolSpec, UpsampleSpec, _runs, layer_output_size
from atrous.geometry._runs import Runs

__all__ = ["Interpreter"]

Fields = list[AxisField]
Why = list[str | None]


class _Unknown(Exception):
    """Raised inside a handler: the node is unknown, for the reason given."""


def _hint(call: Call) -> str:
    where = call.module or call.name
    return f"declare it with specs={{{where!r}: 'pointwise' | 'global' | ConvSpec(...)}}"


class Interpreter:
    """Walks a :class:`~atrous.analysis.trace.Trace` into :class:`Node` s."""

    def __init__(
        self,
        trace: Trace,
        declared: Mapping[str, LayerSpec | str],
        ops: Mapping[str, LayerSpec | str] | None = None,
        extra_layouts: Mapping[str, tuple[Sequence[int], str]] | None = None,
    ) -> None:
        self.trace = trace
        self.letters = L.parse_layout(trace.input_layout, len(trace.input_shape))
        self.sizes = L.spatial_sizes(trace.input_shape, self.letters)
        self.nd = len(self.sizes)
        self.declared = declared
        self.declared_ops = dict(ops or {})
        self.needs_values = ""  # set when an answer needs the value of a constant (meta trace)
        self.extra_layouts = dict(extra_layouts or {})  # keyword input node -> (shape, layout letters)
        self.nodes: dict[str, Node] = {}
        self.misaligned: list[str] = []

    # ------------------------------------------------------------------ driver

    def run(self) -> list[Node]:
        tr = self.trace
        inp = Node(INPUT, "input", "input", [], tr.input_shape, None,
                   [Field.identity(n) for n in self.sizes], spatial=self.nd)  # fmt: skip
        inp.why = [None] * self.nd
        inp.layout = L.initial(tr.input_shape, self.letters)
        self.nodes[INPUT] = inp
        order = [inp]
        axes_of = {ch: i for i, ch in enumerate(ch for ch in self.letters if ch not in "NC")}
        for name, (shape, letters) in self.extra_layouts.items():
            # a keyword input: its spatial letters name the main input's axes (aligned by index)
            dims: list[L.Dim] = []
            for n, ch in zip(shape, letters, strict=True):
                if ch == "N":
                    dims.append(L.canon((Factor("b", n),)))
                elif ch == "C" or ch not in axes_of:
                    dims.append(L.channels(n))
                else:
                    dims.append((Factor("s", n, axes_of[ch], 1),))
            # fields are answers about the main input: another input reads none of its positions
            fields: Fields = [Global(()) for _ in range(self.nd)]
            extra = Node(name, "input", "input", [], tuple(shape), None, fields, spatial=self.nd)
            extra.why, extra.layout = [None] * self.nd, tuple(dims)
            self.nodes[name] = extra
            order.append(extra)
        for call in tr.calls:
            node = self.interpret(call)
            self.nodes[node.name] = node
            order.append(node)
        if self.misaligned:
            warn("branches merged out of alignment: " + "; ".join(self.misaligned[:5]))
        return order

    def interpret(self, call: Call) -> Node:
        ins = [self.nodes[n] for n in call.inputs if n in self.nodes]
        first = self._node_of(call.args[0]) if call.args and isinstance(call.args[0], TensorRef) else None
        first = first or (ins[0] if ins else None)
        node = Node(call.name, call.func, "pointwise", [n.name for n in ins], call.shape or (), None,
                    list(first.fields) if first else [None] * self.nd, call.params, call.module,
                    call.module_type)  # fmt: skip
        node.why = list(first.why) if first else [None] * self.nd
        node.frozen = list(first.frozen) if first and first.frozen is not None else None
        node.layout = first.layout if first else None
        fam = family(call)
        if call.func in self.declared_ops:
            call = Call(call.name, "module", call.args, call.kwargs, call.inputs, call.shape, call.module,
                        call.module_type, self.declared_ops[call.func], call.params, call.fn, call.shapes)  # fmt: skip
            node.notes.append("declared by the user")
            fam = "layer"
        handler: Callable[[Node, Call, list[Node]], None] = getattr(self, f"_fam_{fam}")
        try:
            if first is None:
                raise _Unknown("no traced input")
            handler(node, call, ins)
        except _Unknown as exc:
            self._mark_unknown(node, f"{exc}; {_hint(call)}")
        except SpecError as exc:
            self._mark_unknown(node, f"{call.func}: {exc}")
        if node.kind != "unknown":
            self._rebase(node)
        elif not node.notes:
            reason = next((w for w in node.why if w), f"{call.func}: the field is unknown")
            node.notes.append(f"{reason}; {_hint(call)}")
        if node.elements:
            for i, (lay, fields, frozen, why) in enumerate(node.elements):
                sub = Node(node.name, node.op, node.kind, [], (), None, fields, frozen=frozen, why=why, layout=lay)
                self._rebase(sub)
                node.elements[i] = (sub.layout, sub.fields, sub.frozen, sub.why)
        node.spatial = len({f.axis for d in node.layout or () for f in d if f.kind == "s"})
        return node

    def _node_of(self, ref: TensorRef) -> Node | None:
        return self.nodes.get(ref.node) if ref.node is not None else None

    def _mark_unknown(self, node: Node, why: str) -> None:
        node.kind = "unknown"
        node.notes.append(why)
        node.fields = [f if isinstance(f, Global) and f.whole else None for f in node.fields]
        node.why = [
            w if isinstance(f, Global) else f"{node.name}: {why}" for f, w in zip(node.fields, node.why, strict=True)
        ]
        if node.frozen is not None:
            node.frozen = [f if isinstance(f, Global) and f.whole else None for f in node.frozen]
        if node.layout is None or (L.reshape(node.layout, node.shape) is None and len(node.layout) != len(node.shape)):
            node.layout = tuple(L.channels(n) for n in node.shape)

    # ------------------------------------------------------------------ field transforms (both variants)

    def _apply(self, node: Node, fn: Callable[[Fields, Why], tuple[Fields, Why]], stats: bool = False) -> None:
        """Apply ``fn`` to the exact fields, and to the frozen ones unless ``stats`` (a
        normalisation statistic: frozen, it is pointwise)."""
        exact_in = node.fields
        frozen_in = node.frozen
        fields, why = fn(list(exact_in), list(node.why))
        if stats:
            node.frozen = list(exact_in) if frozen_in is None else frozen_in
        elif frozen_in is not None:
            node.frozen, _ = fn(list(frozen_in), list(node.why))
        node.fields, node.why = fields, why
        if node.frozen is not None and all(a is b for a, b in zip(node.frozen, node.fields, strict=True)):
            node.frozen = None

    def _step(self, node: Node, steps: Mapping[int, list[tuple[Axis, str]]]) -> None:
        """Geometry steps per axis: ``(Axis, boundary)`` pairs applied in order."""
        for a, seq in steps.items():
            node.moves.setdefault(a, []).extend(("step", axis, boundary) for axis, boundary in seq)

        def fn(fields: Fields, why: Why) -> tuple[Fields, Why]:
            for a, seq in steps.items():
                f = fields[a]
                if isinstance(f, Field):
                    for axis, boundary in seq:
                        f = f.then(axis, a if self.nd > 1 else None, boundary=boundary)
                    fields[a] = f
            return fields, why

        self._apply(node, fn)

    def _global(self, f: AxisField, a: int) -> AxisField:
        """Mixing every position of axis ``a``: every output reads what any output read."""
        if not isinstance(f, Field):
            return f
        runs = f.reads()
        return GLOBAL if runs == ((0, self.sizes[a] - 1),) else Global(runs)

    def _mix_factors(
        self, node: Node, layout: Layout, picked: set[tuple[int, int]], keep: bool, reason: str, stats: bool = False
    ) -> Layout:
        """Mix the factors ``picked`` (``(dim, index)`` pairs of ``layout``): the axes they
        hold whole become global, inner parts of split axes window-local. With ``keep`` the
        factors stay (softmax), else they go (a reduction, a contraction): the returned
        layout has them removed and the remaining factors' strides rescaled."""
        windows: dict[int, int] = {}
        strided: dict[int, tuple[int, int]] = {}  # axis -> (positions mixed, their stride)
        whole: list[int] = []
        bad: dict[int, str] = {}
        for a in range(self.nd):
            factors = sorted(
                ((i, j, f) for i, d in enumerate(layout) for j, f in enumerate(d) if f.kind == "s" and f.axis == a),
                key=lambda t: t[2].stride,
            )
            flags = [(i, j) in picked for i, j, _ in factors]
            if not any(flags):
                continue
            if all(flags):
                whole.append(a)
                continue
            inner = 0
            while flags[inner]:
                inner += 1
            outer = len(flags)
            while flags[outer - 1]:
                outer -= 1
            if any(flags[inner:outer]):
                bad[a] = f"{node.name}: {reason} mixes positions of axis {a} that form neither a window nor a stride"
                continue
            if inner:
                windows[a] = math.prod(f.size for _, _, f in factors[:inner])
            if outer < len(flags):
                strided[a] = (math.prod(f.size for _, _, f in factors[outer:]), factors[outer][2].stride)

        for a in whole:
            node.moves.setdefault(a, []).append(("mix", "global"))
        for a in windows:
            node.moves.setdefault(a, []).append(("mix", "window"))
        for a in strided:
            node.moves.setdefault(a, []).append(("mix", "strided"))
        for a in bad:
            node.moves.setdefault(a, []).append(("mix", "unknown"))

        def fn(fields: Fields, why: Why) -> tuple[Fields, Why]:
            index = (lambda a: a) if self.nd > 1 else (lambda a: None)
            for a in whole:
                before = fields[a]
                fields[a] = self._global(before, a)
                if isinstance(before, Field):
                    why[a] = f"{node.name}: {reason}"
            for a, p in windows.items():
                f = fields[a]
                if isinstance(f, Field):
                    f = f.then(Axis("pool", p, p), index(a))
                    fields[a] = f.then(Axis("upsample", 1, p), index(a))
            for a, (m, q) in strided.items():
                f = fields[a]
                if isinstance(f, Field):
                    # every position with the same offset inside the stride: a dilated
                    # window wide enough to reach both ends, clipped by the borders
                    fields[a] = f.then(Axis("conv", 2 * m - 1, 1, q, (m - 1) * q, (m - 1) * q), index(a))
            for a, text in bad.items():
                if not (isinstance(fields[a], Global) and fields[a].whole):  # type: ignore[union-attr]
                    fields[a] = None
                    why[a] = text
            return fields, why

        self._apply(node, fn, stats)
        if whole:
            node.notes.append(f"{reason}: global along axis {', '.join(map(str, whole))}")
        if windows:
            node.notes.append(f"{reason}: windows of {', '.join(f'{p} along axis {a}' for a, p in windows.items())}")
        if strided:
            node.notes.append(
                f"{reason}: positions strided by {', '.join(f'{q} along axis {a}' for a, (_, q) in strided.items())}"
            )
        if stats and whole:
            node.notes.append(
                "its statistics make the field global; report.field(..., statistics='frozen') holds them fixed"
            )
        if bad:
            node.kind = "unknown"
            node.notes.append(next(iter(bad.values())))
        if keep:
            return layout
        # the mixed factors go; a window's outer factors are re-based by _rebase
        return tuple(tuple(f for j, f in enumerate(d) if (i, j) not in picked) for i, d in enumerate(layout))

    def _rebase(self, node: Node) -> None:
        """An axis whose finest remaining factor has stride ``P > 1`` (its inner window was
        mixed and removed: a reduction, a contraction) is indexed per window from now on."""
        lay = node.layout
        if lay is None:
            return
        strides: dict[int, int] = {}
        for d in lay:
            for f in d:
                if f.kind == "s":
                    strides[f.axis] = min(strides.get(f.axis, f.stride), f.stride)
        windows = {a: p for a, p in strides.items() if p > 1}
        if not windows:
            return
        steps = {a: [(Axis("conv", 1, p), "zeros")] for a, p in windows.items()}
        self._step(node, steps)
        node.layout = _rescale(lay, windows)

    # ------------------------------------------------------------------ merges

    def _union(self, node: Node, operands: list[tuple[str, Fields]], axis: int) -> tuple[AxisField, str | None]:
        # an operand that reads no position (a static input) adds nothing to a union
        operands = [
            (n, f) for n, f in operands if not (isinstance(axis_f := f[axis], Global) and axis_f.runs == ())
        ] or operands[:1]
        values = [f[axis] for _, f in operands]
        names = [n for n, _ in operands]
        if any(isinstance(v, Global) and v.whole for v in values):
            return GLOBAL, None
        if any(v is None for v in values):
            return None, None
        globals_ = [v for v in values if isinstance(v, Global)]
        local = [(n, v) for n, v in zip(names, values, strict=True) if isinstance(v, Field)]
        if globals_:
            runs: Runs = []
            for g in globals_:
                runs.extend(g.runs or ())
            merged_runs = _runs.coalesce(runs)
            for _, f in local:
                # every output of a local branch reads a subset of everything that branch reads
                if _runs.coalesce(merged_runs + list(f.reads())) != merged_runs:
                    return None, f"{node.name}: merges a global and a local dependency along axis {axis}"
            return Global(tuple(merged_runs)), None
        if len(local) == 1:
            return local[0][1], None
        lengths = {f.length for _, f in local}
        if len(lengths) > 1:
            return None, f"{node.name}: branch lengths differ along axis {axis} ({sorted(lengths)})"  # type: ignore[type-var]
        merged = Field.union([f for _, f in local], [n for n, _ in local])
        if not merged.alignment.aligned:
            text = f"axis {axis}: {merged.alignment.describe()}"
            node.alignment.append(text)
            if not merged.alignment.causal:  # (a causal residual: both end at the present sample, no warning)
                self.misaligned.append(f"{node.name} {text}")
        if merged.field is None:
            return None, f"{node.name}: branches with different jumps cannot be merged into one field"
        return merged.field, None

    def _merge_fields(self, node: Node, operands: list[Node], extra: Mapping[str, Fields] | None = None) -> None:
        """Fields of an elementwise merge of ``operands`` (by union per axis)."""
        if not operands:
            return
        named = [(n.name, (extra or {}).get(n.name, n.fields)) for n in operands]
        frozen_named = [(n.name, n.frozen if n.frozen is not None else n.fields) for n in operands]
        fields: Fields = []
        why: Why = []
        frozen: Fields = []
        for a in range(self.nd):
            f, w = self._union(node, named, a)
            fields.append(f)
            why.append(w or next((op.why[a] for op in operands if op.why[a]), None))
            if any(n.frozen is not None for n in operands) and not extra:
                f2, _ = self._union(node, frozen_named, a)
                frozen.append(f2)
        node.fields, node.why = fields, why
        node.frozen = frozen if frozen and any(a is not b for a, b in zip(frozen, fields, strict=True)) else None

    def _broadcast_layout(self, node: Node, call: Call, operands: list[TensorRef]) -> Layout:
        """The output layout of a broadcast over ``operands`` (traced ones give the labels)."""
        out_shape = tuple(call.shape or ())
        rank = len(out_shape)
        dims: list[Dim | None] = [None] * rank
        for ref in operands:
            src = self._node_of(ref)
            if src is None:
                continue
            shape = ref.shape
            lay = src.layout
            off = rank - len(shape)
            for i, n in enumerate(shape):
                if n == 1 or n != out_shape[off + i] or (lay[i] and all(fa.kind == "x" for fa in lay[i])):
                    continue
                d = lay[i]
                if dims[off + i] is None:
                    dims[off + i] = d
                elif not L.same(dims[off + i] or (), d):
                    a, b = dims[off + i], d
                    if L.spatial_axes(a or ()) or L.spatial_axes(b):
                        raise _Unknown(
                            f"the operands' layouts differ at dimension {off + i} ({L.describe((a or (),))} vs {L.describe((b,))})"
                        )
        for ref in operands:
            src = self._node_of(ref)
            if src is None:
                continue
            # an operand broadcast along a dimension holding an axis must not depend on it locally
            shape = ref.shape
            off = rank - len(shape)
            present = {f.axis for d in src.layout for f in d if f.kind == "s" and f.size > 1}
            for i, d in enumerate(dims):
                if d is None:
                    continue
                for ax in L.spatial_axes(d):
                    j = i - off
                    if ax not in present and isinstance(src.fields[ax], Field):
                        raise _Unknown(f"{ref.node} is broadcast along axis {ax} from a single position")
                    expanded = (
                        0 <= j < len(shape) and bool(src.layout[j]) and all(fa.kind == "x" for fa in src.layout[j])
                    )
                    if 0 <= j < len(shape) and (shape[j] == 1 or expanded) and ax in present:
                        raise _Unknown(f"{ref.node} is broadcast along axis {ax}")
        return tuple(d if d is not None else L.channels(n) for d, n in zip(dims, out_shape, strict=True))

    # ------------------------------------------------------------------ families

    def _fam_pointwise(self, node: Node, call: Call, ins: list[Node]) -> None:
        if len(ins) > 1:
            return self._fam_binary(node, call, ins)
        src = self.nodes[ins[0].name]
        if tuple(call.shape or ()) != tuple(self._shape_of(call.args[0]) or ()):
            node.layout = L.reshape(src.layout, call.shape or ()) if call.shape else src.layout
            if node.layout is None:
                raise _Unknown(f"{call.func} changes the shape {self._shape_of(call.args[0])} -> {call.shape}")
        return None

    def _shape_of(self, a: Any) -> tuple[int, ...] | None:
        return a.shape if isinstance(a, TensorRef) else None

    def _fam_binary(self, node: Node, call: Call, ins: list[Node]) -> None:
        operands = [r for r in refs((call.args, call.kwargs)) if r.shape is not None]
        node.layout = self._broadcast_layout(node, call, operands)
        traced = [
            self.nodes[n] for n in dict.fromkeys(r.node for r in operands if r.node is not None) if n in self.nodes
        ]
        if len(traced) > 1:
            node.kind = "merge"
        self._merge_fields(node, traced)

    def _fam_setitem(self, node: Node, call: Call, ins: list[Node]) -> None:
        target = call.args[0]
        index = call.args[1] if len(call.args) > 1 else None
        value = call.args[2] if len(call.args) > 2 else None
        base = self._node_of(target) if isinstance(target, TensorRef) else None
        lay = base.layout if base else L.initial(call.shape or (), 0)
        parts = self._index_parts(index, len(target.shape) if isinstance(target, TensorRef) else 0)
        for dim, part in parts:
            if part == slice(None):
                continue
            if dim < len(lay) and L.spatial_axes(lay[dim]):
                raise _Unknown("an assignment into part of a spatial axis")
        node.layout = lay
        traced = [n for n in ins]
        if isinstance(value, TensorRef) and value.node is not None and base is None:
            raise _Unknown("an assignment of a traced value into a constant tensor")
        node.kind = "merge" if len(traced) > 1 else "pointwise"
        self._merge_fields(node, traced)

    def _fam_item(self, node: Node, call: Call, ins: list[Node]) -> None:
        parent = self.nodes[call.args[0].node]
        i = int(call.args[1])
        if parent.elements is None:
            node.fields, node.frozen, node.why = list(parent.fields), parent.frozen, list(parent.why)
            node.layout = (
                parent.layout
                if parent.layout is not None and len(parent.layout) == len(node.shape)
                else (L.reshape(parent.layout, node.shape) if parent.layout is not None else None)
            )
            if node.layout is None:
                node.layout = tuple(L.channels(n) for n in node.shape)
            if parent.kind == "unknown":
                node.kind = "unknown"
                node.notes.append(f"an output of unknown {parent.name}; {_hint(call)}")
            return
        lay, fields, frozen, why = parent.elements[i]
        node.layout, node.fields, node.frozen, node.why = lay, fields, frozen, why
        node.kind = parent.kind if parent.kind != "merge" else "pointwise"

    # ---- layers

    def _op_dims(self, node: Node, rank: int, n: int) -> list[int | None]:
        """For an op over the last ``n`` dimensions: the axis each one holds whole (``None``
        for a dimension without positions); unknown for a partial or mixed dimension."""
        lay = node.layout
        if len(lay) != rank:
            raise _Unknown(f"the input's layout has {len(lay)} dimensions, the call {rank}")
        out: list[int | None] = []
        for d in lay[rank - n :]:
            a = L.whole_axis(d, lay)
            if a is None and L.spatial_axes(d):
                raise _Unknown(f"{node.op} runs along a dimension holding part of a spatial axis ({L.describe((d,))})")
            out.append(a)
        return out

    def _fam_layer(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        in_shape = x.shape
        out_shape = tuple(call.shape or ())
        if f == "module" and isinstance(call.spec, str):
            return self._declared(node, call, ins, call.spec)
        spec, notes = self._spec(call, in_shape, out_shape)
        n = spec.ndim
        rank = len(in_shape)
        if rank < n + 1:
            raise _Unknown(f"{f} on a tensor of rank {rank}")
        axes = self._op_dims(node, rank, n)
        lay = node.layout
        picked = {(rank - n - 1, j) for j, _ in enumerate(lay[rank - n - 1])}
        mixed = (
            self._mix_factors(node, lay, picked, keep=False, reason=f"{f} over channels")
            if any(fa.kind == "s" for fa in lay[rank - n - 1])
            else (*tuple(lay[: rank - n - 1]), (), *tuple(lay[rank - n :]))
        )
        node.spec = spec
        node.kind = "layer"
        node.notes.extend(notes)
        sizes = tuple(in_shape[rank - n :])
        expected = layer_output_size(spec, sizes)
        if expected != tuple(out_shape[rank - n :]):
            text = f"traced output {tuple(out_shape[rank - n :])} differs from the spec's {expected}"
            node.notes.append(text)
            warn(f"{node.name}: {text}")
        full = spec.for_ndim(n)
        steps: dict[int, list[tuple[Axis, str]]] = {}
        # a layer kept whole pads in its own mode (atrous's layers: padding_mode)
        mode = getattr(call.fn, "padding_mode", "zeros") if f == "module" else "zeros"
        boundary = {"zeros": "zeros", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}.get(
            str(mode), "zeros"
        )
        for ax, a in zip(full.axes(sizes), axes, strict=True):
            if a is not None:
                steps[a] = [(ax, boundary)]
        node.axes = tuple(a for a in axes if a is not None)
        if len(node.axes) != n:
            node.notes.append(f"{f} along dimensions without positions")
        self._step(node, steps)
        dims = [*list(mixed[: rank - n - 1]), L.channels(out_shape[rank - n - 1])]
        for a, size in zip(axes, out_shape[rank - n :], strict=True):
            dims.append((Factor("s", size, a, 1),) if a is not None else L.channels(size))
        node.layout = tuple(dims)

    def _spec(self, call: Call, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[LayerSpec, list[str]]:
        f = call.func
        nd = int(f[-2]) if f[-2:-1].isdigit() else 0
        notes: list[str] = []
        if f == "module":
            spec = call.spec
            assert isinstance(spec, (ConvSpec, PoolSpec, UpsampleSpec))
            if spec.broadcasts:
                spec = spec.for_ndim(len(in_shape) - 2)
            if call.module in self.declared and "declared by the user" not in notes:
                notes.append("declared by the user")
            return spec, notes
        if f.startswith("conv_transpose"):
            w = get(call, 1, "weight")
            stride = _tuple(get(call, 3, "stride", 1), nd)
            padding = _tuple(get(call, 4, "padding", 0), nd)
            dilation = _tuple(get(call, 7, "dilation", 1), nd)
            base = ConvSpec(w.shape[2:], stride, padding, dilation, transposed=True, ndim=nd)
            zero = layer_output_size(base, in_shape[-nd:])
            ops = tuple(o - z for o, z in zip(out_shape[-nd:], zero, strict=True))
            if any(p < 0 for p in ops):
                raise _Unknown(f"transposed output {out_shape[-nd:]} is smaller than the spec allows")
            return base.replace(output_padding=ops), notes
        if f.startswith("conv"):
            w = get(call, 1, "weight")
            return conv_spec_of(w.shape, get(call, 3, "stride", 1), get(call, 4, "padding", 0),
                                get(call, 5, "dilation", 1), nd), notes  # fmt: skip
        if f.startswith("lp_pool"):
            k = _tuple(get(call, 2, "kernel_size"), nd)
            stride = get(call, 3, "stride", None)
            stride = k if stride in (None, [], ()) else _tuple(stride, nd)
            ceil = bool(get(call, 4, "ceil_mode", False))
            return PoolSpec(k, stride, 0, 1, mode="avg", ceil_mode=ceil, ndim=nd), notes
        is_max = f.startswith("max")
        k = _tuple(get(call, 1, "kernel_size"), nd)
        stride = get(call, 2, "stride", None)
        stride = k if stride in (None, [], ()) else _tuple(stride, nd)
        padding = _tuple(get(call, 3, "padding", 0), nd)
        if is_max:
            dilation = _tuple(get(call, 4, "dilation", 1), nd)
            ceil = bool(get(call, 5, "ceil_mode", False))
        else:
            dilation = (1,) * nd
            ceil = bool(get(call, 4, "ceil_mode", False))
        return PoolSpec(k, stride, padding, dilation, mode="max" if is_max else "avg", ceil_mode=ceil, ndim=nd), notes

    def _declared(self, node: Node, call: Call, ins: list[Node], what: str) -> None:
        node.notes.append("declared by the user")
        if len(ins) > 1:
            self._merge_fields(node, ins)
        src = node.layout
        if what == "global":
            node.kind = "global"
            self._apply(node, lambda fields, why: ([GLOBAL] * self.nd, [f"{node.name}: declared global"] * self.nd))
            node.layout = L.reshape(src, node.shape) or tuple(L.channels(n) for n in node.shape)
            return
        if tuple(call.args[0].shape) != tuple(node.shape):
            new = L.reshape(src, node.shape)
            if new is None:
                raise _Unknown(f"declared pointwise but the shape changes {call.args[0].shape} -> {node.shape}")
            node.layout = new

    def _fam_adaptive(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        nd = int(call.func[-2])
        rank = len(x.shape)
        out_shape = tuple(call.shape or ())
        lay = node.layout
        ones = [rank - nd + i for i in range(nd) if out_shape[rank - nd + i] == 1]
        if len(ones) == nd:
            # pooling to size 1 mixes each dimension entirely, whatever it holds
            picked = self._picked(lay, ones)
            self._mix_factors(node, lay, picked, keep=False, reason=f"{call.func} to size 1")
            node.kind = "global" if node.kind != "unknown" else "unknown"
            node.layout = tuple(() if i in ones else d for i, d in enumerate(lay))
            return
        axes = self._op_dims(node, rank, nd)
        steps: dict[int, list[tuple[Axis, str]]] = {}
        globals_: set[tuple[int, int]] = set()
        for i, (a, n, m) in enumerate(zip(axes, x.shape[rank - nd :], out_shape[rank - nd :], strict=True)):
            if a is None:
                continue
            if m == 1:
                globals_.add((rank - nd + i, 0))
            elif n % m == 0:
                steps[a] = [(Axis("pool", n // m, n // m), "zeros")]
            else:
                raise _Unknown(f"adaptive pooling {n} -> {m} has uneven bins (not shift-equivariant)")
        node.kind = "layer"
        self._step(node, steps)
        if globals_:
            self._mix_factors(node, lay, globals_, keep=True, reason=f"{call.func} to size 1")
            node.kind = "global" if len(globals_) == len([a for a in axes if a is not None]) else "layer"
        node.layout = tuple(
            d if j < rank - nd else ((Factor("s", out_shape[j], a, 1),) if a is not None else L.channels(out_shape[j]))
            for j, (d, a) in enumerate(zip(lay, [None] * (rank - nd) + axes, strict=True))
        )

    def _fam_resize(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        out_shape = tuple(call.shape or ())
        if f in ("pixel_shuffle", "pixel_unshuffle"):
            r = int(get(call, 1, "upscale_factor" if f == "pixel_shuffle" else "downscale_factor"))
            nd = 2
            axes = self._op_dims(node, rank, nd)
            if any(fa.kind == "s" for fa in node.layout[rank - 3]):
                raise _Unknown(f"{f} of a channel dimension holding positions")
            ax = Axis("upsample", 1, r) if f == "pixel_shuffle" else Axis("pool", r, r)
            self._step(node, {a: [(ax, "zeros")] for a in axes if a is not None})
            node.kind = "layer"
            node.notes.append(f"{f} x{r}")
            node.layout = self._spatial_layout(node.layout, out_shape, axes, rank, nd)
            return
        if f == "repeat_interleave":
            repeats = get(call, 1, "repeats")
            dim = get(call, 2, "dim", None)
            if dim is None or not isinstance(repeats, int):
                raise _Unknown("repeat_interleave without a dim or with per-element repeats")
            dim = dim % rank
            a = L.whole_axis(node.layout[dim], node.layout)
            if a is None:
                if L.spatial_axes(node.layout[dim]):
                    raise _Unknown("repeat_interleave along part of a spatial axis")
                node.layout = tuple(L.resize(d, out_shape[j]) if j == dim else d for j, d in enumerate(node.layout))
                return
            self._step(node, {a: [(Axis("upsample", 1, repeats), "zeros")]})
            node.kind = "layer"
            node.notes.append(f"repeat_interleave x{repeats}")
            node.layout = tuple(
                (Factor("s", out_shape[j], a, 1),) if j == dim else d for j, d in enumerate(node.layout)
            )
            return
        nd = rank - 2
        axes = self._op_dims(node, rank, nd)
        mode = get(call, 3, "mode", "nearest") if f == "interpolate" else ("nearest" if "nearest" in f else "linear")
        align = bool(get(call, 4, "align_corners", False))
        steps: dict[int, list[tuple[Axis, str]]] = {}
        for a, n, o in zip(axes, x.shape[2:], out_shape[2:], strict=True):
            if a is None or n == o:
                if a is not None and n == o and mode not in ("nearest", "nearest-exact") and align:
                    pass
                continue
            steps[a] = [(self._resize_axis(str(mode), align, n, o), "zeros")]
        node.kind = "layer"
        node.notes.append(f"{mode} resize {tuple(x.shape[2:])} -> {out_shape[2:]}")
        self._step(node, steps)
        node.layout = self._spatial_layout(node.layout, out_shape, axes, rank, nd)

    def _resize_axis(self, mode: str, align: bool, n: int, o: int) -> Axis:
        if mode in ("nearest", "nearest-exact"):
            if o % n == 0:
                return Axis("upsample", 1, o // n)
            if n % o == 0:
                r = n // o
                offset = r // 2 if mode == "nearest-exact" else 0
                return Axis("conv", 1, r, 1, -offset, offset - r + 1 + (n - o * r))
            raise _Unknown(f"{mode} resize {n} -> {o} is not an integer scale")
        if mode in ("linear", "bilinear", "trilinear"):
            if align:
                if o > 1 and n > 1 and (o - 1) % (n - 1) == 0:
                    r = (o - 1) // (n - 1)
                    # the triangle kernel: a transposed convolution k=2r-1, s=r, p=r-1
                    return Axis("transposed", 2 * r - 1, r, 1, r - 1, r - 1)
                raise _Unknown(f"{mode} resize {n} -> {o} with align_corners=True is not a periodic pattern")
            if o % n == 0:
                return Axis("linear", 2, o // n)
            raise _Unknown(f"{mode} resize {n} -> {o} is not an integer scale")
        if mode == "area":
            if n % o == 0:
                return Axis("pool", n // o, n // o)
            raise _Unknown(f"area resize {n} -> {o} has uneven bins")
        raise _Unknown(f"{mode} interpolation has no exact tap set here")

    def _spatial_layout(
        self, lay: Layout, out_shape: tuple[int, ...], axes: list[int | None], rank: int, nd: int
    ) -> Layout:
        dims = list(lay[: rank - nd])
        if len(out_shape) > 1 and rank - nd - 1 >= 0:
            dims[rank - nd - 1] = (
                L.channels(out_shape[rank - nd - 1]) if not L.spatial_axes(dims[rank - nd - 1]) else dims[rank - nd - 1]
            )
        for d, a, size in zip(lay[rank - nd :], axes, out_shape[rank - nd :], strict=True):
            if a is not None:
                dims.append((Factor("s", size, a, 1),))
            elif not d or all(fa.kind == "x" for fa in d):
                dims.append((Factor("x", size),) if size > 1 else ())  # a constant stretched: a broadcast
            else:
                dims.append(L.channels(size))
        return tuple(dims)

    # ---- pads, crops, indexing

    def _fam_pad(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        pad = get(call, 1, "pad")
        mode = get(call, 2, "mode", "constant") if call.func == "pad" else "constant"
        amounts = []
        for p in pad:
            v = number(p)
            if v is None or (isinstance(v, float) and not v.is_integer()):
                raise _Unknown(f"padding amount {p!r} is not a known integer")
            amounts.append(int(v))
        rank = len(x.shape)
        lay = node.layout
        boundary = {"constant": "zeros", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}.get(
            str(mode)
        )
        if boundary is None:
            raise _Unknown(f"padding mode {mode!r}")
        steps: dict[int, list[tuple[Axis, str]]] = {}
        dims = list(lay)
        out_shape = tuple(call.shape or ())
        for j in range(len(amounts) // 2):
            dim = rank - 1 - j
            lo, hi = amounts[2 * j], amounts[2 * j + 1]
            if lo == 0 and hi == 0:
                continue
            a = L.whole_axis(lay[dim], lay)
            if a is None:
                if L.spatial_axes(lay[dim]):
                    raise _Unknown("padding part of a spatial axis")
                dims[dim] = L.resize(lay[dim], out_shape[dim])
                node.notes.append(f"pads dimension {dim} (no positions)")
                continue
            steps[a] = [(Axis("conv", 1, 1, 1, lo, hi), boundary)]
            dims[dim] = (Factor("s", out_shape[dim], a, 1),)
        node.kind = "layer" if steps else "pointwise"
        node.notes.append(f"pad {tuple(amounts)}" + ("" if boundary == "zeros" else f" ({mode})"))
        self._step(node, steps)
        node.layout = tuple(dims)

    def _index_parts(self, index: Any, rank: int) -> list[tuple[int, Any]]:
        """``(input dimension, index element)`` for every output-producing element in order:
        dimensions an Ellipsis or the end leave alone come as full slices, ``None`` as ``-1``."""
        if not isinstance(index, tuple):
            index = (index,)
        consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
        out: list[tuple[int, Any]] = []
        dim = 0
        for i in index:
            if i is Ellipsis:
                for _ in range(rank - consumed):
                    out.append((dim, slice(None)))
                    dim += 1
                continue
            if i is None:
                out.append((-1, None))
                continue
            if isinstance(i, TensorRef) and i.value is not None and str(i.value.dtype) == "torch.bool":
                raise _Unknown("boolean-mask indexing")
            out.append((dim, i))
            dim += 1
        while dim < rank:
            out.append((dim, slice(None)))
            dim += 1
        return out

    def _fam_index(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        rank = len(x.shape)
        f = call.func
        if f in ("narrow", "select", "index_select"):
            dim = int(get(call, 1, "dim")) % rank
            if f == "narrow":
                start, length = number(get(call, 2, "start")), int(get(call, 3, "length"))
                if start is None:
                    raise _Unknown("narrow at a traced start")
                element: Any = slice(int(start) % x.shape[dim], int(start) % x.shape[dim] + length)
            elif f == "select":
                element = int(get(call, 2, "index"))
            else:
                element = get(call, 2, "index")
            parts = [(d, element if d == dim else slice(None)) for d in range(rank)]
        else:
            parts = self._index_parts(call.args[1] if len(call.args) > 1 else None, rank)
        lay = node.layout
        dims: list[Dim | None] = list(lay)
        steps: dict[int, list[tuple[Axis, str]]] = {}
        new_dims: dict[int, int] = {}
        pinned: list[int] = []
        advanced = [p for _, p in parts if isinstance(p, (TensorRef, list, tuple))]
        if len(advanced) > 1:
            raise _Unknown("indexing with several index tensors")
        for pos, (dim, part) in enumerate(parts):
            if dim < 0:
                new_dims[pos] = 1
                continue
            d = lay[dim]
            n = x.shape[dim]
            a = L.whole_axis(d, lay)
            has_s = bool(L.spatial_axes(d))
            has_m = any(fa.kind == "m" for fa in d)
            if isinstance(part, slice):
                start, stop, step = part.indices(n)
                length = len(range(start, stop, step))
                if (start, length, step) == (0, n, 1):
                    continue
                if step < 1 or length < 1:
                    raise _Unknown(f"slice {part!r} of dimension {dim}")
                if a is not None:
                    lo = -start
                    hi = (length - 1) * step + 1 - n - lo
                    steps[a] = [(Axis("conv", 1, step, 1, lo, hi), "zeros")]
                    dims[dim] = (Factor("s", length, a, 1),)
                elif L.extended(d):
                    pre = d[0].size if d[0].kind == "k" else 0
                    post = d[-1].size if d[-1].kind == "k" else 0
                    core = tuple(fa for fa in d if fa.kind != "k")
                    if step != 1 or start > pre or n - (start + length) > post:
                        raise _Unknown(f"slicing into the positions of dimension {dim} ({L.describe((d,))})")
                    dims[dim] = (((Factor("k", pre - start),) if pre - start else ()) + core
                                 + ((Factor("k", post - (n - start - length)),) if post - (n - start - length) else ()))  # fmt: skip
                elif has_s or has_m:
                    raise _Unknown(f"slicing part of dimension {dim} ({L.describe((d,))})")
                else:
                    dims[dim] = L.resize(d, length)
            elif isinstance(part, int):
                if a is not None:
                    pinned.append(a)
                elif L.extended(d) and all(isinstance(node.fields[ax], Global) for ax in L.spatial_axes(d)):
                    pass  # a constant entry after global mixing: it reads what everything reads
                elif has_s or has_m:
                    raise _Unknown(f"indexing dimension {dim} ({L.describe((d,))}) at one entry")
                dims[dim] = None
            elif isinstance(part, TensorRef):
                if part.node is not None:
                    raise _Unknown("indexing with a traced index tensor")
                if has_s or has_m:
                    raise _Unknown(f"advanced indexing of dimension {dim}, which holds positions")
                dims[dim] = None
                new_dims[pos] = -1  # advanced index dims are placed by torch: take them from the shape
            else:
                raise _Unknown(f"index {part!r}")
        node.kind = "layer" if steps else "pointwise"
        if steps:
            node.notes.append("crop")
        self._step(node, steps)
        if pinned:
            for a in pinned:
                node.moves.setdefault(a, []).append(("pin",))

            def pin(fields: Fields, why: Why) -> tuple[Fields, Why]:
                for a in pinned:
                    if isinstance(fields[a], Field):
                        fields[a] = None
                        why[a] = f"{node.name}: picks one position of axis {a}"
                return fields, why

            self._apply(node, pin)
            if any(node.fields[a] is None for a in pinned):
                node.kind = "unknown"
                node.notes.append(
                    f"picks one position of axis {', '.join(map(str, pinned))}: the field is no longer shift-equivariant"
                )
        out_shape = tuple(call.shape or ())
        out: list[Dim] = []
        for dim, part in parts:
            if dim < 0:
                out.append(())
            elif isinstance(part, TensorRef):
                out.extend(L.channels(n) for n in part.shape)
            elif dims[dim] is not None:
                out.append(dims[dim])  # type: ignore[arg-type]
        if tuple(L.dim_size(d) for d in out) != out_shape:
            raise _Unknown(f"cannot follow the dimensions of this indexing ({x.shape} -> {out_shape})")
        node.layout = tuple(out)

    # ---- layouts

    def _fam_layout(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        in_shape = tuple(x.shape)
        out_shape = tuple(call.shape or ())
        lay = node.layout
        if f in ("expand", "expand_as", "broadcast_to", "repeat", "tile"):
            off = len(out_shape) - len(in_shape)
            dims: list[Dim] = [(Factor("x", n),) for n in out_shape[:off]]
            for j, (d, n) in enumerate(zip(lay, in_shape, strict=True)):
                o = out_shape[off + j]
                if o == n:
                    dims.append(d)
                    continue
                axes = L.spatial_axes(d)
                if f in ("repeat", "tile") and n != 1:
                    if axes:
                        raise _Unknown(f"{f} tiles dimension {j}, which holds positions")
                    dims.append(L.resize(d, o))
                    continue
                for a in axes:
                    if isinstance(node.fields[a], Field):
                        raise _Unknown(f"{f} broadcasts one position of axis {a}")
                dims.append((Factor("x", o),))
            node.layout = tuple(dims)
            return
        if f == "view_as_real":
            node.layout = (*lay, L.channels(2))
            return
        if f == "view_as_complex":
            node.layout = lay[:-1]
            return
        if f == "view" and len(call.args) > 1 and not isinstance(call.args[1], (int, tuple, list, TensorRef)):
            return  # view(dtype)
        new = L.reshape(lay, out_shape)
        if new is None:
            raise _Unknown(f"reshape {in_shape} -> {out_shape} does not regroup whole dimensions")
        node.layout = self._normalise(node, new)
        if node.kind == "pointwise":
            node.kind = "reshape"

    def _normalise(self, node: Node, lay: Layout) -> Layout:
        """A dimension ``[s_a (whole axis), c r]`` (positions, then sub-positions taken from
        channels: a depth-to-space regrouping) is the axis upsampled by ``r``."""
        out = list(lay)
        for i, d in enumerate(lay):
            if len(d) >= 2 and d[0].kind == "s" and d[0].stride == 1 and all(f.kind == "c" for f in d[1:]):
                a = d[0].axis
                if len(L.axis_factors(lay, a)) != 1:
                    continue
                r = L.dim_size(d[1:])
                self._step(node, {a: [(Axis("upsample", 1, r), "zeros")]})
                node.notes.append(f"depth-to-space x{r} along axis {a}")
                node.kind = "layer"
                out[i] = (Factor("s", d[0].size * r, a, 1),)
        return tuple(out)

    def _fam_permute(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        rank = len(call.args[0].shape)
        perm = list(range(rank))
        if f == "permute":
            dims = call.args[1:] if len(call.args) > 2 else get(call, 1, "dims")
            perm = [int(d) % rank for d in (dims if isinstance(dims, (tuple, list)) else [dims])]
        elif f in ("transpose", "swapaxes", "swapdims"):
            a, b = int(get(call, 1, "dim0")) % rank, int(get(call, 2, "dim1")) % rank
            perm[a], perm[b] = perm[b], perm[a]
        elif f in ("movedim", "moveaxis"):
            src, dst = get(call, 1, "source"), get(call, 2, "destination")
            src = [int(s) % rank for s in (src if isinstance(src, (tuple, list)) else [src])]
            dst = [int(s) % rank for s in (dst if isinstance(dst, (tuple, list)) else [dst])]
            rest = [d for d in range(rank) if d not in src]
            perm = [-1] * rank
            for s, t in zip(src, dst, strict=True):
                perm[t] = s
            it = iter(rest)
            perm = [p if p >= 0 else next(it) for p in perm]
        elif f in ("t", "T", "adjoint", "mT", "mH", "H"):
            if f in ("t", "mT", "mH", "adjoint", "H") or rank <= 2:
                if rank >= 2:
                    perm[-1], perm[-2] = perm[-2], perm[-1]
            else:
                perm = perm[::-1]
        node.layout = L.permute(node.layout, perm)
        node.kind = "reshape"

    # ---- mixing

    def _dims_arg(self, call: Call, index: int, rank: int, name: str = "dim") -> list[int] | None:
        dims = get(call, index, name, None)
        if dims is None and name == "dim":
            dims = call.kwargs.get("axis")
        if dims is None:
            return None
        if isinstance(dims, (tuple, list)):
            return [int(d) % rank for d in dims]
        return [int(dims) % rank]

    def _picked(self, lay: Layout, dims: Sequence[int]) -> set[tuple[int, int]]:
        return {(i, j) for i in dims for j in range(len(lay[i]))}

    def _fam_reduce(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        dim_index = 2 if f in ("norm", "linalg_vector_norm") else 1
        dims = self._dims_arg(call, dim_index, rank)
        if f in ("kthvalue",):
            dims = self._dims_arg(call, 2, rank) or [rank - 1]
        if f in ("std", "var", "std_mean", "var_mean") and len(call.args) > 2 and isinstance(call.args[2], bool):
            keep_index = 3
        else:
            keep_index = dim_index + 1 if f != "kthvalue" else 3
        keepdim = bool(get(call, keep_index, "keepdim", False))
        if dims is None:
            if f in ("max", "min", "median", "nanmedian", "mode") and len(call.args) <= 1 and "dim" not in call.kwargs:
                dims = list(range(rank))
                keepdim = False
            elif f in ("sort",):
                dims = [rank - 1]
            else:
                dims = list(range(rank))
        lay = node.layout
        picked = self._picked(lay, dims)
        new = self._mix_factors(node, lay, picked, keep=False, reason=f"{f} over dimension {', '.join(map(str, dims))}")
        if keepdim:
            node.layout = tuple(() if i in dims else d for i, d in enumerate(new))
        else:
            node.layout = tuple(d for i, d in enumerate(new) if i not in dims)
        if any(isinstance(v, Global) for v in node.fields) and node.kind != "unknown":
            node.kind = "global"
        if len(node.layout) != len(node.shape):
            node.layout = L.reshape(node.layout, node.shape) or tuple(L.channels(n) for n in node.shape)

    def _fam_mix(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        default = 1 if f in ("glu",) else rank - 1
        dims: list[int] | None
        if f == "topk":
            dims = self._dims_arg(call, 2, rank) or [rank - 1]
        else:
            dims = self._dims_arg(call, 1, rank)
            if dims is None:
                dims = [default % rank] if f in ("glu", "sort", "argsort", "topk", "msort") else None
        if dims is None:
            # softmax without dim: torch's legacy choice (0 for rank 0, 1, 3; else 1)
            dims = [0 if rank in (0, 1, 3) else 1]
        if f == "glu":
            d = node.layout[dims[0]]
            if L.spatial_axes(d):
                raise _Unknown("glu along a dimension holding positions")
            node.layout = tuple(L.resize(dd, node.shape[i]) if i == dims[0] else dd for i, dd in enumerate(node.layout))
            return
        lay = node.layout
        picked = self._picked(lay, dims)
        self._mix_factors(node, lay, picked, keep=True, reason=f"{f} over dimension {dims[0]}")
        if f in ("topk",) and L.spatial_axes(lay[dims[0]]):
            node.layout = tuple(((Factor("m", node.shape[i]),) if i == dims[0] else d) for i, d in enumerate(lay))
        if any(isinstance(v, Global) for v in node.fields) and node.kind != "unknown":
            node.kind = "global"

    def _fam_cumulative(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        rank = len(x.shape)
        dims = self._dims_arg(call, 1, rank)
        if dims is None:
            raise _Unknown(f"{call.func} without a dim")
        d = node.layout[dims[0]]
        a = L.whole_axis(d, node.layout)
        if a is None:
            if L.spatial_axes(d):
                raise _Unknown(f"{call.func} along part of a spatial axis")
            return
        n = x.shape[dims[0]]
        self._step(node, {a: [(Axis("conv", n, 1, 1, n - 1, 0), "zeros")]})
        node.kind = "layer"
        node.notes.append(f"{call.func} along axis {a}: every output reads everything before it")

    def _fam_roll(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        rank = len(x.shape)
        if call.func == "roll":
            shifts = get(call, 1, "shifts")
            dims = get(call, 2, "dims", None)
            if dims is None:
                raise _Unknown("roll without dims (over the flattened tensor)")
            shifts = list(shifts) if isinstance(shifts, (tuple, list)) else [shifts]
            dims = list(dims) if isinstance(dims, (tuple, list)) else [dims]
        else:
            dims = get(call, 1, "dim", None)
            dims = list(range(rank)) if dims is None else (list(dims) if isinstance(dims, (tuple, list)) else [dims])
            sign = 1 if call.func == "fft_fftshift" else -1
            shifts = [sign * (x.shape[int(d) % rank] // 2) for d in dims]
        steps: dict[int, list[tuple[Axis, str]]] = {}
        for s, dim in zip(shifts, dims, strict=True):
            dim = int(dim) % rank
            d = node.layout[dim]
            a = L.whole_axis(d, node.layout)
            if a is None:
                if L.spatial_axes(d):
                    raise _Unknown("roll along part of a spatial axis")
                continue
            n = x.shape[dim]
            s = int(s) % n
            if s:
                steps.setdefault(a, []).append((Axis("conv", 1, 1, 1, s, -s), "circular"))
        if steps:
            node.kind = "layer"
            node.notes.append("circular shift")
        self._step(node, steps)

    def _fam_stats(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        lay = node.layout
        if len(ins) > 1:
            raise _Unknown(f"{f} with traced statistics or weights")
        if f == "batch_norm":
            training = bool(get(call, 5, "training", False))
            running = get(call, 1, "running_mean", None)
            if not training and running is not None:
                return
            dims = [0, *range(2, rank)]
            reason = "batch_norm with batch statistics (training mode)"
        elif f == "instance_norm":
            if not bool(get(call, 5, "use_input_stats", True)):
                return
            dims = list(range(2, rank))
            reason = "instance_norm statistics"
        elif f == "group_norm":
            dims = list(range(1, rank))
            reason = "group_norm statistics"
        elif f in ("layer_norm", "rms_norm"):
            shape = get(call, 1, "normalized_shape")
            k = len(shape) if isinstance(shape, (tuple, list)) else 1
            dims = list(range(rank - k, rank))
            reason = f"{f} statistics"
        elif f == "normalize":
            dim = get(call, 2, "dim", 1)
            dims = [int(d) % rank for d in dim] if isinstance(dim, (tuple, list)) else [int(dim) % rank]
            reason = "normalize"
        else:  # local_response_norm: a window over channels
            if L.spatial_axes(lay[1]) if rank > 1 else False:
                raise _Unknown("local_response_norm over a dimension holding positions")
            return
        picked = self._picked(lay, dims)
        if not any(lay[i][j].kind == "s" for i, j in picked):
            return
        self._mix_factors(node, lay, picked, keep=True, reason=reason, stats=True)
        if node.kind != "unknown":
            node.kind = "global" if any(isinstance(v, Global) for v in node.fields) else "layer"

    # ---- contractions

    def _fam_matmul(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        a = call.args
        if f == "einsum":
            eq = str(a[0]).replace(" ", "")
            ops = list(a[1]) if len(a) == 2 and isinstance(a[1], (list, tuple)) else list(a[1:])
            lhs, _, rhs = eq.partition("->")
            terms = lhs.split(",")
            if not _ or "->" not in eq:
                rhs = "".join(sorted(c for c in set(lhs.replace(",", "")) if lhs.count(c) == 1 and c.isalpha()))
                if "..." in lhs:
                    rhs = "..." + rhs
            return self._einsum(node, call, terms, rhs, ops)
        if f == "linear":
            x, w = a[0], get(call, 1, "weight")
            bias = get(call, 2, "bias", None)
            self._einsum(node, call, ["...i", "oi"] if len(w.shape) == 2 else ["...i", "i"],
                         "...o" if len(w.shape) == 2 else "...", [x, w])  # fmt: skip
            if isinstance(bias, TensorRef) and bias.node is not None:
                self._merge_fields(node, [node, self.nodes[bias.node]])
            return None
        if f in ("matmul", "mm", "bmm", "mv", "dot", "inner", "outer"):
            x, y = a[0], a[1]
            return self._einsum(node, call, *_matmul_terms(f, len(x.shape), len(y.shape)), [x, y])
        if f in ("baddbmm", "addmm", "addbmm"):
            base, x, y = a[0], a[1], a[2]
            terms, rhs = (
                (["bik", "bkj"], "bij")
                if f == "baddbmm"
                else ((["ik", "kj"], "ij") if f == "addmm" else (["bik", "bkj"], "ij"))
            )
            self._einsum(node, call, terms, rhs, [x, y])
            if isinstance(base, TensorRef) and base.node is not None:
                self._merge_fields(node, [node, self.nodes[base.node]])
            return None
        raise _Unknown(f"contraction {f}")

    def _einsum(
        self,
        node: Node,
        call: Call,
        terms: list[str],
        rhs: str,
        ops: list[Any],
        out_shape: tuple[int, ...] | None = None,
    ) -> None:
        """Contractions (einsum semantics): contracted indices mix each operand's dimension;
        output indices take the operand's labels; a second output dimension holding the
        same axis as the first (attention scores) is mixed in advance."""
        if len(terms) != len(ops):
            raise _Unknown("einsum operands and terms differ in number")
        shape_out = tuple(out_shape if out_shape is not None else (call.shape or ()))
        out_rank = len(shape_out)
        width = max(
            (len(o.shape) - len(t.replace("...", "")) for o, t in zip(ops, terms, strict=True) if "..." in t), default=0
        )
        ell = [f"\u0000{i}" for i in range(width)]

        def expand(term: str, rank: int) -> list[str]:
            if "..." in term:
                left, right = term.split("...")
                k = rank - len(left) - len(right)
                return list(left) + ell[width - k :] + list(right)
            return list(term)

        letters = [expand(t, len(o.shape)) for t, o in zip(terms, ops, strict=True)]
        out_letters = expand(rhs, out_rank) if "..." in rhs else list(rhs)
        if len(out_letters) != out_rank:
            raise _Unknown("cannot follow the einsum's output dimensions")
        traced: list[tuple[Node, list[str], TensorRef]] = []
        for o, lt in zip(ops, letters, strict=True):
            if isinstance(o, TensorRef) and o.node is not None:
                traced.append((self.nodes[o.node], lt, o))
        if not traced:
            raise _Unknown("a contraction of constants")
        # per operand: its fields after mixing its contracted dimensions
        per_op: list[tuple[Node, Layout]] = []
        for src, lt, ref in traced:
            tmp = Node(node.name, node.op, "pointwise", [], node.shape, None, list(src.fields))
            tmp.why, tmp.frozen, tmp.layout = list(src.why), src.frozen, src.layout
            contracted = [i for i, c in enumerate(lt) if c not in out_letters and ref.shape[i] > 1]
            picked = self._picked(src.layout, contracted)
            lay = src.layout
            if any(src.layout[i][j].kind == "s" for i, j in picked):
                lay = self._mix_factors(
                    tmp, src.layout, picked, keep=False, reason=f"{call.func} contracts dimension {contracted}"
                )
                node.notes.extend(n for n in tmp.notes if n not in node.notes)
                if tmp.kind == "unknown":
                    node.kind = "unknown"
            else:
                lay = tuple(() if i in contracted else d for i, d in enumerate(lay))
            per_op.append((tmp, lay))
        # output labels
        dims: list[Dim | None] = [None] * out_rank
        owner: list[int] = [-1] * out_rank
        source: list[int] = [-1] * out_rank
        for k, ((_src, lt, ref), (_tmp, lay)) in enumerate(zip(traced, per_op, strict=True)):
            for i, c in enumerate(lt):
                if c in out_letters and ref.shape[i] > 1:
                    j = out_letters.index(c)
                    if dims[j] is None:
                        dims[j], owner[j], source[j] = lay[i], k, i
                    elif not L.same(dims[j] or (), lay[i]) and (
                        L.spatial_axes(dims[j] or ()) or L.spatial_axes(lay[i])
                    ):
                        raise _Unknown(f"operands disagree on the positions of output dimension {j}")
        # an axis held by two output dimensions: the later owner's dimension is mixed in advance
        for a in range(self.nd):
            holders = [j for j, d in enumerate(dims) if d is not None and a in L.spatial_axes(d)]
            owners = {owner[j] for j in holders}
            if len(owners) <= 1:
                continue
            keep_owner = owner[holders[0]]
            for j in holders:
                if owner[j] == keep_owner:
                    continue
                tmp, lay = per_op[owner[j]]
                d = dims[j]
                assert d is not None
                i = source[j]
                picked = {(i, jj) for jj, fa in enumerate(d) if fa.kind == "s" and fa.axis == a}
                self._mix_factors(
                    tmp, lay, picked, keep=True, reason=f"{call.func}: pairwise positions mixed in advance"
                )
                if tmp.kind == "unknown":
                    node.kind = "unknown"
                dims[j] = tuple(Factor("m", fa.size, fa.axis) if (fa.kind == "s" and fa.axis == a) else fa for fa in d)
        node.layout = tuple(d if d is not None else L.channels(n) for d, n in zip(dims, shape_out, strict=True))
        for tmp, _ in per_op:  # what the contraction did to each operand along each axis
            for a, moves in tmp.moves.items():
                node.moves.setdefault(a, []).extend(moves)
        kind = node.kind
        self._merge_fields(node, [tmp for tmp, _ in per_op])
        if kind == "unknown":
            node.kind = "unknown"
        elif len(per_op) > 1:
            node.kind = "merge"
        if any(isinstance(v, Global) for v in node.fields) and node.kind != "unknown":
            node.kind = "global"

    def _traced_mask(self, node: Node, mask: Any) -> Node | None:
        """A mask computed from the input (WavLM's gated position bias) is one more operand of
        the scores: it can add dependencies, and (counted structurally, as every weight is) it
        hides none. Returned as a node whose key dimension is mixed in advance."""
        if not isinstance(mask, TensorRef) or mask.node is None:
            return None
        src = self.nodes[mask.node]
        tmp = Node(node.name, node.op, "pointwise", [], mask.shape, None, list(src.fields))
        tmp.why, tmp.frozen, tmp.layout = list(src.why), src.frozen, src.layout
        last = len(mask.shape) - 1
        self._mix_factors(tmp, src.layout, self._picked(src.layout, [last]), keep=True, reason="attention mask")
        return tmp

    def _mask(self, node: Node, mask: Any, allowed_when_true: bool) -> str:
        """What an attention mask does structurally: ``"none"`` (every key is read: a bool
        mask all allowed, a float mask with finite values only), ``"causal"`` (keys up to the
        query) or it raises unknown."""
        if mask is None:
            return "none"
        if not isinstance(mask, TensorRef):
            raise _Unknown(f"attention mask {mask!r}")
        if mask.node is not None:
            return "traced"
        value = mask.value
        if value is None or value.is_meta:
            self.needs_values = self.needs_values or node.name
            raise _Unknown("attention with a mask whose values the meta device does not know")
        import torch

        allowed = value if value.dtype == torch.bool else torch.isfinite(value)
        if value.dtype == torch.bool and not allowed_when_true:
            allowed = ~allowed
        if allowed.dim() < 2:
            raise _Unknown("an attention mask of rank < 2")
        flat = allowed.reshape(-1, *allowed.shape[-2:])
        if not bool((flat == flat[:1]).all()):
            raise _Unknown("an attention mask that differs between batch entries or heads")
        pattern = flat[0]
        if bool(pattern.all()):
            return "none"
        n, m = pattern.shape
        if n == m and bool((pattern == torch.ones(n, n, dtype=torch.bool).tril()).all()):
            return "causal"
        raise _Unknown("an attention mask whose pattern is neither full nor causal (declare the module's field)")

    def _key_padding(self, node: Node, pad: Any) -> None:
        if pad is None:
            return
        if not isinstance(pad, TensorRef) or pad.node is not None:
            raise _Unknown("attention with a key padding mask computed from the input")
        if pad.value is None or pad.value.is_meta:
            self.needs_values = self.needs_values or node.name
            raise _Unknown("attention with a key padding mask whose values the meta device does not know")
        import torch

        hidden = pad.value if pad.value.dtype == torch.bool else ~torch.isfinite(pad.value)
        if bool(hidden.any()):
            raise _Unknown("attention with a key padding mask that hides keys")

    def _fam_attention(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        if f == "scaled_dot_product_attention":
            q, k, v = call.args[0], get(call, 1, "key"), get(call, 2, "value")
            mask = get(call, 3, "attn_mask", None)
            pattern = self._mask(node, mask, allowed_when_true=True)
            causal = bool(get(call, 5, "is_causal", False)) or pattern == "causal"
            lt = (["...le", "...se"], "...ls")
        else:
            q, k, v = call.args[0], call.args[1], call.args[2]
            mask = get(call, 16, "attn_mask", None)
            pattern = self._mask(node, mask, allowed_when_true=False)
            self._key_padding(node, get(call, 14, "key_padding_mask", None))
            causal = pattern == "causal"
            batched = len(q.shape) == 3
            lt = (["lne", "sne"], "nls") if batched else (["le", "se"], "ls")
        if causal and pattern == "traced":
            raise _Unknown("causal attention with a mask computed from the input")
        if causal:
            return self._causal_attention(
                node, call, q, k, v, len(q.shape) - 2 if f == "scaled_dot_product_attention" else 0
            )
        # scores = q.k, then out = scores.v: k's and v's token dimensions are mixed entirely
        terms, rhs = lt
        score_shape = tuple(_score_shape(q.shape, k.shape, f))
        self._einsum(node, call, terms, rhs, [q, k], score_shape)
        scores = node
        extra = self._traced_mask(node, mask)
        if extra is not None:
            kind = node.kind
            self._merge_fields(node, [node, extra])
            node.kind = kind if kind == "unknown" else node.kind
            node.notes.append("an attention mask computed from the input adds its dependencies")
        if f == "scaled_dot_product_attention":
            out_terms, out_rhs = ["...ls", "...sv"], "...lv"
        else:
            out_terms, out_rhs = (["nls", "snv"], "lnv") if len(q.shape) == 3 else (["ls", "sv"], "lv")
        # run the second contraction on a temporary node holding the scores
        tmp_call = Call(call.name, "matmul", (), {}, [], tuple(call.shapes[0]) if call.shapes else call.shape)
        holder = Node(node.name + "#scores", "scores", "pointwise", [], (), None, list(scores.fields))
        holder.why, holder.frozen, holder.layout = list(scores.why), scores.frozen, scores.layout
        self.nodes[holder.name] = holder
        sref = TensorRef(holder.name, score_shape)
        kind = node.kind
        self._einsum(node, tmp_call, out_terms, out_rhs, [sref, v], tuple(call.shapes[0]) if call.shapes else None)
        del self.nodes[holder.name]
        node.inputs = [n for n in node.inputs if n != holder.name]
        if kind == "unknown":
            node.kind = "unknown"
        if call.outputs:
            weights = (holder.layout, list(holder.fields), holder.frozen, list(holder.why))
            node.elements = [(node.layout, list(node.fields), node.frozen, list(node.why)), weights]

    def _causal_attention(self, node: Node, call: Call, q: TensorRef, k: TensorRef, v: TensorRef, qd: int) -> None:
        srcs = [self.nodes[r.node] for r in (q, k, v) if r.node is not None]
        lay_q = self.nodes[q.node].layout if q.node else None
        if lay_q is None:
            raise _Unknown("causal attention with a constant query")
        a = L.whole_axis(lay_q[qd], lay_q)
        for r in (k, v):
            if r.node is not None and not L.same(self.nodes[r.node].layout[qd], lay_q[qd]):
                raise _Unknown("causal attention whose keys and queries hold different positions")
        if a is None:
            raise _Unknown("causal attention along a dimension that does not hold one whole axis")
        n = q.shape[qd]
        for r in (k, v):
            if r.node is None:
                continue
        node.layout = (*lay_q[:-1], L.channels((call.shape or ())[-1]))
        causal = Axis("conv", n, 1, 1, n - 1, 0)
        stepped = []
        for src in srcs:
            tmp = Node(node.name, node.op, "pointwise", [], node.shape, None, list(src.fields))
            tmp.why, tmp.frozen, tmp.layout = list(src.why), src.frozen, src.layout
            if src.name != q.node:
                self._step(tmp, {a: [(causal, "zeros")]})
            stepped.append(tmp)
        node.moves.setdefault(a, []).append(("mix", "causal"))
        self._merge_fields(node, stepped)
        node.kind = "layer"
        node.notes.append(f"causal attention along axis {a}: every output reads everything before it")

    def _fam_rnn(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        a = call.args
        packed = (f == "lstm" and len(a) > 2 and isinstance(a[1], TensorRef) and isinstance(a[2], (tuple, list))) or (
            f != "lstm" and len(a) > 3 and isinstance(a[3], (tuple, list))
        )
        if packed:
            raise _Unknown(f"{f} over a packed sequence")
        x = a[0]
        if f == "lstm":
            bidirectional, batch_first = bool(a[7]), bool(a[8])
        else:
            bidirectional, batch_first = bool(a[7]), bool(a[8])
        rank = len(x.shape)
        tdim = 1 if (batch_first and rank == 3) else 0
        lay = node.layout
        if len(ins) > 1:
            raise _Unknown(f"{f} with a traced initial state")
        # features are contracted
        feat = rank - 1
        picked = self._picked(lay, [feat])
        lay2 = lay
        if any(lay[i][j].kind == "s" for i, j in picked):
            lay2 = self._mix_factors(node, lay, picked, keep=False, reason=f"{f} over its features")
        d = lay[tdim]
        t_axis = L.whole_axis(d, lay)
        if t_axis is None and L.spatial_axes(d):
            raise _Unknown(f"{f} along part of a spatial axis")
        state_fields: Fields = list(node.fields)
        state_why = list(node.why)
        if t_axis is not None:
            n = x.shape[tdim]
            if bidirectional:
                self._mix_factors(node, lay, {(tdim, 0)}, keep=True, reason=f"bidirectional {f}")
            else:
                self._step(node, {t_axis: [(Axis("conv", n, 1, 1, n - 1, 0), "zeros")]})
                node.notes.append(f"{f} along axis {t_axis}: every output reads everything before it")
            state_fields = list(node.fields)
            state_fields[t_axis] = self._global(
                state_fields[t_axis] if not bidirectional else node.fields[t_axis], t_axis
            )
            if isinstance(node.fields[t_axis], Field) or not bidirectional:
                state_why[t_axis] = f"{node.name}: the final state of {f} reads the whole sequence"
        node.kind = "layer" if not bidirectional else "global"
        out_lay = tuple(L.channels(call.shapes[0][i]) if i == feat else dd for i, dd in enumerate(lay2))
        node.layout = out_lay
        elements = [(out_lay, list(node.fields), node.frozen, list(node.why))]
        for shape in call.shapes[1:]:
            elements.append((tuple(L.channels(n) for n in shape), state_fields, None, state_why))
        node.elements = elements

    def _fam_fft(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        if f in ("fft_fft", "fft_ifft", "fft_rfft", "fft_irfft", "fft_hfft", "fft_ihfft"):
            dims = [int(get(call, 2, "dim", -1)) % rank]
            n = get(call, 1, "n", None)
            ns = [n]
        elif f in ("fft_fft2", "fft_ifft2", "fft_rfft2", "fft_irfft2", "fft_hfft2", "fft_ihfft2"):
            dim = get(call, 2, "dim", (-2, -1))
            dims = [int(d) % rank for d in dim]
            s = get(call, 1, "s", None)
            ns = list(s) if s is not None else [None] * len(dims)
        elif f in ("fft_fftn", "fft_ifftn", "fft_rfftn", "fft_irfftn", "fft_hfftn", "fft_ihfftn"):
            dim = get(call, 2, "dim", None)
            s = get(call, 1, "s", None)
            dims = (
                [int(d) % rank for d in dim] if dim is not None else list(range(rank - (len(s) if s else rank), rank))
            )
            ns = list(s) if s is not None else [None] * len(dims)
        else:
            raise _Unknown(f"{f}")
        lay = node.layout
        if any(n is not None and n < x.shape[d] for n, d in zip(ns, dims, strict=True)):
            raise _Unknown(f"{f} truncating its input")
        picked = self._picked(lay, dims)
        self._mix_factors(node, lay, picked, keep=True, reason=f"{f} over dimension {', '.join(map(str, dims))}")
        out_shape = tuple(call.shape or ())
        node.layout = tuple(
            (
                tuple(Factor(fa.kind, out_shape[i], fa.axis, fa.stride) for fa in d)
                if len(d) == 1
                else L.resize(d, out_shape[i])
            )
            if i in dims and out_shape[i] != x.shape[i]
            else d
            for i, d in enumerate(lay)
        )
        if any(isinstance(v, Global) for v in node.fields) and node.kind != "unknown":
            node.kind = "global"

    # ---- multi-output and concatenation

    def _fam_split(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        x = call.args[0]
        rank = len(x.shape)
        if f == "unbind":
            dim = int(get(call, 1, "dim", 0)) % rank
        elif f in ("hsplit", "vsplit", "dsplit"):
            dim = {"vsplit": 0, "hsplit": 1 if rank > 1 else 0, "dsplit": 2}[f]
        else:
            dim = int(get(call, 2, "dim", 0)) % rank
        lay = node.layout
        d = lay[dim]
        a = L.whole_axis(d, lay)
        elements = []
        start = 0
        for shape in call.shapes:
            size = shape[dim] if f != "unbind" else 1
            sub = Node(node.name, node.op, "pointwise", [], tuple(shape), None, list(node.fields))
            sub.why, sub.frozen, sub.layout = list(node.why), node.frozen, lay
            if a is not None:
                n = x.shape[dim]
                if f == "unbind":
                    raise _Unknown("unbind along a spatial axis picks single positions")
                self._step(sub, {a: [(Axis("conv", 1, 1, 1, -start, start + size - n), "zeros")]})
                sub_lay = tuple((Factor("s", size, a, 1),) if i == dim else dd for i, dd in enumerate(lay))
            elif L.spatial_axes(d) or any(fa.kind == "m" for fa in d):
                raise _Unknown(f"{f} of a dimension holding part of a spatial axis")
            elif f == "unbind":
                sub_lay = tuple(dd for i, dd in enumerate(lay) if i != dim)
            else:
                sub_lay = tuple(L.resize(dd, size) if i == dim else dd for i, dd in enumerate(lay))
            elements.append((sub_lay, sub.fields, sub.frozen, sub.why))
            start += size
        node.elements = elements
        node.kind = "layer" if a is not None else "pointwise"

    def _fam_cat(self, node: Node, call: Call, ins: list[Node]) -> None:
        f = call.func
        tensors = call.args[0] if call.args and isinstance(call.args[0], (list, tuple)) else get(call, 0, "tensors")
        tensors = [t for t in tensors if isinstance(t, TensorRef)]
        dim = int(get(call, 1, "dim", 0))
        out_shape = tuple(call.shape or ())
        traced = [t for t in tensors if t.node is not None]
        if f in ("stack",):
            rank = len(out_shape)
            dim %= rank
            base = self._broadcast_layout(node, Call(call.name, "stack", (), {}, [], tuple(
                n for i, n in enumerate(out_shape) if i != dim)), traced)  # fmt: skip
            node.layout = (*base[:dim], L.channels(out_shape[dim]), *base[dim:])
            if len(traced) > 1:
                node.kind = "merge"
            self._merge_fields(node, [self.nodes[t.node] for t in traced if t.node])
            return
        if f in ("hstack", "vstack"):
            raise _Unknown(f"{f}")
        rank = len(out_shape)
        dim %= rank
        lays = [self.nodes[t.node].layout for t in traced if t.node]
        along = [lay_[dim] for lay_ in lays]
        spatial = [d for d in along if L.spatial_axes(d)]
        if spatial:
            if len(traced) > 1:
                raise _Unknown("concatenation of traced tensors along a spatial axis")
            src = self.nodes[traced[0].node]  # type: ignore[index]
            a = L.whole_axis(along[0], src.layout)
            before = sum(t.shape[dim] for t in tensors[: tensors.index(traced[0])])
            after = out_shape[dim] - before - traced[0].shape[dim]
            if a is None:
                if L.extended(along[0]):
                    raise _Unknown("concatenation along a dimension that already has constant entries")
                # constants around flattened positions (a class token): the factors stay, the
                # constant entries are counted beside them
                ext = ((Factor("k", before),) if before else ()) + along[0] + ((Factor("k", after),) if after else ())
                node.layout = tuple(ext if i == dim else d for i, d in enumerate(src.layout))
                node.notes.append(f"concatenation with {before + after} constant entries along dimension {dim}")
                return
            self._step(node, {a: [(Axis("conv", 1, 1, 1, before, after), "zeros")]})
            node.layout = tuple(
                (Factor("s", out_shape[dim], a, 1),) if i == dim else d for i, d in enumerate(src.layout)
            )
            node.kind = "layer"
            node.notes.append(f"concatenation with constants along axis {a}: a pad ({before}, {after})")
            return
        shape_wo = tuple(n for i, n in enumerate(out_shape) if i != dim)
        proxy = [TensorRef(t.node, tuple(n for i, n in enumerate(t.shape) if i != dim)) for t in traced]
        saved = {}
        for t in traced:
            src = self.nodes[t.node]  # type: ignore[index]
            saved[t.node] = src.layout
            src.layout = tuple(d for i, d in enumerate(src.layout) if i != dim)
        try:
            base = self._broadcast_layout(node, Call(call.name, "cat", (), {}, [], shape_wo), proxy)
        finally:
            for t in traced:
                self.nodes[t.node].layout = saved[t.node]  # type: ignore[index]
        node.layout = (*base[:dim], L.channels(out_shape[dim]), *base[dim:])
        if len(traced) > 1:
            node.kind = "merge"
        self._merge_fields(node, [self.nodes[t.node] for t in traced if t.node])

    def _fam_unfold(self, node: Node, call: Call, ins: list[Node]) -> None:
        x = call.args[0]
        rank = len(x.shape)
        dim = int(get(call, 1, "dimension")) % rank
        size, step = int(get(call, 2, "size")), int(get(call, 3, "step"))
        lay = node.layout
        d = lay[dim]
        a = L.whole_axis(d, lay)
        out_shape = tuple(call.shape or ())
        if a is None:
            if L.spatial_axes(d):
                raise _Unknown("unfold along part of a spatial axis")
            node.layout = (
                *tuple(L.resize(dd, out_shape[i]) if i == dim else dd for i, dd in enumerate(lay)),
                L.channels(size),
            )
            return
        self._step(node, {a: [(Axis("conv", size, step), "zeros")]})
        node.kind = "layer"
        node.notes.append(f"unfold windows of {size} every {step} along axis {a} (window entries mixed in advance)")
        node.layout = (
            *tuple((Factor("s", out_shape[dim], a, 1),) if i == dim else dd for i, dd in enumerate(lay)),
            (Factor("m", size),),
        )

    def _fam_embedding(self, node: Node, call: Call, ins: list[Node]) -> None:
        ids = call.args[0]
        if any(isinstance(r, TensorRef) and r.node is not None for r in refs(call.args[1:])):
            raise _Unknown("an embedding table computed from the input")
        node.layout = (*node.layout, L.channels((call.shape or ())[-1]))
        node.notes.append("embedding lookup (pointwise in its indices)")
        del ids

    def _fam_loss(self, node: Node, call: Call, ins: list[Node]) -> None:
        reduction = call.kwargs.get("reduction", "mean")
        operands = [r for r in refs(call.args[:2]) if r.node is not None]
        traced = [self.nodes[r.node] for r in operands if r.node in self.nodes]
        x = call.args[0]
        rank = len(x.shape)
        if len(traced) > 1:
            self._merge_fields(node, traced)
            node.kind = "merge"
        lay = node.layout
        if reduction == "none":
            if call.func in ("cross_entropy", "nll_loss"):
                picked = self._picked(lay, [1] if rank > 1 else [0])
                node.layout = self._mix_factors(node, lay, picked, keep=False, reason=f"{call.func} over classes")
                node.layout = tuple(d for i, d in enumerate(node.layout) if i != (1 if rank > 1 else 0))
            return
        picked = self._picked(lay, list(range(rank)))
        self._mix_factors(node, lay, picked, keep=False, reason=f"{call.func} with reduction={reduction!r}")
        node.layout = ()
        node.kind = "global" if node.kind != "unknown" else "unknown"

    def _fam_unknown(self, node: Node, call: Call, ins: list[Node]) -> None:
        raise _Unknown(f"unknown op {call.func}")


def _tuple(v: Any, nd: int) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        return tuple(int(x) for x in v)
    return (int(v),) * nd


def _rescale(lay: Layout, windows: Mapping[int, int]) -> Layout:
    """Divide the strides of the remaining factors of each axis by its removed window."""
    if not windows:
        return lay
    return tuple(
        tuple(
            Factor(f.kind, f.size, f.axis, f.stride // windows[f.axis]) if f.kind == "s" and f.axis in windows else f
            for f in d
        )
        for d in lay
    )


def _matmul_terms(f: str, ra: int, rb: int) -> tuple[list[str], str]:
    if f == "mm":
        return ["ik", "kj"], "ij"
    if f == "bmm":
        return ["bik", "bkj"], "bij"
    if f == "mv":
        return ["ik", "k"], "i"
    if f in ("dot", "inner") and ra == 1 and rb == 1:
        return ["k", "k"], ""
    if f == "inner":
        return ["...k", "...k"], "..."
    if f == "outer":
        return ["i", "j"], "ij"
    if ra == 1 and rb == 1:
        return ["k", "k"], ""
    if ra == 1:
        return ["k", "...kj"], "...j"
    if rb == 1:
        return ["...ik", "k"], "...i"
    return ["...ik", "...kj"], "...ij"


def _score_shape(q: tuple[int, ...], k: tuple[int, ...], f: str) -> tuple[int, ...]:
    if f == "scaled_dot_product_attention":
        batch = [max(a, b) for a, b in zip(q[:-2], k[:-2], strict=True)]
        return (*batch, q[-2], k[-2])
    if len(q) == 3:
        return (q[1], q[0], k[0])
    return (q[0], k[0])
