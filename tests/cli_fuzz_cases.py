"""Bad command lines for every subcommand of ``atrous`` (the fuzz kept in the test suite).

Each case is ``(argv, how)``: ``how`` is ``"main"`` (run in-process through
``atrous.cli.main``), ``"proc"`` (a subprocess: benchmarks, which start one) or ``"bounded"``
(a case that once hung or ran out of memory: a subprocess under a time limit and a memory
cap). Every case must end with exit status 2, one line on stderr, no traceback and no file
written. File names refer to the fixture folder that :func:`make_fixtures` builds (the
working directory of every case).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["BOUNDED_OK", "CASES", "FIELD_CORE", "make_fixtures"]

#: A folder at the filesystem root that must never be created (one name per process, so that
#: parallel runs do not see each other's failures).
MISSING_DIR = f"/nonexistent-atrous-fuzz-{os.getpid()}"

_MODELS = """
import torch

def build():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1, dilation=1))

def needs_input():
    return torch.nn.Conv1d(1, 1, 3)

not_callable = 5

def factory_raises():
    raise RuntimeError("the factory failed on purpose")

def returns_int():
    return 7

def causal():
    return torch.nn.Sequential(torch.nn.ConstantPad1d((2, 0), 0.0), torch.nn.Conv1d(1, 2, 3))

def global_pool():
    return torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.AdaptiveAvgPool1d(1))

def forward_raises():
    class Bad(torch.nn.Module):
        def forward(self, x):
            raise ValueError("forward failed on purpose")
    return Bad()
"""


class _Evil:
    def __reduce__(self):  # pragma: no cover - never unpickled
        return (os.system, (f"touch {MISSING_DIR}-pwned",))


def make_fixtures(root: Path) -> None:
    """User modules, weight files and paths the bad cases refer to."""
    import torch

    pkg = root / "fuzzmods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(_MODELS)
    (pkg / "bad_syntax.py").write_text("def build(:\n    return 1\n")
    (pkg / "raises.py").write_text("raise RuntimeError('this module raises on import')\n")
    (pkg / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (pkg / "imports_missing.py").write_text("import a_module_that_does_not_exist_anywhere\n")
    (root / "bad_file.py").write_text("this is not python\n")
    (root / "afile").write_text("a plain file\n")
    (root / "adir.gif").mkdir()
    (root / "adir.png").mkdir()
    (root / "empty_results").mkdir()
    (root / "garbage.pt").write_bytes(b"\x00\x01 not a torch file " * 10)
    (root / "empty.pt").write_bytes(b"")
    torch.save(_Evil(), root / "evil.pt")
    torch.save(torch.nn.Conv2d(1, 2, 3), root / "module.pt")  # a whole module: needs pickled code
    torch.save({"0.weight": torch.zeros(5, 5)}, root / "wrong_shape.pt")
    torch.save([1, 2, 3], root / "a_list.pt")


def _c(how: str, *argv: str) -> tuple[list[str], str]:
    return list(argv), how


def _m(*argv: str) -> tuple[list[str], str]:
    return _c("main", *argv)


NO_FILE = f"{MISSING_DIR}/dir"

CASES: list[tuple[list[str], str]] = [
    # ---------------------------------------------------------------- top level
    _m(),  # placeholder replaced below: an empty command line prints help (status 0)
    _m("bogus"),
    _m("--bogus"),
    _m("shape9"),
    _m("--version", "extra"),
    # ---------------------------------------------------------------- shape
    _m("shape"),
    _m("shape", "9"),
    _m("shape", "9", "-k", "0"),
    _m("shape", "9", "-k", "-1"),
    _m("shape", "9", "-k", "3", "-p", "foo"),
    _m("shape", "2", "-k", "3", "-d", "2"),
    _m("shape", "9", "-k", "3", "-s", "2.5"),
    _m("shape", "4", "-k", "3", "-s", "2", "-t", "--output-padding", "2"),
    _m("shape", "0", "-k", "3"),
    _m("shape", "-5", "-k", "3"),
    _m("shape", "9,9", "-k", "3,3,3"),
    _m("shape", "9", "-k", "3", "-s", "0"),
    _m("shape", "9", "-k", "3", "-d", "0"),
    _m("shape", "9", "-k", "3", "-p", "-1"),
    _m("shape", "9", "-k", "3", "-p", "1:x"),
    _m("shape", "9x", "-k", "3"),
    _m("shape", "", "-k", "3"),
    _m("shape", "9", "-k", "3", "--output-padding", "1"),
    _m("shape", "9", "-k", "3", "--bogus"),
    _m("shape", "9", "-k", "3", "-t", "--output-padding", "x"),
    _m("shape", "9", "-k", "3", "-s", "1e3"),
    # ---------------------------------------------------------------- pad
    _m("pad", "9", "-k", "3", "-m", "bogus"),
    _m("pad", "x", "-k", "3"),
    _m("pad", "9"),
    _m("pad", "9", "-k", "0"),
    _m("pad", "9", "-k", "3", "-s", "0"),
    _m("pad", "9", "-k", "3", "-d", "-2"),
    _m("pad", "0", "-k", "3"),
    _m("pad", "9", "-k", "3", "-p", "1"),
    _m("pad", "9", "-k", "a"),
    _m("pad", "9", "-k", "3", "-m", "valid", "-s", "x"),
    _m("pad", "2", "-k", "3", "-d", "2", "-m", "valid"),
    _m("pad", "9,9", "-k", "3,3,3"),
    _m("pad", "9", "-k", "3", "--json", "--bogus"),
    # ---------------------------------------------------------------- invert
    _m("invert", "abc", "-k", "3"),
    _m("invert", "4", "-k", "3", "-d", "3", "-s", "2", "-t", "--output-padding", "2"),
    _m("invert", "9"),
    _m("invert", "9", "-k", "0"),
    _m("invert", "2", "-k", "5"),
    _m("invert", "9", "-k", "3", "-p", "foo"),
    _m("invert", "9", "-k", "3", "-s", "0"),
    _m("invert", "9", "-k", "3", "-s", "2", "-t", "--output-padding", "5"),
    _m("invert", "9", "-k", "3", "-p", "-2"),
    _m("invert", "9", "-k", "3", "-d", "x"),
    _m("invert", "9", "-k", "3", "-t", "--output-padding", "-1"),
    _m("invert", "-1", "-k", "3"),
    _m("invert", "9,9", "-k", "3,3,3"),
    # ---------------------------------------------------------------- rf
    _m("rf"),
    _m("rf", "-k", "3", "-d", "1,2", "-s", "1,2,3"),
    _m("rf", "-k", "3", "-d", "0"),
    _m("rf", "-k", "3", "-i", "2", "-d", "1,2"),
    _m("rf", "--kind", "pool", "-k", "3"),
    _m("rf", "-k", "3", "-c", "-5"),
    _m("rf", "-k", "3", "-c", "0"),
    _m("rf", "-k", "3", "-c", "x"),
    _m("rf", "-k", "x"),
    _m("rf", "-k", "3", "-p", "foo"),
    _m("rf", "-k", "3", "-s", "0"),
    _m("rf", "--kind", "maxpool", "-k", "2", "-p", "1:0"),
    _m("rf", "--kind", "tconv", "-k", "3", "-s", "2", "--output-padding", "2"),
    _m("rf", "-k", "3", "-i", "0"),
    _m("rf", "-k", "3", "-i", "x"),
    _m("rf", "-k", "3,3", "-d", "1,2,3"),
    _m("rf", "-k", "3", "-d", "1,,2"),
    _m("rf", "--kind", "up", "-s", "0"),
    _m("rf", "-k", "0"),
    _m("rf", "-k", "3", "-p", "1:2:3"),
    _m("rf", "-k", "3x3", "-i", "9,9,9"),
    # ---------------------------------------------------------------- plan
    _m("plan"),
    _m("plan", "--target", "0"),
    _m("plan", "--check", "1,x"),
    _m("plan", "--target", "10", "-k", "1"),
    _m("plan", "--target", "1000", "--check", "1,2"),
    _m("plan", "--target", "x"),
    _m("plan", "--target", "-5"),
    _m("plan", "--check", ""),
    _m("plan", "--check", "0,1"),
    _m("plan", "--check", "1,2", "-k", "0"),
    _m("plan", "--target", "100", "--max-dilation", "0"),
    _m("plan", "--target", "100", "--max-dilation", "x"),
    _m("plan", "--check", "1,2", "--max-dilation", "4"),
    _m("plan", "--target", "1e6"),
    _m("plan", "-k", "x", "--target", "10"),
    _m("plan", "--target", "10", "--bogus"),
    _m("plan", "--target", "9" * 1001),
    _m("shape", "9", "-k", "3", "-p", "9" * 5000),
    _c("bounded", "plan", "--target", str(10**18), "--max-dilation", "1"),
    _c("bounded", "plan", "--target", str(10**18), "-k", "2", "--max-dilation", "3"),
    # ---------------------------------------------------------------- stream
    _m("stream"),
    _m("stream", "builtin:nope"),
    _m("stream", "fuzzmods.bad_syntax:build"),
    _m("stream", "fuzzmods.models:factory_raises", "-i", "1,1,16"),
    _m("stream", "fuzzmods.models:forward_raises", "-i", "1,1,16"),
    _m("stream", "fuzzmods.models:returns_int", "-i", "1,1,16"),
    _m("stream", "fuzzmods.models:global_pool", "-i", "1,1,16"),
    _m("stream", "fuzzmods.models:causal"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1"),
    _m("stream", "fuzzmods.models:causal", "-i", "2,1,16"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--chunk", "0"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--chunk", "1,x"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--chunk", str(10**12)),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--sample-rate", "0"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--sample-rate", "nan"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--seconds", "-1"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--seconds", "1e12"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--batch", "0"),
    _m("stream", "fuzzmods.models:causal", "-i", "1,1,16", "--weights", "evil.pt"),
    # ---------------------------------------------------------------- analyze
    _m("analyze"),
    _m("analyze", "builtin:nope"),
    _m("analyze", "nomodule"),
    _m("analyze", "no_such_module_anywhere:build"),
    _m("analyze", "fuzzmods.bad_syntax:build"),
    _m("analyze", "fuzzmods.raises:build"),
    _m("analyze", "fuzzmods.exits:build"),
    _m("analyze", "fuzzmods.imports_missing:build"),
    _m("analyze", "fuzzmods.models:missing_attr", "-i", "1,1,8,8"),
    _m("analyze", "fuzzmods.models:not_callable", "-i", "1,1,8,8"),
    _m("analyze", "fuzzmods.models:factory_raises", "-i", "1,1,8,8"),
    _m("analyze", "fuzzmods.models:returns_int", "-i", "1,1,8,8"),
    _m("analyze", "fuzzmods.models:forward_raises", "-i", "1,1,8,8"),
    _m("analyze", "fuzzmods.models:needs_input"),
    _m("analyze", "nofile.py:build"),
    _m("analyze", "bad_file.py:build"),
    _m("analyze", "fuzzmods/models.py:build", "-i", "1,1"),
    _m("analyze", "builtin:vgg16", "-i", "1,3"),
    _m("analyze", "builtin:vgg16", "-i", "x"),
    _m("analyze", "builtin:vgg16", "-i", "1,3,0,0"),
    _m("analyze", "builtin:vgg16", "--weights", "missing.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "garbage.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "empty.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "evil.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "module.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "wrong_shape.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "a_list.pt"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "adir.gif"),
    _m("analyze", "fuzzmods.models:build", "-i", "1,1,8,8", "--erf", "--samples", "0"),
    _m("analyze", ":build"),
    _m("analyze", "fuzzmods.models:"),
    # ---------------------------------------------------------------- report
    _m("report", "-o", "afile"),
    _m("report", "-o", NO_FILE),
    _m("report", "-o", ""),
    _m("report", "--examples", MISSING_DIR),
    _m("report", "--examples", "empty_results"),
    _m("report", "--examples", "afile"),
    _m("report", "builtin:vgg16", "--examples", "x"),
    _m("report", "-i", "1,3,9,9"),
    _m("report", "--weights", "x.pt"),
    _m("report", "no_such_module_anywhere:build"),
    _m("report", "fuzzmods.bad_syntax:build"),
    _m("report", "fuzzmods.raises:build"),
    _m("report", "builtin:nope"),
    _m("report", "fuzzmods.models:needs_input"),
    _m("report", "builtin:vgg16", "-i", "x"),
    _m("report", "fuzzmods.models:build", "-i", "1,1,8,8", "--weights", "evil.pt"),
    _m("report", "fuzzmods.models:build", "-i", "1,1,8,8", "-o", "afile"),
    # ---------------------------------------------------------------- animate
    _m("animate", "5", "-k", "3", "-o", "x.txt"),
    _m("animate", "5", "-k", "3", "-o", f"{NO_FILE}/x.gif"),
    _m("animate", "5", "-k", "3", "-o", f"{NO_FILE}/x.svg"),
    _m("animate", "5", "-k", "3", "-o", "adir.gif"),
    _m("animate", "5", "-k", "3", "--fps", "0"),
    _m("animate", "5", "-k", "3", "--fps", "-1"),
    _m("animate", "5", "-k", "3", "--fps", "1e-9"),
    _m("animate", "5", "-k", "3", "--fps", "nan"),
    _m("animate", "5", "-k", "3", "--fps", "inf"),
    _m("animate", "5", "-k", "3", "--fps", "x"),
    _m("animate", "5", "-k", "3", "--cell", "100000"),
    _m("animate", "5", "-k", "3", "--cell", "2"),
    _m("animate", "5", "-k", "3", "--cell", "x"),
    _m("animate", "5,5,5", "-k", "3"),
    _m("animate", "5", "-k", "9"),
    _m("animate", "5", "-k", "3", "--frame", "99", "-o", "x.svg"),
    _m("animate", "5", "-k", "3", "--frame", "-1", "-o", "x.svg"),
    _m("animate", "5", "-k", "3", "-p", "foo"),
    _m("animate", "5", "-k", "3", "-o", "x.svg", "--cell", "100000"),
    _c("bounded", "animate", "3000,3000", "-k", "3"),
    _c("bounded", "animate", "1000000000", "-k", "3"),
    _c("bounded", "animate", "5", "-k", "3", "-s", "100000000", "-t", "-p", "1000"),
    _c("bounded", "animate", "4,4", "-k", "3", "-p", "100000000", "-o", "x.svg"),
    # ---------------------------------------------------------------- plot
    _m("plot"),
    _m("plot", "bogus"),
    _m("plot", "coverage", "-o", "x.jpg"),
    _m("plot", "coverage", "-o", f"{NO_FILE}/x.png"),
    _m("plot", "coverage", "-o", "adir.png"),
    _m("plot", "coverage", "--rates", "0,1"),
    _m("plot", "coverage", "--rates", "x"),
    _m("plot", "coverage", "--rates", ""),
    _m("plot", "coverage", "-k", "0"),
    _m("plot", "checkerboard", "-s", "0"),
    _m("plot", "checkerboard", "-p", "foo"),
    _m("plot", "checkerboard", "-k", "0"),
    _m("plot", "frequency", "--kernel", "a,b"),
    _m("plot", "frequency", "--kernel", ""),
    _m("plot", "frequency", "--kernel", "nan,1"),
    _m("plot", "frequency", "--dilations", "0"),
    _m("plot", "rf"),
    _m("plot", "erf", "--model", "builtin:nope"),
    _m("plot", "rf", "--model", "no_such_module_anywhere:build"),
    _m("plot", "rf", "--model", "fuzzmods.bad_syntax:build"),
    _m("plot", "erf", "--model", "fuzzmods.models:build", "-i", "1,1,8,8", "--samples", "0"),
    _m("plot", "rf", "--model", "fuzzmods.models:build", "-i", "1,1,8,8", "-o", f"{NO_FILE}/x.png"),
    _c("bounded", "plot", "coverage", "--rates", "100000000,1"),
    _c("bounded", "plot", "coverage", "--rates", "1,2", "-k", "100000000"),
    _c("bounded", "plot", "checkerboard", "-k", "3", "-s", "100000"),
    _c("bounded", "plot", "frequency", "--kernel", ",".join(["1"] * 50000)),
    _c("bounded", "plot", "frequency", "--dilations", ",".join(["2"] * 1000)),
    # ---------------------------------------------------------------- bench (start a child)
    _c("proc", "bench"),
    _c("proc", "bench", "bogus"),
    _c("proc", "bench", "analysis", "--repeats", "0"),
    _c("proc", "bench", "analysis", "--repeats", "x"),
    _c("proc", "bench", "analysis", "--samples", "0"),
    _c("proc", "bench", "analysis", "--bogus"),
    _c("proc", "bench", "analysis", "--output", f"{NO_FILE}/BENCHMARKS.md"),
    _c("proc", "bench", "analysis", "--output", "adir.gif"),
    _c("proc", "bench", "ops", "--parts", "bogus"),
    _c("proc", "bench", "ops", "--parts", "2d,bogus"),
    _c("proc", "bench", "ops", "--rounds", "0"),
    _c("proc", "bench", "ops", "--device", "tpu"),
    _c("proc", "bench", "ops", "--wait", "-1"),
    _c("proc", "bench", "ops", "--max-load", "nan"),
    _c("proc", "bench", "stream", "--rounds", "0"),
    _c("proc", "bench", "stream", "--bogus"),
    _c("proc", "bench", "animations", "--repeats", "0"),
    _c("proc", "bench", "animations", "--repeats", "-3"),
    # ---------------------------------------------------------------- tour
    _m("playground", "-o", f"{MISSING_DIR}/x.html"),
    _m("playground", "-o", "page.png"),
    _m("playground", "-o", ""),
    _m("playground", "--bogus"),
    _m("playground", "extra"),
    _m("playground", "-o"),
    _m("playground", "--json"),
    _m("playground", "-o", "a.html", "-o"),
    _m("playground", "--output=x.txt"),
    _m("playground", "-k", "3"),
    _m("tour", "5"),
    _m("tour", "--bogus"),
    _m("tour", "json"),
    _m("tour", "--JSON"),
    _m("tour", "--json", "x"),
    _m("tour", "--json=yes"),
    _m("tour", "-j"),
    _m("tour", "-"),
    _m("tour", "--traceback=1"),
    _m("tour", "--", "x"),
]
CASES = CASES[1:]  # the empty command line prints the help (not an error)

#: Cases whose bound belongs to the receptive-field core (hole enumeration, huge fields): the
#: core computes them arithmetically, so each must end cleanly within the limits.
FIELD_CORE: list[list[str]] = [
    ["rf", "-k", "3", "-d", "1000000000000"],
    ["plan", "--check", "1,2,5,10000000"],
    ["rf", "-k", "3", "-s", "9" * 1000, "-d", "1,2,3,4,5,6,7,8"],
]

#: Valid command lines that once ran for minutes or ran out of memory: they must succeed in a
#: subprocess under the time limit and memory cap, writing only the file they name.
BOUNDED_OK: list[tuple[list[str], str]] = [
    (["plot", "checkerboard", "-k", "100000", "-s", "2", "-o", "out.png"], "out.png"),
    (["plot", "frequency", "--dilations", "1000000000", "-o", "out.png"], "out.png"),
    (["plot", "frequency", "--kernel", ",".join(["1"] * 256), "-o", "out.png"], "out.png"),
    (["plan", "--target", str(10**18), "--json"], ""),
    (["plan", "--target", str(10**9), "--max-dilation", "100000", "--json"], ""),
    (["animate", "500", "-k", "3", "-s", "1", "-o", "out.svg", "--frame", "100"], "out.svg"),
    (["shape", "9", "-k", "3", "-t", "-s", "9" * 1000, "--json"], ""),
    (["shape", "9", "-k", "3", "-t", "-s", "7", "-d", "9" * 300], ""),
]


def case_id(case: tuple[list[str], str]) -> str:
    argv, _ = case
    text = " ".join(a if len(a) < 30 else a[:12] + "..." for a in argv) or "empty"
    return text.replace(MISSING_DIR, "/MISSING")


if __name__ == "__main__":  # pragma: no cover - the count, for the record
    print(len(CASES), "cases;", sum(1 for _, h in CASES if h != "main"), "in subprocesses", file=sys.stderr)
