"""Small objects next to large ones: a high-dilation path misses tiny lesions, a skip recovers them.

Synthetic scans from :func:`atrous.datasets.scans.lesion_scans`: one large organ (an ellipse
tens of pixels wide, faintly brighter than the background, so it is found by averaging over a
large area) holding tiny bright lesions of ``w_y x w_x`` = 1x1 to 4x4 pixels, and look-alike
spots outside it that are background. Each pixel is background, organ or lesion.

* ``dilated``: the high-dilation path alone. Its first layer is a 3x3 convolution with dilation
  and stride ``d`` (taps on the period-``d`` lattice, the tap grid of DESIGN.md), then 3x3 context
  layers (dilations 1, 2, 4) at that scale, a nearest x``d`` upsampling and two 3x3 layers at
  full resolution. It reads only the lattice, so it can find a lesion only when one of the
  lesion's pixels is a lattice point: probability ``w_y w_x / d^2`` for a uniformly placed lesion
  (capped at 1); the miss rate is at least ``1 - w_y w_x / d^2``.
* ``fused``: the same path, its upsampled output concatenated with an undilated path at full
  resolution (two 3x3 layers on the input: a skip), then a 1x1 fusion layer.
* ``aspp``: two 3x3 layers at full resolution, then ``atrous.nn.ASPP`` (a 1x1 branch, 3x3
  branches with rates d, 2d, 3d and image pooling; DeepLabv3) and a 1x1 head.

A lesion counts as found when one of its pixels is labelled lesion. The set of input positions a
model reads at all comes from ``atrous.analyze(model, ...).field()`` (the union of every output's
support), so each test lesion is also classed as visible or invisible to the model exactly.

    python examples/lesions.py --quick
    ATROUS_DETERMINISTIC=1 python examples/lesions.py --threads 1    # the full run recorded in docs/results/
"""

from __future__ import annotations

import inspect
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
from atrous.datasets.scans import LESION, ORGAN, lesion_scans
from atrous.nn import ASPP, Conv2d

KINDS = ("dilated", "fused", "aspp")
SIZES = ((1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4))
QUICK_SIZES = ((1, 1), (2, 2), (3, 3))
CONTEXT = (1, 2, 4)
COLOURS = {"dilated": "#D55E00", "fused": "#0072B2", "aspp": "#009E73"}
CLASSES = 3
NAMES = {"dilated": "the dilated path alone", "fused": "the fused model", "aspp": "the ASPP model"}
# the comparisons stated in the text: (model, model, result key, what it is)
COMPARE = (
    ("fused", "dilated", "miss", "lesion miss rate"),
    ("fused", "dilated", "organ_iou", "organ IoU"),
    ("aspp", "fused", "miss", "lesion miss rate"),
    ("aspp", "fused", "spot_fp", "share of spots called lesion"),
)


class Coarse(nn.Module):
    """The high-dilation path: a 3x3 layer with dilation and stride ``d`` on the input, context
    layers at 1/d resolution, nearest upsampling by ``d``."""

    def __init__(self, channels: int, d: int) -> None:
        super().__init__()
        self.grid = common.conv_bn_relu(1, channels, dilation=d, stride=d, padding=d)
        self.context = nn.Sequential(*(common.conv_bn_relu(channels, channels, dilation=r) for r in CONTEXT))
        self.d = d

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(self.context(self.grid(x)), scale_factor=self.d, mode="nearest")


class Dilated(nn.Module):
    def __init__(self, channels: int, d: int) -> None:
        super().__init__()
        self.coarse = Coarse(channels, d)
        self.refine = nn.Sequential(common.conv_bn_relu(channels, channels), common.conv_bn_relu(channels, channels))
        self.head = Conv2d(channels, CLASSES, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.refine(self.coarse(x)))


class Fused(nn.Module):
    def __init__(self, channels: int, d: int) -> None:
        super().__init__()
        self.coarse = Coarse(channels, d)
        self.fine = nn.Sequential(common.conv_bn_relu(1, channels), common.conv_bn_relu(channels, channels))
        self.fuse = common.conv_bn_relu(2 * channels, channels, 1, padding=0)
        self.head = Conv2d(channels, CLASSES, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.fuse(torch.cat([self.coarse(x), self.fine(x)], dim=1)))


class WithASPP(nn.Module):
    def __init__(self, channels: int, d: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(common.conv_bn_relu(1, channels), common.conv_bn_relu(channels, channels))
        self.aspp = ASPP(channels, channels, rates=(d, 2 * d, 3 * d))
        self.head = Conv2d(channels, CLASSES, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.aspp(self.stem(x)))


MODELS = {"dilated": Dilated, "fused": Fused, "aspp": WithASPP}


def read_positions(model: nn.Module, size: int) -> tuple[set[int], set[int]] | None:
    """Per axis, the input positions some output of ``model`` reads (from ``atrous.analyze``);
    ``None`` when a branch reads the whole input (ASPP's image pooling)."""
    report = atrous.analyze(model, (2, 1, size, size))
    try:
        field = report.field(statistics="frozen")  # BatchNorm in training mode: its statistics held fixed
    except atrous.errors.SpecError:  # a global branch: every position is read
        return None
    rows = set().union(*(field[0].support(y) for y in range(size)))
    cols = set().union(*(field[1].support(x) for x in range(size)))
    return rows, cols


def lesion_table(pred: Tensor, data, read) -> list[dict]:
    """One entry per test lesion: its size, whether the model can see it, whether it was found."""
    out = []
    for i, boxes in enumerate(data.boxes):
        for t, left, h, w in boxes.tolist():
            found = bool((pred[i, t : t + h, left : left + w] == LESION).any())
            visible = (
                True
                if read is None
                else bool(set(range(t, t + h)) & read[0]) and bool(set(range(left, left + w)) & read[1])
            )
            out.append({"size": (h, w), "found": found, "visible": visible})
    return out


def scores(pred: Tensor, data, read) -> dict:
    table = lesion_table(pred, data, read)
    per_size = {}
    for h, w in sorted({e["size"] for e in table}):
        rows = [e for e in table if e["size"] == (h, w)]
        per_size[f"{h}x{w}"] = {
            "count": len(rows),
            "miss": 1.0 - float(np.mean([e["found"] for e in rows])),
            "invisible": 1.0 - float(np.mean([e["visible"] for e in rows])),
            "miss_when_visible": 1.0 - float(np.mean([e["found"] for e in rows if e["visible"]] or [np.nan])),
        }
    spots = [bool((pred[i, t : t + h, left : left + w] == LESION).any())
             for i, b in enumerate(data.spots) for t, left, h, w in b.tolist()]  # fmt: skip
    organ_true = data.label >= ORGAN
    organ_pred = pred >= ORGAN
    lesion_true, lesion_pred = data.label == LESION, pred == LESION
    return {
        "per_size": per_size,
        "miss": 1.0 - float(np.mean([e["found"] for e in table])),
        "spot_fp": float(np.mean(spots)) if spots else float("nan"),
        "organ_iou": int((organ_true & organ_pred).sum()) / max(1, int((organ_true | organ_pred).sum())),
        "lesion_iou": int((lesion_true & lesion_pred).sum()) / max(1, int((lesion_true | lesion_pred).sum())),
        "lesion_precision": int((lesion_true & lesion_pred).sum()) / max(1, int(lesion_pred.sum())),
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--size", type=common.positive_int("--size"), help="image side (default 64; quick 32)")
    p.add_argument("--dilation", type=common.positive_int("--dilation"), help="d of the high-dilation path (default 4)")
    p.add_argument("--steps", type=common.positive_int("--steps"), help="optimiser steps per model (default 600)")
    p.add_argument("--batch", type=common.positive_int("--batch"), help="images per step (default 8)")
    p.add_argument("--channels", type=common.positive_int("--channels"), help="channels per layer (default 16)")
    p.add_argument("--lr", type=common.positive_float("--lr"), default=3e-3, help="Adam learning rate")
    p.add_argument("--models", nargs="+", choices=KINDS, default=list(KINDS), help="which models to train")
    common.add_seeds(p, (0, 1, 2))
    args = common.parse(p, argv)
    quick = args.quick
    size = args.size or (32 if quick else 64)
    d = args.dilation or 4
    if d < 2 or size % d:
        p.error(f"--dilation must be >= 2 and divide --size {size}, got {d}")
    sizes = QUICK_SIZES if quick else SIZES
    if max(max(s) for s in sizes) > size // 8:
        p.error(f"--size must be at least {8 * max(max(s) for s in sizes)} for lesions up to {sizes[-1]}, got {size}")
    steps = args.steps or (6 if quick else 600)
    batch = args.batch or (4 if quick else 8)
    channels = args.channels or (8 if quick else 16)
    n_train = 16 if quick else 2048
    n_test = 8 if quick else 512
    every = 3 if quick else 100
    kw = dict(lesion_sizes=sizes)

    t0 = time.perf_counter()
    common.seed_everything(args.seed)
    dist = common.distributed(args.device)
    if batch % dist.world:
        p.error(f"--batch {batch} must be divisible by the {dist.world} processes")
    test = lesion_scans(n_test, size, seed=1_000_003, **kw)
    results: dict[str, dict] = {}
    info: dict[str, dict] = {}
    examples: dict[str, Tensor] = {}
    for s_idx, seed in enumerate(args.seeds):
        train = lesion_scans(n_train, size, seed=2 * seed + 1, **kw)
        counts = torch.bincount(train.label.flatten(), minlength=CLASSES).double()
        weight = (counts.sum() / counts).sqrt().float()  # halfway (geometrically) to balanced classes
        weight = (weight / weight[0]).to(dist.device)
        for k_idx, kind in enumerate(k for k in KINDS if k in args.models):
            torch.manual_seed(seed * 1000 + k_idx)
            net = MODELS[kind](channels, d)
            if kind not in info:
                read = read_positions(net, size)
                rep = atrous.analyze(net, (2, 1, size, size))
                fields = {n.name: n.rf("frozen") for n in rep.nodes if n.kind == "layer"}
                out_rf = rep.node().rf("frozen")
                info[kind] = {
                    "params": common.count_parameters(net),
                    "rf": out_rf,
                    "read": None if read is None else [sorted(read[0]), sorted(read[1])],
                    "read_fraction": 1.0 if read is None else len(read[0]) * len(read[1]) / size**2,
                    "holes": None if read is None else [len(h) for h in rep.field(statistics="frozen").holes],
                    "layers": len(fields),
                }

            def loss(model: nn.Module, rows: Tensor, train=train, weight=weight) -> Tensor:
                out = model(train.image[rows].to(dist.device))
                return F.cross_entropy(out, train.label[rows].to(dist.device), weight=weight)

            read = _read(info[kind])

            def evaluate(model: nn.Module, read=read) -> dict[str, float]:
                pred = common.predict(model, test.image, 64, dist.device).argmax(1)
                s = scores(pred, test, read)
                return {"miss": s["miss"], "organ_iou": s["organ_iou"]}

            model = dist.wrap(net)
            started = time.perf_counter()
            curves = common.fit(model, dist, loss, n=n_train, batch=batch, steps=steps, lr=args.lr, seed=seed,
                                every=every, evaluate=evaluate, name=f"{kind} seed {seed}", verbose=not quick)  # fmt: skip
            pred = common.predict(model, test.image, 64, dist.device).argmax(1)
            r = results.setdefault(kind, {"seeds": [], "runs": []})
            r["seeds"].append(seed)
            r["runs"].append({**scores(pred, test, read), "curve": curves,
                              "train_s": round(time.perf_counter() - started, 1)})  # fmt: skip
            if s_idx == 0:
                examples[kind] = pred[:3]
    estimate = {f"{h}x{w}": max(0.0, 1.0 - h * w / d**2) for h, w in sizes}
    for r in results.values():
        for key in ("miss", "spot_fp", "organ_iou", "lesion_iou", "lesion_precision"):
            vals = [run[key] for run in r["runs"]]
            r[key], r[f"{key}_range"] = common.summary(vals)
        r["per_size"] = {
            key: {
                m: float(common.nanmean([run["per_size"][key][m] for run in r["runs"]]))
                for m in ("count", "miss", "invisible", "miss_when_visible")
            }
            for key in estimate
        }

    if dist.main:
        figures = make_figures(results, info, estimate, test, examples, d)
        header = ["model", "parameters", "input read", "lesion miss rate", "spots called lesion", "organ IoU",
                  "lesion IoU"] + [f"miss {k} (estimate {v:.2f})" for k, v in estimate.items()]  # fmt: skip
        rows = []
        for kind, r in results.items():
            rows.append([kind, info[kind]["params"], f"{100 * info[kind]['read_fraction']:.1f}%", _cell(r, "miss"),
                         _cell(r, "spot_fp"), _cell(r, "organ_iou"), _cell(r, "lesion_iou")]
                        + [f"{r['per_size'][k]['miss']:.3f}" for k in estimate])  # fmt: skip
        text = describe(results, info, estimate, size, d, n_train, n_test, steps, batch, channels, args.lr, args.seeds)
        common.save(
            args,
            dist,
            script=__file__,
            name="lesions",
            title="Small lesions in a large organ: the tap grid, a skip and ASPP",
            text=text,
            header=header,
            rows=rows,
            figures=figures,
            data={
                "size": size,
                "dilation": d,
                "sizes": [list(s) for s in sizes],
                "estimate": estimate,
                "info": info,
                "models": results,
            },
            started=t0,
            seeds=args.seeds,
        )
    common.finish(dist)
    return 0


def _read(entry: dict):
    return None if entry["read"] is None else (set(entry["read"][0]), set(entry["read"][1]))


def _cell(r: dict, key: str) -> str:
    lo, hi = r[f"{key}_range"]
    return f"{r[key]:.3f}" if len(r["runs"]) == 1 else f"{r[key]:.3f} ({lo:.3f}-{hi:.3f})"


def describe(results, info, estimate, size, d, n_train, n_test, steps, batch, channels, lr, seeds) -> str:
    """The result's paragraph, with the numbers of this run."""
    dflt = {k: v.default for k, v in inspect.signature(lesion_scans).parameters.items()}
    text = (
        f"{n_train} training and {n_test} test scans of {size}x{size} pixels from `atrous.datasets.scans.lesion_scans` "
        f"({dflt['lesions']} lesions per organ, of the sizes {', '.join(estimate)} in turn, {dflt['spots']} look-alike "
        f"spots outside; noise {dflt['noise']}, organ +{dflt['organ']}, lesions +{dflt['lesion']}). Every model has "
        f"{channels} channels per layer and is trained for {steps} Adam steps (lr {lr}) of {batch} scans with a "
        f"class-weighted cross-entropy, once per seed ({', '.join(map(str, seeds))}; the table gives the mean and the "
        f"range over seeds). The high-dilation path has d = {d}. "
    )
    if "dilated" in results:
        r, read = results["dilated"], info["dilated"]["read_fraction"]
        worst = max(abs(r["per_size"][k]["miss"] - estimate[k]) for k in estimate)
        inv = max(abs(r["per_size"][k]["invisible"] - estimate[k]) for k in estimate)
        seen = float(common.nanmean([r["per_size"][k]["miss_when_visible"] for k in estimate]))
        listed = ", ".join(f"{k} {r['per_size'][k]['miss']:.2f} vs {v:.2f}" for k, v in estimate.items())
        text += (
            f"`atrous.analyze` finds that the dilated model reads {100 * read:.2f}% of the input positions "
            f"(1/d^2 = {100 / d**2:.2f}%). Its measured miss rate per lesion size against the estimate "
            f"1 - w_y w_x / d^2: {listed} (largest difference {worst:.3f}). The share of test lesions that hold no "
            f"position it reads (exact, from those positions) is within {inv:.3f} of the estimate, and of the "
            f"lesions it can see it misses {100 * seen:.1f}% (mean over the sizes)"
            + (": what it misses is what its tap grid does not read. " if seen < 0.1 else ". ")
        )
    for kind, r in results.items():
        text += (
            f"{kind} ({info[kind]['params']} parameters): lesions missed {100 * r['miss']:.1f}%, spots outside the organ "
            f"called lesion {100 * r['spot_fp']:.1f}%, organ IoU {r['organ_iou']:.3f}, lesion-pixel IoU "
            f"{r['lesion_iou']:.3f}. "
        )
    for a, b, key, what in COMPARE:
        if {a, b} <= set(results):
            text += (
                common.compare(what, NAMES[a], results[a][f"{key}_range"], NAMES[b], results[b][f"{key}_range"]) + " "
            )
    return text


def make_figures(results, info, estimate, test, examples, d) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    keys = list(estimate)
    est = [estimate[k] for k in keys]
    a1.plot([0, 1], [0, 1], "-", color="0.6", lw=1, label="miss = estimate")
    for kind, r in results.items():
        a1.plot(est, [r["per_size"][k]["miss"] for k in keys], "o-", color=COLOURS[kind], label=kind)
    if "dilated" in results:
        a1.plot(est, [results["dilated"]["per_size"][k]["invisible"] for k in keys], "x", color="0.2", ms=8,
                label="lesions covering no lattice point")  # fmt: skip
    for k, e in zip(keys, est, strict=True):
        a1.annotate(k, (e, e), textcoords="offset points", xytext=(4, -12), fontsize=8, color="0.35")
    a1.set_xlabel(f"estimate 1 - w_y w_x / d\u00b2 (d = {d})")
    a1.set_ylabel("measured miss rate (test lesions)")
    a1.set_xlim(-0.05, 1.0)
    a1.set_ylim(-0.05, 1.0)
    a1.set_title("Lesions missed, per lesion size w_y x w_x")
    a1.legend(fontsize=8.5, loc="upper left")
    a1.grid(True, alpha=0.3)
    for kind, r in results.items():
        for j, run in enumerate(r["runs"]):
            a2.plot(run["curve"]["steps"], [100 * m for m in run["curve"]["miss"]], "-", color=COLOURS[kind], alpha=1 if j == 0 else 0.45,
                    label=kind if j == 0 else None)  # fmt: skip
    a2.set_xlabel("optimiser step")
    a2.set_ylabel("lesions missed (%)")
    a2.set_ylim(-3, 103)
    a2.set_title("Miss rate during training (one line per seed)")
    a2.legend(fontsize=9)
    a2.grid(True, alpha=0.3)
    fig.tight_layout()

    kinds = list(examples)
    cmap = ListedColormap(["#FFFFFF", "#A6CEE3", "#D55E00"])
    n_show = min(2, len(test.image))
    fig2, axes = plt.subplots(n_show, 2 + len(kinds), figsize=(3.0 * (2 + len(kinds)), 3.1 * n_show), squeeze=False)
    for i in range(n_show):
        axes[i, 0].imshow(test.image[i, 0].numpy(), cmap="gray")
        axes[i, 1].imshow(test.label[i].numpy(), cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        for j, kind in enumerate(kinds):
            axes[i, 2 + j].imshow(examples[kind][i].numpy(), cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        for t, left, h, w in test.boxes[i].tolist():
            for a in axes[i, 1:]:
                a.add_patch(plt.Rectangle((left - 1.5, t - 1.5), w + 2, h + 2, fill=False, ec="k", lw=0.8))
        if "dilated" in info and info["dilated"]["read"] is not None:
            rows, cols = info["dilated"]["read"]
            yy, xx = np.meshgrid(rows, cols, indexing="ij")
            axes[i, 2 + kinds.index("dilated")].plot(xx.ravel(), yy.ravel(), ".", color="0.3", ms=1.5)
        if i == 0:
            for a, title in zip(axes[i], ["input", "label", *kinds], strict=True):
                a.set_title(title)
    for a in axes.flat:
        a.set_xticks([])
        a.set_yticks([])
    fig2.suptitle("Test scans: organ (light blue), lesions (orange, boxed); dots: the lattice the dilated path reads",
                  fontsize=10)  # fmt: skip
    fig2.tight_layout(rect=(0, 0, 1, 0.95))
    return [
        ("miss_rate.png", fig, "Measured lesion miss rate against the tap-grid estimate 1 - w_y w_x / d^2, and during training"),
        ("predictions.png", fig2, "Two test scans, their labels and each model's labelling (first seed)"),
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
