"""Effective receptive fields (Luo, Li, Urtasun & Zemel 2016).

The effective receptive field of an output is the gradient of that output with respect to the
input: how much each input position actually moves it. It is averaged over random inputs (and,
optionally, random re-initialisations of the weights), its magnitude summed over channels and
normalised to a distribution over input positions, and summarised by a Gaussian fit (sigma
per axis, from the second moments of the marginals), the radii holding 50/90/99% of the mass,
and its size relative to the theoretical field.

Examples:
    >>> import torch
    >>> net = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, 3, padding=1, bias=False) for _ in range(4)])
    >>> for c in net:
    ...     _ = torch.nn.init.constant_(c.weight, 1.0)
    >>> e = erf(net, (1, 1, 41), samples=2)
    >>> round(e.sigma[0] ** 2, 6)  # n (k^2 - 1) / 12 for n uniform layers of width k
    2.666667
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from atrous.analysis.analyze import analyze
from atrous.errors import SpecError
from atrous.geometry import Field

__all__ = ["ERF", "available_memory", "erf"]

MASSES = (0.5, 0.9, 0.99)


@dataclass
class ERF:
    """An effective receptive field.

    Attributes:
        map: the normalised gradient magnitude over the input's spatial axes (sums to 1).
        output_index: the output position whose field this is (spatial index).
        centre: centre of mass, in input positions (per axis).
        sigma: standard deviation of each axis's marginal: the Gaussian fit's sigma.
        radii: mass fraction -> the smallest Euclidean radius around ``centre`` holding it.
        axis_radii: mass fraction -> per-axis radius of each marginal holding it.
        trf: per axis, the theoretical field of this output clipped to the input: the extent
            of its exact support (``None`` on a global axis).
        samples: inputs averaged.
        present: per axis, the input position of the present step when the field is one-sided
            (causal: it ends at the output's own step and holds no mass after it), else ``None``.
            A Gaussian around the centre of mass misfits such a field; see :meth:`fit`.
        back_radii: mass fraction -> per axis, on a one-sided axis the smallest number of steps
            ``L`` such that ``[present - L, present]`` holds that share of the marginal's mass
            (``None`` on a two-sided axis).
    """

    map: np.ndarray[Any, Any]
    output_index: tuple[int, ...]
    centre: tuple[float, ...]
    sigma: tuple[float, ...]
    radii: dict[float, float]
    axis_radii: dict[float, tuple[float, ...]]
    trf: tuple[int | None, ...]
    samples: int
    present: tuple[int | None, ...] = ()
    back_radii: dict[float, tuple[int | None, ...]] = field(default_factory=dict)

    @property
    def one_sided(self) -> tuple[bool, ...]:
        """Per axis: True on a causal (one-sided) axis."""
        return tuple(p is not None for p in self.present) if self.present else (False,) * self.map.ndim

    @property
    def ratio(self) -> tuple[float | None, ...]:
        """Per axis: the width holding 90% of the marginal's mass, ``2 r + 1``, over the TRF."""
        r90 = self.axis_radii[0.9]
        return tuple(None if t is None else (2 * r + 1) / t for r, t in zip(r90, self.trf, strict=True))

    @property
    def fraction(self) -> float | None:
        """Share of the theoretical field's area (positions) needed to hold 90% of the mass."""
        if any(t is None for t in self.trf):
            return None
        flat = np.sort(self.map.ravel())[::-1]
        needed = int(np.searchsorted(np.cumsum(flat), 0.9) + 1)
        return needed / math.prod(t for t in self.trf if t is not None)

    def gaussian(self) -> np.ndarray[Any, Any]:
        """The fitted axis-aligned Gaussian on the map's grid (normalised to sum 1)."""
        grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in self.map.shape], indexing="ij")
        z = np.zeros(self.map.shape)
        for g, c, s in zip(grids, self.centre, self.sigma, strict=True):
            z += ((g - c) / max(s, 1e-12)) ** 2
        out = np.exp(-0.5 * z)
        fitted: np.ndarray[Any, Any] = out / out.sum()
        return fitted

    def fit(self) -> np.ndarray[Any, Any]:
        """The fitted model on the map's grid (sums to 1): per axis, the Gaussian of
        :meth:`gaussian` on a two-sided axis, and on a one-sided axis a geometric decay back from
        the present step, ``(1 - rho) rho^L`` at lag ``L`` (0 after the present), with ``rho``
        the maximum-likelihood fit ``mean lag / (1 + mean lag)``."""
        if not any(self.one_sided):
            return self.gaussian()
        out = np.ones(self.map.shape)
        for a, n in enumerate(self.map.shape):
            g = np.arange(n, dtype=np.float64)
            if self.one_sided[a]:
                marginal = self.map.sum(axis=tuple(i for i in range(self.map.ndim) if i != a))
                lag = float(self.present[a]) - g  # type: ignore[arg-type]
                mean = float((marginal * np.clip(lag, 0, None)).sum())
                rho = mean / (1.0 + mean)
                prof = np.where(lag >= 0, (1.0 - rho) * rho ** np.clip(lag, 0, None), 0.0)
            else:
                prof = np.exp(-0.5 * ((g - self.centre[a]) / max(self.sigma[a], 1e-12)) ** 2)
            shape = [1] * self.map.ndim
            shape[a] = n
            out = out * prof.reshape(shape)
        fitted: np.ndarray[Any, Any] = out / out.sum()
        return fitted


def available_memory() -> int:
    """Bytes of memory available to this process now (``MemAvailable``), or a guess of 4 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _reinit(model: nn.Module, seed: int) -> nn.Module:
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for m in fresh.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
    return fresh


def erf(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    samples: int = 16,
    reinit: int = 0,
    output_index: Sequence[int] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    max_memory: int | None = None,
    input_layout: str | None = None,
    output: str | int | None = None,
) -> ERF:
    """The effective receptive field of one output of ``model``.

    Args:
        model: a ``torch.nn.Module`` taking ``(N, C, *spatial)`` (run in eval mode; its mode
            is restored afterwards).
        input_shape: ``(1, C, *spatial)`` (the batch size is ignored: ``samples`` are drawn).
        samples: random standard-normal inputs to average.
        reinit: also average over this many re-initialisations of the weights (each module's
            ``reset_parameters``, seeded); 0 uses the model's weights only.
        output_index: the output position (spatial index); default: the centre.
        batch_size: inputs per backward pass (default: all samples at once, within memory).
        seed: seed of the random inputs and re-initialisations.
        max_memory: refuse before allocating when the estimate exceeds this many bytes
            (default: half of the memory available now).
        input_layout, output: as for :func:`~atrous.analysis.analyze` (channels-last inputs,
            a dict / ``ModelOutput`` key).

    Returns:
        An :class:`ERF`.

    Raises:
        SpecError: a bad argument, or an estimate above ``max_memory`` (the message gives both).
    """
    from atrous.analysis.layout import entries, parse_layout
    from atrous.geometry.spec import check_int

    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise SpecError(f"input_shape must be a sequence (N, C, *spatial), got {input_shape!r}")
    shape = tuple(check_int(f"input_shape[{i}]", n, 1) for i, n in enumerate(input_shape))
    letters = parse_layout(input_layout, len(shape))
    if "N" not in letters:
        raise SpecError(f"erf draws a batch of inputs: input_layout needs a batch dimension N, got {letters!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise SpecError(f"samples must be an integer >= 1, got {samples!r}")
    if isinstance(reinit, bool) or not isinstance(reinit, int) or reinit < 0:
        raise SpecError(f"reinit must be an integer >= 0, got {reinit!r}")
    nb = letters.index("N")
    one = tuple(1 if i == nb else n for i, n in enumerate(shape))
    report = analyze(model, one, input_layout=letters, output=output)
    out_node = report.node()
    lay = out_node.layout
    out_sizes: dict[int, int] = {}
    for d in lay:
        for fa in d:
            if fa.kind == "s":
                out_sizes[fa.axis] = out_sizes.get(fa.axis, 1) * fa.size
    present = sorted(out_sizes)
    per_sample = sum(math.prod(n.shape) for n in report.nodes if n.shape) * 4 * 3  # activations, grads, temps
    per_sample += math.prod(one) * 4 * 2
    limit = available_memory() // 2 if max_memory is None else int(max_memory)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) * (2 if reinit else 1)
    bs = samples if batch_size is None else batch_size
    if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
        raise SpecError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if batch_size is None:
        bs = max(1, min(samples, (limit - param_bytes) // max(per_sample, 1)))
    need = per_sample * bs + param_bytes
    if need > limit:
        raise SpecError(
            f"the ERF of this model at input {shape} needs about {need / 2**30:.2f} GiB "
            f"(batch {bs}); at most {limit / 2**30:.2f} GiB is allowed: lower batch_size or the input size, "
            "or raise max_memory"
        )
    if output_index is None:
        position = {a: out_sizes[a] // 2 for a in present}
    else:
        index = tuple(output_index)
        if len(index) != len(present) or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < out_sizes[a]
            for i, a in zip(index, present, strict=False)  # the lengths are compared just before
        ):
            raise SpecError(
                f"output_index must be a position in the output's spatial size "
                f"{tuple(out_sizes[a] for a in present)}, got {tuple(output_index)!r}"
            )
        position = dict(zip(present, index, strict=True))
    # the theoretical field clipped to this input: the extent of the chosen output's support
    trf = tuple(
        (lambda iv: iv[1] - iv[0] + 1)(f.interval(position[a])) if isinstance(f, Field) and a in position else None
        for a, f in enumerate(out_node.fields)
    )
    path = (
        report.trace.output_names[report.trace.outputs.index(report.output)]
        if report.output in report.trace.outputs
        else None
    )
    picked_index = [torch.tensor(ix) for ix in entries(lay, out_node.shape, position)]
    spatial_in = tuple(i for i, ch in enumerate(letters) if ch not in "NC")
    summed = tuple(i for i in range(len(shape)) if i not in spatial_in)
    total = torch.zeros(tuple(shape[i] for i in spatial_in), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    models = [model] if reinit == 0 else [_reinit(model, seed + 1 + r) for r in range(reinit)]
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
            done = 0
            while done < samples:
                b = min(bs, samples - done)
                batch_shape = tuple(b if i == nb else n for i, n in enumerate(shape))
                x = torch.randn(batch_shape, generator=generator).requires_grad_(True)
                y = _pick(m(x), path)
                idx = list(picked_index)
                if b > 1:
                    grown = [i for i, (n, t) in enumerate(zip(y.shape, out_node.shape, strict=True)) if n != t]
                    j = grown[0] if len(grown) == 1 and y.shape[grown[0]] == b * out_node.shape[grown[0]] else None
                    if j is None or any(f.kind == "s" for f in lay[j]):
                        bs = 1  # the batch is folded together with positions (windows): one input per pass
                        continue
                    idx[j] = torch.arange(y.shape[j])
                picked = y[torch.meshgrid(*idx, indexing="ij")]
                picked.sum().backward()  # type: ignore[no-untyped-call]  # unannotated in torch
                assert x.grad is not None
                total += x.grad.detach().abs().sum(dim=summed).double()
                done += b
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    index = tuple(position[a] for a in present)
    grad = total.numpy()
    mass = grad.sum()
    if mass <= 0:
        raise SpecError("the gradient of the chosen output is zero everywhere (no effective field)")
    pmap = grad / mass
    nd = pmap.ndim
    coords = [np.arange(n, dtype=np.float64) for n in pmap.shape]
    centre, sigma, axis_radii_list = [], [], []
    for axis in range(nd):
        marginal = pmap.sum(axis=tuple(a for a in range(nd) if a != axis))
        c = float((marginal * coords[axis]).sum())
        centre.append(c)
        sigma.append(float(math.sqrt(max(0.0, (marginal * (coords[axis] - c) ** 2).sum()))))
        axis_radii_list.append({q: _radius(np.abs(coords[axis] - c), marginal, q) for q in MASSES})
    grids = np.meshgrid(*coords, indexing="ij")
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)))
    radii = {q: _radius(dist.ravel(), pmap.ravel(), q) for q in MASSES}
    axis_radii = {q: tuple(r[q] for r in axis_radii_list) for q in MASSES}
    present_steps, back = _one_sided(pmap, out_node.fields, index)
    return ERF(
        pmap, index, tuple(centre), tuple(sigma), radii, axis_radii, trf, samples * len(models), present_steps, back
    )


def _one_sided(
    pmap: np.ndarray[Any, Any], fields: Sequence[Any], index: tuple[int, ...]
) -> tuple[tuple[int | None, ...], dict[float, tuple[int | None, ...]]]:
    """Per axis: the present step of a causal field (one that ends at the output's own step,
    ``start + size - 1 == 0`` with an integer jump, and holds no mass after it), and the mass
    quantiles counted back from it."""
    present: list[int | None] = []
    back: dict[float, list[int | None]] = {q: [] for q in MASSES}
    for a in range(pmap.ndim):
        f = fields[a] if a < len(fields) else None
        t = None
        if isinstance(f, Field) and f.period == 1 and a < len(index) and f.start + f.size - 1 == 0:
            t = index[a] * int(f.jump)
            marginal = pmap.sum(axis=tuple(i for i in range(pmap.ndim) if i != a))
            if not 0 <= t < marginal.shape[0] or marginal[t + 1 :].sum() > 1e-12:
                t = None
        present.append(t)
        for q in MASSES:
            if t is None:
                back[q].append(None)
            else:
                cum = np.cumsum(marginal[: t + 1][::-1])
                back[q].append(int(np.searchsorted(cum, q - 1e-12)))
    return tuple(present), {q: tuple(v) for q, v in back.items()}


def _pick(out: Any, path: str | None) -> torch.Tensor:
    """The output tensor at ``path`` (a key path of a dict / ModelOutput / tuple output)."""
    if isinstance(out, torch.Tensor) or path is None:
        return out if isinstance(out, torch.Tensor) else next(v for v in out.values() if isinstance(v, torch.Tensor))
    for part in path.split("."):
        out = out[int(part)] if isinstance(out, (tuple, list)) else out[part]
    return out  # type: ignore[no-any-return]


def _radius(dist: np.ndarray[Any, Any], weights: np.ndarray[Any, Any], q: float) -> float:
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q - 1e-12))
    return float(dist[order][min(i, len(order) - 1)])
