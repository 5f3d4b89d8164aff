"""Huge, degenerate or wrongly typed arguments: a SpecError naming the parameter, in bounded work.

Planners count instead of looping, layers and pictures check their sizes before allocating,
and wrong types never surface as a raw TypeError / AttributeError. Calls that once ran for
minutes or filled the memory run in a subprocess under a time limit (a regression fails the
test instead of blocking the suite); no test asserts how long anything takes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atrous.errors import SpecError
from atrous.geometry import coverage
from atrous.geometry.dilation import (
    MAX_LAYERS,
    exponential_schedule,
    plan_dilations,
    sawtooth_schedule,
    tcn_receptive_field,
    tempo_bank,
    wavenet_schedule,
)

#: CPU seconds after which a call has hung (a CPU limit: a busy machine fails nothing); the
#: wall-clock limit is a last resort.
CPU_LIMIT_S = 60
HANG_S = 900


def _limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 5))


def _naive_plan(target: int, k: int, cap: int | None) -> tuple[int, ...]:
    """The planner as first written: one loop iteration per layer (the oracle for small sizes)."""
    rates, rf = [], 1
    while rf < target:
        need = -(-(target - rf) // (k - 1))
        d = min(rf, need) if cap is None else min(rf, need, cap)
        rates.append(d)
        rf += (k - 1) * d
    return tuple(rates)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("cap", [None, 1, 2, 3, 8, 50])
def test_plan_dilations_equals_the_layer_by_layer_loop(k, cap):
    for target in [*range(1, 130), 999, 1000, 4097]:
        plan = plan_dilations(target, k, max_dilation=cap)
        assert plan.dilations == _naive_plan(target, k, cap), (target, k, cap)
        assert plan.receptive_field >= target
        if plan.receptive_field <= 300:  # exact coverage from the field core: no holes
            assert not plan.dilations or coverage(plan.dilations, k).ok


def test_plan_dilations_refuses_too_many_layers():
    with pytest.raises(SpecError, match=r"target_rf=10{18} with kernel_size=3 and max_dilation=1 needs \d+ layers"):
        plan_dilations(10**18, 3, max_dilation=1)
    with pytest.raises(SpecError, match="MAX_LAYERS=10000"):
        plan_dilations(10**6, 2, max_dilation=3)
    plan = plan_dilations(10**18, 3)  # no cap: log_3 of the target
    assert plan.layers == 38 and plan.receptive_field >= 10**18
    plan = plan_dilations(10**4000, 3)  # a 4000-digit target: 8384 layers of k=3
    assert plan.layers <= MAX_LAYERS and plan.receptive_field >= 10**4000
    with pytest.raises(
        SpecError, match="target_rf=an integer of 4001 digits with kernel_size=2 needs about 13288 layers"
    ):
        plan_dilations(10**4000, 2)


@given(
    target=st.integers(1, 10**60),
    k=st.integers(2, 10**6),
    cap=st.one_of(st.none(), st.integers(1, 10**30)),
)
def test_plan_dilations_property(target, k, cap):
    try:
        plan = plan_dilations(target, k, max_dilation=cap)
    except SpecError as exc:
        assert "target_rf=" in str(exc) and "MAX_LAYERS" in str(exc)
        return
    assert plan.layers <= MAX_LAYERS and plan.receptive_field >= target
    reach = 1
    for d in plan.dilations:
        assert 1 <= d <= reach and (cap is None or d <= cap)
        reach += (k - 1) * d
    assert reach == plan.receptive_field
    # the last layer takes no more than needed: one less tap span would miss the target
    if plan.dilations:
        assert plan.receptive_field - (k - 1) < target


def test_schedules_refuse_what_they_cannot_hold():
    with pytest.raises(SpecError, match=r"levels must be an integer in \[1, 10000\], got 1000000"):
        exponential_schedule(10**6)
    with pytest.raises(SpecError, match="levels=5000 with base=2 gives the dilation base\\*\\*4999"):
        exponential_schedule(5000, 2)
    assert exponential_schedule(4000, 2)[-1] == 2**3999
    with pytest.raises(SpecError, match="cycles=1000000"):
        wavenet_schedule(10, 10**6)
    with pytest.raises(SpecError, match="repeats=1000000000"):
        sawtooth_schedule((1, 2, 5), 10**9)
    with pytest.raises(SpecError, match="levels must be an integer in"):
        tcn_receptive_field(10**12, 3)


def test_tempo_bank_refuses_a_bank_too_long():
    with pytest.raises(SpecError, match=r"tempo_bank for the tempi .* needs at least \d+ dilations; banks are limited"):
        tempo_bank(1e-6, 1000, 100, tolerance=1e-3)
    with pytest.raises(SpecError, match="MAX_LAYERS"):
        tempo_bank(10**-30, 1, 10**7, tolerance=10**-7)


def test_tempo_bank_worst_error_by_bisection_equals_full_scan():
    from fractions import Fraction
    from itertools import pairwise

    for args, kw in [
        ((60, 180, 100), {}),
        ((40, 250, Fraction(44100, 512)), {}),
        ((30, 300, 200), {"tolerance": Fraction(1, 50)}),
        ((50, 200, 1000), {"tolerance": Fraction(1, 200)}),
        ((60, 180, 100), {"beats": 4}),
    ]:
        bank = tempo_bank(*args, **kw)
        lo, hi = bank.beats * bank.frame_rate * 60 / bank.bpm_max, bank.beats * bank.frame_rate * 60 / bank.bpm_min
        candidates = [lo, hi, *(Fraction(d + e, 2) for d, e in pairwise(bank.dilations))]
        full = max(min(abs(d - p) / p for d in bank.dilations) for p in candidates if lo <= p <= hi)
        assert bank.worst_error == full


# --------------------------------------------------------------------------- layers


def test_tcn_channels_must_be_a_list():
    from atrous.nn import TCN

    with pytest.raises(SpecError, match=r"channels must be a list of integers .* got int 24"):
        TCN(2, 24)
    with pytest.raises(SpecError, match="dilations must be a list of integers"):
        TCN(2, [8, 8], dilations=5)
    with pytest.raises(SpecError, match="activation must be a factory"):
        TCN(2, [8], activation="relu")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_channels": 1, "channels": [8, 8, 8], "kernel_size": 3},
        {"in_channels": 2, "channels": [4, 6, 6, 4], "kernel_size": 2, "skip_connections": True},
        {"in_channels": 3, "channels": [5] * 5, "kernel_size": 4, "dilations": "reset:2"},
        {"in_channels": 1, "channels": [4, 4, 4], "kernel_size": 3, "dilations": [3, 1, 7]},
    ],
)
def test_tcn_receptive_field_is_the_exact_field(kwargs):
    from atrous.nn import TCN

    tcn = TCN(**kwargs)
    assert tcn.receptive_field == tcn.field().size == tcn.field(200).size


@pytest.mark.parametrize("layers,cycles,k", [(3, 2, 2), (4, 1, 3), (2, 3, 2)])
def test_wavenet_receptive_field_is_the_exact_field(layers, cycles, k):
    from atrous.nn import WaveNet

    net = WaveNet(1, 4, residual_channels=4, kernel_size=k, layers_per_cycle=layers, cycles=cycles)
    assert net.receptive_field == net.field().size


def _bad_calls():
    import torch

    from atrous import nn as ann
    from atrous.geometry import ConvSpec, Field

    x = torch.randn(1, 1, 16)
    model = torch.nn.Conv1d(1, 1, 3, padding=1)
    return [
        ("TCN channels", lambda: ann.TCN(2, 24)),
        ("TCN dropout", lambda: ann.TCN(2, [4], dropout="x")),
        ("TemporalBlock activation", lambda: ann.TemporalBlock(4, 4, 3, 1, activation=None)),
        ("dilation_schedule", lambda: ann.dilation_schedule(3, 2)),
        ("residual_field field", lambda: ann.residual_field(None, [ConvSpec(3)])),
        ("residual_field main", lambda: ann.residual_field(Field.identity(), [3])),
        ("WaveNetLayer gate", lambda: ann.WaveNetLayer(4, None, 4)),
        ("EdgeConv epsilon", lambda: ann.EdgeConv(4, 4, 3, epsilon=None)),
        ("EdgeConv mlp", lambda: ann.EdgeConv(4, 4, 3, mlp="mlp")),
        ("dilated_knn epsilon", lambda: ann.dilated_knn(torch.randn(10, 3), 3, epsilon="x")),
        ("graph_aggregate h", lambda: ann.graph_aggregate(None, torch.tensor([[0], [1]]))),
        ("graph_aggregate edges", lambda: ann.graph_aggregate(torch.randn(3, 2), 2.5)),
        ("hop_neighbourhood num_nodes", lambda: ann.hop_neighbourhood(torch.tensor([[0], [1]]), num_nodes="x")),
        ("icnr_ weight", lambda: ann.icnr_(None, 2)),
        ("icnr_ init", lambda: ann.icnr_(torch.empty(8, 2, 3, 3), 2, init=None)),
        ("ShiftConsistencyLoss period", lambda: ann.ShiftConsistencyLoss(model, period=2.5)),
        ("ShiftConsistencyLoss dims", lambda: ann.ShiftConsistencyLoss(model, period=2, dims="x")),
        ("shift_consistency model", lambda: ann.shift_consistency(None, x, 2)),
        ("shift_consistency x", lambda: ann.shift_consistency(model, None, 2)),
        ("shift_consistency y", lambda: ann.shift_consistency(model, x, 2, y=[1])),
        ("checkerboard phases", lambda: ann.checkerboard(ConvSpec(3, stride=(2000, 2000), transposed=True))),
    ]


def test_nn_wrong_arguments_raise_spec_error():
    pytest.importorskip("torch")
    raw = []
    for name, call in _bad_calls():
        try:
            call()
        except SpecError:
            continue
        except Exception as exc:  # the defect this test guards against
            raw.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            raw.append(f"{name}: accepted")
    assert raw == []


# --------------------------------------------------------------------------- bounded time


BOUNDED = {
    # (the full repr also prints every conv layer's own field: that one is the field core's)
    "tcn repr": "import atrous.nn as ann; m = ann.TCN(2, [8] * 40); r = m.extra_repr(); "
    "assert r.endswith(f'receptive_field={1 + 2 * (2**40 - 1)}'), r",
    "animate 3000x3000": "from atrous.viz.animate import animate; from atrous.geometry import ConvSpec; "
    "animate(ConvSpec(3), (3000, 3000))",
    "animate fps": "from atrous.viz.animate import animate; from atrous.geometry import ConvSpec; "
    "animate(ConvSpec(3), 5, fps=1e-9)",
    "animate cell": "from atrous.viz.animate import animate; from atrous.geometry import ConvSpec; "
    "animate(ConvSpec(3), 5, cell=100000)",
    "svg padding": "from atrous.viz.animate import svg; from atrous.geometry import ConvSpec; "
    "svg(ConvSpec(3, padding=10**8), (4, 4))",
    "frame_cells stride": "from atrous.viz.animate import frame_cells; from atrous.geometry import ConvSpec; "
    "frame_cells(ConvSpec(3, stride=10**8, padding=1000, transposed=True), 5)",
    "coverage_map": "from atrous.viz.figures import coverage_map; coverage_map([10**8, 1], 3)",
    "coverage_map kernel": "from atrous.viz.figures import coverage_map; coverage_map([1, 2], 10**8)",
    "checkerboard_map": "from atrous.viz.figures import checkerboard_map; from atrous.geometry import ConvSpec; "
    "checkerboard_map(ConvSpec(3, stride=100000, transposed=True))",
    "plan_dilations": "from atrous.geometry import plan_dilations; plan_dilations(10**18, 3, max_dilation=1)",
}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_once_unbounded_calls_end_with_spec_error(name):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    code = textwrap.dedent(
        f"""
        from atrous.errors import SpecError
        try:
            {BOUNDED[name]}
        except SpecError as exc:
            print("SpecError:", exc)
        else:
            print("returned")
        """
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=HANG_S,
            preexec_fn=_limits if sys.platform.startswith("linux") else None,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still ran after {HANG_S} s")
    assert proc.returncode not in (-24, -9), f"{name} used more than {CPU_LIMIT_S} s of CPU"
    assert proc.returncode == 0, proc.stderr
    expected = "returned" if name == "tcn repr" else "SpecError:"
    assert proc.stdout.startswith(expected), proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "spec_kwargs,size",
    [
        ({"kernel_size": 3, "padding": 1}, (5, 6)),
        ({"kernel_size": 3, "stride": 2, "transposed": True}, 4),
        ({"kernel_size": 4, "stride": 3, "padding": 5, "transposed": True, "output_padding": 2}, (3, 4)),
        ({"kernel_size": 3, "dilation": 2, "padding": "full"}, 7),
        ({"kernel_size": 2, "stride": 2, "padding": ((0, 3),), "transposed": True}, 5),
    ],
)
def test_animation_size_limit_is_the_drawn_size(monkeypatch, spec_kwargs, size):
    """The limit is checked on the grid the drawing has (not a rougher estimate)."""
    pytest.importorskip("PIL")
    import importlib

    from atrous.geometry import ConvSpec

    an = importlib.import_module("atrous.viz.animate")

    spec = ConvSpec(**spec_kwargs)
    cells = an.frame_cells(spec, size)
    largest = max(*cells["shape"], *cells["output_size"])
    an._cache_clear()
    monkeypatch.setattr(an, "MAX_DRAWN_CELLS", largest)
    an.frame_cells(spec, size)
    an._cache_clear()
    monkeypatch.setattr(an, "MAX_DRAWN_CELLS", largest - 1)
    with pytest.raises(SpecError, match="MAX_DRAWN_CELLS"):
        an.frame_cells(spec, size)
