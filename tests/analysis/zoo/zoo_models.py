"""The architectural patterns of models people bring, rebuilt in plain PyTorch the way their
authors write them (HF transformers, MONAI, pytorch-tcn, EnCodec / DAC, HiFi-GAN, Swin, SE /
ASPP). Small widths, so that autograd brute force runs in milliseconds.

Every builder returns ``(model, input_shape)``; :data:`ZOO` lists them with the answer
expected on each axis of the output ("field", "global") for the exact and the frozen-statistics
answers, and the intermediate modules whose fields are also checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations
from torch.nn.utils import weight_norm as old_weight_norm

# --------------------------------------------------------------------------- wav2vec2 / HuBERT


class GroupNormConvLayer(nn.Module):
    """transformers' Wav2Vec2GroupNormConvLayer: conv, GroupNorm(C, C), GELU."""

    def __init__(self, cin: int, cout: int, k: int, s: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=s, bias=False)
        self.layer_norm = nn.GroupNorm(num_groups=cout, num_channels=cout, affine=True) if norm else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.conv(hidden_states)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return F.gelu(hidden_states)


class SamePad(nn.Module):
    def __init__(self, num_conv_pos_embeddings: int) -> None:
        super().__init__()
        self.num_pad_remove = 1 if num_conv_pos_embeddings % 2 == 0 else 0

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.num_pad_remove > 0:
            hidden_states = hidden_states[:, :, : -self.num_pad_remove]
        return hidden_states


class PositionalConvEmbedding(nn.Module):
    def __init__(self, hidden: int, k: int = 16, groups: int = 4) -> None:
        super().__init__()
        conv = nn.Conv1d(hidden, hidden, kernel_size=k, padding=k // 2, groups=groups)
        self.conv = parametrizations.weight_norm(conv, name="weight", dim=2)
        self.padding = SamePad(k)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states.transpose(1, 2)
        hidden_states = self.conv(hidden_states)
        hidden_states = self.padding(hidden_states)
        hidden_states = F.gelu(hidden_states)
        return hidden_states.transpose(1, 2)


class FeatureEncoder(nn.Module):
    def __init__(self, c: int = 6, kernels=(10, 3, 3, 2), strides=(5, 2, 2, 2)) -> None:
        super().__init__()
        layers = []
        for i, (k, s) in enumerate(zip(kernels, strides, strict=True)):
            layers.append(GroupNormConvLayer(1 if i == 0 else c, c, k, s, norm=i == 0))
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden_states = input_values
        for conv_layer in self.conv_layers:
            hidden_states = conv_layer(hidden_states)
        return hidden_states


class Wav2Vec2Like(nn.Module):
    """Feature encoder (GroupNorm in the first layer) -> channels-last projection ->
    positional conv embedding -> one self-attention layer."""

    def __init__(self, c: int = 6, hidden: int = 8) -> None:
        super().__init__()
        self.feature_extractor = FeatureEncoder(c)
        self.layer_norm = nn.LayerNorm(c)
        self.projection = nn.Linear(c, hidden)
        self.pos_conv_embed = PositionalConvEmbedding(hidden)
        self.encoder_norm = nn.LayerNorm(hidden)
        self.attention = nn.MultiheadAttention(hidden, 2, batch_first=True)

    def forward(self, input_values: torch.Tensor, output_hidden_states: bool = False) -> dict[str, torch.Tensor]:
        extract = self.feature_extractor(input_values)
        extract = extract.transpose(1, 2)
        hidden = self.projection(self.layer_norm(extract))
        hidden = hidden + self.pos_conv_embed(hidden)
        hidden = self.encoder_norm(hidden)
        attn, _ = self.attention(hidden, hidden, hidden, need_weights=False)
        out = {"last_hidden_state": hidden + attn, "extract_features": extract}
        return out


def wav2vec2() -> tuple[nn.Module, tuple[int, ...]]:
    return Wav2Vec2Like(), (1, 1, 400)


def groupnorm_chain() -> tuple[nn.Module, tuple[int, ...]]:
    """The issue's reproduction: Conv1d -> GroupNorm(4, 4) -> Conv1d."""
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.GroupNorm(4, 4), nn.Conv1d(4, 4, 3)), (1, 1, 32)


# --------------------------------------------------------------------------- ConvNeXt


class ConvNextLayerNorm(nn.Module):
    """transformers' ConvNextLayerNorm: channels_last (F.layer_norm) or channels_first (by hand)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-6, data_format: str = "channels_last") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        self.data_format = data_format
        self.normalized_shape = (normalized_shape,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        input_dtype = x.dtype
        x = x.float()
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        x = x.to(dtype=input_dtype)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNextLayer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.layernorm = ConvNextLayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale_parameter = nn.Parameter(1e-6 * torch.ones(dim))
        self.drop_path = nn.Identity()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input = hidden_states
        x = self.dwconv(hidden_states)
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.layernorm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.pwconv2(x)
        if self.layer_scale_parameter is not None:
            x = self.layer_scale_parameter * x
        x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return input + self.drop_path(x)


class ConvNextLike(nn.Module):
    def __init__(self, dims=(4, 8)) -> None:
        super().__init__()
        self.patch_embeddings = nn.Conv2d(3, dims[0], kernel_size=4, stride=4)
        self.layernorm = ConvNextLayerNorm(dims[0], eps=1e-6, data_format="channels_first")
        self.stage0 = nn.Sequential(ConvNextLayer(dims[0]))
        self.downsample = nn.Sequential(
            ConvNextLayerNorm(dims[0], eps=1e-6, data_format="channels_first"),
            nn.Conv2d(dims[0], dims[1], kernel_size=2, stride=2),
        )
        self.stage1 = nn.Sequential(ConvNextLayer(dims[1]), ConvNextLayer(dims[1]))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.layernorm(self.patch_embeddings(pixel_values))
        x = self.stage0(x)
        return self.stage1(self.downsample(x))


def convnext() -> tuple[nn.Module, tuple[int, ...]]:
    return ConvNextLike(), (1, 3, 48, 40)


class PermuteLinearPermute(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.linear = nn.Linear(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.permute(0, 2, 1)).permute(0, 2, 1)


def permute_linear() -> tuple[nn.Module, tuple[int, ...]]:
    """The issue's reproduction: a Linear over channels between two permutes is pointwise."""
    return nn.Sequential(nn.Conv1d(1, 4, 3), PermuteLinearPermute(4), nn.Conv1d(4, 4, 3)), (1, 1, 24)


# --------------------------------------------------------------------------- DAC / BigVGAN: Snake


def snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    shape = x.shape
    x = x.reshape(shape[0], shape[1], -1)
    x = x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x).pow(2)
    return x.reshape(shape)


class Snake1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return snake(x, self.alpha)


def WNConv1d(*args, **kwargs) -> nn.Module:
    return parametrizations.weight_norm(nn.Conv1d(*args, **kwargs))


class ResidualUnit(nn.Module):
    """DAC's residual unit: Snake, dilated k7, Snake, k1; the input cropped to the output."""

    def __init__(self, dim: int, dilation: int = 1) -> None:
        super().__init__()
        pad = ((7 - 1) * dilation) // 2
        self.block = nn.Sequential(
            Snake1d(dim), WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=pad), Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        pad = (x.shape[-1] - y.shape[-1]) // 2
        if pad > 0:
            x = x[..., pad:-pad]
        return x + y


class DACEncoderLike(nn.Module):
    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.block = nn.Sequential(
            WNConv1d(1, d, kernel_size=7, padding=3),
            ResidualUnit(d, 1), ResidualUnit(d, 3), ResidualUnit(d, 9), Snake1d(d),
            WNConv1d(d, 2 * d, kernel_size=4, stride=2, padding=1),
        )  # fmt: skip
        self.g = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) * self.g.exp()


def dac() -> tuple[nn.Module, tuple[int, ...]]:
    return DACEncoderLike(), (1, 1, 64)


# --------------------------------------------------------------------------- EnCodec (SEANet)


class EncodecConv1d(nn.Module):
    """transformers' EncodecConv1d: tensor-valued padding amounts, reflect padding."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int, stride: int = 1, dilation: int = 1, causal: bool = False
    ) -> None:
        super().__init__()
        self.causal = causal
        self.pad_mode = "reflect"
        self.conv = parametrizations.weight_norm(nn.Conv1d(cin, cout, kernel_size, stride, dilation=dilation))
        kernel_size_t = torch.tensor((kernel_size - 1) * dilation + 1, dtype=torch.int64)
        self.register_buffer("stride", torch.tensor(stride, dtype=torch.int64), persistent=False)
        self.register_buffer("kernel_size", kernel_size_t, persistent=False)
        self.register_buffer("padding_total", kernel_size_t - self.stride, persistent=False)

    def _get_extra_padding_for_conv1d(self, hidden_states: torch.Tensor) -> torch.Tensor:
        length = hidden_states.shape[-1]
        n_frames = (length - self.kernel_size + self.padding_total) / self.stride + 1
        n_frames = torch.ceil(n_frames).to(torch.int64) - 1
        ideal_length = n_frames * self.stride + self.kernel_size - self.padding_total
        return ideal_length - length

    @staticmethod
    def _pad1d(hidden_states: torch.Tensor, paddings: tuple, mode: str = "zero", value: float = 0.0) -> torch.Tensor:
        length = hidden_states.shape[-1]
        padding_left, padding_right = paddings
        if mode != "reflect":
            return F.pad(hidden_states, paddings, mode, value)
        max_pad = max(padding_left, padding_right)
        extra_pad = 0
        if length <= max_pad:
            extra_pad = max_pad - length + 1
            hidden_states = F.pad(hidden_states, (0, extra_pad))
        padded = F.pad(hidden_states, paddings, mode, value)
        end = padded.shape[-1] - extra_pad
        return padded[..., :end]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        extra_padding = self._get_extra_padding_for_conv1d(hidden_states)
        if self.causal:
            hidden_states = self._pad1d(hidden_states, (self.padding_total, extra_padding), mode=self.pad_mode)
        else:
            padding_right = self.padding_total // 2
            padding_left = self.padding_total - padding_right
            hidden_states = self._pad1d(
                hidden_states, (padding_left, padding_right + extra_padding), mode=self.pad_mode
            )
        return self.conv(hidden_states)


class EncodecConvTranspose1d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.conv = parametrizations.weight_norm(nn.ConvTranspose1d(cin, cout, kernel_size, stride))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        kernel_size = self.conv.kernel_size[0]
        stride = self.conv.stride[0]
        padding_total = kernel_size - stride
        hidden_states = self.conv(hidden_states)
        if self.causal:
            padding_right = math.ceil(padding_total)
        else:
            padding_right = padding_total // 2
        padding_left = padding_total - padding_right
        end = hidden_states.shape[-1] - padding_right
        return hidden_states[..., padding_left:end]


class EncodecResnetBlock(nn.Module):
    def __init__(self, dim: int, dilation: int, causal: bool) -> None:
        super().__init__()
        hidden = dim // 2
        self.block = nn.ModuleList(
            [nn.ELU(), EncodecConv1d(dim, hidden, 3, dilation=dilation, causal=causal), nn.ELU(),
             EncodecConv1d(hidden, dim, 1, causal=causal)]
        )  # fmt: skip
        self.shortcut = EncodecConv1d(dim, dim, 1, causal=causal)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = hidden_states
        for layer in self.block:
            hidden_states = layer(hidden_states)
        return self.shortcut(residual) + hidden_states


class EncodecLSTM(nn.Module):
    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dimension, dimension, 2)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states.permute(2, 0, 1)
        hidden_states = self.lstm(hidden_states)[0] + hidden_states
        return hidden_states.permute(1, 2, 0)


class EncodecLike(nn.Module):
    def __init__(self, d: int = 4, ratios=(2, 4), causal: bool = False, lstm: bool = True) -> None:
        super().__init__()
        enc: list[nn.Module] = [EncodecConv1d(1, d, 7, causal=causal)]
        c = d
        for r in ratios:
            enc += [EncodecResnetBlock(c, 1, causal), nn.ELU(), EncodecConv1d(c, 2 * c, 2 * r, stride=r, causal=causal)]
            c *= 2
        if lstm:
            enc += [EncodecLSTM(c)]
        enc += [nn.ELU(), EncodecConv1d(c, c, 7, causal=causal)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [EncodecConv1d(c, c, 7, causal=causal)]
        for r in reversed(ratios):
            dec += [nn.ELU(), EncodecConvTranspose1d(c, c // 2, 2 * r, stride=r, causal=causal),
                    EncodecResnetBlock(c // 2, 1, causal)]  # fmt: skip
            c //= 2
        dec += [nn.ELU(), EncodecConv1d(c, 1, 7, causal=causal)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(input_values))


def encodec() -> tuple[nn.Module, tuple[int, ...]]:
    return EncodecLike(causal=False, lstm=False), (1, 1, 64)


def encodec_causal_lstm() -> tuple[nn.Module, tuple[int, ...]]:
    return EncodecLike(causal=True, lstm=True), (1, 1, 64)


# --------------------------------------------------------------------------- HiFi-GAN


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class HifiGanResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3, 5), leaky_relu_slope: float = 0.1) -> None:
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.convs1 = nn.ModuleList(
            [
                nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d))
                for d in dilation
            ]
        )
        self.convs2 = nn.ModuleList(
            [
                nn.Conv1d(channels, channels, kernel_size, 1, dilation=1, padding=get_padding(kernel_size, 1))
                for _ in dilation
            ]
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            residual = hidden_states
            hidden_states = F.leaky_relu(hidden_states, self.leaky_relu_slope)
            hidden_states = conv1(hidden_states)
            hidden_states = F.leaky_relu(hidden_states, self.leaky_relu_slope)
            hidden_states = conv2(hidden_states)
            hidden_states = hidden_states + residual
        return hidden_states


class HifiGanLike(nn.Module):
    def __init__(self, mels: int = 4, c: int = 8, rates=(4, 2), kernels=(8, 4), resblock_kernels=(3, 7)) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernels)
        self.conv_pre = old_weight_norm(nn.Conv1d(mels, c, 7, 1, padding=3))
        self.upsampler = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (r, k) in enumerate(zip(rates, kernels, strict=True)):
            cin, cout = c // 2**i, c // 2 ** (i + 1)
            self.upsampler.append(nn.ConvTranspose1d(cin, cout, k, r, padding=(k - r) // 2))
            for rk in resblock_kernels:
                self.resblocks.append(HifiGanResidualBlock(cout, rk))
        self.conv_post = nn.Conv1d(c // 2 ** len(rates), 1, 7, 1, padding=3)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        hidden_states = self.conv_pre(spectrogram)
        for i, up in enumerate(self.upsampler):
            hidden_states = F.leaky_relu(hidden_states, 0.1)
            hidden_states = up(hidden_states)
            res_state = self.resblocks[i * self.num_kernels](hidden_states)
            for j in range(1, self.num_kernels):
                res_state += self.resblocks[i * self.num_kernels + j](hidden_states)
            hidden_states = res_state / self.num_kernels
        hidden_states = F.leaky_relu(hidden_states)
        hidden_states = self.conv_post(hidden_states)
        return torch.tanh(hidden_states)


def hifigan() -> tuple[nn.Module, tuple[int, ...]]:
    return HifiGanLike(), (1, 4, 10)


# --------------------------------------------------------------------------- MONAI-style U-Net


class ResidualUnit2d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        Norm = nn.InstanceNorm2d if norm == "instance" else nn.BatchNorm2d
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1), Norm(cout, affine=True), nn.PReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1), Norm(cout, affine=True), nn.PReLU(),
        )  # fmt: skip
        self.residual = nn.Conv2d(cin, cout, 3, stride, 1) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.residual(x)


class SkipConnection(nn.Module):
    def __init__(self, submodule: nn.Module) -> None:
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.submodule(x)], dim=1)


class UNetLike(nn.Module):
    """MONAI's UNet pattern: strided residual units down, ConvTranspose2d(k3, s2, p1, op1) up,
    ``cat([x, sub(x)], dim=1)`` skips."""

    def __init__(self, norm: str = "instance", c: int = 4) -> None:
        super().__init__()
        inner = nn.Sequential(ResidualUnit2d(2 * c, 4 * c, 2, norm), nn.ConvTranspose2d(4 * c, 2 * c, 3, 2, 1, 1))
        mid = nn.Sequential(ResidualUnit2d(c, 2 * c, 2, norm), SkipConnection(inner),
                            nn.ConvTranspose2d(4 * c, c, 3, 2, 1, 1))  # fmt: skip
        self.model = nn.Sequential(ResidualUnit2d(1, c, 1, norm), SkipConnection(mid), nn.Conv2d(2 * c, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def unet_instance() -> tuple[nn.Module, tuple[int, ...]]:
    return UNetLike("instance"), (1, 1, 16, 12)


def unet_batchnorm() -> tuple[nn.Module, tuple[int, ...]]:
    return UNetLike("batch").eval(), (1, 1, 16, 12)


def unet_batchnorm_training() -> tuple[nn.Module, tuple[int, ...]]:
    """BatchNorm in training mode normalises with batch statistics over space."""
    return UNetLike("batch").train(), (1, 1, 16, 12)


# --------------------------------------------------------------------------- Swin


def window_partition(input_feature: torch.Tensor, window_size: int) -> torch.Tensor:
    batch_size, height, width, num_channels = input_feature.shape
    input_feature = input_feature.view(
        batch_size, height // window_size, window_size, width // window_size, window_size, num_channels
    )
    return input_feature.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, num_channels)


def window_reverse(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    num_channels = windows.shape[-1]
    windows = windows.view(-1, height // window_size, width // window_size, window_size, window_size, num_channels)
    return windows.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, height, width, num_channels)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, ws: int) -> None:
        super().__init__()
        self.heads, self.ws = heads, ws
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) * (2 * ws - 1), heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
        flat = torch.flatten(coords, 1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        self.register_buffer("relative_position_index", rel.sum(-1), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b_, n, c)
        return self.proj(x)


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, ws: int, shift: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, ws)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        if shift:
            h, w = resolution
            img_mask = torch.zeros((1, h, w, 1))
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img_mask[:, hs, wsl, :] = cnt
                    cnt += 1
            mw = window_partition(img_mask, ws).view(-1, ws * ws)
            attn_mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)
        else:
            attn_mask = None
        self.register_buffer("attn_mask", attn_mask, persistent=False)

    def forward(self, hidden_states: torch.Tensor, dims: tuple[int, int]) -> torch.Tensor:
        h, w = dims
        b, _, c = hidden_states.shape
        shortcut = hidden_states
        x = self.norm1(hidden_states).view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.ws).view(-1, self.ws * self.ws, c)
        attn = self.attn(windows, self.attn_mask).view(-1, self.ws, self.ws, c)
        x = window_reverse(attn, self.ws, h, w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.view(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, dims: tuple[int, int]) -> torch.Tensor:
        h, w = dims
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1).view(b, -1, 4 * c)
        return self.reduction(self.norm(x))


class SwinLike(nn.Module):
    def __init__(self, dim: int = 8, patch: int = 2, ws: int = 2, resolution=(8, 8), shifted: bool = True) -> None:
        super().__init__()
        self.patch_embeddings = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)
        self.resolution = resolution
        self.blocks = nn.ModuleList([SwinBlock(dim, 2, ws, 0, resolution)])
        if shifted:
            self.blocks.append(SwinBlock(dim, 2, ws, ws // 2, resolution))
        self.merge = PatchMerging(dim)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embeddings(pixel_values)
        h, w = x.shape[-2:]
        x = self.norm(x.flatten(2).transpose(1, 2))
        for blk in self.blocks:
            x = blk(x, (h, w))
        return self.merge(x, (h, w))


def swin() -> tuple[nn.Module, tuple[int, ...]]:
    return SwinLike(), (1, 3, 16, 16)


def swin_windows() -> tuple[nn.Module, tuple[int, ...]]:
    """One block of unshifted windows: the field is exactly one window."""
    return SwinLike(shifted=False), (1, 3, 16, 16)


# --------------------------------------------------------------------------- pytorch-tcn


class TemporalConv1d(nn.Conv1d):
    """pytorch-tcn's conv: a Conv1d subclass that pads in its own forward."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, causal=True, lookahead=0) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)
        pad_len = (kernel_size - 1) * dilation
        self.causal = causal
        if causal:
            self.left_padding, self.right_padding = pad_len - lookahead, lookahead
        else:
            self.left_padding = pad_len // 2
            self.right_padding = pad_len - self.left_padding

    def forward(self, x: torch.Tensor, inference: bool = False, in_buffer=None) -> torch.Tensor:
        if inference:
            raise NotImplementedError("streaming is not part of this reproduction")
        x = F.pad(x, (self.left_padding, self.right_padding))
        return super().forward(x)


class TemporalBlock(nn.Module):
    def __init__(
        self, cin: int, cout: int, k: int, dilation: int, causal: bool, parametrized: bool, lookahead: int = 0
    ) -> None:
        super().__init__()
        wn = parametrizations.weight_norm if parametrized else old_weight_norm
        self.conv1 = wn(TemporalConv1d(cin, cout, k, dilation=dilation, causal=causal, lookahead=lookahead))
        self.conv2 = wn(TemporalConv1d(cout, cout, k, dilation=dilation, causal=causal, lookahead=lookahead))
        self.activation1, self.activation2, self.activation_final = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.dropout1, self.dropout2 = nn.Dropout(0.1), nn.Dropout(0.1)
        self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor, embeddings=None, inference: bool = False, in_buffers=None) -> torch.Tensor:
        out = self.dropout1(self.activation1(self.conv1(x, inference=inference)))
        out = self.dropout2(self.activation2(self.conv2(out, inference=inference)))
        res = x if self.downsample is None else self.downsample(x)
        return self.activation_final(out + res)


class TCNLike(nn.Module):
    def __init__(self, cin: int = 1, channels=(4, 4, 4), k: int = 3, causal: bool = True, parametrized: bool = True,
                 lookahead: int = 0) -> None:  # fmt: skip
        super().__init__()
        layers = []
        for i, c in enumerate(channels):
            layers.append(
                TemporalBlock(cin if i == 0 else channels[i - 1], c, k, 2**i, causal, parametrized, lookahead)
            )
        self.network = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, embeddings=None, inference: bool = False, in_buffers=None) -> torch.Tensor:
        for block in self.network:
            x = block(x, embeddings=embeddings, inference=inference)
        return x


def tcn_causal() -> tuple[nn.Module, tuple[int, ...]]:
    return TCNLike(causal=True, parametrized=True), (1, 1, 40)


def tcn_noncausal_old_weight_norm() -> tuple[nn.Module, tuple[int, ...]]:
    return TCNLike(causal=False, parametrized=False), (1, 1, 40)


def tcn_lookahead() -> tuple[nn.Module, tuple[int, ...]]:
    return TCNLike(causal=True, lookahead=1), (1, 1, 40)


# --------------------------------------------------------------------------- SE, ASPP pooling


class SqueezeExcitation(nn.Module):
    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class SEMean(nn.Module):
    """SE written with a mean and views instead of adaptive pooling."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        y = torch.sigmoid(self.fc(x.mean((2, 3)))).view(b, c, 1, 1)
        return x * y.expand_as(x)


class ASPPPooling(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPPLike(nn.Module):
    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.convs = nn.ModuleList([nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 3, padding=2, dilation=2), ASPPPooling(c, c)])
        self.project = nn.Conv2d(3 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


def se_block() -> tuple[nn.Module, tuple[int, ...]]:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), SqueezeExcitation(4, 2), nn.Conv2d(4, 4, 3)), (1, 3, 10, 9)


def se_mean() -> tuple[nn.Module, tuple[int, ...]]:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), SEMean(4)), (1, 3, 10, 9)


def aspp() -> tuple[nn.Module, tuple[int, ...]]:
    return ASPPLike().eval(), (1, 3, 12, 10)


# --------------------------------------------------------------------------- small patterns


class Cumsum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(self.conv(x), -1)


class ElementwiseMax(nn.Module):
    """EnCodec / WavLM: torch.max(a, b) is elementwise, not a reduction."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv1d(1, 2, 3, padding=1), nn.Conv1d(1, 2, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.max(self.a(x), self.b(x)) + torch.min(self.a(x), self.b(x))


class ChannelPad(nn.Module):
    """HighResNet pads the channel axis with F.pad(x, (0, 0, p, p))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.conv2 = nn.Conv1d(6, 2, 3, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.pad(self.conv(x), (0, 0, 2, 2)))


class TFSamePad(nn.Module):
    """TensorFlow-style 'same' padding computed in user code with math.ceil."""

    def __init__(self, k: int = 4, s: int = 3) -> None:
        super().__init__()
        self.k, self.s = k, s
        self.conv = nn.Conv1d(1, 2, k, s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        out = math.ceil(n / self.s)
        total = max((out - 1) * self.s + self.k - n, 0)
        return self.conv(F.pad(x, (total // 2, total - total // 2)))


class GRUHead(nn.Module):
    def __init__(self, bidirectional: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.gru = nn.GRU(4, 4, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(self.conv(x).transpose(1, 2))
        return y


class CircularConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 2, 3, padding=2, padding_mode="circular")
        self.b = nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect")
        self.c = nn.Conv1d(2, 2, 5, padding=2, padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.b(self.a(x)))


class PixelShuffle1d(nn.Module):
    """A 1-d sub-pixel upsampler written with view / permute (depth-to-space)."""

    def __init__(self, r: int = 3) -> None:
        super().__init__()
        self.r = r
        self.conv = nn.Conv1d(1, 2 * r, 3, padding=1)
        self.post = nn.Conv1d(2, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, c, n = y.shape
        y = y.view(b, c // self.r, self.r, n).permute(0, 1, 3, 2).reshape(b, c // self.r, n * self.r)
        return self.post(y)


# --------------------------------------------------------------------------- ViT, MobileViT, masks


class ViTLike(nn.Module):
    """A class token concatenated to flattened patches, attention, the token dropped and the
    patches folded back into a map (DPT's reassembly)."""

    def __init__(self, dim: int = 8, patch: int = 4, grid: tuple[int, int] = (4, 3)) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position_embeddings = nn.Parameter(torch.zeros(1, 1 + grid[0] * grid[1], dim))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.head = nn.Conv2d(dim, 2, 3, padding=1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch(pixel_values)
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.position_embeddings
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        x = x + F.scaled_dot_product_attention(q, k, v)
        x = x[:, 1:].transpose(1, 2).reshape(b, c, h, w)
        return self.head(x)


class MobileViTLike(nn.Module):
    """MobileViT's unfolding: attention over the pixels at the same offset in every patch."""

    def __init__(self, dim: int = 4, patch: int = 2) -> None:
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(1, dim, 3, padding=1)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.fuse = nn.Conv2d(2 * dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x)
        b, c, h, w = features.shape
        p = self.patch
        patches = features.reshape(b * c * h // p, p, w // p, p).transpose(1, 2)
        patches = patches.reshape(b, c, (h // p) * (w // p), p * p).transpose(1, 3).reshape(b * p * p, -1, c)
        q, k, v = self.qkv(patches).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(-1, -2) / c**0.5, dim=-1) @ v
        folded = attn.reshape(b, p * p, -1, c).transpose(1, 3).reshape(b * c * h // p, w // p, p, p)
        folded = folded.transpose(1, 2).reshape(b, c, h, w)
        return self.fuse(torch.cat([features, folded], dim=1))


class MaskedAttention(nn.Module):
    """Self-attention over time with a constant mask: a bool causal mask, a float mask of
    finite biases (nothing hidden), or ``is_causal``."""

    def __init__(self, kind: str, n: int = 12) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.qkv = nn.Linear(4, 12)
        if kind == "bool-causal":
            self.register_buffer("mask", torch.ones(n, n, dtype=torch.bool).tril())
        elif kind == "float-bias":
            self.register_buffer("mask", -100.0 * (torch.arange(n)[:, None] > torch.arange(n)[None, :]).float())
        else:
            self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).transpose(1, 2)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        if self.kind == "is-causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)


class GatedBiasAttention(nn.Module):
    """WavLM's gated relative position bias: a mask computed from the queries."""

    def __init__(self, n: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.gate = nn.Linear(4, 1)
        self.bias = nn.Parameter(torch.zeros(n, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).transpose(1, 2)
        mask = torch.sigmoid(self.gate(h)) * self.bias  # (N, L, L): the queries' gates
        mask = mask.repeat_interleave(2, dim=0)
        out, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        return out


class RawAudio(nn.Module):
    """A model taking raw audio (N, L), as transformers' speech encoders do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, stride=2)
        self.conv2 = nn.Conv1d(4, 4, 3, dilation=2)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.conv(input_values[:, None])))


class ChannelsLastInput(nn.Module):
    """A sequence model on (N, T, C) inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.proj = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.conv(x.transpose(1, 2)).transpose(1, 2))


@dataclass
class Entry:
    """A zoo model and what the analysis must answer on each axis of its output."""

    build: Callable[[], tuple[nn.Module, tuple[int, ...]]]
    exact: tuple[str, ...]  # per axis: "field" or "global"
    frozen: tuple[str, ...] | None = None  # with the statistics frozen (None: the same)
    modules: tuple[str, ...] = ()  # intermediate modules checked too
    output: str | None = None  # key of a dict output
    input_layout: str | None = None


ZOO: dict[str, Entry] = {
    "wav2vec2": Entry(wav2vec2, ("global",), ("global",), ("feature_extractor", "pos_conv_embed"), "last_hidden_state"),
    "wav2vec2_features": Entry(wav2vec2, ("global",), ("field",), output="extract_features"),
    "groupnorm_chain": Entry(groupnorm_chain, ("global",), ("field",)),
    "convnext": Entry(convnext, ("field", "field"), modules=("stage0", "downsample")),
    "permute_linear": Entry(permute_linear, ("field",)),
    "dac": Entry(dac, ("field",), modules=("block.1", "block.3")),
    "encodec": Entry(encodec, ("field",), modules=("encoder", "encoder.1")),
    "encodec_causal_lstm": Entry(encodec_causal_lstm, ("field",), modules=("encoder.7",)),
    "hifigan": Entry(hifigan, ("field",), modules=("resblocks.0", "upsampler.1")),
    "unet_instance": Entry(unet_instance, ("global", "global"), ("field", "field")),
    "unet_batchnorm": Entry(unet_batchnorm, ("field", "field"), modules=("model.1",)),
    "unet_batchnorm_training": Entry(unet_batchnorm_training, ("global", "global"), ("field", "field")),
    "swin": Entry(swin, ("field", "field"), modules=("blocks.0", "blocks.1")),
    "swin_windows": Entry(swin_windows, ("field", "field")),
    "tcn_causal": Entry(tcn_causal, ("field",), modules=("network.0",)),
    "tcn_old_weight_norm": Entry(tcn_noncausal_old_weight_norm, ("field",)),
    "tcn_lookahead": Entry(tcn_lookahead, ("field",)),
    "se_block": Entry(se_block, ("global", "global")),
    "se_mean": Entry(se_mean, ("global", "global")),
    "aspp": Entry(aspp, ("global", "global")),
    "cumsum": Entry(lambda: (Cumsum(), (1, 1, 16)), ("field",)),
    "elementwise_max": Entry(lambda: (ElementwiseMax(), (1, 1, 16)), ("field",)),
    "channel_pad": Entry(lambda: (ChannelPad(), (1, 1, 16)), ("field",)),
    "tf_same_pad": Entry(lambda: (TFSamePad(), (1, 1, 17)), ("field",)),
    "gru": Entry(lambda: (GRUHead(), (1, 1, 12)), ("field",)),
    "bigru": Entry(lambda: (GRUHead(True), (1, 1, 12)), ("global",)),
    "padding_modes": Entry(lambda: (CircularConv(), (1, 1, 11)), ("field",)),
    "pixel_shuffle_1d": Entry(lambda: (PixelShuffle1d(), (1, 1, 7)), ("field",)),
    "vit_cls_token": Entry(lambda: (ViTLike(), (1, 3, 16, 12)), ("global", "global")),
    "mobilevit_unfold": Entry(lambda: (MobileViTLike(), (1, 1, 8, 6)), ("field", "field")),
    "sdpa_bool_causal": Entry(lambda: (MaskedAttention("bool-causal"), (1, 1, 12)), ("field",)),
    "sdpa_float_bias": Entry(lambda: (MaskedAttention("float-bias"), (1, 1, 12)), ("global",)),
    "sdpa_is_causal": Entry(lambda: (MaskedAttention("is-causal"), (1, 1, 12)), ("field",)),
    "gated_bias_attention": Entry(lambda: (GatedBiasAttention(), (1, 1, 12)), ("global",)),
    "raw_audio": Entry(lambda: (RawAudio(), (1, 40)), ("field",)),
    "channels_last_input": Entry(lambda: (ChannelsLastInput(), (1, 10, 3)), ("field",), input_layout="NLC"),
}
