"""Receptive fields, exactly: tap sets, jumps, phases, holes and path counts, per axis.

A :class:`Field` describes, for one spatial axis, which input positions each output index of
a layer depends on, through the whole chain (or DAG) of layers before it.

The algebra. Every layer is shift-equivariant: shifting its input by ``a`` shifts its output
by ``b`` (a convolution or pooling with stride ``s``: ``a = s, b = 1``; a transposed
convolution or an upsampling by ``s``: ``a = 1, b = s``). A chain is therefore equivariant
with a pair ``(shift, period)``: output ``period*m + r`` depends on the input positions of
output ``r`` moved by ``m*shift``. The field stores one exact tap set per *phase* ``r`` in
``range(period)``; a chain of plain convolutions has period 1 and the classic numbers

``jump' = jump*s``, ``size' = size + (k-1)*d*jump``, ``start' = start - lo*jump``.

Transposed layers make the jump ``shift/period`` fractional: it is a ``Fraction``, never a
rounded float, and the tap sets of different phases differ (the checkerboard).

Without an input size the field describes an unbounded signal (positions may be negative:
they read padding). A field built with an input size (see :func:`receptive_field`) also
answers :meth:`Field.support` exactly near the borders, where padding in intermediate
layers cuts paths, and through circular, reflecting and replicating borders.

Cost. Tap sets are stored as runs (maximal intervals), so sizes, holes and periods are
arithmetic on a few runs, whatever the dilations (``10**15`` included); a set is materialised
only when asked for, and only below :data:`LIMIT` positions. Supports and path counts of a
bounded field walk the graph of fields once, each shared ancestor once (merges of residual
branches are not re-walked), in time polynomial in the depth.

Examples:
    >>> f = receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)])
    >>> [x.size for x in f]
    [3, 7, 15]
    >>> receptive_field([ConvSpec(3, dilation=2)] * 3)[-1].holes[:3]
    (1, 3, 5)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import overload

from atrous.errors import SpecError
from atrous.geometry import _runs
from atrous.geometry._runs import LIMIT, MAX_RUNS, Runs
from atrous.geometry.shape import axis_length
from atrous.geometry.spec import Axis, as_spec, check_int

__all__ = [
    "BOUNDARIES",
    "LIMIT",
    "MAX_PERIOD",
    "MAX_RUNS",
    "Alignment",
    "Field",
    "FieldND",
    "Merge",
    "Phase",
    "TapSpan",
    "axis_taps",
    "receptive_field",
    "tap_spans",
]

#: How a layer's input continues outside ``[0, n)``: zero padding (positions outside read
#: nothing), or PyTorch's circular, reflect and replicate padding (they read inside positions).
BOUNDARIES = ("zeros", "circular", "reflect", "replicate")
#: The most phases a field may have (a chain of upsamplings multiplies them).
MAX_PERIOD = 1 << 16


def _tap_ap(axis: Axis, y: int) -> tuple[int, int, int]:
    """The inputs that output ``y`` reads, as an arithmetic progression ``(first, step, count)``
    (unbounded signal; in the order of the kernel's taps)."""
    k, s, d, lo = axis.kernel, axis.stride, axis.dilation, axis.lo
    if axis.kind == "upsample":
        return y // s, 0, 1
    if axis.kind == "linear":
        # source position (y + 0.5)/s - 0.5 = (2y + 1 - s) / (2s): its floor, and the next
        # input unless the source lands exactly on an input (weight 0 there)
        q, rem = divmod(2 * y + 1 - s, 2 * s)
        return q, 1, 1 if rem == 0 else 2
    if axis.kind == "transposed":
        # taps t with (y + lo - t*d) divisible by s read input (y + lo - t*d) / s
        g = gcd(s, d)
        c = y + lo
        if c % g:
            return 0, 0, 0
        s2, d2 = s // g, d // g
        t0 = (c // g) * pow(d2, -1, s2) % s2 if s2 > 1 else 0
        if t0 >= k:
            return 0, 0, 0
        return (c - t0 * d) // s, -d2, (k - 1 - t0) // s2 + 1
    return y * s - lo, d, k


def axis_taps(axis: Axis, y: int) -> list[int]:
    """Positions in ``axis``'s input that output index ``y`` reads (unbounded signal).

    Examples:
        >>> axis_taps(Axis("conv", 3, 1, 4), 0)
        [0, 4, 8]
        >>> axis_taps(Axis("transposed", 4, 2, 1, 1, 1), 3)
        [2, 1]
    """
    first, step, n = _tap_ap(axis, y)
    if n > LIMIT:
        raise SpecError(f"output {y} reads {n:,} taps; listing more than {LIMIT:,} is refused")
    return [first + i * step for i in range(n)]


@dataclass(frozen=True)
class TapSpan:
    """The outputs of one tap that read the input itself (not padding): outputs
    ``out_start + m`` read input ``in_start + m*stride`` for ``m`` in ``range(count)``."""

    tap: int
    out_start: int
    count: int
    in_start: int


def tap_spans(axis: Axis, n: int) -> tuple[TapSpan, ...]:
    """Per tap of a convolution axis over an input of length ``n``: the run of outputs whose
    read of that tap lands inside the input (the others read padding, i.e. zeros). The
    per-tap view of :func:`axis_taps`: a convolution is the sum over taps of each tap's
    weight times its span of the input (used by the ``taps`` fast path).

    Examples:
        >>> [(t.out_start, t.count, t.in_start) for t in tap_spans(Axis("conv", 3, 1, 4, 4, 4), 10)]
        [(4, 6, 0), (0, 10, 0), (0, 6, 4)]
        >>> [(t.out_start, t.count, t.in_start) for t in tap_spans(Axis("conv", 3, 2, 1, 1, 1), 5)]
        [(1, 2, 1), (0, 3, 0), (0, 2, 1)]
    """
    if axis.kind != "conv":
        raise SpecError(f"tap_spans needs a convolution axis, got kind={axis.kind!r}")
    out = axis_length(axis, check_int("n", n, 1))
    s, lo = axis.stride, axis.lo
    spans = []
    for t in range(axis.kernel):
        shift = t * axis.dilation - lo  # output y reads input y*s + shift
        first = max(0, -(shift // s))  # smallest y with y*s + shift >= 0
        last = min(out - 1, (n - 1 - shift) // s)  # largest y with y*s + shift <= n - 1
        count = max(0, last - first + 1)
        spans.append(TapSpan(t, first if count else 0, count, first * s + shift if count else 0))
    return tuple(spans)


@dataclass(frozen=True)
class Phase:
    """The tap set of output index ``r`` (one phase of a periodic field), unbounded signal.

    ``start`` is the first input position read (``None`` when the phase reads nothing, e.g. a
    transposed convolution whose kernel is shorter than its stride); ``runs`` are the read
    positions relative to ``start`` as maximal ``(first, last)`` intervals.
    """

    start: int | None
    runs: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, runs: Runs) -> Phase:
        """The phase reading the absolute positions ``runs`` (coalesced)."""
        if not runs:
            return cls(None, ())
        base = runs[0][0]
        return cls(base, tuple((a - base, b - base) for a, b in runs))

    def _absolute(self, by: int = 0) -> Runs:
        if self.start is None:
            return []
        base = self.start + by
        return [(base + a, base + b) for a, b in self.runs]

    @property
    def size(self) -> int:
        """Length of the bounding interval (0 for an empty phase)."""
        return self.runs[-1][1] + 1 if self.runs else 0

    @property
    def taps(self) -> int:
        """Number of distinct input positions read."""
        return _runs.count(list(self.runs))

    @property
    def hole_count(self) -> int:
        """Positions inside the bounding interval that are not read."""
        return self.size - self.taps

    @property
    def hole_runs(self) -> tuple[tuple[int, int], ...]:
        """The holes (offsets from ``start``) as maximal ``(first, last)`` intervals."""
        return tuple(_runs.complement(list(self.runs)))

    @property
    def spacing(self) -> int:
        """The gcd of the gaps between consecutive taps: 1 for a solid tap set, the grid's
        period for a regular one (0 for a single tap)."""
        g = 0
        runs = self.runs
        for a, b in runs:
            if b > a:
                return 1
        for (a, _), (a2, _) in itertools.pairwise(runs):
            g = gcd(g, a2 - a)
        return g

    @property
    def offsets(self) -> tuple[int, ...]:
        """Positions read, relative to ``start`` (refused above :data:`LIMIT` positions)."""
        return _runs.materialise(list(self.runs), "this tap set")

    @property
    def holes(self) -> tuple[int, ...]:
        """Offsets inside the bounding interval that are not read (the gridding)."""
        return _runs.materialise(list(self.hole_runs), "the holes of this tap set")

    @property
    def mask(self) -> int:
        """Bit ``b`` set when position ``start + b`` is read (refused above :data:`LIMIT` bits)."""
        if self.size > LIMIT:
            raise SpecError(
                f"this tap set spans {self.size:,} positions; a mask of more than {LIMIT:,} bits is refused"
            )
        return _runs.to_mask(list(self.runs), 0)

    def positions(self) -> tuple[int, ...]:
        """The absolute input positions read."""
        return _runs.materialise(self._absolute(), "this tap set")


_serials = itertools.count()


class Field:
    """The receptive field of one layer's output along one axis (see the module docstring).

    Build fields with :func:`receptive_field` (chains), :meth:`then` (one more layer) and
    :meth:`union` (merging branches).

    Attributes:
        shift, period: output ``period*m + r`` reads the positions of output ``r`` moved by
            ``m*shift``.
        phases: one :class:`Phase` per output index ``r`` in ``range(period)``.
        axis: the layer axis that produced this field (``None`` for the input itself).
        boundary: how that layer's input continues past its ends (one of :data:`BOUNDARIES`).
        length: output length of this layer when built with an input size, else ``None``.
    """

    __slots__ = ("_branches", "_order", "_parent", "_serial", "axis", "boundary", "length", "period", "phases", "shift")

    def __init__(
        self,
        shift: int,
        period: int,
        phases: Sequence[Phase],
        *,
        axis: Axis | None = None,
        length: int | None = None,
        parent: Field | None = None,
        branches: Sequence[Field] = (),
        boundary: str = "zeros",
    ) -> None:
        if len(phases) != period:
            raise SpecError(f"a field of period {period} needs {period} phases, got {len(phases)}")
        if boundary not in BOUNDARIES:
            raise SpecError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
        self.shift = shift
        self.period = period
        self.phases = tuple(phases)
        self.axis = axis
        self.length = length
        self.boundary = boundary
        self._parent = parent
        self._branches = tuple(branches)
        self._serial = next(_serials)
        self._order: list[Field] | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def identity(cls, length: int | None = None) -> Field:
        """The field of the input itself: each position reads itself."""
        if length is not None:
            length = check_int("input_size", length, 1)
        return cls(1, 1, [Phase(0, ((0, 0),))], length=length)

    def then(self, axis: Axis, index: int | None = None, *, boundary: str = "zeros") -> Field:
        """The field after one more layer axis (``index`` names the axis in errors;
        ``boundary`` says how the layer's input continues past its ends)."""
        a, b = axis.shifts
        m = a // gcd(self.period, a)
        shift = self.shift * m
        period = (self.period * m // a) * b
        if period > MAX_PERIOD:
            raise SpecError(
                f"the field after this layer would have {period:,} phases; at most {MAX_PERIOD:,} are supported"
            )
        phases = [Phase.of(self._reads(axis, r)) for r in range(period)]
        length = None if self.length is None else axis_length(axis, self.length, index)
        return Field(shift, period, phases, axis=axis, length=length, parent=self, boundary=boundary)

    def _reads(self, axis: Axis, y: int) -> Runs:
        """Absolute input positions (unbounded) read by output ``y`` of one more layer."""
        first, step, n = _tap_ap(axis, y)
        if n == 0:
            return []
        p = self.period
        groups = p // gcd(p, abs(step)) if step else 1  # taps in one residue class mod p repeat
        stride = (groups * step // p) * self.shift  # the field shift between consecutive ones
        out: Runs = []
        for c in range(min(groups, n)):
            x = first + c * step
            q, r = divmod(x, p)
            phase = self.phases[r]
            if phase.start is None:
                continue
            copies = (n - c + groups - 1) // groups
            out.extend(_runs.smear(phase._absolute(q * self.shift), stride, copies))
        return _runs.coalesce(out)

    @staticmethod
    def union(fields: Sequence[Field], names: Sequence[str] | None = None) -> Merge:
        """Merge branches that feed one node (an add or a concatenation).

        The tap sets are united exactly when the branches' jumps agree; the returned
        :class:`Alignment` names the branches whose jumps or centres differ, and by how much.
        When jumps differ no periodic field exists: ``Merge.field`` is ``None``.
        """
        fields = list(fields)
        if not fields:
            raise SpecError("union needs at least one field, got none")
        names = list(names) if names is not None else [f"branch{i}" for i in range(len(fields))]
        if len(names) != len(fields):
            raise SpecError(f"names has {len(names)} entries, expected {len(fields)} (one per field)")
        lengths = {f.length for f in fields}
        if len(lengths) > 1:
            listing = ", ".join(f"{n}: {f.length}" for n, f in zip(names, fields, strict=True))
            raise SpecError(f"branches merged at one node must have the same length, got {listing}")
        alignment = Alignment(
            names=tuple(names),
            jumps=tuple(f.jump for f in fields),
            centres=tuple(f.centre for f in fields),
            sizes=tuple(f.size for f in fields),
        )
        if len(set(alignment.jumps)) > 1:
            return Merge(None, alignment)
        jump = fields[0].jump
        period = 1
        for f in fields:
            period = period * f.period // gcd(period, f.period)
        if period > MAX_PERIOD:
            raise SpecError(f"the merged field would have {period:,} phases; at most {MAX_PERIOD:,} are supported")
        shift = jump * period
        assert shift.denominator == 1
        phases = [Phase.of(_runs.coalesce(r for f in fields for r in f._unbounded(y))) for y in range(period)]
        merged = Field(int(shift), period, phases, length=fields[0].length, branches=fields)
        return Merge(merged, alignment)

    # ----------------------------------------------------------------- the algebra

    def _unbounded(self, y: int) -> Runs:
        m, r = divmod(y, self.period)
        return self.phases[r]._absolute(m * self.shift)

    @property
    def jump(self) -> Fraction:
        """Input positions per output index: ``shift / period`` (exact)."""
        return Fraction(self.shift, self.period)

    @property
    def size(self) -> int:
        """Bounding-interval length of an output's tap set (the largest over phases)."""
        return max(p.size for p in self.phases)

    @property
    def start(self) -> int:
        """First input position read by output 0 (``-start`` is the effective padding)."""
        for p in self.phases:  # phase 0, or the first phase that reads anything
            if p.start is not None:
                return p.start
        raise SpecError("this field reads no input at all (every phase is empty)")

    @property
    def centre(self) -> Fraction:
        """Centre of output 0's field, averaged over phases: output ``y`` is centred near
        ``centre + y*jump`` (exactly, for period 1)."""
        vals = [
            Fraction(2 * p.start + p.size - 1, 2) - r * self.jump
            for r, p in enumerate(self.phases)
            if p.start is not None
        ]
        if not vals:
            raise SpecError("this field reads no input at all (every phase is empty)")
        return sum(vals, Fraction(0)) / len(vals)

    @property
    def holes(self) -> tuple[int, ...]:
        """Holes of output 0's tap set: offsets from ``start`` that are not read."""
        return self.phases[0].holes

    @property
    def hole_count(self) -> int:
        """Number of holes of output 0's tap set (arithmetic, never enumerated)."""
        return self.phases[0].hole_count

    @property
    def has_holes(self) -> bool:
        """True if any phase has holes (the stack grids)."""
        return any(len(p.runs) > 1 for p in self.phases)

    @property
    def taps(self) -> int:
        """Distinct input positions read by output 0 (unbounded signal)."""
        return self.phases[0].taps

    def phase(self, r: int) -> Phase:
        """The tap set of output ``r``, for ``r`` in ``range(period)``."""
        check_int("r", r, 0, self.period - 1)
        return self.phases[r]

    @property
    def bounded(self) -> bool:
        """True when the field was built with an input size (borders are exact)."""
        return self.length is not None

    # ----------------------------------------------------------------- exact queries

    def _check_index(self, y: int) -> int:
        if self.length is not None:
            return check_int("y", y, 0, self.length - 1)
        return check_int("y", y, -(1 << 62))

    def support(self, y: int) -> tuple[int, ...]:
        """The exact, sorted input positions that output index ``y`` depends on.

        For a field built with an input size, positions cut off by padding (in this layer or
        any earlier one) are excluded; otherwise the signal is unbounded. Refused (SpecError)
        above :data:`LIMIT` positions: :meth:`support_runs` answers at any size.

        Examples:
            >>> f = receptive_field([ConvSpec(3, dilation=4)], input_size=9)[-1]
            >>> f.support(0)
            (0, 4, 8)
        """
        return _runs.materialise(list(self.support_runs(y)), f"the support of output {y}")

    def support_runs(self, y: int) -> tuple[tuple[int, int], ...]:
        """:meth:`support` as maximal ``(first, last)`` intervals, at any size.

        Examples:
            >>> f = receptive_field([ConvSpec(3, dilation=10**12)])[-1]
            >>> f.support_runs(0)
            ((0, 0), (1000000000000, 1000000000000), (2000000000000, 2000000000000))
        """
        y = self._check_index(y)
        if self.length is None:
            return tuple(self._unbounded(y))
        return tuple(self._walk([(y, y)]))

    def paths(self, y: int) -> dict[int, int]:
        """Number of paths from each input position to output ``y`` (all-ones weights).

        This is proportional to the gradient of output ``y`` of the same network with all
        weights one and no nonlinearity (Luo et al. 2016).
        """
        y = self._check_index(y)
        return dict(sorted(self._walk_counts({y: 1}).items()))

    def reads(self) -> tuple[tuple[int, int], ...]:
        """Every input position that some output reads, as maximal ``(first, last)``
        intervals (a bounded field: what a global operation after this layer depends on).

        Examples:
            >>> receptive_field([ConvSpec(1, stride=2)], input_size=7)[-1].reads()
            ((0, 0), (2, 2), (4, 4), (6, 6))
        """
        if self.length is None:
            raise SpecError("reads() needs a field built with an input size")
        return tuple(self._walk([(0, self.length - 1)]))

    def interval(self, y: int) -> tuple[int, int]:
        """``(first, last)`` input position of output ``y``'s support."""
        runs = self.support_runs(y)
        if not runs:
            raise SpecError(f"output {y} reads no input position")
        return runs[0][0], runs[-1][1]

    def _graph(self) -> list[Field]:
        """Every field this one is built from, consumers before producers (each once)."""
        if self._order is None:
            seen: set[int] = set()
            nodes: list[Field] = []
            stack: list[Field] = [self]
            while stack:
                f = stack.pop()
                if id(f) in seen:
                    continue
                seen.add(id(f))
                nodes.append(f)
                if f._branches:
                    stack.extend(f._branches)
                elif f._parent is not None:
                    stack.append(f._parent)
            nodes.sort(key=lambda f: f._serial, reverse=True)
            self._order = nodes
        return self._order

    def _walk(self, start: Runs) -> Runs:
        """The input positions read by the outputs ``start`` (bounded: every border exact)."""
        pending: dict[int, Runs] = {id(self): start}
        result: Runs = []
        for f in self._graph():
            runs = pending.pop(id(f), None)
            if not runs:
                continue
            if f._branches:
                for br in f._branches:
                    pending[id(br)] = _runs.coalesce(pending.get(id(br), []) + runs)
            elif f._parent is None or f.axis is None:
                result.extend(runs)
            else:
                parent = f._parent
                reads = _back_runs(f.axis, runs)
                if parent.length is not None:
                    reads = _runs.clip(reads, parent.length, f.boundary)
                pending[id(parent)] = _runs.coalesce(pending.get(id(parent), []) + reads)
        return _runs.coalesce(result)

    def _walk_counts(self, start: dict[int, int]) -> dict[int, int]:
        pending: dict[int, dict[int, int]] = {id(self): start}
        result: dict[int, int] = {}
        for f in self._graph():
            counts = pending.pop(id(f), None)
            if not counts:
                continue
            if f._branches:
                for br in f._branches:
                    _add_counts(pending.setdefault(id(br), {}), counts)
            elif f._parent is None or f.axis is None:
                _add_counts(result, counts)
            else:
                parent = f._parent
                n_in = parent.length
                if sum(_tap_ap(f.axis, y)[2] for y in counts) > LIMIT:
                    raise SpecError(f"counting paths through more than {LIMIT:,} taps is refused")
                new = pending.setdefault(id(parent), {})
                for y, c in counts.items():
                    for x in axis_taps(f.axis, y):
                        if n_in is not None:
                            folded = _runs.fold_position(x, n_in, f.boundary)
                            if folded is None:
                                continue
                            x = folded
                        new[x] = new.get(x, 0) + c
        return result

    def __repr__(self) -> str:
        extra = "" if self.period == 1 else f", period={self.period}"
        length = "" if self.length is None else f", length={self.length}"
        holes = f", holes={self.hole_count}" if self.has_holes else ""
        try:
            start = str(self.start)
        except SpecError:
            start = "None"
        return f"Field(size={self.size}, jump={self.jump}, start={start}{extra}{holes}{length})"

    def _repr_html_(self) -> str:
        from atrous.geometry.display import field_html

        return field_html(self)


def _add_counts(into: dict[int, int], counts: dict[int, int]) -> None:
    for x, c in counts.items():
        into[x] = into.get(x, 0) + c


def _back_runs(axis: Axis, runs: Runs) -> Runs:
    """Input positions (unbounded) read by the outputs in ``runs`` of one layer axis."""
    k, s, d, lo = axis.kernel, axis.stride, axis.dilation, axis.lo
    out: Runs = []
    for a, b in runs:
        m = b - a + 1
        if axis.kind in ("conv", "pool"):
            out.extend(_runs.minkowski_ap(a * s - lo, s, m, d, k))
        elif axis.kind == "upsample":
            out.append((a // s, b // s))
        elif axis.kind == "linear":
            qa = (2 * a + 1 - s) // (2 * s)
            qb, rb = divmod(2 * b + 1 - s, 2 * s)
            out.append((qa, qb + (1 if rb else 0)))
        else:  # transposed: output y reads (y + lo - t*d) / s where that is an integer
            for za, zb in _runs.minkowski_ap(a + lo - (k - 1) * d, 1, m, d, k):
                out.extend(_multiples(za, zb, s))
    return _runs.coalesce(out)


def _multiples(za: int, zb: int, s: int) -> Runs:
    """``{z / s : za <= z <= zb, s | z}`` as one run (empty when there is no multiple)."""
    xa, xb = -(-za // s), zb // s
    return [(xa, xb)] if xa <= xb else []


@dataclass(frozen=True)
class Alignment:
    """How the branches merged at one node line up (see :meth:`Field.union`)."""

    names: tuple[str, ...]
    jumps: tuple[Fraction, ...]
    centres: tuple[Fraction, ...]
    sizes: tuple[int, ...]

    @property
    def aligned(self) -> bool:
        """True when all branches share jump and centre."""
        return len(set(self.jumps)) == 1 and len(set(self.centres)) == 1

    @property
    def causal(self) -> bool:
        """True when all branches share jump and every branch's field of output 0 ends at input
        position 0, its own present sample: a causal residual (the present and its past) is
        aligned this way although the centres differ."""
        if len(set(self.jumps)) != 1:
            return False
        return all(c + Fraction(n - 1, 2) == 0 for c, n in zip(self.centres, self.sizes, strict=True))

    @property
    def offsets(self) -> tuple[Fraction, ...]:
        """Centre of each branch minus the centre of the first, in input positions."""
        return tuple(c - self.centres[0] for c in self.centres)

    def describe(self) -> str:
        """One line: 'aligned', or which branches disagree and by how much."""
        if self.aligned:
            return "aligned"
        msgs = []
        if len(set(self.jumps)) > 1:
            msgs.append("jumps differ: " + ", ".join(f"{n} {j}" for n, j in zip(self.names, self.jumps, strict=True)))
        for n, off in zip(self.names[1:], self.offsets[1:], strict=True):
            if off:
                msgs.append(f"{n} is centred {off} input positions from {self.names[0]}")
        return "; ".join(msgs)


@dataclass(frozen=True)
class Merge:
    """Result of :meth:`Field.union`: the merged field (``None`` if jumps differ) and alignment."""

    field: Field | None
    alignment: Alignment


class FieldND:
    """The per-axis fields of one layer of an N-d network; properties are per-axis tuples.

    Each output is a box: its tap set is the Cartesian product of the per-axis tap sets.
    """

    __slots__ = ("axes", "spec")

    def __init__(self, axes: Sequence[Field], spec: object = None) -> None:
        self.axes = tuple(axes)
        self.spec = spec

    def __getitem__(self, axis: int) -> Field:
        return self.axes[axis]

    def __len__(self) -> int:
        return len(self.axes)

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(f.size for f in self.axes)

    @property
    def jump(self) -> tuple[Fraction, ...]:
        return tuple(f.jump for f in self.axes)

    @property
    def start(self) -> tuple[int, ...]:
        return tuple(f.start for f in self.axes)

    @property
    def centre(self) -> tuple[Fraction, ...]:
        return tuple(f.centre for f in self.axes)

    @property
    def holes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(f.holes for f in self.axes)

    @property
    def has_holes(self) -> bool:
        return any(f.has_holes for f in self.axes)

    @property
    def length(self) -> tuple[int, ...] | None:
        lengths = tuple(f.length for f in self.axes)
        return None if any(n is None for n in lengths) else lengths  # type: ignore[return-value]

    def support(self, index: Sequence[int]) -> tuple[tuple[int, ...], ...]:
        """Per-axis sorted input positions of output ``index`` (the tap set is their product)."""
        if len(index) != len(self.axes):
            raise SpecError(f"index has {len(index)} entries, expected {len(self.axes)}")
        return tuple(f.support(y) for f, y in zip(self.axes, index, strict=True))

    def __repr__(self) -> str:
        return f"FieldND(size={self.size}, jump={tuple(str(j) for j in self.jump)}, start={self.start})"

    def _repr_html_(self) -> str:
        from atrous.geometry.display import field_html

        return field_html(self)


@overload
def receptive_field(layers: Iterable[object], input_size: int) -> list[Field]: ...
@overload
def receptive_field(layers: Iterable[object], input_size: Sequence[int]) -> list[FieldND]: ...
@overload
def receptive_field(layers: Iterable[object], input_size: None = None) -> list[Field] | list[FieldND]: ...
def receptive_field(layers, input_size=None):  # type: ignore[no-untyped-def]
    """Per-layer receptive fields of a chain of layers.

    Args:
        layers: ``ConvSpec``, ``PoolSpec``, ``UpsampleSpec`` or objects with a ``.spec``
            (atrous layers); from input to output.
        input_size: spatial input size (int or tuple). With it, output lengths are checked
            and :meth:`Field.support` is exact at the borders; ``'same'`` padding with stride
            needs it.

    Returns:
        One entry per layer: a :class:`Field` for a 1-d chain (an int ``input_size``, or none
        and 1-d or broadcasting specs), else a :class:`FieldND` (always for a tuple
        ``input_size``).

    Examples:
        >>> vgg_block = [ConvSpec(3, padding=1), ConvSpec(3, padding=1), PoolSpec(2)]
        >>> [(f.size, f.jump, -f.start) for f in receptive_field(vgg_block)]
        [(3, Fraction(1, 1), 1), (5, Fraction(1, 1), 2), (6, Fraction(2, 1), 2)]
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise SpecError(
            f"layers must be an iterable of ConvSpec, PoolSpec, UpsampleSpec or layers with a spec, got {layers!r}"
        )
    specs = [as_spec(layer) for layer in layers]
    if isinstance(input_size, Sequence) and not isinstance(input_size, str):
        sizes: tuple[int, ...] | None = tuple(check_int(f"input_size[{i}]", v, 1) for i, v in enumerate(input_size))
        if not sizes:
            raise SpecError("input_size must have at least one entry, got ()")
        ndim = len(sizes)
        scalar = False
    elif input_size is not None:
        sizes = (check_int("input_size", input_size, 1),)
        ndim, scalar = 1, True
    else:
        sizes = None
        fixed = {s.ndim for s in specs if not s.broadcasts}
        if len(fixed) > 1:
            raise SpecError(f"layers disagree on the number of axes: {sorted(fixed)}")
        ndim = fixed.pop() if fixed else 1
        scalar = ndim == 1
    fields = [Field.identity(None if sizes is None else sizes[i]) for i in range(ndim)]
    out: list[Field | FieldND] = []
    for li, spec in enumerate(specs):
        full = spec.for_ndim(ndim)
        try:
            axes = full.axes(sizes)
            fields = [f.then(ax, i if ndim > 1 else None) for i, (f, ax) in enumerate(zip(fields, axes, strict=True))]
        except SpecError as exc:
            raise SpecError(f"layer {li} ({spec!r}): {exc}") from None
        if sizes is not None:
            sizes = tuple(f.length for f in fields)  # type: ignore[misc]
        out.append(fields[0] if scalar else FieldND(fields, full))
    return out
