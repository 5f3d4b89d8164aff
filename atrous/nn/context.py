"""Context aggregation by dilated convolutions: Yu & Koltun's context module and DRN's
degridding tail.

* :class:`ContextModule`: Yu and Koltun (2016), "Multi-Scale Context Aggregation by Dilated
  Convolutions", Table 1: seven 3x3 convolutions with dilations 1, 1, 2, 4, 8, 16, 1, each
  followed by a ReLU (the paper's "truncation"), then a 1x1 convolution. Receptive fields
  3, 5, 9, 17, 33, 65, 67, 67. ``basic`` keeps ``C`` channels; ``large`` widens the hidden
  layers to 2C, 2C, 4C, 8C, 16C, 32C, 32C. Both start from the paper's identity
  initialisation.
* :class:`DegriddingTail`: Yu, Koltun and Funkhouser (2017), "Dilated Residual Networks": the
  levels 7 and 8 added after the dilated stages, with dilations 2 then 1 and *no* residual
  connections, which remove the gridding artifacts of the dilated stages.

Examples:
    >>> import torch
    >>> ctx = ContextModule(3)
    >>> [r[0] for r in ctx.layer_receptive_fields]
    [3, 5, 9, 17, 33, 65, 67, 67]
    >>> x = torch.rand(1, 3, 20, 20)
    >>> torch.equal(ctx(x), x)  # identity at initialisation on non-negative input
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

import torch
from torch import Generator, Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import FieldND, receptive_field
from atrous.geometry.spec import check_int
from atrous.nn.conv import Conv2d, ConvNd

__all__ = ["ContextModule", "DegriddingTail"]

DILATIONS = (1, 1, 2, 4, 8, 16, 1)
LARGE_MULTIPLIERS = (2, 2, 4, 8, 16, 32, 32)


def _conv_layers(module: nn.Module) -> list[ConvNd]:
    return [m for m in module.modules() if isinstance(m, ConvNd)]


class _ChainFields:
    """Receptive fields of a chain of convolutions ``self.convs`` (ContextModule, DegriddingTail)."""

    if TYPE_CHECKING:  # an attribute in ContextModule, a property in DegriddingTail

        @property
        def convs(self) -> Iterable[nn.Module]: ...

    def fields(self, input_size: Sequence[int] | None = None) -> list[FieldND]:
        """Exact receptive fields after each convolution (:func:`atrous.receptive_field`)."""
        return cast("list[FieldND]", receptive_field(self.convs, input_size))

    @property
    def layer_receptive_fields(self) -> list[tuple[int, ...]]:
        """Receptive-field size per axis after each convolution (``(3, 3), (5, 5), ...``)."""
        return [f.size for f in self.fields()]

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Receptive-field size per axis of the output (``(67, 67)`` for the context module)."""
        return self.layer_receptive_fields[-1]


class ContextModule(_ChainFields, nn.Module):
    """Yu & Koltun's context aggregation module (ICLR 2016, Table 1).

    Layers 1-7 are 3x3 convolutions with dilations ``1, 1, 2, 4, 8, 16, 1`` and ``'same'``
    padding (``dilation`` on each side, as :mod:`atrous.geometry` resolves it; the paper pads
    the input instead, which gives the same field), each followed by a ReLU; layer 8 is a 1x1
    convolution with no ReLU. The receptive fields per layer are 3, 5, 9, 17, 33, 65, 67, 67
    (:attr:`layer_receptive_fields`), reached exponentially without loss of resolution.

    Channels: ``basic`` has ``C`` everywhere; ``large`` has ``2C, 2C, 4C, 8C, 16C, 32C, 32C``
    in the hidden layers and ``C`` at the output.

    The module starts from the paper's identity initialisation (:meth:`identity_init`):
    random initialisation made the module hard to train, this makes it pass its input
    through unchanged, so it can only improve on the front end it is plugged into.

    Args:
        channels: ``C``, the number of input and output channels (classes in the paper).
        variant: ``"basic"`` or ``"large"``.
        init: ``"identity"`` (the paper's) or ``"default"`` (PyTorch's Kaiming-uniform).
        noise: relative scale of the noise of the ``large`` identity initialisation, see
            :meth:`identity_init`.
        generator: random generator for that noise (reproducible initialisation).

    Attributes:
        dilations: ``(1, 1, 2, 4, 8, 16, 1, 1)``, the last one being the 1x1 layer.
        widths: channel counts ``(C_0, ..., C_8)``, ``C_0 = C_8 = C``.
        convs: the eight :class:`atrous.nn.Conv2d` layers.

    Shape:
        Input ``(N, C, H, W)``, output ``(N, C, H, W)``.

    Examples:
        >>> import torch
        >>> ctx = ContextModule(2, "large", generator=torch.Generator().manual_seed(0))
        >>> ctx.widths
        (2, 4, 4, 8, 16, 32, 64, 64, 2)
        >>> ctx.receptive_field
        (67, 67)
        >>> ctx(torch.rand(1, 2, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
    """

    convs: nn.ModuleList

    def __init__(
        self,
        channels: int,
        variant: str = "basic",
        *,
        init: str = "identity",
        noise: float = 1e-3,
        generator: Generator | None = None,
    ) -> None:
        super().__init__()
        c = check_int("channels", channels, 1)
        if variant not in ("basic", "large"):
            raise SpecError(f"variant must be 'basic' or 'large', got {variant!r}")
        if init not in ("identity", "default"):
            raise SpecError(f"init must be 'identity' or 'default', got {init!r}")
        hidden = (c,) * len(DILATIONS) if variant == "basic" else tuple(m * c for m in LARGE_MULTIPLIERS)
        self.channels = c
        self.variant = variant
        self.widths: tuple[int, ...] = (c, *hidden, c)
        self.dilations: tuple[int, ...] = (*DILATIONS, 1)
        layers: list[nn.Module] = [
            Conv2d(self.widths[i], self.widths[i + 1], 3, 1, "same", d) for i, d in enumerate(DILATIONS)
        ]
        layers.append(Conv2d(self.widths[-2], self.widths[-1], 1))
        self.convs = nn.ModuleList(layers)
        self.relu = nn.ReLU()
        if init == "identity":
            self.identity_init(noise, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < last:
                x = self.relu(x)
        return x

    @torch.no_grad()
    def identity_init(self, noise: float = 1e-3, *, generator: Generator | None = None) -> None:
        """The paper's identity initialisation (Yu & Koltun 2016, Section 3).

        For layer ``i`` with ``C_i`` input and ``C_{i+1}`` output channels, the weight from
        input map ``a`` to output map ``b`` at kernel offset ``t`` (``t = 0`` the centre tap) is

        ``k^b(t, a) = C / C_{i+1}`` if ``t = 0`` and ``floor(a C / C_i) == floor(b C / C_{i+1})``,
        else ``eps ~ N(0, sigma^2)`` with ``sigma = noise * C / C_{i+1}`` (the paper asks
        ``sigma << C / C_{i+1}``); biases are 0.

        ``basic`` (all ``C_i = C``): ``k^b(t, a) = 1`` if ``t = 0`` and ``a = b``, else exactly
        0 (the paper adds no noise there): the module is exactly the identity on non-negative
        inputs (the ReLUs pass them). ``large``: the inputs are split into ``C`` groups of
        ``C_i / C`` maps; after layer ``i`` every map of group ``g`` holds ``(C / C_i) x_g``, and
        the last layer (``C_8 = C``) sums its group back to ``x_g``: without noise the module is
        again the identity on non-negative inputs, the noise (needed to break the symmetry
        between the maps of a group) moves it by ``O(noise)``.

        Args:
            noise: relative noise scale for ``large`` (``>= 0``; 0 gives the exact identity).
                Ignored by ``basic``.
            generator: random generator for the noise.
        """
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
            raise SpecError(f"noise must be a number >= 0, got {noise!r}")
        c = self.channels
        for i, conv in enumerate(self.convs):
            assert isinstance(conv, ConvNd)
            c_in, c_out = self.widths[i], self.widths[i + 1]
            w = conv.weight
            scale = c / c_out
            if self.variant == "large" and noise > 0:
                eps = torch.randn(w.shape, generator=generator, dtype=w.dtype, device="cpu")
                w.copy_(eps * (noise * scale))
            else:
                w.zero_()
            kh, kw = conv.kernel_size
            b = torch.arange(c_out)
            a = torch.arange(c_in)
            same_group = (b[:, None] * c // c_out) == (a[None, :] * c // c_in)
            w[:, :, kh // 2, kw // 2][same_group.to(w.device)] = scale  # t = 0: the centre tap
            if conv.bias is not None:
                conv.bias.zero_()

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, widths={self.widths}"


class DegriddingTail(_ChainFields, nn.Sequential):
    """The degridding levels of Dilated Residual Networks (Yu, Koltun & Funkhouser, CVPR 2017).

    Appended after the dilated stages (dilation 2 then 4 in DRN), level 7 uses dilation 2 and
    level 8 dilation 1, each 3x3 convolution followed by BatchNorm + ReLU, and *no residual
    connections*: a residual connection would carry the gridding artifacts of the dilation-4
    stage straight to the output, while the convolutions with decreasing dilation smooth them
    out.

    ``arch="C"`` is DRN-C (the paper's Figure 5 and its code): each level is a residual-free
    basic block, two convolutions. ``arch="D"``: one convolution per level (DRN-D), i.e. a 3x3
    conv with dilation 2 then a 3x3 conv with dilation 1. Convolutions have no bias and use
    ``'same'`` padding (``dilation`` on each side), so the size is kept.

    Args:
        in_channels: input channels.
        out_channels: channels of every convolution (default ``in_channels``; 512 in DRN-C-26).
        arch: ``"C"`` (two convolutions per level) or ``"D"`` (one).

    Attributes:
        dilations: the dilation of each convolution: ``(2, 2, 1, 1)`` for C, ``(2, 1)`` for D.

    Shape:
        Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)``.

    Examples:
        >>> import torch
        >>> tail = DegriddingTail(4)
        >>> tail.dilations, tail.layer_receptive_fields
        ((2, 2, 1, 1), [(5, 5), (9, 9), (11, 11), (13, 13)])
        >>> DegriddingTail(4, 8, arch="D").receptive_field
        (7, 7)
        >>> tail(torch.randn(2, 4, 10, 10)).shape
        torch.Size([2, 4, 10, 10])
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, arch: str = "C") -> None:
        in_channels = check_int("in_channels", in_channels, 1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, 1)
        if arch not in ("C", "D"):
            raise SpecError(f"arch must be 'C' (two convolutions per level) or 'D' (one), got {arch!r}")
        per_level = 2 if arch == "C" else 1
        dilations = (2,) * per_level + (1,) * per_level
        layers: list[nn.Module] = []
        c = in_channels
        for d in dilations:
            layers += [Conv2d(c, out_channels, 3, 1, "same", d, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]
            c = out_channels
        super().__init__(*layers)
        self.arch = arch
        self.dilations: tuple[int, ...] = dilations

    @property
    def convs(self) -> list[ConvNd]:
        """The convolutions, in order."""
        return _conv_layers(self)
