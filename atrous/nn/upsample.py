"""Learned upsampling without (or with a measured) checkerboard: transposed, resize and sub-pixel.

A transposed convolution with kernel ``k`` and stride ``s`` writes each input to ``k`` outputs
spaced by ``s``; output phase ``y mod s`` then receives a number of kernel taps that depends on
the phase whenever ``k`` is not divisible by ``s``: the *checkerboard* of Odena et al. (2016,
"Deconvolution and Checkerboard Artifacts"). :func:`atrous.geometry.checkerboard` (re-exported
here) reads those counts from the exact per-phase tap sets of :mod:`atrous.geometry`.

Three upsampling layers, each exactly ``input * scale`` in size:

* :class:`TransposedUpsample`: a transposed convolution with ``kernel_size = 2 * scale`` (divisible
  by the stride, so every phase gets the same number of taps) and ``padding="same"``;
* :class:`ResizeConv`: nearest or bilinear resize, then a ``"same"`` convolution (Odena et al.'s fix);
* :class:`SubPixelConv`: a convolution to ``out_channels * scale**2`` channels and
  ``nn.PixelShuffle`` (Shi et al. 2016), initialised with ICNR (:func:`icnr_`, Aitken et al. 2017)
  so that at initialisation it *is* a nearest-neighbour upsampling of a convolution.

Examples:
    >>> import torch
    >>> from atrous.geometry import ConvSpec
    >>> checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True)).counts
    ((1, 2),)
    >>> checkerboard(ConvSpec(4, stride=2, padding=1, transposed=True)).uneven
    False
    >>> x = torch.randn(1, 8, 5, 7)
    >>> [tuple(m(x).shape) for m in (TransposedUpsample(8, 4, 2), ResizeConv(8, 4, 2), SubPixelConv(8, 4, 2))]
    [(1, 4, 10, 14), (1, 4, 10, 14), (1, 4, 10, 14)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, FieldND, UpsampleSpec, layer_output_size, receptive_field
from atrous.geometry.overlap import Checkerboard, checkerboard
from atrous.geometry.spec import LayerSpec, check_int, per_axis
from atrous.nn.conv import Conv2d, ConvTranspose2d

__all__ = [
    "Checkerboard",
    "ResizeConv",
    "SubPixelConv",
    "TransposedUpsample",
    "bilinear_spec",
    "checkerboard",
    "icnr_",
]


# --------------------------------------------------------------------------- helpers


def _field_sizes(specs: Sequence[LayerSpec], input_size: Sequence[int] | None) -> FieldND:
    field = receptive_field(list(specs), tuple(input_size) if input_size is not None else None)[-1]
    assert isinstance(field, FieldND)
    return field


def _scale_pair(scale: int | Sequence[int]) -> tuple[int, int]:
    s = per_axis("scale", scale, 2, 1)
    return s[0], s[1]


def bilinear_spec(scale: int | Sequence[int]) -> ConvSpec:
    """The transposed convolution whose tap sets are those of bilinear upsampling by ``scale``.

    ``F.interpolate(..., mode="bilinear", align_corners=False)`` by an integer factor ``r`` is,
    away from the borders, a transposed convolution with stride ``r``, a triangle kernel of
    ``2r - (r mod 2)`` taps and padding ``r // 2`` (for odd ``r`` the centre phase reads one input
    exactly, so the tap of weight 0 is not part of the kernel). At the borders PyTorch clamps
    (replicates) instead of reading zeros; the clamped position is always already in the tap set,
    so the exact support of every output is the same. (For odd ``r`` PyTorch's float arithmetic
    may leave a rounding-size weight, about ``1e-8`` in float32, on the tap that exact
    interpolation weighs 0.)

    Examples:
        >>> bilinear_spec(2)
        ConvSpec(kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), transposed=True)
    """
    rs = _scale_pair(scale)
    return ConvSpec(tuple(2 * r - r % 2 for r in rs), rs, tuple(r // 2 for r in rs), transposed=True, ndim=2)


# --------------------------------------------------------------------------- layers


class TransposedUpsample(nn.Module):
    """Transposed-convolution upsampling by ``scale`` with output exactly ``input * scale``.

    ``kernel_size`` defaults to ``2 * scale``: divisible by the stride, so every output phase
    receives the same number of taps (no built-in checkerboard; see :attr:`checkerboard`). The
    padding is ``"same"`` on the transposed spec, for which :mod:`atrous.geometry` gives an output
    of ``n * stride`` for every kernel size.

    Args:
        in_channels, out_channels: channels.
        scale: integer factor (or one per axis).
        kernel_size: defaults to ``2 * scale``; a size not divisible by ``scale`` is accepted and
            its checkerboard reported by :attr:`checkerboard`.
        bias: as ``nn.ConvTranspose2d``.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H * scale, W * scale)``.

    Examples:
        >>> import torch
        >>> up = TransposedUpsample(3, 2, 3)
        >>> up(torch.randn(1, 3, 4, 5)).shape
        torch.Size([1, 2, 12, 15])
        >>> up.checkerboard.uneven, TransposedUpsample(3, 2, 2, kernel_size=3).checkerboard.uneven
        (False, True)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: int | Sequence[int],
        kernel_size: int | Sequence[int] | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.scale = _scale_pair(scale)
        if kernel_size is None:
            kernel_size = tuple(2 * r for r in self.scale)
        self.conv = ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride=self.scale, padding="same", bias=bias
        )
        for n in (1, 2, 7):  # the geometry core's promise for 'same': n * stride
            got = layer_output_size(self.conv.spec, (n, n))
            if got != (n * self.scale[0], n * self.scale[1]):  # pragma: no cover - a geometry bug
                raise SpecError(f"padding='same' gives output {got} for input {(n, n)}, expected input * {self.scale}")

    @property
    def spec(self) -> ConvSpec:
        """The transposed convolution's spec."""
        return self.conv.spec

    @property
    def specs(self) -> tuple[LayerSpec, ...]:
        return (self.conv.spec,)

    @property
    def checkerboard(self) -> Checkerboard:
        """Per-phase overlap counts (:func:`checkerboard`)."""
        return checkerboard(self.conv.spec)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis (largest over output phases)."""
        return self.field().size

    def field(self, input_size: Sequence[int] | None = None) -> FieldND:
        """The exact per-axis :class:`~atrous.geometry.Field` (one tap set per output phase)."""
        return _field_sizes(self.specs, input_size)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.conv(x)
        return y


class ResizeConv(nn.Module):
    """Resize, then convolve with ``"same"`` padding: Odena et al.'s checkerboard-free upsampling.

    Args:
        in_channels, out_channels: channels.
        scale: integer factor (or one per axis).
        mode: ``"nearest"`` or ``"bilinear"`` (``align_corners=False``).
        kernel_size: of the convolution after the resize.
        bias, padding_mode: of the convolution.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H * scale, W * scale)``.

    Examples:
        >>> import torch
        >>> rc = ResizeConv(3, 2, 2, mode="bilinear")
        >>> rc(torch.randn(1, 3, 4, 5)).shape
        torch.Size([1, 2, 8, 10])
        >>> ResizeConv(3, 2, 2).receptive_field
        (2, 2)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: int | Sequence[int],
        mode: str = "nearest",
        kernel_size: int | Sequence[int] = 3,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise SpecError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.scale = _scale_pair(scale)
        self.mode = mode
        self.conv = Conv2d(in_channels, out_channels, kernel_size, padding="same", bias=bias, padding_mode=padding_mode)

    @property
    def resize_spec(self) -> LayerSpec:
        """Spec of the resize: ``UpsampleSpec`` (nearest) or :func:`bilinear_spec` (its tap sets)."""
        return UpsampleSpec(self.scale, ndim=2) if self.mode == "nearest" else bilinear_spec(self.scale)

    @property
    def spec(self) -> ConvSpec:
        """The convolution's spec (the resize is :attr:`resize_spec`)."""
        return self.conv.spec

    @property
    def specs(self) -> tuple[LayerSpec, ...]:
        """The chain: resize, convolution."""
        return (self.resize_spec, self.conv.spec)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in input pixels (largest over output phases)."""
        return self.field().size

    def field(self, input_size: Sequence[int] | None = None) -> FieldND:
        """The exact per-axis field of the whole layer."""
        return _field_sizes(self.specs, input_size)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        y: Tensor = self.conv(x)
        return y

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}"


def icnr_(
    weight: Tensor,
    scale: int,
    init: Callable[[Tensor], Any] = nn.init.kaiming_normal_,
) -> Tensor:
    """ICNR initialisation (Aitken et al. 2017) of a sub-pixel convolution's weight, in place.

    ``nn.PixelShuffle(r)`` sends input channel ``c * r**2 + i`` to output channel ``c`` (sub-pixel
    ``i``), so the ``r**2`` sub-kernels of output channel ``c`` are *consecutive*. ICNR initialises
    one kernel per output channel and copies it to those ``r**2`` consecutive sub-kernels
    (``repeat_interleave``; ``repeat`` would mix channels and keep the checkerboard). At
    initialisation the sub-pixel convolution is then a nearest-neighbour upsampling of a
    convolution: every ``r x r`` block of the output is constant.

    Args:
        weight: ``(C_out * r**n, C_in, *kernel)`` with ``n = weight.dim() - 2`` spatial axes
            (``r**2`` for 2-d).
        scale: the pixel-shuffle factor ``r``.
        init: initialiser applied to the ``(C_out, C_in, *kernel)`` kernel.

    Returns:
        ``weight``, filled.

    Examples:
        >>> w = icnr_(torch.empty(8, 3, 3, 3), 2)
        >>> bool((w[0] == w[3]).all()), bool((w[3] == w[4]).all())
        (True, False)
    """
    r = check_int("scale", scale, 1)
    if not isinstance(weight, Tensor):
        raise SpecError(f"weight must be a tensor of shape (C_out * r**n, C_in, *kernel), got {type(weight).__name__}")
    if not callable(init):
        raise SpecError(f"init must be an initialiser (e.g. nn.init.kaiming_normal_), got {init!r}")
    if weight.dim() < 3:
        raise SpecError(f"weight must have shape (C_out * r**n, C_in, *kernel), got {tuple(weight.shape)}")
    groups = r ** (weight.dim() - 2)
    if weight.shape[0] % groups:
        raise SpecError(
            f"weight.shape[0]={weight.shape[0]} must be divisible by scale**{weight.dim() - 2}={groups} "
            "(C_out * r**n output channels for the pixel shuffle)"
        )
    sub = torch.empty((weight.shape[0] // groups, *weight.shape[1:]), dtype=weight.dtype, device=weight.device)
    init(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(groups, dim=0))
    return weight


class SubPixelConv(nn.Module):
    """Sub-pixel convolution (Shi et al. 2016): conv to ``C_out * r**2`` channels, then ``PixelShuffle(r)``.

    With ``icnr=True`` (default) the weight is initialised by :func:`icnr_` and the bias the same
    way (one value per output channel, repeated over its ``r**2`` sub-pixels), so the layer starts
    as nearest-neighbour upsampling of a convolution: free of checkerboard artifacts at init.

    Args:
        in_channels, out_channels: channels.
        scale: integer factor ``r``.
        kernel_size: of the convolution (``"same"`` padding).
        icnr: use ICNR initialisation.
        bias, padding_mode: of the convolution.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H * r, W * r)``.

    Examples:
        >>> import torch
        >>> sp = SubPixelConv(3, 2, 3)
        >>> y = sp(torch.randn(1, 3, 4, 5))
        >>> y.shape
        torch.Size([1, 2, 12, 15])
        >>> bool((y[..., :3, :3] == y[..., :1, :1]).all())  # ICNR: constant 3x3 blocks at init
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: int,
        kernel_size: int | Sequence[int] = 3,
        icnr: bool = True,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.scale = check_int("scale", scale, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.icnr = bool(icnr)
        self.conv = Conv2d(
            in_channels,
            out_channels * self.scale**2,
            kernel_size,
            padding="same",
            bias=bias,
            padding_mode=padding_mode,
        )
        self.shuffle = nn.PixelShuffle(self.scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        if not self.icnr:
            return
        icnr_(self.conv.weight, self.scale)
        if self.conv.bias is not None:
            groups = self.scale**2
            with torch.no_grad():
                self.conv.bias.copy_(self.conv.bias[::groups].clone().repeat_interleave(groups))

    @property
    def spec(self) -> ConvSpec:
        """The convolution's spec (the shuffle is ``UpsampleSpec(scale)`` in :attr:`specs`)."""
        return self.conv.spec

    @property
    def specs(self) -> tuple[LayerSpec, ...]:
        """The chain: convolution, then the pixel shuffle, whose output ``y`` reads input
        ``y // r`` as nearest upsampling does."""
        return (self.conv.spec, UpsampleSpec(self.scale, ndim=2))

    @property
    def receptive_field(self) -> tuple[int, ...]:
        return self.field().size

    def field(self, input_size: Sequence[int] | None = None) -> FieldND:
        """The exact per-axis field of the whole layer."""
        return _field_sizes(self.specs, input_size)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.shuffle(self.conv(x))
        return y

    def extra_repr(self) -> str:
        return f"scale={self.scale}, icnr={self.icnr}"
