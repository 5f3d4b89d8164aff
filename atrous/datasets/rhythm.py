"""Pulse trains: frame-level onset signals with a beat period, for tempo and periodicity tasks.

An onset signal (what an onset detector computes from audio, one value per frame) of a
piece at ``bpm`` beats per minute and ``frame_rate`` frames per second has pulses every
``P = 60 * frame_rate / bpm`` frames (:func:`atrous.frames_per_beat`); a convolution with
dilation ``d`` reads frames ``t`` and ``t + d`` together, so it sees the pulses coincide
when ``d`` is a multiple of ``P``. The generators below make such signals with the
imperfections of real ones: timing jitter, missing pulses, distractor onsets at random
times, other pulse trains at other periods, smeared onsets and background noise.

Every generator takes an explicit ``seed`` (a ``numpy.random.default_rng``) and returns
``torch`` tensors; the same arguments give the same tensors bit for bit.

Examples:
    >>> trains = pulse_trains([4.0, 5.0], 20, phases=[0.0, 1.0], seed=0)
    >>> trains.x[0].nonzero().flatten().tolist()
    [0, 4, 8, 12, 16]
    >>> trains.beats[1].nonzero().flatten().tolist()
    [1, 6, 11, 16]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.geometry import frames_per_beat
from atrous.geometry.spec import check_int

__all__ = ["PulseTrains", "compatible", "periodicity_task", "pulse_trains", "tempo_task"]


@dataclass(frozen=True)
class PulseTrains:
    """A batch of onset signals and what they were made of.

    Attributes:
        x: ``(n, length)`` float32 onset signal.
        beats: ``(n, length)`` float32, 1 at the frames ``floor(phase + k * period + 1/2)`` of the
            first train of each row (the beat grid: missing pulses included, jitter not),
            0 elsewhere: a per-frame beat-activation target.
        periods: ``(n, m)`` float64, the period of each of the ``m`` trains of a row (frames).
        phases: ``(n, m)`` float64, the time of each train's first pulse (frames).
    """

    x: Tensor
    beats: Tensor
    periods: Tensor
    phases: Tensor


def _number(name: str, value: object, lo: float, hi: float = math.inf, *, closed_hi: bool = True) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    inside = lo <= v <= hi if closed_hi else lo <= v < hi
    if not ok or not math.isfinite(v) or not inside:
        close = "]" if closed_hi else ")"
        raise SpecError(f"{name} must be a finite number in [{lo:g}, {hi:g}{close}, got {value!r}")
    return v


def _grid(name: str, value: object, n: int | None = None) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be numbers of shape (n,) or (n, m), got {value!r}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SpecError(f"{name} must have shape (n,) or (n, m) with n, m >= 1, got shape {tuple(np.shape(value))}")  # type: ignore[call-overload]  # any array-like
    return arr


def pulse_trains(
    periods: Sequence[float] | Sequence[Sequence[float]] | np.ndarray | Tensor,
    length: int,
    *,
    phases: Sequence[float] | Sequence[Sequence[float]] | np.ndarray | Tensor | None = None,
    jitter: float = 0.0,
    keep: float = 1.0,
    spread: float = 0.0,
    amplitude: tuple[float, float] = (1.0, 1.0),
    distractors: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> PulseTrains:
    """Onset signals made of pulse trains, one row per entry of ``periods``.

    Row ``i`` mixes ``m`` trains; train ``j`` has pulses at ``phase + k * period`` for
    ``k = 0, 1, ...`` inside ``[0, length)``. Each pulse is kept with probability ``keep``,
    moved by ``jitter * N(0, 1)`` frames and given an amplitude drawn uniformly from
    ``amplitude``. ``distractors * length`` onsets on average (Poisson) fall at uniform random
    times with the same amplitudes. A pulse at time ``t`` adds its amplitude at frame
    ``floor(t + 1/2)`` (``spread = 0``) or ``a * exp(-(f - t)^2 / (2 spread^2))`` at every frame ``f``
    within ``4 spread`` of it; pulses outside ``[0, length)`` are dropped. Last, Gaussian noise
    of standard deviation ``noise`` is added to every frame.

    Args:
        periods: ``(n,)`` or ``(n, m)`` periods in frames, each ``>= 1`` (fractional periods are
            fine: real tempi rarely give whole frames).
        length: frames per row, ``>= 1``.
        phases: same shape as ``periods``, each in ``[0, period)``; default uniform at random.
        jitter: standard deviation of the timing error of a pulse, frames, ``>= 0``.
        keep: probability that a pulse is present, in ``[0, 1]``.
        spread: standard deviation of the Gaussian shape of an onset, frames, ``>= 0``.
        amplitude: ``(low, high)`` range of the onset amplitudes, ``0 < low <= high``.
        distractors: rate of random onsets per frame, ``>= 0``.
        noise: standard deviation of the background noise, ``>= 0``.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        :class:`PulseTrains` (``x`` and ``beats`` of shape ``(n, length)``).

    Raises:
        SpecError: a bad argument (the message names it, its value and the valid range).

    Examples:
        >>> t = pulse_trains([2.5], 10, phases=[0.0])
        >>> t.x.tolist()
        [[1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]]
        >>> noisy = pulse_trains([[50.0, 37.5]] * 4, 400, jitter=1.0, keep=0.8, spread=1.0, seed=1)
        >>> noisy.x.shape, noisy.periods.shape
        (torch.Size([4, 400]), torch.Size([4, 2]))
    """
    per = _grid("periods", periods.detach().cpu().numpy() if isinstance(periods, Tensor) else periods)
    n, m = per.shape
    for (i, j), p in np.ndenumerate(per):
        _number(f"periods[{i}, {j}]" if m > 1 else f"periods[{i}]", p, 1.0)
    length = check_int("length", length, 1)
    jitter = _number("jitter", jitter, 0.0)
    keep = _number("keep", keep, 0.0, 1.0)
    spread = _number("spread", spread, 0.0)
    distractors = _number("distractors", distractors, 0.0)
    noise = _number("noise", noise, 0.0)
    if not isinstance(amplitude, (tuple, list)) or len(amplitude) != 2:
        raise SpecError(f"amplitude must be a (low, high) pair with 0 < low <= high, got {amplitude!r}")
    a_lo = _number("amplitude[0]", amplitude[0], 0.0)
    a_hi = _number("amplitude[1]", amplitude[1], a_lo)
    if a_lo <= 0:
        raise SpecError(f"amplitude[0] must be > 0, got {amplitude[0]!r}")
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    if phases is None:
        ph = rng.random((n, m)) * per
    else:
        ph = _grid("phases", phases.detach().cpu().numpy() if isinstance(phases, Tensor) else phases)
        if ph.shape != per.shape:
            raise SpecError(f"phases must have the shape of periods {per.shape}, got {ph.shape}")
        for i in range(n):
            for j in range(m):
                f, p = ph[i, j], per[i, j]
                if not (math.isfinite(f) and 0 <= f < p):
                    where = f"phases[{i}, {j}]" if m > 1 else f"phases[{i}]"
                    raise SpecError(f"{where} must be in [0, period={p:g}), got {f!r}")
    x = np.zeros((n, length), dtype=np.float64)
    beats = np.zeros((n, length), dtype=np.float32)
    reach = math.ceil(4 * spread)
    offsets = np.arange(-reach, reach + 1)
    for i in range(n):
        times = []
        for j in range(m):
            grid = ph[i, j] + per[i, j] * np.arange(math.ceil((length - ph[i, j]) / per[i, j]))
            if j == 0:
                frames = np.floor(grid + 0.5).astype(np.int64)
                beats[i, frames[frames < length]] = 1.0
            present = rng.random(grid.size) < keep
            moved = grid + jitter * rng.standard_normal(grid.size)
            times.append(moved[present])
        count = rng.poisson(distractors * length)
        times.append(rng.random(count) * length)
        t = np.concatenate(times)
        amp = rng.uniform(a_lo, a_hi, t.size)
        if spread == 0:
            f = np.floor(t + 0.5).astype(np.int64)
            inside = (f >= 0) & (f < length)
            np.add.at(x[i], f[inside], amp[inside])
        else:
            centre = np.floor(t + 0.5).astype(np.int64)
            f = centre[:, None] + offsets[None, :]
            w = amp[:, None] * np.exp(-((f - t[:, None]) ** 2) / (2 * spread**2))
            inside = (f >= 0) & (f < length)
            np.add.at(x[i], f[inside], w[inside])
    if noise > 0:
        x += noise * rng.standard_normal(x.shape)
    return PulseTrains(
        torch.from_numpy(x.astype(np.float32)),
        torch.from_numpy(beats),
        torch.from_numpy(per),
        torch.from_numpy(ph),
    )


def compatible(period: float, other: float, margin: float) -> bool:
    """Whether a train at ``other`` also repeats at lag ``period``: ``|m * other / period - 1| <= margin``
    for some whole ``m >= 1`` (``other`` near ``period``, ``period / 2``, ``period / 3``, ...).

    Examples:
        >>> compatible(50, 25.5, 0.04), compatible(50, 100, 0.04), compatible(50, 40, 0.04)
        (True, False, False)
    """
    top = math.floor(period * (1 + margin) / other)
    return any(abs(k * other / period - 1) <= margin for k in range(1, top + 1))


def periodicity_task(
    n: int,
    length: int,
    period: float,
    *,
    period_range: tuple[float, float] | None = None,
    others: int = 1,
    margin: float = 0.04,
    seed: int = 0,
    **shape: float | tuple[float, float],
) -> tuple[Tensor, Tensor, PulseTrains]:
    """Is there a pulse train at ``period`` in the mix? A balanced binary task.

    Every row mixes ``others + 1`` pulse trains (so both classes hold about as many onsets).
    Positive rows (label 1): one train at ``period``, ``others`` at other periods. Negative
    rows (label 0): ``others + 1`` trains at other periods. "Other" periods are drawn
    log-uniformly from ``period_range`` and redrawn while :func:`compatible` (within
    ``margin`` of ``period / k``: such a train repeats at lag ``period`` too). Exactly
    ``n // 2`` rows are positive, in random order. The positive train comes first in its row,
    so ``beats`` marks its beat grid; a negative row's ``beats`` marks its first other train.

    Args:
        n: rows, ``>= 2``.
        length: frames per row, ``>= 1``.
        period: the period to detect, frames, ``>= 1``.
        period_range: ``(low, high)`` of the other periods, ``1 <= low <= high``; default
            ``(period / 2, 2 * period)`` (clipped at 1).
        others: trains at other periods per row, ``>= 0``.
        margin: relative distance below which an other period counts as ``period / k``,
            in ``[0, 1)``.
        seed: seed of ``numpy.random.default_rng`` (the pulse trains use ``seed + 1``).
        **shape: ``jitter``, ``keep``, ``spread``, ``amplitude``, ``distractors``, ``noise`` of
            :func:`pulse_trains`.

    Returns:
        ``(x, y, trains)``: ``x`` ``(n, length)`` float32, ``y`` ``(n,)`` float32 in {0, 1},
        and the :class:`PulseTrains` they came from.

    Raises:
        SpecError: a bad argument, or a ``period_range`` holding only compatible periods.

    Examples:
        >>> x, y, trains = periodicity_task(6, 300, 50.0, seed=0, jitter=0.5, keep=0.9)
        >>> x.shape, int(y.sum())
        (torch.Size([6, 300]), 3)
        >>> bool((trains.periods[y == 1, 0] == 50.0).all())
        True
    """
    n = check_int("n", n, 2)
    p = _number("period", period, 1.0)
    others = check_int("others", others, 0)
    margin = _number("margin", margin, 0.0, 1.0, closed_hi=False)
    if period_range is None:
        period_range = (max(1.0, p / 2), 2 * p)
    if not isinstance(period_range, (tuple, list)) or len(period_range) != 2:
        raise SpecError(f"period_range must be a (low, high) pair with 1 <= low <= high, got {period_range!r}")
    lo = _number("period_range[0]", period_range[0], 1.0)
    hi = _number("period_range[1]", period_range[1], lo)
    unknown = set(shape) - {"jitter", "keep", "spread", "amplitude", "distractors", "noise"}
    if unknown:
        raise SpecError(
            f"unknown pulse-train argument(s) {sorted(unknown)}; valid: jitter, keep, spread, "
            f"amplitude, distractors, noise"
        )
    seed = check_int("seed", seed, 0)
    probe = np.exp(np.linspace(math.log(lo), math.log(hi), 1001))
    if all(compatible(p, q, margin) for q in probe):
        raise SpecError(
            f"period_range=({lo:g}, {hi:g}) holds only periods within margin={margin:g} of period={p:g} / k; "
            f"widen it or lower margin"
        )
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.float32)
    y[: n // 2] = 1.0
    y = y[rng.permutation(n)]
    per = np.empty((n, others + 1), dtype=np.float64)
    for i in range(n):
        for j in range(others + 1):
            if j == 0 and y[i] == 1:
                per[i, j] = p
                continue
            q = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            while compatible(p, q, margin):
                q = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            per[i, j] = q
    trains = pulse_trains(per, length, seed=seed + 1, **shape)  # type: ignore[arg-type]
    return trains.x, torch.from_numpy(y), trains


def tempo_task(
    n: int,
    length: int,
    bpm_min: float,
    bpm_max: float,
    frame_rate: float | Fraction,
    *,
    seed: int = 0,
    **shape: float | tuple[float, float],
) -> tuple[PulseTrains, Tensor]:
    """One pulse train per row at a tempo drawn log-uniformly from ``[bpm_min, bpm_max]``.

    The period of a row is ``60 * frame_rate / bpm`` frames (exactly :func:`atrous.frames_per_beat`,
    then as a float); what makes the task hard is set by ``**shape`` (jitter, missing pulses,
    random distractor onsets, noise).

    Args:
        n: rows, ``>= 1``.
        length: frames per row, ``>= 1``.
        bpm_min, bpm_max: the tempo range, ``0 < bpm_min <= bpm_max``, with the fastest tempo's
            period at least one frame.
        frame_rate: frames per second, ``> 0``.
        seed: seed of ``numpy.random.default_rng`` (the pulse trains use ``seed + 1``).
        **shape: ``jitter``, ``keep``, ``spread``, ``amplitude``, ``distractors``, ``noise`` of
            :func:`pulse_trains`.

    Returns:
        ``(trains, bpm)``: the :class:`PulseTrains` and the ``(n,)`` float64 tempi.

    Examples:
        >>> trains, bpm = tempo_task(3, 500, 60, 180, 100, seed=0)
        >>> bool(((bpm >= 60) & (bpm <= 180)).all())
        True
        >>> torch.allclose(trains.periods[:, 0], 6000 / bpm)
        True
    """
    n = check_int("n", n, 1)
    lo = _number("bpm_min", bpm_min, 0.0)
    hi = _number("bpm_max", bpm_max, lo)
    if lo <= 0:
        raise SpecError(f"bpm_min must be > 0, got {bpm_min!r}")
    if isinstance(frame_rate, Fraction):
        fr = frame_rate
    else:
        fr = Fraction(_number("frame_rate", frame_rate, 0.0))
    if not fr > 0:
        raise SpecError(f"frame_rate must be > 0, got {frame_rate!r}")
    fastest = float(frames_per_beat(Fraction(hi), fr))
    if fastest < 1:
        raise SpecError(f"bpm_max must be <= {float(fr * 60):g} (one beat per frame at frame_rate={fr}), got {hi:g}")
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    bpm = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    per = float(fr) * 60.0 / bpm
    trains = pulse_trains(per, length, seed=seed + 1, **shape)  # type: ignore[arg-type]
    return trains, torch.from_numpy(bpm)
