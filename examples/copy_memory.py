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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import sequence_common as sc
import torch
import torch.nn.functional as F

from atrous.datasets.sequence import copy_memory

PAPER = {"tcn": 3.5e-5, "lstm": 0.0204}
DIGITS = 10
CLASSES = 10

FULL = {"blank_length": 1000, "train_size": 10_000, "test_size": 1000, "epochs": 8, "levels": 8, "channels": 10}
FULL |= {"kernel_size": 8, "eval_every": 100}
QUICK = {"blank_length": 20, "train_size": 256, "test_size": 64, "epochs": 3, "levels": 4, "channels": 8}
QUICK |= {"kernel_size": 4, "eval_every": 4}


def build_parser():
    p = sc.sequence_parser(
        __doc__.splitlines()[0], FULL, lr=5e-4, clip=1.0, epochs_help="epochs (default 8; the paper's code: 50)"
    )
    p.add_argument(
        "--blank-length",
        "--seq-length",
        dest="blank_length",
        type=common.positive_int("--blank-length"),
        help="T, the blanks between the digits and the recall (default 1000; 20 with --quick)",
    )
    return p


def main(argv=None) -> int:
    args, dist = sc.parse_sequence_args(build_parser(), argv, FULL, QUICK)
    T = args.blank_length
    length = T + 2 * DIGITS
    chance = DIGITS * math.log(8) / length

    def data(seed):
        x_train, y_train = copy_memory(args.train_size, T, seed=seed)
        x_test, y_test = copy_memory(args.test_size, T, seed=seed + 1)
        return x_train.unsqueeze(1), y_train, x_test.unsqueeze(1), y_test

    def loss(out, y):
        return F.cross_entropy(out.reshape(-1, CLASSES), y.reshape(-1))

    def loss_sum(out, y):
        # per sample: the mean over its steps, so that the test mean is the paper's loss
        return F.cross_entropy(out.reshape(-1, CLASSES), y.reshape(-1), reduction="sum") / y.shape[1]

    def recall_sum(out, y):
        # per sample: the fraction of its ten recalled digits that are right
        right = out[:, -DIGITS:].argmax(-1) == y[:, -DIGITS:]
        return right.float().mean(dim=1).sum()

    task = sc.Task(
        name="copy_memory",
        title="Copy memory: dilated TCN vs LSTM (Bai et al. 2018)",
        script=__file__,
        in_channels=1,
        outputs=CLASSES,
        per_step=True,
        length=length,
        data=data,
        loss=loss,
        loss_sum=loss_sum,
        metric_sum=recall_sum,
        optimizer=torch.optim.RMSprop,
        paper=PAPER,
        ylabel="test cross-entropy (mean over all steps)",
        chance=chance,
        chance_label=f"blanks right, digits guessed: {chance:.4f}",
        caption=(
            f"Copy memory, T = {T}: test cross-entropy (left; dashed: the paper's final values) and the "
            "accuracy on the ten recalled digits (right)"
        ),
        describe=lambda r: describe(r.args, r.rf, r.params, r.hidden, r.curves, r.per_epoch, chance),
        metric="recall",
        metric_label="recalled digits right (%)",
        extra={
            "blank_length": T,
            "length": length,
            "chance_loss": chance,
            "metric": "fraction of the ten recalled digits predicted right",
        },
    )
    sc.run(task, args, dist)
    common.finish(dist)
    return 0


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
