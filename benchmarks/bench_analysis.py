"""Benchmark of `atrous.analyze` and `atrous.erf` on ResNet-50 at 224x224.

Run: python benchmarks/bench_analysis.py   (writes the "Analysis" section of BENCHMARKS.md)

Targets (issue: analysis): analysing a ResNet-50-sized graph (about 170 nodes) in under 1 s
without allocating activations; its ERF with 16 samples in under 30 s.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchParser, add_output, machine, median_time, positive_int, write_section


def main(argv: list[str] | None = None) -> int:
    parser = BenchParser(description=__doc__)
    parser.add_argument("--repeats", type=positive_int, default=5, help="runs of analyze (median; >= 1)")
    parser.add_argument("--samples", type=positive_int, default=16, help="ERF samples (>= 1)")
    add_output(parser)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)

    from atrous.analysis import analyze, erf
    from atrous.analysis.builtin import resnet50

    model = resnet50()
    shape = (1, 3, 224, 224)
    report = analyze(model, shape)  # warm-up (imports, fx)
    nodes = len(report.nodes)
    t_analyze = median_time(lambda: analyze(model, shape), repeats=args.repeats, warmup=0)
    tracemalloc.start()
    analyze(model, shape)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    activation_bytes = sum(4 * max(1, torch.Size(n.shape).numel()) for n in report.nodes if n.shape)

    backbone = resnet50(num_classes=None)  # up to layer4: the ERF of its centre output
    t = time.perf_counter()
    e = erf(backbone, shape, samples=args.samples)
    t_erf = time.perf_counter() - t

    rows = [
        ("analyze(resnet50, 1x3x224x224)", f"{t_analyze * 1000:.0f} ms", f"{nodes} nodes", "< 1 s", t_analyze < 1.0),
        (
            f"erf(resnet50 backbone, {args.samples} samples)",
            f"{t_erf:.1f} s",
            f"sigma {e.sigma[0]:.1f} px, r90 {e.radii[0.9]:.0f} px, TRF {e.trf[0]}",
            "< 30 s",
            t_erf < 30.0,
        ),
    ]
    print(f"{'what':40} {'time':>10}  {'detail':28} target")
    for what, value, detail, target, ok in rows:
        print(f"{what:40} {value:>10}  {detail:28} {target} {'PASS' if ok else 'MISS'}")
    print(
        f"python heap peak during analyze: {peak / 2**20:.1f} MiB (activations at batch 1 would be {activation_bytes / 2**20:.0f} MiB)"
    )
    if not args.no_write:
        body = (
            "Command: `python benchmarks/bench_analysis.py` (median of "
            f"{args.repeats} runs for analyze; one ERF run). Machine: {machine()}.\n\n"
            "| what | time | detail | target | |\n|---|---|---|---|---|\n"
            + "\n".join(f"| {w} | {v} | {d} | {t} | {'met' if ok else 'missed'} |" for w, v, d, t, ok in rows)
            + f"\n\nThe analysis runs on the meta device: the Python heap peaked at {peak / 2**20:.1f} MiB, "
            f"while ResNet-50's activations at batch 1 take {activation_bytes / 2**20:.0f} MiB.\n"
        )
        write_section("Analysis", body, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
