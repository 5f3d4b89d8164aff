"""Checkerboards of learned upsampling: transposed, resize-conv and sub-pixel (+ ICNR) decoders.

An FCN-style decoder lifts a low-resolution map (8x8) to full resolution with three x2 stages,
each one of:

* a transposed convolution, stride 2, kernel 3 (overlap counts 1 and 2: Odena et al.'s
  checkerboard) or kernel 4 (even overlap), :class:`atrous.nn.TransposedUpsample`;
* nearest or bilinear resize followed by a 3x3 convolution, :class:`atrous.nn.ResizeConv`;
* a sub-pixel convolution, :class:`atrous.nn.SubPixelConv`, with ICNR initialisation or with
  PyTorch's default one.

The checkerboard is measured as the fraction of the output's power at the frequencies of the
upsampling period (:func:`atrous.analysis.spectra.periodic_power`) at initialisation (constant
and smooth random inputs, many random initialisations) and after a short training on a smooth
target (super-resolution x8 of Gaussian random fields, :func:`atrous.datasets.dense.smooth_fields`),
and, for the transposed layers, as the geometric overlap pattern :func:`atrous.nn.checkerboard`.

Run::

    python examples/upsampling.py --quick --threads 1
    nice -n 5 python examples/upsampling.py --threads 1       # the full run, writes docs/results/
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from atrous.analysis.spectra import periodic_power
from atrous.datasets.dense import smooth_fields
from atrous.nn import Conv2d, ResizeConv, SubPixelConv, TransposedUpsample, checkerboard

NAME = "upsampling"
KINDS = [
    "transposed k=3",
    "transposed k=4",
    "resize-conv nearest",
    "resize-conv bilinear",
    "sub-pixel + ICNR",
    "sub-pixel, default init",
]
#: Okabe-Ito
COLOURS = dict(zip(KINDS, ["#D55E00", "#E69F00", "#009E73", "#56B4E9", "#0072B2", "#CC79A7"], strict=True))
STAGES = 3
LOW = 8  # low-resolution side
FACTOR = 2**STAGES


def upsampler(kind: str, cin: int, cout: int) -> nn.Module:
    """One x2 stage of the given kind."""
    if kind == "transposed k=3":
        return TransposedUpsample(cin, cout, 2, kernel_size=3)
    if kind == "transposed k=4":
        return TransposedUpsample(cin, cout, 2, kernel_size=4)
    if kind == "resize-conv nearest":
        return ResizeConv(cin, cout, 2, mode="nearest", padding_mode="circular")
    if kind == "resize-conv bilinear":
        return ResizeConv(cin, cout, 2, mode="bilinear", padding_mode="circular")
    if kind == "sub-pixel + ICNR":
        return SubPixelConv(cin, cout, 2, icnr=True, padding_mode="circular")
    if kind == "sub-pixel, default init":
        return SubPixelConv(cin, cout, 2, icnr=False, padding_mode="circular")
    raise ValueError(f"unknown upsampling kind {kind!r}; expected one of {KINDS}")


class Decoder(nn.Module):
    """3x3 lift to ``channels``, ``stages`` x2 upsampling stages with ReLU, 1x1 to one channel.

    The convolutions pad circularly (the target fields are periodic); transposed convolutions
    have no padding mode, so their outputs lose taps at the borders (the spectra leave them out).
    """

    def __init__(self, kind: str, channels: int = 32, stages: int = STAGES) -> None:
        super().__init__()
        self.kind = kind
        layers: list[nn.Module] = [Conv2d(1, channels, 3, padding="same", padding_mode="circular"), nn.ReLU()]
        for _ in range(stages):
            layers += [upsampler(kind, channels, channels), nn.ReLU()]
        layers.append(Conv2d(channels, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_parser():
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=common.positive_int("--steps"), help="training steps per decoder")
    p.add_argument("--inits", type=common.positive_int("--inits"), help="random initialisations measured")
    p.add_argument("--channels", type=common.positive_int("--channels"), help="channels (default 24)")
    p.add_argument("--length-scale", type=common.positive_float("--length-scale"), default=4.0)
    return p


def low_res(fields: torch.Tensor) -> torch.Tensor:
    """The decoder's input: ``FACTOR x FACTOR`` block means of the full-resolution field."""
    return F.avg_pool2d(fields, FACTOR)


def phase_energy(y: torch.Tensor, period: int) -> np.ndarray:
    """Mean square of the mean-removed output per phase ``(i mod period, j mod period)``."""
    y = y.double() - y.double().mean(dim=(-2, -1), keepdim=True)
    h, w = y.shape[-2:]
    blocks = y.reshape(*y.shape[:-2], h // period, period, w // period, period)
    return blocks.pow(2).mean(dim=(*range(blocks.dim() - 4), -4, -2)).numpy()


def main(argv=None) -> int:
    args = common.parse(build_parser(), argv)
    t0 = time.perf_counter()
    dist = common.distributed(args.device)
    common.seed_everything(args.seed)
    channels = args.channels or (8 if args.quick else 24)
    steps = args.steps or (20 if args.quick else 500)
    inits = args.inits or (4 if args.quick else 100)
    n_train = 64 if args.quick else 1024
    n_test = 16 if args.quick else 128
    batch = 16
    lr = 2e-3
    size = LOW * FACTOR
    # border left out of every spectrum: zero padding reaches 1 px per 3x3 layer at its own
    # resolution, 8 + 4 + 2 + 1 = 15 output pixels in, and a period-8 crop must keep a multiple of 8
    margin = 2 * FACTOR
    eval_every = max(1, steps // (4 if args.quick else 20))

    y_train = smooth_fields(n_train, size, args.length_scale, seed=args.seed * 1000 + 1)
    y_test = smooth_fields(n_test, size, args.length_scale, seed=args.seed * 1000 + 2)
    x_train, x_test = low_res(y_train).to(dist.device), low_res(y_test)
    y_train = y_train.to(dist.device)
    target_pp = {str(d): periodic_power(common.crop(y_test, margin), d) for d in (2, FACTOR)}

    # ------------------------------------------------------------------ at initialisation
    const = torch.ones(1, 1, LOW, LOW)
    smooth_in = x_test[: min(8, n_test)]
    init_stats: dict[str, dict[str, list[float]]] = {}
    init_examples = {}
    for kind in KINDS:
        stats = {"constant_2": [], "constant_8": [], "smooth_2": [], "smooth_8": []}
        for s in range(inits):
            torch.manual_seed(args.seed * 100_000 + s)
            dec = Decoder(kind, channels).eval()
            with torch.no_grad():
                yc = dec(const)
                ys = dec(smooth_in)
            stats["constant_2"].append(periodic_power(common.crop(yc, margin), 2, include_dc=True))
            stats["constant_8"].append(periodic_power(common.crop(yc, margin), FACTOR, include_dc=True))
            stats["smooth_2"].append(periodic_power(common.crop(ys, margin), 2))
            stats["smooth_8"].append(periodic_power(common.crop(ys, margin), FACTOR))
            if s == 0:
                init_examples[kind] = (yc[0, 0], ys[0, 0])
        init_stats[kind] = stats

    # one transposed layer, no bias, white-noise input: mean square per output phase vs the overlap
    # map. Output phase r sums the inputs under its taps, so E[y_r^2] = Var(x) * E[sum of the squared
    # weights of phase r] = Var(x) * C_in * Var(w) * counts[r]: proportional to the overlap map.
    overlap = {}
    n_layer = 20 if args.quick else 400
    for k in (3, 4):
        torch.manual_seed(args.seed * 100_000 + 50_000 + k)
        up = TransposedUpsample(channels, 1, 2, kernel_size=k, bias=False)
        cb = checkerboard(up.spec)
        acc = np.zeros((2, 2))
        for _ in range(n_layer):
            up.conv.reset_parameters()
            with torch.no_grad():
                y = common.crop(up(torch.randn(1, channels, 16, 16)), 2)
            blocks = y.double().reshape(y.shape[-2] // 2, 2, y.shape[-1] // 2, 2)
            acc += blocks.pow(2).mean(dim=(0, 2)).numpy()
        measured = acc / n_layer
        counts = np.array(cb.overlap, dtype=float)
        overlap[f"k={k}"] = {
            "counts": [list(c) for c in cb.counts],
            "overlap": counts.tolist(),
            "uneven": cb.uneven,
            "ratio": cb.ratio,
            "measured_mean_square": measured.tolist(),
            "measured_ratio": float(measured.max() / measured.min()),
            "inits": n_layer,
        }

    # ------------------------------------------------------------------ short training
    trained = {}
    curves = {}
    for kind in KINDS:
        torch.manual_seed(args.seed)
        net = Decoder(kind, channels)
        model = dist.wrap(net)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
        curve = {"step": [], "test_mse": []}
        step, epoch = 0, 0
        while step < steps:
            for idx in dist.batches(n_train, batch, epoch, args.seed):
                loss = F.mse_loss(model(x_train[idx]), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if step % eval_every == 0 or step == steps:
                    with torch.no_grad():
                        test = F.mse_loss(common.unwrap(model)(x_test.to(dist.device)), y_test.to(dist.device))
                    curve["step"].append(step)
                    curve["test_mse"].append(dist.mean(float(test)))
                    if dist.main and not args.quick:
                        print(f"  {kind} step {step}: test MSE {curve['test_mse'][-1]:.4e}", flush=True)
                if step >= steps:
                    break
            epoch += 1
        net = common.unwrap(model).cpu().eval()
        with torch.no_grad():
            pred = net(x_test)
            yc = net(const)
        trained[kind] = {
            "params": common.count_parameters(net),
            "test_mse": float(F.mse_loss(pred, y_test)),
            "periodic_power_2": periodic_power(common.crop(pred, margin), 2),
            "periodic_power_8": periodic_power(common.crop(pred, margin), FACTOR),
            "error_periodic_power_8": periodic_power(common.crop(pred - y_test, margin), FACTOR),
            "constant_periodic_power_8": periodic_power(common.crop(yc, margin), FACTOR, include_dc=True),
            "phase_energy_2": phase_energy(common.crop(pred - y_test, margin), 2).tolist(),
        }
        init_examples[kind] = (*init_examples[kind], pred[0, 0])
        curves[kind] = curve
        if dist.main:
            t = trained[kind]
            print(
                f"{kind:24s} params {t['params']}  test MSE {t['test_mse']:.3e}  "
                f"periodic power d={FACTOR} {t['periodic_power_8']:.3e}",
                flush=True,
            )

    summary = {
        kind: {
            "init_constant_8": float(np.mean(init_stats[kind]["constant_8"])),
            "init_constant_2": float(np.mean(init_stats[kind]["constant_2"])),
            "init_smooth_8": float(np.mean(init_stats[kind]["smooth_8"])),
            "init_smooth_2": float(np.mean(init_stats[kind]["smooth_2"])),
        }
        for kind in KINDS
    }
    rows = []
    for kind in KINDS:
        cb = ""
        if kind.startswith("transposed"):
            o = overlap[f"k={kind[-1]}"]
            cb = f"{o['overlap'][0]} {o['overlap'][1]} (ratio {o['ratio']:g})"
        s, t = summary[kind], trained[kind]
        rows.append(
            [
                kind,
                t["params"],
                cb,
                common.fmt(s["init_constant_8"]),
                common.fmt(s["init_smooth_8"]),
                common.fmt(t["periodic_power_8"]),
                common.fmt(t["error_periodic_power_8"]),
                common.fmt(t["test_mse"]),
            ]
        )
    rows.append(["target (smooth field)", "", "", "", "", common.fmt(target_pp[str(FACTOR)]), "", ""])
    header = [
        "decoder",
        "params",
        "checkerboard() overlap",
        f"init: constant input, power at period {FACTOR}",
        f"init: smooth input, power at period {FACTOR}",
        f"trained: power at period {FACTOR}",
        f"trained: error's power at period {FACTOR}",
        "trained: test MSE",
    ]
    figures = make_figures(init_examples, trained, summary, target_pp, curves, overlap, y_test)
    text = describe(args, channels, steps, inits, n_train, batch, summary, trained, target_pp, overlap)
    common.save(
        args,
        dist,
        script=__file__,
        name=NAME,
        title="Upsampling: checkerboards of transposed, resize and sub-pixel decoders",
        text=text,
        header=header,
        rows=rows,
        figures=figures,
        data={
            "init": init_stats,
            "init_mean": summary,
            "trained": trained,
            "overlap": overlap,
            "target_periodic_power": target_pp,
            "curves": curves,
            "config": {
                "channels": channels,
                "stages": STAGES,
                "low": LOW,
                "size": size,
                "steps": steps,
                "inits": inits,
                "n_train": n_train,
                "n_test": n_test,
                "batch": batch,
                "lr": lr,
                "length_scale": args.length_scale,
                "spectrum_margin": margin,
            },
        },
        started=t0,
    )
    common.finish(dist)
    return 0


def describe(args, channels, steps, inits, n_train, batch, summary, trained, target_pp, overlap) -> str:
    def pc(kind: str, key: str) -> str:
        return common.fmt(summary[kind][key])

    o3, o4 = overlap["k=3"], overlap["k=4"]
    m3 = np.array(o3["measured_mean_square"])
    m3 = m3 / m3.min()
    c3 = np.array(o3["overlap"]) / np.min(o3["overlap"])
    order = sorted(KINDS, key=lambda k: trained[k]["periodic_power_8"])
    const = ", ".join(f"{k} {pc(k, 'init_constant_8')}" for k in KINDS)
    smooth = ", ".join(f"{k} {pc(k, 'init_smooth_8')}" for k in KINDS)
    after = ", ".join(f"{k} {common.fmt(trained[k]['periodic_power_8'])}" for k in order)
    mses = ", ".join(f"{k} {trained[k]['test_mse']:.3g}" for k in KINDS)
    free = ["resize-conv nearest", "resize-conv bilinear", "sub-pixel + ICNR"]
    worst_free = max(summary[k]["init_constant_8"] for k in free)
    best_tr = min(summary[k]["init_constant_8"] for k in ("transposed k=3", "transposed k=4"))
    target = target_pp[str(FACTOR)]
    worst = order[-1]
    worst_ratio = trained[worst]["periodic_power_8"] / target
    err_order = sorted(KINDS, key=lambda k: trained[k]["error_periodic_power_8"])
    err_after = ", ".join(f"{k} {common.fmt(trained[k]['error_periodic_power_8'])}" for k in err_order)
    c3v, c4v = summary["transposed k=3"]["init_constant_8"], summary["transposed k=4"]["init_constant_8"]
    if c3v > 0 and c4v > 0 and max(c3v, c4v) / min(c3v, c4v) <= 10:
        k4_vs_k3 = "of the same order as"
    else:
        k4_vs_k3 = "smaller than" if c4v < c3v else "larger than"
    return (
        f"An FCN-style decoder ({LOW}x{LOW} input, a 3x3 lift to {channels} channels, {STAGES} x2 upsampling "
        f"stages with ReLU, a 1x1 output; convolutions pad circularly) built with each of six upsampling "
        f"stages. The checkerboard is measured as `periodic_power(output, {FACTOR})`: the fraction of the "
        f"output's power at the frequencies of the total upsampling period (multiples of 2 pi / {FACTOR}, which "
        f"include the period-2 and period-4 frequencies of the later stages), on the "
        f"{FACTOR * LOW - 4 * FACTOR}x{FACTOR * LOW - 4 * FACTOR} interior.\n\n"
        f"At initialisation (mean over {inits} random initialisations, PyTorch's default init). A constant "
        f"input has a constant ideal output, so there the fraction is of the power including DC "
        f"(`include_dc=True`, the share of the output that is a period-{FACTOR} pattern): {const}. "
        f"Resize-conv and ICNR produce at most {common.fmt(worst_free)} (their sub-kernels are equal by "
        f"construction, so a constant stays constant up to float rounding), the transposed decoders at least "
        f"{common.fmt(best_tr)}. For smooth random inputs (block means of the task's fields; power without DC): "
        f"{smooth}.\n\n"
        f"Geometry (`atrous.nn.checkerboard`): k=3 s=2 has per-axis overlap counts {tuple(o3['counts'][0])}, the "
        f"2-d map {o3['overlap']} (ratio {o3['ratio']:g}); k=4 s=2 is even ({o4['overlap']}). The map is what one "
        f"layer does in expectation: output phase r of a transposed layer without bias fed white noise has "
        f"`E[y_r^2] = Var(x) C_in Var(w) counts[r]`; measured over {o3['inits']} initialisations, the mean square "
        f"per phase of k=3 relative to its minimum is {np.round(m3, 2).tolist()} (predicted {c3.tolist()}), and "
        f"for k=4 the largest over the smallest is {o4['measured_ratio']:.2f} (predicted 1). An even overlap "
        f"removes the checkerboard only in expectation over initialisations: each phase of k=4 sums *different* "
        f"random weights, so an initialised k=4 decoder also turns a constant into a checkerboard, "
        f"{k4_vs_k3} k=3's ({pc('transposed k=4', 'init_constant_8')} against "
        f"{pc('transposed k=3', 'init_constant_8')}); the "
        f"sub-pixel convolution with its default init, which also gives every phase its own kernel, too "
        f"({pc('sub-pixel, default init', 'init_constant_8')}). Only equal sub-kernels (resize-conv, ICNR) "
        f"remove the pattern by construction.\n\n"
        f"Training: {steps} Adam steps (batch {batch}, {n_train} images) of x{FACTOR} super-resolution of "
        f"smooth Gaussian random fields (`smooth_fields`, length scale {args.length_scale:g} px; the input is "
        f"the {FACTOR}x{FACTOR} block mean; the target's own power at period {FACTOR} is {common.fmt(target)}). "
        f"Power at period {FACTOR} of the trained outputs, from lowest to highest: {after}: training removes "
        f"{'most of ' if worst_ratio < 2 else 'part of '}the checkerboard on this smooth task, the most periodic "
        f"output being {worst} ({worst_ratio:.2f} times the target's share). What is left shows better in the "
        f"errors (output - target), whose share of power at period {FACTOR} is, from lowest to highest: "
        f"{err_after}. Test MSE: {mses} (the sub-pixel convolutions hold four times the weights of a 3x3 "
        f"resize-conv; see the table)."
    )


def make_figures(init_examples, trained, summary, target_pp, curves, overlap, y_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    n = len(KINDS)
    fig, axes = plt.subplots(3, n + 1, figsize=(2.3 * (n + 1), 7.4))
    for r, (title, idx) in enumerate([("init, constant input", 0), ("init, smooth input", 1), ("trained", 2)]):
        for k, kind in enumerate(KINDS):
            img = init_examples[kind][idx].numpy()
            ax = axes[r, k]
            ax.imshow(img, cmap="viridis", interpolation="nearest")
            if r == 0:
                ax.set_title(kind, fontsize=9)
            if k == 0:
                ax.set_ylabel(title)
        axes[r, n].axis("off")
    axes[2, n].axis("on")
    axes[2, n].imshow(y_test[0, 0].numpy(), cmap="viridis", interpolation="nearest")
    axes[2, n].set_title("target", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    figs.append(
        (
            "outputs.png",
            fig,
            "Decoder outputs (64x64): at initialisation for a constant and a smooth input (one random init each, "
            "own colour scale per image, which magnifies float rounding: the constant-input outputs of resize-conv "
            "and ICNR vary by less than 1e-5 of their value) and after training on a test input, with the target.",
        )
    )

    fig, ax = plt.subplots(figsize=(10, 4))
    xs = np.arange(n)
    groups = [
        ("init, constant input", [summary[k]["init_constant_8"] for k in KINDS], "#999999"),
        ("init, smooth input", [summary[k]["init_smooth_8"] for k in KINDS], "#56B4E9"),
        ("trained", [trained[k]["periodic_power_8"] for k in KINDS], "#D55E00"),
    ]
    floor = 1e-12
    for g, (label, vals, colour) in enumerate(groups):
        pos = xs + (g - 1) * 0.27
        ax.bar(pos, [max(v, floor) for v in vals], 0.27, color=colour, label=label)
        for x, v in zip(pos, vals, strict=True):
            if v < floor:
                ax.text(x, floor * 2, "0" if v == 0 else "<1e-12", ha="center", va="bottom", fontsize=7)
    ax.axhline(target_pp[str(FACTOR)], color="black", ls="--", lw=1, label="target fields")
    ax.set_yscale("log")
    ax.set_xticks(xs, KINDS, rotation=15, ha="right")
    ax.set_ylabel(f"fraction of power at period {FACTOR}")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    figs.append(
        (
            "periodic_power.png",
            fig,
            f"Fraction of the output's power at the period-{FACTOR} frequencies (log scale): mean over random "
            "initialisations for a constant input (of the power including DC) and smooth inputs, and after "
            "training (test set). Dashed: the target's. Exact zeros are drawn at 1e-12 and labelled 0.",
        )
    )

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.9]}, layout="constrained")
    for a, key in zip(axes[:2], ("k=3", "k=4"), strict=True):
        o = overlap[key]
        ov = np.array(o["overlap"], dtype=float)
        ms = np.array(o["measured_mean_square"])
        im = a.imshow(ms / ms.min(), cmap="cividis", vmin=0.9, vmax=4.1)
        for i in range(2):
            for j in range(2):
                a.text(
                    j,
                    i,
                    f"{ms[i, j] / ms.min():.2f}\n(counts {ov[i, j]:g})",
                    ha="center",
                    va="center",
                    color="white" if ms[i, j] / ms.min() < 2.5 else "black",
                    fontsize=9,
                )
        a.set_title(f"transposed {key}, s=2")
        a.set_xticks([0, 1], ["x even", "x odd"])
        a.set_yticks([0, 1], ["y even", "y odd"] if key == "k=3" else ["", ""])
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="mean square / min")
    for kind in KINDS:
        axes[2].plot(curves[kind]["step"], curves[kind]["test_mse"], color=COLOURS[kind], label=kind)
    every = [v for kind in KINDS for v in curves[kind]["test_mse"]]
    if min(every) > 0 and max(every) / min(every) > 10:
        axes[2].set_yscale("log")
    axes[2].set_xlabel("training step")
    axes[2].set_ylabel("test MSE")
    axes[2].legend(fontsize=7)
    axes[2].grid(alpha=0.3)
    figs.append(
        (
            "overlap_and_curves.png",
            fig,
            "Left: one transposed layer on a constant input, mean square output per phase over random inits, "
            "relative to its minimum, with `checkerboard()`'s overlap counts. Right: test MSE during training.",
        )
    )
    return figs


if __name__ == "__main__":
    raise SystemExit(main())
