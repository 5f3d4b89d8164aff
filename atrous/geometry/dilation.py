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

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from atrous.errors import SpecError
from atrous.geometry.field import Field
from atrous.geometry.spec import Axis, check_int

__all__ = [
    "Coverage",
    "DilationPlan",
    "HDCResult",
    "coverage",
    "exponential_schedule",
    "frames_per_beat",
    "hdc",
    "plan_dilations",
    "sawtooth_schedule",
    "stack_receptive_field",
    "tcn_receptive_field",
    "wavenet_schedule",
]


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
        holes: offsets inside the field that no path reaches.
        period: the holes form the multiples-complement of this period (the gcd of the
            rates), or ``None`` when holes exist without a period (irregular gaps), or 1
            when there are no holes.
    """

    dilations: tuple[int, ...]
    kernel_size: int
    size: int
    holes: tuple[int, ...]
    period: int | None

    @property
    def ok(self) -> bool:
        return not self.holes

    @property
    def density(self) -> Fraction:
        """Fraction of the field that is read."""
        return Fraction(self.size - len(self.holes), self.size)


def coverage(dilations: Sequence[int], kernel_size: int = 3) -> Coverage:
    """Which offsets of a stride-1 dilated stack's field are actually read (exact).

    Examples:
        >>> c = coverage([2, 2, 2], 3)
        >>> c.size, len(c.holes), c.period
        (13, 6, 2)
        >>> coverage([1, 2, 5], 3).holes
        ()
    """
    rates = _rates(dilations)
    k = check_int("kernel_size", kernel_size, 1)
    field = Field.identity()
    for d in rates:
        field = field.then(Axis("conv", k, 1, d))
    holes = field.holes
    if not holes:
        period: int | None = 1
    else:
        g = _gcd_all(rates) if k > 1 else 0
        expected = tuple(i for i in range(field.size) if g == 0 or i % g)
        period = g if g > 1 and holes == expected else None
    return Coverage(rates, k, field.size, holes, period)


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
    n = check_int("levels", levels, 1)
    k = check_int("kernel_size", kernel_size, 1)
    return 1 + 2 * (k - 1) * ((1 << n) - 1)


def exponential_schedule(levels: int, base: int = 2) -> tuple[int, ...]:
    """``1, base, base^2, ...``: the WaveNet / TCN schedule.

    Examples:
        >>> exponential_schedule(4)
        (1, 2, 4, 8)
    """
    n = check_int("levels", levels, 1)
    b = check_int("base", base, 2)
    return tuple(b**i for i in range(n))


def wavenet_schedule(layers_per_cycle: int = 10, cycles: int = 3) -> tuple[int, ...]:
    """WaveNet's cycles ``1, 2, ..., 2^(L-1)`` repeated ``cycles`` times.

    Examples:
        >>> len(wavenet_schedule(10, 3)), wavenet_schedule(10, 3)[9]
        (30, 512)
    """
    n = check_int("layers_per_cycle", layers_per_cycle, 1)
    c = check_int("cycles", cycles, 1)
    return exponential_schedule(n) * c


def sawtooth_schedule(rates: Sequence[int] = (1, 2, 5), repeats: int = 1) -> tuple[int, ...]:
    """A hybrid (HDC) group of rates repeated: ``1, 2, 5, 1, 2, 5, ...``.

    Examples:
        >>> sawtooth_schedule((1, 2, 3), 2)
        (1, 2, 3, 1, 2, 3)
    """
    group = _rates(rates, "rates")
    n = check_int("repeats", repeats, 1)
    return group * n


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
    rates: list[int] = []
    rf = 1
    while rf < target:
        need = -(-(target - rf) // (k - 1))
        d = min(rf, need) if cap is None else min(rf, need, cap)
        rates.append(d)
        rf += (k - 1) * d
    plan = DilationPlan(tuple(rates), k, target, rf)
    assert not rates or coverage(rates, k).ok
    return plan


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
