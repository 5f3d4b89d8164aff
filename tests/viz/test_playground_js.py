"""The playground's JavaScript against the Python core, on more than 10,000 random settings.

The script under test is the one inside the page that ``atrous playground`` writes (extracted
from the HTML, run in node). For every setting it must give the same output sizes, resolved
paddings, output_padding ranges, exact tap sets (every output's support), holes, phases and
refusals (the same words as the SpecError) as :mod:`atrous.geometry`; the drawn canvas must be
:mod:`atrous.viz.animate`'s; the matrix view :func:`atrous.reference.conv_matrix` (and its
transpose, checked against the transposed convolution itself); every "nearest valid" value it
offers must be accepted by Python; and the copyable code must run and agree with atrous.
"""

from __future__ import annotations

import functools
import json
import random
import re
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from atrous.errors import SpecError
from atrous.geometry import (
    ConvSpec,
    layer_output_size,
    output_padding_range,
    output_size,
    receptive_field,
    valid_output_sizes,
)
from atrous.geometry.shape import _normalise_size
from atrous.viz.playground import playground_page, spec_arguments

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the page's JavaScript cannot run here"),
    pytest.mark.slow,  # each runs the page's script in a node process
]

PADS = ("p", "lohi", "valid", "same", "causal", "full")
N_LAYERS = 8000
N_STACKS = 3000


def page_script() -> str:
    page = playground_page()
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1
    return scripts[0]


def random_layer(rng: random.Random) -> dict:
    nd = 1 if rng.random() < 0.7 else 2
    t = int(rng.random() < 0.5)
    st = {
        "mode": "layer",
        "nd": nd,
        "n": [rng.randint(1, 32), rng.randint(1, 32)],
        "k": rng.randint(1, 7),
        "s": rng.randint(1, 4),
        "d": rng.randint(1, 6),
        "pad": rng.choice(PADS),
        "p": rng.randint(0, 12),
        "lo": rng.randint(0, 12),
        "hi": rng.randint(0, 12),
        "t": t,
        "op": rng.randint(0, 6) if t else 0,
        "solve": int(t and rng.random() < 0.25),
        "target": [rng.randint(1, 80), rng.randint(1, 80)],
        "ci": rng.randint(1, 12),
        "co": rng.randint(1, 12),
        "g": rng.choice([1, 1, 1, 2, 3, 4, 6]),
        "f": -1,
        "stack": "c3.1.1.p0",
        "sn": 0,
    }
    if rng.random() < 0.02:  # out of the sliders' range: the words of check_int
        st["n"][rng.randint(0, nd - 1)] = rng.choice([0, -3])
    if rng.random() < 0.02:
        st[rng.choice(["k", "s", "d"])] = 0
    if rng.random() < 0.3:  # small inputs, where the refusals are
        st["n"] = [rng.randint(1, 6), rng.randint(1, 6)]
    return st


def random_stack(rng: random.Random) -> dict:
    layers = []
    for _ in range(rng.randint(1, 5)):
        t = rng.random() < 0.25
        kind = rng.choice(PADS)
        pad = {"p": f"p{rng.randint(0, 4)}", "lohi": f"l{rng.randint(0, 4)}-{rng.randint(0, 4)}"}.get(kind, kind)
        tok = f"{'t' if t else 'c'}{rng.randint(1, 5)}.{rng.randint(1, 3)}.{rng.randint(1, 5)}.{pad}"
        if t:
            tok += f".{rng.randint(0, 3)}"
        layers.append(tok)
    sn = 0 if rng.random() < 0.3 else rng.randint(1, 64)
    return {"stack": ",".join(layers), "sn": sn, "suggest": rng.random() < 0.25}


def stack_specs(text: str) -> list[ConvSpec]:
    specs = []
    for tok in text.split(","):
        m = re.fullmatch(r"([ct])(\d+)\.(\d+)\.(\d+)\.([^.]+)(?:\.(\d+))?", tok)
        assert m, tok
        kind, k, s, d, pad, op = m.groups()
        if pad.startswith("p"):
            padding: object = int(pad[1:])
        elif pad.startswith("l"):
            lo, hi = pad[1:].split("-")
            padding = ((int(lo), int(hi)),)
        else:
            padding = pad
        t = kind == "t"
        specs.append(ConvSpec(int(k), int(s), padding, int(d), transposed=t, output_padding=int(op or 0) if t else 0))
    return specs


@pytest.fixture(scope="module")
def cases():
    rng = random.Random(20240521)
    layers = [random_layer(rng) for _ in range(N_LAYERS)]
    # the seeds' and conv_arithmetic's cases, exactly
    for n, k, s, p, d in [(4, 3, 1, 0, 1), (5, 4, 1, 2, 1), (5, 3, 1, 1, 1), (5, 3, 1, 2, 1), (5, 3, 2, 0, 1)]:
        for t in (0, 1):
            layers.append({**random_layer(rng), "nd": 2, "n": [n, n], "k": k, "s": s, "pad": "p", "p": p, "d": d,
                           "t": t, "op": 0, "solve": 0, "ci": 1, "co": 1, "g": 1})  # fmt: skip
    stacks = [random_stack(rng) for _ in range(N_STACKS)]
    stacks.append({"stack": "c3.1.1.p0,c3.1.2.p0,c3.1.4.p0", "sn": 0})
    stacks.append({"stack": "c3.1.2.p0,c3.1.2.p0,c3.1.2.p0", "sn": 32})
    stacks.append({"stack": "c3.1.1.p0,c3.1.2.p0,c3.1.5.p0", "sn": 32})
    states = layers[:200]
    return {"layers": layers, "stacks": stacks, "states": states}


def _node_run(cases: dict, folder) -> dict:
    bundle = folder / "playground.js"
    bundle.write_text(page_script(), encoding="utf-8")
    case_file = folder / "cases.json"
    case_file.write_text(json.dumps(cases), encoding="utf-8")
    runner = str((__import__("pathlib").Path(__file__).parent / "playground_runner.js").resolve())
    done = subprocess.run([NODE, runner, str(bundle), str(case_file)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def results(cases, build_once):
    return build_once("playground-js", lambda folder: _node_run(cases, folder))


def test_enough_random_settings(cases):
    assert len(cases["layers"]) + len(cases["stacks"]) >= 10_000


# --------------------------------------------------------------------------- the Python side


def _err(fn):
    try:
        return fn(), None
    except SpecError as exc:
        return None, str(exc)


def _frac(f: Fraction) -> list[int]:
    return [f.numerator, f.denominator]


def field_info(f) -> dict:
    try:
        start, centre, start_error = f.start, _frac(f.centre), None
    except SpecError as exc:
        start, centre, start_error = None, None, str(exc)
    return {
        "size": f.size,
        "jump": _frac(f.jump),
        "start": start,
        "startError": start_error,
        "centre": centre,
        "holes": list(f.holes),
        "hasHoles": f.has_holes,
        "period": f.period,
        "shift": f.shift,
        "length": f.length,
        "phases": [list(p.positions()) for p in f.phases],
    }


def padding_arg(st: dict):
    kind = st["pad"]
    if kind == "p":
        return st["p"]
    if kind == "lohi":
        return tuple((st["lo"], st["hi"]) for _ in range(st["nd"]))
    return kind


def python_layer(st: dict) -> dict:
    """What atrous.geometry says about one setting (independently of the page's mapping)."""
    from atrous.functional import resolve_conv_transpose

    nd = st["nd"]
    size = st["n"][0] if nd == 1 else tuple(st["n"][:2])
    padding = padding_arg(st)
    t = bool(st["t"])
    want: dict = {}
    if t and not st["solve"]:
        r, e = _err(lambda: output_padding_range(size, st["k"], st["s"], padding, st["d"]))
        want["opRange"] = None if e else ([[x.start, x.stop] for x in r] if nd == 2 else [r.start, r.stop])
        if not e:
            v = valid_output_sizes(size, st["k"], st["s"], padding, st["d"])
            want["validSizes"] = [[x.start, x.stop] for x in v] if nd == 2 else [v.start, v.stop]

    def build():
        sizes = _normalise_size("input_size", size)[0]
        if t and st["solve"]:
            spec = resolve_conv_transpose(
                (st["k"],) * nd, sizes, st["s"], padding, st["d"], 0, tuple(st["target"][:nd])
            )
            return sizes, spec, list(layer_output_size(spec, sizes))
        op = st["op"] if t else 0
        out = output_size(size, st["k"], st["s"], padding, st["d"], transposed=t, output_padding=op)
        spec = ConvSpec(st["k"], st["s"], padding, st["d"], transposed=t, output_padding=op).for_ndim(nd)
        return sizes, spec, list(out) if isinstance(out, tuple) else [out]

    got, error = _err(build)
    want["error"] = error
    if error:
        return want
    sizes, spec, out = got
    resolved = spec.resolve(sizes)
    want["out"] = out
    want["pads"] = [list(p) for p in resolved.pads]
    want["outputPadding"] = list(resolved.output_padding)
    fields = receptive_field([spec], input_size=sizes[0] if nd == 1 else sizes)[0]
    axes = [fields] if nd == 1 else list(fields.axes)
    want["supports"] = [[list(a.support(y)) for y in range(a.length)] for a in axes]
    unb = receptive_field([resolved])[0]
    want["unbounded"] = [field_info(f) for f in ([unb] if nd == 1 else list(unb.axes))]
    want["_spec"] = resolved
    want["_sizes"] = sizes
    return want


def python_channels(st: dict) -> str | None:
    return _channels(st["ci"], st["co"], st["g"])


@functools.cache
def _channels(ci: int, co: int, g: int) -> str | None:
    from atrous.nn import Conv1d

    try:
        Conv1d(ci, co, 1, groups=g, device="meta")
    except SpecError as exc:
        return str(exc)
    return None


def python_stack(case: dict) -> dict:
    def build():
        specs = stack_specs(case["stack"])
        return receptive_field(specs, input_size=case["sn"] or None)

    fields, error = _err(build)
    if error:
        return {"error": error}
    want: dict = {"error": None, "fields": [field_info(f) for f in fields]}
    top = fields[-1]
    if top.length is not None:
        want["supports"] = [list(top.support(y)) for y in range(top.length)]
        want["paths"] = [list(kv) for kv in top.paths(top.length // 2).items()]
    else:
        want["paths"] = [list(kv) for kv in top.paths(0).items()]
    return want


# --------------------------------------------------------------------------- the checks


def _first_mismatches(pairs, limit=5):
    bad = []
    for i, (case, got, want) in enumerate(pairs):
        for key, value in want.items():
            if key.startswith("_"):
                continue
            if got.get(key) != value:
                bad.append((i, key, case, got.get(key), value))
                break
        if len(bad) >= limit:
            break
    return bad


@pytest.fixture(scope="module")
def truth(cases, build_once):
    return build_once("playground-truth", lambda _: [python_layer(st) for st in cases["layers"]])


def test_layers_match_the_geometry_core(cases, results, truth):
    pairs = []
    refused = accepted = 0
    for st, got, want in zip(cases["layers"], results["layers"], truth, strict=True):
        pairs.append((st, got, want))
        refused += want["error"] is not None
        accepted += want["error"] is None
    bad = _first_mismatches(pairs)
    assert not bad, "\n".join(f"case {i}: {k}: page {g!r} != python {w!r}\n  {c}" for i, k, c, g, w in bad)
    assert refused > 500 and accepted > 4000  # both sides of the border are exercised


def test_channel_refusals_use_the_layers_words(cases, results):
    bad = []
    for st, got in zip(cases["layers"], results["layers"], strict=True):
        want = python_channels(st)
        if got["channelError"] != want:
            bad.append((st, got["channelError"], want))
    assert not bad, bad[:3]
    assert sum(r["channelError"] is not None for r in results["layers"]) > 300


def test_canvas_is_the_animation_plan(cases, results, truth):
    from atrous.viz.animate import _plan_cached

    checked = 0
    for st, got, want in zip(cases["layers"], results["layers"], truth, strict=True):
        if got["error"] is not None:
            continue
        plan = _plan_cached(want["_spec"], tuple(want["_sizes"]))
        for a, (pa, ja) in enumerate(zip(plan.axes, got["plans"], strict=True)):
            assert ja["origin"] == pa.origin, (st, a)
            assert ja["cats"] == list(pa.cats), (st, a)
            assert ja["index"] == list(pa.index), (st, a)
            assert ja["taps"] == [list(t) for t in pa.taps], (st, a)
            assert ja["reads"] == [list(r) for r in pa.reads], (st, a)
            ax = pa.axis
            # the weight of every tap that reads the input, from the definition of the layer
            for y, (cells, weights) in enumerate(zip(ja["taps"], ja["weights"], strict=True)):
                for g, w in zip(cells, weights, strict=True):
                    if pa.cats[g] != "input":
                        continue
                    x = pa.index[g]
                    if ax.kind == "conv":
                        assert x == y * ax.stride - ax.lo + w * ax.dilation, (st, y, g, w)
                    else:
                        assert y == x * ax.stride - ax.lo + w * ax.dilation, (st, y, g, w)
        checked += 1
    assert checked > 4000


def _python_matrix(spec: ConvSpec, sizes, out):
    from atrous.reference import conv_matrix

    kshape = spec.kernel_size
    kernel = np.arange(1, int(np.prod(kshape)) + 1, dtype=np.float64).reshape(kshape)
    if not spec.transposed:
        a = conv_matrix(kernel, sizes, spec.stride, spec.pads, spec.dilation).tocoo()
        return sorted([int(r), int(c), int(v) - 1] for r, c, v in zip(a.row, a.col, a.data, strict=True))
    a = conv_matrix(kernel, out, spec.stride, spec.pads, spec.dilation).toarray()
    conv_shape = _conv_shape(spec, out)
    rows = [
        r for r in range(a.shape[0]) if all(i < n for i, n in zip(np.unravel_index(r, conv_shape), sizes, strict=True))
    ]
    m = a[rows].T
    return sorted([int(r), int(c), int(m[r, c]) - 1] for r, c in zip(*np.nonzero(m), strict=True))


def _conv_shape(spec: ConvSpec, out):
    from atrous.geometry import layer_output_size

    return layer_output_size(spec.replace(transposed=False, output_padding=0), tuple(out))


def test_matrix_view_is_the_reference_conv_matrix(cases, results, truth):
    checked = {False: 0, True: 0}
    for st, got, want in zip(cases["layers"], results["layers"], truth, strict=True):
        if got["error"] is not None or got["matrix"] is None:
            continue
        spec = want["_spec"]
        entries = _python_matrix(spec, tuple(want["_sizes"]), tuple(want["out"]))
        assert sorted(got["matrix"]["entries"]) == entries, st
        checked[spec.transposed] += 1
    assert checked[False] > 1000 and checked[True] > 1000


def test_transposed_matrix_is_the_transposed_convolution():
    """The matrix the page draws for a transposed layer (conv_matrix of the same parameters on
    the output size, transposed) applied to x equals the reference transposed convolution."""
    from atrous.reference import conv_matrix, conv_transpose

    rng = np.random.default_rng(0)
    count = 0
    for k in (1, 2, 3, 4):
        for s in (1, 2, 3):
            for d in (1, 2, 3):
                for lo, hi in ((0, 0), (1, 1), (2, 0), (0, 3)):
                    for n in (1, 3, 5):
                        for op in range(max(s, d)):
                            spec = ConvSpec(k, s, ((lo, hi),), d, transposed=True, output_padding=op)
                            try:
                                out = output_size(n, k, s, ((lo, hi),), d, transposed=True, output_padding=op)
                            except SpecError:
                                continue
                            w = rng.standard_normal(k)
                            x = rng.standard_normal(n)
                            a = conv_matrix(w, out, s, ((lo, hi),), d).toarray()[:n]
                            y = conv_transpose(
                                x[None, None], w[None, None], stride=s, padding=((lo, hi),), dilation=d,
                                output_padding=op,
                            )[0, 0]  # fmt: skip
                            np.testing.assert_allclose(a.T @ x, y, atol=1e-12, err_msg=str(spec))
                            count += 1
    assert count > 300


def test_stacks_match_the_geometry_core(cases, results):
    pairs = []
    for case, got in zip(cases["stacks"], results["stacks"], strict=True):
        pairs.append((case, got, python_stack(case)))
    bad = _first_mismatches(pairs)
    assert not bad, "\n".join(f"case {i}: {k}: page {g!r} != python {w!r}\n  {c}" for i, k, c, g, w in bad)
    errors = sum(got["error"] is not None for got in results["stacks"])
    periodic = sum(any(f["period"] > 1 for f in got.get("fields", [])) for got in results["stacks"])
    holes = sum(any(f["hasHoles"] for f in got.get("fields", [])) for got in results["stacks"])
    assert errors > 200 and periodic > 300 and holes > 300


def test_stack_facts(results):
    *_, s124, s222, s125 = results["stacks"]
    assert [f["size"] for f in s124["fields"]] == [3, 7, 15]
    assert not s124["fields"][-1]["hasHoles"]
    assert s222["fields"][-1]["size"] == 13 and s222["fields"][-1]["holes"] == [1, 3, 5, 7, 9, 11]
    assert not s125["fields"][-1]["hasHoles"]


def test_stack_tree_ends_in_the_support(cases, results):
    for got in results["stacks"]:
        if got["error"] is None and "tree" in got:
            mid = len(got["supports"]) // 2
            assert got["tree"][0] == got["supports"][mid]
            assert got["tree"][-1] == [mid]


def test_suggestions_are_valid_in_python(cases, results):
    offered = 0
    for st, got in zip(cases["layers"], results["layers"], strict=True):
        for cand in got.get("suggestions", []):
            want = python_layer(cand)
            assert want["error"] is None, (st, cand, want["error"])
            assert python_channels(cand) is None, (st, cand)
            offered += 1
    stack_offered = 0
    for case, got in zip(cases["stacks"], results["stacks"], strict=True):
        for cand in got.get("suggestions", []):
            assert python_stack(cand)["error"] is None, (case, cand)
            stack_offered += 1
    assert offered > 500 and stack_offered > 100


def test_states_survive_the_url_fragment(cases, results):
    keys = ["mode", "nd", "n", "k", "s", "d", "pad", "p", "lo", "hi", "t", "op", "solve", "target", "ci", "co", "g"]
    for st, back in zip(cases["states"], results["states"], strict=True):
        inside = all(1 <= v <= 32 for v in st["n"]) and all(st[k] >= 1 for k in ("k", "s", "d"))
        if inside:
            assert {k: back[k] for k in keys} == {k: st[k] for k in keys}


def test_spec_arguments_is_the_pages_mapping(cases, results):
    for st, got in zip(cases["layers"][:2000], results["layers"][:2000], strict=True):
        if st["solve"]:
            continue
        try:
            size, spec = spec_arguments(st)
            sizes = (size,) if isinstance(size, int) else size
            out = layer_output_size(spec.for_ndim(len(sizes)), sizes)
        except SpecError:
            assert got["error"] is not None
            continue
        assert got["out"] == list(out)


def test_copyable_code_runs_and_agrees_with_atrous(cases, results):
    torch = pytest.importorskip("torch")
    checked = 0
    rng = random.Random(7)
    valid = [
        (st, got)
        for st, got in zip(cases["layers"], results["layers"], strict=True)
        if got["error"] is None and got["channelError"] is None and np.prod(got["out"]) <= 400
    ]
    for st, got in rng.sample(valid, 160):
        ns_t: dict = {}
        exec(got["code"]["torch"], ns_t)
        ns_a: dict = {}
        exec(got["code"]["atrous"], ns_a)
        assert tuple(ns_t["y"].shape) == (1, st["co"], *got["out"]), got["code"]["torch"]
        assert tuple(ns_a["y"].shape) == (1, st["co"], *got["out"]), got["code"]["atrous"]
        conv = next(
            m for m in ns_t.get("conv", ns_t.get("tconv")).modules() if isinstance(m, torch.nn.modules.conv._ConvNd)
        )
        layer = ns_a["layer"]
        with torch.no_grad():
            layer.weight.copy_(conv.weight)
            if conv.bias is None:
                layer.bias.zero_()
            else:
                layer.bias.copy_(conv.bias)
            torch.testing.assert_close(layer(ns_t["x"]), ns_t["y"], msg=got["code"]["torch"])
        checked += 1
    assert checked == 160


def test_seed_facts_on_the_page(cases, results):
    """conv_arithmetic's cases (i, o) as the page computes them."""
    tail = results["layers"][-10:]
    outs = [r["out"][0] for r in tail[::2]]
    assert outs == [2, 6, 5, 7, 2]
