"""Synthetic DNA with a long-range rule: a promoter is active iff an enhancer sits ~20 kb upstream.

The task of genomics models with dilated convolutions (Basenji, Kelley et al. 2018; SpliceAI,
Jaganathan et al. 2019) reduced to its two requirements: a model must **see far** (the label
of a promoter depends on bases ``distance`` positions away) and **keep base-pair
resolution** (promoters a few dozen bases apart have opposite labels).

Layout of one sequence of length ``L`` (one-hot over ``A, C, G, T``, uniform random
background):

* ``pairs`` promoter pairs in the *promoter zone* ``[distance + jitter, L - m]``: promoter
  :data:`PROMOTER` at ``p`` and a second copy at ``p + gap`` (``gap`` drawn uniformly from the
  ``gap`` range). Each pair lies in its own slot of the zone.
* For each promoter at ``p``, one motif starting at ``p - distance + j`` (``j`` uniform in
  ``[-jitter, jitter]``): the enhancer :data:`ENHANCER` for one promoter of the pair and the
  decoy :data:`DECOY` for the other (which one is a fair coin), so the two promoters of a pair
  always have opposite labels.
* The label of a promoter at ``p`` is 1 iff :data:`ENHANCER` starts somewhere in the window
  ``[p - distance - jitter, p - distance + jitter]`` of the *returned* sequence (it is computed
  from the sequence, so an enhancer that the background happens to spell counts too); the
  mask is true at the promoters' first bases and false elsewhere (positions out of the loss).

Because the enhancer windows of two paired promoters are disjoint
(``gap >= 2 jitter + m``), a model that sees ``distance`` bases away at base-pair resolution
labels every promoter; one that sees less than ``distance`` is at chance (50%); one that
pools the sequence into bins wider than ``gap`` gives both promoters of a pair the same
output and is right on only one of them.

Examples:
    >>> data = long_range_dna(2, length=1024, distance=600, jitter=2, pairs=4, gap=(16, 32), seed=0)
    >>> data.x.shape, data.y.shape, data.mask.shape
    (torch.Size([2, 4, 1024]), torch.Size([2, 1024]), torch.Size([2, 1024]))
    >>> int(data.mask.sum()), float(data.y[data.mask].mean())
    (16, 0.5)
    >>> bool((data.x.sum(dim=1) == 1).all())
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = ["ALPHABET", "DECOY", "DNAData", "ENHANCER", "PROMOTER", "encode", "labels_from_sequence", "long_range_dna"]

ALPHABET = "ACGT"
"""The one-hot channel order."""
PROMOTER = "TATAAGCG"
"""The promoter motif: its first base is the labelled position."""
ENHANCER = "CACGTGAC"
"""The enhancer motif: a promoter is active iff it starts ``distance`` (+- jitter) bases upstream."""
DECOY = "GTTGCAAC"
"""The decoy motif placed upstream of inactive promoters (same length as the enhancer, another sequence)."""

_MOTIF = len(PROMOTER)


class DNAData(NamedTuple):
    """Sequences, labels and the loss mask of :func:`long_range_dna`.

    Attributes:
        x: float32 ``(n, 4, L)``, one-hot in :data:`ALPHABET` order.
        y: float32 ``(n, L)``, the label at promoter positions, 0 elsewhere.
        mask: bool ``(n, L)``, true at the promoters' first bases.
        promoters: int64 ``(n, 2 * pairs)``, the promoter positions of each sequence (pair
            members next to each other, in increasing order).
    """

    x: Tensor
    y: Tensor
    mask: Tensor
    promoters: Tensor


def encode(motif: str) -> np.ndarray:
    """Base indices (0..3 in :data:`ALPHABET` order) of a string of ``A, C, G, T``.

    Examples:
        >>> encode("ACGT").tolist()
        [0, 1, 2, 3]
    """
    bad = sorted(set(motif) - set(ALPHABET))
    if bad or not motif:
        raise SpecError(f"motif must be a non-empty string over {ALPHABET}, got {motif!r}")
    return np.array([ALPHABET.index(c) for c in motif], dtype=np.int64)


def _occurs(tokens: np.ndarray, motif: np.ndarray) -> np.ndarray:
    """Bool ``(n, L)``: the motif starts at that position (false where it would run off the end)."""
    n, length = tokens.shape
    m = len(motif)
    hit = np.zeros((n, length), dtype=bool)
    if length < m:
        return hit
    ok = np.ones((n, length - m + 1), dtype=bool)
    for i, base in enumerate(motif):
        ok &= tokens[:, i : length - m + 1 + i] == base
    hit[:, : length - m + 1] = ok
    return hit


def labels_from_sequence(x: Tensor, promoters: Tensor, distance: int, jitter: int) -> Tensor:
    """The rule itself: 1 iff :data:`ENHANCER` starts in ``[p - distance - jitter, p - distance + jitter]``.

    Args:
        x: one-hot ``(n, 4, L)``.
        promoters: int64 ``(n, k)``, the positions ``p`` to label.
        distance, jitter: as in :func:`long_range_dna`.

    Returns:
        float32 ``(n, k)``.

    Examples:
        >>> d = long_range_dna(1, length=1024, distance=600, jitter=2, pairs=4, gap=(16, 32), seed=1)
        >>> lab = labels_from_sequence(d.x, d.promoters, 600, 2)
        >>> bool((lab == d.y.gather(1, d.promoters)).all())
        True
    """
    distance = check_int("distance", distance, 1)
    jitter = check_int("jitter", jitter, 0)
    tokens = x.argmax(dim=1).cpu().numpy()
    hits = _occurs(tokens, encode(ENHANCER))
    pos = promoters.cpu().numpy()
    out = np.zeros(pos.shape, dtype=np.float32)
    rows = np.arange(pos.shape[0])[:, None]
    for j in range(-jitter, jitter + 1):
        q = pos - distance + j
        valid = (q >= 0) & (q < hits.shape[1])
        out = np.maximum(out, np.where(valid, hits[rows, np.clip(q, 0, hits.shape[1] - 1)], False))
    return torch.from_numpy(out)


def long_range_dna(
    n: int,
    length: int = 32_768,
    *,
    distance: int = 20_000,
    jitter: int = 4,
    pairs: int = 16,
    gap: Sequence[int] = (24, 64),
    seed: int = 0,
) -> DNAData:
    """Sequences whose promoters are labelled by a motif ``distance`` bases upstream.

    Args:
        n: number of sequences (>= 1).
        length: sequence length ``L`` (>= 64).
        distance: promoter-to-enhancer distance (``>= L / 2``, so the enhancers all lie
            before the promoter zone ``[distance + jitter, L - m]``, which must have room for
            ``pairs`` slots).
        jitter: the enhancer starts up to ``jitter`` bases off ``p - distance`` (>= 0).
        pairs: promoter pairs per sequence (>= 1).
        gap: ``(lo, hi)``, the range of the distance between the two promoters of a pair
            (``2 jitter + m <= lo <= hi``, where ``m = 8`` is the motif length).
        seed: seed of the ``numpy`` generator (>= 0).

    Returns:
        A :class:`DNAData`; half of the promoters are labelled 1 (exactly, unless the random
        background spells an enhancer in a decoy's window, about once in 10^4 promoters).

    Raises:
        SpecError: a bad argument, or a layout that does not fit (the message says which).
    """
    n = check_int("n", n, 1)
    length = check_int("length", length, 64)
    distance = check_int("distance", distance, 1)
    jitter = check_int("jitter", jitter, 0)
    pairs = check_int("pairs", pairs, 1)
    seed = check_int("seed", seed, 0)
    if 2 * distance < length:
        # the enhancer windows [p - distance - jitter, ...] then all end before the promoter zone
        raise SpecError(f"distance must be >= length / 2 = {length / 2:g} (length={length}), got {distance}")
    if isinstance(gap, (str, bytes)) or not isinstance(gap, Sequence) or len(gap) != 2:
        raise SpecError(f"gap must be a (lo, hi) pair of integers, got {gap!r}")
    lo = check_int("gap[0]", gap[0], 2 * jitter + _MOTIF)
    hi = check_int("gap[1]", gap[1], lo)
    zone_start = distance + jitter
    zone = length - _MOTIF + 1 - zone_start  # promoter starts p in [zone_start, length - m]
    slot = zone // pairs if zone > 0 else 0
    need = hi + _MOTIF + 2 * jitter + 1  # a pair, its motif, and a margin so slots never touch
    if slot < need:
        most = max(0, zone) // need
        raise SpecError(
            f"pairs={pairs} does not fit: the promoter zone [{zone_start}, {length - _MOTIF}] holds at most "
            f"{most} slots of {need} bases (gap up to {hi}, jitter {jitter}); use a longer length, "
            "a shorter distance, fewer pairs or a smaller gap"
        )
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length), dtype=np.int64)
    prom, enh, dec = encode(PROMOTER), encode(ENHANCER), encode(DECOY)
    k = 2 * pairs
    positions = np.zeros((n, k), dtype=np.int64)
    room = slot - need  # free play of a pair's first promoter inside its slot
    for i in range(n):
        gaps = rng.integers(lo, hi + 1, size=pairs)
        offsets = rng.integers(0, room + 1, size=pairs)
        first_active = rng.integers(0, 2, size=pairs).astype(bool)
        jit = rng.integers(-jitter, jitter + 1, size=k)
        for s in range(pairs):
            p1 = zone_start + s * slot + jitter + int(offsets[s])
            p2 = p1 + int(gaps[s])
            positions[i, 2 * s] = p1
            positions[i, 2 * s + 1] = p2
            for j, (p, active) in enumerate(((p1, first_active[s]), (p2, not first_active[s]))):
                e = p - distance + int(jit[2 * s + j])
                tokens[i, e : e + _MOTIF] = enh if active else dec
        for p in positions[i]:
            tokens[i, p : p + _MOTIF] = prom
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, tokens[:, None, :], 1.0, axis=1)
    xt = torch.from_numpy(x)
    pt = torch.from_numpy(positions)
    labels = labels_from_sequence(xt, pt, distance, jitter)
    y = torch.zeros((n, length), dtype=torch.float32)
    mask = torch.zeros((n, length), dtype=torch.bool)
    y.scatter_(1, pt, labels)
    mask.scatter_(1, pt, True)
    return DNAData(xt, y, mask, pt)
