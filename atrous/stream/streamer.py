"""``stream(model)``: exact streaming inference for causal dilated stacks.

A :class:`Streamer` runs a causal model (CausalConv1d, TCN, WaveNet, and ``nn.Sequential`` /
:class:`~atrous.stream.Residual` compositions of them with layers that are pointwise in time)
one sample or one chunk at a time, for ``B`` independent streams at once, and gives exactly
what ``model(full_input)`` gives (to rounding) for every split of the input into chunks.

- :meth:`Streamer.step` takes ``x_t`` ``(B, C_in)`` and costs one GEMM per layer: the state of
  each causal convolution is a ring buffer laid out so that the ``k`` taps of a step are one
  matrix, and the layers write straight into each other's buffers (see
  :mod:`atrous.stream.fast`).
- :meth:`Streamer.push` takes a chunk ``(B, C_in, T)`` of any length and runs the real
  convolutions over ``[state | chunk]`` (see :mod:`atrous.stream.chunk`).
- The state (the last ``d*(k-1)`` inputs of every causal convolution, zeros at the start)
  belongs to the streamer, never to the model: :meth:`Streamer.state_dict` /
  :meth:`Streamer.load_state_dict` save and resume it; :meth:`Streamer.reset` restarts some
  streams.
- :meth:`Streamer.generate` runs a WaveNet autoregressively; :meth:`Streamer.export_torchscript`
  and :meth:`Streamer.export_onnx` export the step function with the states as explicit inputs
  and outputs.

Examples:
    >>> import torch
    >>> from atrous.nn import TCN
    >>> from atrous.stream import stream
    >>> tcn = TCN(2, [8, 8, 8], kernel_size=3).eval()
    >>> s = stream(tcn, batch_size=4)
    >>> s.receptive_field
    29
    >>> x = torch.randn(4, 2, 50)
    >>> y = torch.cat([s.push(x[:, :, :7]), s.step(x[:, :, 7]).unsqueeze(2), s.push(x[:, :, 8:])], 2)
    >>> torch.allclose(y, tcn(x), atol=1e-5)
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.stream.chunk import ChunkModuleBase, make_chunk_module
from atrous.stream.fast import FastStep, build_fast
from atrous.stream.plan import Plan, build_plan
from atrous.stream.sampling import argmax_mu_law, argmax_one_hot

__all__ = ["Streamer", "stream"]


def stream(
    model: nn.Module,
    batch_size: int = 1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Streamer:
    """A :class:`Streamer` for ``model`` with ``batch_size`` independent streams.

    Args:
        model: a causal model (see the module docstring); it must be in eval mode where that
            matters (BatchNorm, Dropout). Its weights are read now; call
            :meth:`Streamer.refresh` after changing them.
        batch_size: number of independent streams ``B``.
        dtype: arithmetic dtype (default: the model's).
        device: device of the state and weights (default: the model's).

    Raises:
        SpecError: naming the layer (its path in the model) that cannot be streamed exactly,
            and why.
    """
    return Streamer(model, batch_size, dtype, device)


def _x_checker(shape: torch.Size) -> Callable[[Tensor], Tensor]:
    def check(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise SpecError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        if x.shape != shape:
            raise SpecError(f"step() takes x of shape (B, C_in) = {tuple(shape)} or (B, C_in, 1), got {tuple(x.shape)}")
        return x

    return check


def _g_checker(B: int, gc: int) -> Callable[[Tensor | None], Tensor | None]:
    def check(g: Tensor | None) -> Tensor | None:
        if gc:
            if g is None:
                raise SpecError(f"this model has global conditioning: pass g of shape (B, {gc})")
            if tuple(g.shape) != (B, gc):
                raise SpecError(f"g must have shape (B, global_cond_channels) = {(B, gc)}, got {tuple(g.shape)}")
        elif g is not None:
            raise SpecError("this model has no global conditioning (g must be None)")
        return g

    return check


def _cond_checker(B: int, cc: int, gc: int) -> Callable[[Tensor | None, Tensor | None], tuple[Any, Any]]:
    check_g = _g_checker(B, gc)

    def check(c: Tensor | None, g: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        if cc:
            if c is None:
                raise SpecError(f"this model has local conditioning: pass c of shape (B, {cc})")
            if c.dim() == 3 and c.shape[2] == 1:
                c = c[:, :, 0]
            if tuple(c.shape) != (B, cc):
                raise SpecError(f"c must have shape (B, cond_channels) = {(B, cc)}, got {tuple(c.shape)}")
        elif c is not None:
            raise SpecError("this model has no local conditioning (c must be None)")
        return c, check_g(g)

    return check


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        return p.dtype, p.device
    for b in model.buffers():
        if b.is_floating_point():
            return b.dtype, b.device
    return torch.get_default_dtype(), torch.device("cpu")


class Streamer:
    """Exact streaming inference of a causal model over ``B`` streams; made by :func:`stream`.

    Attributes:
        plan: the walked and simplified graph (``print(s.plan.describe())``).
        batch_size, in_channels, out_channels, receptive_field: as named.
        steps: samples consumed so far (the same for every stream).
    """

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = 1,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SpecError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        mdtype, mdevice = _model_dtype_device(model)
        self.dtype = dtype or mdtype
        self.device = torch.device(device) if device is not None else mdevice
        if not self.dtype.is_floating_point:
            raise SpecError(f"dtype must be a floating point type, got {self.dtype}")
        self.batch_size = batch_size
        self.model = model
        self._build()

    # -- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        self.plan: Plan = build_plan(self.model, self.dtype, self.device)
        with torch.inference_mode():
            self._fast: FastStep = build_fast(self.plan, self.batch_size, self.dtype, self.device)
            self._chunk: ChunkModuleBase = make_chunk_module(self.plan)
        self._fn = self._fast.fn
        self._rings = [self._fast.rings[i] for i in self.plan.convs]
        self.state_names: list[str] = [self.plan.nodes[i].path for i in self.plan.convs]
        self.in_channels = self.plan.in_channels
        self.out_channels = self.plan.out_channels
        self.cond_channels = self.plan.cond_channels
        self.global_cond_channels = self.plan.global_cond_channels
        self._xshape = torch.Size((self.batch_size, self.in_channels))
        self._plain = not (self.cond_channels or self.global_cond_channels)
        self._x = _x_checker(self._xshape)
        self._cond_step = _cond_checker(self.batch_size, self.cond_channels, self.global_cond_channels)
        self._g = _g_checker(self.batch_size, self.global_cond_channels)
        self._fast.env["_xcheck"] = self._x
        self._fast.env["_ccheck"] = self._cond_step
        # the generated step (the same checks, inference mode, one GEMM per layer) shadows the
        # method below: it saves the Python call layers of a method per sample
        self.step = self._fast.env["checked"]  # type: ignore[method-assign]
        self.step.__doc__ = Streamer.step.__doc__

    def refresh(self) -> None:
        """Read the model's weights again (after training or editing them); the streams'
        state is kept."""
        state = self.state_dict()
        self._build()
        self.load_state_dict(state)

    @property
    def receptive_field(self) -> int:
        """Input samples one output depends on (``1 +`` the sum of ``d*(k-1)`` on the longest path)."""
        return self.plan.receptive_field

    @property
    def steps(self) -> int:
        return self._fast.counter.t

    def __repr__(self) -> str:
        return (
            f"Streamer({self.plan.model_name}, batch_size={self.batch_size}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, layers={len(self._rings)}, receptive_field={self.receptive_field}, "
            f"steps={self.steps})"
        )

    # -- streaming ---------------------------------------------------------------------------

    def step(self, x: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        """One sample of every stream.

        Args:
            x: ``(B, C_in)`` or ``(B, C_in, 1)``.
            c: WaveNet local conditioning at this step, ``(B, cond_channels)``.
            g: WaveNet global conditioning, ``(B, global_cond_channels)``.

        Returns:
            ``(B, C_out)``: the model's output at this time step (an inference tensor).

        Each streamer replaces this method by a generated function that does the same (the
        checks, inference mode and one GEMM per layer) without the layers of a method call.
        """
        if x.shape != self._xshape:
            x = self._x(x)
        if not self._plain:
            c, g = self._cond_step(c, g)
        with torch.inference_mode():
            return self._fn(x, c, g)

    def push(self, chunk: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        """A chunk of every stream: ``(B, C_in, T)`` -> ``(B, C_out, T)``, any ``T >= 0``.

        Args:
            chunk: the next ``T`` samples of every stream.
            c: WaveNet local conditioning for those samples, ``(B, cond_channels, T)``.
            g: WaveNet global conditioning, ``(B, global_cond_channels)``.
        """
        if not isinstance(chunk, Tensor) or chunk.dim() != 3 or tuple(chunk.shape[:2]) != self._xshape:
            shape = tuple(chunk.shape) if isinstance(chunk, Tensor) else type(chunk).__name__
            raise SpecError(f"push() takes a chunk of shape (B, C_in, T) with (B, C_in) = {self._xshape}, got {shape}")
        T = chunk.shape[2]
        args = [chunk.to(self.device, self.dtype)]
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
        g = self._g(g)
        if g is not None:
            args.append(g.to(self.device, self.dtype))
        if T == 0:
            return chunk.new_zeros(self.batch_size, self.out_channels, 0, dtype=self.dtype, device=self.device)
        with torch.inference_mode():
            t = self.steps
            states = [r.read(t) for r in self._rings]
            out = self._chunk(*args, *states)
            for r, s in zip(self._rings, out[1:]):
                r.write(t + T, s)
            self._fast.counter.t = t + T
        return out[0]

    def reset(self, mask: Tensor | None = None) -> None:
        """Restart streams from an all-zero past.

        Args:
            mask: bool ``(B,)``: the streams to restart (None: all of them; the step counter
                then also restarts).
        """
        with torch.inference_mode():
            if mask is None:
                for r in self._rings:
                    r.reset(None)
                self._fast.counter.t = 0
                return
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
        """The state of every causal conv in :attr:`state_names` order: ``(B, C, d*(k-1))``,
        the layer's last inputs, oldest first (the layout of the exported step's states)."""
        with torch.inference_mode():
            t = self.steps
            views = [r.read(t) for r in self._rings]
        return [v.clone() for v in views]  # cloned outside inference mode: ordinary tensors

    def initial_states(self) -> list[Tensor]:
        """All-zero states (the start of a stream), in :attr:`state_names` order."""
        return [torch.zeros(self.batch_size, r.c, r.context, dtype=self.dtype, device=self.device) for r in self._rings]

    def state_dict(self) -> dict[str, Tensor]:
        """The streams' state: ``{layer path: (B, C, d*(k-1))}`` plus ``"steps"``. It is
        independent of the ring layout, so it loads into any streamer of the same model and batch size."""
        out = dict(zip(self.state_names, self.states()))
        out["steps"] = torch.tensor(self.steps, dtype=torch.int64)
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Resume from :meth:`state_dict` (shapes are checked; the key set must match)."""
        want = {*self.state_names, "steps"}
        if set(state) != want:
            missing, extra = sorted(want - set(state)), sorted(set(state) - want)
            raise SpecError(f"state_dict does not match this streamer: missing {missing}, unexpected {extra}")
        t = int(state["steps"])
        if t < 0:
            raise SpecError(f"state_dict steps must be >= 0, got {t}")
        with torch.inference_mode():
            for name, r in zip(self.state_names, self._rings):
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
        B, cin = self._xshape
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
        g = self._g(g)
        if g is not None:
            g = g.to(self.device, self.dtype)
        with torch.inference_mode():
            x = torch.zeros(B, cin, dtype=self.dtype, device=self.device) if first is None else self._x(first)
            out = torch.empty(B, cin, n, dtype=self.dtype, device=self.device)
            logits = (
                torch.empty(B, self.out_channels, n, dtype=self.dtype, device=self.device) if return_logits else None
            )
            outs = out.unbind(2)
            fn = self._fn
            for t in range(n):
                y = fn(x, cs[t], g)
                if logits is not None:
                    logits[:, :, t] = y
                x = sample(y)
                outs[t].copy_(x)
        return (out, logits) if logits is not None else out

    # -- export ------------------------------------------------------------------------------

    def step_module(self) -> ChunkModuleBase:
        """The step as a pure ``nn.Module``: ``forward(x, [c], [g], *states) -> (y, *new_states)``
        with ``x (B, C_in, T)``, ``c (B, cond, T)``, ``g (B, gc)``, states as :meth:`states`.
        With ``T = 1`` it is one step; any ``T`` processes a chunk."""
        return make_chunk_module(self.plan).eval()

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
                scripted.save(str(path))
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
                torch.onnx.export(module, args, **kwargs).save(str(path))
            else:
                torch.onnx.export(module, args, str(path), **kwargs)
        return str(path)
