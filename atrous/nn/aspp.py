"""Atrous spatial pyramid pooling: DeepLabv3's ``ASPP`` and DeepLabv3+'s separable variant.

Chen, Papandreou, Schroff and Adam (2017), "Rethinking Atrous Convolution for Semantic Image
Segmentation" (DeepLabv3), and Chen, Zhu, Papandreou, Schroff and Adam (2018),
"Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation"
(DeepLabv3+).

The module looks at one feature map through parallel branches of different receptive fields:
a 1x1 convolution, one 3x3 convolution per atrous rate and a global image-pooling branch. Their
outputs are concatenated and projected by a 1x1 convolution. Every convolution is an
:class:`atrous.nn.Conv2d`, so each branch knows its exact receptive field from
:mod:`atrous.geometry`.

The submodule names are torchvision's (``convs.<i>.<j>``, ``project.<j>``): a
``torchvision.models.segmentation.deeplabv3.ASPP`` state_dict loads into :class:`ASPP` with the
same rates (``dropout`` has no parameters).

Examples:
    >>> import torch
    >>> aspp = ASPP(8, 16, rates=(2, 4)).eval()
    >>> aspp(torch.randn(1, 8, 17, 17)).shape
    torch.Size([1, 16, 17, 17])
    >>> aspp.receptive_field
    {'conv1x1': (1, 1), 'rate2': (5, 5), 'rate4': (9, 9), 'pool': 'global'}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import FieldND, PaddingLike, receptive_field
from atrous.geometry.spec import check_int
from atrous.nn.conv import Conv2d, ConvNd

__all__ = ["ASPP", "ASPPConv", "ASPPPooling", "ASPPSeparableConv"]


def _conv_layers(module: nn.Module) -> list[ConvNd]:
    """The atrous convolution layers of ``module``, in the order they are applied (a chain)."""
    return [m for m in module.modules() if isinstance(m, ConvNd)]


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, groups: int = 1
) -> list[nn.Module]:
    # 'same' is resolved by atrous.geometry: for stride 1 and k = 3 it pads `dilation` on each side.
    padding: PaddingLike = "same" if kernel_size > 1 else 0
    conv = Conv2d(in_channels, out_channels, kernel_size, 1, padding, dilation, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(out_channels), nn.ReLU()]


class ASPPConv(nn.Sequential):
    """One atrous branch: 3x3 convolution with dilation ``rate`` (size kept) + BN + ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        rate: the atrous rate (dilation), ``>= 1``.
    """

    def __init__(self, in_channels: int, out_channels: int, rate: int) -> None:
        super().__init__(*_conv_bn_relu(in_channels, out_channels, 3, rate))
        self.rate = rate


class ASPPSeparableConv(nn.Sequential):
    """DeepLabv3+'s separable atrous branch: a depthwise 3x3 convolution with dilation ``rate``
    (``groups = in_channels``) + BN + ReLU, then a pointwise 1x1 convolution + BN + ReLU.

    Args:
        in_channels: input channels (the depthwise step keeps them).
        out_channels: output channels of the pointwise step.
        rate: the atrous rate (dilation), ``>= 1``.
    """

    def __init__(self, in_channels: int, out_channels: int, rate: int) -> None:
        super().__init__(
            *_conv_bn_relu(in_channels, in_channels, 3, rate, groups=in_channels),
            *_conv_bn_relu(in_channels, out_channels, 1),
        )
        self.rate = rate


class ASPPPooling(nn.Sequential):
    """The image-pooling branch: global average pooling -> 1x1 conv -> BN -> ReLU, then
    bilinear upsampling (``align_corners=False``) back to the input size.

    The bilinear upsampling of a 1x1 map is a broadcast: every output pixel carries the same
    image-level feature, so this branch reads the whole input (its receptive field is global).

    Note:
        In training mode the BatchNorm sees one value per channel and image, so a batch of one
        image raises (as in torchvision); use batches of two or more, or ``eval()``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), *_conv_bn_relu(in_channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabv3, Chen et al. 2017; separable: DeepLabv3+, 2018).

    Branches, each ending in BatchNorm2d + ReLU, applied to the same input:

    * ``conv1x1``: a 1x1 convolution;
    * ``rate<r>`` for each rate ``r``: a 3x3 convolution with dilation ``r`` and ``'same'``
      padding (``r`` on each side, as :mod:`atrous.geometry` resolves it), so ``H x W`` is kept;
      with ``separable=True`` a depthwise 3x3 dilated convolution + BN + ReLU followed by a
      pointwise 1x1 convolution + BN + ReLU (DeepLabv3+);
    * ``pool``: image pooling (global average -> 1x1 conv -> BN -> ReLU -> bilinear upsampling
      to ``H x W`` with ``align_corners=False``).

    The branch outputs are concatenated and projected by a 1x1 convolution + BN + ReLU +
    dropout. Convolutions have no bias (BN follows each one).

    DeepLabv3 uses rates ``(6, 12, 18)`` at output stride 16 and doubles them at output
    stride 8 (torchvision's ``DeepLabHead`` uses ``(12, 24, 36)``). The default dropout 0.1 is
    the official TensorFlow DeepLab's (``keep_prob=0.9`` after the concat projection);
    torchvision's ``ASPP`` uses 0.5: pass ``dropout=0.5`` to reproduce it.

    Args:
        in_channels: channels of the input feature map.
        out_channels: channels of every branch and of the output (256 in the papers).
        rates: atrous rates of the 3x3 branches, distinct integers ``>= 1`` (may be empty).
        separable: DeepLabv3+'s depthwise-separable atrous branches.
        dropout: dropout probability after the projection, in ``[0, 1]`` (0 disables it).

    Attributes:
        rates: the atrous rates, a tuple.
        branch_names: ``('conv1x1', 'rate<r>', ..., 'pool')``, the order of ``convs`` and of
            the concatenated channels.
        convs: the branches (``nn.ModuleList``); ``project``: the projection.

    Shape:
        Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)``. In training mode
        ``N >= 2`` (the pooling branch's BatchNorm sees one value per image).

    Raises:
        SpecError: bad channel counts, rates or dropout.

    Examples:
        >>> import torch
        >>> aspp = ASPP(4, 8).eval()
        >>> aspp.rates
        (6, 12, 18)
        >>> aspp(torch.randn(2, 4, 33, 33)).shape
        torch.Size([2, 8, 33, 33])
        >>> aspp.receptive_field["rate18"], aspp.receptive_field["pool"]
        ((37, 37), 'global')
        >>> ASPP(4, 8, rates=(2,), separable=True).receptive_field
        {'conv1x1': (1, 1), 'rate2': (5, 5), 'pool': 'global'}
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        rates: Sequence[int] = (6, 12, 18),
        *,
        separable: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, 1)
        out_channels = check_int("out_channels", out_channels, 1)
        if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence):
            raise SpecError(f"rates must be a sequence of integers >= 1, got {rates!r}")
        rates = tuple(check_int(f"rates[{i}]", r, 1) for i, r in enumerate(rates))
        if len(set(rates)) != len(rates):
            raise SpecError(f"rates must be distinct (one branch per rate), got {rates}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise SpecError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        if not isinstance(separable, bool):
            raise SpecError(f"separable must be True or False, got {separable!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.rates: tuple[int, ...] = rates
        self.separable = separable
        branch = ASPPSeparableConv if separable else ASPPConv
        modules: list[nn.Module] = [nn.Sequential(*_conv_bn_relu(in_channels, out_channels, 1))]
        modules += [branch(in_channels, out_channels, r) for r in rates]
        modules.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(modules)
        self.branch_names: tuple[str, ...] = ("conv1x1", *(f"rate{r}" for r in rates), "pool")
        self.project = nn.Sequential(
            *_conv_bn_relu(len(self.convs) * out_channels, out_channels, 1),
            nn.Dropout(float(dropout)),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.project(torch.cat([branch(x) for branch in self.convs], dim=1))
        return out

    def branch_layers(self) -> dict[str, list[ConvNd] | None]:
        """Per branch, the chain of convolutions from the input to the output (the branch's,
        then the projection's); ``None`` for the global pooling branch."""
        tail = _conv_layers(self.project)
        return {
            name: None if isinstance(branch, ASPPPooling) else _conv_layers(branch) + tail
            for name, branch in zip(self.branch_names, self.convs, strict=True)
        }

    def fields(self, input_size: Sequence[int] | None = None) -> dict[str, FieldND | None]:
        """Per branch, the exact receptive field of the output (:class:`atrous.FieldND`, from
        :func:`atrous.receptive_field`); with ``input_size`` the border supports are exact.
        ``None`` for the pooling branch, which reads every input position."""
        return {
            name: None if layers is None else cast(FieldND, receptive_field(layers, input_size)[-1])
            for name, layers in self.branch_layers().items()
        }

    @property
    def receptive_field(self) -> dict[str, tuple[int, ...] | str]:
        """Per branch, the receptive-field size per axis (``(2r + 1, 2r + 1)`` for rate ``r``);
        ``'global'`` for the image-pooling branch."""
        return {name: "global" if f is None else f.size for name, f in self.fields().items()}

    def extra_repr(self) -> str:
        return f"rates={self.rates}, separable={self.separable}"
