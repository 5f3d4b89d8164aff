"""The examples' shared plumbing: results JSON, docs/RESULTS.md, and the report's example sections."""

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

from atrous.cli import main as cli
from atrous.errors import SpecError
from atrous.viz.report import build_report, example_records

ROOT = Path(__file__).resolve().parents[2]


def _common():
    # as the example scripts do: examples/ on the path, then `import common`
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    return importlib.import_module("common")


def _write(tmp_path, name="adding", quick=True):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    common = _common()
    p = common.parser("test")
    args = common.parse(p, ["--out", str(tmp_path), "--seed", "3"] + (["--quick"] if quick else []))
    dist = common.distributed()
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    path = common.save(
        args,
        dist,
        script=str(ROOT / "examples" / "adding.py"),
        name=name,
        title=f"Title of {name}",
        text="Trained `TCN` for **two** steps.",
        header=["model", "MSE"],
        rows=[["TCN", 1.5e-4], ["LSTM", float("nan")]],
        figures=[("curve.png", fig, "a curve")],
        data={"curve": [1.0, 0.5]},
        started=time.perf_counter(),
    )
    return common, path


def test_save_writes_json_and_figures(tmp_path):
    _, path = _write(tmp_path)
    record = json.loads(path.read_text())
    assert record["command"] == "python examples/adding.py --seed 3 --quick"  # --out is left out
    assert record["mode"] == "quick" and record["processes"] == 1 and record["seed"] == 3
    assert record["rows"] == [["TCN", 1.5e-4], ["LSTM", None]]  # NaN is not JSON
    assert (tmp_path / "adding" / "curve.png").stat().st_size > 1000
    assert record["figures"] == [{"file": "adding/curve.png", "caption": "a curve"}]


def test_results_markdown(tmp_path):
    common, _ = _write(tmp_path, "copy_memory")
    _write(tmp_path, "adding")
    md = common.write_results_md(tmp_path, tmp_path / "RESULTS.md").read_text()
    assert md.index("## Title of adding") < md.index("## Title of copy_memory")  # the examples' order
    assert "| TCN | 0.00015 |" in md and "| LSTM |  |" in md
    assert "![a curve](adding/curve.png)" in md


def test_results_markdown_escapes_pipes_in_cells(tmp_path):
    common, path = _write(tmp_path, "adding")
    record = json.loads(path.read_text())
    record["header"], record["rows"] = ["quantity", "value"], [["max |diff|", "1e-6"]]
    path.write_text(json.dumps(record))
    md = common.results_markdown(tmp_path, tmp_path)
    row = next(line for line in md.splitlines() if "diff" in line)
    assert row == "| max \\|diff\\| | 1e-6 |"
    assert row.replace("\\|", "").count("|") == 3  # two columns, as the header


def test_report_example_sections(tmp_path):
    _write(tmp_path / "res")
    index = build_report(tmp_path / "rep", progress=False, sections=[], examples=tmp_path / "res")
    text = index.read_text()
    assert '<section id="example-adding">' in text
    assert "Trained <code>TCN</code> for <b>two</b> steps." in text
    assert (tmp_path / "rep" / "assets" / "example_adding_curve.png").is_file()
    assert "python examples/adding.py --seed 3 --quick" in text and "(quick run)" in text


def test_example_records_errors(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        example_records(tmp_path / "nope")
    with pytest.raises(SpecError, match="holds no results"):
        example_records(tmp_path)
    (tmp_path / "bad.json").write_text('{"name": "x"}')
    with pytest.raises(SpecError, match=r"bad\.json is not an example result"):
        example_records(tmp_path)


def test_cli_examples_errors(tmp_path, capsys):
    assert cli(["report", "-o", str(tmp_path / "r"), "--examples", str(tmp_path / "missing"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err and "does not exist" in err
    assert cli(["report", "builtin:tcn", "--examples", str(tmp_path)]) == 2
    assert "--examples goes with the built-in report" in capsys.readouterr().err


def test_examples_reject_bad_flags(capsys):
    common = _common()
    p = common.parser("test")
    with pytest.raises(SystemExit) as e:
        common.parse(p, ["--threads", "0"])
    assert e.value.code == 2
    assert "--threads must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        common.parse(p, ["--device", "tpu"])
    assert "--device must be cpu, cuda or cuda:N, got 'tpu'" in capsys.readouterr().err


def test_recorded_results_are_complete_and_current():
    """docs/results holds a full run of every example, and docs/RESULTS.md is generated from it."""
    common = _common()
    records = example_records(common.RESULTS_DIR)
    assert [r["name"] for r in records] == common.ORDER
    for r in records:
        assert r["mode"] == "full", r["name"]
        command = r["command"].removeprefix("ATROUS_DETERMINISTIC=1 ")
        assert command.startswith(("python examples/", "torchrun ")), r["command"]
        for f in r["figures"]:
            assert (common.RESULTS_DIR / f["file"]).is_file(), f["file"]
    fresh = common.results_markdown(common.RESULTS_DIR, common.RESULTS_MD.parent)
    assert fresh == common.RESULTS_MD.read_text(), "docs/RESULTS.md is stale: run examples/common.write_results_md()"
    gallery = common.gallery_markdown(common.RESULTS_DIR, common.RESULTS_MD.parent)
    assert gallery == common.GALLERY_MD.read_text(), "docs/gallery.md is stale: run examples/common.write_results_md()"


def test_recorded_command_names_the_deterministic_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("ATROUS_DETERMINISTIC", "1")
    _, path = _write(tmp_path)
    assert (
        json.loads(path.read_text())["command"] == "ATROUS_DETERMINISTIC=1 python examples/adding.py --seed 3 --quick"
    )
    monkeypatch.delenv("ATROUS_DETERMINISTIC")
    _, path = _write(tmp_path)
    assert json.loads(path.read_text())["command"] == "python examples/adding.py --seed 3 --quick"


def test_audio_in_results_markdown_and_report(tmp_path):
    import numpy as np
    from scipy.io import wavfile

    common = _common()
    p = common.parser("test")
    args = common.parse(p, ["--out", str(tmp_path / "res"), "--quick"])
    tone = np.sin(np.arange(800) * 0.3) * 0.5
    path = common.save(
        args,
        common.distributed(),
        script=str(ROOT / "examples" / "speech.py"),
        name="speech",
        title="Sound",
        text="A tone.",
        header=[],
        rows=[],
        audio=[("tone.wav", tone, 8000, "a tone")],
        started=time.perf_counter(),
    )
    record = json.loads(path.read_text())
    assert record["audio"] == [{"file": "speech/tone.wav", "caption": "a tone", "rate": 8000}]
    rate, x = wavfile.read(tmp_path / "res" / "speech" / "tone.wav")
    assert rate == 8000 and x.dtype == np.int16 and np.abs(x / 32767 - tone).max() < 1e-4
    md = common.results_markdown(tmp_path / "res", tmp_path / "res")
    assert "Audio: [tone.wav](speech/tone.wav), a tone" in md
    index = build_report(tmp_path / "rep", progress=False, sections=[], examples=tmp_path / "res")
    text = index.read_text()
    assert '<audio controls preload="none" src="assets/example_speech_tone.wav">' in text
    assert (tmp_path / "rep" / "assets" / "example_speech_tone.wav").read_bytes() == (
        tmp_path / "res" / "speech" / "tone.wav"
    ).read_bytes()
    with pytest.raises(ValueError, match=r"audio file names end in \.wav"):
        common.save(
            args,
            common.distributed(),
            script="x.py",
            name="speech",
            title="t",
            text="",
            header=[],
            rows=[],
            audio=[("tone.mp3", tone, 8000, "")],
            started=0.0,
        )
