"""Fast paths: the per-call choice of an exact formulation of a convolution.

:func:`atrous.functional.apply_conv` and :func:`atrous.functional.apply_conv_transpose` (and so
the public functions and the layers) hand every zero-padded convolution to :func:`conv` /
:func:`conv_transpose` (both take ``x, weight, bias, stride, pads, dilation[, output_padding],
groups`` with one ``(lo, hi)`` per axis), which pick one of these *routes*; each computes the
same function (float32 rounding aside) and is differentiable:

``native``
    PyTorch's own call: symmetric padding is passed to PyTorch, asymmetric padding is applied
    with ``F.pad`` first (transposed: cropped afterwards).
``pad_w`` / ``pad_all``
    ``F.pad`` the last (W) axis / every axis, then the native call with less padding (oneDNN's
    direct kernels slow down, or fall back to im2col + GEMM, when the W padding is large).
``channels_last``
    The native call on a channels-last copy (an autotune candidate for big dense convolutions).
``fold`` / ``fold_pad``
    Stride 1 and dilation ``d`` along W: W viewed as ``(W/f, f)`` and the convolution run with one
    more axis, so that the dilation and the padding leave the innermost axis.
``onednn``
    The oneDNN op called directly (with a oneDNN backward) for small 3-d inputs that PyTorch
    sends to its slow reference kernels.
``dw_direct``
    Depthwise convolution by a small C kernel whose cost does not depend on the dilation.
``taps``
    1-d, groups 1: one matrix product per tap over the outputs where it reads the input.
``fft``
    1-d, dense, very long kernels: overlap-save FFT correlation.
``subpixel`` (transposed)
    One ordinary convolution per output phase, interleaved.
``gemm`` (transposed, 1-d)
    One matrix product of the input with every tap and an overlap-add: the rule for short
    inputs through large weights (a streamed chunk through a vocoder's upsampler), where
    PyTorch's CPU kernel costs tens of times the arithmetic.

The package, one job per file:

- :mod:`~atrous._fast.dispatch`: the entry points, the decisions per shape and the call plans
- :mod:`~atrous._fast.rules`: the rules that choose a route, with their measured thresholds
- :mod:`~atrous._fast.autotune`: the timing of ambiguous calls and its JSON cache
- :mod:`~atrous._fast.state`: the one state object (switches, caches, :func:`force`, :func:`record`)
- :mod:`~atrous._fast.routes`: the routes, one module per family
- :mod:`~atrous._fast.calls`: how PyTorch is called (its functions, ``F.pad``'s argument, sizes)
- :mod:`~atrous._fast.cache`: the bounded keyed cache
- :mod:`~atrous._fast.ckernel`: the C kernel, built and checked on first use

The rules are justified by ``benchmarks/bench_ops.py`` (BENCHMARKS.md). Where a rule is
ambiguous and a call is big enough to matter, a one-time autotune times the candidates and
keeps the fastest; in deterministic mode (``ATROUS_DETERMINISTIC=1`` or
``torch.use_deterministic_algorithms(True)``) the rules alone decide, so every shape has a fixed
route. :func:`route_table` lists the decisions of the process (``ATROUS_ROUTE_TABLE=<file>``
writes it when the process exits); the other environment switches are listed in
:mod:`atrous._fast.state`. Tests force a route with :func:`force` and read the routes taken
with :func:`record`.

Examples:
    >>> import torch, atrous.functional as AF
    >>> from atrous import _fast
    >>> with _fast.record() as seen:
    ...     _ = AF.conv(torch.randn(1, 4, 33, 33), torch.randn(4, 1, 3, 3), padding=8, dilation=8, groups=4)
    >>> seen in (["dw_direct"], ["pad_w"])  # (pad_w where no C compiler is found)
    True
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

from atrous._fast.dispatch import conv, conv_transpose, route_for
from atrous._fast.state import ROUTES, ROUTES_T, STATE, deterministic, force, record, reset

__all__ = [
    "ROUTES",
    "ROUTES_T",
    "conv",
    "conv_transpose",
    "deterministic",
    "force",
    "format_route_table",
    "record",
    "reset",
    "route_for",
    "route_table",
]


def route_table() -> list[dict[str, Any]]:
    """Every route decided in this process (since :func:`reset`), oldest first, JSON-ready:
    ``call`` (``"conv"`` or ``"conv_transpose"``), ``x``, ``weight`` (shapes), ``stride``,
    ``pads``, ``dilation``, ``output_padding`` (transposed), ``groups``, ``dtype``, ``device``,
    ``route`` and ``by`` (``"rule"``, ``"autotune"``, ``"autotune cache"`` or ``"pytorch"``).

    Examples:
        >>> import torch, atrous.functional as AF
        >>> reset()
        >>> _ = AF.conv(torch.randn(1, 2, 8), torch.randn(3, 2, 3), padding=1)
        >>> [(r["call"], r["x"], r["route"], r["by"]) for r in route_table()]
        [('conv', [1, 2, 8], 'native', 'rule')]
    """
    rows = []
    for key, decision in list(STATE.decisions.items()):
        transposed = len(key) == 9
        x, w, stride, pads, dilation = key[:5]
        row: dict[str, Any] = {
            "call": "conv_transpose" if transposed else "conv",
            "x": list(x),  # type: ignore[call-overload]
            "weight": list(w),  # type: ignore[call-overload]
            "stride": list(stride),  # type: ignore[call-overload]
            "pads": [list(p) for p in pads],  # type: ignore[attr-defined]
            "dilation": list(dilation),  # type: ignore[call-overload]
        }
        if transposed:
            row["output_padding"] = list(key[5])  # type: ignore[call-overload]
        row["groups"] = key[-3]
        row["dtype"] = str(key[-2]).replace("torch.", "")
        row["device"] = str(key[-1])
        row["route"], row["by"] = decision.route, decision.by
        rows.append(row)
    return rows


def format_route_table() -> str:
    """:func:`route_table` as text, one line per decision (empty where nothing was decided)."""
    lines = []
    for r in route_table():
        extra = f" op={tuple(r['output_padding'])}" if "output_padding" in r else ""
        lines.append(
            f"{r['call']} x={tuple(r['x'])} w={tuple(r['weight'])} s={tuple(r['stride'])} "
            f"p={tuple(tuple(p) for p in r['pads'])} d={tuple(r['dilation'])}{extra} g={r['groups']} "
            f"{r['dtype']} {r['device']} -> {r['route']} ({r['by']})"
        )
    return "\n".join(lines)


def _write_route_table_at_exit() -> None:
    target = os.environ.get("ATROUS_ROUTE_TABLE", "").strip()
    if not target:
        return
    try:
        if target == "-":
            print(format_route_table(), file=sys.stderr)
        else:
            with open(target, "w", encoding="utf-8") as f:
                json.dump({"deterministic": deterministic(), "routes": route_table()}, f, indent=1)
                f.write("\n")
    except (OSError, ValueError) as e:
        print(f"atrous: cannot write the route table to {target} ({e})", file=sys.stderr)


atexit.register(_write_route_table_at_exit)
