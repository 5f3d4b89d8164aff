"""The one state object of the fast paths: switches read from the environment, the decisions
and call plans per shape, the autotune file's routes once read, and the per-thread overrides
(:func:`force`) and recorders (:func:`record`).

Environment (read at import and by :func:`reset`):

- ``ATROUS_FAST_PATHS=0``: every call takes the native route.
- ``ATROUS_AUTOTUNE=0``: no autotune and no autotune cache; the rules alone decide.
- ``ATROUS_DETERMINISTIC=1`` (or ``torch.use_deterministic_algorithms(True)``): a fixed route
  per shape from the rules alone; nothing timed, the autotune cache neither read nor written.
- ``ATROUS_COMPILE=0``: never compile the C kernel (:mod:`atrous._fast.ckernel`).
- ``ATROUS_COMPILE_TIMEOUT``: seconds the C compiler may take (default 120).
- ``ATROUS_CACHE_DIR``: the cache directory (default ``$XDG_CACHE_HOME/atrous`` or
  ``~/.cache/atrous``).
- ``ATROUS_ROUTE_TABLE``: a file to write the route table to (JSON) when the process exits,
  ``-`` for standard error (:func:`atrous._fast.route_table`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch

from atrous._fast.cache import KeyedCache

__all__ = ["ROUTES", "ROUTES_T", "STATE", "Decision", "Plan", "State", "deterministic", "force", "record", "reset"]

ROUTES = ("native", "pad_w", "pad_all", "channels_last", "fold", "fold_pad", "onednn", "dw_direct", "taps", "fft")
ROUTES_T = ("native", "subpixel", "gemm")

#: entries per cache (decisions, call plans): many distinct shapes drop the oldest
CACHE_SIZE = 4096


class Decision(NamedTuple):
    """A route chosen for one shape and what chose it: ``"rule"``, ``"autotune"`` (timed now),
    ``"autotune cache"`` (timed by an earlier process) or ``"pytorch"`` (unusual arguments left
    to PyTorch)."""

    route: str
    by: str

    @property
    def timed(self) -> bool:
        return self.by in ("autotune", "autotune cache")


def env_flag(name: str, default: str = "1") -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off", "")


class Plan(NamedTuple):
    """The hot path's call for a decided shape (:func:`atrous._fast.dispatch.conv`): the route,
    PyTorch's function, its stride / padding / dilation arguments (ints where every axis has the
    same value), what the route needs besides (``native``: the padding copy's list or None;
    ``fold``: the input's and the output's views; ``taps``: the spans and the output length;
    transposed: the output padding) and whether the decision came from timings."""

    route: str
    fn: Callable[..., torch.Tensor] | None
    stride: object
    padding: object
    dilation: object
    extra: Any
    timed: bool


class _Local(threading.local):
    """One thread's overrides: a forced route and a list recording the routes taken."""

    forced: str | None = None
    strict: bool = True
    recorders: tuple[list[str], ...] = ()


class State:
    """Everything the dispatcher remembers (one instance, :data:`STATE`)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local = _Local()
        #: open force()/record() blocks in all threads (0: the hot path looks at no thread-local)
        self.hooks = 0
        self.enabled = True
        self.autotune = True
        self.deterministic_env = False
        #: the route per call key (conv and transposed)
        self.decisions: KeyedCache[tuple[object, ...], Decision] = KeyedCache(CACHE_SIZE)
        #: the hot path's call per shape decided native, a pure-view fold or taps
        self.plans: KeyedCache[tuple[object, ...], Plan] = KeyedCache(CACHE_SIZE)
        #: the same for transposed calls decided native with symmetric padding
        self.plans_t: KeyedCache[tuple[object, ...], Plan] = KeyedCache(CACHE_SIZE)
        #: the autotune file's routes, once read (None: not read yet)
        self.tuned: dict[str, str] | None = None
        #: one warning per kind and process
        self.warned: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Re-read the environment and forget every decision (in memory; the autotune file stays)."""
        with self.lock:
            self.enabled = env_flag("ATROUS_FAST_PATHS")
            self.autotune = env_flag("ATROUS_AUTOTUNE")
            self.deterministic_env = env_flag("ATROUS_DETERMINISTIC", "0")
            self.decisions.clear()
            self.plans.clear()
            self.plans_t.clear()
            self.tuned = None
            self.warned.clear()

    def warn_once(self, kind: str) -> bool:
        """True the first time ``kind`` is asked for in this process (since :meth:`reset`)."""
        with self.lock:
            if kind in self.warned:
                return False
            self.warned.add(kind)
            return True


STATE = State()


def reset() -> None:
    """Re-read the environment and forget every decision (in memory; the autotune file stays)."""
    STATE.reset()


def deterministic() -> bool:
    """Whether routes must not depend on timing: ``ATROUS_DETERMINISTIC=1`` or
    ``torch.use_deterministic_algorithms(True)``."""
    return STATE.deterministic_env or torch.are_deterministic_algorithms_enabled()


@contextlib.contextmanager
def _hooked(apply: Callable[[_Local], Callable[[], None]]) -> Iterator[None]:
    """Count an open override while ``apply`` (which returns its undo) holds for this thread."""
    local = STATE.local
    undo = apply(local)
    with STATE.lock:
        STATE.hooks += 1
    try:
        yield
    finally:
        with STATE.lock:
            STATE.hooks -= 1
        undo()


@contextlib.contextmanager
def force(route: str, strict: bool = True) -> Iterator[None]:
    """Force ``route`` (a name from :data:`ROUTES` or :data:`ROUTES_T`) for the calls this thread
    makes inside the block, whatever the rules say and whatever the dtype. With ``strict`` a call
    the route cannot compute raises ``ValueError``; otherwise that call runs natively. Other
    threads are not affected.

    Examples:
        >>> import torch, atrous.functional as AF
        >>> x, w = torch.randn(1, 4, 10, 10), torch.randn(4, 1, 3, 3)
        >>> with force("pad_all"), record() as seen:
        ...     _ = AF.conv(x, w, padding=1, groups=4)
        >>> seen
        ['pad_all']
    """
    if route not in ROUTES and route not in ROUTES_T:
        raise ValueError(f"unknown route {route!r}: expected one of {ROUTES + ROUTES_T[1:]}")

    def apply(local: _Local) -> Callable[[], None]:
        old = (local.forced, local.strict)
        local.forced, local.strict = route, strict

        def undo() -> None:
            local.forced, local.strict = old

        return undo

    with _hooked(apply):
        yield


@contextlib.contextmanager
def record() -> Iterator[list[str]]:
    """The routes of the convolutions this thread dispatches inside the block, in call order
    (a list filled while the block runs; blocks may nest).

    Examples:
        >>> import torch, atrous.functional as AF
        >>> with record() as seen:
        ...     _ = AF.conv(torch.randn(1, 2, 8), torch.randn(3, 2, 3))
        >>> seen
        ['native']
    """
    seen: list[str] = []

    def apply(local: _Local) -> Callable[[], None]:
        old = local.recorders
        local.recorders = (*old, seen)

        def undo() -> None:
            local.recorders = old

        return undo

    with _hooked(apply):
        yield seen
