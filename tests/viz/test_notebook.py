"""What a notebook shows: fields, analysis reports and animations render themselves."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import pytest

from atrous.geometry import ConvSpec, receptive_field
from atrous.geometry.display import field_html


def _rects(svg: str, fill: str) -> int:
    return len(re.findall(rf"<rect [^>]*fill='{fill}'", svg))


def test_field_html_draws_the_tap_set_and_its_holes():
    f = receptive_field([ConvSpec(3, dilation=2)] * 3)[-1]
    text = f._repr_html_()
    assert text == field_html(f)
    assert "<table" in text and "<svg" in text
    assert _rects(text, "#0b3d5c") == f.taps == 7 and _rects(text, "#e4572e") == len(f.holes) == 6
    assert "holes of output 0</th><td style='text-align:left;padding:1px 0'>6: 1, 3, 5, 7, 9, 11" in text


def test_field_html_of_a_transposed_layer_shows_every_phase():
    f = receptive_field([ConvSpec(3, padding=1), ConvSpec(4, 2, 1, transposed=True)])[-1]
    text = f._repr_html_()
    assert f.period == 2 and "r=0" in text and "r=1" in text
    assert _rects(text, "#0b3d5c") == sum(len(p.positions()) for p in f.phases)
    assert "phases</th>" in text


def test_fieldnd_html_is_the_box_of_output_zero():
    f = receptive_field([ConvSpec((3, 3), dilation=(2, 1))], input_size=(9, 9))[-1]
    text = f._repr_html_()
    assert "axis 0" in text and "axis 1" in text
    box = text.split("<div><svg")[1]
    assert _rects(box, "#0b3d5c") == 3 * 3 and _rects(box, "#e4572e") == 2 * 3  # the dilated rows' gaps
    assert "output length</th><td style='text-align:left;padding:1px 0'>5" in text


def test_display_keeps_the_geometry_core_light():
    code = (
        "import sys; from atrous.geometry import ConvSpec, receptive_field;"
        "f = receptive_field([ConvSpec(3, dilation=2)], input_size=(9, 9))[-1]; f._repr_html_(); f[0]._repr_html_();"
        "heavy = [m for m in ('numpy', 'torch', 'matplotlib', 'atrous.viz') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_report_html():
    torch = pytest.importorskip("torch")
    from atrous.analysis import analyze

    net = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, 3, dilation=2) for _ in range(3)])
    report = analyze(net, (1, 1, 64))
    text = report._repr_html_()
    _, rows = report.display()
    assert text.count("<tr>") == len(rows) + 1
    for row in rows:
        assert f">{row[0]}</td>" in text
    assert "gridding" in text  # 2, 2, 2 grids, and the report says so


def test_animation_shows_inline():
    from PIL import Image

    from atrous.viz import animate

    frames = animate(ConvSpec(3, stride=2, padding=1), (5, 5))
    assert isinstance(frames, list) and len(frames) == 9
    png = Image.open(io.BytesIO(frames._repr_png_()))
    assert png.size == frames[0].size
    assert png.convert("RGB").tobytes() == frames[0].convert("RGB").tobytes()
    html = frames._repr_html_()
    data = base64.b64decode(re.search(r"base64,([^']+)'", html).group(1))
    apng = Image.open(io.BytesIO(data))
    assert getattr(apng, "n_frames", 1) == 9
