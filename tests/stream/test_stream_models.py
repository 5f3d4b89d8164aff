"""Streaming the models people already have, unchanged: each streamed in float64 over random
chunkings and batch sizes with :func:`atrous.stream.verify` (streamed == ``model(full)``,
batch independence, the outputs' timing exactly what the latency promises).

The models are written the way their authors write them: pytorch-tcn's TCN (a Conv1d
subclass padding in forward, weight norm, causal or with lookahead), a SEANet-style codec
(strided convolutions down, ConvTranspose1d up, residual units with dilations 1/3/9,
concatenated skips), a HiFi-GAN generator (transposed upsampling, multi-receptive-field
fusion, non-causal) and a WaveNet vocoder whose conditioning is upsampled by a
ConvTranspose1d inside the model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from atrous import nn as ann
from atrous.stream import stream, verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis" / "zoo"))

from zoo_models import HifiGanLike, TCNLike


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- pytorch-tcn


@pytest.mark.parametrize(("causal", "lookahead", "latency"), [(True, 0, 0), (False, 0, 14), (True, 1, 6)])
def test_pytorch_tcn_style(causal: bool, lookahead: int, latency: int) -> None:
    torch.manual_seed(0)
    model = TCNLike(1, (4, 4, 4), k=3, causal=causal, lookahead=lookahead).eval()
    result = verify(model, (1, 1, 64))
    assert result.latency == latency
    s = stream(model)
    assert s.latency == latency and (s.plan is not None) == (latency == 0)


def test_real_pytorch_tcn() -> None:
    pytorch_tcn = pytest.importorskip("pytorch_tcn")
    torch.manual_seed(0)
    for causal in (True, False):
        model = pytorch_tcn.TCN(1, [8, 8, 8], kernel_size=3, causal=causal).eval()
        result = verify(model, (1, 1, 64), batch_sizes=(1, 2), chunkings=2)
        assert result.latency == (0 if causal else 14), (causal, result.latency)


# --------------------------------------------------------------------------- SEANet


class ResUnit(nn.Module):
    def __init__(self, c: int, d: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ELU(), nn.Conv1d(c, c, 3, dilation=d, padding=d), nn.ELU(), nn.Conv1d(c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SEANetLike(nn.Module):
    """Strided convolutions down, ConvTranspose1d up, residual units with dilations 1, 3, 9
    at every level and the encoder's features concatenated into the decoder (a U-Net)."""

    def __init__(self, c: int = 4, ratios: tuple[int, ...] = (2, 4)) -> None:
        super().__init__()
        self.inp = parametrizations.weight_norm(nn.Conv1d(1, c, 7, padding=3))
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        ch = c
        for r in ratios:
            self.down.append(nn.Sequential(ResUnit(ch, 1), ResUnit(ch, 3), ResUnit(ch, 9), nn.ELU(),
                                           nn.Conv1d(ch, 2 * ch, 2 * r, stride=r, padding=r // 2)))  # fmt: skip
            ch *= 2
        for r in reversed(ratios):
            self.up.append(nn.Sequential(nn.ELU(), nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2)))
            ch //= 2
        self.fuse = nn.ModuleList(nn.Conv1d(2 * c * 2**i, c * 2**i, 1) for i in reversed(range(len(ratios))))
        self.out = nn.Conv1d(c, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        skips = []
        for block in self.down:
            skips.append(h)
            h = block(h)
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips), strict=True):
            h = fuse(torch.cat([up(h), skip], dim=1))
        return torch.tanh(self.out(h))


def test_seanet_style_codec() -> None:
    torch.manual_seed(1)
    model = SEANetLike().eval()
    result = verify(model, (1, 1, 64), length=136)  # lengths that divide by the strides' product
    assert result.latency > 0 and result.rate == 1
    s = stream(model, input_shape=(1, 1, 64))
    assert s.plan is None  # strides and transposed layers: the generic engine


# --------------------------------------------------------------------------- HiFi-GAN


def test_hifigan_style_generator() -> None:
    torch.manual_seed(2)
    model = HifiGanLike(mels=4, c=8, rates=(4, 2), kernels=(8, 4), resblock_kernels=(3, 5)).eval()
    result = verify(model, (1, 4, 16))
    assert result.rate == 8  # samples per mel frame
    assert result.latency > 0  # non-causal: its lookahead is the latency


def test_hifigan_chunk_costs_like_offline() -> None:
    """A chunk of 32 frames streams with every frame computed once (no recomputation of the
    receptive field): the window nodes keep only what their next outputs read."""
    torch.manual_seed(2)
    model = HifiGanLike(mels=4, c=8, rates=(4, 2), kernels=(8, 4), resblock_kernels=(3, 5)).eval()
    s = stream(model, input_shape=(1, 4, 16))
    from atrous.stream import nodes as N

    x = torch.randn(1, 4, 96)
    for i in range(3):
        s.push(x[:, :, 32 * i : 32 * (i + 1)])
    for n in s.graph.nodes:
        buf = getattr(n, "s_buf", None)
        if isinstance(n, N.Window) and buf is not None:
            assert buf.shape[n.in_dim] <= n.e - 1 + n.s, (n.name, buf.shape, n.e, n.s)


# --------------------------------------------------------------------------- WaveNet vocoder


class Vocoder(nn.Module):
    """A WaveNet whose mel conditioning (one frame per ``hop`` samples) is upsampled by a
    ConvTranspose1d inside the model."""

    def __init__(self, mels: int = 3, hop: int = 4) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose1d(mels, mels, 2 * hop, stride=hop, padding=hop // 2)
        self.wavenet = ann.WaveNet(1, 8, residual_channels=6, layers_per_cycle=3, cycles=2, cond_channels=mels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.wavenet(x, self.upsample(c))


def test_wavenet_vocoder_with_transposed_conditioning() -> None:
    torch.manual_seed(3)
    model = Vocoder().eval()
    inputs = {"c": ((1, 3, 16), "NCL")}
    result = verify(model, (1, 1, 64), inputs=inputs, length=136)
    assert result.rate == 1
    s = stream(model, input_shape=(1, 1, 64), inputs=inputs)
    # the upsampler (k=8, s=4, p=2) gives sample 4q + 2 frame q + 1, which comes with input
    # sample 4q + 7: five samples later (the crop of its padding holds nothing back)
    assert s.latency == 5


# --------------------------------------------------------------------------- the latency, exactly


def test_latency_is_the_lag_of_every_output() -> None:
    """After t input samples a model of latency L and rate 1 has returned t - L outputs."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv1d(1, 2, 5, padding=2), nn.ReLU(), nn.Conv1d(2, 1, 3, padding=(1,))).eval()
    s = stream(model)
    assert s.latency == 3
    x = torch.randn(1, 1, 40)
    seen = 0
    for t in range(40):
        seen += s.push(x[:, :, t : t + 1]).shape[2]
        assert seen == max(0, t + 1 - 3)
    assert s.flush().shape[2] == 3
    fs = stream(model, sample_rate=16000)
    assert fs.latency_ms == pytest.approx(3 / 16)
