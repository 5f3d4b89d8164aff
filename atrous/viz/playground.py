"""`atrous playground`: one self-contained, offline HTML page that shows what a convolution does.

Sliders for the input size, kernel, stride, dilation, padding (symmetric, ``lo:hi``, 'valid',
'same', 'causal', 'full'), groups, transposed with its valid ``output_padding`` (or solved back
from the output size); hover an output to light its taps (one colour per kernel weight; taps on
padding or on inserted zeros marked), hover an input to see every output that reads it, step
through the outputs with the player; stacks with their receptive field, jump, start, holes and
per-phase tap sets; dilated vs transposed side by side; the matrix view; the size formula and
copyable PyTorch and atrous code. Settings live in the URL fragment (``#playground?k=3&d=2``).

The page's arithmetic is a small port of :mod:`atrous.geometry` in JavaScript
(``assets/playground_geometry.js``); ``tests/viz/test_playground_js.py`` runs the page's own
script in node on more than 10,000 random settings and compares output sizes, paddings, tap
sets, holes, phases and refusals (word for word) with the Python core, and a browser test
moves the sliders and checks the highlighted cells against ``receptive_field(...).support(y)``.

A setting maps onto Python as :func:`spec_arguments` says: the same ConvSpec on the same input.

Examples:
    >>> page = playground_page()
    >>> page.startswith("<!DOCTYPE html>") and "data-atrous-playground" in page
    True
    >>> "<script src" in page or "<link" in page            # inline: no other file, no network
    False
    >>> player_state(ConvSpec(3, stride=2, padding=1), (6, 6))
    'mode=layer&nd=2&n=6x6&k=3&s=2&d=1&pad=p&p=1&t=0&op=0'
    >>> spec_arguments({"nd": 1, "n": [7], "k": 3, "s": 2, "d": 1, "pad": "same", "t": 0})
    (7, ConvSpec(kernel_size=3, stride=2, padding='same'))
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, PaddingLike

__all__ = [
    "ASSETS",
    "player_html",
    "player_state",
    "playground_css",
    "playground_js",
    "playground_page",
    "playground_section",
    "spec_arguments",
    "write_playground",
]

#: The page's scripts, in order: the geometry port, the settings model, the page.
ASSETS = ("playground_geometry.js", "playground_model.js", "playground_ui.js")

_EXPORTS = [
    "SpecError",
    "ConvSpec",
    "pyRepr",
    "checkInt",
    "outputSize",
    "layerOutputSize",
    "outputPaddingRange",
    "validOutputSizes",
    "solveOutputPadding",
    "checkChannels",
    "axisTaps",
    "Field",
    "receptiveField",
    "axisPlan",
    "convMatrix",
    "transposedMatrix",
    "defaultState",
    "copyState",
    "layerSpec",
    "evaluateLayer",
    "evaluateStack",
    "parseStack",
    "stackToText",
    "stackTree",
    "encodeState",
    "decodeState",
    "suggest",
    "stackSuggestions",
    "torchCode",
    "atrousCode",
    "LIMITS",
    "MATRIX_LIMIT",
    "Playground",
    "MiniPlayer",
    "autoMount",
]


def _asset(name: str) -> str:
    return resources.files("atrous.viz").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def playground_js() -> str:
    """The page's script: one function that defines the geometry port, the model and the page,
    exports them as ``window.AtrousPlayground`` (``module.exports`` under node) and mounts every
    ``[data-atrous-playground]`` and ``[data-atrous-player]`` element of the document."""
    body = "\n".join(_asset(name) for name in ASSETS)
    exports = ", ".join(f"{name}: {name}" for name in _EXPORTS)
    return (
        "(function (root) {\n'use strict';\n"
        + body
        + f"\nvar API = {{ {exports} }};\n"
        + "if (typeof module === 'object' && module.exports) { module.exports = API; }\n"
        + "if (root) { root.AtrousPlayground = API; }\n"
        + "if (typeof document !== 'undefined') { autoMount(); }\n"
        + "})(typeof window !== 'undefined' ? window : null);\n"
    )


@lru_cache(maxsize=1)
def playground_css() -> str:
    """The page's style sheet (every rule under ``.apg``)."""
    return _asset("playground.css")


_PAGE_CSS = """
body { margin: 0; background: #fafafa; }
.apg-page-head { background: #0b3d5c; color: white; padding: .8rem 1.2rem; font-family: system-ui, sans-serif; }
.apg-page-head h1 { margin: 0; font-size: 1.3rem; }
.apg-page-head p { margin: .2rem 0 0 0; opacity: .85; font-size: .9rem; }
.apg-page { padding: .8rem 1.2rem 2rem 1.2rem; max-width: 1400px; }
@media (max-width: 760px) { .apg-page { padding: .5rem .6rem 2rem .6rem; } .apg-page-head { padding: .6rem .7rem; } }
"""


def _root_div(embedded: bool) -> str:
    flag = " data-embedded" if embedded else ""
    return (
        f'<div id="playground" class="apg" data-atrous-playground{flag}>'
        "<noscript>The playground needs JavaScript; the rest of this page does not.</noscript></div>"
    )


def playground_page(title: str = "atrous playground") -> str:
    """The standalone page: one HTML document with the style and script inline."""
    from atrous import __version__

    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{_PAGE_CSS}{playground_css()}</style></head><body>"
        f"<header class='apg-page-head'><h1>{html.escape(title)}</h1>"
        "<p>What a dilated, strided, padded or transposed convolution reads and writes, computed by atrous "
        f"{html.escape(__version__)}. Hover or tap a cell; the settings are in the address (share it).</p></header>"
        f"<main class='apg-page'>{_root_div(False)}</main>"
        f"<script>{playground_js()}</script></body></html>"
    )


def playground_section() -> str:
    """The playground as a block of another page (the report adds the style and script once)."""
    return _root_div(True)


def write_playground(path: str | Path = "playground.html") -> Path:
    """Write the standalone page to ``path`` (a folder gets ``playground.html``) and return it."""
    out = Path(path)
    if out.is_dir():
        out = out / "playground.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise SpecError(f"the playground is an HTML file: the output must end in .html, got {str(path)!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(playground_page(), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- settings <-> specs


def spec_arguments(state: Mapping[str, Any]) -> tuple[int | tuple[int, ...], ConvSpec]:
    """The input size and :class:`ConvSpec` of a one-layer setting of the page.

    ``nd`` 1 or 2 axes, ``n`` per-axis input sizes, ``k``, ``s``, ``d``, ``pad`` (``"p"``:
    symmetric ``p``; ``"lohi"``: ``(lo, hi)`` on every axis; or a mode name), ``t`` transposed
    and ``op`` its output padding. Raises :class:`SpecError` as the page does.
    """
    nd = int(state.get("nd", 1))
    n = list(state.get("n", [9, 9]))
    size: int | tuple[int, ...] = n[0] if nd == 1 else tuple(n[:2])
    kind = state.get("pad", "p")
    padding: PaddingLike
    if kind == "p":
        padding = state.get("p", 0)
    elif kind == "lohi":
        padding = tuple((state.get("lo", 0), state.get("hi", 0)) for _ in range(nd))
    else:
        padding = kind
    transposed = bool(state.get("t", 0))
    spec = ConvSpec(
        state.get("k", 3),
        state.get("s", 1),
        padding,
        state.get("d", 1),
        transposed=transposed,
        output_padding=state.get("op", 0) if transposed else 0,
    )
    return size, spec


def _one(values: Sequence[Any], name: str) -> Any:
    if len(set(values)) != 1:
        raise SpecError(f"the playground draws the same {name} on every axis, got {tuple(values)!r}")
    return values[0]


def player_state(spec: ConvSpec, input_size: int | Sequence[int]) -> str:
    """The page's fragment (without ``#playground?``) that shows ``spec`` on ``input_size``.

    Raises:
        SpecError: more than two axes, or parameters that differ between axes.
    """
    sizes = (input_size,) if isinstance(input_size, int) else tuple(input_size)
    if not 1 <= len(sizes) <= 2:
        raise SpecError(f"the playground draws 1-d and 2-d layers, got input size {input_size!r}")
    full = spec.for_ndim(len(sizes))
    pad = _one(full.padding, "padding")
    if isinstance(pad, str):
        kind, extra = pad, ""
    elif pad[0] == pad[1]:
        kind, extra = "p", f"&p={pad[0]}"
    else:
        kind, extra = "lohi", f"&lo={pad[0]}&hi={pad[1]}"
    parts = [
        "mode=layer",
        f"nd={len(sizes)}",
        "n=" + "x".join(map(str, sizes)),
        f"k={_one(full.kernel_size, 'kernel size')}",
        f"s={_one(full.stride, 'stride')}",
        f"d={_one(full.dilation, 'dilation')}",
        f"pad={kind}{extra}",
        f"t={int(full.transposed)}",
        f"op={_one(full.output_padding, 'output_padding')}",
    ]
    return "&".join(parts)


def player_html(spec: ConvSpec, input_size: int | Sequence[int], caption: str) -> str:
    """A compact, pausable and steppable player of ``spec`` for the report (drawn by the page's
    script from the same geometry), with a caption and a link into the playground."""
    state = player_state(spec, input_size)
    return (
        f'<figure class="apg-figure"><div data-atrous-player="{html.escape(state)}">'
        f"<noscript>{html.escape(caption)} (needs JavaScript)</noscript></div>"
        f"<figcaption>{caption}</figcaption></figure>"
    )
