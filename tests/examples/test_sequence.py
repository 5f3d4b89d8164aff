"""The sequence tasks of Bai et al. (2018): their generators and the adding / copy-memory examples."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atrous.datasets.sequence import MARKER, adding_problem, copy_memory
from atrous.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- adding problem


def test_adding_layout_and_target():
    x, y = adding_problem(500, 40, seed=3)
    assert x.shape == (500, 2, 40) and y.shape == (500, 1)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    values, mask = x[:, 0], x[:, 1]
    assert bool(((values >= 0) & (values < 1)).all())
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.sum(dim=1).tolist() == [2.0] * 500  # two distinct marked positions in every row
    # the paper's definition, row by row: Y = the sum of the two marked values
    for i in range(500):
        (p, q) = torch.nonzero(mask[i]).flatten().tolist()
        assert y[i, 0] == values[i, p] + values[i, q]


def test_adding_positions_are_uniform_pairs():
    # np.random.choice(T, 2, replace=False): every ordered pair of distinct positions equally likely,
    # so with T = 3 each of the three unordered pairs gets a third of the samples
    x, _ = adding_problem(30_000, 3, seed=0)
    pairs = {}
    for row in x[:, 1].bool():
        key = tuple(torch.nonzero(row).flatten().tolist())
        pairs[key] = pairs.get(key, 0) + 1
    assert sorted(pairs) == [(0, 1), (0, 2), (1, 2)]
    assert all(abs(c / 30_000 - 1 / 3) < 0.015 for c in pairs.values())
    values = adding_problem(20_000, 50, seed=1)[0][:, 0]
    assert abs(values.mean().item() - 0.5) < 0.005 and abs(values.var().item() - 1 / 12) < 0.002


def test_adding_seeds():
    a, b = adding_problem(64, 30, seed=7), adding_problem(64, 30, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = adding_problem(64, 30, seed=8)
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0, "seq_length": 10, "seed": 0}, "n"),
        ({"n": 2.0, "seq_length": 10, "seed": 0}, "n"),
        ({"n": 4, "seq_length": 1, "seed": 0}, "seq_length"),
        ({"n": 4, "seq_length": 10, "seed": -1}, "seed"),
    ],
)
def test_adding_bad_arguments(kwargs, name):
    with pytest.raises(SpecError, match=rf"^{name} must be an integer"):
        adding_problem(**kwargs)


# --------------------------------------------------------------------------- copy memory


def test_copy_memory_layout():
    t, m = 25, 10
    x, y = copy_memory(300, t, seed=2, seq_length=m)
    assert x.shape == y.shape == (300, t + 2 * m)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    digits = x[:, :m]
    assert set(digits.unique().tolist()) == set(range(1, 9))  # np.random.randint(1, 9): 1..8
    # the paper's layout: cat(seq, zeros[:, :-1], marker) and cat(placeholders, zeros, seq)
    zeros = torch.zeros(300, t)
    expected_x = torch.cat([digits, zeros[:, :-1], MARKER * torch.ones(300, m + 1)], dim=1)
    expected_y = torch.cat([torch.zeros(300, m), zeros, digits], dim=1).long()
    assert torch.equal(x, expected_x) and torch.equal(y, expected_y)
    # the first marker sits at step T + 9, the recall is the last ten steps
    assert (x[:, t + m - 1] == MARKER).all() and (x[:, t + m - 2] == 0).all()
    assert (y[:, : t + m] == 0).all() and torch.equal(y[:, -m:], digits.long())


def test_copy_memory_seeds_and_default_length():
    a, b = copy_memory(16, 1000, seed=5), copy_memory(16, 1000, seed=5)
    assert a[0].shape == (16, 1020)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], copy_memory(16, 1000, seed=6)[0])
    x, _ = copy_memory(1, 1, seed=0, seq_length=2)  # T = 1: no blank, three markers
    assert x[0, 2:].tolist() == [9.0, 9.0, 9.0]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0, "blank_length": 10, "seed": 0}, "n"),
        ({"n": 4, "blank_length": 0, "seed": 0}, "blank_length"),
        ({"n": 4, "blank_length": 10, "seed": -3}, "seed"),
        ({"n": 4, "blank_length": 10, "seed": 0, "seq_length": 0}, "seq_length"),
    ],
)
def test_copy_memory_bad_arguments(kwargs, name):
    with pytest.raises(SpecError, match=rf"^{name} must be an integer"):
        copy_memory(**kwargs)


# --------------------------------------------------------------------------- the examples


def _check_record(record, name, length):
    assert record["name"] == name and record["mode"] == "quick" and record["processes"] == 1
    data = record["data"]
    rf = data["receptive_field"]
    k, levels = 4, 4  # the quick TCN
    assert rf["layer"] == rf["analyze"] == 1 + 2 * (k - 1) * (2**levels - 1)
    assert data["covers_sequence"] is True and rf["layer"] >= length
    assert set(data["curves"]) == {"tcn", "lstm"}
    for cv in data["curves"].values():
        n = len(cv["batches"])
        assert n >= 3 and cv["batches"][0] == 0
        assert len(cv["test_loss"]) == len(cv["test_metric"]) == n
        assert len(cv["epoch_test_loss"]) == len(cv["epoch"]) == data["epochs"]
        assert cv["batches"][-1] == data.get("warmup_batches", 0) + data["epochs"] * data["batches_per_epoch"]
    # the models are matched in size (within 10%)
    p = data["parameters"]
    assert abs(p["lstm"] - p["tcn"]) / p["tcn"] < 0.1
    tcn = data["curves"]["tcn"]
    assert tcn["test_loss"][-1] < tcn["test_loss"][0]  # the TCN learned something
    assert len(record["rows"]) == 2 and len(record["rows"][0]) == len(record["header"])
    assert record["figures"] and record["figures"][0]["file"] == f"{name}/curves.png"


@pytest.mark.slow
def test_adding_quick(tmp_path):
    _script("adding").main(["--quick", "--out", str(tmp_path), "--threads", "1"])
    record = json.loads((tmp_path / "adding.json").read_text())
    _check_record(record, "adding", record["data"]["seq_length"])
    assert (tmp_path / "adding" / "curves.png").stat().st_size > 10_000
    assert (tmp_path / "adding" / "sensitivity.png").stat().st_size > 10_000
    data = record["data"]
    tcn = data["curves"]["tcn"]
    assert tcn["test_loss"][-1] < 0.8 * tcn["test_loss"][0]
    assert data["paper"] == {"tcn": 5.8e-5, "lstm": 0.164}
    assert "locuslab/TCN issue 1" in record["text"]  # the initialisation is stated
    # the recipe: a warm-up on short sequences, then T; both models get it
    assert data["warmup_length"] == 10 and data["warmup_batches"] == 8
    assert tcn["warmup_batches"] == data["curves"]["lstm"]["warmup_batches"] == 8
    assert "first 8 batches on sequences of length 10" in record["text"]


def test_adding_control_and_seeds(tmp_path):
    argv = ["--quick", "--control", "--seeds", "3", "4", "--model", "tcn", "--epochs", "1", "--out", str(tmp_path)]
    _script("adding").main([*argv, "--threads", "1"])
    record = json.loads((tmp_path / "adding.json").read_text())
    curves = record["data"]["curves"]
    assert list(curves) == ["tcn seed 3", "tcn seed 4", "tcn seed 3, no warm-up"]
    assert record["data"]["seeds"] == [3, 4]
    # the control spends the warm-up's batches on T itself: the same number of batches
    assert {len(c["batches"]) for c in curves.values()} == {len(curves["tcn seed 3"]["batches"])}
    assert curves["tcn seed 3"]["test_loss"][0] == curves["tcn seed 3, no warm-up"]["test_loss"][0]  # same init
    assert curves["tcn seed 3"]["test_loss"][-1] != curves["tcn seed 3, no warm-up"]["test_loss"][-1]
    assert [row[0] for row in record["rows"]] == ["TCN seed 3", "TCN seed 4", "TCN seed 3, no warm-up"]


def test_sensitivity_of_one_causal_conv():
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    import sequence_common as sc

    from atrous.nn import CausalConv1d

    torch.manual_seed(0)
    conv = CausalConv1d(2, 1, 3, dilation=2)

    class Last(torch.nn.Module):
        def forward(self, x):
            return conv(x)[:, :, -1]

    sens = sc.sensitivity(Last(), torch.randn(5, 2, 12))
    w = conv.weight.detach()[0].abs()  # (2, 3): tap t reads s = 2 * (2 - t) steps back
    expected = torch.zeros(2, 12)
    for t in range(3):
        expected[:, 2 * (2 - t)] = w[:, t]
    assert torch.allclose(sens, expected, atol=1e-6)


def test_copy_memory_quick(tmp_path):
    _script("copy_memory").main(["--quick", "--out", str(tmp_path), "--threads", "1"])
    record = json.loads((tmp_path / "copy_memory.json").read_text())
    data = record["data"]
    _check_record(record, "copy_memory", data["length"])
    assert data["length"] == data["blank_length"] + 20
    # before training the loss is near ln 10 = 2.30 (ten classes, near-uniform outputs), far above the guessing level
    assert 1.8 < data["curves"]["tcn"]["test_loss"][0] < 3.0
    assert data["chance_loss"] == pytest.approx(10 * math.log(8) / data["length"])
    for cv in data["curves"].values():
        assert all(0.0 <= m <= 1.0 for m in cv["test_metric"])


def test_adding_only_one_model(tmp_path):
    argv = ["--quick", "--model", "tcn", "--epochs", "1", "--out", str(tmp_path), "--threads", "1"]
    _script("adding").main(argv)
    record = json.loads((tmp_path / "adding.json").read_text())
    assert set(record["data"]["curves"]) == {"tcn"} and len(record["rows"]) == 1


def test_tcn_initialisation_is_what_the_papers_runs_had():
    from atrous.nn import TCN

    torch.manual_seed(0)
    tcn = TCN(2, [24] * 3, kernel_size=8, dropout=0.0)
    conv = tcn.blocks[1].conv1
    w, wn = conv.weight.detach(), conv.parametrizations.weight
    # PyTorch's default: kaiming_uniform_(a=sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)); g = |v| so w = v
    bound = 1 / (24 * 8) ** 0.5
    assert w.abs().max().item() <= bound and abs(w.std().item() - bound / 3**0.5) < 0.004
    assert torch.allclose(w, wn.original1.detach())
    assert abs(tcn.blocks[0].downsample.weight.std().item() - 0.01) < 0.003  # the 1x1 shortcut: N(0, 0.01)


@pytest.mark.parametrize(
    "argv",
    [
        ["--epochs", "0"],
        ["--lr", "-1"],
        ["--model", "gru"],
        ["--seq-length", "x"],
        ["--seeds", "-1"],
        ["--warmup-batches", "-2"],
        ["--warmup-length", "1"],
        ["--decay", "2"],
    ],
)
def test_bad_command_line(argv, tmp_path):
    with pytest.raises(SystemExit) as info:
        _script("adding").main(["--quick", "--out", str(tmp_path), *argv])
    assert info.value.code == 2


@pytest.mark.slow
def test_adding_under_torchrun(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "localhost:0",
        str(ROOT / "examples" / "adding.py"),
        "--quick",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--threads",
        "1",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "adding.json").read_text())
    assert record["processes"] == 2
    assert record["command"].startswith("torchrun --nproc_per_node 2 examples/adding.py --quick --epochs 1")
    tcn = record["data"]["curves"]["tcn"]
    assert tcn["test_loss"][-1] < tcn["test_loss"][0]
