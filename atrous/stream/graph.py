"""The streaming graph: the traced graph of :mod:`atrous.analysis`, read along time.

:func:`build_graph` traces the model twice on real inputs of two lengths (the same tracer
and op table as the analysis), interprets both traces (layouts: which dimension holds time;
moves: what each op does along it, from the geometry core) and turns every call into one
:mod:`streaming node <atrous.stream.nodes>`:

- an op that does nothing along time (pointwise, channel mixing, layouts, splits and
  concatenations over channels, norms over channels) runs on aligned chunks;
- a convolution, pooling, padding, crop, transposed convolution, upsampling or subsampling
  along time becomes an explicit padding node (left padding at the start, right padding at
  the end of the stream, in every mode) and a valid windowed op that keeps exactly the inputs
  its next outputs read;
- LSTM / GRU / cumulative ops carry their state;
- anything that mixes time non-locally (attention without a bounded causal window, pooling
  or normalisation over time, FFTs, a reversal, statistics in training mode, dropout in
  training mode) is refused before any state exists, naming the node, the op and why.

The two traces tell which integer arguments depend on the input's length (a crop written
``x[..., :n - 2]``, a length-completing padding) and make the graph structure checkable:
if the model's calls differ between the two lengths it is refused.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor, nn

from atrous.analysis import layout as L
from atrous.analysis.interpret import Interpreter
from atrous.analysis.ops import family, get, number
from atrous.analysis.report import Global, Node
from atrous.analysis.trace import INPUT, Call, TensorRef, Trace, input_name, trace
from atrous.errors import SpecError
from atrous.geometry import Axis, Field
from atrous.stream import nodes as N

__all__ = ["Graph", "build_graph"]

_ZERO_PAD_FAMILIES = {"layer"}


@dataclass
class Graph:
    """The streaming nodes in topological order, and what they add up to."""

    nodes: list[N.StreamNode]
    output: int
    inputs: dict[str, int]  # model input name ("x" or a keyword) -> node index
    statics: list[str]  # keyword inputs without a time dimension (one value per stream)
    rate: Fraction  # output samples per input sample
    latency: int  # input samples: output m is final once input ceil((m + 1) / rate) - 1 + latency arrived
    out_shape: tuple[int, ...]  # the output's shape at the first trace (time dim: length there)
    out_time_dim: int
    out_batch_dim: int | None
    in_shape: tuple[int, ...]
    in_time_dim: int
    model_name: str = ""
    extra_rates: dict[str, Fraction] = field(default_factory=dict)

    def describe(self) -> str:
        """One line per node: its kind, its inputs, its rate and what it keeps."""
        lines = []
        for i, n in enumerate(self.nodes):
            src = ",".join(map(str, n.inputs))
            lines.append(f"%{i} = {n.describe()}({src}) rate {n.rate}  [{n.name}]")
        lines.append(f"output %{self.output}, rate {self.rate}, latency {self.latency} input samples")
        return "\n".join(lines)


def _refuse(node: str, op: str, why: str) -> SpecError:
    """One line: the node (its module path as the model names it), the op and why."""
    return SpecError(f"cannot stream {node.replace('/', '.')!r} ({op}): {why}")


def _time_dim(layout: Any, axis: int, node: str, op: str) -> int | None:
    """The dimension holding the time axis whole (``None``: the node has no time)."""
    if layout is None:
        return None
    dims = [i for i, d in enumerate(layout) if any(f.kind == "s" and f.axis == axis for f in d)]
    if not dims:
        return None
    if len(dims) > 1 or L.whole_axis(layout[dims[0]], layout) != axis:
        raise _refuse(node, op, f"time is split across dimensions here ({L.describe(layout)})")
    return dims[0]


def _compare(a: Any, b: Any) -> bool:
    if isinstance(a, TensorRef) or isinstance(b, TensorRef):
        return isinstance(a, TensorRef) and isinstance(b, TensorRef) and a.node == b.node
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_compare(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_compare(a[k], b[k]) for k in a)
    return bool(a == b) if not isinstance(a, float) or not math.isnan(a) else True


def build_graph(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    time_axis: int = -1,
    input_layout: str | None = None,
    extra: Mapping[str, tuple[Sequence[int], str]] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    leaves: dict[str, Any] | None = None,
) -> Graph:
    """Trace ``model`` and read its calls along time (see the module docstring).

    Args:
        input_shape: ``(1, C, T)`` (or another layout) at which to trace; ``T`` must be long
            enough for the model (a second trace uses a longer one).
        time_axis: which spatial axis of the input is time (default the last).
        extra: keyword inputs of the forward: name -> (shape at the traced length, layout
            letters); a spatial letter equal to the input's time letter marks the time dim.
    """
    letters = L.parse_layout(input_layout, len(input_shape))
    spatial = [i for i, ch in enumerate(letters) if ch not in "NC"]
    if not spatial:
        raise SpecError("the input needs a time dimension")
    t_axis = time_axis % len(spatial)
    t_dim = spatial[t_axis]
    extra = dict(extra or {})
    shape0 = tuple(int(n) for n in input_shape)
    if "N" in letters:  # two streams in the trace keep the batch dimension visible in every layout
        shape0 = tuple(2 if ch == "N" else n for n, ch in zip(shape0, letters, strict=True))
    traces: list[tuple[Trace, dict[str, Node]]] = []
    lengths = []
    for grow in (0, 1):
        length = shape0[t_dim] * (1 + grow)
        shape = tuple(length if i == t_dim else n for i, n in enumerate(shape0))
        g = torch.Generator().manual_seed(1234 + grow)
        x = torch.randn(shape, generator=g, dtype=dtype or torch.float32, device=device)
        kw = {}
        layouts = {}
        for key, (eshape, eletters) in extra.items():
            es = tuple(int(n) for n in eshape)
            ed = [i for i, ch in enumerate(eletters) if ch == letters[t_dim]]
            if ed:
                es = tuple(n * (1 + grow) if i == ed[0] else n for i, n in enumerate(es))
            es = tuple(2 if ch == "N" else n for n, ch in zip(es, eletters, strict=True))
            kw[key] = torch.randn(es, generator=g, dtype=dtype or torch.float32, device=device)
            layouts[input_name(key)] = (es, eletters)
        tr = trace(model, shape, "real", x=x, input_layout=letters, extra=kw, leaves=leaves)
        interp = Interpreter(tr, dict(leaves or {}), None, layouts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # alignment notes are for the analysis, not for streaming
            order = interp.run()
        traces.append((tr, {n.name: n for n in order}))
        lengths.append(length)
    (tr0, nodes0), (tr1, nodes1) = traces
    if [(c.name, c.func) for c in tr0.calls] != [(c.name, c.func) for c in tr1.calls]:
        raise SpecError("the model makes different calls for different input lengths: it cannot be streamed exactly")
    return _Builder(model, tr0, nodes0, tr1, nodes1, t_axis, letters, t_dim, lengths, extra).build()


class _Builder:
    def __init__(
        self,
        model: nn.Module,
        tr0: Trace,
        nodes0: dict[str, Node],
        tr1: Trace,
        nodes1: dict[str, Node],
        axis: int,
        letters: str,
        t_dim: int,
        lengths: list[int],
        extra: dict[str, tuple[Sequence[int], str]],
    ) -> None:
        self.model = model
        self.tr0, self.nodes0, self.tr1, self.nodes1 = tr0, nodes0, tr1, nodes1
        self.calls1 = {c.name: c for c in tr1.calls}
        self.axis = axis
        self.letters = letters
        self.t_dim = t_dim
        self.lengths = lengths
        self.extra = extra
        self.out: list[N.StreamNode] = []
        self.index: dict[str, int] = {}  # traced node name -> stream node index (its output)
        self.static: set[str] = set()  # traced nodes without time, computed per call

    # ------------------------------------------------------------------ helpers

    def add(self, node: N.StreamNode, name: str | None = None) -> int:
        self.out.append(node)
        i = len(self.out) - 1
        if name is not None:
            self.index[name] = i
        return i

    def time_dim(self, name: str) -> int | None:
        n = self.nodes0[name]
        return _time_dim(n.layout, self.axis, name, n.op)

    def rate(self, name: str) -> Fraction:
        """Samples of this node per input sample, from the two traced lengths."""
        d = self.time_dim(name)
        if d is None:
            return Fraction(0)
        a = self.nodes0[name].shape[d]
        b = self.nodes1[name].shape[d]
        return Fraction(b - a, self.lengths[1] - self.lengths[0])

    def operands(self, call: Call) -> list[str]:
        """Traced operands that vary with time (not static, not constants), in order."""
        return [n for n in call.inputs if n in self.index]

    # ------------------------------------------------------------------ the walk

    def build(self) -> Graph:
        tr = self.tr0
        x_node = self.nodes0[INPUT]
        self.add(N.Input("x", [], self.t_dim, Fraction(1)), INPUT)
        del x_node
        statics = []
        extra_rates = {}
        for key in self.extra:
            name = input_name(key)
            if name not in self.nodes0:
                continue
            d = self.time_dim(name)
            if d is None:
                self.static.add(name)
                statics.append(key)
                continue
            r = self.rate(name)
            extra_rates[key] = r
            self.add(N.Input(key, [], d, r), name)
        for call in tr.calls:
            self.visit(call)
        out_name = tr.outputs[0] if tr.outputs else tr.calls[-1].name
        if out_name not in self.index:
            raise SpecError(f"the output {out_name!r} does not vary with time: nothing to stream")
        output = self.index[out_name]
        out_node = self.nodes0[out_name]
        d = self.time_dim(out_name)
        assert d is not None
        rate = self.out[output].rate
        batch = [i for i, dd in enumerate(out_node.layout) if any(f.kind == "b" for f in dd)]
        graph = Graph(
            self.out, output, {"x": 0, **{k: self.index[input_name(k)] for k in extra_rates}}, statics, rate, 0,
            tuple(out_node.shape), d, batch[0] if batch else None, tuple(tr.input_shape), self.t_dim,
            type(self.model).__name__, extra_rates,
        )  # fmt: skip
        tails: list[int] = []
        for n in self.out:  # trailing outputs only the end produces: crops within them hold nothing back
            tails.append(n.tail([tails[j] for j in n.inputs]) if not isinstance(n, (N.Input, N.Static)) else 0)
        graph.latency = N.latency(graph)
        return graph

    def visit(self, call: Call) -> None:
        name = call.name
        node = self.nodes0[name]
        fam = family(call) if call.func != "module" else "layer"
        ops = self.operands(call)
        statics = [n for n in call.inputs if n in self.static]
        if not ops:
            if any(n in self.index or n in self.static for n in call.inputs) or statics:
                self.static.add(name)  # computed per call from static inputs
                self.add(N.Static(name, call), None)
                self.index.pop(name, None)
            return
        if node.kind == "unknown":
            raise _refuse(name, call.func, node.notes[-1] if node.notes else "unknown op")
        self.check_training(call)
        moves = node.moves.get(self.axis, [])
        d = self.time_dim(name)
        if d is None and call.func != "__item__":
            why = next((w for w in node.why if w), None) or f"{call.func} removes the time dimension"
            raise _refuse(name, call.func, f"it mixes time ({why})")
        f = node.fields[self.axis] if self.axis < len(node.fields) else None
        other_input = isinstance(f, Global) and f.runs == ()  # made from keyword inputs only
        if d is not None and not isinstance(f, Field) and not other_input:
            why = next((w for w in node.why if w), None) or "its field along time is not local"
            raise _refuse(name, call.func, f"it mixes time ({why})")
        if any(m[0] in ("mix", "pin") for m in moves):
            kind = next(m[1] if m[0] == "mix" else "one position" for m in moves if m[0] in ("mix", "pin"))
            why = next((w for w in node.why if w), "")
            raise _refuse(name, call.func, f"it mixes time ({kind}{': ' + why if why else ''})")
        inputs = [self.index[n] for n in ops]
        in_dims = [self.out[i].time_dim for i in inputs]
        rate = self.rate(name) if d is not None else Fraction(0)
        if fam == "item":
            parent = self.out[self.index[call.args[0].node]]
            if isinstance(parent, N.Recurrent) and int(call.args[1]) > 0:
                raise _refuse(name, call.func, "the final state of a recurrent layer reads the whole sequence")
            self.add(N.Item(name, inputs, d, rate, int(call.args[1])), name)
            return
        steps = [m for m in moves if m[0] == "step"]
        if not steps:
            self.elementwise(call, node, inputs, in_dims, d, rate, ops)
            return
        if fam == "layer" or fam == "adaptive":
            self.layer(call, node, inputs, in_dims, d, rate, steps)
        elif fam == "pad":
            self.pad(call, node, inputs, in_dims, d, rate)
        elif fam == "index":
            self.crop(call, node, inputs, in_dims, d, rate)
        elif fam == "cat":
            self.cat(call, node, inputs, in_dims, d, rate)
        elif fam == "resize" or (fam == "layout" and all(s[1].kind == "upsample" for s in steps)):
            self.resize(call, node, inputs, in_dims, d, rate, steps)
        elif fam in ("cumulative", "rnn"):
            self.recurrent(call, node, inputs, in_dims, d, rate, fam)
        else:
            raise _refuse(name, call.func, f"it moves positions along time in a way streaming does not follow ({fam})")

    def check_training(self, call: Call) -> None:
        f = call.func
        if f.startswith("dropout") or f in ("alpha_dropout", "feature_alpha_dropout"):
            p = number(get(call, 1, "p", 0.5))
            training = bool(get(call, 2, "training", True))
            if training and p:
                raise _refuse(call.name, f, "dropout in training mode is random (call model.eval())")
        if f == "batch_norm" and (bool(get(call, 5, "training", False)) or get(call, 1, "running_mean") is None):
            raise _refuse(
                call.name, f, "batch statistics in training mode read the whole batch and time (call model.eval())"
            )

    # ------------------------------------------------------------------ kinds

    def elementwise(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
                    rate: Fraction, names: list[str]) -> None:  # fmt: skip
        rates = {self.out[i].rate for i in inputs}
        if len(rates) > 1:
            raise _refuse(call.name, call.func, f"its inputs arrive at different rates ({sorted(map(str, rates))})")
        shape_fix = self.shape_args(call, d)
        consts = self.constants(call, in_dims, d)
        self.add(N.Elementwise(call.name, inputs, d, rate, call, in_dims, shape_fix, consts, names, rates.pop()),
                 call.name)  # fmt: skip

    def shape_args(self, call: Call, d: int | None) -> Callable[[Any, int], Any] | None:
        """For calls that give their output a shape (view, reshape, flatten, squeeze, expand, ...):
        run as ``reshape`` / ``expand`` to the shape the output's layout has for a chunk of
        ``T`` samples and the chunk's number of streams."""
        f = call.func
        reshape = f in (
            "view",
            "reshape",
            "flatten",
            "unflatten",
            "squeeze",
            "unsqueeze",
            "ravel",
            "view_as",
            "reshape_as",
        )
        expand = f in ("expand", "broadcast_to", "expand_as")
        if d is None or not (reshape or expand) or (f == "view" and len(call.args) > 1
                                                     and isinstance(call.args[1], torch.dtype)):  # fmt: skip
            return None
        lay = self.nodes0[call.name].layout
        src = self.nodes0[call.args[0].node]
        src_batch = [i for i, dd in enumerate(src.layout) if any(fa.kind == "b" for fa in dd)]
        if any(L.extended(dd) for dd in lay):
            return None
        axis = self.axis

        def sizes(x: Tensor, T: int) -> tuple[int, ...]:
            if src_batch:
                sb = src_batch[0]
                B = x.shape[sb] // math.prod(fa.size for fa in src.layout[sb] if fa.kind != "b")
            else:
                B = 1
            out = []
            for dd in lay:
                n = 1
                for fa in dd:
                    if fa.kind == "b":
                        n *= B
                    elif fa.kind == "s" and fa.axis == axis:
                        n *= T
                    else:
                        n *= fa.size
                out.append(n)
            return tuple(out)

        if reshape:
            return lambda x, T: x.reshape(sizes(x, T))
        return lambda x, T: x.expand(sizes(x, T))

    def constants(self, call: Call, in_dims: list[int | None], d: int | None) -> dict[int, list[tuple[int, str]]]:
        """Constant operands sized by the trace: along the output's time dimension (the traced
        length: uniform along time, cut per chunk, or refused) and its batch dimension (the
        trace's two streams: uniform, broadcast to any number of streams)."""
        out: dict[int, list[tuple[int, str]]] = {}
        node = self.nodes0[call.name]
        shape = node.shape
        lay = node.layout or ()
        batch = [i for i, dd in enumerate(lay) if any(f.kind == "b" for f in dd)]
        from atrous.analysis.ops import refs

        for ref in refs((call.args, call.kwargs)):
            if ref.node is not None or ref.value is None or not ref.shape:
                continue
            v = ref.value
            off = len(shape) - len(ref.shape)
            acts: list[tuple[int, str]] = []
            if d is not None:
                j = d - off
                if 0 <= j < len(ref.shape) and ref.shape[j] == shape[d] and shape[d] > 1:
                    if not bool((v == v.narrow(j, 0, 1)).all()):
                        raise _refuse(
                            call.name, call.func, "a constant that varies along time (positions of the whole input)"
                        )
                    acts.append((j, "time"))
            for b in batch:
                j = b - off
                if 0 <= j < len(ref.shape) and ref.shape[j] == shape[b] and shape[b] > 1:
                    if not bool((v == v.narrow(j, 0, 1)).all()):
                        raise _refuse(call.name, call.func, "a constant that differs between streams")
                    acts.append((j, "batch"))
            if acts:
                out[id(ref)] = acts
        return out

    def layer(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
              rate: Fraction, steps: list[tuple[Any, ...]]) -> None:  # fmt: skip
        if len(steps) != 1:
            raise _refuse(call.name, call.func, "more than one step along time in one call")
        axis: Axis = steps[0][1]
        (src,) = inputs
        (din,) = in_dims
        assert din is not None  # a step along time reads an input along time
        if call.func.startswith("adaptive"):
            raise _refuse(call.name, call.func, "adaptive pooling along time depends on the stream's length")
        if axis.kind == "pool" and axis.ceil_mode:
            raise _refuse(call.name, call.func, "ceil_mode along time depends on where the stream ends")
        if call.func.startswith("avg_pool") and axis.lo + axis.hi and not bool(get(call, 5, "count_include_pad", True)):
            raise _refuse(call.name, call.func, "count_include_pad=False changes the border divisor")
        k, s, dil, lo, hi = axis.kernel, axis.stride, axis.dilation, axis.lo, axis.hi
        if axis.kind == "transposed":
            valid = N.transposed_call(call, node, din)
            full_axis = Axis("transposed", k, s, dil)
            t = self.add(N.Transposed(call.name + "#full", [src], din, self.out[src].rate * s, valid, full_axis))
            p = self.add(N.Pad(call.name + "#crop", [t], din, rate, -lo, -hi + axis.output_padding, "constant", 0.0))
            bias = get(call, 2, "bias", None)
            if isinstance(bias, TensorRef) and bias.value is not None:
                self.add(N.Bias(call.name, [p], din, rate, bias.value, din), call.name)
            else:
                self.index[call.name] = p
            return
        value = float("-inf") if call.func.startswith("max_pool") else 0.0
        mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}[
            steps[0][2]
        ]
        if mode == "circular" and lo > 0:
            raise _refuse(call.name, call.func, "circular padding at the start needs the end of the stream")
        cur = src
        if lo or hi:
            cur = self.add(N.Pad(call.name + "#pad", [cur], din, self.out[src].rate, lo, hi, mode, value))
        valid = N.valid_call(call, node, din)
        self.add(N.Window(call.name, [cur], d, rate, valid, din, Axis(axis.kind, k, s, dil)), call.name)

    def pad(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
            rate: Fraction) -> None:  # fmt: skip
        c1 = self.calls1[call.name]
        p0, p1 = get(call, 1, "pad"), get(c1, 1, "pad")
        amounts0 = [number(v) for v in p0]
        amounts1 = [number(v) for v in p1]
        (din,) = in_dims
        assert din is not None  # a step along time reads an input along time
        rank = len(call.args[0].shape)
        j = rank - 1 - din  # the pair of this dimension in F.pad's order (last dimension first)
        if 2 * j + 1 >= len(amounts0):
            raise _refuse(call.name, call.func, "padding along time not found")
        lo, hi = int(amounts0[2 * j]), int(amounts0[2 * j + 1])
        if (lo, hi) != (int(amounts1[2 * j]), int(amounts1[2 * j + 1])):
            raise _refuse(
                call.name, call.func,
                "its padding along time depends on the input's length (it completes the last frame): the stream's end is not known in advance",
            )  # fmt: skip
        mode = str(get(call, 2, "mode", "constant")) if call.func == "pad" else "constant"
        value = number(get(call, 3, "value", 0.0)) if call.func == "pad" else number(get(call, 2, "value", 0.0))
        if mode == "circular" and lo > 0:
            raise _refuse(call.name, call.func, "circular padding at the start needs the end of the stream")
        others = [(i, v) for i, v in enumerate(amounts0) if i not in (2 * j, 2 * j + 1) and v]
        (src,) = inputs
        cur = self.add(N.Pad(call.name + ("#time" if others else ""), [src], din, rate, lo, hi, mode, value or 0.0),
                       None if others else call.name)  # fmt: skip
        if others:
            # the other dimensions' padding stays a call on every chunk
            self.add(N.Elementwise(call.name, [cur], d, rate, N.pad_without_time(call, j), [din], None, {},
                                   [call.args[0].node], rate), call.name)  # fmt: skip

    def crop(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
             rate: Fraction) -> None:  # fmt: skip
        (din,) = in_dims
        assert din is not None  # a step along time reads an input along time
        n0 = call.args[0].shape[din]
        c1 = self.calls1[call.name]
        n1 = c1.args[0].shape[din]
        start0, stop0, step0 = _time_slice(call, din, n0)
        start1, stop1, step1 = _time_slice(c1, din, n1)
        if step0 != step1 or start0 != start1:
            raise _refuse(call.name, call.func, "a crop whose start depends on the input's length")
        if n0 - stop0 != n1 - stop1:
            raise _refuse(call.name, call.func, "a crop whose end is fixed, not relative to the end of the stream")
        (src,) = inputs
        cur = self.add(
            N.Pad(call.name + "#crop", [src], din, self.out[src].rate, -start0, -(n0 - stop0), "constant", 0.0)
        )
        rest = N.index_without_time(call, din)
        if step0 > 1:
            cur = self.add(N.Window(call.name + "#step", [cur], din, self.out[src].rate / step0,
                                    N.Subsample(din, step0), din, Axis("conv", 1, step0)))  # fmt: skip
        self.add(N.Elementwise(call.name, [cur], d, rate, rest, [din], None, {}, [call.args[0].node], rate), call.name)

    def cat(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
            rate: Fraction) -> None:  # fmt: skip
        tensors = call.args[0] if isinstance(call.args[0], (list, tuple)) else get(call, 0, "tensors")
        tensors = [t for t in tensors if isinstance(t, TensorRef)]
        traced = [t for t in tensors if t.node is not None]
        (din,) = in_dims
        pos = tensors.index(traced[0])
        before = [t.value for t in tensors[:pos]]
        after = [t.value for t in tensors[pos + 1 :]]
        if any(v is None for v in before + after):
            raise _refuse(call.name, call.func, "a concatenation along time with values not known")
        prefix = torch.cat(before, din) if before else None  # type: ignore[arg-type]
        suffix = torch.cat(after, din) if after else None  # type: ignore[arg-type]
        self.add(N.Pad(call.name, inputs, din, rate, 0, 0, "tensor", 0.0, prefix, suffix), call.name)

    def resize(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
               rate: Fraction, steps: list[tuple[Any, ...]]) -> None:  # fmt: skip
        axis: Axis = steps[0][1]
        (din,) = in_dims
        assert din is not None  # a step along time reads an input along time
        if len(steps) != 1 or d is None:
            raise _refuse(call.name, call.func, "resizing along time in more than one step")
        if axis.kind == "upsample":
            shape_fix = None
            if call.func == "interpolate" and get(call, 1, "size", None) is not None:
                raise _refuse(call.name, call.func, "interpolate(size=...) along time: give a scale_factor")
            ops = self.operands(call)
            self.add(N.Elementwise(call.name, inputs, d, rate, call, in_dims, shape_fix, {}, ops,
                                   self.out[inputs[0]].rate), call.name)  # fmt: skip
            return
        if axis.kind == "linear":
            self.add(N.LinearUp(call.name, inputs, d, rate, call, din, axis), call.name)
            return
        if axis.kind == "conv" and axis.kernel == 1:  # nearest downsampling: every r-th sample
            (src,) = inputs
            cur = src
            if axis.lo or axis.hi:
                cur = self.add(
                    N.Pad(call.name + "#pad", [src], din, self.out[src].rate, axis.lo, axis.hi, "constant", 0.0)
                )
            self.add(N.Window(call.name, [cur], d, rate, N.Subsample(din, axis.stride), din, Axis("conv", 1, axis.stride)),
                     call.name)  # fmt: skip
            return
        raise _refuse(call.name, call.func, f"{axis.kind} resizing along time")

    def recurrent(self, call: Call, node: Node, inputs: list[int], in_dims: list[int | None], d: int | None,
                  rate: Fraction, fam: str) -> None:  # fmt: skip
        (din,) = in_dims
        assert din is not None  # a step along time reads an input along time
        if fam == "rnn":
            if bool(call.args[7]):
                raise _refuse(call.name, call.func, "a bidirectional RNN reads the whole sequence")
            hx = call.args[1]
            if any(
                isinstance(r, TensorRef) and r.node is not None for r in (hx if isinstance(hx, (list, tuple)) else [hx])
            ):
                raise _refuse(call.name, call.func, "an initial state computed from the input")
        self.add(N.Recurrent(call.name, inputs, d, rate, call, din, fam), call.name)


def _time_slice(call: Call, dim: int, n: int) -> tuple[int, int, int]:
    """(start, stop, step) of a crop along ``dim`` (normalised to the traced length)."""
    f = call.func
    if f == "narrow":
        start = int(number(get(call, 2, "start")))
        return start, start + int(get(call, 3, "length")), 1
    index = call.args[1] if len(call.args) > 1 else None
    parts = index if isinstance(index, tuple) else (index,)
    rank = len(call.args[0].shape)
    consumed = sum(1 for i in parts if i is not None and i is not Ellipsis)
    pos = 0
    for item in parts:
        if item is Ellipsis:
            pos += rank - consumed
            continue
        if item is None:
            continue
        if pos == dim:
            if not isinstance(item, slice):
                raise _refuse(call.name, f, "indexing time at one position")
            return item.indices(n)
        pos += 1
    return 0, n, 1
