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
from cli_fuzz_cases import BOUNDED_OK, CASES, FIELD_CORE, MISSING_DIR, case_id, make_fixtures

from atrous.cli import main

REPO = Path(__file__).resolve().parents[1]
#: CPU seconds after which a case has hung (they take a few): a CPU limit, not a wall-clock
#: one, so that a busy machine does not fail the test; the wall-clock limit is a last resort.
CPU_LIMIT_S = 60
HANG_S = 900
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
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 5))


def run_cli_process(argv: list[str], cwd: Path, timeout: float = HANG_S) -> subprocess.CompletedProcess:
    """``python -m atrous ARGV`` under a time limit and (on Linux) a memory cap."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "atrous", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory if sys.platform.startswith("linux") else None,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: `atrous {' '.join(argv)}` still ran after {timeout} s")
    if proc.returncode in (-24, -9):  # SIGXCPU, SIGKILL: past the CPU limit
        pytest.fail(f"hung: `atrous {' '.join(argv)}` used more than {CPU_LIMIT_S} s of CPU")
    return proc


IN_PROCESS = [c for c in CASES if c[1] == "main"]
SUBPROCESS = [c for c in CASES if c[1] != "main"]


def test_the_fuzz_is_large():
    assert len(CASES) >= 170
    per_command: dict[str, int] = {}
    for argv, _ in CASES:
        if argv and not argv[0].startswith("-"):
            per_command[argv[0]] = per_command.get(argv[0], 0) + 1
    from atrous.cli import COMMANDS

    assert {c: per_command.get(c, 0) for c in COMMANDS if per_command.get(c, 0) < 10} == {}


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
@pytest.mark.slow
def test_bad_input_in_a_process(case, fixtures):
    argv, _ = case
    before, repo = _tree(fixtures), _repo_state()
    proc = run_cli_process(argv, fixtures)
    _check(proc.returncode, proc.stdout, proc.stderr, before, _tree(fixtures), repo, argv)


@pytest.mark.parametrize("case", BOUNDED_OK, ids=lambda c: case_id((c[0], "")))
@pytest.mark.slow
def test_once_unbounded_valid_input_succeeds_in_a_process(case, tmp_path):
    argv, written = case
    proc = run_cli_process(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ([written] if written else [])


def _short_limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (15, 20))


@pytest.mark.parametrize("argv", FIELD_CORE, ids=lambda a: case_id((a, "")))
def test_field_core_bounds(argv, tmp_path):
    # short limits: each ends cleanly (status 0 with an answer, or 2 with one line) because the
    # field core computes sizes and holes arithmetically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "atrous", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_short_limits if sys.platform.startswith("linux") else None,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("still runs after 120 s")
    if proc.returncode in (-24, -9):
        pytest.fail("used more than 15 s of CPU")
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 2) and (proc.returncode == 0 or len(proc.stderr.strip().splitlines()) == 1)
