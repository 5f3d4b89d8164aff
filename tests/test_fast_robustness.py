"""The fast paths can never take the process down: the C kernel's cache (truncated, empty,
garbage or foreign objects) and its compiler (missing, hanging) each end in one warning and a
working convolution; force() and record() belong to one thread; the route table. (The
autotune cache's failures and deterministic mode: tests/test_fast_paths.py.)"""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import atrous.functional as AF
from atrous import _fast
from atrous._fast import autotune, ckernel, state

ROOT = Path(__file__).resolve().parents[1]


def _t(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    for name in ("ATROUS_FAST_PATHS", "ATROUS_COMPILE", "ATROUS_DETERMINISTIC", "ATROUS_COMPILE_TIMEOUT", "CC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATROUS_AUTOTUNE", "0")
    _fast.reset()
    yield
    _fast.reset()


# --------------------------------------------------------------------------- the C kernel


@pytest.fixture(scope="module")
def good_object():
    """A kernel built by the real compiler (in the session's cache directory)."""
    if shutil.which("cc") is None and shutil.which("gcc") is None and shutil.which("clang") is None:
        pytest.skip("no C compiler")
    saved = dict(ckernel._state)
    ckernel._state.clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a clean build: no warning at all
            lib = ckernel.load()
    finally:
        ckernel._state.clear()
        ckernel._state.update(saved)
    assert lib is not None
    found = [p for p in ckernel.cache_dir().glob("dwconv-*.so") if ckernel._verified(p) is None]
    assert found
    return found[0]


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def kernel_env(monkeypatch, tmp_path, good_object):
    """A private cache directory and a fake compiler that 'compiles' by copying the real object
    (``$FAKE_MODE``: copy, truncate, garbage); the loaded-library memo is forgotten."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(cache))
    cc = _script(
        tmp_path / "fakecc",
        f"""\
        if [ "$1" = "--version" ]; then echo "fakecc 1.0"; exit 0; fi
        while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then out="$2"; fi; shift; done
        echo built >> "{tmp_path}/builds"
        case "$FAKE_MODE" in
          truncate) head -c 3000 "{good_object}" > "$out" ;;
          garbage) head -c 20000 /dev/urandom > "$out" ;;
          *) cp "{good_object}" "$out" ;;
        esac
        """,
    )
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setattr(ckernel, "_state", {})

    def targets():
        return [ckernel._target([str(cc)], "fakecc 1.0\n", flags) for flags in ckernel._FLAG_SETS]

    def builds():
        path = tmp_path / "builds"
        return len(path.read_text().splitlines()) if path.exists() else 0

    return targets, builds


def _load_quietly():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = ckernel.load()
    return lib, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def _route(x, w, **kw):
    with _fast.record() as seen:
        AF.conv(x, w, **kw)
    return seen[-1]


def _works(lib):
    """The loaded kernel computes a depthwise dilated convolution right."""
    assert lib is not None
    x, w = _t(2, 4, 12, 13), _t(4, 1, 3, 3)
    with _fast.force("dw_direct"):
        y = AF.conv(x, w, padding=8, dilation=8, groups=4)
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 8, 8, 4), rtol=1e-5, atol=1e-5)


def test_a_fresh_build_is_recorded_and_reused(kernel_env):
    targets, builds = kernel_env
    lib, messages = _load_quietly()
    assert messages == [] and builds() == 1
    first = targets()[0]  # -march=native: the first flag set
    assert ckernel._verified(first) is None
    record = json.loads((first.parent / (first.name + ".json")).read_text())
    assert record["size"] == first.stat().st_size
    _works(lib)
    ckernel._state.clear()
    lib, messages = _load_quietly()
    assert lib is not None and messages == [] and builds() == 1  # loaded from the cache, checked


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "no record", "another library"])
def test_a_damaged_cached_object_is_rebuilt_with_one_warning(kernel_env, damage):
    targets, builds = kernel_env
    lib, _ = _load_quietly()
    first = targets()[0]
    data = first.read_bytes()
    if damage == "truncated":
        first.write_bytes(data[: len(data) // 3])
    elif damage == "empty":
        first.write_bytes(b"")
    elif damage == "garbage":
        first.write_bytes(os.urandom(len(data)))
    elif damage == "no record":
        (first.parent / (first.name + ".json")).unlink()
    else:
        other = next(p for p in map(Path, ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/libm.so.6")) if p.exists())
        shutil.copyfile(other, first)
    ckernel._state.clear()
    lib, messages = _load_quietly()
    assert len(messages) == 1 and "rebuilt it" in messages[0] and str(first) in messages[0]
    assert builds() == 2
    assert ckernel._verified(first) is None  # the -march=native object again, not a lesser one
    _works(lib)


def test_a_foreign_library_with_a_forged_record_is_not_used(kernel_env):
    """An object that passes the checksum but lacks the kernel's functions (AttributeError
    today) is rebuilt too."""
    targets, _ = kernel_env
    _load_quietly()
    first = targets()[0]
    other = next(p for p in map(Path, ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/libm.so.6")) if p.exists())
    shutil.copyfile(other, first)
    size, sha = ckernel._digest(first)
    (first.parent / (first.name + ".json")).write_text(json.dumps({"size": size, "sha256": sha}))
    ckernel._state.clear()
    lib, messages = _load_quietly()
    assert len(messages) == 1 and "cannot be loaded" in messages[0] and "AttributeError" in messages[0]
    _works(lib)


@pytest.mark.parametrize("mode", ["truncate", "garbage"])
def test_a_broken_fresh_build_never_reaches_this_process(kernel_env, monkeypatch, mode):
    """The compiler's output is loaded in a child process first: a broken object kills (or
    fails) the child, and this process warns once and falls back."""
    targets, builds = kernel_env
    monkeypatch.setenv("FAKE_MODE", mode)
    lib, messages = _load_quietly()
    assert lib is None and len(messages) == 1
    assert "unavailable" in messages[0] and "unusable" in messages[0]
    assert builds() == len(ckernel._FLAG_SETS)
    assert not any(p.exists() for p in targets())  # nothing unusable was cached
    x, w = _t(2, 4, 12, 13), _t(4, 1, 3, 3)
    with _fast.record() as seen:
        y = AF.conv(x, w, padding=8, dilation=8, groups=4)
    assert seen == ["pad_w"]
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 8, 8, 4))


@pytest.mark.slow
def test_a_truncated_object_in_the_cache_cannot_crash_a_new_process(kernel_env, tmp_path):
    """The issue's case, in a process of its own (a crash would show as a signal here): a
    truncated cached object used to kill every process with SIGBUS until deleted."""
    targets, _ = kernel_env
    _load_quietly()
    first = targets()[0]
    first.write_bytes(first.read_bytes()[:4096])
    code = textwrap.dedent(
        """
        import warnings, torch, torch.nn.functional as F
        warnings.simplefilter("always")
        import atrous.functional as AF
        from atrous import _fast
        x, w = torch.randn(2, 4, 12, 13), torch.randn(4, 1, 3, 3)
        with _fast.record() as seen:
            y = AF.conv(x, w, padding=8, dilation=8, groups=4)
        torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 8, 8, 4), rtol=1e-5, atol=1e-5)
        print(seen)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['dw_direct']"
    assert done.stderr.count("RuntimeWarning") == 1 and "rebuilt it" in done.stderr
    assert ckernel._verified(first) is None


def test_cc_that_is_not_a_program_is_reported_not_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "/nonexistent")
    monkeypatch.setattr(ckernel, "_state", {})
    lib, messages = _load_quietly()
    assert lib is None and len(messages) == 1
    assert "CC='/nonexistent' is not an executable program" in messages[0] and "unavailable" in messages[0]
    assert not list(tmp_path.glob("dwconv-*"))  # no other compiler was used behind CC's back


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # (a zombie waits for its reaper only)


@pytest.mark.parametrize("hangs", ["compile", "version"])
def test_a_hanging_compiler_is_killed_with_its_children(monkeypatch, tmp_path, hangs):
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(tmp_path / "cache"))
    pidfile = tmp_path / "child.pid"
    version = "sleep 60 & echo $! > {pid}; wait" if hangs == "version" else "echo slowcc 1.0; exit 0"
    cc = _script(
        tmp_path / "slowcc",
        f"""\
        if [ "$1" = "--version" ]; then {version.format(pid=pidfile)}; fi
        sleep 60 &
        echo $! > {pidfile}
        wait
        """,
    )
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("ATROUS_COMPILE_TIMEOUT", "1.5")
    monkeypatch.setattr(ckernel, "_state", {})
    t = time.monotonic()
    lib, messages = _load_quietly()
    elapsed = time.monotonic() - t
    assert lib is None and len(messages) == 1 and "unavailable" in messages[0]
    assert ("took longer than 1.5 s" if hangs == "compile" else "did not answer within 1.5 s") in messages[0]
    assert "killed" in messages[0]
    assert elapsed < 30  # (bounded: one limit, not one per flag set; the compiler's sleep is 60 s)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the compiler's child process was left running"


def test_a_bad_compile_timeout_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ATROUS_COMPILE_TIMEOUT", "soon")
    monkeypatch.setattr(ckernel, "_state", {})
    lib, messages = _load_quietly()
    assert lib is None and len(messages) == 1 and "ATROUS_COMPILE_TIMEOUT must be a positive number" in messages[0]


# --------------------------------------------------------------------------- threads


def test_force_and_record_belong_to_their_thread():
    x, w = _t(2, 8, 33, 33), _t(8, 1, 3, 3)
    kw = dict(padding=8, dilation=8, groups=8)
    expected = _route(x, w, **kw)  # the rule's route (dw_direct, or pad_w without a compiler)
    assert expected != "pad_all"
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def forcing():
        try:
            with _fast.force("pad_all"), _fast.record() as mine:
                barrier.wait()
                for _ in range(20):
                    AF.conv(x, w, **kw)
                barrier.wait()
            seen["forcing"] = mine
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def plain():
        try:
            barrier.wait()  # the other thread's force() block is open from here ...
            with _fast.record() as mine:
                for _ in range(20):
                    AF.conv(x, w, **kw)
            barrier.wait()  # ... to here
            seen["plain"] = mine
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=forcing), threading.Thread(target=plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert seen["forcing"] == ["pad_all"] * 20
    assert seen["plain"] == [expected] * 20
    assert state.STATE.hooks == 0


def test_record_blocks_nest():
    x, w = _t(1, 2, 8), _t(3, 2, 3)
    with _fast.record() as outer:
        AF.conv(x, w)
        with _fast.record() as inner:
            AF.conv_transpose(_t(1, 3, 6), _t(3, 2, 3), stride=2)
    assert outer == ["native", "native"] and inner == ["native"]


def test_the_route_table_lists_every_decision(tmp_path):
    AF.conv(_t(2, 8, 33, 33), _t(8, 1, 3, 3), padding=8, dilation=8, groups=8)
    AF.conv_transpose(_t(1, 4, 9, 9), _t(4, 2, 4, 4), stride=2, padding=((1, 2), (1, 1)))
    with pytest.raises(RuntimeError):  # mismatched dtypes: left to PyTorch, which reports them
        AF.conv(_t(1, 3, 10), _t(3, 3, 3).double())
    rows = _fast.route_table()
    assert len(rows) == 3 and (rows[2]["route"], rows[2]["by"]) == ("native", "pytorch")
    assert [r["call"] for r in rows][:2] == ["conv", "conv_transpose"]
    assert rows[0]["x"] == [2, 8, 33, 33] and rows[0]["pads"] == [[8, 8], [8, 8]] and rows[0]["groups"] == 8
    assert rows[0]["by"] == "rule" and rows[0]["route"] in ("dw_direct", "pad_w")
    assert rows[1]["output_padding"] == [0, 0] and rows[1]["route"] == "native"
    json.dumps(rows)
    text = _fast.format_route_table().splitlines()
    assert len(text) == len(rows) and text[0].startswith("conv x=(2, 8, 33, 33)")


@pytest.mark.slow
def test_the_route_table_is_written_at_exit(tmp_path):
    out = tmp_path / "routes.json"
    code = "import torch, atrous.functional as AF; AF.conv(torch.randn(1, 2, 9), torch.randn(2, 2, 3), padding=1)"
    env = dict(os.environ, ATROUS_ROUTE_TABLE=str(out), ATROUS_DETERMINISTIC="1")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=env, cwd=ROOT)
    data = json.loads(out.read_text())
    assert data["deterministic"] is True
    assert [(r["call"], r["x"], r["route"]) for r in data["routes"]] == [("conv", [1, 2, 9], "native")]


def test_a_fifo_in_place_of_the_object_or_the_autotune_cache_does_not_block(kernel_env, monkeypatch, tmp_path):
    targets, _ = kernel_env
    first = targets()[0]
    first.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(first)
    lib, messages = _load_quietly()  # (reading the fifo would wait forever)
    assert len(messages) == 1 and "not a regular file" in messages[0] and "rebuilt it" in messages[0]
    assert ckernel._verified(first) is None  # the rebuilt object took the fifo's place
    _works(lib)
    cache = tmp_path / "tune"
    cache.mkdir()
    os.mkfifo(cache / "autotune.json")
    monkeypatch.setenv("ATROUS_CACHE_DIR", str(cache))
    with pytest.warns(RuntimeWarning, match="corrupt autotune cache .*not a regular file"):
        assert autotune.read_cache(report=True) == {}
    assert json.loads((cache / "autotune.json").read_text())["routes"] == {}  # rewritten as a file
