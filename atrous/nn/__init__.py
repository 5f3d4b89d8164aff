"""atrous's PyTorch modules: convolution layers and the architectures built from them."""

from atrous.nn.aspp import ASPP, ASPPConv, ASPPPooling, ASPPSeparableConv
from atrous.nn.context import ContextModule, DegriddingTail
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
from atrous.nn.graph import DilatedGraphConv, EdgeConv, dilated_knn, graph_aggregate, hop_neighbourhood
from atrous.nn.hdc import GriddingWarning, HDCBlock
from atrous.nn.losses import ShiftConsistencyLoss, shift_consistency
from atrous.nn.tcn import TCN, TemporalBlock, dilation_schedule, residual_field
from atrous.nn.upsample import (
    Checkerboard,
    ResizeConv,
    SubPixelConv,
    TransposedUpsample,
    bilinear_spec,
    checkerboard,
    icnr_,
)
from atrous.nn.wavenet import WaveNet, WaveNetLayer

__all__ = [
    "ASPP",
    "ASPPConv",
    "ASPPPooling",
    "ASPPSeparableConv",
    "Checkerboard",
    "ContextModule",
    "DegriddingTail",
    "DilatedGraphConv",
    "EdgeConv",
    "GriddingWarning",
    "HDCBlock",
    "ResizeConv",
    "ShiftConsistencyLoss",
    "SubPixelConv",
    "TCN",
    "TransposedUpsample",
    "bilinear_spec",
    "checkerboard",
    "dilated_knn",
    "graph_aggregate",
    "hop_neighbourhood",
    "icnr_",
    "shift_consistency",
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
