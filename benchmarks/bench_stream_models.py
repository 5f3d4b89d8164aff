"""Benchmark: streaming third-party-style models (a causal SEANet codec, HiFi-GAN V2) in chunks.

Run: python benchmarks/bench_stream_models.py   (writes the "Streaming third-party models"
section of BENCHMARKS.md; `atrous bench stream_models` runs it). Flags: --rounds N,
--seconds S (audio per timed pass), --no-write, --tiny (a smoke test).

Two models as their authors write them, streamed unchanged by `atrous.stream`:

- a causal SEANet-style codec (SoundStream / EnCodec / RAVE layout): causal convs that
  `F.pad` on the left (cached_conv's non-cached layers, or the same few lines locally when
  cached_conv is not installed), residual units with dilations 1, 3, 9, strided convs down by
  (2, 4, 4, 8), `ConvTranspose1d` up, 32 base channels; hop 256 samples;
- the HiFi-GAN V2 generator (mel frames in, 256 samples per frame out; non-causal, so its
  lookahead is the latency), from the analysis zoo (`tests/analysis/zoo/zoo_models.py`).

Side by side, interleaved round-robin, medians, one thread, for chunks of 256 output samples:
(a) the offline forward over the whole signal, per output sample (the floor: no state);
(b) atrous: `Streamer.push` chunk after chunk;
(c) recompute: at every chunk, the model over the last receptive field plus the chunk (what a
    server without state does);
(d) cached_conv (acids-ircam), where it installs, on the same codec with the same weights:
    its cached layers (`use_cached_conv(True)`), delay `cumulative_delay`.
Targets (issue "stream the models people already have"): (b) at most 1.5x (a) per sample, and
at least 10x cheaper than (c). Each streamed output is also compared with the offline forward
delayed by the stream's latency (max abs difference, float32).
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "analysis" / "zoo"))

from bench_stream import _cpu_name, interleaved, spread  # noqa: E402

COMMAND = "python benchmarks/bench_stream_models.py"
CHUNK = 256  # output samples per chunk (the targets)
BIG = 8192  # and a long chunk, for comparison


# ------------------------------------------------------------------------------------------
# the codec, written against a layer module (cached_conv's, or the same layers locally)


def _local_layers() -> SimpleNamespace:
    """cached_conv's non-cached layers, as a user writes them without it."""

    class Conv1d(nn.Conv1d):
        def __init__(self, *args, padding=(0, 0), cumulative_delay=0, **kwargs):
            super().__init__(*args, padding=0, **kwargs)
            self._pad = padding

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(F.pad(x, self._pad))

    class ConvTranspose1d(nn.ConvTranspose1d):
        def __init__(self, *args, cumulative_delay=0, **kwargs):
            super().__init__(*args, **kwargs)

    def get_padding(k: int, stride: int = 1, dilation: int = 1, mode: str = "causal") -> tuple[int, int]:
        return ((k - 1) * dilation, 0)

    return SimpleNamespace(Conv1d=Conv1d, ConvTranspose1d=ConvTranspose1d, get_padding=get_padding)


def _layers(cached: bool) -> tuple[SimpleNamespace | object, str]:
    try:
        import cached_conv as cc  # type: ignore[import-not-found]
    except Exception as e:
        if cached:
            raise
        return _local_layers(), f"cached_conv not installed ({type(e).__name__}); local F.pad layers"
    cc.use_cached_conv(cached)
    return cc, f"cached_conv {getattr(cc, '__version__', '')}".strip()


class ResUnit(nn.Module):
    def __init__(self, L, ch: int, d: int, delay: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(),
            L.Conv1d(
                ch, ch, 3, dilation=d, padding=L.get_padding(3, dilation=d, mode="causal"), cumulative_delay=delay
            ),
            nn.ELU(),
            L.Conv1d(ch, ch, 1, cumulative_delay=delay),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Codec(nn.Module):
    """A causal SEANet-style encoder-decoder (no quantiser): what RAVE / EnCodec stream."""

    def __init__(self, L, c: int = 32, ratios: tuple[int, ...] = (2, 4, 4, 8)) -> None:
        super().__init__()
        enc: list[nn.Module] = [L.Conv1d(1, c, 7, padding=L.get_padding(7, mode="causal"))]
        ch = c
        for r in ratios:
            enc += [ResUnit(L, ch, d, 0) for d in (1, 3, 9)]
            enc += [nn.ELU(), L.Conv1d(ch, 2 * ch, 2 * r, stride=r, padding=L.get_padding(2 * r, r, mode="causal"))]
            ch *= 2
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        delay = 0  # cached_conv's bookkeeping of the decoder's delay (its layers need it passed in)
        for r in reversed(ratios):
            up = L.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2, cumulative_delay=delay)
            delay = r // 2 + delay * r
            ch //= 2
            dec += [nn.ELU(), up] + [ResUnit(L, ch, d, delay) for d in (1, 3, 9)]
        dec += [nn.ELU(), L.Conv1d(ch, 1, 7, padding=L.get_padding(7, mode="causal"), cumulative_delay=delay)]
        self.decoder = nn.Sequential(*dec)
        self.delay = delay  # in samples, for cached_conv's stream
        self.hop = math.prod(ratios)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# ------------------------------------------------------------------------------------------
# timing cases


def _offline(model: nn.Module, x: torch.Tensor) -> Callable[[int], None]:
    def run(iters: int) -> None:
        with torch.inference_mode():
            for _ in range(iters):
                model(x)

    return run


def _stream(streamer, chunks: list[torch.Tensor]) -> Callable[[int], None]:
    def run(iters: int) -> None:
        for _ in range(iters):
            streamer.reset()
            for ch in chunks:
                streamer.push(ch)

    return run


def _recompute(model: nn.Module, x: torch.Tensor, step: int, window: int) -> Callable[[int], None]:
    """At every chunk, the model over the last ``window`` input samples (the receptive field
    plus the chunk), keeping its last outputs."""
    T = x.shape[2]

    def run(iters: int) -> None:
        with torch.inference_mode():
            for _ in range(iters):
                for end in range(step, T + 1, step):
                    model(x[:, :, max(0, end - window) : end])

    return run


def _cached(model: nn.Module, chunks: list[torch.Tensor]) -> Callable[[int], None]:
    def reset() -> None:
        for m in model.modules():
            for name in ("pad", "cache"):
                b = m._buffers.get(name)
                if isinstance(b, torch.Tensor):
                    b.zero_()

    def run(iters: int) -> None:
        with torch.no_grad():
            for _ in range(iters):
                reset()
                for ch in chunks:
                    model(ch)

    return run


def _fmt_us(s: float) -> str:
    return f"{s * 1e6:.2f} us"


def _rows(title: str, per: dict[str, float]) -> list[tuple[str, ...]]:
    """One table row per method: its cost per output sample and its ratio to atrous's."""
    return [(title, k, _fmt_us(v), f"{v / per['atrous']:.2f}x") for k, v in per.items()]


def _targets(label: str, per: dict[str, float]) -> list[tuple[str, float, str, bool]]:
    """The issue's two targets for one model, with the spread of the per-round ratios."""
    out = []
    for num, den, goal, ok in (("atrous", "offline", "<= 1.5x", lambda r: r <= 1.5),
                               ("recompute", "atrous", ">= 10x", lambda r: r >= 10)):  # fmt: skip
        lo, hi = spread(num, den)
        ratio = per[num] / per[den]
        name = f"{label}: {num} / {den}" + (" per sample" if den == "offline" else "")
        out.append((name, ratio, f"(rounds {lo:.2f}-{hi:.2f}) {goal}", ok(ratio)))
    return out


# ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    try:
        from _common import BENCHMARKS, BenchParser, positive_float, positive_int, write_section
    except Exception:  # pragma: no cover - run from elsewhere
        raise
    p = BenchParser(prog="bench_stream_models", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=positive_int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--seconds", type=positive_float, default=2.0, help="seconds of 16 kHz audio per pass")
    p.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    p.add_argument("--tiny", action="store_true", help="a smoke test: small models, one round")
    p.add_argument("--output", type=Path, default=BENCHMARKS, help="the file to write (default BENCHMARKS.md)")
    args = p.parse_args(argv)

    from zoo_models import HifiGanLike  # type: ignore[import-not-found]

    import atrous
    import atrous.stream as ast

    torch.set_num_threads(1)
    torch.manual_seed(0)
    load = os.getloadavg()[0]
    rounds = 1 if args.tiny else args.rounds
    samples = 4096 if args.tiny else int(args.seconds * 16000) // CHUNK * CHUNK
    rows: list[tuple[str, ...]] = []
    checks: list[tuple[str, float, str, bool]] = []
    notes: list[str] = []

    # ---------------------------------------------------------------- codec
    c, ratios = (8, (2, 4)) if args.tiny else (32, (2, 4, 4, 8))
    L, layers_note = _layers(False)
    codec = Codec(L, c, ratios).eval()
    hop = codec.hop
    x = torch.randn(1, 1, samples)
    s = ast.stream(codec, input_shape=(1, 1, 4 * hop))
    rf = atrous.analyze(codec, (1, 1, max(samples, 64 * hop))).field().size[0]
    chunks = list(x.split(CHUNK, dim=2))
    with torch.inference_mode():
        ref = codec(x)
    y = torch.cat([s.push(ch) for ch in chunks] + [s.flush()], dim=2)
    err = (y[:, :, : ref.shape[2]] - ref).abs().max().item()
    window = (rf + CHUNK + hop - 1) // hop * hop
    cases = {
        "offline": (_offline(codec, x), 1),
        "atrous": (_stream(s, chunks), 1),
        "recompute": (_recompute(codec, x, CHUNK, window), 1),
        f"atrous, chunks of {BIG}": (_stream(s, list(x.split(BIG, dim=2))), 1),
    }
    cc_note = ""
    cc_err = None
    if not isinstance(L, SimpleNamespace):
        Lc, _ = _layers(True)
        cached = Codec(Lc, c, ratios).eval()
        missing, _unexpected = cached.load_state_dict(codec.state_dict(), strict=False)
        assert not [k for k in missing if not k.endswith(("pad", "cache"))], missing
        with torch.no_grad():
            yc = torch.cat([cached(ch) for ch in chunks], dim=2)
        d = cached.delay
        diff = (yc[:, :, d:] - ref[:, :, : samples - d]).abs()[0, 0]
        cc_err = diff[rf:].max().item()
        cases["cached_conv"] = (_cached(cached, chunks), 1)
        cc_note = (
            f"cached_conv's stream (delay {d} samples: `cumulative_delay`) against the offline forward: max |diff| "
            f"{cc_err:.2e} after the first {rf} samples, {diff[:rf].max().item():.2e} within them (its first "
            "outputs are not the offline model's: a cached transposed layer passes on the samples the offline "
            "one crops as padding)."
        )
        L.use_cached_conv(False)
    t = interleaved(cases, rounds)
    per = {k: v / samples for k, v in t.items()}
    title = f"causal SEANet codec (c={c}, ratios {ratios}, hop {hop}; receptive field {rf} samples)"
    rows += _rows(title, per)
    checks += _targets("codec", per)
    if "cached_conv" in per:
        lo, hi = spread("cached_conv", "atrous")
        notes.append(
            f"codec: cached_conv / atrous per sample {per['cached_conv'] / per['atrous']:.2f}x (rounds {lo:.2f}-{hi:.2f})."
        )
    codec_per = dict(per)
    codec_nodes = len(s.graph.nodes)
    notes.append(
        f"codec: latency {s.latency} samples ({1000 * s.latency / 16000:.2f} ms at 16 kHz), atrous's stream against "
        f"the offline forward: max |diff| {err:.2e}. {cc_note} Layers: {layers_note}."
    )

    # ---------------------------------------------------------------- HiFi-GAN V2
    if args.tiny:
        hg = HifiGanLike(mels=8, c=16, rates=(4, 4), kernels=(8, 8), resblock_kernels=(3, 7)).eval()
    else:
        hg = HifiGanLike(mels=80, c=128, rates=(8, 8, 2, 2), kernels=(16, 16, 4, 4), resblock_kernels=(3, 7, 11)).eval()
    mels = hg.conv_pre.in_channels
    sh = ast.stream(hg, input_shape=(1, mels, 16))
    hop_h = int(sh.rate)
    frames = samples // hop_h
    m = torch.randn(1, mels, frames)
    per_chunk = max(1, CHUNK // hop_h)
    mchunks = list(m.split(per_chunk, dim=2))
    with torch.inference_mode():
        ref = hg(m)
    yh = torch.cat([sh.push(ch) for ch in mchunks] + [sh.flush()], dim=2)
    herr = (yh - ref).abs().max().item()
    rf_frames = atrous.analyze(hg, (1, mels, frames)).field().size[0]
    cases = {
        "offline": (_offline(hg, m), 1),
        "atrous": (_stream(sh, mchunks), 1),
        "recompute": (_recompute(hg, m, per_chunk, rf_frames + per_chunk), 1),
        f"atrous, chunks of {BIG}": (_stream(sh, list(m.split(max(1, BIG // hop_h), dim=2))), 1),
    }
    t = interleaved(cases, rounds)
    out_samples = frames * hop_h
    per = {k: v / out_samples for k, v in t.items()}
    title = f"HiFi-GAN V2 ({hop_h} samples per mel frame; receptive field {rf_frames} frames)"
    rows += _rows(title, per)
    checks += _targets("HiFi-GAN", per)
    notes.append(
        f"HiFi-GAN: chunks of {per_chunk} frame(s) = {per_chunk * hop_h} samples; latency {sh.latency} samples "
        f"({1000 * sh.latency / 22050:.1f} ms at 22.05 kHz: its lookahead); atrous's stream against the offline "
        f"forward: max |diff| {herr:.2e}."
    )

    big = f"atrous, chunks of {BIG}"
    why = (
        f"Why the {CHUNK}-sample targets are missed: a chunk of {CHUNK} samples is one frame at these models' hop, "
        f"so every node of the streaming graph ({codec_nodes} for the codec, {len(sh.graph.nodes)} for HiFi-GAN) runs "
        "once per chunk on a few samples, and at that size each PyTorch call costs its fixed dispatch and kernel "
        "set-up rather than its arithmetic (the offline forward makes the same calls once for the whole signal). "
        f"The same streams in chunks of {BIG} samples cost {codec_per[big] / codec_per['offline']:.2f}x (codec) and "
        f"{per[big] / per['offline']:.2f}x (HiFi-GAN) the offline forward per sample."
    )
    if "cached_conv" in codec_per:
        why += (
            f" cached_conv, which runs the codec's own layers with their caches and no graph, costs "
            f"{codec_per['cached_conv'] / codec_per['offline']:.2f}x the offline forward at {CHUNK}-sample chunks: "
            "the fixed cost is the framework's, not the bookkeeping's."
        )
    notes.append(why)

    table = ["| model | method | per output sample | vs atrous |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c_} | {d_} |" for a, b, c_, d_ in rows]
    table += ["", "| target | measured | goal | result |", "|---|---|---|---|"]
    for name, value, goal, ok in checks:
        table.append(f"| {name} | {value:.2f}x | {goal} | {'PASS' if ok else 'MISS'} |")
    text = "\n".join(table)
    print(text)
    for n_ in notes:
        print(n_)
    for name, value, goal, ok in checks:
        if not ok:
            print(f"MISSED: {name}: {value:.2f}x (goal {goal.split(') ')[-1]}).")
    if load > 1.5:
        notes.append(
            f"The load average was {load:.1f} when the run started: absolute times are noisy; the ratios are of interleaved medians."
        )
    if not args.no_write and not args.tiny:
        header = (
            f"Written by `{COMMAND}` (`atrous bench stream_models`) on {_cpu_name()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}, 1 thread, Python {platform.python_version()}, load average {load:.1f} at "
            f"start; {samples} samples ({samples / 16000:.2f} s at 16 kHz) per pass, chunks of {CHUNK} output "
            f"samples, median of {rounds} interleaved rounds."
        )
        write_section("Streaming third-party models", header + "\n\n" + text + "\n\n" + "\n\n".join(notes), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
