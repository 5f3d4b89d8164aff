"""Animations: what each frame draws agrees with atrous.geometry, pixel by pixel."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from itertools import product

import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from atrous.geometry import ConvSpec, PoolSpec, SpecError, layer_output_size, receptive_field  # noqa: E402
from atrous.viz import ANIMATION_COLOURS, CONV_ARITHMETIC, animate, conv_arithmetic_set, frame_cells, svg  # noqa: E402

COLOUR_NAME = {rgb: name for name, rgb in ANIMATION_COLOURS.items()}
SVG = "{http://www.w3.org/2000/svg}"


def _sizes(size):
    return size if isinstance(size, tuple) else (size,)


def _expected_axis_categories(spec, sizes):
    """Per axis: (origin, categories) from the resolved spec alone (independent of the drawing)."""
    r = spec.for_ndim(len(sizes)).resolve(sizes)
    out = []
    for n, (lo, hi), k, s, d, op in zip(
        sizes, r.pads, r.kernel_size, r.stride, r.dilation, r.output_padding, strict=True
    ):
        if not r.transposed:
            cats = ["input" if 0 <= p < n else "padding" for p in range(-lo, n + hi)]
            out.append((-lo, cats, (lo, hi)))
        else:
            length = (n - 1) * s + 1
            elo, ehi = d * (k - 1) - lo, d * (k - 1) - hi + op
            origin = min(-elo, 0)
            cats = []
            for q in range(origin, max(length + ehi, length)):
                if q < 0 or q >= length:
                    cats.append("padding")
                elif q < -elo or q >= length + ehi:
                    cats.append("cropped")
                else:
                    cats.append("zero" if q % s else "input")
            out.append((origin, cats, (elo, ehi)))
    return out


def _check(spec, size, frames=None):
    """Check every frame (or the listed ones) against the geometry, pixels included."""
    sizes = _sizes(size)
    images = animate(spec, size)
    out = layer_output_size(spec.for_ndim(len(sizes)), sizes)
    assert len(images) == math.prod(out)
    field = receptive_field([spec], input_size=sizes)[0]
    axes = _expected_axis_categories(spec, sizes)
    for f in range(len(images)) if frames is None else frames:
        c = frame_cells(spec, size, f)
        index = c["output_index"]
        assert index == tuple(divmod(f, out[1])) if len(out) == 2 else index == (f,)
        assert c["output_size"] == out
        assert c["origin"] == tuple(a[0] for a in axes)
        assert c["padding"] == tuple(a[2] for a in axes)
        assert c["shape"] == tuple(len(a[1]) for a in axes)
        # cell categories where the geometry says (padding lo before and hi after)
        for g, cat in c["categories"].items():
            per_axis = [axes[i][1][g[i]] for i in range(len(g))]
            want = next((n for n in ("padding", "cropped", "zero") if n in per_axis), "input")
            assert cat == want, (g, cat, want)
        # taps read by the current output == the exact support of receptive_field
        support = field.support(index)
        expected = sorted(product(*support))
        assert c["reads"] == expected
        assert sorted({c["input_index"][g] for g in c["taps"] if c["categories"][g] == "input"}) == expected
        # pixels: the centre of each cell is the tap colour where read, else its category; the
        # ring inside the border always shows the category
        rgb = images[f].convert("RGB")
        taps = set(c["taps"])
        for g, (x0, y0, x1, y1) in c["input_boxes"].items():
            centre = COLOUR_NAME.get(rgb.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)))
            ring = COLOUR_NAME.get(rgb.getpixel((x0 + 2, y0 + 2)))
            assert centre == ("tap" if g in taps else c["categories"][g]), (f, g, centre)
            assert ring == c["categories"][g], (f, g, ring)
        for o, (x0, y0, x1, y1) in c["output_boxes"].items():
            centre = COLOUR_NAME.get(rgb.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)))
            assert centre == ("current" if o == index else "output"), (f, o, centre)
        assert any(f"= {out[0]}" in line for line in c["formula"])
    return images


def test_1d_plain():
    _check(ConvSpec(3), 5)


def test_2d_padding_strides():
    spec = ConvSpec(3, stride=2, padding=1)
    _check(spec, (5, 5))
    c = frame_cells(spec, (5, 5), 0)
    assert "o = floor((5 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 3" in c["formula"]


def test_2d_asymmetric_mixed_axes():
    spec = ConvSpec((3, 2), stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2))
    _check(spec, (6, 5))
    c = frame_cells(spec, (6, 5), 0)
    cats = c["categories"]
    assert cats[(0, 0)] == "padding" and cats[(6, 0)] == "input"  # one padding row before, none after
    assert cats[(1, 0)] == "input" and cats[(1, 5)] == "padding" and cats[(1, 6)] == "padding"  # two cols after
    assert c["shape"] == (7, 7)
    assert any(line.startswith("rows: ") for line in c["formula"]) and any(
        line.startswith("cols: ") for line in c["formula"]
    )


def test_padding_strides_odd_pads_the_right_side():
    # conv_arithmetic's users' complaint: the odd case's transposed padding drawn on the wrong side
    spec = ConvSpec(3, stride=2, padding=1, transposed=True, output_padding=1)
    c = frame_cells(spec, (3, 3), 0)
    assert c["padding"] == ((1, 2), (1, 2))  # lo before, hi + output_padding after
    assert c["shape"] == (8, 8)
    assert c["categories"][(0, 0)] == "padding" and c["categories"][(1, 1)] == "input"
    assert c["categories"][(6, 6)] == "padding" and c["categories"][(7, 7)] == "padding"
    assert c["categories"][(1, 2)] == "zero" and c["categories"][(5, 5)] == "input"


def test_same_with_stride_is_asymmetric():
    spec = ConvSpec(3, stride=2, padding="same")
    _check(spec, (6, 6))
    c = frame_cells(spec, (6, 6), 0)
    assert c["padding"] == ((0, 1), (0, 1))
    assert "'same' = (0, 1)" in svg(spec, (6, 6))


def test_causal_1d():
    spec = ConvSpec(3, padding="causal", dilation=2)
    _check(spec, 8)
    c = frame_cells(spec, 8, 0)
    assert [c["categories"][(g,)] for g in range(6)] == ["padding"] * 4 + ["input"] * 2
    assert c["taps"] == [(0,), (2,), (4,)] and c["reads"] == [(0,)]


def test_full_padding_2d():
    _check(ConvSpec(3, padding="full"), (3, 4), frames=[0, 7, 29])


def test_transposed_with_output_padding():
    _check(ConvSpec(3, stride=2, padding=1, transposed=True, output_padding=1), (3, 3))
    _check(ConvSpec(4, stride=3, padding=(1,), transposed=True, output_padding=2), 3)


def test_dilated_transposed():
    _check(ConvSpec(3, stride=2, padding=1, dilation=2, transposed=True, output_padding=1), 4)
    _check(ConvSpec(3, dilation=2, transposed=True), (3, 3))


def test_transposed_padding_beyond_the_kernel_crops():
    spec = ConvSpec(3, stride=2, padding=3, transposed=True)
    _check(spec, 4)
    c = frame_cells(spec, 4, 0)
    assert c["padding"] == ((-1, -1),)
    assert c["categories"][(0,)] == "cropped" and c["categories"][(6,)] == "cropped"


def test_inserted_zeros_between_inputs():
    c = frame_cells(ConvSpec(2, stride=3, transposed=True), 3, 0)
    cats = [c["categories"][(g,)] for g in range(c["shape"][0])]
    assert cats == ["padding", "input", "zero", "zero", "input", "zero", "zero", "input", "padding"]
    assert [c["input_index"][(g,)] for g in (1, 4, 7)] == [(0,), (1,), (2,)]


def test_frames_are_deterministic(tmp_path):
    spec = ConvSpec(3, stride=2, padding=1, transposed=True, output_padding=1)
    a = animate(spec, (3, 3), tmp_path / "a.gif")
    from atrous.viz.animate import _cache_clear

    _cache_clear()
    b = animate(spec, (3, 3), tmp_path / "b.gif")
    assert [im.tobytes() for im in a] == [im.tobytes() for im in b]
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    animate(spec, (3, 3), tmp_path / "a.apng")
    animate(spec, (3, 3), tmp_path / "b.apng")
    assert (tmp_path / "a.apng").read_bytes() == (tmp_path / "b.apng").read_bytes()


def test_formats(tmp_path):
    spec = ConvSpec(3, padding=1)
    frames = animate(spec, 4, tmp_path / "x.gif", fps=4)
    with Image.open(tmp_path / "x.gif") as im:
        assert im.is_animated and im.n_frames == len(frames) == 4
        assert im.info["duration"] == 250 and im.info["loop"] == 0
    animate(spec, 4, tmp_path / "x.apng")
    with Image.open(tmp_path / "x.apng") as im:
        assert im.format == "PNG" and im.n_frames == 4
    animate(spec, 4, tmp_path / "still.png")
    with Image.open(tmp_path / "still.png") as im:
        assert getattr(im, "n_frames", 1) == 1
        assert im.convert("RGB").tobytes() == frames[0].convert("RGB").tobytes()
    buf = tmp_path / "anim.bin"
    animate(spec, 4, buf, format="apng")
    assert Image.open(io.BytesIO(buf.read_bytes())).n_frames == 4
    with pytest.raises(SpecError, match="format"):
        animate(spec, 4, tmp_path / "x.jpg")


def test_keyword_spec_and_errors():
    a = animate({"kernel_size": 3, "stride": 2, "padding": ((1, 0),)}, 6)
    b = animate(ConvSpec(3, stride=2, padding=((1, 0),)), 6)
    assert [im.tobytes() for im in a] == [im.tobytes() for im in b]
    with pytest.raises(SpecError, match="1-d and 2-d"):
        animate(ConvSpec(3), (4, 4, 4))
    with pytest.raises(SpecError, match="frame"):
        frame_cells(ConvSpec(3), 5, 3)
    with pytest.raises(SpecError, match="ConvSpec"):
        animate(PoolSpec(2), 4)
    with pytest.raises(SpecError, match="too small"):
        animate(ConvSpec(5), 3)
    with pytest.raises(SpecError):
        animate({"kernel_size": 3, "bogus": 1}, 5)


def test_svg_is_well_formed_and_labelled():
    spec = ConvSpec(3, stride=2, padding=1, transposed=True, output_padding=1)
    text = svg(spec, (3, 3), frame=7)
    root = ET.fromstring(text)
    assert root.tag == SVG + "svg"
    words = " ".join(e.text or "" for e in root.iter(SVG + "text"))
    for label in ("input", "padding", "inserted zeros", "output", "kernel taps", "current output"):
        assert label in words, label
    assert "= 6" in words
    c = frame_cells(spec, (3, 3), 7)
    rects = [e for e in root.iter(SVG + "rect") if e.get("class") == "tap"]
    assert len(rects) == len(c["taps"]) + 1  # the taps and the legend swatch
    ET.fromstring(svg(ConvSpec(3, dilation=2), 7, frame=2))


def test_palette_is_distinct():
    colours = list(ANIMATION_COLOURS.values())
    assert len(set(colours)) == len(colours)
    for a, b in product(colours, colours):
        if a != b:
            assert sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 > 60


def test_conv_arithmetic_set(tmp_path):
    paths = conv_arithmetic_set(tmp_path)
    assert len(paths) == 8 + 7 + 1
    names = {p.stem for p in paths}
    assert names == set(CONV_ARITHMETIC) | {f"{n}_transposed" for n in CONV_ARITHMETIC}
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "GIF" and im.is_animated
            name = p.stem.removesuffix("_transposed")
            i, k, s, pad, d = CONV_ARITHMETIC[name]
            o = layer_output_size(ConvSpec(k, s, pad, d), (i, i))
            # direct: one frame per output cell; transposed: maps o back to i (one frame per input cell)
            n = math.prod(o) if not p.stem.endswith("_transposed") else i * i
            assert im.n_frames == n, (p.name, im.n_frames, n)


def _torch_cases():
    cases = []
    for k, s, d, pad in product((1, 2, 3), (1, 2, 3), (1, 2), (0, 1, (2, 0), (0, 3), "same", "full")):
        for transposed in (False, True):
            if transposed and pad == "same":
                continue
            # output_padding with a mode name ("full") is dropped by ConvSpec.resolve (reported),
            # so only explicit paddings get output_padding here
            ops = range(max(s, d)) if transposed and not isinstance(pad, str) else (0,)
            for op in ops:
                cases.append((k, s, d, pad, transposed, op))
    return cases


def test_drawn_taps_compute_what_torch_computes():
    """Summing kernel weights times the drawn cells under the drawn taps (flipped kernel for a
    transposed convolution) gives PyTorch's output, for every output of a sweep of 1-d cases."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    checked = 0
    for k, s, d, pad, transposed, op in _torch_cases():
        for n in (1, 4, 5):
            spec = ConvSpec(
                k, s, (pad,) if isinstance(pad, tuple) else pad, d, transposed=transposed, output_padding=op
            )
            try:
                out = layer_output_size(spec, (n,))
            except SpecError:
                continue
            lo, hi = spec.resolve((n,)).pads[0]
            x = torch.randn(1, 1, n, generator=gen, dtype=torch.float64)
            w = torch.randn(1, 1, k, generator=gen, dtype=torch.float64)
            if transposed:
                if lo != hi:
                    continue  # torch pads transposed convolutions symmetrically
                ref = F.conv_transpose1d(x, w, stride=s, padding=lo, output_padding=op, dilation=d)[0, 0]
            else:
                ref = F.conv1d(F.pad(x, (lo, hi)), w, stride=s, dilation=d)[0, 0]
            assert ref.shape[0] == out[0]
            for y in range(out[0]):
                c = frame_cells(spec, n, y)
                value = torch.zeros((), dtype=torch.float64)
                for t, g in enumerate(c["taps"]):
                    if c["categories"][g] == "input":
                        weight = w[0, 0, k - 1 - t] if transposed else w[0, 0, t]
                        value = value + weight * x[0, 0, c["input_index"][g][0]]
                assert torch.allclose(value, ref[y]), (spec, n, y)
                checked += 1
    assert checked > 500
