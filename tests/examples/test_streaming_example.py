"""``examples/streaming.py``: its quick mode writes the results, exact and with the streamers' latency."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load():
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("streaming_example", EXAMPLES / "streaming.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_streaming_quick(tmp_path):
    ex = _load()
    assert ex.main(["--quick", "--out", str(tmp_path), "--threads", "1", "--seconds", "0.2"]) == 0
    r = json.loads((tmp_path / "streaming.json").read_text())
    assert (tmp_path / "streaming" / "latency_and_rtf.png").is_file()
    from atrous.stream import stream

    for name, _cin, shape in (("codec", 1, (1, 1, 256)), ("vocoder", 20, (1, 20, 16))):
        d = r["data"][name]
        model = ex.Codec(8).eval() if name == "codec" else ex.Vocoder(20, 32).eval()
        assert d["latency_samples"] == stream(model, input_shape=shape).latency > 0  # both look ahead
        for e in d["chunks"]:
            assert e["max_error_float64"] < 1e-12  # streamed == offline
            assert e["rtf"] > 0 and e["chunks_timed"] >= 1
    assert "reproduces the offline forward" in r["text"]
