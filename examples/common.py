"""Shared plumbing of the examples: command line, seeds, DistributedDataParallel, results.

Every example is a plain script::

    python examples/adding.py --quick            # seconds; what the tests run
    python examples/adding.py                    # the full run; results go to docs/results/
    torchrun --nproc_per_node 2 examples/adding.py   # the same run with DistributedDataParallel

A full run writes ``docs/results/<name>.json`` (numbers, curves, the command that produced
them) and ``docs/results/<name>/*.png``, then regenerates ``docs/RESULTS.md`` from every JSON
there. ``atrous report --examples`` turns the same files into report sections. Quick runs write
to ``build/examples/`` unless ``--out`` says otherwise and never touch ``docs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "docs" / "results"
RESULTS_MD = ROOT / "docs" / "RESULTS.md"
QUICK_DIR = ROOT / "build" / "examples"


def positive_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {value}")
        return value

    return parse


def positive_float(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a positive finite number, got {text}")
        return value

    return parse


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every example takes; add the example's own before calling ``parse``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a seconds-long run (what the tests run)")
    p.add_argument("--out", type=Path, help="results folder (default: docs/results, or build/examples with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    p.add_argument("--threads", type=positive_int("--threads"), help="torch intra-op threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse; bad values end the run with exit status 2 and one line (argparse's rule)."""
    args = p.parse_args(argv)
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        p.error(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device is available")
    if args.out is None:
        args.out = QUICK_DIR if args.quick else RESULTS_DIR
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if getattr(args, "full_seeds", None) is not None:
        if args.seeds is None:
            args.seeds = [args.seed] if args.quick else list(args.full_seeds)
        if len(set(args.seeds)) != len(args.seeds):
            p.error(f"--seeds must be distinct, got {' '.join(map(str, args.seeds))}")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    """Where this process sits: rank 0 of 1 without ``torchrun``."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model on this process's device, in DistributedDataParallel when world > 1."""
        model = model.to(self.device)
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def batches(self, n: int, batch_size: int, epoch: int, seed: int) -> Iterator[torch.Tensor]:
        """Index batches of one epoch: one shuffle shared by all ranks, each rank its share.

        ``batch_size`` is the global batch; every rank gets ``batch_size // world`` rows of
        it, so a run's optimisation does not depend on the number of processes.
        """
        if batch_size % self.world:
            raise ValueError(f"batch_size {batch_size} must be divisible by the {self.world} processes")
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=g)
        per = batch_size // self.world
        for start in range(0, n - batch_size + 1, batch_size):
            chunk = order[start : start + batch_size]
            yield chunk[self.rank * per : (self.rank + 1) * per]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over processes."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return float(t.item()) / self.world


def distributed(device: str = "cpu") -> Dist:
    """Join the process group when started by ``torchrun`` with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device(device))
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend)
    return Dist(rank=rank, world=world, device=dev)


def finish(dist: Dist) -> None:
    if dist.world > 1 and tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def crop(x: torch.Tensor, margin: int) -> torch.Tensor:
    """``x`` without ``margin`` pixels on each side of its last two axes (the padded border)."""
    return x[..., margin : x.shape[-2] - margin, margin : x.shape[-1] - margin]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- results


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )


def command(args: argparse.Namespace, script: str, dist: Dist) -> str:
    rel = Path(script).resolve()
    try:
        shown = str(rel.relative_to(ROOT))
    except ValueError:
        shown = str(rel)
    argv = [a for a in args.argv]
    # --out is where the files went, not part of what produced them
    cleaned: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--out":
            skip = True
            continue
        if a.startswith("--out="):
            continue
        cleaned.append(a)
    prefix = f"torchrun --nproc_per_node {dist.world} " if dist.world > 1 else "python "
    # the environment switches that change the numbers are part of the command
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in RECORDED_ENV if os.environ.get(k))
    return env + prefix + " ".join(shlex.quote(x) for x in [shown, *cleaned])


#: environment variables written into a recorded command when they are set
RECORDED_ENV = ("ATROUS_DETERMINISTIC",)


def save(
    args: argparse.Namespace,
    dist: Dist,
    *,
    script: str,
    name: str,
    title: str,
    text: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    figures: Sequence[tuple[str, Any, str]] = (),
    data: dict[str, Any] | None = None,
    started: float,
    seeds: Sequence[int] | None = None,
) -> Path | None:
    """Write ``<out>/<name>.json`` and ``<out>/<name>/<file>.png`` (rank 0 only).

    ``figures`` are ``(file name, matplotlib Figure, caption)``; ``text`` is a paragraph of
    Markdown (backticks for code); ``rows`` the summary table; ``seeds`` the seeds of a run
    that repeats its training over several (recorded beside ``seed``). A run writing into
    ``docs/results`` also regenerates ``docs/RESULTS.md``.
    """
    if not dist.main:
        return None
    import matplotlib.pyplot as plt

    out = Path(args.out)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for file, fig, caption in figures:
        if not file.endswith(".png"):
            raise ValueError(f"figure file names end in .png, got {file!r}")
        fig.savefig(folder / file, dpi=110, bbox_inches="tight")
        plt.close(fig)
        listed.append({"file": f"{name}/{file}", "caption": caption})
    record = {
        "name": name,
        "title": title,
        "command": command(args, script, dist),
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        **({"seeds": [int(x) for x in seeds]} if seeds is not None else {}),
        "processes": dist.world,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "text": text,
        "header": list(header),
        "rows": [[_plain(c) for c in r] for r in rows],
        "figures": listed,
        "data": _plain(data or {}),
    }
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    if out.resolve() == RESULTS_DIR.resolve():
        write_results_md(RESULTS_DIR, RESULTS_MD)
    print(f"{title}: wrote {path}")
    return path


def _plain(value: Any) -> Any:
    """JSON-ready: numpy/torch scalars and arrays become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


ORDER = ["adding", "copy_memory", "genomics", "objects", "gridding", "rhythm", "upsampling"]
# long thin structures, small objects beside large ones, graphs
ORDER += ["lanes", "lesions", "point_clouds"]
ORDER += ["streaming"]  # streaming a codec and a vocoder

INTRO = """# Results of the examples

Each section was written by the example's full run (the command is given) on the machine named in
it, and is regenerated from `docs/results/*.json` whenever a full run finishes. The figures are in
`docs/results/<name>/`; `atrous report --examples` shows them in the HTML report. Quick runs
(`--quick`, what the tests run) are not recorded here.
"""


def results_markdown(results: Path = RESULTS_DIR, folder: Path = RESULTS_MD.parent) -> str:
    """The text of ``RESULTS.md`` from every ``<results>/*.json``, with figure links relative to ``folder``."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(results.glob("*.json"))]
    records.sort(key=lambda r: (ORDER.index(r["name"]) if r["name"] in ORDER else len(ORDER), r["name"]))
    rel = os.path.relpath(results, folder)
    prefix = "" if rel == "." else f"{rel}/"
    parts = [INTRO]
    for r in records:
        parts.append(f"## {r['title']}\n")
        seeds = f"seeds {', '.join(map(str, r['seeds']))}" if "seeds" in r else f"seed {r['seed']}"
        parts.append(f"`{r['command']}`  \n{r['date']}, {r['elapsed_s']} s, {r['machine']}, {seeds}\n")
        parts.append(r["text"].strip() + "\n")
        if r["header"]:
            parts.append("| " + " | ".join(map(str, r["header"])) + " |")
            parts.append("|" + "---|" * len(r["header"]))
            for row in r["rows"]:
                parts.append("| " + " | ".join("" if c is None else str(c) for c in row) + " |")
            parts.append("")
        for f in r["figures"]:
            parts.append(f"![{f['caption']}]({prefix}{f['file']})  \n*{f['caption']}*\n")
    return "\n".join(parts)


def write_results_md(results: Path = RESULTS_DIR, path: Path = RESULTS_MD) -> Path:
    """Write ``RESULTS.md`` (by default ``docs/RESULTS.md``) from every ``<results>/*.json``."""
    path.write_text(results_markdown(results, path.parent), encoding="utf-8")
    return path


def fmt(x: float, digits: int = 3) -> str:
    """A number for tables: scientific below 1e-3."""
    if x != x:
        return "nan"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e5:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------- several seeds, a training loop


def nonnegative_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 0, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 0, got {value}")
        return value

    return parse


def add_seeds(p: argparse.ArgumentParser, full: Sequence[int]) -> None:
    """``--seeds``: train every model once per seed (default ``full``; a quick run: ``--seed`` alone).

    :func:`parse` fills ``args.seeds`` (a list) and refuses repeated seeds.
    """
    shown = " ".join(map(str, full))
    p.add_argument(
        "--seeds",
        type=nonnegative_int("--seeds"),
        nargs="+",
        help=f"train every model once per seed (default: {shown}; with --quick: --seed alone)",
    )
    p.set_defaults(full_seeds=tuple(full))


def fit(
    model: nn.Module,
    dist: Dist,
    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    *,
    n: int,
    batch: int,
    steps: int,
    lr: float,
    seed: int,
    every: int,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    name: str = "",
    verbose: bool = False,
) -> dict[str, list[float]]:
    """Adam on shuffled batches of ``range(n)`` for ``steps`` steps; curves every ``every`` steps.

    ``loss(model, rows)`` is the loss of the training rows ``rows`` (this process's share of a
    batch, see :meth:`Dist.batches`). Every ``every`` steps and at the last one the curves get
    the step, the mean training loss since the previous point (averaged over processes) and
    the numbers ``evaluate(model)`` returns (called in eval mode, without gradients).

    Returns:
        ``{"steps": [...], "loss": [...], <each key of evaluate>: [...]}``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curves: dict[str, list[float]] = {"steps": [], "loss": []}
    step, epoch, running, seen = 0, 0, 0.0, 0
    while step < steps:
        for rows in dist.batches(n, batch, epoch, seed):
            value = loss(model, rows)
            opt.zero_grad()
            value.backward()
            opt.step()
            step += 1
            running += float(value.detach())
            seen += 1
            if step % every == 0 or step == steps:
                curves["steps"].append(step)
                curves["loss"].append(dist.mean(running / seen))
                running, seen = 0.0, 0
                if evaluate is not None:
                    was = model.training
                    model.eval()
                    with torch.no_grad():
                        scores = evaluate(model)
                    model.train(was)
                    for key, v in scores.items():
                        curves.setdefault(key, []).append(float(v))
                if verbose and dist.main:
                    shown = " ".join(f"{k} {v[-1]:.4g}" for k, v in curves.items() if k != "steps")
                    print(f"{name} step {step} {shown}", flush=True)
            if step >= steps:
                break
        epoch += 1
    return curves


def predict(model: nn.Module, x: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """``model`` applied to ``x`` in batches of ``batch`` rows, in eval mode, without gradients (on the CPU)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[s : s + batch].to(device)).cpu() for s in range(0, len(x), batch)])
    model.train(was)
    return out


def conv_bn_relu(
    c_in: int, c_out: int, kernel: int = 3, *, dilation: int = 1, stride: int = 1, padding: Any = "same"
) -> nn.Sequential:
    """``atrous.nn.Conv2d`` (no bias), ``BatchNorm2d``, ``ReLU``: the layer of the 2-d examples."""
    from atrous.nn import Conv2d

    conv = Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())


def nanmean(values: Any, axis: int | None = None) -> Any:
    """``numpy.nanmean`` that returns NaN for an all-NaN slice without a warning (a quick run's empty bins)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(values, dtype=float), axis=axis)


def summary(values: Sequence[float]) -> tuple[float, list[float]]:
    """Mean and ``[min, max]`` of ``values`` over seeds, NaNs left out (NaN where all are NaN)."""
    finite = [float(v) for v in values if v == v]
    if not finite:
        return float("nan"), [float("nan"), float("nan")]
    return float(np.mean(finite)), [min(finite), max(finite)]


def compare(what: str, a: str, a_range: Sequence[float], b: str, b_range: Sequence[float], digits: int = 3) -> str:
    """One sentence comparing a number over seeds: higher / lower for every seed, or overlapping.

    ``a`` and ``b`` name the two models as they read inside a sentence ("the plain stack");
    ``a_range`` and ``b_range`` are ``[min, max]`` over the seeds (see :func:`summary`).
    """
    (a0, a1), (b0, b1) = a_range, b_range

    def span(lo: float, hi: float) -> str:
        return f"{lo:.{digits}f}" if lo == hi else f"{lo:.{digits}f}-{hi:.{digits}f}"

    shown = f"({span(a0, a1)} against {span(b0, b1)})"
    if a0 > b1:
        text = f"{a}'s {what} is higher than {b}'s for every seed {shown}."
    elif a1 < b0:
        text = f"{a}'s {what} is lower than {b}'s for every seed {shown}."
    else:
        text = f"the seeds' ranges of {what} of {a} and {b} overlap {shown}: this run does not separate them."
    return text[0].upper() + text[1:]
