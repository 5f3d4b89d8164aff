"""The CLI fuzz: every subcommand given bad input ends with status 2, one line, no traceback.

The cases are in ``cli_fuzz_cases.py``. In-process cases run through ``atrous.cli.main`` in a
fixture folder; benchmarks and the cases that once hung or ran out of memory run as
subprocesses under a time limit and a memory cap (a hang fails the test instead of blocking
the suite; no test asserts how long a case takes). After every case nothing new exists in
the fixture folder, in the checkout or at the filesystem root, and ``sys.path`` is as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_fuzz_cases import BOUNDED_OK, CASES, MISSING_DIR, case_id, make_fixtures

from atrous.cli import main

REPO = Path(__file__).resolve().parents[1]
#: A case that takes longer than this has hung (they take seconds).
HANG_S = 120
#: Address-space cap of the subprocess cases: a case that tries to allocate its input's worth
#: of memory fails with MemoryError instead of filling the machine.
MEMORY_CAP = 6 << 30


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-fuzz")
    make_fixtures(root)
    return root


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in root.rglob("*"):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _repo_state() -> tuple[list[str], tuple[int, int] | None]:
    bench = REPO / "BENCHMARKS.md"
    st = bench.stat() if bench.exists() else None
    return sorted(os.listdir(REPO)), (st.st_size, st.st_mtime_ns) if st else None


def _outside() -> list[str]:
    return [p for p in (MISSING_DIR, MISSING_DIR + "-pwned") if os.path.lexists(p)]


def _check(code: int | None, out: str, err: str, before: dict, after: dict, repo: tuple, argv: list[str]) -> None:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert code == 2, f"exit status {code} for {argv}: {err or out}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {err!r}"
    assert "error:" in lines[0]
    assert out == "", f"stdout {out!r}"
    assert after == before, f"files changed: {sorted(set(after) ^ set(before))}"
    assert _repo_state() == repo, "the checkout changed"
    assert not _outside(), f"created {_outside()}"


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli_process(argv: list[str], cwd: Path, timeout: float = HANG_S) -> subprocess.CompletedProcess:
    """``python -m atrous ARGV`` under a time limit and (on Linux) a memory cap."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "atrous", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory if sys.platform.startswith("linux") else None,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: `atrous {' '.join(argv)}` still ran after {timeout} s")


IN_PROCESS = [c for c in CASES if c[1] == "main"]
SUBPROCESS = [c for c in CASES if c[1] != "main"]


def test_the_fuzz_is_large():
    assert len(CASES) >= 170
    per_command: dict[str, int] = {}
    for argv, _ in CASES:
        if argv and not argv[0].startswith("-"):
            per_command[argv[0]] = per_command.get(argv[0], 0) + 1
    from atrous.cli import COMMANDS

    assert {c: per_command.get(c, 0) for c in COMMANDS if per_command.get(c, 0) < 10 and c != "tour"} == {}


@pytest.mark.parametrize("case", IN_PROCESS, ids=case_id)
def test_bad_input_in_process(case, fixtures, monkeypatch, capsys):
    argv, _ = case
    monkeypatch.chdir(fixtures)
    before, repo, path = _tree(fixtures), _repo_state(), list(sys.path)
    try:
        code = main(argv)
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in ("fuzzmods", "_atrous_user_model")]:
            del sys.modules[name]
    out, err = capsys.readouterr()
    _check(code, out, err, before, _tree(fixtures), repo, argv)
    assert sys.path == path, "the user's import left its folder on sys.path"


@pytest.mark.parametrize("case", SUBPROCESS, ids=case_id)
def test_bad_input_in_a_process(case, fixtures):
    argv, _ = case
    before, repo = _tree(fixtures), _repo_state()
    proc = run_cli_process(argv, fixtures)
    _check(proc.returncode, proc.stdout, proc.stderr, before, _tree(fixtures), repo, argv)


@pytest.mark.parametrize("case", BOUNDED_OK, ids=lambda c: case_id((c[0], "")))
def test_once_unbounded_valid_input_succeeds_in_a_process(case, tmp_path):
    argv, written = case
    proc = run_cli_process(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ([written] if written else [])
