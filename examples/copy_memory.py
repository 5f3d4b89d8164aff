"""Copy memory (Bai, Kolter & Koltun 2018, section 5): a dilated TCN against an LSTM.

Ten digits (1-8), ``T`` = 1000 blanks, then markers: the network must output blanks until the
markers and then the ten digits, 1020 steps in all (10-way cross-entropy at every step). The
TCN (``atrous.nn.TCN(1, [10] * 8, kernel_size=8)``, receptive field 3571 >= 1020) and a
one-layer LSTM with about the same number of parameters are trained with the settings of the
paper's ``copymem_test.py`` (RMSprop, lr 5e-4, gradient clip 1.0, batch 32, 10,000 training and
1,000 test sequences)::

    python examples/copy_memory.py --quick                   # seconds
    python examples/copy_memory.py --epochs 8 --threads 1    # the recorded run
    torchrun --nproc_per_node 2 examples/copy_memory.py --quick
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import sequence_common as sc
import torch
import torch.nn.functional as F

from atrous.datasets.sequence import copy_memory
from atrous.nn import TCN

PAPER = {"tcn": 3.5e-5, "lstm": 0.0204}
DIGITS = 10
CLASSES = 10

FULL = {"blank_length": 1000, "train_size": 10_000, "test_size": 1000, "epochs": 8, "levels": 8, "channels": 10}
FULL |= {"kernel_size": 8, "eval_every": 100}
QUICK = {"blank_length": 20, "train_size": 256, "test_size": 64, "epochs": 3, "levels": 4, "channels": 8}
QUICK |= {"kernel_size": 4, "eval_every": 4}


def build_parser():
    p = common.parser(__doc__.splitlines()[0])
    pi, pf = common.positive_int, common.positive_float
    p.add_argument(
        "--blank-length",
        "--seq-length",
        dest="blank_length",
        type=pi("--blank-length"),
        help="T, the blanks between the digits and the recall (default 1000; 20 with --quick)",
    )
    p.add_argument("--train-size", type=pi("--train-size"), help="training sequences (default 10000)")
    p.add_argument("--test-size", type=pi("--test-size"), help="test sequences (default 1000)")
    p.add_argument("--epochs", type=pi("--epochs"), help="epochs (default 8; the paper's code: 50)")
    p.add_argument("--batch-size", type=pi("--batch-size"), default=32, help="global batch (default 32)")
    p.add_argument("--lr", type=pf("--lr"), default=5e-4, help="RMSprop learning rate (default 5e-4)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip, <= 0: none (default 1.0)")
    p.add_argument("--model", choices=["tcn", "lstm", "both"], default="both", help="what to train (default both)")
    p.add_argument("--levels", type=pi("--levels"), help="TCN blocks (default 8)")
    p.add_argument("--channels", type=pi("--channels"), help="TCN width (default 10)")
    p.add_argument("--kernel-size", type=pi("--kernel-size"), help="TCN kernel size (default 8)")
    p.add_argument("--lstm-hidden", type=pi("--lstm-hidden"), help="LSTM width (default: parameters as the TCN's)")
    p.add_argument("--eval-every", type=pi("--eval-every"), help="batches between test evaluations (default 100)")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = common.parse(p, argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    dist = common.distributed(args.device)
    if args.batch_size % dist.world:
        p.error(f"--batch-size {args.batch_size} must be divisible by the {dist.world} processes")
    if args.train_size < args.batch_size:
        p.error(f"--train-size {args.train_size} must be at least --batch-size {args.batch_size}")
    t0 = time.perf_counter()
    T = args.blank_length
    length = T + 2 * DIGITS
    x_train, y_train = copy_memory(args.train_size, T, seed=args.seed)
    x_test, y_test = copy_memory(args.test_size, T, seed=args.seed + 1)
    data = (x_train.unsqueeze(1), y_train, x_test.unsqueeze(1), y_test)

    common.seed_everything(args.seed)
    tcn = TCN(1, [args.channels] * args.levels, kernel_size=args.kernel_size, dropout=0.0)
    rf = sc.receptive_field(tcn, 1, length)
    models = {"tcn": sc.TCNHead(tcn, CLASSES, per_step=True)}
    n_tcn = common.count_parameters(models["tcn"])
    hidden = args.lstm_hidden or sc.matched_hidden(n_tcn, 1, CLASSES)
    common.seed_everything(args.seed)
    models["lstm"] = sc.LSTMHead(1, hidden, CLASSES, per_step=True)
    params = {k: common.count_parameters(m) for k, m in models.items()}
    chance = DIGITS * math.log(8) / length
    if dist.main:
        print(
            f"copy memory T={T} ({length} steps): TCN {params['tcn']} parameters, receptive field {rf['layer']} "
            f"(analyze: {rf['analyze']}); LSTM hidden {hidden}, {params['lstm']} parameters",
            flush=True,
        )
    wanted = ["tcn", "lstm"] if args.model == "both" else [args.model]

    def loss(out, y):
        return F.cross_entropy(out.reshape(-1, CLASSES), y.reshape(-1))

    def loss_sum(out, y):
        # per sample: the mean over its steps, so that the test mean is the paper's loss
        return F.cross_entropy(out.reshape(-1, CLASSES), y.reshape(-1), reduction="sum") / y.shape[1]

    def recall_sum(out, y):
        # per sample: the fraction of its ten recalled digits that are right
        right = out[:, -DIGITS:].argmax(-1) == y[:, -DIGITS:]
        return right.float().mean(dim=1).sum()

    curves: dict[str, sc.Curves] = {}
    for key in wanted:
        common.seed_everything(args.seed)
        curves[key] = sc.train(
            models[key],
            data,
            loss=loss,
            loss_sum=loss_sum,
            metric_sum=recall_sum,
            optimizer=torch.optim.RMSprop,
            lr=args.lr,
            clip=args.clip,
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_every=args.eval_every,
            seed=args.seed,
            dist=dist,
            name=key,
        )

    per_epoch = args.train_size // args.batch_size
    header, rows = table(curves, params)
    fig = sc.curve_figure(
        curves,
        ylabel="test cross-entropy (mean over all steps)",
        paper={k: PAPER[k] for k in wanted},
        chance=chance,
        chance_label=f"blanks right, digits guessed: {chance:.4f}",
        batches_per_epoch=per_epoch,
        title=f"Copy memory, T = {T}",
        metric="recall",
        metric_label="recalled digits right (%)",
    )
    text = describe(args, rf, params, hidden, curves, per_epoch, chance)
    common.save(
        args,
        dist,
        script=__file__,
        name="copy_memory",
        title="Copy memory: dilated TCN vs LSTM (Bai et al. 2018)",
        text=text,
        header=header,
        rows=rows,
        figures=[
            (
                "curves.png",
                fig,
                f"Copy memory, T = {T}: test cross-entropy (left; dashed: the paper's final values) and the "
                "accuracy on the ten recalled digits (right)",
            )
        ],
        data={
            "blank_length": T,
            "length": length,
            "train_size": args.train_size,
            "test_size": args.test_size,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "clip": args.clip,
            "epochs": args.epochs,
            "batches_per_epoch": per_epoch,
            "eval_every": args.eval_every,
            "receptive_field": rf,
            "covers_sequence": rf["layer"] >= length,
            "parameters": params,
            "lstm_hidden": hidden,
            "paper": PAPER,
            "chance_loss": chance,
            "metric": "fraction of the ten recalled digits predicted right",
            "curves": {k: cv.as_dict() for k, cv in curves.items()},
        },
        started=t0,
    )
    common.finish(dist)
    return 0


def table(curves: dict[str, sc.Curves], params: dict[str, int]) -> tuple[list[str], list[list]]:
    """The summary table: one row per model."""
    header = [
        "model",
        "parameters",
        "batches",
        "test loss before training",
        "test loss after each epoch",
        "best test loss",
        "paper (final loss)",
        "recall accuracy (final)",
        "ms / batch",
    ]
    rows = []
    for key, cv in curves.items():
        rows.append(
            [
                key.upper(),
                params[key],
                cv.batches[-1],
                common.fmt(cv.loss[0]),
                ", ".join(common.fmt(v) for v in cv.epoch_loss),
                common.fmt(min(cv.loss)),
                common.fmt(PAPER[key]),
                f"{100 * cv.metric[-1]:.1f}%",
                round(cv.seconds_per_batch * 1000, 1),
            ]
        )
    return header, rows


def describe(args, rf, params, hidden, curves, per_epoch, chance) -> str:
    T = args.blank_length
    length = T + 2 * DIGITS
    parts = [
        f"Copy memory with T = {T} ({length} steps): {args.train_size:,} training and {args.test_size:,} test "
        "sequences from `atrous.datasets.sequence.copy_memory` (the paper's generator), batch "
        f"{args.batch_size}, RMSprop lr {args.lr:g}, "
        + (f"gradient clip {args.clip:g}" if args.clip > 0 else "no gradient clipping")
        + f" (the defaults of the paper's `copymem_test.py`), {args.epochs} epoch(s) = "
        f"{per_epoch * args.epochs:,} batches per model, test loss every {args.eval_every} batches. "
        f"The TCN is `atrous.nn.TCN(1, [{args.channels}] * {args.levels}, kernel_size={args.kernel_size}, "
        f"dropout=0)` + a linear layer at every step ({params['tcn']:,} parameters); its receptive field is "
        f"{rf['layer']} steps (`atrous.analyze` of the traced network: {rf['analyze']}), "
        + ("which covers" if rf["layer"] >= length else "which does NOT cover")
        + f" the {length} steps. The baseline is a one-layer LSTM with {hidden} hidden units + linear layer "
        f"({params['lstm']:,} parameters), trained with the same optimiser settings. The loss is the "
        f"cross-entropy averaged over all {length} steps; outputting the blanks right and guessing the digits "
        f"scores 10 ln 8 / {length} = {chance:.4f} (the paper's LSTM number, 0.0204, is that level for T = 1000). "
        "The recall accuracy is the fraction of the ten digits after the marker predicted right (chance 1/8)."
    ]
    results = []
    for key, cv in curves.items():
        results.append(
            f"{key.upper()}: test loss {common.fmt(cv.loss[0])} before training, {common.fmt(cv.loss[-1])} at the "
            f"end (best {common.fmt(min(cv.loss))}; paper {PAPER[key]:g}), recall accuracy "
            f"{100 * cv.metric[-1]:.1f}%"
        )
    parts.append(sc.INIT_NOTE)
    parts.append("Results: " + "; ".join(results) + ".")
    if args.quick:
        parts.append("This was a quick run (tiny sizes); its numbers are not comparable with the paper's.")
    else:
        parts.append(comparison(curves, per_epoch, args.epochs, chance))
    return " ".join(parts)


def comparison(curves, per_epoch, epochs, chance) -> str:
    out = []
    if "tcn" in curves:
        cv = curves["tcn"]
        half = [b for b, m in zip(cv.batches, cv.metric, strict=True) if m >= 0.5]
        best = max(range(len(cv.metric)), key=lambda i: (cv.metric[i], -cv.loss[i]))
        if half:
            out.append(
                f"The TCN left the guessing level: more than half of the digits right after {half[0]:,} batches, "
                f"{100 * cv.metric[best]:.1f}% at best (after {cv.batches[best]:,} batches, loss "
                f"{common.fmt(cv.loss[best])}), {100 * cv.metric[-1]:.1f}% at the end."
            )
            if cv.metric[-1] < cv.metric[best] - 0.1:
                out.append(
                    "Its training was not monotone: late in the run the loss jumped back up (RMSprop with gradient "
                    "clipping at 1, as in the paper's code), so the final numbers are worse than the best ones."
                )
        else:
            out.append(
                f"The TCN did not leave the guessing level in this run (best recall {100 * cv.metric[best]:.1f}%, "
                "chance 12.5%)."
            )
        ratio = cv.loss[-1] / PAPER["tcn"]
        if ratio <= 1.5:
            out.append(f"Its final loss {common.fmt(cv.loss[-1])} matches or beats the paper's 3.5e-5.")
        else:
            out.append(
                f"Its final loss {common.fmt(cv.loss[-1])} is {ratio:.3g} times the paper's 3.5e-5; this CPU run "
                f"trained {epochs} epoch(s) ({per_epoch * epochs:,} batches), the paper's code 50 epochs."
            )
    if "lstm" in curves:
        cv = curves["lstm"]
        if cv.metric[-1] < 0.25:
            level = (
                "it learned the blanks but not the digits"
                if cv.loss[-1] < 1.2 * chance
                else "it has not even reached the level of outputting the blanks and guessing the digits"
            )
            out.append(
                f"The LSTM ended at loss {common.fmt(cv.loss[-1])} with {100 * cv.metric[-1]:.1f}% recall: {level} "
                f"(the guessing level is {chance:.4f} and 12.5%); the paper's LSTM ended at that level (0.0204)."
            )
        else:
            out.append(
                f"The LSTM ended at loss {common.fmt(cv.loss[-1])} with {100 * cv.metric[-1]:.1f}% recall, above "
                "guessing (12.5%), unlike the paper's LSTM (0.0204, the guessing level)."
            )
    return " ".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
