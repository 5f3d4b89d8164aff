"""``verify(model, input_shape)``: the streaming contract, checked.

For each batch size and several random chunkings (chunks of one sample, short ones, one long
one), the concatenation of every :meth:`~atrous.stream.Streamer.push` and the final
:meth:`~atrous.stream.Streamer.flush` must equal ``model(full_input)`` in float64, every
stream of a batch must equal that stream streamed alone (batch independence), and the
number of outputs returned after each push must be the one the latency promises. On a
mismatch the error names the first node (in execution order) whose streamed samples differ
from the offline forward's.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from atrous.errors import SpecError

if TYPE_CHECKING:
    from torch.nn.utils.weight_norm import WeightNorm

__all__ = ["StreamMismatch", "Verified", "verify"]


class StreamMismatch(SpecError):
    """Streaming did not reproduce the offline forward (names the first node that differs)."""


@dataclass
class Verified:
    """What :func:`verify` checked: the runs, the largest error, the latency and rate."""

    runs: int
    max_error: float
    latency: int
    rate: Any
    cases: list[str] = field(default_factory=list)


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy, also of modules with the old ``torch.nn.utils.weight_norm`` (whose
    computed weight is not a leaf and cannot be copied: it is dropped and computed again)."""
    try:
        return copy.deepcopy(model)
    except RuntimeError:
        pass
    hooks = [
        (m, cast("WeightNorm", h))
        for m in model.modules()
        for h in m._forward_pre_hooks.values()
        if type(h).__name__ == "WeightNorm"
    ]
    saved = [(m, h.name, getattr(m, h.name)) for m, h in hooks]
    for m, name, _ in saved:
        delattr(m, name)
    try:
        out = copy.deepcopy(model)
    finally:
        for m, name, w in saved:
            setattr(m, name, w)
    for m in out.modules():
        for h in m._forward_pre_hooks.values():
            if type(h).__name__ == "WeightNorm":
                wn = cast("WeightNorm", h)
                setattr(m, wn.name, wn.compute_weight(m))
    return out


def _chunks(T: int, rng: random.Random, long_at: int) -> list[int]:
    sizes, left, long_done = [], T, False
    while left:
        r = rng.random()
        if not long_done and left > long_at and r < 0.3:
            n = rng.randint(long_at, left)
            long_done = True
        elif r < 0.4:
            n = 1
        else:
            n = rng.randint(1, min(left, 17))
        sizes.append(min(n, left))
        left -= sizes[-1]
    return sizes


def _offline(model: nn.Module, x: Tensor, kw: dict[str, Tensor]) -> Tensor:
    with torch.no_grad():
        out = model(x, **kw)
    if isinstance(out, Tensor):
        return out
    if isinstance(out, dict):
        return next(v for v in out.values() if isinstance(v, Tensor))
    return next(v for v in out if isinstance(v, Tensor))


def verify(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    inputs: dict[str, tuple[Sequence[int], str]] | None = None,
    batch_sizes: Sequence[int] = (1, 3),
    chunkings: int = 3,
    length: int | None = None,
    seed: int = 0,
    atol: float = 1e-9,
) -> Verified:
    """Check that streaming ``model`` reproduces its offline forward (see the module docstring).

    Args:
        model: the model (a float64 copy is streamed; the model itself is not changed).
        input_shape: ``(1, C_in, T)`` as for :func:`atrous.stream.stream`.
        inputs: keyword inputs as for :func:`atrous.stream.stream`.
        batch_sizes: numbers of streams to try.
        chunkings: random chunkings per batch size.
        length: samples per stream (default: ``2 T + 7``).
        atol: the largest absolute difference allowed (float64).

    Returns:
        A :class:`Verified` summary.

    Raises:
        StreamMismatch: a streamed output differs; the message names the first node.
        SpecError: the model cannot be streamed (the node, the op and why).
    """
    from atrous.stream.nodes import Timing
    from atrous.stream.streamer import Streamer

    m64 = _copy(model).double()
    shape = tuple(int(n) for n in input_shape)
    T = length if length is not None else 2 * shape[-1] + 7
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    runs = 0
    cases = []
    s0: Streamer | None = None
    for B in batch_sizes:
        s = Streamer(m64, B, torch.float64, input_shape=shape, inputs=inputs)
        s0 = s0 or s
        x = torch.randn((B, *shape[1:-1], T), generator=g, dtype=torch.float64)
        kw_full, kw_chunk = _keyword_inputs(inputs, B, T, s, g)
        full = _offline(m64, x, kw_full)
        for _ in range(chunkings):
            s.reset()
            sizes = _chunks(T, rng, long_at=max(2, shape[-1]))
            outs, t, returned = [], 0, 0
            timing = Timing(s.graph)
            for n in sizes:
                kw = {k: fn(t, n) for k, fn in kw_chunk.items()}
                y = s.push(x[..., t : t + n], **kw)
                t += n
                outs.append(y)
                returned += y.shape[s.graph.out_time_dim]
                want = min(timing.ready(t), full.shape[s.graph.out_time_dim])
                if returned != want:
                    raise StreamMismatch(
                        f"after {t} input samples the streamer returned {returned} outputs; its latency "
                        f"({s.latency} samples, rate {s.rate}) promises {want}"
                    )
            statics = {k: v for k, v in kw_full.items() if k in s.graph.statics}
            outs.append(s.flush(**statics))
            y = torch.cat(outs, s.graph.out_time_dim)
            err = _compare(y, full)
            runs += 1
            cases.append(f"B={B} chunks={len(sizes)}: max error {err:.2e}")
            if err > atol:
                raise StreamMismatch(_first_difference(m64, shape, x, kw_full, s, sizes, kw_chunk, err))
            worst = max(worst, err)
        if B > 1:  # batch independence: each stream equals the same stream alone
            for i in range(B):
                alone = _offline(m64, x[i : i + 1], {k: v[i : i + 1] for k, v in kw_full.items()})
                err = _compare(full[i : i + 1], alone)
                if err > atol:
                    raise StreamMismatch(f"stream {i} of {B} differs from the same input alone by {err:.2e}: "
                                         "the model mixes its batch (a batch statistic?)")  # fmt: skip
    assert s0 is not None
    return Verified(runs, worst, s0.latency, s0.rate, cases)


def _keyword_inputs(
    inputs: Any, B: int, T: int, s: Any, g: torch.Generator
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    full: dict[str, Tensor] = {}
    chunk: dict[str, Any] = {}
    for key, (eshape, _letters) in (inputs or {}).items():
        eshape = tuple(eshape)
        if key in s.graph.statics:
            full[key] = torch.randn((B, *eshape[1:]), generator=g, dtype=torch.float64)
            chunk[key] = lambda t, n, v=full[key]: v
            continue
        rate = s.graph.extra_rates[key]
        d = len(eshape) - 1
        n_total = int(T * rate)
        full[key] = torch.randn((B, *eshape[1:-1], n_total), generator=g, dtype=torch.float64)

        def part(t: int, n: int, v: Tensor = full[key], r: Any = rate, dim: int = d) -> Tensor:
            a, b = int(t * r), int((t + n) * r)
            return v.narrow(dim, a, b - a)

        chunk[key] = part
    return full, chunk


def _compare(y: Tensor, full: Tensor) -> float:
    if y.shape != full.shape:
        return float("inf")
    return float((y - full).abs().max()) if y.numel() else 0.0


def _first_difference(
    model: nn.Module, shape: tuple[int, ...], x: Tensor, kw_full: dict[str, Tensor], s: Any, sizes: list[int],
    kw_chunk: dict[str, Any], err: float,
) -> str:  # fmt: skip
    """Run again recording every node, and name the first whose samples differ offline."""
    from atrous.analysis.trace import trace
    from atrous.stream.engine import Engine

    tr = trace(model, tuple(x.shape), "real", x=x, extra=kw_full or None, values=True)
    offline = tr.extra["values"]
    engine = Engine(s.graph, record=True)
    t = 0
    with torch.no_grad():
        for n in sizes:
            extras = {"x": x[..., t : t + n]}
            statics = {}
            for k, fn in kw_chunk.items():
                if k in s.graph.statics:
                    statics[k] = fn(t, n)
                else:
                    extras[k] = fn(t, n)
            engine.run(extras, statics, final=False)
            t += n
        engine.run({"x": None}, {k: v for k, v in kw_full.items() if k in s.graph.statics}, final=True)
    for i, node in enumerate(s.graph.nodes):
        if node.name not in offline or node.time_dim is None or i not in engine.recorded:
            continue
        got = torch.cat(engine.recorded[i], node.time_dim)
        want = offline[node.name]
        if got.shape != want.shape or float((got - want).abs().max()) > 1e-9:
            return (f"streaming differs from the offline forward by {err:.2e}: the first node that differs is "
                    f"{node.name.replace('/', '.')!r} ({node.describe()}; streamed {tuple(got.shape)}, offline {tuple(want.shape)})")  # fmt: skip
    return f"streaming differs from the offline forward by {err:.2e} (no single node found: check the model's output selection)"
