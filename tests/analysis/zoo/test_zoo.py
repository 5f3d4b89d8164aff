"""The zoo: third-party architectural patterns, every answer checked against autograd.

For each model of :mod:`zoo_models`: nothing is unknown; every axis of the output (and of the
listed intermediate modules) is the expected kind; a field's supports at three output
positions per axis (the first, the middle, the last; the other axes at their middle) equal the
autograd brute force exactly; a global axis is read whole by autograd; and the
statistics-frozen answer, where it differs, matches autograd with the statistics detached.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from zoo_models import ZOO, Entry
from zoo_oracle import brute_support, expected_support, first_tensor, positive

from atrous.analysis import AnalysisWarning, Global, analyze
from atrous.analysis.layout import parse_layout, spatial_sizes
from atrous.analysis.report import Node, Report
from atrous.geometry import Field


def _kind(f: object) -> str:
    if isinstance(f, Field):
        return "field"
    if isinstance(f, Global):
        return "global"
    return "unknown"


def _output_node(report: Report, model: torch.nn.Module, shape: tuple[int, ...], key: str | None) -> Node:
    if key is None:
        return report.node()
    with torch.no_grad():
        out = model(torch.zeros(shape, dtype=torch.float64))
    index = list(out.keys()).index(key)
    return report.node(report.trace.outputs[index])


def _module_node(report: Report, path: str) -> Node:
    inside = [n for n in report.nodes if n.module == path or n.module.startswith(path + ".")]
    assert inside, f"no node inside module {path!r}"
    return inside[-1]


def _capture(path: str):
    def pick(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        box: list[torch.Tensor] = []
        handle = model.get_submodule(path).register_forward_hook(
            lambda m, a, out: box.append(first_tensor(out).clone())
        )
        try:
            model(x)
        finally:
            handle.remove()
        return box[-1]

    return pick


def _positions(node: Node, sizes: tuple[int, ...], fields: list[object]) -> list[dict[int, int]]:
    lengths = [f.length if isinstance(f, Field) else sizes[a] for a, f in enumerate(fields)]
    mid = {a: n // 2 for a, n in enumerate(lengths)}
    out = [dict(mid)]
    for a, f in enumerate(fields):
        if isinstance(f, Field):
            for y in (0, lengths[a] - 1):
                out.append({**mid, a: y})
    return out


def _check(
    report: Report,
    model: torch.nn.Module,
    shape: tuple[int, ...],
    node: Node,
    pick,
    kinds: tuple[str, ...],
    statistics: str,
    layout: str | None = None,
) -> None:
    fields = node.fields_for(statistics)
    assert tuple(_kind(f) for f in fields) == tuple(kinds), (node.name, statistics, fields, node.why)
    sizes = spatial_sizes(shape, parse_layout(layout, len(shape)))
    for pos in _positions(node, sizes, fields):
        want = expected_support(fields, pos, sizes)
        got = brute_support(model, shape, node, pos, pick=pick, frozen=statistics == "frozen", input_layout=layout)
        assert got == want, (
            f"{node.name} ({statistics}) at {pos}: autograd {sorted(got)[:12]}... ({len(got)}) "
            f"!= analysis {sorted(want)[:12]}... ({len(want)})"
        )


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_matches_autograd(name: str) -> None:
    entry: Entry = ZOO[name]
    model, shape = entry.build()
    model = positive(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnalysisWarning)
        report = analyze(model, shape, input_layout=entry.input_layout)
    assert report.unknown == [], [(n.name, n.op, n.notes[-1:]) for n in report.unknown]
    out = _output_node(report, model, shape, entry.output)
    pick_out = lambda m, x: first_tensor(m(x), entry.output)
    _check(report, model, shape, out, pick_out, entry.exact, "exact", entry.input_layout)
    if entry.frozen is not None:
        _check(report, model, shape, out, pick_out, entry.frozen, "frozen", entry.input_layout)
    for path in entry.modules:
        node = _module_node(report, path)
        kinds = tuple(_kind(f) for f in node.fields)
        assert "unknown" not in kinds, (path, node.name, node.why)
        _check(report, model, shape, node, _capture(path), kinds, "exact", entry.input_layout)


def test_zoo_covers_the_issue_patterns() -> None:
    """The zoo really contains the patterns it claims (a test of the test)."""
    from zoo_models import ConvNextLayer, EncodecConv1d, SwinBlock, TemporalConv1d

    def has(name: str, cls: type) -> bool:
        model, _ = ZOO[name].build()
        return any(isinstance(m, cls) for m in model.modules())

    assert has("convnext", ConvNextLayer)
    assert has("encodec", EncodecConv1d)
    assert has("swin", SwinBlock)
    assert has("tcn_causal", TemporalConv1d)
    model, _ = ZOO["swin"].build()
    assert any(isinstance(m, SwinBlock) and m.shift for m in model.modules())
