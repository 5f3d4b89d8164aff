"""What the two sequence examples (adding problem, copy memory) share: models, training, figures.

The TCN is ``atrous.nn.TCN`` with a linear head (on the last step for the adding problem, at
every step for copy memory), as in the paper's code; the baseline is a one-layer LSTM whose
hidden size makes its parameter count as close as possible to the TCN's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import common
import torch
from torch import Tensor, nn

from atrous.nn import TCN

OKABE_ITO = {"tcn": "#0072B2", "lstm": "#D55E00", "paper_tcn": "#56B4E9", "paper_lstm": "#E69F00"}
LABELS = {"tcn": "TCN (atrous.nn.TCN)", "lstm": "LSTM"}


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
) -> Curves:
    """Train ``model`` and return its test curves (evaluated before training too)."""
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
    t0 = time.perf_counter()
    eval_time = 0.0
    for epoch in range(1, epochs + 1):
        for idx in dist.batches(len(x_train), batch_size, epoch, seed):
            xb, yb = x_train[idx].to(dist.device), y_train[idx].to(dist.device)
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
        if c.batches[-1] != step:
            te = time.perf_counter()
            record(step)
            eval_time += time.perf_counter() - te
        c.epoch.append(epoch)
        c.epoch_loss.append(c.loss[-1])
        c.epoch_metric.append(c.metric[-1])
    c.seconds = time.perf_counter() - t0
    c.seconds_per_batch = (c.seconds - eval_time) / max(step, 1)
    return c


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
):
    """Log-scale test curves of TCN and LSTM, the paper's final values dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if metric else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    for key, cv in curves.items():
        ax.plot(
            cv.batches,
            cv.loss,
            color=OKABE_ITO[key],
            lw=2.6 if key == "tcn" else 1.5,
            label=f"{LABELS[key]} (this run)",
        )
    for key, value in paper.items():
        ax.axhline(value, color=OKABE_ITO[f"paper_{key}"], ls="--", lw=1.3, label=f"paper, {key.upper()}: {value:g}")
    if chance is not None:
        ax.axhline(chance, color="#999999", ls=":", lw=1.2, label=chance_label)
    ax.set_yscale("log")
    ax.set_xlabel("training batches (of 32 sequences)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _epoch_marks(ax, curves, batches_per_epoch)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    if metric:
        ax2 = axes[0, 1]
        for key, cv in curves.items():
            ax2.plot(cv.batches, [100 * m for m in cv.metric], color=OKABE_ITO[key], lw=1.8, label=LABELS[key])
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
    last = max(cv.batches[-1] for cv in curves.values())
    for e in range(1, math.ceil(last / max(batches_per_epoch, 1))):
        ax.axvline(e * batches_per_epoch, color="#cccccc", lw=0.8, zorder=0)
