"""`atrous report`: a self-contained HTML report with tables, figures and animations.

With no model it reports on built-in examples (the playground, the seeds' stacks and 9x9
examples, conv_arithmetic's cases, gridding, transposed convolution and checkerboards, a TCN, a
WaveNet stack, a DeepLabv3 ASPP head, the Yu-Koltun context module, an FCN-style decoder); with a
model, on that model. The output is ``index.html`` plus an ``assets/`` folder, or with
``single_file=True`` one ``index.html`` with every asset inlined; it opens without a network
connection, reads on a phone (viewport, tables that scroll inside their box, a compact sticky
navigation), its figures are SVG and its animations are the playground's pausable, steppable
players.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = ["Section", "build_report"]

CSS = """
html { scroll-padding-top: 3rem; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa;
  line-height: 1.4; -webkit-text-size-adjust: 100%; }
header { background: #0b3d5c; color: white; padding: 1rem 1.4rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.5rem; }
header p { margin: 0; opacity: .85; }
nav { position: sticky; top: 0; z-index: 20; background: #e8eef2; font-size: .85rem; padding: .35rem 1rem;
  white-space: nowrap; overflow-x: auto; border-bottom: 1px solid #cfd8de; -webkit-overflow-scrolling: touch; }
nav a { display: inline-block; margin-right: .9rem; padding: .15rem 0; color: #0b3d5c; text-decoration: none; }
nav a:hover { text-decoration: underline; }
main { padding: .6rem 1.4rem 3rem 1.4rem; max-width: 1240px; }
section { background: white; border: 1px solid #ddd; border-radius: 6px; padding: .9rem 1.2rem; margin: 1rem 0; min-width: 0; }
section h2 { margin-top: 0; color: #0b3d5c; font-size: 1.3rem; }
p.explain { max-width: 60rem; line-height: 1.45; }
figure { display: inline-block; margin: .6rem 1rem .6rem 0; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; max-width: 40rem; }
.tablewrap { max-width: 100%; overflow-x: auto; -webkit-overflow-scrolling: touch; margin: .5rem 0; }
table { border-collapse: collapse; font-size: .82rem; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
th { background: #f0f4f7; }
td.l, th.l { text-align: left; }
code { background: #f3f3f3; padding: 0 .2rem; overflow-wrap: anywhere; }
.players { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .2rem 1rem; border-bottom: 1px solid #eee; }
.players figure, figure.apg-figure { display: block; margin: .4rem 0; min-width: 0; }
footer { color: #777; font-size: .8rem; padding: 1rem 1.4rem; }
@media (max-width: 700px) {
  header { padding: .7rem .8rem; } header h1 { font-size: 1.25rem; }
  main { padding: .4rem .5rem 2rem .5rem; } nav { padding: .3rem .5rem; }
  section { padding: .7rem .7rem; margin: .7rem 0; }
  .players { grid-template-columns: minmax(0, 1fr); }
}
"""

CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
"""


@dataclass
class Section:
    """One section of the report: a title, an explanation and HTML blocks."""

    key: str
    title: str
    explain: str
    blocks: list[str] = field(default_factory=list)

    def figure(self, src: str, caption: str, width: int | None = None) -> None:
        """A figure; ``caption`` is plain text with `code`, **bold** and *italic* marks."""
        w = f' width="{width}"' if width else ""
        alt = html.escape(_plain(caption))
        self.blocks.append(
            f'<figure><img src="{html.escape(src)}" alt="{alt}"{w}>'
            f"<figcaption>{_markdown_inline(caption)}</figcaption></figure>"
        )

    def player(self, spec: Any, input_size: Any, caption: str) -> None:
        """A pausable, steppable animation of one layer (the playground's player)."""
        from atrous.viz.playground import player_html

        self.blocks.append(player_html(spec, input_size, _markdown_inline(caption)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> None:
        """A table in a box that scrolls on a narrow screen; the first ``left`` columns (and a
        ``notes`` column) are left-aligned."""
        lefts = {i for i, h in enumerate(header) if i < left or str(h) == "notes"}
        head = "".join(
            f'<th class="{"l" if i in lefts else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(header)
        )
        body = "".join(
            "<tr>"
            + "".join(f'<td class="{"l" if i in lefts else ""}">{html.escape(str(c))}</td>' for i, c in enumerate(r))
            + "</tr>"
            for r in rows
        )
        self.blocks.append(
            f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        )

    def text(self, text: str) -> None:
        self.blocks.append(f'<p class="explain">{text}</p>')

    def render(self) -> str:
        return (
            f'<section id="{self.key}"><h2>{html.escape(self.title)}</h2>'
            f'<p class="explain">{self.explain}</p>' + "\n".join(self.blocks) + "</section>"
        )


def _report_table(section: Section, report: Any, limit: int | None = None) -> None:
    header, rows = report.display()
    shown = rows if limit is None or len(rows) <= limit else rows[: limit // 2] + rows[-limit // 2 :]
    section.table(header, shown, left=2)
    if limit is not None and len(rows) > limit:
        section.text(f"({len(rows) - len(shown)} rows in the middle left out; <code>atrous analyze</code> prints all.)")


class _Builder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.assets = out / "assets"
        self.assets.mkdir(parents=True, exist_ok=True)
        self.sections: list[Section] = []

    def asset(self, name: str) -> tuple[Path, str]:
        return self.assets / name, f"assets/{name}"

    def figure(
        self, section: Section, name: str, caption: str, draw: Callable[[Path | None], Any], width: int | None = None
    ) -> None:
        """Draw a figure and save it as SVG (sharp at any pixel density; text kept as text)."""
        import matplotlib

        name = str(Path(name).with_suffix(".svg"))
        path, rel = self.asset(name)
        fig = draw(None)
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "atrous"}):
            fig.savefig(path, format="svg", metadata={"Date": None})
        section.figure(rel, caption, width)

    def animation(self, section: Section, name: str, caption: str, spec: Any, size: Any) -> None:
        """One layer, drawn and animated by the playground's player (pausable and steppable)."""
        section.player(spec, size, caption)


# --------------------------------------------------------------------------- sections


def _playground(b: _Builder) -> Section:
    from atrous.viz.playground import playground_section

    s = Section(
        "playground",
        "Playground",
        "Every layer below, and any other: pick the input size, kernel, stride, dilation, padding, groups, or a "
        "transposed layer with its valid <code>output_padding</code> (or solve it back from the output size). Hover "
        "or tap an output to light its taps, one colour per kernel weight (taps on padding and on inserted zeros "
        "are marked: they are where gridding and checkerboards come from); hover an input to see every output "
        "that reads it; step through the outputs with the player or the arrow keys. <i>Stack</i> chains layers "
        "(receptive field, jump, start, holes per layer, one tap set per phase for transposed layers); "
        "<i>Dilated vs transposed</i> puts the two side by side. The settings are kept in the address: share it. "
        "<code>atrous playground</code> writes this as a page of its own.",
    )
    s.blocks.append(playground_section())
    return s


def _seeds(b: _Builder) -> Section:
    from atrous.geometry import ConvSpec, Field, output_size, receptive_field
    from atrous.viz import figures

    s = Section(
        "seeds",
        "Dilation in one picture",
        "A 3-tap kernel with dilation <i>d</i> spreads its taps <i>d</i> apart: it reads a span of "
        "<code>(k-1)d + 1</code> inputs with <i>k</i> weights. Stacking dilations 1, 2, 4 grows the receptive "
        "field 3, 7, 15 with the same parameter count per layer, and without holes: each layer's taps land "
        "on the span the layer before already covers.",
    )
    fields = cast("list[Field]", receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)]))  # 1-d specs
    s.table(
        ["layer", "dilation", "RF", "jump", "holes", "weights per channel pair"],
        [
            [f"conv{i + 1}", d, f.size, str(f.jump), len(f.holes), 3]
            for i, (d, f) in enumerate(zip((1, 2, 4), fields, strict=True))
        ],
    )
    b.figure(
        s,
        "coverage_124.svg",
        "Path counts of the centre output of the 1, 2, 4 stack: every position is reached.",
        lambda p: figures.coverage_map([(1, 2, 4)], 3, path=p),
    )
    s.text(
        f"On a 9x9 input a 3x3 kernel with stride 2 and no padding gives a {output_size((9, 9), 3, stride=2)} output; "
        f"with dilation 4 it gives {output_size((9, 9), 3, dilation=4)} and reads exactly the corners, edge midpoints "
        "and centre: x[0,0], x[0,4], x[0,8], ..., x[8,8]. Press play, step, or hover the cells."
    )
    players = Section("", "", "")
    b.animation(
        players, "nine_stride2", "3x3 kernel, stride 2, on a 9x9 input: 4x4 outputs.", ConvSpec(3, stride=2), (9, 9)
    )
    b.animation(
        players,
        "nine_dilation4",
        "3x3 kernel, dilation 4, on a 9x9 input: one output reading 9 scattered inputs.",
        ConvSpec(3, dilation=4),
        (9, 9),
    )
    s.blocks.append('<div class="players">' + "".join(players.blocks) + "</div>")
    b.figure(
        s,
        "rf_growth_124.svg",
        "Receptive field per layer of the 1, 2, 4, 8, 16 stack.",
        lambda p: figures.rf_growth([ConvSpec(3, dilation=d) for d in (1, 2, 4, 8, 16)], path=p),
    )
    return s


def _unread(spec: Any, size: int) -> tuple[list[int], list[str]]:
    """Input positions no output reads, and the padding cells no output reads (1-d, from the
    exact supports and tap positions)."""
    from atrous.geometry import axis_taps, receptive_field

    (ax,) = spec.for_ndim(1).axes((size,))
    field = receptive_field([spec], input_size=size)[-1]
    assert field.length is not None  # a field for an input size knows its output length
    read = set().union(*(field.support(y) for y in range(field.length)))
    taps = {x for y in range(field.length) for x in axis_taps(ax, y)}
    pads = [f"{x}" for x in sorted(taps | set(range(-ax.lo, 0)) | set(range(size, size + ax.hi))) if not 0 <= x < size]
    unread_pads = [p for p in pads if int(p) not in taps]
    return sorted(set(range(size)) - read), unread_pads


def _arithmetic(b: _Builder) -> Section:
    from atrous.geometry import ConvSpec, invert, output_size, receptive_field
    from atrous.viz.animate import CONV_ARITHMETIC

    s = Section(
        "arithmetic",
        "Convolution arithmetic, step by step",
        "Dumoulin and Visin's cases, each with its transpose, drawn from the geometry core: input, padding, "
        "inserted zeros (for transposed convolutions), the taps of the current output in one colour per kernel "
        "weight, and the output, labelled, with the output-size formula filled in. A transposed convolution is "
        "drawn as the direct convolution it equals: over the input with <i>s</i>-1 zeros inserted between cells. "
        "Every player pauses, steps (buttons or arrow keys) and opens its layer in the playground.",
    )
    blocks = Section("", "", "")
    rows: list[str] = []
    for name, (i, k, st, p, d) in CONV_ARITHMETIC.items():
        spec = ConvSpec(k, st, p, d)
        o = output_size(i, k, st, p, d)
        label = name.replace("_", " ")
        caption = f"*{label}*: {i} -> {o} (k={k}, s={st}, p={p}" + (f", d={d}" if d > 1 else "") + ")."
        if name == "padding_strides_odd":
            f = receptive_field([spec], input_size=i)[-1]
            first, last = f.interval(o - 1)
            unread, pads = _unread(spec, i)
            caption += (
                f" Output {o - 1} reads inputs {first}-{last}: "
                + ("every input is read; " if not unread else f"inputs {unread} are never read; ")
                + (f"the cells no output reads are padding (position {', '.join(pads)})." if pads else "")
            )
        b.animation(blocks, f"{name}", caption, spec, (i, i))
        back = invert(spec, i)
        tcap = (
            f"Its transpose: {o} -> {i} (k={k}, s={st}, p={p}"
            + (f", d={d}" if d > 1 else "")
            + (f", output_padding={back.output_padding[0]}" if back.output_padding[0] else "")
            + ")."
        )
        if name == "padding_strides_odd":
            tcap += (
                " The odd case (conv_arithmetic's issue 11 reports its drawing of it as wrong): without "
                f"output_padding=1 the transpose gives {output_size(o, k, st, p, d, transposed=True)}, not {i}; the "
                "extra row and column come out on the high side (bottom and right), as in PyTorch."
            )
        b.animation(blocks, f"{name}_transposed", tcap, back, (o, o))
        rows.append('<div class="players">' + "".join(blocks.blocks) + "</div>")
        blocks.blocks.clear()
    dt = ConvSpec(3, stride=2, dilation=2, transposed=True)
    f = receptive_field([dt], input_size=4)[-1]
    assert f.length is not None  # a field for an input size knows its output length
    empty = [y for y in range(f.length) if not f.support(y)]
    b.animation(
        blocks,
        "dilated_strided_transposed",
        f"A stride-2 dilated transposed convolution (k=3, s=2, d=2): 4 -> {f.length} per axis; the dilation spreads "
        f"the kernel over the zero-stuffed input. Stride and dilation share the factor 2, so the taps of every "
        f"odd output land on inserted zeros or padding only: outputs {', '.join(map(str, empty))} of each axis "
        "receive no input at all.",
        dt,
        (4, 4),
    )
    b.animation(
        blocks,
        "causal_1d",
        "A causal 1-d convolution (k=2, d=4): each output sees only the present and the past.",
        ConvSpec(2, dilation=4, padding="causal"),
        12,
    )
    rows.append('<div class="players">' + "".join(blocks.blocks) + "</div>")
    s.blocks.extend(rows)
    return s


def _gridding(b: _Builder) -> Section:
    from atrous.geometry import coverage, hdc
    from atrous.viz import figures

    s = Section(
        "gridding",
        "Gridding and hybrid dilation",
        "Repeating one dilation keeps a period-<i>d</i> grid of positions that no path reaches: with 2, 2, 2 the "
        "centre output never sees odd offsets (a checkerboard). Hybrid rates such as 1, 2, 5 (Wang et al. 2018) fill "
        "the grid. The table gives the exact coverage and the paper's rule; the playground's <i>Stack</i> tab "
        "draws the same comparison live.",
    )
    b.figure(
        s,
        "coverage_222_125.svg",
        "Path counts of the centre output: 2, 2, 2 (holes) vs 1, 2, 5 (none).",
        lambda p: figures.coverage_map([(2, 2, 2), (1, 2, 5)], 3, path=p),
    )
    rows = []
    for rates in ((2, 2, 2), (1, 2, 5), (2, 4, 8), (1, 2, 9), (1, 2, 3, 1, 2, 3)):
        c, h = coverage(rates, 3), hdc(rates, 3)
        rows.append(
            [
                ", ".join(map(str, rates)),
                c.size,
                len(c.holes),
                (c.period or "irregular") if c.holes else "-",
                ", ".join(map(str, h.M)),
                "passes" if h.ok else "fails",
            ]
        )
    s.table(["rates (k=3)", "RF", "holes", "period", "HDC M chain", "HDC rule"], rows)
    b.figure(
        s,
        "detection_probability.svg",
        "Chance that a w x w object meets a tap of one dilated layer's grid, vs the w^2/d^2 model.",
        lambda p: figures.detection_probability(path=p),
    )
    return s


def _transposed(b: _Builder) -> Section:
    from atrous.analysis import analyze
    from atrous.analysis.builtin import fcn_decoder, fcn_decoder_k3
    from atrous.geometry import ConvSpec
    from atrous.viz import figures

    s = Section(
        "transposed",
        "Transposed convolution and checkerboards",
        "A transposed convolution is the adjoint of a convolution: each input writes a scaled copy of the kernel "
        "<i>s</i> apart. When the kernel size is not divisible by the stride, output phases receive different "
        "numbers of taps (Odena et al. 2016): the checkerboard. The field of each output phase is exact: the jump "
        "is the fraction 1/s.",
    )
    b.figure(
        s,
        "checkerboard.svg",
        "Taps reaching each output of a 5x5 input, borders included (as PyTorch computes them): k=3, s=2 "
        "(uneven) vs k=4, s=2 (even).",
        lambda p: figures.checkerboard_map(
            [
                ConvSpec((3, 3), stride=2, padding=1, transposed=True),
                ConvSpec((4, 4), stride=2, padding=1, transposed=True),
            ],
            path=p,
        ),
    )
    import torch

    for name, build in (("fcn-decoder (k=4, s=2)", fcn_decoder), ("fcn-decoder-k3 (k=3, s=2)", fcn_decoder_k3)):
        with torch.device("meta"):
            model = build()
        report = analyze(model, (1, 3, 64, 64))
        s.text(f"<b>{html.escape(name)}</b>: an FCN-style decoder adding encoder skips to transposed-conv upsamplings.")
        _report_table(s, report)
    return s


def _tcn(b: _Builder) -> Section:
    import torch

    from atrous.analysis import analyze, erf
    from atrous.geometry import tcn_receptive_field
    from atrous.nn import TCN
    from atrous.viz import figures

    s = Section(
        "tcn",
        "Temporal convolutional network",
        "Bai et al. (2018): residual blocks of two causal dilated convolutions, dilations 2^i. Their adding-problem "
        f"model (8 levels of 24 channels, k=8) has a receptive field of 1 + 2(k-1)(2^n - 1) = {tcn_receptive_field(8, 8)} "
        "time steps; the table is the exact analysis of atrous's TCN through its residual merges.",
    )
    with torch.device("meta"):
        model = TCN(2, [24] * 8, kernel_size=8)
    report = analyze(model, (1, 2, 4000))
    _report_table(s, report, limit=14)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        small = TCN(1, [16] * 5, kernel_size=3).eval()
    e = erf(small, (1, 1, 256), samples=8, output_index=(255,))
    back = {q: v[0] for q, v in e.back_radii.items()}
    trf = e.trf[0]
    if e.one_sided[0]:
        steps = cast("dict[float, int]", back)  # a one-sided axis has its back radii
        text = (
            f"The field is causal (one-sided): its mass is counted back from the present step. Half of the "
            f"gradient mass lies in the last {steps[0.5] + 1} steps, 90% in the last {steps[0.9] + 1} and 99% in the "
            f"last {steps[0.99] + 1}, of the {trf} the theoretical field spans; the fitted model is a geometric decay "
            "back from the present (a Gaussian around the centre of mass misses a one-sided field by orders of "
            "magnitude, and its mass bars would run past the present step)."
        )
    else:  # pragma: no cover - the TCN is causal
        text = "The field is not one-sided."
    b.figure(
        s,
        "tcn_erf.svg",
        "Effective receptive field of the last output of a 5-level TCN (k=3), log scale: mass counted back from "
        "the present step, with a one-sided fit.",
        lambda p: figures.erf_heatmap(e, title="TCN, 5 levels, k=3: ERF of the last step", path=p),
    )
    s.text(text)
    return s


def _wavenet(b: _Builder) -> Section:
    from atrous.analysis import analyze
    from atrous.geometry import ConvSpec, Field, PoolSpec
    from atrous.nn import WaveNet

    s = Section(
        "wavenet",
        "WaveNet stack",
        "van den Oord et al. (2016): gated causal convolutions with kernel 2 and dilations 1, 2, ..., 512 repeated "
        "three times, residual and skip connections. Each cycle has a receptive field of 1024; three cycles reach "
        "3070 samples. The skip outputs of all 30 layers merge: the analysis unites their fields.",
    )
    model = WaveNet(1, 256, residual_channels=32, layers_per_cycle=10, cycles=3)
    report = analyze(model, (1, 1, 8192))
    layers = [n for n in report.nodes if isinstance(n.spec, (ConvSpec, PoolSpec)) and n.spec.kernel_size == (2,)]
    s.table(
        ["layer", "dilation", "RF after it"],
        [
            [n.name, cast("ConvSpec | PoolSpec", n.spec).dilation[0], cast(Field, n.fields[0]).size]
            for n in layers[::3] + layers[-1:]
        ],
    )
    s.text(
        f"Output receptive field: {report.node().rf()[0]} samples (atrous.nn.WaveNet.receptive_field = {model.receptive_field})."
    )
    return s


def _aspp(b: _Builder) -> Section:
    import math

    import torch

    from atrous.analysis import analyze
    from atrous.analysis.spectra import (
        HALF_POWER,
        aspp_alias_free_strides,
        band_limit,
        cutoff,
        dtft,
        rule_of_thumb_stride,
    )
    from atrous.nn import ASPP
    from atrous.viz import figures

    s = Section(
        "aspp",
        "DeepLabv3 ASPP head",
        "Atrous spatial pyramid pooling (Chen et al. 2017): a 1x1 branch, 3x3 branches with rates 6, 12, 18 and an "
        "image-pooling branch, concatenated. Each branch's field is exact; the pooling branch makes the output "
        "global.",
    )
    with torch.device("meta"):
        head = ASPP(256, 64, rates=(6, 12, 18)).eval()
    report = analyze(head, (1, 256, 33, 33))
    s.table(
        ["branch", "RF"],
        [[k, v if isinstance(v, str) else " x ".join(map(str, v))] for k, v in head.receptive_field.items()],
    )
    s.text(f"Output field: {', '.join(map(str, report.node().rf()))} (the pooling branch reads every position).")
    box = [1.0, 1.0, 1.0]
    wc = cutoff(box)
    rates = (6, 12, 18)
    smooth = [([1.0] * 8, 1)]
    alone = aspp_alias_free_strides(rates, box)
    after = aspp_alias_free_strides(rates, box, before=smooth)
    gain = abs(complex(dtft(box, math.pi / 3, dilation=6)[()])) / 3.0
    s.text(
        "<b>Strides after a dilated branch.</b> A dilated filter's response is H(d&omega;): the undilated response "
        "compressed by <i>d</i> and repeated <i>d</i> times over [0, 2&pi;), so it passes again near 2&pi;k/d. "
        "A popular explanation of dilation concludes that a branch with rate <i>r</i> (cut-off "
        "&omega;<sub>c</sub>/r) may be strided by any <i>M</i> with &omega;<sub>c</sub>/r &le; &pi;/M. That holds "
        "only when the branch's input is already band-limited below 2&pi;/r &minus; &omega;<sub>c</sub>/r; "
        f"otherwise the repeated passbands fold onto the output. Counter-example: a 3-tap box dilated by 6 has "
        f"{gain:.0%} of its DC gain at &pi;/3 (6&middot;&pi;/3 = 2&pi;), so even a stride of 2 aliases, while the rule "
        f"promises {rule_of_thumb_stride(6, wc)}. The strides below come from the response of the whole path from "
        "the input (the product of the chain's responses): the largest <i>M</i> whose band [&pi;/M, &pi;] the path "
        f"passes at no more than {HALF_POWER:.3f} of its DC gain (the level of the cut-off itself)."
    )
    s.table(
        [
            "rate r",
            "cut-off of the dilated box (rad)",
            "rule: floor(pi r / w_c)",
            "band limit the rule needs (rad)",
            "branch alone",
            "after an 8-tap average",
        ],
        [
            [r, f"{wc / r:.4f}", rule_of_thumb_stride(r, wc), f"{band_limit(r, wc):.3f}", alone[r], after[r]]
            for r in rates
        ],
    )
    avg_cut = cutoff(smooth[0][0])
    enough = [r for r in rates if after[r] >= rule_of_thumb_stride(r, wc)]
    short = [r for r in rates if after[r] < rule_of_thumb_stride(r, wc)]
    sentence = f"An 8-tap average in front (cut-off {avg_cut:.3f} rad) "
    if enough:
        sentence += f"band-limits enough for rate {', '.join(map(str, enough))}: there the whole path allows the rule's stride or more"
    if short:
        sentence += (
            ("; " if enough else "")
            + "for rate "
            + ", ".join(
                f"{r} (band limit needed {band_limit(r, wc):.3f} rad) the true stride is {after[r]}, not "
                f"{rule_of_thumb_stride(r, wc)}"
                for r in short
            )
        )
    s.text(sentence + ".")
    b.figure(
        s,
        "frequency_response.svg",
        "|H(d\u03c9)| of a 3-tap box kernel dilated by 1, 2, 4, 6: the passbands repeat; d = 6 is back at full "
        "gain at \u03c0/3.",
        lambda p: figures.frequency_response([1.0, 1.0, 1.0], dilations=(1, 2, 4, 6), path=p),
    )
    b.figure(
        s,
        "stride_aliasing.svg",
        "The whole path decides: the box dilated by 6 alone (no stride above 1 is alias-free) and after an 8-tap "
        "average (the path's response falls below the level above \u03c0/M).",
        lambda p: figures.stride_aliasing(box, 6, befores=[(), smooth], path=p),
    )
    return s


def _context(b: _Builder) -> Section:
    import torch

    from atrous.analysis import analyze, erf
    from atrous.nn import ContextModule
    from atrous.viz import figures

    s = Section(
        "context",
        "Yu-Koltun context module",
        "Multi-scale context aggregation (Yu & Koltun 2016): 3x3 convolutions with dilations 1, 1, 2, 4, 8, 16, 1 "
        "and a 1x1, receptive fields 3, 5, 9, 17, 33, 65, 67, 67, identity-initialised so that training starts from "
        "the front end's output.",
    )
    with torch.device("meta"):
        module = ContextModule(16).eval()
    report = analyze(module, (1, 16, 97, 97))
    _report_table(s, report)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        rnd = ContextModule(16, init="default").eval()
    e = erf(rnd, (1, 16, 97, 97), samples=4)
    f = report.field()
    box = tuple(f[a].interval(48) for a in range(2))
    half = (f.size[0] - 1) / 2 + 0.5
    r50, r90, r99 = (e.radii[q] for q in (0.5, 0.9, 0.99))
    where = (
        "most of it well inside the field"
        if r90 < 0.6 * half
        else "spread over nearly the whole field: the 90% radius reaches its border"
        if r90 > 0.9 * half
        else "over most of the field"
    )
    b.figure(
        s,
        "context_erf.svg",
        "ERF of the centre output with the fitted Gaussian and the 50/90/99% radii; "
        f"the box is the {f.size[0]}x{f.size[1]} theoretical field.",
        lambda p: figures.erf_heatmap(e, title="context module: effective receptive field", trf_box=box, path=p),
    )
    s.text(
        f"The effective field of a randomly initialised module (the figure) holds half of its gradient mass within "
        f"a radius of {r50:.1f} of the centre, 90% within {r90:.1f} and 99% within {r99:.1f}, against a half-width of "
        f"{half:.1f} for the {f.size[0]}x{f.size[1]} theoretical field: {where}."
    )
    b.figure(
        s,
        "context_growth.svg",
        "Theoretical receptive field per layer of the context module.",
        lambda p: figures.rf_growth(report, path=p),
    )
    return s


def _model_sections(b: _Builder, model: Any, input_shape: Sequence[int], name: str) -> list[Section]:
    from atrous.analysis import analyze, erf
    from atrous.viz import figures

    report = analyze(model, input_shape)
    s = Section(
        "model",
        f"{name}",
        f"Exact receptive fields of every operation at input {tuple(input_shape)} (traced with {report.trace.method}).",
    )
    _report_table(s, report)
    if report.gridding:
        s.text("<b>Gridding</b>: " + "<br>".join(html.escape(g.describe()) for g in report.gridding[-4:]))
    if report.unknown:
        s.text("<b>Unknown operations</b>: " + ", ".join(html.escape(f"{n.name} ({n.op})") for n in report.unknown))
    b.figure(
        s, "model_growth.svg", "Theoretical receptive field per layer.", lambda p: figures.rf_growth(report, path=p)
    )
    out = report.node()
    if len(out.shape) > 2 and all(isinstance(f, object) for f in out.fields):
        try:
            e = erf(model, input_shape, samples=4)
        except Exception as exc:  # the ERF is optional in a report about a user's model
            s.text(f"(No ERF: {html.escape(str(exc))})")
        else:
            b.figure(
                s,
                "model_erf.svg",
                "Effective receptive field of the centre output.",
                lambda p: figures.erf_heatmap(e, path=p),
            )
    return [s]


SECTIONS: list[tuple[str, Callable[[_Builder], Section]]] = [
    ("playground", _playground),
    ("dilation", _seeds),
    ("arithmetic", _arithmetic),
    ("gridding", _gridding),
    ("transposed convolution", _transposed),
    ("TCN", _tcn),
    ("WaveNet", _wavenet),
    ("ASPP", _aspp),
    ("context module", _context),
]


def build_report(
    out_dir: str | Path = "report",
    model: Any = None,
    input_shape: Sequence[int] | None = None,
    *,
    title: str = "atrous report",
    model_name: str = "model",
    progress: bool = True,
    sections: Sequence[str] | None = None,
    examples: str | Path | None = None,
    single_file: bool = False,
) -> Path:
    """Write the report and return the path of its ``index.html``.

    Args:
        out_dir: folder to write (created; files in it are replaced). With ``single_file``, a
            path ending in ``.html`` names the file itself.
        model, input_shape: report on this model; without one, on the built-in examples.
        sections: names of built-in sections to include (default: all).
        examples: a folder of example results (``docs/results``: the JSON files and figures
            that ``examples/*.py`` write); each becomes a section after the built-in ones.
        progress: show a progress bar (rich) on stderr.
        single_file: inline every asset (figures as data URIs, style and script inline), so that
            the one HTML file is the whole report; no ``assets/`` folder is written.
    """
    import tempfile

    import matplotlib

    matplotlib.use("Agg", force=False)
    target = Path(out_dir)
    if single_file and target.suffix.lower() in (".html", ".htm"):
        index = target
    else:
        index = target / "index.html"
    index.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="atrous-report-") if single_file else None
    try:
        b = _Builder(Path(scratch.name) if scratch is not None else index.parent)
        elapsed = _build(b, model, input_shape, model_name, progress, sections, examples)
        page = _page(b, title, elapsed, single_file)
        index.write_text(page, encoding="utf-8")
    finally:
        if scratch is not None:
            scratch.cleanup()
    return index


def _build(
    b: _Builder,
    model: Any,
    input_shape: Sequence[int] | None,
    model_name: str,
    progress: bool,
    sections: Sequence[str] | None,
    examples: str | Path | None,
) -> float:
    started = time.perf_counter()
    if model is not None:
        if input_shape is None:
            from atrous.errors import SpecError

            raise SpecError("input_shape is needed to report on a model, e.g. (1, 3, 224, 224)")
        jobs: list[tuple[str, Callable[[_Builder], Any]]] = [
            (model_name, lambda bb: _model_sections(bb, model, input_shape, model_name))
        ]
    else:
        chosen = SECTIONS if sections is None else [(n, f) for n, f in SECTIONS if n in sections]
        jobs = list(chosen)
    if examples is not None:
        for record in example_records(examples):

            def section(bb: _Builder, r: dict[str, Any] = record) -> Section:
                return _example_section(bb, r, Path(examples))

            jobs.append((record["name"], section))
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task("report", total=len(jobs))
            for name, job in jobs:
                bar.update(task, description=f"report: {name}")
                _add(b, job(b))
                bar.advance(task)
    else:
        for _, job in jobs:
            _add(b, job(b))
    return time.perf_counter() - started


_MIME = {".svg": "image/svg+xml", ".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _inline_assets(page: str, folder: Path) -> str:
    """Every ``src="assets/NAME"`` and ``href="assets/NAME"`` (an audio file's download link)
    as a data URI of the file's bytes."""
    import base64
    import re

    def data(match: re.Match[str]) -> str:
        path = folder / match.group(2)
        mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
        return f'{match.group(1)}="data:{mime};base64,{base64.b64encode(path.read_bytes()).decode("ascii")}"'

    return re.sub(r'(src|href)="assets/([^"]+)"', data, page)


def _short_title(title: str) -> str:
    short = title.replace("Example: ", "").split(":")[0]
    return short if len(short) <= 28 else short[:26].rstrip() + "\u2026"


def _page(b: _Builder, title: str, elapsed: float, single_file: bool) -> str:
    from atrous import __version__

    nav = "".join(
        f'<a href="#{s.key}" title="{html.escape(s.title)}">{html.escape(_short_title(s.title))}</a>'
        for s in b.sections
    )
    has_playground = any("data-atrous-player" in "".join(s.blocks) or s.key == "playground" for s in b.sections)
    style, script = CSS, CHECK_SCRIPT
    body_script = ""
    if has_playground:
        from atrous.viz.playground import playground_css, playground_js

        style += playground_css()
        body_script = f"<script>{playground_js()}</script>"
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{style}</style><script>{script}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>Dilated and transposed convolutions, exactly: receptive fields, "
        "gridding, checkerboards and effective fields, computed by atrous.</p></header>"
        f"<nav aria-label='sections'>{nav}</nav><main>" + "\n".join(s.render() for s in b.sections) + "</main>"
        f"<footer>atrous {__version__}; built in {elapsed:.1f} s. Every number comes from atrous.geometry and "
        "atrous.analysis; the pictures are drawn from the same numbers.</footer>"
        f"{body_script}</body></html>"
    )
    return _inline_assets(page, b.assets) if single_file else page


EXAMPLE_ORDER = (
    "adding",
    "copy_memory",
    "attention",
    "genomics",
    "objects",
    "gridding",
    "rhythm",
    "upsampling",
    "speech",
    "lanes",
    "lesions",
    "point_clouds",
    "streaming",
)
"""The order of the example sections (``examples/common.py`` writes docs/RESULTS.md in it too)."""


def example_records(folder: str | Path) -> list[dict[str, Any]]:
    """The example results in ``folder`` (``<name>.json`` files), in the examples' order."""
    import json

    from atrous.errors import SpecError

    root = Path(folder)
    if not root.is_dir():
        raise SpecError(f"examples folder {str(root)!r} does not exist (full runs of examples/*.py write docs/results)")
    records = []
    for path in sorted(root.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            missing = [k for k in ("name", "title", "text", "header", "rows", "figures", "command") if k not in record]
            if missing:
                raise KeyError(", ".join(missing))
        except (ValueError, KeyError, TypeError) as exc:
            raise SpecError(f"{path} is not an example result ({type(exc).__name__}: {exc})") from None
        records.append(record)
    if not records:
        raise SpecError(f"examples folder {str(root)!r} holds no results (<name>.json); run an example first")
    order = EXAMPLE_ORDER
    records.sort(key=lambda r: (order.index(r["name"]) if r["name"] in order else len(order), r["name"]))
    return records


def _markdown_inline(text: str) -> str:
    """Escaped text with `code` spans, **bold** and *italic*: all the Markdown the texts use."""
    import re

    out = html.escape(text.strip(), quote=False)
    codes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = re.sub(r"`([^`]+)`", keep, out)  # code spans first: nothing inside them is markup
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"<i>\1</i>", out)
    out = re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], out)
    return out.replace("\n\n", "</p><p class='explain'>")


def _plain(text: str) -> str:
    """The text of a caption without its Markdown marks (for ``alt``)."""
    import re

    return re.sub(r"[`*]", "", text)


def _example_section(b: _Builder, record: dict[str, Any], root: Path) -> Section:
    import shutil

    s = Section(
        f"example-{record['name']}",
        f"Example: {record['title']}",
        _markdown_inline(record["text"]),
    )
    if record["header"]:
        s.table(record["header"], [["" if c is None else c for c in r] for r in record["rows"]])
    for f in record["figures"]:
        src = root / f["file"]
        if not src.is_file():
            s.text(f"(figure {html.escape(f['file'])} is missing from {html.escape(str(root))})")
            continue
        name = "example_" + f["file"].replace("/", "_")
        dest, rel = b.asset(name)
        shutil.copyfile(src, dest)
        s.figure(rel, f["caption"])
    for a in record.get("audio", []):
        src = root / a["file"]
        if not src.is_file():
            s.text(f"(audio {html.escape(a['file'])} is missing from {html.escape(str(root))})")
            continue
        dest, rel = b.asset("example_" + a["file"].replace("/", "_"))
        shutil.copyfile(src, dest)
        s.blocks.append(
            f'<figure><audio controls preload="none" src="{html.escape(rel)}"></audio>'
            f'<figcaption><a href="{html.escape(rel)}">{html.escape(a["file"].split("/")[-1])}</a>: '
            f"{html.escape(a['caption'])}</figcaption></figure>"
        )
    mode = "" if record.get("mode", "full") == "full" else f" ({html.escape(str(record['mode']))} run)"
    s.text(
        f"Produced by <code>{html.escape(record['command'])}</code>{mode}"
        + (
            f" in {record['elapsed_s']} s on {html.escape(str(record.get('machine', '')))}"
            if "elapsed_s" in record
            else ""
        )
        + "."
    )
    return s


def _add(b: _Builder, result: Section | list[Section]) -> None:
    if isinstance(result, list):
        b.sections.extend(result)
    else:
        b.sections.append(result)
