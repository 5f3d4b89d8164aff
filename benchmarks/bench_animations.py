"""Benchmark of `atrous.viz.conv_arithmetic_set`: regenerating conv_arithmetic's 16 animations.

Run: python benchmarks/bench_animations.py   (writes the "Animations" section of BENCHMARKS.md)

Target (issue: animations): the whole set (8 convolutions, their 7 transposed, the dilated
transposed; 2-d, GIF) in under 5 s on a 2-core CPU. Each run starts cold (plan and layout caches
cleared) and writes into a fresh temporary directory; the median of 5 runs is reported.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import BenchParser, add_output, positive_int, write_section

TARGET_S = 5.0


def _machine() -> str:
    import PIL

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()}, {cores} usable CPUs ({os.cpu_count()} total), Python {platform.python_version()}, "
        f"Pillow {PIL.__version__}"
    )


def run_once(formats: tuple[str, ...]) -> tuple[float, list[Path], int, int]:
    """One cold run: seconds, paths, total frames, total bytes."""
    from PIL import Image

    from atrous.viz import conv_arithmetic_set
    from atrous.viz.animate import _cache_clear

    _cache_clear()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = conv_arithmetic_set(tmp, formats=formats)
        elapsed = time.perf_counter() - t
        frames = 0
        for p in paths:
            with Image.open(p) as im:
                frames += getattr(im, "n_frames", 1)
        size = sum(p.stat().st_size for p in paths)
        names = [Path(p.name) for p in paths]
    return elapsed, names, frames, size


def main(argv: list[str] | None = None) -> int:
    parser = BenchParser(description=__doc__)
    parser.add_argument("--repeats", type=positive_int, default=5, help="runs per format (median; >= 1)")
    add_output(parser)
    args = parser.parse_args(argv)

    t = time.perf_counter()
    import atrous.viz  # noqa: F401  (import cost reported separately)

    t_import = time.perf_counter() - t
    first, names, frames, size = run_once(("gif",))  # includes loading the font
    gif = [run_once(("gif",))[0] for _ in range(args.repeats)]
    apng = [run_once(("apng",))[0] for _ in range(args.repeats)]
    t_gif, t_apng = statistics.median(gif), statistics.median(apng)
    ok = t_gif < TARGET_S
    print(f"import atrous.viz: {t_import * 1000:.0f} ms")
    print(f"conv_arithmetic_set (gif): first run {first:.3f} s, median of {args.repeats} {t_gif:.3f} s")
    print(f"conv_arithmetic_set (apng): median of {args.repeats} {t_apng:.3f} s")
    print(
        f"{len(names)} files, {frames} frames, {size / 1024:.0f} KiB; target < {TARGET_S:.0f} s: {'ok' if ok else 'MISSED'}"
    )

    if not args.no_write:
        body = f"""
Written by `python benchmarks/bench_animations.py` on {_machine()}.

Regenerating conv_arithmetic's set with `atrous.viz.conv_arithmetic_set` (8 convolutions, their 7
transposed, the dilated transposed; 2-d, 20 px cells, one frame per output cell). Each run is
cold (plan and layout caches cleared) and writes into a fresh temporary directory.

| what | time | notes | target | met |
|---|---|---|---|---|
| conv_arithmetic_set, GIF (median of {args.repeats}) | {t_gif:.2f} s | {len(names)} files, {frames} frames, {size / 1024:.0f} KiB | < {TARGET_S:.0f} s | {"yes" if ok else "no"} |
| conv_arithmetic_set, GIF (first run, font loading) | {first:.2f} s | | | |
| conv_arithmetic_set, APNG (median of {args.repeats}) | {t_apng:.2f} s | | | |
| import atrous.viz | {t_import * 1000:.0f} ms | | | |
"""
        write_section("Animations", body, args.output)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
