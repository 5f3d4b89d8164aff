"""Deterministic mode reproduces an example bit for bit: two separate processes running the
gridding example's quick mode with ``ATROUS_DETERMINISTIC=1`` write identical numbers and the
same route table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # (two runs of ~13 s of CPU each: ~15 s on two free cores, ~30 s beside another worker)
def test_an_example_run_twice_in_deterministic_mode_is_bit_identical(tmp_path):
    runs = []
    for i in range(2):  # (both processes at once: each is single-threaded)
        out = tmp_path / f"run{i}"
        env = dict(os.environ, ATROUS_DETERMINISTIC="1", ATROUS_ROUTE_TABLE=str(tmp_path / f"routes{i}.json"))
        cmd = [sys.executable, str(ROOT / "examples" / "gridding.py"), "--quick", "--threads", "1", "--out", str(out)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        runs.append((proc, out))
    records, tables = [], []
    for i, (proc, out) in enumerate(runs):
        text, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, text[-3000:]
        records.append(json.loads((out / "gridding.json").read_text()))
        tables.append(json.loads((tmp_path / f"routes{i}.json").read_text()))
    a, b = records
    # every number the run records (json keeps floats to the last bit), the table and the text
    assert a["data"] == b["data"] and a["rows"] == b["rows"] and a["text"] == b["text"]
    assert a["data"]["results"] and all(r["test_mse"] > 0 for r in a["data"]["results"].values())
    assert tables[0] == tables[1] and tables[0]["deterministic"] is True
    assert tables[0]["routes"] and all(r["by"] in ("rule", "pytorch") for r in tables[0]["routes"])
