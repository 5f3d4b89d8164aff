"""The ``atrous`` command (also ``python -m atrous``).

Subcommands print numbers from :mod:`atrous.geometry` (``--json`` for machines). Bad input
exits with status 2 and one line on stderr, never a traceback. The geometry commands do not
import torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, NoReturn

from atrous.errors import SpecError
from atrous.geometry import (
    ConvSpec,
    Field,
    FieldND,
    PoolSpec,
    UpsampleSpec,
    coverage,
    hdc,
    invert,
    layer_output_size,
    output_padding_range,
    plan_dilations,
    receptive_field,
)
from atrous.geometry.spec import PADDING_MODES

__all__ = ["COMMANDS", "main"]

COMMANDS = ("shape", "pad", "invert", "rf", "plan", "analyze", "report", "animate", "plot", "bench", "tour")
COMMANDS = (*COMMANDS, "playground")


class CLIError(Exception):
    """A bad command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CLIError(message)


# --------------------------------------------------------------------------- parsing helpers


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"{name} must be an integer, got {text!r}") from None


def _size(text: str, name: str = "input size") -> int | tuple[int, ...]:
    """``9`` -> 9, ``9,9`` or ``9x9`` -> (9, 9)."""
    parts = text.replace("x", ",").split(",")
    if len(parts) == 1:
        return _int(parts[0], name)
    return tuple(_int(p, name) for p in parts)


def _axis_values(text: str, name: str) -> int | tuple[int, ...]:
    """Per-axis values of one layer: ``3`` or ``3x3``."""
    parts = text.split("x")
    if len(parts) == 1:
        return _int(parts[0], name)
    return tuple(_int(p, name) for p in parts)


def _padding(text: str) -> object:
    """``1``, ``1x2`` (per axis), ``1:2`` (lo:hi), ``1:2x0:1`` or a mode name."""
    if text in PADDING_MODES:
        return text
    axes = text.split("x")

    def num(t: str) -> int:
        try:
            return int(t)
        except ValueError:
            raise CLIError(
                f"padding must be an integer, lo:hi (e.g. 2:0) or one of {', '.join(PADDING_MODES)}; got {text!r}"
            ) from None

    def one(a: str) -> object:
        if ":" in a:
            lo, _, hi = a.partition(":")
            return (num(lo), num(hi))
        return num(a)

    if len(axes) == 1:
        v = one(axes[0])
        return (v,) if isinstance(v, tuple) else v
    return tuple(one(a) for a in axes)


def _shape_padding(text: str) -> object:
    """Padding for the single-layer commands: commas separate axes there."""
    if text in PADDING_MODES:
        return text
    return _padding(text.replace(",", "x"))


def _layers(text: str | None, name: str) -> list[str]:
    return [] if text is None else [t for t in text.split(",")]


# --------------------------------------------------------------------------- output helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [_jsonable(v) for v in value]
    return value


def _print_json(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), indent=2))


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(_fmt(v) for v in value)
    if isinstance(value, Fraction):
        return str(value)
    return str(value)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _spec_args(spec: ConvSpec) -> str:
    def axes(v: tuple[Any, ...]) -> str:
        return str(v[0]) if len(set(v)) == 1 else str(v)

    pads = spec.padding
    if all(isinstance(p, tuple) and p[0] == p[1] for p in pads):
        pad_text = axes(tuple(p[0] for p in pads))  # type: ignore[index]
    else:
        pad_text = str(tuple(pads))
    parts = [f"kernel_size={axes(spec.kernel_size)}", f"stride={axes(spec.stride)}", f"padding={pad_text}"]
    if spec.transposed:
        parts.append(f"output_padding={axes(spec.output_padding)}")
    parts.append(f"dilation={axes(spec.dilation)}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- commands


def _add_conv_args(p: argparse.ArgumentParser, padding: bool = True) -> None:
    p.add_argument("input", help="input size: 9 or 9,9")
    p.add_argument("-k", "--kernel-size", required=True, help="kernel size: 3 or 3,3")
    p.add_argument("-s", "--stride", default="1", help="stride (default 1)")
    if padding:
        p.add_argument(
            "-p", "--padding", default="0", help="padding: 1, 1,2 (per axis), 1:2 (lo:hi) or valid/same/causal/full"
        )
    p.add_argument("-d", "--dilation", default="1", help="dilation (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _conv_from_args(
    a: argparse.Namespace, transposed: bool = False, output_padding: str = "0"
) -> tuple[ConvSpec, tuple[int, ...], bool]:
    size = _size(a.input)
    sizes = size if isinstance(size, tuple) else (size,)
    spec = ConvSpec(
        _size(a.kernel_size, "kernel size"),
        _size(a.stride, "stride"),
        _shape_padding(a.padding),
        _size(a.dilation, "dilation"),
        transposed=transposed,
        output_padding=_size(output_padding, "output padding"),
    )
    return spec.for_ndim(len(sizes)), sizes, isinstance(size, tuple)  # type: ignore[return-value]


def cmd_shape(a: argparse.Namespace) -> int:
    spec, sizes, nd = _conv_from_args(a, a.transposed, a.output_padding)
    resolved = spec.resolve(sizes)
    out = layer_output_size(resolved, sizes)
    formulas = []
    for i, (n, o) in enumerate(zip(sizes, out)):
        k, s, d = resolved.kernel_size[i], resolved.stride[i], resolved.dilation[i]
        lo, hi = resolved.pads[i]
        if resolved.transposed:
            op = resolved.output_padding[i]
            formulas.append(f"({n}-1)*{s} - {lo} - {hi} + {d}*({k}-1) + {op} + 1 = {o}")
        else:
            formulas.append(f"floor(({n} + {lo} + {hi} - {d}*({k}-1) - 1) / {s}) + 1 = {o}")
    result: dict[str, Any] = {
        "input_size": list(sizes),
        "output_size": list(out),
        "effective_kernel_size": list(resolved.effective_kernel_size),
        "padding": [list(p) for p in resolved.pads],
        "transposed": resolved.transposed,
        "formula": formulas,
    }
    if resolved.transposed:
        plain = spec.replace(output_padding=0) if not any(isinstance(p, str) for p in spec.padding) else spec
        ranges = output_padding_range(sizes, plain.kernel_size, plain.stride, plain.padding, plain.dilation)
        result["output_padding"] = list(resolved.output_padding)
        result["valid_output_sizes"] = [
            [o - op + v for v in r] for o, op, r in zip(out, resolved.output_padding, ranges)
        ]
    if a.json:
        _print_json(result)
        return 0
    c = _console()
    c.print(f"output size: [bold]{_fmt(out if nd else out[0])}[/bold]   (input {_fmt(sizes if nd else sizes[0])})")
    c.print(
        f"effective kernel: {_fmt(resolved.effective_kernel_size)}   padding (lo, hi): {', '.join(map(str, resolved.pads))}"
    )
    for i, f in enumerate(formulas):
        c.print(f"axis {i}: {f}" if nd else f)
    if resolved.transposed:
        c.print("valid output sizes (by output_padding): " + "; ".join(str(v) for v in result["valid_output_sizes"]))
    return 0


def cmd_pad(a: argparse.Namespace) -> int:
    a.padding = a.mode
    spec, sizes, nd = _conv_from_args(a)
    resolved = spec.resolve(sizes)
    out = layer_output_size(resolved, sizes)
    if a.json:
        _print_json(
            {
                "mode": a.mode,
                "input_size": list(sizes),
                "padding": [list(p) for p in resolved.pads],
                "output_size": list(out),
            }
        )
        return 0
    c = _console()
    for i, (lo, hi) in enumerate(resolved.pads):
        c.print(f"{'axis ' + str(i) + ': ' if nd else ''}lo={lo} hi={hi}")
    c.print(f"output size: {_fmt(out if nd else out[0])}")
    return 0


def cmd_invert(a: argparse.Namespace) -> int:
    spec, sizes, _nd = _conv_from_args(a, a.transposed, a.output_padding)
    out = layer_output_size(spec, sizes)
    inv = invert(spec, sizes)
    back = layer_output_size(inv, out)
    kind = "ConvTranspose" if inv.transposed else "Conv"
    text = f"{kind}{len(sizes)}d({_spec_args(inv)})"
    if a.json:
        _print_json(
            {
                "input_size": list(sizes),
                "output_size": list(out),
                "inverse": {
                    "transposed": inv.transposed,
                    "kernel_size": list(inv.kernel_size),
                    "stride": list(inv.stride),
                    "padding": [list(p) for p in inv.padding],
                    "dilation": list(inv.dilation),
                    "output_padding": list(inv.output_padding),
                },
                "restored_size": list(back),
            }
        )
        return 0
    c = _console()
    c.print(f"{_fmt(sizes)} -> {_fmt(out)} -> {_fmt(back)}")
    c.print(text)
    return 0


_KINDS = ("conv", "tconv", "maxpool", "avgpool", "up")


def _rf_layers(a: argparse.Namespace) -> list[ConvSpec | PoolSpec | UpsampleSpec]:
    lists = {
        "kind": _layers(a.kind, "kind"),
        "kernel_size": _layers(a.kernel_size, "kernel size"),
        "stride": _layers(a.stride, "stride"),
        "padding": _layers(a.padding, "padding"),
        "dilation": _layers(a.dilation, "dilation"),
        "output_padding": _layers(a.output_padding, "output padding"),
    }
    n = max(len(v) for v in lists.values())
    for name, v in lists.items():
        if len(v) not in (0, 1, n):
            raise CLIError(f"--{name.replace('_', '-')} has {len(v)} entries, expected 1 or {n} (one per layer)")
    if n == 0:
        raise CLIError("give at least one layer (e.g. -k 3 -d 1,2,4)")

    def get(name: str, i: int, default: str) -> str:
        v = lists[name]
        return default if not v else v[0] if len(v) == 1 else v[i]

    layers: list[ConvSpec | PoolSpec | UpsampleSpec] = []
    for i in range(n):
        kind = get("kind", i, "conv")
        if kind not in _KINDS:
            raise CLIError(f"--kind entry {i} must be one of {', '.join(_KINDS)}, got {kind!r}")
        k = _axis_values(get("kernel_size", i, "3"), "kernel size")
        s = _axis_values(get("stride", i, "1"), "stride")
        d = _axis_values(get("dilation", i, "1"), "dilation")
        p = _padding(get("padding", i, "0"))
        try:
            if kind in ("conv", "tconv"):
                op = _axis_values(get("output_padding", i, "0"), "output padding")
                layers.append(ConvSpec(k, s, p, d, transposed=kind == "tconv", output_padding=op))
            elif kind in ("maxpool", "avgpool"):
                if not isinstance(p, int) and not (isinstance(p, tuple) and all(isinstance(x, int) for x in p)):
                    raise CLIError(f"pooling layer {i} takes symmetric integer padding, got {get('padding', i, '0')!r}")
                layers.append(PoolSpec(k, s, p, d, mode="max" if kind == "maxpool" else "avg"))  # type: ignore[arg-type]
            else:
                layers.append(UpsampleSpec(s))
        except SpecError as exc:
            raise SpecError(f"layer {i}: {exc}") from None
    return layers


def cmd_rf(a: argparse.Namespace) -> int:
    layers = _rf_layers(a)
    size = None if a.input is None else _size(a.input)
    fields = receptive_field(layers, size)
    channels = a.channels
    rows = []
    total = 0
    for i, (layer, f) in enumerate(zip(layers, fields)):
        axes: Sequence[Field] = f.axes if isinstance(f, FieldND) else (f,)
        weights = layer.parameters_per_channel_pair
        params = weights * channels * channels + (channels if weights else 0) if channels else weights
        total += params
        row = {
            "layer": i,
            "spec": layer.describe(),
            "size": [x.size for x in axes],
            "jump": [x.jump for x in axes],
            "start": [x.start for x in axes],
            "period": [x.period for x in axes],
            "holes": [len(x.holes) for x in axes],
            "hole_offsets": [list(x.holes) for x in axes],
            "parameters": params,
            "total_parameters": total,
        }
        if axes[0].length is not None:
            row["output_size"] = [x.length for x in axes]
        rows.append(row)
    if a.json:
        _print_json({"channels": channels, "layers": rows})
        return 0
    from rich.table import Table

    def one(v: list[Any]) -> str:
        return _fmt(tuple(v)) if len(v) > 1 else _fmt(v[0])

    table = Table(title="receptive field per layer" + (f" (input {a.input})" if a.input else ""), min_width=60)
    for col in ("layer", "spec", "RF size", "jump", "start", "holes", "params" if channels else "weights/ch²", "total"):
        table.add_column(col, justify="left" if col == "spec" else "right")
    if size is not None:
        table.add_column("output", justify="right")
    for r in rows:
        cells = [
            str(r["layer"]),
            r["spec"],
            one(r["size"]),
            one(r["jump"]) + ("" if set(r["period"]) == {1} else f" (period {one(r['period'])})"),
            one(r["start"]),
            one(r["holes"]),
            str(r["parameters"]),
            str(r["total_parameters"]),
        ]
        if size is not None:
            cells.append(one(r["output_size"]))
        table.add_row(*cells)
    _console().print(table)
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    k = _int(a.kernel_size, "kernel size")
    if a.check is not None:
        rates = [_int(t, "dilation") for t in a.check.split(",")]
        h = hdc(rates, k)
        cov = coverage(rates, k)
        if a.json:
            _print_json(
                {
                    "dilations": rates,
                    "kernel_size": k,
                    "receptive_field": cov.size,
                    "holes": list(cov.holes),
                    "hole_period": cov.period,
                    "gridding_free": cov.ok,
                    "hdc": {"M": list(h.M), "rule_ok": h.rule_ok, "coprime": h.coprime, "ok": h.ok},
                }
            )
            return 0
        c = _console()
        c.print(f"dilations {rates}, kernel {k}: receptive field {cov.size}")
        if cov.ok:
            c.print("coverage: no holes (gridding-free)")
        else:
            per = f", period {cov.period}" if cov.period and cov.period > 1 else ""
            c.print(
                f"coverage: {len(cov.holes)} holes of {cov.size}{per}: {list(cov.holes)[:20]}{' ...' if len(cov.holes) > 20 else ''}"
            )
        c.print(f"HDC rule: {h.describe()}")
        return 0
    if a.target is None:
        raise CLIError("give --target RF (plan a schedule) or --check RATES (check one)")
    target = _int(a.target, "target")
    cap = None if a.max_dilation is None else _int(a.max_dilation, "max dilation")
    plan = plan_dilations(target, k, max_dilation=cap)
    if a.json:
        _print_json(
            {
                "target": target,
                "kernel_size": k,
                "dilations": list(plan.dilations),
                "receptive_field": plan.receptive_field,
                "layers": plan.layers,
            }
        )
        return 0
    c = _console()
    c.print(f"dilations: {', '.join(map(str, plan.dilations))}")
    c.print(f"layers: {plan.layers}   receptive field: {plan.receptive_field} (target {target})   holes: none")
    return 0


def _load_model(target: str, weights: str | None, meta: bool) -> tuple[Any, tuple[int, ...] | None]:
    """``builtin:NAME``, ``package.module:callable`` or ``path/to/file.py:callable``."""
    import importlib
    import importlib.util
    import os

    import torch

    if target.startswith("builtin:"):
        from atrous.analysis.builtin import BUILTIN, DEFAULT_INPUT

        name = target[len("builtin:") :]
        if name not in BUILTIN:
            raise CLIError(f"unknown builtin model {name!r}; builtin models: {', '.join(sorted(BUILTIN))}")
        if meta and weights is None:
            with torch.device("meta"):
                model = BUILTIN[name]()
        else:
            model = BUILTIN[name]()
        default: tuple[int, ...] | None = DEFAULT_INPUT[name]
    else:
        module_name, sep, attr = target.rpartition(":")
        if not sep or not module_name or not attr:
            raise CLIError(f"model must be builtin:NAME or MODULE:CALLABLE (e.g. mypkg.models:build), got {target!r}")
        try:
            if module_name.endswith(".py"):
                if not os.path.isfile(module_name):
                    raise CLIError(f"model file {module_name!r} does not exist")
                spec = importlib.util.spec_from_file_location("_atrous_user_model", module_name)
                assert spec is not None and spec.loader is not None
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
            else:
                sys.path.insert(0, os.getcwd())
                mod = importlib.import_module(module_name)
        except ImportError as exc:
            raise CLIError(f"cannot import {module_name!r}: {exc}") from None
        factory = getattr(mod, attr, None)
        if factory is None or not callable(factory):
            raise CLIError(f"{module_name!r} has no callable {attr!r}")
        try:
            model = factory()
        except Exception as exc:  # the user's code: report it in one line
            raise CLIError(
                f"calling {target} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None
        if not isinstance(model, torch.nn.Module):
            raise CLIError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
        default = None
    if weights is not None:
        if not os.path.isfile(weights):
            raise CLIError(f"weights file {weights!r} does not exist")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused or a corrupt file
            raise CLIError(f"cannot load weights from {weights!r}: {' '.join(str(exc).split())[:200]}") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            raise CLIError(f"weights in {weights!r} do not fit the model: {' '.join(str(exc).split())[:300]}") from None
    return model, default


def _input_shape(a: argparse.Namespace, default: tuple[int, ...] | None) -> tuple[int, ...]:
    if a.input is None:
        if default is None:
            raise CLIError("give the input shape with --input, e.g. --input 1,3,224,224")
        return default
    shape = _size(a.input, "input shape")
    shape = shape if isinstance(shape, tuple) else (shape,)
    if len(shape) < (3 if getattr(a, "input_layout", None) is None else 1) and len(shape) != 2:
        raise CLIError(f"--input must be (N, C, *spatial) or (N, L), e.g. 1,3,224,224; got {a.input!r}")
    return shape


def _wide_console() -> Any:
    import shutil

    from rich.console import Console

    return Console(highlight=False, width=max(140, shutil.get_terminal_size((140, 40)).columns))


def _erf_summary(e: Any) -> dict[str, Any]:
    return {
        "output_index": list(e.output_index),
        "samples": e.samples,
        "centre": [round(c, 4) for c in e.centre],
        "sigma": [round(s, 4) for s in e.sigma],
        "radii": {str(q): round(r, 4) for q, r in e.radii.items()},
        "axis_radii": {str(q): [round(v, 4) for v in r] for q, r in e.axis_radii.items()},
        "trf": list(e.trf),
        "erf_trf_ratio": [None if r is None else round(r, 4) for r in e.ratio],
    }


def cmd_analyze(a: argparse.Namespace) -> int:
    from atrous.analysis import analyze, erf
    from atrous.analysis.analyze import parse_declaration

    specs = {}
    for item in a.specs or []:
        name, sep, decl = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"--specs takes NAME=DECLARATION (e.g. block.op=pointwise), got {item!r}")
        specs[name.strip()] = parse_declaration(decl)
    model, default = _load_model(a.model, a.weights, meta=not a.erf)
    shape = _input_shape(a, default)
    report = analyze(model, shape, specs=specs, input_layout=a.input_layout, output=a.output)
    e = erf(model, shape, samples=a.samples) if a.erf else None
    if a.json:
        data = json.loads(report.to_json(all_nodes=a.all))
        if e is not None:
            data["erf"] = _erf_summary(e)
        _print_json(data)
        return 0
    c = _wide_console()
    c.print(report.table(all_nodes=a.all, title=f"{a.model}: receptive fields (input {shape})"))
    out = report.node()
    c.print(
        f"output {out.name}: RF {', '.join(map(str, out.rf()))} (traced with {report.trace.method}"
        + (f"; the meta run failed: {report.trace.failure}" if report.trace.failure else "")
        + ")"
    )
    for issue in report.gridding[-3:] if report.gridding else []:
        c.print("gridding: " + issue.describe())
    for n in report.unknown:
        c.print(f"unknown: {n.name} ({n.op}): {'; '.join(n.notes)}")
    if e is not None:
        summary = _erf_summary(e)
        c.print(
            f"ERF ({e.samples} samples) at output {tuple(e.output_index)}: sigma {summary['sigma']}, "
            f"radius holding 50/90/99%: {', '.join(str(v) for v in summary['radii'].values())}; "
            f"90%-width / TRF per axis: {summary['erf_trf_ratio']}"
        )
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from atrous.viz.report import build_report

    if a.model is None:
        if a.input is not None or a.weights is not None:
            raise CLIError("--input and --weights go with a MODEL")
        index = build_report(a.output, progress=not a.no_progress, examples=a.examples, single_file=a.single_file)
    else:
        if a.examples is not None:
            raise CLIError("--examples goes with the built-in report, not with a MODEL")
        model, default = _load_model(a.model, a.weights, meta=False)
        shape = _input_shape(a, default)
        index = build_report(
            a.output, model, shape, model_name=a.model, progress=not a.no_progress, single_file=a.single_file
        )
    print(index.resolve())
    return 0


def cmd_animate(a: argparse.Namespace) -> int:
    from pathlib import Path

    from atrous.viz.animate import animate, svg

    spec, sizes, nd = _conv_from_args(a, a.transposed, a.output_padding)
    if len(sizes) > 2:
        raise CLIError(f"animations draw 1-d and 2-d convolutions; the input size {a.input} has {len(sizes)} axes")
    size = sizes if nd else sizes[0]
    out = Path(a.output)
    if out.suffix.lower() not in (".gif", ".png", ".apng", ".svg"):
        raise CLIError(f"--output must end in .gif, .apng, .png or .svg, got {a.output!r}")
    if a.fps <= 0:
        raise CLIError(f"--fps must be positive, got {a.fps}")
    if out.suffix.lower() == ".svg":
        out.write_text(svg(spec, size, frame=a.frame))
    else:
        animate(spec, size, out, fps=a.fps, cell=a.cell)
    print(out.resolve())
    return 0


PLOTS = ("coverage", "checkerboard", "frequency", "detection", "rf", "erf")


def cmd_plot(a: argparse.Namespace) -> int:
    from pathlib import Path

    from atrous.viz import figures

    out = Path(a.output)
    if out.suffix.lower() not in (".png", ".svg"):
        raise CLIError(f"--output must end in .png or .svg, got {a.output!r}")
    k = _int(a.kernel_size, "kernel size")
    if a.figure == "coverage":
        groups = a.rates or ["2,2,2", "1,2,5"]
        rates = [tuple(_int(t, "dilation") for t in g.split(",")) for g in groups]
        figures.coverage_map(rates, k, path=out)
    elif a.figure == "checkerboard":
        specs = [ConvSpec((k, k), _int(a.stride, "stride"), _shape_padding(a.padding), transposed=True)]
        figures.checkerboard_map(specs, path=out)
    elif a.figure == "frequency":
        try:
            kernel = [float(t) for t in a.kernel.split(",")]
        except ValueError:
            raise CLIError(f"--kernel must be comma-separated numbers, got {a.kernel!r}") from None
        dil = tuple(_int(t, "dilation") for t in a.dilations.split(","))
        figures.frequency_response(kernel, dilations=dil, path=out)
    elif a.figure == "detection":
        figures.detection_probability(path=out)
    else:
        if a.model is None:
            raise CLIError(f"plot {a.figure} needs --model builtin:NAME or MODULE:CALLABLE")
        from atrous.analysis import analyze, erf

        model, default = _load_model(a.model, a.weights, meta=a.figure == "rf")
        shape = _input_shape(a, default)
        if a.figure == "rf":
            figures.rf_growth(analyze(model, shape), path=out)
        else:
            figures.erf_heatmap(
                erf(model, shape, samples=a.samples), title=f"{a.model}: effective receptive field", path=out
            )
    print(out.resolve())
    return 0


BENCHES = ("analysis", "stream", "animations", "ops")


def cmd_bench(a: argparse.Namespace) -> int:
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    script = root / f"bench_{a.name}.py"
    if not script.is_file():
        raise CLIError(f"benchmark {a.name!r} needs the source checkout's benchmarks/ folder ({script} not found)")
    # glibc would return big temporaries to the OS after every call and page faults would
    # dominate memory-bound convolutions: the benchmarks (never the library) keep them
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
    return subprocess.call([sys.executable, str(script), *a.args], env=env)


def cmd_playground(a: argparse.Namespace) -> int:
    from atrous.viz.playground import write_playground

    print(write_playground(a.output).resolve())
    return 0


def cmd_tour(a: argparse.Namespace) -> int:
    from atrous.tour import tour

    tour()
    return 0


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="atrous", description="Dilated and transposed convolutions, exactly.")
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("shape", help="output size of a convolution or transposed convolution")
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of a transposed convolution")
    p.set_defaults(func=cmd_shape)

    p = sub.add_parser("pad", help="padding for a mode (same: TensorFlow's rule, any stride and dilation)")
    _add_conv_args(p, padding=False)
    p.add_argument("-m", "--mode", default="same", choices=PADDING_MODES, help="padding mode (default same)")
    p.set_defaults(func=cmd_pad)

    p = sub.add_parser("invert", help="the transposed convolution that restores the input size")
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="invert a transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of the transposed convolution")
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("rf", help="receptive field per layer of a chain (commas separate layers)")
    p.add_argument("-k", "--kernel-size", help="per layer: 3,3,3 (3x3 for 2-d); one value applies to all")
    p.add_argument("-s", "--stride", help="per layer strides")
    p.add_argument("-p", "--padding", help="per layer paddings: 1, 1:0 (lo:hi), same, causal ...")
    p.add_argument("-d", "--dilation", help="per layer dilations, e.g. 1,2,4")
    p.add_argument("--kind", help=f"per layer kinds: {', '.join(_KINDS)} (default conv)")
    p.add_argument("--output-padding", help="per layer output padding (tconv)")
    p.add_argument("-i", "--input", help="input size (makes output sizes and borders exact)")
    p.add_argument("-c", "--channels", type=int, default=0, help="channels per layer, to count parameters with bias")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_rf)

    p = sub.add_parser("plan", help="a gridding-free dilation schedule, or check one")
    p.add_argument("--target", help="receptive field to reach")
    p.add_argument("-k", "--kernel-size", default="3", help="kernel size (default 3)")
    p.add_argument("--max-dilation", help="largest dilation allowed")
    p.add_argument("--check", help="check these rates instead: 1,2,5")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("analyze", help="exact receptive fields of a model (imports and runs MODULE's code)")
    p.add_argument(
        "model", help="builtin:NAME (vgg16, resnet50, deeplab-aspp, fcn-decoder, wavenet, ...) or MODULE:CALLABLE"
    )
    p.add_argument("-i", "--input", help="input shape N,C,*spatial (builtin models have a default)")
    p.add_argument("--weights", help="a state_dict file, loaded with torch.load(weights_only=True)")
    p.add_argument("--erf", action="store_true", help="also measure the effective receptive field")
    p.add_argument("--samples", type=int, default=16, help="random inputs for --erf (default 16)")
    p.add_argument("--all", action="store_true", help="also list pointwise and reshaping nodes")
    p.add_argument(
        "--specs",
        action="append",
        metavar="NAME=DECL",
        help="declare a module (path or module:Class) or op: pointwise, global, conv(3, padding=1), "
        "pool(2), upsample(2) (repeatable)",
    )
    p.add_argument("--input-layout", help="letters per input dimension: N batch, C channels, others spatial (NLC)")
    p.add_argument("--output", help="which output: a key of a dict output, an index or a node name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("report", help="the HTML report (built-in examples, or MODEL)")
    p.add_argument("model", nargs="?", help="builtin:NAME or MODULE:CALLABLE (default: the built-in examples)")
    p.add_argument("-o", "--output", default="report", help="output folder (default report/)")
    p.add_argument("-i", "--input", help="input shape N,C,*spatial for MODEL")
    p.add_argument("--weights", help="a state_dict file for MODEL (torch.load weights_only=True)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--single-file", action="store_true", help="inline every asset: one HTML file (-o may end in .html)")
    p.add_argument(
        "--examples",
        nargs="?",
        const="docs/results",
        help="add the examples' results from this folder (default docs/results)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("animate", help="an animation (GIF/APNG) or one frame (SVG) of a convolution")
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of a transposed convolution")
    p.add_argument("-o", "--output", default="conv.gif", help="file: .gif, .apng, .png (first frame) or .svg")
    p.add_argument("--fps", type=float, default=2.0, help="frames per second (default 2)")
    p.add_argument("--cell", type=int, default=24, help="pixels per cell (default 24)")
    p.add_argument("--frame", type=int, default=0, help="which frame for .svg (default 0)")
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("plot", help="one figure: coverage, checkerboard, frequency, detection, rf, erf")
    p.add_argument("figure", choices=PLOTS, help="which figure")
    p.add_argument("-o", "--output", default="figure.png", help="file: .png or .svg")
    p.add_argument("-k", "--kernel-size", default="3", help="kernel size (coverage, checkerboard)")
    p.add_argument("-s", "--stride", default="2", help="stride (checkerboard)")
    p.add_argument("-p", "--padding", default="1", help="padding (checkerboard)")
    p.add_argument("--rates", action="append", help="dilations of one stack, e.g. 2,2,2 (coverage; repeat to compare)")
    p.add_argument("--kernel", default="1,1,1", help="taps of a 1-d kernel (frequency)")
    p.add_argument("--dilations", default="1,2,4", help="dilations (frequency)")
    p.add_argument("--model", help="builtin:NAME or MODULE:CALLABLE (rf, erf)")
    p.add_argument("-i", "--input", help="input shape for --model")
    p.add_argument("--weights", help="a state_dict file for --model")
    p.add_argument("--samples", type=int, default=8, help="random inputs (erf)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("bench", help="run a benchmark from benchmarks/ (writes BENCHMARKS.md)")
    p.add_argument("name", choices=BENCHES, help="which benchmark")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark script")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("playground", help="the interactive playground: one offline HTML file")
    p.add_argument("-o", "--output", default="playground.html", help="file to write (default playground.html)")
    p.set_defaults(func=cmd_playground)

    p = sub.add_parser("tour", help="a tour of the arithmetic (the seeds' examples)")
    p.set_defaults(func=cmd_tour)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    prog = "atrous"
    try:
        args = parser.parse_args(args_list)
        if args.version:
            from atrous import __version__

            print(__version__)
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        prog = f"atrous {args.command}"
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except (CLIError, SpecError) as exc:
        if args_list and args_list[0] in COMMANDS:
            prog = f"atrous {args_list[0]}"
        message = " ".join(str(exc).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - e.g. `atrous rf ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
