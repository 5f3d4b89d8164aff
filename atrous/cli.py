"""The ``atrous`` command (also ``python -m atrous``).

Subcommands print numbers from :mod:`atrous.geometry` (``--json`` for machines). Bad input
exits with status 2 and one line on stderr naming the parameter, the value and the valid
range, never a traceback; an exception raised by the user's own code (``MODULE:CALLABLE``)
is one line naming the module and the exception (``--traceback`` prints the whole of it).
Files are written only where the command line says (no folder is created for a file). The
geometry commands do not import torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

from atrous.errors import AtrousError, SpecError
from atrous.geometry import (
    ConvSpec,
    Field,
    FieldND,
    PaddingLike,
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

__all__ = ["COMMANDS", "CLIError", "UserCodeError", "main", "run_child"]

COMMANDS: tuple[str, ...] = (
    "shape",
    "pad",
    "invert",
    "rf",
    "plan",
    "analyze",
    "report",
    "animate",
    "plot",
    "bench",
    "tour",
)
COMMANDS = (*COMMANDS, "playground")

#: What the subcommands that take MODULE:CALLABLE say about it in their --help.
USER_CODE_NOTE = (
    "MODULE:CALLABLE imports MODULE (a dotted name found from the working directory, which is on sys.path "
    "for that import only, or a path/to/file.py) and runs its code, then calls CALLABLE() for the model; "
    "--weights files are loaded with torch.load(weights_only=True), which runs no pickled code."
)


class CLIError(Exception):
    """A bad command line: reported as one line, exit status 2."""


class UserCodeError(CLIError):
    """An exception raised by the user's code (its import, its factory, its forward).

    Reported in one line naming the module and the exception; ``--traceback`` prints the
    original traceback as well.
    """

    def __init__(self, message: str, original: BaseException) -> None:
        super().__init__(message)
        self.original = original


def _user_error(what: str, exc: BaseException) -> UserCodeError:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return UserCodeError(f"{what}: {detail} (--traceback prints where)", exc)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CLIError(message)


# --------------------------------------------------------------------------- parsing helpers


def _clip(text: str, limit: int = 60) -> str:
    """``repr(text)``, shortened to about ``limit`` characters for a one-line message."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit // 2]!r}...{text[-10:]!r} ({len(text)} characters)"


#: Digits of one integer on the command line: results stay printable (Python prints integers
#: of up to 4300 digits) and their arithmetic instant.
MAX_DIGITS = 1000


def _parse_int(text: str, name: str) -> int:
    digits = text.strip().lstrip("+-").replace("_", "")
    if digits.isdigit() and len(digits) > MAX_DIGITS:
        raise CLIError(f"{name} has {len(digits)} digits; at most MAX_DIGITS={MAX_DIGITS} are read")
    return int(text)


def _int(text: str, name: str) -> int:
    try:
        return _parse_int(text, name)
    except ValueError:
        raise CLIError(f"{name} must be an integer, got {_clip(text)}") from None


def _ints(parts: Sequence[str], name: str, whole: str, example: str) -> int | tuple[int, ...]:
    try:
        values = [_parse_int(p, name) for p in parts]
    except ValueError:
        raise CLIError(f"{name} must be an integer or one per axis (e.g. {example}), got {_clip(whole)}") from None
    return values[0] if len(values) == 1 else tuple(values)


def _size(text: str, name: str = "input size") -> int | tuple[int, ...]:
    """``9`` -> 9, ``9,9`` or ``9x9`` -> (9, 9)."""
    return _ints(text.replace("x", ",").split(","), name, text, "9 or 9,9")


def _axis_values(text: str, name: str) -> int | tuple[int, ...]:
    """Per-axis values of one layer: ``3`` or ``3x3``."""
    return _ints(text.split("x"), name, text, "3 or 3x3")


def _int_list(text: str, name: str) -> list[int]:
    """``1,2,5`` -> [1, 2, 5]."""
    try:
        return [_parse_int(t, name) for t in text.split(",")]
    except ValueError:
        raise CLIError(f"{name} must be comma-separated integers (e.g. 1,2,5), got {_clip(text)}") from None


def _padding(text: str) -> PaddingLike:
    """``1``, ``1x2`` (per axis), ``1:2`` (lo:hi), ``1:2x0:1`` or a mode name."""
    if text in PADDING_MODES:
        return text
    axes = text.split("x")

    def num(t: str) -> int:
        try:
            return _parse_int(t, "padding")
        except ValueError:
            raise CLIError(
                f"padding must be an integer, lo:hi (e.g. 2:0) or one of {', '.join(PADDING_MODES)}; got {_clip(text)}"
            ) from None

    def one(a: str) -> int | tuple[int, int]:
        if ":" in a:
            lo, _, hi = a.partition(":")
            return (num(lo), num(hi))
        return num(a)

    if len(axes) == 1:
        v = one(axes[0])
        return (v,) if isinstance(v, tuple) else v
    return tuple(one(a) for a in axes)


def _shape_padding(text: str) -> PaddingLike:
    """Padding for the single-layer commands: commas separate axes there."""
    if text in PADDING_MODES:
        return text
    return _padding(text.replace(",", "x"))


def _layers(text: str | None, name: str) -> list[str]:
    return [] if text is None else [t for t in text.split(",")]


def _range_text(minimum: float, maximum: float | None) -> str:
    return f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"


def _arg_int(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[minimum, maximum]`` (the message gives the range)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {_range_text(minimum, maximum)}, got {_clip(text)}"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be an integer {_range_text(minimum, maximum)}, got {value}")
        return value

    return parse


def _arg_integer(text: str) -> int:
    """An argparse type: an integer (its range is checked by the function that uses it)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {_clip(text)}") from None


def _arg_float(text: str) -> float:
    """An argparse type: a float (its range is checked by the function that uses it)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {_clip(text)}") from None


# --------------------------------------------------------------------------- output paths


def _output_file(text: str, suffixes: Sequence[str], option: str = "--output") -> Path:
    """A file the command may write: its folder exists (none is created) and it is no folder."""
    if not text:
        raise CLIError(f"{option} must name a file ending in {', '.join(suffixes)}, got ''")
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        raise CLIError(f"{option} must end in {', '.join(suffixes)}, got {text!r}")
    if path.is_dir():
        raise CLIError(f"{option} {text!r} is a folder; give a file name ending in {', '.join(suffixes)}")
    folder = path.parent
    if not folder.is_dir():
        raise CLIError(f"{option} {text!r}: the folder {str(folder)!r} does not exist (atrous creates no folders)")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{option} {text!r}: the folder {str(folder)!r} is not writable")
    return path


def _output_folder(text: str, option: str = "--output") -> Path:
    """A folder the command may write into: it exists, or its parent does (only it is created)."""
    if not text:
        raise CLIError(f"{option} must name a folder, got ''")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {text!r} is a file, not a folder")
    where = path if path.exists() else path.parent
    if not where.is_dir():
        raise CLIError(
            f"{option} {text!r}: the folder {str(where)!r} does not exist (atrous creates the output folder, "
            "not its parents)"
        )
    if not os.access(where, os.W_OK):
        raise CLIError(f"{option} {text!r}: the folder {str(where)!r} is not writable")
    return path


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

    # soft_wrap: rich never breaks a line of text (the terminal does); tables still fit the width
    return Console(highlight=False, soft_wrap=True)


def _axes_text(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _call_lines(name: str, func: str, args: Sequence[str], width: int = 79) -> list[str]:
    """``name = func(args)`` on one line, or one argument per line when it would pass ``width``."""
    one = f"{name} = {func}({', '.join(args)})"
    if len(one) <= width:
        return [one]
    inner = "    " + ", ".join(args)
    if len(inner) <= width:
        return [f"{name} = {func}(", inner, ")"]
    return [f"{name} = {func}(", *(f"    {a}," for a in args), ")"]


def _inverse_code(inv: ConvSpec, out: Sequence[int], sizes: Sequence[int]) -> list[str]:
    """Python that builds the inverse with ``torch.nn`` (and atrous's layer where it helps).

    ``torch.nn`` pads symmetrically: a transposed layer gets ``min(lo, hi)`` and the rest is
    cropped from its output; a direct layer gets ``min(lo, hi)`` and the rest padded with
    ``F.pad`` first. The code runs as printed (channels 1: set your own).
    """
    nd = len(sizes)
    if nd > 3:
        return [f"# torch.nn has no {nd}-d convolution; the inverse is atrous.{inv!r}"]
    pads = [p for p in inv.padding if isinstance(p, tuple)]
    assert len(pads) == nd
    sym = [min(lo, hi) for lo, hi in pads]
    extra = [(lo - m, hi - m) for (lo, hi), m in zip(pads, sym, strict=True)]
    kind = "ConvTranspose" if inv.transposed else "Conv"
    args = [
        "1",
        "1",
        f"kernel_size={_axes_text(inv.kernel_size)}",
        f"stride={_axes_text(inv.stride)}",
        f"padding={_axes_text(sym)}",
    ]
    if inv.transposed:
        args.append(f"output_padding={_axes_text(inv.output_padding)}")
    args.append(f"dilation={_axes_text(inv.dilation)}")
    lines = [
        "import torch",
        "from torch import nn",
        "",
        f"x = torch.randn(1, 1, {', '.join(map(str, out))})  # (N, C, *spatial): set N and C",
    ]
    asymmetric = any(e != (0, 0) for e in extra)
    pairs = ", ".join(map(str, extra))
    if inv.transposed:
        lines += _call_lines("layer", f"nn.{kind}{nd}d", args)
        if asymmetric:
            crop = ", ".join(f"{a or ''}:{-b if b else ''}" for a, b in extra)
            lines += [f"# torch.nn pads both sides alike; crop (before, after) = {pairs}"]
            lines.append(f"y = layer(x)[..., {crop}]")
        else:
            lines.append("y = layer(x)")
    else:
        lines += _call_lines("layer", f"nn.{kind}{nd}d", args)
        if asymmetric:
            flat = ", ".join(str(v) for lo_hi in reversed(extra) for v in lo_hi)
            lines += [f"# torch.nn pads both sides alike; pad (before, after) = {pairs}"]
            lines.append(f"y = layer(nn.functional.pad(x, ({flat})))")
        else:
            lines.append("y = layer(x)")
    lines.append(f"# y.shape[2:] == {tuple(sizes)}")
    if asymmetric:
        atrous_args = [*args[:4], f"padding={tuple(pads)}", *args[5:]]
        lines += ["", "# or atrous's layer, which takes the (lo, hi) pairs as they are:", "import atrous.nn", ""]
        lines += _call_lines("layer", f"atrous.nn.{kind}{nd}d", atrous_args)
        lines.append("y = layer(x)")
    return lines


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


#: Up to this many valid output sizes per axis are listed one by one (a larger range by its bounds).
_LISTED = 64


def cmd_shape(a: argparse.Namespace) -> int:
    spec, sizes, nd = _conv_from_args(a, a.transposed, a.output_padding)
    resolved = spec.resolve(sizes)
    out = layer_output_size(resolved, sizes)
    formulas = []
    for i, (n, o) in enumerate(zip(sizes, out, strict=True)):
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
        # every size per axis (one per output_padding) while they are few; else the bounds
        result["valid_output_sizes"] = [
            [o - op + v for v in r]
            if (r.stop - r.start) // r.step <= _LISTED
            else {"from": o - op + r[0], "to": o - op + r[-1]}
            for o, op, r in zip(out, resolved.output_padding, ranges, strict=True)
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
        c.print(
            "valid output sizes (by output_padding): "
            + "; ".join(
                f"{v['from']} to {v['to']}" if isinstance(v, dict) else str(v) for v in result["valid_output_sizes"]
            )
        )
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
    code = _inverse_code(inv.for_ndim(len(sizes)), out, sizes)  # type: ignore[arg-type]
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
                "code": code,
            }
        )
        return 0
    print(f"{_fmt(sizes)} -> {_fmt(out)} -> {_fmt(back)}")
    print("\n".join(code))
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
        k = _axis_values(get("kernel_size", i, "3"), f"--kernel-size entry {i}")
        s = _axis_values(get("stride", i, "1"), f"--stride entry {i}")
        d = _axis_values(get("dilation", i, "1"), f"--dilation entry {i}")
        p = _padding(get("padding", i, "0"))
        try:
            if kind in ("conv", "tconv"):
                op = _axis_values(get("output_padding", i, "0"), f"--output-padding entry {i}")
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
    fields: Sequence[Field | FieldND] = receptive_field(layers, size)
    channels = a.channels or 0
    rows: list[dict[str, Any]] = []
    total = 0
    for i, (layer, f) in enumerate(zip(layers, fields, strict=True)):
        axes: Sequence[Field] = f.axes if isinstance(f, FieldND) else (f,)
        weights = layer.parameters_per_channel_pair
        params = weights * channels * channels + (channels if weights else 0) if channels else weights
        total += params
        row: dict[str, Any] = {
            "layer": i,
            "spec": layer.describe(),
            "size": [x.size for x in axes],
            "jump": [x.jump for x in axes],
            "start": [x.start for x in axes],
            "period": [x.period for x in axes],
            "holes": [x.hole_count for x in axes],
            "hole_runs": [[list(r) for r in x.phases[0].hole_runs] for x in axes],
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
    k = _int(a.kernel_size, "--kernel-size")
    if a.check is not None:
        given = [name for name, v in (("--target", a.target), ("--max-dilation", a.max_dilation)) if v is not None]
        if given:
            raise CLIError(f"--check RATES checks a schedule and takes no {' or '.join(given)}; give one or the other")
        rates = _int_list(a.check, "--check")
        h = hdc(rates, k)
        cov = coverage(rates, k)
        if a.json:
            _print_json(
                {
                    "dilations": rates,
                    "kernel_size": k,
                    "receptive_field": cov.size,
                    "holes": cov.hole_count,
                    "hole_runs": [list(r) for r in cov.hole_runs],
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
            first = [h for a_, b_ in cov.hole_runs[:20] for h in range(a_, min(b_, a_ + 20) + 1)][:20]
            more = " ..." if cov.hole_count > len(first) else ""
            c.print(f"coverage: {cov.hole_count} holes of {cov.size}{per}: {first}{more}")
        c.print(f"HDC rule: {h.describe()}")
        return 0
    if a.target is None:
        raise CLIError("give --target RF (plan a schedule) or --check RATES (check one)")
    target = _int(a.target, "--target")
    cap = None if a.max_dilation is None else _int(a.max_dilation, "--max-dilation")
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


@contextlib.contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    """``folder`` first on ``sys.path`` for the duration of one import, then removed again."""
    import importlib

    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
        elif folder in sys.path:
            sys.path.remove(folder)


def _import_user_module(module_name: str) -> Any:
    """Import ``package.module`` (from the working directory) or ``path/to/file.py``."""
    import importlib
    import importlib.util

    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise CLIError(f"model file {module_name!r} does not exist")
        name = "_atrous_user_model"
        try:
            # as ``python file.py`` would: the file's folder on sys.path while it is imported
            with _on_sys_path(os.path.dirname(os.path.abspath(module_name))):
                spec = importlib.util.spec_from_file_location(name, module_name)
                if spec is None or spec.loader is None:
                    raise CLIError(f"model file {module_name!r} cannot be imported as Python")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                spec.loader.exec_module(mod)
        except CLIError:
            raise
        except (Exception, SystemExit) as exc:
            sys.modules.pop(name, None)
            raise _user_error(f"importing {module_name} failed", exc) from None
        return mod
    try:
        with _on_sys_path(os.getcwd()):
            return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name) and module_name[len(exc.name) :][:1] in ("", "."):
            raise CLIError(
                f"cannot import {module_name!r}: no module {exc.name!r} in the working directory or on sys.path"
            ) from None
        raise _user_error(f"importing {module_name} failed", exc) from None
    except (Exception, SystemExit) as exc:
        raise _user_error(f"importing {module_name} failed", exc) from None


def _load_weights(model: Any, weights: str) -> None:
    import pickle
    from collections.abc import Mapping

    import torch

    if not os.path.exists(weights):
        raise CLIError(f"--weights file {weights!r} does not exist")
    if not os.path.isfile(weights):
        raise CLIError(f"--weights {weights!r} is not a file")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch names the GLOBAL (a class or function) the pickle would have run; anything else
        # it could not unpickle is no torch.save file at all
        if "GLOBAL" in str(exc):
            raise CLIError(
                f"refused: {weights} is not a plain state dict; atrous loads weights with weights_only=True "
                "and will not run pickled code"
            ) from None
        raise CLIError(f"cannot read --weights {weights}: not a file written by torch.save") from None
    except Exception:  # a corrupt, empty or foreign file
        raise CLIError(f"cannot read --weights {weights}: not a file written by torch.save") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise CLIError(
            f"--weights {weights} holds a {type(state).__name__}, not a state dict (parameter names to tensors)"
        )
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise CLIError(f"weights in {weights!r} do not fit the model: {' '.join(str(exc).split())[:300]}") from None


def _load_model(target: str, weights: str | None, meta: bool) -> tuple[Any, tuple[int, ...] | None]:
    """``builtin:NAME``, ``package.module:callable`` or ``path/to/file.py:callable``."""
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
        mod = _import_user_module(module_name)
        factory = getattr(mod, attr, None)
        if factory is None or not callable(factory):
            raise CLIError(f"{module_name!r} has no callable {attr!r}")
        try:
            model = factory()
        except (Exception, SystemExit) as exc:  # the user's code: report it in one line
            raise _user_error(f"calling {target} failed", exc) from None
        if not isinstance(model, torch.nn.Module):
            raise CLIError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
        default = None
    if weights is not None:
        _load_weights(model, weights)
    return model, default


def _run_on_model(target: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args)`` on a loaded model; what the user's module raises there is the user's error."""
    if target.startswith("builtin:"):
        return fn(*args, **kwargs)
    try:
        return fn(*args, **kwargs)
    except (AtrousError, CLIError):
        raise
    except Exception as exc:
        raise _user_error(f"running {target} failed", exc) from None


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


#: upper bounds of ``atrous stream``'s measurement (samples pushed per chunk size)
MAX_STREAM_SAMPLES = 10_000_000
#: wall-clock seconds of pushes timed per chunk size at most (at least 3 chunks)
STREAM_TIME_PER_CHUNK_S = 5.0


def cmd_stream(a: argparse.Namespace) -> int:
    """Latency and real-time factor of a model streamed with ``atrous.stream``."""
    import math
    import statistics
    import time

    import torch

    from atrous.stream import stream, verify

    chunks = _int_list(a.chunk, "--chunk")
    bad = [c for c in chunks if c < 1 or c > MAX_STREAM_SAMPLES]
    if bad:
        raise CLIError(f"--chunk sizes must be integers in [1, {MAX_STREAM_SAMPLES}], got {bad[0]}")
    if not (math.isfinite(a.sample_rate) and a.sample_rate > 0):
        raise CLIError(f"--sample-rate must be a positive number of input samples per second, got {a.sample_rate}")
    if not (math.isfinite(a.seconds) and 0 < a.seconds * a.sample_rate <= MAX_STREAM_SAMPLES):
        raise CLIError(
            f"--seconds must be positive with --seconds x --sample-rate at most {MAX_STREAM_SAMPLES} samples, "
            f"got {a.seconds} s at {a.sample_rate:g} Hz"
        )
    model, default = _load_model(a.model, a.weights, meta=False)
    shape = _input_shape(a, default)
    if len(shape) != 3 or shape[0] != 1:
        raise CLIError(f"--input must be 1,C,T (one stream's channels and a length to trace at), got {a.input!r}")
    model.eval()
    checked = _run_on_model(a.model, verify, model, shape)
    s = _run_on_model(a.model, stream, model, a.batch, input_shape=shape, sample_rate=a.sample_rate)
    total = max(max(chunks), round(a.seconds * a.sample_rate))
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    x = torch.randn(a.batch, shape[1], total, dtype=dtype)
    rows = []

    def measure(c: int, advance: Callable[[], None]) -> dict[str, Any]:
        s.reset()
        times = []
        n = total // c
        started = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            _run_on_model(a.model, s.push, x[:, :, i * c : (i + 1) * c])
            times.append(time.perf_counter() - t)
            advance()
            if i >= 2 and t - started > STREAM_TIME_PER_CHUNK_S:  # enough for a median
                n = i + 1
                break
        compute = statistics.median(times)
        audio = c / a.sample_rate
        buffering = c - 1
        return {
            "chunk": c,
            "chunks_timed": n,
            "buffering_samples": buffering,
            "buffering_ms": 1000 * buffering / a.sample_rate,
            "total_latency_samples": s.latency + buffering,
            "total_latency_ms": 1000 * (s.latency + buffering) / a.sample_rate,
            "compute_ms": 1000 * compute,
            "rtf": compute / audio,
        }

    if a.json:
        rows = [measure(c, lambda: None) for c in chunks]
    else:
        from rich.progress import Progress, TaskID

        with Progress(transient=True) as bar:
            for c in chunks:
                task = bar.add_task(f"chunks of {c}", total=total // c)

                def advance(task: TaskID = task) -> None:
                    bar.advance(task)

                rows.append(measure(c, advance))
    data = {
        "model": a.model,
        "input": list(shape),
        "streams": a.batch,
        "sample_rate": a.sample_rate,
        "rate": str(s.rate),
        "latency_samples": s.latency,
        "latency_ms": s.latency_ms,
        "verified": {"runs": checked.runs, "max_error": checked.max_error, "dtype": "float64"},
        "chunks": rows,
    }
    if a.json:
        _print_json(data)
        return 0
    from rich.table import Table

    c = _wide_console()
    c.print(
        f"{a.model}: streams exactly (verify: {checked.runs} chunkings and batch sizes in float64, largest "
        f"difference from the offline forward {checked.max_error:.1e}); {s.rate} output samples per input sample; "
        f"algorithmic latency {s.latency} samples = {s.latency_ms:.2f} ms at {a.sample_rate:g} Hz"
    )
    t = Table(title=f"{a.batch} stream(s), {total} input samples each")
    for col in ("chunk", "buffering", "latency (algorithmic + buffering)", "compute per chunk", "real-time factor"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            str(r["chunk"]),
            f"{r['buffering_samples']} ({r['buffering_ms']:.2f} ms)",
            f"{r['total_latency_samples']} ({r['total_latency_ms']:.2f} ms)",
            f"{r['compute_ms']:.3f} ms",
            f"{r['rtf']:.3f}" + ("" if r["rtf"] < 1 else " (slower than real time)"),
        )
    c.print(t)
    c.print(
        "buffering: a chunk's first sample waits for its last (chunk - 1 samples); the real-time factor is the "
        "median compute time of a chunk over its duration (< 1: faster than real time)."
    )
    return 0


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
    report = _run_on_model(a.model, analyze, model, shape, specs=specs, input_layout=a.input_layout, output=a.output)
    e = (
        _run_on_model(a.model, erf, model, shape, samples=a.samples, input_layout=a.input_layout, output=a.output)
        if a.erf
        else None
    )
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


_CHECKOUT_RESULTS = "\0checkout"


def _examples_folder(value: str | None) -> Path | None:
    """``--examples`` alone: the source checkout's docs/results (any working directory)."""
    if value is None:
        return None
    if value == _CHECKOUT_RESULTS:
        folder = Path(__file__).resolve().parents[1] / "docs" / "results"
        if not folder.is_dir():
            raise CLIError(
                f"--examples without a folder reads the source checkout's docs/results ({folder} not found); "
                "give the folder that examples/*.py wrote"
            )
        return folder
    return Path(value)


def cmd_report(a: argparse.Namespace) -> int:
    from atrous.viz.report import build_report, example_records

    out = _output_folder(a.output)
    if a.model is None:
        if a.input is not None or a.weights is not None:
            raise CLIError("--input and --weights go with a MODEL")
        examples = _examples_folder(a.examples)
        if examples is not None:
            example_records(examples)  # refuse a bad folder before anything is written
        index = build_report(out, progress=not a.no_progress, examples=examples, single_file=a.single_file)
    else:
        if a.examples is not None:
            raise CLIError("--examples goes with the built-in report, not with a MODEL")
        model, default = _load_model(a.model, a.weights, meta=False)
        shape = _input_shape(a, default)
        index = _run_on_model(
            a.model, build_report, out, model, shape, model_name=a.model, progress=not a.no_progress,
            single_file=a.single_file,
        )  # fmt: skip
    print(index.resolve())
    return 0


def cmd_animate(a: argparse.Namespace) -> int:
    from atrous.viz.animate import animate, frame_cells, svg

    spec, sizes, nd = _conv_from_args(a, a.transposed, a.output_padding)
    if len(sizes) > 2:
        raise CLIError(f"animations draw 1-d and 2-d convolutions; the input size {a.input} has {len(sizes)} axes")
    size = sizes if nd else sizes[0]
    out = _output_file(a.output, (".gif", ".apng", ".png", ".svg"))
    fmt = out.suffix.lower()[1:]
    if fmt == "svg":
        text = svg(spec, size, frame=a.frame, cell=a.cell)
        info = frame_cells(spec, size, frame=a.frame, cell=a.cell)
        out.write_text(text)
        frames, width_height = info["frames"], info["size"]
    else:
        images = animate(spec, size, out, fps=a.fps, cell=a.cell)
        frames, width_height = (1 if fmt == "png" else len(images)), images[0].size
    if a.json:
        resolved = spec.resolve(sizes)
        _print_json(
            {
                "output": str(out.resolve()),
                "format": fmt,
                "input_size": list(sizes),
                "output_size": list(layer_output_size(resolved, sizes)),
                "padding": [list(p) for p in resolved.pads],
                "frames": frames,
                "frame": a.frame if fmt == "svg" else None,
                "fps": None if fmt in ("svg", "png") else a.fps,
                "cell": a.cell,
                "size": list(width_height),
            }
        )
        return 0
    print(out.resolve())
    return 0


PLOTS = ("coverage", "checkerboard", "frequency", "detection", "rf", "erf")


def cmd_plot(a: argparse.Namespace) -> int:
    from atrous.viz import figures

    out = _output_file(a.output, (".png", ".svg"))
    k = _int(a.kernel_size, "--kernel-size")
    if a.figure == "coverage":
        groups = a.rates or ["2,2,2", "1,2,5"]
        rates = [tuple(_int_list(g, "--rates")) for g in groups]
        fig = figures.coverage_map(rates, k)
    elif a.figure == "checkerboard":
        specs = [ConvSpec((k, k), _int(a.stride, "--stride"), _shape_padding(a.padding), transposed=True)]
        fig = figures.checkerboard_map(specs)
    elif a.figure == "frequency":
        try:
            kernel = [float(t) for t in a.kernel.split(",")]
        except ValueError:
            raise CLIError(f"--kernel must be comma-separated numbers, got {_clip(a.kernel)}") from None
        dil = tuple(_int_list(a.dilations, "--dilations"))
        fig = figures.frequency_response(kernel, dilations=dil)
    elif a.figure == "detection":
        fig = figures.detection_probability()
    else:
        if a.model is None:
            raise CLIError(f"plot {a.figure} needs --model builtin:NAME or MODULE:CALLABLE")
        from atrous.analysis import analyze, erf

        model, default = _load_model(a.model, a.weights, meta=a.figure == "rf")
        shape = _input_shape(a, default)
        if a.figure == "rf":
            fig = figures.rf_growth(_run_on_model(a.model, analyze, model, shape))
        else:
            e = _run_on_model(a.model, erf, model, shape, samples=a.samples)
            fig = figures.erf_heatmap(e, title=f"{a.model}: effective receptive field")
    # exactly the file asked for (the figure functions' own path= also writes a PNG beside an SVG)
    fig.savefig(out, format=out.suffix.lower()[1:], dpi=figures.DPI)
    print(out.resolve())
    return 0


#: the scripts ``benchmarks/bench_<name>.py`` that ``atrous bench <name>`` runs
BENCHES = ("analysis", "stream", "stream_models", "animations", "ops", "playground")


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None, grace: float = 5.0) -> int:
    """Run ``cmd`` in a process group of its own and return its exit status.

    SIGINT and SIGTERM sent to this process are passed to the whole group (SIGKILL after
    ``grace`` seconds), and on Linux the child is killed if this process dies, so that a
    stopped command leaves no process behind. Returns ``128 + signal`` when stopped.
    """
    import signal
    import subprocess
    import time

    preexec: Callable[[], None] | None = None
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)

            def die_with_parent() -> None:  # runs in the child, before exec
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent

            preexec = die_with_parent
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            preexec = None
    proc = subprocess.Popen(list(cmd), env=env, start_new_session=True, preexec_fn=preexec)
    stopped: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: no handler
            handlers[sig] = signal.signal(sig, forward)
    try:
        first: float | None = None
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stopped and first is None:
                    first = time.monotonic()
                if first is not None and time.monotonic() - first > grace:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if proc.poll() is None:  # an exception here: leave nothing running
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the child left in its group
        return 128 + stopped[0]
    return code


def cmd_bench(a: argparse.Namespace) -> int:
    import signal

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"bench_{a.name}.py"
    if not script.is_file():
        raise CLIError(f"benchmark {a.name!r} needs the source checkout's benchmarks/ folder ({script} not found)")
    # glibc would return big temporaries to the OS after every call and page faults would
    # dominate memory-bound convolutions: the benchmarks (never the library) keep them
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
    code = run_child([sys.executable, str(script), *a.args], env=env)
    if code > 128 and code - 128 in (signal.SIGINT, signal.SIGTERM):
        name = signal.Signals(code - 128).name
        print(f"atrous bench: stopped by {name}; the benchmark's processes were ended", file=sys.stderr)
    return code


def cmd_playground(a: argparse.Namespace) -> int:
    from atrous.viz.playground import write_playground

    target = Path(a.output) / "playground.html" if a.output and Path(a.output).is_dir() else None
    path = target if target is not None else _output_file(a.output, (".html", ".htm"))
    print(write_playground(path).resolve())
    return 0


def cmd_tour(a: argparse.Namespace) -> int:
    from atrous.tour import tour, tour_data

    if a.json:
        _print_json(tour_data())
        return 0
    tour()
    return 0


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="atrous", description="Dilated and transposed convolutions, exactly.")
    parser.add_argument("--version", action="store_true", help="print the version")
    parser.add_argument("--traceback", action="store_true", help="on an error, also print the full traceback")
    # accepted after the subcommand too (SUPPRESS: the subcommand's default does not hide the top one)
    common = _Parser(add_help=False)
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def add(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description or help, parents=[common])

    p = add("shape", "output size of a convolution or transposed convolution")
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of a transposed convolution")
    p.set_defaults(func=cmd_shape)

    p = add("pad", "padding for a mode (same: TensorFlow's rule, any stride and dilation)")
    _add_conv_args(p, padding=False)
    p.add_argument("-m", "--mode", default="same", choices=PADDING_MODES, help="padding mode (default same)")
    p.set_defaults(func=cmd_pad)

    p = add(
        "invert",
        "the transposed convolution that restores the input size",
        "The layer that maps a convolution's output back to its input size (a transposed "
        "convolution, or a convolution for -t), printed as Python that runs: torch.nn with "
        "symmetric padding plus a crop or pad, and atrous's layer where the padding is asymmetric.",
    )
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="invert a transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of the transposed convolution")
    p.set_defaults(func=cmd_invert)

    p = add("rf", "receptive field per layer of a chain (commas separate layers)")
    p.add_argument("-k", "--kernel-size", help="per layer: 3,3,3 (3x3 for 2-d); one value applies to all")
    p.add_argument("-s", "--stride", help="per layer strides")
    p.add_argument("-p", "--padding", help="per layer paddings: 1, 1:0 (lo:hi), same, causal ...")
    p.add_argument("-d", "--dilation", help="per layer dilations, e.g. 1,2,4")
    p.add_argument("--kind", help=f"per layer kinds: {', '.join(_KINDS)} (default conv)")
    p.add_argument("--output-padding", help="per layer output padding (tconv)")
    p.add_argument("-i", "--input", help="input size (makes output sizes and borders exact)")
    p.add_argument(
        "-c", "--channels", type=_arg_int(1), help="channels per layer (>= 1), to count parameters with bias"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_rf)

    p = add("plan", "a gridding-free dilation schedule (--target), or check one (--check)")
    p.add_argument("--target", help="receptive field to reach")
    p.add_argument("-k", "--kernel-size", default="3", help="kernel size (default 3)")
    p.add_argument("--max-dilation", help="largest dilation allowed (with --target)")
    p.add_argument("--check", help="check these rates instead of planning: 1,2,5 (not with --target)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_plan)

    model_help = "builtin:NAME (vgg16, resnet50, deeplab-aspp, fcn-decoder, wavenet, ...) or MODULE:CALLABLE"
    p = add(
        "analyze",
        "exact receptive fields of a model (imports and runs MODULE's code)",
        "Exact receptive fields of a model, node by node. " + USER_CODE_NOTE,
    )
    p.add_argument("model", help=model_help)
    p.add_argument("-i", "--input", help="input shape N,C,*spatial (builtin models have a default)")
    p.add_argument("--weights", help="a state_dict file, loaded with torch.load(weights_only=True)")
    p.add_argument("--erf", action="store_true", help="also measure the effective receptive field")
    p.add_argument("--samples", type=_arg_int(1), default=16, help="random inputs for --erf (>= 1, default 16)")
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

    p = add(
        "stream",
        "latency and real-time factor of a streamed model (imports and runs MODULE's code)",
        "Streams a model with atrous.stream (in eval mode): checks that the stream equals the offline "
        "forward (atrous.stream.verify), then prints the algorithmic latency, the buffering latency and the "
        "measured real-time factor per chunk size. " + USER_CODE_NOTE,
    )
    p.add_argument("model", help=model_help)
    p.add_argument("-i", "--input", help="1,C,T: one stream's channels and a length to trace the model at")
    p.add_argument("--weights", help="a state_dict file, loaded with torch.load(weights_only=True)")
    p.add_argument("--sample-rate", type=_arg_float, default=16000.0, help="input samples per second (default 16000)")
    p.add_argument("--chunk", default="1,64,256,1024", help="chunk sizes in input samples (default 1,64,256,1024)")
    p.add_argument("--seconds", type=_arg_float, default=2.0, help="seconds of input streamed per chunk size")
    p.add_argument("--batch", type=_arg_int(1, 4096), default=1, help="streams at once (1-4096, default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_stream)

    p = add(
        "report",
        "the HTML report (built-in examples, or MODEL: imports and runs MODULE's code)",
        "The self-contained HTML report: built-in example networks, or one MODEL. " + USER_CODE_NOTE,
    )
    p.add_argument("model", nargs="?", help="builtin:NAME or MODULE:CALLABLE (default: the built-in examples)")
    p.add_argument("-o", "--output", default="report", help="output folder (default report/; created, not its parents)")
    p.add_argument("-i", "--input", help="input shape N,C,*spatial for MODEL")
    p.add_argument("--weights", help="a state_dict file for MODEL (torch.load weights_only=True)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--single-file", action="store_true", help="inline every asset: one HTML file (-o may end in .html)")
    p.add_argument(
        "--examples",
        nargs="?",
        const=_CHECKOUT_RESULTS,
        help="add the examples' results from this folder (alone: the source checkout's docs/results)",
    )
    p.set_defaults(func=cmd_report)

    p = add("animate", "an animation (GIF/APNG) or one frame (SVG) of a convolution")
    _add_conv_args(p)
    p.add_argument("-t", "--transposed", action="store_true", help="transposed convolution")
    p.add_argument("--output-padding", default="0", help="output padding of a transposed convolution")
    p.add_argument(
        "-o",
        "--output",
        default="conv.gif",
        help="file: .gif, .apng, .png (first frame) or .svg (its folder must exist)",
    )
    p.add_argument("--fps", type=_arg_float, default=2.0, help="frames per second (0.02 to 100, default 2)")
    p.add_argument("--cell", type=_arg_integer, default=24, help="pixels per cell (8 to 128, default 24)")
    p.add_argument("--frame", type=_arg_int(0), default=0, help="which frame for .svg (default 0)")
    p.set_defaults(func=cmd_animate)

    p = add(
        "plot",
        "one figure: coverage, checkerboard, frequency, detection, rf, erf (rf/erf --model: imports MODULE)",
        "One figure, written to --output only. rf and erf take --model; " + USER_CODE_NOTE,
    )
    p.add_argument("figure", choices=PLOTS, help="which figure")
    p.add_argument("-o", "--output", default="figure.png", help="file: .png or .svg (its folder must exist)")
    p.add_argument("-k", "--kernel-size", default="3", help="kernel size (coverage, checkerboard)")
    p.add_argument("-s", "--stride", default="2", help="stride (checkerboard)")
    p.add_argument("-p", "--padding", default="1", help="padding (checkerboard)")
    p.add_argument("--rates", action="append", help="dilations of one stack, e.g. 2,2,2 (coverage; repeat to compare)")
    p.add_argument("--kernel", default="1,1,1", help="taps of a 1-d kernel (frequency)")
    p.add_argument("--dilations", default="1,2,4", help="dilations (frequency)")
    p.add_argument("--model", help="builtin:NAME or MODULE:CALLABLE (rf, erf)")
    p.add_argument("-i", "--input", help="input shape for --model")
    p.add_argument("--weights", help="a state_dict file for --model")
    p.add_argument("--samples", type=_arg_int(1), default=8, help="random inputs (erf; >= 1, default 8)")
    p.set_defaults(func=cmd_plot)

    p = add(
        "bench",
        "run a benchmark from benchmarks/ (writes its section of BENCHMARKS.md in the working directory)",
        "Run benchmarks/bench_NAME.py of the source checkout. It writes its section of the file "
        "given by --output (default BENCHMARKS.md in the working directory; --no-write: none). "
        "`atrous bench NAME --help` lists its options.",
    )
    p.add_argument("name", choices=BENCHES, help="which benchmark")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark script")
    p.set_defaults(func=cmd_bench)

    p = add("playground", "the interactive playground: one offline HTML file")
    p.add_argument("-o", "--output", default="playground.html", help="file to write (default playground.html)")
    p.set_defaults(func=cmd_playground)

    p = add("tour", "a tour of the arithmetic (the seeds' examples)")
    p.add_argument("--json", action="store_true", help="print the tour's numbers as JSON")
    p.set_defaults(func=cmd_tour)
    return parser


def _print_error(prog: str, message: str) -> None:
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Status 0 on success, 2 with one line on stderr for bad input or an error in the user's
    code, 130 when interrupted, 1 with one line for an error of atrous itself (a bug:
    ``--traceback`` shows it).
    """
    parser = build_parser()
    if hasattr(sys, "set_int_max_str_digits"):
        # exact answers may exceed Python's 4300-digit printing limit (the inputs are capped at
        # 1000 digits each, so the longest printed number stays bounded)
        sys.set_int_max_str_digits(0)
    args_list = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args_list[: args_list.index("--") if "--" in args_list else None]
    prog = f"atrous {args_list[0]}" if args_list and args_list[0] in COMMANDS else "atrous"
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
    except (CLIError, AtrousError) as exc:
        if show_traceback:
            import traceback

            original = exc.original if isinstance(exc, UserCodeError) else exc
            traceback.print_exception(type(original), original, original.__traceback__)
        _print_error(prog, str(exc))
        return 2
    except BrokenPipeError:  # pragma: no cover - e.g. `atrous rf ... | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no flush error at exit
        return 0
    except OSError as exc:  # writing an output (disk full, permissions) or reading an input
        if show_traceback:
            import traceback

            traceback.print_exc()
        where = f" {exc.filename}" if exc.filename else ""
        _print_error(prog, f"cannot access{where}: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _print_error(prog, "interrupted")
        return 130
    except Exception as exc:  # a bug of atrous: still one line, the traceback on request
        if show_traceback:
            import traceback

            traceback.print_exc()
        _print_error(prog, f"internal error: {type(exc).__name__}: {exc} (run with --traceback and report it)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
