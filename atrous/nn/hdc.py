"""Hybrid dilated convolution: a stack of dilated convolutions whose rates are checked for
gridding (Wang et al. 2018, "Understanding Convolution for Semantic Segmentation").

Stacking the same rate (2, 2, 2) or rates with a common factor (2, 4, 8) leaves a
checkerboard of input positions that no output reads; rates such as 1, 2, 5 fill the field.
:class:`HDCBlock` refuses (or warns about) rates that grid, using :func:`atrous.hdc`.

Examples:
    >>> import torch
    >>> block = HDCBlock(4, [1, 2, 5])
    >>> block.receptive_field
    (17, 17)
    >>> block(torch.randn(2, 4, 20, 20)).shape
    torch.Size([2, 4, 20, 20])
    >>> HDCBlock(4, [2, 4, 8])
    Traceback (most recent call last):
    ...
    atrous.errors.SpecError: HDCBlock rates (2, 4, 8) with kernel_size=3 grid: fails the HDC rule (M1=2, M2=4, M3=8): M2=4 > kernel_size=3; rates share the factor 2; exact coverage: holes
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import cast

from torch import Tensor, nn

from atrous.errors import GriddingWarning, SpecError
from atrous.geometry import FieldND, HDCResult, hdc, receptive_field
from atrous.geometry.spec import check_int
from atrous.nn.conv import Conv2d, ConvNd

__all__ = ["GriddingWarning", "HDCBlock"]


class HDCBlock(nn.Module):
    """A stack of dilated 3x3 (``kernel_size``) convolutions with gridding-checked rates.

    Each layer is an :class:`atrous.nn.Conv2d` (``channels -> channels``, dilation ``r``,
    ``'same'`` padding so the size is kept), then BatchNorm2d (if ``norm``) and ReLU.

    The rates are checked with :func:`atrous.hdc` (Wang et al. 2018) and must pass *both*:

    * the paper's rule, ``HDCResult.ok``: ``M_2 <= kernel_size`` for the chain
      ``M_n = r_n``, ``M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i)``, and the
      rates share no common factor above 1; and
    * the exact answer, ``HDCResult.covered``: the stack's receptive field has no holes.

    Why both: ``covered`` is the exact statement about the final field, but the paper's rule is
    the published design criterion and the stricter one about *how* rates may grow (it fails
    schedules such as ``[1, 1, 7]`` with ``kernel_size=4`` whose last layer leaves gaps that
    only the earliest layers bridge, with few paths); the rule in turn is a heuristic that
    accepts ``[2, 3]`` with ``kernel_size=3``, which leaves holes. Requiring ``ok and covered``
    accepts only schedules both call gridding-free, e.g. ``[1, 2, 5]``, ``[1, 2, 3]``. Pass
    ``on_gridding="warn"`` to build any other schedule (with a :class:`GriddingWarning`).

    Args:
        channels: input and output channels of every layer.
        rates: dilation of each layer, integers ``>= 1``, input to output.
        kernel_size: taps per axis, ``>= 2``.
        on_gridding: ``"raise"`` (a :class:`atrous.SpecError`) or ``"warn"`` (a
            :class:`GriddingWarning`) when the rates fail the check; the message is
            ``HDCResult.describe()``.
        norm: BatchNorm2d after each convolution (the convolutions then have no bias).

    Attributes:
        rates: the rates, a tuple.
        hdc: the :class:`atrous.HDCResult` of the rates.
        layers: the ``nn.Sequential`` of conv (+ BN) + ReLU.

    Shape:
        Input ``(N, channels, H, W)``, output ``(N, channels, H, W)``.

    Raises:
        SpecError: bad arguments, or rates that grid with ``on_gridding="raise"``.

    Examples:
        >>> import warnings
        >>> HDCBlock(2, [1, 2, 5]).hdc.M
        (1, 2, 5)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     block = HDCBlock(2, [2, 2, 2], on_gridding="warn")
        >>> caught[0].category.__name__, block.receptive_field
        ('GriddingWarning', (13, 13))
    """

    def __init__(
        self,
        channels: int,
        rates: Sequence[int],
        kernel_size: int = 3,
        on_gridding: str = "raise",
        norm: bool = True,
    ) -> None:
        super().__init__()
        channels = check_int("channels", channels, 1)
        if on_gridding not in ("raise", "warn"):
            raise SpecError(f"on_gridding must be 'raise' or 'warn', got {on_gridding!r}")
        if not isinstance(norm, bool):
            raise SpecError(f"norm must be True or False, got {norm!r}")
        result = hdc(rates, kernel_size)  # validates rates and kernel_size (SpecError)
        self.hdc: HDCResult = result
        self.rates: tuple[int, ...] = result.dilations
        self.kernel_size = result.kernel_size
        self.channels = channels
        self.norm = norm
        if not (result.ok and result.covered):
            msg = f"HDCBlock rates {self.rates} with kernel_size={self.kernel_size} grid: {result.describe()}"
            if on_gridding == "raise":
                raise SpecError(msg)
            warnings.warn(msg, GriddingWarning, stacklevel=2)
        layers: list[nn.Module] = []
        for r in self.rates:
            layers.append(Conv2d(channels, channels, self.kernel_size, 1, "same", r, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.layers(x)
        return out

    @property
    def convs(self) -> list[ConvNd]:
        """The convolutions, in order."""
        return [m for m in self.layers if isinstance(m, ConvNd)]

    def fields(self, input_size: Sequence[int] | None = None) -> list[FieldND]:
        """Exact per-layer receptive fields (:func:`atrous.receptive_field` on the layer specs)."""
        return cast("list[FieldND]", receptive_field(self.convs, input_size))

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Receptive-field size per axis: ``1 + (kernel_size - 1) * sum(rates)`` on each axis."""
        return self.fields()[-1].size

    def extra_repr(self) -> str:
        return f"rates={self.rates}, kernel_size={self.kernel_size}, hdc_ok={self.hdc.ok}, covered={self.hdc.covered}"
