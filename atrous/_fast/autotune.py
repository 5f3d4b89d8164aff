"""The autotune: where a rule is ambiguous and a call is big enough to matter, time the
candidates once, interleaved, and keep the fastest; remember it in ``<cache dir>/autotune.json``.

A route other than PyTorch's own call has to beat that call by 7% (so the autotune also sends a
rule's route back to native where it is not clearly faster). The cache file is written
atomically; a stale one (other rules, torch or CPU) is ignored with a warning and rewritten at
the next save; an unreadable one (not JSON, nested too deeply, too big, not a cache) is ignored,
reported once and rewritten at once. In deterministic mode nothing is timed and the file is
neither read nor written (:func:`atrous._fast.state.deterministic`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import stat
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from atrous._fast import ckernel
from atrous._fast.rules import RULES_VERSION
from atrous._fast.state import ROUTES, ROUTES_T, STATE

__all__ = ["AUTOTUNE_MARGIN", "AUTOTUNE_MIN_MACS", "autotuned", "cache_key", "cache_path", "env_id", "time_candidates"]

#: autotune only calls of at least this many multiply-adds (about a millisecond).
AUTOTUNE_MIN_MACS = 5e7
#: ... and keeps a route other than native only if it is this much faster than native.
AUTOTUNE_MARGIN = 0.93
#: a ratio within this much of the margin is timed a second time and the two medians averaged
#: (N1 C128 L1024 k3 d=8: pad_w measured 0.87-0.91 of native in separate runs, yet one
#: benchmark run's autotune saw it above 0.93 and kept native, 1.24x dilation 1)
AUTOTUNE_RECHECK = 0.05
#: a cache file larger than this is not read (a real one holds a few hundred bytes per shape)
MAX_CACHE_BYTES = 8 << 20


def cache_path() -> Path:
    return ckernel.cache_dir() / "autotune.json"


def env_id() -> str:
    """What the cached timings are valid for: these rules, this torch, this CPU."""
    cpu = hashlib.sha256(ckernel.cpu_id().encode()).hexdigest()[:12]
    return f"rules={RULES_VERSION};torch={torch.__version__};cpu={cpu}"


def cache_key(
    kind: str, x: Tensor, weight: Tensor, stride: Sequence[int], pads: Sequence[tuple[int, int]],
    dilation: Sequence[int], groups: int, extra: object = (),
) -> str:  # fmt: skip
    return (
        f"{kind}|x={tuple(x.shape)}|w={tuple(weight.shape)}|s={tuple(stride)}|p={tuple(pads)}|"
        f"d={tuple(dilation)}|g={groups}|{extra}|{str(x.dtype).replace('torch.', '')}|t={torch.get_num_threads()}"
    )


def _warn(kind: str, message: str) -> None:
    if STATE.warn_once(kind):
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _loaded() -> dict[str, str]:
    """The cache file's routes, read once per process (:meth:`State.reset` forgets them)."""
    with STATE.lock:
        if STATE.tuned is None:
            STATE.tuned = read_cache(report=True)
        return STATE.tuned


def read_cache(report: bool) -> dict[str, str]:
    """The routes of the cache file. A stale file counts as empty (``report``: with a warning);
    an unreadable one counts as empty and, with ``report``, is reported once and rewritten."""
    path = cache_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as e:
        if report:
            _warn("unreadable", f"atrous: ignoring the autotune cache {path}: cannot read it ({e})")
        return {}
    size = info.st_size
    try:
        if not stat.S_ISREG(info.st_mode):  # (a fifo or a device would block the read)
            raise ValueError("not a regular file")
        if size > MAX_CACHE_BYTES:
            raise ValueError(f"{size} bytes, more than the {MAX_CACHE_BYTES} an autotune cache may have")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("routes"), dict):
            raise ValueError("not an atrous autotune cache")
        env = data.get("env")
        if env != env_id():
            if report:
                _warn(
                    "stale",
                    f"atrous: ignoring the stale autotune cache {path} (made for {str(env)[:200]!r}, "
                    f"this is {env_id()!r}); it will be rewritten",
                )
            return {}
        return {str(k): str(v) for k, v in data["routes"].items() if v in ROUTES or v in ROUTES_T}
    except (OSError, ValueError, RecursionError, MemoryError) as e:
        # (ValueError covers bad JSON and bad UTF-8; RecursionError a deeply nested file)
        if report:
            why = f"{type(e).__name__}: {str(e)[:200]}"
            _warn("corrupt", f"atrous: ignoring the corrupt autotune cache {path} ({why}); it is rewritten")
            save_cache({})
        return {}


def save_cache(routes: dict[str, str]) -> None:
    """Write the cache atomically (a temporary file in the same directory, then rename)."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".autotune-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"env": env_id(), "routes": routes}, f, indent=0, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        _warn("write", f"atrous: cannot write the autotune cache {path} ({e})")


def time_candidates(fns: dict[str, Callable[[], object]], reference: str, budget: float = 1.0) -> dict[str, float]:
    """Each candidate's time relative to ``reference``'s: the median over rounds of the ratio of
    the two times within the round (both timed in the same round, so a slow moment of the
    machine counts on both sides). The calls of a round run in a shuffled order (a
    convolution right after one with other parameters can pay for the switch)."""
    order = list(fns)
    rng = random.Random(len(order))
    with torch.no_grad():
        for fn in fns.values():
            fn()
        t = time.perf_counter()
        fns[reference]()
        one = max(time.perf_counter() - t, 1e-6)
        reps = max(1, int(0.005 / one))
        rounds = max(5, min(15, int(budget / (one * reps * len(fns)))))
        ratios: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(rounds):
            rng.shuffle(order)
            times = {}
            for name in order:
                fn = fns[name]
                t = time.perf_counter()
                for _ in range(reps):
                    fn()
                times[name] = time.perf_counter() - t
            for name in fns:
                ratios[name].append(times[name] / max(times[reference], 1e-9))
    return {name: statistics.median(v) for name, v in ratios.items()}


def autotuned(
    key: str, default: str, candidates: Sequence[str], make: Callable[[str], Callable[[], object]]
) -> tuple[str, str]:
    """The route for cache ``key`` among ``candidates`` (``default``: the rule's) and what
    chose it (``"autotune cache"`` or ``"autotune"``)."""
    routes = _loaded()
    cached = routes.get(key)
    if cached is not None and cached in candidates:
        return cached, "autotune cache"
    fns = {r: make(r) for r in candidates}
    timings = time_candidates(fns, default)
    # another formulation than PyTorch's own call has to beat it clearly (never slower than
    # native); without native among the candidates, it has to beat the rule's choice
    base = "native" if "native" in timings else default
    best = min(timings, key=timings.__getitem__)
    if best != base and abs(timings[best] / timings[base] - AUTOTUNE_MARGIN) <= AUTOTUNE_RECHECK:
        again = time_candidates(fns, default)  # too close to call on one measurement
        timings = {r: (timings[r] + again[r]) / 2 for r in timings}
        best = min(timings, key=timings.__getitem__)
    choice = best if best == base or timings[best] < AUTOTUNE_MARGIN * timings[base] else base
    with STATE.lock:
        routes[key] = choice
        for k, v in read_cache(report=False).items():  # keep what other processes found meanwhile
            routes.setdefault(k, v)
        save_cache(dict(routes))
    return choice, "autotune"
