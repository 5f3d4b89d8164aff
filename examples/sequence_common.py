"""What the two sequence examples (adding problem, copy memory) share: models, training, figures.

The TCN is ``atrous.nn.TCN`` with a linear head (on the last step for the adding problem, at
every step for copy memory), as in the paper's code; the baseline is a one-layer LSTM whose
hidden size makes its parameter count as close as possible to the TCN's. :func:`run` is the
whole example once a :class:`Task` says what differs: the data, the losses, the optimiser,
the paper's numbers and the text.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import common
import torch
from torch import Tensor, nn

from atrous.nn import TCN

OKABE_ITO = {"tcn": "#0072B2", "lstm": "#D55E00", "paper_tcn": "#56B4E9", "paper_lstm": "#E69F00"}
LABELS = {"tcn": "TCN (atrous.nn.TCN)", "lstm": "LSTM"}
SEED_COLORS = ["#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442", "#E69F00", "#999999"]


def model_of(key: str) -> str:
    """``"tcn"`` for ``"tcn"`` and ``"tcn seed 3"``; ``"lstm"`` likewise."""
    return key.split()[0]


def label_of(key: str) -> str:
    """The legend / table name of a curve key: ``"TCN"``, ``"TCN seed 3"``, ``"LSTM"``."""
    parts = key.split()
    return " ".join([parts[0].upper(), *parts[1:]])


INIT_NOTE = (
    "The TCN has `atrous.nn.TCN`'s initialisation, which is what the paper's runs had: PyTorch's default for the "
    "weight-normalised convolutions and N(0, 0.01) for the 1x1 shortcuts (the paper's code draws N(0, 0.01) into "
    "the convolutions after weight normalisation, where it has no effect: locuslab/TCN issue 1)."
)


class TCNHead(nn.Module):
    """``atrous.nn.TCN`` + a linear layer: on the last step (``per_step=False``) or every step."""

    def __init__(self, tcn: TCN, out: int, per_step: bool) -> None:
        super().__init__()
        self.tcn = tcn
        self.per_step = per_step
        self.linear = nn.Linear(tcn.out_channels, out)
        nn.init.normal_(self.linear.weight, 0.0, 0.01)  # as the paper's code

    def forward(self, x: Tensor) -> Tensor:
        h = self.tcn(x)  # (N, C, T)
        if self.per_step:
            return self.linear(h.transpose(1, 2))  # (N, T, out)
        return self.linear(h[:, :, -1])  # (N, out)


class LSTMHead(nn.Module):
    """A one-layer LSTM over ``(N, C, T)`` inputs + a linear layer (last step or every step)."""

    def __init__(self, in_channels: int, hidden: int, out: int, per_step: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, batch_first=True)
        self.per_step = per_step
        self.linear = nn.Linear(hidden, out)

    def forward(self, x: Tensor) -> Tensor:
        h, _ = self.lstm(x.transpose(1, 2))  # (N, T, H)
        if self.per_step:
            return self.linear(h)
        return self.linear(h[:, -1])


def lstm_params(in_channels: int, hidden: int, out: int) -> int:
    return 4 * hidden * (in_channels + hidden + 2) + hidden * out + out


def matched_hidden(target: int, in_channels: int, out: int) -> int:
    """The LSTM hidden size whose parameter count is nearest ``target``."""
    best = min(range(1, 2048), key=lambda h: abs(lstm_params(in_channels, h, out) - target))
    return best


@dataclass
class Curves:
    """Test curves of one model: evaluated every ``eval_every`` batches and at each epoch's end."""

    batches: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    epoch_metric: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_batch: float = 0.0
    warmup_batches: int = 0
    warmup_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "test_loss": self.loss,
            "test_metric": self.metric,
            "epoch": self.epoch,
            "epoch_test_loss": self.epoch_loss,
            "epoch_test_metric": self.epoch_metric,
            "train_loss": self.train_loss,
            "train_seconds": round(self.seconds, 1),
            "seconds_per_batch": round(self.seconds_per_batch, 4),
            **(
                {"warmup_batches": self.warmup_batches, "warmup_seconds": round(self.warmup_seconds, 1)}
                if self.warmup_batches
                else {}
            ),
        }


def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_sum: Callable[[Tensor, Tensor], Tensor],
    metric_sum: Callable[[Tensor, Tensor], Tensor],
    dist: common.Dist,
    chunk: int = 250,
) -> tuple[float, float]:
    """Mean test loss and metric; each process takes every ``world``-th sample, then they average."""
    model.eval()
    xs, ys = x[dist.rank :: dist.world], y[dist.rank :: dist.world]
    total_loss = total_metric = 0.0
    with torch.no_grad():
        for start in range(0, len(xs), chunk):
            out = model(xs[start : start + chunk].to(dist.device))
            target = ys[start : start + chunk].to(dist.device)
            total_loss += float(loss_sum(out, target))
            total_metric += float(metric_sum(out, target))
    model.train()
    count = dist.mean(float(len(xs)))
    return dist.mean(total_loss) / count, dist.mean(total_metric) / count


def train(
    model: nn.Module,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    *,
    loss: Callable[[Tensor, Tensor], Tensor],
    loss_sum: Callable[[Tensor, Tensor], Tensor],
    metric_sum: Callable[[Tensor, Tensor], Tensor],
    optimizer: Callable[..., torch.optim.Optimizer],
    lr: float,
    clip: float,
    epochs: int,
    batch_size: int,
    eval_every: int,
    seed: int,
    dist: common.Dist,
    name: str,
    lr_schedule: Callable[[int], float] | None = None,
    warmup: tuple[Tensor, Tensor, int] | None = None,
) -> Curves:
    """Train ``model`` and return its test curves (evaluated before training too).

    ``lr_schedule(batch)`` multiplies ``lr`` before each batch (batches count from 0).
    ``warmup = (x, y, batches)``: first train ``batches`` batches on ``(x, y)`` (shorter
    sequences of the same task), then the ``epochs`` on the training data; the test set is
    the task's throughout.
    """
    x_train, y_train, x_test, y_test = data
    net = dist.wrap(model)
    opt = optimizer(net.parameters(), lr=lr)
    c = Curves()

    def record(step: int) -> tuple[float, float]:
        lo, me = evaluate(net, x_test, y_test, loss_sum, metric_sum, dist)
        c.batches.append(step)
        c.loss.append(lo)
        c.metric.append(me)
        if dist.main:
            print(f"  {name:4s} batch {step:6d}  test loss {lo:.6g}  metric {me:.4f}", flush=True)
        return lo, me

    record(0)
    step = 0
    running: list[float] = []
    eval_time = 0.0

    def one_batch(xb: Tensor, yb: Tensor) -> None:
        nonlocal step, running, eval_time
        if lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = lr * lr_schedule(step)
        opt.zero_grad(set_to_none=True)
        value = loss(net(xb), yb)
        value.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        step += 1
        running.append(float(value.detach()))
        if step % eval_every == 0:
            c.train_loss.append(dist.mean(sum(running) / len(running)))
            running = []
            te = time.perf_counter()
            record(step)
            eval_time += time.perf_counter() - te

    t0 = time.perf_counter()
    if warmup is not None:
        x_w, y_w, n_w = warmup
        rounds = 0
        while step < n_w:
            rounds += 1  # the warm-up's epochs, shuffled apart from the main ones
            for idx in dist.batches(len(x_w), batch_size, -rounds, seed):
                one_batch(x_w[idx].to(dist.device), y_w[idx].to(dist.device))
                if step >= n_w:
                    break
        if c.batches[-1] != step:
            te = time.perf_counter()
            record(step)
            eval_time += time.perf_counter() - te
        c.warmup_batches = step
        c.warmup_seconds = time.perf_counter() - t0 - eval_time
    t_main, eval_before = time.perf_counter(), eval_time
    for epoch in range(1, epochs + 1):
        for idx in dist.batches(len(x_train), batch_size, epoch, seed):
            one_batch(x_train[idx].to(dist.device), y_train[idx].to(dist.device))
        if c.batches[-1] != step:
            te = time.perf_counter()
            record(step)
            eval_time += time.perf_counter() - te
        c.epoch.append(epoch)
        c.epoch_loss.append(c.loss[-1])
        c.epoch_metric.append(c.metric[-1])
    c.seconds = time.perf_counter() - t0
    main_batches = step - c.warmup_batches
    c.seconds_per_batch = (time.perf_counter() - t_main - (eval_time - eval_before)) / max(main_batches, 1)
    return c


def sensitivity(model: nn.Module, x: Tensor) -> Tensor:
    """Mean ``|d output / d x[:, c, T - 1 - s]|`` over the batch ``x`` (outputs summed): ``(C, T)``,
    column ``s`` = ``s`` steps before the last one. How strongly the last step's output reads the
    input ``s`` steps back."""
    model.eval()
    xx = x.clone().requires_grad_(True)
    model(xx).sum().backward()
    model.train()
    assert xx.grad is not None
    return xx.grad.abs().mean(0).flip(-1).detach()


def receptive_field(tcn: TCN, in_channels: int, length: int) -> dict:
    """The TCN's receptive field from the layer and from ``atrous.analyze`` of the traced body."""
    import atrous

    report = atrous.analyze(tcn, (1, in_channels, length))
    traced = report.node().rf()[0]
    return {"layer": tcn.receptive_field, "analyze": traced, "dilations": list(tcn.dilations)}


def curve_figure(
    curves: dict[str, Curves],
    *,
    ylabel: str,
    paper: dict[str, float],
    chance: float | None,
    chance_label: str,
    batches_per_epoch: int,
    title: str,
    metric: str | None = None,
    metric_label: str = "",
    warmup_label: str = "",
):
    """Log-scale test curves of TCN and LSTM, the paper's final values dashed (the warm-up shaded)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if metric else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    for i, (key, cv) in enumerate(curves.items()):
        seeded = key != model_of(key)
        ax.plot(
            cv.batches,
            cv.loss,
            color=SEED_COLORS[i % len(SEED_COLORS)] if seeded else OKABE_ITO[model_of(key)],
            lw=1.6 if seeded else (2.6 if key == "tcn" else 1.5),
            label=f"{LABELS[model_of(key)]}, {key.split(maxsplit=1)[1]}" if seeded else f"{LABELS[key]} (this run)",
        )
    for key, value in paper.items():
        ax.axhline(value, color=OKABE_ITO[f"paper_{key}"], ls="--", lw=1.3, label=f"paper, {key.upper()}: {value:g}")
    if chance is not None:
        ax.axhline(chance, color="#999999", ls=":", lw=1.2, label=chance_label)
    warm = max(cv.warmup_batches for cv in curves.values())
    if warm:
        ax.axvspan(0, warm, color="#eeeeee", zorder=0, label=warmup_label or "warm-up")
    ax.set_yscale("log")
    ax.set_xlabel("training batches (of 32 sequences)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _epoch_marks(ax, curves, batches_per_epoch)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)
    if metric:
        ax2 = axes[0, 1]
        for key, cv in curves.items():
            ax2.plot(
                cv.batches, [100 * m for m in cv.metric], color=OKABE_ITO[model_of(key)], lw=1.8, label=LABELS[key]
            )
        ax2.axhline(100 / 8, color="#999999", ls=":", lw=1.2, label="chance (1 of 8 digits)")
        ax2.set_xlabel("training batches (of 32 sequences)")
        ax2.set_ylabel(metric_label)
        ax2.set_ylim(0, 102)
        ax2.set_title("Recall accuracy on the test set")
        _epoch_marks(ax2, curves, batches_per_epoch)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return fig


def _epoch_marks(ax, curves: dict[str, Curves], batches_per_epoch: int) -> None:
    warm = max(cv.warmup_batches for cv in curves.values())
    last = max(cv.batches[-1] for cv in curves.values()) - warm
    for e in range(1, math.ceil(last / max(batches_per_epoch, 1))):
        ax.axvline(warm + e * batches_per_epoch, color="#cccccc", lw=0.8, zorder=0)


# --------------------------------------------------------------------------- the whole example


@dataclass
class Task:
    """What one sequence example is: everything :func:`run` does not decide itself.

    ``data(seed)`` returns ``(x_train, y_train, x_test, y_test)`` with inputs ``(N, C, T)``;
    ``loss(out, y)`` is the training loss, ``loss_sum`` / ``metric_sum`` sum over a test chunk
    (their means are the reported test loss and metric). ``describe(run)`` writes the text.
    """

    name: str
    title: str
    script: str
    in_channels: int
    outputs: int
    per_step: bool
    length: int
    data: Callable[[int], tuple[Tensor, Tensor, Tensor, Tensor]]
    loss: Callable[[Tensor, Tensor], Tensor]
    loss_sum: Callable[[Tensor, Tensor], Tensor]
    metric_sum: Callable[[Tensor, Tensor], Tensor]
    optimizer: Callable[..., torch.optim.Optimizer]
    paper: dict[str, float]
    ylabel: str
    chance: float | None
    chance_label: str
    caption: str
    describe: Callable[[Run], str]
    metric: str | None = None
    metric_label: str = ""
    init_tcn: Callable[[TCN], None] | None = None
    lr_schedule: Callable[[int], float] | None = None
    warmup_data: Callable[[int], tuple[Tensor, Tensor]] | None = None
    warmup_batches: int = 0
    control: bool = False
    """Also train the first seed's TCN without the warm-up: the same batches and schedule, all on the task's T."""
    figures: Callable[[Run], list[tuple[str, Any, str]]] | None = None
    """More figures of the task, made once everything is trained."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """What :func:`run` made, for the task's text and table."""

    args: Any
    task: Task
    seeds: list[int]
    rf: dict
    params: dict[str, int]
    hidden: int
    curves: dict[str, Curves]
    per_epoch: int
    models: dict[str, nn.Module] = field(default_factory=dict)
    initial: nn.Module | None = None
    """The first seed's TCN as initialised (a copy made before training)."""


def tcn_model(task: Task, args: Any) -> TCNHead:
    tcn = TCN(task.in_channels, [args.channels] * args.levels, kernel_size=args.kernel_size, dropout=0.0)
    if task.init_tcn is not None:
        task.init_tcn(tcn)
    return TCNHead(tcn, task.outputs, per_step=task.per_step)


def run(task: Task, args: Any, dist: common.Dist) -> Run:
    """Train the TCN (once per seed in ``args.seeds``, else once with ``args.seed``) and the LSTM
    (once, with the first seed), then write the results (table, curves figure, text)."""
    t0 = time.perf_counter()
    seeds = list(getattr(args, "seeds", None) or [args.seed])
    wanted = ["tcn", "lstm"] if args.model == "both" else [args.model]
    common.seed_everything(seeds[0])
    first = tcn_model(task, args)
    rf = receptive_field(first.tcn, task.in_channels, task.length)
    n_tcn = common.count_parameters(first)
    hidden = args.lstm_hidden or matched_hidden(n_tcn, task.in_channels, task.outputs)
    lstm = LSTMHead(task.in_channels, hidden, task.outputs, per_step=task.per_step)
    params = {"tcn": n_tcn, "lstm": common.count_parameters(lstm)}
    if dist.main:
        print(
            f"{task.name}: T={task.length}: TCN {params['tcn']} parameters, receptive field {rf['layer']} "
            f"(analyze: {rf['analyze']}); LSTM hidden {hidden}, {params['lstm']} parameters",
            flush=True,
        )
    warmed = task.warmup_data is not None and task.warmup_batches > 0
    jobs: list[tuple[str, int, bool]] = []
    if "tcn" in wanted:
        jobs += [("tcn" if len(seeds) == 1 else f"tcn seed {s}", s, warmed) for s in seeds]
        if task.control and warmed:
            jobs.append((f"tcn seed {seeds[0]}, no warm-up", seeds[0], False))
    if "lstm" in wanted:
        jobs.append(("lstm", seeds[0], warmed))
    curves: dict[str, Curves] = {}
    models: dict[str, nn.Module] = {}
    initial: nn.Module | None = None
    data_seed, data, warm_data = None, None, None
    for key, seed, use_warmup in jobs:
        if seed != data_seed:
            data_seed, data = seed, task.data(seed)
            if warmed:
                assert task.warmup_data is not None
                warm_data = task.warmup_data(seed)
        assert data is not None
        warm = None
        if warmed:
            # the control spends the warm-up's batches on the task's own sequences
            assert warm_data is not None
            warm = (*(warm_data if use_warmup else data[:2]), task.warmup_batches)
        common.seed_everything(seed)
        if model_of(key) == "tcn":
            model: nn.Module = tcn_model(task, args)
            if initial is None:
                initial = copy.deepcopy(model)
        else:
            model = LSTMHead(task.in_channels, hidden, task.outputs, per_step=task.per_step)
        common.seed_everything(seed)
        curves[key] = train(
            model,
            data,
            loss=task.loss,
            loss_sum=task.loss_sum,
            metric_sum=task.metric_sum,
            optimizer=task.optimizer,
            lr=args.lr,
            clip=args.clip,
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_every=args.eval_every,
            seed=seed,
            dist=dist,
            name=key,
            lr_schedule=task.lr_schedule,
            warmup=warm,
        )
        models[key] = model
    per_epoch = args.train_size // args.batch_size
    result = Run(args, task, seeds, rf, params, hidden, curves, per_epoch, models, initial)
    header, rows = table(result)
    fig = curve_figure(
        curves,
        ylabel=task.ylabel,
        paper={k: task.paper[k] for k in wanted},
        chance=task.chance,
        chance_label=task.chance_label,
        batches_per_epoch=per_epoch,
        title=f"{task.title.split(':')[0]}, T = {task.length}",
        metric=task.metric,
        metric_label=task.metric_label,
        warmup_label=task.extra.get("warmup_label", ""),
    )
    common.save(
        args,
        dist,
        script=task.script,
        name=task.name,
        title=task.title,
        text=task.describe(result),
        header=header,
        rows=rows,
        figures=[("curves.png", fig, task.caption), *(task.figures(result) if task.figures else [])],
        data={
            **task.extra,
            "train_size": args.train_size,
            "test_size": args.test_size,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "clip": args.clip,
            "epochs": args.epochs,
            "batches_per_epoch": per_epoch,
            "eval_every": args.eval_every,
            "seeds": seeds,
            "receptive_field": rf,
            "covers_sequence": rf["layer"] >= task.length,
            "parameters": params,
            "lstm_hidden": hidden,
            "paper": task.paper,
            "curves": {k: cv.as_dict() for k, cv in curves.items()},
        },
        started=t0,
    )
    return result


def table(r: Run) -> tuple[list[str], list[list]]:
    """The summary table: one row per trained model (and seed)."""
    loss = "MSE" if r.task.metric is None else "loss"
    header = [
        "model",
        "parameters",
        "batches",
        f"test {loss} before training",
        f"test {loss} after each epoch",
        f"best test {loss}",
        f"final test {loss}",
        f"paper (final{'' if r.task.metric is None else ' loss'})",
    ]
    if r.task.metric is not None:
        header.append(f"{r.task.metric} accuracy (final)")
    header.append("ms / batch")
    rows = []
    for key, cv in r.curves.items():
        m = model_of(key)
        row = [
            label_of(key),
            r.params[m],
            cv.batches[-1],
            common.fmt(cv.loss[0]),
            ", ".join(common.fmt(v) for v in cv.epoch_loss),
            common.fmt(min(cv.loss)),
            common.fmt(cv.loss[-1]),
            common.fmt(r.task.paper[m]),
        ]
        if r.task.metric is not None:
            row.append(f"{100 * cv.metric[-1]:.1f}%")
        row.append(round(cv.seconds_per_batch * 1000, 1))
        rows.append(row)
    return header, rows


def sequence_parser(description: str, defaults: dict[str, Any], lr: float, clip: float, epochs_help: str):
    """The flags both sequence examples take (``defaults``: the full run's sizes, for the help)."""
    p = common.parser(description)
    pi, pf = common.positive_int, common.positive_float
    p.add_argument(
        "--train-size", type=pi("--train-size"), help=f"training sequences (default {defaults['train_size']})"
    )
    p.add_argument("--test-size", type=pi("--test-size"), help=f"test sequences (default {defaults['test_size']})")
    p.add_argument("--epochs", type=pi("--epochs"), help=epochs_help)
    p.add_argument("--batch-size", type=pi("--batch-size"), default=32, help="global batch (default 32)")
    p.add_argument("--lr", type=pf("--lr"), default=lr, help=f"learning rate (default {lr:g})")
    clip_text = "none" if clip <= 0 else f"{clip:g}"
    p.add_argument("--clip", type=float, default=clip, help=f"gradient-norm clip, <= 0: none (default: {clip_text})")
    p.add_argument("--model", choices=["tcn", "lstm", "both"], default="both", help="what to train (default both)")
    p.add_argument("--levels", type=pi("--levels"), help=f"TCN blocks (default {defaults['levels']})")
    p.add_argument("--channels", type=pi("--channels"), help=f"TCN width (default {defaults['channels']})")
    p.add_argument(
        "--kernel-size", type=pi("--kernel-size"), help=f"TCN kernel size (default {defaults['kernel_size']})"
    )
    p.add_argument("--lstm-hidden", type=pi("--lstm-hidden"), help="LSTM width (default: parameters as the TCN's)")
    p.add_argument(
        "--eval-every",
        type=pi("--eval-every"),
        help=f"batches between test evaluations (default {defaults['eval_every']})",
    )
    return p


def parse_sequence_args(p, argv, full: dict[str, Any], quick: dict[str, Any]):
    """Parse, fill the defaults of the mode, check the batch against the processes; the Dist too."""
    args = common.parse(p, argv)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    dist = common.distributed(args.device)
    if args.batch_size % dist.world:
        p.error(f"--batch-size {args.batch_size} must be divisible by the {dist.world} processes")
    if args.train_size < args.batch_size:
        p.error(f"--train-size {args.train_size} must be at least --batch-size {args.batch_size}")
    return args, dist
