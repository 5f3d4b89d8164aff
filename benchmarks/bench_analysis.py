"""Benchmark of `atrous.analyze`, `Field.support` and `atrous.erf`.

Run: python benchmarks/bench_analysis.py   (writes the "Analysis" section of BENCHMARKS.md)

Targets (issue: analysis of the models people already have):
- `analyze` of every model of the zoo (tests/analysis/zoo) under 1 s, and of a ResNet-50
  graph (about 170 nodes) under 1 s without allocating activations;
- `support(y)` of ResNet-50, a HiFi-GAN V1 generator and an 18-block residual chain under
  10 ms per query, beside the tree walk that re-walks every branch of every merge (the
  algorithm before the memoised walk; exponential in the number of merges, timed here only
  where it ends in seconds);
- the ERF of the ResNet-50 backbone with 16 samples under 30 s.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "analysis" / "zoo"))

import torch
from _common import BenchParser, add_output, machine, median_time, positive_int, write_section
from torch import nn


class ResidualChain(nn.Module):
    """``x = x + conv(relu(conv(x)))``, ``blocks`` times (dilations 1, 2, 4, ... cycling)."""

    def __init__(self, blocks: int, c: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(c, c, 3, padding=2 ** (i % 4), dilation=2 ** (i % 4)), nn.ReLU(),
                          nn.Conv1d(c, c, 3, padding=1))
            for i in range(blocks)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.convs:
            x = x + block(x)
        return x


def tree_support(field, y: int) -> set[int]:
    """The earlier algorithm: walk back from the output, re-walking each branch of a merge
    separately (no memo): the baseline of the support timing."""
    from atrous.geometry._runs import fold_position
    from atrous.geometry.field import axis_taps

    def back(f, positions: set[int]) -> set[int]:
        while True:
            if f._branches:
                out: set[int] = set()
                for br in f._branches:
                    out |= back(br, positions)
                return out
            if f.axis is None or f._parent is None:
                return positions
            parent = f._parent
            new: set[int] = set()
            for y in positions:
                for x in axis_taps(f.axis, y):
                    folded = fold_position(x, parent.length, f.boundary)
                    if folded is not None:
                        new.add(folded)
            positions, f = new, parent

    return back(field, {y})


def _per_query(field, queries: list[int]) -> tuple[float, float]:
    """(first query incl. the graph's order, median of the others) in seconds."""
    t = time.perf_counter()
    field.support(queries[0])
    first = time.perf_counter() - t
    times = []
    for y in queries[1:]:
        t = time.perf_counter()
        field.support(y)
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = BenchParser(description=__doc__)
    parser.add_argument("--repeats", type=positive_int, default=5, help="runs of analyze (median; >= 1)")
    parser.add_argument("--samples", type=positive_int, default=16, help="ERF samples (>= 1)")
    add_output(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")

    from zoo_models import ZOO, HifiGanLike

    from atrous.analysis import analyze, erf
    from atrous.analysis.builtin import resnet50

    rows: list[tuple[str, str, str, str, bool]] = []
    # --- analyze: the zoo
    zoo_times = {}
    for name, entry in ZOO.items():
        model, shape = entry.build()
        analyze(model, shape, input_layout=entry.input_layout)
        zoo_times[name] = median_time(
            lambda m=model, s=shape, e=entry: analyze(m, s, input_layout=e.input_layout), repeats=3, warmup=0
        )
    worst = max(zoo_times, key=zoo_times.get)  # type: ignore[arg-type]
    rows.append((f"analyze, each of the {len(ZOO)} zoo models", f"{zoo_times[worst] * 1000:.0f} ms",
                 f"worst: {worst}; median {statistics.median(zoo_times.values()) * 1000:.0f} ms", "< 1 s",
                 zoo_times[worst] < 1.0))  # fmt: skip

    # --- analyze: ResNet-50
    model = resnet50()
    shape = (1, 3, 224, 224)
    report = analyze(model, shape)
    nodes = len(report.nodes)
    t_analyze = median_time(lambda: analyze(model, shape), repeats=args.repeats, warmup=0)
    tracemalloc.start()
    analyze(model, shape)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    activation_bytes = sum(4 * max(1, torch.Size(n.shape).numel()) for n in report.nodes if n.shape)
    rows.append(
        ("analyze(resnet50, 1x3x224x224)", f"{t_analyze * 1000:.0f} ms", f"{nodes} nodes", "< 1 s", t_analyze < 1.0)
    )

    # --- support per query
    rng = random.Random(0)
    cases = [
        ("resnet50 layer4 (7x7 of 224)", resnet50(num_classes=None), (1, 3, 224, 224)),
        (
            "HiFi-GAN V1 (32 ch, 8 frames)",
            HifiGanLike(mels=80, c=32, rates=(8, 8, 2, 2), kernels=(16, 16, 4, 4), resblock_kernels=(3, 7, 11)),
            (1, 80, 8),
        ),
        ("residual chain, 18 blocks", ResidualChain(18), (1, 2, 128)),
    ]
    for label, net, shp in cases:
        f = analyze(net, shp).field()[0]
        queries = [rng.randrange(f.length) for _ in range(21)]
        first, per = _per_query(f, queries)
        rows.append((f"support(y): {label}", f"{per * 1000:.2f} ms", f"first query {first * 1000:.1f} ms",
                     "< 10 ms", per < 0.010))  # fmt: skip
    # the tree walk beside the memoised walk on residual chains of growing depth
    growth = []
    for blocks in (8, 10, 12, 14, 18):
        f = analyze(ResidualChain(blocks), (1, 2, 128)).field()[0]
        y = 64
        t = time.perf_counter()
        memo = f.support(y)
        t_memo = time.perf_counter() - t
        if blocks <= 14:
            t = time.perf_counter()
            tree = tree_support(f, y)
            t_tree = time.perf_counter() - t
            assert tree == set(memo), blocks
            growth.append((blocks, t_tree, t_memo))
        else:
            growth.append((blocks, None, t_memo))

    # --- ERF
    backbone = resnet50(num_classes=None)
    t = time.perf_counter()
    e = erf(backbone, shape, samples=args.samples)
    t_erf = time.perf_counter() - t
    rows.append((f"erf(resnet50 backbone, {args.samples} samples)", f"{t_erf:.1f} s",
                 f"sigma {e.sigma[0]:.1f} px, r90 {e.radii[0.9]:.0f} px, TRF {e.trf[0]}", "< 30 s", t_erf < 30.0))  # fmt: skip

    print(f"{'what':46} {'time':>10}  {'detail':44} target")
    for what, value, detail, target, ok in rows:
        print(f"{what:46} {value:>10}  {detail:44} {target} {'PASS' if ok else 'MISS'}")
    print("support(64) of a residual chain: blocks, tree walk, memoised walk")
    for blocks, t_tree, t_memo in growth:
        tree_text = "not run" if t_tree is None else f"{t_tree * 1000:.1f} ms"
        print(f"  {blocks:3d}  {tree_text:>12}  {t_memo * 1000:.2f} ms")
    print(
        f"python heap peak during analyze: {peak / 2**20:.1f} MiB (activations at batch 1: {activation_bytes / 2**20:.0f} MiB)"
    )
    if not args.no_write:
        zoo_table = "\n".join(
            f"| {n} | {t * 1000:.0f} ms |" for n, t in sorted(zoo_times.items(), key=lambda kv: -kv[1])
        )
        growth_table = "\n".join(
            f"| {b} | {'not run' if tt is None else f'{tt * 1000:.1f} ms'} | {tm * 1000:.2f} ms |"
            for b, tt, tm in growth
        )
        body = (
            "Command: `python benchmarks/bench_analysis.py` (medians; analyze of the zoo: 3 runs each). "
            f"Machine: {machine()}.\n\n"
            "| what | time | detail | target | |\n|---|---|---|---|---|\n"
            + "\n".join(f"| {w} | {v} | {d} | {t} | {'met' if ok else 'missed'} |" for w, v, d, t, ok in rows)
            + f"\n\nThe analysis runs on the meta device: the Python heap peaked at {peak / 2**20:.1f} MiB, "
            f"while ResNet-50's activations at batch 1 take {activation_bytes / 2**20:.0f} MiB.\n\n"
            "`support(64)` of a residual chain (`x = x + conv(relu(conv(x)))` per block), the tree walk "
            "that re-walks both branches of every merge beside the memoised walk (same answer, asserted):\n\n"
            "| blocks | tree walk | memoised |\n|---|---|---|\n"
            + growth_table
            + "\n\n`analyze` per zoo model (median of 3):\n\n| model | time |\n|---|---|\n"
            + zoo_table
            + "\n"
        )
        write_section("Analysis", body, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
