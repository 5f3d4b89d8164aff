"""Animations of convolutions, dilated convolutions and transposed convolutions.

One frame per output cell (row-major): the input grid with its padding ring (dashed cells,
``lo`` before and ``hi`` after on every axis), the kernel taps of the current output drawn
over the cells they read (padding included), and the output grid with the current cell
highlighted. A transposed convolution is drawn as the direct convolution it equals: stride 1,
the same dilation, the flipped kernel, over the input with ``s-1`` inserted zeros between
cells and padding ``d*(k-1) - lo`` before and ``d*(k-1) - hi + output_padding`` after.

Every size, padding and tap position comes from :mod:`atrous.geometry`; the taps drawn for
each output are checked against :func:`atrous.geometry.receptive_field`'s exact support.
Pictures are drawn with Pillow's ImageDraw (GIF, APNG, PNG) or as hand-written SVG, with the
Okabe-Ito colour-blind-safe palette, labels, a legend and the output-size formula with the
numbers filled in. Output is deterministic.

Examples:
    >>> cells = frame_cells(ConvSpec(3, stride=2, padding=1), (5, 5), frame=0)
    >>> cells["output_size"], cells["output_index"], cells["reads"]
    ((3, 3), (0, 0), [(0, 0), (0, 1), (1, 0), (1, 1)])
    >>> cells["categories"][(0, 0)], cells["categories"][(1, 1)]
    ('padding', 'input')
    >>> frames = animate(ConvSpec(3, dilation=2), 7)
    >>> len(frames), frames[0].mode
    (3, 'P')
    >>> "inserted zeros" in svg(ConvSpec(3, stride=2, transposed=True), 3)
    True
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from atrous.errors import AtrousError, SpecError
from atrous.geometry import (
    Axis,
    ConvSpec,
    as_spec,
    axis_length,
    axis_taps,
    full_padding,
    invert,
    layer_output_size,
    receptive_field,
)

__all__ = ["ANIMATION_COLOURS", "CONV_ARITHMETIC", "Animation", "animate", "conv_arithmetic_set", "frame_cells", "svg"]

#: Okabe-Ito colours (RGB) of the cell categories; no blue-versus-cyan pair.
ANIMATION_COLOURS: dict[str, tuple[int, int, int]] = {
    "input": (86, 180, 233),  # sky blue
    "padding": (221, 221, 221),  # light grey, dashed outline
    "zero": (240, 228, 66),  # yellow: inserted zeros
    "cropped": (204, 121, 167),  # reddish purple: input cut off by a transposed conv's padding
    "tap": (213, 94, 0),  # vermillion: kernel taps of the current output
    "output": (0, 158, 115),  # bluish green
    "current": (230, 159, 0),  # orange, black outline: the current output
}

_INK = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "outline": (80, 80, 80),
    "dash": (110, 110, 110),
    "muted": (90, 90, 90),
}

_LEGEND_LABEL = {
    "input": "input",
    "padding": "padding",
    "zero": "inserted zeros",
    "cropped": "cropped (padding > kernel span)",
    "tap": "kernel taps",
    "output": "output",
    "current": "current output",
}

#: conv_arithmetic's animations (Dumoulin & Visin): name -> (i, k, s, p, d), all 2-d.
CONV_ARITHMETIC: dict[str, tuple[int, int, int, int, int]] = {
    "no_padding_no_strides": (4, 3, 1, 0, 1),
    "arbitrary_padding_no_strides": (5, 4, 1, 2, 1),
    "same_padding_no_strides": (5, 3, 1, 1, 1),
    "full_padding_no_strides": (5, 3, 1, 2, 1),
    "no_padding_strides": (5, 3, 2, 0, 1),
    "padding_strides": (5, 3, 2, 1, 1),
    "padding_strides_odd": (6, 3, 2, 1, 1),
    "dilation": (7, 3, 1, 0, 2),
}


def _palette() -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    colours: list[tuple[int, int, int]] = []
    index: dict[str, int] = {}
    for name, rgb in [*_INK.items(), *ANIMATION_COLOURS.items()]:
        index[name] = len(colours)
        colours.append(rgb)
    for g in range(0, 256, 15):  # grey ramp for anti-aliased text on white
        colours.append((g, g, g))
    return colours, index


_COLOURS, _INDEX = _palette()


def _rgb(name: str) -> tuple[int, int, int]:
    return ANIMATION_COLOURS[name] if name in ANIMATION_COLOURS else _INK[name]


# --------------------------------------------------------------------------- the plan (geometry)


@dataclass(frozen=True)
class _AxisPlan:
    """One axis of the drawn input canvas and the taps of every output index."""

    n: int  # input length
    o: int  # output length
    kind: str  # "conv" or "transposed"
    origin: int  # canvas coordinate of grid cell 0 (stuffed coordinates for a transposed axis)
    pad: tuple[int, int]  # padding as drawn (the equivalent direct convolution's for a transposed axis)
    cats: tuple[str, ...]  # category of every grid cell
    index: tuple[int | None, ...]  # input index held by every grid cell (None: padding / zero)
    taps: tuple[tuple[int, ...], ...]  # per output index: grid cells read (kernel order)
    reads: tuple[tuple[int, ...], ...]  # per output index: input indices read (== support)
    axis: Axis  # the layer axis (resolved)
    stuffed: int  # length of the (zero-stuffed) input


@dataclass(frozen=True)
class _Plan:
    spec: ConvSpec  # as given (for_ndim), modes kept for the title
    resolved: ConvSpec
    sizes: tuple[int, ...]
    out: tuple[int, ...]
    axes: tuple[_AxisPlan, ...]

    @property
    def ndim(self) -> int:
        return len(self.sizes)

    @property
    def frames(self) -> int:
        return math.prod(self.out)

    def output_index(self, frame: int) -> tuple[int, ...]:
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < self.frames:
            raise SpecError(f"frame must be an integer in [0, {self.frames - 1}] (one per output cell), got {frame!r}")
        idx = []
        for o in reversed(self.out):
            frame, r = divmod(frame, o)
            idx.append(r)
        return tuple(reversed(idx))

    def taps(self, index: tuple[int, ...]) -> list[tuple[int, ...]]:
        return list(product(*(a.taps[y] for a, y in zip(self.axes, index, strict=True))))

    def reads(self, index: tuple[int, ...]) -> list[tuple[int, ...]]:
        return list(product(*(a.reads[y] for a, y in zip(self.axes, index, strict=True))))

    def category(self, cell: tuple[int, ...]) -> str:
        cats = [a.cats[g] for a, g in zip(self.axes, cell, strict=True)]
        for name in ("padding", "cropped", "zero"):
            if name in cats:
                return name
        return "input"

    def input_index(self, cell: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.category(cell) != "input":
            return None
        return tuple(a.index[g] for a, g in zip(self.axes, cell, strict=True))  # type: ignore[misc]


def _as_conv_spec(spec_or_kwargs: object) -> ConvSpec:
    if isinstance(spec_or_kwargs, Mapping):
        try:
            return ConvSpec(**spec_or_kwargs)
        except TypeError as exc:
            raise SpecError(f"bad ConvSpec keyword arguments {dict(spec_or_kwargs)!r}: {exc}") from None
    spec = as_spec(spec_or_kwargs)
    if not isinstance(spec, ConvSpec):
        raise SpecError(f"animations draw convolutions (ConvSpec), got {spec!r}")
    return spec


def _axis_plan(ax: Axis, n: int, o: int, field: Any, axis_no: int) -> _AxisPlan:
    if ax.kind == "conv":
        conv, length, pad = ax, n, (ax.lo, ax.hi)
        origin = -ax.lo
        stop = n + ax.hi
        cats = tuple("input" if 0 <= p < n else "padding" for p in range(origin, stop))
        index = tuple(p if 0 <= p < n else None for p in range(origin, stop))
    else:
        # the transposed convolution equals a stride-1 convolution with the same dilation and the
        # flipped kernel over the input with s-1 zeros inserted between cells, padded
        # d*(k-1) - lo before and d*(k-1) - hi + output_padding after (negative: cropped)
        span = full_padding(ax.kernel, ax.dilation)[0]
        s = ax.stride
        length = (n - 1) * s + 1
        pad = (span - ax.lo, span - ax.hi + ax.output_padding)
        conv = Axis("conv", ax.kernel, 1, ax.dilation, pad[0], pad[1])
        origin = min(-pad[0], 0)
        stop = max(length + pad[1], length)
        c_list: list[str] = []
        i_list: list[int | None] = []
        for q in range(origin, stop):
            if q < 0 or q >= length:
                c_list.append("padding")
                i_list.append(None)
            elif q < -pad[0] or q >= length + pad[1]:
                c_list.append("cropped")
                i_list.append(q // s if q % s == 0 else None)
            elif q % s:
                c_list.append("zero")
                i_list.append(None)
            else:
                c_list.append("input")
                i_list.append(q // s)
        cats, index = tuple(c_list), tuple(i_list)
    got = axis_length(conv, length)
    if got != o:  # pragma: no cover - a geometry inconsistency
        raise AtrousError(f"axis {axis_no}: the drawn convolution has {got} outputs, the layer {o}")
    taps: list[tuple[int, ...]] = []
    reads: list[tuple[int, ...]] = []
    for y in range(o):
        cells = tuple(p - origin for p in axis_taps(conv, y))
        if any(not 0 <= g < len(cats) for g in cells):  # pragma: no cover
            raise AtrousError(f"axis {axis_no}: output {y} reads outside the drawn canvas: {cells}")
        read = tuple(sorted({index[g] for g in cells if cats[g] == "input"}))  # type: ignore[type-var]
        support = tuple(field.support(y))
        if read != support:  # pragma: no cover - a geometry inconsistency
            raise AtrousError(
                f"axis {axis_no}: output {y} reads {read} in the drawing but {support} by receptive_field"
            )
        taps.append(cells)
        reads.append(read)  # type: ignore[arg-type]
    return _AxisPlan(n, o, ax.kind, origin, pad, cats, index, tuple(taps), tuple(reads), ax, length)


# --------------------------------------------------------------------------- size limits
# Every entry point checks these first, so that no input makes a drawing run for long or fill
# the memory: each limit is reported with the parameter it comes from.

#: Drawn cells per axis (input with its padding ring, or the zero-stuffed input).
MAX_DRAWN_CELLS = 512
#: Frames of one animation (one per output cell).
MAX_FRAMES = 4096
#: Pixels per cell.
CELL_RANGE = (8, 128)
#: Frames per second (GIF and APNG store a frame's duration in 16 bits).
FPS_RANGE = (0.02, 100.0)
#: Pixels of one frame, and of all frames of an animation together.
MAX_FRAME_PIXELS = 1 << 26
MAX_ANIMATION_PIXELS = 1 << 28


def _check_cell(cell: object) -> None:
    lo, hi = CELL_RANGE
    if isinstance(cell, bool) or not isinstance(cell, int) or not lo <= cell <= hi:
        raise SpecError(f"cell must be an integer in [{lo}, {hi}] (pixels per cell), got {cell!r}")


def _check_fps(fps: object) -> None:
    lo, hi = FPS_RANGE
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not lo <= fps <= hi:
        raise SpecError(f"fps must be a number in [{lo}, {hi}] (frames per second), got {fps!r}")


def _check_drawable(spec: ConvSpec, sizes: tuple[int, ...]) -> None:
    """Refuse a drawing larger than MAX_DRAWN_CELLS per axis, from the geometry alone (O(1))."""
    out = layer_output_size(spec, sizes)  # validates sizes and spec together
    resolved = spec.resolve(sizes)
    for i, (ax, n, o) in enumerate(zip(resolved.axes(sizes), sizes, out, strict=True)):
        if ax.kind == "conv":
            drawn = n + max(ax.lo, 0) + max(ax.hi, 0)
        else:  # as _axis_plan draws it: zero-stuffed input with the equivalent padding
            span = full_padding(ax.kernel, ax.dilation)[0]
            length = (n - 1) * ax.stride + 1
            drawn = length + max(span - ax.lo, 0) + max(span - ax.hi + ax.output_padding, 0)
        for what, value in (("drawn cells", drawn), ("output size", o)):
            if value > MAX_DRAWN_CELLS:
                raise SpecError(
                    f"input_size={sizes} with {spec!r}: axis {i} has {value} {what}; animations draw at most "
                    f"MAX_DRAWN_CELLS={MAX_DRAWN_CELLS} per axis (use a smaller input, stride or padding)"
                )


def _check_pixels(scene: _Scene, frames: int) -> None:
    pixels = scene.width * scene.height
    if pixels > MAX_FRAME_PIXELS or pixels * frames > MAX_ANIMATION_PIXELS:
        raise SpecError(
            f"the drawing is {scene.width}x{scene.height} pixels x {frames} frame(s) = {pixels * frames} pixels; "
            f"the limits are MAX_FRAME_PIXELS={MAX_FRAME_PIXELS} per frame and MAX_ANIMATION_PIXELS="
            f"{MAX_ANIMATION_PIXELS} per animation (use a smaller cell or input)"
        )


def _plan(spec_or_kwargs: object, input_size: int | Sequence[int]) -> _Plan:
    spec = _as_conv_spec(spec_or_kwargs)
    if isinstance(input_size, Sequence) and not isinstance(input_size, str):
        sizes = tuple(input_size)
    else:
        sizes = (input_size,)  # type: ignore[assignment]
    if not 1 <= len(sizes) <= 2:
        raise SpecError(f"animations draw 1-d and 2-d convolutions, got input_size {input_size!r} ({len(sizes)} axes)")
    _check_drawable(spec.for_ndim(len(sizes)), sizes)  # type: ignore[arg-type]
    return _plan_cached(spec.for_ndim(len(sizes)), sizes)


@lru_cache(maxsize=64)
def _plan_cached(spec: ConvSpec, sizes: tuple[int, ...]) -> _Plan:
    out = layer_output_size(spec, sizes)  # validates sizes and spec together
    resolved = spec.resolve(sizes)
    field = receptive_field([resolved], input_size=sizes)[0]
    axes = tuple(
        _axis_plan(ax, n, o, field[i], i)
        for i, (ax, n, o) in enumerate(zip(resolved.axes(sizes), sizes, out, strict=True))
    )
    return _Plan(spec, resolved, sizes, out, axes)


# --------------------------------------------------------------------------- texts


def _join(values: Sequence[object]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _pad_text(pads: Sequence[tuple[int, int]]) -> str:
    parts = [str(lo) if lo == hi else f"({lo}, {hi})" for lo, hi in pads]
    return parts[0] if len(set(parts)) == 1 else " x ".join(parts)


def _title(plan: _Plan) -> list[str]:
    r = plan.resolved
    kind = "transposed convolution" if r.transposed else "convolution"
    if any(d > 1 for d in r.dilation):
        kind = "dilated " + kind
    line1 = f"{kind}: input {_join(plan.sizes) if plan.ndim == 1 else 'x'.join(map(str, plan.sizes))}"
    line1 += f" -> output {'x'.join(map(str, plan.out))}"
    pad = _pad_text(r.pads)
    modes = {p for p in plan.spec.padding if isinstance(p, str)}
    if modes:
        pad = f"'{'/'.join(sorted(modes))}' = {pad}"
    parts = [f"kernel {_join(r.kernel_size)}", f"stride {_join(r.stride)}", f"padding {pad}"]
    parts.append(f"dilation {_join(r.dilation)}")
    if r.transposed:
        parts.append(f"output_padding {_join(r.output_padding)}")
    return [line1, ", ".join(parts)]


def _formula(plan: _Plan) -> list[str]:
    """The output-size formula, symbolic then with the resolved numbers (one line per distinct axis)."""
    transposed = plan.resolved.transposed
    if transposed:
        lines = ["o = (i-1)*s - lo - hi + d*(k-1) + output_padding + 1"]
    else:
        lines = ["o = floor((i + lo + hi - d*(k-1) - 1) / s) + 1"]
    names = ("rows", "cols") if plan.ndim == 2 else ("",)
    texts = []
    for a in plan.axes:
        ax = a.axis
        if transposed:
            texts.append(
                f"o = ({a.n}-1)*{ax.stride} - {ax.lo} - {ax.hi} + {ax.dilation}*({ax.kernel}-1)"
                f" + {ax.output_padding} + 1 = {a.o}"
            )
        else:
            texts.append(
                f"o = floor(({a.n} + {ax.lo} + {ax.hi} - {ax.dilation}*({ax.kernel}-1) - 1) / {ax.stride}) + 1 = {a.o}"
            )
    same = len(set(texts)) == 1
    for name, text in zip(names, texts, strict=True):
        lines.append(text if same or not name else f"{name}: {text}")
        if same:
            break
    return lines


def _equivalence(plan: _Plan) -> list[str]:
    """For a transposed convolution: the equivalent direct convolution, with numbers."""
    if not plan.resolved.transposed:
        return []
    lines = ["= a stride-1 convolution, same dilation, flipped kernel, over the input with"]
    texts = []
    for a in plan.axes:
        ax = a.axis
        s, d, k = ax.stride, ax.dilation, ax.kernel
        texts.append(
            (
                f"s-1 = {s - 1} inserted zeros between cells ((i-1)*s + 1 = {a.stuffed} cells), padded",
                f"d*(k-1)-lo = {d}*({k}-1)-{ax.lo} = {a.pad[0]} before, "
                f"d*(k-1)-hi+output_padding = {d}*({k}-1)-{ax.hi}+{ax.output_padding} = {a.pad[1]} after",
            )
        )
    if len(set(texts)) == 1:
        return [*lines, *texts[0]]
    return [*lines, *(f"{name}: {t}" for name, pair in zip(("rows", "cols"), texts, strict=True) for t in pair)]


# --------------------------------------------------------------------------- the scene (layout)


@lru_cache(maxsize=16)
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def _text_width(text: str, size: int) -> int:
    width: int = math.ceil(_font(size).getlength(text))
    return width


def _text_height(size: int) -> int:
    ascent, descent = _font(size).getmetrics()
    height: int = ascent + descent
    return height


Box = tuple[int, int, int, int]


@dataclass(eq=False)
class _Scene:
    """Primitives of one animation: static (every frame) and per-frame (taps, current output)."""

    plan: _Plan
    cell: int
    width: int = 0
    height: int = 0
    static: list[tuple[Any, ...]] | None = None
    input_boxes: dict[tuple[int, ...], Box] | None = None
    output_boxes: dict[tuple[int, ...], Box] | None = None
    formula: list[str] | None = None

    def dynamic(self, frame: int) -> list[tuple[Any, ...]]:
        plan, c = self.plan, self.cell
        assert self.input_boxes is not None and self.output_boxes is not None
        index = plan.output_index(frame)
        inset = max(3, c // 4)
        prims: list[tuple[Any, ...]] = []
        ob = self.output_boxes[index]
        for cell in plan.taps(index):
            x0, y0, x1, y1 = self.input_boxes[cell]
            prims.append(("rect", (x0 + inset, y0 + inset, x1 - inset, y1 - inset), "tap", None, 0, False))
            if plan.ndim == 1:
                prims.append(("line", ((x0 + x1) // 2, y1 + 2, (ob[0] + ob[2]) // 2, ob[1] - 2), "tap", 2))
        prims.append(("rect", ob, "current", "black", 2, False))
        return prims


def _cell_prim(box: Box, category: str) -> tuple[Any, ...]:
    if category == "padding":
        return ("rect", box, "padding", "dash", 1, True)
    return ("rect", box, category, "outline", 1, False)


def _cell_box(x: int, y: int, c: int) -> Box:
    return (x + 1, y + 1, x + c - 2, y + c - 2)


@lru_cache(maxsize=64)
def _scene(plan: _Plan, cell: int) -> _Scene:
    if isinstance(cell, bool) or not isinstance(cell, int) or cell < 8:
        raise SpecError(f"cell must be an integer >= 8 (pixels per cell), got {cell!r}")
    c = cell
    fs = max(12, round(c * 0.5))
    small = max(9, fs - 2)
    margin = max(8, c // 2)
    line_h = _text_height(fs) + 2
    prims: list[tuple[Any, ...]] = []
    texts: list[tuple[int, int, str, int, str, str]] = []  # x, y, text, size, colour, anchor
    y = margin
    for i, line in enumerate(_title(plan)):
        texts.append((margin, y, line, fs + 1 if i == 0 else fs, "black", "la"))
        y += line_h + (2 if i == 0 else 0)
    y += c // 2
    input_boxes: dict[tuple[int, ...], Box] = {}
    output_boxes: dict[tuple[int, ...], Box] = {}
    a0 = plan.axes[-1]
    shown = {plan.category(g) for g in product(*(range(len(a.cats)) for a in plan.axes))}
    extras = [label for key, label in (("zero", "inserted zeros"), ("padding", "padding")) if key in shown]
    in_title = "input" + (" with " + " and ".join(extras) if extras else "")
    content_right = margin
    if plan.ndim == 1:
        label_w = max(_text_width(t, fs) for t in ("input", "output")) + c // 2
        x0 = margin + label_w
        idx_h = _text_height(small)
        if extras:
            texts.append((x0, y, in_title, fs, "black", "la"))
            y += line_h + 2
        y_in = y + idx_h + 2
        gap = max(2 * c, 3 * idx_h)
        y_out = y_in + c + gap
        for g, cat in enumerate(a0.cats):
            input_boxes[(g,)] = _cell_box(x0 + g * c, y_in, c)
            if a0.index[g] is not None and cat in ("input", "cropped"):
                texts.append((x0 + g * c + c // 2, y, str(a0.index[g]), small, "muted", "ma"))
        # an output sits over the centre of the cells it reads; a causal output over its last
        # tap (the present), so that it reads only cells at or to its left
        causal = plan.spec.padding[0] == "causal" and not plan.resolved.transposed
        for yo in range(a0.o):
            taps = a0.taps[yo]
            centre = x0 + ((2 * max(taps) + 1) if causal else (min(taps) + max(taps) + 1)) * c / 2
            xo = round(centre - c / 2)
            output_boxes[(yo,)] = _cell_box(xo, y_out, c)
            texts.append((xo + c // 2, y_out + c + 1, str(yo), small, "muted", "ma"))
        texts.append((margin, y_in + c // 2, "input", fs, "black", "lm"))
        texts.append((margin, y_out + c // 2, "output", fs, "black", "lm"))
        grid_right = max(b[2] for b in [*input_boxes.values(), *output_boxes.values()])
        content_right = max(content_right, grid_right + 2, x0 + _text_width(in_title, fs))
        y = y_out + c + idx_h + c // 2
    else:
        rows, cols = (len(a.cats) for a in plan.axes)
        orows, ocols = plan.out
        in_w = max(cols * c, _text_width(in_title, fs))
        x_in = margin
        texts.append((x_in, y, in_title, fs, "black", "la"))
        out_title = "output"
        x_out = x_in + in_w + 2 * c
        texts.append((x_out, y, out_title, fs, "black", "la"))
        y_grid = y + line_h + 4
        for r, col in product(range(rows), range(cols)):
            input_boxes[(r, col)] = _cell_box(x_in + col * c, y_grid + r * c, c)
        for r, col in product(range(orows), range(ocols)):
            output_boxes[(r, col)] = _cell_box(x_out + col * c, y_grid + r * c, c)
        content_right = max(x_out + max(ocols * c, _text_width(out_title, fs)), x_in + in_w)
        y = y_grid + max(rows, orows) * c + c // 2
    for cell_idx, box in input_boxes.items():
        prims.append(_cell_prim(box, plan.category(cell_idx)))
    for box in output_boxes.values():
        prims.append(_cell_prim(box, "output"))
    formula = _formula(plan)
    for line in [*formula, *_equivalence(plan)]:
        texts.append((margin, y, line, fs, "black", "la"))
        content_right = max(content_right, margin + _text_width(line, fs))
        y += line_h
    y += c // 3
    # legend: the categories present, flowing into rows
    entries = [k for k in ("input", "padding", "zero", "cropped") if k in shown] + ["tap", "output", "current"]
    sw = max(10, round(c * 0.6))
    widths = [sw + 6 + _text_width(_LEGEND_LABEL[k], fs) for k in entries]
    width_avail = max(content_right - margin, max(widths))
    x = margin
    row_h = max(sw, _text_height(fs)) + 6
    for k, w in zip(entries, widths, strict=True):
        if x > margin and x + w > margin + width_avail:
            x = margin
            y += row_h
        box = (x, y, x + sw - 1, y + sw - 1)
        if k == "current":
            prims.append(("rect", box, "current", "black", 2, False))
        elif k == "tap":
            prims.append(("rect", box, "tap", "outline", 1, False))
        else:
            prims.append(_cell_prim(box, k))
        texts.append((x + sw + 6, y + sw // 2, _LEGEND_LABEL[k], fs, "black", "lm"))
        x += w + c
    content_right = max(content_right, margin + width_avail)
    y += row_h
    scene = _Scene(plan, c)
    scene.width = int(content_right + margin)
    scene.height = int(y + margin // 2)
    scene.static = prims + [("text", (tx, ty), s, size, colour, anchor) for tx, ty, s, size, colour, anchor in texts]
    scene.input_boxes = input_boxes
    scene.output_boxes = output_boxes
    scene.formula = formula + _equivalence(plan)
    return scene


# --------------------------------------------------------------------------- Pillow rendering


def _dashed_rect(draw: Any, box: Box, ink: int, dash: int = 3, gap: int = 2) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1 + 1, dash + gap):
        xe = min(x + dash - 1, x1)
        draw.line((x, y0, xe, y0), fill=ink)
        draw.line((x, y1, xe, y1), fill=ink)
    for yy in range(y0, y1 + 1, dash + gap):
        ye = min(yy + dash - 1, y1)
        draw.line((x0, yy, x0, ye), fill=ink)
        draw.line((x1, yy, x1, ye), fill=ink)


def _draw(draw: Any, prims: Sequence[tuple[Any, ...]], ink: Any) -> None:
    for p in prims:
        if p[0] == "rect":
            _, box, fill, outline, width, dashed = p
            if dashed:
                draw.rectangle(box, fill=ink(fill))
                _dashed_rect(draw, box, ink(outline))
            elif outline is None:
                draw.rectangle(box, fill=ink(fill))
            else:
                draw.rectangle(box, fill=ink(fill), outline=ink(outline), width=width)
        elif p[0] == "line":
            _, xy, colour, width = p
            draw.line(xy, fill=ink(colour), width=width)
        else:
            _, (x, y), text, size, colour, anchor = p
            draw.text((x, y), text, fill=ink(colour), font=_font(size), anchor=anchor)


def _base(scene: _Scene) -> Any:
    """The static part of every frame, as a palette image (text anti-aliased, then mapped)."""
    from PIL import Image, ImageDraw

    rgb = Image.new("RGB", (scene.width, scene.height), _INK["white"])
    assert scene.static is not None
    _draw(ImageDraw.Draw(rgb), scene.static, _rgb)
    pal = Image.new("P", (1, 1))
    flat = [v for colour in _COLOURS for v in colour]
    pal.putpalette(flat + flat[-3:] * (256 - len(_COLOURS)))
    return rgb.quantize(palette=pal, dither=Image.Dither.NONE)


def _render(scene: _Scene, base: Any, frame: int) -> Any:
    from PIL import ImageDraw

    im = base.copy()
    _draw(ImageDraw.Draw(im), scene.dynamic(frame), _INDEX.__getitem__)
    return im


def _cache_clear() -> None:
    """Forget cached plans and layouts (benchmarks measure cold runs)."""
    _plan_cached.cache_clear()
    _scene.cache_clear()


# --------------------------------------------------------------------------- public API


def frame_cells(spec: object, input_size: int | Sequence[int], frame: int = 0, *, cell: int = 24) -> dict[str, Any]:
    """The logical content of one animation frame (what :func:`animate` draws).

    Grid cells are tuples ``(col,)`` in 1-d and ``(row, col)`` in 2-d, indexing the drawn input
    canvas: the input with its padding (for a transposed convolution: with the inserted zeros
    and the equivalent direct convolution's padding).

    Args:
        spec: a :class:`~atrous.geometry.ConvSpec`, a mapping of its keyword arguments, or a
            layer exposing ``.spec``.
        input_size: an int (1-d) or a tuple of one or two ints.
        frame: the output cell drawn, row-major, in ``range(prod(output_size))``.
        cell: pixels per cell (for the boxes).

    Returns:
        A dict with ``ndim``, ``transposed``, ``frames`` (number of frames), ``input_size``,
        ``output_size``, ``output_index`` (the current output), ``shape`` (drawn grid),
        ``origin`` (per axis, the input coordinate of grid cell 0; zero-stuffed coordinates
        for a transposed convolution), ``padding`` (per axis, the ``(lo, hi)`` drawn),
        ``categories`` (grid cell -> ``"input"``, ``"padding"``, ``"zero"`` (inserted zero)
        or ``"cropped"``), ``input_index`` (grid cell -> input index, for input cells),
        ``taps`` (grid cells read by the current output, padding and zeros included),
        ``reads`` (input indices read: the product of ``receptive_field(...).support``),
        ``formula`` (text lines), ``input_boxes`` / ``output_boxes`` (pixel boxes
        ``(x0, y0, x1, y1)``, inclusive) and ``size`` (image width, height).

    Examples:
        >>> c = frame_cells(ConvSpec(3, stride=2, transposed=True), 3, frame=1)
        >>> [c["categories"][g] for g in sorted(c["categories"])]
        ['padding', 'padding', 'input', 'zero', 'input', 'zero', 'input', 'padding', 'padding']
        >>> c["taps"], c["reads"]
        ([(1,), (2,), (3,)], [(0,)])
    """
    _check_cell(cell)
    plan = _plan(spec, input_size)
    scene = _scene(plan, cell)
    _check_pixels(scene, 1)
    index = plan.output_index(frame)
    assert scene.input_boxes is not None and scene.output_boxes is not None
    cells = list(scene.input_boxes)
    return {
        "ndim": plan.ndim,
        "transposed": plan.resolved.transposed,
        "frames": plan.frames,
        "input_size": plan.sizes,
        "output_size": plan.out,
        "output_index": index,
        "shape": tuple(len(a.cats) for a in plan.axes),
        "origin": tuple(a.origin for a in plan.axes),
        "padding": tuple(a.pad for a in plan.axes),
        "categories": {g: plan.category(g) for g in cells},
        "input_index": {g: i for g in cells if (i := plan.input_index(g)) is not None},
        "taps": plan.taps(index),
        "reads": plan.reads(index),
        "formula": list(scene.formula or ()),
        "input_boxes": dict(scene.input_boxes),
        "output_boxes": dict(scene.output_boxes),
        "size": (scene.width, scene.height),
    }


_FORMATS = {".gif": "gif", ".apng": "apng", ".png": "png"}


class Animation(list):  # type: ignore[type-arg]
    """The frames of :func:`animate` (a list of Pillow images, one per output) that a notebook
    shows inline: ``_repr_html_`` is the animated PNG, ``_repr_png_`` the first frame."""

    def __init__(self, frames: Sequence[Any], fps: float = 2) -> None:
        super().__init__(frames)
        self.fps = fps

    def to_bytes(self, format: str = "apng") -> bytes:
        """The animation encoded as ``"apng"``, ``"gif"`` or ``"png"`` (the first frame)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"animation.{format}"
            _save(list(self), path, format, self.fps)
            return path.read_bytes()

    def _repr_png_(self) -> bytes:
        return self.to_bytes("png")

    def _repr_html_(self) -> str:
        import base64

        data = base64.b64encode(self.to_bytes("apng")).decode("ascii")
        return (
            f"<img src='data:image/png;base64,{data}' alt='animation, {len(self)} frames' "
            "style='max-width:100%;image-rendering:pixelated'>"
        )


def animate(
    spec_or_kwargs: object,
    input_size: int | Sequence[int],
    path: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,
    cell: int = 24,
    fps: float = 2,
) -> Animation:
    """Draw a convolution, dilated convolution or transposed convolution, one frame per output.

    Args:
        spec_or_kwargs: a :class:`~atrous.geometry.ConvSpec`, a mapping of its keyword
            arguments (``{"kernel_size": 3, "stride": 2, "transposed": True}``) or a layer
            exposing ``.spec``. Any padding: ints, ``(lo, hi)`` pairs, ``"same"``, ``"causal"``,
            ``"full"``.
        input_size: an int (1-d) or a tuple of one or two ints.
        path: where to write the animation (optional).
        format: ``"gif"``, ``"apng"`` (animated PNG) or ``"png"`` (the first frame only, a
            still); by default from the extension of ``path`` (``.gif``, ``.apng``, ``.png``).
        cell: pixels per cell.
        fps: frames per second.

    Returns:
        The frames as Pillow palette images (mode ``"P"``; ``.convert("RGB")`` for pixel
        access), one per output cell in row-major order: an :class:`Animation` (a list that a
        notebook shows inline).

    Raises:
        SpecError: an invalid spec, input size, cell size, fps or format.
    """
    _check_cell(cell)
    _check_fps(fps)
    plan = _plan(spec_or_kwargs, input_size)
    if plan.frames > MAX_FRAMES:
        raise SpecError(
            f"input_size={plan.sizes} gives {plan.frames} outputs, one frame each; animations have at most "
            f"MAX_FRAMES={MAX_FRAMES} frames (use a smaller input, or svg() for one frame)"
        )
    scene = _scene(plan, cell)
    _check_pixels(scene, plan.frames)
    base = _base(scene)
    frames = Animation([_render(scene, base, f) for f in range(plan.frames)], fps)
    if path is not None:
        _save(list(frames), Path(path), format, fps)
    return frames


def _save(frames: list[Any], path: Path, format: str | None, fps: float) -> None:
    fmt = format if format is not None else _FORMATS.get(path.suffix.lower())
    if fmt not in ("gif", "apng", "png"):
        raise SpecError(
            f"format must be 'gif', 'apng' or 'png' (or a path ending in .gif, .apng, .png), "
            f"got format={format!r} for {str(path)!r}"
        )
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise SpecError(f"fps must be a positive number, got {fps!r}")
    duration = max(1, int(1000 / fps))
    if fmt == "png":
        frames[0].save(path, format="PNG")
    elif fmt == "apng":
        frames[0].save(path, format="PNG", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    else:
        frames[0].save(
            path, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0, disposal=2
        )


def svg(spec: object, input_size: int | Sequence[int], frame: int = 0, *, cell: int = 24) -> str:
    """One frame of :func:`animate` as a standalone SVG document (same layout, same colours).

    Examples:
        >>> text = svg(ConvSpec(3, padding=1), (3, 3), frame=4)
        >>> text.startswith("<svg") and "padding" in text and "output" in text
        True
    """
    _check_cell(cell)
    plan = _plan(spec, input_size)
    scene = _scene(plan, cell)
    _check_pixels(scene, 1)
    assert scene.static is not None
    prims = [*scene.static, *scene.dynamic(frame)]
    w, h = scene.width, scene.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        f"<title>{escape(_title(plan)[0])}</title>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    for p in prims:
        if p[0] == "rect":
            _, (x0, y0, x1, y1), fill, outline, width, dashed = p
            h = width / 2 if outline is not None else 0  # the stroke straddles the edge: keep it inside
            attrs = (
                f'x="{_num(x0 + h)}" y="{_num(y0 + h)}" width="{_num(x1 - x0 + 1 - 2 * h)}" '
                f'height="{_num(y1 - y0 + 1 - 2 * h)}" fill="{_hex(fill)}"'
            )
            if outline is not None:
                attrs += f' stroke="{_hex(outline)}" stroke-width="{width}"'
                if dashed:
                    attrs += ' stroke-dasharray="3 2"'
            out.append(f'<rect class="{fill}" {attrs}/>')
        elif p[0] == "line":
            _, (x0, y0, x1, y1), colour, width = p
            out.append(
                f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{_hex(colour)}" stroke-width="{width}"/>'
            )
        else:
            _, (x, y), text, size, colour, anchor = p
            ascent, descent = _font(size).getmetrics()
            baseline = y + ascent if anchor[1] == "a" else y + (ascent - descent) // 2
            ta = {"l": "start", "m": "middle", "r": "end"}[anchor[0]]
            out.append(
                f'<text x="{x}" y="{baseline}" font-family="Helvetica, Arial, DejaVu Sans, sans-serif" '
                f'font-size="{size}" fill="{_hex(colour)}" text-anchor="{ta}" '
                # the layout was measured with Pillow's font: keep every text to that width
                f'textLength="{_text_width(text, size)}" lengthAdjust="spacingAndGlyphs">{escape(text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _num(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:g}"


def _hex(name: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*_rgb(name))


def conv_arithmetic_set(directory: str | os.PathLike[str], formats: Sequence[str] = ("gif",)) -> list[Path]:
    """Regenerate the animations of Dumoulin & Visin's conv_arithmetic (2-d, labelled).

    The eight direct convolutions of :data:`CONV_ARITHMETIC`; the transposed convolution of each
    but ``dilation`` (``<name>_transposed``: the input is the direct output and
    ``output_padding = (i + 2p - k) mod s``, from :func:`atrous.geometry.invert`, so it maps
    back to the direct input size); and the dilated transposed convolution
    (``dilation_transposed``). 16 files per format.

    Args:
        directory: created if absent.
        formats: any of ``"gif"``, ``"apng"``, ``"png"`` (extensions ``.gif``, ``.apng``, ``.png``).

    Returns:
        The paths written, in order.
    """
    for fmt in formats:
        if fmt not in ("gif", "apng", "png"):
            raise SpecError(f"formats must be among 'gif', 'apng', 'png', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, ConvSpec, tuple[int, ...]]] = []
    for name, (i, k, s, p, d) in CONV_ARITHMETIC.items():
        jobs.append((name, ConvSpec(k, s, p, d), (i, i)))
    for name, (i, k, s, p, d) in CONV_ARITHMETIC.items():
        direct = ConvSpec(k, s, p, d)
        back = invert(direct, (i, i))
        jobs.append((f"{name}_transposed", back, layer_output_size(direct, (i, i))))
    paths: list[Path] = []
    for name, spec, size in jobs:
        frames = animate(spec, size, cell=20)
        for fmt in formats:
            target = directory / f"{name}.{fmt}"
            _save(frames, target, fmt, 2)
            paths.append(target)
    return paths
