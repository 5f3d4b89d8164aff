"""Shared helpers of the benchmarks: medians, machine description, BENCHMARKS.md sections.

Every script parses its arguments with :class:`BenchParser` before it starts any work: a bad
value ends it at once with status 2 and one line naming the option, the value and the valid
range. Results go to the file given by ``--output`` (default ``BENCHMARKS.md`` in the working
directory, so ``python benchmarks/bench_X.py`` from the checkout updates the checkout's file).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


class BenchParser(argparse.ArgumentParser):
    """argparse, with errors in one line (``prog: error: ...``) and status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def output_file(text: str) -> Path:
    """An argparse type: the Markdown file to update; its folder must exist (none is created)."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"must name a file (its section is replaced), got {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {str(path.parent)!r} of {text!r} does not exist")
    return path.resolve()


def add_output(parser: argparse.ArgumentParser) -> None:
    """``--output FILE`` (default BENCHMARKS.md in the working directory) and ``--no-write``."""
    parser.add_argument(
        "--output",
        type=output_file,
        default=Path("BENCHMARKS.md").resolve(),
        help="the Markdown file whose section is replaced (default: BENCHMARKS.md in the working directory)",
    )
    parser.add_argument("--no-write", action="store_true", help="only print, write no file")


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` in its own process group, ended with this process (``atrous.cli.run_child``)."""
    from atrous.cli import run_child as run

    return run(cmd, env)


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine() -> str:
    import torch

    try:
        load = f", load average {os.getloadavg()[0]:.2f} at start"
    except OSError:
        load = ""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads{load}"
    )


def write_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section ``## title`` of the Markdown file ``path``."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section is written by the script named in it.\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")
    print(f"wrote the section '{title}' of {path}")
