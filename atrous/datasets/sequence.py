"""The synthetic long-memory tasks of Bai, Kolter & Koltun (2018): adding problem and copy memory.

Both generators reproduce the definitions of the paper's code (``locuslab/TCN``,
``adding_problem/utils.py`` and ``copy_memory/utils.py``), vectorised over samples and driven by
an explicit ``torch.Generator`` seed, so the same arguments always give the same tensors.

Adding problem (Hochreiter & Schmidhuber 1997): every input has two channels of length ``T``:
values drawn uniformly from ``[0, 1)`` and a mask that is one at exactly two distinct random
positions and zero elsewhere. The target is the sum of the two marked values (mean squared
error on the last step). Predicting the constant 1 scores ``Var(U1 + U2) = 1/6``.

Copy memory: the input is ten digits drawn uniformly from ``1..8``, then ``T - 1`` blanks (0),
then eleven markers (9); the first marker is the last blank position of the paper's layout, so
the sequence has ``T + 20`` steps. The target is zero everywhere except the last ten steps,
which repeat the ten digits (10-way cross-entropy at every step). A model that outputs 0 and
then guesses uniformly among the eight digits scores ``10 ln 8 / (T + 20)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atrous.geometry.spec import check_int

__all__ = ["adding_problem", "copy_memory", "BLANK", "MARKER"]

BLANK = 0
"""The blank symbol of copy memory (also the target before the recall)."""
MARKER = 9
"""The marker symbol of copy memory: 'recall now'."""


def adding_problem(n: int, seq_length: int, seed: int) -> tuple[Tensor, Tensor]:
    """Samples of the adding problem.

    Args:
        n: number of samples (>= 1).
        seq_length: the length ``T`` of every sequence (>= 2: two distinct marked positions).
        seed: seed of the ``torch.Generator`` (>= 0).

    Returns:
        ``(X, Y)``: ``X`` float32 ``(n, 2, T)``, channel 0 the values in ``[0, 1)`` and channel 1
        the mask with exactly two ones per row; ``Y`` float32 ``(n, 1)``, the sum of the two
        marked values.

    Raises:
        SpecError: a bad ``n``, ``seq_length`` or ``seed``.

    Examples:
        >>> X, Y = adding_problem(4, 600, seed=0)
        >>> X.shape, Y.shape
        (torch.Size([4, 2, 600]), torch.Size([4, 1]))
        >>> X[:, 1].sum(dim=1).tolist()
        [2.0, 2.0, 2.0, 2.0]
        >>> torch.allclose((X[:, 0] * X[:, 1]).sum(dim=1, keepdim=True), Y)
        True
    """
    n = check_int("n", n, 1)
    t = check_int("seq_length", seq_length, 2)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    values = torch.rand((n, t), generator=g)
    # two distinct positions, uniform over ordered pairs: the second is drawn among the
    # T - 1 others by shifting past the first
    first = torch.randint(0, t, (n,), generator=g)
    second = torch.randint(0, t - 1, (n,), generator=g)
    second = second + (second >= first).long()
    mask = torch.zeros((n, t))
    rows = torch.arange(n)
    mask[rows, first] = 1.0
    mask[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, mask], dim=1), y


def copy_memory(n: int, blank_length: int, seed: int, seq_length: int = 10) -> tuple[Tensor, Tensor]:
    """Samples of the copy-memory task.

    Args:
        n: number of samples (>= 1).
        blank_length: ``T``, the time between the digits and the recall (>= 1).
        seed: seed of the ``torch.Generator`` (>= 0).
        seq_length: how many digits to remember (>= 1; the paper's 10).

    Returns:
        ``(X, Y)`` of length ``L = T + 2 seq_length``: ``X`` float32 ``(n, L)`` (digits, ``T - 1``
        blanks, ``seq_length + 1`` markers 9); ``Y`` int64 ``(n, L)`` (``seq_length + T`` zeros,
        then the digits).

    Raises:
        SpecError: a bad ``n``, ``blank_length``, ``seed`` or ``seq_length``.

    Examples:
        >>> X, Y = copy_memory(2, blank_length=5, seed=0, seq_length=3)
        >>> X.shape, Y.shape, Y.dtype
        (torch.Size([2, 11]), torch.Size([2, 11]), torch.int64)
        >>> bool((X[:, :3] == Y[:, -3:]).all()), X[0, 3:].tolist()
        (True, [0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0, 9.0])
    """
    n = check_int("n", n, 1)
    t = check_int("blank_length", blank_length, 1)
    m = check_int("seq_length", seq_length, 1)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    digits = torch.randint(1, 9, (n, m), generator=g)
    x = torch.cat(
        [digits.float(), torch.full((n, t - 1), float(BLANK)), torch.full((n, m + 1), float(MARKER))],
        dim=1,
    )
    y = torch.cat([torch.full((n, m + t), BLANK, dtype=torch.long), digits], dim=1)
    return x, y
