"""What Jupyter shows for atrous objects: HTML for an analysis :class:`~atrous.analysis.Report`.

(Fields draw themselves with :mod:`atrous.geometry.display`; animations are
:class:`atrous.viz.animate.Animation`.)

Examples:
    >>> import torch
    >>> from atrous.analysis import analyze
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3, dilation=2), torch.nn.Conv1d(1, 1, 3, dilation=2))
    >>> text = report_html(analyze(net, (1, 1, 32)))
    >>> "<table" in text and "receptive field" in text
    True
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["report_html"]

_CELL = "border:1px solid #ddd;padding:1px 6px;text-align:{align}"


def report_html(report: Any, limit: int = 60) -> str:
    """The report's table (:meth:`Report.display`) as HTML, with the output's field, the gridding
    diagnosis and the unknown operations; at most ``limit`` rows (the middle is left out)."""
    header, rows = report.display()
    shown = rows if len(rows) <= limit else rows[: limit // 2] + rows[-limit // 2 :]
    left = {"name", "op", "notes"}
    head = "".join(
        f"<th style='{_CELL.format(align='left' if h in left else 'right')};background:#f0f4f7'>{html.escape(h)}</th>"
        for h in header
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='{_CELL.format(align='left' if h in left else 'right')}'>{html.escape(str(c))}</td>"
            for h, c in zip(header, r, strict=True)
        )
        + "</tr>"
        for r in shown
    )
    out = report.node()
    lines = [
        f"<b>receptive field</b> of {html.escape(out.name)}: {html.escape(', '.join(map(str, out.rf())))} "
        f"(input {html.escape(str(tuple(report.trace.input_shape)))}, traced with {html.escape(report.trace.method)})"
    ]
    if len(rows) > len(shown):
        lines.append(f"({len(rows) - len(shown)} rows in the middle left out)")
    lines += [f"<b>gridding</b>: {html.escape(g.describe())}" for g in report.gridding[-3:]]
    lines += [f"<b>unknown</b>: {html.escape(n.name)} ({html.escape(n.op)})" for n in report.unknown]
    return (
        "<div class='atrous-report'><div style='overflow-x:auto'>"
        f"<table style='border-collapse:collapse;font-size:12px'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        "</table></div>" + "".join(f"<div style='font-size:12px;margin-top:3px'>{t}</div>" for t in lines) + "</div>"
    )
