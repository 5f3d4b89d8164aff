"""The examples' shared plumbing for several seeds, the recorded environment and the training loop."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]


def _common():
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    return importlib.import_module("common")


def _parser(common):
    p = common.parser("test")
    common.add_seeds(p, (0, 1, 2))
    return p


def test_seeds_defaults_and_errors(capsys):
    common = _common()
    assert common.parse(_parser(common), []).seeds == [0, 1, 2]
    assert common.parse(_parser(common), ["--quick", "--seed", "5"]).seeds == [5]
    assert common.parse(_parser(common), ["--seeds", "3", "4"]).seeds == [3, 4]
    with pytest.raises(SystemExit) as e:
        common.parse(_parser(common), ["--seeds", "1", "1"])
    assert e.value.code == 2 and "--seeds must be distinct, got 1 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        common.parse(_parser(common), ["--seeds", "-1"])
    assert e.value.code == 2 and "--seeds must be an integer >= 0, got -1" in capsys.readouterr().err
    # an example without --seeds keeps its namespace as it was
    assert not hasattr(common.parse(common.parser("test"), []), "seeds")


def test_recorded_command_names_the_deterministic_switch(monkeypatch, tmp_path):
    common = _common()
    args = common.parse(common.parser("test"), ["--out", str(tmp_path), "--quick"])
    dist = common.distributed()
    script = str(ROOT / "examples" / "lanes.py")
    monkeypatch.delenv("ATROUS_DETERMINISTIC", raising=False)
    assert common.command(args, script, dist) == "python examples/lanes.py --quick"
    monkeypatch.setenv("ATROUS_DETERMINISTIC", "1")
    assert common.command(args, script, dist) == "ATROUS_DETERMINISTIC=1 python examples/lanes.py --quick"


def test_seeds_are_recorded_and_shown(tmp_path):
    common = _common()
    args = common.parse(_parser(common), ["--out", str(tmp_path), "--seeds", "0", "2"])
    dist = common.distributed()
    path = common.save(args, dist, script=str(ROOT / "examples" / "lanes.py"), name="lanes", title="Lanes",
                       text="t", header=[], rows=[], started=time.perf_counter(), seeds=args.seeds)  # fmt: skip
    record = json.loads(path.read_text())
    assert record["seeds"] == [0, 2] and record["seed"] == 0
    md = common.results_markdown(tmp_path, tmp_path)
    assert ", seeds 0, 2\n" in md
    # a record without seeds keeps the one-seed line
    common.save(args, dist, script=str(ROOT / "examples" / "adding.py"), name="adding", title="Adding",
                text="t", header=[], rows=[], started=time.perf_counter())  # fmt: skip
    assert ", seed 0\n" in common.results_markdown(tmp_path, tmp_path)


def test_fit_trains_and_records_curves():
    common = _common()
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = nn.Linear(3, 1)
    modes = []

    def loss(m, rows):
        return ((m(x[rows])[:, 0] - y[rows]) ** 2).mean()

    def evaluate(m):
        modes.append((m.training, torch.is_grad_enabled()))
        return {"mse": float(((m(x)[:, 0] - y) ** 2).mean())}

    with torch.no_grad():
        before = float(evaluate(model)["mse"])
    modes.clear()
    curves = common.fit(model, common.distributed(), loss, n=64, batch=8, steps=50, lr=0.05, seed=0, every=20,
                        evaluate=evaluate)  # fmt: skip
    assert curves["steps"] == [20, 40, 50]
    assert len(curves["loss"]) == len(curves["mse"]) == 3
    assert curves["mse"][-1] < 0.05 * before
    assert modes == [(False, False)] * 3 and model.training


def test_predict_equals_one_forward():
    common = _common()
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU())
    x = torch.randn(23, 4)
    out = common.predict(model, x, 5, torch.device("cpu"))
    assert model.training
    model.eval()
    with torch.no_grad():
        assert torch.allclose(out, model(x))


def test_summary_and_nanmean_over_seeds(recwarn):
    common = _common()
    nan = float("nan")
    assert common.summary([0.5, nan, 0.7]) == (pytest.approx(0.6), [0.5, 0.7])
    mean, (lo, hi) = common.summary([nan, nan])
    assert mean != mean and lo != lo and hi != hi
    out = common.nanmean([[1.0, nan], [3.0, nan]], axis=0)
    assert out[0] == 2.0 and out[1] != out[1]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
