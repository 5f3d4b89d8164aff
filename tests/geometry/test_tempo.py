"""Tempo -> dilation: exact periods, reported rounding, refusals and tempo banks."""

import itertools
import math
from fractions import Fraction

import pytest

import atrous
from atrous.geometry import SpecError, TempoBank, TempoDilation, frames_per_beat, tempo_bank, tempo_dilations


def test_exact_periods_and_multiples():
    sub, beat, bar = tempo_dilations(120, 100, beats=(Fraction(1, 2), 1, 4))
    assert (sub.period, beat.period, bar.period) == (25, 50, 200)
    assert (sub.dilation, beat.dilation, bar.dilation) == (25, 50, 200)
    assert all(t.error == 0 and t.drift == 0 for t in (sub, beat, bar))
    assert isinstance(beat, TempoDilation) and isinstance(beat.period, Fraction)


def test_rounding_is_reported_exactly():
    fr = Fraction(44100, 512)
    (t,) = tempo_dilations(128, fr, kernel_size=3)
    assert t.period == frames_per_beat(128, fr) == Fraction(165375, 4096)
    assert t.dilation == 40
    assert t.error == (40 - t.period) / t.period
    assert t.drift == 2 * (40 - t.period)  # two gaps between three taps
    assert t.receptive_field == 81
    assert "dilation 40" in t.describe()


def test_tie_goes_to_the_larger_dilation():
    # 120 BPM, 100 fps: a quarter beat is 12.5 frames, exactly 4 % from 12 and from 13
    (t,) = tempo_dilations(120, 100, beats=(Fraction(1, 4),))
    assert t.period == Fraction(25, 2) and t.dilation == 13 and t.error == Fraction(1, 25)


@pytest.mark.parametrize("bpm", [60, 97, 128, Fraction(1403, 10), 180])
def test_dilation_is_the_nearest_integer(bpm):
    for beats in (Fraction(1, 2), 1, 2, 4):
        (t,) = tempo_dilations(bpm, 100, beats=(beats,), tolerance=Fraction(1, 2))
        assert abs(t.dilation - t.period) <= Fraction(1, 2)
        assert all(abs(t.dilation - t.period) <= abs(d - t.period) for d in (t.dilation - 1, t.dilation + 1))


def test_tolerance_refusal_names_the_parameter_and_bound():
    with pytest.raises(SpecError, match=r"beats\[1\]=1/4 .*above tolerance=1/100.*tolerance >= 0\.04"):
        tempo_dilations(120, 100, beats=(1, Fraction(1, 4)), tolerance=Fraction(1, 100))
    # the bound offered is accepted
    (t,) = tempo_dilations(120, 100, beats=(Fraction(1, 4),), tolerance=0.04)
    assert t.dilation == 13
    # tolerance 0 accepts only whole periods
    assert tempo_dilations(120, 100, tolerance=0)[0].dilation == 50


def test_period_below_one_frame_is_refused():
    with pytest.raises(SpecError, match=r"beats\[0\]=1/64 .*below one frame.*bpm <= 375/4"):
        tempo_dilations(120, 100, beats=(Fraction(1, 64),))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"bpm": 0}, "bpm"),
        ({"bpm": -5}, "bpm"),
        ({"bpm": True}, "bpm"),
        ({"frame_rate": "100"}, "frame_rate"),
        ({"kernel_size": 1}, "kernel_size"),
        ({"kernel_size": 2.0}, "kernel_size"),
        ({"tolerance": 1}, "tolerance"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"beats": ()}, "beats"),
        ({"beats": "1"}, "beats"),
        ({"beats": (1, 0)}, r"beats\[1\]"),
        ({"beats": (1, float("inf"))}, r"beats\[1\]"),
    ],
)
def test_bad_arguments(kwargs, name):
    args = {"bpm": 120, "frame_rate": 100} | kwargs
    bpm, fr = args.pop("bpm"), args.pop("frame_rate")
    with pytest.raises(SpecError, match=name):
        tempo_dilations(bpm, fr, **args)


def _relative_errors(bank: TempoBank, periods):
    return [min(abs(d - p) / p for d in bank.dilations) for p in periods]


def test_bank_covers_the_range_within_tolerance():
    bank = tempo_bank(60, 180, 100)
    assert bank.dilations == (34, 36, 39, 42, 45, 48, 52, 56, 60, 65, 70, 75, 81, 87, 94, 101)
    assert len(bank) == 16
    # dense exact sweep of the periods 100/3 .. 100 frames
    periods = [Fraction(6000, 180) + Fraction(k, 64) for k in range(0, 64 * 67)]
    periods = [p for p in periods if p <= 100]
    errs = _relative_errors(bank, periods)
    assert max(errs) <= bank.tolerance
    assert max(errs) <= bank.worst_error == Fraction(1, 25)
    # the ranges tile [bpm_min, bpm_max] without a gap
    assert bank.bpm_ranges[0][1] == 180 and bank.bpm_ranges[-1][0] == 60
    # neighbouring pairs: the shifted copy is one shorter
    for (lo, _), (_, hi) in zip(bank.bpm_ranges, bank.bpm_ranges[1:], strict=False):
        assert hi >= lo


def _covers(dilations, p_lo, p_hi, tol):
    """Exact: do the intervals [d / (1 + tol), d / (1 - tol)] cover [p_lo, p_hi]?"""
    reach = p_lo
    for d in sorted(dilations):
        if d / (1 + tol) > reach:
            return False
        reach = max(reach, d / (1 - tol))
    return reach >= p_hi


@pytest.mark.parametrize(
    ("bpm_min", "bpm_max", "fr", "tol"),
    [
        (90, 150, 40, Fraction(1, 20)),
        (50, 200, 20, Fraction(1, 6)),
        (100, 101, 50, 0.01),
        (60, 180, 20, Fraction(1, 8)),
        (60, 120, 25, Fraction(1, 10)),
        (70, 160, 24, Fraction(1, 12)),
    ],
)
def test_bank_is_the_fewest(bpm_min, bpm_max, fr, tol):
    bank = tempo_bank(bpm_min, bpm_max, fr, tolerance=tol)
    tol = Fraction(tol)
    p_lo, p_hi = Fraction(60 * fr, bpm_max), Fraction(60 * fr, bpm_min)
    assert _covers(bank.dilations, p_lo, p_hi, tol)
    # every integer whose interval meets [p_lo, p_hi]
    candidates = range(math.ceil(p_lo * (1 - tol)), math.floor(p_hi * (1 + tol)) + 1)
    # no set with one dilation fewer covers the range (exhaustive)
    assert not any(_covers(c, p_lo, p_hi, tol) for c in itertools.combinations(candidates, len(bank) - 1)), (
        bank.dilations
    )


@pytest.mark.parametrize("tol", [Fraction(1, 50), Fraction(1, 25), Fraction(2, 25), Fraction(1, 5)])
def test_bank_tolerance_tradeoff(tol):
    bank = tempo_bank(60, 180, 100, tolerance=tol)
    assert bank.worst_error <= tol
    periods = [Fraction(6000, 180) + Fraction(k, 8) for k in range(0, 8 * 67)]
    assert max(_relative_errors(bank, [p for p in periods if p <= 100])) <= tol
    assert list(bank.dilations) == sorted(set(bank.dilations))


def test_bank_nearest_and_index():
    bank = tempo_bank(60, 180, 100)
    t = bank.nearest(120)
    assert t.period == 50 and t.dilation == 48 and t.error == Fraction(-1, 25)  # tie: the smaller
    assert bank.dilations[bank.index(120)] == 48
    assert bank.dilations[bank.index(60)] == 101
    assert bank.dilations[bank.index(180)] == 34


def test_bank_single_tempo_and_bars():
    assert tempo_bank(120, 120, 100, tolerance=0).dilations == (50,)
    bars = tempo_bank(60, 180, 100, beats=4)
    assert bars.dilations[0] == 138 and bars.worst_error <= Fraction(1, 25)


def test_bank_refusals():
    with pytest.raises(SpecError, match=r"tolerance=1/50 cannot cover .*tolerance >= 1/7"):
        tempo_bank(60, 180, 10, tolerance=Fraction(1, 50))
    # the bound offered works
    assert tempo_bank(60, 180, 10, tolerance=Fraction(1, 7)).worst_error <= Fraction(1, 7)
    with pytest.raises(SpecError, match=r"bpm_max=1800 .*below one frame; bpm_max must be <= 600"):
        tempo_bank(60, 1800, 10)
    with pytest.raises(SpecError, match="bpm_max must be >= bpm_min=180"):
        tempo_bank(180, 60, 100)
    for kwargs, name in (({"beats": 0}, "beats"), ({"tolerance": 1.5}, "tolerance")):
        with pytest.raises(SpecError, match=name):
            tempo_bank(60, 180, 100, **kwargs)
    with pytest.raises(SpecError, match="frame_rate"):
        tempo_bank(60, 180, 0)


def test_public():
    for name in ("tempo_dilations", "tempo_bank", "TempoDilation", "TempoBank"):
        assert name in atrous.__all__ and hasattr(atrous, name)
