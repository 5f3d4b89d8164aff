"""Dilation schedules: the hybrid-dilated-convolution rule, exact coverage and planners.

Examples:
    >>> hdc([1, 2, 5], 3).ok
    True
    >>> hdc([2, 4, 8], 3).ok
    False
    >>> coverage([2, 2, 2], 3).period
    2
    >>> plan_dilations(1000, 3).dilations
    (1, 3, 9, 27, 81, 243, 136)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from math import gcd
from typing import Any

from atrous.errors import SpecError
from atrous.geometry._runs import materialise
from atrous.geometry.field import Field
from atrous.geometry.spec import Axis, check_int

__all__ = [
    "MAX_LAYERS",
    "MAX_RATE_BITS",
    "Coverage",
    "DilationPlan",
    "HDCResult",
    "TempoBank",
    "TempoDilation",
    "coverage",
    "dilation_schedule",
    "exponential_schedule",
    "frames_per_beat",
    "hdc",
    "plan_dilations",
    "replacement_rates",
    "sawtooth_schedule",
    "stack_receptive_field",
    "tcn_receptive_field",
    "tempo_bank",
    "tempo_dilations",
    "wavenet_schedule",
]


#: The most layers (or bank entries) a planner or schedule returns: past it they refuse with a
#: SpecError naming the parameter, so that no input makes them run for long or fill the memory.
MAX_LAYERS = 10_000

#: Schedules refuse to produce a dilation of ``2**MAX_RATE_BITS`` or more.
MAX_RATE_BITS = 4096


def _show(n: int) -> str:
    """An integer as text, or its number of digits when it is too long to read."""
    if n < 10**30:
        return str(n)
    digits = len(str(n)) if n.bit_length() < 14_000 else int(n.bit_length() * math.log10(2)) + 1
    return f"an integer of {digits} digits"


def _check_layers(count: int, what: str) -> None:
    if count > MAX_LAYERS:
        raise SpecError(f"{what} gives {count} layers; schedules are limited to MAX_LAYERS={MAX_LAYERS}")


def _rates(dilations: Sequence[int], name: str = "dilations") -> tuple[int, ...]:
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence):
        raise SpecError(f"{name} must be a sequence of integers >= 1, got {dilations!r}")
    if len(dilations) == 0:
        raise SpecError(f"{name} must have at least one entry, got []")
    return tuple(check_int(f"{name}[{i}]", d, 1) for i, d in enumerate(dilations))


@dataclass(frozen=True)
class HDCResult:
    """Verdict of the hybrid-dilated-convolution rule (Wang et al. 2018).

    Attributes:
        dilations, kernel_size: the input.
        M: the chain ``M_1..M_n`` (``M[0]`` is ``M_1``): the largest distance between two
            taps of the stack that are next to each other, seen from layer ``i``.
        rule_ok: ``M_2 <= kernel_size`` (the paper's design rule).
        coprime: the rates share no common factor above 1 (the paper's second condition).
        ok: both hold.
        covered: the exact answer, from :func:`coverage`: no holes at all. The paper's rule
            is a design heuristic (it depends on the order of the rates and assumes rate 1
            comes first); where the two disagree, ``covered`` is right.
    """

    dilations: tuple[int, ...]
    kernel_size: int
    M: tuple[int, ...]
    rule_ok: bool
    coprime: bool
    covered: bool

    @property
    def ok(self) -> bool:
        return self.rule_ok and self.coprime

    def describe(self) -> str:
        chain = ", ".join(f"M{i + 1}={m}" for i, m in enumerate(self.M))
        verdict = "passes the HDC rule" if self.ok else "fails the HDC rule"
        why = []
        if not self.rule_ok:
            why.append(f"M2={self.M[1]} > kernel_size={self.kernel_size}")
        if not self.coprime:
            why.append(f"rates share the factor {_gcd_all(self.dilations)}")
        exact = "no holes" if self.covered else "holes"
        return f"{verdict} ({chain})" + (": " + "; ".join(why) if why else "") + f"; exact coverage: {exact}"


def _gcd_all(values: Sequence[int]) -> int:
    g = 0
    for v in values:
        g = gcd(g, v)
    return g


def hdc(dilations: Sequence[int], kernel_size: int = 3) -> HDCResult:
    """The HDC rule: ``M_n = r_n``, ``M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i)``.

    The paper calls rates gridding-free when ``M_2 <= kernel_size`` and they share no common
    factor (a single rate passes only when it is 1). That rule is a heuristic: ``[2, 3]``
    with ``K = 3`` passes it yet leaves holes, ``[1, 1, 7]`` with ``K = 4`` fails it yet has none. The result
    therefore also carries ``covered``, the exact answer of :func:`coverage`.

    Examples:
        >>> hdc([1, 2, 5], 3).M
        (1, 2, 5)
        >>> hdc([1, 2, 9], 3).describe()
        'fails the HDC rule (M1=3, M2=5, M3=9): M2=5 > kernel_size=3; exact coverage: holes'
    """
    rates = _rates(dilations)
    k = check_int("kernel_size", kernel_size, 2)
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        nxt = m[i + 1]
        m[i] = max(nxt - 2 * rates[i], nxt - 2 * (nxt - rates[i]), rates[i])
    rule_ok = m[1] <= k if len(rates) > 1 else rates[0] == 1
    return HDCResult(rates, k, tuple(m), rule_ok, _gcd_all(rates) == 1, coverage(rates, k).ok)


@dataclass(frozen=True)
class Coverage:
    """Exact coverage of a stride-1 stack of dilated convolutions (one axis).

    Attributes:
        size: receptive field ``1 + (k-1) * sum(dilations)``.
        hole_count: offsets inside the field that no path reaches (arithmetic: any rates).
        hole_runs: those offsets as maximal ``(first, last)`` intervals.
        period: the holes form the multiples-complement of this period (the gcd of the
            rates), or ``None`` when holes exist without a period (irregular gaps), or 1
            when there are no holes.
    """

    dilations: tuple[int, ...]
    kernel_size: int
    size: int
    hole_count: int
    hole_runs: tuple[tuple[int, int], ...]
    period: int | None

    @property
    def holes(self) -> tuple[int, ...]:
        """The hole offsets, listed (refused above ``atrous.geometry.LIMIT`` holes)."""
        return materialise(list(self.hole_runs), "the holes of this stack")

    @property
    def ok(self) -> bool:
        return self.hole_count == 0

    @property
    def density(self) -> Fraction:
        """Fraction of the field that is read."""
        return Fraction(self.size - self.hole_count, self.size)


def coverage(dilations: Sequence[int], kernel_size: int = 3) -> Coverage:
    """Which offsets of a stride-1 dilated stack's field are actually read (exact).

    Computed on runs of taps, so its cost does not grow with the rates.

    Examples:
        >>> c = coverage([2, 2, 2], 3)
        >>> c.size, len(c.holes), c.period
        (13, 6, 2)
        >>> coverage([1, 2, 5], 3).holes
        ()
        >>> coverage([1, 2, 5, 10**6], 3).hole_count
        1999966
    """
    rates = _rates(dilations)
    k = check_int("kernel_size", kernel_size, 1)
    field = Field.identity()
    for d in rates:
        field = field.then(Axis("conv", k, 1, d))
    phase = field.phases[0]
    holes = phase.hole_count
    if not holes:
        period: int | None = 1
    else:
        g = _gcd_all(rates) if k > 1 else 0
        # every tap is a sum of multiples of g: the taps are all the multiples exactly when
        # there are (size - 1) / g + 1 of them
        period = g if g > 1 and phase.taps == (field.size - 1) // g + 1 else None
    return Coverage(rates, k, field.size, holes, phase.hole_runs, period)


def stack_receptive_field(dilations: Sequence[int], kernel_size: int = 3) -> int:
    """Receptive field of a stride-1 stack: ``1 + (k-1) * sum(dilations)``.

    Examples:
        >>> [stack_receptive_field([1, 2, 4][:n]) for n in (1, 2, 3)]
        [3, 7, 15]
    """
    rates = _rates(dilations)
    k = check_int("kernel_size", kernel_size, 1)
    return 1 + (k - 1) * sum(rates)


def tcn_receptive_field(levels: int, kernel_size: int) -> int:
    """Receptive field of Bai et al.'s TCN: ``1 + 2 (k-1) (2^n - 1)`` (two convs per level).

    Examples:
        >>> tcn_receptive_field(8, 8)
        3571
    """
    n = check_int("levels", levels, 1, MAX_LAYERS)
    k = check_int("kernel_size", kernel_size, 1)
    return 1 + 2 * (k - 1) * ((1 << n) - 1)


def exponential_schedule(levels: int, base: int = 2) -> tuple[int, ...]:
    """``1, base, base^2, ...``: the WaveNet / TCN schedule.

    Examples:
        >>> exponential_schedule(4)
        (1, 2, 4, 8)
    """
    n = check_int("levels", levels, 1, MAX_LAYERS)
    b = check_int("base", base, 2)
    if (n - 1) * (b.bit_length() - 1) >= MAX_RATE_BITS:
        raise SpecError(
            f"levels={n} with base={b} gives the dilation base**{n - 1}, at least 2**{(n - 1) * (b.bit_length() - 1)}; "
            f"schedules stay below 2**MAX_RATE_BITS = 2**{MAX_RATE_BITS}"
        )
    return tuple(b**i for i in range(n))


def wavenet_schedule(layers_per_cycle: int = 10, cycles: int = 3) -> tuple[int, ...]:
    """WaveNet's cycles ``1, 2, ..., 2^(L-1)`` repeated ``cycles`` times.

    Examples:
        >>> len(wavenet_schedule(10, 3)), wavenet_schedule(10, 3)[9]
        (30, 512)
    """
    n = check_int("layers_per_cycle", layers_per_cycle, 1, MAX_LAYERS)
    c = check_int("cycles", cycles, 1)
    _check_layers(n * c, f"layers_per_cycle={n} times cycles={c}")
    return exponential_schedule(n) * c


def sawtooth_schedule(rates: Sequence[int] = (1, 2, 5), repeats: int = 1) -> tuple[int, ...]:
    """A hybrid (HDC) group of rates repeated: ``1, 2, 5, 1, 2, 5, ...``.

    Examples:
        >>> sawtooth_schedule((1, 2, 3), 2)
        (1, 2, 3, 1, 2, 3)
    """
    group = _rates(rates, "rates")
    n = check_int("repeats", repeats, 1)
    _check_layers(len(group) * n, f"{len(group)} rates times repeats={n}")
    return group * n


def dilation_schedule(schedule: str | Sequence[int], levels: int) -> tuple[int, ...]:
    """Dilations of ``levels`` blocks (the schedules of :class:`atrous.nn.TCN`).

    Args:
        schedule: ``"exponential"`` (``1, 2, 4, ...``), ``"reset:N"`` (``2^(i mod N)``: cycles
            of ``N`` blocks, WaveNet-style) or an explicit sequence of ints.

    Examples:
        >>> from atrous.geometry import dilation_schedule
        >>> dilation_schedule("reset:3", 7)
        (1, 2, 4, 1, 2, 4, 1)
    """
    n = check_int("levels", levels, 1)
    if isinstance(schedule, str):
        if schedule == "exponential":
            return exponential_schedule(n)
        if schedule.startswith("reset:"):
            period = check_int("reset period", _parse_int(schedule[6:], schedule), 1)
            return tuple(2 ** (i % period) for i in range(n))
        raise SpecError(f"dilations must be 'exponential', 'reset:N' or a list of ints, got {schedule!r}")
    rates = tuple(check_int(f"dilations[{i}]", d, 1) for i, d in enumerate(_int_list(schedule, "dilations")))
    if len(rates) != n:
        raise SpecError(f"dilations has {len(rates)} entries, expected {n} (one per block)")
    return rates


def _int_list(values: object, name: str) -> list[object]:
    """The entries of a list-like argument; a scalar or a string is refused in one clear line."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SpecError(
            f"{name} must be a list of integers (one per block, e.g. [24] * 8), got {type(values).__name__} {values!r}"
        )
    return list(values)


def _parse_int(text: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SpecError(f"dilations must be 'exponential', 'reset:N' or a list of ints, got {whole!r}") from None


@dataclass(frozen=True)
class DilationPlan:
    """A gridding-free schedule found by :func:`plan_dilations`."""

    dilations: tuple[int, ...]
    kernel_size: int
    target: int
    receptive_field: int

    @property
    def layers(self) -> int:
        return len(self.dilations)


def plan_dilations(target_rf: int, kernel_size: int = 3, *, max_dilation: int | None = None) -> DilationPlan:
    """The fewest stride-1 layers whose field reaches ``target_rf`` with no holes.

    A stack whose field ``[0, R)`` is contiguous stays contiguous when the next rate is at
    most ``R``, and ``k`` taps at rates ``1, k, k^2, ...`` cover ``k^n`` positions, the most
    ``n`` layers of ``k`` taps can reach. The planner takes the largest allowed rate at each
    layer (``min(R, max_dilation)``) and the smallest sufficient one for the last layer, so
    the result overshoots the target as little as that layer count allows.

    Args:
        target_rf: receptive field to reach, ``>= 1``.
        kernel_size: taps per layer, ``>= 2``.
        max_dilation: largest rate allowed (e.g. by the resolution of the feature map).

    Examples:
        >>> plan_dilations(15, 3).dilations
        (1, 3, 3)
        >>> plan_dilations(100, 3, max_dilation=8).dilations
        (1, 3, 8, 8, 8, 8, 8, 6)
    """
    target = check_int("target_rf", target_rf, 1)
    k = check_int("kernel_size", kernel_size, 2)
    cap = None if max_dilation is None else check_int("max_dilation", max_dilation, 1)

    def too_many(layers: int, exact: bool = True) -> SpecError:
        given = f"target_rf={_show(target)} with kernel_size={k}" + (f" and max_dilation={_show(cap)}" if cap else "")
        return SpecError(
            f"{given} needs {'' if exact else 'about '}{layers} layers; plans are limited to MAX_LAYERS={MAX_LAYERS} layers "
            "(raise max_dilation or kernel_size, or lower target_rf)"
        )

    rates: list[int] = []
    rf = 1
    # the field grows by a factor k per layer until it reaches the cap: O(log target) layers
    while rf < target and (cap is None or rf < cap):
        if len(rates) == MAX_LAYERS:  # the field grows k-fold per layer: about log_k(target) of them
            raise too_many(math.ceil(math.log(target) / math.log(k)), exact=False)
        need = -(-(target - rf) // (k - 1))
        d = min(rf, need)
        rates.append(d)
        rf += (k - 1) * d
    if rf < target and cap is not None:
        # from here on every layer takes the cap but the last, which takes what is still needed:
        # counted, not looped, so that a far target with a small cap is refused at once
        step = (k - 1) * cap
        more = -(-(target - rf) // step)
        if len(rates) + more > MAX_LAYERS:
            raise too_many(len(rates) + more)
        last = -(-(target - rf - (more - 1) * step) // (k - 1))
        rates += [cap] * (more - 1) + [last]
        rf += (more - 1) * step + (k - 1) * last
    # gridding-free by construction: each rate is at most the field before it (checked in O(n))
    reach = 1
    for d in rates:
        assert d <= reach
        reach += (k - 1) * d
    assert reach == rf
    return DilationPlan(tuple(rates), k, target, rf)


def replacement_rates(dilations: Any, kernel_size: int) -> tuple[int, ...]:
    """Gridding-free rates for a stack with the same kernel: as many layers (or the fewest
    more) reaching at least the same receptive field with no holes.

    Examples:
        >>> from atrous.geometry import replacement_rates
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


def frames_per_beat(bpm: float | Fraction | int, frame_rate: float | Fraction | int) -> Fraction:
    """Frames between beats at ``bpm`` beats per minute and ``frame_rate`` frames per second.

    Exact (a ``Fraction``); a layer whose dilation equals this period spans one beat per
    tap. Floats are taken at their exact binary value: pass ``Fraction`` or int for exactness.

    Examples:
        >>> frames_per_beat(120, 100)
        Fraction(50, 1)
        >>> frames_per_beat(128, 44100 // 512)
        Fraction(645, 16)
    """
    for name, v in (("bpm", bpm), ("frame_rate", frame_rate)):
        if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)) or not v > 0:
            raise SpecError(f"{name} must be a positive number, got {v!r}")
    return Fraction(frame_rate) * 60 / Fraction(bpm)  # type: ignore[no-any-return]


def _positive_fraction(name: str, value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or not value > 0:
        raise SpecError(f"{name} must be a positive number, got {value!r}")
    if isinstance(value, float) and value == float("inf"):
        raise SpecError(f"{name} must be a positive finite number, got {value!r}")
    return Fraction(value)


def _tolerance(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or not 0 <= value < 1:
        raise SpecError(f"tolerance must be a number in [0, 1) (a relative error), got {value!r}")
    return Fraction(value)


def _nearest(period: Fraction) -> int:
    """The integer nearest to ``period``; a tie (``n + 1/2``) goes to the larger one."""
    return int((period + Fraction(1, 2)).__floor__())


def _up(x: Fraction) -> str:
    """``x`` rounded up to two significant digits (a bound that is safe to pass back)."""
    digits = 2 - len(str(int(x))) if x >= 1 else 2 + len(str(int(1 / x))) - 1
    scale = Fraction(10) ** digits
    return f"{float((x * scale).__ceil__() / scale):g}"


def _pct(x: Fraction) -> str:
    return f"{float(x) * 100:.3g}%"


@dataclass(frozen=True)
class TempoDilation:
    """One multiple of the beat period and the integer dilation that stands for it.

    Attributes:
        beats: the multiple of the beat (``Fraction(1, 2)`` an eighth note in 4/4, ``4`` a bar).
        period: the exact period in frames, ``beats * frame_rate * 60 / bpm``.
        dilation: the integer nearest to ``period`` (a tie goes to the larger one).
        kernel_size: taps of the layer, spanning ``kernel_size - 1`` periods.
        error: signed relative rounding error ``(dilation - period) / period``.
        drift: frames by which the last tap misses the ``(kernel_size - 1)``-th pulse,
            ``(kernel_size - 1) * (dilation - period)``: rounding errors add up along the taps.
    """

    beats: Fraction
    period: Fraction
    dilation: int
    kernel_size: int
    error: Fraction
    drift: Fraction

    @property
    def receptive_field(self) -> int:
        """Frames one output reads: ``(kernel_size - 1) * dilation + 1``."""
        return (self.kernel_size - 1) * self.dilation + 1

    def describe(self) -> str:
        return (
            f"{self.beats} beat(s): period {self.period} = {float(self.period):.4g} frames -> dilation "
            f"{self.dilation} (error {_pct(self.error)}, last tap off by {float(self.drift):.3g} frames)"
        )


def tempo_dilations(
    bpm: float | Fraction | int,
    frame_rate: float | Fraction | int,
    *,
    beats: Sequence[float | Fraction | int] = (1,),
    kernel_size: int = 2,
    tolerance: float | Fraction | int = Fraction(1, 25),
) -> tuple[TempoDilation, ...]:
    """Integer dilations for the beat period (and its multiples) at a tempo, rounding reported.

    A ``kernel_size``-tap layer with dilation ``d`` reads frames ``t, t + d, ...``: it sees
    pulses that repeat every ``d`` frames together. At ``bpm`` beats per minute and
    ``frame_rate`` frames per second the beat lasts :func:`frames_per_beat` frames, rarely an
    integer; each entry says which integer stands for ``beats`` times that period and by how
    much it misses. Nothing is rounded silently: a rounding worse than ``tolerance`` is refused.

    Args:
        bpm: tempo in beats per minute, ``> 0``.
        frame_rate: frames per second, ``> 0`` (e.g. ``Fraction(44100, 512)``).
        beats: multiples of the beat period, each ``> 0``: ``Fraction(1, 2)``, ``Fraction(1, 4)``
            for sub-beats, ``4`` for a bar of 4/4. Floats are taken at their exact binary value.
        kernel_size: taps per layer, ``>= 2``; only ``drift`` and ``receptive_field`` depend on it.
        tolerance: the largest relative rounding error accepted, in ``[0, 1)``; the default
            ``1/25`` is the 4 % of the usual tempo-accuracy measure (MIREX "Acc1").

    Returns:
        One :class:`TempoDilation` per entry of ``beats``, in that order.

    Raises:
        SpecError: a bad argument; a period below one frame (naming the ``beats`` entry and
            the largest ``bpm`` that works); a rounding error above ``tolerance`` (naming the
            smallest tolerance that would accept it).

    Examples:
        >>> [t.dilation for t in tempo_dilations(120, 100, beats=(Fraction(1, 2), 1, 4))]
        [25, 50, 200]
        >>> t = tempo_dilations(128, Fraction(44100, 512))[0]
        >>> t.period, t.dilation, t.error
        (Fraction(165375, 4096), 40, Fraction(-307, 33075))
        >>> print(t.describe())
        1 beat(s): period 165375/4096 = 40.37 frames -> dilation 40 (error -0.928%, last tap off by -0.375 frames)
        >>> tempo_dilations(128, Fraction(44100, 512), beats=(Fraction(1, 16),))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        atrous.errors.SpecError: beats[0]=1/16 ... rounds to dilation 3, an error of 18.9%, above tolerance=1/25; ...
    """
    fpb = frames_per_beat(bpm, frame_rate)
    k = check_int("kernel_size", kernel_size, 2)
    tol = _tolerance(tolerance)
    if isinstance(beats, (str, bytes)) or not isinstance(beats, Sequence) or len(beats) == 0:
        raise SpecError(f"beats must be a non-empty sequence of positive numbers, got {beats!r}")
    where = f"at bpm={Fraction(bpm)}, frame_rate={Fraction(frame_rate)}"
    out = []
    for i, b in enumerate(beats):
        m = _positive_fraction(f"beats[{i}]", b)
        period = m * fpb
        if period < 1:
            raise SpecError(
                f"beats[{i}]={m} {where}: the period {period} = {float(period):.4g} frames is below one frame; "
                f"beats[{i}] must be >= {1 / fpb} at this tempo (or bpm <= {m * Fraction(frame_rate) * 60})"
            )
        d = _nearest(period)
        err = (d - period) / period
        if abs(err) > tol:
            raise SpecError(
                f"beats[{i}]={m} {where}: the period {period} = {float(period):.4g} frames rounds to dilation {d}, "
                f"an error of {_pct(abs(err))}, above tolerance={tol}; accept it with tolerance >= "
                f"{_up(abs(err))} or use a higher frame_rate"
            )
        out.append(TempoDilation(m, period, d, k, err, (k - 1) * (d - period)))
    return tuple(out)


@dataclass(frozen=True)
class TempoBank:
    """Dilations whose periods cover a tempo range within a relative tolerance.

    Dilation ``dilations[i]`` stands for every period ``p`` with ``|d - p| <= tolerance * p``,
    that is the tempi ``bpm_ranges[i]`` (inclusive); together the ranges cover
    ``[bpm_min, bpm_max]`` with no gap.

    Attributes:
        dilations: increasing, so the tempi of ``bpm_ranges`` decrease.
        bpm_ranges: ``(slowest, fastest)`` tempo covered by each dilation, clipped to the range.
        bpm_min, bpm_max, frame_rate, beats, tolerance: the input.
        worst_error: the largest relative error of the nearest bank dilation over the range.
    """

    dilations: tuple[int, ...]
    bpm_ranges: tuple[tuple[Fraction, Fraction], ...]
    bpm_min: Fraction
    bpm_max: Fraction
    frame_rate: Fraction
    beats: Fraction
    tolerance: Fraction
    worst_error: Fraction

    def __len__(self) -> int:
        return len(self.dilations)

    def nearest(self, bpm: float | Fraction | int) -> TempoDilation:
        """The bank's dilation with the smallest relative error for ``bpm`` (any tempo, in range or not).

        Returned as a 2-tap :class:`TempoDilation`; a tie goes to the smaller dilation.

        Examples:
            >>> t = tempo_bank(60, 180, 100).nearest(120)
            >>> t.period, t.dilation, t.error
            (Fraction(50, 1), 48, Fraction(-1, 25))
        """
        period = self.beats * frames_per_beat(bpm, self.frame_rate)
        d = min(self.dilations, key=lambda d: (abs(d - period) / period, d))
        return TempoDilation(self.beats, period, d, 2, (d - period) / period, d - period)

    def index(self, bpm: float | Fraction | int) -> int:
        """Position in ``dilations`` of :meth:`nearest` (a class label for tempo estimation)."""
        return self.dilations.index(self.nearest(bpm).dilation)


def tempo_bank(
    bpm_min: float | Fraction | int,
    bpm_max: float | Fraction | int,
    frame_rate: float | Fraction | int,
    *,
    beats: float | Fraction | int = 1,
    tolerance: float | Fraction | int = Fraction(1, 25),
) -> TempoBank:
    """The fewest dilations that cover every beat period of a tempo range within ``tolerance``.

    Periods run from ``P_lo = beats * 60 * frame_rate / bpm_max`` to ``P_hi`` (at
    ``bpm_min``). Dilation ``d`` covers the periods ``[d / (1 + tol), d / (1 - tol)]``; the
    greedy choice, from ``P_lo`` upwards, of the largest ``d`` that still covers the lowest
    uncovered period gives the fewest dilations (interval covering), exactly.

    Args:
        bpm_min, bpm_max: the tempo range, ``0 < bpm_min <= bpm_max``.
        frame_rate: frames per second, ``> 0``.
        beats: the multiple of the beat period to cover (``1`` the beat, ``4`` a bar).
        tolerance: largest relative error between a period and its dilation, in ``[0, 1)``.

    Returns:
        A :class:`TempoBank`.

    Raises:
        SpecError: a bad argument; periods below one frame (``bpm_max`` too high); a tolerance
            too small for consecutive integers to cover the range (``tolerance`` must be at
            least ``1 / (2 d + 1)`` around period ``d``; the message gives the bound).

    Examples:
        >>> bank = tempo_bank(60, 180, 100)
        >>> bank.dilations
        (34, 36, 39, 42, 45, 48, 52, 56, 60, 65, 70, 75, 81, 87, 94, 101)
        >>> bank.bpm_ranges[0], bank.bpm_ranges[-1], bank.worst_error
        ((Fraction(2880, 17), Fraction(180, 1)), (Fraction(60, 1), Fraction(6240, 101)), Fraction(1, 25))
        >>> tempo_bank(60, 180, 10, tolerance=Fraction(1, 50))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        atrous.errors.SpecError: tolerance=1/50 cannot cover the tempi 60..180 at frame_rate=10: ... >= 1/7 ...
    """
    lo_bpm = _positive_fraction("bpm_min", bpm_min)
    hi_bpm = _positive_fraction("bpm_max", bpm_max)
    fr = _positive_fraction("frame_rate", frame_rate)
    m = _positive_fraction("beats", beats)
    tol = _tolerance(tolerance)
    if hi_bpm < lo_bpm:
        raise SpecError(f"bpm_max must be >= bpm_min={lo_bpm}, got {hi_bpm}")
    p_lo = m * fr * 60 / hi_bpm
    p_hi = m * fr * 60 / lo_bpm
    if p_lo < 1:
        raise SpecError(
            f"bpm_max={hi_bpm} at frame_rate={fr}, beats={m}: the period {p_lo} = {float(p_lo):.4g} frames "
            f"is below one frame; bpm_max must be <= {m * fr * 60}"
        )
    if tol > 0:
        # each dilation covers periods up to (1 + tol) / (1 - tol) times the lowest one it takes:
        # refuse a bank that would be longer than MAX_LAYERS before building it
        ratio = math.log(p_hi.numerator) - math.log(p_hi.denominator)
        ratio -= math.log(p_lo.numerator) - math.log(p_lo.denominator)
        estimate = int(ratio / math.log((1 + tol) / (1 - tol))) + 1
        if estimate > MAX_LAYERS:
            raise SpecError(
                f"tempo_bank for the tempi {lo_bpm}..{hi_bpm} at tolerance={tol} needs at least {estimate} "
                f"dilations; banks are limited to MAX_LAYERS={MAX_LAYERS} (narrow the range or raise tolerance)"
            )
    chosen: list[int] = []
    reach = p_lo  # every period up to ``reach`` is covered (none yet: p_lo itself must be)
    while not chosen or reach < p_hi:
        if len(chosen) == MAX_LAYERS:
            raise SpecError(
                f"tempo_bank for the tempi {lo_bpm}..{hi_bpm} at tolerance={tol} needs more than "
                f"MAX_LAYERS={MAX_LAYERS} dilations (narrow the range or raise tolerance)"
            )
        d = int((reach * (1 + tol)).__floor__())  # the largest d with d / (1 + tol) <= reach
        last = chosen[-1] if chosen else 0
        if d <= last or d < reach * (1 - tol):  # no integer covers the periods just above reach
            d = max(d, last, 1)
            raise SpecError(
                f"tolerance={tol} cannot cover the tempi {lo_bpm}..{hi_bpm} at frame_rate={fr}: no dilation lies "
                f"within {_pct(tol)} of the periods between {reach} and {(d + 1) / (1 + tol)} frames (about "
                f"{float(m * fr * 60 / reach):.1f} bpm); use tolerance >= {Fraction(1, 2 * d + 1)} or a higher "
                f"frame_rate"
            )
        chosen.append(d)
        reach = d / (1 - tol)
    bank = tuple(chosen)
    ranges = tuple((m * fr * 60 / min(p_hi, d / (1 - tol)), m * fr * 60 / max(p_lo, d / (1 + tol))) for d in bank)
    # the nearest dilation's relative error peaks at the ends and halfway between neighbours;
    # for a fixed period the nearest dilation is one of the two around it (bank is increasing)
    candidates = [p_lo, p_hi, *(Fraction(d + e, 2) for d, e in pairwise(bank))]

    def error(p: Fraction) -> Fraction:
        i = bisect.bisect_left(bank, p)
        return min(abs(d - p) / p for d in bank[max(0, i - 1) : i + 1])

    worst = max(error(p) for p in candidates if p_lo <= p <= p_hi)
    return TempoBank(bank, ranges, lo_bpm, hi_bpm, fr, m, tol, worst)
