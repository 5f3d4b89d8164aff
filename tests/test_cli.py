"""The command line: numbers, JSON, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys

import pytest

from atrous.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def test_rf_shows_3_7_15(capsys):
    out = ok(capsys, "rf", "-k", "3", "-d", "1,2,4")
    rows = [line for line in out.splitlines() if "conv k3" in line]
    assert [int(r.split("│")[3]) for r in rows] == [3, 7, 15]
    out = ok(capsys, "rf", "-k", "3", "-d", "1,2,4", "--json")
    data = json.loads(out)
    assert [layer["size"] for layer in data["layers"]] == [[3], [7], [15]]
    assert [layer["total_parameters"] for layer in data["layers"]] == [3, 6, 9]


def test_rf_with_channels_and_input(capsys):
    out = ok(capsys, "rf", "-k", "3", "-d", "1,2", "-c", "8", "-i", "20", "--json")
    data = json.loads(out)
    assert data["layers"][0]["parameters"] == 3 * 8 * 8 + 8
    assert [layer["output_size"] for layer in data["layers"]] == [[18], [14]]


def test_rf_mixed_kinds_json(capsys):
    out = ok(capsys, "rf", "--kind", "conv,maxpool,tconv", "-k", "3,2,4", "-s", "1,2,2", "-p", "1,0,1", "--json")
    layers = json.loads(out)["layers"]
    assert [layer["jump"] for layer in layers] == [[1], [2], [1]]
    assert layers[2]["period"] == [2]


def test_shape_json(capsys):
    out = ok(capsys, "shape", "9,9", "-k", "3", "-s", "2", "--json")
    assert json.loads(out)["output_size"] == [4, 4]
    out = ok(capsys, "shape", "4", "-k", "3", "-s", "2", "-p", "1", "-t", "--json")
    data = json.loads(out)
    assert data["output_size"] == [7] and data["valid_output_sizes"] == [[7, 8]]
    out = ok(capsys, "shape", "10", "-k", "3", "-s", "2", "-p", "same", "--json")
    assert json.loads(out)["padding"] == [[0, 1]]


def test_pad_invert_plan(capsys):
    out = ok(capsys, "pad", "10", "-k", "3", "-s", "2", "--json")
    assert json.loads(out)["padding"] == [[0, 1]]
    out = ok(capsys, "invert", "10", "-k", "3", "-s", "2", "-p", "1", "--json")
    data = json.loads(out)
    assert data["inverse"]["output_padding"] == [1] and data["restored_size"] == [10]
    out = ok(capsys, "plan", "--target", "1000", "--json")
    data = json.loads(out)
    assert data["receptive_field"] >= 1000 and data["layers"] == 7
    out = ok(capsys, "plan", "--check", "2,2,2", "--json")
    data = json.loads(out)
    assert data["gridding_free"] is False and data["hole_period"] == 2


BAD = [
    ["shape"],
    ["shape", "9", "-k", "0"],
    ["shape", "9", "-k", "3", "-p", "foo"],
    ["shape", "2", "-k", "3", "-d", "2"],
    ["shape", "9", "-k", "3", "-s", "2.5"],
    ["shape", "4", "-k", "3", "-s", "2", "-t", "--output-padding", "2"],
    ["pad", "9", "-k", "3", "-m", "bogus"],
    ["pad", "x", "-k", "3"],
    ["invert", "abc", "-k", "3"],
    ["invert", "4", "-k", "3", "-d", "3", "-s", "2", "-t", "--output-padding", "2"],
    ["rf"],
    ["rf", "-k", "3", "-d", "1,2", "-s", "1,2,3"],
    ["rf", "-k", "3", "-d", "0"],
    ["rf", "-k", "3", "-i", "2", "-d", "1,2"],
    ["rf", "--kind", "pool", "-k", "3"],
    ["plan"],
    ["plan", "--target", "0"],
    ["plan", "--check", "1,x"],
    ["plan", "--target", "10", "-k", "1"],
    ["bogus"],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a) or "empty")
def test_bad_input_one_line_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err


def test_entry_point_process_and_no_torch():
    code = "import sys; from atrous.cli import main; r = main(['shape', '9', '-k', '3']); assert 'torch' not in sys.modules, 'torch imported'; sys.exit(r)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "atrous", "shape", "9", "-k", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_tour_runs(capsys):
    out = ok(capsys, "tour")
    assert "212" in out and "3, 7, 15" in out


# --------------------------------------------------------------------------- invert prints code that runs

INVERT_CASES = [
    ["10", "-k", "3", "-s", "2", "-p", "2:0"],  # asymmetric padding: torch.nn needs a crop
    ["10", "-k", "3", "-s", "2", "-p", "1"],
    ["9,9", "-k", "3", "-s", "2", "-p", "same"],
    ["9,10,11", "-k", "3,5,7", "-s", "2", "-p", "same", "-d", "1,2,3"],
    ["10", "-k", "4", "-s", "3", "-p", "3:1", "-d", "2", "-t"],  # inverse of a transposed conv: a conv
    ["7,8", "-k", "3", "-s", "2", "-p", "0:2x1:0", "-t", "--output-padding", "1"],
    ["31", "-k", "5", "-s", "4", "-p", "causal", "-d", "3"],
]


@pytest.mark.parametrize("argv", INVERT_CASES, ids=" ".join)
def test_invert_prints_code_that_runs(capsys, argv):
    torch = pytest.importorskip("torch")
    out = ok(capsys, "invert", *argv)
    lines = out.splitlines()
    sizes = tuple(int(v) for v in argv[0].split(","))
    code = lines[1:]
    assert all(len(line) <= 79 for line in code), [line for line in code if len(line) > 79]
    # the torch.nn part alone (before atrous's alternative) restores the size
    torch_only = (
        code[: code.index("# or atrous's layer, which takes the (lo, hi) pairs as they are:")]
        if ("# or atrous's layer, which takes the (lo, hi) pairs as they are:" in code)
        else code
    )
    assert "atrous" not in "\n".join(torch_only)
    for part in (torch_only, code):
        scope: dict = {}
        exec("\n".join(part), scope)  # the point of the test: the printed code runs
        assert tuple(scope["y"].shape[2:]) == sizes
        assert isinstance(scope["layer"], torch.nn.Module)
    data = json.loads(ok(capsys, "invert", *argv, "--json"))
    assert data["code"] == code and data["restored_size"] == list(sizes)


def test_invert_code_matches_atrous_layer_numerically(capsys):
    torch = pytest.importorskip("torch")
    out = ok(capsys, "invert", "10", "-k", "3", "-s", "2", "-p", "2:0")
    code = out.splitlines()[1:]
    split = code.index("# or atrous's layer, which takes the (lo, hi) pairs as they are:")
    scope: dict = {}
    exec("\n".join(code[:split]), scope)
    torch_layer, y_torch, x = scope["layer"], scope["y"], scope["x"]
    exec("\n".join(code[split:]), scope)
    scope["layer"].load_state_dict(torch_layer.state_dict())
    torch.testing.assert_close(scope["layer"](x), y_torch)


# --------------------------------------------------------------------------- JSON, outputs, help


def test_tour_json(capsys):
    data = json.loads(ok(capsys, "tour", "--json"))
    assert data["stack"]["receptive_fields"] == [3, 7, 15]
    assert data["dilated_kernel"]["receptive_field"] == 13
    assert [r["receptive_field"] for r in data["vgg16"] if r["layer"].startswith("pool")] == [6, 16, 44, 100, 212]
    assert data["transposed"]["k3_s2_jump"] == "1/2"
    assert len(data["nine_by_nine"]["dilation_4_reads"]) == 9


def test_animate_json_and_outputs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = json.loads(ok(capsys, "animate", "7", "-k", "3", "-d", "2", "-o", "a.gif", "--json"))
    assert data["frames"] == 3 and data["output_size"] == [3] and data["format"] == "gif"
    assert data["output"] == str((tmp_path / "a.gif").resolve())
    data = json.loads(ok(capsys, "animate", "5,5", "-k", "3", "-p", "1", "-o", "b.svg", "--frame", "4", "--json"))
    assert data["frames"] == 25 and data["frame"] == 4 and data["size"][0] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.svg"]


def test_plot_writes_only_the_named_file(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    ok(capsys, "plot", "coverage", "-o", "c.svg")
    ok(capsys, "plot", "detection", "-o", "d.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.svg", "d.png"]
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_rf_channels_count_parameters(capsys):
    data = json.loads(ok(capsys, "rf", "-k", "3", "-d", "1,2", "-c", "4", "--json"))
    assert [layer["parameters"] for layer in data["layers"]] == [3 * 16 + 4, 3 * 16 + 4]


def test_plan_far_target_is_arithmetic(capsys):
    data = json.loads(ok(capsys, "plan", "--target", str(10**18), "--json"))
    assert data["receptive_field"] >= 10**18 and data["layers"] == 38
    data = json.loads(ok(capsys, "plan", "--target", str(10**9), "--max-dilation", "100000", "--json"))
    assert data["receptive_field"] >= 10**9 and data["layers"] <= 10_000


@pytest.mark.parametrize("command", ["analyze", "report", "plot"])
def test_help_says_user_code_is_run(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "imports MODULE" in text and "runs its code" in text and "sys.path for that import only" in text
    assert "weights_only=True" in text


def test_traceback_on_request(tmp_path, monkeypatch, capsys):
    (tmp_path / "raising_on_import.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    try:
        code, _out, err = run(capsys, "analyze", "raising_on_import:build")
        assert code == 2 and "Traceback" not in err
        assert err.strip() == (
            "atrous analyze: error: importing raising_on_import failed: RuntimeError: boom at import "
            "(--traceback prints where)"
        )
        code, _out, err = run(capsys, "analyze", "raising_on_import:build", "--traceback")
        assert code == 2
        assert "Traceback (most recent call last)" in err and 'raising_on_import.py", line 1' in err
        assert err.strip().splitlines()[-1].startswith("atrous analyze: error: importing raising_on_import failed")
    finally:
        sys.modules.pop("raising_on_import", None)


def test_weights_refusal_is_atrous_own_line(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    (tmp_path / "tiny_model.py").write_text("import torch\n\ndef build():\n    return torch.nn.Conv1d(1, 1, 3)\n")
    torch.save(torch.nn.Conv1d(1, 1, 3), tmp_path / "whole.pt")  # a pickled module, not a state dict
    torch.save(torch.nn.Conv1d(1, 1, 3).state_dict(), tmp_path / "plain.pt")
    monkeypatch.chdir(tmp_path)
    try:
        code, _out, err = run(capsys, "analyze", "tiny_model:build", "-i", "1,1,9", "--weights", "whole.pt")
        assert code == 2
        assert err.strip() == (
            "atrous analyze: error: refused: whole.pt is not a plain state dict; atrous loads weights with "
            "weights_only=True and will not run pickled code"
        )
        data = json.loads(ok(capsys, "analyze", "tiny_model:build", "-i", "1,1,9", "--weights", "plain.pt", "--json"))
        assert data
    finally:
        sys.modules.pop("tiny_model", None)


def test_user_import_leaves_sys_path_as_it_was(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    (tmp_path / "path_model.py").write_text("import torch\n\ndef build():\n    return torch.nn.Conv1d(1, 1, 3)\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    try:
        ok(capsys, "analyze", "path_model:build", "-i", "1,1,9", "--json")
        assert sys.path == before
        ok(capsys, "analyze", "path_model.py:build", "-i", "1,1,9", "--json")
        assert sys.path == before
    finally:
        sys.modules.pop("path_model", None)
        sys.modules.pop("_atrous_user_model", None)


def test_report_examples_alone_reads_the_checkout(tmp_path, monkeypatch):
    from pathlib import Path

    from atrous.cli import _CHECKOUT_RESULTS, _examples_folder

    checkout = Path(__file__).resolve().parents[1] / "docs" / "results"
    monkeypatch.chdir(tmp_path)
    if checkout.is_dir():
        assert _examples_folder(_CHECKOUT_RESULTS) == checkout
    assert _examples_folder("mine") == Path("mine")  # a folder given is the user's path
    assert _examples_folder(None) is None


def test_long_lines_are_not_wrapped():
    # rich wraps at 80 columns when stdout is no terminal: no line of text may be cut
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-m", "atrous", "plan", "--check", "2,4,8,16"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("coverage:") and len(line) > 80 for line in lines)
    assert all(line.startswith(("dilations", "coverage:", "HDC rule:")) for line in lines), lines


def test_module_entry_runs_without_the_safe_path_flag(capsys, monkeypatch):
    """``python -m atrous`` on Python 3.10, whose ``sys.flags`` has no ``safe_path`` (3.11+)."""
    import runpy
    import types

    names = [n for n in dir(sys.flags) if not n.startswith("_") and n not in ("safe_path", "count", "index")]
    monkeypatch.setattr(sys, "flags", types.SimpleNamespace(**{n: getattr(sys.flags, n) for n in names}))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "argv", ["atrous", "rf", "-k", "3", "-d", "1,2,4", "--json"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("atrous", run_name="__main__")
    assert exit_info.value.code == 0
    assert [layer["size"] for layer in json.loads(capsys.readouterr().out)["layers"]] == [[3], [7], [15]]
