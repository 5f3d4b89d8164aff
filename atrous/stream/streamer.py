"""``stream(model)``: exact streaming inference of any causal or bounded-lookahead model.

A :class:`Streamer` runs a model one chunk at a time, for ``B`` independent streams at once,
and gives exactly what ``model(full_input)`` gives (to rounding) for every split of the input:
the concatenation of every :meth:`Streamer.push` and the final :meth:`Streamer.flush` is the
offline output, and output sample ``m`` is returned as soon as the input samples it depends
on have arrived (``latency`` input samples past its own block at most).

The plan is built from the model's traced graph (:mod:`atrous.stream.graph`: the same tracer
and op table as :mod:`atrous.analysis`), so it streams whatever the model is made of:
convolutions with any padding (left padding is the past, right padding the lookahead) and
stride, transposed convolutions, pooling, upsampling, crops, residual sums and concatenations
of branches of different latencies (buffered to align), gates, norms over channels, LSTM /
GRU, and layers that pad in their own ``forward``. It refuses, before any state exists, an
op that mixes time non-locally, naming the node, the op and why.

- :meth:`Streamer.push` takes a chunk ``(B, C_in, T)`` of any length.
- :meth:`Streamer.step` takes one sample ``(B, C_in)`` of a causal model at one rate (latency
  0) and costs one GEMM per layer (:mod:`atrous.stream.fast`, when the graph lowers to it).
- The state belongs to the streamer: :meth:`Streamer.state_dict` / :meth:`load_state_dict`,
  :meth:`Streamer.reset`; a change of the model's weights is noticed and read again.
- :meth:`Streamer.generate` runs a WaveNet autoregressively; :meth:`export_torchscript` and
  :meth:`export_onnx` export the step of a lowered plan with its states as inputs and outputs.

Examples:
    >>> import torch
    >>> from atrous.nn import TCN
    >>> from atrous.stream import stream
    >>> tcn = TCN(2, [8, 8, 8], kernel_size=3).eval()
    >>> s = stream(tcn, batch_size=4)
    >>> s.receptive_field, s.latency
    (29, 0)
    >>> x = torch.randn(4, 2, 50)
    >>> y = torch.cat([s.push(x[:, :, :7]), s.step(x[:, :, 7]).unsqueeze(2), s.push(x[:, :, 8:])], 2)
    >>> torch.allclose(y, tcn(x), atol=1e-5)
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.stream.chunk import ChunkModuleBase, make_chunk_module
from atrous.stream.engine import Engine
from atrous.stream.fast import FastStep, build_fast
from atrous.stream.graph import Graph, build_graph
from atrous.stream.lower import lower
from atrous.stream.plan import Plan, registered_leaves
from atrous.stream.sampling import argmax_mu_law, argmax_one_hot

__all__ = ["Streamer", "stream"]


def stream(
    model: nn.Module,
    batch_size: int = 1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    input_layout: str | None = None,
    inputs: dict[str, tuple[Sequence[int], str]] | None = None,
    sample_rate: float | None = None,
) -> Streamer:
    """A :class:`Streamer` for ``model`` with ``batch_size`` independent streams.

    Args:
        model: a model in eval mode where that matters (BatchNorm, Dropout). Its weights are
            read now; a later change of them is noticed and read again.
        batch_size: number of independent streams ``B``.
        dtype: arithmetic dtype (default: the model's).
        device: device of the state and weights (default: the model's).
        input_shape: ``(1, C_in, T)`` to trace the model at (default: ``C_in`` from its first
            convolution, ``T`` long enough for it); time is the last spatial axis.
        input_layout: as for :func:`atrous.analyze` (``"NLC"`` for a channels-last input).
        inputs: the forward's keyword inputs: name -> (shape at ``T``, layout letters); the
            input's time letter marks a time dimension (WaveNet's ``c``: ``((1, C, T), "NCL")``),
            none marks a static input (``g``: ``((1, C), "NC")``). atrous's WaveNet is known.
        sample_rate: input samples per second (for :attr:`Streamer.latency_ms`).

    Raises:
        SpecError: naming the node (its module path) that cannot be streamed exactly, and why.
    """
    return Streamer(model, batch_size, dtype, device, input_shape=input_shape, input_layout=input_layout,
                    inputs=inputs, sample_rate=sample_rate)  # fmt: skip


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        return p.dtype, p.device
    for b in model.buffers():
        if b.is_floating_point():
            return b.dtype, b.device
    return torch.get_default_dtype(), torch.device("cpu")


def _in_channels(model: nn.Module) -> int:
    from atrous.nn.conv import ConvNd

    for m in model.modules():
        if isinstance(m, (ConvNd, nn.Conv1d, nn.ConvTranspose1d)):
            return int(m.in_channels)
        if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
            raise SpecError(
                "the model starts with a recurrent layer: give stream(..., input_shape=(1, C, T), input_layout=...)"
            )
    raise SpecError(
        f"cannot tell the input channels of {type(model).__name__}: give stream(..., input_shape=(1, C, T))"
    )


def _known_inputs(model: nn.Module, T: int) -> dict[str, tuple[tuple[int, ...], str]]:
    from atrous.nn.wavenet import WaveNet

    out: dict[str, tuple[tuple[int, ...], str]] = {}
    if isinstance(model, WaveNet):
        if model.cond_channels:
            out["c"] = ((1, model.cond_channels, T), "NCL")
        if model.global_cond_channels:
            out["g"] = ((1, model.global_cond_channels), "NC")
    return out


class Streamer:
    """Exact streaming inference over ``B`` streams; made by :func:`stream`.

    Attributes:
        graph: the streaming graph (``print(s.describe())``); ``plan``: its lowered fast
            plan, or ``None`` when the generic engine runs it.
        batch_size, in_channels, out_channels: as named.
        rate: output samples per input sample (a Fraction: strides and transposed layers).
        latency: input samples past its own block that an output waits for (the model's
            algorithmic latency); ``latency_ms`` at the given sample rate.
        receptive_field: input samples an output depends on (``None`` when unbounded: LSTM).
        steps: input samples consumed so far.
    """

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = 1,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        *,
        input_shape: Sequence[int] | None = None,
        input_layout: str | None = None,
        inputs: dict[str, tuple[Sequence[int], str]] | None = None,
        sample_rate: float | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise SpecError(f"stream() needs a torch.nn.Module, got {type(model).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SpecError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if sample_rate is not None and (isinstance(sample_rate, bool) or not float(sample_rate) > 0):
            raise SpecError(f"sample_rate must be a number > 0, got {sample_rate!r}")
        mdtype, mdevice = _model_dtype_device(model)
        self.dtype = dtype or mdtype
        self.device = torch.device(device) if device is not None else mdevice
        if not self.dtype.is_floating_point:
            raise SpecError(f"dtype must be a floating point type, got {self.dtype}")
        self.batch_size = batch_size
        self.model = model
        self.sample_rate = sample_rate
        self._input_shape = tuple(input_shape) if input_shape is not None else None
        self._input_layout = input_layout
        self._inputs = dict(inputs) if inputs is not None else None
        self._build()

    # -- construction ------------------------------------------------------------------------

    def _trace_graph(self) -> Graph:
        model = self.model
        if self._input_shape is not None:
            shape = self._input_shape
            extra = self._inputs if self._inputs is not None else _known_inputs(model, shape[-1])
            return build_graph(model, shape, input_layout=self._input_layout, extra=extra, dtype=self.dtype,
                               device=self.device, leaves=registered_leaves(model))  # fmt: skip
        cin = _in_channels(model)
        last: SpecError | None = None
        for T in (256, 1024, 4096, 16384):
            extra = self._inputs if self._inputs is not None else _known_inputs(model, T)
            try:
                return build_graph(model, (1, cin, T), input_layout=self._input_layout, extra=extra, dtype=self.dtype,
                                   device=self.device, leaves=registered_leaves(model))  # fmt: skip
            except SpecError as exc:
                if "cannot stream" in str(exc) or "fails on input shape" not in str(exc):
                    raise
                last = exc
        assert last is not None
        raise last

    def _build(self) -> None:
        model = self.model
        with torch.no_grad():
            self.graph: Graph = self._trace_graph()
        g = self.graph
        self._engine = Engine(g)
        self.plan: Plan | None = lower(g, self.dtype, self.device)
        self._slots = self._weight_slots()
        self._same = self._same_weights()
        self.in_channels = int(g.in_shape[1]) if len(g.in_shape) > 1 else 1
        self.out_channels = int(g.out_shape[1]) if len(g.out_shape) > 2 else int(g.out_shape[-1])
        self.cond_channels = 0
        self.global_cond_channels = 0
        known = self._inputs if self._inputs is not None else _known_inputs(model, 1)
        if "c" in known:
            self.cond_channels = int(known["c"][0][1])
        if "g" in known:
            self.global_cond_channels = int(known["g"][0][1])
        self._fast: FastStep | None = None
        self._chunk: ChunkModuleBase | None = None
        self._rings: list[Any] = []
        if self.plan is not None:
            with torch.inference_mode():
                self._fast = build_fast(self.plan, self.batch_size, self.dtype, self.device)
                self._chunk = make_chunk_module(self.plan)
            self._rings = [self._fast.rings[i] for i in self.plan.convs]
            self._fast.env["_xcheck"] = self._check_x
            self._fast.env["_ccheck"] = self._check_cg
        self.state_names: list[str] = [self.plan.nodes[i].path for i in self.plan.convs] if self.plan else []
        self._steps_generic = 0

    def _weight_slots(self) -> list[tuple[dict[str, Any], str, Tensor, int]]:
        """Every parameter and buffer as (the dict that holds it, its name, the tensor, its
        version), read once at build time so that the per-step check walks no module tree."""
        slots = []
        for m in self.model.modules():
            for d in (m._parameters, m._buffers):
                for name, t in d.items():
                    if t is not None:
                        slots.append((d, name, t, t._version))
        return slots

    def _same_weights(self) -> Any:
        """A function that says whether every parameter and buffer is still the tensor read at
        build time, at the same version: one generated expression (it runs at every step)."""
        env: dict[str, Any] = {}
        terms = []
        for i, (d, name, t, version) in enumerate(self._slots):
            env[f"d{i}"], env[f"t{i}"], env[f"n{i}"] = d, t, name
            terms.append(f"d{i}.get(n{i}) is t{i} and t{i}._version == {version}")
        src = "def same():\n    return " + (" and ".join(terms) or "True") + "\n"
        exec(compile(src, "<atrous.stream weight check>", "exec"), env)
        return env["same"]

    def _fresh(self) -> None:
        """Read the weights again when they changed in place (or were replaced)."""
        if not self._same():
            self.refresh()

    def refresh(self) -> None:
        """Read the model's weights again; the streams' state is kept."""
        state = self.state_dict()
        self._build()
        self.load_state_dict(state)

    def describe(self) -> str:
        """The streaming graph, one node per line, with its latency."""
        text = self.graph.describe()
        if self.plan is not None:
            text += "\nlowered to the fast step:\n" + self.plan.describe()
        return text

    @property
    def rate(self) -> Fraction:
        return self.graph.rate

    @property
    def latency(self) -> int:
        return self.graph.latency

    @property
    def latency_ms(self) -> float | None:
        """The latency in milliseconds at ``sample_rate`` (``None`` without one)."""
        return None if self.sample_rate is None else 1000.0 * self.latency / float(self.sample_rate)

    @property
    def receptive_field(self) -> int | None:
        """Input samples one output depends on (the analysis' exact field; ``None`` if unbounded)."""
        if self.plan is not None:
            return self.plan.receptive_field
        from atrous.analysis import analyze

        try:
            shape = list(self.graph.in_shape)
            shape[0] = 1
            f = analyze(self.model, tuple(shape), input_layout=self._input_layout).field()
        except SpecError:
            return None
        return int(f.size[-1])

    @property
    def steps(self) -> int:
        return self._fast.counter.t if self._fast is not None else self._engine.steps

    def __repr__(self) -> str:
        rf = f", receptive_field={self.plan.receptive_field}" if self.plan is not None else ""
        return (
            f"Streamer({self.graph.model_name}, batch_size={self.batch_size}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, rate={self.rate}, latency={self.latency}{rf}, steps={self.steps})"
        )

    # -- checks ------------------------------------------------------------------------------

    def _check_x(self, x: object) -> Tensor:
        if not isinstance(x, Tensor):
            raise SpecError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        want = (self.batch_size, self.in_channels)
        if tuple(x.shape) != want:
            raise SpecError(f"step() takes x of shape (B, C_in) = {want} or (B, C_in, 1), got {tuple(x.shape)}")
        return x

    def _check_cg(self, c: Tensor | None, g: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        B = self.batch_size
        if self.cond_channels:
            if c is None:
                raise SpecError(f"this model has local conditioning: pass c of shape (B, {self.cond_channels})")
            if c.dim() == 3 and c.shape[2] == 1:
                c = c[:, :, 0]
            if tuple(c.shape) != (B, self.cond_channels):
                raise SpecError(
                    f"c must have shape (B, cond_channels) = {(B, self.cond_channels)}, got {tuple(c.shape)}"
                )
        elif c is not None:
            raise SpecError("this model has no local conditioning (c must be None)")
        return c, self._check_g(g)

    def _check_g(self, g: Tensor | None) -> Tensor | None:
        B, gc = self.batch_size, self.global_cond_channels
        if gc:
            if g is None:
                raise SpecError(f"this model has global conditioning: pass g of shape (B, {gc})")
            if tuple(g.shape) != (B, gc):
                raise SpecError(f"g must have shape (B, global_cond_channels) = {(B, gc)}, got {tuple(g.shape)}")
            return g.to(self.device, self.dtype)
        if g is not None:
            raise SpecError("this model has no global conditioning (g must be None)")
        return None

    def _check_chunk(self, chunk: Any, what: str = "push()") -> Tensor:
        if not isinstance(chunk, Tensor) or chunk.dim() != len(self.graph.in_shape):
            shape = tuple(chunk.shape) if isinstance(chunk, Tensor) else type(chunk).__name__
            raise SpecError(f"{what} takes a chunk of shape (B, C_in, T) with (B, C_in) = "
                            f"{(self.batch_size, self.in_channels)}, got {shape}")  # fmt: skip
        t = self.graph.in_time_dim
        want = [self.batch_size if i == 0 else n for i, n in enumerate(self.graph.in_shape)]
        got = list(chunk.shape)
        if [n for i, n in enumerate(got) if i != t] != [n for i, n in enumerate(want) if i != t]:
            shape_text = tuple("T" if i == t else n for i, n in enumerate(want))
            raise SpecError(f"{what} takes a chunk of shape {shape_text}, got {tuple(got)}")
        return chunk.to(self.device, self.dtype)

    # -- streaming ---------------------------------------------------------------------------

    def step(self, x: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        """One sample of every stream of a causal model at one rate.

        Args:
            x: ``(B, C_in)`` or ``(B, C_in, 1)``.
            c: local conditioning at this step, ``(B, cond_channels)``.
            g: global conditioning, ``(B, global_cond_channels)``.

        Returns:
            ``(B, C_out)``: the model's output at this time step (an inference tensor).
        """
        self._fresh()
        if self._fast is not None:
            return self._fast.env["checked"](x, c, g)  # type: ignore[no-any-return]
        if self.rate != 1 or self.latency != 0:
            raise SpecError(
                f"step() returns the output of this step: this model has rate {self.rate} and latency "
                f"{self.latency} (use push(), whose outputs lag the inputs by the latency)"
            )
        x = self._check_x(x)
        y = self.push(x.unsqueeze(2), None if c is None else c.unsqueeze(2), g)
        return y[:, :, 0]

    def push(self, chunk: Tensor, c: Tensor | None = None, g: Tensor | None = None, **inputs: Tensor) -> Tensor:
        """The next ``T`` samples of every stream (any ``T >= 0``): returns the output samples
        that became final, ``(B, C_out, T_out)`` (``T_out = T`` for a causal one-rate model).

        Args:
            chunk: ``(B, C_in, T)``.
            c: local conditioning for those samples (a WaveNet's), ``(B, cond_channels, T)``.
            g: global conditioning, ``(B, global_cond_channels)``.
            inputs: other keyword inputs of the model's forward.
        """
        self._fresh()
        chunk = self._check_chunk(chunk)
        T = chunk.shape[self.graph.in_time_dim]
        if self._fast is not None and self._chunk is not None:
            return self._push_plan(chunk, T, c, g)
        extras: dict[str, Tensor | None] = {"x": chunk}
        statics: dict[str, Tensor] = {}
        if c is not None:
            inputs = {**inputs, "c": c}
        if g is not None:
            inputs = {**inputs, "g": g}
        t0 = self._engine.steps
        for k in self.graph.extra_rates:
            if k not in inputs:
                raise SpecError(f"this model streams the input {k!r} too: pass {k}= with this chunk's samples")
        for k in self.graph.statics:
            if k not in inputs:
                raise SpecError(f"this model takes a static input {k!r} (one value per stream): pass {k}=")
        for k, v in inputs.items():
            if not isinstance(v, Tensor):
                raise SpecError(f"{k} must be a torch.Tensor, got {type(v).__name__}")
            if k in self.graph.statics:
                statics[k] = v.to(self.device, self.dtype)
            elif k in self.graph.extra_rates:
                r = self.graph.extra_rates[k]
                due = int((t0 + T) * r) - int(t0 * r)  # the samples of this input that fall in the chunk
                node = self.graph.nodes[self.graph.inputs[k]]
                assert node.time_dim is not None  # an input at its own rate runs along time
                if v.dim() <= node.time_dim or v.shape[node.time_dim] != due:
                    raise SpecError(
                        f"{k} runs at {r} samples per input sample: this chunk ({T} samples from {t0}) takes "
                        f"{due} of them along dimension {node.time_dim}, got shape {tuple(v.shape)}"
                    )
                extras[k] = v.to(self.device, self.dtype)
            else:
                known = sorted([*self.graph.extra_rates, *self.graph.statics])
                raise SpecError(f"this model has no input {k!r} (its keyword inputs: {known or 'none'})")
        with torch.inference_mode():
            y = self._engine.run(extras, statics, final=False)
        return y if y is not None else self._engine.empty(self.batch_size, chunk)

    def _push_plan(self, chunk: Tensor, T: int, c: Tensor | None, g: Tensor | None) -> Tensor:
        assert self._fast is not None and self._chunk is not None
        args = [chunk]
        if self.cond_channels:
            want = (self.batch_size, self.cond_channels, T)
            if c is None or tuple(c.shape) != want:
                got = None if c is None else tuple(c.shape)
                raise SpecError(
                    f"this model has local conditioning: pass c of shape (B, cond_channels, T) = {want}, got {got}"
                )
            args.append(c.to(self.device, self.dtype))
        elif c is not None:
            raise SpecError("this model has no local conditioning (c must be None)")
        gg = self._check_g(g)
        if gg is not None:
            args.append(gg)
        if T == 0:
            return chunk.new_zeros(self.batch_size, self.out_channels, 0)
        with torch.inference_mode():
            t = self.steps
            states = [r.read(t) for r in self._rings]
            out: tuple[Tensor, ...] = self._chunk(*args, *states)
            for r, s in zip(self._rings, out[1:], strict=True):
                r.write(t + T, s)
            self._fast.counter.t = t + T
        return out[0]

    def flush(self, g: Tensor | None = None, **inputs: Tensor) -> Tensor:
        """End the streams: the output samples still to come (right paddings applied, held-back
        samples dropped), ``(B, C_out, T_rest)``. :meth:`reset` starts new streams after it."""
        like = torch.zeros(self.batch_size, 1, dtype=self.dtype, device=self.device)
        if self._fast is not None:
            return like.new_zeros(self.batch_size, self.out_channels, 0)
        statics: dict[str, Tensor] = {}
        gg = self._check_g(g)
        if gg is not None:
            statics["g"] = gg
        for k, v in inputs.items():
            statics[k] = v.to(self.device, self.dtype)
        with torch.inference_mode():
            y = self._engine.run({"x": None}, statics, final=True)
        return y if y is not None else self._engine.empty(self.batch_size, like)

    def reset(self, mask: Tensor | None = None) -> None:
        """Restart streams from an all-zero past.

        Args:
            mask: bool ``(B,)``: the streams to restart (None: all of them; the step counter
                then also restarts). A mask needs a causal one-rate plan (the fast step).
        """
        if mask is None:
            if self._fast is not None:
                with torch.inference_mode():
                    for r in self._rings:
                        r.reset(None)
                    self._fast.counter.t = 0
            self._engine.reset()
            return
        if self._fast is None:
            raise SpecError(
                "reset(mask) restarts some streams of a causal one-rate model; this one has latency "
                f"{self.latency} and rate {self.rate}: reset() restarts all of them"
            )
        with torch.inference_mode():
            mask = torch.as_tensor(mask, device=self.device)
            if mask.dtype != torch.bool or tuple(mask.shape) != (self.batch_size,):
                raise SpecError(
                    f"mask must be a bool tensor of shape ({self.batch_size},), got {mask.dtype} {tuple(mask.shape)}"
                )
            index = mask.nonzero().squeeze(1)
            if index.numel():
                for r in self._rings:
                    r.reset(index)

    # -- state -------------------------------------------------------------------------------

    def states(self) -> list[Tensor]:
        """The state of every causal conv of the fast plan, in :attr:`state_names` order:
        ``(B, C, d*(k-1))``, the layer's last inputs, oldest first."""
        if self._fast is None:
            raise SpecError(
                "states() lists the fast plan's ring buffers; this model runs on the generic engine (use state_dict())"
            )
        with torch.inference_mode():
            t = self.steps
            views = [r.read(t) for r in self._rings]
        return [v.clone() for v in views]  # cloned outside inference mode: ordinary tensors

    def initial_states(self) -> list[Tensor]:
        """All-zero states (the start of a stream), in :attr:`state_names` order."""
        return [torch.zeros(self.batch_size, r.c, r.context, dtype=self.dtype, device=self.device) for r in self._rings]

    def state_dict(self) -> dict[str, Any]:
        """The streams' state (independent of the ring layout: it loads into any streamer of
        the same model and batch size), plus ``"steps"``."""
        if self._fast is not None:
            out: dict[str, Any] = dict(zip(self.state_names, self.states(), strict=True))
            out["steps"] = torch.tensor(self.steps, dtype=torch.int64)
            return out
        return self._engine.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (shapes are checked; the key set must match)."""
        if self._fast is None:
            self._engine.load_state_dict(state)
            return
        want = {*self.state_names, "steps"}
        if set(state) != want:
            missing, extra = sorted(want - set(state)), sorted(set(state) - want)
            raise SpecError(f"state_dict does not match this streamer: missing {missing}, unexpected {extra}")
        t = int(state["steps"])
        if t < 0:
            raise SpecError(f"state_dict steps must be >= 0, got {t}")
        with torch.inference_mode():
            for name, r in zip(self.state_names, self._rings, strict=True):
                s = state[name]
                if tuple(s.shape) != (self.batch_size, r.c, r.context):
                    raise SpecError(
                        f"state {name!r} must have shape (B, C, d*(k-1)) = {(self.batch_size, r.c, r.context)}, "
                        f"got {tuple(s.shape)}"
                    )
                r.write(t, s.to(self.device, self.dtype))
            self._fast.counter.t = t

    # -- generation --------------------------------------------------------------------------

    def default_sampler(self) -> Callable[[Tensor], Tensor]:
        """Argmax one-hot when ``C_in == C_out``; argmax decoded with mu-law when ``C_in == 1``
        (see :mod:`atrous.stream.sampling`)."""
        if self.in_channels == self.out_channels:
            return argmax_one_hot
        if self.in_channels == 1:
            return argmax_mu_law
        raise SpecError(
            f"no default sampling from {self.out_channels} outputs to {self.in_channels} inputs: pass "
            "sample=callable mapping logits (B, C_out) to the next input (B, C_in)"
        )

    def generate(
        self,
        n: int,
        first: Tensor | None = None,
        c: Tensor | None = None,
        g: Tensor | None = None,
        sample: Callable[[Tensor], Tensor] | None = None,
        return_logits: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Autoregressive generation: each output, sampled, is the next input.

        Args:
            n: number of samples to generate.
            first: the input at the first step ``(B, C_in)`` (default: zeros).
            c: local conditioning for the ``n`` steps, ``(B, cond_channels, n)``.
            g: global conditioning ``(B, global_cond_channels)``.
            sample: maps logits ``(B, C_out)`` to the next input ``(B, C_in)``; default
                :meth:`default_sampler`.
            return_logits: also return the outputs ``(B, C_out, n)``.

        Returns:
            The generated inputs ``(B, C_in, n)``: sample ``t`` is ``sample(output at step t)``
            (and the logits when asked). The streams' state moves on by ``n`` steps.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpecError(f"n must be an integer >= 0, got {n!r}")
        if self.rate != 1 or self.latency != 0:
            raise SpecError(f"generate() feeds each output back as the next input: it needs a causal model at one rate "
                            f"(this one: rate {self.rate}, latency {self.latency})")  # fmt: skip
        self._fresh()
        B, cin = self.batch_size, self.in_channels
        sample = sample or self.default_sampler()
        cs: tuple[Tensor, ...] | list[None]
        if self.cond_channels:
            want = (B, self.cond_channels, n)
            if c is None or tuple(c.shape) != want:
                got = None if c is None else tuple(c.shape)
                raise SpecError(
                    f"this model has local conditioning: pass c of shape (B, cond_channels, n) = {want}, got {got}"
                )
            cs = c.to(self.device, self.dtype).unbind(2)
        elif c is not None:
            raise SpecError("this model has no local conditioning (c must be None)")
        else:
            cs = [None] * n
        g = self._check_g(g)
        step = self._fast.env["step"] if self._fast is not None else None
        with torch.inference_mode():
            x = torch.zeros(B, cin, dtype=self.dtype, device=self.device) if first is None else self._check_x(first)
            out = torch.empty(B, cin, n, dtype=self.dtype, device=self.device)
            logits = (
                torch.empty(B, self.out_channels, n, dtype=self.dtype, device=self.device) if return_logits else None
            )
            outs = out.unbind(2)
            for t in range(n):
                if step is not None:
                    y = step(x, cs[t], g)
                else:
                    ct = None if cs[t] is None else cs[t].unsqueeze(2)  # type: ignore[union-attr]
                    yt = self._engine.run({"x": x.unsqueeze(2), **({"c": ct} if ct is not None else {})},
                                          {"g": g} if g is not None else {}, final=False)  # fmt: skip
                    assert yt is not None  # a causal model at one rate answers every step
                    y = yt[:, :, 0]
                if logits is not None:
                    logits[:, :, t] = y
                x = sample(y)
                outs[t].copy_(x)
        return (out, logits) if logits is not None else out

    # -- export ------------------------------------------------------------------------------

    def _plan_or_refuse(self) -> Plan:
        if self.plan is None:
            raise SpecError(
                "export needs the fast plan of a causal one-rate model built from convolutions, activations, "
                "sums and gates; this model runs on the generic engine"
            )
        return self.plan

    def step_module(self) -> ChunkModuleBase:
        """The step as a pure ``nn.Module``: ``forward(x, [c], [g], *states) -> (y, *new_states)``
        with ``x (B, C_in, T)``, ``c (B, cond, T)``, ``g (B, gc)``, states as :meth:`states`.
        With ``T = 1`` it is one step; any ``T`` processes a chunk."""
        return make_chunk_module(self._plan_or_refuse()).eval()

    def example_inputs(self, T: int = 1) -> tuple[Tensor, ...]:
        """Inputs for :meth:`step_module`: zeros of the right shapes (the states: a fresh stream)."""
        B = self.batch_size
        args = [torch.zeros(B, self.in_channels, T, dtype=self.dtype, device=self.device)]
        if self.cond_channels:
            args.append(torch.zeros(B, self.cond_channels, T, dtype=self.dtype, device=self.device))
        if self.global_cond_channels:
            args.append(torch.zeros(B, self.global_cond_channels, dtype=self.dtype, device=self.device))
        return (*args, *self.initial_states())

    def export_torchscript(self, path: str | None = None) -> torch.jit.ScriptModule:
        """The step module compiled with ``torch.jit.script`` (saved to ``path`` if given)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates TorchScript
            scripted = torch.jit.script(self.step_module())
            if path is not None:
                scripted.save(str(path))  # type: ignore[no-untyped-call]  # unannotated in torch
        return scripted

    def onnx_names(self) -> tuple[list[str], list[str]]:
        """(input names, output names) of :meth:`export_onnx`."""
        inputs = list(self.step_module().input_names) + [f"state_{i}" for i in range(len(self._rings))]
        outputs = ["y"] + [f"new_state_{i}" for i in range(len(self._rings))]
        return inputs, outputs

    def export_onnx(self, path: str, opset_version: int | None = None, dynamo: bool = True) -> str:
        """Write the step function (``T = 1``, this batch size) to an ONNX file.

        Inputs ``x (B, C_in, 1)``, ``[c (B, cond, 1)]``, ``[g (B, gc)]``, ``state_i``; outputs
        ``y (B, C_out, 1)`` and ``new_state_i`` (feed them back as ``state_i``).
        """
        module = self.step_module()
        args = self.example_inputs(1)
        inputs, outputs = self.onnx_names()
        kwargs: dict[str, Any] = {"input_names": inputs, "output_names": outputs, "dynamo": dynamo, "verbose": False}
        if opset_version is not None:
            kwargs["opset_version"] = opset_version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                program = torch.onnx.export(module, args, **kwargs)
                assert program is not None  # the dynamo exporter returns the program
                program.save(str(path))
            else:
                torch.onnx.export(module, args, str(path), **kwargs)
        return str(path)
