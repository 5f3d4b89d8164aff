"""HTML for notebooks: a receptive field as a small table and an inline SVG of its tap set.

Standard library only (like the rest of :mod:`atrous.geometry`), and only the public
:class:`~atrous.geometry.Field` API: ``size``, ``jump``, ``start``, ``holes``, ``has_holes``,
``taps``, ``period``, ``length``, ``phases[r].positions()`` and ``support(y)``. Jupyter shows it
through ``Field._repr_html_`` and ``FieldND._repr_html_``.

Examples:
    >>> from atrous.geometry import ConvSpec, receptive_field
    >>> text = field_html(receptive_field([ConvSpec(3, dilation=2)] * 3)[-1])
    >>> "<table" in text and "<svg" in text and "holes" in text
    True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["field_html"]

_READ = "#0b3d5c"
_HOLE = "#e4572e"
_EMPTY = "#f1f1f1"
_MAX_CELLS = 160  # widest tap set drawn cell by cell


def _start(field: Any) -> str:
    try:
        return str(field.start)
    except ValueError:  # SpecError: the field reads nothing
        return "none"


def _rows(field: Any) -> list[tuple[str, str]]:
    rows = [
        ("size", str(field.size)),
        ("jump", str(field.jump)),
        ("start", _start(field)),
        ("taps of output 0", str(field.taps)),
        ("holes of output 0", str(len(field.holes)) + (f": {_short(field.holes)}" if field.holes else "")),
    ]
    if field.period > 1:
        rows.append(("phases", f"{field.period} (one tap set per output phase)"))
    if field.has_holes and not field.holes:
        rows.append(("holes in other phases", "yes"))
    if field.length is not None:
        rows.append(("output length", str(field.length)))
    return rows


def _short(values: Sequence[int], limit: int = 12) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (", ..." if len(values) > limit else "")


def _table(rows: Sequence[tuple[str, str]], title: str) -> str:
    body = "".join(
        f"<tr><th style='text-align:left;padding:1px 8px 1px 0;font-weight:normal;color:#555'>{html.escape(k)}</th>"
        f"<td style='text-align:left;padding:1px 0'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return (
        f"<table style='border-collapse:collapse;font-size:12px;margin:2px 0'>"
        f"<caption style='text-align:left;font-weight:600'>{html.escape(title)}</caption>{body}</table>"
    )


def _phase_sets(field: Any) -> list[tuple[int, ...]]:
    return [tuple(p.positions()) for p in field.phases]


def _svg_1d(field: Any) -> str:
    """One row of cells per phase, from the first to the last position any phase reads."""
    sets = _phase_sets(field)
    present = [s for s in sets if s]
    if not present:
        return "<p style='font-size:12px'>(reads no input)</p>"
    lo = min(s[0] for s in present)
    hi = max(s[-1] for s in present)
    n = hi - lo + 1
    if n > _MAX_CELLS:
        return f"<p style='font-size:12px'>(tap set {n} positions wide: not drawn)</p>"
    c = max(4, min(14, 480 // n))
    label = 44 if field.period > 1 else 0
    w, h = label + n * c + 2, len(sets) * (c + 3) + 14
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img'>"]
    out.append("<title>positions read (dark), holes (red) per output phase</title>")
    for r, s in enumerate(sets):
        y = r * (c + 3)
        if label:
            out.append(f"<text x='0' y='{y + c - 2}' font-size='10' fill='#555'>r={r}</text>")
        read = set(s)
        first, last = (s[0], s[-1]) if s else (None, None)
        for i in range(n):
            x = lo + i
            inside = first is not None and first <= x <= last  # type: ignore[operator]
            fill = _READ if x in read else _HOLE if inside else _EMPTY
            out.append(f"<rect x='{label + i * c}' y='{y}' width='{c - 1}' height='{c}' fill='{fill}'/>")
    out.append(f"<text x='{label}' y='{h - 2}' font-size='10' fill='#555'>positions {lo} to {hi}</text></svg>")
    return "".join(out)


def _svg_2d(fields: Sequence[Any]) -> str:
    """Output 0's box: the product of the per-axis tap sets of phase 0."""
    rows, cols = (tuple(f.phases[0].positions()) for f in fields[:2])
    if not rows or not cols:
        return "<p style='font-size:12px'>(output 0 reads no input)</p>"
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if max(h, w) > _MAX_CELLS:
        return f"<p style='font-size:12px'>(tap set {h}x{w} positions wide: not drawn)</p>"
    c = max(2, min(12, 360 // max(h, w)))
    rs, cs = set(rows), set(cols)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w * c + 2}' height='{h * c + 14}' role='img'>"]
    out.append("<title>output 0's tap set: read (dark), holes (red)</title>")
    for i in range(h):
        for j in range(w):
            fill = _READ if (rows[0] + i) in rs and (cols[0] + j) in cs else _HOLE
            out.append(f"<rect x='{j * c}' y='{i * c}' width='{c - 0.5}' height='{c - 0.5}' fill='{fill}'/>")
    out.append(f"<text x='0' y='{h * c + 11}' font-size='10' fill='#555'>output 0: {h}x{w} box</text></svg>")
    return "".join(out)


def field_html(field: Any) -> str:
    """HTML for a :class:`Field` (one axis) or a :class:`FieldND` (per-axis tables and the
    tap box of output 0)."""
    axes = getattr(field, "axes", None)
    if isinstance(axes, tuple):  # a FieldND
        tables = "".join(
            f"<div style='display:inline-block;vertical-align:top;margin-right:16px'>{_table(_rows(f), f'axis {i}')}"
            f"{_svg_1d(f)}</div>"
            for i, f in enumerate(axes)
        )
        box = _svg_2d(axes) if len(axes) >= 2 else ""
        return f"<div class='atrous-field'>{tables}<div>{box}</div></div>"
    return f"<div class='atrous-field'>{_table(_rows(field), 'receptive field')}{_svg_1d(field)}</div>"
