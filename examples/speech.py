"""WaveNet on speech: trained at 8 kHz on espeak-ng's voice, sampled by the streamer.

A small ``atrous.nn.WaveNet`` (one-hot mu-law input, 256-way softmax output, van den Oord et al.
2016) learns the next sample of speech that espeak-ng synthesises offline from a fixed list of
sentences (:mod:`atrous.datasets.speech`; the last four are the test set). Then
``atrous.stream(model).generate`` samples new audio one step at a time: each step costs one
matrix product per layer over the layer's ring buffer instead of a convolution over the whole
receptive field. Reported: the negative log-likelihood per sample on the held-out sentences
(nats and bits, against the entropy of the mu-law marginal), generation speed against real
time, spectrograms of generated and training audio, and both as WAV files::

    python examples/speech.py --quick                   # seconds (skips where espeak-ng is missing)
    python examples/speech.py --threads 1   # the recorded run

espeak-ng is the Debian package ``espeak-ng`` (``make espeak`` installs it where apt works).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import numpy as np
import torch
import torch.nn.functional as F

import atrous.stream
from atrous.datasets.speech import EspeakMissing, espeak_available, speech_corpus
from atrous.nn import WaveNet
from atrous.stream import categorical, mu_law_decode, mu_law_encode

Q = 256  # mu-law classes

FULL = {
    "residual": 32,
    "skip": 64,
    "layers_per_cycle": 9,
    "cycles": 2,
    "steps": 800,
    "batch": 4,
    "chunk": 4000,
    "eval_every": 200,
    "generate_seconds": 3.0,
    "prime_seconds": 0.25,
    "temperature": 1.0,
    "sentences": None,
}
QUICK = {
    "residual": 8,
    "skip": 8,
    "layers_per_cycle": 4,
    "cycles": 1,
    "steps": 12,
    "batch": 2,
    "chunk": 400,
    "eval_every": 6,
    "generate_seconds": 0.05,
    "prime_seconds": 0.01,
    "temperature": 1.0,
    "sentences": 3,
}


def build_parser():
    p = common.parser(__doc__.splitlines()[0])
    pi, pf = common.positive_int, common.positive_float
    p.add_argument("--steps", type=pi("--steps"), help="training steps (default 800: sized for a 2-core CPU)")
    p.add_argument("--batch", type=pi("--batch"), help="crops per step (default 4)")
    p.add_argument("--chunk", type=pi("--chunk"), help="scored samples per crop (default 4000)")
    p.add_argument("--lr", type=pf("--lr"), default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--residual", type=pi("--residual"), help="residual (and gate) channels (default 32)")
    p.add_argument("--skip", type=pi("--skip"), help="skip channels (default 64)")
    p.add_argument("--layers-per-cycle", type=pi("--layers-per-cycle"), help="dilations 1..2^(L-1) (default 9)")
    p.add_argument("--cycles", type=pi("--cycles"), help="repetitions of the dilation cycle (default 2)")
    p.add_argument("--eval-every", type=pi("--eval-every"), help="steps between test evaluations (default 200)")
    p.add_argument("--generate-seconds", type=pf("--generate-seconds"), help="seconds of audio to generate (default 3)")
    p.add_argument(
        "--prime-seconds", type=pf("--prime-seconds"), help="test audio fed before generating (default 0.25)"
    )
    p.add_argument("--temperature", type=pf("--temperature"), help="sampling temperature (default 1)")
    return p


def one_hot(q: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` class indices -> ``(B, Q, T)`` float one-hot."""
    return F.one_hot(q, Q).transpose(1, 2).float()


def nll(model: WaveNet, q: torch.Tensor, rf: int, chunk: int = 16000) -> float:
    """Mean negative log-likelihood (nats) of ``q[1:]`` given the past, over the whole waveform.

    The waveform is cut into windows of ``chunk`` scored samples, each with ``rf - 1`` samples of
    real past before it (zeros before the start), so every sample is scored with its full context.
    """
    model.eval()
    total, count = 0.0, 0
    x = torch.cat([torch.full((rf,), Q // 2, dtype=torch.long), q])  # silence before the start
    with torch.no_grad():
        for s in range(rf, len(x) - 1, chunk):
            e = min(s + chunk, len(x) - 1)
            inp = x[s - rf + 1 : e].unsqueeze(0)  # predicts x[s - rf + 2 .. e]
            logits = model(one_hot(inp))[:, :, rf - 1 :]
            target = x[s + 1 : e + 1].unsqueeze(0)
            total += float(F.cross_entropy(logits, target, reduction="sum"))
            count += target.numel()
    model.train()
    return total / count


def marginal_entropy(train_q: torch.Tensor, test_q: torch.Tensor) -> float:
    """NLL (nats) of the test classes under the training classes' histogram (add-one smoothed)."""
    counts = torch.bincount(train_q, minlength=Q).double() + 1
    logp = (counts / counts.sum()).log()
    return float(-logp[test_q].mean())


def main(argv=None) -> int:
    p = build_parser()
    args = common.parse(p, argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not espeak_available():
        print(
            "speech example skipped: espeak-ng is not installed (`make espeak` installs the Debian package "
            "espeak-ng where apt works)"
        )
        return 0
    dist = common.distributed(args.device)
    if dist.world > 1:
        p.error("this example trains in one process; run it without torchrun")
    t0 = time.perf_counter()
    from atrous.datasets.speech import SENTENCES

    sentences = SENTENCES if args.sentences is None else SENTENCES[: args.sentences] + SENTENCES[-1:]
    try:
        corpus = speech_corpus(args.seed, sentences=sentences, test_sentences=1 if args.quick else 4)
    except EspeakMissing as exc:  # pragma: no cover - espeak_available() said it runs
        print(f"speech example skipped: {exc}")
        return 0
    rate = corpus.rate
    train_q = mu_law_encode(torch.from_numpy(corpus.train), Q)
    test_q = mu_law_encode(torch.from_numpy(corpus.test), Q)

    common.seed_everything(args.seed)
    model = WaveNet(
        Q,
        Q,
        residual_channels=args.residual,
        skip_channels=args.skip,
        layers_per_cycle=args.layers_per_cycle,
        cycles=args.cycles,
    )
    rf = model.receptive_field
    params = common.count_parameters(model)
    print(
        f"WaveNet: {params} parameters, receptive field {rf} samples ({1000 * rf / rate:.0f} ms at {rate} Hz); "
        f"training audio {corpus.seconds[0]:.1f} s, test {corpus.seconds[1]:.1f} s",
        flush=True,
    )
    if len(train_q) < rf + args.chunk + 1:
        p.error(f"--chunk {args.chunk} plus the receptive field {rf} exceeds the {len(train_q)} training samples")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    marginal = marginal_entropy(train_q, test_q)
    curve = [(0, nll(model, test_q, rf))]
    print(f"  step      0  test NLL {curve[-1][1]:.4f} nats (marginal {marginal:.4f})", flush=True)
    losses: list[float] = []
    t_train = time.perf_counter()
    span = rf + args.chunk
    for step in range(1, args.steps + 1):
        starts = torch.randint(0, len(train_q) - span, (args.batch,), generator=g)
        crops = torch.stack([train_q[s : s + span] for s in starts.tolist()])  # (B, rf + chunk)
        logits = model(one_hot(crops[:, :-1]))[:, :, rf - 1 :]  # outputs with a full receptive field
        loss = F.cross_entropy(logits, crops[:, rf:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step, nll(model, test_q, rf)))
            print(
                f"  step {step:6d}  train {np.mean(losses[-args.eval_every :]):.4f}  test NLL {curve[-1][1]:.4f} nats",
                flush=True,
            )
    train_seconds = time.perf_counter() - t_train
    train_nll = nll(model, train_q[: len(test_q)], rf)

    # generation: prime with the start of a test sentence, then sample with the streamer
    model.eval()
    s = atrous.stream(model)
    prime = test_q[: max(1, int(args.prime_seconds * rate))]
    t_prime = time.perf_counter()
    with torch.no_grad():
        for v in prime[:-1].tolist():
            s.step(one_hot(torch.tensor([[v]]))[:, :, 0])
    prime_seconds = time.perf_counter() - t_prime
    n_gen = max(1, int(args.generate_seconds * rate))
    sampler = categorical(args.temperature, generator=torch.Generator().manual_seed(args.seed + 1))
    first = one_hot(prime[-1:].unsqueeze(0))[:, :, 0]
    t_gen = time.perf_counter()
    generated, logits = s.generate(n_gen, first=first, sample=sampler, return_logits=True)
    gen_seconds = time.perf_counter() - t_gen
    gen_q = generated[0].argmax(0)
    # the streamer against the offline forward on the same (generated) input: they must agree
    inp = torch.cat([prime, gen_q[:-1]]).unsqueeze(0)
    with torch.no_grad():
        offline = model(one_hot(inp))[:, :, len(prime) - 1 :]
    stream_error = float((offline - logits).abs().max())
    per_second = n_gen / gen_seconds
    gen_audio = mu_law_decode(gen_q, Q).numpy().astype(np.float32)
    train_clip = corpus.train[: len(gen_audio)] if args.quick else corpus.train[: int(3.0 * rate)]
    gen_nll_self = float(F.cross_entropy(logits[0].T, gen_q))  # the model's NLL of its own samples
    print(
        f"generated {n_gen} samples in {gen_seconds:.2f} s: {per_second:.0f} samples/s, "
        f"{per_second / rate:.3f} x real time; streamer vs offline max |diff| {stream_error:.2e}",
        flush=True,
    )

    figures = [
        (
            "spectrograms.png",
            spectrogram_figure(train_clip, gen_audio, rate),
            "Spectrograms: training audio (espeak-ng) and audio generated by the streamer",
        ),
        ("loss.png", loss_figure(losses, curve, marginal), "Negative log-likelihood per sample while training"),
    ]
    audio = [
        ("training.wav", train_clip, rate, "training audio (espeak-ng, 8 kHz)"),
        (
            "generated.wav",
            gen_audio,
            rate,
            f"generated by Streamer.generate ({args.generate_seconds:g} s, temperature {args.temperature:g})",
        ),
    ]
    header = ["quantity", "value"]
    ln2 = math.log(2)
    rows = [
        ["parameters", params],
        ["receptive field (samples / ms)", f"{rf} / {1000 * rf / rate:.0f}"],
        ["test NLL, nats per sample (bits)", f"{curve[-1][1]:.4f} ({curve[-1][1] / ln2:.3f})"],
        ["training NLL, nats per sample (bits)", f"{train_nll:.4f} ({train_nll / ln2:.3f})"],
        ["mu-law marginal on test, nats (bits)", f"{marginal:.4f} ({marginal / ln2:.3f})"],
        ["test NLL before training, nats", f"{curve[0][1]:.4f}"],
        ["generation, samples per second", f"{per_second:.0f}"],
        ["generation speed / real time (8 kHz)", f"{per_second / rate:.3f}"],
        ["streamer vs offline forward, max |logit diff|", f"{stream_error:.1e}"],
    ]
    match = spectrum_match(train_clip, gen_audio, rate)
    rows.append(
        [
            "voiced frames, generated / training",
            f"{100 * match['voiced_generated']:.0f}% / {100 * match['voiced_train']:.0f}%",
        ]
    )
    text = describe(
        args,
        corpus,
        rf,
        params,
        curve,
        train_nll,
        marginal,
        per_second,
        rate,
        stream_error,
        train_seconds,
        prime_seconds,
        len(prime),
        gen_nll_self,
        match,
    )
    common.save(
        args,
        dist,
        script=__file__,
        name="speech",
        title="WaveNet on speech (espeak-ng, 8 kHz), generated by the streamer",
        text=text,
        header=header,
        rows=rows,
        figures=figures,
        audio=audio,
        data={
            "rate": rate,
            "espeak": corpus.version,
            "train_seconds_audio": corpus.seconds[0],
            "test_seconds_audio": corpus.seconds[1],
            "train_texts": list(corpus.train_texts),
            "test_texts": list(corpus.test_texts),
            "settings": [list(x) for x in corpus.settings],
            "receptive_field": rf,
            "parameters": params,
            "steps": args.steps,
            "batch": args.batch,
            "chunk": args.chunk,
            "lr": args.lr,
            "curve": curve,
            "train_loss": losses,
            "test_nll": curve[-1][1],
            "train_nll": train_nll,
            "marginal_nll": marginal,
            "generated_samples": n_gen,
            "generation_seconds": gen_seconds,
            "samples_per_second": per_second,
            "real_time_factor": per_second / rate,
            "prime_samples": len(prime),
            "prime_seconds": prime_seconds,
            "stream_vs_offline": stream_error,
            "generated_self_nll": gen_nll_self,
            "spectrum_match": match,
            "training_seconds": train_seconds,
        },
        started=t0,
    )
    return 0


def average_spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average spectrum (Welch, 256-sample Hann windows): frequencies and power in dB."""
    from scipy.signal import welch

    f, pxx = welch(x.astype(np.float64), fs=rate, nperseg=min(256, len(x)))
    return f, 10 * np.log10(pxx + 1e-12)


def spectrogram_figure(train: np.ndarray, generated: np.ndarray, rate: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [2, 2, 1.2]})
    nper = min(256, len(train), len(generated))
    for ax, x, title in (
        (axes[0], train, "training audio (espeak-ng)"),
        (axes[1], generated, "generated (Streamer.generate)"),
    ):
        f, t, S = spectrogram(x.astype(np.float64), fs=rate, nperseg=nper, noverlap=nper * 3 // 4)
        ax.pcolormesh(t, f, 10 * np.log10(S + 1e-10), shading="auto", cmap="magma", vmin=-100, vmax=-20)
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
    for x, label, color in ((train, "training", "#0072B2"), (generated, "generated", "#D55E00")):
        f, db = average_spectrum(x, rate)
        axes[2].plot(f, db, color=color, lw=1.5, label=label)
    axes[2].set_xlabel("frequency (Hz)")
    axes[2].set_ylabel("average power (dB)")
    axes[2].set_title("long-term average spectrum")
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def loss_figure(losses, curve, marginal):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    k = max(1, len(losses) // 100)
    smooth = [float(np.mean(losses[i : i + k])) for i in range(0, len(losses), k)]
    ax.plot([i + k for i in range(0, len(losses), k)], smooth, color="#999999", lw=1.2, label="training crops (mean)")
    ax.plot(*zip(*curve, strict=True), color="#0072B2", marker="o", lw=1.8, label="held-out sentences")
    ax.axhline(marginal, color="#D55E00", ls="--", lw=1.2, label=f"mu-law marginal: {marginal:.2f}")
    ax.set_xlabel("training step")
    ax.set_ylabel("NLL per sample (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def spectrum_match(train: np.ndarray, generated: np.ndarray, rate: int) -> dict:
    """How alike the long-term average spectra are, 100 Hz - 3.5 kHz: correlation and mean |dB difference|."""
    f, a = average_spectrum(train, rate)
    _, b = average_spectrum(generated, rate)
    band = (f >= 100) & (f <= 3500)
    return {
        "correlation": float(np.corrcoef(a[band], b[band])[0, 1]),
        "mean_abs_db": float(np.abs(a[band] - b[band]).mean()),
        "rms_train": float(np.sqrt(np.mean(train.astype(np.float64) ** 2))),
        "rms_generated": float(np.sqrt(np.mean(generated.astype(np.float64) ** 2))),
        "voiced_train": voiced_share(train, rate),
        "voiced_generated": voiced_share(generated, rate),
    }


VOICED_CORRELATION = 0.7
"""A frame is voiced when its normalised autocorrelation peaks above this at a pitch lag (60-400 Hz)."""


def voiced_share(x: np.ndarray, rate: int, frame: int = 256, low: float = 60.0, high: float = 400.0) -> float:
    """The share of audible frames (RMS >= 1e-3) that are voiced: periodic at a pitch between ``low``
    and ``high`` Hz, i.e. whose normalised autocorrelation against the signal ``L`` samples later
    exceeds :data:`VOICED_CORRELATION` for some lag ``L`` of that range. Speech is voiced in most
    frames (vowels, voiced consonants); noise and clicks are not. A tone below ``low`` also passes
    (a slow signal correlates with itself a few ms later): the share tells periodic from noisy."""
    x = x.astype(np.float64)
    lags = np.arange(int(rate // high), int(rate // low) + 1)
    starts = np.arange(0, len(x) - frame - lags[-1], frame)
    if len(starts) == 0:
        return 0.0
    idx = starts[:, None] + np.arange(frame)[None, :]  # (F, frame)
    a = x[idx]
    audible = np.sqrt((a**2).mean(1)) >= 1e-3
    if not audible.any():
        return 0.0
    a = a[audible]
    idx = idx[audible]
    best = np.zeros(len(a))
    for lag in lags:
        b = x[idx + lag]
        den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
        r = np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)
        best = np.maximum(best, r)
    return float((best > VOICED_CORRELATION).mean())


def describe(
    args,
    corpus,
    rf,
    params,
    curve,
    train_nll,
    marginal,
    per_second,
    rate,
    err,
    train_s,
    prime_s,
    n_prime,
    self_nll,
    match,
) -> str:
    ln2 = math.log(2)
    test_nll = curve[-1][1]
    parts = [
        f"Speech synthesised offline by {corpus.version} (voice en-us; each sentence at a "
        f"speed of 150-180 words per minute and a pitch of 40-60 drawn from the seed), resampled to {rate} Hz, "
        f"mu-law quantised to {Q} classes: {len(corpus.train_texts)} training sentences ({corpus.seconds[0]:.1f} s) "
        f"and {len(corpus.test_texts)} held-out ones ({corpus.seconds[1]:.1f} s), from "
        "`atrous.datasets.speech.speech_corpus`. The model is `atrous.nn.WaveNet` with one-hot input and a "
        f"{Q}-way softmax, {args.residual} residual and gate channels, {args.skip} skip channels, dilations 1 .. "
        f"{2 ** (args.layers_per_cycle - 1)} repeated {args.cycles} time(s): {params:,} parameters, a receptive field "
        f"of {rf} samples ({1000 * rf / rate:.0f} ms). Training: {args.steps:,} steps of {args.batch} random crops, "
        f"each scoring {args.chunk:,} samples that see a full receptive field of real audio, Adam lr {args.lr:g}, "
        f"gradient clip 1 ({train_s / 60:.1f} min)."
    ]
    parts.append(
        f"Negative log-likelihood per sample on the held-out sentences (every sample scored with its full past): "
        f"{test_nll:.3f} nats = {test_nll / ln2:.3f} bits, against {marginal:.3f} nats ({marginal / ln2:.3f} bits) "
        f"for the mu-law histogram of the training audio (no context) and ln {Q} = {math.log(Q):.3f} for a uniform "
        f"guess ({curve[0][1]:.3f} before training); on training audio {train_nll:.3f} nats."
    )
    parts.append(
        f"Generation: the trained model is handed to `atrous.stream`, fed the first {n_prime} samples of a held-out "
        f"sentence with `Streamer.step` ({prime_s:.1f} s), then `Streamer.generate` draws "
        f"{args.generate_seconds:g} s of audio from the softmax (temperature {args.temperature:g}), each sample fed "
        f"back as the next input: {per_second:,.0f} samples per second, {per_second / rate:.2f} times real time at "
        f"{rate} Hz"
        + (" (faster than real time)" if per_second >= rate else " (slower than real time)")
        + f". The streamer's logits equal the offline forward of the model on the same generated input to "
        f"{err:.1e} (max |difference|). The model gives its own samples {self_nll:.3f} nats per sample."
    )
    parts.append(
        f"The long-term average spectra of generated and training audio (100 Hz - 3.5 kHz) correlate at "
        f"{match['correlation']:.2f} (mean |difference| {match['mean_abs_db']:.1f} dB); RMS level "
        f"{match['rms_generated']:.3f} generated against {match['rms_train']:.3f} in training. The spectrograms "
        "and the WAV files are beside this text."
    )
    parts.append(_verdict(rf, rate, test_nll, marginal, match))
    if args.quick:
        parts.append("This was a quick run (a tiny model and a few steps): the audio is noise.")
    return " ".join(parts)


def _verdict(rf, rate, test_nll, marginal, match) -> str:
    """What the paper found and how far this run's numbers go towards it (the criteria stated)."""
    gain = marginal - test_nll
    level = match["rms_generated"] / max(match["rms_train"], 1e-12)
    checks = [
        (
            gain >= 0.5,
            f"the held-out NLL is {abs(gain):.2f} nats per sample {'below' if gain >= 0 else 'above'} the context-free "
            "marginal (criterion: at least 0.5 below)",
        ),
        (
            match["correlation"] >= 0.8,
            f"the generated long-term spectrum correlates with the training one at {match['correlation']:.2f} "
            "(criterion: 0.8)",
        ),
        (0.5 <= level <= 2, f"the generated RMS level is {level:.2f} times the training one (criterion: 0.5 to 2)"),
        (
            match["voiced_generated"] >= 0.5 * match["voiced_train"],
            f"{100 * match['voiced_generated']:.0f}% of the generated frames are voiced (periodic at a pitch of "
            f"60-400 Hz) against {100 * match['voiced_train']:.0f}% of the training frames (criterion: at least half "
            "the training share; speech-like babble is mostly voiced)",
        ),
    ]
    met = [text for ok, text in checks if ok]
    missed = [text for ok, text in checks if not ok]
    out = (
        "Expected (van den Oord et al. 2016, section 3.1): a WaveNet trained on speech without text conditioning "
        "generates babble, speech-like sounds and intonation but no words; the paper reports no likelihood for it, "
        f"and its speech models saw about 300 ms of context (this one: {1000 * rf / rate:.0f} ms, with a much "
        "smaller model and far less training). What this run's numbers show: "
    )
    if not missed:
        return (
            out
            + "; ".join(met)
            + ": by these measures it reproduces the speech-like output (the words' absence is heard, not measured)."
        )
    return (
        out
        + ("; ".join(met) + "; but " if met else "")
        + "; ".join(missed)
        + ": a miss on "
        + ("that measure" if len(missed) == 1 else "those measures")
        + ", so this run does not reproduce the paper's speech-like output by its own criteria."
    )


if __name__ == "__main__":
    raise SystemExit(main())
