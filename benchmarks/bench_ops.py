"""Benchmark of the convolution fast paths (atrous._fast) against PyTorch's own calls.

Run: ``atrous bench ops`` or ``python benchmarks/bench_ops.py`` (a subset, a few minutes);
``--full`` for the whole grid of the issue. Writes the "Convolution fast paths" section of
BENCHMARKS.md (``--no-write`` to only print).

For every shape it times, interleaved (round-robin) and as medians:

- ``atrous``: ``atrous.functional.apply_conv`` with the resolved spec (the dispatcher; what the
  ``atrous.nn`` layers call on every forward),
- ``native(d)``: PyTorch's same call (``F.conv2d(x, w, b, 1, d, d, groups)``, ``F.conv1d(...,
  padding="same", dilation=d)``, ...),
- ``native(1)``: the same call with dilation 1,

and reports ``atrous/native(d)`` (target <= 1.05 everywhere) and ``atrous(d)/native(1)`` (the
dilation cost: target <= 1.2 for dense 2-d and 1-d, <= 1.5 for depthwise), plus the small 3-d
speed-up (target >= 5x) and the transposed-convolution comparison (native vs sub-pixel).

glibc returns big temporaries to the OS after every call unless told otherwise, and the page
faults then dominate memory-bound convolutions; this script re-runs itself with
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=68719476736`` (the library never sets
them) and 2 threads, and with a fresh, temporary autotune cache (so first-call autotuning is
part of the warm-up, as for a new user).
"""

# ruff: noqa: B023  (the timed lambdas close over loop variables on purpose: each runs within its iteration)
from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
THREADS = 2

TARGET_SAME = 1.05
TARGET_DENSE = 1.2
TARGET_1D = 1.2
TARGET_DW = 1.5
TARGET_3D = 5.0
#: calls shorter than this get twice the rounds and an A/A pair: PyTorch's same call timed a
#: second time as if it were another function, which shows the harness's own noise beside the ratios
SHORT_CALL = 0.001


# --------------------------------------------------------------------------- grids


def grid(full: bool) -> dict[str, list[tuple]]:
    ds2 = (1, 2, 4, 8, 12, 18, 24)
    if full:
        two_d = [
            (kind, n, c, h)
            for kind in ("dense", "depthwise")
            for n in (1, 8)
            for c in (32, 64, 256)
            for h in (33, 65, 128)
        ]
        one_d = [(n, c, length, k) for n in (1, 16) for c in (32, 128) for length in (1024, 16000) for k in (2, 3)]
        tr = [(n, c, h) for n in (1, 8) for c in (32, 64, 256) for h in (33, 65, 128)]
        fft = [
            (n, c, length, k)
            for (n, c, length) in ((1, 32, 16000), (16, 32, 1024), (16, 32, 16000))
            for k in (64, 128, 256, 1024)
        ]
    else:
        two_d = [
            ("depthwise", 8, 32, 65), ("depthwise", 8, 64, 33), ("depthwise", 8, 256, 33), ("depthwise", 1, 256, 65),
            ("depthwise", 1, 32, 128),
            ("dense", 8, 32, 33), ("dense", 8, 64, 65), ("dense", 1, 256, 33), ("dense", 1, 32, 128),
        ]  # fmt: skip
        one_d = [(16, 32, 1024, 3), (16, 32, 16000, 3), (1, 128, 16000, 2), (16, 128, 1024, 2), (1, 32, 16000, 3)]
        tr = [(8, 32, 33), (8, 64, 65), (1, 256, 33), (1, 32, 128)]
        fft = [(16, 32, 1024, k) for k in (64, 128, 1024)] + [(1, 32, 16000, k) for k in (128, 1024)]
    return {
        "2d": [(kind, n, c, h, d) for (kind, n, c, h) in two_d for d in ds2],
        "1d": [(n, c, length, k, d) for (n, c, length, k) in one_d for d in (1, 8, 64, 512)],
        "3d": [(1, 16, 32, d) for d in (1, 2, 4)],
        "tr": tr,
        "fft": fft,
    }


# --------------------------------------------------------------------------- timing


BUSY = {"waited": 0.0, "busy_rounds": 0, "rounds": 0}


def _others_running() -> int:
    """Runnable tasks on the machine besides this process's reading thread (``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1]) - 1
    except OSError:
        pass
    return 0


def _wait_for_cpu(limit: float) -> bool:
    """Wait (up to ``limit`` s) until no other task competes for the cores; True if it did."""
    t0 = time.perf_counter()
    calm = 0
    while time.perf_counter() - t0 < limit:
        time.sleep(0.05)  # let this process's OpenMP workers stop spinning first
        calm = calm + 1 if _others_running() <= 1 else 0
        if calm >= 2:
            BUSY["waited"] += time.perf_counter() - t0
            return True
    BUSY["waited"] += time.perf_counter() - t0
    return False


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, sync: Callable[[], None], sample: float = 0.015
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin; the order is shuffled
    every round so that no function always runs first or right after the same neighbour (a
    convolution right after one with other parameters can pay for that switch)."""
    for fn in fns.values():  # warm-up (first-call decisions, autotune, compilation)
        fn()
        fn()
    sync()
    t = time.perf_counter()
    for fn in fns.values():
        fn()
    sync()
    per_call = max((time.perf_counter() - t) / len(fns), 1e-6)
    reps = max(1, int(sample / per_call))
    if per_call > 0.2:  # the biggest shapes of the full grid: fewer (still interleaved) rounds
        rounds = max(5, rounds // 3)
    if per_call < SHORT_CALL and "native" in fns:  # short calls: noisier rounds, so more of them
        rounds *= 2
        fns = {**fns, "native_aa": fns["native"]}
    # Every order of the functions in turn (each one first, second, ... equally often), and one
    # untimed call after the wait for a quiet CPU: the first call after that pause finds the
    # OpenMP workers asleep and the caches cold, which a fixed or unbalanced order would charge
    # to one function (it did: up to +17% on identical calls).
    orders = list(itertools.permutations(fns))
    random.Random(len(orders)).shuffle(orders)
    times: dict[str, list[float]] = {name: [] for name in fns}
    if len(orders) <= 6:  # whole cycles of the orders
        rounds = -(-rounds // len(orders)) * len(orders)
    for r in range(rounds):
        BUSY["rounds"] += 1
        if not _wait_for_cpu(5.0):  # another job is running: measure anyway, but count it
            BUSY["busy_rounds"] += 1
        names = orders[r % len(orders)]
        fns[names[-1]]()
        sync()
        for name in names:
            fn = fns[name]
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            sync()
            times[name].append((time.perf_counter() - t) / reps)
    out = {name: statistics.median(v) for name, v in times.items()}
    # paired ratios: atrous against each baseline timed in the same round (a slow round, e.g.
    # another process waking up, slows both sides of the pair instead of one median)
    for name, base in (("atrous", "native"), ("atrous", "native1"), ("native_aa", "native")):
        if name in times and base in times:
            out[f"{name}/{base}"] = statistics.median(a / b for a, b in zip(times[name], times[base], strict=True))
    return out


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.3f}" if s < 0.1 else f"{s * 1e3:.1f}"


# --------------------------------------------------------------------------- the runs


class Bench:
    def __init__(self, device: str, rounds: int) -> None:
        import torch

        self.torch = torch
        self.device = device
        self.rounds = rounds
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.rows: dict[str, list[dict]] = {"2d": [], "1d": [], "3d": [], "tr": [], "fft": []}
        self.overhead: dict[str, float] = {}

    def _t(self, *shape):
        return self.torch.randn(*shape, device=self.device)

    def run_2d(self, cases) -> None:
        import torch.nn.functional as F

        import atrous.functional as AF
        from atrous import _fast

        for kind, n, c, h, d in cases:
            g = c if kind == "depthwise" else 1
            x = self._t(n, c, h, h)
            w = self._t(c, c // g, 3, 3) / 3
            b = self._t(c)
            spec = AF.resolve_conv((3, 3), (h, h), 1, d, d)
            with self.torch.no_grad():
                fns = {
                    "atrous": lambda: AF.apply_conv(x, w, b, spec, g, "zeros"),
                    "native": lambda: F.conv2d(x, w, b, 1, d, d, g),
                    "native1": lambda: F.conv2d(x, w, b, 1, 1, 1, g),
                }
                r = interleaved(fns, self.rounds, self.sync)
                with _fast.record() as seen:
                    AF.apply_conv(x, w, b, spec, g, "zeros")
                route = seen[-1]
            self._add("2d", f"{kind} N{n} C{c} {h}x{h}", d, route, r)
            print(self._line(self.rows["2d"][-1]), flush=True)

    def run_1d(self, cases) -> None:
        import warnings

        import torch.nn.functional as F

        import atrous.functional as AF
        from atrous import _fast

        warnings.filterwarnings("ignore", message="Using padding='same'")
        for n, c, length, k, d in cases:
            x = self._t(n, c, length)
            w = self._t(c, c, k) / 3
            b = self._t(c)
            spec = AF.resolve_conv((k,), (length,), 1, "same", d)
            with self.torch.no_grad():
                fns = {
                    "atrous": lambda: AF.apply_conv(x, w, b, spec, 1, "zeros"),
                    "native": lambda: F.conv1d(x, w, b, 1, "same", d),
                    "native1": lambda: F.conv1d(x, w, b, 1, "same", 1),
                }
                r = interleaved(fns, self.rounds, self.sync)
                with _fast.record() as seen:
                    AF.apply_conv(x, w, b, spec, 1, "zeros")
                route = seen[-1]
            self._add("1d", f"N{n} C{c} L{length} k{k} same", d, route, r)
            print(self._line(self.rows["1d"][-1]), flush=True)

    def run_3d(self, cases) -> None:
        import torch.nn.functional as F

        import atrous.functional as AF
        from atrous import _fast

        for n, c, s, d in cases:
            x = self._t(n, c, s, s, s)
            w = self._t(c, c, 3, 3, 3) / 9
            b = self._t(c)
            spec = AF.resolve_conv((3, 3, 3), (s, s, s), 1, d, d)
            with self.torch.no_grad():
                fns = {
                    "atrous": lambda: AF.apply_conv(x, w, b, spec, 1, "zeros"),
                    "native": lambda: F.conv3d(x, w, b, 1, d, d),
                    "native1": lambda: F.conv3d(x, w, b, 1, 1, 1),
                }
                r = interleaved(fns, self.rounds, self.sync)
                with _fast.record() as seen:
                    AF.apply_conv(x, w, b, spec, 1, "zeros")
                route = seen[-1]
            xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
            gy = self._t(n, c, s, s, s)

            def fb_atrous():
                AF.apply_conv(xg, wg, bg, spec, 1, "zeros").backward(gy)

            def fb_native():
                F.conv3d(xg, wg, bg, 1, d, d).backward(gy)

            rb = interleaved({"atrous": fb_atrous, "native": fb_native}, max(3, self.rounds // 2), self.sync)
            row = self._add("3d", f"N{n} C{c} {s}^3", d, route, r)
            row["fb_atrous"], row["fb_native"] = rb["atrous"], rb["native"]
            print(
                self._line(row) + f"  fwd+bwd: atrous {fmt_ms(rb['atrous'])} ms, native {fmt_ms(rb['native'])} ms",
                flush=True,
            )

    def run_tr(self, cases) -> None:
        import torch.nn.functional as F

        import atrous.functional as AF
        from atrous import _fast

        for n, c, h in cases:
            x = self._t(n, c, h, h)
            w = self._t(c, c, 4, 4) / 4
            b = self._t(c)
            spec = AF.resolve_conv_transpose((4, 4), (h, h), 2, 1)

            def sub():
                with _fast.force("subpixel"):
                    return AF.apply_conv_transpose(x, w, b, spec, 1)

            with self.torch.no_grad():
                fns = {
                    "atrous": lambda: AF.apply_conv_transpose(x, w, b, spec, 1),
                    "native": lambda: F.conv_transpose2d(x, w, b, 2, 1),
                    "subpixel": sub,
                }
                r = interleaved(fns, self.rounds, self.sync)
                with _fast.record() as seen:
                    AF.apply_conv_transpose(x, w, b, spec, 1)
                route = seen[-1]
            row = {"shape": f"N{n} C{c} {h}x{h} k4 s2 p1", "d": 1, "route": route, **r}
            self.rows["tr"].append(row)
            print(
                f"  tr {row['shape']:28} atrous {fmt_ms(r['atrous']):>9} native {fmt_ms(r['native']):>9} "
                f"subpixel {fmt_ms(r['subpixel']):>9}  sub/native {r['subpixel'] / r['native']:.2f} [{route}]",
                flush=True,
            )

    def run_fft(self, cases) -> None:
        import torch.nn.functional as F

        import atrous.functional as AF
        from atrous import _fast

        for n, c, length, k in cases:
            x = self._t(n, c, length)
            w = self._t(c, c, k) / k**0.5
            b = self._t(c)
            spec = AF.resolve_conv((k,), (length,), 1, "same", 1)
            lo, hi = spec.pads[0]

            def fft():
                with _fast.force("fft"):
                    return AF.apply_conv(x, w, b, spec, 1, "zeros")

            with self.torch.no_grad():
                fns = {
                    "atrous": lambda: AF.apply_conv(x, w, b, spec, 1, "zeros"),
                    "native": lambda: F.conv1d(F.pad(x, (lo, hi)), w, b),
                    "fft": fft,
                }
                r = interleaved(fns, self.rounds, self.sync)
                with _fast.record() as seen:
                    AF.apply_conv(x, w, b, spec, 1, "zeros")
                route = seen[-1]
            row = {"shape": f"N{n} C{c} L{length} k{k}", "d": 1, "route": route, **r}
            self.rows["fft"].append(row)
            print(
                f"  fft {row['shape']:24} atrous {fmt_ms(r['atrous']):>9} native {fmt_ms(r['native']):>9} "
                f"fft {fmt_ms(r['fft']):>9}  fft/native {r['fft'] / r['native']:.2f} [{route}]",
                flush=True,
            )

    def front_end(self) -> dict[str, float]:
        """Per-call overhead (us) on a tiny input: PyTorch, the dispatcher, the public front end."""
        import torch.nn.functional as F

        import atrous.functional as AF

        x, w = self._t(1, 4, 16), self._t(4, 4, 3)
        spec = AF.resolve_conv((3,), (16,), 1, 2, 2)
        with self.torch.no_grad():
            r = interleaved(
                {
                    "torch": lambda: F.conv1d(x, w, None, 1, 2, 2),
                    "apply_conv": lambda: AF.apply_conv(x, w, None, spec, 1, "zeros"),
                    "conv": lambda: AF.conv(x, w, None, 1, 2, 2),
                },
                15,
                self.sync,
                sample=0.02,
            )
        self.overhead = {k: v * 1e6 for k, v in r.items()}
        print("per-call cost on a tiny input (us): " + ", ".join(f"{k} {v:.1f}" for k, v in self.overhead.items()))
        return self.overhead

    def _add(self, part: str, shape: str, d: int, route: str, r: dict[str, float]) -> dict:
        row = {"shape": shape, "d": d, "route": route, **r}
        self.rows[part].append(row)
        return row

    @staticmethod
    def _line(row: dict) -> str:
        return (
            f"  {row['shape']:30} d={row['d']:<4} atrous {fmt_ms(row['atrous']):>9} ms  native(d) "
            f"{fmt_ms(row['native']):>9}  native(1) {fmt_ms(row['native1']):>9}  "
            f"atrous/native {_same(row):.2f}  dilation cost {_cost(row):.2f}  "
            f"(native {row['native'] / row['native1']:.2f}) [{row['route']}]"
            + (f"  A/A {row['native_aa/native']:.2f}" if "native_aa/native" in row else "")
        )


# --------------------------------------------------------------------------- report


def _same(row: dict) -> float:
    """atrous / native(same call): the median of the paired per-round ratios."""
    return row.get("atrous/native", row["atrous"] / row["native"])


def _cost(row: dict) -> float:
    """Dilation cost atrous(d) / native(d=1): the median of the paired per-round ratios."""
    return row.get("atrous/native1", row["atrous"] / row["native1"])


def summary(rows: dict[str, list[dict]]) -> list[tuple[str, str, str, bool | None]]:
    """(what, value, target, met) lines."""
    out: list[tuple[str, str, str, bool | None]] = []

    def worst(items, key):
        return max(items, key=key) if items else None

    every = rows["2d"] + rows["1d"] + rows["3d"]
    w = worst(every, _same)
    if w:
        v = _same(w)
        out.append(
            (
                "atrous / native(same call), worst grid shape",
                f"{v:.2f} ({w['shape']} d={w['d']}, {w['route']})",
                f"<= {TARGET_SAME}",
                v <= TARGET_SAME,
            )
        )
        above = sum(_same(r) > TARGET_SAME for r in every)
        out.append(("  shapes above the target", f"{above} of {len(every)}", "0", above == 0))
        aa = sorted(abs(r["native_aa/native"] - 1) for r in every if "native_aa/native" in r)
        if aa:
            out.append((
                "  harness noise: the same PyTorch call timed twice (A/A), calls < 1 ms",
                f"worst {aa[-1]:.1%} off, median {statistics.median(aa):.1%} ({len(aa)} shapes)",
                "(no target)", None,
            ))  # fmt: skip
    for label, part, pred, target in (
        ("dilation cost, dense 2-d: atrous(d)/native(1)", "2d", lambda r: r["shape"].startswith("dense"), TARGET_DENSE),
        ("dilation cost, depthwise 2-d", "2d", lambda r: r["shape"].startswith("depthwise"), TARGET_DW),
        ("dilation cost, 1-d", "1d", lambda r: True, TARGET_1D),
    ):
        items = [r for r in rows[part] if pred(r)]
        w = worst(items, _cost)
        if w:
            v = _cost(w)
            nat = max(r["native"] / r["native1"] for r in items)
            out.append(
                (
                    label,
                    f"{v:.2f} ({w['shape']} d={w['d']}, {w['route']}); native worst {nat:.2f}",
                    f"<= {target}",
                    v <= target,
                )
            )
    if rows["3d"]:
        w = min(rows["3d"], key=lambda r: r["native"] / r["atrous"])
        v = w["native"] / w["atrous"]
        out.append(
            (
                "small 3-d: native/atrous speed-up, forward (worst)",
                f"{v:.1f}x (d={w['d']})",
                f">= {TARGET_3D}x",
                v >= TARGET_3D,
            )
        )
        w = min(rows["3d"], key=lambda r: r["fb_native"] / r["fb_atrous"])
        v = w["fb_native"] / w["fb_atrous"]
        out.append(("small 3-d: speed-up, forward+backward (worst)", f"{v:.1f}x (d={w['d']})", "(no target)", None))
    if rows["tr"]:
        w = worst(rows["tr"], _same)
        best = min(rows["tr"], key=lambda r: r["subpixel"] / r["native"])
        worst_sub = max(rows["tr"], key=lambda r: r["subpixel"] / r["native"])
        v = _same(w)
        out.append(
            ("transposed: atrous / native (worst)", f"{v:.2f} ({w['shape']})", f"<= {TARGET_SAME}", v <= TARGET_SAME)
        )
        out.append((
            "transposed: sub-pixel / native",
            f"{best['subpixel'] / best['native']:.2f} to {worst_sub['subpixel'] / worst_sub['native']:.2f}",
            "used only if proven faster", None,
        ))  # fmt: skip
    if rows["fft"]:
        w = worst(rows["fft"], _same)
        v = _same(w)
        out.append(
            (
                "long kernels (fft rule): atrous / native (worst)",
                f"{v:.2f} ({w['shape']}, {w['route']})",
                f"<= {TARGET_SAME}",
                v <= TARGET_SAME,
            )
        )
    return out


def markdown(b: Bench, args, info: dict[str, str]) -> str:
    lines = [
        f"Command: `{info['command']}`"
        + (" (the full grid)" if args.full else " (the default subset; `--full` for the whole grid)"),
        "",
        f"Machine: {info['machine']}. Device: {b.device}.",
        f"Environment (set by the script for its own process, never by the library): `{info['env']}`; "
        f"{THREADS} threads; autotune {info['autotune']} with a fresh cache.",
        f"Load average before / after: {info['load_before']} / {info['load_after']}. {info['quiet']} "
        f"Before every interleaved round the script waits (up to 5 s) until no other task is runnable "
        f"(`/proc/stat` procs_running); {BUSY['busy_rounds']} of {BUSY['rounds']} rounds still started "
        f"with another task running (waited {BUSY['waited']:.0f} s in all).",
        "",
        "Times are medians of interleaved (round-robin) runs, in ms, forward, float32, no autograd. "
        "`atrous` = `atrous.functional.apply_conv` with the resolved spec (the dispatcher; what the layers call); "
        "`native(d)` = PyTorch's same call; `native(1)` = the same call with dilation 1; "
        "`atrous/native` and `cost` = atrous(d)/native(1) are medians of the ratios paired within each round "
        "(both sides timed in the same round), not ratios of the medians; `route` = what the dispatcher ran; "
        f"`A/A` (calls < {SHORT_CALL * 1e3:g} ms, which get twice the rounds) = PyTorch's same call timed a second "
        "time as if it were another function, over the first: the harness's own noise at that shape.",
        "",
        "### Summary",
        "",
        "| what | value | target | |",
        "|---|---|---|---|",
    ]
    for what, value, target, met in summary(b.rows):
        flag = "" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {what} | {value} | {target} | {flag} |")
    for part, title in (
        ("2d", "2-d, k=3, padding=d"),
        ("1d", "1-d, padding='same'"),
        ("3d", "3-d, N1 C16 32^3, k=3, padding=d"),
    ):
        if not b.rows[part]:
            continue
        lines += [
            "",
            f"### {title}",
            "",
            "| shape | d | atrous | native(d) | native(1) | atrous/native | cost | native cost | A/A | route |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in b.rows[part]:
            aa = f"{r['native_aa/native']:.2f}" if "native_aa/native" in r else ""
            lines.append(
                f"| {r['shape']} | {r['d']} | {fmt_ms(r['atrous'])} | {fmt_ms(r['native'])} | {fmt_ms(r['native1'])} | "
                f"{_same(r):.2f} | {_cost(r):.2f} | {r['native'] / r['native1']:.2f} | {aa} | {r['route']} |"
            )
        if part == "3d":
            lines += [
                "",
                "Forward + backward (input, weight and bias gradients):",
                "",
                "| d | atrous | native | speed-up |",
                "|---|---|---|---|",
            ]
            for r in b.rows["3d"]:
                lines.append(
                    f"| {r['d']} | {fmt_ms(r['fb_atrous'])} | {fmt_ms(r['fb_native'])} | {r['fb_native'] / r['fb_atrous']:.1f}x |"
                )
    if b.rows["tr"]:
        lines += [
            "",
            "### Transposed, k=4 s=2 p=1",
            "",
            "| shape | atrous | native | sub-pixel | atrous/native | sub-pixel/native | route |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in b.rows["tr"]:
            lines.append(
                f"| {r['shape']} | {fmt_ms(r['atrous'])} | {fmt_ms(r['native'])} | {fmt_ms(r['subpixel'])} | "
                f"{_same(r):.2f} | {r['subpixel'] / r['native']:.2f} | {r['route']} |"
            )
    if b.rows["fft"]:
        lines += [
            "",
            "### Long kernels (1-d, dense, dilation 1, padding='same')",
            "",
            "| shape | atrous | native | fft | fft/native | route |",
            "|---|---|---|---|---|---|",
        ]
        for r in b.rows["fft"]:
            lines.append(
                f"| {r['shape']} | {fmt_ms(r['atrous'])} | {fmt_ms(r['native'])} | {fmt_ms(r['fft'])} | {r['fft'] / r['native']:.2f} | {r['route']} |"
            )
    if b.overhead:
        o = b.overhead
        lines += [
            "",
            f"Fixed per-call cost on a tiny 1-d input: PyTorch {o['torch']:.1f} us, `apply_conv` (dispatcher) "
            f"{o['apply_conv']:.1f} us, `atrous.functional.conv` {o['conv']:.1f} us. The difference between the "
            "last two is the public front end (argument checks and spec resolution, outside the dispatcher); "
            "layers pay only the `apply_conv` cost.",
        ]
    lines += ["", NOTES.strip()]
    return "\n".join(lines) + "\n"


NOTES = """
### Rules and why (atrous/_fast/rules.py, `rule`)

- **Depthwise** (groups = channels, stride 1, 1-d/2-d): oneDNN's `jit_dw` kernel refuses a W padding
  of 7 or more (or one wider than the dilated kernel) and PyTorch then runs oneDNN's im2col + GEMM
  fallback, 4-12x slower than dilation 1 (the `native cost` column). Padding W ourselves only brings
  that to 1.4-2.9x (a copy of a 1.5-2.5x wider tensor plus its reorder, on a memory-bound op), so past
  the cliff the dispatcher runs a small C kernel (`dw_direct`: compiled on first use into the cache
  directory; forward, input and weight gradients) whose cost does not depend on the dilation. Its
  3x3 loop (weights in registers, a zero row standing in for rows outside the input, one
  branch-free pass per output row) also beat oneDNN's undilated call at every shape of the
  depthwise grid (forward 0.26-0.87 of it at d = 1-4; forward + backward 0.14-0.93 at 8 shapes;
  tiny inputs, where PyTorch's depthwise call costs >= 50 us, 0.02-0.6), so 3x3 depthwise takes it
  at every dilation; other kernel sizes take it below the cliff only with few planes (N*C <= 64)
  or big tensors (>= 2^22 elements). Without a C compiler it falls back to `pad_w` (past the
  cliff) or native.
- **1-d** (stride 1): when the largest common factor `f` of the length, the dilation and both
  paddings is >= 16 (the grid's 'same' and causal cases with d >= 16), the signal is viewed as
  `(N, C, L/f, f)` and convolved in 2-d (`fold`): no copy, no W padding, the dilation divided by `f`.
  The cliff it avoids is oneDNN's blocked kernel's, so the rule folds only inputs of N*C*L >= 2^16
  whose input channels fill its 16-channel blocks: with C8/C24/C40 native(d) was as fast as
  dilation 1 and the fold up to 1.33x slower (N1 C40 L4096 d=64).
- **Small 1-d** (N*C*L < 2^16: 0.03-0.3 ms calls, batch 1, groups 1, stride 1, <= 3 taps, a
  padding >= 32, >= 8 input and <= 32 output channels): one matrix product per tap (`taps`),
  each accumulated in place into the outputs where that tap reads the input
  (`atrous.geometry.tap_spans`): no padding copy, no im2col, and the taps that would read padding
  are skipped (at d=512 on L1024 a third of the work). PyTorch's call costs 90-110 us there with
  about 41 us inside oneDNN's primitives; the route measured 65-100 us at N1 C32 L1024. In
  separate interleaved timings over 16 shapes of that domain ('same' and causal padding, C 8-64,
  L 512-1024, d 16-512, k 2-3) it took 0.49-1.02 of native(d)'s time forward (1.02 once, causal
  d=16; else <= 0.85) and 0.41-1.01 forward + backward (the backward is the same per-tap
  products, transposed). Outside it lost: batch 2 (1.05 forward, 1.26 with backward: batched
  products), 5-9 taps (1.08-1.21), 64 output channels (1.04-1.28), one input channel (1.27 with
  backward), padding 8 (1.10). The
  fold beat native(d) on some of these small shapes in separate timings (0.48-1.01) but not in
  this benchmark's grid (N1 C32 L1024 k3: 0.99 at d=64, 1.09 at d=512). An im2col GEMM (the
  taps stacked into one product, a cost independent of d) was 1.13-1.86x native(1): rejected.
- **Dense 2-d with a batch** (N >= 2, groups 1, stride 1 along W, a symmetric W padding >= 7):
  W is split as `(W/f, f)` for a factor `f` of the dilation and the convolution runs in 3-d with
  kernel `(k, k, 1)` and dilation `(d, d/f, 1)`. The cost of a dilated dense convolution is all
  along W, the innermost axis: oneDNN's direct kernel refuses a W padding past its register block
  and falls back to im2col + GEMM (`gemm:jit` in `ONEDNN_VERBOSE`), and with W pre-padded the
  kernel alone still ran 12% slower than dilation 1 (N8 C32 128x128 d=18), while a dilation
  along H cost nothing (dilation (18, 1): 1.00x). Folded, neither the dilation nor the padding is
  on the innermost axis. `fold` is a view (`f` the largest factor of the width, the dilation and
  both paddings); where that factor is below 4, `fold_pad` takes the divisor of the dilation in
  4..32 that pads least, pads W by a few columns (at most 1/8 of it) and crops the output.
  Measured beside native(1), forward, C 32/64/256, W 64/96/128, d 4-24: batch 2-8 with `f >= 4`
  0.64-1.04 (`pad_w` 0.97-1.70), padded odd widths (33, 65) 0.94-1.13; `f = 2` was 0.98-1.33
  (better than `fold_pad` at C64, worse at C32), so both are autotune candidates beside native,
  `pad_w` and `channels_last` (which won at C256 on 65x65); batch 1 was erratic (0.8x to 5x),
  so batch 1 keeps the rules below. Forward + backward (5 shapes): 1.05-1.61 of dilation 1
  against 1.10-2.00 natively.
- **Small 3-d inputs** (PyTorch picks `slow_conv3d` / `slow_conv_dilated3d`): the oneDNN op is called
  directly (`onednn`), with a oneDNN backward (autograd's own backward of that op goes back to the
  slow kernels): the forward+backward table above.
- **Other dense 2-d (batch 1), 3-d and 1-d with a symmetric W padding >= 7**: the slowdown of oneDNN's direct
  kernel depends on output channels, width and batch (cliffs measured at padding 7, 12 or 16, or
  none). With >= 128 output channels (or a big 1-d input with padding >= 32) `pad_w` won at every
  measured shape, so the rule takes it; otherwise the rule keeps the native call. For calls of
  >= 5e7 multiply-adds the autotune (opt out with `ATROUS_AUTOTUNE=0`) times the rule's route and
  the candidates once, 5-15 rounds in shuffled orders, and keeps a route other than PyTorch's own
  call only if the median of its time over native's, paired within a round, is <= 0.93 (so a
  rule's route that is not clearly faster there falls back to native); a median within 0.05 of
  that margin is measured a second time and the two averaged (one full run kept native for
  N1 C128 L1024 k3 d=8, 1.24x dilation 1, where `pad_w` measured 0.87-0.91 of native in
  separate runs).
- **FFT** (`fft`, overlap-save) for dense 1-d kernels of >= 128 taps with dilation 1 (0.07-0.43 of the
  native time in the table above; 64 taps was a tie), confirmed per shape by the autotune.
- **Transposed**: the sub-pixel form (one convolution per output phase, interleaved) lost to oneDNN's
  deconvolution at most sizes (up to 2.5x slower) and won (0.73-0.87) only with >= 128 input channels
  on >= 128x128 inputs; no rule selects it, the autotune may there.
- Measured and rejected: space-to-batch (slower everywhere, as the issue found), the 2-d fold for
  depthwise (30x slower) and for a batch of 1 (above), a pure PyTorch tap-sum for depthwise
  (1.7-2.6x), a cheaper padding copy (an empty tensor with zeroed borders: no faster than `F.pad`),
  channels-last with the padding folded into the layout copy (PyTorch's transposing copies cost
  more than the `pad_w` copy they replace), a partial im2col along W (3x the input, 1.4-11x).

Misses, where the summary shows them, have been calls whose route is PyTorch's own call
(`route` = `native`) or ratios within the spread between runs. The `A/A` column shows this
harness's noise on each short call (PyTorch's same call timed twice: up to 2-4% apart). The
dispatcher's Python costs about 1.7 us per call in a tight loop on a tiny input, but between
0.15-0.2 ms convolutions (whose work evicts the interpreter's caches) the same path measured 3-5 us
over PyTorch's call, 2-3% of it (the shape key alone, built from the tensors' shapes, dtype and
device, about 1.5 us; keying by the spec object instead saved nothing measurable): that, with the
noise, is the 1.06-1.09 of native-route calls of 0.1-0.3 ms. The same grid's worst ratios moved
between runs on this machine (dense 2-d cost 1.14 / 1.05, 1-d 1.20-1.24, a 40 ms native-route
transposed call 1.01 / 1.14), so one run can meet or miss a target at its edge on noise alone.
"""


def _machine_text() -> str:
    from _common import machine

    cpu = platform.processor() or ""
    avx512 = False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not cpu:
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    avx512 = "avx512f" in line.split()
                    break
    except OSError:
        pass
    import torch

    isa = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
    return f"{machine()}, {cpu or 'unknown CPU'}{' (AVX-512)' if avx512 else ''}, ATen CPU capability {isa}"


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _child(args) -> int:
    import torch

    torch.set_num_threads(THREADS)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: the CUDA grid is skipped.")
        return 0
    quiet = "The machine was quiet (1-min load < 1.5) when the run started."
    waited = 0.0
    if _load() >= args.max_load and args.wait > 0:
        print(
            f"waiting up to {args.wait:.0f} s for a 1-min load average below {args.max_load} (now {_load():.2f}); "
            "--max-load and --wait change this",
            flush=True,
        )
    while _load() >= args.max_load and waited < args.wait:
        time.sleep(min(15, args.wait - waited))
        waited += 15
    load_before = _load()
    if load_before >= args.max_load:
        quiet = (
            f"The machine never got quiet (1-min load {load_before:.2f} >= {args.max_load} after waiting "
            f"{waited:.0f} s): other jobs shared the 2 cores, so single ratios carry noise."
        )
    b = Bench(args.device, args.rounds)
    g = grid(args.full)
    parts = args.parts
    t0 = time.time()
    b.front_end()
    for part, title in (
        ("3d", "3-d, small input"),
        ("2d", "2-d"),
        ("1d", "1-d"),
        ("tr", "transposed"),
        ("fft", "long kernels"),
    ):
        if part in parts:
            print(f"{title}:")
            getattr(b, f"run_{part}")(g[part])
    print(
        f"\n({time.time() - t0:.0f} s; {BUSY['busy_rounds']} of {BUSY['rounds']} rounds started while another task ran)"
    )
    for what, value, target, met in summary(b.rows):
        flag = "" if met is None else ("MET" if met else "MISSED")
        print(f"{what:52} {value:60} {target:>28} {flag}")
    if not args.no_write:
        from _common import write_section

        info = {
            "command": "atrous bench ops" + (" --full" if args.full else ""),
            "machine": _machine_text(),
            "env": " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()),
            "autotune": "off (ATROUS_AUTOTUNE=0)" if os.environ.get("ATROUS_AUTOTUNE") == "0" else "on (the default)",
            "load_before": f"{load_before:.2f}",
            "load_after": f"{_load():.2f}",
            "quiet": quiet,
        }
        title = "Convolution fast paths" + (" (CUDA)" if args.device == "cuda" else "")
        write_section(title, markdown(b, args, info), args.output)
    return 0


PARTS = ("3d", "2d", "1d", "tr", "fft")


def _parts(text: str) -> list[str]:
    """An argparse type: comma-separated names from PARTS."""
    parts = text.split(",")
    bad = [p for p in parts if p not in PARTS]
    if bad or not text:
        raise argparse.ArgumentTypeError(f"must be comma-separated names from {','.join(PARTS)}, got {text!r}")
    return parts


def main(argv: list[str] | None = None) -> int:
    from _common import BenchParser, add_output, nonnegative_float, positive_float, positive_int, run_child

    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole grid of the issue (long)")
    parser.add_argument("--rounds", type=positive_int, default=15, help="interleaved rounds per shape (median)")
    parser.add_argument("--parts", type=_parts, default=list(PARTS), help=f"comma-separated: {','.join(PARTS)}")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--max-load", type=positive_float, default=1.5, help="wait for a 1-min load average below this")
    parser.add_argument("--wait", type=nonnegative_float, default=600, help="seconds to wait for a quiet machine")
    add_output(parser)
    args = parser.parse_args(argv)  # every option checked before anything starts
    if os.environ.get("_ATROUS_BENCH_CHILD") == "1":
        return _child(args)
    env = dict(os.environ, **MALLOC_ENV, _ATROUS_BENCH_CHILD="1", OMP_NUM_THREADS=str(THREADS))
    with tempfile.TemporaryDirectory(prefix="atrous-bench-cache-") as cache:
        env.setdefault("ATROUS_CACHE_DIR", cache)
        argv = list(sys.argv[1:] if argv is None else argv)
        # its own process group, ended with this one (SIGINT, SIGTERM, or this process dying)
        return run_child([sys.executable, str(Path(__file__).resolve()), *argv], env=env)


if __name__ == "__main__":
    sys.exit(main())
