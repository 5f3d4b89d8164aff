"""`atrous analyze`: the VGG-16 table, JSON, ERF, user models and one-line errors."""

import json

import pytest

from atrous.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_vgg16_pool5(capsys):
    code, out, _ = run(capsys, "analyze", "builtin:vgg16", "--input", "1,3,224,224")
    assert code == 0
    row = next(line for line in out.splitlines() if "features/pool5" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[5:8] == ["212", "32", "90"]


def test_json_and_erf(capsys):
    code, out, _ = run(
        capsys, "analyze", "builtin:hdc-125", "--json", "--erf", "--samples", "2", "--input", "1,3,32,32"
    )
    assert code == 0
    data = json.loads(out)
    assert data["nodes"][-1]["rf"] == [17, 17]
    assert data["erf"]["trf"] == [17, 17] and data["erf"]["samples"] == 2


def test_user_model_file_and_weights(capsys, tmp_path):
    import torch

    src = tmp_path / "mymodel.py"
    src.write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, dilation=2), torch.nn.Conv1d(2, 1, 3, dilation=2))\n"
    )
    code, out, _ = run(capsys, "analyze", f"{src}:build", "--input", "1,1,40", "--json")
    assert code == 0 and json.loads(out)["nodes"][-1]["rf"] == [9]
    exec(src.read_text(), ns := {})
    weights = tmp_path / "w.pt"
    torch.save(ns["build"]().state_dict(), weights)
    code, out, _ = run(capsys, "analyze", f"{src}:build", "--input", "1,1,40", "--weights", str(weights), "--json")
    assert code == 0
    torch.save({"bogus": torch.zeros(1)}, weights)
    code, _, err = run(capsys, "analyze", f"{src}:build", "--input", "1,1,40", "--weights", str(weights))
    assert code == 2 and "do not fit the model" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "builtin:nope"],
        ["analyze", "nosuchmodule_xyz:build", "--input", "1,3,8,8"],
        ["analyze", "json:dumps", "--input", "1,3,8,8"],
        ["analyze", "builtin:vgg16", "--input", "1,3"],
        ["analyze", "builtin:vgg16", "--input", "1,3,10,10"],
        ["analyze", "missing_colon"],
        ["analyze", "builtin:tcn", "--weights", "/nonexistent.pt"],
    ],
)
def test_errors_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "error:" in err
