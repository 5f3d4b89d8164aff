"""Exact receptive fields of real networks: :func:`analyze`.

The model is traced once (:mod:`atrous.analysis.trace`), every call is read through the op
table (:mod:`atrous.analysis.ops`) and interpreted into layout moves and exact steps of the
geometry core (:mod:`atrous.analysis.interpret`), and the result is a :class:`Report`
(:mod:`atrous.analysis.report`). Every answer is an exact field, a global one with its reason,
or unknown with the node and the declaration that would resolve it.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=2, dilation=2))
    >>> report = analyze(net, (1, 3, 32, 32))
    >>> report.field().size
    (7, 7)
    >>> report.field()[0].support(0)
    (0, 1, 2, 3)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from torch import nn

from atrous.analysis.interpret import Interpreter
from atrous.analysis.report import GLOBAL, AnalysisWarning, Global, GriddingIssue, Node, Report, replacement_rates
from atrous.analysis.trace import Trace, trace
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, LayerSpec, PoolSpec, UpsampleSpec

__all__ = [
    "GLOBAL",
    "AnalysisWarning",
    "Global",
    "GriddingIssue",
    "Node",
    "Report",
    "analyze",
    "parse_declaration",
    "replacement_rates",
]

DECLARATIONS = ("pointwise", "global")


_SPEC_CALLS = {"conv": ConvSpec, "pool": PoolSpec, "upsample": UpsampleSpec}


def parse_declaration(text: str) -> LayerSpec | str:
    """A declaration written as text (the CLI's ``--specs NAME=DECL``): ``pointwise``,
    ``global``, or a call ``conv(3, padding=1, dilation=2)``, ``pool(2, stride=2,
    mode="avg")``, ``upsample(2, mode="linear")`` with literal arguments.

    Examples:
        >>> parse_declaration("conv(3, padding=((2, 0),), dilation=2)")  # 1-d: one (lo, hi) pair
        ConvSpec(kernel_size=(3,), padding=((2, 0),), dilation=(2,))
        >>> parse_declaration("conv(3, padding=(2, 0), dilation=2)")  # 2-d: one int per axis
        ConvSpec(kernel_size=(3, 3), padding=(2, 0), dilation=(2, 2))
        >>> parse_declaration("pointwise")
        'pointwise'
    """
    import ast

    text = text.strip()
    if text in DECLARATIONS:
        return text
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        tree = None
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name) or tree.func.id not in _SPEC_CALLS:
        raise SpecError(f"a declaration must be pointwise, global, conv(...), pool(...) or upsample(...), got {text!r}")
    try:
        args = [ast.literal_eval(x) for x in tree.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in tree.keywords if k.arg is not None}
    except ValueError:
        raise SpecError(f"the arguments of a declaration must be literals, got {text!r}") from None
    try:
        return _SPEC_CALLS[tree.func.id](*args, **kwargs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise SpecError(f"declaration {text!r}: {exc}") from None


def _check_declaration(key: str, value: object) -> LayerSpec | str:
    if isinstance(value, (ConvSpec, PoolSpec, UpsampleSpec)) or value in DECLARATIONS:
        return value  # type: ignore[return-value]
    raise SpecError(
        f"specs[{key!r}] must be a ConvSpec, PoolSpec, UpsampleSpec, 'pointwise' or 'global', got {value!r}"
    )


def _resolve(
    model: nn.Module, specs: Mapping[str, object]
) -> tuple[dict[str, LayerSpec | str], dict[str, LayerSpec | str]]:
    """Split declarations into module paths (kept whole) and op names; refuse unknown keys."""
    if not isinstance(specs, Mapping):
        raise SpecError(f"specs must be a mapping of module path or op name -> declaration, got {specs!r}")
    paths = {n for n, _ in model.named_modules() if n}
    classes: dict[str, list[str]] = {}
    for n, m in model.named_modules():
        if n:
            classes.setdefault(type(m).__name__, []).append(n)
    modules: dict[str, LayerSpec | str] = {}
    ops: dict[str, LayerSpec | str] = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not key:
            raise SpecError(f"specs keys must be module paths or op names, got {key!r}")
        decl = _check_declaration(key, value)
        if key in paths:
            modules[key] = decl
        elif key.startswith("module:") and key[7:] in classes:
            for path in classes[key[7:]]:
                modules[path] = decl
        elif "." not in key and key.replace("_", "").isalnum() and not key[0].isdigit():
            ops[key] = decl  # an op name: checked against the trace
        else:
            close = difflib.get_close_matches(key, sorted(paths), n=3) or sorted(paths)[:5]
            raise SpecError(
                f"specs key {key!r} names no module of the model"
                + (f"; modules include {', '.join(map(repr, close))}" if close else "")
            )
    return modules, ops


def analyze(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    specs: Mapping[str, LayerSpec | str] | None = None,
    method: str = "auto",
    input_layout: str | None = None,
    output: str | int | None = None,
) -> Report:
    """Trace ``model`` and compute exact receptive fields at every node.

    Args:
        model: any ``torch.nn.Module`` taking one tensor ``(N, C, *spatial)`` (other
            arguments of its ``forward`` keep their defaults).
        input_shape: the input shape, e.g. ``(1, 3, 224, 224)``.
        specs: declare what atrous does not know: a module path (``"backbone.block3"``), a
            module class (``"module:MyOp"``) or a torch op name (``"roll"``) -> a
            ``ConvSpec`` / ``PoolSpec`` / ``UpsampleSpec``, ``"pointwise"`` or ``"global"``.
            A declared module is one step, whatever calls it makes.
        method: ``"auto"`` (the meta device, a real random input if the model cannot run
            there or its answer needs constant values, e.g. an attention mask), ``"meta"`` or
            ``"real"``.
        input_layout: one letter per input dimension: ``N`` batch, ``C`` channels, any other
            letter a spatial axis (numbered in order). Default ``"NL"`` for a rank-2 input
            (raw audio), else ``"NC"`` followed by the spatial axes. Channels-last models:
            ``"NLC"``, ``"NHWC"``.
        output: which output is the report's output: a key of a dict / ``ModelOutput``
            (``"last_hidden_state"``), a tuple index, or a node name. Default: the first
            output that still has a spatial axis (not a loss or a pooled summary).

    Returns:
        A :class:`Report`.

    Raises:
        SpecError: a bad argument, a ``specs`` key naming no module or op of the model, or a
            model that fails on the input shape.
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules, ops = _resolve(model, dict(specs or {}))
    tr = trace(model, input_shape, method, leaves=modules, input_layout=input_layout)
    if ops:
        seen = {c.func for c in tr.calls}
        missing = [k for k in ops if k not in seen]
        if missing:
            known = sorted(seen) + sorted(n for n, _ in model.named_modules() if n)
            close = difflib.get_close_matches(missing[0], known, n=3) or known[:5]
            raise SpecError(
                f"specs key {missing[0]!r} names no module of the model and no op it calls"
                + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
            )
    interp = Interpreter(tr, modules, ops)
    order = interp.run()
    if interp.needs_values and tr.method == "meta" and method == "auto":
        # an answer depends on constant values the meta device does not have (a mask)
        tr = trace(model, input_shape, "real", leaves=modules, input_layout=input_layout)
        tr.failure = f"values needed: {interp.needs_values}"
        interp = Interpreter(tr, modules, ops)
        order = interp.run()
    return Report(order, _pick_output(tr, order, output), tr)


def _pick_output(tr: Trace, order: list[Node], output: str | int | None) -> str:
    names = {n.name: n for n in order}
    if output is None:
        for name in tr.outputs:  # the first output that still has a spatial axis (not a loss)
            if names[name].spatial:
                return name
        return tr.outputs[0] if tr.outputs else order[-1].name
    if isinstance(output, int) and not isinstance(output, bool):
        if not 0 <= output < len(tr.outputs):
            raise SpecError(
                f"output must be an index in [0, {len(tr.outputs) - 1}] of the model's outputs, got {output}"
            )
        return tr.outputs[output]
    if isinstance(output, str):
        if output in tr.output_names:
            return tr.outputs[tr.output_names.index(output)]
        if output in names:
            return output
        close = difflib.get_close_matches(output, tr.output_names + list(names), n=3)
        raise SpecError(
            f"output {output!r} is no output key ({', '.join(tr.output_names) or 'none'}) and no node"
            + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
        )
    raise SpecError(f"output must be an output key, an index or a node name, got {output!r}")
