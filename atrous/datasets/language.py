"""A synthetic language with long-distance agreement: find the subject, however far back.

Every sequence is ``length`` tokens ending in a query token; the answer is the grammatical
number (0 singular, 1 plural) of its one subject. The language is case-marked (as Latin or
German are), so a subject is recognisable by its own form: nouns come in four sets of
:data:`NOUNS` tokens each, nominative singular / plural (the subject) and oblique singular /
plural (the attractors: nouns the verb must *not* agree with). Between the subject and the
query lie filler words and ``attractors`` oblique nouns of random number, so that neither the
last noun nor the majority of the nouns gives the answer (the majority gets about 60% with
the default counts; see :func:`majority_accuracy`).

The subject sits at a uniform position in the first ``subject_span`` of the sequence, so it
is at least ``(1 - subject_span) * (length - 1)`` tokens before the query: a model must carry
one bit over most of the sequence. Both a dilated causal convolution (a pointwise feature
"nominative singular / plural" summed over a receptive field covering the sequence) and
causal attention (the query attending to the one nominative token) can represent the rule
exactly; what differs is how their cost grows with ``length``.

Examples:
    >>> data = agreement(3, 64, seed=0)
    >>> tuple(data.tokens.shape), data.tokens[:, -1].tolist()
    ((3, 64), [48, 48, 48])
    >>> bool(((data.tokens >= NOMINATIVE) & (data.tokens < OBLIQUE)).sum(1).eq(1).all())
    True
    >>> subject = data.tokens[torch.arange(3), data.subject]
    >>> torch.equal(data.number, (subject >= NOMINATIVE + NOUNS).long())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = [
    "FILLERS",
    "NOUNS",
    "NOMINATIVE",
    "OBLIQUE",
    "QUERY",
    "VOCAB_SIZE",
    "Agreement",
    "agreement",
    "majority_accuracy",
]

FILLERS = 16
"""Filler words: token ids ``0 .. FILLERS-1``."""
NOUNS = 8
"""Nouns per (case, number): each of the four noun sets holds this many token ids."""
NOMINATIVE = FILLERS
"""First nominative noun: singular ``NOMINATIVE .. +NOUNS-1``, plural the next ``NOUNS``."""
OBLIQUE = NOMINATIVE + 2 * NOUNS
"""First oblique noun (attractor): singular ``OBLIQUE .. +NOUNS-1``, plural the next ``NOUNS``."""
QUERY = OBLIQUE + 2 * NOUNS
"""The last token of every sequence: 'the verb comes here, which number?'."""
VOCAB_SIZE = QUERY + 1
"""Number of token ids (49)."""


@dataclass(frozen=True)
class Agreement:
    """A batch of the agreement task.

    Attributes:
        tokens: ``(n, length)`` int64 token ids; ``tokens[:, -1] == QUERY``.
        number: ``(n,)`` int64, the subject's number (0 singular, 1 plural): the target.
        subject: ``(n,)`` int64, the subject's position.
        attractor_numbers: ``(n, attractors)`` int64, the number of each attractor.
    """

    tokens: Tensor
    number: Tensor
    subject: Tensor
    attractor_numbers: Tensor

    @property
    def distance(self) -> Tensor:
        """Tokens from the subject to the query, ``(n,)``."""
        return self.tokens.shape[1] - 1 - self.subject


def agreement(
    n: int,
    length: int,
    seed: int,
    *,
    attractors: int | None = None,
    subject_span: float | tuple[float, float] = 0.25,
) -> Agreement:
    """Samples of the long-distance agreement task.

    Args:
        n: number of sequences (>= 1).
        length: tokens per sequence, the query included (>= 4).
        seed: seed of the ``torch.Generator`` (>= 0).
        attractors: oblique nouns per sequence (default ``max(1, length // 32)``), at most
            ``length - 2`` (every position but the subject's and the query's).
        subject_span: the subject's position is uniform in ``[0, floor(subject_span * (length - 1)))``
            (at least position 0); in ``(0, 1]``. A pair ``(lo, hi)`` with ``0 <= lo < hi <= 1`` places it
            in ``[floor(lo * (length - 1)), floor(hi * (length - 1)))`` instead (e.g. ``(0.75, 1)``: near
            the query), at least one position wide.

    Returns:
        An :class:`Agreement`.

    Raises:
        SpecError: a bad argument, named with its value and valid range.
    """
    n = check_int("n", n, 1)
    length = check_int("length", length, 4)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    a = max(1, length // 32) if attractors is None else check_int("attractors", attractors, 0, length - 2)
    lo_f, hi_f = _span(subject_span)
    first = int(lo_f * (length - 1))
    span = max(1, int(hi_f * (length - 1)) - first)
    tokens = torch.randint(0, FILLERS, (n, length), generator=g)
    tokens[:, -1] = QUERY
    rows = torch.arange(n)
    subject = first + torch.randint(0, span, (n,), generator=g)
    number = torch.randint(0, 2, (n,), generator=g)
    tokens[rows, subject] = NOMINATIVE + NOUNS * number + torch.randint(0, NOUNS, (n,), generator=g)
    # attractors at distinct random positions among the other length - 2 (not the subject, not the query)
    keys = torch.rand((n, length - 1), generator=g)
    keys[rows, subject] = 2.0  # sorts last: never chosen
    places = keys.argsort(dim=1)[:, :a]
    numbers = torch.randint(0, 2, (n, a), generator=g)
    words = OBLIQUE + NOUNS * numbers + torch.randint(0, NOUNS, (n, a), generator=g)
    tokens.scatter_(1, places, words)
    return Agreement(tokens, number, subject, numbers)


def _span(value: object) -> tuple[float, float]:
    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if number(value) and 0 < value <= 1:  # type: ignore[operator]
        return 0.0, float(value)  # type: ignore[arg-type]
    if isinstance(value, tuple) and len(value) == 2 and all(number(v) for v in value):
        lo, hi = value
        if 0 <= lo < hi <= 1:
            return float(lo), float(hi)
    raise SpecError(f"subject_span must be a number in (0, 1] or a pair (lo, hi) with 0 <= lo < hi <= 1, got {value!r}")


def majority_accuracy(data: Agreement) -> float:
    """Accuracy of answering with the majority number of all nouns (ties: singular).

    The reference for 'counting nouns is not enough': it sees the subject as one vote among
    ``attractors + 1``.
    """
    plural = data.number + data.attractor_numbers.sum(1)
    nouns = 1 + data.attractor_numbers.shape[1]
    guess = (2 * plural > nouns).long()
    return float((guess == data.number).float().mean())
