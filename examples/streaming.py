"""Streaming a codec and a vocoder in chunks: exact output, latency and real-time factor.

Two models written the way audio people write them, streamed unchanged by
:func:`atrous.stream.stream`:

* a causal codec-style encoder-decoder (SoundStream / EnCodec layout, no quantiser): causal
  convolutions that ``F.pad`` on the left, residual units with dilations 1, 3, 9, strided
  convolutions down by (2, 4, 8), ``ConvTranspose1d`` up (hop 64 samples, 16 kHz);
* a HiFi-GAN-style vocoder (mel frames in, 64 samples per frame out, 22.05 kHz): non-causal,
  so its lookahead is the latency, from the analysis zoo's layout (transposed upsampling and
  multi-receptive-field fusion).

For each: the streamed output in float64 against the offline forward (the whole signal at
once) for chunks of every size, the algorithmic latency (``Streamer.latency``, exact: the
largest lag of an output behind its own input sample, over the graph's whole period), the
buffering latency of a chunk (its first sample waits for its last) and the measured real-time
factor per chunk size (median compute time of a chunk over its duration; one thread).

Run::

    python examples/streaming.py --quick --threads 1
    python examples/streaming.py --threads 1      # the full run, writes docs/results/
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

import atrous
from atrous.stream import stream

NAME = "streaming"


class CausalConv1d(nn.Conv1d):
    """A causal convolution as users write it: ``F.pad`` on the left, then a valid conv."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, ((self.kernel_size[0] - 1) * self.dilation[0], 0)))


class ResUnit(nn.Module):
    def __init__(self, ch: int, d: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ELU(), CausalConv1d(ch, ch, 3, dilation=d), nn.ELU(), nn.Conv1d(ch, ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Codec(nn.Module):
    def __init__(self, c: int = 16, ratios: tuple[int, ...] = (2, 4, 8)) -> None:
        super().__init__()
        enc: list[nn.Module] = [CausalConv1d(1, c, 7)]
        ch = c
        for r in ratios:
            enc += [ResUnit(ch, d) for d in (1, 3, 9)] + [nn.ELU(), CausalConv1d(ch, 2 * ch, 2 * r, stride=r)]
            ch *= 2
        dec: list[nn.Module] = []
        for r in reversed(ratios):
            dec += [nn.ELU(), nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2)]
            ch //= 2
            dec += [ResUnit(ch, d) for d in (1, 3, 9)]
        dec += [nn.ELU(), CausalConv1d(ch, 1, 7), nn.Tanh()]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class MRFBlock(nn.Module):
    """HiFi-GAN's residual block: dilations 1, 3, 5 with 'same' padding."""

    def __init__(self, ch: int, k: int) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, dilation=d, padding=d * (k - 1) // 2) for d in (1, 3, 5))
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class Vocoder(nn.Module):
    def __init__(self, mels: int = 20, c: int = 64, rates: tuple[int, ...] = (8, 4, 2), kernels=(3, 7)) -> None:
        super().__init__()
        self.pre = nn.Conv1d(mels, c, 7, padding=3)
        self.ups, self.mrf = nn.ModuleList(), nn.ModuleList()
        for i, r in enumerate(rates):
            cin, cout = c // 2**i, c // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(cin, cout, 2 * r, r, padding=r // 2))
            self.mrf.append(nn.ModuleList(MRFBlock(cout, k) for k in kernels))
        self.post = nn.Conv1d(c // 2 ** len(rates), 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.pre(mel)
        for up, blocks in zip(self.ups, self.mrf, strict=True):
            h = up(F.leaky_relu(h, 0.1))
            h = sum(b(h) for b in blocks) / len(blocks)
        return torch.tanh(self.post(F.leaky_relu(h)))


def exactness(model: nn.Module, x: torch.Tensor, chunk: int) -> float:
    """Largest |streamed - offline| in float64, chunk after chunk, the tail flushed."""
    m = model.double()
    s = stream(m, input_shape=(1, x.shape[1], max(16, min(x.shape[2], 256))))
    with torch.inference_mode():
        ref = m(x.double())
    y = torch.cat([s.push(c) for c in x.double().split(chunk, dim=2)] + [s.flush()], dim=2)
    model.float()
    return float((y - ref).abs().max())


def timing(model: nn.Module, x: torch.Tensor, chunk: int, rate: float, per_input: int, budget: float) -> dict:
    """Median compute time of a chunk (``chunk`` input units, ``per_input`` output samples each)
    and the real-time factor at ``rate`` output samples per second."""
    s = stream(model, input_shape=(1, x.shape[1], max(16, min(x.shape[2], 256))))
    parts = list(x.split(chunk, dim=2))[: max(3, x.shape[2] // chunk)]
    for c in parts[:2]:  # warm-up (the fast paths' first decisions)
        s.push(c)
    s.reset()
    times = []
    started = time.perf_counter()
    for c in parts:
        t = time.perf_counter()
        s.push(c)
        times.append(time.perf_counter() - t)
        if len(times) >= 3 and t - started > budget:
            break
    compute = statistics.median(times)
    return {"compute_ms": 1000 * compute, "rtf": compute / (chunk * per_input / rate), "chunks_timed": len(times)}


def build_parser():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--seconds", type=common.positive_float("--seconds"), help="audio per model (default 4, quick 0.5)")
    return p


def main(argv=None) -> int:
    args = common.parse(build_parser(), argv)
    t0 = time.perf_counter()
    dist = common.distributed(args.device)
    common.seed_everything(args.seed)
    torch.manual_seed(args.seed)
    seconds = args.seconds or (0.5 if args.quick else 4.0)
    budget = 0.5 if args.quick else 5.0
    models = {
        "codec": dict(model=Codec(8 if args.quick else 16).eval(), rate=16000.0, unit="samples", cin=1, trace=256),
        "vocoder": dict(model=Vocoder(20, 32 if args.quick else 64).eval(), rate=22050.0, unit="frames", cin=20,
                        trace=16),
    }  # fmt: skip
    chunks = {"codec": [64, 256, 1024, 4096], "vocoder": [1, 4, 16, 64]}  # input units: samples / mel frames
    rows, data = [], {}
    for name, m in models.items():
        model, rate, cin = m["model"], m["rate"], m["cin"]
        s = stream(model, input_shape=(1, cin, m["trace"]))
        per_input = int(s.rate)  # output samples per input unit
        s.sample_rate = rate / per_input  # input units per second (for Streamer.latency_ms)
        n_in = int(seconds * rate) // per_input
        x = torch.randn(1, cin, n_in)
        info = {
            "latency_samples": s.latency,
            "latency_ms": s.latency_ms,
            "rate": str(s.rate),
            "field": atrous.analyze(model, (1, cin, n_in)).field().size[0],
            "chunks": [],
        }
        for c in chunks[name]:
            err = exactness(model, x, c)
            t = timing(model, x, c, rate, per_input, budget)
            buffering_ms = 1000 * (c * per_input - 1) / rate
            entry = {"chunk": c, "chunk_samples": c * per_input, "max_error_float64": err, "buffering_ms": buffering_ms,
                     "total_latency_ms": info["latency_ms"] + buffering_ms, **t}  # fmt: skip
            info["chunks"].append(entry)
            rows.append([name, f"{c} {m['unit']} ({c * per_input} samples)", f"{info['latency_ms']:.2f}",
                         f"{buffering_ms:.2f}", f"{entry['total_latency_ms']:.2f}", f"{t['compute_ms']:.2f}",
                         f"{t['rtf']:.3f}", f"{err:.1e}"])  # fmt: skip
        data[name] = info
    figures = make_figures(data, models, chunks)
    text = describe(data, seconds, models)
    common.save(args, dist, script=__file__, name=NAME, title="Streaming a codec and a vocoder: exact, with its latency",
                text=text,
                header=["model", "chunk", "algorithmic latency (ms)", "buffering (ms)", "total latency (ms)",
                        "compute per chunk (ms)", "real-time factor", "max error (float64)"],
                rows=rows, figures=figures, data=data, started=t0)  # fmt: skip
    common.finish(dist)
    return 0


def describe(data: dict, seconds: float, models: dict) -> str:
    c, v = data["codec"], data["vocoder"]
    worst = max(e["max_error_float64"] for d in data.values() for e in d["chunks"])
    fast = {name: [e for e in d["chunks"] if e["rtf"] < 1] for name, d in data.items()}
    parts = [
        f"{seconds:g} s of random input per model, streamed with `atrous.stream.stream` in float64 (exactness) and "
        f"float32 (timing, {torch.get_num_threads()} thread(s)). The codec (causal, hop 64, receptive field "
        f"{c['field']} samples) has an algorithmic latency of {c['latency_samples']} samples ({c['latency_ms']:.2f} ms at "
        f"16 kHz): its transposed layers' lookahead, which a causal encoder does not remove. The vocoder ({v['rate']} "
        f"samples per mel frame, receptive field {v['field']} frames) waits for {v['latency_samples']} frame(s) past its "
        f"own ({v['latency_ms']:.2f} ms at 22.05 kHz): its 'same' paddings look ahead.",
        f"Every chunking reproduces the offline forward: the largest difference is {worst:.1e} (float64 rounding; "
        "expected: a float64 rounding error, since every output is computed by the same operations on the same "
        "samples).",
    ]
    for name, rows in fast.items():
        if rows:
            first = rows[0]
            parts.append(
                f"The {name} runs faster than real time from chunks of {first['chunk_samples']} samples "
                f"(real-time factor {first['rtf']:.2f}, total latency {first['total_latency_ms']:.1f} ms)."
            )
        else:
            parts.append(f"The {name} did not run faster than real time at any chunk size measured here.")
    parts.append(
        "Small chunks cost more per sample: every layer runs once per chunk, and at a few samples a PyTorch call costs "
        "its fixed overhead rather than its arithmetic (BENCHMARKS.md, 'Streaming third-party models')."
    )
    return " ".join(parts)


def make_figures(data: dict, models: dict, chunks: dict) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, colour in (("codec", "#0072B2"), ("vocoder", "#D55E00")):
        d = data[name]
        xs = [e["chunk_samples"] for e in d["chunks"]]
        axes[0].plot(xs, [e["total_latency_ms"] for e in d["chunks"]], "o-", color=colour, label=f"{name}: total")
        axes[0].axhline(d["latency_ms"], color=colour, ls=":", lw=1, label=f"{name}: algorithmic")
        axes[1].plot(xs, [e["rtf"] for e in d["chunks"]], "o-", color=colour, label=name)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("chunk (output samples)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[0].set_title("latency: algorithmic + buffering", fontsize=10)
    axes[1].axhline(1.0, color="black", lw=1, ls="--")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("real-time factor (< 1: faster than real time)")
    axes[1].set_title("compute per chunk / chunk duration", fontsize=10)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return [("latency_and_rtf.png", fig, "Latency (algorithmic + buffering) and real-time factor per chunk size")]


if __name__ == "__main__":
    sys.exit(main())
