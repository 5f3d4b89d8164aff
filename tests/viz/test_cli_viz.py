"""`atrous animate`, `atrous plot` and `atrous report` from the command line."""

import pytest
from PIL import Image

from atrous.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_animate_gif_and_svg(capsys, tmp_path):
    code, out, _ = run(capsys, "animate", "5,5", "-k", "3", "-s", "2", "-p", "1", "-o", str(tmp_path / "a.gif"))
    assert code == 0 and out.strip().endswith("a.gif")
    assert Image.open(tmp_path / "a.gif").n_frames == 9
    code, _, _ = run(
        capsys,
        "animate",
        "3",
        "-k",
        "3",
        "-s",
        "2",
        "-p",
        "1",
        "-t",
        "--output-padding",
        "1",
        "-o",
        str(tmp_path / "t.svg"),
    )
    assert code == 0 and "inserted zeros" in (tmp_path / "t.svg").read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["coverage", "--rates", "2,2,2", "--rates", "1,2,5"],
        ["checkerboard", "-k", "3"],
        ["frequency", "--kernel", "1,2,1", "--dilations", "1,3"],
        ["detection"],
        ["rf", "--model", "builtin:context"],
    ],
)
def test_plot(capsys, tmp_path, argv):
    path = tmp_path / "f.png"
    code, _, err = run(capsys, "plot", *argv, "-o", str(path))
    assert code == 0, err
    assert Image.open(path).size[0] > 300


@pytest.mark.parametrize(
    "argv",
    [
        ["animate", "5", "-k", "3", "-o", "x.txt"],
        ["animate", "5,5,5", "-k", "3"],
        ["animate", "2", "-k", "3", "-d", "2"],
        ["plot", "rf"],
        ["plot", "frequency", "--kernel", "a,b"],
        ["plot", "coverage", "-o", "x.jpg"],
        ["report", "--input", "1,3,8,8"],
    ],
)
def test_errors_one_line(capsys, argv):
    code, _out, err = run(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_report_for_a_model(capsys, tmp_path):
    code, _out, err = run(
        capsys, "report", "builtin:hdc-125", "--input", "1,3,32,32", "-o", str(tmp_path / "r"), "--no-progress"
    )
    assert code == 0, err
    html = (tmp_path / "r" / "index.html").read_text()
    assert "builtin:hdc-125" in html and "17" in html
