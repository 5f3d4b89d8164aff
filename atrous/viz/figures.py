"""Static figures of receptive fields, gridding, effective fields, spectra and checkerboards.

Every function returns a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas (no
``pyplot``, no global backend or ``rcParams`` touched) and, given ``path``, saves it as a PNG
at 110 dpi (a path ending in ``.svg`` is saved as SVG there and as PNG next to it). Nothing is
recomputed by hand: receptive fields, path counts and holes come from :mod:`atrous.geometry`,
effective fields from :func:`atrous.analysis.erf`, responses and cut-offs from
:mod:`atrous.analysis.spectra`, overlap counts from :func:`atrous.geometry.checkerboard`.

matplotlib, NumPy, torch and the analysis are imported inside the functions, so importing this
module costs nothing.

- :func:`rf_growth`: receptive field size per layer (and, optionally, the effective size).
- :func:`coverage_map`: path counts over the field of a stride-1 dilated stack, holes marked.
- :func:`erf_heatmap`: an effective receptive field with its Gaussian fit, TRF and mass radii.
- :func:`frequency_response`: ``|H(d w)|`` of a kernel dilated by several rates, cut-offs marked.
- :func:`stride_aliasing`: the whole path's response and the alias-free stride it allows.
- :func:`checkerboard_map`: the overlap map of transposed convolutions (Odena et al. 2016).
- :func:`detection_probability`: the chance that one dilated tap grid hits a small object.
- :func:`save_all`: a default set of all of them, as PNG files (for the HTML report).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from atrous.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.ticker import MaxNLocator
    from torch import nn

__all__ = [
    "DPI",
    "checkerboard_map",
    "coverage_map",
    "detection_probability",
    "erf_heatmap",
    "frequency_response",
    "rf_growth",
    "save_all",
    "stride_aliasing",
]

#: Resolution of the saved PNG files (dots per inch).
DPI = 110

_TITLE = 12.0
_LABEL = 10.5
_TICK = 9.0
_SMALL = 8.0
_MAX_LABELS = 32  # rf_growth labels at most about this many layers
_HOLE_COLOUR = "#e4572e"  # holes: a warm red that no sequential colour map below contains


# --------------------------------------------------------------------------- helpers


def _new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas with constrained layout (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    engine = cast("ConstrainedLayoutEngine", fig.get_layout_engine())  # layout="constrained"
    engine.set(w_pad=0.06, h_pad=0.06, wspace=0.06, hspace=0.06)
    return fig


def _style(ax: Axes) -> None:
    ax.tick_params(labelsize=_TICK)
    ax.xaxis.label.set_fontsize(_LABEL)
    ax.yaxis.label.set_fontsize(_LABEL)
    ax.title.set_fontsize(_TITLE)


def _overflow(fig: Figure) -> tuple[float, float]:
    """Inches by which the drawn decorations stick out of the figure (width, height)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    boxes += [t.get_window_extent(renderer) for t in fig.texts if t.get_text()]
    boxes += [leg.get_window_extent(renderer) for leg in fig.legends]
    drawn = [b for b in boxes if b is not None]
    if not drawn:
        return 0.0, 0.0
    w, h = fig.bbox.width, fig.bbox.height
    x0, y0 = min(b.x0 for b in drawn), min(b.y0 for b in drawn)
    x1, y1 = max(b.x1 for b in drawn), max(b.y1 for b in drawn)
    over_w = max(0.0, -x0) + max(0.0, x1 - w)
    over_h = max(0.0, -y0) + max(0.0, y1 - h)
    return over_w / fig.dpi, over_h / fig.dpi


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    for ax in fig.axes:
        _style(ax)
    # constrained layout can leave labels of fixed-aspect images (or long tick labels) outside
    # the figure: grow the figure until everything is inside
    for _ in range(4):
        over_w, over_h = _overflow(fig)
        if over_w <= 0.005 and over_h <= 0.005:
            break
        width, height = fig.get_size_inches()
        fig.set_size_inches(
            width + (over_w + 0.1 if over_w > 0.005 else 0), height + (over_h + 0.1 if over_h > 0.005 else 0)
        )
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix.lower() == ".svg":
            fig.savefig(p, format="svg")
            fig.savefig(p.with_suffix(".png"), format="png", dpi=DPI)
        else:
            fig.savefig(p, format="png", dpi=DPI)
    return fig


def _rates(dilations: object, what: str = "dilations") -> tuple[int, ...]:
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Iterable):
        raise SpecError(f"{what} must be a sequence of ints >= 1, got {dilations!r}")
    out = []
    for i, d in enumerate(dilations):
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise SpecError(f"{what}[{i}] must be an int >= 1, got {d!r}")
        out.append(d)
    if not out:
        raise SpecError(f"{what} must list at least one rate, got {dilations!r}")
    return tuple(out)


def _shorten(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else "\u2026" + name[-(limit - 1) :]


# --------------------------------------------------------------------------- rf_growth


def _is_report(obj: object) -> bool:
    mod = sys.modules.get("atrous.analysis.analyze")  # a Report exists only once it is imported
    return mod is not None and isinstance(obj, mod.Report)


def _is_torch_module(obj: object) -> TypeGuard[nn.Module]:
    nn = sys.modules.get("torch.nn")
    return nn is not None and isinstance(obj, nn.Module)


def _layer_rows(report_or_layers: object, input_shape: Sequence[int] | int | None) -> list[tuple[str, list[float]]]:
    """(name, per-axis theoretical size or NaN) for each layer, from the analysis or geometry."""
    from atrous.geometry import Field, FieldND, as_spec, receptive_field

    report = report_or_layers
    if _is_torch_module(report):
        if input_shape is None:
            raise SpecError(
                "rf_growth of a torch model needs input_shape, e.g. (1, 3, 224, 224) (or pass atrous.analyze's Report)"
            )
        from atrous.analysis import analyze

        report = analyze(report, tuple(input_shape) if not isinstance(input_shape, int) else (input_shape,))
    if _is_report(report):
        rows = []
        for node in report.nodes:  # type: ignore[attr-defined]
            if node.kind != "layer":
                continue
            sizes = [float(f.size) if isinstance(f, Field) else math.nan for f in node.fields]
            rows.append((node.name, sizes))
        if not rows:
            raise SpecError("the report has no layer nodes (convolutions, pools, upsamplings) to plot")
        return rows
    if isinstance(report, (str, bytes)) or not isinstance(report, Iterable):
        raise SpecError(
            f"rf_growth needs an atrous Report, a torch model with input_shape, or a sequence of layers, got {report!r}"
        )
    layers = list(report)
    if not layers:
        raise SpecError("rf_growth needs at least one layer, got none")
    fields: Sequence[Field | FieldND] = receptive_field(layers, input_shape)  # type: ignore[arg-type]
    rows = []
    for i, (layer, f) in enumerate(zip(layers, fields, strict=True), start=1):
        axes = f.axes if isinstance(f, FieldND) else (f,)
        rows.append((f"{i}: {as_spec(layer).describe()}", [float(a.size) for a in axes]))
    return rows


def _effective_size(value: object) -> float:
    if value is None:
        return math.nan
    axis_radii = getattr(value, "axis_radii", None)
    if isinstance(axis_radii, Mapping):  # an ERF: 2 r90 + 1 of the widest marginal (L90 + 1 if causal)
        back = getattr(value, "back_radii", {}).get(0.9, ())
        widths = [
            float(b) + 1.0 if b is not None else 2.0 * float(r) + 1.0
            for r, b in zip(axis_radii[0.9], back or (None,) * len(axis_radii[0.9]), strict=True)
        ]
        return max(widths)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"erf_sizes entries must be numbers, ERF results or None, got {value!r}") from None


def rf_growth(
    report_or_layers: object,
    input_shape: Sequence[int] | int | None = None,
    erf_sizes: Sequence[object] | Mapping[str, object] | None = None,
    *,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Receptive field size per layer, optionally with the effective size as a second line.

    Args:
        report_or_layers: an :class:`atrous.analysis.Report` (its ``"layer"`` nodes, in
            order), a torch model (analysed with ``input_shape``), or a sequence of layers
            (specs or layers with a spec) passed to :func:`atrous.geometry.receptive_field`.
        input_shape: for a model, its input shape ``(N, C, *spatial)``; for a sequence of
            layers, the optional spatial input size given to ``receptive_field``.
        erf_sizes: effective sizes, one per layer (``None`` where unknown) or a mapping from
            layer name to size; an :class:`atrous.analysis.ERF` counts as ``2 r90 + 1`` of its
            widest marginal (``axis_radii[0.9]``).
        title: the figure title.
        path: save the figure there (PNG at 110 dpi; ``.svg`` also writes the PNG).

    Returns:
        The Figure; the theoretical curve has gid ``"trf"`` (one per axis, ``"trf-axis{i}"``,
        when the axes differ), the effective one ``"erf"``. The y axis is logarithmic when
        the values span more than two decades.
    """
    import numpy as np

    rows = _layer_rows(report_or_layers, input_shape)
    names = [n for n, _ in rows]
    naxes = max(len(s) for _, s in rows)
    sizes = np.full((len(rows), naxes), np.nan)
    for i, (_, s) in enumerate(rows):
        sizes[i, : len(s)] = s
    same = all(np.allclose(sizes[:, 0], sizes[:, a], equal_nan=True) for a in range(naxes))
    eff = None
    if erf_sizes is not None:
        if isinstance(erf_sizes, Mapping):
            eff = np.array([_effective_size(erf_sizes.get(n)) for n in names])
        else:
            vals = list(erf_sizes)
            if len(vals) != len(rows):
                raise SpecError(f"erf_sizes has {len(vals)} entries, expected {len(rows)} (one per layer: {names})")
            eff = np.array([_effective_size(v) for v in vals])

    x = np.arange(len(rows))
    # every layer is labelled up to _MAX_LABELS layers; beyond that every k-th one (and the last)
    every = max(1, math.ceil(len(rows) / _MAX_LABELS))
    shown = [i for i in range(len(rows)) if i % every == 0 or i == len(rows) - 1]
    if len(shown) > 1 and shown[-1] - shown[-2] < every:
        shown.pop(-2)
    fig = _new_figure(min(15.0, max(7.0, 0.42 * len(shown) + 3.0)), 5.2)
    ax = fig.add_subplot()
    lines = []
    if same:
        (ln,) = ax.plot(x, sizes[:, 0], "o-", color="#1f77b4", lw=2, ms=5, label="theoretical RF", gid="trf")
        lines.append(ln)
    else:
        for a in range(naxes):
            (ln,) = ax.plot(x, sizes[:, a], "o-", lw=2, ms=5, label=f"theoretical RF, axis {a}", gid=f"trf-axis{a}")
            lines.append(ln)
    if eff is not None:
        ax.plot(x, eff, "s--", color="#d62728", lw=1.8, ms=5, label="effective size (2 r90 + 1)", gid="erf")
    values = sizes[np.isfinite(sizes)]
    if eff is not None:
        values = np.concatenate([values, eff[np.isfinite(eff)]])
    positive = values[values > 0]
    log = positive.size > 0 and positive.max() / positive.min() > 100.0
    if log:
        ax.set_yscale("log")
    # value labels just above each theoretical point
    top = np.nanmax(sizes, axis=1)
    for xi in shown:
        v = top[xi]
        if np.isfinite(v):
            ax.annotate(
                f"{v:g}", (xi, v), xytext=(0, 6), textcoords="offset points", ha="center", va="bottom", fontsize=_SMALL
            )
    glob = [n for n, s in rows if not all(np.isfinite(s))]
    ax.set_xticks(shown)
    ax.set_xticklabels(
        [_shorten(names[i]) for i in shown], rotation=45, ha="right", rotation_mode="anchor", fontsize=_TICK
    )
    if every > 1:
        ax.set_xticks(x, minor=True)
        ax.tick_params(axis="x", which="minor", length=2)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    if log:
        ax.set_ylim(positive.min() / 1.6, positive.max() * 2.2)
    elif positive.size:
        ax.set_ylim(0, positive.max() * 1.13)
    ax.set_xlabel("layer (in execution order)" + (f"; 1 in {every} labelled" if every > 1 else ""))
    ax.set_ylabel("receptive field size (input positions)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=_TICK, loc="upper left")
    ax.set_title(title or "Receptive field growth per layer")
    if glob:
        ax.text(
            0.99, 0.02, f"global or unknown field (not drawn): {', '.join(glob[:4])}" + (" ..." if len(glob) > 4 else ""),
            transform=ax.transAxes, ha="right", va="bottom", fontsize=_SMALL, color="0.35",
        )  # fmt: skip
    return _finish(fig, path)


# --------------------------------------------------------------------------- coverage_map


def _stack_field(rates: Sequence[int], kernel_size: int | Sequence[int], dims: int) -> Any:
    """Per-axis Fields of the last layer of a stride-1 stack, from atrous.geometry."""
    from atrous.geometry import ConvSpec, FieldND, receptive_field

    specs = [ConvSpec(kernel_size, dilation=d, ndim=dims) for d in rates]
    last = receptive_field(specs)[-1]
    return last.axes if isinstance(last, FieldND) else (last,)


def _path_counts(field: Any) -> tuple[Any, Any, Any]:
    """(positions relative to the centre, path counts, hole mask) of output 0 along one axis."""
    import numpy as np

    paths = field.paths(0)
    start, size = field.start, field.size
    counts = np.zeros(size, dtype=np.int64)
    for x, c in paths.items():
        counts[x - start] = c
    holes = np.zeros(size, dtype=bool)
    holes[list(field.holes)] = True
    rel = np.arange(size) + start - float(field.centre)
    return rel, counts, holes


#: coverage_map draws every position of each field: at most this many per axis (1-d, 2-d),
#: and at most MAX_PANELS stacks side by side.
MAX_COVERAGE_RF = {1: 4097, 2: 1025}
MAX_PANELS = 8


def _check_coverage_size(stacks: Sequence[tuple[int, ...]], kernel_size: object, dims: int) -> None:
    """Refuse a coverage map too large to draw, from the field sizes alone (arithmetic)."""
    from atrous.geometry import stack_receptive_field

    if len(stacks) > MAX_PANELS:
        raise SpecError(f"coverage_map draws at most MAX_PANELS={MAX_PANELS} stacks side by side, got {len(stacks)}")
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, (str, bytes)):
        kernels = list(kernel_size)
        if len(kernels) != dims:
            raise SpecError(f"kernel_size must be an int or {dims} ints (one per axis), got {kernel_size!r}")
    else:
        kernels = [kernel_size] * dims
    limit = MAX_COVERAGE_RF[dims]
    for rates in stacks:
        for k in kernels:
            size = stack_receptive_field(rates, k)  # type: ignore[arg-type]
            if size > limit:
                raise SpecError(
                    f"dilations {list(rates)} with kernel_size={k} give a receptive field of {size}; coverage_map "
                    f"draws fields of at most MAX_COVERAGE_RF[{dims}]={limit} positions per axis"
                )


def coverage_map(
    dilations: Sequence[int] | Sequence[Sequence[int]],
    kernel_size: int = 3,
    dims: int = 2,
    *,
    path: str | Path | None = None,
) -> Figure:
    """The tap coverage of a stride-1 dilated stack: path counts of the centre output, holes marked.

    For ``dims=2`` an image of the number of paths from each input position to the output
    (:meth:`atrous.geometry.Field.paths` per axis, outer product) over its receptive field;
    positions no path reaches (:attr:`Field.holes`, the gridding) are masked and drawn in
    a distinct colour. For ``dims=1`` a bar chart of the same counts. Several rate lists (e.g.
    ``[(2, 2, 2), (1, 2, 5)]``) are drawn side by side, titled with their field and holes.

    Args:
        dilations: one rate list, or a list of rate lists.
        kernel_size: taps per axis of every layer.
        dims: 1 or 2.
        path: save the figure there.

    Returns:
        The Figure. In 2-d each panel's ``AxesImage`` holds a masked array: its data are the
        path counts (rows: axis 0), its mask the holes. In 1-d the bars have gid
        ``"paths"`` and the hole markers ``"holes"``.
    """
    import numpy as np

    if dims not in (1, 2):
        raise SpecError(f"dims must be 1 or 2, got {dims!r}")
    if isinstance(dilations, Iterable) and not isinstance(dilations, (str, bytes)):
        items = list(dilations)
        stacks = (
            [_rates(r, f"dilations[{i}]") for i, r in enumerate(items)]
            if items and all(isinstance(r, Iterable) and not isinstance(r, (str, bytes)) for r in items)
            else [_rates(items)]
        )
    else:
        raise SpecError(f"dilations must be a rate list or a list of rate lists, got {dilations!r}")
    _check_coverage_size(stacks, kernel_size, dims)
    n = len(stacks)
    if dims == 2:
        fig = _new_figure(max(5.0, 4.6 * n), 5.0 if n > 1 else 5.2)
    else:
        fig = _new_figure(max(6.5, 5.2 * n), 4.2)
    axs = fig.subplots(1, n, squeeze=False)[0]
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    for ax, rates in zip(axs, stacks, strict=True):
        fields = _stack_field(rates, kernel_size, dims)
        per_axis = [_path_counts(f) for f in fields]
        sizes = [f.size for f in fields]
        axis_holes = [len(f.holes) for f in fields]
        rate_txt = ", ".join(map(str, rates))
        k_txt = kernel_size if isinstance(kernel_size, int) else "x".join(map(str, kernel_size))
        if dims == 2:
            (r0, c0, h0), (r1, c1, h1) = per_axis
            counts = np.multiply.outer(c0, c1)
            holes = np.logical_or.outer(h0, h1)
            cmap = colormaps["viridis"].with_extremes(bad=_HOLE_COLOUR)
            data = np.ma.masked_array(counts, mask=holes)
            extent = (r1[0] - 0.5, r1[-1] + 0.5, r0[-1] + 0.5, r0[0] - 0.5)
            im = ax.imshow(data, cmap=cmap, origin="upper", extent=extent, interpolation="nearest", vmin=0)
            im.set_gid("paths")
            cb = fig.colorbar(im, ax=ax, shrink=0.82, pad=0.02)
            cb.set_label("paths to the centre output", fontsize=_LABEL)
            cb.ax.tick_params(labelsize=_TICK)
            cast("MaxNLocator", cb.ax.yaxis.get_major_locator()).set_params(integer=True)
            total = int(holes.sum())
            ax.set_title(
                f"dilations {rate_txt} (k={k_txt})\nRF {sizes[0]}\u00d7{sizes[1]}: "
                + (f"{total} holes of {holes.size} ({axis_holes[0]} per axis)" if total else "no holes"),
                fontsize=_TITLE,
            )
            ax.set_xlabel("axis 1 offset from centre (input positions)")
            ax.set_ylabel("axis 0 offset from centre (input positions)")
            if total:
                ax.legend(
                    handles=[Patch(facecolor=_HOLE_COLOUR, edgecolor="none", label="hole: never read")],
                    loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=_TICK, frameon=False,
                )  # fmt: skip
        else:
            ((rel, counts, holes),) = per_axis
            ax.bar(rel, counts, width=0.8, color="#3b6fb6", gid="paths", label="paths")
            if holes.any():
                ax.plot(
                    rel[holes], np.zeros(int(holes.sum())), "x", color=_HOLE_COLOUR, ms=8, mew=2.2,
                    gid="holes", label="hole: never read", clip_on=False,
                )  # fmt: skip
            ax.set_title(
                f"dilations {rate_txt} (k={k_txt})\nRF {sizes[0]}: "
                + (f"{axis_holes[0]} holes" if axis_holes[0] else "no holes"),
                fontsize=_TITLE,
            )
            ax.set_xlabel("offset from centre (input positions)")
            ax.set_ylabel("paths to the output")
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.set_ylim(0, max(1, int(counts.max())) * 1.12)
            ax.grid(True, axis="y", alpha=0.3)
            handles: list[Artist] = [Patch(facecolor="#3b6fb6", label="paths")]
            if holes.any():
                handles.append(Line2D([], [], ls="", marker="x", color=_HOLE_COLOUR, mew=2.2, label="hole: never read"))
            ax.legend(handles=handles, fontsize=_TICK, loc="upper right")
        if max(sizes) <= 25:
            from matplotlib.ticker import MultipleLocator

            step = 2 if max(sizes) <= 17 else 4
            ax.xaxis.set_major_locator(MultipleLocator(step))
            if dims == 2:
                ax.yaxis.set_major_locator(MultipleLocator(step))
    if n > 1:
        fig.suptitle("Coverage of stride-1 dilated stacks (gridding)", fontsize=_TITLE + 1)
    return _finish(fig, path)


# --------------------------------------------------------------------------- erf_heatmap


def _trf_interval(mask_1d: Any, trf: int, n: int) -> tuple[float, float]:
    """(first, last) input position of the TRF box along one axis, read off the map's support."""
    import numpy as np

    nz = np.nonzero(mask_1d)[0]
    if nz.size == 0:
        lo, hi = 0, n - 1
    else:
        lo, hi = int(nz[0]), int(nz[-1])
    if hi - lo + 1 >= trf:
        return float(lo), float(lo + trf - 1)
    if lo == 0 and hi < n - 1:  # cut by the left border
        return float(hi - trf + 1), float(hi)
    if hi == n - 1 and lo > 0:
        return float(lo), float(lo + trf - 1)
    mid = 0.5 * (lo + hi)
    return mid - (trf - 1) / 2, mid + (trf - 1) / 2


def erf_heatmap(
    erf_result: Any,
    title: str | None = None,
    *,
    trf_box: Sequence[tuple[float, float]] | None = None,
    log: bool | None = None,
    path: str | Path | None = None,
) -> Figure:
    """An effective receptive field (:func:`atrous.analysis.erf`) with its summaries drawn on it.

    1-d: the map as a line, the fitted Gaussian (:meth:`ERF.gaussian`) as a dashed curve, the
    theoretical field as a shaded band and the 50/90/99% mass radii as marks around the
    centre. 2-d: the map as an image, the Gaussian's 1 and 2 sigma contours (ellipses), the
    TRF as a box and the mass radii (:attr:`ERF.radii`) as circles.

    Args:
        erf_result: an :class:`atrous.analysis.ERF`.
        title: the figure title (default: says the TRF and how much of it holds 90% of the mass).
        trf_box: per axis ``(first, last)`` input position of the theoretical field (e.g.
            ``analyze(model, shape).field()[a].interval(erf.output_index[a])``). Default: the
            extent of the map's nonzero support, widened to the TRF size where the input cuts it.
        log: a logarithmic value axis (1-d) or colour scale (2-d); default: when the peak is
            more than 10 times the mean of the nonzero entries (e.g. a residual path's spike).
        path: save the figure there.

    Returns:
        The Figure; the map is the image (2-d) or the line with gid ``"erf"`` (1-d).
    """
    import numpy as np
    from matplotlib.patches import Circle, Ellipse, Rectangle
    from matplotlib.ticker import MaxNLocator

    pmap = np.asarray(erf_result.map, dtype=np.float64)
    nd = pmap.ndim
    if nd not in (1, 2):
        raise SpecError(f"erf_heatmap draws 1-d and 2-d fields, got a map of shape {pmap.shape}")
    centre = tuple(float(c) for c in erf_result.centre)
    sigma = tuple(float(s) for s in erf_result.sigma)
    trf = tuple(erf_result.trf)
    radii = {float(q): float(r) for q, r in erf_result.radii.items()}
    gauss = np.asarray(erf_result.gaussian(), dtype=np.float64)
    positive = pmap[pmap > 0]
    if log is None:
        log = bool(positive.size) and float(pmap.max()) > 10.0 * float(positive.mean())
    floor = max(float(positive.min()), float(pmap.max()) * 1e-5) if positive.size else 1e-12
    boxes: list[tuple[float, float]] | None = None
    if trf_box is not None:
        if len(trf_box) != nd:
            raise SpecError(f"trf_box needs one (first, last) pair per axis ({nd}), got {trf_box!r}")
        boxes = [(float(a), float(b)) for a, b in trf_box]
    elif all(t is not None for t in trf):
        support = pmap > 0
        boxes = []
        for a in range(nd):
            other = tuple(i for i in range(nd) if i != a)
            boxes.append(_trf_interval(support.any(axis=other) if other else support, int(trf[a]), pmap.shape[a]))
    ring_styles = {0.5: ("#ffffff", "-"), 0.9: ("#ffd166", "-"), 0.99: ("#ef8a62", "-")}

    if title is None:
        trf_txt = "\u00d7".join("global" if t is None else str(t) for t in trf)
        frac = erf_result.fraction if hasattr(erf_result, "fraction") else None
        extra = f"; 90% of the mass in {frac:.0%} of the TRF" if frac is not None else ""
        where = ", ".join(map(str, getattr(erf_result, "output_index", ())))
        shape_txt = "\u00d7".join(map(str, pmap.shape))
        title = f"Effective receptive field of output ({where})\ninput {shape_txt}, TRF {trf_txt}{extra}"
    # the view: the field and its summaries with a margin, not the whole (mostly empty) input
    view = []
    for a in range(nd):
        lo = [centre[a] - max(radii.values(), default=0.0), centre[a] - 2 * sigma[a]]
        hi = [centre[a] + max(radii.values(), default=0.0), centre[a] + 2 * sigma[a]]
        if boxes is not None:
            lo.append(boxes[a][0])
            hi.append(boxes[a][1])
        nz = np.nonzero(pmap.any(axis=tuple(i for i in range(nd) if i != a)) if nd > 1 else pmap)[0]
        if nz.size:
            lo.append(float(nz[0]))
            hi.append(float(nz[-1]))
        margin = max(2.0, 0.08 * (max(hi) - min(lo)))
        v0, v1 = max(-0.5, min(lo) - margin), min(pmap.shape[a] - 0.5, max(hi) + margin)
        if v1 - v0 > 0.8 * pmap.shape[a]:
            v0, v1 = -0.5, pmap.shape[a] - 0.5
        view.append((v0, v1))

    one_sided = bool(getattr(erf_result, "one_sided", (False,))[0]) if nd == 1 else False
    if nd == 1:
        fig = _new_figure(7.5, 4.4)
        ax = fig.add_subplot()
        x = np.arange(pmap.shape[0])
        ax.plot(x, pmap, "o-", color="#1f3b73", lw=1.2, ms=3.5, label="ERF (share of gradient)", gid="erf")
        if one_sided:
            # a causal field: a Gaussian around the centre of mass misses it by orders of magnitude
            # and its radii run past the present step; fit and count back from the present instead
            present = int(erf_result.present[0])
            model = np.asarray(erf_result.fit(), dtype=np.float64)
            mean_lag = float((pmap * np.clip(present - x, 0, None)).sum())
            ax.plot(x, model, "--", color="#2a9d8f", lw=1.6, gid="fit",
                    label=f"one-sided fit: geometric decay\nfrom the present (mean lag {mean_lag:.3g})")  # fmt: skip
            ax.axvline(present, color="0.35", lw=1.0, ls=":", label=f"present step ({present})")
        else:
            ax.plot(
                x, gauss, "--", color="#2a9d8f", lw=1.6, label=f"Gaussian fit (\u03c3 = {sigma[0]:.3g})", gid="gaussian"
            )
            model = gauss
        if boxes is not None:
            box_lo, box_hi = boxes[0]
            ax.axvspan(box_lo - 0.5, box_hi + 0.5, color="#e76f51", alpha=0.12, lw=0, label=f"TRF ({trf[0]} positions)")
        ymax = max(pmap.max(), model.max())
        xs: list[float]
        for i, (q, r) in enumerate(sorted(radii.items())):
            colour = ["#6c757d", "#c9a227", "#d1495b"][i % 3]
            yq = ymax * (1.6 * 1.45**i if log else 1.04 + 0.05 * i)
            if one_sided:
                back = int(erf_result.back_radii[q][0])
                xs, label = [present - back, present], f"{q:.0%} of the mass in the last {back + 1} steps"
            else:
                xs, label = [centre[0] - r, centre[0] + r], f"{q:.0%} of the mass: r = {r:.3g}"
            ax.plot(xs, [yq, yq], "|-", color=colour, lw=1.6, ms=9, label=label, gid=f"radius{round(q * 100)}")
        if one_sided:
            deepest = present - max(int(v[0]) for v in erf_result.back_radii.values())
            view[0] = (
                max(-0.5, min(view[0][0], deepest - 3.0)),
                min(pmap.shape[0] - 0.5, max(view[0][1], present + 2.0)),
            )
        ax.set_xlim(*view[0])
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
        if log:
            ax.set_yscale("log")
            ax.set_ylim(floor / 2, ymax * 1.6 * 1.45 ** len(radii))
        else:
            ax.set_ylim(0, ymax * (1.1 + 0.05 * len(radii)))
        ax.set_xlabel("input position")
        ax.set_ylabel("share of |gradient|" + (" (log scale)" if log else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=_SMALL + 0.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_title(title)
        return _finish(fig, path)

    (y_lo, y_hi), (x_lo, x_hi) = view
    aspect = (x_hi - x_lo) / (y_hi - y_lo)
    fig = _new_figure(min(11.0, 5.0 * aspect + 2.2), 6.0)
    ax = fig.add_subplot()
    if log:
        from matplotlib import colormaps
        from matplotlib.colors import LogNorm

        cmap = colormaps["magma"].with_extremes(bad="black", under="black")
        im = ax.imshow(
            np.ma.masked_less_equal(pmap, 0.0), cmap=cmap, norm=LogNorm(vmin=floor, vmax=float(pmap.max())),
            origin="upper", interpolation="nearest",
        )  # fmt: skip
    else:
        im = ax.imshow(pmap, cmap="magma", origin="upper", interpolation="nearest", vmin=0)
    im.set_gid("erf")
    cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    cb.set_label("share of |gradient| per position" + (" (log scale)" if log else ""), fontsize=_LABEL)
    cb.ax.tick_params(labelsize=_TICK)
    cy, cx = centre
    handles: list[Artist] = []
    for m, ls in ((1, "--"), (2, (0, (1.2, 1.6)))):
        e = Ellipse(
            (cx, cy), 2 * m * sigma[1], 2 * m * sigma[0], fill=False, ec="#64dfdf", lw=2.0, ls=ls,
            label=f"Gaussian fit, {m}\u03c3", gid=f"sigma{m}", zorder=5,
        )  # fmt: skip
        ax.add_patch(e)
        handles.append(e)
    if boxes is not None:
        (y0, y1), (x0, x1) = boxes
        rect = Rectangle(
            (x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec="#3ddc84", lw=2.0,
            label=f"TRF {trf[0]}\u00d7{trf[1]}", gid="trf", clip_on=True,
        )  # fmt: skip
        ax.add_patch(rect)
        handles.append(rect)
    for q, r in sorted(radii.items()):
        colour, ls = ring_styles.get(q, ("#ffffff", "-"))
        c = Circle(
            (cx, cy), r, fill=False, ec=colour, lw=1.4, ls=ls,
            label=f"{q:.0%} of the mass: r = {r:.3g}", gid=f"radius{round(q * 100)}",
        )  # fmt: skip
        ax.add_patch(c)
        handles.append(c)
    ax.plot([cx], [cy], "+", color="#64dfdf", ms=9, mew=1.8)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_hi, y_lo)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.set_xlabel("axis 1 (input positions)")
    ax.set_ylabel("axis 0 (input positions)")
    leg = ax.legend(
        handles=handles, fontsize=_SMALL + 0.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3,
        frameon=True, facecolor="#2b2b2b", labelcolor="white", edgecolor="none",
    )  # fmt: skip
    leg.get_frame().set_alpha(0.9)
    ax.set_title(title)
    return _finish(fig, path)


# --------------------------------------------------------------------------- frequency_response


def _kernel_label(kernel: Any) -> str:
    vals = [float(v) for v in kernel]
    if len(vals) > 6:
        return f"{len(vals)}-tap kernel"
    return "[" + ", ".join(f"{v:g}" for v in vals) + "]"


#: frequency_response draws kernels of at most this many taps (the cut-off scan holds
#: 64 * taps**2 complex numbers), and at most MAX_CURVES dilations.
MAX_FREQUENCY_TAPS = 512
MAX_CURVES = 16


def _check_frequency_size(taps: int, curves: int) -> None:
    if taps > MAX_FREQUENCY_TAPS:
        raise SpecError(
            f"kernel has {taps} taps; frequency_response draws at most MAX_FREQUENCY_TAPS={MAX_FREQUENCY_TAPS}"
        )
    if curves > MAX_CURVES:
        raise SpecError(f"dilations has {curves} entries; frequency_response draws at most MAX_CURVES={MAX_CURVES}")


def frequency_response(
    kernel: Sequence[float] | Any,
    dilations: Sequence[int] = (1, 2, 4),
    n: int = 512,
    *,
    path: str | Path | None = None,
) -> Figure:
    """``|H(d w)|`` of a 1-d kernel dilated by each ``d`` on ``[0, pi]``, cut-offs marked.

    The curves are :func:`atrous.analysis.spectra.magnitude_response`, the cut-offs (the
    half-power point, ``w_c / d``) :func:`atrous.analysis.spectra.cutoff`; a kernel without a
    cut-off (not lowpass) is drawn without the mark.

    Args:
        kernel: 1-d taps.
        dilations: the rates to compare.
        n: frequencies on ``[0, pi]``.
        path: save the figure there.

    Returns:
        The Figure; the curve of rate ``d`` has gid ``"response-d{d}"``, its cut-off mark
        ``"cutoff-d{d}"``.
    """
    import numpy as np

    from atrous.analysis import spectra

    rates = _rates(dilations)
    k = spectra._as_kernel(kernel, 1)
    if np.iscomplexobj(k):
        raise SpecError("frequency_response draws real kernels, got complex taps")
    _check_frequency_size(k.shape[0], len(rates))
    fig = _new_figure(7.6, 4.6)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    dc = abs(float(k.sum()))
    for i, d in enumerate(rates):
        colour = cmap(0.1 + 0.75 * i / max(1, len(rates) - 1))
        w, mag = spectra.magnitude_response(k, d, n)
        try:
            wc: float | None = spectra.cutoff(k, d)
        except SpecError:
            wc = None
        label = f"d = {d}" + (
            rf"  ($\omega_c$ = {wc:.3f} = {wc / np.pi:.3f}$\pi$)" if wc is not None else "  (no cut-off)"
        )
        ax.plot(w, mag, "-", color=colour, lw=2, label=label, gid=f"response-d{d}")
        if wc is not None:
            ax.axvline(wc, color=colour, ls=":", lw=1.3, gid=f"cutoff-d{d}")
            ax.plot([wc], [spectra.HALF_POWER * dc], "o", color=colour, ms=6, mec="white", mew=0.8)
    if dc > 0:
        ax.axhline(spectra.HALF_POWER * dc, color="0.5", ls="--", lw=1, label="half power: |H(0)|/\u221a2")
    ax.set_xlim(0, np.pi)
    ax.set_ylim(0, None)
    ax.set_xticks([0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi])
    ax.set_xticklabels(["0", "\u03c0/4", "\u03c0/2", "3\u03c0/4", "\u03c0"])
    ax.set_xlabel("frequency \u03c9 (radians per input position)")
    ax.set_ylabel(r"$|H(d\omega)|$")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=_SMALL + 0.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title(rf"Dilated {_kernel_label(k)}: response $H(d\omega)$, cut-off $\omega_c/d$")
    return _finish(fig, path)


def stride_aliasing(
    kernel: Sequence[float] | Any,
    dilation: int,
    befores: Sequence[Sequence[tuple[Any, int]]] = ((),),
    n: int = 4096,
    *,
    path: str | Path | None = None,
) -> Figure:
    """Why the alias-free stride comes from the whole path: one panel per path ending in
    ``kernel`` dilated by ``dilation``.

    Each panel draws the branch's own response ``|H(d w)|`` and the whole path's
    (:func:`atrous.analysis.spectra.path_response`), both relative to their DC gain, the level a
    stride may fold (the half-power level), the band ``[pi/M, pi]`` of the alias-free stride
    ``M`` (:func:`atrous.analysis.spectra.alias_free_stride`) and the stride the popular rule
    ``w_c/r <= pi/M`` allows (:func:`atrous.analysis.spectra.rule_of_thumb_stride`).

    Args:
        kernel: 1-d taps of the branch.
        dilation: its rate.
        befores: one path per panel: ``(kernel, dilation)`` pairs in front of the branch.
        n: frequencies on ``[0, pi]``.
        path: save the figure there.

    Returns:
        The Figure; panel ``i``'s path response has gid ``"path-{i}"``, the alias-free band's edge
        ``"free-{i}"`` and the rule's ``"rule-{i}"``.
    """
    import numpy as np

    from atrous.analysis import spectra

    k = spectra._as_kernel(kernel, 1)
    d = _rates([dilation], "dilation")[0]
    panels = list(befores)
    if not panels:
        raise SpecError("befores must list at least one path (use [()] for the branch alone)")
    fig = _new_figure(max(6.5, 5.0 * len(panels)), 4.4)
    axs = fig.subplots(1, len(panels), squeeze=False)[0]
    w = np.linspace(0.0, np.pi, n)
    alone = np.abs(spectra.path_response(k, d, w))
    alone = alone / alone[0]
    wc = spectra.cutoff(k)
    rule = spectra.rule_of_thumb_stride(d, wc)
    for i, (ax, before) in enumerate(zip(axs, panels, strict=True)):
        before = list(before)
        h = np.abs(spectra.path_response(k, d, w, before=before))
        h = h / h[0]
        m = spectra.alias_free_stride(k, d, before=before)
        ax.plot(w, alone, color="0.6", lw=1.0, label=f"branch alone |H({d}\u03c9)|")
        if before:
            ax.plot(w, h, color="#1f3b73", lw=2.0, label="whole path", gid=f"path-{i}")
        else:
            ax.plot(w, h, color="#1f3b73", lw=2.0, alpha=0.0, gid=f"path-{i}")
        ax.axhline(spectra.HALF_POWER, color="0.4", ls="--", lw=1.0, label="level a stride may fold (1/\u221a2)")
        ax.axvspan(np.pi / m, np.pi, color="#2a9d8f", alpha=0.12, lw=0)
        ax.axvline(np.pi / m, color="#2a9d8f", lw=1.6, gid=f"free-{i}", label=f"alias-free stride: M = {m}")
        ax.axvline(np.pi / rule, color="#d1495b", lw=1.4, ls=":", gid=f"rule-{i}", label=f"the rule's M = {rule}")
        ax.set_xlim(0, np.pi)
        ax.set_ylim(0, 1.08)
        ax.set_xticks([0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi])
        ax.set_xticklabels(["0", "\u03c0/4", "\u03c0/2", "3\u03c0/4", "\u03c0"])
        ax.set_xlabel("frequency \u03c9 (radians per input position)")
        ax.set_ylabel("|H(\u03c9)| / |H(0)|")
        ax.grid(True, alpha=0.3)
        what = ", ".join(
            f"a kernel of {len(np.atleast_1d(np.asarray(bk)))} taps" + (f" (d={bd})" if bd > 1 else "")
            for bk, bd in before
        )
        ax.set_title(
            f"{_kernel_label(k)} dilated by {d}" + (f"\nafter {what}" if before else "\nalone"), fontsize=_TITLE - 0.5
        )
        if 2 * np.pi / d <= np.pi:
            ax.annotate(
                f"full gain again\nat 2\u03c0/{d}", (2 * np.pi / d, 1.0), xytext=(2 * np.pi / d + 0.25, 0.86),
                fontsize=_SMALL, arrowprops={"arrowstyle": "->", "color": "0.35"}, color="0.25",
            )  # fmt: skip
        ax.legend(fontsize=_SMALL, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return _finish(fig, path)


# --------------------------------------------------------------------------- checkerboard_map


def _spec_label(spec: Any) -> str:
    k = spec.kernel_size
    s = spec.stride
    one = len(set(k)) == 1 and len(set(s)) == 1
    txt = f"k={k[0]}, s={s[0]}" if one else f"k={'x'.join(map(str, k))}, s={'x'.join(map(str, s))}"
    pads = {p for p in spec.padding}
    if pads != {(0, 0)}:
        if len(pads) == 1:
            lo, hi = next(iter(pads))
            txt += f", p={lo}" if lo == hi else f", p=({lo},{hi})"
        else:
            txt += ", p=" + "x".join(f"{lo}" if lo == hi else f"({lo},{hi})" for lo, hi in spec.padding)
    if any(d != 1 for d in spec.dilation):
        txt += f", d={'x'.join(map(str, spec.dilation))}"
    return txt


#: checkerboard_map draws stride * periods output positions per axis: at most this many.
MAX_CHECKERBOARD_SIDE = 512


def _check_checkerboard_size(spec: Any, periods: int) -> None:
    for i, s in enumerate(getattr(spec, "stride", ())):
        if s * periods > MAX_CHECKERBOARD_SIDE:
            raise SpecError(
                f"stride {s} on axis {i} times periods={periods} is {s * periods} output positions; "
                f"checkerboard_map draws at most MAX_CHECKERBOARD_SIDE={MAX_CHECKERBOARD_SIDE} per axis"
            )


def checkerboard_map(
    spec: Any,
    periods: int = 4,
    *,
    input_size: int | Sequence[int] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The overlap map of a transposed convolution: kernel taps reaching each output position.

    Drawn for a concrete input (``periods + 1`` positions per axis unless ``input_size`` says
    otherwise), so the counts at the borders are the ones PyTorch computes (the transposed
    convolution of all-ones with an all-ones kernel): from :meth:`atrous.geometry.Field.paths`
    of the bounded field, per axis, multiplied. The titles give the interior, per-phase counts of
    :func:`atrous.geometry.checkerboard` (``Checkerboard.counts``). A scalar spec is drawn in
    2-d. A list of specs (e.g. ``k=3, s=2`` vs ``k=4, s=2``) is drawn side by side on one colour
    scale.

    Args:
        spec: a transposed ConvSpec (or a layer with ``.spec``), or a list of them.
        periods: input positions per axis minus one (when ``input_size`` is not given).
        input_size: the input's spatial size (an int for every axis, or one per axis).
        path: save the figure there.

    Returns:
        The Figure; each 2-d panel's ``AxesImage`` (gid ``"overlap"``) holds the overlap map, a
        1-d panel's bars (gid ``"overlap"``) the counts, indexed by output position.
    """
    import numpy as np

    from atrous.geometry import FieldND, as_spec, checkerboard, receptive_field

    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise SpecError(f"periods must be an int >= 1, got {periods!r}")
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if not specs:
        raise SpecError("checkerboard_map needs at least one transposed convolution spec, got none")
    boards = []
    for s in specs:
        ls = as_spec(s)
        if getattr(ls, "broadcasts", False):
            ls = ls.for_ndim(2 if input_size is None or isinstance(input_size, int) else len(input_size))
        if ls.ndim > 2:
            raise SpecError(f"checkerboard_map draws 1-d and 2-d transposed convolutions, got {ls.ndim} axes: {ls!r}")
        _check_checkerboard_size(ls, periods)
        cb = checkerboard(ls)
        if input_size is None:
            sizes: tuple[int, ...] = (periods + 1,) * ls.ndim
        elif isinstance(input_size, int):
            sizes = (input_size,) * ls.ndim
        else:
            sizes = tuple(input_size)
        field = receptive_field([ls], input_size=sizes)[0]
        axes = field.axes if isinstance(field, FieldND) else (field,)
        big = [i for i, f in enumerate(axes) if f.length is None or f.length > MAX_CHECKERBOARD_SIDE]
        if big and input_size is not None:
            i = big[0]
            raise SpecError(
                f"{ls!r} on an input of {sizes[i]} positions makes {axes[i].length} output positions on axis {i}; "
                f"checkerboard_map draws at most MAX_CHECKERBOARD_SIDE={MAX_CHECKERBOARD_SIDE} per axis"
            )
        if big:  # a kernel longer than the drawing: its interior, `periods` periods of the phase counts
            per_axis = [np.tile(np.array(c, dtype=np.int64), periods) for c in cb.counts]
            sizes = ()  # (drawn as the interior, not for a concrete input)
        else:
            # with an input size every axis knows its output length
            per_axis = [
                np.array([sum(f.paths(y).values()) for y in range(cast(int, f.length))], dtype=np.int64) for f in axes
            ]
        tile = per_axis[0] if ls.ndim == 1 else np.multiply.outer(per_axis[0], per_axis[1])
        boards.append((ls, cb, tile, sizes))
    vmax = max(int(t.max()) for *_, t, _ in boards)
    n = len(boards)
    fig = _new_figure(max(5.0, 4.5 * n + (0.9 if n > 1 else 0.0)), 5.0)
    axs = fig.subplots(1, n, squeeze=False)[0]
    im = None
    for ax, (ls, cb, tile, sizes) in zip(axs, boards, strict=True):
        counts_txt = (
            " | ".join(", ".join(map(str, c)) for c in cb.counts)
            if len(set(cb.counts)) > 1
            else ", ".join(map(str, cb.counts[0]))
        )
        if cb.uneven:
            ratio = "\u221e" if math.isinf(cb.ratio) else f"{cb.ratio:g}"
            verdict = f"uneven overlap (max/min {ratio})"
        else:
            verdict = "even overlap"
        where = "input " + "\u00d7".join(map(str, sizes)) if sizes else f"interior, {periods} periods"
        ax.set_title(
            f"{_spec_label(ls)}, {where}: {verdict}\ninterior taps per phase per axis: {counts_txt}",
            fontsize=_TITLE - 0.5,
        )
        if cb.ndim == 2:
            im = ax.imshow(tile, cmap="cividis", vmin=0, vmax=vmax, interpolation="nearest", origin="upper")
            im.set_gid("overlap")
            if tile.shape[0] * tile.shape[1] <= 400 and len(str(vmax)) <= 4:  # (labels that fit a cell)
                for (i, j), v in np.ndenumerate(tile):
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=_SMALL,
                            color="black" if v > 0.55 * vmax else "white")  # fmt: skip
            ax.set_xlabel("output position, axis 1")
            ax.set_ylabel("output position, axis 0")
            ax.set_xticks(range(0, tile.shape[1], cb.stride[1]))
            ax.set_yticks(range(0, tile.shape[0], cb.stride[0]))
        else:
            x = np.arange(tile.shape[0])
            ax.bar(x, tile, width=0.85, color="#3b6fb6", gid="overlap")
            ax.set_ylim(0, vmax * 1.15 + 0.5)
            ax.set_xlabel("output position")
            ax.set_ylabel("kernel taps received")
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.grid(True, axis="y", alpha=0.3)
    if im is not None:
        bar = fig.colorbar(im, ax=list(axs), shrink=0.8, pad=0.02)
        bar.set_label("kernel taps received", fontsize=_LABEL)
        bar.ax.tick_params(labelsize=_TICK)
        cast("MaxNLocator", bar.ax.yaxis.get_major_locator()).set_params(integer=True)
    if n > 1:
        fig.suptitle("Transposed convolution overlap (checkerboard), borders included", fontsize=_TITLE + 1)
    return _finish(fig, path)


# --------------------------------------------------------------------------- detection_probability


def _object_size(size: object) -> tuple[int, int]:
    if isinstance(size, (tuple, list)) and len(size) == 2:
        wy, wx = size
    else:
        wy = wx = size
    for v in (wy, wx):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"object sizes must be ints >= 1 or (w_y, w_x) pairs of them, got {size!r}")
    return int(wy), int(wx)


def _hit_fraction(wy: int, wx: int, d: int) -> float:
    """Exact share of the ``d x d`` placements of a ``wy x wx`` object that cover a lattice point."""
    import numpy as np

    off = np.arange(d)
    # an object at offset o covers o .. o + w - 1; it holds a multiple of d iff one of them is
    hit_y = ((off[:, None] + np.arange(wy)[None, :]) % d == 0).any(axis=1)
    hit_x = ((off[:, None] + np.arange(wx)[None, :]) % d == 0).any(axis=1)
    return float(np.logical_and.outer(hit_y, hit_x).sum()) / (d * d)


def detection_probability(
    sizes: Sequence[int | tuple[int, int]] = (1, 2, 3, 4, 6, 8),
    dilations: Iterable[int] = range(1, 17),
    *,
    path: str | Path | None = None,
) -> Figure:
    """Probability that a ``w x w`` object is hit by a tap of one dilated 3x3 layer, vs dilation.

    The taps of a dilated layer sit on a period-``d`` lattice; an object placed at random
    relative to it is detected when it covers a lattice point. The exact curve counts the
    ``d x d`` placements that do (``min(w_y, d) min(w_x, d) / d^2``); the dashed line is the
    model ``w_y w_x / d^2`` capped at 1 (DESIGN section 4). For square objects the capped
    model equals the exact count; they differ only for elongated objects (``(w_y, w_x)`` pairs
    with one side longer than ``d``).

    Args:
        sizes: object sizes ``w`` (or ``(w_y, w_x)`` pairs), in input positions.
        dilations: the dilations ``d`` on the x axis.
        path: save the figure there.

    Returns:
        The Figure; the exact curve of size ``w`` has gid ``"exact-w{w}"`` (``"exact-{wy}x{wx}"``
        for a pair), the model ``"model-w{w}"``.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    objs = [_object_size(s) for s in sizes]
    if not objs:
        raise SpecError("sizes must list at least one object size, got none")
    ds = _rates(list(dilations), "dilations")
    squares = all(wy == wx for wy, wx in objs)
    x = np.asarray(ds, dtype=np.float64)
    fig = _new_figure(8.2, 4.8)
    ax = fig.add_subplot()
    cmap = colormaps["plasma"]
    for i, (wy, wx) in enumerate(objs):
        colour = cmap(0.05 + 0.8 * i / max(1, len(objs) - 1))
        tag = f"w{wy}" if wy == wx else f"{wy}x{wx}"
        exact = np.array([_hit_fraction(wy, wx, d) for d in ds])
        model = np.minimum(1.0, wy * wx / x**2)
        name = f"w = {wy}" if wy == wx else f"{wy}\u00d7{wx}"
        ax.plot(x, exact, "o-", color=colour, lw=2.2, ms=4.5, label=name, gid=f"exact-{tag}", zorder=3)
        dark = tuple(0.55 * c for c in colour[:3])
        ax.plot(x, model, "--", color=dark, lw=1.1, gid=f"model-{tag}", zorder=4)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", ls="--", lw=1.1))
    labels.append("model w\u00b2/d\u00b2 (capped at 1)" if squares else "model w_y w_x/d\u00b2 (capped at 1)")
    ax.legend(handles, labels, title="object size (exact count)", fontsize=_SMALL + 0.5, title_fontsize=_SMALL + 0.5,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # fmt: skip
    ax.set_xlim(x.min() - 0.3, x.max() + 0.3)
    ax.set_ylim(0, 1.04)
    if len(ds) <= 20:
        ax.set_xticks(ds)
    ax.set_xlabel("dilation d (input positions between taps)")
    ax.set_ylabel("P(object covers a tap)")
    ax.grid(True, alpha=0.3)
    if squares:
        ax.set_title(
            "Detection of a w\u00d7w object by one dilated tap grid\n(for squares the capped model equals the exact count)"
        )
    else:
        ax.set_title("Detection of a w_y\u00d7w_x object by one dilated tap grid")
    return _finish(fig, path)


# --------------------------------------------------------------------------- save_all


def _demo_erf() -> tuple[Any, list[tuple[float, float]]]:
    import torch
    from torch import nn

    from atrous.analysis import analyze, erf

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=3, dilation=3),
            nn.ReLU(),
            nn.Conv2d(8, 1, 3, padding=1),
        ).eval()
    shape = (1, 1, 33, 33)
    e = erf(model, shape, samples=4)
    field = analyze(model, shape).field()
    box = [tuple(float(v) for v in field[a].interval(e.output_index[a])) for a in range(2)]
    return e, box  # type: ignore[return-value]


def _demo_rf() -> tuple[Any, list[float]]:
    from atrous.analysis import analyze, erf
    from atrous.analysis.builtin import DEFAULT_INPUT, get_builtin

    model = get_builtin("context")
    shape = DEFAULT_INPUT["context"]
    report = analyze(model, shape)
    eff: list[float] = []
    names = list(dict(model.named_children()))
    layers = [n.name for n in report.nodes if n.kind == "layer"]
    for name in layers:  # the ERF of each prefix of the Sequential
        stop = names.index(name) + 1
        e = erf(cast("nn.Sequential", model)[:stop], shape, samples=4)
        eff.append(_effective_size(e))
    return report, eff


def save_all(directory: str | Path) -> dict[str, Path]:
    """Render the default figures into ``directory`` as PNG files (for the HTML report).

    ``rf_growth`` of the Yu-Koltun context module (with the effective size of each prefix),
    ``coverage_map`` of dilations 2, 2, 2 vs 1, 2, 5, ``erf_heatmap`` of a small random 2-d
    conv stack at 33x33 (4 samples), ``frequency_response`` of ``[1/4, 1/2, 1/4]`` at
    d = 1, 2, 4, ``checkerboard_map`` of ``k=3, s=2, p=1`` vs ``k=4, s=2, p=1`` and
    ``detection_probability``.

    Returns:
        Figure name -> path of its PNG.
    """
    from atrous.geometry import ConvSpec

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def put(name: str, make: Any) -> None:
        p = out / f"{name}.png"
        make(p)
        paths[name] = p

    report, eff = _demo_rf()
    put(
        "rf_growth",
        lambda p: rf_growth(
            report, erf_sizes=eff, title="Context module (Yu & Koltun) at 64\u00d764: receptive field growth", path=p
        ),
    )
    put("coverage_map", lambda p: coverage_map([(2, 2, 2), (1, 2, 5)], path=p))
    e, box = _demo_erf()
    put("erf_heatmap", lambda p: erf_heatmap(e, trf_box=box, path=p))
    put("frequency_response", lambda p: frequency_response([0.25, 0.5, 0.25], path=p))
    put(
        "checkerboard_map",
        lambda p: checkerboard_map(
            [ConvSpec(3, stride=2, padding=1, transposed=True), ConvSpec(4, stride=2, padding=1, transposed=True)],
            path=p,
        ),
    )
    put("detection_probability", lambda p: detection_probability(path=p))
    return paths
