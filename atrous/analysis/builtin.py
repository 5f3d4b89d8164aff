"""Reference networks in plain ``torch.nn``, for analysis, reports and tests.

Every builder returns a module in eval mode, built only from standard torch layers (plus
:mod:`atrous.nn`'s ``TCN`` and ``WaveNet`` for the two sequence models), so that anything the
analysis says about them can be checked against PyTorch itself. The builders are
deterministic: they initialise under their own random seed (``seed=0`` by default) without
touching the global random state.

- ``vgg16``: torchvision's VGG-16 (configuration D), with layers named ``conv1_1`` ..
  ``conv5_3``, ``relu*``, ``pool1`` .. ``pool5`` inside ``features`` and ``fc6`` .. ``fc8``
  inside ``classifier``; 138,357,544 parameters, as torchvision's.
- ``resnet50``: torchvision's ResNet-50 (Bottleneck v1.5, stride on the 3x3 conv), with
  ``replace_stride_with_dilation``; 25,557,032 parameters, as torchvision's.
- ``deeplab-aspp``: DeepLabv3, output stride 16 (layer4 dilated 2), ASPP rates 6, 12, 18.
- ``fcn-decoder`` / ``fcn-decoder-k3``: a small FCN-8s-like encoder-decoder upsampling with
  transposed convolutions ``k=4, s=2, p=1`` (even overlap) or ``k=3, s=2, p=1,
  output_padding=1`` (uneven overlap: the checkerboard of Odena et al. 2016).
- ``wavenet``, ``tcn``: :class:`atrous.nn.WaveNet` (3 cycles of dilations 1..512) and
  :class:`atrous.nn.TCN` (Bai et al.'s adding-problem model, 8 levels of 24 channels, k=8).
- ``context``: the Yu-Koltun basic context module (dilations 1, 1, 2, 4, 8, 16, 1 then 1x1).
- ``gridding-222`` / ``hdc-125``: three 3x3 convolutions with dilations 2, 2, 2 (a period-2
  grid of holes) and 1, 2, 5 (hybrid rates: no holes).

Examples:
    >>> import torch
    >>> model = get_builtin("hdc-125")
    >>> model(torch.zeros(DEFAULT_INPUT["hdc-125"])).shape
    torch.Size([1, 16, 64, 64])
    >>> [name for name, _ in vgg16().features.named_children()][:5]
    ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import full_padding
from atrous.geometry.spec import check_int

__all__ = [
    "ASPPHead",
    "BUILTIN",
    "Bottleneck",
    "DEFAULT_INPUT",
    "DeepLabV3",
    "FCNDecoder",
    "ResNet",
    "VGG",
    "context",
    "deeplab_aspp",
    "fcn_decoder",
    "fcn_decoder_k3",
    "get_builtin",
    "gridding_222",
    "hdc_125",
    "resnet50",
    "tcn",
    "vgg16",
    "wavenet",
]


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Run the body under ``torch.manual_seed(seed)`` and restore the global CPU RNG after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _kaiming_init(module: nn.Module, linear_std: float | None = None) -> None:
    """torchvision's initialisation: convs Kaiming normal (fan_out, ReLU), norms 1/0, linears
    ``N(0, linear_std)`` with zero bias when ``linear_std`` is given."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- VGG-16

_VGG16_CFG: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG(nn.Module):
    """VGG with named layers: ``features`` (``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``),
    ``avgpool`` (adaptive 7x7), ``classifier`` (``fc6``, ``relu6``, ``drop6``, ``fc7``,
    ``relu7``, ``drop7``, ``fc8``).

    Args:
        cfg: the widths of the 3x3 convolutions of each block (a 2x2 max pool ends a block).
        num_classes: outputs of ``fc8``.
        dropout: probability of ``drop6`` and ``drop7``.

    Shape:
        ``(N, 3, H, W) -> (N, num_classes)``.
    """

    def __init__(
        self, cfg: Sequence[Sequence[int]] = _VGG16_CFG, num_classes: int = 1000, dropout: float = 0.5
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = 3
        for b, widths in enumerate(cfg, start=1):
            for i, width in enumerate(widths, start=1):
                layers[f"conv{b}_{i}"] = nn.Conv2d(in_ch, width, kernel_size=3, padding=1)
                layers[f"relu{b}_{i}"] = nn.ReLU(inplace=True)
                in_ch = width
            layers[f"pool{b}"] = nn.MaxPool2d(kernel_size=2, stride=2)
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc6", nn.Linear(in_ch * 7 * 7, 4096)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("drop6", nn.Dropout(dropout)),
                    ("fc7", nn.Linear(4096, 4096)),
                    ("relu7", nn.ReLU(inplace=True)),
                    ("drop7", nn.Dropout(dropout)),
                    ("fc8", nn.Linear(4096, num_classes)),
                ]
            )
        )
        _kaiming_init(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        out: Tensor = self.classifier(torch.flatten(x, 1))
        return out


def vgg16(num_classes: int = 1000, seed: int | None = 0) -> nn.Module:
    """torchvision's VGG-16 (configuration D, no batch norm), in eval mode.

    Thirteen 3x3 convolutions (padding 1) in five blocks, each block ending in a 2x2 max pool
    of stride 2; then an adaptive 7x7 average pool and the classifier
    ``25088 -> 4096 -> 4096 -> num_classes`` (ReLU and dropout between). The receptive fields
    of its layers are DESIGN section 4's VGG-16 table (``pool5``: 212, jump 32, padding 90).

    Args:
        num_classes: outputs of the last linear layer.
        seed: random seed of the initialisation (``None``: the global RNG).

    Examples:
        >>> sum(p.numel() for p in vgg16().parameters())
        138357544
    """
    with _seeded(seed):
        return VGG(_VGG16_CFG, check_int("num_classes", num_classes, 1)).eval()


# --------------------------------------------------------------------------- ResNet-50


class Bottleneck(nn.Module):
    """ResNet's bottleneck v1.5 (torchvision's): 1x1 -> 3x3 (stride and dilation here) -> 1x1
    with 4x expansion, batch norm after each, ReLU, and the shortcut ``downsample``."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, dilation: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, kernel_size=3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        result: Tensor = self.relu(out + identity)
        return result


class ResNet(nn.Module):
    """torchvision's ResNet with bottleneck blocks, written from scratch.

    Args:
        layers: blocks per stage (``[3, 4, 6, 3]`` for ResNet-50).
        num_classes: outputs of ``fc``; ``None``: no ``avgpool`` and ``fc``, the forward
            returns ``layer4``'s output (a backbone).
        replace_stride_with_dilation: for ``layer2`` .. ``layer4``, dilate instead of striding:
            the stage keeps its input resolution, the dilation doubles from that stage on
            (the first block of a stage keeps the previous dilation, as torchvision does) and
            every 3x3 convolution's padding equals its dilation.

    Shape:
        ``(N, 3, H, W) -> (N, num_classes)``; :meth:`forward_features` (and the forward of a
        backbone) gives ``layer4``'s output, ``(N, 2048, H/s, W/s)`` with output stride
        ``s = 32`` halved per dilated stage.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int | None = 1000,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
    ) -> None:
        super().__init__()
        flags = tuple(bool(f) for f in replace_stride_with_dilation)
        if len(flags) != 3:
            raise SpecError(
                f"replace_stride_with_dilation must have 3 entries (layer2, layer3, layer4), got {replace_stride_with_dilation!r}"
            )
        if len(layers) != 4:
            raise SpecError(f"layers must list the blocks of 4 stages, got {layers!r}")
        blocks = [check_int(f"layers[{i}]", n, 1) for i, n in enumerate(layers)]
        self.inplanes = 64
        self.dilation = 1
        self.replace_stride_with_dilation = flags
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, blocks[0])
        self.layer2 = self._make_layer(128, blocks[1], stride=2, dilate=flags[0])
        self.layer3 = self._make_layer(256, blocks[2], stride=2, dilate=flags[1])
        self.layer4 = self._make_layer(512, blocks[3], stride=2, dilate=flags[2])
        self.avgpool: nn.Module | None = None
        self.fc: nn.Module | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * Bottleneck.expansion, check_int("num_classes", num_classes, 1))
        _kaiming_init(self)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """The stem and the four stages: ``layer4``'s output."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out: Tensor = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x)
        if self.avgpool is None or self.fc is None:
            return x
        out: Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return out


def resnet50(
    num_classes: int | None = 1000,
    replace_stride_with_dilation: Sequence[bool] = (False, False, False),
    seed: int | None = 0,
) -> nn.Module:
    """torchvision's ResNet-50 (layers 3, 4, 6, 3), in eval mode.

    Args:
        num_classes: outputs of ``fc``.
        replace_stride_with_dilation: dilate instead of stride in ``layer2`` .. ``layer4``
            (see :class:`ResNet`).
        seed: random seed of the initialisation (``None``: the global RNG).

    Examples:
        >>> sum(p.numel() for p in resnet50().parameters())
        25557032
        >>> resnet50(replace_stride_with_dilation=(False, True, True)).layer4[1].conv2.dilation
        (4, 4)
    """
    with _seeded(seed):
        return ResNet((3, 4, 6, 3), num_classes, replace_stride_with_dilation).eval()


# --------------------------------------------------------------------------- DeepLabv3


def _conv_bn_relu(in_ch: int, out_ch: int, kernel_size: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = full_padding(kernel_size, dilation)[0] // 2  # 'same' for an odd kernel at stride 1
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class _ImagePooling(nn.Module):
    """ASPP's image-level branch: global average, 1x1 conv + BN + ReLU, bilinear back."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = _conv_bn_relu(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(self.pool(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPPHead(nn.Module):
    """DeepLabv3's atrous spatial pyramid pooling (torchvision's layout), in plain torch.

    Branches: ``branch0`` a 1x1 conv, ``branch1`` .. one 3x3 conv per rate (dilation and
    padding equal to the rate), ``pooling`` the image-level features; each with BN and ReLU.
    They are concatenated and projected by a 1x1 conv + BN + ReLU + Dropout(0.5).

    Args:
        in_channels: input width (2048 after ResNet-50's ``layer4``).
        rates: dilations of the 3x3 branches.
        out_channels: width of every branch and of the projection.
    """

    def __init__(self, in_channels: int, rates: Sequence[int] = (6, 12, 18), out_channels: int = 256) -> None:
        super().__init__()
        self.rates = tuple(check_int(f"rates[{i}]", r, 1) for i, r in enumerate(rates))
        branches: OrderedDict[str, nn.Module] = OrderedDict(branch0=_conv_bn_relu(in_channels, out_channels, 1))
        for i, rate in enumerate(self.rates, start=1):
            branches[f"branch{i}"] = _conv_bn_relu(in_channels, out_channels, 3, rate)
        branches["pooling"] = _ImagePooling(in_channels, out_channels)
        self.branches = nn.ModuleDict(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.project(torch.cat([branch(x) for branch in self.branches.values()], dim=1))
        return out


class DeepLabV3(nn.Module):
    """DeepLabv3: a dilated ResNet-50 backbone, the ASPP head, a 3x3 conv + BN + ReLU, a 1x1
    classifier and a bilinear upsampling to the input size.

    Args:
        num_classes: output channels (21: PASCAL VOC).
        rates: ASPP dilations.
        replace_stride_with_dilation: the backbone's (``(False, False, True)``: output stride
            16; ``(False, True, True)``: 8).

    Shape:
        ``(N, 3, H, W) -> (N, num_classes, H, W)``.
    """

    def __init__(
        self,
        num_classes: int = 21,
        rates: Sequence[int] = (6, 12, 18),
        replace_stride_with_dilation: Sequence[bool] = (False, False, True),
    ) -> None:
        super().__init__()
        self.backbone = ResNet((3, 4, 6, 3), None, replace_stride_with_dilation)
        self.aspp = ASPPHead(2048, rates, 256)
        self.head = _conv_bn_relu(256, 256, 3)
        self.classifier = nn.Conv2d(256, check_int("num_classes", num_classes, 1), 1)
        _kaiming_init(self.aspp)
        _kaiming_init(self.head)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        y = self.classifier(self.head(self.aspp(self.backbone(x))))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def deeplab_aspp(num_classes: int = 21, rates: Sequence[int] = (6, 12, 18), seed: int | None = 0) -> nn.Module:
    """DeepLabv3 with output stride 16 (``layer4`` dilated 2) and ASPP rates 6, 12, 18.

    Same parameter count as torchvision's ``deeplabv3_resnet50`` without its auxiliary head
    (39,638,869 for 21 classes; the rates change no weight).

    Args:
        num_classes: output channels.
        rates: ASPP dilations.
        seed: random seed of the initialisation (``None``: the global RNG).
    """
    with _seeded(seed):
        return DeepLabV3(num_classes, rates, (False, False, True)).eval()


# --------------------------------------------------------------------------- FCN decoder


class FCNDecoder(nn.Module):
    """A small FCN-8s-like encoder-decoder.

    Encoder: three stages ``enc1`` .. ``enc3`` of conv 3x3 (padding 1) + ReLU + 2x2 max pool,
    widths ``widths``, output strides 2, 4, 8. Decoder: ``up3`` (stride 8 -> 4), ``up2``
    (4 -> 2), ``up1`` (2 -> 1) transposed convolutions of stride 2; the outputs of ``up3`` and
    ``up2`` are added to those of ``enc2`` and ``enc1`` (skip connections, FCN's sum) and go
    through a ReLU.

    Args:
        in_channels, num_classes: input and output channels.
        widths: the three encoder widths.
        kernel_size: of the transposed convs: 4 (padding 1: exactly 2x, overlap even) or 3
            (padding 1 and output_padding 1: exactly 2x, overlap uneven: checkerboard).

    Shape:
        ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` for ``H, W`` divisible by 8.
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 21, widths: Sequence[int] = (16, 32, 64), kernel_size: int = 4
    ) -> None:
        super().__init__()
        if kernel_size not in (3, 4):
            raise SpecError(f"kernel_size must be 3 or 4 (upsampling by exactly 2 with padding 1), got {kernel_size!r}")
        w = [check_int(f"widths[{i}]", c, 1) for i, c in enumerate(widths)]
        if len(w) != 3:
            raise SpecError(f"widths must have 3 entries, got {widths!r}")
        chans = [check_int("in_channels", in_channels, 1), *w]
        stages = [
            nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(chans[i], chans[i + 1], 3, padding=1),
                    relu=nn.ReLU(inplace=True),
                    pool=nn.MaxPool2d(2, 2),
                )
            )
            for i in range(3)
        ]
        self.enc1, self.enc2, self.enc3 = stages
        self.kernel_size = kernel_size
        output_padding = 1 if kernel_size == 3 else 0
        self.up3 = nn.ConvTranspose2d(w[2], w[1], kernel_size, 2, padding=1, output_padding=output_padding)
        self.up2 = nn.ConvTranspose2d(w[1], w[0], kernel_size, 2, padding=1, output_padding=output_padding)
        self.up1 = nn.ConvTranspose2d(
            w[0], check_int("num_classes", num_classes, 1), kernel_size, 2, padding=1, output_padding=output_padding
        )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        s2 = self.enc1(x)
        s4 = self.enc2(s2)
        s8 = self.enc3(s4)
        y = self.relu(self.up3(s8) + s4)
        y = self.relu(self.up2(y) + s2)
        out: Tensor = self.up1(y)
        return out


def fcn_decoder(num_classes: int = 21, seed: int | None = 0) -> nn.Module:
    """The FCN-style decoder with ``ConvTranspose2d(k=4, s=2, p=1)`` upsampling (kernel size
    divisible by the stride: even overlap, no checkerboard)."""
    with _seeded(seed):
        return FCNDecoder(3, num_classes, (16, 32, 64), kernel_size=4).eval()


def fcn_decoder_k3(num_classes: int = 21, seed: int | None = 0) -> nn.Module:
    """The checkerboarding variant: ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)``
    (kernel size not divisible by the stride: uneven overlap, Odena et al. 2016)."""
    with _seeded(seed):
        return FCNDecoder(3, num_classes, (16, 32, 64), kernel_size=3).eval()


# --------------------------------------------------------------------------- sequence models


def wavenet(seed: int | None = 0) -> nn.Module:
    """``atrous.nn.WaveNet(1, 256, residual_channels=32)``: 3 cycles of dilations 1..512 with
    kernel 2, receptive field 3070."""
    from atrous.nn import WaveNet

    with _seeded(seed):
        return WaveNet(in_channels=1, out_channels=256, residual_channels=32, layers_per_cycle=10, cycles=3).eval()


def tcn(seed: int | None = 0) -> nn.Module:
    """``atrous.nn.TCN(2, [24] * 8, kernel_size=8)``: Bai et al.'s adding-problem model,
    receptive field ``1 + 2 * 7 * (2^8 - 1) = 3571``."""
    from atrous.nn import TCN

    with _seeded(seed):
        return TCN(2, [24] * 8, kernel_size=8).eval()


# --------------------------------------------------------------------------- dilated stacks


def context(channels: int = 21, identity_init: bool = False, seed: int | None = 0) -> nn.Module:
    """Yu & Koltun's basic context module in plain torch: seven 3x3 convs (``conv1`` ..
    ``conv7``) with dilations 1, 1, 2, 4, 8, 16, 1 and padding equal to the dilation, each
    followed by a ReLU, then a 1x1 conv ``conv8``; ``channels`` in and out.

    Receptive fields 3, 5, 9, 17, 33, 65, 67, 67 (DESIGN section 4).

    Args:
        channels: ``C`` (21: the PASCAL VOC classes).
        identity_init: the paper's identity initialisation (centre tap ``1[a = b]``, zero
            bias): the module then passes a non-negative input through unchanged.
        seed: random seed of the initialisation (``None``: the global RNG).
    """
    c = check_int("channels", channels, 1)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    with _seeded(seed):
        for i, d in enumerate((1, 1, 2, 4, 8, 16, 1), start=1):
            layers[f"conv{i}"] = nn.Conv2d(c, c, 3, padding=d, dilation=d)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
        layers["conv8"] = nn.Conv2d(c, c, 1)
        model = nn.Sequential(layers)
    if identity_init:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.zero_()
                    k = m.kernel_size[0] // 2
                    m.weight[:, :, k, k] = torch.eye(c)
                    assert m.bias is not None
                    m.bias.zero_()
    return model.eval()


def _dilated_stack(dilations: Sequence[int], seed: int | None) -> nn.Module:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = 3
    with _seeded(seed):
        for i, d in enumerate(dilations, start=1):
            layers[f"conv{i}"] = nn.Conv2d(in_ch, 16, 3, padding=d, dilation=d)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            in_ch = 16
        return nn.Sequential(layers).eval()


def gridding_222(seed: int | None = 0) -> nn.Module:
    """Three 3x3 convs (16 channels, ReLU) with dilations 2, 2, 2, padding 2: every output
    reads only a period-2 grid of its 13x13 window (gridding)."""
    return _dilated_stack((2, 2, 2), seed)


def hdc_125(seed: int | None = 0) -> nn.Module:
    """Three 3x3 convs (16 channels, ReLU) with dilations 1, 2, 5 (hybrid dilated
    convolution, Wang et al. 2018): the 17x17 window is covered without holes."""
    return _dilated_stack((1, 2, 5), seed)


# --------------------------------------------------------------------------- registry

BUILTIN: dict[str, Callable[[], nn.Module]] = {
    "vgg16": vgg16,
    "resnet50": resnet50,
    "deeplab-aspp": deeplab_aspp,
    "fcn-decoder": fcn_decoder,
    "fcn-decoder-k3": fcn_decoder_k3,
    "wavenet": wavenet,
    "tcn": tcn,
    "context": context,
    "gridding-222": gridding_222,
    "hdc-125": hdc_125,
}
"""Builders of the reference networks by name; each returns a new module in eval mode."""

DEFAULT_INPUT: dict[str, tuple[int, ...]] = {
    "vgg16": (1, 3, 224, 224),
    "resnet50": (1, 3, 224, 224),
    "deeplab-aspp": (1, 3, 224, 224),
    "fcn-decoder": (1, 3, 64, 64),
    "fcn-decoder-k3": (1, 3, 64, 64),
    "wavenet": (1, 1, 4096),
    "tcn": (1, 2, 600),
    "context": (1, 21, 64, 64),
    "gridding-222": (1, 3, 64, 64),
    "hdc-125": (1, 3, 64, 64),
}
"""The default input shape of each builtin network (``(N, C, *spatial)``)."""


def get_builtin(name: str) -> nn.Module:
    """A new instance of the builtin network ``name``, in eval mode.

    Raises:
        SpecError: for an unknown name (the message lists the valid ones).

    Examples:
        >>> type(get_builtin("context")).__name__
        'Sequential'
        >>> get_builtin("vgg19")
        Traceback (most recent call last):
        ...
        atrous.errors.SpecError: unknown builtin model 'vgg19'; valid names: vgg16, resnet50, deeplab-aspp, fcn-decoder, fcn-decoder-k3, wavenet, tcn, context, gridding-222, hdc-125
    """
    try:
        build = BUILTIN[name]
    except (KeyError, TypeError):
        raise SpecError(f"unknown builtin model {name!r}; valid names: {', '.join(BUILTIN)}") from None
    return build()
