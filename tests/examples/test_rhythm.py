"""examples/rhythm.py (quick run) and the pulse-train generators of atrous.datasets.rhythm."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from atrous.datasets.rhythm import PulseTrains, compatible, periodicity_task, pulse_trains, tempo_task
from atrous.errors import SpecError
from atrous.geometry import tempo_bank

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "rhythm.py"


def load():
    spec = importlib.util.spec_from_file_location("example_rhythm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("rhythm")
    torch_threads = torch.get_num_threads()
    try:
        assert load().main(["--quick", "--out", str(out), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(torch_threads)
    return out, json.loads((out / "rhythm.json").read_text())


def test_quick_run_writes_results(quick):
    out, r = quick
    assert r["name"] == "rhythm" and r["mode"] == "quick"
    assert len(r["figures"]) == 4
    for f in r["figures"]:
        assert (out / f["file"]).stat().st_size > 1000
    assert r["header"] == ["model", "layers", "worst rounding", "parameters", "class accuracy", "Acc1", "Acc2"]
    assert len(r["rows"]) == 3  # one tempo_bank tolerance, the 1..n bank, the untrained detector
    d = r["data"]
    assert d["period"] == 50 and d["dilation"] == 50
    assert len(d["analytic"]["dilations"]) == len(d["analytic"]["response"]) == 110
    sw = d["sweep"]
    assert len(sw["dilations"]) == len(sw["accuracy"]) == len(sw["final_loss"]) == 6
    assert all(0 <= a <= 1 for a in sw["accuracy"])


def test_quick_run_untrained_detector_peaks_at_the_period(quick):
    _, r = quick
    a = r["data"]["analytic"]
    resp = np.array(a["response"])
    # beyond the onset width (d >= 5) the strongest dilation is the period, then its double
    assert int(np.argmax(resp[4:])) + 5 == 50
    assert resp[49] > 3 * np.median(resp[4:])
    assert resp[99] > 3 * np.median(resp[4:])
    resp2 = np.array(a["response2"])
    assert int(np.argmax(resp2[4:])) + 5 == round(a["period2"])
    # the untrained detector over the tempo bank finds the tempo up to octave errors most of the time
    assert r["data"]["untrained_bank"]["acc2"] > 0.6


def test_quick_run_matched_layer_learns(quick):
    _, r = quick
    sw = r["data"]["sweep"]
    i = sw["dilations"].index(50)
    assert sw["final_loss"][i] < sw["first_loss"][i]
    bank = r["data"]["banks"]["tempo_bank, tolerance 1/25"]
    assert bank["dilations"] == list(tempo_bank(60, 180, 100).dilations)
    assert len(bank["estimate"]) == len(r["data"]["bank_true_bpm"])


@pytest.mark.parametrize(
    "argv",
    [["--bpm", "0"], ["--bpm-min", "120", "--bpm-max", "60"], ["--frame-rate", "x"], ["--max-dilation", "20"]],
)
def test_bad_cli_values_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as e:
        load().main([*argv, "--quick", "--out", str(tmp_path)])
    assert e.value.code == 2


# --------------------------------------------------------------------------- generators


def test_definition_without_noise():
    t = pulse_trains([[4.0, 7.0]], 30, phases=[[1.0, 2.5]])
    assert isinstance(t, PulseTrains)
    # 1, 5, ..., 29 and floor(2.5 + 7k + 1/2) = 3, 10, 17, 24
    expected = np.zeros(30, dtype=np.float32)
    expected[[1, 5, 9, 13, 17, 21, 25, 29]] += 1
    expected[[3, 10, 17, 24]] += 1
    assert np.array_equal(t.x[0].numpy(), expected)
    assert t.beats[0].nonzero().flatten().tolist() == [1, 5, 9, 13, 17, 21, 25, 29]
    assert t.periods.tolist() == [[4.0, 7.0]] and t.phases.tolist() == [[1.0, 2.5]]


def test_spread_renders_gaussians():
    t = pulse_trains([100.0], 20, phases=[[10.25]], spread=1.5)
    f = np.arange(20)
    w = np.exp(-((f - 10.25) ** 2) / (2 * 1.5**2))
    w[np.abs(f - 10) > 6] = 0  # 4 spread = 6 frames either side of the nearest frame
    assert np.allclose(t.x[0].numpy(), w, atol=1e-6)


def test_seeds_reproducible_and_different():
    kw = {"jitter": 1.0, "keep": 0.8, "spread": 1.0, "distractors": 0.05, "noise": 0.1, "amplitude": (0.5, 1.0)}
    a = pulse_trains([30.0, 41.5], 500, seed=3, **kw)
    b = pulse_trains([30.0, 41.5], 500, seed=3, **kw)
    c = pulse_trains([30.0, 41.5], 500, seed=4, **kw)
    assert torch.equal(a.x, b.x) and torch.equal(a.phases, b.phases)
    assert not torch.equal(a.x, c.x)
    x1, y1, _ = periodicity_task(20, 300, 40.0, seed=5, **kw)
    x2, y2, _ = periodicity_task(20, 300, 40.0, seed=5, **kw)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    t1, b1 = tempo_task(10, 300, 60, 180, 100, seed=2)
    t2, b2 = tempo_task(10, 300, 60, 180, 100, seed=2)
    assert torch.equal(t1.x, t2.x) and torch.equal(b1, b2)


def test_statistics_as_specified():
    n, length = 400, 1000
    # missing pulses: about keep of them remain (spread 0, no jitter: one frame per pulse)
    t = pulse_trains([50.0] * n, length, phases=[0.0] * n, keep=0.7, seed=0)
    frac = float((t.x > 0).sum()) / float(t.beats.sum())
    assert abs(frac - 0.7) < 0.02
    # random onsets: Poisson with mean distractors * length (one frame may take two)
    t = pulse_trains([1000.0] * n, length, phases=[999.0] * n, distractors=0.02, seed=1)
    assert abs(float((t.x > 0).sum(1).float().mean()) - 20) < 1.0
    # noise: standard deviation as asked
    t = pulse_trains([1000.0] * 4, length, phases=[999.0] * 4, noise=0.3, seed=2)
    assert abs(float(t.x.std()) - 0.3) < 0.02
    # amplitudes uniform in the range
    t = pulse_trains([10.0] * 50, 500, amplitude=(0.5, 1.0), seed=3)
    amps = t.x[t.x > 0]
    assert float(amps.min()) >= 0.5 and float(amps.max()) <= 1.0 and abs(float(amps.mean()) - 0.75) < 0.02
    # jitter: pulses move by N(0, jitter) before rounding
    t = pulse_trains([100.0] * n, length, phases=[50.0] * n, jitter=2.0, seed=4)
    pos = t.x.nonzero()[:, 1].numpy()
    dev = pos - (np.floor((pos - 50) / 100 + 0.5) * 100 + 50)
    assert abs(dev.std() - 2.0) < 0.1


def test_periodicity_task_definition():
    x, y, trains = periodicity_task(200, 400, 40.0, period_range=(15, 90), others=2, margin=0.05, seed=0)
    assert x.shape == (200, 400) and y.shape == (200,) and int(y.sum()) == 100
    per = trains.periods.numpy()
    assert per.shape == (200, 3)
    assert np.all(per[y.numpy() == 1, 0] == 40.0)
    others = np.concatenate([per[y.numpy() == 1, 1:].ravel(), per[y.numpy() == 0].ravel()])
    assert np.all((others >= 15) & (others <= 90))
    # no other train repeats at lag 40: none within 5 % of 40 / k
    assert not any(compatible(40.0, q, 0.05) for q in others)
    assert any(abs(q / 80 - 1) < 0.1 for q in others)  # multiples of the period are allowed


def test_compatible():
    assert compatible(60, 60, 0) and compatible(60, 20, 0) and compatible(60, 30.5, 0.02)
    assert not compatible(60, 120, 0.1) and not compatible(60, 45, 0.04) and not compatible(60, 35, 0.04)


def test_tempo_task_definition():
    trains, bpm = tempo_task(300, 500, 60, 180, 100, seed=1)
    assert bpm.dtype == torch.float64 and float(bpm.min()) >= 60 and float(bpm.max()) <= 180
    assert torch.allclose(trains.periods[:, 0], 6000 / bpm)
    # log-uniform: the median tempo is near sqrt(60 * 180)
    assert abs(float(bpm.median()) - math.sqrt(60 * 180)) < 8


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: pulse_trains([0.5], 10), r"periods\[0\]"),
        (lambda: pulse_trains([[5.0, float("nan")]], 10), r"periods\[0, 1\]"),
        (lambda: pulse_trains([], 10), "periods"),
        (lambda: pulse_trains([5.0], 0), "length"),
        (lambda: pulse_trains([5.0], 10, jitter=-1), "jitter"),
        (lambda: pulse_trains([5.0], 10, keep=1.5), "keep"),
        (lambda: pulse_trains([5.0], 10, spread=float("inf")), "spread"),
        (lambda: pulse_trains([5.0], 10, amplitude=(1.0, 0.5)), r"amplitude\[1\]"),
        (lambda: pulse_trains([5.0], 10, amplitude=(0.0, 0.5)), r"amplitude\[0\]"),
        (lambda: pulse_trains([5.0], 10, amplitude=1.0), "amplitude"),
        (lambda: pulse_trains([5.0], 10, distractors=-0.1), "distractors"),
        (lambda: pulse_trains([5.0], 10, noise=-1), "noise"),
        (lambda: pulse_trains([5.0], 10, seed=-1), "seed"),
        (lambda: pulse_trains([5.0], 10, phases=[5.0]), r"phases\[0\]"),
        (lambda: pulse_trains([5.0], 10, phases=[1.0, 2.0]), "phases"),
        (lambda: periodicity_task(1, 10, 5.0), "n"),
        (lambda: periodicity_task(4, 10, 0.5), "period"),
        (lambda: periodicity_task(4, 10, 5.0, others=-1), "others"),
        (lambda: periodicity_task(4, 10, 5.0, margin=1.0), "margin"),
        (lambda: periodicity_task(4, 10, 5.0, period_range=(4, 2)), r"period_range\[1\]"),
        (lambda: periodicity_task(4, 10, 50.0, period_range=(49, 51)), "period_range"),
        (lambda: periodicity_task(4, 10, 5.0, tempo=3), "tempo"),
        (lambda: tempo_task(0, 10, 60, 180, 100), "n"),
        (lambda: tempo_task(4, 10, 0, 180, 100), "bpm_min"),
        (lambda: tempo_task(4, 10, 60, 50, 100), "bpm_max"),
        (lambda: tempo_task(4, 10, 60, 180, -1), "frame_rate"),
        (lambda: tempo_task(4, 10, 60, 180, 2), "bpm_max"),
    ],
)
def test_bad_arguments_raise_spec_error(call, name):
    with pytest.raises(SpecError, match=name):
        call()
