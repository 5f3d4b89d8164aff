"""The CLI as a process: the user's folder on sys.path, benchmarks' outputs and process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINUX = sys.platform.startswith("linux")

FAKE_MATPLOTLIB = """
from pathlib import Path
Path(__file__).resolve().parents[1].joinpath("HIJACKED").write_text("the fake matplotlib ran")
raise ImportError("a fake matplotlib in the working directory was imported")
"""

USER_MODEL = """
import torch

def build():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=2, dilation=2), torch.nn.ReLU())
"""


def _atrous(argv: list[str], cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "atrous", *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`atrous {' '.join(argv)}` still ran after {timeout} s")


@pytest.fixture
def hostile_cwd(tmp_path):
    """A working directory with a user model and a folder named like a library atrous imports."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("torch")
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text(FAKE_MATPLOTLIB)
    (tmp_path / "usermodel.py").write_text(USER_MODEL)
    return tmp_path


@pytest.mark.slow
def test_plot_and_report_do_not_run_a_fake_matplotlib(hostile_cwd):
    proc = _atrous(["plot", "rf", "--model", "usermodel:build", "-i", "1,1,16,16", "-o", "rf.png"], hostile_cwd)
    assert proc.returncode == 0, proc.stderr
    assert (hostile_cwd / "rf.png").stat().st_size > 0
    proc = _atrous(["plot", "detection", "-o", "det.png"], hostile_cwd)
    assert proc.returncode == 0, proc.stderr
    proc = _atrous(["report", "usermodel:build", "-i", "1,1,16,16", "-o", "rep", "--no-progress"], hostile_cwd)
    assert proc.returncode == 0, proc.stderr
    assert (hostile_cwd / "rep" / "index.html").is_file()
    assert not (hostile_cwd / "HIJACKED").exists()


@pytest.mark.slow
def test_console_script_does_not_run_a_fake_matplotlib(hostile_cwd):
    script = Path(sys.executable).with_name("atrous")
    if not script.is_file():
        pytest.skip("no atrous console script next to this Python")
    proc = subprocess.run(
        [str(script), "plot", "rf", "--model", "usermodel:build", "-i", "1,1,16,16", "-o", "rf.png"],
        cwd=hostile_cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (hostile_cwd / "HIJACKED").exists()


def test_bench_writes_into_the_working_directory(tmp_path):
    pytest.importorskip("PIL")
    if not (REPO / "benchmarks" / "bench_animations.py").is_file():
        pytest.skip("no benchmarks/ folder (not a source checkout)")
    checkout = REPO / "BENCHMARKS.md"
    before = checkout.stat().st_mtime_ns if checkout.exists() else None
    proc = _atrous(["bench", "animations", "--repeats", "1"], tmp_path, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr  # 1: the speed target was missed on a busy machine
    written = tmp_path / "BENCHMARKS.md"
    assert "## Animations" in written.read_text()
    assert f"wrote the section 'Animations' of {written.resolve()}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BENCHMARKS.md"]
    assert (checkout.stat().st_mtime_ns if checkout.exists() else None) == before


def _pids_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline and "pytest" not in cmdline:
                pids.append(int(entry.name))
    return pids


def _wait_gone(marker: str, timeout: float = 30) -> list[int]:
    end = time.monotonic() + timeout
    while (left := _pids_with(marker)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_stopped_bench_leaves_no_process(tmp_path):
    pytest.importorskip("torch")
    if not (REPO / "benchmarks" / "bench_ops.py").is_file():
        pytest.skip("no benchmarks/ folder (not a source checkout)")
    marker = f"599.{os.getpid()}"  # a --wait value no other process has on its command line
    proc = subprocess.Popen(
        [sys.executable, "-m", "atrous", "bench", "ops", "--no-write", "--max-load", "0.000001", "--wait", marker],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # the child announces its wait for a quiet machine
        assert line.startswith("waiting up to"), line + proc.stderr.read()
        assert len(_pids_with(marker)) >= 2  # the bench script and its child
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover - a failure above
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in proc.stderr.read()
    assert _wait_gone(marker) == []


@pytest.mark.skipif(not LINUX, reason="prctl(PR_SET_PDEATHSIG) and /proc")
def test_run_child_dies_with_its_parent(tmp_path):
    marker = f"sleeping-child-{os.getpid()}"
    parent = textwrap.dedent(
        f"""
        import sys
        from atrous.cli import run_child
        sys.exit(run_child([sys.executable, "-c", "import time, sys; print('up', flush=True); time.sleep(600)",
                            "{marker}"]))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert _pids_with(marker)
        proc.kill()  # SIGKILL: no handler runs in the parent
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
    assert _wait_gone(marker) == []


@pytest.mark.skipif(not LINUX, reason="/proc")
def test_run_child_passes_sigint_to_the_group(tmp_path):
    marker = f"group-child-{os.getpid()}"
    grandchild = f"import time; time.sleep(600)  # {marker}"
    child = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {grandchild!r}]); print('up', flush=True); time.sleep(600)"
    parent = f"import sys\nfrom atrous.cli import run_child\nsys.exit(run_child([sys.executable, '-c', {child!r}]))"
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        end = time.monotonic() + 30
        while not _pids_with(marker) and time.monotonic() < end:
            time.sleep(0.1)
        assert _pids_with(marker)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT
    assert _wait_gone(marker) == []
