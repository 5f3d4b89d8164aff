"""`atrous report`: a self-contained HTML report with tables, figures and animations.

With no model it reports on built-in examples (the seeds' stacks and 9x9 examples, gridding,
transposed convolution and checkerboards, a TCN, a WaveNet stack, a DeepLabv3 ASPP head, the
Yu-Koltun context module, an FCN-style decoder); with a model, on that model. The output is
``index.html`` plus an ``assets/`` folder; it opens without a network connection.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Section", "build_report"]

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #0b3d5c; color: white; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.6rem; }
header p { margin: 0; opacity: .85; }
nav { padding: .6rem 2rem; background: #e8eef2; font-size: .9rem; }
nav a { margin-right: 1rem; color: #0b3d5c; text-decoration: none; }
main { padding: 1rem 2rem 3rem 2rem; max-width: 1200px; }
section { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 1rem 1.4rem; margin: 1.2rem 0; }
section h2 { margin-top: 0; color: #0b3d5c; }
p.explain { max-width: 60rem; line-height: 1.45; }
figure { display: inline-block; margin: .6rem 1rem .6rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; max-width: 36rem; }
table { border-collapse: collapse; font-size: .82rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
th { background: #f0f4f7; }
td.l, th.l { text-align: left; }
code { background: #f3f3f3; padding: 0 .2rem; }
footer { color: #777; font-size: .8rem; padding: 1rem 2rem; }
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
        w = f' width="{width}"' if width else ""
        self.blocks.append(
            f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}"{w}>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> None:
        head = "".join(
            f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(header)
        )
        body = "".join(
            "<tr>"
            + "".join(f'<td class="{"l" if i < left else ""}">{html.escape(str(c))}</td>' for i, c in enumerate(r))
            + "</tr>"
            for r in rows
        )
        self.blocks.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

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
        self, section: Section, name: str, caption: str, draw: Callable[[Path], Any], width: int | None = None
    ) -> None:
        path, rel = self.asset(name)
        fig = draw(path)
        if fig is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)
        section.figure(rel, caption, width)

    def animation(self, section: Section, name: str, caption: str, spec: Any, size: Any) -> None:
        from atrous.viz.animate import animate

        path, rel = self.asset(name)
        animate(spec, size, path)
        section.figure(rel, caption)


# --------------------------------------------------------------------------- sections


def _seeds(b: _Builder) -> Section:
    from atrous.geometry import ConvSpec, output_size, receptive_field
    from atrous.viz import figures

    s = Section(
        "seeds",
        "Dilation in one picture",
        "A 3-tap kernel with dilation <i>d</i> spreads its taps <i>d</i> apart: it reads a span of "
        "<code>(k-1)d + 1</code> inputs with <i>k</i> weights. Stacking dilations 1, 2, 4 grows the receptive "
        "field 3, 7, 15 with the same parameter count per layer, and without holes: each layer's taps land "
        "on the span the layer before already covers.",
    )
    fields = receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)])
    s.table(
        ["layer", "dilation", "RF", "jump", "holes", "weights per channel pair"],
        [[f"conv{i + 1}", d, f.size, str(f.jump), len(f.holes), 3] for i, (d, f) in enumerate(zip((1, 2, 4), fields))],
    )
    b.figure(
        s,
        "coverage_124.png",
        "Path counts of the centre output of the 1, 2, 4 stack: every position is reached.",
        lambda p: figures.coverage_map([(1, 2, 4)], 3, path=p),
    )
    s.text(
        f"On a 9x9 input a 3x3 kernel with stride 2 and no padding gives a {output_size((9, 9), 3, stride=2)} output; "
        f"with dilation 4 it gives {output_size((9, 9), 3, dilation=4)} and reads exactly the corners, edge midpoints "
        "and centre: x[0,0], x[0,4], x[0,8], ..., x[8,8]."
    )
    b.animation(
        s, "nine_stride2.gif", "3x3 kernel, stride 2, on a 9x9 input: 4x4 outputs.", ConvSpec(3, stride=2), (9, 9)
    )
    b.animation(
        s,
        "nine_dilation4.gif",
        "3x3 kernel, dilation 4, on a 9x9 input: one output reading 9 scattered inputs.",
        ConvSpec(3, dilation=4),
        (9, 9),
    )
    b.figure(
        s,
        "rf_growth_124.png",
        "Receptive field per layer of the 1, 2, 4, 8, 16 stack.",
        lambda p: figures.rf_growth([ConvSpec(3, dilation=d) for d in (1, 2, 4, 8, 16)], path=p),
    )
    return s


def _arithmetic(b: _Builder) -> Section:
    from atrous.geometry import ConvSpec

    s = Section(
        "arithmetic",
        "Convolution arithmetic, animated",
        "Dumoulin and Visin's cases, drawn from the geometry core: input, padding, inserted zeros (for "
        "transposed convolutions), the taps of the current output and the output are labelled, and the "
        "output-size formula is filled in. A transposed convolution is drawn as the direct convolution it "
        "equals: over the input with <i>s</i>-1 zeros inserted between cells.",
    )
    cases = [
        ("padding_strides.gif", "Padding 1, stride 2: 5 -> 3.", ConvSpec(3, stride=2, padding=1), (5, 5)),
        (
            "padding_strides_odd.gif",
            "Padding 1, stride 2 on 6 inputs: the last input is never read.",
            ConvSpec(3, stride=2, padding=1),
            (6, 6),
        ),
        ("dilation.gif", "Dilation 2: 7 -> 3.", ConvSpec(3, dilation=2), (7, 7)),
        (
            "padding_strides_transposed.gif",
            "Its transpose: 3 -> 5 (padding 1, stride 2).",
            ConvSpec(3, stride=2, padding=1, transposed=True),
            (3, 3),
        ),
        (
            "dilation_transposed.gif",
            "Dilated transposed convolution: 3 -> 7.",
            ConvSpec(3, dilation=2, transposed=True),
            (3, 3),
        ),
        (
            "causal_1d.gif",
            "A causal 1-d convolution (k=2, d=4): each output sees only the past.",
            ConvSpec(2, dilation=4, padding="causal"),
            12,
        ),
    ]
    for name, caption, spec, size in cases:
        b.animation(s, name, caption, spec, size)
    return s


def _gridding(b: _Builder) -> Section:
    from atrous.geometry import coverage, hdc
    from atrous.viz import figures

    s = Section(
        "gridding",
        "Gridding and hybrid dilation",
        "Repeating one dilation keeps a period-<i>d</i> grid of positions that no path reaches: with 2, 2, 2 the "
        "centre output never sees odd offsets (a checkerboard). Hybrid rates such as 1, 2, 5 (Wang et al. 2018) fill "
        "the grid. The table gives the exact coverage and the paper's rule.",
    )
    b.figure(
        s,
        "coverage_222_125.png",
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
        "detection_probability.png",
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
        "checkerboard.png",
        "Taps reaching each output: k=3, s=2 (uneven) vs k=4, s=2 (even).",
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
    b.figure(
        s,
        "tcn_erf.png",
        "Effective receptive field of the last output of a 5-level TCN (k=3): the gradient "
        "mass concentrates near the present, far inside the theoretical field.",
        lambda p: figures.erf_heatmap(e, title="TCN, 5 levels, k=3: ERF of the last step", path=p),
    )
    return s


def _wavenet(b: _Builder) -> Section:
    from atrous.analysis import analyze
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
    layers = [n for n in report.nodes if n.spec is not None and n.spec.kernel_size == (2,)]
    s.table(
        ["layer", "dilation", "RF after it"],
        [[n.name, n.spec.dilation[0], n.fields[0].size] for n in layers[::3] + layers[-1:]],
    )
    s.text(
        f"Output receptive field: {report.node().rf()[0]} samples (atrous.nn.WaveNet.receptive_field = {model.receptive_field})."
    )
    return s


def _aspp(b: _Builder) -> Section:
    import torch

    from atrous.analysis import analyze
    from atrous.analysis.spectra import aspp_alias_free_strides, cutoff
    from atrous.nn import ASPP
    from atrous.viz import figures

    s = Section(
        "aspp",
        "DeepLabv3 ASPP head",
        "Atrous spatial pyramid pooling (Chen et al. 2017): a 1x1 branch, 3x3 branches with rates 6, 12, 18 and an "
        "image-pooling branch, concatenated. Each branch's field is exact; the pooling branch makes the output "
        "global. A dilated filter's frequency response is H(d&omega;): its cut-off falls by d, and a branch with rate "
        "r may be strided by at most M with &omega;<sub>c</sub>/r &le; &pi;/M without aliasing.",
    )
    with torch.device("meta"):
        head = ASPP(256, 64, rates=(6, 12, 18)).eval()
    report = analyze(head, (1, 256, 33, 33))
    s.table(
        ["branch", "RF"],
        [[k, v if isinstance(v, str) else " x ".join(map(str, v))] for k, v in head.receptive_field.items()],
    )
    wc = cutoff([1.0, 1.0, 1.0])
    strides = aspp_alias_free_strides((6, 12, 18), cutoff=wc)
    s.table(
        ["rate", "cut-off of a box 3-tap kernel", "largest alias-free stride M"],
        [[r, f"{wc / r:.4f}", m] for r, m in strides.items()],
    )
    s.text(f"Output field: {', '.join(map(str, report.node().rf()))} (the pooling branch reads every position).")
    b.figure(
        s,
        "frequency_response.png",
        "|H(d&omega;)| of a 3-tap box kernel dilated by 1, 2, 4, 6.",
        lambda p: figures.frequency_response([1.0, 1.0, 1.0], dilations=(1, 2, 4, 6), path=p),
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
        "the front end's output. The effective field (here of a randomly initialised module) spreads its gradient "
        "mass unevenly over the 67x67 theoretical field: most of it lies well inside.",
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
    b.figure(
        s,
        "context_erf.png",
        "ERF of the centre output with the fitted Gaussian and the 50/90/99% radii; "
        f"the box is the {f.size[0]}x{f.size[1]} theoretical field.",
        lambda p: figures.erf_heatmap(e, title="context module: effective receptive field", trf_box=box, path=p),
    )
    b.figure(
        s,
        "context_growth.png",
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
        s, "model_growth.png", "Theoretical receptive field per layer.", lambda p: figures.rf_growth(report, path=p)
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
                "model_erf.png",
                "Effective receptive field of the centre output.",
                lambda p: figures.erf_heatmap(e, path=p),
            )
    return [s]


SECTIONS: list[tuple[str, Callable[[_Builder], Section]]] = [
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
) -> Path:
    """Write the report and return the path of its ``index.html``.

    Args:
        out_dir: folder to write (created; files in it are replaced).
        model, input_shape: report on this model; without one, on the built-in examples.
        sections: names of built-in sections to include (default: all).
        examples: a folder of example results (``docs/results``: the JSON files and figures
            that ``examples/*.py`` write); each becomes a section after the built-in ones.
        progress: show a progress bar (rich) on stderr.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = Path(out_dir)
    b = _Builder(out)
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
            jobs.append((record["name"], lambda bb, r=record: _example_section(bb, r, Path(examples))))
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
    elapsed = time.perf_counter() - started
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in b.sections)
    from atrous import __version__

    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style><script>{CHECK_SCRIPT}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>Dilated and transposed convolutions, exactly: receptive fields, "
        "gridding, checkerboards and effective fields, computed by atrous.</p></header>"
        f"<nav>{nav}</nav><main>" + "\n".join(s.render() for s in b.sections) + "</main>"
        f"<footer>atrous {__version__}; built in {elapsed:.1f} s. Every number comes from atrous.geometry and "
        "atrous.analysis; the pictures are drawn from the same numbers.</footer></body></html>"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


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
    """Escaped text with `code` spans and **bold**: all the Markdown example texts use."""
    import re

    out = html.escape(text.strip())
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return out.replace("\n\n", "</p><p class='explain'>")


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
