"""The one cache mechanism of the fast paths, the functional front end and the layers.

A :class:`KeyedCache` is a ``dict`` (so a lookup is the C-level ``dict.get``, the hot path of
every convolution) bounded to ``maxsize`` entries, the oldest dropped first. What depends on
the state of the process (route decisions, call plans) is kept in one directly; pure functions
are wrapped by :func:`memo`, which keeps their results in one (and calls the function itself
while ``torch.compile`` traces, which warns about, and looks through, caches it cannot guard).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

import torch

__all__ = ["KeyedCache", "memo"]

K = TypeVar("K")
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_MISSING = object()
_is_compiling = torch.compiler.is_compiling


class KeyedCache(dict[K, V]):
    """A ``dict`` that holds at most ``maxsize`` entries: :meth:`put` drops the oldest entry
    when it is full (many distinct shapes, e.g. variable lengths, cannot grow it without bound).

    Examples:
        >>> c = KeyedCache(2)
        >>> for k in "abc":
        ...     _ = c.put(k, k.upper())
        >>> sorted(c.items())
        [('b', 'B'), ('c', 'C')]
    """

    __slots__ = ("maxsize",)

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (dropping the oldest entry if full) and return it."""
        if key not in self and len(self) >= self.maxsize:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # (another thread changed it)
                del self[next(iter(self))]
        self[key] = value
        return value


def memo(maxsize: int = 4096) -> Callable[[F], F]:
    """Cache a pure function of hashable positional arguments in a :class:`KeyedCache` (the
    wrapper's ``cache``); an exception is not cached.

    Examples:
        >>> @memo(2)
        ... def square(n):
        ...     return n * n
        >>> square(3), square(3), len(square.cache)
        (9, 9, 1)
    """

    def wrap(fn: F) -> F:
        store: KeyedCache[tuple[Hashable, ...], Any] = KeyedCache(maxsize)

        @functools.wraps(fn)
        def cached(*args: Hashable) -> Any:
            if _is_compiling():
                return fn(*args)
            hit = store.get(args, _MISSING)
            if hit is _MISSING:
                hit = store.put(args, fn(*args))
            return hit

        cached.cache = store  # type: ignore[attr-defined]
        return cast(F, cached)

    return wrap
