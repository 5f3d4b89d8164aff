"""``atrous stream``: latency and real-time factor of a user's model, its exactness checked."""

from __future__ import annotations

import json
import sys

import pytest

from atrous.cli import main
from atrous.stream import stream

MODELS = """
import torch
from torch import nn
import torch.nn.functional as F


class CausalTCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(1 if i == 0 else 4, 4, 3, dilation=2**i) for i in range(3))

    def forward(self, x):
        for i, c in enumerate(self.convs):
            x = torch.relu(c(F.pad(x, (2 * 2**i, 0))))
        return x


def tcn():
    return CausalTCN()


def with_dropout():
    return nn.Sequential(nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(1, 2, 3), nn.Dropout(0.5))


def codec():
    return nn.Sequential(nn.Conv1d(1, 4, 8, stride=4, padding=2), nn.ELU(), nn.ConvTranspose1d(4, 1, 8, stride=4, padding=2))
"""


@pytest.fixture
def models(tmp_path, monkeypatch):
    (tmp_path / "streammods.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("streammods", None)


def _json(capsys, *argv: str) -> dict:
    assert main(["stream", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_latency_is_the_streamers_and_every_chunk_is_timed(models, capsys):
    d = _json(capsys, "streammods:codec", "-i", "1,1,64", "--chunk", "4,64", "--seconds", "0.02")
    sys.path.insert(0, str(models))
    try:
        import streammods

        want = stream(streammods.codec().eval(), input_shape=(1, 1, 64))
    finally:
        sys.path.remove(str(models))
    assert d["latency_samples"] == want.latency > 0  # the transposed layer's lookahead
    assert d["latency_ms"] == pytest.approx(1000 * want.latency / 16000)
    assert d["rate"] == "1" and d["verified"]["max_error"] < 1e-12 and d["verified"]["runs"] > 0
    assert [r["chunk"] for r in d["chunks"]] == [4, 64]
    for r in d["chunks"]:
        assert r["buffering_samples"] == r["chunk"] - 1
        assert r["total_latency_samples"] == want.latency + r["chunk"] - 1
        assert r["chunks_timed"] >= 3 and r["compute_ms"] > 0
        assert r["rtf"] == pytest.approx(r["compute_ms"] / 1000 / (r["chunk"] / 16000))


def test_table_names_latency_buffering_and_rtf(models, capsys):
    assert main(["stream", "streammods:tcn", "-i", "1,1,32", "--chunk", "1,16", "--seconds", "0.01",
                 "--sample-rate", "8000"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "streams exactly" in out and "algorithmic latency 0 samples = 0.00 ms at 8000 Hz" in out
    assert "real-time factor" in out and "15 (1.88 ms)" in out  # a 16-sample chunk's buffering at 8 kHz


def test_the_model_is_streamed_in_eval_mode(models, capsys):
    """A factory's model comes in training mode, where Dropout cannot stream (refused); the
    command streams it in eval mode."""
    from atrous.errors import SpecError

    sys.path.insert(0, str(models))
    try:
        import streammods

        with pytest.raises(SpecError):
            stream(streammods.with_dropout(), input_shape=(1, 1, 16))
    finally:
        sys.path.remove(str(models))
    d = _json(capsys, "streammods:with_dropout", "-i", "1,1,16", "--chunk", "8", "--seconds", "0.005")
    assert d["latency_samples"] == 0 and d["verified"]["max_error"] < 1e-12
