"""atrous's PyTorch modules: convolution layers and the architectures built from them."""

from atrous.nn.conv import (
    CausalConv1d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvNd,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    ConvTransposeNd,
)
from atrous.nn.tcn import TCN, TemporalBlock, dilation_schedule, residual_field
from atrous.nn.wavenet import WaveNet, WaveNetLayer

__all__ = [
    "TCN",
    "TemporalBlock",
    "WaveNet",
    "WaveNetLayer",
    "dilation_schedule",
    "residual_field",
    "CausalConv1d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvNd",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeNd",
]
