"""Rhythm: a dilated convolution whose dilation matches the beat period detects the tempo.

An onset signal at ``bpm`` beats per minute and ``frame_rate`` frames per second pulses every
``P = 60 * frame_rate / bpm`` frames. A 2-tap convolution with dilation ``d`` adds frames
``t`` and ``t + d``: pulses coincide under both taps only when ``d`` is a multiple of ``P``.
Three parts, on the seeded pulse trains of :mod:`atrous.datasets.rhythm` (jitter, missing
pulses, random onsets, a second train at another period, noise):

1. untrained: the coincidence detector ``relu(x[t] + x[t + d] - 1)`` summed over time,
   for every ``d``: peaks at ``d = P`` and its multiples;
2. trained: one dilated layer (``Conv1d(1, C, 2, dilation=d)``, ReLU, mean over time, linear)
   learns "is there a pulse train at period P", once per ``d``: accuracy against ``d``;
3. a bank of such layers, one per dilation of :func:`atrous.tempo_bank` (60-180 BPM at
   100 fps), classifies the tempo; banks built with other tolerances and a bank of the same
   size with dilations ``1..n`` are compared::

    python examples/rhythm.py --quick                   # seconds
    python examples/rhythm.py --threads 1               # the recorded run
    torchrun --nproc_per_node 2 examples/rhythm.py --quick
"""

from __future__ import annotations

import math
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.datasets.rhythm import periodicity_task, pulse_trains, tempo_task
from atrous.geometry import frames_per_beat, tempo_bank, tempo_dilations
from atrous.nn import Conv1d

OKABE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]

# what makes the pulse trains hard: 5 ms jitter at 100 fps, 10 % missing pulses, a random onset
# per second, onsets smeared over about 2 frames, amplitudes 0.5-1, background noise
SHAPE = {"jitter": 0.5, "keep": 0.9, "spread": 1.0, "amplitude": (0.5, 1.0), "distractors": 0.01, "noise": 0.05}

FULL = {
    "length": 1000,
    "analytic_rows": 200,
    "max_dilation": 110,
    "sweep": None,  # every d in 1..max_dilation
    "train_size": 2000,
    "test_size": 1000,
    "epochs": 12,
    "channels": 8,
    "bank_train": 4000,
    "bank_test": 2000,
    "bank_epochs": 20,
    "bank_channels": 4,
    "tolerances": ("1/50", "1/25", "2/25"),
}
QUICK = {
    "length": 400,
    "analytic_rows": 16,
    "max_dilation": 110,
    "sweep": (1, 25, 37, 48, 50, 100),
    "train_size": 256,
    "test_size": 128,
    "epochs": 3,
    "channels": 4,
    "bank_train": 256,
    "bank_test": 128,
    "bank_epochs": 2,
    "bank_channels": 2,
    "tolerances": ("1/25",),
}


def build_parser():
    p = common.parser(__doc__.splitlines()[0])
    pi, pf = common.positive_int, common.positive_float
    p.add_argument("--bpm", type=pf("--bpm"), default=120.0, help="tempo of parts 1-2 (default 120)")
    p.add_argument("--frame-rate", type=pf("--frame-rate"), default=100.0, help="frames per second (default 100)")
    p.add_argument("--bpm-min", type=pf("--bpm-min"), default=60.0, help="slowest tempo of part 3 (default 60)")
    p.add_argument("--bpm-max", type=pf("--bpm-max"), default=180.0, help="fastest tempo of part 3 (default 180)")
    p.add_argument("--length", type=pi("--length"), help="frames per pulse train (default 1000; 400 with --quick)")
    p.add_argument("--epochs", type=pi("--epochs"), help="epochs of each part-2 training (default 12)")
    p.add_argument("--bank-epochs", type=pi("--bank-epochs"), help="epochs of each part-3 training (default 20)")
    p.add_argument("--max-dilation", type=pi("--max-dilation"), help="largest dilation of parts 1-2 (default 110)")
    p.add_argument("--batch-size", type=pi("--batch-size"), default=64, help="global batch (default 64)")
    p.add_argument("--lr", type=pf("--lr"), default=0.03, help="peak Adam learning rate, one-cycle (default 0.03)")
    return p


class Bank(nn.Module):
    """One ``Conv1d(1, channels, 2, dilation=d)`` per dilation, ReLU, mean over time, a linear head."""

    def __init__(self, dilations, channels: int, outputs: int) -> None:
        super().__init__()
        self.dilations = tuple(int(d) for d in dilations)
        self.convs = nn.ModuleList(Conv1d(1, channels, 2, dilation=d) for d in self.dilations)
        self.head = nn.Linear(channels * len(self.dilations), outputs)

    def maps(self, x: Tensor) -> list[Tensor]:
        """Per-frame outputs of each layer after the ReLU: ``(n, channels, length - d)``."""
        return [F.relu(conv(x[:, None])) for conv in self.convs]

    def forward(self, x: Tensor) -> Tensor:
        # x10: the mean of a sparse ReLU map is small; scaling it speeds up the head's training
        feats = torch.cat([m.mean(-1) * 10 for m in self.maps(x)], dim=1)
        return self.head(feats)


def train(model, x, target, args, dist, epochs: int, seed: int, loss_fn) -> list[float]:
    """Adam with a one-cycle schedule; returns the mean training loss of each epoch."""
    net = dist.wrap(model)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = epochs * (len(x) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(steps, 1))
    x, target = x.to(dist.device), target.to(dist.device)
    losses = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        for idx in dist.batches(len(x), args.batch_size, epoch, seed):
            idx = idx.to(dist.device)
            loss = loss_fn(net(x[idx]), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            count += 1
        losses.append(dist.mean(total / max(count, 1)))
    return losses


def binary_loss(logits: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits.squeeze(-1), y)


@torch.no_grad()
def coincidence(x: Tensor, d: int, threshold: float = 1.0) -> Tensor:
    """``sum_t relu(x[t] + x[t + d] - threshold) / length``: a fixed 2-tap dilated conv, weights (1, 1).

    Divided by the input length, not by the ``length - d`` outputs: like a biased autocorrelation
    it counts coincidences, so the period itself scores above its multiples (more pairs fit).
    """
    conv = Conv1d(1, 1, 2, dilation=d)
    conv.weight.data.fill_(1.0)
    conv.bias.data.fill_(-threshold)
    return F.relu(conv(x[:, None])).sum(dim=(1, 2)) / x.shape[-1]


def main(argv=None) -> int:
    p = build_parser()
    args = common.parse(p, argv)
    cfg = dict(QUICK if args.quick else FULL)
    for key in ("length", "epochs", "bank_epochs", "max_dilation"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.bpm_max < args.bpm_min:
        p.error(f"--bpm-max must be >= --bpm-min={args.bpm_min:g}, got {args.bpm_max:g}")
    fr = Fraction(args.frame_rate)
    try:
        beat = tempo_dilations(Fraction(args.bpm), fr, beats=(1, 2))
        bank_default = tempo_bank(args.bpm_min, args.bpm_max, fr)
    except ValueError as e:
        p.error(str(e))
    period = float(frames_per_beat(Fraction(args.bpm), fr))
    if period > cfg["max_dilation"]:
        p.error(f"--max-dilation {cfg['max_dilation']} must be >= the beat period {period:g} frames")
    if cfg["length"] < 2 * cfg["max_dilation"]:
        p.error(f"--length {cfg['length']} must be >= 2 x --max-dilation {cfg['max_dilation']}")
    if 2 * max(bank_default.dilations) > cfg["length"]:
        p.error(f"--length {cfg['length']} must hold two periods of the slowest tempo {args.bpm_min:g} BPM")
    dist = common.distributed(args.device)
    common.seed_everything(args.seed)
    t0 = time.perf_counter()
    length, seed = cfg["length"], args.seed
    d_match = beat[0].dilation
    log = print if dist.main else (lambda *a, **k: None)
    log(f"beat period {beat[0].describe()}")

    # ---- 1. untrained coincidence detector against d
    dmax = cfg["max_dilation"]
    dils = list(range(1, dmax + 1))
    rows_a = cfg["analytic_rows"]
    tr = pulse_trains([period] * rows_a, length, seed=seed * 7 + 1, **SHAPE)
    resp = torch.stack([coincidence(tr.x, d) for d in dils], 1).mean(0)
    # a second tempo whose period is not a whole number of frames
    bpm2 = args.bpm * 1.1
    period2 = float(frames_per_beat(Fraction(bpm2), fr))
    d2 = tempo_dilations(Fraction(bpm2), fr, tolerance=Fraction(1, 5))[0]
    tr2 = pulse_trains([period2] * rows_a, length, seed=seed * 7 + 2, **SHAPE)
    resp2 = torch.stack([coincidence(tr2.x, d) for d in dils], 1).mean(0)
    # below about 4 onset widths the two taps see the same smeared onset: peaks are sought beyond
    d_min = math.ceil(4 * SHAPE["spread"]) + 1
    peak = dils[d_min - 1 + int(resp[d_min - 1 :].argmax())]
    peak2 = dils[d_min - 1 + int(resp2[d_min - 1 :].argmax())]
    log(f"1. coincidence response peaks at d={peak} (P={period:g}) and d={peak2} (P={period2:.3f})")

    # ---- 2. one trained layer per dilation: is there a train at period P?
    prange = (period / 2, 2 * period)
    x_tr, y_tr, _ = periodicity_task(cfg["train_size"], length, period, period_range=prange, seed=seed * 7 + 3, **SHAPE)
    x_te, y_te, te = periodicity_task(cfg["test_size"], length, period, period_range=prange, seed=seed * 7 + 4, **SHAPE)
    sweep = list(cfg["sweep"]) if cfg["sweep"] else dils
    acc, final_loss, first_loss, models = [], [], [], {}
    for d in sweep:
        torch.manual_seed(seed * 1000 + d)
        model = Bank([d], cfg["channels"], 1)
        losses = train(model, x_tr, y_tr, args, dist, cfg["epochs"], seed * 1000 + d, binary_loss)
        model.eval()
        with torch.no_grad():
            a = ((model(x_te.to(dist.device)).squeeze(-1) > 0).float().cpu() == y_te).float().mean().item()
        acc.append(a)
        first_loss.append(losses[0])
        final_loss.append(losses[-1])
        models[d] = model
        log(f"2. d={d:4d}: test accuracy {a:.3f}, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    acc_at = dict(zip(sweep, acc, strict=True))
    mism = [a for d, a in zip(sweep, acc, strict=True) if all(abs(d - k * period) > 0.1 * period for k in (1, 2))]

    # ---- 3. tempo banks over bpm_min..bpm_max
    bank_specs = []
    for tol in cfg["tolerances"]:
        bank = tempo_bank(args.bpm_min, args.bpm_max, fr, tolerance=Fraction(tol))
        bank_specs.append((f"tempo_bank, tolerance {tol}", bank.dilations, bank))
    ref = tempo_bank(args.bpm_min, args.bpm_max, fr, tolerance=Fraction(1, 25))
    bank_specs.append((f"dilations 1..{len(ref)}", tuple(range(1, len(ref) + 1)), ref))
    trains_tr, bpm_tr = tempo_task(
        cfg["bank_train"], length, args.bpm_min, args.bpm_max, fr, seed=seed * 7 + 5, **SHAPE
    )
    trains_te, bpm_te = tempo_task(cfg["bank_test"], length, args.bpm_min, args.bpm_max, fr, seed=seed * 7 + 6, **SHAPE)

    def scores(est: np.ndarray, true: np.ndarray) -> tuple[float, float]:
        """MIREX-style: Acc1 within 4 %; Acc2 also at 2x, 3x, 1/2, 1/3 of the true tempo."""
        rel = np.abs(est / true - 1)
        acc1 = float(np.mean(rel <= 0.04))
        octave = np.min(np.stack([np.abs(est / (true * f) - 1) for f in (1, 2, 3, 1 / 2, 1 / 3)]), 0)
        return acc1, float(np.mean(octave <= 0.04))

    true_te = bpm_te.numpy()
    bank_rows, bank_curves = [], {}
    for label, dil, bank in bank_specs:
        # class labels: the nearest dilation of the tempo bank the layers stand for
        classes = torch.tensor([bank.index(float(b)) for b in bpm_tr])
        torch.manual_seed(seed * 1000 + 999)
        model = Bank(dil, cfg["bank_channels"], len(bank))
        losses = train(model, trains_tr.x, classes, args, dist, cfg["bank_epochs"], seed + 17, F.cross_entropy)
        model.eval()
        with torch.no_grad():
            pred = model(trains_te.x.to(dist.device)).argmax(-1).cpu().numpy()
        est = np.array([float(fr) * 60 / bank.dilations[i] for i in pred])
        acc1, acc2 = scores(est, true_te)
        classes_te = np.array([bank.index(float(b)) for b in bpm_te])
        cls = float(np.mean(pred == classes_te))
        # the rounding of a tempo to a layer's dilation: only where the layers are the bank's own
        rounding = common.fmt(float(bank.worst_error)) if dil == bank.dilations else ""
        bank_rows.append([label, len(dil), rounding, common.count_parameters(model)])
        bank_rows[-1] += [common.fmt(cls), common.fmt(acc1), common.fmt(acc2)]
        bank_curves[label] = {"dilations": list(dil), "loss": losses, "estimate": est, "class_accuracy": cls}
        bank_curves[label] |= {"acc1": acc1, "acc2": acc2}
        log(f"3. {label}: {len(dil)} layers, class accuracy {cls:.3f}, Acc1 {acc1:.3f}, Acc2 {acc2:.3f}")
    # the untrained detector over the 4 % bank: the dilation with the strongest coincidence
    resp_bank = torch.stack([coincidence(trains_te.x, d) for d in ref.dilations], 1)
    est_a = np.array([float(fr) * 60 / ref.dilations[i] for i in resp_bank.argmax(1).numpy()])
    a1, a2 = scores(est_a, true_te)
    bank_rows.append(["untrained coincidence, tolerance 1/25", len(ref), common.fmt(float(ref.worst_error)), 0])
    bank_rows[-1] += ["", common.fmt(a1), common.fmt(a2)]
    log(f"3. untrained argmax over the 1/25 bank: Acc1 {a1:.3f}, Acc2 {a2:.3f}")

    if not dist.main:
        common.finish(dist)
        return 0

    # ---- figures
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(dils, resp.numpy(), color=OKABE[4], label=f"{args.bpm:g} BPM, P = {period:g} frames")
    ax.plot(dils, resp2.numpy(), color=OKABE[5], label=f"{bpm2:g} BPM, P = {period2:.2f} frames")
    for k in range(1, int(dmax / period) + 1):
        ax.axvline(k * period, color=OKABE[4], ls=":", lw=1)
    for k in range(1, int(dmax / period2) + 1):
        ax.axvline(k * period2, color=OKABE[5], ls=":", lw=1)
    ax.axvspan(0.5, d_min - 0.5, color="0.85", lw=0)
    ax.text(d_min, ax.get_ylim()[1] * 0.95, " both taps on one onset", fontsize=8, va="top", color="0.35")
    ax.set_xlabel("dilation d (frames)")
    ax.set_ylabel("sum relu(x[t] + x[t+d] - 1) / T")
    ax.set_title(f"Untrained 2-tap dilated convolution on {rows_a} noisy pulse trains ({args.frame_rate:g} fps)")
    ax.legend(frameon=False)
    figures.append(
        (
            "response_vs_dilation.png",
            fig,
            "Response of the fixed 2-tap coincidence detector against its dilation; dotted lines: multiples "
            "of each beat period. It peaks where the dilation is a multiple of the period.",
        )
    )

    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(sweep, acc, "o-", ms=3, color=OKABE[4], label="one trained dilated layer")
    ax.axhline(0.5, color="0.5", ls="--", lw=1, label="chance")
    for k, name in ((1, "P"), (2, "2P")):
        ax.axvline(k * period, color=OKABE[5], ls=":", lw=1)
        ax.text(k * period, 1.01, name, color=OKABE[5], ha="center", va="bottom")
    ax.set_ylim(0.4, 1.05)
    ax.set_xlabel("dilation d of the layer (frames)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Detecting a pulse train at P = {period:g} frames ({args.bpm:g} BPM) with one layer per d")
    ax.legend(frameon=False, loc="upper left")
    figures.append(
        (
            "accuracy_vs_dilation.png",
            fig,
            "Test accuracy of Conv1d(1, C, 2, dilation=d) + ReLU + mean + linear, trained once per d to tell "
            "whether a pulse train at period P is in the mix.",
        )
    )

    # one positive test row: the onset signal, its beat grid and two trained layers' outputs
    row = int(torch.nonzero(y_te == 1)[0])
    x_row = x_te[row : row + 1]
    d_off = min((d for d in sweep if abs(d - period) > 0.2 * period), key=lambda d: abs(d - 0.75 * period))
    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    t_axis = np.arange(length)
    axes[0].plot(t_axis, x_row[0].numpy(), color=OKABE[7], lw=0.8)
    for b in torch.nonzero(te.beats[row]).flatten().tolist():
        axes[0].axvline(b, color=OKABE[2], lw=0.8, alpha=0.6)
    axes[0].set_ylabel("onset signal")
    axes[0].set_title(
        f"A test row with a train at P = {period:g} and one at {float(te.periods[row, 1]):.1f} frames "
        "(green: its beat grid)"
    )
    for ax, d, colour in ((axes[1], d_match, OKABE[4]), (axes[2], d_off, OKABE[5])):
        if d not in models:
            ax.set_visible(False)
            continue
        model = models[d]
        with torch.no_grad():
            m = model.maps(x_row)[0][0]
            w = model.head.weight[0]
            out = (w[:, None] * m).sum(0).numpy()  # the head's weighting of the channels, per frame
        for b in torch.nonzero(te.beats[row]).flatten().tolist():
            ax.axvline(b, color=OKABE[2], lw=0.8, alpha=0.4)
        ax.plot(t_axis[: out.size], out, color=colour, lw=0.8)
        ax.set_ylabel("detector output")
        ax.set_title(f"trained layer with dilation {d} (output t reads t and t + {d})", fontsize=10)
    axes[2].set_xlabel("frame")
    figures.append(
        (
            "detector_output.png",
            fig,
            "A positive test row and the per-frame output (channels weighted by the linear head) of the trained "
            "layer whose dilation matches the period and of a mismatched one.",
        )
    )

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    main_label = bank_specs[min(1, len(bank_specs) - 2)][0] if len(bank_specs) > 2 else bank_specs[0][0]
    base_label = bank_specs[-1][0]
    ax1.plot(true_te, bank_curves[base_label]["estimate"], ".", ms=3, color=OKABE[5], alpha=0.35, label=base_label)
    ax1.plot(true_te, bank_curves[main_label]["estimate"], ".", ms=3, color=OKABE[4], label=main_label)
    grid = np.linspace(args.bpm_min, args.bpm_max, 50)
    for f in (1, 2, 0.5):
        ax1.plot(grid, grid * f, color="0.6", lw=0.8, ls="-" if f == 1 else ":")
    ax1.set_ylim(args.bpm_min * 0.8, args.bpm_max * 1.2)
    ax1.set_xlabel("true tempo (BPM)")
    ax1.set_ylabel("estimated tempo (BPM)")
    ax1.set_title("Tempo estimates of two trained banks")
    ax1.legend(frameon=False, fontsize=8, markerscale=3)
    labels = [r[0].replace(", tolerance", "\ntol.").replace("untrained coincidence", "untrained") for r in bank_rows]
    a1s = [float(r[5]) for r in bank_rows]
    a2s = [float(r[6]) for r in bank_rows]
    pos = np.arange(len(labels))
    ax2.bar(pos - 0.2, a1s, 0.4, color=OKABE[4], label="Acc1 (within 4 %)")
    ax2.bar(pos + 0.2, a2s, 0.4, color=OKABE[0], label="Acc2 (also x2, x3, /2, /3)")
    ax2.set_xticks(pos, labels, fontsize=7)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("test accuracy")
    ax2.set_title(f"Tempo {args.bpm_min:g}-{args.bpm_max:g} BPM at {args.frame_rate:g} fps")
    ax2.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    figures.append(
        (
            "tempo_bank.png",
            fig,
            "Left: estimated against true tempo on the test set (grey: exact, dotted: double and half tempo). "
            "Right: tempo accuracy of each bank of dilated layers.",
        )
    )

    header = ["model", "layers", "worst rounding", "parameters", "class accuracy", "Acc1", "Acc2"]
    rows = bank_rows
    summary = []
    for label, dil, _ in bank_specs:
        c = bank_curves[label]
        summary.append(f"{label} ({len(dil)} layers): Acc1 {common.fmt(c['acc1'])}, Acc2 {common.fmt(c['acc2'])}")
    base_label = bank_specs[-1][0]
    ref_label = next(label for label, dil, _ in bank_specs if dil == ref.dilations)
    bank_summary = (
        "Results: "
        + "; ".join(summary)
        + f"; untrained: Acc1 {common.fmt(a1)}, Acc2 {common.fmt(a2)} (the gap is octave errors: the period and "
        f"its double both coincide). With the same number of layers and parameters, dilations 1..{len(ref)} "
        "(which cannot see two beats at once) reach a class accuracy of "
        f"{common.fmt(bank_curves[base_label]['class_accuracy'])} against "
        f"{common.fmt(bank_curves[ref_label]['class_accuracy'])} for the 1/25 bank (chance about 1/{len(ref)}). "
        "The finer banks also have more layers and parameters (the table), so part of their gain is size."
    )
    sweep_note = f"every d in 1..{dmax}" if not cfg["sweep"] else f"d in {sweep}"
    a_match = acc_at.get(d_match, math.nan)
    a_double = acc_at.get(beat[1].dilation, math.nan)
    near = [acc_at[d] for d in (d_match - 2, d_match - 1, d_match + 1, d_match + 2) if d in acc_at]
    text = (
        f"Pulse trains from `atrous.datasets.rhythm` ({length} frames = {length / args.frame_rate:g} s at "
        f"{args.frame_rate:g} fps; jitter {SHAPE['jitter']} frames, {100 * (1 - SHAPE['keep']):.0f} % of the "
        f"pulses missing, {SHAPE['distractors'] * args.frame_rate:g} random onset(s) per second, onset width "
        f"{SHAPE['spread']} frame (std), amplitudes {SHAPE['amplitude'][0]}-{SHAPE['amplitude'][1]}, noise "
        f"{SHAPE['noise']}). `tempo_dilations({args.bpm:g}, {args.frame_rate:g})` gives the beat period "
        f"P = {period:g} frames, dilation {d_match}.\n\n"
        f"**1. Untrained.** The fixed coincidence detector `relu(x[t] + x[t+d] - 1)` (a 2-tap dilated "
        f"convolution with weights (1, 1)), summed over time, divided by the length and averaged over {rows_a} "
        f"trains, peaks (beyond d = {d_min - 1}, below "
        f"which both taps fall on the same smeared onset) at d = {peak} for "
        f"P = {period:g} and at d = {peak2} for P = {period2:.3f} ({bpm2:g} BPM, rounded to dilation "
        f"{d2.dilation}, error {100 * float(d2.error):+.2f} %), with secondary peaks at the multiples of P "
        f"(the figure).\n\n"
        f"**2. One trained layer per dilation** ({sweep_note}; {cfg['channels']} channels, "
        f"{cfg['train_size']} training and {cfg['test_size']} test rows, {cfg['epochs']} epochs): the task "
        f"is whether a train at P = {period:g} frames is in a mix of two trains (the others drawn from "
        f"{prange[0]:g}-{prange[1]:g} frames, never within 4 % of P/k). The layer with d = P reaches "
        f"{common.fmt(a_match)} test accuracy, d = 2P {common.fmt(a_double)}"
        + (f", d = P - 2, P - 1, P + 1, P + 2 {', '.join(common.fmt(a) for a in near)}" if near else "")
        + (
            f"; the {len(mism)} dilations more than 10 % away from P and 2P reach "
            f"{common.fmt(float(np.mean(mism)))} on average (max {common.fmt(max(mism))}; chance is 0.5)."
            if mism
            else "."
        )
        + " Only a dilation at a multiple of the period sees two beats at once; jitter and the onset width "
        "make the peak a few frames wide.\n\n"
        f"**3. Tempo banks** ({args.bpm_min:g}-{args.bpm_max:g} BPM at {args.frame_rate:g} fps, tempi drawn "
        f"log-uniformly, one train per row, {cfg['bank_train']} training and {cfg['bank_test']} test rows, "
        f"{cfg['bank_epochs']} epochs, {cfg['bank_channels']} channels per layer): each bank classifies a row "
        "into one of its dilations (the class of a tempo is the bank's nearest dilation); the estimate is that "
        "dilation's tempo. Acc1 counts estimates within 4 % of the truth, Acc2 also accepts 2x, 3x, 1/2 and "
        "1/3 of it (the MIREX measures). The table compares banks from `tempo_bank` with three tolerances, a "
        f"bank of the same size as the 1/25 one with dilations 1..{len(ref)} (no beat period in reach), and "
        "the untrained detector taking the strongest coincidence over the 1/25 bank. "
        "A bank's tolerance bounds what a correct class is worth: with 2/25 a right class can still be 8 % "
        "off, so Acc1 stays below the class accuracy; with 1/50 even a neighbouring class is within 4 %. "
        + bank_summary
    )
    data = {
        "period": period,
        "dilation": d_match,
        "analytic": {"dilations": dils, "response": resp, "period2": period2, "response2": resp2},
        "sweep": {"dilations": sweep, "accuracy": acc, "first_loss": first_loss, "final_loss": final_loss},
        "banks": bank_curves,
        "untrained_bank": {"acc1": a1, "acc2": a2},
        "bank_true_bpm": true_te,
    }
    common.save(
        args,
        dist,
        script=__file__,
        name="rhythm",
        title="Rhythm: tempo to dilation",
        text=text,
        header=header,
        rows=rows,
        figures=figures,
        data=data,
        started=t0,
    )
    common.finish(dist)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
