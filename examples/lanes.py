"""Long thin structures: lane lines under perspective, labelled through the gaps between their dashes.

Road images from :func:`atrous.datasets.roads.road_lanes`: lane lines meet at a vanishing
point, inner lines are dashed (near the camera a gap spans tens of rows), vehicles hide parts
of them, and short painted strokes off the lines are distractors. Every lane line is labelled
as a continuous line, so a pixel in a gap (or behind a vehicle) can only be labelled from paint
that lies far above or below it, and a distractor only rejected by seeing that no line goes on.

Three models of seven 3x3 convolutions each (BatchNorm, ReLU; the same weights):

* ``dilated``: dilations doubling until the vertical receptive field reaches ``2H - 1`` (every
  output pixel sees the whole image height), then 1: ``(1, 2, 4, 8, 16, 32, 1)`` for H = 64;
* ``plain``: the same layers with dilation 1 (receptive field 15);
* ``encoder-decoder``: the same layers, a 2x2 max pool before each of layers 2-4 and a nearest
  x2 upsampling plus the encoder's feature map of that scale (a U-Net skip, added) before each
  of layers 5-7.

The receptive field of each is read off the traced network by ``atrous.analyze``; the metric is
the per-pixel IoU of the lane class on the test images, and its parts: the recall on visible
paint, on hidden lane pixels (gaps and vehicles) by their distance to the nearest visible paint,
and the fraction of distractor pixels labelled lane.

    python examples/lanes.py --quick
    ATROUS_DETERMINISTIC=1 python examples/lanes.py --threads 1    # the full run recorded in docs/results/
"""

from __future__ import annotations

import inspect
import itertools
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
from atrous.datasets.roads import road_lanes
from atrous.geometry import coverage, stack_receptive_field
from atrous.nn import Conv2d

KINDS = ("dilated", "plain", "encoder-decoder")
LAYERS = 7
POOLS = 3
COLOURS = {"dilated": "#0072B2", "plain": "#E69F00", "encoder-decoder": "#009E73"}
NAMES = {"dilated": "the dilated stack", "plain": "the plain stack", "encoder-decoder": "the encoder-decoder"}
# the comparisons stated in the text: (model, model, result key, what it is)
COMPARE = (
    ("dilated", "plain", "iou", "IoU"),
    ("dilated", "plain", "recall_hidden", "recall of hidden lane pixels"),
    ("dilated", "plain", "distractor_fp", "share of distractor pixels called lane"),
    ("dilated", "encoder-decoder", "iou", "IoU"),
    ("dilated", "encoder-decoder", "recall_hidden", "recall of hidden lane pixels"),
)
# distance bins (pixels to the nearest visible paint) for the recall of hidden lane pixels
BINS = (1, 3, 5, 9, 17, 33, 65)


def dilations_for(height: int, layers: int = LAYERS) -> tuple[int, ...]:
    """Rates 1, 2, 4, ... until the stack's field reaches ``2 * height - 1``, then 1s up to ``layers``."""
    rates: list[int] = []
    while not rates or stack_receptive_field(rates) < 2 * height - 1:
        rates.append(2 ** len(rates))
        if len(rates) > layers:
            raise SystemExit(f"{layers} layers of rates 2^i cannot cover a height of {height}")
    rates += [1] * (layers - len(rates))
    if not coverage(rates, 3).ok:  # each rate is at most the field before it: no holes
        raise AssertionError(rates)
    return tuple(rates)


class Stack(nn.Module):
    """Seven 3x3 layers with the given dilations at full resolution, then a 1x1 head (one logit)."""

    def __init__(self, dilations: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.dilations = tuple(dilations)
        self.body = nn.Sequential(
            *(common.conv_bn_relu(1 if i == 0 else channels, channels, dilation=d) for i, d in enumerate(dilations))
        )
        self.head = Conv2d(channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))[:, 0]


class EncoderDecoder(nn.Module):
    """The same seven layers as a U-Net: pool before layers 2..P+1, upsample + skip before the rest."""

    def __init__(self, channels: int, pools: int = POOLS) -> None:
        super().__init__()
        self.down = nn.ModuleList(common.conv_bn_relu(1 if i == 0 else channels, channels) for i in range(pools + 1))
        self.up = nn.ModuleList(common.conv_bn_relu(channels, channels) for _ in range(pools))
        self.pool = nn.MaxPool2d(2)
        self.head = Conv2d(channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for i, layer in enumerate(self.down):
            x = layer(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = layer(F.interpolate(x, scale_factor=2, mode="nearest") + skips.pop())
        return self.head(x)[:, 0]


def build(kind: str, height: int, channels: int) -> nn.Module:
    if kind == "dilated":
        return Stack(dilations_for(height), channels)
    if kind == "plain":
        return Stack((1,) * LAYERS, channels)
    return EncoderDecoder(channels)


def paint_distance(label: Tensor, visible: Tensor) -> Tensor:
    """Per hidden lane pixel (``label`` and not ``visible``), the distance in pixels to the
    nearest visible paint pixel of the same image (inf when it has none); NaN elsewhere."""
    out = torch.full(label.shape, float("nan"))
    for i in range(len(label)):
        hidden = torch.nonzero(label[i].bool() & ~visible[i]).float()
        seen = torch.nonzero(visible[i]).float()
        if not len(hidden):
            continue
        d = torch.cdist(hidden, seen).amin(1) if len(seen) else torch.full((len(hidden),), float("inf"))
        out[i][label[i].bool() & ~visible[i]] = d
    return out


def scores(pred: Tensor, data, distance: Tensor) -> dict:
    """IoU of the lane class and its parts (``pred``: bool, per pixel)."""
    lane = data.label.bool()
    hidden = lane & ~data.visible
    inter = int((pred & lane).sum())
    union = int((pred | lane).sum())
    recall_by_distance = []
    for lo, hi in itertools.pairwise(BINS):
        sel = hidden & (distance >= lo) & (distance < hi)
        recall_by_distance.append(float(pred[sel].float().mean()) if sel.any() else float("nan"))
    return {
        "iou": inter / max(1, union),
        "precision": inter / max(1, int(pred.sum())),
        "recall": inter / max(1, int(lane.sum())),
        "recall_visible": float(pred[data.visible].float().mean()),
        "recall_hidden": float(pred[hidden].float().mean()),
        "distractor_fp": float(pred[data.distractor].float().mean()) if data.distractor.any() else float("nan"),
        "recall_by_distance": recall_by_distance,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--height", type=common.positive_int("--height"), help="image height (default 64; quick 32)")
    p.add_argument("--steps", type=common.positive_int("--steps"), help="optimiser steps per model (default 1000)")
    p.add_argument("--batch", type=common.positive_int("--batch"), help="images per step (default 8)")
    p.add_argument("--channels", type=common.positive_int("--channels"), help="channels per layer (default 16)")
    p.add_argument("--lr", type=common.positive_float("--lr"), default=3e-3, help="Adam learning rate")
    p.add_argument("--models", nargs="+", choices=KINDS, default=list(KINDS), help="which models to train")
    common.add_seeds(p, (0, 1))
    args = common.parse(p, argv)
    quick = args.quick
    height = args.height or (32 if quick else 64)
    if height < 16 or height % 2**POOLS:
        p.error(
            f"--height must be a multiple of {2**POOLS} and >= 16 (the encoder-decoder pools {POOLS} times), got {height}"
        )
    width = height * 3 // 2
    if width % 2**POOLS:
        width += 2**POOLS - width % 2**POOLS
    steps = args.steps or (6 if quick else 1000)
    batch = args.batch or (4 if quick else 8)
    channels = args.channels or (8 if quick else 16)
    n_train = 16 if quick else 2048
    n_test = 8 if quick else 256
    every = 3 if quick else 100

    t0 = time.perf_counter()
    common.seed_everything(args.seed)
    dist = common.distributed(args.device)
    if batch % dist.world:
        p.error(f"--batch {batch} must be divisible by the {dist.world} processes")
    test = road_lanes(n_test, height, width, seed=1_000_003)
    distance = paint_distance(test.label, test.visible)
    results: dict[str, dict] = {}
    fields: dict[str, dict] = {}
    examples: dict[str, Tensor] = {}
    for s_idx, seed in enumerate(args.seeds):
        train = road_lanes(n_train, height, width, seed=2 * seed + 1)
        for k_idx, kind in enumerate(k for k in KINDS if k in args.models):
            torch.manual_seed(seed * 1000 + k_idx)
            net = build(kind, height, channels)
            if kind not in fields:
                report = atrous.analyze(net, (1, 1, height, width))
                f = report.field(statistics="frozen")  # BatchNorm's statistics held fixed (as at inference)
                fields[kind] = {
                    "rf": list(f.size),
                    "holes": [len(h) for h in f.holes],
                    "params": common.count_parameters(net),
                    "dilations": list(getattr(net, "dilations", ())),
                    "support": [list(s) for s in f.support((height - 6, width // 2))],
                }
            pos = float(train.label.float().mean())
            weight = torch.tensor((1 - pos) / pos, device=dist.device).sqrt()  # halfway to balanced

            def loss(model: nn.Module, rows: Tensor, train=train, weight=weight) -> Tensor:
                out = model(train.image[rows].to(dist.device))
                return F.binary_cross_entropy_with_logits(
                    out, train.label[rows].to(dist.device).float(), pos_weight=weight
                )

            def evaluate(model: nn.Module) -> dict[str, float]:
                pred = common.predict(model, test.image, 32, dist.device) > 0
                return {"iou": scores(pred, test, distance)["iou"]}

            model = dist.wrap(net)
            started = time.perf_counter()
            curves = common.fit(model, dist, loss, n=n_train, batch=batch, steps=steps, lr=args.lr, seed=seed,
                                every=every, evaluate=evaluate, name=f"{kind} seed {seed}", verbose=not quick)  # fmt: skip
            pred = common.predict(model, test.image, 32, dist.device) > 0
            r = results.setdefault(kind, {"seeds": [], "runs": []})
            r["seeds"].append(seed)
            r["runs"].append(
                {**scores(pred, test, distance), "curve": curves, "train_s": round(time.perf_counter() - started, 1)}
            )
            if s_idx == 0:
                examples[kind] = pred[:4]
    for r in results.values():
        for key in ("iou", "precision", "recall", "recall_visible", "recall_hidden", "distractor_fp"):
            vals = [run[key] for run in r["runs"]]
            r[key], r[f"{key}_range"] = common.summary(vals)
        r["recall_by_distance"] = common.nanmean([run["recall_by_distance"] for run in r["runs"]], axis=0).tolist()

    if dist.main:
        figures = make_figures(results, fields, test, examples, distance, height, width)
        rows = []
        for kind, r in results.items():
            f = fields[kind]
            rows.append([
                kind, f["params"], f"{f['rf'][0]} x {f['rf'][1]}", common.fmt(f["rf"][0] / height),
                _cell(r, "iou"), _cell(r, "recall_visible"), _cell(r, "recall_hidden"),
                _cell(r, "distractor_fp"), _cell(r, "precision"),
            ])  # fmt: skip
        text = describe(results, fields, height, width, n_train, n_test, steps, batch, channels, args.lr, args.seeds)
        common.save(
            args,
            dist,
            script=__file__,
            name="lanes",
            title="Lane lines: a tall receptive field across the gaps",
            text=text,
            header=[
                "model",
                "parameters",
                "receptive field (rows x cols)",
                "field / height",
                "IoU",
                "recall, visible paint",
                "recall, hidden lane",
                "distractor pixels called lane",
                "precision",
            ],
            rows=rows,
            figures=figures,
            data={"height": height, "width": width, "bins": list(BINS), "fields": fields, "models": results},
            started=t0,
            seeds=args.seeds,
        )
    common.finish(dist)
    return 0


def _cell(r: dict, key: str) -> str:
    lo, hi = r[f"{key}_range"]
    return f"{r[key]:.3f}" if len(r["runs"]) == 1 else f"{r[key]:.3f} ({lo:.3f}-{hi:.3f})"


def describe(results, fields, height, width, n_train, n_test, steps, batch, channels, lr, seeds) -> str:
    """The result's paragraph, with the numbers of this run."""
    dflt = {k: v.default for k, v in inspect.signature(road_lanes).parameters.items()}
    text = (
        f"{n_train} training and {n_test} test images of {height}x{width} pixels from `atrous.datasets.roads.road_lanes` "
        f"(four lines per image, the inner two dashed, up to {dflt['vehicles']} vehicles, {dflt['distractors']} "
        f"distractor strokes and {dflt['shadows']} shadow, noise {dflt['noise']}); every "
        f"line is labelled continuously. Each model: seven 3x3 layers of {channels} channels with BatchNorm and "
        f"ReLU and a 1x1 head, trained for {steps} Adam steps (lr {lr}) of {batch} images with a class-weighted "
        f"BCE, once per seed ({', '.join(map(str, seeds))}; the tables give the mean and the range over seeds). "
        f"Receptive fields from `atrous.analyze(model, (1, 1, {height}, {width})).field()`. "
    )
    parts = []
    for kind, r in results.items():
        f = fields[kind]
        parts.append(
            f"{kind} (field {f['rf'][0]} rows, {f['rf'][0] / height:.2f}x the height): IoU {r['iou']:.3f}, "
            f"hidden lane pixels found {100 * r['recall_hidden']:.1f}%, distractor pixels called lane "
            f"{100 * r['distractor_fp']:.1f}%"
        )
    text += "Results: " + "; ".join(parts) + ". "
    if {"dilated", "plain"} <= set(results):
        d, pl = results["dilated"], results["plain"]
        half = (fields["plain"]["rf"][0] - 1) // 2
        bins = list(itertools.pairwise(BINS))
        far = [i for i, (lo, _) in enumerate(bins) if lo > half]
        near = [i for i, (_, hi) in enumerate(bins) if hi - 1 <= half]
        if far and near:
            fp = common.nanmean([pl["recall_by_distance"][i] for i in far])
            fd = common.nanmean([d["recall_by_distance"][i] for i in far])
            npl = common.nanmean([pl["recall_by_distance"][i] for i in near])
            text += (
                f"Hidden lane pixels within {bins[near[-1]][1] - 1} px of visible paint are found by the plain stack "
                f"{100 * npl:.0f}% of the time; farther than {bins[far[0]][0] - 1} px (beyond its half-field of "
                f"{half} px) {100 * fp:.0f}% (expected: 0%, its field holds no paint there, only asphalt), against "
                f"{100 * fd:.0f}% for the dilated stack (the figure 'recall by distance'). "
            )
    for a, b, key, what in COMPARE:
        if {a, b} <= set(results):
            text += (
                common.compare(what, NAMES[a], results[a][f"{key}_range"], NAMES[b], results[b][f"{key}_range"]) + " "
            )
    return text


def make_figures(results, fields, test, examples, distance, height, width) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    kinds = list(results)
    # 1. the receptive field of one output pixel of each model, from atrous.analyze, side by side
    y, x = height - 6, width // 2
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False)
    for a, kind in zip(axes[0], kinds, strict=True):
        a.imshow(test.image[0, 0].numpy(), cmap="gray")
        rows, cols = fields[kind]["support"]
        a.add_patch(Rectangle((cols[0] - 0.5, rows[0] - 0.5), cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1,
                              fill=False, ec=COLOURS[kind], lw=2.5))  # fmt: skip
        a.plot([x], [y], "+", color="#D55E00", ms=12, mew=2)
        a.set_xlim(-0.5 - 0.1 * width, width - 0.5 + 0.1 * width)
        a.set_ylim(height - 0.5 + 0.1 * height, -0.5 - 0.1 * height)
        rf = fields[kind]["rf"]
        a.set_title(f"{kind}: field {rf[0]} x {rf[1]}\nIoU {results[kind]['iou']:.3f}", fontsize=10)
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"Receptive field of the output pixel + (row {y}) from atrous.analyze, clipped to the image",
                 fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.92))

    # 2. predictions on test images: true positives, misses, false alarms
    n_show = min(3, len(test.image))
    fig2, axes2 = plt.subplots(n_show, 2 + len(kinds), figsize=(2.9 * (2 + len(kinds)), 2.2 * n_show), squeeze=False)
    for i in range(n_show):
        lane = test.label[i].bool()
        axes2[i, 0].imshow(test.image[i, 0].numpy(), cmap="gray")
        axes2[i, 1].imshow(_overlay(lane, lane, test.visible[i], test.distractor[i]))
        for j, kind in enumerate(kinds):
            axes2[i, 2 + j].imshow(_overlay(examples[kind][i], lane, None, test.distractor[i]))
        if i == 0:
            axes2[i, 0].set_title("input")
            axes2[i, 1].set_title("label")
            for j, kind in enumerate(kinds):
                axes2[i, 2 + j].set_title(kind)
    for a in axes2.flat:
        a.set_xticks([])
        a.set_yticks([])
    fig2.suptitle("Label: black paint seen, grey hidden. Predictions: green found, blue missed, red false alarm; "
                  "magenta: distractor strokes", fontsize=10)  # fmt: skip
    fig2.tight_layout(rect=(0, 0, 1, 0.94))

    # 3. recall of hidden lane pixels by distance to visible paint; IoU during training
    fig3, (a1, a2) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    centres = [(lo + hi - 1) / 2 for lo, hi in itertools.pairwise(BINS)]
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(BINS)]
    for kind, r in results.items():
        a1.plot(centres, [100 * v for v in r["recall_by_distance"]], "o-", color=COLOURS[kind], label=kind)
        half = (fields[kind]["rf"][0] - 1) / 2
        if half <= BINS[-1]:
            a1.axvline(half, color=COLOURS[kind], ls=":", lw=1.2)
    a1.set_xscale("log", base=2)
    a1.set_xticks(centres, labels)
    a1.set_xlabel("distance of a hidden lane pixel to the nearest visible paint (px)")
    a1.set_ylabel("found (%)")
    a1.set_ylim(-3, 103)
    a1.set_title("Recall of hidden lane pixels by distance\n(dotted: half the model's vertical field)")
    a1.legend(fontsize=9)
    a1.grid(True, alpha=0.3)
    for kind, r in results.items():
        for k, run in enumerate(r["runs"]):
            a2.plot(run["curve"]["steps"], run["curve"]["iou"], "-", color=COLOURS[kind], alpha=1.0 if k == 0 else 0.5,
                    label=kind if k == 0 else None)  # fmt: skip
    a2.set_xlabel("optimiser step")
    a2.set_ylabel("test IoU (lane class)")
    a2.set_title("Test IoU during training (one line per seed)")
    a2.legend(fontsize=9)
    a2.grid(True, alpha=0.3)
    fig3.tight_layout()
    return [
        ("fields.png", fig, "The exact receptive field (from atrous.analyze) of one output pixel of each model on a test image"),
        ("predictions.png", fig2, "Test images, their labels and each model's prediction (first seed)"),
        ("recall.png", fig3, "Recall of hidden lane pixels against their distance to visible paint, and test IoU during training"),
    ]  # fmt: skip


def _overlay(pred: Tensor, lane: Tensor, visible: Tensor | None, distractor: Tensor) -> np.ndarray:
    """RGB picture of a prediction: found (green), missed (blue), false alarm (red), distractors
    not called lane (magenta); with ``visible``, the label itself: seen paint black, hidden grey."""
    img = np.ones((*lane.shape, 3))
    pred, lane = pred.bool().numpy(), lane.bool().numpy()
    if visible is not None:
        img[lane] = (0.62, 0.62, 0.62)
        img[lane & visible.numpy()] = (0.1, 0.1, 0.1)
    else:
        img[pred & lane] = (0.0, 0.62, 0.45)
        img[~pred & lane] = (0.0, 0.45, 0.7)
        img[pred & ~lane] = (0.84, 0.37, 0.0)
    edge = distractor.numpy() & ~(pred & (visible is None))
    img[edge] = (0.8, 0.47, 0.65)
    return img


if __name__ == "__main__":
    raise SystemExit(main())
