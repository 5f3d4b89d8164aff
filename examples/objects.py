"""Objects vs receptive field: dense labels that need context the size of the object, and the tap grid.

Part 1. Images of filled squares of sides ``S`` on noise
(:func:`atrous.datasets.objects.square_objects`); every pixel is labelled by the quadrant of its
own square it lies in (or background). Inside a square all pixels look alike; only the square's
edges say where a pixel is, so a model whose centred receptive field ``R`` is smaller than ``S``
must guess for the pixels that see no edge. The best possible accuracy is
``a^2, a = 1 - max(0, S - (R - 1)) / (2S)`` (:func:`~atrous.datasets.objects.quadrant_accuracy_bound`).
Models of six 3x3 layers with the same weights differ only in their dilations (gridding-free
schedules), so their receptive fields (from ``atrous.analyze``) range from 13 to 65 pixels.

Part 2. The miss rate of one dilated layer (kernel 3, dilation ``d``, stride ``d``): its taps lie
on a period-``d`` grid, and a ``w_y x w_x`` object smaller than ``d`` is missed when no tap lands
on it. The real layer (``atrous.nn.Conv2d`` with positive weights) is run on images holding one
object at a uniformly random place; the measured miss rate is compared with the model
``1 - w_y w_x / d^2`` and the exact count of :func:`atrous.viz.figures._hit_fraction`.

    python examples/objects.py --quick
    python examples/objects.py --threads 1     # the full run recorded in docs/results/
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import atrous
from atrous.datasets.objects import quadrant_accuracy_bound, square_objects
from atrous.geometry import coverage, stack_receptive_field
from atrous.nn import Conv2d
from atrous.viz.figures import _hit_fraction

# six 3x3 layers each; every schedule covers its field without holes (checked at start)
SCHEDULES = {
    13: (1, 1, 1, 1, 1, 1),
    17: (1, 1, 2, 2, 1, 1),
    25: (1, 2, 3, 3, 2, 1),
    33: (1, 2, 4, 4, 3, 2),
    41: (1, 2, 4, 6, 5, 2),
    49: (1, 2, 4, 8, 6, 3),
    65: (1, 2, 4, 8, 12, 5),
}
QUICK_SCHEDULES = {13: (1, 1, 1, 1, 1, 1), 33: (1, 2, 4, 4, 3, 2)}
SIZES = (4, 8, 16, 32, 48)
QUICK_SIZES = (4, 16)
# part 2: object sizes (w_y, w_x) and dilations
OBJECTS = ((1, 1), (2, 2), (2, 3), (4, 4))
DILATIONS = tuple(range(2, 17))
CLASSES = 5
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


class Net(nn.Module):
    """Six 3x3 convolutions (BatchNorm, ReLU) with the given dilations, then a 1x1 classifier."""

    def __init__(self, dilations: tuple[int, ...], channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for d in dilations:
            layers += [Conv2d(c_in, channels, 3, dilation=d, padding="same"), nn.BatchNorm2d(channels), nn.ReLU()]
            c_in = channels
        self.body = nn.Sequential(*layers)
        self.head = Conv2d(channels, CLASSES, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def per_size_accuracy(model: nn.Module, data, sizes, batch: int, device: torch.device) -> tuple[dict, Tensor]:
    """Pixel accuracy on the squares of each side (background pixels not counted) and the predictions."""
    model.eval()
    preds = []
    with torch.no_grad():
        for s in range(0, len(data.image), batch):
            preds.append(model(data.image[s : s + batch].to(device)).argmax(1).cpu())
    model.train()
    pred = torch.cat(preds)
    right = pred == data.label
    return {s: float(right[data.side == s].float().mean()) for s in sizes}, pred


def miss_rate(wy: int, wx: int, d: int, trials: int, seed: int) -> tuple[float, int]:
    """Measured miss rate of a ``w_y x w_x`` object by one ``k=3`` layer of dilation and stride ``d``.

    Images of side ``3d + 1`` hold one object of ones at a top-left corner drawn uniformly from
    ``[0, 2d)^2`` (every phase relative to the tap grid equally often); the layer has positive
    random weights and no bias, so an output is positive iff one of its taps lies on the object.
    """
    g = torch.Generator().manual_seed(seed)
    layer = Conv2d(1, 1, 3, dilation=d, stride=d, bias=False)
    with torch.no_grad():
        layer.weight.copy_(0.1 + torch.rand(layer.weight.shape, generator=g))
    side = 3 * d + 1
    missed = 0
    done = 0
    while done < trials:
        n = min(2048, trials - done)
        top = torch.randint(0, 2 * d, (n,), generator=g)
        left = torch.randint(0, 2 * d, (n,), generator=g)
        rows = torch.arange(side)
        in_y = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + wy)
        in_x = (rows[None, :] >= left[:, None]) & (rows[None, :] < left[:, None] + wx)
        img = (in_y[:, :, None] & in_x[:, None, :]).float()[:, None]
        with torch.no_grad():
            out = layer(img)
        missed += int((out.flatten(1).amax(1) <= 0).sum())
        done += n
    return missed / trials, trials


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=common.positive_int("--steps"), help="optimiser steps per model (default 350)")
    p.add_argument("--batch", type=common.positive_int("--batch"), help="images per step (default 8)")
    p.add_argument("--channels", type=common.positive_int("--channels"), help="channels per layer (default 16)")
    p.add_argument("--trials", type=common.positive_int("--trials"), help="placements per (object, d) (default 20000)")
    p.add_argument("--lr", type=common.positive_float("--lr"), default=3e-3, help="Adam learning rate")
    args = common.parse(p, argv)
    quick = args.quick
    schedules = QUICK_SCHEDULES if quick else SCHEDULES
    sizes = QUICK_SIZES if quick else SIZES
    image = 40 if quick else 96
    steps = args.steps or (6 if quick else 350)
    batch = args.batch or (4 if quick else 8)
    channels = args.channels or (8 if quick else 16)
    trials = args.trials or (2000 if quick else 20_000)
    n_train = 32 if quick else 2048
    n_test = 8 if quick else 256
    every = 3 if quick else 50
    dilations = (2, 4, 8) if quick else DILATIONS
    objects = ((1, 1), (2, 2)) if quick else OBJECTS

    t0 = time.perf_counter()
    common.seed_everything(args.seed)
    dist = common.distributed(args.device)
    if batch % dist.world:
        p.error(f"--batch {batch} must be divisible by the {dist.world} processes")
    for rf, rates in schedules.items():
        assert stack_receptive_field(rates) == rf and coverage(rates, 3).ok, rates
    kw = dict(size=image, sizes=sizes)
    train = square_objects(n_train, seed=2 * args.seed + 1, **kw)
    test = square_objects(n_test, seed=2 * args.seed + 2, **kw)

    models = {}
    examples = {}
    for idx, (target, rates) in enumerate(schedules.items()):
        torch.manual_seed(args.seed * 1000 + idx)
        net = Net(rates, channels)
        rf = (
            atrous.analyze(net, (1, 1, image, image)).node().rf(statistics="frozen")
        )  # the training-mode BatchNorm held fixed
        params = common.count_parameters(net)
        model = dist.wrap(net)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        curve_step, curve_loss = [], []
        step, epoch, running, seen = 0, 0, 0.0, 0
        while step < steps:
            for rows in dist.batches(n_train, batch, epoch, args.seed):
                out = model(train.image[rows].to(dist.device))
                loss = F.cross_entropy(out, train.label[rows].to(dist.device))
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                running += float(loss.detach())
                seen += 1
                if step % every == 0 or step == steps:
                    curve_step.append(step)
                    curve_loss.append(dist.mean(running / seen))
                    running, seen = 0.0, 0
                if step >= steps:
                    break
            epoch += 1
        acc, pred = per_size_accuracy(model, test, sizes, batch, dist.device)
        examples[target] = pred[0]
        models[str(target)] = {
            "dilations": list(rates),
            "rf": rf,
            "params": params,
            "accuracy": {str(s): a for s, a in acc.items()},
            "bound": {str(s): quadrant_accuracy_bound(rf[0], s) for s in sizes},
            "steps": curve_step,
            "loss": curve_loss,
        }
        if dist.main and not quick:
            shown = ", ".join(f"S={s}: {100 * a:.1f}%" for s, a in acc.items())
            print(f"RF {rf} dilations {rates}: {shown}", flush=True)

    miss = {}
    for wy, wx in objects:
        key = f"{wy}x{wx}"
        miss[key] = {"d": [], "measured": [], "stderr": [], "model": [], "exact": []}
        for d in dilations:
            if d < max(wy, wx):
                continue
            m, n = miss_rate(wy, wx, d, trials, seed=args.seed * 7919 + 31 * d + wy * 5 + wx)
            model_rate = max(0.0, 1.0 - wy * wx / d**2)
            miss[key]["d"].append(d)
            miss[key]["measured"].append(m)
            # binomial standard error at the model's rate (what a correct model predicts)
            miss[key]["stderr"].append(math.sqrt(max(model_rate * (1 - model_rate), 1e-12) / n))
            miss[key]["model"].append(model_rate)
            miss[key]["exact"].append(1.0 - _hit_fraction(wy, wx, d))
    worst = max(
        abs(m - mo) / s
        for v in miss.values()
        for m, mo, s in zip(v["measured"], v["model"], v["stderr"], strict=True)
        if s > 1e-5
    )

    if dist.main:
        figures = make_figures(models, sizes, miss, test, examples, schedules)
        header = ["receptive field", "dilations", "parameters"] + [f"S={s} acc % (bound)" for s in sizes]
        rows = []
        for r in models.values():
            cells = [f"{100 * r['accuracy'][str(s)]:.1f} ({100 * r['bound'][str(s)]:.0f})" for s in sizes]
            rows.append([r["rf"][0], ",".join(map(str, r["dilations"])), r["params"], *cells])
        first, last = models[str(min(schedules))], models[str(max(schedules))]
        big, small = str(max(sizes)), str(min(sizes))
        text = (
            f"Part 1: {n_train} training and {n_test} test images of {image}x{image} pixels, each with one square of "
            f"every side S in {', '.join(map(str, sizes))} (value 1, Gaussian noise 0.3 everywhere, 2 background pixels "
            "between squares); every pixel is labelled background or by the quadrant of its own square (4 classes "
            "inside squares: chance 25%), which only the square's edges reveal. Models: six 3x3 convolutions "
            f"({channels} channels, BatchNorm, ReLU) and a 1x1 classifier, identical in weights "
            f"({first['params']} parameters), differing only in their gridding-free dilations; {steps} Adam steps "
            f"(lr {args.lr}) of {batch} images each, cross-entropy over all pixels. Accuracy on the pixels of squares "
            "of each side, with the best possible accuracy for a centred field R in brackets (a pixel that sees no "
            f"edge along an axis must guess it). With R = {first['rf'][0]}: S={small} "
            f"{100 * first['accuracy'][small]:.1f}%, S={big} {100 * first['accuracy'][big]:.1f}% (bound "
            f"{100 * first['bound'][big]:.0f}%); with R = {last['rf'][0]}: S={small} "
            f"{100 * last['accuracy'][small]:.1f}%, S={big} {100 * last['accuracy'][big]:.1f}% (bound "
            f"{100 * last['bound'][big]:.0f}%). {trend(models, sizes)} "
            f"Part 2: one 3x3 layer with dilation d and stride d (positive weights) on {trials} images per "
            "(object, d) holding one object at a uniformly random place: the measured miss rate matches "
            f"1 - w_y w_x / d^2 (largest deviation {worst:.1f} binomial standard errors over "
            f"{sum(len(v['d']) for v in miss.values())} cases)."
        )
        common.save(
            args,
            dist,
            script=__file__,
            name="objects",
            title="Objects vs receptive field, and the miss rate of a dilated tap grid",
            text=text,
            header=header,
            rows=rows,
            figures=figures,
            data={"image": image, "sizes": list(sizes), "models": models, "miss": miss, "worst_sigma": worst},
            started=t0,
        )
    common.finish(dist)
    return 0


def trend(models: dict, sizes) -> str:
    """What the accuracy table shows, in words computed from it."""
    gaps = [
        100 * (r["accuracy"][str(s)] - r["bound"][str(s)])
        for r in models.values()
        for s in sizes
        if r["bound"][str(s)] < 0.999
    ]
    text = (
        "Where the field is smaller than the square (bound below 100%), the measured accuracy differs from the "
        + (
            f"bound by at most {max(abs(g) for g in gaps):.1f} points ({len(gaps)} cases)"
            if gaps
            else "bound (no case)"
        )
        + "; with the bound, a square of side S can be labelled fully right only once R >= S + 1."
    )
    small = str(min(sizes))
    accs = [(r["rf"][0], r["accuracy"][small], max(r["dilations"])) for r in models.values()]
    (r0, a0, _), (r1, a1, d1) = accs[0], accs[-1]
    if a0 - a1 > 0.03:
        text += (
            f" The smallest squares (S={small}) lose accuracy as the dilations grow ({100 * a0:.1f}% at R={r0}, "
            f"{100 * a1:.1f}% at R={r1}, largest dilation {d1}); a plausible cause, not tested here: at most one "
            f"tap of a layer with dilation {d1} lands on a {small}-pixel square (the tap grid of part 2), so those "
            "squares rest on the few layers with small dilations."
        )
    else:
        text += f" The smallest squares (S={small}) stay near {100 * a1:.0f}% at every field."
    return text


def make_figures(models: dict, sizes, miss: dict, test, examples: dict, schedules: dict) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    rfs = [r["rf"][0] for r in models.values()]
    grid = np.arange(min(rfs), max(rfs) + 1)
    for i, s in enumerate(sizes):
        c = COLOURS[i % len(COLOURS)]
        acc = [100 * r["accuracy"][str(s)] for r in models.values()]
        ax.plot(rfs, acc, "o-", color=c, lw=2, label=f"S = {s}")
        ax.plot(grid, [100 * quadrant_accuracy_bound(int(g), s) for g in grid], "--", color=c, lw=1, alpha=0.8)
        ax.axvline(s + 1, color=c, ls=":", lw=0.8, alpha=0.6)
    ax.axhline(25, color="0.5", ls="-.", lw=1, label="chance (25%)")
    ax.plot([], [], "--", color="0.3", lw=1, label="best possible (bound)")
    ax.set_xlabel("receptive field R (pixels, from atrous.analyze)")
    ax.set_ylabel("pixel accuracy inside squares of side S (%)")
    ax.set_ylim(15, 102)
    ax.set_title("Quadrant labelling: accuracy vs receptive field\n(dotted: R = S + 1, where the bound reaches 100%)")
    ax.legend(fontsize=8.5, loc="lower right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()

    fig2, ax = plt.subplots(figsize=(7.6, 4.6))
    for i, (key, v) in enumerate(miss.items()):
        c = COLOURS[i % len(COLOURS)]
        d = np.asarray(v["d"], dtype=float)
        ax.errorbar(d, v["measured"], yerr=[2 * s for s in v["stderr"]], fmt="o", color=c, ms=5, capsize=2,
                    label=f"{key} measured (real layer)")  # fmt: skip
        dd = np.linspace(d.min(), d.max(), 200)
        wy, wx = (int(t) for t in key.split("x"))
        ax.plot(dd, np.maximum(0, 1 - wy * wx / dd**2), "-", color=c, lw=1.2, alpha=0.8)
    ax.plot([], [], "-", color="0.3", lw=1.2, label="model 1 - w_y w_x / d\u00b2")
    ax.set_xlabel("dilation d (= stride of the tap grid)")
    ax.set_ylabel("miss rate (no tap on the object)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Small objects missed by one dilated 3x3 layer (error bars: 2 binomial s.e.)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, alpha=0.3)
    fig2.tight_layout()

    lo, hi = min(schedules), max(schedules)
    cmap = ListedColormap(["#FFFFFF", "#0072B2", "#E69F00", "#009E73", "#D55E00"])
    fig3, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    axes[0].imshow(test.image[0, 0].numpy(), cmap="gray")
    axes[0].set_title("input (squares + noise)")
    for a, (pic, title) in zip(
        axes[1:],
        ((test.label[0], "label: quadrant of own square"), (examples[lo], f"prediction, R = {lo}"),
         (examples[hi], f"prediction, R = {hi}")), strict=True,
    ):  # fmt: skip
        a.imshow(pic.numpy(), cmap=cmap, vmin=0, vmax=4, interpolation="nearest")
        a.set_title(title)
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    fig3.tight_layout()
    return [
        ("accuracy_vs_rf.png", fig, "Pixel accuracy per object size vs receptive field (dashed: best possible)"),
        ("miss_rate.png", fig2, "Measured miss rate of one dilated layer vs the model 1 - w_y w_x / d^2"),
        ("examples.png", fig3, "A test image, its labels, and the predictions of the smallest and largest field"),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
