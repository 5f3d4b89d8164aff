"""Streaming nodes: each traced call, run along time on chunks (see :mod:`atrous.stream.graph`).

Every node takes the new samples of its inputs (along each input's time dimension) and
returns the samples of its output that are final: their value no longer depends on anything
to come. ``final=True`` marks the end of the stream, where right paddings are applied. Each
node's :meth:`~StreamNode.need` gives the last input sample that output ``m`` waits for, in
the node's input clock: the latency of the model is their composition.

=============  ==================================================================================
``Input``      a model input (``x`` or a keyword input with a time dimension)
``Static``     a value without time (a speaker embedding, constants computed from it)
``Elementwise``  a call that does nothing along time, on aligned chunks of its inputs
``Item``       one output of a multi-output call
``Pad``        padding along time in every mode (start: at the first samples; end: at
               ``final``), crops at the start, holding back samples cropped at the end, and
               constant tensors concatenated before / after
``Window``     a valid (unpadded) convolution or pooling along time: keeps the ``e - s``
               inputs its next output reads, computes each output once
``Transposed`` a transposed convolution along time, without padding: the overlap of
               ``ceil(e / s)`` inputs is kept; a ``Pad`` after it crops its padding
``LinearUp``   linear interpolation by an integer factor (PyTorch's border clamping exact)
``Recurrent``  LSTM / GRU / RNN with their hidden state; cumulative sums, products, maxima
=============  ==================================================================================
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor

from atrous.analysis.ops import get
from atrous.analysis.trace import Call, TensorRef
from atrous.errors import SpecError
from atrous.geometry import Axis, axis_taps

__all__ = [
    "Elementwise",
    "Input",
    "Item",
    "LinearUp",
    "Pad",
    "Recurrent",
    "Static",
    "StreamNode",
    "Transposed",
    "Timing",
    "Window",
    "latency",
]

Chunk = Any  # a Tensor, a tuple of tensors (multi-output calls), or None (no new samples)


def _cat(a: Tensor | None, b: Tensor | None, dim: int) -> Tensor | None:
    if a is None or a.shape[dim] == 0:
        return b
    if b is None or b.shape[dim] == 0:
        return a
    return torch.cat([a, b], dim)


def _len(t: Tensor | None, dim: int) -> int:
    return 0 if t is None else int(t.shape[dim])


def bind(obj: Any, env: dict[str, Any], consts: dict[int, list[tuple[int, str]]] | None = None,
         T: int | None = None) -> Any:  # fmt: skip
    """The call's arguments with traced tensors replaced by ``env`` values and constants by
    their values (a constant uniform along time cut to ``T`` samples, one uniform along the
    trace's streams cut to one, which broadcasts)."""
    if isinstance(obj, TensorRef):
        if obj.node is not None:
            return env[obj.node]
        v = obj.value
        if consts and id(obj) in consts:
            assert v is not None  # a constant operand has its value
            for dim, what in consts[id(obj)]:
                v = v.narrow(dim, 0, 1)
                if what == "time" and T is not None:
                    v = v.expand(*(T if i == dim else -1 for i in range(v.dim())))
        return v
    if isinstance(obj, tuple):
        return tuple(bind(x, env, consts, T) for x in obj)
    if isinstance(obj, list):
        return [bind(x, env, consts, T) for x in obj]
    if isinstance(obj, dict):
        return {k: bind(v, env, consts, T) for k, v in obj.items()}
    return obj


def _last_tap(axis: Axis, m: int) -> int:
    """The last input position output ``m`` of ``axis`` reads (-1 when it reads none): from the
    geometry core's tap sets."""
    taps = axis_taps(axis, m)
    return max(taps) if taps else -1


class StreamNode:
    """Base: ``inputs`` (stream node indices), ``time_dim`` of the output, ``rate`` (output
    samples per model input sample)."""

    kind = "node"

    def __init__(self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction) -> None:
        self.name = name
        self.inputs = inputs
        self.time_dim = time_dim
        self.rate = rate

    def reset(self) -> None:
        """Back to the start of a stream."""

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        raise NotImplementedError

    def need(self, m: int) -> int:
        """The last sample of its (first) input that output ``m`` waits for (-1: none)."""
        return m

    def tail(self, tails: list[int]) -> int:
        """Trailing outputs that only the end of the stream produces, given those of the
        inputs (a margin: a crop at the end within it needs no samples held back)."""
        return min(tails, default=0)

    def state(self) -> dict[str, Any]:
        return {k: copy.copy(v) for k, v in vars(self).items() if k.startswith("s_")}

    def load(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def describe(self) -> str:
        return self.kind


class Input(StreamNode):
    kind = "input"

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        return chunks[0]


class Static(StreamNode):
    """A value without a time dimension, computed from static inputs on every call."""

    kind = "static"

    def __init__(self, name: str, call: Call) -> None:
        super().__init__(name, [], None, Fraction(0))
        self.call = call

    def compute(self, env: dict[str, Any]) -> None:
        assert self.call.fn is not None
        env[self.name] = self.call.fn(*bind(self.call.args, env), **bind(self.call.kwargs, env))


class Elementwise(StreamNode):
    """A call that does nothing along time: its inputs' samples are aligned by index (each
    input buffered until the others catch up: the delay lines of branches)."""

    kind = "elementwise"

    def __init__(
        self,
        name: str,
        inputs: list[int],
        time_dim: int | None,
        rate: Fraction,
        call: Call | Callable[..., Any],
        in_dims: list[int | None],
        shape_args: Callable[[Any, int], Any] | None,
        consts: dict[int, list[tuple[int, str]]],
        names: list[str] | None = None,
        in_rate: Fraction | None = None,
    ) -> None:
        super().__init__(name, inputs, time_dim, rate)
        self.call = call
        self.in_dims = in_dims
        self.shape_args = shape_args
        self.consts = consts
        self.names = names or []
        self.in_rate = in_rate if in_rate else rate
        self.ratio = self.rate / self.in_rate if self.time_dim is not None and self.in_rate else Fraction(1)
        self.reset()

    def reset(self) -> None:
        self.s_pending: list[Tensor | None] = [None] * len(self.inputs)

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        dims = self.in_dims
        pending = self.s_pending
        if all(p is None for p in pending) and all(c is not None for c in chunks):
            # the common case: aligned inputs with nothing held back
            n = chunks[0].shape[dims[0]]
            if n and all(c.shape[d] == n for c, d in zip(chunks, dims, strict=True)):
                return self._apply(chunks, n, env)
        for i, c in enumerate(chunks):
            pending[i] = _cat(pending[i], c, dims[i])  # type: ignore[arg-type]
        n = min(_len(p, d) for p, d in zip(pending, dims, strict=True))  # type: ignore[arg-type]
        if n == 0:
            return None
        parts = []
        for i, (p, d) in enumerate(zip(pending, dims, strict=True)):
            assert p is not None and d is not None
            parts.append(p.narrow(d, 0, n))
            rest = p.shape[d] - n
            pending[i] = p.narrow(d, n, rest) if rest else None
        return self._apply(parts, n, env)

    def _apply(self, parts: list[Tensor], n: int, env: dict[str, Any]) -> Chunk:
        if not isinstance(self.call, Call):
            return self.call(*parts)
        local = dict(env)
        local.update(zip(self.names, parts, strict=True))
        T = n if self.ratio == 1 else int(n * self.ratio)
        if self.shape_args is not None:
            return self.shape_args(local[self.call.args[0].node], T)
        args = bind(self.call.args, local, self.consts, T)
        kwargs = bind(self.call.kwargs, local, self.consts, T)
        assert self.call.fn is not None
        return self.call.fn(*args, **kwargs)


class Item(StreamNode):
    kind = "item"

    def __init__(self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, index: int) -> None:
        super().__init__(name, inputs, time_dim, rate)
        self.index = index

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        c = chunks[0]
        return None if c is None else c[self.index]

    def describe(self) -> str:
        return f"item[{self.index}]"


class Pad(StreamNode):
    """Padding along time: ``lo`` samples before (negative: the first ``-lo`` inputs
    dropped), ``hi`` after (negative: the last ``-hi`` inputs held back, dropped at the end);
    ``mode``: ``constant`` (``value``), ``reflect``, ``replicate``, ``circular`` (after only)
    or ``tensor`` (``prefix`` / ``suffix`` tensors: a concatenation with constants)."""

    kind = "pad"

    def __init__(
        self,
        name: str,
        inputs: list[int],
        time_dim: int | None,
        rate: Fraction,
        lo: int,
        hi: int,
        mode: str,
        value: float,
        prefix: Tensor | None = None,
        suffix: Tensor | None = None,
    ) -> None:
        super().__init__(name, inputs, time_dim, rate)
        if mode not in ("constant", "reflect", "replicate", "circular", "tensor"):
            raise SpecError(f"cannot stream node {name!r}: padding mode {mode!r}")
        self.lo, self.hi, self.mode, self.value = lo, hi, mode, value
        self.prefix, self.suffix = prefix, suffix
        if mode == "tensor":
            assert time_dim is not None  # a concatenation along time
            self.lo = 0 if prefix is None else int(prefix.shape[time_dim])
            self.hi = 0 if suffix is None else int(suffix.shape[time_dim])
        self.crop_end = max(0, -self.hi)  # the last inputs, dropped at the end of the stream
        self.hold = self.crop_end  # inputs held back before it (fewer when the input's tail covers them)
        self.skip = max(0, -self.lo)
        self.axis = Axis("conv", 1, 1, 1, self.lo, self.hi)
        self.reset()

    def reset(self) -> None:
        self.s_buf: Tensor | None = None  # inputs from s_start on
        self.s_start = 0
        self.s_received = 0
        self.s_next = 0  # first input not yet emitted
        self.s_prefix_done = self.lo <= 0
        self.s_head: Tensor | None = None  # the first inputs (circular padding at the end)

    def need(self, m: int) -> int:
        if m < self.lo:  # the start's padding: a constant, or the first inputs reflected / repeated
            return {"reflect": self.lo, "replicate": 0}.get(self.mode, -1)
        return _last_tap(self.axis, m) + self.hold  # samples cropped at the end are held back

    def tail(self, tails: list[int]) -> int:
        t = min(tails, default=0)
        self.hold = max(0, self.crop_end - t)  # inputs that arrive only at the end are not held back
        return max(0, t - self.crop_end) + max(0, self.hi)

    def _fill(self, like: Tensor, n: int, values: Tensor | None = None) -> Tensor:
        d = self.time_dim
        assert d is not None
        if values is not None:
            return broadcast_like(values, like, d)
        shape = [like.shape[i] if i != d else n for i in range(like.dim())]
        return like.new_full(shape, self.value)

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        d = self.time_dim
        assert d is not None
        c = chunks[0]
        if c is not None and c.shape[d]:
            self.s_buf = _cat(self.s_buf, c, d)
            if self.mode == "circular" and self.hi > 0 and _len(self.s_head, d) < self.hi:
                self.s_head = _cat(self.s_head, c, d).narrow(d, 0, min(self.hi, _len(self.s_head, d) + c.shape[d]))  # type: ignore[union-attr]
            self.s_received += c.shape[d]
        out: list[Tensor] = []
        buf = self.s_buf
        if not self.s_prefix_done and buf is not None:
            if self.mode in ("constant", "tensor"):
                out.append(self._fill(buf, self.lo, self.prefix))
                self.s_prefix_done = True
            elif self.mode == "replicate":
                out.append(buf.narrow(d, 0, 1).expand(*[self.lo if i == d else -1 for i in range(buf.dim())]))
                self.s_prefix_done = True
            elif self.mode == "reflect" and (self.s_received > self.lo or final):
                if self.s_received <= self.lo:
                    raise SpecError(
                        f"node {self.name!r}: reflect padding of {self.lo} needs more than {self.lo} samples"
                    )
                out.append(buf.narrow(d, 1 - self.s_start, self.lo).flip(d))
                self.s_prefix_done = True
        if self.s_prefix_done and buf is not None:
            first = max(self.s_next, self.skip)
            limit = self.s_received - (self.crop_end if final else self.hold)
            if limit > first:
                out.append(buf.narrow(d, first - self.s_start, limit - first))
            self.s_next = max(self.s_next, limit, first)
        if final and self.hi > 0 and buf is not None:
            n = self.s_received
            if self.mode in ("constant", "tensor"):
                out.append(self._fill(buf, self.hi, self.suffix))
            elif self.mode == "replicate":
                last = buf.narrow(d, n - 1 - self.s_start, 1)
                out.append(last.expand(*[self.hi if i == d else -1 for i in range(buf.dim())]))
            elif self.mode == "reflect":
                if n <= self.hi:
                    raise SpecError(
                        f"node {self.name!r}: reflect padding of {self.hi} needs more than {self.hi} samples"
                    )
                out.append(buf.narrow(d, n - 1 - self.hi - self.s_start, self.hi).flip(d))
            else:  # circular
                assert self.s_head is not None
                out.append(self.s_head.narrow(d, 0, self.hi))
        # keep what is still needed: unemitted inputs, and the tail right padding reads
        if buf is not None:
            keep_from = self.s_next
            if self.mode == "reflect":
                keep_from = min(keep_from, self.s_received - self.hi - 1, 1 if not self.s_prefix_done else keep_from)
            elif self.mode == "replicate":
                keep_from = min(keep_from, self.s_received - 1)
            keep_from = max(keep_from, self.s_start, 0)
            if keep_from > self.s_start:
                self.s_buf = buf.narrow(d, keep_from - self.s_start, self.s_received - keep_from)
                self.s_start = keep_from
        if not out:
            return None
        return out[0] if len(out) == 1 else torch.cat(out, d)

    def describe(self) -> str:
        return f"pad({self.lo}, {self.hi}, {self.mode})"


class _AxisNode(StreamNode):
    """A node that runs one unpadded axis of the geometry core along time (a window or a
    transposed convolution): its inputs from ``s_start`` on in ``s_buf``, the next output to
    emit ``s_next``; output ``m`` waits for the last input its tap set reads."""

    axis: Axis

    def reset(self) -> None:
        self.s_buf: Tensor | None = None
        self.s_start = 0
        self.s_received = 0
        self.s_next = 0

    def need(self, m: int) -> int:
        return _last_tap(self.axis, m)


class Window(_AxisNode):
    """A valid op along time (``axis``: no padding): output ``m`` reads inputs
    ``m*s .. m*s + e - 1``, ``e`` the effective kernel."""

    kind = "window"

    def __init__(
        self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, fn: Callable[[Tensor], Tensor],
        in_dim: int, axis: Axis,
    ) -> None:  # fmt: skip
        super().__init__(name, inputs, time_dim, rate)
        if axis.lo or axis.hi or axis.kind not in ("conv", "pool"):
            raise SpecError(f"node {name!r}: a window runs a valid convolution or pooling axis, got {axis}")
        self.fn, self.in_dim, self.axis = fn, in_dim, axis
        self.s, self.e = axis.stride, axis.effective_kernel
        self.reset()

    def tail(self, tails: list[int]) -> int:
        return min(tails, default=0) // self.s

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        d = self.in_dim
        c = chunks[0]
        if c is not None and c.shape[d]:
            self.s_buf = _cat(self.s_buf, c, d)
            self.s_received += c.shape[d]
        if self.s_received < self.e:
            return None
        last = (self.s_received - self.e) // self.s
        out = None
        if last >= self.s_next and self.s_buf is not None:
            lo = self.s_next * self.s - self.s_start
            width = (last - self.s_next) * self.s + self.e
            out = self.fn(self.s_buf.narrow(d, lo, width))
            self.s_next = last + 1
        keep = self.s_next * self.s
        if self.s_buf is not None and keep > self.s_start:
            drop = min(keep, self.s_received) - self.s_start
            self.s_buf = self.s_buf.narrow(d, drop, self.s_buf.shape[d] - drop)
            self.s_start += drop
        return out

    def describe(self) -> str:
        return f"window(s={self.s}, e={self.e})"


class Transposed(_AxisNode):
    """A transposed convolution along time without padding: output ``z`` (full coordinates)
    gathers inputs ``j`` with ``j*s <= z <= j*s + e - 1``; final once input ``z // s`` arrived."""

    kind = "transposed"

    def __init__(
        self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, fn: Callable[[Tensor], Tensor],
        axis: Axis,
    ) -> None:  # fmt: skip
        super().__init__(name, inputs, time_dim, rate)
        if axis.lo or axis.hi or axis.output_padding or axis.kind != "transposed":
            raise SpecError(f"node {name!r}: a transposed node runs an unpadded transposed axis, got {axis}")
        self.fn, self.axis = fn, axis
        self.s, self.e = axis.stride, axis.effective_kernel
        self.reset()

    def tail(self, tails: list[int]) -> int:
        return max(0, self.e - self.s) + min(tails, default=0) * self.s

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        d = self.time_dim
        assert d is not None
        c = chunks[0]
        if c is not None and c.shape[d]:
            self.s_buf = _cat(self.s_buf, c, d)
            self.s_received += c.shape[d]
        n = self.s_received
        if n == 0:
            return None
        if final:
            end = (n - 1) * self.s + self.e
        else:  # every output whose taps have all arrived: output z reads inputs j <= z // s,
            # and output n * s reads input n (the kernel's first tap), so those before it
            end = max(self.s_next, min(n * self.s, (n - 1) * self.s + self.e))
        out = None
        if end > self.s_next and self.s_buf is not None:
            j0 = max(self.s_start, -(-(self.s_next - self.e + 1) // self.s), 0)
            window = self.s_buf.narrow(d, j0 - self.s_start, n - j0)
            full = self.fn(window)
            out = full.narrow(d, self.s_next - j0 * self.s, end - self.s_next)
            self.s_next = end
        keep = max(0, -(-(self.s_next - self.e + 1) // self.s))
        if self.s_buf is not None and keep > self.s_start:
            drop = min(keep, n) - self.s_start
            self.s_buf = self.s_buf.narrow(d, drop, self.s_buf.shape[d] - drop)
            self.s_start += drop
        return out

    def describe(self) -> str:
        return f"transposed(s={self.s}, e={self.e})"


class Bias(StreamNode):
    kind = "bias"

    def __init__(
        self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, bias: Tensor, dim: int
    ) -> None:
        super().__init__(name, inputs, time_dim, rate)
        self.bias = bias
        self.dim = dim

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        c = chunks[0]
        if c is None:
            return None
        shape = [1] * c.dim()
        shape[1 if c.dim() > 2 else 0] = -1  # the channel dimension of (N, C, ...)
        return c + self.bias.view(shape)


class LinearUp(StreamNode):
    """``F.interpolate(mode="linear", scale_factor=r, align_corners=False)`` along time:
    output ``y`` reads inputs ``q(y)`` and ``q(y) + 1`` (clamped at the true borders)."""

    kind = "linear"

    def __init__(self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, call: Call, in_dim: int,
                 axis: Axis) -> None:  # fmt: skip
        super().__init__(name, inputs, time_dim, rate)
        if axis.kind != "linear":
            raise SpecError(f"node {name!r}: linear upsampling needs a linear axis, got {axis}")
        self.call, self.in_dim, self.axis, self.r = call, in_dim, axis, axis.stride
        self.reset()

    def reset(self) -> None:
        self.s_buf: Tensor | None = None
        self.s_start = 0
        self.s_received = 0
        self.s_next = 0

    def q(self, y: int) -> int:
        """The first input output ``y`` reads (PyTorch clamps the source at 0)."""
        return max(0, min(axis_taps(self.axis, y)))

    def need(self, m: int) -> int:
        return _last_tap(self.axis, m)

    def tail(self, tails: list[int]) -> int:
        return min(tails, default=0) * self.r

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        d = self.in_dim
        c = chunks[0]
        if c is not None and c.shape[d]:
            self.s_buf = _cat(self.s_buf, c, d)
            self.s_received += c.shape[d]
        n = self.s_received
        if n == 0 or self.s_buf is None:
            return None
        if final:
            end = n * self.r
        else:
            end = self.s_next
            while self.need(end) <= n - 1:  # few iterations: at most r per new input
                end += 1
        if end <= self.s_next:
            return None
        j0 = max(self.s_start, self.q(self.s_next))
        window = self.s_buf.narrow(d, j0 - self.s_start, n - j0)
        args = bind(self.call.args, {self.call.args[0].node: window})
        kwargs = bind(self.call.kwargs, {self.call.args[0].node: window})
        assert self.call.fn is not None
        up = self.call.fn(*args, **kwargs)
        out = up.narrow(d, self.s_next - j0 * self.r, end - self.s_next)
        self.s_next = end
        keep = self.q(self.s_next)
        if keep > self.s_start:
            self.s_buf = self.s_buf.narrow(d, keep - self.s_start, n - keep)
            self.s_start = keep
        return out

    def describe(self) -> str:
        return f"linear x{self.r}"


class Recurrent(StreamNode):
    """An op that carries state along time: LSTM / GRU / RNN (their hidden state) and the
    cumulative ops (the running value)."""

    kind = "recurrent"

    def __init__(self, name: str, inputs: list[int], time_dim: int | None, rate: Fraction, call: Call, in_dim: int,
                 family: str) -> None:  # fmt: skip
        super().__init__(name, inputs, time_dim, rate)
        self.call, self.in_dim, self.family = call, in_dim, family
        self.reset()

    def reset(self) -> None:
        self.s_state: Any = None

    def feed(self, chunks: list[Chunk], final: bool, env: dict[str, Any]) -> Chunk:
        c = chunks[0]
        d = self.in_dim
        if c is None or c.shape[d] == 0:
            return None
        call = self.call
        assert call.fn is not None
        if self.family == "rnn":
            name = call.args[0].node
            args = list(bind(call.args, {name: c}, None))
            hx = args[1]
            if self.s_state is None:
                batch = c.shape[0] if bool(args[8]) else c.shape[1]
                hx = _batch_state(hx, batch)
            else:
                hx = self.s_state
            args[1] = hx
            out = call.fn(*args)
            self.s_state = tuple(out[1:]) if call.func == "lstm" else out[1]
            return out
        f = call.func.rstrip("_")
        y = call.fn(*bind(call.args, {call.args[0].node: c}), **bind(call.kwargs, {call.args[0].node: c}))
        values = y[0] if isinstance(y, tuple) else y
        if f in ("cummax", "cummin") and isinstance(y, tuple):
            raise SpecError(f"cannot stream node {self.name!r}: the indices of {f} count from the start of the stream")
        if self.s_state is not None:
            prev = self.s_state
            if f == "cumsum":
                values = values + prev
            elif f == "cumprod":
                values = values * prev
            elif f == "cummax":
                values = torch.maximum(values, prev)
            elif f == "cummin":
                values = torch.minimum(values, prev)
            elif f == "logcumsumexp":
                values = torch.logaddexp(values, prev)
        self.s_state = values.narrow(d, values.shape[d] - 1, 1)
        return values

    def describe(self) -> str:
        return f"recurrent({self.call.func})"


def _batch_state(hx: Any, batch: int) -> Any:
    """The traced initial state (the trace's streams) for ``batch`` streams."""
    if isinstance(hx, (tuple, list)):
        return tuple(_batch_state(h, batch) for h in hx)
    if not bool((hx == hx.narrow(1, 0, 1)).all()):
        raise SpecError("an initial RNN state that differs between streams cannot be streamed")
    return hx.narrow(1, 0, 1).expand(hx.shape[0], batch, *hx.shape[2:]).contiguous()


def broadcast_like(values: Tensor, like: Tensor, keep: int) -> Tensor:
    """A constant traced for the trace's streams, for ``like``'s streams (dimension ``keep``
    keeps its own size): dimensions that differ must be uniform in the constant."""
    shape = []
    for i in range(like.dim()):
        if i == keep or values.shape[i] == like.shape[i]:
            shape.append(values.shape[i])
            continue
        if values.shape[i] != 1:
            if not bool((values == values.narrow(i, 0, 1)).all()):
                raise SpecError("a constant that differs between streams cannot be streamed")
            values = values.narrow(i, 0, 1)
        shape.append(like.shape[i])
    return values.to(like.dtype).expand(*shape)


# --------------------------------------------------------------------------- valid calls


def _padding_without_time(value: Any, nd: int, axis: int) -> tuple[int, ...]:
    if isinstance(value, str):
        raise SpecError("string padding on the other axes of a call along time")
    per = list(value) if isinstance(value, (tuple, list)) else [int(value)] * nd
    per[axis] = 0
    return tuple(int(v) for v in per)


def valid_call(call: Call, node: Any, in_dim: int) -> Callable[[Tensor], Tensor]:
    """The call with no padding along time (that padding becomes a ``Pad`` node)."""
    f = call.func
    name = call.args[0].node
    rank = len(call.args[0].shape)
    if f == "module":
        spec = call.spec
        m = call.fn
        nd = spec.ndim  # type: ignore[union-attr]
        axis = in_dim - (rank - nd)
        pads = [p for p in spec.resolve(tuple(call.args[0].shape[rank - nd :])).pads]  # type: ignore[union-attr]
        pads[axis] = (0, 0)
        if any(lo != hi for lo, hi in pads):
            raise SpecError(f"cannot stream node {call.name!r}: asymmetric padding on its other axes")
        from atrous import functional

        stride, dilation = spec.stride, spec.dilation  # type: ignore[union-attr]
        groups = getattr(m, "groups", 1)

        def run_module(x: Tensor) -> Tensor:
            return functional.conv(x, m.weight, m.bias, stride, tuple(p[0] for p in pads), dilation, groups)  # type: ignore[union-attr]

        return _Valid(run_module, call)
    nd = int(f[-2]) if f[-2:-1].isdigit() else rank - 2
    axis = in_dim - (rank - nd)
    args = list(call.args)
    kwargs = dict(call.kwargs)
    index = {"conv": 4, "max_pool": 3, "avg_pool": 3, "lp_pool": None}
    key = next(k for k in index if f.startswith(k))
    pos = index[key]
    if pos is not None:
        pad_value = kwargs.get("padding", args[pos] if len(args) > pos else 0)
        if isinstance(pad_value, str):
            pad_value = 0  # 'same' / 'valid': the interpreter's steps hold the resolved padding
            if nd > 1:
                raise SpecError(
                    f"cannot stream node {call.name!r}: padding={call.kwargs.get('padding', args[pos])!r} on a {nd}-d call"
                )
        new = _padding_without_time(pad_value, nd, axis)
        if "padding" in kwargs:
            kwargs["padding"] = new
        elif len(args) > pos:
            args[pos] = new
    fn = call.fn
    assert fn is not None
    fast = _fast_conv(call, args, kwargs, nd) if key == "conv" else None
    if fast is not None:
        return _Valid(fast, call)

    def run(x: Tensor) -> Tensor:
        y: Tensor = fn(*bind(args, {name: x}), **bind(kwargs, {name: x}))
        return y

    return _Valid(run, call)


def _per_axis(value: Any, nd: int) -> tuple[int, ...] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * nd
    if isinstance(value, (tuple, list)) and len(value) == nd and all(isinstance(i, int) for i in value):
        return tuple(value)
    return None


def _fast_conv_transpose(order: list[Any], nd: int) -> Callable[[Tensor], Tensor] | None:
    """The unpadded transposed call (no bias) by atrous's fast paths, where its weight is a
    constant: on a short chunk through a large weight PyTorch's CPU kernel costs tens of times
    the arithmetic (the ``gemm`` route)."""
    _, weight, _, stride, padding, output_padding, groups, dilation = order
    if not isinstance(weight, TensorRef) or weight.node is not None or weight.value is None:
        return None
    s, p, op, d = (_per_axis(v, nd) for v in (stride, padding, output_padding, dilation))
    if s is None or p is None or op is None or d is None or not isinstance(groups, int):
        return None
    from atrous import _fast

    w, pads = weight.value, tuple((i, i) for i in p)

    def run(x: Tensor) -> Tensor:
        return _fast.conv_transpose(x, w, None, s, pads, d, op, groups)

    return run


def _fast_conv(call: Call, args: list[Any], kwargs: dict[str, Any], nd: int) -> Callable[[Tensor], Tensor] | None:
    """A traced ``conv{1,2,3}d`` with constant weights as a call of atrous's fast paths (the same
    function by the route that is fastest for the chunk's shape: a chunk is short, where
    PyTorch's dilated kernels are slow); ``None`` where the call is not that plain."""
    names = ["input", "weight", "bias", "stride", "padding", "dilation", "groups"]
    defaults: list[Any] = [None, None, None, 1, 0, 1, 1]
    if set(kwargs) - set(names) or len(args) > len(names) or call.func not in ("conv1d", "conv2d", "conv3d"):
        return None
    v = [kwargs.get(k, args[i] if i < len(args) else defaults[i]) for i, k in enumerate(names)]
    weight, bias = v[1], v[2]
    if not isinstance(weight, TensorRef) or weight.node is not None or weight.value is None:
        return None
    if bias is not None and (not isinstance(bias, TensorRef) or bias.node is not None or bias.value is None):
        return None

    stride, padding, dilation = _per_axis(v[3], nd), _per_axis(v[4], nd), _per_axis(v[5], nd)
    if stride is None or padding is None or dilation is None or not isinstance(v[6], int):
        return None
    from atrous import _fast

    w, b, groups = weight.value, None if bias is None else bias.value, v[6]
    pads = tuple((p, p) for p in padding)

    def run(x: Tensor) -> Tensor:
        return _fast.conv(x, w, b, stride, pads, dilation, groups)

    return run


class _Valid:
    """A valid call along time, with the traced call it came from (read by the lowering)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], call: Call) -> None:
        self.fn, self.call = fn, call

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)


def transposed_call(call: Call, node: Any, in_dim: int) -> Callable[[Tensor], Tensor]:
    """A transposed convolution with no padding, no output padding along time and no bias
    (the bias is added after its crop)."""
    f = call.func
    name = call.args[0].node
    rank = len(call.args[0].shape)
    nd = int(f[-2])
    axis = in_dim - (rank - nd)
    names = ["input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"]
    values = {k: get(call, i, k, None) for i, k in enumerate(names)}
    values["bias"] = None
    values["padding"] = _padding_without_time(values["padding"] or 0, nd, axis)
    values["output_padding"] = _padding_without_time(values["output_padding"] or 0, nd, axis)
    fn = call.fn
    assert fn is not None
    order = [values[k] if values[k] is not None else default for k, default in zip(
        names, [None, None, None, 1, 0, 0, 1, 1], strict=True)]  # fmt: skip
    fast = _fast_conv_transpose(order, nd)
    if fast is not None:
        return fast

    def run(x: Tensor) -> Tensor:
        y: Tensor = fn(*bind(order, {name: x}))
        return y

    return run


def pad_without_time(call: Call, pair: int) -> Call:
    """The F.pad call with the time pair set to zero (the other dimensions still padded)."""
    amounts = list(get(call, 1, "pad"))
    amounts[2 * pair] = amounts[2 * pair + 1] = 0
    args = list(call.args)
    if "pad" in call.kwargs:
        kwargs = dict(call.kwargs)
        kwargs["pad"] = tuple(amounts)
        return Call(call.name, call.func, tuple(args), kwargs, call.inputs, call.shape, fn=call.fn)
    args[1] = tuple(amounts)
    return Call(call.name, call.func, tuple(args), dict(call.kwargs), call.inputs, call.shape, fn=call.fn)


def index_without_time(call: Call, dim: int) -> Call:
    """The indexing call with the time dimension's slice made whole (the crop is a ``Pad``)."""
    if call.func != "__getitem__":
        # narrow along time: identity once the crop is a Pad
        return Call(call.name, "identity", (call.args[0],), {}, call.inputs, call.shape, fn=lambda x: x)
    index = call.args[1]
    parts = list(index) if isinstance(index, tuple) else [index]
    rank = len(call.args[0].shape)
    consumed = sum(1 for i in parts if i is not None and i is not Ellipsis)
    pos = 0
    for k, item in enumerate(parts):
        if item is Ellipsis:
            pos += rank - consumed
            continue
        if item is None:
            continue
        if pos == dim:
            parts[k] = slice(None)
        pos += 1
    new = tuple(parts) if isinstance(index, tuple) else parts[0]
    return Call(call.name, call.func, (call.args[0], new), {}, call.inputs, call.shape, fn=call.fn)


class Subsample:
    """Every ``step``-th sample of a window (a crop with a step)."""

    def __init__(self, dim: int, step: int) -> None:
        self.dim, self.step = dim, step

    def __call__(self, x: Tensor) -> Tensor:
        return x[(slice(None),) * self.dim + (slice(None, None, self.step),)]


# --------------------------------------------------------------------------- latency


class Timing:
    """``tau(m)``: the last input sample output ``m`` of the model waits for (composed through
    the nodes' :meth:`StreamNode.need`), and what follows from it."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.memo: dict[tuple[int, int], int] = {}

    def tau(self, m: int, i: int | None = None) -> int:
        nodes = self.graph.nodes
        stack = [(self.graph.output if i is None else i, m, False)]
        while stack:  # iterative: graphs are deep
            node_i, mm, expanded = stack.pop()
            key = (node_i, mm)
            if key in self.memo:
                continue
            node = nodes[node_i]
            if isinstance(node, Input):
                r = node.rate
                self.memo[key] = mm if r == 1 else -(-(mm + 1) * r.denominator // r.numerator) - 1
                continue
            j = node.need(mm)
            if j < 0 or not node.inputs:
                self.memo[key] = -1
                continue
            deps = [(k, j) for k in node.inputs]
            if not expanded:
                missing = [d for d in deps if d not in self.memo]
                if missing:
                    stack.append((node_i, mm, True))
                    stack.extend((k, jj, False) for k, jj in missing)
                    continue
            self.memo[key] = max(self.memo[d] for d in deps)
        return self.memo[(self.graph.output if i is None else i, m)]

    def ready(self, t: int) -> int:
        """Outputs final once ``t`` input samples arrived (before the end of the stream)."""
        lo, hi = 0, int(t * self.graph.rate) + 2
        while self.tau(hi - 1) <= t - 1:
            hi *= 2
        while lo < hi:  # the largest count whose last output waits for an input < t
            mid = (lo + hi) // 2
            if self.tau(mid) <= t - 1:
                lo = mid + 1
            else:
                hi = mid
        return lo


def latency(graph: Any) -> int:
    """Input samples past its own block that an output waits for, at most (steady state).

    Output ``m`` of the model (rate ``rho`` outputs per input) is final once input sample
    ``tau(m)`` arrived (:class:`Timing`); its own block ends at input
    ``ceil((m + 1) / rho) - 1``; the latency is the largest difference. The timing repeats
    with the period ``P`` of the graph (the least common multiple of the denominators of the
    nodes' rates, in input samples: the strides' product for an encoder): ``tau(m + P rho) =
    tau(m) + P``. One whole period is scanned, and the next one checked to repeat it.
    """
    timing = Timing(graph)
    rho = graph.rate
    period = 1
    for n in graph.nodes:
        r = getattr(n, "rate", None)
        if isinstance(r, Fraction) and r:
            period = math.lcm(period, r.denominator)
    period = math.lcm(period, rho.denominator)
    outputs = int(period * rho)  # outputs per period
    if outputs > 1 << 20:
        raise SpecError(
            f"the streaming graph's timing repeats every {period} input samples ({outputs} outputs): "
            "too long a period to compute its latency"
        )
    start = int(4096 * rho) + 1
    for _ in range(4):
        lags = []
        for m in range(start, start + outputs):
            own = -(-(m + 1) * rho.denominator // rho.numerator) - 1
            lags.append(timing.tau(m) - own)
        if all(timing.tau(m + outputs) == timing.tau(m) + period for m in range(start, start + outputs)):
            return int(max(lags))
        start *= 4  # not yet in the steady state
    raise SpecError(f"the streaming graph's timing does not settle into its period of {period} input samples")
