"""The adding problem (Bai, Kolter & Koltun 2018, section 5): a dilated TCN against an LSTM.

Inputs are ``T`` = 600 steps of two channels (values in [0, 1) and a mask marking two of them);
the target is the sum of the two marked values, scored by the mean squared error of the last
step. The TCN (``atrous.nn.TCN(2, [24] * 8, kernel_size=8)``, receptive field 3571 >= T) and a
one-layer LSTM with about the same number of parameters are trained with the
recipe stated in the text (Adam, batch 32, a warm-up on T = 100, then T = 600 with the lr cut by
10 in the last epoch). The paper's ``add_test.py`` trains on 50,000 sequences; the full run here
is sized for a 2-core CPU (16,000 training and 1,000 test sequences, 2 epochs after the warm-up,
seeds 0 1 2): ``--train-size 50000 --seeds 0 1 2 3 4`` is the paper's size::

    python examples/adding.py --quick        # seconds
    python examples/adding.py --threads 1    # the recorded run
    torchrun --nproc_per_node 2 examples/adding.py --quick
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import numpy as np
import sequence_common as sc
import torch
import torch.nn.functional as F

from atrous.datasets.sequence import adding_problem

PAPER = {"tcn": 5.8e-5, "lstm": 0.164}
CHANCE = 1 / 6  # predicting 1 always: Var(U1 + U2)

FULL = {"seq_length": 600, "train_size": 16_000, "test_size": 1000, "epochs": 2, "levels": 8, "channels": 24}
FULL |= {"kernel_size": 8, "eval_every": 100, "seeds": [0, 1, 2], "warmup_length": 100, "warmup_batches": 1500}
QUICK = {"seq_length": 50, "train_size": 256, "test_size": 64, "epochs": 2, "levels": 4, "channels": 8}
QUICK |= {"kernel_size": 4, "eval_every": 4, "seeds": [0], "warmup_length": 10, "warmup_batches": 8}


def build_parser():
    p = sc.sequence_parser(
        __doc__.splitlines()[0], FULL, lr=2e-3, clip=1.0, epochs_help="epochs at T after the warm-up (default 2)"
    )
    pi = common.positive_int
    p.add_argument("--seq-length", type=pi("--seq-length"), help="T (default 600; 50 with --quick)")
    p.add_argument("--seeds", type=int, nargs="+", help="TCN runs, one per seed (default 0 1 2; 0 with --quick)")
    p.add_argument("--warmup-length", type=pi("--warmup-length"), help="T of the warm-up sequences (default 100)")
    p.add_argument(
        "--warmup-batches", type=int, help="batches on the warm-up sequences before T (default 1500; 0: none)"
    )
    p.add_argument("--decay", type=float, default=0.1, help="lr factor in the last epoch (default 0.1; 1: constant lr)")
    p.add_argument("--control", action="store_true", help="with --quick: also the run without the warm-up")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args, dist = sc.parse_sequence_args(p, argv, FULL, QUICK)
    T = args.seq_length
    if any(s < 0 for s in args.seeds):
        p.error(f"--seeds must be integers >= 0, got {args.seeds}")
    if args.warmup_batches < 0:
        p.error(f"--warmup-batches must be >= 0, got {args.warmup_batches}")
    if args.warmup_length < 2:
        p.error(f"--warmup-length must be at least 2 (two marked positions), got {args.warmup_length}")
    if not 0 < args.decay <= 1:
        p.error(f"--decay must be in (0, 1], got {args.decay}")
    per_epoch = args.train_size // args.batch_size
    last_epoch = args.warmup_batches + per_epoch * (args.epochs - 1)

    def schedule(batch):
        return args.decay if args.epochs > 1 and batch >= last_epoch else 1.0

    def warmup(seed):
        return adding_problem(args.train_size, args.warmup_length, seed=seed)

    def data(seed):
        x_train, y_train = adding_problem(args.train_size, T, seed=seed)
        x_test, y_test = adding_problem(args.test_size, T, seed=seed + 1)
        return x_train, y_train, x_test, y_test

    def loss_sum(out, y):
        return F.mse_loss(out, y, reduction="sum")

    def no_metric(out, y):
        return torch.zeros(())

    task = sc.Task(
        name="adding",
        title="Adding problem: dilated TCN vs LSTM (Bai et al. 2018)",
        script=__file__,
        in_channels=2,
        outputs=1,
        per_step=False,
        length=T,
        data=data,
        loss=F.mse_loss,
        loss_sum=loss_sum,
        metric_sum=no_metric,
        optimizer=torch.optim.Adam,
        paper=PAPER,
        ylabel="test MSE (last step)",
        chance=CHANCE,
        chance_label="predict 1 always (1/6)",
        caption=f"Test MSE while training, T = {T}; dashed: the paper's final values",
        describe=describe,
        figures=sensitivity_figure,
        control=not args.quick or args.control,
        lr_schedule=schedule,
        warmup_data=warmup,
        warmup_batches=args.warmup_batches,
        extra={
            "seq_length": T,
            "chance_mse": CHANCE,
            "warmup_length": args.warmup_length,
            "warmup_batches": args.warmup_batches,
            "decay": args.decay,
            "warmup_label": f"warm-up: T = {args.warmup_length}",
        },
    )
    sc.run(task, args, dist)
    common.finish(dist)
    return 0


def _first_below(cv, level):
    return next((b for b, lo in zip(cv.batches, cv.loss, strict=True) if lo <= level), None)


def sensitivity_figure(r):
    """Why the plateau: how strongly the last output reads the mask s steps back, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = probe(r.task.length)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    shown = [("at initialisation", r.initial, "#999999")]
    for key in r.curves:
        if sc.model_of(key) == "tcn" and r.models.get(key) is not None:
            shown.append((f"{sc.label_of(key)}, trained", r.models[key], "#0072B2"))
            break
    control = next((k for k in r.curves if "no warm-up" in k), None)
    if control:
        shown.append((f"{sc.label_of(control)}, trained", r.models[control], "#D55E00"))
    w = max(1, r.task.length // 60)  # a running mean over w steps: the trend, not the noise of 64 sequences
    for label, model, color in shown:
        sens = sc.sensitivity(model, x)[1].numpy()  # channel 1: the mask
        smooth = np.convolve(sens, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(len(smooth)) + (w - 1) / 2, smooth, color=color, lw=1.6, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("steps s before the last one")
    ax.set_ylabel("mean |d output / d mask[T-1-s]|" + (f" (running mean of {w})" if w > 1 else ""))
    ax.set_title(f"What the TCN's output reads, T = {r.task.length}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [("sensitivity.png", fig, SENS_CAPTION)]


SENS_CAPTION = (
    "How strongly the TCN's output reads the mask s steps back (mean absolute gradient over 64 sequences), at "
    "initialisation and after training"
)


def probe(T):
    """64 sequences (their own seed) on which the sensitivity is measured."""
    return adding_problem(64, T, seed=999_999)[0]


def describe(r) -> str:
    args, rf, params, hidden, curves, per_epoch = r.args, r.rf, r.params, r.hidden, r.curves, r.per_epoch
    T = args.seq_length
    warm = args.warmup_batches
    recipe = (
        f"Adam, lr {args.lr:g}, batch {args.batch_size}, "
        + (f"gradient-norm clip {args.clip:g}" if args.clip > 0 else "no gradient clipping")
        + ", dropout 0, PyTorch's default initialisation with weight normalisation (what the paper's code runs: "
        "its N(0, 0.01) for the convolutions is overwritten by weight normalisation, locuslab/TCN issue 1); "
        + (
            f"first {warm:,} batches on sequences of length {args.warmup_length} (the same generator), then "
            if warm
            else ""
        )
        + f"{args.epochs} epoch(s) at T = {T} ({per_epoch * args.epochs:,} batches)"
        + (f", the last one at lr x {args.decay:g}" if args.epochs > 1 and args.decay < 1 else "")
    )
    parts = [
        f"Adding problem with T = {T}: {args.train_size:,} training and {args.test_size:,} test sequences "
        f"(the paper: 50,000 and 1,000{'' if args.train_size >= 50_000 else '; this run is sized for a 2-core CPU'}) from "
        "`atrous.datasets.sequence.adding_problem` (the paper's generator; each seed draws its own). "
        f"The TCN is the paper's: `atrous.nn.TCN(2, [{args.channels}] * {args.levels}, kernel_size="
        f"{args.kernel_size}, dropout=0)` + a linear head on the last step ({params['tcn']:,} parameters), receptive "
        f"field {rf['layer']} steps (`atrous.analyze` of the traced network: {rf['analyze']}), "
        + ("which covers" if rf["layer"] >= T else "which does NOT cover")
        + f" the {T} steps. The baseline is a one-layer LSTM with {hidden} hidden units + linear head "
        f"({params['lstm']:,} parameters), trained the same way. Recipe: {recipe}. Test MSE every "
        f"{args.eval_every} batches, always on T = {T}."
    ]
    sens = sc.sensitivity(r.initial, probe(T))[1] if r.initial is not None else None
    if sens is not None:
        k = max(1, T // 6)
        near, far = float(sens[:k].mean()), float(sens[-k:].mean())
        parts.append(
            f"Why the TCN sits on the plateau of predicting the mean (MSE 1/6): at initialisation its output reads the "
            f"mask of the last {k} steps with a mean gradient of {near:.2g} and that of the first {k} steps with "
            f"{far:.2g}, {near / far:.2g} times less (figure 'sensitivity'): PyTorch's default filters (norm 1/sqrt(3) "
            "per output channel) make every convolution path contractive, and the residual shortcuts, the strongest "
            "paths, do not move information in time. To leave the mean the network must form mask x value at the "
            f"two marked steps and sum it over all {T}; with T = {T} nearly every mark is far back, the gradient "
            "towards that solution is weak, and the loss stays flat (the paper's own code shows the same plateau, "
            "seed-dependent: locuslab/TCN issue 30). On short sequences the marks are near and the gradient strong; "
            "what the TCN learns there (mask x value, summed) carries over to the long sequences, where the far taps "
            "then get a strong gradient too."
        )
    tcn_keys = [k for k in curves if sc.model_of(k) == "tcn" and "no warm-up" not in k]
    results = []
    for key in tcn_keys + [k for k in curves if k not in tcn_keys]:
        cv = curves[key]
        b01, b4 = _first_below(cv, 0.01), _first_below(cv, 1e-4)
        results.append(
            f"{sc.label_of(key)}: final {common.fmt(cv.loss[-1])}, best {common.fmt(min(cv.loss))}"
            + (f", below 0.01 after {b01:,} batches" if b01 is not None else ", never below 0.01")
            + (f", at most 1e-4 after {b4:,}" if b4 is not None else "")
        )
    parts.append("Results (test MSE): " + "; ".join(results) + ".")
    if args.quick:
        parts.append("This was a quick run (tiny sizes); its numbers are not comparable with the paper's.")
        return " ".join(parts)
    hit = [k for k in tcn_keys if curves[k].loss[-1] <= 1e-4]
    if len(tcn_keys) > 1:
        n = len(tcn_keys)
        if n >= 5:
            verdict = "the goal of at least 3 of 5 is met." if len(hit) >= 3 else "short of the goal of 3 of 5."
        else:
            verdict = f"the goal is at least 3 of 5 seeds; this run trained {n} (sized for a 2-core CPU), so it " + (
                "cannot test that goal itself; every seed it trained met 1e-4."
                if len(hit) == n
                else f"shows {n - len(hit)} miss(es) out of {n}."
            )
        parts.append(
            f"Expected (Bai et al. 2018, Table 1): the TCN reaches test MSE 5.8e-5 at T = 600, the LSTM stays at "
            f"0.164. This run: {len(hit)} of {n} seeds end at test MSE <= 1e-4; {verdict}"
        )
    else:
        cv = curves[tcn_keys[0]]
        parts.append(
            f"The TCN ends at {common.fmt(cv.loss[-1])}, "
            + ("at or below" if cv.loss[-1] <= 1e-4 else "above")
            + " the goal of 1e-4 (paper: 5.8e-5)."
        )
    control = next((k for k in curves if "no warm-up" in k), None)
    if control:
        cv = curves[control]
        parts.append(
            f"The control, {sc.label_of(control)} (the same {warm + per_epoch * args.epochs:,} batches and schedule, "
            f"all on T = {T}), "
            + (
                f"stayed on the plateau: {common.fmt(cv.loss[-1])} at the end."
                if cv.loss[-1] > 0.1
                else f"ended at {common.fmt(cv.loss[-1])}."
            )
        )
    if "lstm" in curves:
        cv = curves["lstm"]
        if cv.loss[-1] > 0.1:
            parts.append(
                f"The LSTM, trained the same way (warm-up included), ended at {common.fmt(cv.loss[-1])}, near the 1/6 "
                "of predicting the mean, as in the paper (0.164)."
            )
        else:
            parts.append(
                f"The LSTM, trained the same way (warm-up included), got below the mean's 1/6, to "
                f"{common.fmt(cv.loss[-1])} (the paper's LSTM, trained on T = 600 only: 0.164)."
            )
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
