"""The 15 relationships of Dumoulin & Visin, "A guide to convolution arithmetic" (2016).

Each relationship is a closed formula for one case (``i`` input size, ``k`` kernel, ``s``
stride, ``p`` symmetric padding, ``d`` dilation; primes for the transposed convolution whose
input ``i'`` is the output of the direct one). The general functions of
:mod:`atrous.geometry.shape` agree with every one of them on its domain; the tests sweep them.

Examples:
    >>> RELATIONSHIPS[0].formula(i=4, k=3)
    2
    >>> RELATIONSHIPS[13].formula(i=5, k=3, s=2, p=1, i_t=3)
    5
    >>> RELATIONSHIPS[14].formula(i=7, k=3, s=1, p=0, d=2)
    3
    >>> [r.number for r in RELATIONSHIPS if r.transposed][:3]
    [8, 9, 10]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RELATIONSHIPS", "Relationship", "relationship"]


@dataclass(frozen=True)
class Relationship:
    """One relationship: its number in the paper, title, condition, formula.

    ``formula`` takes keyword arguments ``i, k, s, p, d`` (and ``i_t`` = ``i'`` for the
    transposed ones) and returns the output size; ``applies`` says whether the case's
    condition holds for those arguments.
    """

    number: int
    title: str
    text: str
    transposed: bool
    formula: Callable[..., int]
    applies: Callable[..., bool]


def _r(
    number: int, title: str, text: str, transposed: bool, formula: Callable[..., int], applies: Callable[..., bool]
) -> Relationship:
    return Relationship(number, title, text, transposed, formula, applies)


RELATIONSHIPS: tuple[Relationship, ...] = (
    _r(
        1,
        "no zero padding, unit strides",
        "o = (i - k) + 1",
        False,
        lambda i, k, **_: (i - k) + 1,
        lambda s=1, p=0, d=1, **_: s == 1 and p == 0 and d == 1,
    ),
    _r(
        2,
        "zero padding, unit strides",
        "o = (i - k) + 2p + 1",
        False,
        lambda i, k, p, **_: (i - k) + 2 * p + 1,
        lambda s=1, d=1, **_: s == 1 and d == 1,
    ),
    _r(
        3,
        "half (same) padding",
        "k = 2n + 1, s = 1, p = floor(k/2): o = i",
        False,
        lambda i, **_: i,
        lambda k, s=1, p=0, d=1, **_: k % 2 == 1 and s == 1 and p == k // 2 and d == 1,
    ),
    _r(
        4,
        "full padding",
        "s = 1, p = k - 1: o = i + (k - 1)",
        False,
        lambda i, k, **_: i + (k - 1),
        lambda k, s=1, p=0, d=1, **_: s == 1 and p == k - 1 and d == 1,
    ),
    _r(
        5,
        "no zero padding, non-unit strides",
        "o = floor((i - k) / s) + 1",
        False,
        lambda i, k, s, **_: (i - k) // s + 1,
        lambda p=0, d=1, **_: p == 0 and d == 1,
    ),
    _r(
        6,
        "zero padding, non-unit strides",
        "o = floor((i + 2p - k) / s) + 1",
        False,
        lambda i, k, s, p, **_: (i + 2 * p - k) // s + 1,
        lambda d=1, **_: d == 1,
    ),
    _r(
        7,
        "pooling",
        "o = floor((i - k) / s) + 1",
        False,
        lambda i, k, s, **_: (i - k) // s + 1,
        lambda p=0, d=1, **_: p == 0 and d == 1,
    ),
    _r(
        8,
        "transposed: no zero padding, unit strides",
        "k' = k, s' = s, p' = k - 1: o' = i' + (k - 1)",
        True,
        lambda i_t, k, **_: i_t + (k - 1),
        lambda s=1, p=0, d=1, **_: s == 1 and p == 0 and d == 1,
    ),
    _r(
        9,
        "transposed: zero padding, unit strides",
        "p' = k - p - 1: o' = i' + (k - 1) - 2p",
        True,
        lambda i_t, k, p, **_: i_t + (k - 1) - 2 * p,
        lambda s=1, d=1, **_: s == 1 and d == 1,
    ),
    _r(
        10,
        "transposed: half (same) padding",
        "k = 2n + 1, s = 1, p = floor(k/2): o' = i'",
        True,
        lambda i_t, **_: i_t,
        lambda k, s=1, p=0, d=1, **_: k % 2 == 1 and s == 1 and p == k // 2 and d == 1,
    ),
    _r(
        11,
        "transposed: full padding",
        "s = 1, p = k - 1: o' = i' - (k - 1)",
        True,
        lambda i_t, k, **_: i_t - (k - 1),
        lambda k, s=1, p=0, d=1, **_: s == 1 and p == k - 1 and d == 1,
    ),
    _r(
        12,
        "transposed: no zero padding, non-unit strides",
        "(i - k) multiple of s: o' = s (i' - 1) + k",
        True,
        lambda i_t, k, s, **_: s * (i_t - 1) + k,
        lambda i, k, s=1, p=0, d=1, **_: p == 0 and d == 1 and (i - k) % s == 0,
    ),
    _r(
        13,
        "transposed: zero padding, non-unit strides",
        "(i + 2p - k) multiple of s: o' = s (i' - 1) + k - 2p",
        True,
        lambda i_t, k, s, p, **_: s * (i_t - 1) + k - 2 * p,
        lambda i, k, s=1, p=0, d=1, **_: d == 1 and (i + 2 * p - k) % s == 0,
    ),
    _r(
        14,
        "transposed: general",
        "a = (i + 2p - k) mod s: o' = s (i' - 1) + a + k - 2p",
        True,
        lambda i, i_t, k, s, p, **_: s * (i_t - 1) + (i + 2 * p - k) % s + k - 2 * p,
        lambda d=1, **_: d == 1,
    ),
    _r(
        15,
        "dilated convolution",
        "o = floor((i + 2p - k - (k - 1)(d - 1)) / s) + 1",
        False,
        lambda i, k, s, p, d, **_: (i + 2 * p - k - (k - 1) * (d - 1)) // s + 1,
        lambda **_: True,
    ),
)


def relationship(number: int) -> Relationship:
    """Relationship ``number`` (1 to 15).

    Examples:
        >>> relationship(15).text
        'o = floor((i + 2p - k - (k - 1)(d - 1)) / s) + 1'
    """
    from atrous.geometry.spec import check_int

    n = check_int("number", number, 1, 15)
    return RELATIONSHIPS[n - 1]
