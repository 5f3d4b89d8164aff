"""The one bounded, keyed cache of the fast paths and the functional front end.

Pure functions are cached with :func:`functools.lru_cache`; what depends on the state of the
process (route decisions, call plans) lives in a :class:`KeyedCache`: a ``dict`` (so a lookup
is the C-level ``dict.get``, the hot path of every convolution) bounded to ``maxsize`` entries,
the oldest dropped first.
"""

from __future__ import annotations

import contextlib
from typing import TypeVar

__all__ = ["KeyedCache"]

K = TypeVar("K")
V = TypeVar("V")


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
