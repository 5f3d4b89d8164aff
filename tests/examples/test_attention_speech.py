"""examples/attention.py and examples/speech.py (quick runs), and what they are built from."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from atrous.datasets.language import VOCAB_SIZE, agreement
from atrous.datasets.speech import espeak_available

ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def attention():
    return _script("attention")


# --------------------------------------------------------------------------- attention


def test_explicit_and_fused_attention_are_the_same_function(attention):
    torch.manual_seed(0)
    model = attention.CausalTransformer(VOCAB_SIZE, 16, 2, 2, fused=True).double()
    tokens = agreement(3, 40, seed=1).tokens
    fused = model(tokens)
    model.set_fused(False)
    explicit = model(tokens)
    assert torch.allclose(fused, explicit, atol=1e-10)
    # causal: the output at the last step does not change when nothing before it changes, and the
    # per-position attention never reads the future (a later token changed changes nothing earlier)
    blk = model.blocks[0].attn
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    y = blk(x)
    x2 = x.clone()
    x2[:, 7:] += 1.0
    assert torch.allclose(blk(x2)[:, :7], y[:, :7], atol=1e-12) and not torch.allclose(blk(x2)[:, 7:], y[:, 7:])


def test_sinusoidal_positions(attention):
    pe = attention.sinusoidal(50, 8)
    assert pe.shape == (50, 8)
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(50.0)))
    assert torch.allclose(pe[:, 1], torch.cos(torch.arange(50.0)))
    assert torch.allclose(pe[:, 6], torch.sin(torch.arange(50.0) * 10000 ** (-6 / 8)), atol=1e-6)


def test_peak_memory_counts_what_the_allocator_holds(attention):
    keep = [torch.ones(250_000)]  # 1 MB allocated before: not counted

    def work():
        a = torch.ones(1_000_000)  # 4 MB
        b = a * 2  # 4 MB more: 8 MB at the worst moment
        del a, b
        keep.pop()  # frees 1 MB
        c = torch.ones(500_000)  # 2 MB, below the peak
        return c

    assert abs(attention.peak_memory(work) - 8_000_000) < 1024  # (plus a few bytes of scalars)


def test_slope_and_crossing(attention):
    n = [256, 512, 1024, 2048]
    assert attention.slope(n, [3 * x**2 for x in n], 256) == pytest.approx(2.0)
    assert attention.slope(n, [None, 5.0 * 512, 5.0 * 1024, 5.0 * 2048], 256) == pytest.approx(1.0)
    assert attention.slope(n, [1.0, None, None, None], 256) is None
    # conv cost 4 N, attention N^2 / 256: equal at N = 1024
    cross = attention.crossing(n, [4.0 * x for x in n], [x * x / 256 for x in n])
    assert cross["kind"] == "measured" and cross["length"] == pytest.approx(1024)
    assert attention.crossing(n, [1.0] * 4, [2.0] * 4)["kind"] == "attention dearer everywhere"
    assert attention.crossing(n, [2.0] * 4, [1.0] * 4)["kind"] == "attention cheaper everywhere"


def test_attention_quick(tmp_path, attention):
    threads = torch.get_num_threads()
    try:
        assert attention.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    r = json.loads((tmp_path / "attention.json").read_text())
    d = r["data"]
    assert r["mode"] == "quick" and d["lengths"] == [64, 128, 256]
    p = d["parameters"]
    assert abs(p["conv"] - p["attention"]) / p["attention"] < 0.1  # equal parameters (within 10%)
    assert d["receptive_field"]["layer"] == d["receptive_field"]["analyze"] >= 256
    for kind in ("conv", "explicit", "fused"):
        assert all(s > 0 for s in d["series"][kind]["seconds"])
        assert all(b > 0 for b in d["series"][kind]["peak_bytes"])
    # the N x N matrix: explicit attention's memory grows faster than the fused kernel's
    ex, fu = d["series"]["explicit"]["peak_bytes"], d["series"]["fused"]["peak_bytes"]
    assert ex[-1] / ex[0] > fu[-1] / fu[0]
    assert d["slopes"]["explicit"]["peak_bytes"] > 1.5
    # the curriculum: both models through 16 and 32, the conv alone on to 64
    assert set(d["accuracy"]) == {"conv", "fused"}
    assert set(d["accuracy"]["conv"]) == {"16", "32", "64"} and set(d["accuracy"]["fused"]) == {"16", "32"}
    for runs in d["accuracy"].values():
        steps = [run["curve"][-1][0] for _, run in sorted(runs.items(), key=lambda kv: int(kv[0]))]
        assert steps == [40 + 30 * i for i in range(len(runs))]  # 40 steps at the first N, then 30; one model
        assert all(0.0 <= run["accuracy"] <= 1.0 for run in runs.values())
    assert len(r["figures"]) == 2 and all((tmp_path / f["file"]).stat().st_size > 5000 for f in r["figures"])
    assert [row[0] for row in r["rows"]] == [16, 32, 64, 128, 256]  # curriculum and cost lengths, in order
    assert all(len(row) == len(r["header"]) for row in r["rows"])


def test_attention_bad_lengths(tmp_path, attention, capsys):
    with pytest.raises(SystemExit) as e:
        attention.main(["--quick", "--out", str(tmp_path), "--lengths", "2", "8"])
    assert e.value.code == 2
    assert "--lengths must be at least 4" in capsys.readouterr().err


# --------------------------------------------------------------------------- speech


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (make espeak)")
def test_speech_quick(tmp_path):
    speech = _script("speech")
    threads = torch.get_num_threads()
    try:
        assert speech.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    r = json.loads((tmp_path / "speech.json").read_text())
    d = r["data"]
    assert r["mode"] == "quick" and d["rate"] == 8000
    # the streamer's generated logits are the offline forward of the same input
    assert d["stream_vs_offline"] < 1e-4
    assert d["generated_samples"] == 400 and d["samples_per_second"] > 0
    assert d["real_time_factor"] == pytest.approx(d["samples_per_second"] / 8000)
    # before training the model is near uniform over 256 classes
    assert abs(d["curve"][0][1] - math.log(256)) < 0.5
    assert 0 < d["marginal_nll"] < math.log(256)
    from scipy.io import wavfile

    for a in r["audio"]:
        rate, x = wavfile.read(tmp_path / a["file"])
        assert rate == 8000 and x.dtype == np.int16 and len(x) > 100
    assert {f["file"] for f in r["figures"]} == {"speech/spectrograms.png", "speech/loss.png"}


def test_speech_skips_without_espeak(tmp_path, monkeypatch, capsys):
    speech = _script("speech")
    monkeypatch.setattr(speech, "espeak_available", lambda: False)
    assert speech.main(["--quick", "--out", str(tmp_path)]) == 0
    assert "speech example skipped: espeak-ng is not installed" in capsys.readouterr().out
    assert not (tmp_path / "speech.json").exists()


def test_voiced_share_tells_pitch_from_noise():
    speech = _script("speech")
    rate = 8000
    t = np.arange(rate) / rate
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, rate)
    vowel = 0.1 * np.sin(2 * np.pi * 150 * t) + 0.05 * np.sin(2 * np.pi * 300 * t)
    assert speech.voiced_share(vowel, rate) == 1.0
    assert speech.voiced_share(noise, rate) == 0.0
    assert speech.voiced_share(np.zeros(rate), rate) == 0.0  # silence is not counted
    # half a second of each: half the audible frames voiced
    half = np.concatenate([vowel[: rate // 2], noise[: rate // 2]])
    assert speech.voiced_share(half, rate) == pytest.approx(0.5, abs=0.1)
