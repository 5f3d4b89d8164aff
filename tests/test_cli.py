"""The command line: numbers, JSON, and one-line errors with exit status 2."""

import json
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
